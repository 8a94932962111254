//! The seed failure cases, built in moto (IAM, KMS, SNS, SQS) and the fake (Backup, STS),
//! each with its own names, plus reading the alert back from SQS.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::{root, unique, Stack, ACCOUNT, REGION};

/// A topic with an SQS queue subscribed (raw delivery off: the body is the SNS envelope).
pub struct Topic {
    pub topic_arn: String,
    pub queue_url: String,
}

pub async fn topic_with_queue(sdk: &SdkConfig, name: &str) -> Topic {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic_arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    Topic {
        topic_arn,
        queue_url,
    }
}

/// Subscribes the fake's https endpoint `/_fake/sns/{name}` (what AWS Chatbot would get)
/// and its http endpoint `/_fake/sns/{name}-http` (the `default` key, i.e. the email text).
pub async fn subscribe_fake_endpoints(stack: &Stack, sdk: &SdkConfig, topic_arn: &str, name: &str) {
    let sns = aws_sdk_sns::Client::new(sdk);
    for (protocol, endpoint) in [
        (
            "https",
            format!("https://127.0.0.1:{}/_fake/sns/{name}", stack.fake_tls_port),
        ),
        (
            "http",
            format!("http://127.0.0.1:{}/_fake/sns/{name}-http", stack.fake.port),
        ),
    ] {
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            .send()
            .await
            .unwrap();
    }
}

/// Every message on the queue (SNS envelopes), waiting up to `wait` for at least `min`.
pub async fn receive(sdk: &SdkConfig, queue_url: &str, min: usize, wait: Duration) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if (out.len() >= min && got.messages().is_empty()) || Instant::now() > deadline {
            return out;
        }
    }
}

fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A trust policy that lets AWS Backup assume the role.
pub fn backup_trust() -> String {
    policy(json!([{
        "Effect": "Allow",
        "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole"
    }]))
}

/// A policy allowing `actions` on every resource.
pub fn allow_all(actions: &[&str]) -> String {
    policy(json!([{"Effect": "Allow", "Action": actions, "Resource": "*"}]))
}

/// An EBS restore role (`name`, path `/`, trusted by AWS Backup) allowed every EBS
/// restore call but `ec2:DeleteVolume`: the readiness tests' role that is not ready, with
/// one finding and a verified patch.
pub async fn ebs_role_without_delete(sdk: &SdkConfig, name: &str) -> String {
    role(
        sdk,
        name,
        "/",
        &backup_trust(),
        &[(
            "ebs",
            allow_all(&[
                "ec2:CreateVolume",
                "ec2:DescribeVolumes",
                "ec2:DescribeSnapshots",
                "ec2:CreateTags",
            ]),
        )],
        &[],
        None,
    )
    .await
}

/// A role with inline and customer-managed policies; returns its ARN.
pub async fn role(
    sdk: &SdkConfig,
    name: &str,
    path: &str,
    trust: &str,
    inline: &[(&str, String)],
    managed: &[(&str, String)],
    boundary: Option<String>,
) -> String {
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut create = iam
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("storage")
                .build()
                .unwrap(),
        );
    if let Some(doc) = boundary {
        let arn = managed_policy(sdk, &format!("{name}-boundary"), &doc).await;
        create = create.permissions_boundary(arn);
    }
    let arn = create
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_owned();
    for (policy_name, doc) in inline {
        iam.put_role_policy()
            .role_name(name)
            .policy_name(*policy_name)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }
    for (policy_name, doc) in managed {
        let policy_arn = managed_policy(sdk, &format!("{name}-{policy_name}"), doc).await;
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .unwrap();
    }
    arn
}

