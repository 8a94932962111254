//! restore-doctor: from a failed AWS Backup restore to every missing permission and a
//! verified least-privilege fix.
//!
//! The pipeline, and the module that owns each step:
//!
//! 1. [`diagnose::evidence`]: everything gathered about one failed restore, as plain data.
//!    The Lambda builds it with [`aws`] (feature `lambda`); the CLI reads it from a file.
//! 2. [`policy`]: a pure IAM policy evaluator (parse, match, conditions, decide, explain).
//! 3. [`diagnose`]: decodes the failure, lists what the restore needs and asks the
//!    evaluator about each requirement, layer by layer.
//! 4. [`remedy`]: builds the least-privilege patch and proves it by evaluating again.
//! 5. [`render`]: the JSON report, the email text and the Slack (AWS Chatbot) message.
//!
//! Everything from step 2 on is synchronous and touches no network, so the same core
//! runs in the Lambda, in the CLI and in tests on evidence files.

pub mod cli;
pub mod diagnose;
pub mod policy;
pub mod remedy;
pub mod render;

#[cfg(feature = "lambda")]
pub mod aws;
/// Event parsing is pure and always built; the Lambda handler itself needs `lambda`.
pub mod handler;
