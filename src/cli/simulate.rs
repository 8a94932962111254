//! `restore-doctor simulate`: decide IAM requests described in a file, offline.
//!
//! The file holds one simulation or an array of them:
//!
//! ```json
//! {
//!   "request": {
//!     "principal": "arn:aws:iam::111122223333:role/restore",
//!     "action": "kms:Decrypt",
//!     "resource": { "resource": "arn:aws:kms:eu-west-1:111122223333:key/k", "accountId": "111122223333" },
//!     "context": { "kms:ViaService": "ec2.eu-west-1.amazonaws.com" }
//!   },
//!   "identityPolicies": [ { "Version": "2012-10-17", "Statement": [] } ],
//!   "permissionBoundaries": [],
//!   "serviceControlPolicies": [ { "orgIdentifier": "r-root", "policies": [] } ],
//!   "resourceControlPolicies": [],
//!   "resourcePolicy": { "Version": "2012-10-17", "Statement": [] },
//!   "sessionPolicy": null
//! }
//! ```
//!
//! `principal` may also be `{"type": "Anonymous"}`. Unknown fields are ignored. A
//! request resource with `*` or `?` stands for every resource it matches, unless the
//! request says `"wildcardOnlyAction": true` (then `*` is the literal resource of an
//! action without resource-level permissions).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Format;
use crate::policy::{
    evaluate_with, ContextValue, Decision, EvaluateOptions, Evaluation, Layer, LayerOutcome,
    LayerResult, NamedPolicy, OrgLevel, Policy, PolicySet, Request, ResourceWildcards,
    StatementRef,
};

/// Where the simulations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// `-` is standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(arg))
        }
    }
}

/// Validated settings of the `simulate` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub input: Input,
    pub format: Format,
}

/// One simulation, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    pub request: SimulatedRequest,
    #[serde(default)]
    pub identity_policies: Option<Vec<Value>>,
    #[serde(default)]
    pub permission_boundaries: Option<Vec<Value>>,
    #[serde(default)]
    pub service_control_policies: Option<Vec<SimulatedOrgLevel>>,
    #[serde(default)]
    pub resource_control_policies: Option<Vec<SimulatedOrgLevel>>,
    #[serde(default)]
    pub resource_policy: Option<Value>,
    #[serde(default)]
    pub session_policy: Option<Value>,
}

/// The `request` of a simulation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedRequest {
    pub principal: SimulatedPrincipal,
    pub action: String,
    pub resource: SimulatedResource,
    #[serde(default)]
    pub context: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub wildcard_only_action: Option<bool>,
}

/// A principal ARN or service name, or `{"type": "Anonymous"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SimulatedPrincipal {
    Named(String),
    Typed {
        #[serde(rename = "type")]
        kind: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedResource {
    pub resource: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedOrgLevel {
    pub org_identifier: String,
    #[serde(default)]
    pub policies: Vec<Value>,
}

/// A simulation ready for the evaluator.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: Request,
    pub policies: PolicySet,
    pub options: EvaluateOptions,
}

impl Simulation {
    /// Parses every policy and builds the evaluator's request.
    pub fn prepare(&self) -> Result<Prepared> {
        let r = &self.request;
        let principal = match &r.principal {
            SimulatedPrincipal::Named(p) => p.clone(),
            SimulatedPrincipal::Typed { kind } if kind.eq_ignore_ascii_case("anonymous") => {
                Request::ANONYMOUS.to_owned()
            }
            SimulatedPrincipal::Typed { kind } => {
                bail!("request.principal: unknown principal type `{kind}`")
            }
        };
        let mut context = BTreeMap::new();
        for (key, value) in r.context.iter().flatten() {
            let value =
                context_value(value).with_context(|| format!("request.context: key `{key}`"))?;
            context.insert(key.clone(), value);
        }
        let request = Request {
            principal,
            action: r.action.clone(),
            resource: r.resource.resource.clone(),
            resource_account: r.resource.account_id.clone(),
            context,
        };
        let policies = PolicySet {
            identity: named_list("identityPolicies", self.identity_policies.as_deref())?,
            permission_boundaries: named_list(
                "permissionBoundaries",
                self.permission_boundaries.as_deref(),
            )?,
            scps: org_levels(
                "serviceControlPolicies",
                self.service_control_policies.as_deref(),
            )?,
            rcps: org_levels(
                "resourceControlPolicies",
                self.resource_control_policies.as_deref(),
            )?,
            resource_policy: optional("resourcePolicy", self.resource_policy.as_ref())?,
            session_policy: optional("sessionPolicy", self.session_policy.as_ref())?,
        };
        let resource_wildcards = if r.wildcard_only_action == Some(true) {
            ResourceWildcards::Literal
        } else {
            ResourceWildcards::Pattern
        };
        Ok(Prepared {
            request,
            policies,
            options: EvaluateOptions { resource_wildcards },
        })
    }
}

fn context_value(value: &Value) -> Result<ContextValue> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).context("expected a string, number or boolean in the list"))
            .collect::<Result<Vec<_>>>()
            .map(ContextValue::Many),
        v => scalar(v)
            .map(ContextValue::One)
            .context("expected a string, number, boolean or a list of them"),
    }
}

