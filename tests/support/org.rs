//! An organization in moto for the organization-mode tests: member accounts reached by
//! AssumeRole (moto hands out credentials that act in the role's account), OUs, SCPs.

use aws_config::SdkConfig;
use aws_sdk_sns::config::Credentials;
use serde_json::{json, Value};

use super::{scenario, unique, Stack, REGION};

/// An SDK configuration acting in `account` of moto (for the test's own setup).
pub async fn sdk_in(stack: &Stack, account: &str) -> SdkConfig {
    let sdk = stack.sdk_config().await;
    let out = aws_sdk_sts::Client::new(&sdk)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/test-setup"))
        .role_session_name("test-setup")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    sdk.to_builder()
        .credentials_provider(aws_sdk_sns::config::SharedCredentialsProvider::new(
            Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "test-setup",
            ),
        ))
        .build()
}

/// moto's Organizations, in its default account (the management account here): a root,
/// an OU under it, a new member account moved into the OU, and an SCP attached to the
/// OU that denies `kms:CreateGrant`. Returns (member account, root id, OU id, SCP id).
pub async fn organization(sdk: &SdkConfig) -> (String, String, String, String) {
    use aws_sdk_organizations::types::{OrganizationFeatureSet, PolicyType};
    let org = aws_sdk_organizations::Client::new(sdk);
    // One organization per moto: the first test to get here creates it.
    if org.describe_organization().send().await.is_err() {
        org.create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
    }
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let ou = org
        .create_organizational_unit()
        .parent_id(&root)
        .name(unique("restores"))
        .send()
        .await
        .unwrap()
        .organizational_unit()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let name = unique("member");
    let created = org
        .create_account()
        .account_name(&name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap();
    let account = created
        .create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_owned();
    org.move_account()
        .account_id(&account)
        .source_parent_id(&root)
        .destination_parent_id(&ou)
        .send()
        .await
        .unwrap();
    let scp = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "NoGrantsOutsideBackup", "Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"
    }]});
    let policy = attach_policy(
        &org,
        "deny-grants",
        PolicyType::ServiceControlPolicy,
        &scp,
        &ou,
    )
    .await;
    (account, root, ou, policy)
}

/// The scenario: a failed EFS restore in member account B (under an OU whose
/// SCP denies `kms:CreateGrant`), its recovery point encrypted with a key of central
/// account C that C's key policy shares with B.
pub struct CentralKeyCase {
    pub member: String,
    pub ou: String,
    pub scp: String,
    pub central: String,
    pub key: String,
    pub role_arn: String,
    pub event: Value,
}

/// A restore role in the account `sdk` acts in, allowed only `backup:DescribeRestoreJob`.
async fn restore_role(sdk: &SdkConfig, name: &str) -> String {
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "BackupRead", "Effect": "Allow", "Action": "backup:DescribeRestoreJob", "Resource": "*"
    }]})
    .to_string();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]})
    .to_string();
    scenario::role(sdk, name, "/", &trust, &[("p", doc)], &[], None).await
}

/// Sets up [`CentralKeyCase`] in moto and the fake.
pub async fn central_key_case(stack: &Stack, sdk: &SdkConfig) -> CentralKeyCase {
    let (member, _root, ou, scp) = organization(sdk).await;
    let central = "131313131313".to_owned();
    let role_arn = restore_role(&sdk_in(stack, &member).await, &unique("restore")).await;
    // The central backup account's key, shared with account B by its key policy.
    let central_sdk = sdk_in(stack, &central).await;
    let key = scenario::kms_key(&central_sdk, "central vault key").await;
    let key_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{central}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "MemberB", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{member}:root")},
         "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"],
         "Resource": "*"}
    ]});
    aws_sdk_kms::Client::new(&central_sdk)
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(key_policy.to_string())
        .send()
        .await
        .unwrap();
    let vault = unique("vault");
    let vault_arn = format!("arn:aws:backup:{REGION}:{member}:backup-vault:{vault}");
    let rp_arn = format!(
        "arn:aws:backup:{REGION}:{member}:recovery-point:{}",
        unique("rp")
    );
    let job_id = unique("JOB").to_uppercase();
    stack.fake_scenario(&json!({
        "vaults": {&vault: {"arn": &vault_arn, "recoveryPoints": {&rp_arn: {
            "RecoveryPointArn": &rp_arn, "BackupVaultName": &vault, "BackupVaultArn": &vault_arn,
            "ResourceType": "EFS", "Status": "COMPLETED", "EncryptionKeyArn": &key,
            "IsEncrypted": true, "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY"
        }}}},
        "restoreJobs": {&job_id: {
            "describe": {
                "AccountId": &member, "RestoreJobId": &job_id, "Status": "FAILED",
                "StatusMessage": "Insufficient privileges to perform this action",
                "IamRoleArn": &role_arn, "ResourceType": "EFS",
                "RecoveryPointArn": &rp_arn, "BackupVaultArn": &vault_arn
            },
            "metadata": {"file-system-id": "fs-0123456789abcdef0", "newFileSystem": "true"}
    }}}));
    let event = scenario::event("restore-job-failed-efs.json", |e| {
        e["account"] = json!(&member);
        e["region"] = json!(REGION);
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["iamRoleArn"] = json!(&role_arn);
    });
    CentralKeyCase {
        member,
        ou,
        scp,
        central,
        key,
        role_arn,
        event,
    }
}

/// Creates an Organizations policy of `kind` from `document` (named from `prefix`) and
/// attaches it to `target`; returns its id.
pub async fn attach_policy(
    org: &aws_sdk_organizations::Client,
    prefix: &str,
    kind: aws_sdk_organizations::types::PolicyType,
    document: &Value,
    target: &str,
) -> String {
    let id = org
        .create_policy()
        .name(unique(prefix))
        .description("restore-doctor test")
        .r#type(kind)
        .content(document.to_string())
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .policy_summary()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    org.attach_policy()
        .policy_id(&id)
        .target_id(target)
        .send()
        .await
        .unwrap();
    id
}
