//! The Lambda handler: event → evidence → diagnosis → one SNS alert.
//!
//! - An event that is not a diagnosable failure is logged with the reason and skipped
//!   (`Ok`: Lambda must not retry it).
//! - An event already alerted in this warm container (same event id, or same restore job)
//!   is skipped as a duplicate.
//! - Evidence calls that fail become gaps in the evidence; the alert says what could not
//!   be verified.
//! - With `AUTO_ATTACH` on, the verified fix is attached to an opted-in restore role
//!   (and, with `AUTO_RETRY_RESTORE`, the failed restore started again) before the alert
//!   is built, so the alert says what was done or which guardrail refused.
//! - Only a failed publish is an error: Lambda then retries the event and finally hands
//!   it to the OnFailure destination (the dead-letter queue).
//! - The invocation's deadline bounds everything: gathering stops `DEADLINE_RESERVE` (5 s)
//!   before it and publishes what it has, the gaps named; auto-attach stops
//!   `ATTACH_RESERVE` (2 s) before it.
//! - No stage can take the alert down with it: a panic while parsing, gathering,
//!   diagnosing, attaching or rendering is caught and becomes the fallback report (or a
//!   refusal, for auto-attach), and the alert still goes out.
//!
//! Event parsing lives below the adapters, in [`crate::event`], so that the AWS adapters
//! and this handler read one parsed trigger and nothing here is imported from below.

mod lambda;
pub use lambda::*;
