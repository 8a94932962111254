//! What the live command line needs besides the gathering: the event AWS Backup would
//! have sent the function for a failed restore job the user names by id. With it, the
//! command line gathers and diagnoses through the function's own path (parse the event,
//! [`gather`](super::gather::gather), examine), not a second one that could drift.

use serde_json::{json, Map, Value};

use super::error::call_error;
use super::Clients;
use crate::diagnose::validated::{is_account_id, shown};
use crate::event::sanitize::{self, MAX_ID_LEN};
use crate::event::trigger::RESTORE_JOB_STATE_CHANGE;

/// Why a live run cannot start. Once it has started nothing fails: what cannot be read
/// is a gap in the evidence, as in the function.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("`{0}` is not a restore job id (letters, digits, `-`, `_`, at most {MAX_ID_LEN})")]
    BadJobId(String),
    #[error("no AWS Region: give `--region`, set `AWS_REGION`, or set `region` in the profile")]
    NoRegion,
    #[error("cannot read restore job `{id}` (backup:DescribeRestoreJob): {error}")]
    DescribeRestoreJob { id: String, error: String },
    #[error("restore job `{id}` is {status}, not FAILED: only a failed restore is diagnosed")]
    NotFailed { id: String, status: String },
    #[error("cannot tell which account the credentials are of (sts:GetCallerIdentity): {0}")]
    CallerIdentity(String),
    #[error("no usable AWS credentials ({0}): give `--profile NAME`, set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sign in first (`aws sso login --profile NAME`)")]
    NoCredentials(String),
}

/// Resolves the credentials once before any call, so that "no credentials" (or an
/// expired SSO session) is said as such, not as the failure of the first AWS call.
pub async fn check_credentials(sdk: &aws_config::SdkConfig) -> Result<(), LiveError> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        return Err(LiveError::NoCredentials(
            "no credential provider is configured".into(),
        ));
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| LiveError::NoCredentials(printable(&chain(&e))))
}

/// An error and its sources, each said once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The Region the clients were built for: the command line says it, and puts it in the
/// event, as EventBridge does.
pub fn region(sdk: &aws_config::SdkConfig) -> Result<String, LiveError> {
    sdk.region()
        .map(|r| r.as_ref().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or(LiveError::NoRegion)
}

/// The account the credentials are of: sts:GetCallerIdentity, which needs no permission
/// ("No permissions are required to perform this operation", STS API reference,
/// GetCallerIdentity).
pub async fn caller_account(clients: &Clients) -> Result<String, LiveError> {
    caller(clients).await.map(|(account, _)| account)
}

/// The account the credentials are of, and the partition of their ARN (`aws`, `aws-cn`,
/// …), which another account's role ARN must carry.
pub async fn caller(clients: &Clients) -> Result<(String, String), LiveError> {
    let out = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| LiveError::CallerIdentity(printable(&call_error(&e).text)))?;
    let partition = super::accounts::partition_of(out.arn());
    out.account()
        .filter(|a| is_account_id(a))
        .map(|a| (a.to_owned(), partition))
        .ok_or_else(|| LiveError::CallerIdentity("the answer holds no account id".into()))
}

/// The "Restore Job State Change" event of restore job `id`, as AWS Backup sends it when
/// a job fails (the fields of the documented FAILED event), from
/// backup:DescribeRestoreJob. Values are copied as AWS returned them: the event parser
/// checks every one, exactly as it checks the function's events. A job that did not fail
/// is refused: the function is never invoked for it.
pub async fn restore_job_event(
    clients: &Clients,
    id: &str,
    region: &str,
) -> Result<Value, LiveError> {
    if !sanitize::is_id(id) {
        return Err(LiveError::BadJobId(shown(id)));
    }
    let job = clients
        .backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
        .await
        .map_err(|e| LiveError::DescribeRestoreJob {
            id: id.to_owned(),
            error: printable(&call_error(&e).text),
        })?;
    let status = job.status().map(|s| s.as_str()).unwrap_or_default();
    if status != "FAILED" {
        return Err(LiveError::NotFailed {
            id: id.to_owned(),
            status: if sanitize::is_code(status) {
                status.to_owned()
            } else {
                "in an unknown state".to_owned()
            },
        });
    }
    let date = |d: Option<&aws_smithy_types::DateTime>| {
        d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
    };
    let mut detail = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            detail.insert(key.to_owned(), v);
        }
    };
    put("restoreJobId", Some(json!(id)));
    put(
        "backupSizeInBytes",
        job.backup_size_in_bytes().map(|n| json!(n.to_string())),
    );
    put("creationDate", date(job.creation_date()).map(Value::String));
    put(
        "completionDate",
        date(job.completion_date()).map(Value::String),
    );
    put("iamRoleArn", job.iam_role_arn().map(|s| json!(s)));
    put("percentDone", job.percent_done().map(|s| json!(s)));
    put("resourceType", job.resource_type().map(|s| json!(s)));
    put("status", Some(json!("FAILED")));
    put("statusMessage", job.status_message().map(|s| json!(s)));
    let mut event = json!({
        "version": "0",
        "id": event_id(id),
        "detail-type": RESTORE_JOB_STATE_CHANGE,
        "source": "aws.backup",
        "region": region,
        "resources": job.recovery_point_arn().into_iter().collect::<Vec<_>>(),
        "detail": detail,
    });
    if let Some(o) = event.as_object_mut() {
        if let Some(account) = job.account_id() {
            o.insert("account".into(), json!(account));
        }
        if let Some(time) = date(job.completion_date()) {
            o.insert("time".into(), json!(time));
        }
    }
    Ok(event)
}

/// The event id, which every log line and the report's correlation carry: the same
/// for every run on the same job, so two runs compare.
fn event_id(job_id: &str) -> String {
    let id = format!("restore-doctor-cli-{job_id}");
    if id.len() <= MAX_ID_LEN {
        id
    } else {
        job_id.to_owned()
    }
}

/// AWS's error text for a terminal: control characters dropped.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_id_is_a_valid_event_id_for_any_valid_job_id() {
        for job in [
            "A1B2C3D4-5E6F-7A8B-9C0D-EF1234567890",
            &"J".repeat(MAX_ID_LEN),
        ] {
            assert!(sanitize::is_id(&event_id(job)), "{job}");
        }
        assert_eq!(event_id("J-1"), "restore-doctor-cli-J-1");
    }
}
