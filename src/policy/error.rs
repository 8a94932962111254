//! Why a policy document was rejected, and where; and why a request could not be
//! decided.

use thiserror::Error;

/// A policy document that AWS would reject: the place (a JSON pointer such as
/// `/Statement/1/Effect`, empty for the whole document) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid policy{}: {reason}", location(.pointer))]
pub struct ParseError {
    /// JSON pointer (RFC 6901) to the offending value; empty for the document itself.
    pub pointer: String,
    pub reason: ParseReason,
}

fn location(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" at `{pointer}`")
    }
}

/// What is wrong at [`ParseError::pointer`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseReason {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("unknown element `{0}`")]
    UnknownElement(String),
    #[error("missing element `{0}`")]
    MissingElement(&'static str),
    #[error("`{0}` and `{1}` cannot both appear in one statement")]
    Exclusive(&'static str, &'static str),
    #[error("unsupported version `{0}`: expected `2012-10-17` or `2008-10-17`")]
    Version(String),
    #[error("invalid effect `{0}`: expected `Allow` or `Deny`")]
    Effect(String),
    #[error(
        "unknown principal type `{0}`: expected `AWS`, `Service`, `Federated` or `CanonicalUser`"
    )]
    PrincipalType(String),
    #[error("unknown condition operator `{0}`")]
    Operator(String),
    #[error("`{0}` needs at least one value")]
    Empty(&'static str),
    #[error(
        "the policy is larger than AWS accepts: more than {max} characters without white space"
    )]
    TooLarge { max: usize },
}

/// A request the evaluator refused to decide. It is not a Deny: the caller must report
/// the request as unverified (the diagnosis does) or fail (`simulate` does).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    #[error("the request's {field} is {len} characters long, more than the {max} AWS accepts")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the request carries {count} context keys, more than the {max} evaluated")]
    TooManyContextKeys { count: usize, max: usize },
    #[error("context key `{}` has {count} values, more than the {max} evaluated", crate::policy::limits::shown(.key))]
    TooManyContextValues {
        key: String,
        count: usize,
        max: usize,
    },
    #[error("deciding this request needs more than {max} matching steps (long wildcard patterns or policy-variable expansions, or many condition values against many request values); it was not decided")]
    TooComplex { max: u64 },
}

impl ParseError {
    pub(crate) fn new(pointer: &str, reason: ParseReason) -> Self {
        ParseError {
            pointer: pointer.to_owned(),
            reason,
        }
    }
}
