//! Checkpoints and proofs through the binary: `custody checkpoint`, `prove`, `verify-proof`,
//! `verify --checkpoint`.

use crate::*;

/// Writes the first `keep` entries of an export to `out`, with its header rewritten to match,
/// as someone cutting the ledger short would.
fn shorten_export(file: &Path, keep: usize, out: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().take(keep + 1).map(String::from).collect();
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    header["entries"] = serde_json::json!(keep);
    header["head"] = last["hash"].clone();
    lines[0] = header.to_string();
    std::fs::write(out, lines.join("\n") + "\n").unwrap();
}

fn checkpoint(d: &Path, out: &Path) {
    let o = custody(&[
        "checkpoint",
        "--data",
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn inclusion_and_consistency_proofs_verify_offline_and_damage_is_refused() {
    let (t, d) = demo_copy();
    let key = registrant_key(&d);
    let cp = t.path().join("cp.txt");
    checkpoint(&d, &cp);
    let note = std::fs::read_to_string(&cp).unwrap();
    assert!(note.starts_with("custody.ledger/"), "{note}");
    assert!(note.contains("\n\n\u{2014} custody.ledger/"), "{note}");

    let incl = t.path().join("incl.json");
    let o = custody(&[
        "prove",
        "--data",
        d.to_str().unwrap(),
        "--entry",
        "42",
        "--checkpoint",
        cp.to_str().unwrap(),
        "-o",
        incl.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custody(&[
        "verify-proof",
        incl.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: entry 42 "), "{}", stdout(&o));

    let cons = t.path().join("cons.json");
    let o = custody(&[
        "prove",
        "--data",
        d.to_str().unwrap(),
        "--from-checkpoint",
        cp.to_str().unwrap(),
        "--to-checkpoint",
        cp.to_str().unwrap(),
        "-o",
        cons.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custody(&[
        "verify-proof",
        cons.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Another key, a flipped hash in the path, a wrong position: each refused.
    let other = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let o = custody(&[
        "verify-proof",
        incl.to_str().unwrap(),
        "--registrant-key",
        other,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&incl).unwrap()).unwrap();
    let mut flipped = json.clone();
    let h = flipped["path"][0].as_str().unwrap().to_string();
    let first = if h.starts_with('0') { "1" } else { "0" };
    let f = format!("{first}{}", &h[1..]);
    flipped["path"][0] = serde_json::Value::String(f);
    let mut moved = json.clone();
    moved["seq"] = serde_json::json!(43);
    moved.as_object_mut().unwrap().remove("entry");
    let mut longer = json.clone();
    longer["path"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::Value::String("00".repeat(32)));
    for (name, bad) in [("flipped", flipped), ("moved", moved), ("longer", longer)] {
        let p = t.path().join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        let o = custody(&[
            "verify-proof",
            p.to_str().unwrap(),
            "--registrant-key",
            &key,
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        assert!(stderr(&o).starts_with("FAILED: "), "{name}: {}", stderr(&o));
    }
}

#[test]
fn verify_with_a_checkpoint_catches_a_truncated_ledger() {
    let (t, d) = demo_copy();
    let cp = t.path().join("cp.txt");
    checkpoint(&d, &cp);
    let o = custody(&[
        "verify",
        "--data",
        d.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("extends the 1 checkpoint"));

    // Someone removes the last five entries and moves the head back to match.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async {
        use sea_orm::{ConnectionTrait, Database};
        let c = Database::connect(custody_store::sqlite_url(&d))
            .await
            .unwrap();
        c.execute_unprepared(
            "DELETE FROM entries WHERE seq >= (SELECT next_seq - 5 FROM ledgers);
             UPDATE ledgers SET next_seq = next_seq - 5,
                    last_hash = (SELECT entry_hash FROM entries ORDER BY seq DESC LIMIT 1),
                    last_timestamp = (SELECT recorded_at FROM entries ORDER BY seq DESC LIMIT 1);",
        )
        .await
        .unwrap();
        let n: i64 = c
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT next_seq FROM ledgers",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        c.close().await.unwrap();
        n
    });
    // Alone, the shortened chain is consistent (only the materialized rows, which still show
    // what the dropped entries did, give it away; one who rewrote them too would pass)…
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("entries verify") && stderr(&o).contains("[materialized_mismatch]"),
        "{}",
        stderr(&o)
    );
    // …but not with the checkpoint the auditor kept.
    let o = custody(&[
        "verify",
        "--data",
        d.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("entry {n} ")), "{err}");
    assert!(
        err.contains("entries were removed") && err.contains("shorter_than_checkpoint"),
        "{err}"
    );
}

#[test]
fn bad_checkpoints_are_refused_with_a_clear_error() {
    let (t, d) = demo_copy();
    let cp = t.path().join("cp.txt");
    checkpoint(&d, &cp);
    let note = std::fs::read_to_string(&cp).unwrap();
    let (origin, _) = note.split_once('\n').unwrap();
    // A size the registrant did not sign: the signature no longer covers the body.
    let mut lines: Vec<&str> = note.lines().collect();
    let smaller = (lines[1].parse::<u64>().unwrap() - 1).to_string();
    lines[1] = &smaller;
    let resized = lines.join("\n") + "\n";
    let cases = [
        // Malformed: no signature block.
        (
            "malformed",
            note.split("\n\n").next().unwrap().to_string() + "\n",
            2,
            "malformed",
        ),
        // Another ledger's origin.
        (
            "origin",
            note.replace(
                origin,
                "custody.ledger/0193aaaa-0000-7000-8000-000000000000",
            ),
            2,
            "not of this ledger",
        ),
        ("signature", resized, 1, "checkpoint_signature"),
    ];
    for (name, text, code, says) in cases {
        let p = t.path().join(format!("{name}.txt"));
        std::fs::write(&p, &text).unwrap();
        let o = custody(&[
            "verify",
            "--data",
            d.to_str().unwrap(),
            "--checkpoint",
            p.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(code), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
    }
}

#[test]
fn an_export_is_checked_against_a_held_checkpoint_too() {
    let (t, d) = demo_copy();
    let cp = t.path().join("cp.txt");
    checkpoint(&d, &cp);
    let file = t.path().join("ledger.jsonl");
    let o = custody(&[
        "export",
        "--data",
        d.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = registrant_key(&d);
    let o = custody(&[
        "verify-export",
        file.to_str().unwrap(),
        "--registrant-key",
        &key,
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("extends the 1 checkpoint"),
        "{}",
        stdout(&o)
    );
    // An export cut short, its header rewritten to match: consistent alone, but shorter than
    // the checkpoint the auditor holds.
    let entries = std::fs::read_to_string(&file).unwrap().lines().count() - 1;
    let short = t.path().join("short.jsonl");
    shorten_export(&file, entries - 3, &short);
    let o = custody(&[
        "verify-export",
        short.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custody(&[
        "verify-export",
        short.to_str().unwrap(),
        "--registrant-key",
        &key,
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("entries were removed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_consistency_proof_between_two_sizes_verifies() {
    let (t, d) = demo_copy();
    let key = registrant_key(&d);
    // An older state of the same ledger: its first 200 entries, with the registrant's key.
    let file = t.path().join("ledger.jsonl");
    let o = custody(&[
        "export",
        "--data",
        d.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let short = t.path().join("short.jsonl");
    shorten_export(&file, 200, &short);
    let old_dir = t.path().join("old");
    let o = custody(&[
        "import",
        "--data",
        old_dir.to_str().unwrap(),
        short.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["registrant.key", "registrant.pass"] {
        std::fs::copy(d.join(f), old_dir.join(f)).unwrap();
    }
    let old_cp = t.path().join("old.txt");
    checkpoint(&old_dir, &old_cp);
    let new_cp = t.path().join("new.txt");
    checkpoint(&d, &new_cp);

    let cons = t.path().join("cons.json");
    let o = custody(&[
        "prove",
        "--data",
        d.to_str().unwrap(),
        "--from-checkpoint",
        old_cp.to_str().unwrap(),
        "--to-checkpoint",
        new_cp.to_str().unwrap(),
        "-o",
        cons.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cons).unwrap()).unwrap();
    assert_eq!(proof["old_size"], 200);
    assert!(!proof["path"].as_array().unwrap().is_empty());
    let o = custody(&[
        "verify-proof",
        cons.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("extends, unchanged, the ledger of 200 entries"),
        "{}",
        stdout(&o)
    );
    // The current ledger extends the old checkpoint, as `verify` confirms too.
    let o = custody(&[
        "verify",
        "--data",
        d.to_str().unwrap(),
        "--checkpoint",
        old_cp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}
