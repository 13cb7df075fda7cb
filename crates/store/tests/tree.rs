//! The stored Merkle tree: roots and proofs read from stored subtrees equal those computed from
//! scratch; checkpoints are issued, recorded and proven; a rewritten or shortened ledger no
//! longer extends a checkpoint the auditor holds.

mod common;

use std::sync::OnceLock;

use common::*;
use custody_ledger::checkpoint::SignedCheckpoint;
use custody_ledger::merkle::{self, Frontier, Hash, Leaves};
use custody_ledger::vectors::{self, Builder, KETAMINE_10, SignWhenMade, seeded_key};
use custody_ledger::*;
use custody_store::Store;
use custody_store::entities::{entries, ledgers};
use proptest::prelude::*;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

fn leaves(entries: &[Entry]) -> Vec<Hash> {
    entries
        .iter()
        .map(|e| merkle::leaf_hash(e.hash().as_bytes()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roots_and_proofs_of_the_vector_ledger_on_every_backend() {
    for db in TestDb::all().await {
        let all = vectors::build();
        for e in &all {
            db.store.import_entry(e.clone(), e.hash()).await.unwrap();
        }
        let ledger = all[0].ledger;
        let l = leaves(&all);
        let n = all.len() as u64;
        for size in 1..=n {
            let r = db.store.tree_root(ledger, size).await.unwrap();
            assert_eq!(
                r,
                merkle::root(&mut Leaves(&l), size),
                "{} size {size}",
                db.name
            );
        }
        for seq in 0..n {
            let p = db.store.inclusion_proof(ledger, seq, n).await.unwrap();
            assert_eq!(p.entry_hash, all[seq as usize].hash());
            assert_eq!(
                p.path,
                merkle::inclusion_proof(&mut Leaves(&l), seq, n).unwrap()
            );
            merkle::verify_inclusion(p.entry_hash.as_bytes(), seq, n, &p.root, &p.path).unwrap();
        }
        for old in 1..=n {
            let p = db.store.consistency_proof(ledger, old, n).await.unwrap();
            merkle::verify_consistency(old, &p.old_root, n, &p.new_root, &p.path).unwrap();
        }
        assert!(db.store.inclusion_proof(ledger, n, n).await.is_err());
        assert!(db.store.inclusion_proof(ledger, 0, n + 1).await.is_err());
        assert!(db.store.consistency_proof(ledger, 0, n).await.is_err());
        db.cleanup().await;
    }
}

/// A valid ledger of `n` entries: the vectors' first 16, then counts.
fn long_ledger(n: usize) -> Vec<Entry> {
    let prefix = vector_prefix(16);
    let mut b = Builder::new(prefix[0].ledger, prefix[15].timestamp.micros() + 1_000_000);
    for e in &prefix {
        b.state.apply(e).unwrap();
        b.entries.push(e.clone());
    }
    let nina = seeded_key("nina");
    while b.entries.len() < n {
        let d = b
            .draft(Count {
                location: "SAFE-1".parse().unwrap(),
                product: KETAMINE_10.parse().unwrap(),
                blind: false,
                expected: Tally { sealed: 3, open: 0 },
                counted: Tally { sealed: 3, open: 0 },
            })
            .signed_when_made(user("nina"), Meaning::Authored, &nina);
        b.push(d, 1_000_000).unwrap();
    }
    b.entries
}

struct Big {
    rt: tokio::runtime::Runtime,
    db: TestDb,
    leaves: Vec<Hash>,
    ledger: LedgerId,
}

fn big() -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let entries = long_ledger(10_000);
        let db = rt.block_on(async {
            let db = TestDb::sqlite().await;
            let mut f = custody_store::bench::BulkLoad::default();
            for chunk in entries.chunks(2_000) {
                db.store.bench_bulk_load(chunk, &mut f).await.unwrap();
            }
            db
        });
        Big {
            rt,
            db,
            leaves: leaves(&entries),
            ledger: entries[0].ledger,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_proofs_equal_proofs_from_scratch_and_verify(n in 1u64..=10_000, a in any::<u64>(), b in any::<u64>()) {
        let big = big();
        let (m, old) = (a % n, 1 + b % n);
        let (incl, cons, root) = big.rt.block_on(async {
            (
                big.db.store.inclusion_proof(big.ledger, m, n).await.unwrap(),
                big.db.store.consistency_proof(big.ledger, old, n).await.unwrap(),
                big.db.store.tree_root(big.ledger, n).await.unwrap(),
            )
        });
        let mut scratch = Leaves(&big.leaves);
        prop_assert_eq!(root, merkle::root(&mut scratch, n));
        prop_assert_eq!(&incl.path, &merkle::inclusion_proof(&mut scratch, m, n).unwrap());
        prop_assert_eq!(&cons.path, &merkle::consistency_proof(&mut scratch, old, n).unwrap());
        prop_assert!(incl.path.len() as u32 <= 64 - (n.max(2) - 1).leading_zeros());
        merkle::verify_inclusion(incl.entry_hash.as_bytes(), m, n, &root, &incl.path).unwrap();
        merkle::verify_consistency(old, &cons.old_root, n, &root, &cons.path).unwrap();
    }
}

/// The version 1 and 2 vector ledger (entries 0–34), in a store that holds the registrant
/// keys.
async fn vector_store(db: &TestDb) -> (LedgerId, Vec<Entry>) {
    let mut all = vectors::build();
    all.truncate(vectors::LEGACY_VECTORS);
    import(db, &all).await;
    (all[0].ledger, all)
}

async fn import(db: &TestDb, all: &[Entry]) {
    sequencers(&db.store, all[0].ledger);
    for e in all {
        db.store.import_entry(e.clone(), e.hash()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_signed_by_the_current_registrant_key_recorded_and_verified() {
    let db = TestDb::sqlite().await;
    let (ledger, all) = vector_store(&db).await;
    // The vectors end by rotating the registrant key: the old one may no longer sign.
    assert!(
        db.store
            .issue_checkpoint(ledger, &seeded_key("registrant"))
            .await
            .is_err()
    );
    let cp = db
        .store
        .issue_checkpoint(ledger, &seeded_key("registrant-2"))
        .await
        .unwrap();
    assert_eq!(cp.checkpoint.size, all.len() as u64);
    assert_eq!(
        cp.checkpoint.root,
        merkle::root(&mut Leaves(&leaves(&all)), all.len() as u64)
    );
    let listed = db.store.checkpoints(ledger, 10).await.unwrap();
    assert_eq!(listed, vec![cp.clone()]);
    let note = cp.to_note();
    let parsed = SignedCheckpoint::parse(&note).unwrap();
    db.store
        .verify_with(ledger, None, vec![parsed], |_, _| {})
        .await
        .unwrap()
        .unwrap();
    db.cleanup().await;
}

/// What someone with write access to the database, but no one's keys, can do: re-time entry
/// `k` and re-chain everything after it (the bodies' signatures do not cover the chain).
async fn rewrite_from(store: &Store, ledger: LedgerId, all: &[Entry], k: usize) {
    let c = store.connection();
    let lid = ledger.as_uuid();
    entries::Entity::delete_many()
        .filter(entries::Column::LedgerId.eq(lid))
        .filter(entries::Column::Seq.gte(k as i64))
        .exec(c)
        .await
        .unwrap();
    let mut prev = all[k - 1].hash();
    ledgers::Entity::update_many()
        .col_expr(ledgers::Column::NextSeq, (k as i64).into())
        .col_expr(ledgers::Column::LastHash, prev.as_bytes().to_vec().into())
        .filter(ledgers::Column::Id.eq(lid))
        .exec(c)
        .await
        .unwrap();
    let mut f = Frontier::new();
    for e in &all[..k] {
        f.push(merkle::leaf_hash(e.hash().as_bytes()));
    }
    for (i, e) in all[k..].iter().enumerate() {
        let mut e = e.clone();
        if i == 0 {
            e.timestamp = Timestamp::from_micros(e.timestamp.micros() + 1).unwrap();
        }
        e.prev = prev;
        prev = e.hash();
        let completed = f.push(merkle::leaf_hash(prev.as_bytes()));
        entries::Entity::insert(entries::ActiveModel {
            ledger_id: Set(lid),
            seq: Set(e.seq.get() as i64),
            entry_id: Set(e.body.entry_id.as_uuid()),
            kind: Set(i32::from(e.kind().code())),
            recorded_at: Set(e.timestamp.micros()),
            prev_hash: Set(e.prev.as_bytes().to_vec()),
            entry_hash: Set(prev.as_bytes().to_vec()),
            subtrees: Set(completed.concat()),
            body: Set(e.to_canonical_bytes()),
        })
        .exec(c)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_verifies_alone_but_not_against_a_checkpoint() {
    let db = TestDb::sqlite().await;
    let (ledger, all) = vector_store(&db).await;
    let cp = db
        .store
        .issue_checkpoint(ledger, &seeded_key("registrant-2"))
        .await
        .unwrap();
    rewrite_from(&db.store, ledger, &all, 20).await;
    // Without a checkpoint the rewritten chain is self-consistent…
    verified(&db.store, ledger).await;
    // …but it does not extend the checkpoint the auditor kept.
    let f = db
        .store
        .verify_with(ledger, None, vec![cp], |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(f.reason.code(), "checkpoint_mismatch", "{f}");
    db.cleanup().await;
}

/// Format version 3 closes that gap: the same rewrite of the version 3 entries (35–39) of the
/// vectors, by someone without the registrant key, fails verification on its own, at the
/// re-timed entry, naming its sequencer signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_version_3_history_does_not_verify_even_alone() {
    let db = TestDb::sqlite().await;
    let all = vectors::build();
    import(&db, &all).await;
    let ledger = all[0].ledger;
    let k = vectors::LEGACY_VECTORS + 1;
    rewrite_from(&db.store, ledger, &all, k).await;
    let f = db
        .store
        .verify(ledger, None, |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(f.seq, k as u64, "{f}");
    assert_eq!(f.reason.code(), "bad_sequencer_signature", "{f}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_shorter_than_a_checkpoint_is_caught() {
    let db = TestDb::sqlite().await;
    let (ledger, mut all) = vector_store(&db).await;
    // Five more entries after the registrant's key rotation, then a checkpoint.
    for _ in 0..5 {
        let count = Count {
            location: "SAFE-1".parse().unwrap(),
            product: KETAMINE_10.parse().unwrap(),
            blind: false,
            expected: Tally { sealed: 1, open: 0 },
            counted: Tally { sealed: 1, open: 0 },
        };
        all.push(
            db.store
                .append(signed(ledger, count, "noah", &[]))
                .await
                .unwrap()
                .entry,
        );
    }
    let cp = db
        .store
        .issue_checkpoint(ledger, &seeded_key("registrant-2"))
        .await
        .unwrap();
    // Drop the last three entries and point the head at what remains.
    let c = db.store.connection();
    c.execute_unprepared(&format!(
        "DELETE FROM entries WHERE seq >= {}",
        all.len() - 3
    ))
    .await
    .unwrap();
    ledgers::Entity::update_many()
        .col_expr(ledgers::Column::NextSeq, ((all.len() - 3) as i64).into())
        .col_expr(
            ledgers::Column::LastHash,
            all[all.len() - 4].hash().as_bytes().to_vec().into(),
        )
        .exec(c)
        .await
        .unwrap();
    // The chain alone verifies; the materialized rows still show what the dropped entries
    // did (one who rewrote them too would pass this: only the checkpoint catches that).
    let alone = db
        .store
        .verify(ledger, None, |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(alone.reason.code(), "materialized_mismatch", "{alone}");
    let f = db
        .store
        .verify_with(ledger, None, vec![cp], |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(f.reason.code(), "shorter_than_checkpoint", "{f}");
    assert_eq!(f.seq, all.len() as u64 - 3);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_signed_by_another_key_or_for_another_ledger_is_refused() {
    let db = TestDb::sqlite().await;
    let (ledger, all) = vector_store(&db).await;
    let good = db
        .store
        .issue_checkpoint(ledger, &seeded_key("registrant-2"))
        .await
        .unwrap();
    let forged = good.checkpoint.clone().sign(&seeded_key("mallory"));
    let f = db
        .store
        .verify_with(ledger, None, vec![forged], |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(f.reason.code(), "checkpoint_signature", "{f}");
    let mut elsewhere = good.checkpoint.clone();
    elsewhere.origin = "custody.ledger/another".into();
    let f = db
        .store
        .verify_with(
            ledger,
            None,
            vec![elsewhere.sign(&seeded_key("registrant-2"))],
            |_, _| {},
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(f.reason.code(), "checkpoint_signature", "{f}");
    assert!(f.to_string().contains("not this ledger"), "{f}");
    let _ = all;
    db.cleanup().await;
}

/// A witness's cosignature of `cp`, as the store keeps it.
fn cosign(witness: &str, cp: &SignedCheckpoint) -> custody_store::cosignatures::Cosignature {
    let line = custody_ledger::note::Cosignature::sign(
        witness,
        &seeded_key(witness),
        &cp.checkpoint.body(),
        1_700_000_000,
    )
    .unwrap()
    .to_line();
    custody_store::cosignatures::Cosignature {
        size: cp.checkpoint.size,
        root: cp.checkpoint.root,
        witness: witness.into(),
        line: line.trim_end().into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_carries_each_witness_newest_cosigned_checkpoint_that_the_ledger_extends() {
    for db in TestDb::all().await {
        // The version 1 and 2 vectors: entries 0–34.
        let mut all = vectors::build();
        all.truncate(vectors::LEGACY_VECTORS);
        let ledger = all[0].ledger;
        let s = &db.store;
        // Checkpoints at 20 and 30 entries (the genesis key), and at 35 (after the rotation).
        let mut cps = Vec::new();
        for (upto, key) in [(20, "registrant"), (30, "registrant"), (35, "registrant-2")] {
            for e in &all[cps
                .last()
                .map_or(0, |c: &SignedCheckpoint| c.checkpoint.size as usize)
                ..upto]
            {
                s.import_entry(e.clone(), e.hash()).await.unwrap();
            }
            cps.push(s.issue_checkpoint(ledger, &seeded_key(key)).await.unwrap());
        }
        // w1 keeps up; w2 stopped at 30; w3's only cosignature is of a root this ledger does
        // not have (a history rolled back and written again).
        for cp in &cps {
            s.save_cosignature(ledger, &cosign("w1.example", cp), 1)
                .await
                .unwrap();
        }
        for cp in &cps[..2] {
            s.save_cosignature(ledger, &cosign("w2.example", cp), 1)
                .await
                .unwrap();
        }
        let mut forked = cps[1].clone();
        forked.checkpoint.root = [9; 32];
        s.save_cosignature(ledger, &cosign("w3.example", &forked), 1)
            .await
            .unwrap();

        let carried = s.carried_cosigned(ledger, 35).await.unwrap();
        let got: Vec<(u64, Vec<&str>)> = carried
            .iter()
            .map(|c| {
                (
                    c.signed.checkpoint.size,
                    c.cosignatures.iter().map(|w| w.witness.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (35, vec!["w1.example"]),
                (30, vec!["w1.example", "w2.example"])
            ],
            "{}",
            db.name
        );
        // The note is the registrant's with the cosignature lines appended.
        let note = carried[1].note();
        assert!(note.starts_with(&cps[1].to_note()));
        assert_eq!(note.matches("\n\u{2014} w").count(), 2);
        // Only what covers a prefix of the entries exported.
        let upto_32 = s.carried_cosigned(ledger, 32).await.unwrap();
        assert_eq!(upto_32.len(), 1);
        assert_eq!(upto_32[0].signed.checkpoint.size, 30);

        // The export carries them as checkpoint lines after the header, and reads back.
        let mut out = Vec::new();
        s.export(ledger, &mut out).await.unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("\"version\":2"));
        for (i, c) in carried.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(lines[1 + i]).unwrap();
            assert_eq!(v["checkpoint"].as_str().unwrap(), c.note());
        }
        assert!(lines[3].starts_with("{\"seq\":0,"));
        let (_, carried_back) = custody_store::export::read_carried(&out[..]).unwrap();
        assert_eq!(carried_back.len(), 2);
        assert_eq!(carried_back[0].line, 2);
        custody_store::export::verify_export(&out[..], None, Vec::new(), |_| {}).unwrap();
        // A checkpoint line whose size was changed no longer bears the registrant's signature.
        let changed = text.replacen("\\n30\\n", "\\n29\\n", 1);
        assert_ne!(changed, text);
        let e = custody_store::export::verify_export(changed.as_bytes(), None, Vec::new(), |_| {})
            .unwrap_err();
        assert_eq!(e.code(), "checkpoint_signature", "{e}");
        // Import holds the ledger to them too, and reaches the same head.
        let target = TestDb::sqlite().await;
        let imported = target.store.import(&out[..]).await.unwrap();
        assert_eq!(imported.head, all.last().unwrap().hash());
        let target2 = TestDb::sqlite().await;
        let e = target2.store.import(changed.as_bytes()).await.unwrap_err();
        assert!(e.to_string().contains("[checkpoint_signature]"), "{e}");
        target.cleanup().await;
        target2.cleanup().await;
        db.cleanup().await;
    }
}
