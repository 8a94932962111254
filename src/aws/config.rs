//! The one place that reads the environment and builds the AWS clients.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, SdkConfig};

use crate::remedy::guard::DEFAULT_OPT_IN_TAG;

/// Settings of the Lambda function, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `TOPIC_ARN`: where the alert is published.
    pub topic_arn: String,
    /// `POWERTOOLS_SERVICE_NAME` (default `restore-doctor`): the `service` log key and
    /// metric dimension.
    pub service: String,
    /// `POWERTOOLS_METRICS_NAMESPACE` (default `RestoreDoctor`).
    pub metrics_namespace: String,
    /// `DEDUP_CACHE_SIZE` (default 1024): events remembered per warm container.
    pub dedup_capacity: usize,
    /// Opt-in auto-remediation; off by default (propose only).
    pub auto: AutoSettings,
    /// Organization mode (`MEMBER_READER_ROLE` set): events of other accounts are read
    /// through their reader role. `None`, the default: this account only, as before.
    pub organization: Option<OrganizationSettings>,
    /// Readiness in the function (`READINESS_TABLE` set): scheduled runs and
    /// change-triggered checks. `None`, the default: neither.
    pub readiness: Option<ReadinessSettings>,
}

/// Readiness in the function (template.yaml's `ReadinessSchedule`, `ChangeTriggeredChecks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessSettings {
    /// `READINESS_TABLE`: the DynamoDB table that keeps each resource's last verdict.
    pub table: String,
    /// `READINESS_STATE_DAYS` (default 30, 1 to 365): how long a state is kept after
    /// its last check (the table's TTL), so resources no longer protected leave it.
    pub state_days: u32,
    /// `READINESS_RESTORE_ROLE`: the role to check resources with when no restore
    /// testing selection names one (else AWS Backup's default service role).
    pub restore_role: Option<crate::diagnose::validated::RoleArn>,
    /// `CHANGE_TRIGGERED_CHECKS` (`true`|`false`, default `false`): act on change events.
    pub change_checks: bool,
    /// `READINESS_ACCOUNTS` (organization mode, template.yaml's `ReadinessAccounts`): the
    /// member accounts checked too, each through its reader role, comma-separated ids,
    /// at most [`MAX_MEMBER_ACCOUNTS`]. Empty: the function's own account only.
    pub accounts: Vec<String>,
}

use crate::diagnose::readiness::MAX_MEMBER_ACCOUNTS;

/// `READINESS_ACCOUNTS`: distinct account ids, in the order given.
fn readiness_accounts(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for a in value.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if !crate::diagnose::validated::is_account_id(a) {
            return Err(ConfigError::Invalid {
                name: "READINESS_ACCOUNTS",
                reason: format!(
                    "`{}` is not a 12-digit account id",
                    a.chars().take(40).collect::<String>()
                ),
            });
        }
        if !out.iter().any(|o| o == a) {
            out.push(a.to_owned());
        }
    }
    if out.len() > MAX_MEMBER_ACCOUNTS {
        return Err(ConfigError::Invalid {
            name: "READINESS_ACCOUNTS",
            reason: format!("{} accounts; at most {MAX_MEMBER_ACCOUNTS}", out.len()),
        });
    }
    Ok(out)
}

impl ReadinessSettings {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(table) = get("READINESS_TABLE").map(|t| t.trim().to_owned()) else {
            return Ok(None);
        };
        // DynamoDB table names: 3 to 255 of `[a-zA-Z0-9_.-]` (DynamoDB API reference,
        // CreateTable, TableName).
        let ok = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(ConfigError::Invalid {
                name: "READINESS_TABLE",
                reason: format!("`{table}` is not a DynamoDB table name"),
            });
        }
        let state_days = match get("READINESS_STATE_DAYS") {
            None => 30,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(d) if (1..=365).contains(&d) => d,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "READINESS_STATE_DAYS",
                        reason: format!("`{v}` is not a whole number of days from 1 to 365"),
                    })
                }
            },
        };
        let restore_role = match get("READINESS_RESTORE_ROLE") {
            None => None,
            Some(r) => Some(
                crate::diagnose::validated::RoleArn::parse(r.trim()).map_err(|e| {
                    ConfigError::Invalid {
                        name: "READINESS_RESTORE_ROLE",
                        reason: e.to_string(),
                    }
                })?,
            ),
        };
        Ok(Some(ReadinessSettings {
            table,
            state_days,
            restore_role,
            change_checks: flag(get, "CHANGE_TRIGGERED_CHECKS")?,
            accounts: readiness_accounts(get("READINESS_ACCOUNTS"))?,
        }))
    }
}

