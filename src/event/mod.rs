//! The two events that start a diagnosis, read and checked before anything else sees
//! them: a FAILED `Restore Job State Change` and a refused `StartRestoreJob` call
//! (CloudTrail). Both are written by someone else — the second by whoever made the
//! call — so every value is validated here ([`trigger`]) and every value read later
//! from an AWS response goes through the same checks ([`sanitize`]).
//!
//! Pure and always built (no AWS SDK): the AWS adapters and the Lambda handler sit
//! above it, and the fuzzer drives it directly.

pub mod change;
pub mod cloudtrail;
pub mod sanitize;
pub mod test_alert;
pub mod trigger;
