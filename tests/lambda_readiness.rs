#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Readiness in the function (issue #13, section 3), end to end: the built
//! `restore-doctor-lambda` binary under the Lambda runtime API emulator, invoked with the
//! scheduled run's input and with CloudTrail change events, its calls going to moto
//! (IAM: the restore roles; KMS: the recovery point's key, disabled and enabled again;
//! DynamoDB: the state table, read back by the test; EventBridge Scheduler: the schedule;
//! SNS and SQS: the alert) and to the fake `tests/fakes/aws_fake.py` for what moto 5.2 lacks (the AWS
//! Backup listings and reads of readiness: ListProtectedResources, ListBackupVaults,
//! ListRecoveryPointsByBackupVault (a scheduled run), ListRecoveryPointsByResource (a change), GetRecoveryPointRestoreMetadata, the restore testing
//! reads, DescribeRecoveryPoint, GetBackupVaultAccessPolicy; and STS GetCallerIdentity).
//! The scheduled run's input is the template's schedule's, created in moto's EventBridge
//! Scheduler and read back from it (moto does not invoke targets, so the test sends it,
//! with the scheduled time filled in as Scheduler does).
//!
//! One test: the fake's protected resources are the account's, so a second test in this
//! binary would see the first one's resources.

mod raw_http;
mod sam_template;
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::emulator::{self, invoke, invoke_raw};
use support::readiness::{nothing_published, relisted_since, state_table, table_items};
use support::{scenario, stack, unique, ACCOUNT, REGION};

/// A CloudTrail management event of the function's own account.
fn cloudtrail(source: &str, name: &str, params: Value, principal: &str, time: &str) -> Value {
    support::readiness::cloudtrail(ACCOUNT, source, name, params, principal, time)
}

/// One EventBridge Scheduler call (REST JSON) to moto.
fn scheduler(method: &str, path: &str, body: &Value) -> Value {
    let credential = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/scheduler/aws4_request, SignedHeaders=host, Signature=0"
    );
    let answer = raw_http::request(
        stack().moto.port,
        method,
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &credential),
        ],
        &body.to_string(),
        Duration::from_secs(30),
    );
    assert_eq!(answer.status, 200, "{method} {path}: {}", answer.body);
    serde_json::from_str(&answer.body).unwrap_or(Value::Null)
}