/// Reading the organization's other accounts (template.yaml with `OrganizationId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSettings {
    /// `MEMBER_READER_ROLE`: the role name member.yaml creates in every member account.
    pub reader_role: String,
    /// `MEMBER_FIXER_ROLE`: the role name member.yaml creates in a member account that
    /// opts in to auto-attach (template.yaml sets it only with `AutoAttach=true`). `None`:
    /// a fix for a member account's role is proposed, never attached.
    pub fixer_role: Option<String>,
    /// `ORGANIZATION_ID` (`o-…`), for the logs; the template enforces it in policies.
    pub organization_id: Option<String>,
    /// `ORGANIZATION_READ_ROLE_ARN`: the role organization.yaml creates, through which
    /// the service control policies are read. `None`: they are not collected.
    pub read_role_arn: Option<String>,
}

/// Opt-in auto-remediation: attach the verified fix to opted-in restore roles, and
/// optionally start the failed restore again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoSettings {
    /// `AUTO_ATTACH` (`true`|`false`, default `false`).
    pub attach: bool,
    /// `AUTO_ATTACH_TAG` (default `restore-doctor:auto-attach`): a role with this tag set
    /// to `true` is opted in.
    pub opt_in_tag: String,
    /// `AUTO_ATTACH_ROLE_PATTERNS`: comma-separated role ARN patterns (`*`, `?`) opted in
    /// without a tag.
    pub role_patterns: Vec<String>,
    /// `AUTO_RETRY_RESTORE` (`true`|`false`, default `false`): start a failed restore job
    /// again once its fix is attached.
    pub retry_restore: bool,
    /// `RETRY_WAIT_SECONDS` (default 15, at most [`MAX_RETRY_WAIT_SECONDS`]): how long
    /// IAM gets to propagate the attached policy before the restore is started again.
    pub retry_wait: Duration,
}

/// The most `RETRY_WAIT_SECONDS` may be. The wait runs inside the invocation, after
/// gathering and before the alert is published, so it must stay well inside the
/// function's timeout (`Timeout: 60` in template.yaml): half of it. At run time the wait
/// is also checked against the invocation's own deadline, and the retry is skipped, with
/// the reason in the alert, when it would not fit.
pub const MAX_RETRY_WAIT_SECONDS: u64 = 30;

impl Default for AutoSettings {
    fn default() -> Self {
        AutoSettings {
            attach: false,
            opt_in_tag: DEFAULT_OPT_IN_TAG.to_owned(),
            role_patterns: Vec::new(),
            retry_restore: false,
            retry_wait: Duration::from_secs(15),
        }
    }
}

/// A setting that is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable `{0}` is not set")]
    Missing(&'static str),
    #[error("environment variable `{name}` is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let topic_arn = get("TOPIC_ARN").ok_or(ConfigError::Missing("TOPIC_ARN"))?;
        if !topic_arn.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                name: "TOPIC_ARN",
                reason: format!("`{topic_arn}` is not an ARN"),
            });
        }
        let dedup_capacity = match get("DEDUP_CACHE_SIZE") {
            None => 1024,
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "DEDUP_CACHE_SIZE",
                reason: format!("`{v}` is not a whole number"),
            })?,
        };
        Settings {
            topic_arn,
            service: get("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|| "restore-doctor".into()),
            metrics_namespace: get("POWERTOOLS_METRICS_NAMESPACE")
                .unwrap_or_else(|| "RestoreDoctor".into()),
            dedup_capacity,
            auto: AutoSettings::from_lookup(&get)?,
            organization: OrganizationSettings::from_lookup(&get)?,
            readiness: ReadinessSettings::from_lookup(&get)?,
        }
        .checked()
    }

    /// Member accounts are read through their reader role: without organization mode
    /// there is none to assume, and saying so at start beats a gap on every run.
    fn checked(self) -> Result<Self, ConfigError> {
        let members = self
            .readiness
            .as_ref()
            .is_some_and(|r| !r.accounts.is_empty());
        if members && self.organization.is_none() {
            return Err(ConfigError::Invalid {
                name: "READINESS_ACCOUNTS",
                reason: "member accounts are read through their reader role: set MEMBER_READER_ROLE (template.yaml's OrganizationId)".into(),
            });
        }
        Ok(self)
    }

    /// Settings for `topic_arn` with every other setting at its default.
    pub fn for_topic(topic_arn: impl Into<String>) -> Self {
        Settings {
            topic_arn: topic_arn.into(),
            service: "restore-doctor".into(),
            metrics_namespace: "RestoreDoctor".into(),
            dedup_capacity: 1024,
            auto: AutoSettings::default(),
            organization: None,
            readiness: None,
        }
    }
}

