//! Reading a failure message: AWS's encoded authorization messages (decoded by
//! sts:DecodeAuthorizationMessage), its plain access-denied sentences, and the opaque
//! ones that name nothing.

use serde_json::Value;

use super::report::{DeniedRequest, FailureKind};

/// The marker AWS puts before the encoded token ("Encoded authorization failure
/// message:"), lower-cased: it is found without regard to case.
const ENCODED_MARKER: &str = "encoded authorization failure message:";

/// Phrases that say "permissions" without naming what is missing.
const OPAQUE_PHRASES: &[&str] = &[
    "insufficient privileges",
    "access denied",
    "accessdenied",
    "not authorized to perform this operation",
    "you are not authorized",
    "unauthorizedoperation",
    "does not have permission",
    "do not have permission",
    "is not authorized",
    "authorization failure",
];

/// Classifies a failure message. Messages that name the denied request come back with it.
pub fn classify(message: Option<&str>) -> (FailureKind, Option<DeniedRequest>) {
    let Some(text) = message.map(str::trim).filter(|t| !t.is_empty()) else {
        return (FailureKind::None, None);
    };
    if encoded_token(text).is_some() {
        return (FailureKind::EncodedAuthorization, None);
    }
    if let Some(denied) = parse_access_denied(text) {
        return (FailureKind::AccessDenied, Some(denied));
    }
    let lower = text.to_ascii_lowercase();
    if OPAQUE_PHRASES.iter().any(|p| lower.contains(p)) {
        return (FailureKind::Opaque, None);
    }
    (FailureKind::Other, None)
}

/// The encoded token after "Encoded authorization failure message:", if present.
pub fn encoded_token(text: &str) -> Option<&str> {
    // ASCII lower-casing keeps every byte offset, so `at` indexes `text` too.
    let at = text.to_ascii_lowercase().find(ENCODED_MARKER)? + ENCODED_MARKER.len();
    let token = text.get(at..)?.split_whitespace().next()?;
    let token = token
        .trim_start_matches(['"', '\'', '('])
        .trim_end_matches(['.', ',', ';', ')', '"', '\'']);
    (!token.is_empty() && token != "<omitted>").then_some(token)
}

/// Parses "User: X is not authorized to perform: A on resource: R because ..." (and the
/// variants without a resource, without a space after `User:`, or with "with an explicit
/// deny in a ... policy").
pub fn parse_access_denied(text: &str) -> Option<DeniedRequest> {
    const PERFORM: &str = "is not authorized to perform:";
    let perform_at = text.find(PERFORM)?;
    let before = text.get(..perform_at)?;
    let principal = before
        .rfind("User:")
        .and_then(|i| before.get(i + "User:".len()..))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let after = text.get(perform_at + PERFORM.len()..)?.trim_start();
    let action_end = after
        .find(|c: char| c.is_whitespace())
        .unwrap_or(after.len());
    let action = after
        .get(..action_end)?
        .trim_end_matches(['.', ','])
        .to_string();
    if !action.contains(':') {
        return None;
    }
    let rest = after.get(action_end..).unwrap_or("");
    let resource = rest.find("on resource:").and_then(|i| {
        let r = rest.get(i + "on resource:".len()..)?.trim_start();
        let end = r.find(|c: char| c.is_whitespace()).unwrap_or(r.len());
        Some(r.get(..end)?.trim_end_matches(['.', ',']).to_string())
    });
    let lower = rest.to_ascii_lowercase();
    let (explicit_deny, policy_type) = if let Some(i) = lower.find("with an explicit deny in") {
        let phrase = lower
            .get(i + "with an explicit deny in".len()..)
            .unwrap_or("");
        (Some(true), policy_type_of(phrase))
    } else if let Some(i) = lower.find("because no ") {
        let phrase = lower.get(i + "because no ".len()..).unwrap_or("");
        (Some(false), policy_type_of(phrase))
    } else {
        (None, None)
    };
    Some(DeniedRequest {
        principal,
        action,
        resource,
        explicit_deny,
        policy_type,
        matched_statements: vec![],
        operation: None,
    })
}

/// Maps the policy words of an access-denied sentence to our layer words.
fn policy_type_of(phrase: &str) -> Option<String> {
    let phrase = phrase.trim_start_matches(" a ").trim_start_matches(" an ");
    let known = [
        ("identity-based", "identity-based policy"),
        ("resource-based", "resource-based policy"),
        ("service control", "service control policy"),
        ("resource control", "resource control policy"),
        ("permissions boundary", "permissions boundary"),
        ("session policy", "session policy"),
        ("vpc endpoint", "VPC endpoint policy"),
    ];
    known
        .iter()
        .find(|(needle, _)| phrase.contains(needle))
        .map(|(_, name)| (*name).to_string())
}

