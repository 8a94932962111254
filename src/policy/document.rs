//! The policy document model: what AWS accepts, parsed once into types the evaluator
//! can trust, and written back as the same canonical JSON.
//!
//! Single values stay single and lists stay lists, so a policy shown back to a person
//! looks like the one they wrote. Rejections name the place with a JSON pointer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::error::{ParseError, ParseReason};
use super::limits::{json_chars, PolicyKind};
use super::operator::Operator;

/// Policy text longer than this many times the size limit is refused unread: even
/// pretty-printed, a policy within the limit is far shorter.
const MAX_TEXT_FACTOR: usize = 8;

fn too_large(kind: PolicyKind) -> ParseError {
    ParseError::new(
        "",
        ParseReason::TooLarge {
            max: kind.max_chars(),
        },
    )
}

/// The current policy language version; policy variables only work under it.
pub const VERSION_2012_10_17: &str = "2012-10-17";
/// The legacy version: variables are plain text.
pub const VERSION_2008_10_17: &str = "2008-10-17";

/// A parsed IAM policy document (identity, resource, boundary, session, SCP or RCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: Option<String>,
    pub id: Option<String>,
    /// Shared, not copied: the diagnosis evaluates each requirement against the same
    /// policies, and a clone of a policy set must not copy every statement (a role of
    /// 1,000 statements was copied once per requirement).
    pub statements: std::sync::Arc<[Statement]>,
    /// `Statement` was a single object rather than an array.
    pub single_statement: bool,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A string-or-array element, remembering which it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Values {
    items: Vec<String>,
    single: bool,
}

impl Values {
    /// One value, written as a plain string.
    pub fn one(value: impl Into<String>) -> Self {
        Values {
            items: vec![value.into()],
            single: true,
        }
    }

    /// Values written as an array.
    pub fn many<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Values {
            items: values.into_iter().map(Into::into).collect(),
            single: false,
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.items
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(String::as_str)
    }

    pub fn is_single(&self) -> bool {
        self.single
    }

    fn to_value(&self) -> Value {
        match (self.single, self.items.as_slice()) {
            (true, [one]) => Value::String(one.clone()),
            _ => Value::Array(self.items.iter().cloned().map(Value::String).collect()),
        }
    }
}

/// `Action` (the listed actions) or `NotAction` (every action but those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionBlock {
    Action(Values),
    NotAction(Values),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceBlock {
    Resource(Values),
    NotResource(Values),
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalBlock {
    Principal(Principal),
    NotPrincipal(Principal),
}

/// The kinds of principal a `Principal` element names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            PrincipalType::Aws,
            PrincipalType::Service,
            PrincipalType::Federated,
            PrincipalType::CanonicalUser,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A `Principal` element's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: everyone, including anonymous callers.
    Any,
    /// A bare string other than `*`, read as an `AWS` principal.
    Bare(String),
    /// `{"AWS": ..., "Service": ..., ...}` in document order.
    Map(Vec<(PrincipalType, Values)>),
}

/// One `key: values` test under a condition operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionBlock {
    pub operator: Operator,
    /// Context keys (compared case-insensitively) and the values allowed for each.
    pub keys: Vec<(String, Values)>,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalBlock>,
    pub action: ActionBlock,
    /// `None` when the statement has neither `Resource` nor `NotResource` (trust
    /// policies): it then applies to any resource.
    pub resource: Option<ResourceBlock>,
    /// Empty when there is no `Condition`.
    pub condition: Vec<ConditionBlock>,
}

impl Statement {
    /// A statement with the given effect, actions and resources, and nothing else.
    pub fn new(effect: Effect, action: ActionBlock, resource: Option<ResourceBlock>) -> Self {
        Statement {
            sid: None,
            effect,
            principal: None,
            action,
            resource,
            condition: Vec::new(),
        }
    }

    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
}

impl Policy {
    /// A `2012-10-17` policy with these statements.
    pub fn new(statements: Vec<Statement>) -> Self {
        Policy {
            version: Some(VERSION_2012_10_17.to_owned()),
            id: None,
            statements: statements.into(),
            single_statement: false,
        }
    }

