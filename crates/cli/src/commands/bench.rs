//! `custody bench`: the measurements reported in docs/performance.md.
//!
//! 1. Signed, durable append rate through the real append transaction, against a plain
//!    single-row insert-and-commit loop on the same SQLite settings, in the same run; and
//!    what format version 3 costs (each signer's signing time, the sequencer signature by the
//!    registrant key) against the same appends in version 1, in the same run.
//! 2. Verification rate of the ledger verifier, against raw strict Ed25519 verification of the
//!    same signatures (what the verifier does), in the same run; raw batch verification of
//!    them is timed too, for comparison only (the verifier cannot use it: it accepts
//!    signatures strict verification refuses).
//! 3. `--million`: a ledger of 1,000,000 entries (or `--million-entries`) on disk, verified by
//!    a child `custody verify` process: its time and peak memory (P2).
//! 4. P1b: appends per second from 64 concurrent writers on one ledger (group commit) against
//!    one writer, each append signed and durable.
//!
//! Instead of these, `--report`, `--http` (bench_http.rs), `--tlog` (bench_tlog.rs) and
//! `--postgres URL --servers N` (bench_pg.rs) measure one thing each.
//!
//! The workload is a clinic's day repeated: a receipt of 20 vials, then for each vial an
//! opening, a dose and a witnessed waste of the rest.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use custody_ledger::state::State;
use custody_ledger::vectors::{self, KETAMINE_10, seeded_entry_id, seeded_key};
use custody_ledger::*;
use custody_store::Store;

use crate::Outcome;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Appends to time (each its own durable transaction).
    #[arg(long, default_value_t = 2000)]
    pub appends: u64,
    /// Entries to verify in memory for the verification-rate comparison.
    #[arg(long, default_value_t = 50_000)]
    pub verify: u64,
    /// Also build a 1,000,000-entry ledger and time `custody verify` on it (takes minutes).
    #[arg(long)]
    pub million: bool,
    /// How many entries `--million` builds and verifies (a smaller ledger runs faster on a
    /// busy machine; the figure printed says how many).
    #[arg(long, default_value_t = 1_000_000)]
    pub million_entries: u64,
    /// Concurrent writers for P1b (group commit); 0 skips it.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Where to keep the benchmark databases (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Instead: time an audit report over a 100,000-entry ledger (a child `custody report`:
    /// its time, peak memory and pages per second).
    #[arg(long)]
    pub report: bool,
    /// Entries in the `--report` ledger.
    #[arg(long, default_value_t = 100_000)]
    pub report_entries: u64,
    /// Instead: measure the HTTP API of a `custody serve --demo` child process — signed
    /// writes per second against the Argon2id ceiling, and read latency at 100 clients.
    #[arg(long)]
    pub http: bool,
    /// Instead: the transparency-log figures — a checkpoint signed and cosigned by a witness
    /// (in this process, over loopback HTTP) per round, and full tiles served per second.
    #[arg(long)]
    pub tlog: bool,
    /// Instead: P6 — signed writes per second over HTTP with `--servers` `custody serve`
    /// processes on one PostgreSQL database against one process, on a scratch database made
    /// on the server URL reaches (and dropped at the end); then the chain is checked gapless
    /// and verified.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Instead: P5 — `GET …/on-hand` and the dashboard on a ledger of `--million-entries`
    /// entries against one of 1,000, each served by a child `custody serve`.
    #[arg(long)]
    pub scale: bool,
    /// Server processes for `--postgres`.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Seconds each HTTP phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// Generates a valid ledger, entry by entry, without keeping it: format version 3 entries
/// (sealed by the vectors' registrant key) after the vector ledger's first 12, or, for the
/// comparison, version 1 entries as they were recorded before version 3.
pub(crate) struct Workload {
    state: State,
    prefix: std::vec::IntoIter<Entry>,
    ledger: LedgerId,
    prev: EntryHash,
    next: u64,
    now: i64,
    /// Microseconds between entries.
    gap: i64,
    vials: Vec<ContainerId>,
    step: u8,
    keys: [ed25519_dalek::SigningKey; 4],
    legacy: bool,
    registrant: ed25519_dalek::SigningKey,
}

impl Workload {
    pub(crate) fn new() -> Self {
        // The vector ledger's people, places and products: its first 12 entries.
        let prefix: Vec<Entry> = vectors::build().into_iter().take(12).collect();
        Self {
            state: State::new(),
            ledger: prefix[0].ledger,
            now: prefix[11].timestamp.micros() + 1_000_000,
            gap: 300_000_000,
            prefix: prefix.into_iter(),
            prev: EntryHash::ZERO,
            next: 0,
            vials: Vec::new(),
            step: 0,
            keys: [
                seeded_key("phil"),
                seeded_key("nina"),
                seeded_key("noah"),
                seeded_key("ada"),
            ],
            legacy: false,
            registrant: seeded_key("registrant"),
        }
    }

