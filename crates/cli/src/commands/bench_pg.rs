//! `custody bench --postgres URL --servers N` (issue 18, P6): does the ledger scale out? Signed
//! writes per second over HTTP with N real `custody serve` processes on one PostgreSQL
//! database, against one process, then proof that they kept one chain.
//!
//! 1. A scratch database with a unique name is made on the server URL names, and dropped at
//!    the end whatever happened (a measurement never writes into a database in use).
//! 2. One `custody serve --demo` records the demo clinic into it; the demo's writers sign in.
//! 3. N − 1 more processes serve the same database with the same registrant key directory.
//!    The same clients send signed writes (`POST …/counts`, each a full signing ceremony) to
//!    the first process alone, then spread evenly over the N, then to the first alone again
//!    and to the N again, each phase half of `--seconds`: the machine's other work falls on
//!    both alike. The client count stays the same, so the two rates compare what the servers
//!    do with the same offered load.
//! 4. The servers are stopped (SIGTERM, each signing a last checkpoint); the chain's rows
//!    are checked numbered 0 … head − 1 without a gap, each linked to the one before (one
//!    chain, no fork), every acknowledged write among them; then a child `custody verify`
//!    checks the database as an auditor would, and its answer is printed.
//!
//! Clients and servers share the machine's cores, so the rates are lower bounds; the load
//! average is printed before and after.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use custody_ledger::LedgerId;
use custody_store::Store;
use custody_store::scratch::ScratchDatabase;

use crate::commands::bench_serve::{self, ServeChild, Writes};
use crate::{Failure, Outcome};

/// The aim of issue 18's P6: N processes write at least as fast as one.
const AIM: f64 = 1.0;
/// One-process and N-process phases are each run this many times, alternately.
const ROUNDS: u32 = 2;

