//! `restore-doctor readiness`: would every protected resource of the account and Region
//! restore now, with the role that would be used? One row per resource and vault:
//! ready / not ready (findings, verified patch) / not verifiable (gaps). Exit 2 when any
//! resource is not ready, 0 when none is, 1 on error.
//!
//! With `--account ID` (repeatable), the accounts of an organization instead: each one
//! through its reader role (member.yaml's `RestoreDoctorReader`, `--reader-role` when
//! renamed), assumed with the caller's credentials; the caller's own account, if listed,
//! with its own. One table per account; an account whose role cannot be assumed is
//! reported as not verifiable with the fix, and the others are still checked.

use clap::ValueEnum;

use crate::diagnose::readiness::{
    ReadinessAccounts, ReadinessRun, RestoreRoles, Verdict, READINESS_SCHEMA_VERSION,
};
use crate::diagnose::validated::{is_account_id, shown, RoleArn};
use crate::event::sanitize;
use crate::render::readiness::{readiness_markdown, readiness_text};

use super::live::{Connection, LiveError};
use super::{EXIT_FINDINGS, EXIT_OK};

/// How to print the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReadinessFormat {
    /// A table for a terminal, then what is not ready and why.
    #[default]
    Text,
    /// The readiness document (`schemaVersion`, `resources`, `gaps`), each resource with
    /// its full report.
    Json,
    /// A Markdown table and details, for a ticket or a wiki page.
    Markdown,
}

/// The roles given with `--restore-role`: `ARN` for every type, `TYPE=ARN` for one.
pub type Roles = RestoreRoles;

/// What `readiness` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: Connection,
    pub roles: Roles,
    pub format: ReadinessFormat,
    /// Which accounts to check.
    pub accounts: Accounts,
    /// `--reader-role`: the name of the role assumed in each account.
    pub reader_role: String,
}

/// The accounts `readiness` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// `--account`: validated and without repeats; empty: the caller's own account only.
    Listed(Vec<String>),
    /// `--organization`: every active account of the caller's organization.
    Organization,
}

/// The name member.yaml gives the reader role in every member account.
pub const DEFAULT_READER_ROLE: &str = "RestoreDoctorReader";

/// What a run checked: the caller's account alone (the one-account document), or the
/// accounts `--account` named, in that order.
#[derive(Debug, Clone)]
pub enum Checked {
    One(ReadinessRun),
    Accounts(Vec<ReadinessRun>),
}

impl Checked {
    fn runs(&self) -> &[ReadinessRun] {
        match self {
            Checked::One(run) => std::slice::from_ref(run),
            Checked::Accounts(runs) => runs,
        }
    }
}

/// Errors of the `readiness` command.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error("`--restore-role {value}`: {why}")]
    Role { value: String, why: String },
    #[error("`--account {value}`: an AWS account id is 12 digits")]
    Account { value: String },
    #[error("`--reader-role {value}`: an IAM role name is 1 to 64 letters, digits or `_+=,.@-`")]
    ReaderRole { value: String },
    #[error("`--organization`: {why}. Run it with credentials of the management account or a delegated administrator, or name the accounts with --account")]
    Organization { why: String },
    #[error(transparent)]
    Live(#[from] LiveError),
}

/// Reads the `--restore-role` values: `arn:aws:iam::…:role/…` for every resource type,
/// `EFS=arn:…` for one (given twice for the same type, or two without a type, is an error).
pub fn parse_roles(values: &[String]) -> Result<Roles, ReadinessError> {
    let mut roles = Roles::default();
    for value in values {
        let bad = |why: String| ReadinessError::Role {
            value: shown(value),
            why,
        };
        let (kind, arn) = match value.split_once('=') {
            Some((t, arn)) if !t.starts_with("arn:") => (Some(t.trim()), arn.trim()),
            _ => (None, value.trim()),
        };
        let role = RoleArn::parse(arn).map_err(|e| bad(e.why))?;
        match kind {
            Some(t) if !sanitize::is_resource_type(t) || t.is_empty() => {
                return Err(bad(format!(
                    "`{}` is not an AWS Backup resource type (EFS, EBS, RDS, …)",
                    shown(t)
                )))
            }
            Some(t) => {
                if roles.by_type.insert(t.to_owned(), role).is_some() {
                    return Err(bad(format!("a role for `{t}` was already given")));
                }
            }
            None => {
                if roles.default.replace(role).is_some() {
                    return Err(bad("a role for every type was already given".into()));
                }
            }
        }
    }
    Ok(roles)
}

/// Reads the `--account` values: 12-digit account ids, a repeat dropped (the order kept).
pub fn parse_accounts(values: &[String]) -> Result<Vec<String>, ReadinessError> {
    let mut accounts: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let id = value.trim();
        if !is_account_id(id) {
            return Err(ReadinessError::Account {
                value: shown(value),
            });
        }
        if !accounts.iter().any(|a| a == id) {
            accounts.push(id.to_owned());
        }
    }
    Ok(accounts)
}

/// Reads `--reader-role`: an IAM role name ("[\w+=,.@-]+", 1 to 64 characters, IAM API
/// reference, CreateRole,
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html>), since it
/// goes into the role ARN assumed in every account.
pub fn parse_reader_role(value: &str) -> Result<String, ReadinessError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ReadinessError::ReaderRole {
            value: shown(value),
        })
    }
}

