//! Exports and signed reports carry the newest cosigned checkpoints (issue 12): a real
//! `custody serve` beside two `custody witness serve` processes; the export and the report
//! downloaded over HTTP then verify with nothing but the witnesses' vkeys (no address, no
//! database); a checkpoint line removed or altered, a cosignature broken, a quorum not met,
//! a history rewritten under a carried checkpoint, each fails naming why; the PDF, read back
//! with poppler, shows the checkpoint; a report and an export made without witnesses say so.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use custody_ledger::encoding::Canonical;
use custody_ledger::entry::Entry;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::witnessed::{checkpoint_vkey, count, wait_cosigned, witness};
use crate::*;

/// A demo clinic whose checkpoints two witnesses cosigned, and what was taken from it.
struct Witnessed {
    _t: tempfile::TempDir,
    /// The export downloaded over HTTP once both had cosigned (before the report).
    http_export: PathBuf,
    /// `custody export` of the data directory after the server stopped.
    export: PathBuf,
    /// The audit report downloaded over HTTP, its signature beside it (`.sig`).
    report: PathBuf,
    /// The two witnesses' vkeys (no address).
    vkeys: [String; 2],
    /// A witness of this ledger that was never asked to cosign anything.
    stranger: String,
    /// The size of the checkpoint both cosigned before the downloads.
    size: u64,
}

