//! Tampering with a real SQLite file: every column of the entries table, a deleted entry,
//! two swapped entries, a forged entry at the end, a truncated tail. `custody verify` must
//! exit 1 and name the entry.

use custody_ledger::vectors::SignWhenMade;
use custody_ledger::{
    Canonical, Correction, Draft, Entry, EntryHash, EntryId, LedgerId, Meaning, Principal, Seq,
    Timestamp,
};
use custody_store::entities::{entries, ledgers};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    IntoActiveModel,
};

use crate::*;

const K: i64 = 50;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn db(dir: &Path) -> DatabaseConnection {
    Database::connect(custody_store::sqlite_url(dir))
        .await
        .unwrap()
}

async fn row(c: &DatabaseConnection, seq: i64) -> entries::Model {
    let lid = ledgers::Entity::find().one(c).await.unwrap().unwrap().id;
    entries::Entity::find_by_id((lid, seq))
        .one(c)
        .await
        .unwrap()
        .unwrap()
}

/// Copies the demo clinic, applies `tamper`, runs verify; returns its stderr.
fn tampered(tamper: impl AsyncFnOnce(&DatabaseConnection)) -> String {
    let (_t, d) = demo_copy();
    rt().block_on(async {
        let c = db(&d).await;
        tamper(&c).await;
        c.close().await.unwrap();
    });
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "verify must fail: {}", stdout(&o));
    stderr(&o)
}

fn assert_names(err: &str, seq: i64) {
    assert!(
        err.contains(&format!("entry {seq} ")),
        "should name entry {seq}: {err}"
    );
}

#[test]
fn a_changed_byte_anywhere_in_an_entry_is_caught_at_that_entry() {
    let len = rt().block_on(async {
        let (_t, d) = demo_copy();
        row(&db(&d).await, K).await.body.len()
    });
    for pos in [0, 1, 20, 40, 60, 70, 90, len / 2, len - 65, len - 1] {
        let err = tampered(async move |c| {
            let mut r = row(c, K).await;
            r.body[pos] ^= 0x01;
            let mut am = r.into_active_model();
            am.body = Set(am.body.take().unwrap());
            am.reset(entries::Column::Body);
            am.update(c).await.unwrap();
        });
        assert_names(&err, K);
    }
}

#[test]
fn every_column_of_the_entries_table_is_checked() {
    type Change = fn(&mut entries::Model);
    let changes: [(&str, Change); 7] = [
        ("subtrees", |r| r.subtrees.push(0)),
        ("entry_hash", |r| r.entry_hash[3] ^= 0x80),
        ("prev_hash", |r| r.prev_hash[0] ^= 0x01),
        ("recorded_at", |r| r.recorded_at += 1),
        ("kind", |r| r.kind += 1),
        ("entry_id", |r| r.entry_id = uuid::Uuid::now_v7()),
        ("body", |r| r.body.push(0)),
    ];
    for (col, change) in changes {
        let err = tampered(async move |c| {
            let mut r = row(c, K).await;
            change(&mut r);
            let mut am = r.clone().into_active_model();
            for col in [
                entries::Column::EntryHash,
                entries::Column::PrevHash,
                entries::Column::RecordedAt,
                entries::Column::Kind,
                entries::Column::EntryId,
                entries::Column::Subtrees,
                entries::Column::Body,
            ] {
                am.reset(col);
            }
            am.update(c).await.unwrap();
        });
        assert_names(&err, K);
        eprintln!("{col}: {err}");
    }
    // The sequence number and ledger id are the key: move the row away.
    for sql in [
        format!("UPDATE entries SET seq = 1000000 WHERE seq = {K}"),
        format!(
            "PRAGMA foreign_keys = OFF; UPDATE entries SET ledger_id = (SELECT ledger_id FROM entries WHERE seq = 0) || 'x' WHERE seq = {K}"
        ),
    ] {
        let err = tampered(async move |c| {
            c.execute_unprepared(&sql).await.unwrap();
        });
        assert_names(&err, K);
    }
}

