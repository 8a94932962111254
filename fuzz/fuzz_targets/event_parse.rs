//! Arbitrary bytes as the Lambda's EventBridge event: parsing must skip or accept it
//! without panicking; what it accepts must survive its own checks unchanged (the event
//! the evidence carries is already clean), and the diagnosis and the alert text of the
//! resulting evidence must not panic either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use restore_doctor::diagnose::Evidence;
use restore_doctor::examine;
use restore_doctor::event::trigger;
use restore_doctor::render::text::report_text;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(parsed) = trigger::parse(&event) else {
        return;
    };
    // The rebuilt event holds accepted values only: parsing it again drops nothing and
    // gives the same event. (Not when the restore job id itself was dropped: an event
    // without one is skipped, by design.)
    let id_dropped = matches!(
        &parsed.trigger,
        trigger::Trigger::RestoreJobFailed(job) if job.restore_job_id.is_none()
    );
    if !id_dropped {
        let again = trigger::parse(&parsed.event).expect("the clean event is accepted");
        assert!(again.rejected.is_empty(), "{:?}", again.rejected);
        assert_eq!(again.event, parsed.event);
        assert_eq!(again.trigger, parsed.trigger);
    }
    for gap in &parsed.rejected {
        assert!(!gap.call.contains(['\n', '\r']) && !gap.error.contains(['\n', '\r']));
    }
    let evidence = Evidence {
        trigger: parsed.event.clone(),
        account_id: parsed.account.clone(),
        region: parsed.region.clone(),
        gaps: parsed.rejected.clone(),
        ..Evidence::default()
    };
    let report = examine(&evidence);
    let _ = report_text(&report);
});
