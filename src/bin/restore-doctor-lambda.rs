//! The Lambda function: JSON logs, settings and clients once per container, then the
//! runtime loop. Everything else is in `restore_doctor::handler`.

use anyhow::Context;
use restore_doctor::aws::accounts::MemberAccounts;
use restore_doctor::aws::{config, logging, Clients, EndpointOverrides, Settings};
use restore_doctor::handler::{self, Handler};

// One thread: the runtime API hands a process one event at a time, and the gathering's
// concurrency is waiting on AWS, not computing; a second worker thread only cost memory
// (BENCHMARKS.md, "Lambda cold start and memory").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Lambda passes no arguments; `--version` tells which build a local binary is.
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--version" || a == "-V")
    {
        println!("restore-doctor-lambda {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let settings = Settings::from_env().context("reading the function's settings")?;
    logging::init(&settings.service);
    let sdk = config::load_sdk_config().await;
    let clients = Clients::new(&sdk);
    let members = settings.organization.clone().map(|org| {
        MemberAccounts::new(
            org,
            clients.sts.clone(),
            sdk.clone(),
            EndpointOverrides::default(),
        )
    });
    let mut handler = Handler::new(clients, settings);
    if let Some(members) = members {
        handler = handler.with_member_accounts(members);
    }
    handler::run(handler).await.map_err(|e| anyhow::anyhow!(e))
}
