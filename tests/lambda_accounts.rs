#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Organization mode (issue #12): a failure in member account B is gathered in B,
//! through B's reader role, against moto in server mode with several accounts (moto's
//! AssumeRole hands out credentials that act in the role's account). The Backup reads
//! moto lacks come from the fake (`tests/fakes/aws_fake.py`), which does not tell
//! accounts apart; so does the refused AssumeRole: moto 5.2's AssumeRole neither needs
//! the role to exist nor checks its trust policy, so only the fake can refuse.

mod support;

use aws_config::SdkConfig;
use restore_doctor::aws::accounts::MemberAccounts;
use restore_doctor::aws::metrics::Sink;
use restore_doctor::aws::{AutoSettings, OrganizationSettings, Settings};
use restore_doctor::diagnose::evidence::{EvidencePart, PolicyKind};
use restore_doctor::diagnose::report::AutoAttach;
use restore_doctor::handler::{Handler, Invocation, Outcome, Processed};
use restore_doctor::remedy::patch::POLICY_NAME;
use serde_json::{json, Value};
use support::org::{self, organization, sdk_in};
use support::{scenario, stack, unique, unique_guid, Stack, ACCOUNT, REGION};

const READER: &str = "RestoreDoctorReader";
const FIXER: &str = "RestoreDoctorFixer";

/// The central function, in moto's default account.
fn invocation() -> Invocation {
    Invocation {
        request_id: unique("request"),
        xray_trace_id: None,
        function_arn: Some(format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:restore-doctor"
        )),
    }
}

/// A handler in organization mode whose reader roles are assumed through `sts_url`
/// (moto, or the fake that refuses), reading SCPs through `read_role` when given.
async fn org_handler(
    stack: &Stack,
    topic_arn: &str,
    sts_url: &str,
    read_role: Option<&str>,
) -> Handler {
    org_handler_with(
        stack,
        topic_arn,
        sts_url,
        read_role,
        AutoSettings::default(),
    )
    .await
}

/// [`org_handler`] with `auto`; with `auto.attach`, also deployed to attach in member
/// accounts (template.yaml sets `MEMBER_FIXER_ROLE` then).
async fn org_handler_with(
    stack: &Stack,
    topic_arn: &str,
    sts_url: &str,
    read_role: Option<&str>,
    auto: AutoSettings,
) -> Handler {
    let sdk = stack.sdk_config().await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .endpoint_url(sts_url)
            .build(),
    );
    let members = MemberAccounts::new(
        OrganizationSettings {
            reader_role: READER.into(),
            fixer_role: auto.attach.then(|| FIXER.to_owned()),
            organization_id: Some("o-a1b2c3d4e5".into()),
            read_role_arn: read_role.map(str::to_owned),
        },
        sts,
        sdk,
        stack.overrides(),
    );
    let settings = Settings {
        auto,
        ..Settings::for_topic(topic_arn)
    };
    Handler::new(stack.clients().await, settings)
        .with_metric_sink(Sink::Memory(Default::default()))
        .with_member_accounts(members)
}

/// A restore role named `name` in the account `sdk` acts in, with one inline policy
/// named `policy`.
async fn restore_role(sdk: &SdkConfig, name: &str, policy: &str) -> String {
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "BackupRead", "Effect": "Allow", "Action": "backup:DescribeRestoreJob", "Resource": "*"
    }]})
    .to_string();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]})
    .to_string();
    scenario::role(sdk, name, "/", &trust, &[(policy, doc)], &[], None).await
}

/// A failed EFS restore in `account` by role `role_arn`, known to the fake; the event.
fn failed_restore(stack: &Stack, account: &str, role_arn: &str) -> (String, Value) {
    failed_restore_with(
        stack,
        account,
        role_arn,
        json!({"file-system-id": "fs-0123456789abcdef0", "newFileSystem": "true"}),
    )
}

/// [`failed_restore`] with the restore metadata `metadata`.
fn failed_restore_with(
    stack: &Stack,
    account: &str,
    role_arn: &str,
    metadata: Value,
) -> (String, Value) {
    // A GUID, as AWS Backup's job ids are: the subject shows its first part.
    let job_id = unique_guid().to_uppercase();
    stack.fake_scenario(&json!({"restoreJobs": {&job_id: {
        "describe": {
            "AccountId": account,
            "RestoreJobId": &job_id,
            "CreationDate": 1_772_421_118.412,
            "Status": "FAILED",
            "StatusMessage": "Insufficient privileges to perform this action",
            "IamRoleArn": role_arn,
            "ResourceType": "EFS"
        },
        "metadata": metadata
    }}}));
    let event = scenario::event("restore-job-failed-efs.json", |e| {
        e["account"] = json!(account);
        e["region"] = json!(REGION);
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["iamRoleArn"] = json!(role_arn);
    });
    (job_id, event)
}

