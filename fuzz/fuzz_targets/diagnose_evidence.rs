//! Arbitrary bytes as evidence, failure messages and decoded authorization messages:
//! the diagnosis must reject or diagnose them, render the report, and decide
//! auto-attach, without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use restore_doctor::diagnose::{message, Evidence};
use restore_doctor::examine;
use restore_doctor::remedy::guard::{decide, GuardSettings};
use restore_doctor::render::text::report_text;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = message::classify(Some(&text));
    let _ = message::parse_access_denied(&text);
    let as_string = serde_json::Value::String(text.to_string());
    let _ = message::parse_decoded(&as_string);
    let _ = message::decoded_context(&as_string);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        let _ = message::parse_decoded(&value);
    }
    if let Ok(evidence) = Evidence::from_json(&text) {
        let report = examine(&evidence);
        let _ = report_text(&report);
        let settings = GuardSettings {
            enabled: true,
            role_patterns: vec!["*".into()],
            ..Default::default()
        };
        let _ = decide(&evidence, &report, &settings);
    }
});
