//! `custody bench --scale`: whether the screens people open most stay as fast when the ledger
//! is long (issue 18, P5). The same workload is built twice, 1,000 entries and
//! `--million-entries` (default 1,000,000), each served by a child `custody serve`; the
//! pharmacist's `GET …/on-hand` and dashboard (`GET /ui`) are timed on both, one request at a
//! time after a warm-up (which waits for each server's fold of its ledger as it starts),
//! alternating between the two servers so that the machine's other work falls on both alike,
//! and the medians compared, with each server's CPU time a request.

use std::path::Path;
use std::time::{Duration, Instant};

use super::bench::build_served_ledger;
use super::bench_render::serve_signed_in;
use super::bench_serve::ServeChild;
use crate::{Failure, Outcome};

/// Requests timed per screen and ledger, after `WARM_UP` to warm up.
const ROUNDS: usize = 200;
const WARM_UP: usize = 40;
/// The short ledger.
const SHORT: u64 = 1_000;

/// One ledger served, its pharmacist signed in.
struct Served {
    server: ServeChild,
    token: String,
}

/// What one screen took on one ledger: median and p99 of the requests, and the server's CPU
/// time a request (none where the system does not tell).
struct Timing {
    median: Duration,
    p99: Duration,
    cpu: Option<Duration>,
}

/// A screen: its path, and whether it is a web page (signed in by cookie) or the API.
struct Screen {
    name: &'static str,
    web: bool,
}

const SCREENS: [Screen; 2] = [
    Screen {
        name: "GET …/on-hand",
        web: false,
    },
    Screen {
        name: "dashboard",
        web: true,
    },
];

async fn get(http: &reqwest::Client, s: &Served, screen: &Screen) -> Result<Duration, Failure> {
    let req = if screen.web {
        let cookie = format!("{}={}", custody_api::auth::COOKIE, s.token);
        http.get(format!("{}/ui", s.server.url))
            .header(reqwest::header::COOKIE, cookie)
    } else {
        http.get(s.server.api("/on-hand")).bearer_auth(&s.token)
    };
    let t = Instant::now();
    let r = req.send().await?;
    let ok = r.status().is_success();
    let body = r.text().await?;
    let took = t.elapsed();
    if !ok {
        return Err(Failure::Other(anyhow::anyhow!(
            "{} failed: {}",
            screen.name,
            body.chars().take(200).collect::<String>()
        )));
    }
    Ok(took)
}

/// Times `screen` on both ledgers, one request at a time, alternating between them (which
/// goes first changes every round), so that whatever else the machine does falls on both
/// alike.
async fn time_screen(
    http: &reqwest::Client,
    served: &[Served; 2],
    screen: &Screen,
) -> Result<[Timing; 2], Failure> {
    for s in served {
        for _ in 0..WARM_UP {
            get(http, s, screen).await?;
        }
    }
    let cpu_before = served.each_ref().map(|s| s.server.cpu_time());
    let mut lat = [Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS)];
    for round in 0..ROUNDS {
        for k in [round % 2, 1 - round % 2] {
            lat[k].push(get(http, &served[k], screen).await?);
        }
    }
    let mut out = Vec::with_capacity(2);
    for (k, mut l) in lat.into_iter().enumerate() {
        l.sort();
        let cpu = cpu_before[k]
            .zip(served[k].server.cpu_time())
            .map(|(a, b)| b.saturating_sub(a) / ROUNDS as u32);
        out.push(Timing {
            median: l[l.len() / 2],
            p99: l[(l.len() * 99).div_ceil(100) - 1],
            cpu,
        });
    }
    let [a, b]: [Timing; 2] = out
        .try_into()
        .map_err(|_| Failure::Other(anyhow::anyhow!("two ledgers were timed")))?;
    Ok([a, b])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    b.as_secs_f64() / a.as_secs_f64().max(1e-9)
}

pub async fn run(long: u64, dir: Option<&Path>) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-scale-")
        .tempdir()?;
    let root = dir.unwrap_or(tmp.path());
    let mut data = Vec::new();
    for n in [SHORT, long] {
        let d = root.join(format!("scale-{n}"));
        std::fs::create_dir_all(&d)?;
        build_served_ledger(&d, n).await?;
        data.push(d);
    }
    let mut served = Vec::new();
    for d in &data {
        let (server, token) = serve_signed_in(d).await?;
        served.push(Served { server, token });
    }
    let served: [Served; 2] = served
        .try_into()
        .map_err(|_| Failure::Other(anyhow::anyhow!("two ledgers were served")))?;
    let http = reqwest::Client::new();
    // A server folds its ledger's whole history as it starts (in the background); the first
    // dashboard waits for that fold. Timing starts once both are folded, or the long
    // ledger's fold would be timed as its screens.
    for s in &served {
        get(&http, s, &SCREENS[1]).await?;
    }
    let mut timed = Vec::new();
    for screen in &SCREENS {
        timed.push(time_screen(&http, &served, screen).await?);
    }
    for (k, n) in [SHORT, long].into_iter().enumerate() {
        let cpu = |t: &Timing| {
            t.cpu
                .map_or_else(|| "n/a".into(), |c| format!("{:.2} ms", ms(c)))
        };
        let (o, d) = (&timed[0][k], &timed[1][k]);
        println!(
            "{n:>9} entries: GET …/on-hand median {:>7.2} ms (p99 {:>7.2}; server CPU {}); dashboard GET /ui median {:>7.2} ms (p99 {:>7.2}; server CPU {})",
            ms(o.median),
            ms(o.p99),
            cpu(o),
            ms(d.median),
            ms(d.p99),
            cpu(d),
        );
    }
    for (screen, [short, long_t]) in SCREENS.iter().zip(&timed) {
        let r = ratio(short.median, long_t.median);
        let cpu = match (short.cpu, long_t.cpu) {
            (Some(a), Some(b)) => format!("; server CPU a request {:.2}×", ratio(a, b)),
            _ => String::new(),
        };
        println!(
            "P5 {} at {long} entries ÷ at {SHORT}: {r:.2}× (aim ≤ 1.2×) — {}{cpu}",
            screen.name,
            if r <= 1.2 { "met" } else { "not met" }
        );
    }
    for s in served {
        s.server.stop()?;
    }
    Ok(())
}
