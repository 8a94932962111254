//! What `restore-doctor diagnose` accepts, because people paste what they have in hand:
//! the evidence file the Lambda logs, the raw EventBridge event of the failure, the
//! output of `aws backup describe-restore-job`, or just the status message. Each is
//! turned into evidence, and the form read is said, so nobody wonders what was used.

use std::io::Read;

use serde_json::{json, Value};

use crate::diagnose::evidence::{Evidence, EvidenceError, RestoreJob};

/// Reads a file, `-` meaning standard input.
pub fn read_input(path: &str) -> Result<String, std::io::Error> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
    }
}

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
    /// The evidence format with principals given as aws-cli output (`aws iam get-role`,
    /// `get-role-policy`, `get-policy-version`).
    EvidenceWithCliOutput,
}

impl Form {
    /// Words for the note on standard error.
    pub fn words(self) -> &'static str {
        match self {
            Form::Evidence => "evidence",
            Form::Event => "a raw EventBridge event (used as the evidence's trigger; nothing else was collected)",
            Form::DescribeRestoreJob => "`aws backup describe-restore-job` output (the restore role's policies were not collected)",
            Form::Message => "a status message alone (nothing else was collected)",
            Form::EvidenceWithCliOutput => "evidence with principals as aws-cli output (aws iam get-role, get-role-policy, get-policy-version)",
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
    // Evidence whose principals are pasted aws-cli output (`aws iam get-role`, ...).
    let mut top = top;
    let mut gaps = Vec::new();
    let mut changed = false;
    for (field, part) in [("restoreRole", "restoreRole"), ("caller", "caller")] {
        if let Some(v) = top.get_mut(field) {
            changed |= principal_from_cli(v, part, &mut gaps);
        }
    }
    if !changed {
        return Evidence::from_json(text).map(|e| (e, Form::Evidence));
    }
    for (field, gap) in gaps {
        top.remove(field);
        if let Value::Array(list) = top
            .entry("gaps")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(gap);
        }
    }
    let normalized = Value::Object(top).to_string();
    Evidence::from_json(&normalized).map(|e| (e, Form::EvidenceWithCliOutput))
}

/// `aws iam get-role` / `get-user` output (`{"Role": {...}}`) turned into the evidence's
/// principal: ARN, trust policy, tags; its policies from `policies`, each our own form or
/// `aws iam get-role-policy` / `get-user-policy` output (inline) or `aws iam
/// get-policy-version` output (managed). Without policies the principal is dropped with a
/// gap: get-role does not carry them, and an empty list would read as "no permissions".
/// Returns whether anything was converted; `gaps` gets (field, gap) for a dropped one.
fn principal_from_cli(
    v: &mut Value,
    field: &'static str,
    gaps: &mut Vec<(&'static str, Value)>,
) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    let cli = obj.get("Role").or_else(|| obj.get("User")).cloned();
    let policies_from_cli = obj
        .get("policies")
        .and_then(Value::as_array)
        .is_some_and(|p| {
            p.iter()
                .any(|d| d.get("PolicyDocument").is_some() || d.get("PolicyVersion").is_some())
        });
    if cli.is_none() && !policies_from_cli {
        return false;
    }
    let mut out = serde_json::Map::new();
    match &cli {
        Some(c) => {
            if let Some(arn) = c.get("Arn") {
                out.insert("arn".into(), arn.clone());
            }
            if let Some(trust) = c.get("AssumeRolePolicyDocument") {
                out.insert("trustPolicy".into(), trust.clone());
            }
            let tags: serde_json::Map<String, Value> = c
                .get("Tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t.get("Key")?.as_str()?.to_owned(), t.get("Value")?.clone())))
                .collect();
            if !tags.is_empty() {
                out.insert("tags".into(), Value::Object(tags));
            }
        }
        None => {
            for (k, val) in obj {
                if k != "policies" {
                    out.insert(k.clone(), val.clone());
                }
            }
        }
    }
    match obj.get("policies").and_then(Value::as_array) {
        Some(list) => {
            let docs: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, d)| policy_from_cli(d, i))
                .collect();
            out.insert("policies".into(), Value::Array(docs));
            *v = Value::Object(out);
        }
        None => {
            gaps.push((
                field,
                json!({
                    "part": field,
                    "call": "iam:ListRolePolicies",
                    "error": "not given: aws iam get-role output carries no policies; add them under `policies` (aws iam get-role-policy and get-policy-version outputs)"
                }),
            ));
            *v = Value::Null;
        }
    }
    true
}

/// One policy in our form, or from `aws iam get-role-policy`/`get-user-policy`
/// (`PolicyName`, `PolicyDocument`: inline) or `aws iam get-policy-version`
/// (`PolicyVersion.Document`: managed, named by `PolicyArn` when the user added it).
fn policy_from_cli(d: &Value, index: usize) -> Value {
    if let Some(doc) = d.get("PolicyDocument") {
        let name = d
            .get("PolicyName")
            .cloned()
            .unwrap_or_else(|| json!(format!("inline-{index}")));
        return json!({"name": name, "kind": "inline", "document": doc});
    }
    if let Some(doc) = d.get("PolicyVersion").and_then(|p| p.get("Document")) {
        let mut out = json!({
            "name": d.get("PolicyArn").cloned().unwrap_or_else(|| json!(format!("managed-{index}"))),
            "kind": "managed",
            "document": doc
        });
        if let (Some(arn), Some(o)) = (d.get("PolicyArn"), out.as_object_mut()) {
            o.insert("arn".into(), arn.clone());
        }
        return out;
    }
    d.clone()
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