fn named(name: String, value: &Value) -> Result<NamedPolicy> {
    let policy = Policy::from_value(value).with_context(|| name.clone())?;
    Ok(NamedPolicy { name, policy })
}

fn named_list(field: &str, values: Option<&[Value]>) -> Result<Vec<NamedPolicy>> {
    values
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| named(format!("{field}[{i}]"), v))
        .collect()
}

fn optional(field: &str, value: Option<&Value>) -> Result<Option<NamedPolicy>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => named(field.to_owned(), v).map(Some),
    }
}

fn org_levels(field: &str, levels: Option<&[SimulatedOrgLevel]>) -> Result<Vec<OrgLevel>> {
    levels
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let policies = level
                .policies
                .iter()
                .enumerate()
                .map(|(j, v)| named(format!("{field}[{i}].policies[{j}]"), v))
                .collect::<Result<Vec<_>>>()?;
            Ok(OrgLevel {
                org_identifier: level.org_identifier.clone(),
                policies,
            })
        })
        .collect()
}

/// One result as printed in JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulationOutput<'a> {
    pub result: Decision,
    pub blocked_by: &'a [Layer],
    pub missing_context_keys: &'a [String],
    pub layers: &'a [LayerResult],
}

impl<'a> From<&'a Evaluation> for SimulationOutput<'a> {
    fn from(e: &'a Evaluation) -> Self {
        SimulationOutput {
            result: e.decision,
            blocked_by: &e.blocked_by,
            missing_context_keys: &e.missing_context_keys,
            layers: &e.layers,
        }
    }
}