fn inline_policy_names(p: &Processed) -> Vec<String> {
    p.evidence
        .as_ref()
        .unwrap()
        .restore_role
        .as_ref()
        .map(|r| {
            r.policies
                .iter()
                .filter(|p| p.kind == PolicyKind::Inline)
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_failure_is_read_through_its_reader_role_assumed_once() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let member = "222233334444";
    let role_name = unique("restore");
    // The same role name in both accounts: only the member's policy may be read.
    restore_role(&sdk, &role_name, "central-account-policy").await;
    let member_sdk = sdk_in(stack, member).await;
    let role_arn = restore_role(&member_sdk, &role_name, "member-account-policy").await;
    assert!(role_arn.contains(member), "{role_arn}");
    let topic = scenario::topic_with_queue(&sdk, &unique("org")).await;
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, None).await;
    let members = handler.member_accounts().unwrap();

    let (_, event) = failed_restore(stack, member, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    assert_eq!(ev.account_id.as_deref(), Some(member));
    assert_eq!(
        inline_policy_names(&p),
        vec!["member-account-policy".to_owned()],
        "gaps: {:#?}",
        ev.gaps
    );
    assert!(
        !ev.gaps.iter().any(|g| g.part == EvidencePart::RestoreRole),
        "{:#?}",
        ev.gaps
    );
    assert_eq!(members.assume_role_calls(), 1);

    // A second failure in the same account: the same credentials, no second AssumeRole.
    let (_, event) = failed_restore(stack, member, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert_eq!(
        inline_policy_names(&p),
        vec!["member-account-policy".to_owned()]
    );
    assert_eq!(members.assume_role_calls(), 1);

    // Another member account: its own AssumeRole.
    let third = "555566667777";
    let third_arn = restore_role(
        &sdk_in(stack, third).await,
        &role_name,
        "third-account-policy",
    )
    .await;
    let (_, event) = failed_restore(stack, third, &third_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert_eq!(
        inline_policy_names(&p),
        vec!["third-account-policy".to_owned()]
    );
    assert_eq!(members.assume_role_calls(), 2);

    // The function's own account: its own credentials, no AssumeRole.
    let own_arn = format!("arn:aws:iam::{ACCOUNT}:role/{role_name}");
    let (_, event) = failed_restore(stack, ACCOUNT, &own_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert_eq!(
        inline_policy_names(&p),
        vec!["central-account-policy".to_owned()]
    );
    assert_eq!(members.assume_role_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_reader_role_is_a_gap_naming_the_account_and_the_fix_and_still_an_alert() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let member = "888899990000";
    let role_arn = format!("arn:aws:iam::{member}:role/{}", unique("restore"));
    let topic = scenario::topic_with_queue(&sdk, &unique("org-missing")).await;
    // AssumeRole goes to the fake, which refuses it as AWS refuses a missing role.
    let handler = org_handler(stack, &topic.topic_arn, &stack.fake.url, None).await;
    let (job_id, event) = failed_restore(stack, member, &role_arn);

    let p = handler.process(event, invocation()).await.unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    let reader_arn = format!("arn:aws:iam::{member}:role/{READER}");
    let gap = ev
        .gaps
        .iter()
        .find(|g| g.call == format!("sts:AssumeRole {reader_arn}"))
        .unwrap_or_else(|| panic!("{:#?}", ev.gaps));
    assert!(gap.error.contains("AccessDenied"), "{}", gap.error);
    assert!(
        gap.error.contains(&format!(
            "Deploy the member stack (member.yaml) in account {member}"
        )),
        "{}",
        gap.error
    );
    // Nothing was read with the function's own credentials instead.
    assert!(
        ev.restore_job.is_none() && ev.restore_role.is_none(),
        "{ev:#?}"
    );
    assert_eq!(stack.fake_requests("DescribeRestoreJob", &job_id), 0);
    assert_eq!(stack.fake_requests("AssumeRole", &reader_arn), 1);
    // The alert says what could not be verified.
    let alert = p.alert.as_ref().unwrap();
    assert!(alert.message.contains(member), "{}", alert.message);
    assert_eq!(handler.member_accounts().unwrap().assume_role_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_organization_mode_no_role_is_assumed() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, &unique("single")).await;
    let handler = Handler::new(stack.clients().await, Settings::for_topic(&topic.topic_arn))
        .with_metric_sink(Sink::Memory(Default::default()));
    assert!(handler.member_accounts().is_none());
    let role_name = unique("restore");
    let role_arn = restore_role(&sdk, &role_name, "own-policy").await;
    let (_, event) = failed_restore(stack, ACCOUNT, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert_eq!(inline_policy_names(&p), vec!["own-policy".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scps_above_a_member_account_are_read_once_and_reach_the_diagnosis() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let (member, root, ou, scp) = organization(&sdk).await;
    let role_name = unique("restore");
    let role_arn = restore_role(&sdk_in(stack, &member).await, &role_name, "member-policy").await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-scps")).await;
    let read_role = format!("arn:aws:iam::{ACCOUNT}:role/RestoreDoctorOrganizationReader");
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, Some(&read_role)).await;
    let members = handler.member_accounts().unwrap();

    let (_, event) = failed_restore(stack, &member, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();

    let ev = p.evidence.as_ref().unwrap();
    let levels = ev
        .service_control_policies
        .as_ref()
        .unwrap_or_else(|| panic!("{:#?}", ev.gaps));
    let ids: Vec<&str> = levels.iter().map(|l| l.org_identifier.as_str()).collect();
    assert_eq!(ids, vec![root.as_str(), ou.as_str(), member.as_str()]);
    let ou_level = &levels[1];
    let deny = ou_level
        .policies
        .iter()
        .find(|d| d.arn.as_deref().is_some_and(|a| a.ends_with(&scp)))
        .unwrap_or_else(|| panic!("{ou_level:#?}"));
    assert_eq!(
        deny.document["Statement"][0]["Sid"],
        "NoGrantsOutsideBackup"
    );
    // The report no longer says the SCPs were not collected.
    let report = p.report.as_ref().unwrap();
    let text = serde_json::to_string(&report.unverified).unwrap();
    assert!(!text.contains("service control policies"), "{text}");
    // The alert names the account, and carries it and its OU for routing.
    let alert = p.alert.as_ref().unwrap();
    assert!(alert.subject.contains(&member), "{}", alert.subject);
    assert_eq!(alert.attributes["accountId"], member);
    assert_eq!(alert.attributes["organizationalUnit"], ou);
    assert!(
        alert.attributes["dedupKey"].starts_with(&format!("{member}:")),
        "{:?}",
        alert.attributes
    );
    assert_eq!(members.organization_reads(), 1);
    // The organization read role and the member's reader role: one AssumeRole each.
    assert_eq!(members.assume_role_calls(), 2);

    // A second failure in the account: the cached policies, no new read.
    let (_, event) = failed_restore(stack, &member, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert!(p.evidence.unwrap().service_control_policies.is_some());
    assert_eq!(members.organization_reads(), 1);
    assert_eq!(members.assume_role_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_organization_is_a_gap_and_the_scps_stay_unverified() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let member = "121212121212";
    let role_arn = restore_role(&sdk_in(stack, member).await, &unique("restore"), "p").await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-no-scps")).await;
    // The read role's account has no organization in moto (a stranger's account).
    let read_role = "arn:aws:iam::343434343434:role/RestoreDoctorOrganizationReader";
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, Some(read_role)).await;
    let (_, event) = failed_restore(stack, member, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    assert!(ev.service_control_policies.is_none());
    assert!(
        ev.gaps
            .iter()
            .any(|g| g.part == EvidencePart::ServiceControlPolicies
                && g.call.starts_with("organizations:ListParents")),
        "{:#?}",
        ev.gaps
    );
    let text = serde_json::to_string(&p.report.as_ref().unwrap().unverified).unwrap();
    assert!(text.contains("service control policies"), "{text}");
}

/// A key policy with a statement `sid` only this test's key has.
async fn key_with_policy(sdk: &SdkConfig, sid: &str) -> String {
    let arn = scenario::kms_key(sdk, sid).await;
    let account = arn.split(':').nth(4).unwrap().to_owned();
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"
    }]});
    aws_sdk_kms::Client::new(sdk)
        .put_key_policy()
        .key_id(&arn)
        .policy_name("default")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_owned_by_another_account_is_read_there_through_its_reader_role() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let member = "232323232323";
    let central = "454545454545";
    let role_arn = restore_role(&sdk_in(stack, member).await, &unique("restore"), "p").await;
    // The central backup account's vault key, and a key of the function's own account.
    let central_key = key_with_policy(&sdk_in(stack, central).await, "CentralBackupKey").await;
    let own_key = key_with_policy(&sdk, "FunctionAccountKey").await;
    assert!(central_key.contains(central) && own_key.contains(ACCOUNT));
    let topic = scenario::topic_with_queue(&sdk, &unique("org-keys")).await;
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, None).await;
    let members = handler.member_accounts().unwrap();
    let (_, event) = failed_restore_with(
        stack,
        member,
        &role_arn,
        json!({"file-system-id": "fs-0123456789abcdef0", "newFileSystem": "true",
               "KmsKeyId": &central_key, "kmsKeyArn": &own_key}),
    );

    let p = handler.process(event, invocation()).await.unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    let policy_of = |arn: &str| {
        ev.key_policies
            .iter()
            .find(|k| k.key_arn == arn)
            .unwrap_or_else(|| panic!("no policy of {arn}: {:#?}", ev.gaps))
    };
    // moto's KMS answers only the key's own account: read in the member's account, both
    // keys would be "not found".
    let central_policy = policy_of(&central_key);
    assert_eq!(
        central_policy.document["Statement"][0]["Sid"],
        "CentralBackupKey"
    );
    let from = central_policy.read_from.as_ref().unwrap();
    assert_eq!(from.account_id, central);
    assert_eq!(
        from.role_arn.as_deref(),
        Some(format!("arn:aws:iam::{central}:role/{READER}").as_str())
    );
    let own_policy = policy_of(&own_key);
    assert_eq!(
        own_policy.document["Statement"][0]["Sid"],
        "FunctionAccountKey"
    );
    let from = own_policy.read_from.as_ref().unwrap();
    assert_eq!(
        (from.account_id.as_str(), from.role_arn.as_deref()),
        (ACCOUNT, None)
    );
    assert!(ev.kms_keys.iter().any(|k| k.key_arn == central_key));
    // The role is read where the failure is, through the member's reader role.
    let from = ev
        .restore_role
        .as_ref()
        .unwrap()
        .read_from
        .as_ref()
        .unwrap();
    assert_eq!(from.account_id, member);
    assert_eq!(
        from.role_arn.as_deref(),
        Some(format!("arn:aws:iam::{member}:role/{READER}").as_str())
    );
    assert!(
        !ev.gaps.iter().any(|g| g.part == EvidencePart::KeyPolicy),
        "{:#?}",
        ev.gaps
    );
    // The member's and the central account's reader roles, once each, though the
    // central key was both described and read.
    assert_eq!(members.assume_role_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_account_has_no_reader_role_is_a_gap_naming_the_account_and_the_fix() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let central = "676767676767";
    // A failure in the function's own account: its own credentials, no AssumeRole.
    let role_arn = restore_role(&sdk, &unique("restore"), "p").await;
    let central_key = key_with_policy(&sdk_in(stack, central).await, "CentralBackupKey").await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-key-gap")).await;
    // AssumeRole goes to the fake, which refuses it as AWS refuses a missing role.
    let handler = org_handler(stack, &topic.topic_arn, &stack.fake.url, None).await;
    let (_, event) = failed_restore_with(
        stack,
        ACCOUNT,
        &role_arn,
        json!({"file-system-id": "fs-0123456789abcdef0", "KmsKeyId": &central_key}),
    );

    let p = handler.process(event, invocation()).await.unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    let reader_arn = format!("arn:aws:iam::{central}:role/{READER}");
    let gap = ev
        .gaps
        .iter()
        .find(|g| g.call == format!("sts:AssumeRole {reader_arn}"))
        .unwrap_or_else(|| panic!("{:#?}", ev.gaps));
    assert_eq!(gap.part, EvidencePart::KeyPolicy);
    assert!(gap.error.contains("AccessDenied"), "{}", gap.error);
    assert!(gap.error.contains(&central_key), "{}", gap.error);
    assert!(
        gap.error.contains(&format!(
            "Deploy the member stack (member.yaml) in account {central}"
        )),
        "{}",
        gap.error
    );
    // One gap for the key, though it was both to be described and read.
    assert_eq!(
        ev.gaps.iter().filter(|g| g.call == gap.call).count(),
        1,
        "{:#?}",
        ev.gaps
    );
    assert!(ev.key_policies.is_empty(), "{:#?}", ev.key_policies);
    // The rest was read with the function's own credentials, where the failure is.
    let from = ev
        .restore_role
        .as_ref()
        .unwrap()
        .read_from
        .as_ref()
        .unwrap();
    assert_eq!(
        (from.account_id.as_str(), from.role_arn.as_deref()),
        (ACCOUNT, None)
    );
    assert_eq!(stack.fake_requests("AssumeRole", &reader_arn), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_the_job_names_in_another_account_is_read_through_that_accounts_reader_role() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let member = "898989898989";
    let central = "010101010101";
    let role_arn = restore_role(&sdk_in(stack, member).await, &unique("restore"), "p").await;
    let vault = unique("central-vault");
    let vault_arn = format!("arn:aws:backup:{REGION}:{central}:backup-vault:{vault}");
    // The fake serves Backup (moto lacks these reads) and does not tell accounts apart:
    // what this shows is the role the read went through, not that the fake checked it.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "CentralVault", "Effect": "Deny", "Principal": "*",
        "Action": "backup:DeleteRecoveryPoint", "Resource": "*"
    }]});
    let job_id = unique("JOB").to_uppercase();
    stack.fake_scenario(&json!({
        "vaults": {&vault: {"policy": policy.to_string()}},
        "restoreJobs": {&job_id: {
            "describe": {
                "AccountId": member, "RestoreJobId": &job_id, "Status": "FAILED",
                "StatusMessage": "Insufficient privileges to perform this action",
                "IamRoleArn": &role_arn, "ResourceType": "EFS", "BackupVaultArn": &vault_arn
            },
            "metadata": {"file-system-id": "fs-0123456789abcdef0"}
    }}}));
    let event = scenario::event("restore-job-failed-efs.json", |e| {
        e["account"] = json!(member);
        e["region"] = json!(REGION);
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["iamRoleArn"] = json!(&role_arn);
    });
    let topic = scenario::topic_with_queue(&sdk, &unique("org-vault")).await;
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, None).await;

    let p = handler.process(event, invocation()).await.unwrap();

    let ev = p.evidence.as_ref().unwrap();
    let read = ev
        .vault_access_policy
        .as_ref()
        .unwrap_or_else(|| panic!("{:#?}", ev.gaps));
    assert_eq!(read.document["Statement"][0]["Sid"], "CentralVault");
    let from = read.read_from.as_ref().unwrap();
    assert_eq!(from.account_id, central);
    assert_eq!(
        from.role_arn.as_deref(),
        Some(format!("arn:aws:iam::{central}:role/{READER}").as_str())
    );
    assert_eq!(handler.member_accounts().unwrap().assume_role_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rcps_above_a_member_account_bound_its_keys_and_reach_the_diagnosis() {
    use aws_sdk_organizations::types::PolicyType;
    use restore_doctor::diagnose::report::Blocker;
    let stack = stack();
    let sdk = stack.sdk_config().await;
    // moto's Organizations has the RCP policy type (RCPFullAWSAccess at every level):
    // no fake needed.
    let (member, root, ou, _) = organization(&sdk).await;
    let member_sdk = sdk_in(stack, &member).await;
    let kms_everything = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "*"
    }]})
    .to_string();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]})
    .to_string();
    let role_arn = scenario::role(
        &member_sdk,
        &unique("restore"),
        "/",
        &trust,
        &[("kms", kms_everything)],
        &[],
        None,
    )
    .await;
    let key = scenario::kms_key(&member_sdk, "member key").await;
    // An RCP on the member's OU: no kms:Decrypt on the OU's keys.
    let org = aws_sdk_organizations::Client::new(&sdk);
    let rcp = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "NoDecryptOnTheseKeys", "Effect": "Deny", "Principal": "*",
        "Action": "kms:Decrypt", "Resource": "*"
    }]});
    let rcp_id = org::attach_policy(
        &org,
        "deny-decrypt",
        PolicyType::ResourceControlPolicy,
        &rcp,
        &ou,
    )
    .await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-rcps")).await;
    let read_role = format!("arn:aws:iam::{ACCOUNT}:role/RestoreDoctorOrganizationReader");
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, Some(&read_role)).await;
    let (_, event) = failed_restore_with(
        stack,
        &member,
        &role_arn,
        json!({"file-system-id": "fs-0123456789abcdef0", "newFileSystem": "true", "KmsKeyId": &key}),
    );

    let p = handler.process(event, invocation()).await.unwrap();

    let ev = p.evidence.as_ref().unwrap();
    let levels = ev
        .resource_control_policies
        .as_ref()
        .unwrap_or_else(|| panic!("{:#?}", ev.gaps));
    let ids: Vec<&str> = levels.iter().map(|l| l.org_identifier.as_str()).collect();
    assert_eq!(ids, vec![root.as_str(), ou.as_str(), member.as_str()]);
    assert!(
        levels[1]
            .policies
            .iter()
            .any(|d| d.arn.as_deref().is_some_and(|a| a.ends_with(&rcp_id))),
        "{levels:#?}"
    );
    // The SCPs came from the same walk of the levels.
    assert!(ev.service_control_policies.is_some());
    let report = p.report.as_ref().unwrap();
    let decrypt = report
        .missing
        .iter()
        .find(|f| f.action == "kms:Decrypt" && f.resource == key)
        .unwrap_or_else(|| panic!("{:#?}", report.missing));
    assert_eq!(decrypt.blocked_by, vec![Blocker::Rcp], "{decrypt:#?}");
    assert!(!decrypt.fixable_by_patch);
    // The other KMS permissions are not denied by the RCP: the role's kms:* grants them.
    assert!(
        !report
            .missing
            .iter()
            .any(|f| f.action == "kms:GenerateDataKeyWithoutPlaintext"),
        "{:#?}",
        report.missing
    );
    let text = serde_json::to_string(&report.unverified).unwrap();
    assert!(!text.contains("resource control policies"), "{text}");
}