/// The input the template's schedule sends at `time`: the schedule created in moto's
/// Scheduler from template.yaml, read back, its context attribute filled in.
fn scheduled_input(name: &str, function_arn: &str, time: &str) -> Value {
    let template = sam_template::template();
    let target = &template["Resources"]["ReadinessScheduleRun"]["Properties"]["Target"];
    let input = target["Input"].as_str().unwrap();
    scheduler(
        "POST",
        &format!("/schedules/{name}"),
        &json!({
            "ScheduleExpression": "rate(1 day)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": function_arn,
                "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/scheduler-{name}"),
                "Input": input,
            },
        }),
    );
    let stored = scheduler("GET", &format!("/schedules/{name}"), &json!({}));
    let input = stored["Target"]["Input"].as_str().unwrap();
    serde_json::from_str(&input.replace("<aws.scheduler.scheduled-time>", time)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_alert_once_on_what_changed_and_a_breaking_change_is_one_alert_naming_it() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let u = unique("fnready");
    let dir = stack.dir.join(&u);
    std::fs::create_dir_all(&dir).unwrap();

    // Roles in moto: the EFS selection's role can do everything EFS restores need; the
    // configured role (READINESS_RESTORE_ROLE) lacks ec2:DeleteVolume.
    let efs_name = format!("efs-restore-{u}");
    let efs_role = scenario::role(
        &sdk,
        &efs_name,
        "/service-role/",
        &scenario::backup_trust(),
        &[(
            "efs",
            scenario::allow_all(&["elasticfilesystem:*", "kms:*"]),
        )],
        &[],
        None,
    )
    .await;
    let ebs_role = scenario::ebs_role_without_delete(&sdk, &format!("ebs-restore-{u}")).await;
    // The file system's recovery point is encrypted with a key of moto's KMS.
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .description(format!("readiness {u}"))
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let table = format!("state-{u}");
    state_table(&sdk, &table).await;
    let topic = scenario::topic_with_queue(&sdk, &u).await;
    scenario::subscribe_fake_endpoints(stack, &sdk, &topic.topic_arn, &u).await;

    // The fake's AWS Backup: one EFS file system (restore testing selection: the EFS
    // role) and one EBS volume (no selection: the configured role).
    let fs = format!("arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0d0d0d0d");
    let vol = format!("arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0e0e0e0e0e0e0e0e0");
    let (efs_vault, ebs_vault) = (format!("efs-{u}"), format!("ebs-{u}"));
    let point = |n: &str| format!("arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{n}-{u}");
    let rp = |vault: &str, resource: &str, kind: &str, meta: Value, key: Option<&str>| {
        let mut p = json!({
            "BackupVaultName": vault,
            "BackupVaultArn": format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{vault}"),
            "ResourceArn": resource, "ResourceType": kind, "Status": "COMPLETED",
            "IsEncrypted": key.is_some(), "CreationDate": 1_772_300_000.0, "restoreMetadata": meta
        });
        if let Some(k) = key {
            p["EncryptionKeyArn"] = json!(k);
        }
        p
    };
    let vault = |name: &str, p: String, body: Value| {
        json!({"arn": format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{name}"),
               "recoveryPoints": {p: body}})
    };
    stack.fake_scenario(&json!({
        "protectedResources": {&fs: {"ResourceType": "EFS"}, &vol: {"ResourceType": "EBS"}},
        "restoreTestingPlans": {
            format!("nightly_{}", u.replace('-', "_")): {"selections": {
                "efs": {"ProtectedResourceType": "EFS", "IamRoleArn": &efs_role,
                        "ProtectedResourceArns": ["*"]}
            }}
        },
        "vaults": {
            &efs_vault: vault(&efs_vault, point("fs"), rp(&efs_vault, &fs, "EFS", json!({
                "file-system-id": "fs-0d0d0d0d", "newFileSystem": "true", "Encrypted": "false",
                "PerformanceMode": "generalPurpose", "CreationToken": "t-0d"}), Some(&key_arn))),
            &ebs_vault: vault(&ebs_vault, point("vol"), rp(&ebs_vault, &vol, "EBS", json!({
                "volumeType": "gp3", "encrypted": "false",
                "availabilityZone": format!("{REGION}a")}), None)),
        }
    }));

    let (_watch, port) = emulator::start_emulator(&dir);
    let log = dir.join("function.log");
    let _function = emulator::start_function_with(
        stack,
        port,
        &topic.topic_arn,
        "1",
        &log,
        &[
            ("READINESS_TABLE", table.clone()),
            ("CHANGE_TRIGGERED_CHECKS", "true".to_owned()),
            ("READINESS_RESTORE_ROLE", ebs_role.clone()),
        ],
    );
    let scheduled = scheduled_input(
        &u,
        &format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:_"),
        "2026-03-02T06:00:00Z",
    );
    assert_eq!(
        scheduled,
        support::readiness::scheduled("2026-03-02T06:00:00Z")
    );

    // 1. The first run: the volume is not ready (newly: nothing was known), the file
    //    system is ready. Exactly one summary message, naming the volume only.
    let outcome = invoke(port, &scheduled, &dir);
    assert_eq!(outcome["status"], "readiness", "{outcome:#}");
    assert_eq!(outcome["checked"], 2, "{outcome:#}");
    assert_eq!(outcome["newlyNotReady"], 1, "{outcome:#}");
    assert_eq!(outcome["stateSaved"], true, "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let attrs = scenario::attributes(&got[0]);
    assert_eq!(attrs["cause"], "readinessNotReady");
    assert_eq!(attrs["trigger"], "readiness");
    assert_eq!(attrs["resourceType"], "EBS");
    assert_eq!(attrs["fixableByPatch"], "true");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert!(
        subject.contains("1 resource no longer restorable"),
        "{subject}"
    );
    let doc: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["kind"], "readinessChanged");
    assert_eq!(doc["checked"], 2);
    let listed = doc["resources"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{doc:#}");
    assert_eq!(
        listed[0]["report"]["restore"]["sourceResourceArn"],
        vol.as_str()
    );
    assert_eq!(
        listed[0]["report"]["missing"][0]["action"],
        "ec2:DeleteVolume"
    );
    assert!(
        !doc.to_string().contains("fs-0d0d0d0d"),
        "the ready file system is not in it"
    );

    // The table holds each resource's state, read back here over HTTP.
    // One item per (account, resource, vault), and the account's own.
    let items = table_items(&sdk, &table).await;
    assert_eq!(items.len(), 3, "{items:#?}");
    assert_eq!(
        items[&format!("account#{ACCOUNT}")]["readable"],
        aws_sdk_dynamodb::types::AttributeValue::Bool(true)
    );
    let vol_item = &items[&format!("{ACCOUNT}#{vol}#{ebs_vault}")];
    assert_eq!(vol_item["verdict"].as_s().unwrap(), "notReady");
    assert_eq!(vol_item["roleArn"].as_s().unwrap(), &ebs_role);
    let fs_item = &items[&format!("{ACCOUNT}#{fs}#{efs_vault}")];
    assert_eq!(fs_item["verdict"].as_s().unwrap(), "ready");
    assert_eq!(fs_item["roleArn"].as_s().unwrap(), &efs_role);
    let keys: Vec<&String> = fs_item["keyArns"]
        .as_l()
        .unwrap()
        .iter()
        .map(|k| k.as_s().unwrap())
        .collect();
    assert_eq!(keys, [&key_arn]);
    let expires: i64 = fs_item["expiresAt"].as_n().unwrap().parse().unwrap();
    let checked: i64 = fs_item["checkedAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires - checked, 30 * 86_400);

    // 2. A second run, nothing changed: nothing published.
    let outcome = invoke(port, &scheduled, &dir);
    assert_eq!(outcome["status"], "readiness", "{outcome:#}");
    assert_eq!(outcome["notReady"], 1, "{outcome:#}");
    assert_eq!(outcome["newlyNotReady"], 0, "{outcome:#}");
    assert_eq!(outcome["messageId"], Value::Null, "{outcome:#}");
    nothing_published(&sdk, &topic.queue_url).await;

    // 3. Someone disables the file system's key: the change names the key, the one
    //    resource whose restore uses it is re-checked and is not ready.
    let admin = format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/mallory");
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let mut disable = cloudtrail(
        "kms.amazonaws.com",
        "DisableKey",
        json!({"keyId": &key_id}),
        &admin,
        "2026-03-02T08:00:00Z",
    );
    disable["detail"]["resources"] = json!([{"ARN": &key_arn, "type": "AWS::KMS::Key"}]);
    let outcome = invoke(port, &disable, &dir);
    assert_eq!(outcome["status"], "changeChecked", "{outcome:#}");
    assert_eq!(outcome["touched"], 1, "{outcome:#}");
    assert_eq!(outcome["broken"], 1, "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let doc: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["change"]["eventName"], "DisableKey");
    let summary = doc["resources"][0]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("`{key_arn}` is Disabled")),
        "{summary}"
    );
    // Enabled again, the next scheduled run finds it ready, and says nothing.
    kms.enable_key().key_id(&key_id).send().await.unwrap();
    let outcome = invoke(port, &scheduled, &dir);
    assert_eq!(outcome["newlyNotReady"], 0, "{outcome:#}");
    assert_eq!(outcome["notReady"], 1, "{outcome:#}");
    nothing_published(&sdk, &topic.queue_url).await;

    // 4. Someone removes the EFS role's only policy: the change event re-checks the
    //    file system alone and is one alert naming the change, who, when, the resource
    //    and the fix.
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.delete_role_policy()
        .role_name(&efs_name)
        .policy_name("efs")
        .send()
        .await
        .unwrap();
    let before = stack.fake_request_count();
    let change = cloudtrail(
        "iam.amazonaws.com",
        "DeleteRolePolicy",
        json!({"roleName": &efs_name, "policyName": "efs"}),
        &admin,
        "2026-03-02T09:05:33Z",
    );
    let outcome = invoke(port, &change, &dir);
    assert_eq!(outcome["status"], "changeChecked", "{outcome:#}");
    assert_eq!(outcome["eventName"], "DeleteRolePolicy");
    assert_eq!(outcome["touched"], 1, "{outcome:#}");
    assert_eq!(outcome["broken"], 1, "{outcome:#}");
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let attrs = scenario::attributes(&got[0]);
    assert_eq!(attrs["cause"], "readinessBrokenByChange");
    assert_eq!(attrs["changeEvent"], "DeleteRolePolicy");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert!(
        subject.contains("DeleteRolePolicy by mallory breaks the restore of 1 resource"),
        "{subject}"
    );
    let doc: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["change"]["principal"], admin.as_str());
    assert_eq!(doc["change"]["time"], "2026-03-02T09:05:33Z");
    let listed = doc["resources"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{doc:#}");
    assert_eq!(
        listed[0]["report"]["restore"]["sourceResourceArn"],
        fs.as_str()
    );
    assert_eq!(listed[0]["verdict"], "notReady");
    let patch = &listed[0]["report"]["patch"];
    assert_eq!(patch["principalArn"], efs_role.as_str());
    assert_eq!(listed[0]["report"]["verified"], true);
    // The email text says it in one sentence, with the fix.
    let texts = stack.sns_deliveries(&format!("{u}-http"));
    let text = texts
        .iter()
        .filter_map(|d| d["Message"].as_str())
        .find(|m| m.contains("DeleteRolePolicy"))
        .unwrap_or_else(|| panic!("{texts:#?}"));
    assert!(
        text.contains(&format!(
            "This change, made by {admin} at 2026-03-02T09:05:33Z, breaks the restore of 1 resource"
        )),
        "{text}"
    );
    assert!(text.contains("Fix (verified):"), "{text}");
    assert!(
        text.contains(&format!("--role-name '{efs_name}'")),
        "{text}"
    );
    // Only the touched resource was read again: the volume's recovery points were not
    // listed.
    assert_eq!(relisted_since(stack, before), [fs.as_str()]);
    let items = table_items(&sdk, &table).await;
    assert_eq!(
        items[&format!("{ACCOUNT}#{fs}#{efs_vault}")]["verdict"]
            .as_s()
            .unwrap(),
        "notReady"
    );

    // 5. A change that touches no resource: nothing published.
    let other = cloudtrail(
        "iam.amazonaws.com",
        "PutRolePolicy",
        json!({"roleName": format!("unrelated-{u}"), "policyName": "x"}),
        &admin,
        "2026-03-02T09:06:00Z",
    );
    let outcome = invoke(port, &other, &dir);
    assert_eq!(outcome["status"], "changeChecked", "{outcome:#}");
    assert_eq!(outcome["touched"], 0, "{outcome:#}");
    let vault_change = cloudtrail(
        "backup.amazonaws.com",
        "PutBackupVaultAccessPolicy",
        json!({"backupVaultName": &ebs_vault}),
        &admin,
        "2026-03-02T09:07:00Z",
    );
    // The volume is touched but was already not ready: not broken by this change.
    let outcome = invoke(port, &vault_change, &dir);
    assert_eq!(outcome["touched"], 1, "{outcome:#}");
    assert_eq!(outcome["broken"], 0, "{outcome:#}");
    nothing_published(&sdk, &topic.queue_url).await;

    // 6. Hostile inputs: a clear skip or error, never a panic, never a publish.
    for (params, field) in [
        (json!({"roleName": "*"}), "roleName"),
        (json!({"roleName": "x`<!channel>\n"}), "roleName"),
        (json!({"roleName": "a".repeat(100_000)}), "roleName"),
    ] {
        let event = cloudtrail(
            "iam.amazonaws.com",
            "PutRolePolicy",
            params,
            &admin,
            "2026-03-02T09:08:00Z",
        );
        let outcome = invoke(port, &event, &dir);
        assert_eq!(outcome["status"], "skipped", "{outcome:#}");
        let reason = outcome["reason"].as_str().unwrap();
        assert!(reason.contains(field), "{reason}");
        assert!(!reason.contains("<!channel>"), "{reason}");
    }
    let mut forged = cloudtrail(
        "kms.amazonaws.com",
        "DisableKey",
        json!({"keyId": "alias/aws/backup"}),
        "arn:aws:iam::123456789012:user/<b>x</b>",
        "not a time; rm -rf /",
    );
    forged["account"] = json!("999999999999");
    let outcome = invoke(port, &forged, &dir);
    assert_eq!(outcome["status"], "skipped", "{outcome:#}");
    for bad in [
        json!({"restore-doctor": "scheduled-readiness", "table": "other"}),
        json!({"restore-doctor": ["scheduled-readiness"]}),
    ] {
        let out = invoke_raw(port, &bad, &dir);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("InvalidInput") || all.contains("not a scheduled readiness input"),
            "{all}"
        );
    }
    // Still alive and answering after all that.
    let outcome = invoke(port, &scheduled, &dir);
    assert_eq!(outcome["status"], "readiness", "{outcome:#}");
    assert_eq!(outcome["newlyNotReady"], 0, "{outcome:#}");
    nothing_published(&sdk, &topic.queue_url).await;
    let lines = emulator::json_lines(&log);
    assert!(
        !lines
            .iter()
            .any(|l| l.to_string().contains("panicked") || l.to_string().contains("<!channel>")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l["message"] == "readiness run"));
    assert!(lines.iter().any(|l| l["message"] == "change checked"));
}