#[test]
fn a_deleted_entry_in_the_middle_is_named() {
    let err = tampered(async |c| {
        c.execute_unprepared(&format!("DELETE FROM entries WHERE seq = {K}"))
            .await
            .unwrap();
    });
    assert_names(&err, K);
}

#[test]
fn two_swapped_entries_are_caught_at_the_first() {
    let err = tampered(async |c| {
        for sql in [
            format!("UPDATE entries SET seq = -1 WHERE seq = {K}"),
            format!("UPDATE entries SET seq = {K} WHERE seq = {}", K + 1),
            format!("UPDATE entries SET seq = {} WHERE seq = -1", K + 1),
        ] {
            c.execute_unprepared(&sql).await.unwrap();
        }
    });
    assert_names(&err, K);
}

#[test]
fn a_truncated_tail_is_caught() {
    let (_t, d) = demo_copy();
    let n = rt().block_on(async {
        let c = db(&d).await;
        let n = ledgers::Entity::find()
            .one(&c)
            .await
            .unwrap()
            .unwrap()
            .next_seq;
        c.execute_unprepared(&format!("DELETE FROM entries WHERE seq = {}", n - 1))
            .await
            .unwrap();
        n
    });
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_names(&stderr(&o), n - 1);
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}

#[test]
fn an_entry_signed_by_an_unknown_key_is_named() {
    let (_t, d) = demo_copy();
    let n = rt().block_on(async {
        let c = db(&d).await;
        let head = ledgers::Entity::find().one(&c).await.unwrap().unwrap();
        let ledger = LedgerId::from_uuid(head.id);
        let prev = EntryHash::from_bytes(head.last_hash.clone().try_into().unwrap());
        let at = Timestamp::from_micros(head.last_timestamp + 1_000_000).unwrap();
        let mut r = [0u8; 10];
        getrandom::fill(&mut r).unwrap();
        let id = EntryId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis((at.micros() / 1000) as u64, &r).into_uuid(),
        );
        let stranger = custody_store::keystore::generate().unwrap();
        let e = Draft::new(
            ledger,
            id,
            Correction {
                corrects: Seq::new(1).unwrap(),
                reason: "nothing happened".parse().unwrap(),
            },
        )
        .signed_when_made(
            Principal::User("mallory".parse().unwrap()),
            Meaning::Authored,
            &stranger,
        )
        .chain(Seq::new(head.next_seq as u64).unwrap(), prev, at);
        let bytes = e.to_canonical_bytes();
        let hash = e.hash();
        entries::ActiveModel {
            ledger_id: Set(head.id),
            seq: Set(head.next_seq),
            entry_id: Set(id.as_uuid()),
            kind: Set(i32::from(e.kind().code())),
            recorded_at: Set(at.micros()),
            prev_hash: Set(prev.as_bytes().to_vec()),
            entry_hash: Set(hash.as_bytes().to_vec()),
            subtrees: Set(Vec::new()),
            body: Set(bytes),
        }
        .insert(&c)
        .await
        .unwrap();
        let n = head.next_seq;
        let mut h = head.into_active_model();
        h.next_seq = Set(n + 1);
        h.last_hash = Set(hash.as_bytes().to_vec());
        h.last_timestamp = Set(at.micros());
        h.update(&c).await.unwrap();
        n
    });
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_names(&stderr(&o), n);
    assert!(stderr(&o).contains("mallory"), "{}", stderr(&o));
}

