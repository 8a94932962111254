//! Placeholder: the policy document model and parser (being written).

use serde::{Deserialize, Serialize};

/// A parsed IAM policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy(pub serde_json::Value);
