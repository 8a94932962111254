//! What `restore-doctor diagnose` accepts, because people paste what they have in hand:
//! the evidence file the Lambda logs, the raw EventBridge event of the failure, the
//! output of `aws backup describe-restore-job`, or just the status message. Each is
//! turned into evidence, and the form read is said, so nobody wonders what was used.

use serde_json::{json, Value};

use crate::diagnose::evidence::{Evidence, EvidenceError, RestoreJob};

/// The form the input was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The evidence format (`schema/evidence.schema.json`).
    Evidence,
    /// A raw EventBridge event: it becomes the evidence's trigger.
    Event,
    /// `aws backup describe-restore-job` output (PascalCase).
    DescribeRestoreJob,
    /// Only the failure's status message.
    Message,
}

impl Form {
    /// Words for the note on standard error.
    pub fn words(self) -> &'static str {
        match self {
            Form::Evidence => "evidence",
            Form::Event => "a raw EventBridge event (used as the evidence's trigger; nothing else was collected)",
            Form::DescribeRestoreJob => "`aws backup describe-restore-job` output (the restore role's policies were not collected)",
            Form::Message => "a status message alone (nothing else was collected)",
        }
    }
}

/// Reads JSON text in any of the accepted forms.
pub fn read(text: &str) -> Result<(Evidence, Form), EvidenceError> {
    // Anything that is not an object of a recognised shape goes through the evidence
    // reader, whose errors say where and what.
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else {
        return Evidence::from_json(text).map(|e| (e, Form::Evidence));
    };
    if top.contains_key("detail-type") && top.contains_key("detail") {
        let evidence = Evidence {
            trigger: Value::Object(top),
            ..Default::default()
        };
        return Ok((evidence, Form::Event));
    }
    if top.contains_key("RestoreJobId") {
        let job: RestoreJob = serde_json::from_value(Value::Object(top.clone())).map_err(|e| {
            EvidenceError::Malformed {
                path: String::new(),
                line: 1,
                column: 1,
                reason: format!("describe-restore-job output: {e}"),
                excerpt: String::new(),
            }
        })?;
        let evidence = Evidence {
            trigger: restore_job_event(&job),
            restore_job: Some(job),
            ..Default::default()
        };
        return Ok((evidence, Form::DescribeRestoreJob));
    }
    Evidence::from_json(text).map(|e| (e, Form::Evidence))
}

/// Evidence of a failed restore known only by its status message.
pub fn from_message(message: &str) -> (Evidence, Form) {
    let job = RestoreJob {
        status: Some("FAILED".into()),
        status_message: Some(message.to_string()),
        ..Default::default()
    };
    let evidence = Evidence {
        trigger: restore_job_event(&job),
        ..Default::default()
    };
    (evidence, Form::Message)
}

/// The `Restore Job State Change` event AWS Backup would have sent for this job: the
/// diagnosis reads the trigger kind and the message from it.
fn restore_job_event(job: &RestoreJob) -> Value {
    let mut detail = json!({
        "status": job.status.clone().unwrap_or_else(|| "FAILED".into()),
    });
    let fields = [
        (
            "restoreJobId",
            Some(job.restore_job_id.clone()).filter(|s| !s.is_empty()),
        ),
        ("statusMessage", job.status_message.clone()),
        ("iamRoleArn", job.iam_role_arn.clone()),
        ("resourceType", job.resource_type.clone()),
        ("recoveryPointArn", job.recovery_point_arn.clone()),
        ("backupVaultArn", job.backup_vault_arn.clone()),
    ];
    for (key, value) in fields {
        if let (Some(v), Some(o)) = (value, detail.as_object_mut()) {
            o.insert(key.into(), Value::String(v));
        }
    }
    let mut event = json!({
        "source": "aws.backup",
        "detail-type": "Restore Job State Change",
        "detail": detail,
    });
    if let (Some(account), Some(o)) = (job.account_id.clone(), event.as_object_mut()) {
        o.insert("account".into(), Value::String(account));
    }
    event
}