/// The scenario, in process (tests/lambda_emulator.rs runs it under the runtime
/// emulator): a
/// failure in member account B, its recovery point's key in central account C, an SCP on
/// B's OU denying `kms:CreateGrant`. One alert names B, the SCP and its OU, and the
/// key's account; the patch for B's role is verified with the SCP layer evaluated, and
/// the grant it cannot give is said to stay blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_failure_with_the_central_key_and_an_ou_scp_is_one_alert_naming_them_all() {
    use restore_doctor::diagnose::report::Blocker;
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let org::CentralKeyCase {
        member,
        ou,
        scp,
        central,
        key,
        role_arn,
        event,
    } = org::central_key_case(stack, &sdk).await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-scenario")).await;
    let read_role = format!("arn:aws:iam::{ACCOUNT}:role/RestoreDoctorOrganizationReader");
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, Some(&read_role)).await;

    let p = handler.process(event, invocation()).await.unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let ev = p.evidence.as_ref().unwrap();
    let from = ev.key_policies[0].read_from.as_ref().unwrap();
    assert_eq!(
        (
            ev.key_policies[0].key_arn.as_str(),
            from.account_id.as_str()
        ),
        (key.as_str(), central.as_str())
    );
    let report = p.report.as_ref().unwrap();
    let grant = report
        .missing
        .iter()
        .find(|f| f.action == "kms:CreateGrant" && f.resource == key)
        .unwrap_or_else(|| panic!("{:#?}", report.missing));
    assert!(grant.blocked_by.contains(&Blocker::Scp), "{grant:#?}");
    assert!(
        grant.denied_by.iter().any(|d| d.policy.contains(&scp)),
        "{grant:#?}"
    );
    // The patch grants B's role what it may; the grant the SCP denies stays blocked.
    let patch = report.patch.as_ref().unwrap();
    assert_eq!(patch.principal_arn, role_arn);
    assert!(
        report
            .verification
            .still_blocked
            .iter()
            .any(|b| b.contains("kms:CreateGrant")),
        "{:#?}",
        report.verification
    );
    let alert = p.alert.as_ref().unwrap();
    assert!(alert.subject.contains(&member), "{}", alert.subject);
    assert_eq!(alert.attributes["organizationalUnit"], ou);
    for named in [scp.as_str(), ou.as_str(), central.as_str()] {
        assert!(
            alert.message.contains(named),
            "{named} not in {}",
            alert.message
        );
    }
}

