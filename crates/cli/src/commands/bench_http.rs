//! `custody bench --http`: the API's figures, measured against the real binary over HTTP.
//!
//! 1. The ceiling: every signed write opens its signer's sealed key (Argon2id, on purpose
//!    slow), so a machine can sign at most as many entries per second as it can derive keys
//!    on all its cores. Measured here, in this process, while the server idles.
//! 2. Signed writes per second through `POST …/counts` (each a signing ceremony: Argon2id,
//!    Ed25519, one durable append), from concurrent clients, against that ceiling. The two
//!    are measured alternately (ceiling, writes, ceiling, writes), each half of `--seconds`,
//!    so that the machine's other work falls on both alike.
//! 3. Read latency (p50, p99) of `GET …/head` and `GET …/on-hand` at 100 concurrent clients:
//!    first each client sending its next request as soon as the last is answered (the
//!    server's saturation, where latency is just 100 ÷ throughput), then each client paced
//!    at 10 requests a second (1,000/s offered, what 100 busy screens might send), latency
//!    counted from when the request was due so a slow answer is never hidden.
//!    The clients run on the same cores as the server, so every figure is a lower bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custody_store::keystore;

use crate::commands::bench_serve::{self, ServeChild, Writes, paced_reads, percentile};
use crate::{Failure, Outcome};

const READERS: usize = 100;
/// The ceiling and the signed writes are each measured this many times, alternately.
const ROUNDS: u32 = 2;

/// Argon2id unseals on every core at once for `d`: how many, and in how long.
fn argon2_ceiling(d: Duration) -> Result<(u64, Duration), Failure> {
    let key = keystore::generate()?;
    let id = custody_ledger::PublicKey::from(&key).key_id();
    let sealed = Arc::new(keystore::seal(
        &key,
        "benchmark passphrase",
        keystore::Cost::default(),
    )?);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let (sealed, done) = (sealed.clone(), done.clone());
            std::thread::spawn(move || {
                while start.elapsed() < d {
                    if keystore::unseal(&sealed, "benchmark passphrase", &id).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok((done.load(Ordering::Relaxed), start.elapsed()))
}

pub fn run(seconds: u64) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-http-")
        .tempdir()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("custody bench --http — {cores} cores, {seconds} s per phase");
    println!("starting custody serve --demo …");
    let server = ServeChild::start(
        &[
            "--demo".into(),
            "--data".into(),
            tmp.path().join("clinic").into(),
        ],
        &tmp.path().join("serve.log"),
    )?;
    let d = Duration::from_secs(seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(READERS)
        .build()?;
    let api = |p: &str| server.api(p);

    rt.block_on(async {
        // Sign in the writers and a reader.
        let sessions = bench_serve::sign_in(&http, &server).await?;

        // 1 and 2. The ceiling, measured while the server idles, and signed writes from two
        // clients per core (so the server always has work queued), alternately, each half of
        // the time: the machine's other work, and its clock, fall on both alike.
        let clients: Vec<_> = (0..(2 * cores))
            .map(|i| (api("/counts"), sessions[i % sessions.len()].clone()))
            .collect();
        let (mut opened, mut opening) = (0u64, Duration::ZERO);
        let mut writes = Writes::default();
        for round in 1..=ROUNDS {
            let (n, took) =
                tokio::task::spawn_blocking(move || argon2_ceiling(d / ROUNDS)).await??;
            let w = bench_serve::signed_writes(&http, clients.clone(), d / ROUNDS).await;
            let ceiling = n as f64 / took.as_secs_f64();
            println!(
                "  round {round}: argon2id ceiling {ceiling:>7.1} /s, signed writes {:>6.1} /s = {:.0} %",
                w.rate(),
                100.0 * w.rate() / ceiling
            );
            (opened, opening) = (opened + n, opening + took);
            writes.add(&w);
        }
        let ceiling = opened as f64 / opening.as_secs_f64();
        println!("argon2id ceiling      {ceiling:>8.1} key openings/s on {cores} cores");
        let rate = writes.rate();
        println!(
            "signed writes (HTTP)  {rate:>8.1} /s = {:.0} % of the ceiling ({} refused)",
            100.0 * rate / ceiling,
            writes.refused
        );

        // 3. Reads at 100 concurrent clients.
        let token = sessions[0].token.clone();
        for path in ["/head", "/on-hand"] {
            let stop = Arc::new(AtomicBool::new(false));
            let errors = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..READERS {
                let (http, url, token) = (http.clone(), api(path), token.clone());
                let (stop, errors) = (stop.clone(), errors.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let ok = match http.get(&url).bearer_auth(&token).send().await {
                            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        if ok {
                            lat.push(t.elapsed());
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    lat
                }));
            }
            tokio::time::sleep(d).await;
            stop.store(true, Ordering::Relaxed);
            let mut all = Vec::new();
            for t in tasks {
                if let Ok(l) = t.await {
                    all.extend(l);
                }
            }
            let elapsed = start.elapsed().as_secs_f64();
            all.sort();
            println!(
                "GET {path:<10} ×{READERS}  {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} errors)",
                all.len() as f64 / elapsed,
                percentile(&all, 0.50).as_secs_f64() * 1e3,
                percentile(&all, 0.99).as_secs_f64() * 1e3,
                errors.load(Ordering::Relaxed)
            );
        }
        for path in ["/head", "/on-hand"] {
            let all = paced_reads(
                &http,
                &api(path),
                &token,
                READERS as u32,
                Duration::from_millis(100),
                tokio::time::sleep(d),
            )
            .await;
            println!(
                "GET {path:<10} ×{READERS} paced, 1000 req/s offered  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} answered)",
                percentile(&all, 0.50).as_secs_f64() * 1e3,
                percentile(&all, 0.99).as_secs_f64() * 1e3,
                all.len()
            );
        }
        Ok::<(), Failure>(())
    })?;
    drop(server);
    Ok(())
}
