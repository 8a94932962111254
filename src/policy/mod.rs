//! A pure IAM policy evaluator: parse policy documents as AWS accepts them and decide a
//! request the way AWS does, with the statements and the layer that decided it.
//!
//! Nothing here is async or does I/O; callers gather policies first (see
//! `diagnose::evidence`). "Could not tell" is surfaced through
//! [`Evaluation::missing_context_keys`], never silently turned into an Allow.
//!
//! Modules: [`document`] parses (errors in [`error`]); `wildcard`, `arn`, `variables`,
//! `principal` and `condition` match one element each; `evaluate` applies AWS's
//! evaluation logic across the layers of [`PolicySet`], after [`hard_rules`] (what AWS
//! denies whatever the policies say); [`limits`] holds the sizes
//! AWS accepts and the bound on one evaluation's work, past which the answer is an
//! [`EvalError`] rather than a decision.

mod arn;
mod condition;
mod context;
pub mod document;
mod error;
mod evaluate;
pub mod hard_rules;
pub mod limits;
mod operator;
mod principal;
mod types;
mod variables;
mod wildcard;

pub use arn::arn_matches;
pub use document::{
    ActionBlock, ConditionBlock, Effect, Policy, Principal, PrincipalBlock, PrincipalType,
    ResourceBlock, Statement, Values,
};
pub use error::{EvalError, ParseError, ParseReason};
pub use evaluate::{evaluate, evaluate_with, EvaluateOptions, ResourceWildcards};
pub use limits::PolicyKind;
pub use operator::{Operator, OperatorKind, SetOperator};
pub use types::*;
pub use wildcard::action_matches;
