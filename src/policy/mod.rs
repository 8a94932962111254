//! A pure IAM policy evaluator: parse policy documents as AWS accepts them and decide a
//! request the way AWS does, with the statements and the layer that decided it.
//!
//! Nothing here is async or does I/O; callers gather policies first (see
//! `diagnose::evidence`). "Could not tell" is surfaced through
//! [`Evaluation::missing_context_keys`], never silently turned into an Allow.

mod document;
mod types;

pub use document::Policy;
pub use types::*;