pub async fn managed_policy(sdk: &SdkConfig, name: &str, doc: &str) -> String {
    aws_sdk_iam::Client::new(sdk)
        .create_policy()
        .policy_name(name)
        .policy_document(doc)
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

/// A customer-managed KMS key in moto (default key policy); returns its ARN.
pub async fn kms_key(sdk: &SdkConfig, description: &str) -> String {
    aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description(description)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

/// An event from `events/`, with the fields every test must make its own.
pub fn event(file: &str, patch: impl FnOnce(&mut Value)) -> Value {
    let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["id"] = json!(unique("event"));
    patch(&mut v);
    v
}

/// The EFS seed case: the restore role lacks every EFS and KMS permission.
pub struct EfsCase {
    pub uniq: String,
    pub event: Value,
    pub job_id: String,
    pub role_arn: String,
    pub vault: String,
    pub recovery_point_arn: String,
    pub target_key_arn: String,
    pub vault_key_arn: String,
}

/// Named policy documents.
pub type Policies = Vec<(&'static str, String)>;

/// The restore role of the EFS case can read Backup and S3, nothing of EFS or KMS:
/// (inline, customer-managed) policies.
pub fn efs_role_policies() -> (Policies, Policies) {
    (
        vec![(
            "backup-read",
            policy(json!([{
                "Sid": "BackupRead",
                "Effect": "Allow",
                "Action": ["backup:DescribeRestoreJob", "backup:ListRestoreJobs"],
                "Resource": "*"
            }])),
        )],
        vec![(
            "s3-read",
            policy(json!([{
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::restore-doctor-example/*"
            }])),
        )],
    )
}

pub async fn efs_case(stack: &Stack, sdk: &SdkConfig) -> EfsCase {
    efs_case_as(stack, sdk, ACCOUNT, None).await
}

/// [`efs_case`] in `account`, the account `sdk` acts in (a member account of an
/// organization test): its role, keys, recovery point and event. The job id is a GUID, as
/// AWS Backup's are, so the alert's subject shows its first part only.
pub async fn efs_case_in(stack: &Stack, sdk: &SdkConfig, account: &str) -> EfsCase {
    efs_case_as(
        stack,
        sdk,
        account,
        Some(super::unique_guid().to_uppercase()),
    )
    .await
}

async fn efs_case_as(
    stack: &Stack,
    sdk: &SdkConfig,
    account: &str,
    job_id: Option<String>,
) -> EfsCase {
    let uniq = unique("efs");
    let role_name = format!("restore-{uniq}");
    let (inline, managed) = efs_role_policies();
    let role_arn = role(
        sdk,
        &role_name,
        "/service-role/",
        &backup_trust(),
        &inline,
        &managed,
        None,
    )
    .await;
    let (target_key_arn, vault_key_arn) = (
        kms_key(sdk, &format!("{uniq} target")).await,
        kms_key(sdk, &format!("{uniq} vault")).await,
    );
    let job_id = job_id.unwrap_or_else(|| format!("JOB-{uniq}").to_uppercase());
    let vault = format!("vault-{uniq}");
    let recovery_point_arn = format!("arn:aws:backup:{REGION}:{account}:recovery-point:rp-{uniq}");
    let vault_arn = format!("arn:aws:backup:{REGION}:{account}:backup-vault:{vault}");
    let fs_arn =
        format!("arn:aws:elasticfilesystem:{REGION}:{account}:file-system/fs-0123456789abcdef0");
    stack.fake_scenario(&json!({
        "restoreJobs": {&job_id: {
            "describe": {
                "AccountId": account,
                "RestoreJobId": &job_id,
                "RecoveryPointArn": &recovery_point_arn,
                "BackupVaultArn": &vault_arn,
                "SourceResourceArn": &fs_arn,
                "CreationDate": 1_772_421_118.412,
                "Status": "FAILED",
                "StatusMessage": "Insufficient privileges to perform this action",
                "PercentDone": "0.00",
                "BackupSizeInBytes": 5_368_709_120_u64,
                "IamRoleArn": &role_arn,
                "ResourceType": "EFS",
                "IsParent": false
            },
            "metadata": {
                "file-system-id": "fs-0123456789abcdef0",
                "Encrypted": "true",
                "KmsKeyId": &target_key_arn,
                "PerformanceMode": "generalPurpose",
                "CreationToken": format!("restore-{uniq}"),
                "newFileSystem": "true"
            }
        }},
        "vaults": {&vault: {
            "arn": &vault_arn,
            "policy": policy(json!([{
                "Sid": "DenyDeleteRecoveryPoints",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                "Resource": "*"
            }])),
            "recoveryPoints": {&recovery_point_arn: {
                "RecoveryPointArn": &recovery_point_arn,
                "BackupVaultName": &vault,
                "BackupVaultArn": &vault_arn,
                "ResourceArn": &fs_arn,
                "ResourceType": "EFS",
                "Status": "COMPLETED",
                "EncryptionKeyArn": &vault_key_arn,
                "IsEncrypted": true,
                "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY",
                "CreationDate": 1_772_330_000.0
            }}
        }}
    }));
    let event = event("restore-job-failed-efs.json", |e| {
        e["account"] = json!(account);
        e["region"] = json!(REGION);
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["iamRoleArn"] = json!(&role_arn);
    });
    EfsCase {
        uniq,
        event,
        job_id,
        role_arn,
        vault,
        recovery_point_arn,
        target_key_arn,
        vault_key_arn,
    }
}

/// The EC2 seed case: the restore role may not pass the instance profile's role.
pub struct Ec2Case {
    pub uniq: String,
    pub event: Value,
    pub job_id: String,
    pub role_arn: String,
    pub profile_name: String,
    pub profile_role_arn: String,
    pub token: String,
}

pub async fn ec2_case(stack: &Stack, sdk: &SdkConfig) -> Ec2Case {
    let uniq = unique("ec2");
    let iam = aws_sdk_iam::Client::new(sdk);
    let role_name = format!("restore-{uniq}");
    let role_arn = role(
        sdk,
        &role_name,
        "/",
        &backup_trust(),
        &[(
            "ec2-restore",
            policy(json!([{
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateTags", "ec2:Describe*"],
                "Resource": "*"
            }])),
        )],
        &[],
        None,
    )
    .await;
    let app_role = format!("app-{uniq}");
    let profile_role_arn = role(
        sdk,
        &app_role,
        "/",
        &policy(json!([{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }])),
        &[],
        &[],
        None,
    )
    .await;
    let profile_name = format!("profile-{uniq}");
    iam.create_instance_profile()
        .instance_profile_name(&profile_name)
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(&profile_name)
        .role_name(&app_role)
        .send()
        .await
        .unwrap();

    let token = format!("Tok{}", uniq.replace('-', "")).repeat(4);
    let session = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/AWSBackup-{role_name}");
    let decoded = json!({
        "allowed": false,
        "explicitDeny": false,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": format!("AROAEXAMPLE:AWSBackup-{role_name}"), "arn": session},
            "action": "iam:PassRole",
            "resource": &profile_role_arn,
            "conditions": {"items": [
                {"key": "aws:Region", "values": {"items": [{"value": REGION}]}},
                {"key": "aws:Service", "values": {"items": [{"value": "ec2"}]}},
                {"key": "iam:RoleName", "values": {"items": [{"value": &app_role}]}},
                {"key": "aws:ARN", "values": {"items": [{"value": &profile_role_arn}]}}
            ]}
        }
    });
    let message = format!(
        "You are not authorized to perform this operation. Please consult the permissions associated with your AWS Backup role(s), and refer to the AWS Backup documentation for more details. Encoded authorization failure message: {token}"
    );
    let job_id = format!("JOB-{uniq}").to_uppercase();
    let vault = format!("vault-{uniq}");
    let rp_arn = format!("arn:aws:ec2:{REGION}::image/ami-0a1b2c3d4e5f67890");
    let vault_arn = format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{vault}");
    stack.fake_scenario(&json!({
        "restoreJobs": {&job_id: {
            "describe": {
                "AccountId": ACCOUNT,
                "RestoreJobId": &job_id,
                "RecoveryPointArn": &rp_arn,
                "BackupVaultArn": &vault_arn,
                "SourceResourceArn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"),
                "Status": "FAILED",
                "StatusMessage": &message,
                "IamRoleArn": &role_arn,
                "ResourceType": "EC2"
            },
            "metadata": {
                "IamInstanceProfileName": &profile_name,
                "InstanceType": "t3.micro",
                "SubnetId": "subnet-0123456789abcdef0",
                "SecurityGroupIds": "[\"sg-0123456789abcdef0\"]",
                "RequireIMDSv2": "true"
            }
        }},
        "vaults": {&vault: {
            "arn": &vault_arn,
            "recoveryPoints": {&rp_arn: {
                "RecoveryPointArn": &rp_arn,
                "BackupVaultName": &vault,
                "BackupVaultArn": &vault_arn,
                "ResourceType": "EC2",
                "Status": "COMPLETED",
                "IsEncrypted": false
            }}
        }},
        "tokens": {&token: {"decoded": decoded.to_string()}}
    }));
    let event = event("restore-job-failed-ec2-encoded.json", |e| {
        e["detail"]["restoreJobId"] = json!(&job_id);
        e["detail"]["iamRoleArn"] = json!(&role_arn);
        e["detail"]["statusMessage"] = json!(&message);
    });
    Ec2Case {
        uniq,
        event,
        job_id,
        role_arn,
        profile_name,
        profile_role_arn,
        token,
    }
}

/// A user refused StartRestoreJob: its own, its group's and its managed policies allow
/// reading Backup but not starting a restore.
pub struct UserCase {
    pub uniq: String,
    pub event: Value,
    pub user_arn: String,
    pub group: String,
    pub role_arn: String,
}

pub async fn user_case(sdk: &SdkConfig) -> UserCase {
    let uniq = unique("user");
    let iam = aws_sdk_iam::Client::new(sdk);
    let user = format!("alice-{uniq}");
    let group = format!("ops-{uniq}");
    let user_arn = iam
        .create_user()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .arn()
        .to_owned();
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("own")
        .policy_document(policy(
            json!([{"Effect": "Allow", "Action": "backup:List*", "Resource": "*"}]),
        ))
        .send()
        .await
        .unwrap();
    iam.create_group().group_name(&group).send().await.unwrap();
    iam.add_user_to_group()
        .group_name(&group)
        .user_name(&user)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name(&group)
        .policy_name("ops-read")
        .policy_document(policy(
            json!([{"Effect": "Allow", "Action": "backup:Describe*", "Resource": "*"}]),
        ))
        .send()
        .await
        .unwrap();
    let managed = managed_policy(
        sdk,
        &format!("{uniq}-user-managed"),
        &policy(json!([{"Effect": "Allow", "Action": "backup:Get*", "Resource": "*"}])),
    )
    .await;
    iam.attach_user_policy()
        .user_name(&user)
        .policy_arn(managed)
        .send()
        .await
        .unwrap();
    let (inline, managed) = efs_role_policies();
    let role_arn = role(
        sdk,
        &format!("restore-{uniq}"),
        "/service-role/",
        &backup_trust(),
        &inline,
        &managed,
        None,
    )
    .await;
    let event = denied_user_event(&user, &user_arn, &role_arn, |d| {
        d["errorMessage"] = json!(format!(
            "User: {user_arn} is not authorized to perform: backup:StartRestoreJob on resource: arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:5d3c2b1a-9e8f-4a7b-8c6d-1e2f3a4b5c6d because no identity-based policy allows the backup:StartRestoreJob action"
        ));
    });
    UserCase {
        uniq,
        event,
        user_arn,
        group,
        role_arn,
    }
}

/// The sample refused StartRestoreJob event, made this user's (own CloudTrail event id)
/// and naming this restore role; `patch` edits its `detail` further.
fn denied_user_event(
    user: &str,
    user_arn: &str,
    role_arn: &str,
    patch: impl FnOnce(&mut Value),
) -> Value {
    event("start-restore-job-denied-user.json", |e| {
        let d = &mut e["detail"];
        d["userIdentity"]["arn"] = json!(user_arn);
        d["userIdentity"]["userName"] = json!(user);
        d["eventID"] = json!(super::unique_guid());
        d["requestParameters"]["iamRoleArn"] = json!(role_arn);
        patch(d);
    })
}

/// SNS message attributes of an envelope as a plain map.
pub fn attributes(envelope: &Value) -> BTreeMap<String, String> {
    envelope["MessageAttributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v["Value"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Tags role `name` with `key` = `value` (opts it in to auto-attach with the default tag).
pub async fn tag_role(sdk: &SdkConfig, name: &str, key: &str, value: &str) {
    aws_sdk_iam::Client::new(sdk)
        .tag_role()
        .role_name(name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Puts inline policy `policy_name` on role `name`.
pub async fn put_inline(sdk: &SdkConfig, name: &str, policy_name: &str, doc: &Value) {
    aws_sdk_iam::Client::new(sdk)
        .put_role_policy()
        .role_name(name)
        .policy_name(policy_name)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
}

/// Every inline policy of role `name`, as the exact text IAM holds (URL-decoded).
pub async fn inline_policies(sdk: &SdkConfig, name: &str) -> BTreeMap<String, String> {
    let iam = aws_sdk_iam::Client::new(sdk);
    let names = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    let mut out = BTreeMap::new();
    for policy in names {
        let got = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&policy)
            .send()
            .await
            .unwrap();
        let text = percent_encoding::percent_decode_str(got.policy_document())
            .decode_utf8()
            .unwrap()
            .into_owned();
        out.insert(policy, text);
    }
    out
}

/// A user refused StartRestoreJob by the access policy of the vault that holds the
/// recovery point (`vault`, e.g. [`EFS_AUTOMATIC_VAULT`]): the user's own policy allows
/// the restore and passing the role. A dozen other vaults are listed before it; the
/// CloudTrail event names none of them.
pub struct VaultDenyCase {
    pub uniq: String,
    pub event: Value,
    pub user_arn: String,
    pub role_arn: String,
    pub vault: String,
    pub recovery_point_arn: String,
}

/// The vault EFS automatic backups go to; one case per test binary may use it.
pub const EFS_AUTOMATIC_VAULT: &str = "aws/efs/automatic-backup-vault";

pub async fn vault_deny_case(stack: &Stack, sdk: &SdkConfig, vault: &str) -> VaultDenyCase {
    let uniq = unique("vaultdeny");
    let iam = aws_sdk_iam::Client::new(sdk);
    let (inline, managed) = efs_role_policies();
    let role_arn = role(
        sdk,
        &format!("restore-{uniq}"),
        "/service-role/",
        &backup_trust(),
        &inline,
        &managed,
        None,
    )
    .await;
    let user = format!("oncall-{uniq}");
    let user_arn = iam
        .create_user()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .arn()
        .to_owned();
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("restore")
        .policy_document(policy(json!([
            {"Sid": "Restore", "Effect": "Allow",
             "Action": ["backup:StartRestoreJob", "backup:Describe*", "backup:List*", "backup:Get*"],
             "Resource": "*"},
            {"Sid": "PassRestoreRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": &role_arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}}
        ])))
        .send()
        .await
        .unwrap();

    let vault = vault.to_owned();
    let recovery_point_arn = format!("arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:rp-{uniq}");
    let vault_arn = |name: &str| format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{name}");
    let fs_arn =
        format!("arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0");
    let mut vaults = serde_json::Map::new();
    let decoys = (0..11).map(|i| format!("decoy-{uniq}-{i}"));
    for decoy in std::iter::once("Default".to_owned()).chain(decoys) {
        vaults.insert(
            decoy.clone(),
            json!({"arn": vault_arn(&decoy), "recoveryPoints": {}}),
        );
    }
    vaults.insert(
        vault.clone(),
        json!({
            "arn": vault_arn(&vault),
            "policy": policy(json!([{
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["backup:DeleteBackupVault", "backup:DeleteBackupVaultAccessPolicy",
                           "backup:DeleteRecoveryPoint", "backup:StartCopyJob",
                           "backup:StartRestoreJob", "backup:UpdateRecoveryPointLifecycle"],
                "Resource": "*"
            }])),
            "recoveryPoints": {&recovery_point_arn: {
                "RecoveryPointArn": &recovery_point_arn,
                "BackupVaultName": &vault,
                "BackupVaultArn": vault_arn(&vault),
                "ResourceArn": &fs_arn,
                "ResourceType": "EFS",
                "Status": "COMPLETED",
                "IsEncrypted": true,
                "EncryptionKeyType": "AWS_OWNED_KMS_KEY"
            }}
        }),
    );
    stack.fake_scenario(&json!({ "vaults": vaults }));
    let event = denied_user_event(&user, &user_arn, &role_arn, |d| {
        d["requestParameters"]["recoveryPointArn"] = json!(&recovery_point_arn);
        d["errorMessage"] = json!(format!(
            "User: {user_arn} is not authorized to perform: backup:StartRestoreJob on resource: {recovery_point_arn} with an explicit deny in a resource-based policy"
        ));
    });
    VaultDenyCase {
        uniq,
        event,
        user_arn,
        role_arn,
        vault,
        recovery_point_arn,
    }
}