    /// Parses a policy document from JSON text, as AWS would accept it, up to the
    /// largest size AWS accepts for any policy ([`PolicyKind::Other`]).
    pub fn parse(text: &str) -> Result<Policy, ParseError> {
        Policy::parse_as(text, PolicyKind::Other)
    }

    /// Parses a policy document from JSON text, refusing one larger than AWS accepts
    /// for `kind`.
    pub fn parse_as(text: &str, kind: PolicyKind) -> Result<Policy, ParseError> {
        // White space does not count, but text far beyond the limit is not worth
        // reading into memory to find out.
        if text.len() > MAX_TEXT_FACTOR.saturating_mul(kind.max_chars()) {
            return Err(too_large(kind));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ParseError::new("", ParseReason::Json(e.to_string())))?;
        Policy::from_value_as(&value, kind)
    }

    /// Parses a policy document already read as JSON, up to the largest size AWS
    /// accepts for any policy.
    pub fn from_value(value: &Value) -> Result<Policy, ParseError> {
        Policy::from_value_as(value, PolicyKind::Other)
    }

    /// Parses a policy document already read as JSON, refusing one larger than AWS
    /// accepts for `kind` (counted as AWS counts: without white space).
    pub fn from_value_as(value: &Value, kind: PolicyKind) -> Result<Policy, ParseError> {
        if json_chars(value, kind.max_chars()) > kind.max_chars() {
            return Err(too_large(kind));
        }
        parse_policy(value)
    }

    /// The canonical JSON of the document.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        if let Some(v) = &self.version {
            map.insert("Version".into(), Value::String(v.clone()));
        }
        if let Some(id) = &self.id {
            map.insert("Id".into(), Value::String(id.clone()));
        }
        let statements = match (self.single_statement, &*self.statements) {
            (true, [one]) => statement_to_value(one),
            _ => Value::Array(self.statements.iter().map(statement_to_value).collect()),
        };
        map.insert("Statement".into(), statements);
        Value::Object(map)
    }

    /// The statements in document order (index = position used in explanations).
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Whether policy variables are expanded (only under version `2012-10-17`).
    pub fn uses_variables(&self) -> bool {
        self.version.as_deref() == Some(VERSION_2012_10_17)
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Policy::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Policy {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

fn statement_to_value(s: &Statement) -> Value {
    let mut map = Map::new();
    if let Some(sid) = &s.sid {
        map.insert("Sid".into(), Value::String(sid.clone()));
    }
    map.insert("Effect".into(), Value::String(s.effect.as_str().into()));
    match &s.principal {
        Some(PrincipalBlock::Principal(p)) => {
            map.insert("Principal".into(), principal_to_value(p));
        }
        Some(PrincipalBlock::NotPrincipal(p)) => {
            map.insert("NotPrincipal".into(), principal_to_value(p));
        }
        None => {}
    }
    let (name, values) = match &s.action {
        ActionBlock::Action(v) => ("Action", v),
        ActionBlock::NotAction(v) => ("NotAction", v),
    };
    map.insert(name.into(), values.to_value());
    match &s.resource {
        Some(ResourceBlock::Resource(v)) => {
            map.insert("Resource".into(), v.to_value());
        }
        Some(ResourceBlock::NotResource(v)) => {
            map.insert("NotResource".into(), v.to_value());
        }
        None => {}
    }
    if !s.condition.is_empty() {
        let mut ops = Map::new();
        for block in &s.condition {
            let entry = ops
                .entry(block.operator.name())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(keys) = entry {
                for (key, values) in &block.keys {
                    keys.insert(key.clone(), values.to_value());
                }
            }
        }
        map.insert("Condition".into(), Value::Object(ops));
    }
    Value::Object(map)
}

fn principal_to_value(p: &Principal) -> Value {
    match p {
        Principal::Any => Value::String("*".into()),
        Principal::Bare(s) => Value::String(s.clone()),
        Principal::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(t, v)| (t.as_str().to_owned(), v.to_value()))
                .collect(),
        ),
    }
}

