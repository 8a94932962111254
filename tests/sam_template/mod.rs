//! `template.yaml` as the tests see it: read with cfn-lint's own CloudFormation YAML
//! loader (the `!Ref` / `!GetAtt` / `!Sub` tags become `Ref` / `Fn::GetAtt` / `Fn::Sub`
//! objects), from the tools `make setup` installs; the few intrinsic functions the
//! policies use are filled in with the values a deployment would give them.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use restore_doctor::policy::{NamedPolicy, Policy};
use serde_json::{json, Map, Value};

pub const ACCOUNT: &str = "111122223333";
pub const OTHER_ACCOUNT: &str = "444455556666";
pub const REGION: &str = "eu-west-1";
pub const FUNCTION_ROLE: &str = "arn:aws:iam::111122223333:role/restore-doctor-FunctionRole-1A2B3C";
pub const FUNCTION_SESSION: &str =
    "arn:aws:sts::111122223333:assumed-role/restore-doctor-FunctionRole-1A2B3C/restore-doctor";
pub const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:restore-doctor-AlertTopic-4D5E6F";
pub const TOPIC_KEY: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
pub const ALARM_TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:restore-doctor-AlarmTopic-7A8B9C";
pub const OPT_IN_TAG: &str = "restore-doctor:auto-attach";
pub const READINESS_TABLE: &str =
    "arn:aws:dynamodb:eu-west-1:111122223333:table/restore-doctor-ReadinessStateTable-1J2K3L";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the tools `make setup` installs (`RESTORE_DOCTOR_TOOLS`, else `.venv/bin`).
pub fn python() -> PathBuf {
    let dir = std::env::var_os("RESTORE_DOCTOR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin"));
    let path = dir.join("python");
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (installs cfn-lint, whose YAML loader reads the template)",
        path.display()
    );
    path
}

/// `template.yaml` as JSON, intrinsic functions as CloudFormation's JSON form.
pub fn template() -> Value {
    template_file("template.yaml")
}

/// A template of the repository root (`member.yaml`, `organization.yaml`, ...) as JSON.
pub fn template_file(file: &str) -> Value {
    const LOAD: &str = r#"
import json, sys
from cfnlint.decode import decode
template, problems = decode(sys.argv[1])
if problems:
    sys.exit("\n".join(str(p) for p in problems))
print(json.dumps(template))
"#;
    run_python(LOAD, &[root().join(file).as_os_str()])
}

/// The JSON `script` prints, run with `args` by the tools' Python.
fn run_python(script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let r = &template["Resources"][name];
    assert!(r.is_object(), "no resource `{name}` in template.yaml");
    r
}

/// The values a deployment gives `Ref`, `Fn::GetAtt` and `${…}`, and the conditions.
pub struct Deployment {
    pub values: BTreeMap<&'static str, String>,
    pub conditions: BTreeMap<&'static str, bool>,
}

