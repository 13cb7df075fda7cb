//! `custody bench --tlog`: what tamper evidence costs while the clinic works. A ledger of
//! 100,000 entries is built; then, 20 times, 50 more entries are loaded and a checkpoint is
//! signed and sent to a witness (a real `custody_witness` on loopback HTTP, in this process),
//! which checks the consistency proof and cosigns; the time of each round trip is reported.
//! Then full level-0 tiles are fetched over HTTP from the API for a few seconds, by 8 clients.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use custody_api::{ApiConfig, AppState};
use custody_clinic::{Clinic, RegistrantKeys, Settings};
use custody_ledger::PublicKey;
use custody_ledger::note::checkpoint_vkey;
use custody_ledger::vectors::seeded_key;
use custody_store::Store;

use crate::Outcome;
use crate::commands::bench::{BenchArgs, Workload};
use crate::witnessing::{Peer, Witnessing};

const ENTRIES: u64 = 100_000;
const ROUNDS: usize = 20;
const PER_ROUND: usize = 50;

pub async fn run(a: &BenchArgs) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-tlog-")
        .tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(dir.join("ledger"))?;
    let store = Store::open(&custody_store::sqlite_url(&dir.join("ledger"))).await?;
    let mut w = Workload::new();
    let mut load = custody_store::bench::BulkLoad::default();
    w.load_into(&store, ENTRIES, &mut load).await?;
    let ledger = store.resolve_ledger(None).await?;
    let key = seeded_key("registrant");
    println!("custody bench --tlog — a ledger of {ENTRIES} entries");

    // The witness, on loopback.
    let witness_key = seeded_key("bench witness");
    let log = checkpoint_vkey(&ledger, &PublicKey::from(&key));
    std::fs::create_dir_all(dir.join("witness"))?;
    let witness = Arc::new(
        custody_witness::Witness::open(
            &dir.join("witness"),
            "bench.example/witness",
            witness_key,
            vec![log],
        )
        .await?,
    );
    let vkey = witness.vkey().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let witness_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(custody_witness::serve(
        listener,
        witness,
        std::future::pending(),
    ));

    let mut keys = HashMap::new();
    keys.insert(ledger, Arc::new(key));
    let clinic = Clinic::new(
        store.clone(),
        RegistrantKeys::new(keys),
        Settings::default(),
    );
    let state = AppState::new(
        clinic.clone(),
        ApiConfig {
            public_tiles: true,
            ..ApiConfig::default()
        },
    );
    let peer: Peer = format!("{vkey} {witness_url}")
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let witnessing = Witnessing::new(clinic.clone(), vec![peer], 1, state.metrics.clone())?;

    // The first cosignature (from size 0) is not a round trip of the steady state.
    clinic.issue_due_checkpoints().await;
    witnessing.round().await;
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let more: Vec<_> = (0..PER_ROUND).map(|_| w.next_entry()).collect();
        store.bench_bulk_load(&more, &mut load).await?;
        let t = Instant::now();
        let issued = clinic.issue_due_checkpoints().await;
        witnessing.round().await;
        times.push(t.elapsed());
        let Some((_, c)) = issued.first() else {
            return Err(anyhow::anyhow!("no checkpoint was issued").into());
        };
        let c = &c.checkpoint;
        if store.cosignatures_of(ledger, c.size, &c.root).await?.len() != 1 {
            return Err(anyhow::anyhow!("the witness did not cosign checkpoint {}", c.size).into());
        }
    }
    times.sort();
    println!(
        "checkpoint signed + witness cosigned (consistency proof checked), {ROUNDS} rounds of {PER_ROUND} new entries: median {:.1} ms, max {:.1} ms",
        times[ROUNDS / 2].as_secs_f64() * 1e3,
        times[ROUNDS - 1].as_secs_f64() * 1e3
    );

    // Tiles over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    tokio::spawn(custody_api::serve(listener, state, std::future::pending()));
    let full_tiles = (ENTRIES / 256).max(1);
    let deadline = Instant::now() + Duration::from_secs(a.seconds.clamp(2, 10));
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..8u64 {
        let url = format!("{api}/tlog/{ledger}/tile/0");
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut n, mut bytes) = (0u64, 0u64);
            let mut i = c;
            while Instant::now() < deadline {
                let idx = i % full_tiles;
                let path = custody_ledger::tiles::TilePath {
                    kind: custody_ledger::tiles::TileKind::Hashes { level: 0 },
                    index: idx,
                    width: 256,
                }
                .to_string();
                let path = path.trim_start_matches("0/");
                let r = http.get(format!("{url}/{path}")).send().await?;
                anyhow::ensure!(r.status() == 200, "tile {idx}: {}", r.status());
                bytes += r.bytes().await?.len() as u64;
                n += 1;
                i += 8;
            }
            Ok::<_, anyhow::Error>((n, bytes))
        }));
    }
    let (mut n, mut bytes) = (0, 0);
    for c in clients {
        let (cn, cb) = c.await??;
        n += cn;
        bytes += cb;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "full tiles served over HTTP by 8 clients: {:.0} tiles/s ({:.1} MB/s), {n} tiles in {secs:.1} s",
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