/// Reads the simulations, a single one or an array. Fails on the first bad one.
pub fn read_simulations(text: &str) -> Result<(Vec<Prepared>, bool)> {
    let value: Value = serde_json::from_str(text).context("input is not valid JSON")?;
    let (items, many) = match value {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    let prepared = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let sim = Simulation::deserialize(item)
                .with_context(|| format!("simulation {i}: not a simulation object"))?;
            sim.prepare().with_context(|| format!("simulation {i}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((prepared, many))
}

/// Evaluates the simulations of `text` and renders the results.
pub fn simulate_text(text: &str, format: Format) -> Result<String> {
    let (prepared, many) = read_simulations(text)?;
    let evaluations: Vec<Evaluation> = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| {
            evaluate_with(&p.request, &p.policies, &p.options)
                .with_context(|| format!("simulation {i}: not decided"))
        })
        .collect::<Result<_>>()?;
    match format {
        Format::Json => {
            let outputs: Vec<SimulationOutput<'_>> =
                evaluations.iter().map(SimulationOutput::from).collect();
            let mut json = match (many, outputs.as_slice()) {
                (false, [one]) => serde_json::to_string_pretty(one),
                _ => serde_json::to_string_pretty(&outputs),
            }
            .context("cannot write the results as JSON")?;
            json.push('\n');
            Ok(json)
        }
        Format::Text => Ok(prepared
            .iter()
            .zip(&evaluations)
            .enumerate()
            .map(|(i, (p, e))| render_text(i, &p.request, e))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// The largest input read: room for 64 simulations each carrying the largest policy
/// AWS accepts ([`crate::policy::limits::MAX_POLICY_CHARS`]). A larger file is refused
/// before it fills memory.
pub const MAX_INPUT_BYTES: u64 = 64 * crate::policy::limits::MAX_POLICY_CHARS as u64;

fn read_limited(input: impl Read) -> Result<String> {
    let mut s = String::new();
    input.take(MAX_INPUT_BYTES + 1).read_to_string(&mut s)?;
    if s.len() as u64 > MAX_INPUT_BYTES {
        bail!("the input is larger than {MAX_INPUT_BYTES} bytes");
    }
    Ok(s)
}

/// Runs `simulate` with the given settings, writing to `out`.
pub fn run(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let text = match &settings.input {
        Input::Stdin => {
            read_limited(std::io::stdin().lock()).context("cannot read standard input")?
        }
        Input::File(path) => std::fs::File::open(path)
            .map_err(anyhow::Error::from)
            .and_then(read_limited)
            .with_context(|| format!("cannot read `{}`", path.display()))?,
    };
    let rendered = simulate_text(&text, settings.format)?;
    out.write_all(rendered.as_bytes())
        .context("cannot write the results")?;
    Ok(())
}

fn render_text(index: usize, request: &Request, e: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#{index} {} on {} by {}: {}",
        request.action,
        request.resource,
        request.principal,
        decision_words(e.decision)
    );
    if !e.blocked_by.is_empty() {
        let layers: Vec<&str> = e.blocked_by.iter().map(|l| l.describe()).collect();
        let _ = writeln!(s, "  blocked by: {}", layers.join(", "));
    }
    for layer in &e.layers {
        if layer.outcome == LayerOutcome::NotApplicable {
            continue;
        }
        let level = layer
            .org_identifier
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {}{level}: {}",
            layer.layer.describe(),
            outcome_words(layer.outcome)
        );
        for st in &layer.denied_by {
            let _ = writeln!(s, "    denied by {}", statement_words(st));
        }
        for st in &layer.allowed_by {
            let _ = writeln!(s, "    allowed by {}", statement_words(st));
        }
    }
    if !e.missing_context_keys.is_empty() {
        let _ = writeln!(
            s,
            "  context keys tested but absent: {}",
            e.missing_context_keys.join(", ")
        );
    }
    s
}

fn decision_words(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "allowed",
        Decision::ImplicitlyDenied => "implicitly denied",
        Decision::ExplicitlyDenied => "explicitly denied",
    }
}

fn outcome_words(o: LayerOutcome) -> &'static str {
    match o {
        LayerOutcome::Allowed => "allows",
        LayerOutcome::ImplicitlyDenied => "does not allow",
        LayerOutcome::ExplicitlyDenied => "denies",
        LayerOutcome::NotApplicable => "does not apply",
    }
}

fn statement_words(st: &StatementRef) -> String {
    match &st.sid {
        Some(sid) => format!("{} statement {} (`{sid}`)", st.policy, st.index),
        None => format!("{} statement {}", st.policy, st.index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_simulation_gives_single_result() {
        let input = r#"{"request":{"principal":"arn:aws:iam::111122223333:user/u","action":"s3:GetObject","resource":{"resource":"arn:aws:s3:::b/k","accountId":"111122223333"}},"identityPolicies":[{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}]}"#;
        let out: Value =
            serde_json::from_str(&simulate_text(input, Format::Json).unwrap()).unwrap();
        assert_eq!(out["result"], "Allowed");
    }

    #[test]
    fn bad_policy_names_the_simulation_and_the_place() {
        let input = r#"[{"request":{"principal":"p","action":"a","resource":{"resource":"*"}},"identityPolicies":[{"Statement":{"Effect":"Alow","Action":"*"}}]}]"#;
        let err = simulate_text(input, Format::Json).unwrap_err();
        let chain = format!("{err:#}");
        assert!(chain.contains("simulation 0"), "{chain}");
        assert!(chain.contains("identityPolicies[0]"), "{chain}");
        assert!(chain.contains("/Statement/Effect"), "{chain}");
    }
}
