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

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Deserializer as _, Serialize};
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

/// Evaluates the simulations of `text` and renders the results.
pub fn simulate_text(text: &str, format: Format) -> Result<String> {
    let mut out = Vec::new();
    simulate_stream(text.as_bytes(), format, &mut out)?;
    String::from_utf8(out).context("the results are not UTF-8")
}

/// The largest single simulation read: room for 64 of the largest policies AWS accepts
/// ([`crate::policy::limits::MAX_POLICY_CHARS`]). The input is streamed, one simulation
/// at a time, so memory follows the largest simulation, not the file; a simulation
/// larger than this is refused before it fills memory.
pub const MAX_SIMULATION_BYTES: u64 = 64 * crate::policy::limits::MAX_POLICY_CHARS as u64;

/// Reads, evaluates and writes the simulations one at a time: one simulation or an
/// array of them, read from `input` as a stream (nothing holds the whole input or its
/// JSON tree), each result written as soon as it is decided. Stops at the first bad
/// simulation with an error naming it; results already written stand.
pub fn simulate_stream(input: impl Read, format: Format, out: &mut dyn Write) -> Result<()> {
    let since_element = Rc::new(Cell::new(0u64));
    // Counted below the buffer: it sees one read per 8 KiB, not one per byte.
    let reader = std::io::BufReader::new(Counted {
        inner: input,
        since_element: Rc::clone(&since_element),
    });
    let failure: RefCell<Option<anyhow::Error>> = RefCell::new(None);
    let mut writer = ResultWriter {
        out,
        format,
        single: false,
        written: 0,
    };
    let current = Cell::new(0);
    let visitor = Simulations {
        since_element: &since_element,
        failure: &failure,
        current: &current,
        writer: &mut writer,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = de.deserialize_any(visitor).and_then(|shape| {
        de.end()?;
        Ok(shape)
    });
    match read {
        Ok(Shape::One | Shape::Many) => writer.finish(),
        Err(e) => match failure.into_inner() {
            Some(f) => Err(f),
            None if e.is_io() => Err(anyhow::Error::new(e).context("cannot read the input")),
            None if e.is_data() => Err(anyhow::Error::new(e).context(format!(
                "simulation {}: not a simulation object",
                current.get()
            ))),
            None => Err(anyhow::Error::new(e).context("input is not valid JSON")),
        },
    }
}

/// A reader that refuses to go on once one simulation has taken more than
/// [`MAX_SIMULATION_BYTES`]; the visitor resets the count after each simulation.
struct Counted<R> {
    inner: R,
    since_element: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_element.get().saturating_add(n as u64);
        if total > MAX_SIMULATION_BYTES {
            return Err(std::io::Error::other(format!(
                "one simulation is larger than {MAX_SIMULATION_BYTES} bytes"
            )));
        }
        self.since_element.set(total);
        Ok(n)
    }
}

enum Shape {
    One,
    Many,
}

struct Simulations<'a, 'w> {
    since_element: &'a Cell<u64>,
    /// The first simulation that failed, with its whole error chain (serde's error
    /// type would keep only its text).
    failure: &'a RefCell<Option<anyhow::Error>>,
    /// The index of the simulation being read, for errors in its JSON.
    current: &'a Cell<usize>,
    writer: &'a mut ResultWriter<'w>,
}

impl Simulations<'_, '_> {
    fn one<E: serde::de::Error>(&mut self, index: usize, sim: Simulation) -> Result<(), E> {
        self.since_element.set(0);
        let done = sim
            .prepare()
            .with_context(|| format!("simulation {index}"))
            .and_then(|p| {
                let e = evaluate_with(&p.request, &p.policies, &p.options)
                    .with_context(|| format!("simulation {index}: not decided"))?;
                self.writer.write(index, &p.request, &e)
            });
        done.map_err(|err| {
            let text = format!("{err:#}");
            *self.failure.borrow_mut() = Some(err);
            E::custom(text)
        })
    }
}

impl<'de> serde::de::Visitor<'de> for Simulations<'_, '_> {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a simulation object or an array of them")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Shape, A::Error> {
        let mut index = 0;
        loop {
            self.current.set(index);
            let next = seq.next_element::<Simulation>()?;
            let Some(sim) = next else { break };
            self.one(index, sim)?;
            index += 1;
        }
        Ok(Shape::Many)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, map: A) -> Result<Shape, A::Error> {
        let sim = Simulation::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.writer.single = true;
        self.one(0, sim)?;
        Ok(Shape::One)
    }
}

/// Writes each result as it comes, in the format `simulate` always printed: a single
/// pretty JSON object, a pretty JSON array of them, or text blocks separated by a line.
struct ResultWriter<'w> {
    out: &'w mut dyn Write,
    format: Format,
    /// The input was one simulation, not an array: its result is printed alone.
    single: bool,
    written: usize,
}

impl ResultWriter<'_> {
    fn write(&mut self, index: usize, request: &Request, e: &Evaluation) -> Result<()> {
        let text = match self.format {
            Format::Json => {
                let json = serde_json::to_string_pretty(&SimulationOutput::from(e))
                    .context("cannot write the results as JSON")?;
                if self.single {
                    self.written += 1;
                    return self
                        .out
                        .write_all(json.as_bytes())
                        .context("cannot write the results");
                }
                // An array element, indented as serde_json indents arrays.
                let indented: Vec<String> = json.lines().map(|l| format!("  {l}")).collect();
                let sep = if self.written == 0 { "[\n" } else { ",\n" };
                format!("{sep}{}", indented.join("\n"))
            }
            Format::Text => {
                let sep = if self.written == 0 { "" } else { "\n" };
                format!("{sep}{}", render_text(index, request, e))
            }
        };
        self.written += 1;
        self.out
            .write_all(text.as_bytes())
            .context("cannot write the results")
    }

    fn finish(&mut self) -> Result<()> {
        let tail = match (self.format, self.single, self.written) {
            (Format::Json, true, _) => "\n",
            (Format::Json, false, 0) => "[]\n",
            (Format::Json, false, _) => "\n]\n",
            (Format::Text, _, _) => "",
        };
        self.out
            .write_all(tail.as_bytes())
            .context("cannot write the results")
    }
}

/// Runs `simulate` with the given settings, writing to `out`.
pub fn run(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match &settings.input {
        Input::Stdin => simulate_stream(std::io::stdin().lock(), settings.format, out),
        Input::File(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            simulate_stream(file, settings.format, out)
        }
    }
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
