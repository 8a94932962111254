//! The live command line: `diagnose --restore-job-id ID` / `--cloudtrail-event FILE` and
//! `gather`, with the user's own AWS credentials. The evidence is gathered the way the
//! function gathers it — the event it would have received, the same parser, the same
//! [`gather`](crate::aws::gather::gather) — and diagnosed and printed the way the
//! offline command does, so a live report and an alert for the same failure agree.

use crate::diagnose::Evidence;
use crate::event::cloudtrail::CloudTrailError;

/// What to gather the evidence of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A failed restore job of the account, by id.
    RestoreJob(String),
    /// A file holding a refused StartRestoreJob call (`-` for standard input).
    CloudTrail(String),
}

impl Target {
    /// The option that names it, for messages.
    pub fn flag(&self) -> &'static str {
        match self {
            Target::RestoreJob(_) => "`--restore-job-id`",
            Target::CloudTrail(_) => "`--cloudtrail-event`",
        }
    }
}

/// Which credentials and Region: the standard chain unless given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// Why the live evidence could not be gathered. Once gathering has started nothing
/// fails: what cannot be read is a gap in the evidence, as in the function.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0} reads AWS, which this build of restore-doctor cannot: build it with the `aws` feature (the default), e.g. `cargo install --path .`")]
    NoAws(&'static str),
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {source}")]
    CloudTrail {
        path: String,
        source: CloudTrailError,
    },
    #[error("`{path}` is not a failure restore-doctor diagnoses: {reason}")]
    NotDiagnosed { path: String, reason: String },
    #[error("the event is from Region {event}, not {given}: run with `--region {event}`")]
    OtherRegion { event: String, given: String },
    #[error("the event is from account {event}, but the credentials are of account {caller}: use a profile of account {event}")]
    OtherAccount { event: String, caller: String },
    #[error("cannot start the runtime for the AWS calls")]
    Runtime(#[source] std::io::Error),
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Aws(#[from] crate::aws::live::LiveError),
}

/// Gathers the evidence of `target` with the credentials of `connection`.
#[cfg(not(feature = "aws"))]
pub fn gather(target: &Target, _connection: &Connection) -> Result<Evidence, LiveError> {
    Err(LiveError::NoAws(target.flag()))
}

/// Gathers the evidence of `target` with the credentials of `connection`.
#[cfg(feature = "aws")]
pub fn gather(target: &Target, connection: &Connection) -> Result<Evidence, LiveError> {
    // The file is read and parsed before any credential is looked at: a wrong file is
    // said at once, without a network round trip.
    let refused = match target {
        Target::CloudTrail(path) => Some(cloudtrail_event(path)?),
        Target::RestoreJob(_) => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    runtime.block_on(gather_async(target, refused, connection))
}

#[cfg(feature = "aws")]
async fn gather_async(
    target: &Target,
    refused: Option<crate::event::trigger::Parsed>,
    connection: &Connection,
) -> Result<Evidence, LiveError> {
    use crate::aws::{config, gather, live, Clients};
    use crate::event::trigger;

    // The function only ever sees events of its own Region: a refused call is read in
    // the Region it was made in.
    let event_region = refused.as_ref().and_then(|p| p.region.clone());
    if let (Some(event), Some(given)) = (&event_region, &connection.region) {
        if event != given {
            return Err(LiveError::OtherRegion {
                event: event.clone(),
                given: given.clone(),
            });
        }
    }
    let region = connection.region.clone().or(event_region);
    let sdk = config::load_cli_sdk_config(connection.profile.as_deref(), region.as_deref()).await;
    let region = live::region(&sdk)?;
    live::check_credentials(&sdk).await?;
    let clients = Clients::new(&sdk);
    let parsed = match (target, refused) {
        (_, Some(parsed)) => {
            // ... and of its own account (the rules filter on it): another account's
            // names would be looked up in this one.
            let caller = live::caller_account(&clients).await?;
            if let Some(event) = parsed.account.as_ref().filter(|a| **a != caller) {
                return Err(LiveError::OtherAccount {
                    event: event.clone(),
                    caller,
                });
            }
            parsed
        }
        (Target::RestoreJob(id), None) => {
            let event = live::restore_job_event(&clients, id, &region).await?;
            trigger::parse(&event).map_err(|skip| LiveError::NotDiagnosed {
                path: format!("restore job {id}"),
                reason: skip.reason,
            })?
        }
        (Target::CloudTrail(path), None) => {
            return Err(LiveError::NotDiagnosed {
                path: path.clone(),
                reason: "no event was read".into(),
            })
        }
    };
    eprintln!(
        "restore-doctor: gathering the evidence in account {}, Region {region}",
        parsed.account.as_deref().unwrap_or("(unknown)")
    );
    Ok(gather::gather(&clients, &parsed).await)
}

/// The refused call in `path`, parsed as the function parses its events.
#[cfg(feature = "aws")]
fn cloudtrail_event(path: &str) -> Result<crate::event::trigger::Parsed, LiveError> {
    use crate::event::{cloudtrail, trigger};
    let text = super::input::read_input(path).map_err(|source| LiveError::Read {
        path: path.to_owned(),
        source,
    })?;
    let event = cloudtrail::to_event(&text).map_err(|source| LiveError::CloudTrail {
        path: path.to_owned(),
        source,
    })?;
    trigger::parse(&event).map_err(|skip| LiveError::NotDiagnosed {
        path: path.to_owned(),
        reason: skip.reason,
    })
}
