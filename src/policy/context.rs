//! The request context as conditions and variables see it: keys compared
//! case-insensitively, plus the keys AWS always sets from the request itself; and the
//! evaluation's matching budget, which travels with it to every comparison.
//!
//! Keys are kept sorted (ASCII case folded) so that a policy testing thousands of
//! keys against a request carrying a thousand costs a binary search each, not a scan.

use std::cell::Cell;
use std::cmp::Ordering;

use super::limits::MAX_MATCH_STEPS;
use super::principal::Caller;
use super::types::Request;
use super::wildcard::Budget;

/// Context keys AWS derives from who calls and which resource is addressed.
const PRINCIPAL_ARN: &str = "aws:PrincipalArn";
const PRINCIPAL_ACCOUNT: &str = "aws:PrincipalAccount";
const PRINCIPAL_TYPE: &str = "aws:PrincipalType";
const USERNAME: &str = "aws:username";
const RESOURCE_ACCOUNT: &str = "aws:ResourceAccount";
const IS_AWS_SERVICE: &str = "aws:PrincipalIsAWSService";
const SERVICE_NAME: &str = "aws:PrincipalServiceName";

/// Read-only view of the request context.
pub(crate) struct Context<'a> {
    /// Sorted by [`fold_cmp`]; among keys equal but for case, in the request's order.
    given: Vec<(&'a str, &'a [String])>,
    derived: Vec<(&'static str, [String; 1])>,
    budget: Budget,
    /// While set, every key the request lacks is taken to make its test come out this
    /// way: how the evaluator asks whether a statement hinges on unknown context.
    assumed: Cell<Option<bool>>,
}

/// Orders keys as AWS compares them: ASCII case ignored.
fn fold_cmp(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

impl<'a> Context<'a> {
    pub(crate) fn new(request: &'a Request, caller: &Caller<'a>, resource_account: &str) -> Self {
        let mut given: Vec<(&'a str, &'a [String])> = request
            .context
            .iter()
            .map(|(k, v)| {
                let values: &[String] = match v {
                    super::types::ContextValue::One(s) => std::slice::from_ref(s),
                    super::types::ContextValue::Many(vs) => vs.as_slice(),
                };
                (k.as_str(), values)
            })
            .collect();
        // Stable: the first of keys equal but for case keeps winning.
        given.sort_by(|a, b| fold_cmp(a.0, b.0));
        let mut ctx = Context {
            given,
            derived: Vec::new(),
            budget: Budget::new(MAX_MATCH_STEPS),
            assumed: Cell::new(None),
        };
        match caller {
            Caller::Anonymous => ctx.derive(PRINCIPAL_TYPE, "Anonymous"),
            Caller::Service(name) => {
                ctx.derive(IS_AWS_SERVICE, "true");
                ctx.derive(SERVICE_NAME, name);
            }
            Caller::Iam(p) => {
                ctx.derive(IS_AWS_SERVICE, "false");
                ctx.derive(PRINCIPAL_ACCOUNT, p.account);
                ctx.derive(PRINCIPAL_TYPE, p.kind.principal_type());
                if !p.kind.is_session() {
                    ctx.derive(PRINCIPAL_ARN, p.arn);
                }
                if let Some(name) = p.kind.user_name() {
                    ctx.derive(USERNAME, name);
                }
            }
        }
        if !resource_account.is_empty() {
            ctx.derive(RESOURCE_ACCOUNT, resource_account);
        }
        ctx
    }

    fn derive(&mut self, key: &'static str, value: &str) {
        if self.given_values(key).is_none() {
            self.derived.push((key, [value.to_owned()]));
        }
    }

    fn given_values(&self, key: &str) -> Option<&'a [String]> {
        let at = self
            .given
            .partition_point(|(k, _)| fold_cmp(k, key) == Ordering::Less);
        self.given
            .get(at)
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    /// The matching budget of this evaluation.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// How a test of an absent key comes out: `None` by AWS's rules for absent keys.
    pub(crate) fn assumed(&self) -> Option<bool> {
        self.assumed.get()
    }

    /// Sets (or, with `None`, clears) the outcome of tests of absent keys.
    pub(crate) fn assume(&self, outcome: Option<bool>) {
        self.assumed.set(outcome);
    }

    /// The values of a key; `None` when the request does not carry it.
    pub(crate) fn get(&self, key: &str) -> Option<&[String]> {
        self.given_values(key).or_else(|| {
            self.derived
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_slice())
        })
    }
}
