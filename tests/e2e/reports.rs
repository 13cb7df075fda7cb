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
        "Discrepancies, open and closed",
        "Loss and theft deadlines",
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
    // Every page's footer says its number of the whole (the total drawn by one form,
    // written once the last page is): pdftotext ends each page with a form feed.
    let pages = txt.matches('\u{c}').count();
    assert!(pages > 1, "the audit report has {pages} pages");
    let footers: Vec<usize> = txt
        .split('\u{c}')
        .filter_map(|p| {
            // The footer is a page's last line: "page X of Y", then the registrant.
            let last = p.lines().rev().find(|l| !l.trim().is_empty())?;
            let (n, of) = last
                .trim_start()
                .strip_prefix("page ")?
                .split_once(" of ")?;
            let total: usize = of.split_whitespace().next()?.parse().ok()?;
            (total == pages).then(|| n.parse().ok())?
        })
        .collect();
    assert_eq!(
        footers,
        (1..=pages).collect::<Vec<_>>(),
        "page X of {pages}"
    );
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
    // Balances: opening + in − out = closing, recomputed here from the printed figures
    // (in the row's unit: "… LOT mL 0 400 90.4 0 309.6 0 0 +0 0 0 0 mg yes").
    let balance_rows: Vec<&str> = txt
        .lines()
        .filter(|l| l.trim_end().ends_with(" yes") || l.trim_end().ends_with(" NO"))
        .collect();
    assert!(balance_rows.len() >= 4, "{txt}");
    for row in balance_rows {
        assert!(row.trim_end().ends_with("yes"), "does not add up: {row}");
        let words: Vec<&str> = row.split_whitespace().collect();
        // From the end: yes, the closing drug ("148 mg" as two words), then ten figures and
        // the unit.
        let n = words.len();
        assert_eq!(words[n - 2], "mg", "{row}");
        assert!(matches!(words[n - 14], "mL" | "units"), "{row}");
        let figures: Vec<i64> = words[n - 13..n - 3]
            .iter()
            .map(|w| thousandths(w))
            .collect();
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
    let first_vial = "C12-1";
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
        if kind == "trace" {
            // The container's timeline, drawn, with its sentence for who cannot see it.
            assert!(txt.contains("Timeline of container C12-1"), "{txt}");
            assert!(txt.contains("Container C12-1: 5 entries from"), "{txt}");
        }
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

/// Rendered back to images at 100 dpi and read with `pdftotext -layout`, every report kind
/// prints each product name, lot and container id its tables hold whole (never cut, never
/// broken across lines), on one paper size (Letter, for the demo's US address), with the
/// summary on page 1, counts in the product's units, and the attestation block.
#[test]
fn every_report_prints_names_lots_and_containers_whole_on_one_paper_size() {
    if !poppler("pdftotext") || !poppler("pdftoppm") {
        return;
    }
    let (t, d) = demo_copy();
    for (kind, extra) in [
        ("audit", vec![]),
        ("inventory", vec![]),
        ("waste", vec![]),
        ("loss", vec![]),
        ("trace", vec!["--container", "C12-1"]),
        ("dispensing", vec![]),
    ] {
        let pdf = t.path().join(format!("{kind}.pdf"));
        report(&d, kind, &pdf, &extra);
        // Whole: what the CSV of the same report holds, cell by cell.
        let mut want: Vec<String> = Vec::new();
        for table in custody_report_tables(kind) {
            let csv = t.path().join(format!("{kind}-{table}.csv"));
            let mut args = vec!["--format", "csv", "--table", table];
            args.extend(extra.iter().copied());
            report(&d, kind, &csv, &args);
            let mut r = ::csv::Reader::from_path(&csv).unwrap();
            let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
            for rec in r.records() {
                let rec = rec.unwrap();
                for (h, cell) in header.iter().zip(rec.iter()) {
                    match h.as_str() {
                        "product" | "lot" if !cell.is_empty() => want.push(cell.to_string()),
                        "container" => want
                            .extend(cell.split(", ").filter(|c| !c.is_empty()).map(String::from)),
                        _ => {}
                    }
                }
            }
        }
        want.sort();
        want.dedup();
        let o = Command::new("pdftoppm")
            .args(["-r", "100", "-png", pdf.to_str().unwrap()])
            .arg(t.path().join(format!("{kind}-100dpi")))
            .output()
            .unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
        let txt = text(&pdf);
        let lines: Vec<String> = txt
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for w in &want {
            assert!(
                lines.iter().any(|l| {
                    l.match_indices(w.as_str()).any(|(i, _)| {
                        // Whole: not a prefix of a longer id ("C12-1" in "C12-10").
                        !l[i + w.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
                }),
                "{kind}: {w:?} is not printed whole on one line"
            );
        }
        if kind == "audit" {
            assert!(want.iter().any(|w| w.contains("10 mg/mL")), "{want:?}");
            assert!(want.iter().any(|w| w.contains("100 mg/mL")), "{want:?}");
            assert!(txt.contains("sealed and"), "counts in units");
            assert!(!txt.contains("sealed + "), "no count in raw µL");
        }
        // The summary starts on page 1.
        let o = Command::new("pdftotext")
            .args(["-f", "1", "-l", "1", "-layout", pdf.to_str().unwrap(), "-"])
            .output()
            .unwrap();
        let first = String::from_utf8(o.stdout).unwrap();
        let first_section = match kind {
            "audit" => "Balances per product and lot",
            "inventory" => "Inventory (21 CFR 1304.11)",
            "waste" => "Wastes awaiting a witness",
            "loss" => "Losses and thefts",
            "trace" => "Every entry naming this container",
            _ => "Doses and take-home dispensing",
        };
        assert!(first.contains(first_section), "{kind}: page 1 is\n{first}");
        // One paper size: US Letter landscape on every page.
        let o = Command::new("pdfinfo")
            .args(["-f", "1", "-l", "100000", pdf.to_str().unwrap()])
            .output()
            .unwrap();
        let info = String::from_utf8(o.stdout).unwrap();
        let sizes: Vec<&str> = info
            .lines()
            .filter(|l| l.starts_with("Page") && l.contains("size:"))
            .map(|l| l.split("size:").nth(1).unwrap().trim())
            .collect();
        assert!(!sizes.is_empty(), "{info}");
        for s in &sizes {
            assert!(s.starts_with("792 x 612 pts"), "{kind}: {s}");
        }
        for must in [
            "Attestation of the pharmacist in charge",
            "Printed name",
            "Pharmacist in charge",
            "Signature",
            "Date",
        ] {
            assert!(txt.contains(must), "{kind}: {must}");
        }
    }
    // A4 on request.
    let pdf = t.path().join("a4.pdf");
    report(&d, "loss", &pdf, &["--paper", "a4"]);
    let o = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let info = String::from_utf8(o.stdout).unwrap();
    assert!(
        info.contains("841.89 x 595.276 pts (A4)"),
        "A4 landscape: {info}"
    );
}

fn custody_report_tables(kind: &str) -> &'static [&'static str] {
    match kind {
        "audit" => &["balances", "counts", "discrepancies", "activity"],
        "inventory" => &["inventory", "open"],
        "waste" => &["waste"],
        "loss" => &["loss"],
        "trace" => &["activity"],
        _ => &["dispensing"],
    }
}

/// 21 CFR 1304.22(c): the dispensing record that names each patient with their name and
/// address from the register, for an inspector — admins and pharmacists only, with a stated
/// reason that is recorded in the signed manifest and the `report_issued` entry.
#[test]
fn the_patient_identifying_record_names_patients_for_admins_and_pharmacists_with_a_reason() {
    use crate::harness::*;
    use reqwest::StatusCode;
    use reqwest::blocking::Client;
    let s = Server::demo();
    let c = Client::new();
    let (from, to) = demo_period();
    let q = format!("from={from}&to={to}&identify=true");
    for user in ["auditor.diaz", "nurse.chen"] {
        let token = s.login(&c, user);
        error(
            c.get(s.api(&format!("/reports/dispensing.pdf?{q}&reason=inspection")))
                .bearer_auth(&token)
                .send()
                .unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let pharmacist = s.login(&c, "pharm.rivera");
    // No reason, or another kind: refused.
    for path in [
        format!("/reports/dispensing.pdf?{q}"),
        format!("/reports/dispensing.pdf?{q}&reason=%20"),
        format!("/reports/audit.pdf?{q}&reason=inspection"),
    ] {
        error(
            c.get(s.api(&path)).bearer_auth(&pharmacist).send().unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        );
    }
    let reason = "DEA inspection 2026-11-30, Investigator Smith";
    let r = c
        .get(s.api(&format!(
            "/reports/dispensing.pdf?{q}&reason=DEA%20inspection%202026-11-30%2C%20Investigator%20Smith"
        )))
        .bearer_auth(&pharmacist)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("record.pdf");
    std::fs::write(&pdf, r.bytes().unwrap()).unwrap();
    let txt = text(&pdf);
    let flat = txt.split_whitespace().collect::<Vec<_>>().join(" ");
    // The address cell wraps beside the next column: its words, each whole.
    assert!(
        flat.contains("Lake Ave,") && flat.contains("Duluth MN 55802"),
        "addresses printed: {flat}"
    );
    assert!(flat.contains(reason), "the reason is on the cover");
    assert!(txt.contains("with the name and address of each patient"));
    // The plain dispensing log names no address.
    let r = c
        .get(s.api(&format!("/reports/dispensing.pdf?from={from}&to={to}")))
        .bearer_auth(&pharmacist)
        .send()
        .unwrap();
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, r.bytes().unwrap()).unwrap();
    assert!(!text(&plain).contains("Lake Ave"));
    // The CSV has the name and address columns.
    let r = c
        .get(s.api(&format!(
            "/reports/dispensing.csv?{q}&reason=DEA%20inspection%202026-11-30%2C%20Investigator%20Smith"
        )))
        .bearer_auth(&pharmacist)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().unwrap();
    let mut rd = ::csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let addr = header.iter().position(|h| h == "patient_address").unwrap();
    assert!(
        rd.records()
            .any(|r| r.unwrap()[addr].ends_with("Lake Ave, Duluth MN 55802"))
    );
    // The reason is recorded in the ledger, in the entries that record both.
    let issued: serde_json::Value = c
        .get(s.api("/entries?kind=report_issued"))
        .bearer_auth(&pharmacist)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let with_reason = issued["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["entry"]["body"]["reason"]
                .as_str()
                .is_some_and(|r| r == reason)
        })
        .count();
    assert_eq!(with_reason, 2, "{issued}");
}

/// pyHanko's verdict on a PDF's embedded signature (`tests/pades/validate.py`), or `None`
/// when pyHanko is not installed (outside CI: the check is skipped and says so).
fn pyhanko(pdf: &Path) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pades/validate.py");
    let o = Command::new("python3").arg(script).arg(pdf).output().ok()?;
    if !o.status.success() && stderr(&o).contains("No module named 'pyhanko") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but pyHanko is not installed: .ci/run installs it"
        );
        eprintln!(
            "note: pyHanko is not installed: its check of the embedded signature was skipped"
        );
        return None;
    }
    assert!(o.status.success(), "pyHanko: {}", stderr(&o));
    Some(serde_json::from_str(stdout(&o).trim()).unwrap())
}