/// The materialized tables (what appends and pages read as the state) are compared with the
/// ledger: each change is named by table, row and column.
#[test]
fn a_changed_materialized_row_is_named() {
    let sealed = "(SELECT MIN(container_id) FROM containers WHERE status = 'sealed')";
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "remaining raised",
            format!("UPDATE containers SET remaining = remaining + 5000 WHERE container_id = {sealed}"),
            &["containers", "remaining"],
        ),
        (
            "capacity raised",
            format!("UPDATE containers SET capacity = capacity + 5000 WHERE container_id = {sealed}"),
            &["containers", "capacity"],
        ),
        (
            "expiry moved",
            format!("UPDATE containers SET expiry = expiry + 365 WHERE container_id = {sealed}"),
            &["containers", "expiry"],
        ),
        (
            "status changed",
            format!("UPDATE containers SET status = 'gone' WHERE container_id = {sealed}"),
            &["containers", "status"],
        ),
        (
            "a nurse made an admin",
            "UPDATE users SET role = 'admin' WHERE user_id = (SELECT MIN(user_id) FROM users WHERE role = 'nurse')".into(),
            &["users", "role"],
        ),
        (
            "a user's key replaced",
            "UPDATE users SET public_key = (SELECT public_key FROM users WHERE user_id = (SELECT MAX(user_id) FROM users)) WHERE user_id = (SELECT MIN(user_id) FROM users)".into(),
            &["users", "public_key"],
        ),
        (
            "a location's kind changed",
            "UPDATE locations SET kind = CASE kind WHEN 'cart' THEN 'safe' ELSE 'cart' END WHERE location_id = (SELECT MIN(location_id) FROM locations)".into(),
            &["locations", "kind"],
        ),
        (
            "a discrepancy said resolved by another entry",
            "UPDATE discrepancies SET resolved_seq = resolved_seq + 1 WHERE count_seq = (SELECT MIN(count_seq) FROM discrepancies)".into(),
            &["discrepancies", "resolved_seq"],
        ),
        (
            // Opening the store to serve fills a missing resolution in from the adjustments;
            // opening it to verify must not, or this would be put back unseen.
            "a resolved discrepancy reset to open",
            "UPDATE discrepancies SET resolved_seq = NULL WHERE count_seq = (SELECT MIN(count_seq) FROM discrepancies)".into(),
            &["discrepancies", "resolved_seq"],
        ),
        (
            "a container row deleted",
            format!("DELETE FROM containers WHERE container_id = {sealed}"),
            &["containers", "is missing"],
        ),
        (
            "an extra container row",
            format!(
                "INSERT INTO containers (ledger_id, container_id, receipt_seq, idx, ndc, lot, expiry, location, status, beyond_use, capacity, remaining) SELECT ledger_id, 'C1-99', 1, 99, ndc, lot, expiry, location, status, beyond_use, capacity, remaining FROM containers WHERE container_id = {sealed}"
            ),
            &["containers C1-99", "not in the ledger"],
        ),
        (
            "the enrolment count raised",
            "UPDATE ledgers SET users_enrolled = users_enrolled + 1".into(),
            &["ledgers", "users_enrolled"],
        ),
    ];
    for (what, sql, names) in cases {
        let err = tampered(async move |c| {
            c.execute_unprepared(&sql).await.unwrap();
        });
        assert!(
            err.contains("[materialized_mismatch]") && names.iter().all(|n| err.contains(n)),
            "{what}: {err}"
        );
        eprintln!("{what}: {err}");
    }
}

