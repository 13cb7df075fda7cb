//! Witnessed checkpoints end to end: two `custody witness serve` processes beside a real
//! `custody serve`, which sends them every checkpoint; `custody verify --witness` then holds
//! the ledger to what the witnesses cosigned. Histories rewritten in the database — the newest
//! entries cut off, an entry re-timed, an entry dropped and the rest renumbered, with or
//! without the registrant key in hand — are caught, naming why; a database rolled back and
//! written differently gets its next checkpoint refused by both witnesses, which the server
//! reports, and a restarted witness keeps refusing.

use std::path::Path;
use std::time::{Duration, Instant};

use custody_ledger::encoding::Canonical;
use custody_ledger::entry::Entry;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::witness::{WitnessServer, start_witness};
use crate::{custody, stderr, stdout};

/// A witness of `log_vkey`, named `name`, in `dir`: the server and its vkey.
pub(crate) fn witness(dir: &Path, name: &str, log_vkey: &str) -> (WitnessServer, String) {
    start_witness(dir, name, name, log_vkey)
}

pub(crate) fn checkpoint_vkey(data: &Path) -> String {
    let o = custody(&["status", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("checkpoint vkey "))
        .unwrap()
        .to_string()
}

/// The public checkpoint: its size and how many cosignature lines it carries.
pub(crate) fn public_checkpoint(s: &Server) -> (u64, usize) {
    let r = Client::new().get(s.api("/checkpoint")).send().unwrap();
    if r.status() != StatusCode::OK {
        return (0, 0);
    }
    let note = r.text().unwrap();
    let size = note.lines().nth(1).unwrap().parse().unwrap();
    // The registrant's line, then one per witness.
    let lines = note.split("\n\n").nth(1).unwrap().lines().count();
    (size, lines - 1)
}

/// Polls (bounded) until the newest checkpoint covers `size` with `n` cosignatures.
pub(crate) fn wait_cosigned(s: &Server, size: u64, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (have, cos) = public_checkpoint(s);
        if have >= size && cos >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of {size} entries with {n} cosignatures: have {have} with {cos}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn count(s: &Server, c: &Client, token: &str, sealed: u32) -> u64 {
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(token)
        .json(
            &json!({"password": s.password("pharm.rivera"), "location": "SAFE-1",
                      "product": "42023-0113-10", "blind": true, "counted_sealed": sealed}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().unwrap()["seq"].as_u64().unwrap()
}

fn verify(data: &Path, witnesses: &[String], quorum: usize) -> std::process::Output {
    let q = quorum.to_string();
    let mut args = vec!["verify", "--data", data.to_str().unwrap()];
    for w in witnesses {
        args.extend(["--witness", w.as_str()]);
    }
    args.extend(["--witness-quorum", q.as_str()]);
    custody(&args)
}

/// A change to a history's entries.
type Edit = Box<dyn FnOnce(&mut Vec<Entry>)>;

/// Rewrites an export as someone with the database (and perhaps the registrant key) would:
/// `edit` changes the entries, then every later entry is renumbered and re-chained; the
/// result is imported into `out_dir` beside a copy of the key files of `keys_from`.
fn rewritten(export: &Path, edit: impl FnOnce(&mut Vec<Entry>), out_dir: &Path, keys_from: &Path) {
    let text = std::fs::read_to_string(export).unwrap();
    let mut lines = text.lines();
    let mut header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    // The cosigned checkpoints the export carries are dropped, as whoever rewrites it would.
    let mut entries: Vec<Entry> = lines
        .filter(|l| !l.starts_with("{\"checkpoint\""))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Entry::from_canonical_bytes(&hex::decode(v["entry"].as_str().unwrap()).unwrap())
                .unwrap()
        })
        .collect();
    edit(&mut entries);
    let mut out = Vec::new();
    let mut prev = entries[0].prev;
    for (i, e) in entries.iter_mut().enumerate() {
        e.seq = custody_ledger::Seq::new(i as u64).unwrap();
        e.prev = prev;
        prev = e.hash();
        out.push(
            json!({"seq": i, "hash": prev.to_string(), "entry": hex::encode(e.to_canonical_bytes())})
                .to_string(),
        );
    }
    header["entries"] = json!(entries.len());
    header["head"] = json!(prev.to_string());
    let file = out_dir.with_extension("jsonl");
    std::fs::write(&file, format!("{header}\n{}\n", out.join("\n"))).unwrap();
    let o = custody(&[
        "import",
        "--data",
        out_dir.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "the rewritten history imports: {}",
        stderr(&o)
    );
    for f in ["registrant.key", "registrant.pass"] {
        std::fs::copy(keys_from.join(f), out_dir.join(f)).unwrap();
    }
}

#[test]
fn witnesses_cosign_every_checkpoint_and_catch_a_rewritten_history() {
    let (t, data) = crate::demo_copy();
    let log = checkpoint_vkey(&data);
    let (w1, v1) = witness(t.path(), "witness-one.example", &log);
    let (w2, v2) = witness(t.path(), "witness-two.example", &log);
    let peers = [format!("{v1} {}", w1.url), format!("{v2} {}", w2.url)];
    let d = data.to_str().unwrap();
    let mut s = Server::with_args(
        &data,
        &[
            "--data",
            d,
            "--checkpoint-every",
            "1",
            "--witness",
            &peers[0],
            "--witness",
            &peers[1],
        ],
    );
    s.passwords = crate::demo().passwords.clone();
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let first = count(&s, &c, &pharm, 1);
    let second = count(&s, &c, &pharm, 2);
    let size = second + 1;
    wait_cosigned(&s, size, 2);
    let data = s.stop();

    // Both witnesses, by key and by address: the ledger extends what they cosigned.
    let o = verify(&data, &peers, 2);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "it extends the checkpoint of {size} entries cosigned by 2 of the 2 witness(es) given"
        )),
        "{}",
        stdout(&o)
    );
    // A witness no one asked to cosign is no witness.
    let (_w3, v3) = witness(t.path(), "witness-three.example", &log);
    let o = verify(&data, &[v3], 1);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("[not_witnessed]"), "{}", stderr(&o));

    let export = t.path().join("export.jsonl");
    let o = custody(&["export", "--data", d, "-o", export.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The export, checked offline against the witnesses.
    let o = custody(&[
        "verify-export",
        export.to_str().unwrap(),
        "--witness",
        &peers[0],
        "--witness",
        &peers[1],
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("cosigned by 2 of the 2 witness(es) given"),
        "{}",
        stdout(&o)
    );
    // A signed report, checked with that export and the witnesses.
    let pdf = t.path().join("audit.pdf");
    let o = custody(&["report", "audit", "--data", d, "-o", pdf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--export",
        export.to_str().unwrap(),
        "--witness",
        &peers[0],
        "--witness",
        &peers[1],
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("cosigned by 2 of the 2 witness(es) given"),
        "{}",
        stdout(&o)
    );
    let cases: [(&str, Edit); 3] = [
        ("truncated", Box::new(|e| e.truncate(e.len() - 1))),
        (
            "retimed",
            Box::new(move |e| {
                let i = first as usize;
                e[i].timestamp =
                    custody_ledger::Timestamp::from_micros(e[i].timestamp.micros() + 1).unwrap();
            }),
        ),
        (
            "dropped",
            Box::new(move |e| {
                e.remove(first as usize);
            }),
        ),
    ];
    for (name, edit) in cases {
        let dir = t.path().join(name);
        rewritten(&export, edit, &dir, &data);
        // On its own the rewritten history verifies: nothing in it is inconsistent.
        let alone = custody(&["verify", "--data", dir.to_str().unwrap()]);
        assert!(alone.status.success(), "{name}: {}", stderr(&alone));
        // With the registrant key in hand a new checkpoint is signed for it, but the
        // witnesses, asked at their addresses, hold what they cosigned.
        if name == "retimed" {
            let o = custody(&["checkpoint", "--data", dir.to_str().unwrap()]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let o = verify(&dir, &peers, 2);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        let why = stderr(&o);
        // A re-timed entry changes the root the witnesses cosigned; a history cut short, or
        // one entry shorter after a drop, is shorter than it.
        let expected = if name == "retimed" {
            "[checkpoint_mismatch]"
        } else {
            "[shorter_than_checkpoint]"
        };
        assert!(why.contains(expected), "{name}: {why}");
        // The rewritten export, offline, likewise.
        let file = dir.with_extension("jsonl");
        let o = custody(&[
            "verify-export",
            file.to_str().unwrap(),
            "--witness",
            &peers[0],
            "--witness",
            &peers[1],
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        assert!(stderr(&o).contains(expected), "{name}: {}", stderr(&o));
    }
}

#[test]
fn a_rolled_back_database_is_refused_by_both_witnesses_and_reported() {
    let (t, data) = crate::demo_copy();
    let log = checkpoint_vkey(&data);
    let (w1, v1) = witness(t.path(), "witness-one.example", &log);
    let (mut w2, v2) = witness(t.path(), "witness-two.example", &log);
    let peers = [format!("{v1} {}", w1.url), format!("{v2} {}", w2.url)];
    let d = data.to_str().unwrap().to_string();
    let args = [
        "--data",
        d.as_str(),
        "--checkpoint-every",
        "1",
        "--witness",
        &peers[0],
        "--witness",
        &peers[1],
    ];
    // A copy of the database as it stands: what a restore would bring back.
    let backup = t.path().join("before.db");
    let o = custody(&["backup", "--data", &d, "-o", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut s = Server::with_args(&data, &args);
    s.passwords = crate::demo().passwords.clone();
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let seq = count(&s, &c, &pharm, 1);
    wait_cosigned(&s, seq + 1, 2);
    s.stop();

    // Rolled back, then written differently: another count at the same place in the chain.
    for f in ["custody.db-wal", "custody.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    std::fs::copy(&backup, data.join("custody.db")).unwrap();
    let mut s = Server::with_args(&data, &args);
    s.passwords = crate::demo().passwords.clone();
    let pharm = s.login(&c, "pharm.rivera");
    let again = count(&s, &c, &pharm, 3);
    assert_eq!(again, seq, "the same place in the chain");
    // Both witnesses refuse its checkpoint: the server counts it and tells the admin.
    let deadline = Instant::now() + Duration::from_secs(60);
    let refusals = loop {
        let m = c
            .get(format!("{}/metrics", s.url()))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let n = m
            .lines()
            .filter(|l| l.starts_with("custody_witness_refusals_total{"))
            .count();
        if n == 2 {
            break m;
        }
        assert!(Instant::now() < deadline, "the witnesses' refusals: {m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        refusals.contains("witness=\"witness-one.example\""),
        "{refusals}"
    );
    let (_, cosigned) = public_checkpoint(&s);
    assert_eq!(cosigned, 0, "no witness cosigned the rewritten history");
    let log_text = s.log();
    assert!(
        log_text.contains("a witness refused the checkpoint"),
        "{log_text}"
    );
    // The admin's dashboard says so.
    let admin = s.login(&c, "admin");
    let page = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", format!("custody_session={admin}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("A witness refused a checkpoint"), "{page}");
    assert!(page.contains("witness-two.example"), "{page}");
    s.stop();

    // A witness restarted keeps what it held, and keeps refusing.
    w2.restart();
    let peers2 = [peers[0].clone(), format!("{v2} {}", w2.url)];
    let mut args2: Vec<&str> = vec!["--data", d.as_str(), "--checkpoint-every", "1"];
    args2.extend(["--witness", &peers2[0], "--witness", &peers2[1]]);
    let s = Server::with_args(&data, &args2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = c
            .get(format!("{}/metrics", s.url()))
            .send()
            .unwrap()
            .text()
            .unwrap();
        if m.lines().any(|l| {
            l.starts_with("custody_witness_refusals_total{witness=\"witness-two.example\"}")
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted witness refuses: {m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(public_checkpoint(&s).1, 0);
}
