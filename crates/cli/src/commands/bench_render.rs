//! `custody bench --report`, second part: how the server answers `GET …/head` while it renders
//! a large audit report. Reports are built on the blocking pool, not on the async worker the
//! request arrived on (issue 18); this measures what that buys, against the real binary:
//! a child `custody serve` on the benchmark's ledger, readers paced at a fixed rate (latency
//! counted from when each request was due, so a stalled server is never hidden), first with
//! the server otherwise idle, then while one client downloads the audit report of every entry.

use std::path::Path;
use std::time::{Duration, Instant};

use custody_ledger::vectors::seeded_key;
use custody_ledger::{PublicKey, UserId};
use custody_store::{Store, keystore};
use serde_json::json;

use super::bench_serve::{ServeChild, paced_reads, percentile};
use crate::Failure;

/// Readers, each sending one request every `PERIOD`: 200 requests a second offered.
const READERS: u32 = 10;
const PERIOD: Duration = Duration::from_millis(50);
/// Who asks for the report: the vector ledger's pharmacist, given a password here.
const USER: &str = "phil";
const PASSWORD: &str = "benchmark password for phil";

/// The p50 and p99 of `GET …/head` from the paced readers until `until` resolves, and how many
/// were answered.
async fn paced_heads(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    until: impl std::future::Future<Output = ()>,
) -> (Duration, Duration, usize) {
    let all = paced_reads(http, url, token, READERS, PERIOD, until).await;
    (percentile(&all, 0.50), percentile(&all, 0.99), all.len())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Serves the ledger `build_served_ledger` made in `data` and signs in its pharmacist: the
/// server and the session's token.
pub(crate) async fn serve_signed_in(data: &Path) -> Result<(ServeChild, String), Failure> {
    // Give the pharmacist a password: the bulk-loaded ledger has keys but no sealed ones.
    let store = Store::open(&custody_store::sqlite_url(data)).await?;
    let ledger = store.resolve_ledger(None).await?;
    let key = seeded_key(USER);
    let user: UserId = USER
        .parse()
        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
    let sealed = keystore::seal(&key, PASSWORD, keystore::Cost::default())?;
    store
        .save_sealed_key(ledger, &user, PublicKey::from(&key).key_id(), sealed)
        .await?;
    store.close().await?;

    let mut server = ServeChild::start(&["--data".into(), data.into()], &data.join("serve.log"))?;
    server.ledger = ledger.to_string();
    let signed_in: serde_json::Value = reqwest::Client::new()
        .post(server.api("/session"))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = signed_in["token"]
        .as_str()
        .ok_or_else(|| Failure::Other(anyhow::anyhow!("sign-in failed: {signed_in}")))?
        .to_string();
    Ok((server, token))
}

/// Serves the ledger in `data` (built by `--report`, its registrant key beside it) and prints
/// `GET …/head` latency idle and while its whole audit report renders.
pub async fn head_while_rendering(data: &Path, entries: u64) -> Result<(), Failure> {
    let (server, token) = serve_signed_in(data).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(READERS as usize + 1)
        .build()?;
    let api = |p: &str| server.api(p);
    let head = api("/head");

    let (p50, p99, n) = paced_heads(
        &http,
        &head,
        &token,
        tokio::time::sleep(Duration::from_secs(3)),
    )
    .await;
    println!(
        "GET …/head ×{READERS} paced, {} req/s offered, server idle           p50 {:>6.2} ms  p99 {:>6.2} ms  ({n} answered)",
        READERS as u64 * 1000 / PERIOD.as_millis() as u64,
        ms(p50),
        ms(p99),
    );

    let started = Instant::now();
    let report = async {
        let r = http
            .get(api("/reports/audit.pdf?from=2000-01-01&to=2099-12-31"))
            .bearer_auth(&token)
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => r.bytes().await.map(|b| b.len()).ok(),
            _ => None,
        }
    };
    let bytes = std::sync::Arc::new(std::sync::Mutex::new(None));
    let done = {
        let bytes = bytes.clone();
        async move {
            let got = report.await;
            *bytes.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
        }
    };
    let (p50, p99, n) = paced_heads(&http, &head, &token, done).await;
    let secs = started.elapsed().as_secs_f64();
    let got = bytes.lock().unwrap_or_else(|e| e.into_inner()).flatten();
    let Some(size) = got else {
        return Err(Failure::Other(anyhow::anyhow!(
            "the audit report over HTTP failed"
        )));
    };
    println!(
        "GET …/head ×{READERS} paced while a {entries}-entry audit report renders  p50 {:>6.2} ms  p99 {:>6.2} ms  ({n} answered; the report: {secs:.1} s, {:.1} MB)   aim p99 < 20 ms",
        ms(p50),
        ms(p99),
        size as f64 / 1e6
    );
    server.stop()
}