#[test]
fn a_product_whose_concentration_was_changed_is_named() {
    use custody_ledger::{Micrograms, ProductDefined, Strength};
    use custody_store::entities::products;
    let err = tampered(async |c| {
        let row = products::Entity::find()
            .all(c)
            .await
            .unwrap()
            .into_iter()
            .find(|p| {
                matches!(
                    ProductDefined::from_canonical_bytes(&p.definition)
                        .unwrap()
                        .strength,
                    Strength::Solution { .. }
                )
            })
            .expect("a solution");
        let mut def = ProductDefined::from_canonical_bytes(&row.definition).unwrap();
        let Strength::Solution { per_ml, volume } = def.strength else {
            unreachable!()
        };
        def.strength = Strength::Solution {
            per_ml: Micrograms::new(per_ml.get() * 10),
            volume,
        };
        let mut am = row.into_active_model();
        am.definition = Set(def.to_canonical_bytes());
        am.update(c).await.unwrap();
    });
    assert!(
        err.contains("[materialized_mismatch]")
            && err.contains("products")
            && err.contains("definition.strength"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Format version 3: the chain rewritten consistently by someone who can write the database but
// does not hold the registrant key. Every hash, `prev`, sequence number, Merkle subtree and the
// head row agree with each other, as a careful attacker leaves them; only the sequencer
// signatures, which the registrant key made over each entry's place and time, cannot be made
// again. `custody verify` names the first entry moved, with no witness and no checkpoint.

/// Reads every entry of the ledger, lets `edit` change them (it returns the first index it
/// changed), then renumbers and re-chains everything from there and writes it all back: the
/// entries' rows (seq, prev_hash, entry_hash, recorded_at, subtrees, body) and the head row.
/// Nothing is sealed again: there is no registrant key to do it with.
async fn rechained(c: &DatabaseConnection, edit: impl FnOnce(&mut Vec<Entry>) -> usize) {
    use custody_ledger::merkle::{self, Frontier};
    use sea_orm::{QueryFilter, QueryOrder};
    let head = ledgers::Entity::find().one(c).await.unwrap().unwrap();
    let rows = entries::Entity::find()
        .filter(entries::Column::LedgerId.eq(head.id))
        .order_by_asc(entries::Column::Seq)
        .all(c)
        .await
        .unwrap();
    let mut all: Vec<Entry> = rows
        .iter()
        .map(|r| Entry::from_canonical_bytes(&r.body).unwrap())
        .collect();
    let k = edit(&mut all);
    let mut frontier = Frontier::new();
    let mut prev = EntryHash::ZERO;
    let mut rewritten = Vec::new();
    for (i, e) in all.iter_mut().enumerate() {
        if i >= k {
            e.seq = Seq::new(i as u64).unwrap();
            e.prev = prev;
        }
        prev = e.hash();
        let completed = frontier.push(merkle::leaf_hash(prev.as_bytes()));
        if i >= k {
            rewritten.push(entries::ActiveModel {
                ledger_id: Set(head.id),
                seq: Set(i as i64),
                entry_id: Set(e.body.entry_id.as_uuid()),
                kind: Set(i32::from(e.kind().code())),
                recorded_at: Set(e.timestamp.micros()),
                prev_hash: Set(e.prev.as_bytes().to_vec()),
                entry_hash: Set(prev.as_bytes().to_vec()),
                subtrees: Set(completed.concat()),
                body: Set(e.to_canonical_bytes()),
            });
        }
    }
    // The rows go back in order behind the head, as the chain trigger wants them: the head
    // first points at the last entry kept, and each insert moves it on.
    c.execute_unprepared(&format!("DELETE FROM entries WHERE seq >= {k}"))
        .await
        .unwrap();
    let mut h = head.into_active_model();
    h.next_seq = Set(k as i64);
    h.last_hash = Set(if k == 0 {
        EntryHash::ZERO.as_bytes().to_vec()
    } else {
        all[k - 1].hash().as_bytes().to_vec()
    });
    h.update(c).await.unwrap();
    for r in rewritten {
        r.insert(c).await.unwrap();
    }
    let head = ledgers::Entity::find().one(c).await.unwrap().unwrap();
    assert_eq!(head.next_seq, all.len() as i64);
    assert_eq!(head.last_hash, prev.as_bytes().to_vec());
}

/// Verifies the rewritten demo clinic: it must fail at entry `at`, naming the sequencer
/// signature.
fn assert_caught_by_the_sequencer(err: &str, at: usize) {
    assert_names(err, at as i64);
    assert!(err.contains("[bad_sequencer_signature]"), "{err}");
    assert!(err.contains("sequencer signature"), "{err}");
}

#[test]
fn an_entry_re_timed_with_the_chain_rewritten_without_the_registrant_key_is_caught() {
    let k = K as usize;
    let err = tampered(async move |c| {
        rechained(c, |all| {
            // One second later: still after the entry before it and before the one after, after
            // its signatures, within every window the rules have.
            let t = all[k].timestamp.micros();
            assert!(all[k + 1].timestamp.micros() - t > 1_000_000);
            all[k].timestamp = Timestamp::from_micros(t + 1_000_000).unwrap();
            k
        })
        .await;
    });
    assert_caught_by_the_sequencer(&err, k);
}

#[test]
fn an_entry_dropped_and_the_rest_renumbered_without_the_registrant_key_is_caught() {
    // Two counts that agree with the ledger (no Spravato is ever kept on the cart): dropping
    // the first and renumbering the second leaves every rule, and every materialized row, as
    // it was — the history a careful writer without the key would leave.
    let mut s = crate::harness::Server::demo();
    let c = reqwest::blocking::Client::new();
    let token = s.login(&c, "pharm.rivera");
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let r = c
            .post(s.api("/counts"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"password": s.password("pharm.rivera"),
                "location": "CART-A", "product": "50458-0028-02", "counted_sealed": 0}))
            .send()
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let v: serde_json::Value = r.json().unwrap();
        seqs.push(v["seq"].as_u64().unwrap() as usize);
    }
    let d = s.stop();
    let dropped = seqs[0];
    rt().block_on(async {
        let c = db(&d).await;
        rechained(&c, |all| {
            all.remove(dropped);
            dropped
        })
        .await;
        c.close().await.unwrap();
    });
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "verify must fail: {}", stdout(&o));
    assert_caught_by_the_sequencer(&stderr(&o), dropped);
}

