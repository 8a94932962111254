//! CloudWatch metrics as Embedded Metric Format lines on stdout: no API call, no extra
//! permission, and the Lambda log pipeline turns them into metrics.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

/// Metric names.
pub const FAILURES_DIAGNOSED: &str = "FailuresDiagnosed";
pub const EVIDENCE_GAPS: &str = "EvidenceGaps";
pub const PUBLISH_ERRORS: &str = "PublishErrors";
pub const EVENTS_SKIPPED: &str = "EventsSkipped";
/// Auto-attach put (or found) the fix on a restore role.
pub const FIXES_ATTACHED: &str = "FixesAttached";
/// Auto-retry started a failed restore again.
pub const RESTORES_RETRIED: &str = "RestoresRetried";
/// Resources not ready at the end of a scheduled readiness run.
pub const RESOURCES_NOT_READY: &str = "ResourcesNotReady";
/// Member accounts a scheduled readiness run could not read (their reader role refused).
pub const READINESS_ACCOUNTS_NOT_READ: &str = "ReadinessAccountsNotRead";
/// The readiness state table could not be written.
pub const READINESS_STATE_ERRORS: &str = "ReadinessStateErrors";

/// Where metrics go: a namespace and the `service` dimension.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub namespace: String,
    pub service: String,
    pub sink: Sink,
}

/// Where EMF lines are written.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    /// Standard output, where Lambda picks them up.
    #[default]
    Stdout,
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<String>>>),
}

impl Metrics {
    /// One EMF document: `value` of metric `name` (unit Count) with the `service`
    /// dimension and the given extra dimensions.
    pub fn line(&self, name: &str, value: f64, dims: &[(&str, &str)], timestamp_ms: i64) -> String {
        let mut dimension_names = vec![Value::from("service")];
        let mut doc = Map::new();
        doc.insert("service".into(), Value::from(self.service.as_str()));
        for (k, v) in dims {
            dimension_names.push(Value::from(*k));
            doc.insert((*k).into(), Value::from(*v));
        }
        doc.insert(name.into(), json!(value));
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": [{"Name": name, "Unit": "Count"}]
                }]
            }),
        );
        Value::Object(doc).to_string()
    }

    /// Writes one metric to the sink.
    pub fn emit(&self, name: &str, value: f64, dims: &[(&str, &str)]) {
        let line = self.line(name, value, dims, chrono::Utc::now().timestamp_millis());
        match &self.sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                // Metrics are best effort: a closed stdout must not fail the invocation.
                let _ = writeln!(out, "{line}");
            }
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|p| p.into_inner()).push(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metric_and_dimensions() {
        let m = Metrics {
            namespace: "RestoreDoctor".into(),
            service: "restore-doctor".into(),
            sink: Sink::default(),
        };
        let line = m.line(
            FAILURES_DIAGNOSED,
            1.0,
            &[("cause", "missingPermissions")],
            1_700_000_000_000,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["FailuresDiagnosed"], json!(1.0));
        assert_eq!(v["cause"], "missingPermissions");
        assert_eq!(v["service"], "restore-doctor");
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "RestoreDoctor");
        assert_eq!(directive["Dimensions"], json!([["service", "cause"]]));
        assert_eq!(directive["Metrics"][0]["Name"], "FailuresDiagnosed");
        assert_eq!(v["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
        assert!(!line.contains('\n'));
    }
}