/// The exit code of a run: 2 when any resource of any account is not ready.
pub fn exit_code(checked: &Checked) -> i32 {
    let not_ready = checked
        .runs()
        .iter()
        .flat_map(|run| run.resources.iter())
        .any(|r| r.verdict == Verdict::NotReady);
    if not_ready {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// The run as the format asks: the one-account document as it always was; for
/// `--account`, one table per account (each headed by its account), or in JSON
/// `{"schemaVersion", "accounts": [run, …]}`.
pub fn render(checked: &Checked, format: ReadinessFormat) -> String {
    let json = |value: Result<String, serde_json::Error>| {
        let mut s = value.unwrap_or_default();
        s.push('\n');
        s
    };
    match (checked, format) {
        (Checked::One(run), ReadinessFormat::Json) => json(serde_json::to_string_pretty(run)),
        (Checked::Accounts(runs), ReadinessFormat::Json) => {
            json(serde_json::to_string_pretty(&ReadinessAccounts {
                schema_version: READINESS_SCHEMA_VERSION,
                accounts: runs.clone(),
            }))
        }
        (checked, ReadinessFormat::Text) => join(checked.runs(), readiness_text),
        (checked, ReadinessFormat::Markdown) => join(checked.runs(), readiness_markdown),
    }
}

/// Each account's rendering, a blank line apart.
fn join(runs: &[ReadinessRun], one: fn(&ReadinessRun) -> String) -> String {
    runs.iter().map(one).collect::<Vec<_>>().join("\n")
}

/// Runs the readiness check live and returns what to print and the exit code.
pub fn run(settings: &Settings) -> Result<(String, i32), ReadinessError> {
    let checked = live(settings)?;
    Ok((render(&checked, settings.format), exit_code(&checked)))
}

#[cfg(not(feature = "aws"))]
fn live(_settings: &Settings) -> Result<Checked, ReadinessError> {
    Err(LiveError::NoAws("`readiness`").into())
}

#[cfg(feature = "aws")]
fn live(settings: &Settings) -> Result<Checked, ReadinessError> {
    use crate::aws::accounts::MemberAccounts;
    use crate::aws::config::{EndpointOverrides, OrganizationSettings};
    use crate::aws::{config, live, readiness, Clients};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    let c = &settings.connection;
    runtime.block_on(async {
        let sdk = config::load_cli_sdk_config(c.profile.as_deref(), c.region.as_deref()).await;
        let region = live::region(&sdk).map_err(LiveError::from)?;
        live::check_credentials(&sdk)
            .await
            .map_err(LiveError::from)?;
        let clients = Clients::new(&sdk);
        let (account, partition) = live::caller(&clients).await.map_err(LiveError::from)?;
        let accounts = match &settings.accounts {
            Accounts::Listed(a) => a.clone(),
            Accounts::Organization => {
                let client = aws_sdk_organizations::Client::new(&sdk);
                crate::aws::organizations::active_accounts(&client)
                    .await
                    .map_err(|why| ReadinessError::Organization { why })?
            }
        };
        if accounts.is_empty() {
            eprintln!(
                "restore-doctor: checking restore readiness in account {account}, Region {region}"
            );
            return Ok(Checked::One(
                readiness::readiness(&clients, &account, &region, &settings.roles).await,
            ));
        }
        eprintln!(
            "restore-doctor: checking restore readiness in {} account(s), Region {region}, through their {} role",
            accounts.len(),
            settings.reader_role
        );
        let members = MemberAccounts::new(
            OrganizationSettings {
                reader_role: settings.reader_role.clone(),
                fixer_role: None,
                organization_id: None,
                read_role_arn: None,
            },
            clients.sts.clone(),
            sdk.clone(),
            EndpointOverrides::default(),
        );
        Ok(Checked::Accounts(
            readiness::readiness_of_accounts(
                &clients,
                &members,
                (&account, &partition),
                &region,
                &accounts,
                &settings.roles,
            )
            .await,
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn restore_roles_for_every_type_and_per_type() {
        let r = parse_roles(&[
            "arn:aws:iam::111122223333:role/service-role/Restore".into(),
            "EFS=arn:aws:iam::111122223333:role/EfsRestore".into(),
        ])
        .unwrap();
        assert_eq!(
            r.default.unwrap().as_str(),
            "arn:aws:iam::111122223333:role/service-role/Restore"
        );
        assert_eq!(
            r.by_type["EFS"].as_str(),
            "arn:aws:iam::111122223333:role/EfsRestore"
        );
    }

    #[test]
    fn accounts_are_twelve_digits_and_a_repeat_is_dropped() {
        assert_eq!(
            parse_accounts(&[
                "111122223333".into(),
                "444455556666".into(),
                "111122223333".into()
            ])
            .unwrap(),
            ["111122223333", "444455556666"]
        );
        for bad in [
            "11112222333",
            "1111222233334",
            "11112222333a",
            "",
            "1111 22223333",
        ] {
            assert!(parse_accounts(&[bad.into()]).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_reader_role("RestoreDoctorReader").unwrap(),
            "RestoreDoctorReader"
        );
        assert!(parse_reader_role("a/b").is_err());
        assert!(parse_reader_role("").is_err());
        assert!(parse_reader_role(&"r".repeat(65)).is_err());
    }

    #[test]
    fn a_wildcard_or_a_second_default_is_refused() {
        assert!(parse_roles(&["arn:aws:iam::111122223333:role/*".into()]).is_err());
        assert!(parse_roles(&["EFS=not-an-arn".into()]).is_err());
        assert!(parse_roles(&["E\nFS=arn:aws:iam::111122223333:role/R".into()]).is_err());
        assert!(parse_roles(&[
            "arn:aws:iam::111122223333:role/A".into(),
            "arn:aws:iam::111122223333:role/B".into()
        ])
        .is_err());
    }
}