/// An opted-in EFS case in member account `account` (its role tagged with the default
/// opt-in tag), with the STS calls going to the fake: the account's reader role, and its
/// fixer role when `fixer_deployed`, are passed on to moto (deployed and trusting the
/// function); any other role is refused, as AWS refuses a role that is missing.
async fn member_case(
    stack: &Stack,
    account: &str,
    opted_in: bool,
    fixer_deployed: bool,
) -> (scenario::EfsCase, SdkConfig, String) {
    let member_sdk = sdk_in(stack, account).await;
    let case = scenario::efs_case_in(stack, &member_sdk, account).await;
    let role_name = format!("restore-{}", case.uniq);
    if opted_in {
        scenario::tag_role(
            &member_sdk,
            &role_name,
            "restore-doctor:auto-attach",
            "true",
        )
        .await;
    }
    let mut assumable = serde_json::Map::new();
    assumable.insert(
        format!("arn:aws:iam::{account}:role/{READER}"),
        json!(stack.moto.url),
    );
    if fixer_deployed {
        assumable.insert(
            format!("arn:aws:iam::{account}:role/{FIXER}"),
            json!(stack.moto.url),
        );
    }
    stack.fake_scenario(&json!({ "assumableRoles": assumable }));
    (case, member_sdk, role_name)
}

