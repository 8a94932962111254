#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Readiness in the function across the organization (issue #13, section 3 with the
//! organization deployment): the built `restore-doctor-lambda` binary under the Lambda
//! runtime API emulator, in organization mode with `READINESS_ACCOUNTS`, its calls going
//! to moto (IAM in each account: moto's AssumeRole hands out credentials that act in the
//! role's account; DynamoDB: the state table, read back by the test; SNS and SQS: the
//! alert) and to the fake `tests/fakes/aws_fake.py` for what moto 5.2 lacks: the AWS
//! Backup readiness reads (ListProtectedResources, ListBackupVaults,
//! ListRecoveryPointsByBackupVault, ListRecoveryPointsByResource,
//! GetRecoveryPointRestoreMetadata, ListRestoreTestingPlans, ListRestoreTestingSelections,
//! GetRestoreTestingSelection, DescribeRecoveryPoint, GetBackupVaultAccessPolicy), listed
//! per account, STS GetCallerIdentity, and an AssumeRole that refuses a reader role that
//! is not deployed (moto's accepts any).
//!
//! One test: the fake's listings are shared by the binary's tests.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use support::emulator::{self, invoke};
use support::org::sdk_in;
use support::readiness::{
    cloudtrail, nothing_published, relisted_since, scheduled, state_table, table_items,
};
use support::{scenario, stack, unique, ACCOUNT, REGION};

/// A member account with the member stack (its reader role), and one without it.
const MEMBER: &str = "210987654321";
const BARE: &str = "333344445555";

