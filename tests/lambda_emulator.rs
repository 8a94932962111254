#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! End to end: the built `restore-doctor-lambda` binary under the Lambda runtime API
//! emulator (`cargo-lambda lambda watch --only-lambda-apis`), invoked with
//! `cargo-lambda lambda invoke --data-file`, its AWS calls going to moto and the fake
//! (Backup restore-job reads and STS from `tests/fakes/aws_fake.py`), and the alert read
//! back from SQS.
//!
//! The binary is the one `cargo test` already built (`CARGO_BIN_EXE_…`): no second build.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{emulator, org, scenario, stack, unique, ACCOUNT};

fn invoke(port: u16, event: &Value, dir: &Path) -> Value {
    emulator::invoke(port, event, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_binary_under_the_runtime_emulator_publishes_the_alert() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let topic = scenario::topic_with_queue(&sdk, &case.uniq).await;
    let dir = stack.dir.join(&case.uniq);
    std::fs::create_dir_all(&dir).unwrap();

    let (_watch, port) = emulator::start_emulator(&dir);
    let function_log = dir.join("function.log");
    let _function = emulator::start_function(stack, port, &topic.topic_arn, "1", &function_log);

    // The emulator queues the invocation until the function asks for it.
    let started = Instant::now();
    let outcome = invoke(port, &case.event, &dir);
    assert_eq!(outcome["status"], "published", "{outcome:#}");
    assert_eq!(outcome["gaps"], 0, "{outcome:#}");
    eprintln!("first invocation answered in {:?}", started.elapsed());

    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let envelope = &got[0];
    let attrs = scenario::attributes(envelope);
    assert_eq!(attrs["resourceType"], "EFS");
    assert_eq!(attrs["cause"], outcome["cause"].as_str().unwrap());
    assert!(envelope["Subject"]
        .as_str()
        .unwrap()
        .contains("EFS restore"));
    let report: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(report["restore"]["restoreJobId"], case.job_id.as_str());

    // Not failures: answered, nothing published.
    for file in ["restore-job-completed.json", "malformed.json"] {
        let outcome = invoke(port, &scenario::event(file, |_| {}), &dir);
        assert_eq!(outcome["status"], "skipped", "{file}: {outcome:#}");
    }
    // The same event again: this warm container already alerted it.
    let outcome = invoke(port, &case.event, &dir);
    assert_eq!(outcome["status"], "duplicate", "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 0, Duration::from_secs(2)).await;
    assert!(got.is_empty(), "{got:#?}");

    // Powertools-style JSON log lines and EMF metrics on stdout.
    let lines: Vec<Value> = emulator::json_lines(&function_log);
    let evidence_line = lines
        .iter()
        .find(|l| l["message"] == "evidence gathered")
        .unwrap_or_else(|| panic!("no evidence line in {lines:#?}"));
    assert_eq!(evidence_line["service"], "restore-doctor");
    assert_eq!(evidence_line["correlation_id"], case.event["id"]);
    assert_eq!(evidence_line["cold_start"], true);
    assert!(!evidence_line["function_request_id"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(evidence_line["function_name"], "_");
    // The logged evidence reproduces the alert offline.
    let evidence =
        restore_doctor::diagnose::Evidence::from_json(evidence_line["evidence"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        serde_json::to_value(restore_doctor::examine(&evidence)).unwrap(),
        report
    );
    let skipped = lines
        .iter()
        .find(|l| l["message"] == "event skipped")
        .unwrap();
    assert_eq!(skipped["cold_start"], false);
    assert!(skipped["reason"].as_str().unwrap().contains("COMPLETED"));
    let emf = lines
        .iter()
        .find(|l| l.get("FailuresDiagnosed").is_some())
        .unwrap_or_else(|| panic!("no EMF line in {lines:#?}"));
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        json!("RestoreDoctor")
    );
}

/// The end-to-end scenario under the emulator, in organization mode: a failure in
/// member account B, its key in central account C, an SCP on B's OU denying
/// `kms:CreateGrant`. STS goes to moto here (its AssumeRole acts in the role's account;
/// the fake would refuse every role), Backup's restore-job reads to the fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_failure_under_the_emulator_is_one_alert_naming_account_scp_and_key_owner(
) {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = org::central_key_case(stack, &sdk).await;
    let uniq = unique("org-e2e");
    let topic = scenario::topic_with_queue(&sdk, &uniq).await;
    let dir = stack.dir.join(&uniq);
    std::fs::create_dir_all(&dir).unwrap();
    let (_watch, port) = emulator::start_emulator(&dir);
    let function_log = dir.join("function.log");
    let _function = emulator::start_function_with(
        stack,
        port,
        &topic.topic_arn,
        "1",
        &function_log,
        &[
            ("MEMBER_READER_ROLE", "RestoreDoctorReader".to_owned()),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5".to_owned()),
            (
                "ORGANIZATION_READ_ROLE_ARN",
                format!("arn:aws:iam::{ACCOUNT}:role/RestoreDoctorOrganizationReader"),
            ),
            ("AWS_ENDPOINT_URL_STS", stack.moto.url.clone()),
        ],
    );

    let outcome = invoke(port, &case.event, &dir);
    assert_eq!(outcome["status"], "published", "{outcome:#}");

    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let envelope = &got[0];
    let attrs = scenario::attributes(envelope);
    assert_eq!(attrs["accountId"], case.member.as_str());
    assert_eq!(attrs["organizationalUnit"], case.ou.as_str());
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.contains(&case.member), "{subject}");
    let report: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    let grant = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "kms:CreateGrant" && f["resource"] == case.key.as_str())
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        grant["blockedBy"]
            .as_array()
            .unwrap()
            .contains(&json!("scp")),
        "{grant:#}"
    );
    assert!(grant.to_string().contains(&case.scp), "{grant:#}");
    assert_eq!(report["patch"]["principalArn"], case.role_arn.as_str());
    assert!(
        report["verification"]["stillBlocked"]
            .to_string()
            .contains("kms:CreateGrant"),
        "{report:#}"
    );
    // The evidence the function logged says where the central key's policy was read.
    let lines: Vec<Value> = emulator::json_lines(&function_log);
    let evidence_line = lines
        .iter()
        .find(|l| l["message"] == "evidence gathered")
        .unwrap_or_else(|| panic!("no evidence line in {lines:#?}"));
    let evidence: Value =
        serde_json::from_str(evidence_line["evidence"].as_str().unwrap()).unwrap();
    assert_eq!(
        evidence["keyPolicies"][0]["readFrom"]["accountId"],
        case.central.as_str(),
        "{evidence:#}"
    );
}