// ---- parsing ---------------------------------------------------------------------

/// Appends one reference token to a JSON pointer, escaped as RFC 6901 requires.
/// `pointer/token`, the token escaped as JSON Pointer escapes it (`~0`, `~1`), in one
/// allocation: a pointer is built for every element of every statement.
fn child(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(pointer: &str, expected: &'static str, found: &Value) -> ParseError {
    ParseError::new(
        pointer,
        ParseReason::WrongType {
            expected,
            found: type_name(found),
        },
    )
}

fn as_object<'a>(v: &'a Value, pointer: &str) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object().ok_or_else(|| wrong(pointer, "an object", v))
}

fn as_string(v: &Value, pointer: &str) -> Result<String, ParseError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong(pointer, "a string", v))
}

fn parse_policy(value: &Value) -> Result<Policy, ParseError> {
    let map = as_object(value, "")?;
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for (key, v) in map {
        let at = child("", key);
        match key.as_str() {
            "Version" => {
                let s = as_string(v, &at)?;
                if s != VERSION_2012_10_17 && s != VERSION_2008_10_17 {
                    return Err(ParseError::new(&at, ParseReason::Version(s)));
                }
                version = Some(s);
            }
            "Id" => id = Some(as_string(v, &at)?),
            "Statement" => statement = Some((v, at)),
            _ => {
                return Err(ParseError::new(
                    &at,
                    ParseReason::UnknownElement(key.clone()),
                ))
            }
        }
    }
    let (statement, at) =
        statement.ok_or_else(|| ParseError::new("", ParseReason::MissingElement("Statement")))?;
    let (statements, single_statement) = match statement {
        Value::Object(_) => (vec![parse_statement(statement, &at)?], true),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(parse_statement(item, &child(&at, &i.to_string()))?);
            }
            (out, false)
        }
        other => return Err(wrong(&at, "an object or an array of objects", other)),
    };
    Ok(Policy {
        version,
        id,
        statements: statements.into(),
        single_statement,
    })
}