impl OrganizationSettings {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(reader_role) = get("MEMBER_READER_ROLE").map(|r| r.trim().to_owned()) else {
            return Ok(None);
        };
        let reader_role = role_name("MEMBER_READER_ROLE", reader_role)?;
        let fixer_role = get("MEMBER_FIXER_ROLE")
            .map(|r| role_name("MEMBER_FIXER_ROLE", r.trim().to_owned()))
            .transpose()?;
        let organization_id = match get("ORGANIZATION_ID").map(|o| o.trim().to_owned()) {
            None => None,
            Some(id) => {
                // `o-` and 10 to 32 lowercase letters or digits (Organizations API
                // reference, Organization.Id).
                let rest = id.strip_prefix("o-").unwrap_or_default();
                let ok = (10..=32).contains(&rest.len())
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                if !ok {
                    return Err(ConfigError::Invalid {
                        name: "ORGANIZATION_ID",
                        reason: format!("`{id}` is not an organization id (`o-` and 10 to 32 lowercase letters or digits)"),
                    });
                }
                Some(id)
            }
        };
        let read_role_arn = match get("ORGANIZATION_READ_ROLE_ARN").map(|a| a.trim().to_owned()) {
            None => None,
            Some(arn) => {
                let mut parts = arn.splitn(6, ':');
                let ok = parts.next() == Some("arn")
                    && parts.next().is_some_and(|p| p.starts_with("aws"))
                    && parts.next() == Some("iam")
                    && parts.next() == Some("")
                    && parts
                        .next()
                        .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                    && parts.next().is_some_and(|r| {
                        r.strip_prefix("role/").is_some_and(|name| {
                            !name.is_empty()
                                && name.len() <= 512
                                && name
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c))
                        })
                    });
                if !ok {
                    return Err(ConfigError::Invalid {
                        name: "ORGANIZATION_READ_ROLE_ARN",
                        reason: format!("`{arn}` is not an IAM role ARN"),
                    });
                }
                Some(arn)
            }
        };
        Ok(Some(OrganizationSettings {
            reader_role,
            fixer_role,
            organization_id,
            read_role_arn,
        }))
    }
}

/// `value` when it is an IAM role name: 1 to 64 of `[\w+=,.@-]` (IAM API reference,
/// CreateRole).
fn role_name(name: &'static str, value: String) -> Result<String, ConfigError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: format!("`{value}` is not an IAM role name"),
        })
    }
}

impl AutoSettings {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = AutoSettings::default();
        let opt_in_tag = match get("AUTO_ATTACH_TAG") {
            None => defaults.opt_in_tag,
            Some(tag) => {
                let tag = tag.trim().to_owned();
                if tag.chars().count() > 128 || tag.starts_with("aws:") {
                    return Err(ConfigError::Invalid {
                        name: "AUTO_ATTACH_TAG",
                        reason: format!(
                            "`{tag}` is not a usable tag key (at most 128 characters, not `aws:`)"
                        ),
                    });
                }
                tag
            }
        };
        let role_patterns = match get("AUTO_ATTACH_ROLE_PATTERNS") {
            None => Vec::new(),
            Some(list) => role_patterns(&list)?,
        };
        let retry_wait = match get("RETRY_WAIT_SECONDS") {
            None => defaults.retry_wait,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(secs) if secs <= MAX_RETRY_WAIT_SECONDS => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "RETRY_WAIT_SECONDS",
                        reason: format!(
                        "`{v}` is not a whole number of seconds from 0 to {MAX_RETRY_WAIT_SECONDS}"
                    ),
                    })
                }
            },
        };
        Ok(AutoSettings {
            attach: flag(get, "AUTO_ATTACH")?,
            opt_in_tag,
            role_patterns,
            retry_restore: flag(get, "AUTO_RETRY_RESTORE")?,
            retry_wait,
        })
    }
}