/// Runs the benchmark on a scratch database of the PostgreSQL server `admin_url` reaches.
pub fn run(admin_url: &str, servers: usize, seconds: u64) -> Outcome {
    if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
        return Err(Failure::Usage(
            "--postgres takes a PostgreSQL URL: postgres://user@host:port/database".into(),
        ));
    }
    if servers < 2 {
        return Err(Failure::Usage(
            "--servers must be at least 2: the figure compares them with one".into(),
        ));
    }
    if seconds == 0 {
        return Err(Failure::Usage("--seconds must be at least 1".into()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "custody bench --postgres — {cores} cores, {servers} servers, {seconds} s per phase, load average {}",
        load_average()
    );
    let scratch = rt
        .block_on(ScratchDatabase::create(admin_url))
        .map_err(|e| {
            Failure::Other(anyhow::anyhow!(
                "cannot make a scratch database on the server of --postgres: {e}"
            ))
        })?;
    println!("scratch database {} (dropped at the end)", scratch.name());
    let measured = measure(&rt, scratch.url(), servers, seconds, cores);
    let name = scratch.name().to_owned();
    match rt.block_on(scratch.drop_database()) {
        Ok(()) => println!("dropped {name}"),
        Err(e) => eprintln!("warning: could not drop the scratch database {name}: {e}"),
    }
    println!("load average {}", load_average());
    measured
}

fn measure(
    rt: &tokio::runtime::Runtime,
    url: &str,
    servers: usize,
    seconds: u64,
    cores: usize,
) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-pg-")
        .tempdir()?;
    // Every process gets the same settings: the database, and the directory of the
    // registrant key that seals each entry (the first one makes it, recording the demo).
    let keys = tmp.path().join("keys");
    let args: Vec<OsString> = vec![
        "--demo".into(),
        "--database-url".into(),
        url.into(),
        "--data".into(),
        keys.clone().into(),
    ];
    let log = |i: usize| tmp.path().join(format!("serve-{i}.log"));
    println!("starting custody serve --demo on it …");
    let started = Instant::now();
    let first = ServeChild::start(&args, &log(1))?;
    println!(
        "  the demo clinic recorded and served in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let ledger: LedgerId = first
        .ledger
        .parse()
        .map_err(|e| Failure::Other(anyhow::anyhow!("the server named no ledger: {e}")))?;
    // The same clients in both phases, as many per process in the second.
    let clients = (2 * cores).div_ceil(servers) * servers;
    let d = Duration::from_secs(seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let store = rt.block_on(Store::open(url))?;

    let mut running = vec![first];
    println!(
        "starting {} more custody serve on the same database …",
        servers - 1
    );
    for i in 2..=servers {
        running.push(ServeChild::start(&args, &log(i))?);
    }
    let phases = rt.block_on(async {
        let writers = bench_serve::sign_in(&http, &running[0]).await?;
        let before = store.head(ledger).await?.entries;
        // Client i writes through process i % servers, as its own user where there are
        // enough; a client beyond them shares the account of one on the same process, so no
        // account signs on two processes at once (one person signs in one place at a time).
        let account = |i: usize| {
            let mut a = i;
            while a >= writers.len() && a >= servers {
                a -= servers;
            }
            a % writers.len()
        };
        let to = |i: usize, s: &ServeChild| (s.api("/counts"), writers[account(i)].clone());

        // Every process runs throughout; the phases alternate (1, N, 1, N), each half the
        // time, so that the machine's other work falls on both alike. In a one-process
        // phase the others are idle. Sessions live in the database: the sign-ins work on
        // every process.
        let mut one = Writes::default();
        let mut many = Writes::default();
        for round in 1..=ROUNDS {
            let w = bench_serve::signed_writes(
                &http,
                (0..clients).map(|i| to(i, &running[0])).collect(),
                d / ROUNDS,
            )
            .await;
            print_round(round, "1 process", &w);
            one.add(&w);
            let w = bench_serve::signed_writes(
                &http,
                (0..clients).map(|i| to(i, &running[i % servers])).collect(),
                d / ROUNDS,
            )
            .await;
            print_round(round, &format!("{servers} processes"), &w);
            many.add(&w);
        }
        print_writes("1 process", &one, clients, 1);
        print_writes(&format!("{servers} processes"), &many, clients, servers);
        let ratio = many.rate() / one.rate().max(f64::MIN_POSITIVE);
        println!(
            "P6 {servers} processes ÷ 1 process: {ratio:.2}× (aim ≥ {AIM:.1}×) — {}",
            if ratio >= AIM { "met" } else { "not met" }
        );
        Ok::<_, Failure>((before, one, many))
    });
    // Idle keep-alive connections go first, so the servers' graceful shutdown is prompt.
    drop(http);
    let mut stopped = Ok(());
    for s in running {
        let r = s.stop();
        if stopped.is_ok() {
            stopped = r;
        }
    }
    let (before, one, many) = phases?;
    stopped?;
    println!("{servers} servers stopped cleanly (SIGTERM)");

    let mut problems = Vec::new();
    if one.acknowledged == 0 || many.acknowledged == 0 {
        let p = "a phase had no write acknowledged: the figures mean nothing".to_string();
        println!("{p}");
        problems.push(p);
    }
    let shape = rt.block_on(store.chain_shape(ledger))?;
    rt.block_on(store.close())?;
    if shape.is_one_gapless_chain() {
        println!(
            "chain: {} entries numbered 0–{} without a gap, each naming the one before (one chain, no fork), the head on the last — gapless",
            shape.rows,
            shape.rows.saturating_sub(1)
        );
    } else {
        let p = format!(
            "chain NOT one gapless chain: head counts {} entries, {} rows stored, first gap at {:?}, first broken link at {:?}, head on the last row: {}",
            shape.head, shape.rows, shape.first_gap, shape.first_broken_link, shape.head_is_last
        );
        println!("{p}");
        problems.push(p);
    }
    // Every acknowledged write is in the chain; a write whose answer was lost may be too.
    let acknowledged = one.acknowledged + many.acknowledged;
    let unanswered = one.refused + many.refused;
    let added = shape.head.saturating_sub(before);
    if added >= acknowledged && added <= acknowledged + unanswered {
        println!(
            "writes acknowledged: {acknowledged}, all in the chain ({added} entries added since the demo)"
        );
    } else {
        let p = format!(
            "{acknowledged} writes acknowledged ({unanswered} not), but {added} entries added since the demo"
        );
        println!("{p}");
        problems.push(p);
    }

    let verified = std::process::Command::new(std::env::current_exe()?)
        .arg("verify")
        .arg("--database-url")
        .arg(url)
        .arg("--data")
        .arg(&keys)
        .args(["--ledger", &ledger.to_string()])
        .output()?;
    let said = String::from_utf8_lossy(if verified.status.success() {
        &verified.stdout
    } else {
        &verified.stderr
    })
    .trim()
    .replace('\n', "; ");
    if verified.status.success() {
        println!("custody verify: {said}");
    } else {
        let p = format!("custody verify failed ({}): {said}", verified.status);
        println!("{p}");
        problems.push(p);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Invalid(problems.join("\n")))
    }
}

fn print_round(round: u32, what: &str, w: &Writes) {
    println!(
        "  round {round}, {what:<12} {:>8.1} /s  ({} acknowledged, {} refused)",
        w.rate(),
        w.acknowledged,
        w.refused
    );
}

fn print_writes(what: &str, w: &Writes, clients: usize, servers: usize) {
    println!(
        "P6 signed writes (HTTP), {what:<12} {:>8.1} /s  ({clients} clients, {} per process; {} acknowledged, {} refused)",
        w.rate(),
        clients / servers,
        w.acknowledged,
        w.refused
    );
}

/// The machine's load average over 1, 5 and 15 minutes (the benchmark shares its cores).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
