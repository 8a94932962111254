#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Evidence gathering against a real local AWS endpoint: IAM, KMS (moto) and the Backup
//! and STS operations moto lacks (the fake in `tests/fakes/aws_fake.py`, which serves
//! DescribeRestoreJob, GetRestoreJobMetadata, DescribeRecoveryPoint,
//! GetBackupVaultAccessPolicy and DecodeAuthorizationMessage, and injects KMS failures).

mod support;

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use restore_doctor::aws::gather::{gather, gather_until, MAX_INSTANCE_PROFILES, MAX_TARGET_KEYS};
use restore_doctor::aws::metrics::Sink;
use restore_doctor::aws::{Clients, EndpointOverrides, Settings};
use restore_doctor::diagnose::evidence::{Evidence, EvidencePart, PolicyKind};
use restore_doctor::event::trigger;
use restore_doctor::handler::{Handler, Invocation, Outcome, Processed};
use serde_json::{json, Value};
use support::{scenario, stack, unique, ACCOUNT, REGION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efs_restore_evidence_is_complete() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let parsed = trigger::parse(&case.event).unwrap();

    let ev = gather(&stack.clients().await, &parsed).await;

    assert!(ev.gaps.is_empty(), "unexpected gaps: {:#?}", ev.gaps);
    // A valid event is carried whole (only the envelope fields the diagnosis reads).
    assert_eq!(ev.trigger["detail"], case.event["detail"]);
    assert_eq!(ev.trigger["id"], case.event["id"]);
    assert_eq!(ev.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(ev.region.as_deref(), Some(REGION));

    let job = ev.restore_job.as_ref().unwrap();
    assert_eq!(job.restore_job_id, case.job_id);
    assert_eq!(job.status.as_deref(), Some("FAILED"));
    assert_eq!(job.resource_type.as_deref(), Some("EFS"));
    assert_eq!(
        job.recovery_point_arn.as_deref(),
        Some(case.recovery_point_arn.as_str())
    );
    assert!(job
        .creation_date
        .as_deref()
        .unwrap()
        .starts_with("2026-03-02T"));

    let metadata = ev.restore_metadata.as_ref().unwrap();
    assert_eq!(metadata["KmsKeyId"], case.target_key_arn);

    let rp = ev.recovery_point.as_ref().unwrap();
    assert_eq!(
        rp.encryption_key_arn.as_deref(),
        Some(case.vault_key_arn.as_str())
    );
    assert_eq!(rp.backup_vault_name.as_deref(), Some(case.vault.as_str()));
    assert_eq!(
        rp.encryption_key_type.as_deref(),
        Some("CUSTOMER_MANAGED_KMS_KEY")
    );

    let vault = ev.vault_access_policy.as_ref().unwrap();
    assert_eq!(vault.backup_vault_name, case.vault);
    assert_eq!(
        vault.document["Statement"][0]["Sid"],
        "DenyDeleteRecoveryPoints"
    );

    // Both keys, each once, with moto's default key policy parsed as JSON.
    let mut keys: Vec<_> = ev.key_policies.iter().map(|k| k.key_arn.clone()).collect();
    keys.sort();
    let mut want = vec![case.target_key_arn.clone(), case.vault_key_arn.clone()];
    want.sort();
    assert_eq!(keys, want);
    assert!(ev.key_policies[0].document["Statement"].is_array());
    // The target key named in the metadata, confirmed by kms:DescribeKey; and the
    // recovery point's key, described once more for its KeyManager (#9: AWS managed
    // keys cannot be shared), one DescribeKey per key.
    assert_eq!(ev.kms_keys.len(), 2, "{:#?}", ev.kms_keys);
    let target = ev
        .kms_keys
        .iter()
        .find(|k| k.reference == case.target_key_arn)
        .unwrap();
    assert_eq!(target.key_arn, case.target_key_arn);
    assert_eq!(target.key_manager.as_deref(), Some("CUSTOMER"));
    assert_eq!(target.key_state.as_deref(), Some("Enabled"));
    let vault_key = ev
        .kms_keys
        .iter()
        .find(|k| k.key_arn == case.vault_key_arn)
        .unwrap();
    assert_eq!(vault_key.reference, case.vault_key_arn);
    assert_eq!(vault_key.key_manager.as_deref(), Some("CUSTOMER"));

    let role = ev.restore_role.as_ref().unwrap();
    assert_eq!(role.arn, case.role_arn);
    assert_eq!(role.tags["team"], "storage");
    assert_eq!(
        role.trust_policy.as_ref().unwrap()["Statement"][0]["Principal"]["Service"],
        "backup.amazonaws.com"
    );
    let inline = role
        .policies
        .iter()
        .find(|p| p.kind == PolicyKind::Inline)
        .unwrap();
    assert_eq!(inline.name, "backup-read");
    // URL-decoded and parsed, not the encoded string IAM returns.
    assert_eq!(inline.document["Statement"][0]["Sid"], "BackupRead");
    let managed = role
        .policies
        .iter()
        .find(|p| p.kind == PolicyKind::Managed)
        .unwrap();
    assert_eq!(managed.document["Statement"][0]["Action"], "s3:GetObject");
    assert!(ev.decoded_message.is_none());
    assert!(ev.caller.is_none());

    // The evidence round-trips through its JSON form (what the log line carries).
    let text = serde_json::to_string(&ev).unwrap();
    assert_eq!(
        restore_doctor::diagnose::Evidence::from_json(&text).unwrap(),
        ev
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_restore_decodes_the_message_and_reads_the_instance_profile() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::ec2_case(stack, &sdk).await;
    let parsed = trigger::parse(&case.event).unwrap();

    let ev = gather(&stack.clients().await, &parsed).await;

    assert!(ev.gaps.is_empty(), "unexpected gaps: {:#?}", ev.gaps);
    let decoded = ev.decoded_message.as_ref().unwrap();
    assert_eq!(decoded["context"]["action"], "iam:PassRole");
    assert_eq!(
        decoded["context"]["resource"],
        case.profile_role_arn.as_str()
    );
    assert_eq!(ev.instance_profiles.len(), 1);
    assert_eq!(ev.instance_profiles[0].name, case.profile_name);
    assert_eq!(
        ev.instance_profiles[0].role_arns,
        vec![case.profile_role_arn.clone()]
    );
    // Its role read with iam:GetRole: the trust policy and tags auto-attach checks
    // before it would ever grant iam:PassRole on it.
    let roles = &ev.instance_profiles[0].roles;
    assert_eq!(roles.len(), 1, "{roles:#?}");
    assert_eq!(roles[0].arn, case.profile_role_arn);
    assert_eq!(
        roles[0].trust_policy.as_ref().unwrap()["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
    assert_eq!(roles[0].tags["team"], "storage");
    assert_eq!(ev.restore_role.as_ref().unwrap().arn, case.role_arn);
    // An AMI recovery point has no customer key and the vault has no access policy.
    assert!(ev.key_policies.is_empty());
    assert!(ev.vault_access_policy.is_none());
    assert_eq!(
        stack.fake_requests("DecodeAuthorizationMessage", &case.token),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_start_restore_job_reads_the_users_own_group_and_managed_policies() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::user_case(&sdk).await;
    let parsed = trigger::parse(&case.event).unwrap();

    let ev = gather(&stack.clients().await, &parsed).await;

    let caller = ev.caller.as_ref().unwrap();
    assert_eq!(caller.arn, case.user_arn);
    let names: Vec<&str> = caller.policies.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"own"), "{names:?}");
    assert!(
        names.contains(&format!("group/{}/ops-read", case.group).as_str()),
        "{names:?}"
    );
    assert!(
        caller.policies.iter().any(|p| p.kind == PolicyKind::Managed
            && p.document["Statement"][0]["Action"] == "backup:Get*"),
        "{names:?}"
    );
    assert_eq!(ev.restore_role.as_ref().unwrap().arn, case.role_arn);
    assert_eq!(
        ev.restore_metadata.as_ref().unwrap()["file-system-id"],
        "fs-0123456789abcdef0"
    );
    // No restore job exists, and the request does not name the vault: the account's
    // vaults are asked for the recovery point, none has it, and that is said, not guessed.
    assert!(ev.restore_job.is_none());
    let gap = |part: EvidencePart| {
        ev.gaps
            .iter()
            .find(|g| g.part == part)
            .unwrap_or_else(|| panic!("no {part:?} gap in {:#?}", ev.gaps))
    };
    assert!(
        gap(EvidencePart::RecoveryPoint)
            .error
            .contains("the recovery point is in none of the"),
        "{:#?}",
        ev.gaps
    );
    assert!(gap(EvidencePart::VaultAccessPolicy)
        .error
        .starts_with("not attempted"));
    assert_eq!(ev.gaps.len(), 2, "{:#?}", ev.gaps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_calls_become_gaps_and_throttling_is_retried_first() {
    let stack = stack();
    // Two attempts with a tiny backoff: the throttled call is retried once, then a gap.
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20));
    let sdk = stack.sdk_config_with(retry).await;
    let case = scenario::efs_case(stack, &sdk).await;
    let denied = json!({"status": 400, "code": "AccessDeniedException", "message": "User: arn:aws:sts::123456789012:assumed-role/restore-doctor/fn is not authorized to perform: kms:GetKeyPolicy"});
    stack.fake_scenario(&json!({
        "vaults": {&case.vault: {"errors": {
            "GetBackupVaultAccessPolicy": {"status": 403, "code": "AccessDeniedException", "message": "Insufficient privileges to perform this action."},
            "DescribeRecoveryPoint": {"status": 400, "code": "ThrottlingException", "message": "Rate exceeded"}
        }}},
        "kmsKeys": {&case.target_key_arn: {"arn": &case.target_key_arn, "errors": {"GetKeyPolicy": denied}}}
    }));
    // KMS goes to the fake too, to refuse GetKeyPolicy.
    let clients = Clients::with_overrides(
        &sdk,
        &EndpointOverrides {
            kms: Some(stack.fake.url.clone()),
            ..stack.overrides()
        },
    );
    let parsed = trigger::parse(&case.event).unwrap();

    let ev = gather(&clients, &parsed).await;

    let gap = |part: EvidencePart| {
        ev.gaps
            .iter()
            .find(|g| g.part == part)
            .unwrap_or_else(|| panic!("no {part:?} gap in {:#?}", ev.gaps))
    };
    assert!(gap(EvidencePart::VaultAccessPolicy)
        .error
        .starts_with("AccessDeniedException"));
    assert!(gap(EvidencePart::VaultAccessPolicy)
        .call
        .contains(&case.vault));
    assert!(gap(EvidencePart::RecoveryPoint)
        .error
        .starts_with("ThrottlingException"));
    let key_gap = gap(EvidencePart::KeyPolicy);
    assert!(key_gap.call.starts_with("kms:GetKeyPolicy"), "{key_gap:?}");
    assert!(
        key_gap.error.contains("AccessDeniedException"),
        "{key_gap:?}"
    );
    assert_eq!(
        stack.fake_requests("DescribeRecoveryPoint", &case.recovery_point_arn),
        2
    );
    // Everything else was still gathered.
    assert!(ev.restore_job.is_some());
    assert!(ev.restore_role.is_some());
    assert!(ev.recovery_point.is_none());
    assert!(ev.vault_access_policy.is_none());
    assert!(ev.key_policies.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_job_and_role_are_gaps_not_errors() {
    let stack = stack();
    let event = scenario::event("restore-job-failed-efs.json", |e| {
        e["detail"]["restoreJobId"] = json!(support::unique("NOJOB"));
        e["detail"]["iamRoleArn"] = json!(format!(
            "arn:aws:iam::{ACCOUNT}:role/{}",
            support::unique("ghost")
        ));
    });
    let parsed = trigger::parse(&event).unwrap();

    let ev = gather(&stack.clients().await, &parsed).await;

    let parts: Vec<EvidencePart> = ev.gaps.iter().map(|g| g.part).collect();
    for part in [
        EvidencePart::RestoreJob,
        EvidencePart::RestoreMetadata,
        EvidencePart::RestoreRole,
        EvidencePart::VaultAccessPolicy,
    ] {
        assert!(parts.contains(&part), "no {part:?} gap in {:#?}", ev.gaps);
    }
    let role_gap = ev
        .gaps
        .iter()
        .find(|g| g.part == EvidencePart::RestoreRole)
        .unwrap();
    assert!(role_gap.error.contains("NoSuchEntity"), "{role_gap:?}");
}

/// A handler publishing to a fresh topic with a queue, and the topic.
async fn handler_with_topic(clients: Clients, name: &str) -> (Handler, scenario::Topic) {
    let sdk = stack().sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, name).await;
    let handler = Handler::new(clients, Settings::for_topic(&topic.topic_arn))
        .with_metric_sink(Sink::Memory(Default::default()));
    (handler, topic)
}

fn invocation() -> Invocation {
    Invocation {
        request_id: unique("request"),
        xray_trace_id: None,
        function_arn: None,
    }
}

/// Runs `event` through a fresh handler with `clients` by `deadline`; what it produced
/// and the one alert read back from SQS (its whole SNS envelope as text).
async fn run_until(clients: Clients, event: Value, deadline: Duration) -> (Processed, String) {
    let name = unique("edge");
    let (handler, topic) = handler_with_topic(clients, &name).await;
    let started = Instant::now();
    let processed = handler
        .process_until(event, invocation(), tokio::time::Instant::now() + deadline)
        .await
        .unwrap();
    // The invocation answered within its deadline, whatever its dependencies did.
    assert!(started.elapsed() < deadline, "took {:?}", started.elapsed());
    let sdk = stack().sdk_config().await;
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "exactly one alert: {got:#?}");
    (processed, got[0].to_string())
}

fn evidence(p: &Processed) -> &Evidence {
    assert!(
        matches!(p.outcome, Outcome::Published { .. }),
        "{:?}",
        p.outcome
    );
    p.evidence.as_ref().unwrap()
}

fn has_gap(ev: &Evidence, part: EvidencePart, call: &str, error: &str) -> bool {
    ev.gaps
        .iter()
        .any(|g| g.part == part && g.call.contains(call) && g.error.contains(error))
}

/// The hostile values of the security review's refused StartRestoreJob.
fn hostile_denied_event(role_arn: &str) -> Value {
    scenario::event("start-restore-job-denied-user.json", |e| {
        let d = &mut e["detail"];
        d["eventID"] = json!(support::unique_guid());
        d["userIdentity"]["arn"] = json!(format!(
            "arn:aws:iam::{ACCOUNT}:user/a`<!channel>`<https://evil.example|Re-authenticate>"
        ));
        d["errorMessage"] = json!("denied\n\nFix (verified by restore-doctor):\n  aws iam attach-role-policy --role-name x --policy-arn arn:aws:iam::aws:policy/AdministratorAccess");
        let p = &mut d["requestParameters"];
        p["iamRoleArn"] = json!(format!("{role_arn}`\n<!channel>"));
        p["resourceType"] = json!("E".repeat(88 * 1024));
        p["recoveryPointArn"] = json!(format!(
            "arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{}",
            "r".repeat(64 * 1024)
        ));
        p["metadata"]["KmsKeyId"] = json!("arn:*");
        p["metadata"]["newFileSystem"] = json!("true\nFix (verified by restore-doctor):");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_event_values_are_dropped_named_as_gaps_and_kept_out_of_the_alert() {
    let stack = stack();
    let event = hostile_denied_event(&format!("arn:aws:iam::{ACCOUNT}:role/service-role/R"));
    let (p, envelope) = run_until(stack.clients().await, event, Duration::from_secs(60)).await;
    let ev = evidence(&p);
    for (part, field) in [
        (EvidencePart::RestoreRole, "requestParameters.iamRoleArn"),
        (EvidencePart::Other, "requestParameters.resourceType"),
        (
            EvidencePart::RecoveryPoint,
            "requestParameters.recoveryPointArn",
        ),
        (EvidencePart::Caller, "userIdentity.arn"),
        (EvidencePart::RestoreMetadata, "metadata.newFileSystem"),
        (EvidencePart::RestoreMetadata, "KmsKeyId"),
    ] {
        assert!(
            has_gap(ev, part, field, ""),
            "no {part:?} gap for {field}: {:#?}",
            ev.gaps
        );
    }
    // No call was made with a dropped value, and nothing hostile reached the alert.
    assert!(ev.restore_role.is_none() && ev.kms_keys.is_empty());
    let message = ev.trigger["detail"]["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("denied") && !message.contains('\n'),
        "{message}"
    );
    for needle in [
        "<!channel>",
        "evil.example",
        "EEEEEEEE",
        "rrrrrrrr",
        "arn:*",
        // The forged "Fix" block needs its newlines: they are gone.
        "\\n  aws iam",
    ] {
        assert!(
            !envelope.contains(needle),
            "{needle} reached the alert: {}",
            &envelope[envelope.find(needle).unwrap().saturating_sub(300)..][..400]
        );
        assert!(
            !ev.trigger.to_string().contains(needle),
            "{needle} in the evidence"
        );
    }
    assert!(envelope.len() < 200 * 1024, "{}", envelope.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_kb_recovery_point_arn_never_reaches_the_sdk_and_the_alert_still_goes_out() {
    let stack = stack();
    let long = format!(
        "arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{}",
        "x".repeat(64 * 1024)
    );
    // In the event, and in AWS's own answer about the restore job.
    let job_id = format!("JOB-{}", unique("LONG")).to_uppercase();
    stack.fake_scenario(&json!({"restoreJobs": {&job_id: {
        "describe": {"RestoreJobId": &job_id, "Status": "FAILED", "RecoveryPointArn": &long,
                     "BackupVaultArn": format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:v"),
                     "ResourceType": "EFS"},
        "metadata": {}
    }}}));
    let job_event = scenario::event("restore-job-failed-efs.json", |e| {
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["recoveryPointArn"] = json!(&long);
    });
    let (p, _) = run_until(stack.clients().await, job_event, Duration::from_secs(60)).await;
    let ev = evidence(&p);
    assert!(
        has_gap(
            ev,
            EvidencePart::RecoveryPoint,
            "detail.recoveryPointArn",
            "longer than"
        ),
        "{:#?}",
        ev.gaps
    );
    assert!(
        has_gap(
            ev,
            EvidencePart::RestoreJob,
            "RecoveryPointArn",
            "longer than"
        ),
        "{:#?}",
        ev.gaps
    );
    assert_eq!(stack.fake_requests("DescribeRecoveryPoint", &long), 0);

    let denied = scenario::event("start-restore-job-denied-user.json", |e| {
        e["detail"]["eventID"] = json!(support::unique_guid());
        e["detail"]["requestParameters"]["recoveryPointArn"] = json!(&long);
    });
    let (p, _) = run_until(stack.clients().await, denied, Duration::from_secs(60)).await;
    let ev = evidence(&p);
    assert!(ev.recovery_point.is_none());
    assert!(
        has_gap(
            ev,
            EvidencePart::RecoveryPoint,
            "requestParameters.recoveryPointArn",
            "longer than"
        ),
        "{:#?}",
        ev.gaps
    );
}

/// Every request the fake served whose key contains `needle`, by operation.
fn fake_calls(needle: &str) -> Vec<(String, String)> {
    let (_, body) = support::http(stack().fake.port, "GET", "/_fake/requests", None).unwrap();
    let all: Vec<Value> = serde_json::from_str(&body).unwrap();
    all.iter()
        .filter(|r| r["key"].as_str().unwrap_or("").contains(needle))
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_owned(),
                r["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `IamInstanceProfileName` with its letters' case set by the bits of `i`.
fn case_variant(key: &str, i: usize) -> String {
    key.chars()
        .enumerate()
        .map(|(n, c)| {
            if (i >> (n % 20)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_call_with_57_kb_of_metadata_makes_a_handful_of_calls_not_1711() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let tag = unique("fanout");
    let mut metadata = serde_json::Map::new();
    // 1,500 spellings of one key, each naming another profile: which one AWS Backup
    // would use is unknown, so none is read.
    for i in 0..1500 {
        metadata.insert(
            case_variant("IamInstanceProfileName", i),
            json!(format!("{tag}-p{i}")),
        );
    }
    for i in 0..300 {
        metadata.insert(
            case_variant("KmsKeyId", i * 7 + 1),
            json!(format!("alias/{tag}-k{i}")),
        );
    }
    // Distinct keys naming distinct profiles and keys: only the first few are read.
    for (i, key) in [
        "iamInstanceProfileArn",
        "InstanceProfileName",
        "instanceProfileArn",
    ]
    .iter()
    .enumerate()
    {
        let v = if key.ends_with("Arn") {
            format!("arn:aws:iam::{ACCOUNT}:instance-profile/{tag}-d{i}")
        } else {
            format!("{tag}-d{i}")
        };
        metadata.insert((*key).into(), json!(v));
    }
    for (i, key) in ["kmsKeyArn", "kmsMasterKeyArn", "KmsKey"]
        .iter()
        .enumerate()
    {
        metadata.insert((*key).into(), json!(format!("alias/{tag}-dk{i}")));
    }
    let event = scenario::event("start-restore-job-denied-user.json", |e| {
        e["detail"]["eventID"] = json!(support::unique_guid());
        e["detail"]["requestParameters"]["metadata"] = Value::Object(metadata);
    });
    assert!(event["detail"]["requestParameters"].to_string().len() > 57 * 1024);
    // IAM and KMS go to the fake, which counts every call.
    let clients = Clients::with_overrides(
        &sdk,
        &EndpointOverrides {
            iam: Some(stack.fake.url.clone()),
            kms: Some(stack.fake.url.clone()),
            ..stack.overrides()
        },
    );

    let (p, _) = run_until(clients, event, Duration::from_secs(60)).await;

    let calls = fake_calls(&tag);
    let profiles = calls
        .iter()
        .filter(|(op, _)| op == "GetInstanceProfile")
        .count();
    let keys = calls.iter().filter(|(op, _)| op == "DescribeKey").count();
    assert_eq!(profiles, MAX_INSTANCE_PROFILES, "{calls:#?}");
    assert_eq!(keys, MAX_TARGET_KEYS, "{calls:#?}");
    assert!(
        calls.len() <= MAX_INSTANCE_PROFILES + MAX_TARGET_KEYS,
        "{calls:#?}"
    );
    let ev = evidence(&p);
    assert!(
        has_gap(
            ev,
            EvidencePart::RestoreMetadata,
            "metadata.iaminstanceprofilename",
            "differ only in case"
        ),
        "{:#?}",
        ev.gaps
    );
    assert!(
        has_gap(
            ev,
            EvidencePart::InstanceProfile,
            "iam:GetInstanceProfile",
            "1 skipped"
        ),
        "{:#?}",
        ev.gaps
    );
    assert!(
        has_gap(
            ev,
            EvidencePart::RestoreMetadata,
            "metadata.Kmskeyid",
            "differ only in case"
        ),
        "{:#?}",
        ev.gaps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_dependency_hanging_the_alert_goes_out_before_the_deadline_naming_the_gaps() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let hang = format!("{}/_hang", stack.fake.url);
    // Everything but SNS hangs.
    let clients = Clients::with_overrides(
        &sdk,
        &EndpointOverrides {
            backup: Some(hang.clone()),
            sts: Some(hang.clone()),
            kms: Some(hang.clone()),
            iam: Some(hang.clone()),
            sns: None,
            dynamodb: Some(hang.clone()),
        },
    );
    let event = scenario::event("restore-job-failed-efs.json", |e| {
        e["detail"]["restoreJobId"] = json!(format!("JOB-{}", unique("HANG")).to_uppercase());
    });
    // Gathering gets the 3 s left before the handler's 5 s reserve.
    let (p, envelope) = run_until(clients, event, Duration::from_secs(8)).await;

    let ev = evidence(&p);
    for part in [
        EvidencePart::RestoreJob,
        EvidencePart::RestoreMetadata,
        EvidencePart::RestoreRole,
    ] {
        assert!(
            has_gap(ev, part, "", "not read before the deadline"),
            "no {part:?} deadline gap: {:#?}",
            ev.gaps
        );
    }
    assert!(
        envelope.contains("not read before the deadline"),
        "{envelope}"
    );
    assert!(fake_calls("/_hang/restore-jobs/").len() >= 2);
}

/// Gathering is a graph, not stages (issue #11): the event names the restore role, so
/// its policies are read at once, and the target key the metadata names by ARN is read
/// as soon as the metadata answers, while DescribeRestoreJob (and so the recovery
/// point and its key) never answers before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_do_not_need_the_restore_job_do_not_wait_for_it() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    // GetRestoreJobMetadata answers; DescribeRestoreJob of this job hangs.
    stack.fake_scenario(&json!({"restoreJobs": {&case.job_id: {"hang": ["DescribeRestoreJob"]}}}));
    let parsed = trigger::parse(&case.event).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);

    let ev = gather_until(&stack.clients().await, &parsed, deadline).await;

    assert!(
        has_gap(
            &ev,
            EvidencePart::RestoreJob,
            "",
            "not read before the deadline"
        ),
        "{:#?}",
        ev.gaps
    );
    assert!(ev.restore_job.is_none() && ev.recovery_point.is_none());
    let role = ev
        .restore_role
        .as_ref()
        .expect("the role did not wait for the job");
    assert_eq!(role.arn, case.role_arn);
    assert!(!role.policies.is_empty());
    assert!(
        ev.key_policies
            .iter()
            .any(|k| k.key_arn == case.target_key_arn),
        "{:#?}",
        ev.key_policies
    );
    assert!(ev.kms_keys.iter().any(|k| k.key_arn == case.target_key_arn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_key_arn_in_aws_answers_is_a_gap_never_read_as_no_key() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let wildcard = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/*");
    stack.fake_scenario(&json!({"vaults": {&case.vault: {"recoveryPoints": {
        &case.recovery_point_arn: {"EncryptionKeyArn": &wildcard}
    }}}}));
    let parsed = trigger::parse(&case.event).unwrap();

    let ev = gather(&stack.clients().await, &parsed).await;

    let rp = ev.recovery_point.as_ref().unwrap();
    assert_eq!(rp.encryption_key_arn, None);
    assert!(
        has_gap(
            &ev,
            EvidencePart::RecoveryPoint,
            "EncryptionKeyArn",
            "wildcard"
        ),
        "{:#?}",
        ev.gaps
    );
    assert!(ev.key_policies.iter().all(|k| !k.key_arn.contains('*')));
    assert_eq!(stack.fake_requests("GetKeyPolicy", &wildcard), 0);
}

/// The account alias (iam:ListAccountAliases) is read alongside the evidence and shown
/// next to the account id; it is informative only, so none is not a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_alias_is_read_and_shown_next_to_the_account_id() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    // One alias per account; every test of this run shares the account, and none
    // asserts its absence.
    let _ = iam
        .create_account_alias()
        .account_alias("restore-doctor-tests")
        .send()
        .await;
    let case = scenario::efs_case(stack, &sdk).await;
    let parsed = trigger::parse(&case.event).unwrap();
    let ev = gather(&stack.clients().await, &parsed).await;
    assert_eq!(ev.account_alias.as_deref(), Some("restore-doctor-tests"));
    assert!(ev.gaps.is_empty(), "{:#?}", ev.gaps);
    let report = restore_doctor::examine(&ev);
    assert_eq!(
        report.restore.account_alias.as_deref(),
        Some("restore-doctor-tests")
    );
    let text = restore_doctor::render::text::report_text(&report);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains(&format!("{ACCOUNT} (restore-doctor-tests)")),
        "{text}"
    );
}