    /// The same workload with entries `gap` microseconds apart.
    pub(crate) fn spaced(self, gap: i64) -> Self {
        Self { gap, ..self }
    }

    /// The same workload in format version 1: no signing times, no sequencer signature.
    pub(crate) fn legacy() -> Self {
        Self {
            legacy: true,
            ..Self::new()
        }
    }

    fn user(s: &str) -> Principal {
        Principal::User(s.parse().expect("valid"))
    }

    fn draft(&self, p: impl Into<Payload>) -> Draft {
        let id = seeded_entry_id(self.next, (self.now / 1000) as u64);
        if self.legacy {
            Draft::legacy(self.ledger, id, p)
        } else {
            Draft::new(self.ledger, id, p)
        }
    }

    /// Bulk-loads the next `n` entries into `store`, 10,000 to a transaction, continuing
    /// `load` (a new ledger starts from `BulkLoad::default()`).
    pub(crate) async fn load_into(
        &mut self,
        store: &Store,
        n: u64,
        load: &mut custody_store::bench::BulkLoad,
    ) -> Result<(), custody_store::StoreError> {
        let mut batch = Vec::with_capacity(10_000);
        for _ in 0..n {
            batch.push(self.next_entry());
            if batch.len() == 10_000 {
                store.bench_bulk_load(&batch, load).await?;
                batch.clear();
            }
        }
        store.bench_bulk_load(&batch, load).await
    }

    pub(crate) fn next_entry(&mut self) -> Entry {
        let e = if let Some(e) = self.prefix.next() {
            e
        } else {
            let at = Timestamp::from_micros(self.now).expect("in range");
            let today = at.date();
            let d = if !self.legacy && !self.state.has_gone_live() {
                // Format version 4: the ledger goes live with its initial inventory (nothing
                // on hand) before the first receipt.
                self.draft(Inventory {
                    occasion: InventoryOccasion::Initial,
                    taken_at: BusinessHours::Opening,
                    date: today,
                    lines: Vec::new(),
                })
                .signed(Self::user("phil"), Meaning::Authored, &self.keys[0], at)
                .signed(Self::user("noah"), Meaning::Witnessed, &self.keys[2], at)
            } else if let Some(&c) = self.vials.last() {
                match self.step {
                    0 => {
                        self.step = 1;
                        self.draft(ContainerOpened {
                            container: c,
                            beyond_use: today.plus_days(1).expect("in range"),
                            opened_at: None,
                        })
                        .signed(
                            Self::user("nina"),
                            Meaning::Authored,
                            &self.keys[1],
                            at,
                        )
                    }
                    1 => {
                        self.step = 2;
                        self.draft(Administered {
                            container: c,
                            patient: PatientRef::commit(
                                &[9; 32],
                                &format!("MRN-{}", self.next % 97),
                            ),
                            prescriber: vectors::prescriber(),
                            amount: Amount::Volume {
                                ul: Microliters::new(3_500),
                                ug: Micrograms::new(35_000),
                            },
                            route: Route::Iv,
                            given_at: at,
                            given_by: "nina".parse().expect("valid"),
                            late_reason: None,
                        })
                        .signed(
                            Self::user("nina"),
                            Meaning::Authored,
                            &self.keys[1],
                            at,
                        )
                    }
                    _ => {
                        self.step = 0;
                        self.vials.pop();
                        self.draft(Waste {
                            container: c,
                            amount: Amount::Volume {
                                ul: Microliters::new(16_500),
                                ug: Micrograms::new(165_000),
                            },
                            reason: text!("remainder of single-patient vial"),
                        })
                        .signed(Self::user("nina"), Meaning::Authored, &self.keys[1], at)
                        .signed(
                            Self::user("noah"),
                            Meaning::Witnessed,
                            &self.keys[2],
                            at,
                        )
                    }
                }
            } else {
                for i in (1..=20).rev() {
                    self.vials.push(
                        ContainerId::new(Seq::new(self.next).expect("small"), i).expect("from 1"),
                    );
                }
                self.draft(Receipt {
                    supplier: vectors::supplier_party(),
                    invoice: text!("INV-BENCH"),
                    received_on: today,
                    product: KETAMINE_10.parse().expect("valid"),
                    lot: "BENCH1".parse().expect("valid"),
                    expiry: today.plus_days(540).expect("in range"),
                    containers: 20,
                    location: "SAFE-1".parse().expect("valid"),
                })
                .signed(Self::user("phil"), Meaning::Authored, &self.keys[0], at)
            };
            // Five minutes apart by default: a busy clinic (about 290 entries a day).
            self.now += self.gap;
            d.chain(Seq::new(self.next).expect("small"), self.prev, at)
                .sealed(&self.registrant)
        };
        self.state.apply(&e).expect("the workload is valid");
        self.prev = e.hash();
        self.next += 1;
        e
    }
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:.0}/s", n as f64 / secs)
}

