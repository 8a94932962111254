//! `restore-doctor readiness`: would every protected resource of the account and Region
//! restore now, with the role that would be used? One row per resource and vault:
//! ready / not ready (findings, verified patch) / not verifiable (gaps). Exit 2 when any
//! resource is not ready, 0 when none is, 1 on error.

use clap::ValueEnum;

use crate::diagnose::readiness::{ReadinessRun, RestoreRoles, Verdict};
use crate::diagnose::validated::{shown, RoleArn};
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
}

/// Errors of the `readiness` command.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error("`--restore-role {value}`: {why}")]
    Role { value: String, why: String },
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

/// The exit code of a run: 2 when any resource is not ready.
pub fn exit_code(run: &ReadinessRun) -> i32 {
    if run.resources.iter().any(|r| r.verdict == Verdict::NotReady) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// The run as the format asks.
pub fn render(run: &ReadinessRun, format: ReadinessFormat) -> String {
    match format {
        ReadinessFormat::Text => readiness_text(run),
        ReadinessFormat::Markdown => readiness_markdown(run),
        ReadinessFormat::Json => {
            let mut s = serde_json::to_string_pretty(run).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// Runs the readiness check live and returns what to print and the exit code.
pub fn run(settings: &Settings) -> Result<(String, i32), ReadinessError> {
    let run = live(settings)?;
    Ok((render(&run, settings.format), exit_code(&run)))
}

#[cfg(not(feature = "aws"))]
fn live(_settings: &Settings) -> Result<ReadinessRun, ReadinessError> {
    Err(LiveError::NoAws("`readiness`").into())
}

#[cfg(feature = "aws")]
fn live(settings: &Settings) -> Result<ReadinessRun, ReadinessError> {
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
        let account = live::caller_account(&clients)
            .await
            .map_err(LiveError::from)?;
        eprintln!(
            "restore-doctor: checking restore readiness in account {account}, Region {region}"
        );
        Ok(readiness::readiness(&clients, &account, &region, &settings.roles).await)
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
