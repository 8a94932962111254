//! The one place that reads the environment and builds the AWS clients.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, SdkConfig};

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
        Ok(Settings {
            topic_arn,
            service: get("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|| "restore-doctor".into()),
            metrics_namespace: get("POWERTOOLS_METRICS_NAMESPACE")
                .unwrap_or_else(|| "RestoreDoctor".into()),
            dedup_capacity,
        })
    }
}

/// The SDK configuration of the function: region, credentials and retries from the
/// environment (`AWS_MAX_ATTEMPTS`, `AWS_ENDPOINT_URL_<SERVICE>` are honoured), with
/// timeouts that keep one slow service from eating the invocation.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(25))
                .build(),
        )
        .load()
        .await
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
}

/// Every client the function uses, built once per container.
#[derive(Debug, Clone)]
pub struct Clients {
    pub backup: aws_sdk_backup::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
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
