//! The request context as conditions and variables see it: keys compared
//! case-insensitively, plus the keys AWS always sets from the request itself.

use super::principal::Caller;
use super::types::Request;

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
    given: Vec<(&'a str, &'a [String])>,
    derived: Vec<(&'static str, [String; 1])>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(request: &'a Request, caller: &Caller<'a>, resource_account: &str) -> Self {
        let given = request
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
        let mut ctx = Context {
            given,
            derived: Vec::new(),
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
        if !self.given.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            self.derived.push((key, [value.to_owned()]));
        }
    }

    /// The values of a key; `None` when the request does not carry it.
    pub(crate) fn get(&self, key: &str) -> Option<&[String]> {
        self.given
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
            .or_else(|| {
                self.derived
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.as_slice())
            })
    }
}