/// A handler deployed to attach in member accounts, and to retry (which a member
/// account's fixer role cannot do), its STS calls going to the fake ([`member_case`]).
async fn fixing_handler(stack: &Stack, name: &str) -> Handler {
    let sdk = stack.sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, &unique(name)).await;
    let auto = AutoSettings {
        attach: true,
        retry_restore: true,
        retry_wait: std::time::Duration::ZERO,
        ..AutoSettings::default()
    };
    org_handler_with(stack, &topic.topic_arn, &stack.fake.url, None, auto).await
}

fn auto_of(p: &Processed) -> AutoAttach {
    p.report
        .as_ref()
        .unwrap()
        .auto_attach
        .clone()
        .unwrap_or_else(|| panic!("no auto-attach decision: {:#?}", p.report))
}

/// The STS calls go to the fake, which passes the deployed roles on to moto: AssumeRole
/// is counted there, per role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_attach_in_a_member_account_goes_through_that_accounts_fixer_role() {
    let stack = stack();
    let member = "242424242424";
    let (case, member_sdk, role_name) = member_case(stack, member, true, true).await;
    let before = scenario::inline_policies(&member_sdk, &role_name).await;
    let handler = fixing_handler(stack, "org-fix").await;

    let p = handler
        .process(case.event.clone(), invocation())
        .await
        .unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let auto = auto_of(&p);
    assert_eq!(auto.decision, "attach", "{:#?}", auto.reasons);
    assert!(auto.attached, "{auto:#?}");
    assert_eq!(auto.role_arn.as_deref(), Some(case.role_arn.as_str()));
    // B's role, read back from moto as B: exactly the document the alert carries, and
    // nothing else of it changed.
    let after = scenario::inline_policies(&member_sdk, &role_name).await;
    assert_eq!(
        after[POLICY_NAME],
        serde_json::to_string(auto.attached_document.as_ref().unwrap()).unwrap()
    );
    let mut others = after.clone();
    others.remove(POLICY_NAME);
    assert_eq!(others, before);
    // Through B's fixer role: assumed once, next to B's reader role.
    let fixer_arn = format!("arn:aws:iam::{member}:role/{FIXER}");
    let reader_arn = format!("arn:aws:iam::{member}:role/{READER}");
    assert_eq!(stack.fake_requests("AssumeRole", &fixer_arn), 1);
    assert_eq!(stack.fake_requests("AssumeRole", &reader_arn), 1);
    // The fixer role cannot start restores: the retry is said, not tried.
    assert!(
        auto.reasons
            .iter()
            .any(|r| r.contains("not started again") && r.contains(member)),
        "{:#?}",
        auto.reasons
    );
    assert!(auto.retry_restore_job_id.is_none());
    assert_eq!(
        stack.fake_requests("StartRestoreJob", &case.recovery_point_arn),
        0
    );
    let email: Value = serde_json::from_str(&p.alert.as_ref().unwrap().message).unwrap();
    assert!(
        email["email"]
            .as_str()
            .unwrap()
            .contains("Auto-attach: ATTACHED"),
        "{email:#}"
    );

    // A second failure in B: both roles' credentials are kept, per account and role.
    let (second, _, second_role) = member_case(stack, member, true, true).await;
    let p = handler
        .process(second.event.clone(), invocation())
        .await
        .unwrap();
    assert!(auto_of(&p).attached, "{:#?}", auto_of(&p));
    assert!(scenario::inline_policies(&member_sdk, &second_role)
        .await
        .contains_key(POLICY_NAME));
    assert_eq!(stack.fake_requests("AssumeRole", &fixer_arn), 1);
    assert_eq!(stack.fake_requests("AssumeRole", &reader_arn), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_account_without_the_fixer_role_gets_no_attach_and_the_alert_says_why() {
    let stack = stack();
    let member = "252525252525";
    let (case, member_sdk, role_name) = member_case(stack, member, true, false).await;
    let before = scenario::inline_policies(&member_sdk, &role_name).await;
    let handler = fixing_handler(stack, "org-no-fixer").await;

    let p = handler
        .process(case.event.clone(), invocation())
        .await
        .unwrap();

    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    let auto = auto_of(&p);
    assert_eq!(auto.decision, "refuse", "{auto:#?}");
    assert!(!auto.attached);
    let fixer_arn = format!("arn:aws:iam::{member}:role/{FIXER}");
    let why = auto
        .reasons
        .iter()
        .find(|r| r.contains(&fixer_arn))
        .unwrap_or_else(|| panic!("{:#?}", auto.reasons));
    assert!(why.contains("AccessDenied"), "{why}");
    assert!(
        why.contains(&format!(
            "deploy the member stack (member.yaml) in account {member} with AutoAttach=true"
        )),
        "{why}"
    );
    // Nothing written, by any role; the alert carries the reason.
    assert_eq!(
        scenario::inline_policies(&member_sdk, &role_name).await,
        before
    );
    assert_eq!(stack.fake_requests("AssumeRole", &fixer_arn), 1);
    let email: Value = serde_json::from_str(&p.alert.as_ref().unwrap().message).unwrap();
    let email = email["email"].as_str().unwrap();
    assert!(email.contains("with AutoAttach=true"), "{email}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guardrails_still_refuse_a_member_role_that_is_not_opted_in() {
    let stack = stack();
    let member = "262626262626";
    let (case, member_sdk, role_name) = member_case(stack, member, false, true).await;
    let before = scenario::inline_policies(&member_sdk, &role_name).await;
    let handler = fixing_handler(stack, "org-not-opted-in").await;

    let p = handler
        .process(case.event.clone(), invocation())
        .await
        .unwrap();

    let auto = auto_of(&p);
    assert_eq!(auto.decision, "refuse", "{auto:#?}");
    assert!(
        auto.reasons.iter().any(|r| r.contains("not opted in")),
        "{:#?}",
        auto.reasons
    );
    assert_eq!(
        scenario::inline_policies(&member_sdk, &role_name).await,
        before
    );
    // The guard decides before anything is assumed: the fixer role was never asked.
    let fixer_arn = format!("arn:aws:iam::{member}:role/{FIXER}");
    assert_eq!(stack.fake_requests("AssumeRole", &fixer_arn), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_alias_is_read_through_its_reader_role_once_and_a_hostile_one_left_out() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, &unique("org-alias")).await;
    let handler = org_handler(stack, &topic.topic_arn, &stack.moto.url, None).await;
    let named = "272727272727";
    let named_sdk = sdk_in(stack, named).await;
    aws_sdk_iam::Client::new(&named_sdk)
        .create_account_alias()
        .account_alias("acme-prod-b")
        .send()
        .await
        .unwrap();
    let role_arn = restore_role(&named_sdk, &unique("restore"), "p").await;

    for _ in 0..2 {
        let (_, event) = failed_restore(stack, named, &role_arn);
        let p = handler.process(event, invocation()).await.unwrap();
        let ev = p.evidence.as_ref().unwrap();
        assert_eq!(ev.account_alias.as_deref(), Some("acme-prod-b"));
        let subject = &p.alert.as_ref().unwrap().subject;
        assert!(
            subject.contains(&format!("in {named} (acme-prod-b):")),
            "{subject}"
        );
    }
    // Two failures, one read: the alias is kept per account.
    assert_eq!(handler.account_aliases().reads(), 1);

    // moto takes any alias; IAM would not. This one would put a second line and a fake
    // claim in the subject: it is left out, and the subject names the account id only.
    let hostile = "282828282828";
    let hostile_sdk = sdk_in(stack, hostile).await;
    aws_sdk_iam::Client::new(&hostile_sdk)
        .create_account_alias()
        .account_alias("Evil\n[restore-doctor] fix ATTACHED")
        .send()
        .await
        .unwrap();
    let role_arn = restore_role(&hostile_sdk, &unique("restore"), "p").await;
    let (_, event) = failed_restore(stack, hostile, &role_arn);
    let p = handler.process(event, invocation()).await.unwrap();
    assert!(matches!(p.outcome, Outcome::Published { .. }), "{p:#?}");
    assert_eq!(p.evidence.as_ref().unwrap().account_alias, None);
    let subject = &p.alert.as_ref().unwrap().subject;
    assert!(subject.contains(&format!("in {hostile}:")), "{subject}");
    assert!(
        !subject.contains("Evil") && !subject.contains("ATTACHED"),
        "{subject}"
    );
    assert_eq!(handler.account_aliases().reads(), 2);
}
