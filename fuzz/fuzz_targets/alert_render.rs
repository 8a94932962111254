//! Arbitrary reports through the alert: whatever the report holds, the SNS Publish fits
//! the size limit, the message is JSON with its keys, the subject is one short line, and
//! no value opens Slack markup (`<`, `>`) or a new line of the email with a forged
//! heading.

#![no_main]

use libfuzzer_sys::fuzz_target;
use restore_doctor::diagnose::Report;
use restore_doctor::render::alert::{self, AlertContext, MAX_MESSAGE_BYTES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line, when there is one, is the event id; the rest is the report.
    let (first, rest) = text.split_once('\n').unwrap_or(("", &text));
    let Ok(report) = serde_json::from_str::<Report>(rest) else {
        return;
    };
    let ctx = AlertContext {
        correlation_id: first.to_owned(),
        dedup_key: first.chars().rev().collect(),
        log_group: None,
    };
    for limit in [MAX_MESSAGE_BYTES, 4_096] {
        let a = alert::build_with_limit(&report, &ctx, limit);
        assert!(a.counted_bytes() <= limit, "{} > {limit}", a.counted_bytes());
        assert!(a.subject.chars().count() < 100);
        assert!(a.subject.bytes().all(|b| (0x20..0x7f).contains(&b)));
        let message: serde_json::Value = serde_json::from_str(&a.message).expect("JSON body");
        assert!(message["default"].is_string());
        if let Some(https) = message.get("https").and_then(|v| v.as_str()) {
            let chatbot: serde_json::Value = serde_json::from_str(https).expect("Chatbot JSON");
            let content = &chatbot["content"];
            let mut texts = vec![content["title"].as_str().unwrap_or_default().to_owned()];
            texts.push(content["description"].as_str().unwrap_or_default().to_owned());
            for step in content["nextSteps"].as_array().into_iter().flatten() {
                texts.push(step.as_str().unwrap_or_default().to_owned());
            }
            for t in &texts {
                assert!(!t.contains(['<', '>']), "raw markup in {t:?}");
                for line in t.lines() {
                    assert!(line.matches('`').count() % 2 == 0, "open code span in {line:?}");
                }
            }
        }
        if let Some(email) = message.get("email").and_then(|v| v.as_str()) {
            let forged = email
                .lines()
                .filter(|l| l.starts_with("Fix (") || l.starts_with("Auto-attach:"))
                .count();
            let real = usize::from(report.patch.is_some() || !report.other_patches.is_empty())
                + usize::from(report.auto_attach.is_some());
            assert!(forged <= real, "forged heading in the email");
        }
    }
});
