//! What the independent verifier of issue 12 found, through the real binary: signatures that
//! strict verification refuses, an export header naming another ledger, and how an export
//! file is read (hex case, line ends, unknown and duplicate keys, numbers).

use std::path::Path;

use curve25519_dalek::scalar::Scalar;
use custody_ledger::vectors::{self, seeded_key};
use custody_ledger::{Canonical, Entry, Payload};
use custody_store::export::{FORMAT, Header, Line, VERSION};
use sha2::{Digest, Sha512};

use crate::*;

/// Writes `entries` as an export file, the way `custody export` does.
fn write_export(path: &Path, entries: &[Entry]) {
    let Payload::Genesis(g) = entries[0].payload() else {
        panic!("entry 0 is genesis")
    };
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        ledger: entries[0].ledger,
        registrant_public_key: g.registrant_key,
        entries: entries.len() as u64,
        head: entries.last().unwrap().hash(),
    };
    let mut out = serde_json::to_string(&header).unwrap() + "\n";
    for e in entries {
        let line = Line {
            seq: e.seq.get(),
            hash: e.hash(),
            entry: hex::encode(e.to_canonical_bytes()),
        };
        out += &(serde_json::to_string(&line).unwrap() + "\n");
    }
    std::fs::write(path, out).unwrap();
}

