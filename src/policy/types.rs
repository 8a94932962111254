//! The evaluator's public data: requests, the policy layers around them and the
//! explained decision. These types are the contract the diagnosis relies on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::document::Policy;
use super::error::EvalError;
use super::limits::{
    MAX_ACTION_CHARS, MAX_ARN_CHARS, MAX_CONTEXT_KEYS, MAX_CONTEXT_KEY_CHARS, MAX_CONTEXT_VALUES,
    MAX_CONTEXT_VALUE_CHARS,
};

/// A context key's value: AWS context keys are single- or multi-valued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContextValue {
    One(String),
    Many(Vec<String>),
}

impl ContextValue {
    /// The values as a slice-like list, single values being a list of one.
    pub fn values(&self) -> Vec<&str> {
        match self {
            ContextValue::One(v) => vec![v.as_str()],
            ContextValue::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

/// One authorization request: who does what to which resource, with which context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// ARN of the calling principal (role, assumed-role session, user, root, or a
    /// service principal name such as `backup.amazonaws.com`).
    pub principal: String,
    /// `service:Action`, compared case-insensitively.
    pub action: String,
    /// ARN of the resource, or `*` for actions without resource-level permissions.
    pub resource: String,
    /// Account that owns the resource; `None` when unknown (then the principal's
    /// account is assumed for ARNs without one).
    pub resource_account: Option<String>,
    /// Request context keys (`aws:SourceIp`, `iam:PassedToService`, `aws:PrincipalTag/x`, ...).
    /// Keys are matched case-insensitively, as AWS does.
    pub context: BTreeMap<String, ContextValue>,
}

impl Request {
    /// The principal of an unauthenticated (anonymous) request.
    pub const ANONYMOUS: &'static str = "anonymous";
}

/// Decision of a whole request, in the words AWS and IAM simulators use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Decision {
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
}

/// The policy layers AWS evaluates, in the order of the evaluation logic.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Layer {
    /// Service control policies of the organization (every level must allow).
    Scp,
    /// Resource control policies of the organization (every level must allow).
    Rcp,
    /// The resource-based policy (KMS key policy, vault access policy, trust policy, ...).
    ResourcePolicy,
    /// Identity-based policies of the principal (inline and managed).
    Identity,
    /// The permissions boundary of the principal.
    PermissionBoundary,
    /// The session policy passed when the role was assumed.
    SessionPolicy,
}

impl Layer {
    /// Human words for the layer, as used in reports.
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Scp => "service control policy",
            Layer::Rcp => "resource control policy",
            Layer::ResourcePolicy => "resource-based policy",
            Layer::Identity => "identity-based policy",
            Layer::PermissionBoundary => "permissions boundary",
            Layer::SessionPolicy => "session policy",
        }
    }
}

/// A policy together with the name it is reported under (a managed policy ARN, an
/// inline policy name, `key policy of <key ARN>`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedPolicy {
    pub name: String,
    pub policy: Policy,
}

/// The policies attached at one level of an organization (root, an OU, the account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgLevel {
    pub org_identifier: String,
    pub policies: Vec<NamedPolicy>,
}

/// Everything that can bear on one request. An empty `scps`/`rcps` means "no
/// organization policies apply" (or were not collected: the caller says which).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySet {
    pub identity: Vec<NamedPolicy>,
    /// Zero or one boundary in practice; every listed boundary must allow.
    pub permission_boundaries: Vec<NamedPolicy>,
    pub scps: Vec<OrgLevel>,
    pub rcps: Vec<OrgLevel>,
    pub resource_policy: Option<NamedPolicy>,
    pub session_policy: Option<NamedPolicy>,
}

/// A statement that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementRef {
    /// The policy's name (see [`NamedPolicy::name`]).
    pub policy: String,
    /// The statement's `Sid`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Position of the statement in the policy (0-based).
    pub index: usize,
}

/// What one layer concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LayerOutcome {
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
    /// The layer was absent or does not apply to this request (e.g. SCPs for a
    /// service principal, a same-account resource policy that is not needed).
    NotApplicable,
}

/// One layer's part of the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerResult {
    pub layer: Layer,
    pub outcome: LayerOutcome,
    /// For SCPs/RCPs: the organization level that failed to allow or denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_identifier: Option<String>,
    pub allowed_by: Vec<StatementRef>,
    pub denied_by: Vec<StatementRef>,
}

/// The explained decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub decision: Decision,
    /// The layers that caused a deny (empty when allowed). An explicit deny lists the
    /// layers with the denying statements; an implicit deny the layers that did not allow.
    pub blocked_by: Vec<Layer>,
    /// Every layer that was evaluated, in evaluation order.
    pub layers: Vec<LayerResult>,
    /// Context keys that some statement's condition tested but the request did not
    /// carry: the decision may differ in reality when those keys are present.
    pub missing_context_keys: Vec<String>,
    /// Of those, the keys an Allow statement hinges on such that the decision changes
    /// with them: the allow (or its absence) is conditional on context nobody knows.
    /// A diagnosis must neither count such an allow as proven nor grant around it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_depends_on: Vec<String>,
    /// The keys a Deny statement hinges on such that the decision changes with them:
    /// the request "may be denied". Unverified, but not a missing allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_depends_on: Vec<String>,
    /// Set when one of AWS's own rules decided (see `policy::hard_rules`): the request
    /// is denied whatever the policies say, and no layer was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_rule: Option<super::hard_rules::AwsRule>,
}

/// Checks a request against the limits of [`super::limits`] before any matching starts.
pub(crate) fn check_request(request: &Request) -> Result<(), EvalError> {
    too_long("principal", request.principal.len(), MAX_ARN_CHARS)?;
    too_long("action", request.action.len(), MAX_ACTION_CHARS)?;
    too_long("resource", request.resource.len(), MAX_ARN_CHARS)?;
    if let Some(account) = &request.resource_account {
        too_long("resource account", account.len(), MAX_ARN_CHARS)?;
    }
    if request.context.len() > MAX_CONTEXT_KEYS {
        return Err(EvalError::TooManyContextKeys {
            count: request.context.len(),
            max: MAX_CONTEXT_KEYS,
        });
    }
    for (key, value) in &request.context {
        too_long("context key name", key.len(), MAX_CONTEXT_KEY_CHARS)?;
        let values: &[String] = match value {
            ContextValue::One(v) => std::slice::from_ref(v),
            ContextValue::Many(vs) => vs,
        };
        if values.len() > MAX_CONTEXT_VALUES {
            return Err(EvalError::TooManyContextValues {
                key: key.clone(),
                count: values.len(),
                max: MAX_CONTEXT_VALUES,
            });
        }
        for v in values {
            too_long("context value", v.len(), MAX_CONTEXT_VALUE_CHARS)?;
        }
    }
    Ok(())
}

fn too_long(field: &'static str, len: usize, max: usize) -> Result<(), EvalError> {
    if len > max {
        Err(EvalError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}
