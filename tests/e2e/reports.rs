//! Signed PDF reports from the real binary, read back with poppler (`pdftotext`,
//! `pdftoppm`): every report kind renders, the audit report lists every entry of the period
//! and its balances add up, and `verify-report` catches any changed byte and a ledger
//! rewritten after the report.

use std::process::Command;

use custody_store::entities::{entries, ledgers};
use sea_orm::{ConnectionTrait, Database, EntityTrait};

use crate::*;

fn poppler(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

fn text(pdf: &Path) -> String {
    let o = Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs (Debian poppler-utils)");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A report over the demo clinic's whole history (its period as the demo printed it).
fn report(d: &Path, kind: &str, out: &Path, extra: &[&str]) -> String {
    let (from, to) = demo_period();
    let mut args = vec![
        "report",
        kind,
        "--data",
        d.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = custody(&args);
    assert!(o.status.success(), "{kind}: {}", stderr(&o));
    stdout(&o)
}

/// A decimal with unit, as the report prints it, in thousandths (exact; no floats).
fn thousandths(s: &str) -> i64 {
    let (neg, s) = match s.strip_prefix('−').or_else(|| s.strip_prefix('-')) {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    let v = w.parse::<i64>().unwrap() * 1000 + format!("{f:0<3}")[..3].parse::<i64>().unwrap();
    if neg { -v } else { v }
}

#[test]
fn every_report_renders_reads_back_and_the_audit_report_reconciles() {
    if !poppler("pdftotext") || !poppler("pdftoppm") {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"note: poppler-utils is not installed: the PDF read-back tests were skipped\n",
        );
        return;
    }
    let (t, d) = demo_copy();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-pages");
    std::fs::create_dir_all(&shots).unwrap();
    let key = registrant_key(&d);

    // The ledger before the report: the report then records itself as one more entry.
    let entries = |d: &Path| -> u64 {
        stdout(&custody(&["verify", "--data", d.to_str().unwrap()]))["ok: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let n = entries(&d);
    let audit = t.path().join("audit.pdf");
    let said = report(&d, "audit", &audit, &[]);
    assert!(
        said.contains(&format!(
            "recorded in the ledger as entry {n} (report_issued)"
        )),
        "{said}"
    );
    assert_eq!(entries(&d), n + 1, "the report_issued entry verifies");
    let txt = text(&audit);
    for must in [
        "Controlled substance audit report",
        "Riverside Ketamine Clinic",
        "DEA registration",
        "BR1234563",
        "Balances per product and lot",
        "Discrepancies and their resolutions",
        "Wastes awaiting a witness",
        "How to verify this report",
        "µ",
        "page 1 of",
        // Each signature's printed name, meaning and signing time (21 CFR 11.50(a)).
        "signed by (meaning, when)",
        "(authored, ",
        "(witnessed, ",
    ] {
        assert!(txt.contains(must), "the audit report says {must:?}");
    }
    // Every entry of the period is listed: the demo's whole ledger, 0..n.
    let (from, to) = demo_period();
    let mut seqs: Vec<u64> = txt
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let seq = w.next()?.parse::<u64>().ok()?;
            let day = w.next()?;
            (day.len() == 10 && (from..=to).contains(&day)).then_some(seq)
        })
        .collect();
    seqs.sort();
    seqs.dedup();
    // The count table's rows also start with a sequence number and a date; they are
    // entries of the period too.
    assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "every entry appears");
    // Balances: opening + in − out = closing, recomputed here from the printed figures.
    let balance_rows: Vec<&str> = txt
        .lines()
        .filter(|l| l.trim_end().ends_with(" yes") || l.trim_end().ends_with(" NO"))
        .collect();
    assert!(balance_rows.len() >= 4, "{txt}");
    for row in balance_rows {
        assert!(row.trim_end().ends_with("yes"), "does not add up: {row}");
        let figures: Vec<i64> = row
            .split("  ")
            .map(str::trim)
            .filter(|c| {
                c.ends_with(" mL")
                    || c.ends_with(" units")
                    || c.contains(" mL (")
                    || c.contains(" units (")
            })
            .map(|c| thousandths(c.split(' ').next().unwrap()))
            .collect();
        assert_eq!(figures.len(), 10, "{row}");
        let [open, recv, given, disp, waste, destr, out, adj, lost, close] =
            figures.try_into().unwrap();
        assert_eq!(
            open + recv + adj - given - disp - waste - destr - out - lost,
            close,
            "{row}"
        );
    }
    let o = custody(&[
        "verify-report",
        audit.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("detached signature verifies"));

    // Every other kind renders, reads back, and verifies.
    let first_vial = "C13-1";
    for (kind, extra, must) in [
        ("inventory", vec![], "Inventory (21 CFR 1304.11)"),
        ("waste", vec![], "Wastes (author and witness)"),
        ("loss", vec![], "DEA Form 106"),
        (
            "trace",
            vec!["--container", first_vial],
            "Every entry naming this container",
        ),
        ("dispensing", vec![], "Doses and take-home dispensing"),
        ("audit", vec![], "Activity log of the period"),
    ] {
        let pdf = t.path().join(format!("{kind}.pdf"));
        report(&d, kind, &pdf, &extra);
        let txt = text(&pdf);
        assert!(txt.contains(must), "{kind}: {must}");
        assert!(txt.contains("How to verify this report"), "{kind}");
        // Every page renders; the first two are kept to look at.
        let o = Command::new("pdftoppm")
            .args(["-r", "50", "-png", pdf.to_str().unwrap()])
            .arg(t.path().join(format!("{kind}-page")))
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{kind}: {}",
            stderr(&o)
        );
        for f in std::fs::read_dir(t.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.starts_with(&format!("{kind}-page-"))
                && (name.ends_with("-1.png")
                    || name.ends_with("-01.png")
                    || name.ends_with("-2.png")
                    || name.ends_with("-02.png"))
            {
                std::fs::copy(f.path(), shots.join(&name)).unwrap();
            }
        }
        let o = custody(&[
            "verify-report",
            pdf.to_str().unwrap(),
            "--registrant-key",
            &key,
        ]);
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
    }
    let trace = text(&t.path().join("trace.pdf"));
    assert!(
        trace.contains("container_opened") && trace.contains("administered"),
        "{trace}"
    );
}

#[test]
fn a_changed_byte_or_a_rewritten_ledger_fails_verification() {
    let (t, d) = demo_copy();
    let key = registrant_key(&d);
    let pdf = t.path().join("audit.pdf");
    report(&d, "audit", &pdf, &[]);
    let bytes = std::fs::read(&pdf).unwrap();
    let sig = std::fs::read(t.path().join("audit.pdf.sig")).unwrap();
    assert_eq!(sig.len(), 64);

    // One flipped byte anywhere in the PDF: the detached signature fails.
    for at in [100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 10] {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        let bad = t.path().join("bad.pdf");
        std::fs::write(&bad, &b).unwrap();
        std::fs::write(t.path().join("bad.pdf.sig"), &sig).unwrap();
        let o = custody(&[
            "verify-report",
            bad.to_str().unwrap(),
            "--registrant-key",
            &key,
        ]);
        assert_eq!(o.status.code(), Some(1), "byte {at}: {}", stdout(&o));
        assert!(stderr(&o).contains("FAILED"), "{}", stderr(&o));
    }
    // One flipped byte of the signature.
    let mut s = sig.clone();
    s[7] ^= 0x80;
    let bad_sig = t.path().join("bad.sig");
    std::fs::write(&bad_sig, &s).unwrap();
    let o = custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--sig",
        bad_sig.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("signature does not match"),
        "{}",
        stderr(&o)
    );
    // Another registrant key.
    let other = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    let o = custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--registrant-key",
        other,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    // The ledger as it is now: the report rebuilds from its export.
    let export = t.path().join("now.jsonl");
    assert!(
        custody(&[
            "export",
            "--data",
            d.to_str().unwrap(),
            "-o",
            export.to_str().unwrap()
        ])
        .status
        .success()
    );
    let o = custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--registrant-key",
        &key,
        "--export",
        export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rebuilds the same report"));

    // Rewritten after the report: the last three entries dropped and the head moved back,
    // so the chain verifies on its own — but not against the report's checkpoint.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = Database::connect(custody_store::sqlite_url(&d))
                .await
                .unwrap();
            let l = ledgers::Entity::find().one(&c).await.unwrap().unwrap();
            let keep = l.next_seq - 3;
            let last = entries::Entity::find_by_id((l.id, keep - 1))
                .one(&c)
                .await
                .unwrap()
                .unwrap();
            c.execute_unprepared(&format!("DELETE FROM entries WHERE seq >= {keep}"))
                .await
                .unwrap();
            c.execute_unprepared(&format!(
                "UPDATE ledgers SET next_seq = {keep}, last_hash = x'{}', last_timestamp = {}",
                hex::encode(&last.entry_hash),
                last.recorded_at
            ))
            .await
            .unwrap();
            c.close().await.unwrap();
        });
    // Its chain verifies alone; only the materialized rows, which still show what the
    // dropped entries did, give it away (one who rewrote them too would pass).
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("entries verify") && stderr(&o).contains("[materialized_mismatch]"),
        "the rewritten chain verifies alone: {}",
        stderr(&o)
    );
    let rewritten = t.path().join("rewritten.jsonl");
    assert!(
        custody(&[
            "export",
            "--data",
            d.to_str().unwrap(),
            "-o",
            rewritten.to_str().unwrap()
        ])
        .status
        .success()
    );
    let o = custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--registrant-key",
        &key,
        "--export",
        rewritten.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("checkpoint"),
        "names why: {}",
        stderr(&o)
    );
}

