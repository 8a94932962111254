//! A refused `StartRestoreJob` as people find it, turned into the EventBridge event the
//! function receives for it, so the live command line diagnoses it through the same
//! parser ([`trigger::parse`](super::trigger::parse)).
//!
//! Accepted, because each is what one place shows:
//! - the EventBridge "AWS API Call via CloudTrail" event (a rule's target, the function's log);
//! - one CloudTrail record (the console's event history "View event" JSON, a trail's
//!   log entry, Athena or CloudWatch Logs);
//! - `aws cloudtrail lookup-events` output, and a trail's log file (`{"Records": [...]}`),
//!   when exactly one refused StartRestoreJob is in it.
//!
//! Nothing here is checked but the shape: the envelope is built from the record's own
//! fields and the parser checks every value, as for an event EventBridge delivered.

use serde_json::{json, Map, Value};

use super::trigger::{is_access_denied, API_CALL_VIA_CLOUDTRAIL};
use crate::diagnose::validated::shown;

/// A file that holds no single refused StartRestoreJob.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudTrailError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("neither an EventBridge event nor a CloudTrail record (no `detail-type`, `eventName`, `Records` or `Events`)")]
    Unknown,
    #[error("no refused StartRestoreJob call among the {0} CloudTrail records")]
    NoneRefused(usize),
    #[error("{count} refused StartRestoreJob calls (event ids {ids}): keep the one to diagnose")]
    Several { count: usize, ids: String },
}

/// The EventBridge event for the refused call in `text`.
pub fn to_event(text: &str) -> Result<Value, CloudTrailError> {
    let top: Value =
        serde_json::from_str(text).map_err(|e| CloudTrailError::NotJson(e.to_string()))?;
    if top.get("detail-type").is_some() && top.get("detail").is_some() {
        return Ok(top);
    }
    if top.get("eventName").is_some() {
        return Ok(envelope(top));
    }
    let records: Vec<Value> = if let Some(list) = top.get("Records").and_then(Value::as_array) {
        list.clone()
    } else if let Some(list) = top.get("Events").and_then(Value::as_array) {
        // lookup-events: each record is a JSON string in `CloudTrailEvent`.
        list.iter()
            .filter_map(|e| e.get("CloudTrailEvent").and_then(Value::as_str))
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect()
    } else {
        return Err(CloudTrailError::Unknown);
    };
    let refused: Vec<&Value> = records.iter().filter(|r| is_refused_restore(r)).collect();
    match refused.as_slice() {
        [] => Err(CloudTrailError::NoneRefused(records.len())),
        [one] => Ok(envelope((*one).clone())),
        several => Err(CloudTrailError::Several {
            count: several.len(),
            ids: several
                .iter()
                .take(5)
                .map(|r| shown(r.get("eventID").and_then(Value::as_str).unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn is_refused_restore(record: &Value) -> bool {
    record.get("eventName").and_then(Value::as_str) == Some("StartRestoreJob")
        && record
            .get("errorCode")
            .and_then(Value::as_str)
            .is_some_and(is_access_denied)
}

/// The envelope EventBridge puts around a CloudTrail record: its id is the record's
/// `eventID`, its account the `recipientAccountId`, its Region the `awsRegion`.
fn envelope(record: Value) -> Value {
    let field = |k: &str| record.get(k).cloned().unwrap_or(Value::Null);
    let mut event = Map::new();
    event.insert("version".into(), json!("0"));
    event.insert("id".into(), field("eventID"));
    event.insert("detail-type".into(), json!(API_CALL_VIA_CLOUDTRAIL));
    event.insert("source".into(), json!("aws.backup"));
    event.insert("account".into(), field("recipientAccountId"));
    event.insert("time".into(), field("eventTime"));
    event.insert("region".into(), field("awsRegion"));
    event.insert("resources".into(), json!([]));
    event.insert("detail".into(), record);
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::trigger::{parse, Trigger};

    fn record(id: &str, code: &str) -> Value {
        json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice", "userName": "alice"},
            "eventTime": "2026-03-02T09:05:33Z",
            "eventSource": "backup.amazonaws.com",
            "eventName": "StartRestoreJob",
            "awsRegion": "eu-west-1",
            "errorCode": code,
            "requestParameters": {"iamRoleArn": "arn:aws:iam::123456789012:role/R", "resourceType": "EFS"},
            "eventID": id,
            "recipientAccountId": "123456789012"
        })
    }

    const ID: &str = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";
    const OTHER: &str = "1a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";

    fn parsed_id(event: &Value) -> String {
        let parsed = parse(event).unwrap();
        assert!(matches!(parsed.trigger, Trigger::StartRestoreJobDenied(_)));
        assert_eq!(parsed.account.as_deref(), Some("123456789012"));
        assert_eq!(parsed.region.as_deref(), Some("eu-west-1"));
        parsed.event_id
    }

    #[test]
    fn a_bare_record_gets_the_envelope_eventbridge_would_give_it() {
        let event = to_event(&record(ID, "AccessDenied").to_string()).unwrap();
        assert_eq!(parsed_id(&event), ID);
        assert_eq!(event["detail"], record(ID, "AccessDenied"));
    }

    #[test]
    fn an_eventbridge_event_is_taken_as_it_is() {
        let text = include_str!("../../events/start-restore-job-denied-user.json");
        let event = to_event(text).unwrap();
        assert_eq!(event, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn lookup_events_output_and_trail_logs_yield_their_one_refused_call() {
        let lookup = json!({"Events": [
            {"EventName": "StartRestoreJob", "CloudTrailEvent": record(ID, "AccessDeniedException").to_string()},
            {"EventName": "StartRestoreJob", "CloudTrailEvent": record(OTHER, "ValidationException").to_string()}
        ]});
        assert_eq!(parsed_id(&to_event(&lookup.to_string()).unwrap()), ID);
        let log =
            json!({"Records": [record(OTHER, "ThrottlingException"), record(ID, "AccessDenied")]});
        assert_eq!(parsed_id(&to_event(&log.to_string()).unwrap()), ID);
    }

    #[test]
    fn a_file_without_exactly_one_refused_call_says_so() {
        let none = json!({"Records": [record(ID, "ThrottlingException")]});
        assert_eq!(
            to_event(&none.to_string()),
            Err(CloudTrailError::NoneRefused(1))
        );
        let two = json!({"Records": [record(ID, "AccessDenied"), record(OTHER, "AccessDenied")]});
        let err = to_event(&two.to_string()).unwrap_err();
        assert!(
            err.to_string().contains(ID) && err.to_string().contains(OTHER),
            "{err}"
        );
        assert_eq!(to_event("{}"), Err(CloudTrailError::Unknown));
        assert!(matches!(to_event("{"), Err(CloudTrailError::NotJson(_))));
    }
}
