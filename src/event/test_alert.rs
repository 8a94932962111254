//! The test alert: an event a team sends by hand (`sam remote invoke … --event-file
//! events/test-alert.json`) to see, on day one, that email and Slack receive the alerts.
//! No EventBridge rule of the stack matches it (they take `aws.backup` events only), so
//! only a direct invocation — someone allowed lambda:InvokeFunction — can send it.

use serde_json::{json, Value};

use crate::diagnose::Evidence;

/// `source` of the test event.
pub const SOURCE: &str = "restore-doctor";
/// `detail-type` of the test event.
pub const DETAIL_TYPE: &str = "Test Alert";
/// The summary every test alert carries, in place of a diagnosis.
pub const SUMMARY: &str =
    "TEST ALERT: restore-doctor can reach this subscriber. No restore failed; nothing to do.";

/// Whether `event` asks for a test alert.
pub fn is_test_alert(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some(SOURCE)
        && event.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
}

/// The evidence a test alert is rendered from: a failed restore known by its message
/// alone, which says it is a test. Nothing from the event is used.
pub fn evidence() -> Evidence {
    Evidence {
        trigger: json!({
            "source": "aws.backup",
            "detail-type": "Restore Job State Change",
            "detail": {
                "restoreJobId": "TEST-ALERT",
                "status": "FAILED",
                "statusMessage": "restore-doctor test alert: no restore failed."
            }
        }),
        ..Default::default()
    }
}