/// The other side of the seal: a server started without the registrant key records nothing.
/// Reads still work; every signed act answers 503 `no_registrant_key`, and no entry is
/// written.
#[test]
fn a_server_without_the_registrant_key_records_nothing() {
    let (_t, d) = demo_copy();
    std::fs::remove_file(d.join("registrant.key")).unwrap();
    let mut s = crate::harness::Server::with_args(&d, &["--data", d.to_str().unwrap()]);
    s.passwords = crate::demo().passwords.clone();
    let c = reqwest::blocking::Client::new();
    let token = s.login(&c, "pharm.rivera");
    let before = s.entries(&c, &token);
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"password": s.password("pharm.rivera"),
            "location": "CART-A", "product": "50458-0028-02", "counted_sealed": 0}))
        .send()
        .unwrap();
    crate::harness::error(
        r,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "no_registrant_key",
    );
    assert_eq!(s.entries(&c, &token), before);
    let d = s.stop();
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A waste its author queued before format version 3 carries a signature with no signing
/// time, which no version 3 entry can hold: witnessing it is refused, saying why, and nothing
/// is written.
#[test]
fn a_waste_queued_before_version_3_cannot_be_witnessed_and_says_why() {
    use custody_store::entities::pending_entries;
    let mut s = crate::harness::Server::demo();
    let c = reqwest::blocking::Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let pharm = s.login(&c, "pharm.rivera");
    let vial = s.sealed_vial(&c, &nurse);
    let post = |token: &str, path: &str, body: serde_json::Value| {
        c.post(s.api(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
    };
    let pw = s.password("nurse.chen");
    let r = post(
        &nurse,
        &format!("/containers/{vial}/open"),
        serde_json::json!({"password": pw}),
    );
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let r = post(
        &nurse,
        &format!("/containers/{vial}/waste"),
        serde_json::json!({"password": pw, "amount_mg": "50", "reason": "drawn up, not given"}),
    );
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // What a version before 3 left in the queue: the author's signature states no time.
    rt().block_on(async {
        let db = db(s.data()).await;
        let row = pending_entries::Entity::find()
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        // Queued now, the column holds the draft's version with its signatures; before
        // version 4 it held the bare list, and before version 3 no signing times.
        let stored: serde_json::Value = serde_json::from_str(&row.signatures).unwrap();
        let mut sigs = stored["signatures"].clone();
        for sig in sigs.as_array_mut().unwrap() {
            sig.as_object_mut().unwrap().remove("signed_at").unwrap();
        }
        let mut am = row.into_active_model();
        am.signatures = Set(sigs.to_string());
        am.update(&db).await.unwrap();
        db.close().await.unwrap();
    });
    let before = s.entries(&c, &pharm);
    let r = post(
        &pharm,
        &format!("/wastes/awaiting-witness/{id}/witness"),
        serde_json::json!({"password": s.password("pharm.rivera")}),
    );
    crate::harness::error(r, reqwest::StatusCode::CONFLICT, "signed_before_upgrade");
    assert_eq!(s.entries(&c, &pharm), before);
    let d = s.stop();
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
