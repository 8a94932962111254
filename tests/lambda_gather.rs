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

use std::time::Duration;

use aws_config::retry::RetryConfig;
use restore_doctor::aws::gather::gather;
use restore_doctor::aws::{Clients, EndpointOverrides};
use restore_doctor::diagnose::evidence::{EvidencePart, PolicyKind};
use restore_doctor::handler::trigger;
use serde_json::json;
use support::{scenario, stack, ACCOUNT, REGION};

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
