//! Who is calling, and whether a `Principal`/`NotPrincipal` element names them.
//!
//! How a resource policy names the caller matters beyond yes or no: naming the account
//! only delegates to the account's IAM policies, and naming a role (rather than one of
//! its sessions) grants to the role, so the role's boundary and session policy still
//! limit it.

use super::arn::Arn;
use super::document::{Principal, PrincipalBlock, PrincipalType};
use super::types::Request;

/// The calling principal, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller<'a> {
    /// An unauthenticated request.
    Anonymous,
    /// An AWS service principal such as `backup.amazonaws.com`.
    Service(&'a str),
    /// An IAM identity (user, role, session, root...).
    Iam(IamCaller<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IamCaller<'a> {
    pub arn: &'a str,
    pub account: &'a str,
    pub kind: IamKind<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IamKind<'a> {
    Root,
    User { name: &'a str },
    Role { name: &'a str, service_linked: bool },
    AssumedRole { role: &'a str },
    FederatedUser,
    Other,
}

impl IamKind<'_> {
    /// Role sessions and federated user sessions: session policies apply to them.
    pub(crate) fn is_session(&self) -> bool {
        matches!(self, IamKind::AssumedRole { .. } | IamKind::FederatedUser)
    }

    /// Value of `aws:PrincipalType`.
    pub(crate) fn principal_type(&self) -> &'static str {
        match self {
            IamKind::Root => "Account",
            IamKind::User { .. } => "User",
            IamKind::Role { .. } | IamKind::AssumedRole { .. } => "AssumedRole",
            IamKind::FederatedUser => "FederatedUser",
            IamKind::Other => "Unknown",
        }
    }

    pub(crate) fn user_name(&self) -> Option<&str> {
        match self {
            IamKind::User { name } => Some(name),
            _ => None,
        }
    }
}

impl<'a> Caller<'a> {
    pub(crate) fn classify(principal: &'a str) -> Caller<'a> {
        if principal.is_empty() || principal == Request::ANONYMOUS {
            return Caller::Anonymous;
        }
        let Some(arn) = Arn::parse(principal) else {
            return Caller::Service(principal);
        };
        let last = |path: &'a str| path.rsplit('/').next().unwrap_or(path);
        let kind = match (arn.service, arn.resource) {
            ("iam", "root") => IamKind::Root,
            ("iam", r) if r.starts_with("user/") => IamKind::User { name: last(r) },
            ("iam", r) if r.starts_with("role/") => IamKind::Role {
                name: last(r),
                service_linked: r.starts_with("role/aws-service-role/"),
            },
            ("sts", r) if r.starts_with("assumed-role/") => {
                let role = r.split('/').nth(1).unwrap_or_default();
                IamKind::AssumedRole { role }
            }
            ("sts", r) if r.starts_with("federated-user/") => IamKind::FederatedUser,
            _ => IamKind::Other,
        };
        Caller::Iam(IamCaller {
            arn: principal,
            account: arn.account,
            kind,
        })
    }

    pub(crate) fn account(&self) -> Option<&'a str> {
        match self {
            Caller::Iam(p) => Some(p.account),
            _ => None,
        }
    }

    pub(crate) fn is_service_linked_role(&self) -> bool {
        matches!(
            self,
            Caller::Iam(IamCaller {
                kind: IamKind::Role {
                    service_linked: true,
                    ..
                },
                ..
            })
        )
    }
}

/// How a principal element named the caller, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) enum Named {
    /// Not named.
    #[default]
    No,
    /// Through its account (`123456789012` or `arn:aws:iam::123456789012:root`):
    /// delegates to the account's IAM policies.
    Account,
    /// Through the role whose session is calling: the grant goes to the role, so its
    /// boundary and session policy still limit it.
    Role,
    /// The caller itself, or everyone (`*`).
    Directly,
}

/// How the statement's principal element names the caller. A statement without one
/// names nobody; `NotPrincipal` names everyone it does not list.
pub(crate) fn names(block: Option<&PrincipalBlock>, caller: &Caller<'_>) -> Named {
    match block {
        None => Named::No,
        Some(PrincipalBlock::Principal(p)) => principal_names(p, caller),
        Some(PrincipalBlock::NotPrincipal(p)) => {
            if principal_names(p, caller) == Named::No {
                Named::Directly
            } else {
                Named::No
            }
        }
    }
}

fn principal_names(p: &Principal, caller: &Caller<'_>) -> Named {
    match p {
        Principal::Any => Named::Directly,
        Principal::Bare(value) => aws_value_names(value, caller),
        Principal::Map(entries) => entries
            .iter()
            .flat_map(|(kind, values)| values.iter().map(move |v| (*kind, v)))
            .map(|(kind, value)| match kind {
                PrincipalType::Aws => aws_value_names(value, caller),
                PrincipalType::Service => match caller {
                    Caller::Service(name) if name.eq_ignore_ascii_case(value) => Named::Directly,
                    _ => Named::No,
                },
                PrincipalType::Federated | PrincipalType::CanonicalUser => match caller {
                    Caller::Service(name) if *name == value => Named::Directly,
                    Caller::Iam(c) if c.arn == value => Named::Directly,
                    _ => Named::No,
                },
            })
            .max()
            .unwrap_or(Named::No),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// One value of an `AWS` principal against the caller.
fn aws_value_names(value: &str, caller: &Caller<'_>) -> Named {
    if value == "*" {
        return Named::Directly;
    }
    let Caller::Iam(c) = caller else {
        return Named::No;
    };
    // A role's own ARN grants to the role, not directly to whoever uses it.
    if value == c.arn && !matches!(c.kind, IamKind::Role { .. }) {
        return Named::Directly;
    }
    if is_account_id(value) {
        return if value == c.account {
            Named::Account
        } else {
            Named::No
        };
    }
    let Some(arn) = Arn::parse(value) else {
        return Named::No;
    };
    if arn.service != "iam" || arn.account != c.account {
        return Named::No;
    }
    if arn.resource == "root" {
        return Named::Account;
    }
    if let (Some(path), IamKind::Role { .. } | IamKind::AssumedRole { .. }) =
        (arn.resource.strip_prefix("role/"), c.kind)
    {
        let role_name = path.rsplit('/').next().unwrap_or(path);
        let caller_role = match c.kind {
            IamKind::Role { name, .. } => name,
            IamKind::AssumedRole { role } => role,
            _ => "",
        };
        if role_name == caller_role {
            return Named::Role;
        }
    }
    Named::No
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::Values;

    fn aws(v: &str) -> Principal {
        Principal::Map(vec![(PrincipalType::Aws, Values::one(v))])
    }

    #[test]
    fn callers_are_classified() {
        let cases = [
            ("anonymous", "anonymous"),
            ("backup.amazonaws.com", "service"),
            ("arn:aws:iam::111122223333:root", "root"),
            ("arn:aws:iam::111122223333:user/a/b", "user b"),
            ("arn:aws:iam::111122223333:role/p/r", "role r"),
            ("arn:aws:sts::111122223333:assumed-role/r/s", "session of r"),
        ];
        for (arn, want) in cases {
            let got = match Caller::classify(arn) {
                Caller::Anonymous => "anonymous".to_owned(),
                Caller::Service(_) => "service".to_owned(),
                Caller::Iam(c) => match c.kind {
                    IamKind::Root => "root".to_owned(),
                    IamKind::User { name } => format!("user {name}"),
                    IamKind::Role { name, .. } => format!("role {name}"),
                    IamKind::AssumedRole { role } => format!("session of {role}"),
                    _ => "other".to_owned(),
                },
            };
            assert_eq!(got, want, "{arn}");
        }
    }

    #[test]
    fn how_principals_name_callers() {
        let session = Caller::classify("arn:aws:sts::111122223333:assumed-role/r/s");
        let user = Caller::classify("arn:aws:iam::111122223333:user/u");
        let cases = [
            (aws("*"), session, Named::Directly),
            (aws("111122223333"), session, Named::Account),
            (aws("arn:aws:iam::111122223333:root"), user, Named::Account),
            (aws("arn:aws:iam::444455556666:root"), user, Named::No),
            (
                aws("arn:aws:iam::111122223333:role/path/r"),
                session,
                Named::Role,
            ),
            (
                aws("arn:aws:sts::111122223333:assumed-role/r/s"),
                session,
                Named::Directly,
            ),
            (
                aws("arn:aws:sts::111122223333:assumed-role/r/other"),
                session,
                Named::No,
            ),
            (
                aws("arn:aws:iam::111122223333:user/u"),
                user,
                Named::Directly,
            ),
            (
                aws("arn:aws:iam::111122223333:role/p/r"),
                Caller::classify("arn:aws:iam::111122223333:role/p/r"),
                Named::Role,
            ),
            (
                aws("arn:aws:iam::111122223333:user/u"),
                Caller::Anonymous,
                Named::No,
            ),
            (Principal::Any, Caller::Anonymous, Named::Directly),
        ];
        for (principal, caller, want) in cases {
            assert_eq!(
                principal_names(&principal, &caller),
                want,
                "{principal:?} {caller:?}"
            );
        }
    }
}
