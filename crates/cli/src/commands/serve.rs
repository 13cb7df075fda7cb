//! `custody serve`: the HTTP API on a ledger's database.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use custody_api::{ApiConfig, AppState};

use crate::config::DataArgs;
use crate::registrant;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "CUSTODY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// On an empty data directory, first record the demo clinic and print its sign-ins.
    #[arg(long)]
    pub demo: bool,
    /// Seed of the demo clinic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mark the session cookie Secure (when served behind TLS).
    #[arg(long, env = "CUSTODY_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Minutes a session may sit unused.
    #[arg(long, env = "CUSTODY_IDLE_MINUTES", default_value_t = 15)]
    pub idle_minutes: u64,
    /// Hours a session lasts at most.
    #[arg(long, env = "CUSTODY_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u64,
}

pub async fn run(a: ServeArgs) -> Outcome {
    let store = a.data.open(true).await?;
    if store.ledgers().await?.is_empty() {
        if a.demo {
            crate::commands::demo::record(&a.data, &store, a.seed).await?;
        } else {
            return Err(Failure::Usage(format!(
                "{} holds no ledger: run `custody init` first, or `custody serve --demo` for the demo clinic",
                a.data.data.display()
            )));
        }
    }
    let ledger = a.data.ledger(&store).await?;
    let registrant = match registrant::load(&a.data.data) {
        Ok(k) => Some(Arc::new(k)),
        Err(e) => {
            tracing::warn!("serving without the registrant key (no checkpoints): {e:#}");
            None
        }
    };
    let config = ApiConfig {
        secure_cookies: a.secure_cookies,
        idle_timeout: std::time::Duration::from_secs(a.idle_minutes * 60),
        absolute_timeout: std::time::Duration::from_secs(a.session_hours * 3600),
        ..ApiConfig::default()
    };
    let state = AppState {
        store,
        registrant,
        config: Arc::new(config),
        throttle: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| Failure::Usage(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    println!("ledger {ledger}");
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    custody_api::serve(listener, state, shutdown()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