fn reader(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/RestoreDoctorReader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_checks_every_listed_account_in_itself_and_a_members_change_is_checked_there() {
    let stack = stack();
    let own_sdk = stack.sdk_config().await;
    let member_sdk = sdk_in(stack, MEMBER).await;
    let u = unique("fnaccts");
    let dir = stack.dir.join(&u);
    std::fs::create_dir_all(&dir).unwrap();

    // The same role name in both accounts, each able to restore EFS: a change to the
    // member's must not touch the function's own account's resource.
    let efs_name = format!("efs-restore-{u}");
    let efs_role = |sdk| {
        let name = efs_name.clone();
        async move {
            scenario::role(
                sdk,
                &name,
                "/",
                &scenario::backup_trust(),
                &[(
                    "efs",
                    scenario::allow_all(&["elasticfilesystem:*", "kms:*"]),
                )],
                &[],
                None,
            )
            .await
        }
    };
    let own_efs_role = efs_role(&own_sdk).await;
    let member_efs_role = efs_role(&member_sdk).await;
    assert!(member_efs_role.contains(&format!("::{MEMBER}:role/")));
    // The member's EBS role lacks ec2:DeleteVolume.
    let ebs_role =
        scenario::ebs_role_without_delete(&member_sdk, &format!("ebs-restore-{u}")).await;
    // The member's file system is backed up with a key of the function's own account (a
    // central backup account's key) whose policy lets the member use it: it is read in
    // its owner, as a failure's gathering reads it, so the member's restore is ready.
    let kms = aws_sdk_kms::Client::new(&own_sdk);
    let key_arn = kms
        .create_key()
        .description(format!("central backup key {u}"))
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    kms.put_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Owner", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "MemberRestores", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{MEMBER}:root")},
                 "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext",
                            "kms:CreateGrant"], "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let table = format!("state-{u}");
    state_table(&own_sdk, &table).await;
    let topic = scenario::topic_with_queue(&own_sdk, &u).await;

    // Each account's listings, shown only to it. Every account has a vault named
    // `Default`: the state keeps them apart.
    let own_fs = format!("arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0a0a0a0a");
    let member_fs = format!("arn:aws:elasticfilesystem:{REGION}:{MEMBER}:file-system/fs-0b0b0b0b");
    let vol = format!("arn:aws:ec2:{REGION}:{MEMBER}:volume/vol-0c0c0c0c0c0c0c0c0");
    let efs_meta = |id: &str| {
        json!({"file-system-id": id, "newFileSystem": "true", "Encrypted": "false",
               "PerformanceMode": "generalPurpose", "CreationToken": format!("t-{id}")})
    };
    let point = |account: &str, resource: &str, kind: &str, meta: Value, n: &str| {
        let vault = format!("arn:aws:backup:{REGION}:{account}:backup-vault:Default");
        (
            format!("arn:aws:backup:{REGION}:{account}:recovery-point:{n}-{u}"),
            json!({"BackupVaultName": "Default", "BackupVaultArn": vault, "ResourceArn": resource,
                   "ResourceType": kind, "Status": "COMPLETED", "IsEncrypted": false,
                   "CreationDate": 1_772_000_000.0, "restoreMetadata": meta}),
        )
    };
    // One entry per account's `Default` (the fake tells them apart by "name" and
    // "AccountId").
    let vault = |account: &str, points: Vec<(String, Value)>| {
        let map: serde_json::Map<String, Value> = points.into_iter().collect();
        json!({"arn": format!("arn:aws:backup:{REGION}:{account}:backup-vault:Default"),
               "name": "Default", "AccountId": account, "recoveryPoints": map})
    };
    let plan = |name: &str| format!("{name}_{}", u.replace('-', "_"));
    stack.fake_scenario(&json!({
        "protectedResources": {
            &own_fs: {"ResourceType": "EFS", "AccountId": ACCOUNT},
            &member_fs: {"ResourceType": "EFS", "AccountId": MEMBER},
            &vol: {"ResourceType": "EBS", "AccountId": MEMBER}
        },
        "restoreTestingPlans": {
            plan("own"): {"AccountId": ACCOUNT, "selections": {"efs": {
                "ProtectedResourceType": "EFS", "IamRoleArn": &own_efs_role,
                "ProtectedResourceArns": ["*"]}}},
            plan("member"): {"AccountId": MEMBER, "selections": {
                "efs": {"ProtectedResourceType": "EFS", "IamRoleArn": &member_efs_role,
                        "ProtectedResourceArns": ["*"]},
                "ebs": {"ProtectedResourceType": "EBS", "IamRoleArn": &ebs_role,
                        "ProtectedResourceArns": ["*"]}}}
        },
        "vaults": {
            format!("own-{u}"): vault(ACCOUNT, vec![
                point(ACCOUNT, &own_fs, "EFS", efs_meta("fs-0a0a0a0a"), "own-fs")]),
            format!("member-{u}"): vault(MEMBER, vec![
                {
                    let (arn, mut p) =
                        point(MEMBER, &member_fs, "EFS", efs_meta("fs-0b0b0b0b"), "member-fs");
                    p["IsEncrypted"] = json!(true);
                    p["EncryptionKeyArn"] = json!(&key_arn);
                    (arn, p)
                },
                point(MEMBER, &vol, "EBS", json!({"volumeType": "gp3", "encrypted": "false",
                    "availabilityZone": format!("{REGION}a")}), "member-vol")]),
        },
        // The member stack is deployed in MEMBER only: BARE's reader role is refused.
        "assumableRoles": {reader(MEMBER): &stack.moto.url}
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
            ("MEMBER_READER_ROLE", "RestoreDoctorReader".to_owned()),
            ("READINESS_ACCOUNTS", format!("{MEMBER},{BARE}")),
        ],
    );

    // 1. The first run reads the three accounts: the member's volume is newly not ready,
    //    the account without the member stack is newly not read. One summary says both.
    let run = scheduled("2026-03-02T06:00:00Z");
    let outcome = invoke(port, &run, &dir);
    assert_eq!(outcome["status"], "readiness", "{outcome:#}");
    assert_eq!(outcome["accounts"], 3, "{outcome:#}");
    assert_eq!(outcome["accountsNotRead"], 1, "{outcome:#}");
    assert_eq!(outcome["checked"], 3, "{outcome:#}");
    assert_eq!(outcome["notReady"], 1, "{outcome:#}");
    assert_eq!(outcome["newlyNotReady"], 1, "{outcome:#}");
    assert_eq!(outcome["stateSaved"], true, "{outcome:#}");
    let got = scenario::receive(&own_sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!("[restore-doctor] Readiness: 1 resource no longer restorable in {MEMBER}; 1 account not read")
    );
    let attrs = scenario::attributes(&got[0]);
    assert_eq!(attrs["accountId"], "multiple");
    assert_eq!(attrs["cause"], "readinessNotReady");
    let doc: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["accounts"].as_array().unwrap().len(), 3, "{doc:#}");
    assert_eq!(doc["notRead"][0]["accountId"], BARE);
    let why = doc["notRead"][0]["why"].as_str().unwrap();
    assert!(
        why.contains(&reader(BARE)) && why.contains("member.yaml"),
        "{why}"
    );
    let listed = doc["resources"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{doc:#}");
    let r = &listed[0]["report"];
    assert_eq!(r["restore"]["sourceResourceArn"], vol.as_str());
    assert_eq!(r["restore"]["accountId"], MEMBER);
    assert_eq!(r["restore"]["roleArn"], ebs_role.as_str());
    assert_eq!(r["missing"][0]["action"], "ec2:DeleteVolume");
    assert_eq!(r["patch"]["principalArn"], ebs_role.as_str());
    assert_eq!(r["verified"], true);
    // The member's reader role was assumed once; nothing of it read the own account.
    assert_eq!(stack.fake_requests("AssumeRole", &reader(MEMBER)), 1);
    assert_eq!(stack.fake_requests("AssumeRole", &reader(ACCOUNT)), 0);

    // The state: each account's rows under its own key (both vaults are `Default`), and
    // one item per account saying whether it could be read.
    let items = table_items(&own_sdk, &table).await;
    let verdict = |k: String| items[&k]["verdict"].as_s().unwrap().clone();
    assert_eq!(verdict(format!("{ACCOUNT}#{own_fs}#Default")), "ready");
    // Ready: the central key's policy was read in its owner (with the member's reader
    // role it could not be read, and the member's restore would not be verifiable).
    assert_eq!(verdict(format!("{MEMBER}#{member_fs}#Default")), "ready");
    let keys: Vec<&String> = items[&format!("{MEMBER}#{member_fs}#Default")]["keyArns"]
        .as_l()
        .unwrap()
        .iter()
        .map(|k| k.as_s().unwrap())
        .collect();
    assert_eq!(keys, [&key_arn]);
    assert_eq!(verdict(format!("{MEMBER}#{vol}#Default")), "notReady");
    for (account, readable) in [(ACCOUNT, true), (MEMBER, true), (BARE, false)] {
        assert_eq!(
            items[&format!("account#{account}")]["readable"],
            AttributeValue::Bool(readable),
            "{account}"
        );
    }
    assert_eq!(items.len(), 6, "{items:#?}");

    // 2. Nothing changed: nothing published, though BARE still cannot be read.
    let outcome = invoke(port, &scheduled("2026-03-03T06:00:00Z"), &dir);
    assert_eq!(outcome["accountsNotRead"], 1, "{outcome:#}");
    assert_eq!(outcome["newlyNotReady"], 0, "{outcome:#}");
    assert_eq!(outcome["messageId"], Value::Null, "{outcome:#}");
    nothing_published(&own_sdk, &topic.queue_url).await;

    // 3. Someone removes the member's EFS role policy: the change, forwarded from the
    //    member, is checked in the member through its reader role; only the member's
    //    file system is read again, and one alert names the change and the account.
    let iam = aws_sdk_iam::Client::new(&member_sdk);
    iam.delete_role_policy()
        .role_name(&efs_name)
        .policy_name("efs")
        .send()
        .await
        .unwrap();
    let before = stack.fake_request_count();
    let admin = format!("arn:aws:sts::{MEMBER}:assumed-role/Admin/mallory");
    let change = cloudtrail(
        MEMBER,
        "iam.amazonaws.com",
        "DeleteRolePolicy",
        json!({"roleName": &efs_name, "policyName": "efs"}),
        &admin,
        "2026-03-03T09:05:33Z",
    );
    let outcome = invoke(port, &change, &dir);
    assert_eq!(outcome["status"], "changeChecked", "{outcome:#}");
    assert_eq!(outcome["touched"], 1, "{outcome:#}");
    assert_eq!(outcome["broken"], 1, "{outcome:#}");
    let got = scenario::receive(&own_sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let subject = got[0]["Subject"].as_str().unwrap();
    assert!(
        subject.contains(&format!(
            "DeleteRolePolicy by mallory breaks the restore of 1 resource in {MEMBER}"
        )),
        "{subject}"
    );
    assert_eq!(scenario::attributes(&got[0])["accountId"], MEMBER);
    let doc: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    let r = &doc["resources"][0]["report"];
    assert_eq!(r["restore"]["sourceResourceArn"], member_fs.as_str());
    assert_eq!(r["patch"]["principalArn"], member_efs_role.as_str());
    assert_eq!(relisted_since(stack, before), [member_fs.as_str()]);
    let items = table_items(&own_sdk, &table).await;
    assert_eq!(
        items[&format!("{MEMBER}#{member_fs}#Default")]["verdict"]
            .as_s()
            .unwrap(),
        "notReady"
    );
    assert_eq!(
        items[&format!("{ACCOUNT}#{own_fs}#Default")]["verdict"]
            .as_s()
            .unwrap(),
        "ready"
    );

    // 4. A change in an account that is not listed: skipped, nothing read.
    let before = stack.fake_request_count();
    let elsewhere = cloudtrail(
        "444455556666",
        "iam.amazonaws.com",
        "DeleteRolePolicy",
        json!({"roleName": &efs_name, "policyName": "efs"}),
        "arn:aws:sts::444455556666:assumed-role/Admin/eve",
        "2026-03-03T09:06:00Z",
    );
    let outcome = invoke(port, &elsewhere, &dir);
    assert_eq!(outcome["status"], "skipped", "{outcome:#}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("READINESS_ACCOUNTS"),
        "{outcome:#}"
    );
    assert_eq!(stack.fake_request_count(), before);
    nothing_published(&own_sdk, &topic.queue_url).await;

    let lines = emulator::json_lines(&log);
    assert!(
        !lines.iter().any(|l| l.to_string().contains("panicked")),
        "{lines:#?}"
    );
}