fn pdfsig(pdf: &Path) -> String {
    let o = Command::new("pdfsig")
        .arg(pdf)
        .output()
        .expect("pdfsig runs (Debian poppler-utils)");
    stdout(&o)
}

/// Each report carries an embedded PDF signature (PAdES B-B) that a reader's own software
/// validates: poppler's pdfsig says valid and the whole document signed, pyHanko says intact
/// over the entire file, both by the certificate the signed manifest names; one changed byte
/// and both say so, and so does `custody verify-report`.
#[test]
fn pdfsig_and_pyhanko_accept_the_embedded_signature_and_refuse_a_changed_byte() {
    if !poppler("pdfsig") {
        eprintln!("note: pdfsig is not installed: the embedded signature suite was skipped");
        return;
    }
    let (_t, d) = demo_copy();
    for kind in ["audit", "waste"] {
        let pdf = d.join(format!("{kind}.pdf"));
        report(&d, kind, &pdf, &[]);
        let o = custody(&["verify-report", pdf.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let said = stdout(&o);
        let fingerprint = said
            .split("certificate SHA-256 ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("verify-report names the certificate: {said}"))
            .to_string();
        assert_eq!(fingerprint.len(), 64, "{said}");
        // The verification page prints the fingerprint for a reader to compare.
        assert!(
            text(&pdf)
                .replace(char::is_whitespace, "")
                .contains(&fingerprint),
            "{kind}: the page shows the certificate's fingerprint"
        );

        let sig = pdfsig(&pdf);
        assert!(
            sig.contains("Signature Validation: Signature is Valid."),
            "{kind}: {sig}"
        );
        assert!(sig.contains("Total document signed"), "{kind}: {sig}");
        assert!(
            sig.contains("Signature Type: ETSI.CAdES.detached"),
            "{kind}: {sig}"
        );
        if let Some(v) = pyhanko(&pdf) {
            assert_eq!(v["signatures"], 1, "{v}");
            assert_eq!(v["intact"], true, "{v}");
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["coverage"], "ENTIRE_FILE", "{v}");
            assert_eq!(v["trusted_with_own_certificate"], true, "{v}");
            assert_eq!(v["certificate_sha256"], fingerprint.as_str(), "{v}");
        }

        // One byte of a page's content changed.
        let mut bytes = std::fs::read(&pdf).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x01;
        let bad = d.join(format!("{kind}-changed.pdf"));
        std::fs::write(&bad, &bytes).unwrap();
        let sig = pdfsig(&bad);
        assert!(
            !sig.contains("Signature is Valid") || !sig.contains("Total document signed"),
            "{kind}: pdfsig accepted a changed byte: {sig}"
        );
        if let Some(v) = pyhanko(&bad) {
            assert_eq!(v["intact"], false, "{kind}: {v}");
        }
        let o = custody(&["verify-report", bad.to_str().unwrap()]);
        assert!(
            !o.status.success(),
            "{kind}: verify-report accepted a changed byte"
        );
    }
}