impl Deployment {
    pub fn new(encrypt: bool) -> Self {
        let values = BTreeMap::from([
            ("AWS::AccountId", ACCOUNT.to_owned()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::Region", REGION.to_owned()),
            ("AlertTopic", TOPIC.to_owned()),
            ("AlertTopicKey.Arn", TOPIC_KEY.to_owned()),
            ("FunctionRole.Arn", FUNCTION_ROLE.to_owned()),
            (
                "DeadLetterQueue.Arn",
                format!("arn:aws:sqs:{REGION}:{ACCOUNT}:restore-doctor-DeadLetterQueue"),
            ),
            (
                "FunctionLogGroup.Arn",
                format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:restore-doctor"),
            ),
            ("AutoAttachTag", OPT_IN_TAG.to_owned()),
            ("AlarmTopic", ALARM_TOPIC.to_owned()),
            ("AWS::StackName", "restore-doctor".to_owned()),
            (
                "RestoreDoctorFunction",
                "restore-doctor-RestoreDoctorFunction-7G8H9I".to_owned(),
            ),
            (
                "DeadLetterQueue.QueueName",
                "restore-doctor-DeadLetterQueue".to_owned(),
            ),
            (
                "FunctionLogGroup",
                "restore-doctor-FunctionLogGroup".to_owned(),
            ),
            ("ReadinessStateTable.Arn", READINESS_TABLE.to_owned()),
            (
                "ReadinessStateTable",
                "restore-doctor-ReadinessStateTable-1J2K3L".to_owned(),
            ),
            (
                "RestoreDoctorFunction.Arn",
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:restore-doctor-RestoreDoctorFunction-7G8H9I"),
            ),
        ]);
        let conditions = BTreeMap::from([
            ("EncryptTopic", encrypt),
            ("AutoAttachOn", false),
            ("AutoAttachByPattern", false),
            ("AutoRetryOn", false),
            ("AutoRetryByPattern", false),
            ("TracingOn", false),
            ("CreateAlarmTopic", true),
            ("OrganizationMode", false),
            ("FixInMemberAccounts", false),
            ("ReadOrganizationPolicies", false),
            ("ScheduledReadiness", false),
            ("ChangeChecks", false),
            ("ReadinessOn", false),
            ("HasReadinessRestoreRole", false),
            ("ReadinessInMembers", false),
            ("ChangesInMembers", false),
        ]);
        Deployment { values, conditions }
    }

    pub fn value(&self, name: &str) -> String {
        self.values
            .get(name)
            .unwrap_or_else(|| panic!("the test gives no value to `{name}`"))
            .clone()
    }

    /// A member account's deployment of `member.yaml` or `organization.yaml` (no central
    /// stack values), its account `account`.
    pub fn in_account(account: &str) -> Self {
        Deployment {
            values: BTreeMap::from([
                ("AWS::AccountId", account.to_owned()),
                ("AWS::Partition", "aws".to_owned()),
                ("AWS::Region", REGION.to_owned()),
            ]),
            conditions: BTreeMap::new(),
        }
    }

    /// `value` with its intrinsic functions replaced; `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (k, v) = map.iter().next().unwrap();
                match k.as_str() {
                    "Ref" if v == "AWS::NoValue" => None,
                    "Ref" => Some(json!(self.value(v.as_str().unwrap()))),
                    "Fn::GetAtt" => {
                        let parts: Vec<&str> = v
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| p.as_str().unwrap())
                            .collect();
                        Some(json!(self.value(&parts.join("."))))
                    }
                    "Fn::Sub" => match v {
                        Value::String(text) => Some(json!(self.sub(text))),
                        // `!Sub [text, {name: value}]`: the names given first.
                        Value::Array(parts) => {
                            let [text, names] = parts.as_slice() else {
                                panic!("Fn::Sub takes a text and a map: {v}")
                            };
                            let names = self.resolve(names).unwrap();
                            Some(json!(self.sub_with(
                                text.as_str().unwrap(),
                                names.as_object().unwrap()
                            )))
                        }
                        _ => panic!("Fn::Sub of {v}"),
                    },
                    "Fn::Split" => {
                        let [sep, text] = v.as_array().unwrap().as_slice() else {
                            panic!("Fn::Split takes two arguments: {v}")
                        };
                        let text = self.resolve(text).unwrap();
                        Some(json!(text
                            .as_str()
                            .unwrap()
                            .split(sep.as_str().unwrap())
                            .collect::<Vec<_>>()))
                    }
                    "Fn::Select" => {
                        let [index, list] = v.as_array().unwrap().as_slice() else {
                            panic!("Fn::Select takes two arguments: {v}")
                        };
                        let index = match index {
                            Value::String(i) => i.parse::<usize>().unwrap(),
                            other => other.as_u64().unwrap() as usize,
                        };
                        Some(self.resolve(list).unwrap()[index].clone())
                    }
                    "Fn::If" => {
                        let [cond, yes, no] = v.as_array().unwrap().as_slice() else {
                            panic!("Fn::If takes three arguments: {v}")
                        };
                        let cond = cond.as_str().unwrap();
                        let holds = *self
                            .conditions
                            .get(cond)
                            .unwrap_or_else(|| panic!("the test sets no condition `{cond}`"));
                        self.resolve(if holds { yes } else { no })
                    }
                    _ => Some(Value::Object(self.resolve_map(map))),
                }
            }
            Value::Object(map) => Some(Value::Object(self.resolve_map(map))),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|i| self.resolve(i)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn resolve_map(&self, map: &Map<String, Value>) -> Map<String, Value> {
        map.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
            .collect()
    }

    pub fn sub(&self, text: &str) -> String {
        self.sub_with(text, &Map::new())
    }

    /// `${name}` replaced by `names[name]`, else by the deployment's value.
    fn sub_with(&self, text: &str, names: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = &rest[start + 2..end];
            match names.get(name) {
                Some(value) => out.push_str(value.as_str().unwrap()),
                None => out.push_str(&self.value(name)),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A policy document of the template, parsed: JSON text (`Fn::Sub` of a JSON
    /// document) or YAML structure.
    pub fn policy(&self, name: &str, document: &Value) -> NamedPolicy {
        let resolved = self.resolve(document).unwrap();
        let value = match resolved {
            Value::String(text) => serde_json::from_str(&text).unwrap(),
            other => other,
        };
        NamedPolicy {
            name: name.into(),
            policy: Policy::from_value(&value).unwrap_or_else(|e| panic!("{name}: {e}")),
        }
    }
}

/// The function role's own policies, as deployed.
pub fn function_role_policies(template: &Value, deployment: &Deployment) -> Vec<NamedPolicy> {
    role_policies(template, "FunctionRole", deployment)
}

/// The inline policies of the role resource `role` of `template`, as deployed.
pub fn role_policies(template: &Value, role: &str, deployment: &Deployment) -> Vec<NamedPolicy> {
    resource(template, role)["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| deployment.resolve(p))
        .map(|p| deployment.policy(p["PolicyName"].as_str().unwrap(), &p["PolicyDocument"]))
        .collect()
}

/// The template's conditions as CloudFormation evaluates them for `parameters` (the
/// others at their `Default`, pseudo parameters as `Deployment::new` gives them): the
/// conditions follow from the parameters instead of being set one by one.
pub fn evaluate_conditions(
    template: &Value,
    parameters: &[(&str, &str)],
) -> BTreeMap<String, bool> {
    let mut values: BTreeMap<String, String> = template["Parameters"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, p)| Some((name.clone(), p.get("Default")?.as_str()?.to_owned())))
        .collect();
    for (name, value) in Deployment::new(true).values {
        if name.starts_with("AWS::") {
            values.insert(name.to_owned(), value);
        }
    }
    for (name, value) in parameters {
        assert!(
            template["Parameters"].get(*name).is_some(),
            "no parameter `{name}`"
        );
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    let conditions = template["Conditions"].as_object().unwrap();
    conditions
        .iter()
        .map(|(name, c)| (name.clone(), condition(c, conditions, &values)))
        .collect()
}

fn condition(c: &Value, all: &Map<String, Value>, values: &BTreeMap<String, String>) -> bool {
    let (function, args) = c.as_object().unwrap().iter().next().unwrap();
    let each = || args.as_array().unwrap().iter();
    match function.as_str() {
        "Condition" => condition(&all[args.as_str().unwrap()], all, values),
        "Fn::Not" => !condition(&args[0], all, values),
        "Fn::And" => each().all(|a| condition(a, all, values)),
        "Fn::Or" => each().any(|a| condition(a, all, values)),
        "Fn::Equals" => {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                Value::Object(r) if r.contains_key("Ref") => {
                    values[r["Ref"].as_str().unwrap()].clone()
                }
                other => panic!("Fn::Equals of {other}"),
            };
            text(&args[0]) == text(&args[1])
        }
        other => panic!("condition function {other}"),
    }
}

/// Whether each of `values` is a value CloudFormation takes for a parameter with
/// `pattern` as its `AllowedPattern` (the whole value must match), by Python's `re`:
/// the patterns tested use only anchors, alternation, classes and counted repeats, which
/// every regular expression dialect reads alike.
pub fn allowed_by_pattern(pattern: &str, values: &[&str]) -> Vec<bool> {
    const MATCH: &str = r#"
import json, re, sys
pattern, values = sys.argv[1], json.loads(sys.argv[2])
print(json.dumps([re.fullmatch(pattern, v) is not None for v in values]))
"#;
    let values = serde_json::to_string(values).unwrap();
    serde_json::from_value(run_python(MATCH, &[pattern.as_ref(), values.as_ref()])).unwrap()
}
