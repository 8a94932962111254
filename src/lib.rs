//! restore-doctor: from a failed AWS Backup restore to every missing permission and a
//! verified least-privilege fix.
//!
//! The pipeline, and the module that owns each step (lowest first; no module imports a
//! later one, checked by `tests/architecture.rs`):
//!
//! 1. [`policy`]: a pure IAM policy evaluator (parse, match, conditions, decide, explain).
//! 2. [`diagnose`]: the evidence types, then the stages read the failure → facts →
//!    principals → requirements for this path → checks → findings and cause.
//! 3. [`event`]: the two triggering events, validated; the gatherer (`aws`, feature
//!    `aws`) builds the evidence from them, in the Lambda and in the live CLI; the
//!    offline CLI reads it from a file.
//! 4. [`remedy`]: builds the least-privilege patch and proves it by evaluating again.
//! 5. [`render`]: the email text and the Slack (AWS Chatbot) message.
//! 6. [`doctor`]: calls the diagnosis, then the remedy, and assembles the report.
//!
//! Everything but the adapters (`aws`, `handler`, [`cli`]) is synchronous and touches
//! no network, so the same core runs in the Lambda, in the CLI and in tests on evidence
//! files.

pub mod cli;
pub mod diagnose;
pub mod doctor;
pub mod policy;
pub mod remedy;
pub mod render;

pub use doctor::examine;

#[cfg(feature = "aws")]
pub mod aws;
pub mod event;
#[cfg(feature = "lambda")]
pub mod handler;
