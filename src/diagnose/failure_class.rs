//! AWS failures that are not about permissions (a missing subnet, a name taken, a quota,
//! a disabled key...), recognised from their error codes and texts. The table is data
//! (`data/failure-classes.json`), each entry with the AWS page it comes from, so a new
//! code is a reviewed data change with its source, not a code change.

use std::sync::OnceLock;

use serde::Deserialize;

use super::report::{FailureClass, FailureClassification, FailureKind};

const TABLE_JSON: &str = include_str!("../../data/failure-classes.json");

#[derive(Debug, Deserialize)]
struct Table {
    entries: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    class: FailureClass,
    codes: Vec<String>,
    patterns: Vec<String>,
    guidance: String,
    source: String,
}

fn table() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str::<Table>(TABLE_JSON)
            .map(|t| t.entries)
            .unwrap_or_default()
    })
}

/// Whether `code` occurs in `text` as a whole word: AWS codes carry dots
/// (`InvalidSubnetID.NotFound`), so a word is letters, digits and dots, and
/// `InvalidSubnet` does not match inside `InvalidSubnetID.NotFound`.
fn has_code(text: &str, code: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '.';
    text.match_indices(code).any(|(at, _)| {
        let before = text.get(..at).and_then(|b| b.chars().next_back());
        let after = text.get(at + code.len()..).and_then(|a| a.chars().next());
        // A trailing dot ends a sentence, not a code.
        let after_ok = match after {
            None => true,
            Some('.') => text
                .get(at + code.len() + 1..)
                .and_then(|a| a.chars().next())
                .is_none_or(|c| !c.is_ascii_alphanumeric()),
            Some(c) => !word(c),
        };
        before.is_none_or(|c| !word(c)) && after_ok
    })
}

/// The class of a failure message, when it is one of AWS's non-permission failures.
/// A message that reads as a denial (`kind` access-denied, encoded or opaque) is never
/// classified here: a denial is about permissions, whatever else it says.
pub fn classify(message: Option<&str>, kind: FailureKind) -> Option<FailureClassification> {
    if !matches!(kind, FailureKind::Other) {
        return None;
    }
    let text = message?;
    let lower = text.to_lowercase();
    table().iter().find_map(|e| {
        let matched = e
            .codes
            .iter()
            .find(|c| has_code(text, c))
            .or_else(|| e.patterns.iter().find(|p| lower.contains(p.as_str())))?;
        Some(FailureClassification {
            class: e.class,
            matched: matched.clone(),
            guidance: e.guidance.clone(),
            source: e.source.clone(),
        })
    })
}

/// Every class the table recognises (for the README and the tests).
pub fn classes() -> Vec<FailureClass> {
    let mut out: Vec<FailureClass> = Vec::new();
    for e in table() {
        if !out.contains(&e.class) {
            out.push(e.class);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_loads_and_every_entry_cites_an_aws_page() {
        assert!(table().len() >= 7);
        for e in table() {
            assert!(
                e.source.starts_with("https://docs.aws.amazon.com/"),
                "{}",
                e.source
            );
            assert!(!e.codes.is_empty() || !e.patterns.is_empty());
            assert!(e.patterns.iter().all(|p| *p == p.to_lowercase()));
        }
        assert_eq!(classes().len(), 7, "{:?}", classes());
    }

    #[test]
    fn codes_match_as_whole_words_only() {
        assert!(has_code(
            "An error occurred (InvalidSubnet) when calling",
            "InvalidSubnet"
        ));
        assert!(!has_code(
            "api error InvalidSubnetID.NotFound: x",
            "InvalidSubnet"
        ));
        assert!(has_code(
            "api error InvalidSubnetID.NotFound: x",
            "InvalidSubnetID.NotFound"
        ));
        assert!(has_code("failed: InternalFailure.", "InternalFailure"));
        assert!(!has_code("MyInternalFailureX", "InternalFailure"));
    }

    #[test]
    fn a_denial_is_never_a_failure_class() {
        let msg = "Access Denied: InternalFailure";
        assert!(classify(Some(msg), FailureKind::Opaque).is_none());
        assert!(classify(Some(msg), FailureKind::AccessDenied).is_none());
        assert_eq!(
            classify(Some("InternalFailure"), FailureKind::Other).map(|c| c.class),
            Some(FailureClass::InternalError)
        );
    }
}
