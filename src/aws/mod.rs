//! The only code that talks to AWS: gather evidence, publish the alert, attach the fix.
//!
//! - [`config`]: the environment and the clients, built once per container (the
//!   function's) or once per run (the command line's, from the user's own credentials).
//! - [`gather`]: the read-only calls that fill an [`Evidence`](crate::diagnose::Evidence);
//!   a failed call becomes a gap, never an error. [`iam`] reads principals' policies.
//! - [`accounts`]: in organization mode, the reader role of the account a failure
//!   happened in, whose credentials gather that failure's evidence.
//!   [`organizations`] reads the service control policies that apply to that account.
//! - [`alias`]: the account alias next to the account id in the alert, kept per account.
//! - [`publish`]: the one SNS Publish per failure.
//! - [`attach`]: the opt-in writes: the verified fix put on an opted-in restore role,
//!   and optionally the failed restore started again, at most once.
//! - [`readiness`]: every protected resource checked for a restore now; [`state`]: the
//!   function's memory of each one's last verdict (DynamoDB), for scheduled and
//!   change-triggered readiness.
//! - [`live`]: what the live command line needs besides the gathering: the event the
//!   function would have received for a restore job it is given by id.
//! - [`logging`] (feature `lambda`), [`metrics`], [`dedup`]: Powertools-style logs, EMF metrics and the
//!   per-container memory of events already alerted.

pub mod accounts;
pub mod alias;
pub mod attach;
pub mod budget;
pub mod config;
pub mod dedup;
pub mod error;
pub mod gather;
pub mod iam;
pub mod live;
#[cfg(feature = "lambda")]
pub mod logging;
pub mod metrics;
pub mod organizations;
pub mod publish;
pub mod readiness;
pub mod state;

pub use config::{
    AutoSettings, Clients, EndpointOverrides, OrganizationSettings, ReadinessSettings, Settings,
};