/// Reads the `DecodedMessage` of sts:DecodeAuthorizationMessage. Tolerates an action
/// without its service prefix (seen in real messages: `RunInstances`) by taking the
/// service from the resource ARN.
pub fn parse_decoded(decoded: &Value) -> Option<DeniedRequest> {
    // The STS response carries the decoded JSON as a string; accept either form.
    let owned;
    let decoded = match decoded {
        Value::String(s) => {
            owned = serde_json::from_str::<Value>(s).ok()?;
            &owned
        }
        other => other,
    };
    let context = decoded.get("context")?;
    let resource = context
        .get("resource")
        .and_then(Value::as_str)
        .map(str::to_string);
    let raw_action = context.get("action").and_then(Value::as_str)?;
    let action = if raw_action.contains(':') {
        raw_action.to_string()
    } else {
        let service = resource
            .as_deref()
            .and_then(|r| r.split(':').nth(2))
            .filter(|s| !s.is_empty())?;
        format!("{service}:{raw_action}")
    };
    let principal = context
        .get("principal")
        .and_then(|p| p.get("arn"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let explicit_deny = decoded.get("explicitDeny").and_then(Value::as_bool);
    let matched_statements = decoded
        .pointer("/matchedStatements/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("statementId").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some(DeniedRequest {
        principal,
        action,
        resource,
        explicit_deny,
        policy_type: None,
        matched_statements,
        operation: None,
    })
}

/// The API operation a message names: "... when calling the RestoreFromClusterSnapshot
/// operation: ..." (the form of botocore and the AWS CLI, which AWS Backup passes on).
/// Only a plausible operation name (ASCII letters and digits, starting with a capital)
/// comes back.
pub fn operation_named(text: &str) -> Option<&str> {
    const BEFORE: &str = "when calling the ";
    const AFTER: &str = " operation";
    let start = text.find(BEFORE)? + BEFORE.len();
    let rest = text.get(start..)?;
    let name = rest.get(..rest.find(AFTER)?)?;
    let valid = (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then_some(name)
}

/// The denied request an opaque or undecoded denial names only by its operation: the
/// action is looked up among the restore's own services (`service_prefixes`) and the
/// generic ones, and is `None` when the name is unknown or ambiguous there (never
/// guessed). The principal and resource stay unknown.
pub fn denied_operation(text: &str, service_prefixes: &[&str]) -> Option<DeniedRequest> {
    let operation = operation_named(text)?;
    match super::operations::action_for(operation, service_prefixes) {
        super::operations::Lookup::Action(action) => Some(DeniedRequest {
            principal: None,
            action,
            resource: None,
            explicit_deny: None,
            policy_type: None,
            matched_statements: vec![],
            operation: Some(operation.to_string()),
        }),
        _ => None,
    }
}

/// The condition keys and values the decoded message lists for the request (e.g.
/// `aws:Region`), which become context for re-evaluating it.
pub fn decoded_context(decoded: &Value) -> Vec<(String, Vec<String>)> {
    let owned;
    let decoded = match decoded {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                owned = v;
                &owned
            }
            Err(_) => return vec![],
        },
        other => other,
    };
    let items = decoded
        .pointer("/context/conditions/items")
        .and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let key = item.get("key")?.as_str()?.to_string();
            let values = item
                .pointer("/values/items")?
                .as_array()?
                .iter()
                .filter_map(|v| v.get("value").and_then(Value::as_str).map(str::to_string))
                .collect();
            Some((key, values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_message_is_recognised_and_token_extracted() {
        let msg = "You are not authorized to perform this operation. Please consult the permissions associated with your AWS Backup role(s), and refer to the AWS Backup documentation for more details. Encoded authorization failure message: AbC-123_xyz";
        assert_eq!(classify(Some(msg)).0, FailureKind::EncodedAuthorization);
        assert_eq!(encoded_token(msg), Some("AbC-123_xyz"));
        // The marker in another case, the token quoted: the same token.
        let msg = "ENCODED AUTHORIZATION FAILURE MESSAGE: \"AbC-123_xyz\";";
        assert_eq!(encoded_token(msg), Some("AbC-123_xyz"));
    }

    #[test]
    fn omitted_token_is_not_a_token() {
        let msg = "Encoded authorization failure message: <omitted>";
        assert_eq!(encoded_token(msg), None);
        assert_eq!(classify(Some(msg)).0, FailureKind::Opaque);
    }

    #[test]
    fn implicit_access_denied_sentence() {
        let msg = "User: arn:aws:iam::111122223333:user/ops is not authorized to perform: backup:StartRestoreJob on resource: arn:aws:backup:eu-west-2:111122223333:recovery-point:ef63 because no identity-based policy allows the backup:StartRestoreJob action";
        let (kind, denied) = classify(Some(msg));
        assert_eq!(kind, FailureKind::AccessDenied);
        let d = denied.unwrap();
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:iam::111122223333:user/ops")
        );
        assert_eq!(d.action, "backup:StartRestoreJob");
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:backup:eu-west-2:111122223333:recovery-point:ef63")
        );
        assert_eq!(d.explicit_deny, Some(false));
        assert_eq!(d.policy_type.as_deref(), Some("identity-based policy"));
    }

    #[test]
    fn explicit_deny_sentence_names_the_policy_type() {
        let msg = "User:arn:aws:sts::111122223333:assumed-role/Ops/me is not authorized to perform: backup:StartRestoreJob on resource: arn:aws:backup:us-east-1:111122223333:recovery-point:abc with an explicit deny in a resource-based policy";
        let d = parse_access_denied(msg).unwrap();
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Ops/me")
        );
        assert_eq!(d.explicit_deny, Some(true));
        assert_eq!(d.policy_type.as_deref(), Some("resource-based policy"));
        let scp = msg.replace("a resource-based policy", "a service control policy");
        assert_eq!(
            parse_access_denied(&scp).unwrap().policy_type.as_deref(),
            Some("service control policy")
        );
    }

    #[test]
    fn sentence_without_resource() {
        let msg = "User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole because no identity-based policy allows the iam:PassRole action";
        let d = parse_access_denied(msg).unwrap();
        assert_eq!(d.action, "iam:PassRole");
        assert_eq!(d.resource, None);
    }

    #[test]
    fn opaque_and_other_messages() {
        assert_eq!(
            classify(Some("Insufficient privileges to perform this action.")).0,
            FailureKind::Opaque
        );
        assert_eq!(classify(Some("Access Denied")).0, FailureKind::Opaque);
        assert_eq!(
            classify(Some(
                "AWS Backup does not permit attaching a new instance profile to an EC2 instance."
            ))
            .0,
            FailureKind::Other
        );
        assert_eq!(classify(Some("  ")).0, FailureKind::None);
        assert_eq!(classify(None).0, FailureKind::None);
    }

    #[test]
    fn decoded_message_string_form_with_prefixless_action() {
        let decoded = Value::String(r#"{"allowed":false,"explicitDeny":true,"context":{"principal":{"id":"AIDA","arn":"arn:aws:iam::633154839293:user/x"},"action":"RunInstances","resource":"arn:aws:ec2:eu-north-1:633154839293:instance/*","conditions":{"items":[{"key":"ec2:InstanceType","values":{"items":[{"value":"t3.medium"}]}}]}}}"#.into());
        let d = parse_decoded(&decoded).unwrap();
        assert_eq!(d.action, "ec2:RunInstances");
        assert_eq!(d.explicit_deny, Some(true));
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:iam::633154839293:user/x")
        );
        assert_eq!(
            decoded_context(&decoded),
            vec![(
                "ec2:InstanceType".to_string(),
                vec!["t3.medium".to_string()]
            )]
        );
    }

    #[test]
    fn operation_name_is_read_from_the_sdk_error_form() {
        // aws/redshift-test-drive#120.
        let msg = "An error occurred (UnauthorizedOperation) when calling the RestoreFromClusterSnapshot operation: Access Denied. Please ensure that your IAM Permissions allow this operation.";
        assert_eq!(operation_named(msg), Some("RestoreFromClusterSnapshot"));
        assert_eq!(classify(Some(msg)).0, FailureKind::Opaque);
        let d = denied_operation(msg, &["redshift"]).unwrap();
        assert_eq!(d.action, "redshift:RestoreFromClusterSnapshot");
        assert_eq!(d.operation.as_deref(), Some("RestoreFromClusterSnapshot"));
        assert_eq!(d.principal, None);
        assert_eq!(d.resource, None);
        // Not a service of this restore: nothing is guessed.
        assert!(denied_operation(msg, &["dynamodb"]).is_none());
    }

    #[test]
    fn implausible_operation_names_are_ignored() {
        assert_eq!(operation_named("when calling the  operation"), None);
        assert_eq!(
            operation_named("when calling the Restore`x operation: Access Denied"),
            None
        );
        assert_eq!(
            operation_named("when calling the restoreThing operation"),
            None
        );
        assert_eq!(operation_named("Access Denied"), None);
    }

    #[test]
    fn decoded_message_garbage_is_none_not_panic() {
        assert!(parse_decoded(&Value::String("{not json".into())).is_none());
        assert!(parse_decoded(&serde_json::json!({"context": 3})).is_none());
        assert!(parse_decoded(&serde_json::json!({"context": {"action": "X"}})).is_none());
        assert!(decoded_context(&Value::Null).is_empty());
    }
}