#[test]
fn bad_report_requests_are_refused_with_a_clear_message() {
    let (t, d) = demo_copy();
    let out = t.path().join("x.pdf");
    let o = custody(&[
        "report",
        "trace",
        "--data",
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("container"), "{}", stderr(&o));
    let o = custody(&[
        "report",
        "audit",
        "--data",
        d.to_str().unwrap(),
        "--from",
        "2026-12-01",
        "--to",
        "2026-11-01",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("after it ends"), "{}", stderr(&o));
    let o = custody(&[
        "report",
        "weekly",
        "--data",
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = custody(&["verify-report", d.join("custody.db").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "not a report: {}", stderr(&o));
    assert!(!out.exists());
}

/// A report long enough to be built in several parts (120 pages each) embeds a font subset
/// per part; each subset carries its own tag (ISO 32000-1 §9.6.4), and the whole verifies.
#[test]
fn a_report_of_several_parts_tags_each_font_subset_apart() {
    if !poppler("pdffonts") {
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(b"note: poppler-utils is not installed: the PDF font test was skipped\n");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_str().unwrap();
    let o = custody(&[
        "bench",
        "--report",
        "--report-entries",
        "6000",
        "--dir",
        dir,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pdf = t.path().join("report/audit.pdf");
    let fonts = Command::new("pdffonts").arg(&pdf).output().unwrap();
    let listed = String::from_utf8_lossy(&fonts.stdout).into_owned();
    let names: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("+DejaVuSans"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 4, "two parts, two faces each: {listed}");
    let mut tags: Vec<&str> = names.iter().map(|n| &n[..6]).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(
        tags.len(),
        names.len(),
        "every subset has its own tag: {listed}"
    );
    let o = custody(&["verify-report", pdf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
