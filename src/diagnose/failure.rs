//! Stage "read the failure": what AWS said, in the form it said it — a plain
//! access-denied text, an encoded authorization message (decoded by the gatherer with
//! sts:DecodeAuthorizationMessage), an opaque denial that may still name the refused
//! operation, or a failure that is not about permissions (its class, from
//! `data/failure-classes.json`).

use super::evidence::{Evidence, EvidencePart};
use super::facts::{gap_for, Facts};
use super::message;
use super::report::{Failure, FailureKind, Unverified};

/// Reads the failure message; an encoded one that was not decoded is said in
/// `unverified` (every requirement is still checked).
pub fn read(evidence: &Evidence, facts: &Facts, unverified: &mut Vec<Unverified>) -> Failure {
    let (kind, mut denied) = message::classify(facts.message.as_deref());
    if kind == FailureKind::EncodedAuthorization {
        match evidence.decoded_message.as_ref().and_then(message::parse_decoded) {
            Some(d) => denied = Some(d),
            None => unverified.push(Unverified::new(
                EvidencePart::DecodedMessage,
                "the encoded authorization message",
                gap_for(evidence, EvidencePart::DecodedMessage).unwrap_or_else(|| {
                    "it was not decoded (sts:DecodeAuthorizationMessage); every required permission was still checked".into()
                }),
            )),
        }
    }
    // An opaque or undecoded denial may still name the API operation AWS refused.
    if denied.is_none()
        && matches!(
            kind,
            FailureKind::Opaque | FailureKind::EncodedAuthorization
        )
    {
        let prefixes = super::cause::restore_service_prefixes(facts.resource_type.as_deref());
        let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        denied = facts
            .message
            .as_deref()
            .and_then(|m| message::denied_operation(m, &prefixes));
    }
    Failure {
        message: facts.message.clone(),
        kind,
        denied,
        class: super::failure_class::classify(facts.message.as_deref(), kind),
    }
}
