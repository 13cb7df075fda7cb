//! CSV reports from the real binary and over real HTTP: every table of every report kind
//! reads back with the `csv` crate, its figures add up, text that would be a spreadsheet
//! formula is escaped, and each file's SHA-256 is recorded in a `report_issued` entry.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::Digest;

use crate::harness::*;
use crate::*;

/// Reads a CSV file: its header and rows.
fn read(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// A cell that a spreadsheet would run as a formula.
fn formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// An exact decimal ("14.8") in thousandths.
fn thousandths(s: &str) -> u64 {
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    w.parse::<u64>().unwrap() * 1000 + format!("{f:0<3}")[..3].parse::<u64>().unwrap()
}

#[test]
fn every_table_of_every_report_is_a_csv_that_reads_back_and_adds_up() {
    let (t, d) = demo_copy();
    let (from, to) = demo_period();
    for (kind, tables, extra) in [
        (
            "audit",
            &["balances", "counts", "discrepancies", "pending", "activity"][..],
            &[][..],
        ),
        ("inventory", &["inventory", "open"][..], &[][..]),
        ("waste", &["waste", "pending"][..], &[][..]),
        ("loss", &["loss"][..], &[][..]),
        ("trace", &["activity"][..], &["--container", "C12-1"][..]),
        ("dispensing", &["dispensing"][..], &[][..]),
    ] {
        for table in tables {
            let out = t.path().join(format!("{kind}-{table}.csv"));
            let mut args = vec![
                "report",
                kind,
                "--data",
                d.to_str().unwrap(),
                "--from",
                from,
                "--to",
                to,
                "--format",
                "csv",
                "--table",
                table,
                "-o",
                out.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let o = custody(&args);
            assert!(o.status.success(), "{kind} {table}: {}", stderr(&o));
            let bytes = std::fs::read(&out).unwrap();
            let said = stdout(&o);
            assert!(
                said.contains(&format!(
                    "sha256 {}",
                    hex::encode(sha2::Sha256::digest(&bytes))
                )),
                "{kind} {table}: {said}"
            );
            assert!(said.contains("(report_issued)"), "{said}");
            let (header, rows) = read(&bytes);
            assert!(!header.is_empty(), "{kind} {table}");
            for row in &rows {
                assert_eq!(row.len(), header.len(), "{kind} {table}: {row:?}");
                for cell in row {
                    assert!(!formula(cell), "{kind} {table}: {cell:?}");
                }
            }
            if *table == "balances" {
                assert!(rows.len() >= 4, "{rows:?}");
                let col = |n: &str| header.iter().position(|h| h == n).unwrap();
                let names: Vec<&str> = rows.iter().map(|r| r[col("product")].as_str()).collect();
                // Product names whole: the 10 mg/mL and 100 mg/mL vials are told apart.
                assert!(
                    names.iter().any(|n| n.contains("10 mg/mL"))
                        && names.iter().any(|n| n.contains("100 mg/mL")),
                    "{names:?}"
                );
                for r in &rows {
                    let v = |n: &str| thousandths(&r[col(n)]);
                    assert_eq!(
                        v("opening") + v("received") + v("adjusted_in")
                            - v("administered")
                            - v("dispensed")
                            - v("wasted")
                            - v("destroyed")
                            - v("transferred_out")
                            - v("adjusted_out")
                            - v("lost"),
                        v("closing"),
                        "{r:?}"
                    );
                    assert_eq!(r[col("adds_up")], "yes");
                }
            }
            if *table == "activity" && kind == "audit" {
                assert!(rows.len() > 20, "the demo's whole history");
            }
        }
    }
    // A table the kind does not have is refused, naming those it has.
    let out = t.path().join("x.csv");
    let o = custody(&[
        "report",
        "loss",
        "--data",
        d.to_str().unwrap(),
        "--format",
        "csv",
        "--table",
        "balances",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("choose loss"), "{}", stderr(&o));
}

#[test]
fn a_csv_over_http_escapes_formulas_and_its_sha256_is_in_the_ledger() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let auditor = s.login(&c, "auditor.diaz");
    let nurse_pw = s.passwords["nurse.chen"].clone();
    // A waste whose reason a spreadsheet would run as a formula.
    let vial = s.sealed_vial(&c, &nurse);
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": nurse_pw}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let evil = "=HYPERLINK(\"http://evil.example\",\"click\")";
    let r = c
        .post(s.api(&format!("/containers/{vial}/waste")))
        .bearer_auth(&nurse)
        .json(&json!({"password": nurse_pw, "amount_mg": "1", "reason": evil,
                      "witness": {"username": "pharm.rivera", "password": s.passwords["pharm.rivera"]}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());

    let r = c
        .get(s.api("/reports/waste.csv?table=waste"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let sha = r.headers()["x-custody-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let seq: u64 = r.headers()["x-custody-entry"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().unwrap();
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&bytes)));
    let (header, rows) = read(&bytes);
    let reason = header.iter().position(|h| h == "reason").unwrap();
    let row = rows
        .iter()
        .find(|r| r[reason].contains("HYPERLINK"))
        .expect("the waste is listed");
    // Shown as text, byte for byte after the apostrophe.
    assert_eq!(row[reason], format!("'{evil}"));
    for r in &rows {
        for cell in r {
            assert!(!formula(cell), "{cell:?}");
        }
    }

    // The SHA-256 is recorded, signed by the registrant, in the entry the header names.
    let issued: Value = c
        .get(s.api("/entries?kind=report_issued"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let e = issued["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == seq)
        .expect("the report_issued entry");
    assert_eq!(e["entry"]["body"]["data_digest"], sha, "{e}");
    assert_eq!(e["entry"]["body"]["report"], "waste/waste", "{e}");

    // A nurse may not; an unknown table is refused; a table is for CSV only.
    error(
        c.get(s.api("/reports/audit.csv"))
            .bearer_auth(&nurse)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    error(
        c.get(s.api("/reports/audit.csv?table=nope"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    error(
        c.get(s.api("/reports/audit.pdf?table=counts"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
}