fn witnessed() -> &'static Witnessed {
    static W: OnceLock<Witnessed> = OnceLock::new();
    W.get_or_init(|| {
        let (t, data) = demo_copy();
        let log = checkpoint_vkey(&data);
        let (w1, v1) = witness(t.path(), "witness-one.example", &log);
        let (w2, v2) = witness(t.path(), "witness-two.example", &log);
        let (w3, v3) = witness(t.path(), "witness-three.example", &log);
        drop(w3);
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
        s.passwords = demo().passwords.clone();
        let c = Client::new();
        let pharm = s.login(&c, "pharm.rivera");
        let seq = count(&s, &c, &pharm, 1);
        let size = seq + 1;
        wait_cosigned(&s, size, 2);

        let auditor = s.login(&c, "auditor.diaz");
        let r = c
            .get(s.api("/export.jsonl"))
            .bearer_auth(&auditor)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let http_export = t.path().join("http-export.jsonl");
        std::fs::write(&http_export, r.bytes().unwrap()).unwrap();

        let (from, to) = demo_period();
        let r = c
            .get(s.api(&format!("/reports/audit.pdf?from={from}&to={to}")))
            .bearer_auth(&auditor)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let sig = B64
            .decode(r.headers()["x-custody-signature"].to_str().unwrap())
            .unwrap();
        let report = t.path().join("audit.pdf");
        std::fs::write(&report, r.bytes().unwrap()).unwrap();
        std::fs::write(t.path().join("audit.pdf.sig"), sig).unwrap();
        s.stop();
        drop((w1, w2));

        let export = t.path().join("export.jsonl");
        let o = custody(&["export", "--data", d, "-o", export.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        Witnessed {
            _t: t,
            http_export,
            export,
            report,
            vkeys: [v1, v2],
            stranger: v3,
            size,
        }
    })
}

/// `custody COMMAND FILE --witness V… --witness-quorum K [EXTRA…]`.
fn with_witnesses(
    command: &str,
    file: &Path,
    vkeys: &[&str],
    quorum: usize,
    extra: &[&str],
) -> Output {
    let q = quorum.to_string();
    let mut args = vec![command, file.to_str().unwrap()];
    for v in vkeys {
        args.extend(["--witness", v]);
    }
    args.extend(["--witness-quorum", q.as_str()]);
    args.extend(extra);
    custody(&args)
}

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(format!("{name}.jsonl"));
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// The note of a checkpoint line.
fn note(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["checkpoint"].as_str().unwrap().to_string()
}

fn checkpoint_line(note: &str) -> String {
    json!({ "checkpoint": note }).to_string()
}

/// Fails with exit 1, naming `why` (every part of it) on standard error.
fn fails(o: &Output, why: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    for w in why {
        assert!(stderr(o).contains(w), "{w:?} in: {}", stderr(o));
    }
}

fn passes(o: &Output, says: &str) {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    assert!(stdout(o).contains(says), "{says:?} in: {}", stdout(o));
}

fn poppler() -> bool {
    let ok = std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok();
    if !ok {
        say("note: poppler-utils is not installed: the PDF read-back checks were skipped");
    }
    ok
}

/// The PDF's text, every run of white space one space.
fn pdf_words(pdf: &Path) -> String {
    let o = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The entries of an export's lines re-chained after `edit`, as someone who can write the
/// file would; the checkpoint lines are kept as they were.
fn rechained(lines: &[String], edit: impl FnOnce(&mut Vec<Entry>)) -> Vec<String> {
    let mut header: Value = serde_json::from_str(&lines[0]).unwrap();
    let kept: Vec<String> = lines[1..]
        .iter()
        .filter(|l| l.starts_with("{\"checkpoint\""))
        .cloned()
        .collect();
    let mut entries: Vec<Entry> = lines[1..]
        .iter()
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
    let mut all = vec![header.to_string()];
    all.extend(kept);
    all.extend(out);
    all
}

#[test]
fn an_export_and_a_report_carry_the_cosigned_checkpoint_and_verify_with_vkeys_alone() {
    let w = witnessed();
    let [v1, v2] = [w.vkeys[0].as_str(), w.vkeys[1].as_str()];
    for file in [&w.http_export, &w.export] {
        // Line 2 is the checkpoint, cosigned by both.
        let ls = lines(file);
        assert!(ls[0].contains("\"version\":2"), "{}", ls[0]);
        let n = note(&ls[1]);
        assert!(n.contains("\n\u{2014} witness-one.example "), "{n}");
        assert!(n.contains("\n\u{2014} witness-two.example "), "{n}");
        assert!(ls[2].starts_with("{\"seq\":0,"), "{}", ls[2]);
        let o = with_witnesses("verify-export", file, &[v1, v2], 2, &[]);
        passes(&o, "cosigned by 2 of the 2 witness(es) given");
    }
    // The export downloaded before the report carries the checkpoint of its every entry.
    let n = note(&lines(&w.http_export)[1]);
    assert_eq!(n.lines().nth(1).unwrap(), w.size.to_string());
    let o = with_witnesses("verify-export", &w.http_export, &[v1, v2], 2, &[]);
    passes(
        &o,
        &format!(
            "it extends the checkpoint of {} entries cosigned by 2 of the 2 witness(es) given",
            w.size
        ),
    );
    // Without --witness it says what it carries.
    let o = custody(&["verify-export", w.http_export.to_str().unwrap()]);
    passes(
        &o,
        &format!(
            "it extends the cosigned checkpoint of {} entries it carries",
            w.size
        ),
    );

    // The report alone: its ledger extends the checkpoint both cosigned.
    let o = with_witnesses("verify-report", &w.report, &[v1, v2], 2, &[]);
    passes(
        &o,
        &format!(
            "extends the checkpoint of {} entries it carries, cosigned by 2 of the 2 witness(es) given",
            w.size
        ),
    );
    assert!(stdout(&o).contains("the PDF's detached signature verifies"));
    // With a later export too.
    let o = with_witnesses(
        "verify-report",
        &w.report,
        &[v1, v2],
        2,
        &["--export", w.export.to_str().unwrap()],
    );
    passes(&o, "rebuilds the same report");

    // The PDF says so, on the cover and on the last page.
    if !poppler() {
        return;
    }
    let root = B64.decode(n.lines().nth(2).unwrap()).unwrap();
    let text = pdf_words(&w.report);
    let line = format!(
        "Witnessed checkpoint of {} entries, root {}…, cosigned by witness-one.example at ",
        w.size,
        &hex::encode(root)[..16]
    );
    assert_eq!(text.matches(&line).count(), 2, "{line:?} in: {text}");
    let rest = &text[text.find(&line).unwrap() + line.len()..];
    // … at 2026-11-29 14:02 UTC and witness-two.example at 2026-11-29 14:02 UTC
    let when: Vec<&str> = rest.split(' ').take(3).collect();
    assert_eq!(when[0].len(), 10, "{rest}");
    assert_eq!(when[0].as_bytes()[4], b'-', "{rest}");
    assert_eq!(when[1].len(), 5, "{rest}");
    assert_eq!(when[2], "UTC", "{rest}");
    assert!(
        rest.starts_with(&format!(
            "{} {} UTC and witness-two.example at ",
            when[0], when[1]
        )),
        "{rest}"
    );
    assert!(
        text.contains("custody verify-report REPORT.pdf --witness VKEY"),
        "{text}"
    );
}

#[test]
fn a_checkpoint_line_removed_or_altered_or_a_quorum_not_met_fails_naming_why() {
    let w = witnessed();
    let [v1, v2] = [w.vkeys[0].as_str(), w.vkeys[1].as_str()];
    let t = tempfile::tempdir().unwrap();
    let ls = lines(&w.http_export);
    let n = note(&ls[1]);

    // Removed: the file no longer carries a cosigned checkpoint.
    let mut removed = ls.clone();
    removed.remove(1);
    let file = write(t.path(), "removed", &removed);
    fails(
        &with_witnesses("verify-export", &file, &[v1, v2], 2, &[]),
        &[
            "the export carries no cosigned checkpoint",
            "[not_witnessed]",
        ],
    );
    // (On its own it is a consistent export: witnesses are what it cannot show.)
    passes(&custody(&["verify-export", file.to_str().unwrap()]), "ok: ");

    // Altered: the size changed, so neither the cosignatures nor the registrant's signature
    // hold.
    let mut altered = ls.clone();
    altered[1] = checkpoint_line(&n.replacen(
        &format!("\n{}\n", w.size),
        &format!("\n{}\n", w.size - 1),
        1,
    ));
    let file = write(t.path(), "altered", &altered);
    fails(
        &with_witnesses("verify-export", &file, &[v1, v2], 2, &[]),
        &[
            "no checkpoint the export carries is cosigned by 2 of the 2 witness(es) given",
            "is cosigned by none of them",
            "witness-one.example's cosignature does not verify",
            "[not_witnessed]",
        ],
    );
    fails(
        &custody(&["verify-export", file.to_str().unwrap()]),
        &["[checkpoint_signature]"],
    );

    // One cosignature broken: one of two.
    let two = n
        .lines()
        .find(|l| l.starts_with("\u{2014} witness-two.example "))
        .unwrap();
    let (head, sig) = two.rsplit_once(' ').unwrap();
    let mut raw = B64.decode(sig).unwrap();
    *raw.last_mut().unwrap() ^= 1;
    let broken = format!("{head} {}", B64.encode(raw));
    let mut one_broken = ls.clone();
    one_broken[1] = checkpoint_line(&n.replace(two, &broken));
    let file = write(t.path(), "one-broken", &one_broken);
    fails(
        &with_witnesses("verify-export", &file, &[v1, v2], 2, &[]),
        &[
            "is cosigned by 1 (witness-one.example)",
            "witness-two.example's cosignature does not verify",
            "[not_witnessed]",
        ],
    );
    passes(
        &with_witnesses("verify-export", &file, &[v1, v2], 1, &[]),
        "cosigned by 1 of the 2 witness(es) given",
    );

    // A quorum not met: a witness that never cosigned.
    let stranger = w.stranger.as_str();
    fails(
        &with_witnesses("verify-export", &w.http_export, &[v1, stranger], 2, &[]),
        &[
            "is cosigned by 1 (witness-one.example)",
            "witness-three.example did not cosign it",
            "[not_witnessed]",
        ],
    );
    fails(
        &with_witnesses("verify-report", &w.report, &[v1, stranger], 2, &[]),
        &[
            "no checkpoint the report carries is cosigned by 2 of the 2 witness(es) given",
            "witness-three.example did not cosign it",
            "[not_witnessed]",
        ],
    );
    passes(
        &with_witnesses("verify-report", &w.report, &[v1, stranger], 1, &[]),
        "cosigned by 1 of the 2 witness(es) given",
    );

    // A checkpoint the ledger does not extend: the last entry re-timed and the chain
    // rebuilt under the carried checkpoint line, or the ledger cut short beneath it.
    let retimed = rechained(&ls, |e| {
        let last = e.last_mut().unwrap();
        last.timestamp =
            custody_ledger::Timestamp::from_micros(last.timestamp.micros() + 1).unwrap();
    });
    let file = write(t.path(), "retimed", &retimed);
    fails(
        &with_witnesses("verify-export", &file, &[v1, v2], 2, &[]),
        &["[checkpoint_mismatch]"],
    );
    let short = rechained(&ls, |e| {
        e.pop();
    });
    let file = write(t.path(), "short", &short);
    fails(
        &with_witnesses("verify-export", &file, &[v1, v2], 2, &[]),
        &["[shorter_than_checkpoint]"],
    );
    // Import refuses it as well.
    let dir = t.path().join("imported");
    let o = custody(&[
        "import",
        "--data",
        dir.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    fails(&o, &["[shorter_than_checkpoint]"]);
}

#[test]
fn a_report_and_an_export_made_without_witnesses_say_so_and_fail_with_witnesses() {
    let w = witnessed();
    let [v1, v2] = [w.vkeys[0].as_str(), w.vkeys[1].as_str()];
    let (t, d) = demo_copy();
    let pdf = t.path().join("audit.pdf");
    let o = custody(&[
        "report",
        "audit",
        "--data",
        d.to_str().unwrap(),
        "-o",
        pdf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    passes(
        &custody(&["verify-report", pdf.to_str().unwrap()]),
        "it carries no cosigned checkpoint: no witness had cosigned one when it was issued",
    );
    fails(
        &with_witnesses("verify-report", &pdf, &[v1, v2], 2, &[]),
        &[
            "the report carries no cosigned checkpoint",
            "it was issued without witnesses configured",
            "[not_witnessed]",
        ],
    );
    let export = t.path().join("export.jsonl");
    let o = custody(&[
        "export",
        "--data",
        d.to_str().unwrap(),
        "-o",
        export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lines(&export)[1].starts_with("{\"seq\":0,"));
    fails(
        &with_witnesses("verify-export", &export, &[v1, v2], 2, &[]),
        &[
            "the export carries no cosigned checkpoint",
            "[not_witnessed]",
        ],
    );
    if poppler() {
        let text = pdf_words(&pdf);
        let says = "Witnessed none: no witness had cosigned a checkpoint of this ledger when this report was issued (no witnesses configured, or none had answered yet)";
        assert_eq!(text.matches(says).count(), 2, "{text}");
        assert!(
            text.contains("No checkpoint cosigned by a witness is carried"),
            "{text}"
        );
    }
}

#[test]
fn an_export_carries_its_cosigned_checkpoint_and_is_read_strictly() {
    let w = witnessed();
    let t = tempfile::tempdir().unwrap();
    let ls = lines(&w.http_export);
    let check = |name: &str, lines: &[String], why: &str| {
        let file = write(t.path(), name, lines);
        fails(
            &custody(&["verify-export", file.to_str().unwrap()]),
            &[why, "[malformed_export]"],
        );
    };
    let edit = |i: usize, f: &dyn Fn(&str) -> String| {
        let mut l = ls.clone();
        l[i] = f(&l[i]);
        l
    };
    let mut after = ls.clone();
    after.swap(1, 2);
    check(
        "after-an-entry",
        &after,
        "line 3: a checkpoint line after an entry line",
    );
    check(
        "with-a-seq",
        &edit(1, &|l| l.replacen('{', "{\"seq\":0,", 1)),
        "line 2: a line holds a checkpoint and entry fields",
    );
    check(
        "unknown-key",
        &edit(1, &|l| l.replacen('{', "{\"note\":\"x\",", 1)),
        "line 2: unknown field `note`",
    );
    check(
        "not-a-note",
        &edit(1, &|_| checkpoint_line("x")),
        "line 2: the checkpoint line: the checkpoint is malformed",
    );
    let header: Value = serde_json::from_str(&ls[0]).unwrap();
    let ledger = header["ledger"].as_str().unwrap();
    check(
        "another-ledger",
        &edit(1, &|l| {
            checkpoint_line(&note(l).replace(ledger, "01935a2b-0000-7000-8000-000000000001"))
        }),
        "line 2: the checkpoint line is of custody.ledger/01935a2b-0000-7000-8000-000000000001, not of the header's ledger",
    );
    check(
        "version-1-with-a-checkpoint",
        &edit(0, &|l| l.replacen("\"version\":2,", "\"version\":1,", 1)),
        "line 2: missing field `seq`",
    );
    let mut many = ls.clone();
    for _ in 0..16 {
        many.insert(1, ls[1].clone());
    }
    check("seventeen", &many, "line 18: more than 16 checkpoint lines");

    // The file as written imports, to the same head.
    let dir = t.path().join("imported");
    let o = custody(&[
        "import",
        "--data",
        dir.to_str().unwrap(),
        w.http_export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(header["head"].as_str().unwrap()),
        "{}",
        stdout(&o)
    );
}