/// The vectors' genesis with its registrant signature replaced by `R ‖ S`, `R` an encoding of
/// the identity point and `S = k·a` (k = SHA-512(R ‖ A ‖ M) mod ℓ, a the registrant's secret
/// scalar): `[S]B = R + [k]A` holds, so batch verification accepts it; strict verification
/// refuses an `R` of small order.
fn genesis_signed_with_identity_r(r: [u8; 32]) -> Entry {
    let key = seeded_key("registrant");
    let mut e = vectors::build().remove(0);
    let message = e.signing_input(&e.signatures[0]);
    let mut h = Sha512::new();
    h.update(r);
    h.update(key.verifying_key().as_bytes());
    h.update(&message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = k * key.to_scalar();
    e.signatures[0].signature[..32].copy_from_slice(&r);
    e.signatures[0].signature[32..].copy_from_slice(s.as_bytes());
    e
}

#[test]
fn verify_export_and_import_refuse_a_signature_whose_r_is_the_identity() {
    let t = tempfile::tempdir().unwrap();
    // The untouched genesis, written the same way, verifies.
    let good = t.path().join("good.jsonl");
    write_export(&good, &vectors::build()[..1]);
    let o = custody(&["verify-export", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut canonical = [0u8; 32];
    canonical[0] = 1;
    let mut y_plus_p = [0xff; 32]; // 1 + (2^255 - 19)
    y_plus_p[0] = 0xee;
    y_plus_p[31] = 0x7f;
    let mut minus_zero = canonical;
    minus_zero[31] = 0x80;
    for (name, r) in [
        ("canonical", canonical),
        ("y+p", y_plus_p),
        ("-0", minus_zero),
    ] {
        let file = t.path().join(format!("{name}.jsonl"));
        write_export(&file, &[genesis_signed_with_identity_r(r)]);
        let o = custody(&["verify-export", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("FAILED: entry 0 is bad: signature 0"),
            "{name}: {err}"
        );
        assert!(err.contains("[bad_signature]"), "{name}: {err}");

        // Import refuses it with the same code, and writes nothing.
        let d = t.path().join(format!("import-{name}"));
        let o = custody(&[
            "import",
            "--data",
            d.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains("[bad_signature]"), "{name}: {err}");
        let o = custody(&["verify", "--data", d.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}: nothing imported");
    }
}

/// A real export of the demo clinic, and its lines.
fn demo_export(t: &Path) -> (std::path::PathBuf, Vec<String>) {
    let (_keep, d) = demo_copy();
    let file = t.join("ledger.jsonl");
    let o = custody(&[
        "export",
        "--data",
        d.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    (file, lines)
}

#[test]
fn an_export_whose_header_names_another_ledger_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (_, mut lines) = demo_export(t.path());
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let ledger = header["ledger"].as_str().unwrap().to_string();
    let other = format!(
        "{}{}",
        &ledger[..35],
        if ledger.ends_with('0') { '1' } else { '0' }
    );
    header["ledger"] = other.clone().into();
    lines[0] = header.to_string();
    let file = t.path().join("other.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let o = custody(&["verify-export", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "the file's header names ledger {other}, but its entries are of ledger {ledger}"
        )),
        "{err}"
    );
    assert!(err.contains("[header_ledger_mismatch]"), "{err}");

    let d = t.path().join("imported");
    let o = custody(&[
        "import",
        "--data",
        d.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("[header_ledger_mismatch]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn how_an_export_file_is_read() {
    let t = tempfile::tempdir().unwrap();
    let (_, lines) = demo_export(t.path());
    let check = |name: &str, text: String, ok: Option<&str>| {
        let file = t.path().join(format!("{name}.jsonl"));
        std::fs::write(&file, text).unwrap();
        let o = custody(&["verify-export", file.to_str().unwrap()]);
        match ok {
            None => assert!(o.status.success(), "{name}: {}", stderr(&o)),
            Some(why) => {
                assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
                let err = stderr(&o);
                assert!(err.contains(why), "{name}: {err}");
                assert!(err.contains("[malformed_export]"), "{name}: {err}");
            }
        }
    };
    let joined = |ls: &[String]| ls.join("\n") + "\n";
    let edit = |i: usize, f: &dyn Fn(&str) -> String| {
        let mut ls = lines.clone();
        ls[i] = f(&ls[i]);
        joined(&ls)
    };
    let upper_value = |line: &str, key: &str| {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v[key] = v[key].as_str().unwrap().to_uppercase().into();
        v.to_string()
    };

    // Accepted: hex in either case, CRLF line ends, no final line feed; unknown keys in a
    // version 1 file.
    check("as-written", joined(&lines), None);
    check("upper-entry", edit(1, &|l| upper_value(l, "entry")), None);
    check("upper-hash", edit(1, &|l| upper_value(l, "hash")), None);
    check("upper-head", edit(0, &|l| upper_value(l, "head")), None);
    check("upper-ledger", edit(0, &|l| upper_value(l, "ledger")), None);
    check(
        "upper-key",
        edit(0, &|l| upper_value(l, "registrant_public_key")),
        None,
    );
    check("crlf", lines.join("\r\n") + "\r\n", None);
    check("no-final-lf", lines.join("\n"), None);
    let version_1 = |ls: &[String]| {
        let mut ls = ls.to_vec();
        ls[0] = ls[0].replacen("\"version\":2,", "\"version\":1,", 1);
        ls
    };
    check("version-1", joined(&version_1(&lines)), None);
    let unknown = |l: &str| l.replacen('{', "{\"note\":\"x\",", 1);
    let mut v1 = version_1(&lines);
    v1[0] = unknown(&v1[0]);
    v1[1] = unknown(&v1[1]);
    check("version-1-unknown-keys", joined(&v1), None);

    // Refused in version 2: unknown keys, in the header and in any line.
    check(
        "unknown-header-key",
        edit(0, &unknown),
        Some("line 1: unknown field `note`"),
    );
    check(
        "unknown-line-key",
        edit(1, &unknown),
        Some("line 2: unknown field `note`"),
    );

    // Refused: duplicate keys, numbers written with a fraction, blank lines, a BOM.
    check(
        "duplicate-header-key",
        edit(0, &|l| l.replacen('{', "{\"entries\":1,", 1)),
        Some("line 1: duplicate field `entries`"),
    );
    check(
        "duplicate-line-key",
        edit(1, &|l| l.replacen('{', "{\"seq\":0,", 1)),
        Some("line 2: duplicate field `seq`"),
    );
    check(
        "version-2.0",
        edit(0, &|l| l.replacen("\"version\":2,", "\"version\":2.0,", 1)),
        Some("line 1: invalid type: floating point `2.0`"),
    );
    check(
        "seq-0.0",
        edit(1, &|l| l.replacen("\"seq\":0,", "\"seq\":0.0,", 1)),
        Some("line 2: invalid type: floating point `0.0`"),
    );
    check(
        "version-3",
        edit(0, &|l| l.replacen("\"version\":2,", "\"version\":3,", 1)),
        Some("line 1: not a custody-export file of version 1 or 2"),
    );
    check(
        "blank-line-at-end",
        joined(&lines) + "\n",
        Some(&format!("line {}: EOF while parsing", lines.len() + 1)),
    );
    check(
        "bom",
        format!("\u{feff}{}", joined(&lines)),
        Some("line 1: "),
    );
}
