//! `custody bench --scale`: whether the screens people open most stay as fast when the ledger
//! is long (issue 18, P5). The same workload is built twice, 1,000 entries and
//! `--million-entries` (default 1,000,000), each served by a child `custody serve`; the
//! pharmacist's `GET …/on-hand` and dashboard (`GET /ui`) are timed on each, one request at a
//! time after a warm-up, and the medians compared.

use std::path::Path;
use std::time::{Duration, Instant};

use super::bench::build_served_ledger;
use super::bench_render::serve_signed_in;
use crate::{Failure, Outcome};

/// Requests timed per screen and ledger (after as many to warm up).
const ROUNDS: usize = 40;
/// The short ledger.
const SHORT: u64 = 1_000;

/// Median and p99 of `ROUNDS` sequential requests for each of on-hand and the dashboard.
struct Timings {
    on_hand: (Duration, Duration),
    dashboard: (Duration, Duration),
}

async fn time_screens(data: &Path) -> Result<Timings, Failure> {
    let (server, token) = serve_signed_in(data).await?;
    let http = reqwest::Client::new();
    let cookie = format!("{}={token}", custody_api::auth::COOKIE);
    let on_hand = server.api("/on-hand");
    let dashboard = format!("{}/ui", server.url);
    let mut out = Vec::new();
    for (url, by_cookie) in [(&on_hand, false), (&dashboard, true)] {
        let mut lat = Vec::with_capacity(ROUNDS);
        for round in 0..2 * ROUNDS {
            let req = if by_cookie {
                http.get(url).header(reqwest::header::COOKIE, &cookie)
            } else {
                http.get(url).bearer_auth(&token)
            };
            let t = Instant::now();
            let r = req.send().await?;
            let ok = r.status().is_success();
            let body = r.text().await?;
            if !ok {
                return Err(Failure::Other(anyhow::anyhow!(
                    "GET {url} failed: {}",
                    body.chars().take(200).collect::<String>()
                )));
            }
            if round >= ROUNDS {
                lat.push(t.elapsed());
            }
        }
        lat.sort();
        out.push((lat[lat.len() / 2], lat[(lat.len() * 99).div_ceil(100) - 1]));
    }
    server.stop()?;
    Ok(Timings {
        on_hand: out[0],
        dashboard: out[1],
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(long: u64, dir: Option<&Path>) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-scale-")
        .tempdir()?;
    let root = dir.unwrap_or(tmp.path());
    let mut timings = Vec::new();
    for n in [SHORT, long] {
        let data = root.join(format!("scale-{n}"));
        std::fs::create_dir_all(&data)?;
        build_served_ledger(&data, n).await?;
        let t = time_screens(&data).await?;
        println!(
            "{n:>9} entries: GET …/on-hand median {:>7.2} ms (p99 {:>7.2}); dashboard GET /ui median {:>7.2} ms (p99 {:>7.2})",
            ms(t.on_hand.0),
            ms(t.on_hand.1),
            ms(t.dashboard.0),
            ms(t.dashboard.1)
        );
        timings.push(t);
    }
    let (short, long_t) = (&timings[0], &timings[1]);
    for (what, a, b) in [
        ("GET …/on-hand", short.on_hand.0, long_t.on_hand.0),
        ("dashboard", short.dashboard.0, long_t.dashboard.0),
    ] {
        let ratio = b.as_secs_f64() / a.as_secs_f64().max(1e-9);
        println!(
            "P5 {what} at {long} entries ÷ at {SHORT}: {ratio:.2}× (aim ≤ 1.2×) — {}",
            if ratio <= 1.2 { "met" } else { "not met" }
        );
    }
    Ok(())
}