fn parse_statement(value: &Value, pointer: &str) -> Result<Statement, ParseError> {
    let map = as_object(value, pointer)?;
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<(&'static str, PrincipalBlock)> = None;
    let mut action: Option<(&'static str, ActionBlock)> = None;
    let mut resource: Option<(&'static str, ResourceBlock)> = None;
    let mut condition = Vec::new();
    for (key, v) in map {
        let at = child(pointer, key);
        match key.as_str() {
            "Sid" => sid = Some(as_string(v, &at)?),
            "Effect" => {
                let s = as_string(v, &at)?;
                effect = Some(match s.as_str() {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    _ => return Err(ParseError::new(&at, ParseReason::Effect(s))),
                });
            }
            "Principal" | "NotPrincipal" => {
                let p = parse_principal(v, &at)?;
                let (name, block) = if key == "Principal" {
                    ("Principal", PrincipalBlock::Principal(p))
                } else {
                    ("NotPrincipal", PrincipalBlock::NotPrincipal(p))
                };
                set_exclusive(
                    &mut principal,
                    name,
                    block,
                    &at,
                    ("Principal", "NotPrincipal"),
                )?;
            }
            "Action" | "NotAction" => {
                let name = if key == "Action" {
                    "Action"
                } else {
                    "NotAction"
                };
                let values = parse_values(v, &at, Some(name))?;
                let block = if key == "Action" {
                    ActionBlock::Action(values)
                } else {
                    ActionBlock::NotAction(values)
                };
                set_exclusive(&mut action, name, block, &at, ("Action", "NotAction"))?;
            }
            "Resource" | "NotResource" => {
                let name = if key == "Resource" {
                    "Resource"
                } else {
                    "NotResource"
                };
                let values = parse_values(v, &at, Some(name))?;
                let block = if key == "Resource" {
                    ResourceBlock::Resource(values)
                } else {
                    ResourceBlock::NotResource(values)
                };
                set_exclusive(&mut resource, name, block, &at, ("Resource", "NotResource"))?;
            }
            "Condition" => condition = parse_condition(v, &at)?,
            _ => {
                return Err(ParseError::new(
                    &at,
                    ParseReason::UnknownElement(key.clone()),
                ))
            }
        }
    }
    let effect =
        effect.ok_or_else(|| ParseError::new(pointer, ParseReason::MissingElement("Effect")))?;
    let (_, action) =
        action.ok_or_else(|| ParseError::new(pointer, ParseReason::MissingElement("Action")))?;
    Ok(Statement {
        sid,
        effect,
        principal: principal.map(|(_, p)| p),
        action,
        resource: resource.map(|(_, r)| r),
        condition,
    })
}

fn set_exclusive<T>(
    slot: &mut Option<(&'static str, T)>,
    name: &'static str,
    value: T,
    pointer: &str,
    pair: (&'static str, &'static str),
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::new(
            pointer,
            ParseReason::Exclusive(pair.0, pair.1),
        ));
    }
    *slot = Some((name, value));
    Ok(())
}

/// A string or an array of strings. `non_empty` names the element when an empty
/// array is an error.
fn parse_values(
    v: &Value,
    pointer: &str,
    non_empty: Option<&'static str>,
) -> Result<Values, ParseError> {
    match v {
        Value::String(s) => Ok(Values::one(s.clone())),
        Value::Array(items) => {
            if items.is_empty() {
                if let Some(name) = non_empty {
                    return Err(ParseError::new(pointer, ParseReason::Empty(name)));
                }
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // The item's pointer is built only for an error.
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => return Err(wrong(&child(pointer, &i.to_string()), "a string", other)),
                }
            }
            Ok(Values::many(out))
        }
        other => Err(wrong(pointer, "a string or an array of strings", other)),
    }
}

fn parse_principal(v: &Value, pointer: &str) -> Result<Principal, ParseError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::String(s) => Ok(Principal::Bare(s.clone())),
        Value::Object(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, values) in map {
                let at = child(pointer, key);
                let kind = PrincipalType::parse(key)
                    .ok_or_else(|| ParseError::new(&at, ParseReason::PrincipalType(key.clone())))?;
                entries.push((kind, parse_values(values, &at, Some("Principal"))?));
            }
            Ok(Principal::Map(entries))
        }
        other => Err(wrong(pointer, "`*` or an object", other)),
    }
}

/// A condition value: AWS accepts numbers and booleans and reads them as strings.
fn condition_scalar(v: &Value, pointer: &str) -> Result<String, ParseError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(wrong(pointer, "a string, number or boolean", other)),
    }
}

fn parse_condition(v: &Value, pointer: &str) -> Result<Vec<ConditionBlock>, ParseError> {
    let map = as_object(v, pointer)?;
    let mut blocks = Vec::with_capacity(map.len());
    for (name, keys) in map {
        let at = child(pointer, name);
        let operator = Operator::parse(name)
            .ok_or_else(|| ParseError::new(&at, ParseReason::Operator(name.clone())))?;
        let keys_map = as_object(keys, &at)?;
        let mut parsed = Vec::with_capacity(keys_map.len());
        for (key, values) in keys_map {
            let key_at = child(&at, key);
            let values = match values {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(condition_scalar(item, &child(&key_at, &i.to_string()))?);
                    }
                    Values::many(out)
                }
                scalar => Values::one(condition_scalar(scalar, &key_at)?),
            };
            parsed.push((key.clone(), values));
        }
        blocks.push(ConditionBlock {
            operator,
            keys: parsed,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(
            child("/Condition", "aws:PrincipalTag/a~b"),
            "/Condition/aws:PrincipalTag~1a~0b"
        );
    }

    #[test]
    fn single_values_and_statements_keep_their_shape() {
        let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*"]}}"#;
        let policy = Policy::parse(text).unwrap();
        assert_eq!(serde_json::to_string(&policy).unwrap(), text);
    }
}