/// `true` or `false` (any case); unset is `false`.
fn flag(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name) {
        None => Ok(false),
        Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            name,
            reason: format!("`{v}` is neither `true` nor `false`"),
        }),
    }
}

/// Comma-separated IAM role ARN patterns; blanks around commas are ignored.
fn role_patterns(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut parts = p.splitn(6, ':');
            let arn = parts.next() == Some("arn");
            let service = parts.nth(1) == Some("iam");
            let resource = parts.nth(2).unwrap_or_default();
            if arn && service && resource.starts_with("role/") {
                Ok(p.to_owned())
            } else {
                Err(ConfigError::Invalid {
                    name: "AUTO_ATTACH_ROLE_PATTERNS",
                    reason: format!(
                        "`{p}` is not an IAM role ARN pattern (`arn:aws:iam::<account>:role/<name>`, `*` and `?` allowed)"
                    ),
                })
            }
        })
        .collect()
}

/// SDK timeouts: one slow service must not eat the invocation. The whole operation
/// (every attempt and backoff) stays well under the function's 60 s timeout less the
/// handler's reserve; the handler's deadline bounds everything above that in any case.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The SDK configuration of the function: region, credentials and retries from the
/// environment (`AWS_MAX_ATTEMPTS`, `AWS_ENDPOINT_URL_<SERVICE>` are honoured), with
/// the timeouts above.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The SDK configuration of the command-line tool: the user's own credentials and
/// Region from the standard chain (environment, the shared config and credentials
/// files, IAM Identity Center (SSO) profiles, `credential_process`), with `profile` and
/// `region` taking precedence when given. Endpoints come from `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` as for the function; the timeouts are the function's, so
/// one unreachable service cannot hang a terminal either.
pub async fn load_cli_sdk_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
    if let Some(name) = profile {
        loader = loader.profile_name(name);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// Endpoints to use instead of the configured ones, per service (tests and local runs
/// point the services moto lacks at a local fake).
#[derive(Debug, Clone, Default)]
pub struct EndpointOverrides {
    pub backup: Option<String>,
    pub sts: Option<String>,
    pub kms: Option<String>,
    pub iam: Option<String>,
    pub sns: Option<String>,
    pub dynamodb: Option<String>,
}

/// Every client the function uses, built once per container.
#[derive(Debug, Clone)]
pub struct Clients {
    pub backup: aws_sdk_backup::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    /// The readiness state table (scheduled and change-triggered readiness).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self::with_overrides(sdk, &EndpointOverrides::default())
    }

    pub fn with_overrides(sdk: &SdkConfig, o: &EndpointOverrides) -> Self {
        macro_rules! client {
            ($krate:ident, $url:expr) => {{
                let mut b = $krate::config::Builder::from(sdk);
                if let Some(url) = $url {
                    b = b.endpoint_url(url.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        Clients {
            backup: client!(aws_sdk_backup, &o.backup),
            iam: client!(aws_sdk_iam, &o.iam),
            sts: client!(aws_sdk_sts, &o.sts),
            sns: client!(aws_sdk_sns, &o.sns),
            kms: client!(aws_sdk_kms, &o.kms),
            dynamodb: client!(aws_sdk_dynamodb, &o.dynamodb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn topic_is_required_and_the_rest_defaults() {
        assert!(matches!(
            Settings::from_lookup(lookup(&[])),
            Err(ConfigError::Missing("TOPIC_ARN"))
        ));
        let s =
            Settings::from_lookup(lookup(&[("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t")])).unwrap();
        assert_eq!(s.service, "restore-doctor");
        assert_eq!(s.metrics_namespace, "RestoreDoctor");
        assert_eq!(s.dedup_capacity, 1024);
        assert_eq!(s.auto, AutoSettings::default());
        assert!(!s.auto.attach && !s.auto.retry_restore);
        assert_eq!(s.auto.opt_in_tag, "restore-doctor:auto-attach");
        assert_eq!(s.auto.retry_wait, Duration::from_secs(15));
    }

    #[test]
    fn auto_remediation_settings_are_read_and_checked() {
        let topic = ("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t");
        let s = Settings::from_lookup(lookup(&[
            topic,
            ("AUTO_ATTACH", "TRUE"),
            ("AUTO_ATTACH_TAG", "team:fix"),
            (
                "AUTO_ATTACH_ROLE_PATTERNS",
                " arn:aws:iam::111122223333:role/service-role/Backup* ,,arn:aws:iam::111122223333:role/R",
            ),
            ("AUTO_RETRY_RESTORE", "true"),
            ("RETRY_WAIT_SECONDS", "0"),
        ]))
        .unwrap();
        assert_eq!(
            s.auto,
            AutoSettings {
                attach: true,
                opt_in_tag: "team:fix".into(),
                role_patterns: vec![
                    "arn:aws:iam::111122223333:role/service-role/Backup*".into(),
                    "arn:aws:iam::111122223333:role/R".into()
                ],
                retry_restore: true,
                retry_wait: Duration::ZERO,
            }
        );
        for (name, value) in [
            ("AUTO_ATTACH", "yes"),
            ("AUTO_RETRY_RESTORE", "1"),
            ("AUTO_ATTACH_ROLE_PATTERNS", "*"),
            ("AUTO_ATTACH_ROLE_PATTERNS", "arn:aws:iam::1:user/alice"),
            ("AUTO_ATTACH_ROLE_PATTERNS", "arn:aws:s3:::role/x"),
            ("AUTO_ATTACH_TAG", "aws:createdBy"),
            ("RETRY_WAIT_SECONDS", "-1"),
            ("RETRY_WAIT_SECONDS", "601"),
            ("RETRY_WAIT_SECONDS", "31"),
            ("RETRY_WAIT_SECONDS", "soon"),
        ] {
            let e = Settings::from_lookup(lookup(&[topic, (name, value)])).unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={value}: {e}"
            );
        }
    }

    #[test]
    fn organization_mode_is_off_unless_a_reader_role_is_named() {
        let topic = ("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t");
        let s =
            Settings::from_lookup(lookup(&[topic, ("ORGANIZATION_ID", "o-a1b2c3d4e5")])).unwrap();
        assert_eq!(s.organization, None);
        let s = Settings::from_lookup(lookup(&[
            topic,
            ("MEMBER_READER_ROLE", "RestoreDoctorReader"),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
        ]))
        .unwrap();
        assert_eq!(
            s.organization,
            Some(OrganizationSettings {
                reader_role: "RestoreDoctorReader".into(),
                fixer_role: None,
                organization_id: Some("o-a1b2c3d4e5".into()),
                read_role_arn: None,
            })
        );
        let s = Settings::from_lookup(lookup(&[
            topic,
            ("MEMBER_READER_ROLE", "RestoreDoctorReader"),
            ("MEMBER_FIXER_ROLE", "RestoreDoctorFixer"),
        ]))
        .unwrap();
        assert_eq!(
            s.organization.unwrap().fixer_role.as_deref(),
            Some("RestoreDoctorFixer")
        );
        for (name, value) in [
            ("MEMBER_READER_ROLE", "role/RestoreDoctorReader"),
            ("MEMBER_READER_ROLE", "a b"),
            ("MEMBER_FIXER_ROLE", "role/RestoreDoctorFixer"),
            ("ORGANIZATION_ID", "o-short"),
            ("ORGANIZATION_ID", "r-a1b2c3d4e5"),
            ("ORGANIZATION_ID", "o-A1B2C3D4E5"),
            (
                "ORGANIZATION_READ_ROLE_ARN",
                "RestoreDoctorOrganizationReader",
            ),
            ("ORGANIZATION_READ_ROLE_ARN", "arn:aws:iam::1:role/R"),
            (
                "ORGANIZATION_READ_ROLE_ARN",
                "arn:aws:iam::111122223333:user/R",
            ),
        ] {
            let mut pairs = vec![topic, (name, value)];
            if name != "MEMBER_READER_ROLE" {
                pairs.push(("MEMBER_READER_ROLE", "RestoreDoctorReader"));
            }
            let e = Settings::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={value}: {e}"
            );
        }
    }

    #[test]
    fn readiness_is_off_unless_a_table_is_named_and_its_settings_are_checked() {
        let topic = ("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t");
        let s =
            Settings::from_lookup(lookup(&[topic, ("CHANGE_TRIGGERED_CHECKS", "true")])).unwrap();
        assert_eq!(s.readiness, None);
        let s = Settings::from_lookup(lookup(&[
            topic,
            ("READINESS_TABLE", "restore-doctor-ReadinessState-1A2B"),
            ("CHANGE_TRIGGERED_CHECKS", "true"),
            (
                "READINESS_RESTORE_ROLE",
                "arn:aws:iam::111122223333:role/Restore",
            ),
        ]))
        .unwrap();
        let r = s.readiness.unwrap();
        assert_eq!(r.table, "restore-doctor-ReadinessState-1A2B");
        assert_eq!(r.state_days, 30);
        assert!(r.change_checks);
        assert_eq!(
            r.restore_role.map(|r| r.as_str().to_owned()).as_deref(),
            Some("arn:aws:iam::111122223333:role/Restore")
        );
        for (name, value) in [
            ("READINESS_TABLE", "a b"),
            ("READINESS_TABLE", "x"),
            ("READINESS_STATE_DAYS", "0"),
            ("READINESS_STATE_DAYS", "366"),
            ("READINESS_RESTORE_ROLE", "arn:aws:iam::111122223333:role/*"),
            ("CHANGE_TRIGGERED_CHECKS", "yes"),
        ] {
            let mut pairs = vec![topic, (name, value)];
            if name != "READINESS_TABLE" {
                pairs.push(("READINESS_TABLE", "restore-doctor-state"));
            }
            let e = Settings::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={value}: {e}"
            );
        }
    }

    #[test]
    fn member_accounts_for_readiness_are_ids_and_need_organization_mode() {
        let base = [
            ("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t"),
            ("READINESS_TABLE", "restore-doctor-state"),
            ("MEMBER_READER_ROLE", "RestoreDoctorReader"),
        ];
        let with = |value: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("READINESS_ACCOUNTS", value));
            Settings::from_lookup(lookup(&pairs))
        };
        let r = with("210987654321, 333344445555,210987654321")
            .unwrap()
            .readiness
            .unwrap();
        assert_eq!(r.accounts, ["210987654321", "333344445555"]);
        let none = Settings::from_lookup(lookup(&base))
            .unwrap()
            .readiness
            .unwrap();
        assert!(none.accounts.is_empty());
        for bad in [
            "21098765432",
            "210987654321,",
            "arn:aws:iam::210987654321:root",
            "*",
        ] {
            let e = with(bad).unwrap_err();
            assert!(e.to_string().contains("READINESS_ACCOUNTS"), "{bad}: {e}");
        }
        let many: Vec<String> = (0..=MAX_MEMBER_ACCOUNTS)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
            .collect();
        assert!(with(&many.join(",")).is_err());
        // Without organization mode there is no reader role to read them through.
        let e = Settings::from_lookup(lookup(&[
            base[0],
            base[1],
            ("READINESS_ACCOUNTS", "210987654321"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("MEMBER_READER_ROLE"), "{e}");
    }

    #[test]
    fn bad_values_say_which_variable() {
        let e = Settings::from_lookup(lookup(&[("TOPIC_ARN", "my-topic")])).unwrap_err();
        assert!(e.to_string().contains("TOPIC_ARN"));
        let e = Settings::from_lookup(lookup(&[
            ("TOPIC_ARN", "arn:aws:sns:eu-west-1:1:t"),
            ("DEDUP_CACHE_SIZE", "lots"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("DEDUP_CACHE_SIZE"));
    }
}