/// Auto-attach in member accounts under the emulator (organization mode, `AUTO_ATTACH`
/// with `MEMBER_FIXER_ROLE`, as template.yaml sets them). STS goes to the fake, which
/// passes the roles each member deployed on to moto (its AssumeRole acts in the role's
/// account) and refuses the others, as AWS refuses a missing role: member B deployed its
/// reader and fixer roles, member C only its reader role. B's opted-in role gets the fix
/// through B's fixer, read back from moto as B; C's gets nothing, and C's alert says why
/// and what to deploy. B's alias is in the subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_emulator_a_member_role_is_fixed_through_its_fixer_role_and_one_without_is_told_why(
) {
    use restore_doctor::remedy::patch::POLICY_NAME;
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let (fixed, unfixed) = ("292929292929", "303030303030");
    let mut cases = Vec::new();
    for account in [fixed, unfixed] {
        let member_sdk = org::sdk_in(stack, account).await;
        let case = scenario::efs_case_in(stack, &member_sdk, account).await;
        let role_name = format!("restore-{}", case.uniq);
        scenario::tag_role(
            &member_sdk,
            &role_name,
            "restore-doctor:auto-attach",
            "true",
        )
        .await;
        cases.push((case, member_sdk, role_name));
    }
    aws_sdk_iam::Client::new(&cases[0].1)
        .create_account_alias()
        .account_alias("acme-b")
        .send()
        .await
        .unwrap();
    let role = |account: &str, name: &str| format!("arn:aws:iam::{account}:role/{name}");
    stack.fake_scenario(&json!({"assumableRoles": {
        role(fixed, "RestoreDoctorReader"): &stack.moto.url,
        role(fixed, "RestoreDoctorFixer"): &stack.moto.url,
        role(unfixed, "RestoreDoctorReader"): &stack.moto.url,
    }}));
    let uniq = unique("org-fixer");
    let topic = scenario::topic_with_queue(&sdk, &uniq).await;
    let dir = stack.dir.join(&uniq);
    std::fs::create_dir_all(&dir).unwrap();
    let (_watch, port) = emulator::start_emulator(&dir);
    let function_log = dir.join("function.log");
    let _function = emulator::start_function_with(
        stack,
        port,
        &topic.topic_arn,
        "1",
        &function_log,
        &[
            ("MEMBER_READER_ROLE", "RestoreDoctorReader".to_owned()),
            ("MEMBER_FIXER_ROLE", "RestoreDoctorFixer".to_owned()),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5".to_owned()),
            ("AUTO_ATTACH", "true".to_owned()),
        ],
    );

    // B: attached through B's fixer role.
    let (case, member_sdk, role_name) = &cases[0];
    let outcome = invoke(port, &case.event, &dir);
    assert_eq!(outcome["status"], "published", "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert!(
        subject.contains(&format!("in {fixed} (acme-b):")),
        "{subject}"
    );
    let report: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    let auto = &report["autoAttach"];
    assert_eq!(auto["attached"], true, "{auto:#}");
    assert_eq!(auto["roleArn"], case.role_arn.as_str());
    let policies = scenario::inline_policies(member_sdk, role_name).await;
    assert_eq!(
        policies[POLICY_NAME],
        serde_json::to_string(&auto["attachedDocument"]).unwrap()
    );
    assert_eq!(
        stack.fake_requests("AssumeRole", &role(fixed, "RestoreDoctorFixer")),
        1
    );

    // C: no fixer role, no attach; the alert says why and what to deploy.
    let (case, member_sdk, role_name) = &cases[1];
    let outcome = invoke(port, &case.event, &dir);
    assert_eq!(outcome["status"], "published", "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert!(subject.contains(&format!("in {unfixed}:")), "{subject}");
    let report: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    let auto = &report["autoAttach"];
    assert_eq!(auto["decision"], "refuse", "{auto:#}");
    assert_eq!(auto["attached"], false, "{auto:#}");
    let reasons = auto["reasons"].to_string();
    assert!(
        reasons.contains(&role(unfixed, "RestoreDoctorFixer"))
            && reasons.contains(&format!(
                "deploy the member stack (member.yaml) in account {unfixed} with AutoAttach=true"
            )),
        "{reasons}"
    );
    assert!(!scenario::inline_policies(member_sdk, role_name)
        .await
        .contains_key(POLICY_NAME));
}