pub async fn run(a: BenchArgs) -> Outcome {
    if a.scale {
        return super::bench_scale::run(a.million_entries, a.dir.as_deref()).await;
    }
    if a.report {
        return report_bench(&a).await;
    }
    if a.tlog {
        return crate::commands::bench_tlog::run(&a).await;
    }
    if a.http {
        let seconds = a.seconds;
        // The clients need every core; this command's own runtime has one thread.
        return std::thread::spawn(move || crate::commands::bench_http::run(seconds))
            .join()
            .map_err(|_| crate::Failure::Other(anyhow::anyhow!("the HTTP benchmark panicked")))?;
    }
    if let Some(url) = a.postgres {
        let (servers, seconds) = (a.servers, a.seconds);
        // As for --http: the clients need every core.
        return std::thread::spawn(move || crate::commands::bench_pg::run(&url, servers, seconds))
            .join()
            .map_err(|_| {
                crate::Failure::Other(anyhow::anyhow!("the PostgreSQL benchmark panicked"))
            })?;
    }
    // The caller's directory is kept; otherwise a temporary one, removed at the end.
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-")
        .tempdir()?;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    println!(
        "custody bench — {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Appends: three rounds, each on fresh files, the two loops back to back; the
    // median round is reported (disk latency on shared machines varies from second to second).
    let mut rounds = Vec::new();
    for round in 0..3 {
        rounds.push(append_round(&dir.join(format!("round{round}")), a.appends).await?);
    }
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "  round {}: append {} µs (without the Merkle tree {} µs), plain insert {} µs, ratio {:.0}%",
            i + 1,
            r.append_us,
            r.notree_us,
            r.plain_us,
            r.ratio()
        );
    }
    rounds.sort_by(|x, y| x.ratio().total_cmp(&y.ratio()));
    let m = &rounds[1];
    println!(
        "P1 append (signed, verified, durable): {} = {} µs each; plain insert+commit: {} = {} µs; ratio {:.0}% (median of 3; aim ≥ 90%); one statement round trip {} µs",
        rate(1_000_000, m.append_us as f64),
        m.append_us,
        rate(1_000_000, m.plain_us as f64),
        m.plain_us,
        m.ratio(),
        m.trip_us
    );
    println!(
        "P1 pages a commit writes: append {:.1}, plain insert {:.1}; a plain insert+commit writing {:.1}: {} µs, so the pages alone hold the ratio to {:.0}%; the append ÷ it {:.0}% (median round)",
        m.append_pages,
        m.plain_pages,
        m.wide_pages,
        m.wide_us,
        100.0 * m.plain_us as f64 / m.wide_us as f64,
        100.0 * m.wide_us as f64 / m.append_us as f64
    );
    let tree_cost: Vec<f64> = rounds
        .iter()
        .map(|r| 100.0 * (r.append_us as f64 / r.notree_us as f64 - 1.0))
        .collect();
    println!(
        "Merkle tree upkeep: appends {:.1}% / {:.1}% / {:.1}% slower than without it",
        tree_cost[0], tree_cost[1], tree_cost[2]
    );
    let f = format_cost(&dir.join("format"), a.appends).await?;
    println!(
        "format version 3 (signing times, sequencer signature) against version 1, the same {} appends interleaved on two stores: {:.0} µs vs {:.0} µs each ({:+.0} µs, ratio {:.0}%); medians {:.0} µs vs {:.0} µs ({:+.0} µs, ratio {:.0}%)",
        a.appends,
        f.v3_mean,
        f.v1_mean,
        f.v3_mean - f.v1_mean,
        100.0 * f.v3_mean / f.v1_mean,
        f.v3_median,
        f.v1_median,
        f.v3_median - f.v1_median,
        100.0 * f.v3_median / f.v1_median
    );
    if a.writers > 0 {
        let (dir, writers, n) = (dir.join("concurrent"), a.writers, a.appends);
        // The writers need every core; this command's own runtime has one thread.
        let (one, many) = std::thread::spawn(move || -> anyhow::Result<(f64, f64)> {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(concurrent_appends(&dir, writers, n))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the concurrent append benchmark panicked"))??;
        println!(
            "P1b appends from {writers} concurrent writers (group commit): {many:.0}/s; one writer: {one:.0}/s; {:.1}× (aim ≥ 5,000/s and ≥ 10×)",
            many / one
        );
    }
    // The cost itself, without the disk: signing and sealing one entry of the workload in
    // memory, and checking it (as the append and the verifier do), in each version.
    let (v3_sign, v3_check) = in_memory_cost(Workload::new(), a.appends);
    let (v1_sign, v1_check) = in_memory_cost(Workload::legacy(), a.appends);
    println!(
        "  in memory, per entry: signing {v3_sign:.0} µs (version 1: {v1_sign:.0} µs), checking its signatures {v3_check:.0} µs (version 1: {v1_check:.0} µs)"
    );

    // 2. Verification rate vs raw batch verification.
    let mut w = Workload::new();
    let mut encoded = Vec::with_capacity(a.verify as usize);
    let mut sigs = 0u64;
    for _ in 0..a.verify {
        let e = w.next_entry();
        sigs += e.signatures.len() as u64;
        encoded.push((e.to_canonical_bytes(), e.hash()));
    }
    let t = Instant::now();
    let mut v = Verifier::new(None);
    for (b, h) in &encoded {
        v.push_bytes(b, Some(h))
            .map_err(|f| anyhow::anyhow!("{f}"))?;
    }
    v.finish().map_err(|f| anyhow::anyhow!("{f}"))?;
    let verify_secs = t.elapsed().as_secs_f64();
    let workers = custody_store::verify::signature_workers();
    let t = Instant::now();
    let mut v = Verifier::new(None).parallel(workers);
    for (b, h) in &encoded {
        v.push_bytes(b, Some(h))
            .map_err(|f| anyhow::anyhow!("{f}"))?;
    }
    v.finish().map_err(|f| anyhow::anyhow!("{f}"))?;
    let parallel_secs = t.elapsed().as_secs_f64();
    println!(
        "verify in memory, {} entries: signatures on {workers} worker thread(s) and this one {:.2}s = {}; on this thread alone {:.2}s = {}; {:.2}× faster",
        a.verify,
        parallel_secs,
        rate(a.verify, parallel_secs),
        verify_secs,
        rate(a.verify, verify_secs),
        verify_secs / parallel_secs
    );
    // The same signatures, as raw (message, signature, key) triples.
    let mut triples = Vec::new();
    let mut st = State::new();
    for (b, _) in &encoded {
        let e = Entry::from_canonical_bytes(b).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (checks, _) = st.apply(&e).map_err(|e| anyhow::anyhow!("{e}"))?;
        for c in checks {
            triples.push((
                c.message,
                ed25519_dalek::Signature::from_bytes(&c.signature),
                *c.key.verifying_key(),
            ));
        }
    }
    let t = Instant::now();
    for (m, s, k) in &triples {
        k.verify_strict(m, s).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let raw_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in triples.chunks(256) {
        let m: Vec<&[u8]> = chunk.iter().map(|x| x.0.as_slice()).collect();
        let s: Vec<_> = chunk.iter().map(|x| x.1).collect();
        let k: Vec<_> = chunk.iter().map(|x| x.2).collect();
        ed25519_dalek::verify_batch(&m, &s, &k).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let batch_secs = t.elapsed().as_secs_f64();
    println!(
        "verify: {} entries ({} signatures) in {:.2}s = {}; raw strict verification of the same signatures (ed25519-dalek's verify_strict, one at a time, this thread): {:.2}s; raw ÷ custody's {:.0}% (raw batch verification, not used: {:.2}s)",
        a.verify,
        sigs,
        verify_secs,
        rate(a.verify, verify_secs),
        raw_secs,
        100.0 * raw_secs / verify_secs,
        batch_secs
    );

    // The same workload in format version 1, verified in the same run: what version 3's
    // sequencer signatures cost verification.
    let mut w = Workload::legacy();
    let old: Vec<(Vec<u8>, EntryHash)> = (0..a.verify)
        .map(|_| {
            let e = w.next_entry();
            (e.to_canonical_bytes(), e.hash())
        })
        .collect();
    let t = Instant::now();
    let mut v = Verifier::new(None);
    for (b, h) in &old {
        v.push_bytes(b, Some(h))
            .map_err(|f| anyhow::anyhow!("{f}"))?;
    }
    v.finish().map_err(|f| anyhow::anyhow!("{f}"))?;
    let old_secs = t.elapsed().as_secs_f64();
    println!(
        "  the same workload in format version 1 (no sequencer signatures): {:.2}s = {}; version 3 takes {:.0}% of its time",
        old_secs,
        rate(a.verify, old_secs),
        100.0 * verify_secs / old_secs
    );

    // 3. One million entries on disk.
    if a.million {
        let data = dir.join("million");
        std::fs::create_dir_all(&data)?;
        let store = Store::open(&custody_store::sqlite_url(&data)).await?;
        let mut w = Workload::new();
        let t_build = Instant::now();
        let mut frontier = custody_store::bench::BulkLoad::default();
        let n = a.million_entries.max(13);
        w.load_into(&store, n, &mut frontier).await?;
        let build_secs = t_build.elapsed().as_secs_f64();
        // Proofs at 1,000,000 entries, served from the stored subtrees.
        let ledger = store.resolve_ledger(None).await?;
        let mut r: u64 = 0x5eed_c0de;
        let t = Instant::now();
        let mut hashes = 0;
        let tries = 200u64;
        for _ in 0..tries {
            r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let p = store.inclusion_proof(ledger, r % n, n).await?;
            hashes = hashes.max(p.path.len());
            custody_ledger::merkle::verify_inclusion(
                p.entry_hash.as_bytes(),
                p.seq,
                n,
                &p.root,
                &p.path,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let incl_us = t.elapsed().as_secs_f64() * 1e6 / tries as f64;
        let t = Instant::now();
        let mut chashes = 0;
        for i in 0..tries {
            let old = 1 + (i * 4_999) % (n - 1);
            let p = store.consistency_proof(ledger, old, n).await?;
            chashes = chashes.max(p.path.len());
        }
        let cons_us = t.elapsed().as_secs_f64() * 1e6 / tries as f64;
        println!(
            "proofs at {n} entries: inclusion {incl_us:.0} µs to serve, at most {hashes} hashes ({} bytes); consistency {cons_us:.0} µs, at most {chashes} hashes; ⌈log2 n⌉ = {}",
            hashes * 32,
            64 - (n - 1).leading_zeros()
        );
        store.close().await?;
        println!("built {n} entries in {build_secs:.0}s");
        let exe = std::env::current_exe()?;
        // Signatures on one worker thread per core (as `custody verify` runs), then all on the
        // verifying thread (as before parallel verification), for the ratio in the same run.
        let mut times = Vec::new();
        for (how, threads) in [("in parallel", None), ("on one thread", Some("0"))] {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["verify", "--data"])
                .arg(&data)
                .env("CUSTODY_REPORT_PEAK_MEMORY", "1");
            match threads {
                Some(t) => cmd.env("CUSTODY_VERIFY_THREADS", t),
                None => cmd.env_remove("CUSTODY_VERIFY_THREADS"),
            };
            let t = Instant::now();
            let out = cmd.output()?;
            let secs = t.elapsed().as_secs_f64();
            let err = String::from_utf8_lossy(&out.stderr);
            let peak = err
                .lines()
                .find_map(|l| l.strip_prefix("peak memory "))
                .unwrap_or("unknown");
            println!(
                "P2 custody verify of {n} entries, signatures {how}: {:.1}s ({}), peak memory {}, said: {}",
                secs,
                rate(n, secs),
                peak,
                String::from_utf8_lossy(&out.stdout).trim()
            );
            if !out.status.success() {
                return Err(anyhow::anyhow!("verify failed: {err}").into());
            }
            times.push(secs);
        }
        println!(
            "P2 parallel ÷ one thread: {:.0}% of the time (aim for 1,000,000 entries: ≤ 13 s on 2 cores, memory flat)",
            100.0 * times[0] / times[1]
        );
    }
    Ok(())
}

/// Signing (each signer's signature at its time and, in version 3, the sequencer's) and
/// strictly checking every signature of `n` workload entries after the prefix, in memory:
/// microseconds per entry.
fn in_memory_cost(mut w: Workload, n: u64) -> (f64, f64) {
    for _ in 0..12 {
        w.next_entry();
    }
    let before = w.state.clone();
    let entries: Vec<Entry> = (0..n).map(|_| w.next_entry()).collect();
    let registrant = seeded_key("registrant");
    let keys = w.keys.clone();
    let t = Instant::now();
    let mut signed = Vec::with_capacity(entries.len());
    for e in &entries {
        let mut d = Draft {
            ledger: e.ledger,
            version: e.version,
            body: e.body.clone(),
            signatures: Vec::new(),
        };
        for s in &e.signatures {
            let key = match &s.signer {
                Principal::User(u) if u.as_str() == "phil" => &keys[0],
                Principal::User(u) if u.as_str() == "nina" => &keys[1],
                _ => &keys[2],
            };
            d = d.signed(s.signer.clone(), s.meaning, key, e.timestamp);
        }
        signed.push(d.chain(e.seq, e.prev, e.timestamp).sealed(&registrant));
    }
    let sign = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // The checks as the rules hand them out, timed alone.
    let mut st = before;
    let mut checks = Vec::new();
    for e in &signed {
        if let Ok((c, _)) = st.apply(e) {
            checks.extend(c);
        }
    }
    let t = Instant::now();
    let good = checks.iter().filter(|c| c.verify()).count();
    let check = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    debug_assert_eq!(good, checks.len());
    (sign, check)
}

/// P1b: `n` appends by one writer, then `n` by `writers` concurrent writers (group commit),
/// each into a new store holding the workload's first 13 entries: appends per second, (one,
/// many). Each append is a count of the (empty) cart, signed by its writer when it is made, so
/// that any order the writers reach the ledger in is valid.
async fn concurrent_appends(
    dir: &std::path::Path,
    writers: usize,
    n: u64,
) -> anyhow::Result<(f64, f64)> {
    let mut w = Workload::new();
    let prefix: Vec<Entry> = (0..13).map(|_| w.next_entry()).collect();
    let keys = std::sync::Arc::new(w.keys.clone());
    let ledger = prefix[0].ledger;
    let mut rates = Vec::new();
    for (name, writers) in [("one", 1), ("many", writers.max(1))] {
        let store = bench_store(&dir.join(name), &prefix, Mode::V3).await?;
        let per = n.div_ceil(writers as u64);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..writers {
            let (store, keys) = (store.clone(), keys.clone());
            tasks.push(tokio::spawn(async move {
                let (user, key) = match i % 3 {
                    0 => ("nina", &keys[1]),
                    1 => ("noah", &keys[2]),
                    _ => ("phil", &keys[0]),
                };
                for j in 0..per {
                    let now = custody_store::clock::now();
                    let id =
                        seeded_entry_id(i as u64 * 1_000_000 + j, (now.micros() / 1000) as u64);
                    let d = Draft::new(
                        ledger,
                        id,
                        Count {
                            location: "CART-A".parse().expect("valid"),
                            product: KETAMINE_10.parse().expect("valid"),
                            blind: j % 2 == 0,
                            expected: Tally { sealed: 0, open: 0 },
                            counted: Tally { sealed: 0, open: 0 },
                        },
                    )
                    .signed(Workload::user(user), Meaning::Authored, key, now);
                    store.append(d).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let secs = t.elapsed().as_secs_f64();
        let done = per * writers as u64;
        if store.head(ledger).await?.entries != 13 + done {
            anyhow::bail!("the {name}-writer run did not leave {done} entries after the prefix");
        }
        store.close().await?;
        rates.push(done as f64 / secs);
    }
    Ok((rates[0], rates[1]))
}

struct Round {
    append_us: u64,
    notree_us: u64,
    plain_us: u64,
    trip_us: u64,
    /// Pages each commit writes to SQLite's log: an append, a plain insert, and the plain
    /// insert made as wide as an append.
    append_pages: f64,
    plain_pages: f64,
    wide_pages: f64,
    /// A plain insert+commit writing as many pages as an append.
    wide_us: u64,
}
impl Round {
    fn ratio(&self) -> f64 {
        100.0 * self.plain_us as f64 / self.append_us as f64
    }
}

/// One round: `n` signed appends through the store (with and without the Merkle tree), then
/// `n` plain single-row insert-and-commits on the same SQLite settings, then `n` plain ones
/// made to write as many pages a commit as an append (an index for each page more), then `n`
/// bare statements. The pages a commit writes are counted in SQLite's log over `COUNTED`
/// more commits of each kind.
async fn append_round(dir: &std::path::Path, n: u64) -> anyhow::Result<Round> {
    let mut w = Workload::new();
    let prefix: Vec<Entry> = (0..12).map(|_| w.next_entry()).collect();
    // The bodies are made first; signing stays inside the timed loop.
    let bodies: Vec<Entry> = (0..n).map(|_| w.next_entry()).collect();
    // Appended after the timed ones, to count the pages an append's commit writes.
    let counted: Vec<Entry> = (0..COUNTED).map(|_| w.next_entry()).collect();
    let keys = w.keys.clone();
    let (append, append_pages) = signed_appends(
        &dir.join("append"),
        &prefix,
        &bodies,
        &counted,
        &keys,
        Mode::V3,
    )
    .await?;
    let (notree, _) = signed_appends(
        &dir.join("notree"),
        &prefix,
        &bodies,
        &counted,
        &keys,
        Mode::NoTree,
    )
    .await?;

    std::fs::create_dir_all(dir.join("plain"))?;
    let plain = Store::open(&custody_store::sqlite_url(&dir.join("plain"))).await?;
    plain.bench_plain_table().await?;
    let t = Instant::now();
    for (i, e) in bodies.iter().enumerate() {
        plain
            .bench_plain_insert(i as i64, e.to_canonical_bytes())
            .await?;
    }
    let plain_t = t.elapsed();
    // The counted commits take the ids after the timed ones.
    let (store, after) = (&plain, bodies.len());
    let plain_pages = pages_a_commit(store, &counted, |i, e| async move {
        let body = e.to_canonical_bytes();
        Ok(store.bench_plain_insert((after + i) as i64, body).await?)
    })
    .await?;
    // The plain insert with an index for each page an append writes beyond it.
    let indexes = (append_pages - plain_pages).round().max(0.0) as usize;
    plain.bench_wide_table(indexes).await?;
    let t = Instant::now();
    for (i, e) in bodies.iter().enumerate() {
        plain
            .bench_wide_insert(i as i64, e.to_canonical_bytes(), indexes)
            .await?;
    }
    let wide_t = t.elapsed();
    let wide_pages = pages_a_commit(store, &counted, |i, e| async move {
        let body = e.to_canonical_bytes();
        Ok(store
            .bench_wide_insert((after + i) as i64, body, indexes)
            .await?)
    })
    .await?;
    let t = Instant::now();
    for _ in 0..n {
        plain.bench_round_trip().await?;
    }
    let trip = t.elapsed();
    plain.close().await?;
    let per = |d: std::time::Duration| (d.as_secs_f64() * 1e6 / n as f64).round() as u64;
    Ok(Round {
        append_us: per(append),
        notree_us: per(notree),
        plain_us: per(plain_t),
        trip_us: per(trip),
        append_pages,
        plain_pages,
        wide_pages,
        wide_us: per(wide_t),
    })
}

/// Commits counted after each timed loop, to find the pages a commit writes (few enough that
/// SQLite's automatic checkpoint, at 1,000 pages, does not start over the count).
const COUNTED: usize = 40;

/// The pages each commit writes to `store`'s log, on average: the log is emptied, then
/// `commit` makes one commit for each of `entries`.
async fn pages_a_commit<'a, F, Fut>(
    store: &Store,
    entries: &'a [Entry],
    mut commit: F,
) -> anyhow::Result<f64>
where
    F: FnMut(usize, &'a Entry) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    store.bench_wal_restart().await?;
    for (i, e) in entries.iter().enumerate() {
        commit(i, e).await?;
    }
    Ok(store.bench_wal_frames().await? as f64 / entries.len().max(1) as f64)
}

/// What format version 3 costs an append: the same workload appended to two stores, one in
/// version 3 (signing times, the sequencer signature made in the append) and one in version 1
/// as before, one entry to each in turn (which of the two goes first alternates), each
/// append timed alone, signing included. Interleaving keeps a disk that slows down for a few
/// seconds from landing on one version only. Microseconds per append: (v3, v1) means and
/// medians.
async fn format_cost(dir: &std::path::Path, n: u64) -> anyhow::Result<FormatCost> {
    let mut w = Workload::new();
    let prefix: Vec<Entry> = (0..12).map(|_| w.next_entry()).collect();
    let bodies: Vec<Entry> = (0..n).map(|_| w.next_entry()).collect();
    let mut old = Workload::legacy();
    let old_prefix: Vec<Entry> = (0..12).map(|_| old.next_entry()).collect();
    let old_bodies: Vec<Entry> = (0..n).map(|_| old.next_entry()).collect();
    let keys = w.keys.clone();
    let v3 = bench_store(&dir.join("v3"), &prefix, Mode::V3).await?;
    let v1 = bench_store(&dir.join("v1"), &old_prefix, Mode::V1).await?;
    let (mut t3, mut t1) = (Vec::new(), Vec::new());
    for (i, (new, old)) in bodies.iter().zip(&old_bodies).enumerate() {
        let order = if i % 2 == 0 {
            [(&v3, new, true), (&v1, old, false)]
        } else {
            [(&v1, old, false), (&v3, new, true)]
        };
        for (store, e, is_v3) in order {
            let t = Instant::now();
            signed_append(store, e, &keys).await?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if is_v3 { t3.push(us) } else { t1.push(us) }
        }
    }
    v3.close().await?;
    v1.close().await?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(FormatCost {
        v3_mean: mean(&t3),
        v1_mean: mean(&t1),
        v3_median: median(&mut t3),
        v1_median: median(&mut t1),
    })
}

struct FormatCost {
    v3_mean: f64,
    v1_mean: f64,
    v3_median: f64,
    v1_median: f64,
}

/// How a round's store appends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As custody appends: format version 3, with the Merkle tree.
    V3,
    /// Version 3 without the Merkle tree.
    NoTree,
    /// Format version 1 drafts, with the Merkle tree: the append before version 3.
    V1,
}

/// Appends `bodies` after `prefix`, signing each (at its time), into a new store in `dir`;
/// the store seals version 3 entries with the registrant key.
async fn signed_appends(
    dir: &std::path::Path,
    prefix: &[Entry],
    bodies: &[Entry],
    counted: &[Entry],
    keys: &[ed25519_dalek::SigningKey; 4],
    mode: Mode,
) -> anyhow::Result<(std::time::Duration, f64)> {
    let store = bench_store(dir, prefix, mode).await?;
    let t = Instant::now();
    for e in bodies {
        signed_append(&store, e, keys).await?;
    }
    let elapsed = t.elapsed();
    let on = &store;
    let pages = pages_a_commit(on, counted, |_, e| signed_append(on, e, keys)).await?;
    store.close().await?;
    Ok((elapsed, pages))
}

/// A new store in `dir` appending as `mode` says, holding the vectors' registrant key and
/// `prefix` (imported).
async fn bench_store(dir: &std::path::Path, prefix: &[Entry], mode: Mode) -> anyhow::Result<Store> {
    std::fs::create_dir_all(dir)?;
    let mut store = Store::open(&custody_store::sqlite_url(dir)).await?;
    match mode {
        Mode::V3 => {}
        Mode::NoTree => store = store.bench_without_tree(),
        Mode::V1 => store = store.bench_legacy_drafts(),
    }
    if let Some(first) = prefix.first() {
        store.add_sequencer(first.ledger, std::sync::Arc::new(seeded_key("registrant")));
    }
    for e in prefix {
        store.import_entry(e.clone(), e.hash()).await?;
    }
    Ok(store)
}

/// Signs `e`'s body again as its signers (at its time) and appends it at its time.
async fn signed_append(
    store: &Store,
    e: &Entry,
    keys: &[ed25519_dalek::SigningKey; 4],
) -> anyhow::Result<()> {
    let mut d = Draft {
        ledger: e.ledger,
        version: e.version,
        body: e.body.clone(),
        signatures: Vec::new(),
    };
    for s in &e.signatures {
        let key = match &s.signer {
            Principal::User(u) if u.as_str() == "phil" => &keys[0],
            Principal::User(u) if u.as_str() == "nina" => &keys[1],
            _ => &keys[2],
        };
        d = d.signed(s.signer.clone(), s.meaning, key, e.timestamp);
    }
    store.append_at(d, e.timestamp).await?;
    Ok(())
}

/// An audit report over a ledger of `a.report_entries` entries, by a child `custody report`.
async fn report_bench(a: &BenchArgs) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("custody-bench-report-")
        .tempdir()?;
    let data = a
        .dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf())
        .join("report");
    std::fs::create_dir_all(&data)?;
    let n = a.report_entries;
    build_served_ledger(&data, n).await?;
    let out_pdf = data.join("audit.pdf");
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args([
            "report",
            "audit",
            "--from",
            "2000-01-01",
            "--to",
            "2099-12-31",
            "--data",
        ])
        .arg(&data)
        .arg("-o")
        .arg(&out_pdf)
        .env("CUSTODY_REPORT_PEAK_MEMORY", "1")
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    let said = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(anyhow::anyhow!("custody report failed: {err}").into());
    }
    let pages: f64 = said
        .split(" pages")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    let peak = err
        .lines()
        .find_map(|l| l.strip_prefix("peak memory "))
        .unwrap_or("unknown");
    let size = std::fs::metadata(&out_pdf).map_or(0, |m| m.len());
    println!(
        "audit report over {n} entries: {secs:.2}s, {pages} pages ({:.0} pages/s), peak memory {peak}, {:.1} MB",
        pages / secs,
        size as f64 / 1e6
    );
    super::bench_render::head_while_rendering(&data, n).await?;
    Ok(())
}

/// Builds in `data` a ledger of `n` entries (the bench workload, bulk-loaded with its stock
/// tables) with its registrant key beside it, as `custody serve --data` and `custody report`
/// open it.
pub(crate) async fn build_served_ledger(data: &std::path::Path, n: u64) -> Outcome {
    let store = Store::open(&custody_store::sqlite_url(data)).await?;
    // Beyond 100,000 entries five minutes apart the ledger's clock would run past today, and
    // the report's own `report_issued` entry (signed now) would be refused as signed too
    // long before it is recorded: a longer ledger packs its entries closer instead.
    let gap = 300_000_000 * 100_000 / i64::try_from(n.max(100_000)).unwrap_or(i64::MAX);
    let mut w = Workload::new().spaced(gap.max(1));
    let t = Instant::now();
    w.load_into(&store, n, &mut custody_store::bench::BulkLoad::default())
        .await?;
    store.close().await?;
    crate::registrant::Keys::new(data, None).save(
        &data.join(crate::registrant::KEY_FILE),
        &seeded_key("registrant"),
        crate::registrant::NewPassphrase::BesideForDemo,
    )?;
    println!(
        "built a ledger of {n} entries in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
