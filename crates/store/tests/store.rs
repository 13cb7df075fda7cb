//! The store on real databases: SQLite files always, the machine's PostgreSQL when
//! `DATABASE_URL` is set (`.ci/run` sets it).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use custody_ledger::vectors::SignWhenMade;
use custody_ledger::vectors::{self, KETAMINE_10, KETAMINE_100, prescriber, seeded_key};
use custody_ledger::*;
use custody_store::{Store, StoreError};

const HOUR: i64 = 3_600_000_000;

fn ledger_of(entries: &[Entry]) -> LedgerId {
    entries[0].ledger
}

fn dose(ml_thousandths: u64, per_ml_ug: u64) -> Amount {
    Amount::Volume {
        ul: Microliters::new(ml_thousandths),
        ug: Micrograms::new(per_ml_ug * ml_thousandths / 1000),
    }
}

fn administer(container: &str, amount: Amount, by: &str) -> Administered {
    Administered {
        container: container.parse().unwrap(),
        patient: PatientRef::commit(&[1; 32], "MRN-9"),
        prescriber: prescriber(),
        amount,
        route: Route::Iv,
        given_at: Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
        given_by: by.parse().unwrap(),
        late_reason: None,
    }
}

fn open(container: &str) -> ContainerOpened {
    let today = Timestamp::from_datetime(time::OffsetDateTime::now_utc()).date();
    ContainerOpened {
        container: container.parse().unwrap(),
        beyond_use: today.plus_days(7).unwrap(),
        opened_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_vector_ledger_stores_verifies_and_keeps_its_hashes() {
    for db in TestDb::all().await {
        let all = vectors::build();
        for e in &all {
            db.store.import_entry(e.clone(), e.hash()).await.unwrap();
        }
        let ledger = ledger_of(&all);
        let head = db.store.head(ledger).await.unwrap();
        assert_eq!(head.entries, all.len() as u64, "{}", db.name);
        assert_eq!(head.last_hash, all.last().unwrap().hash());
        let s = verified(&db.store, ledger).await;
        assert_eq!(s.head, head.last_hash);
        // The materialized on-hand equals the ledger's own fold.
        let mut state = custody_ledger::State::new();
        for e in &all {
            state.apply(e).unwrap();
        }
        assert_eq!(
            db.store.on_hand(ledger).await.unwrap(),
            custody_ledger::inventory::on_hand(&state),
            "{}",
            db.name
        );
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_appenders_leave_a_gapless_verifying_chain() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let store = Arc::new(db.store.clone());
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let count = Count {
                    location: "SAFE-1".parse().unwrap(),
                    product: KETAMINE_10.parse().unwrap(),
                    blind: i % 2 == 0,
                    expected: Tally { sealed: 3, open: 0 },
                    counted: Tally { sealed: 3, open: 0 },
                };
                let by = if i % 2 == 0 { "nina" } else { "noah" };
                store.append(signed(ledger, count, by, &[])).await
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("every append succeeds");
        }
        let head = db.store.head(ledger).await.unwrap();
        assert_eq!(head.entries, 16 + 32, "{}", db.name);
        assert_eq!(db.store.entry_rows(ledger).await.unwrap(), 48);
        verified(&db.store, ledger).await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_connection_pools_on_one_database_never_fork_the_chain() {
    // Several pools stand for several server processes sharing one database.
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let mut tasks = Vec::new();
        for p in 0..4 {
            let url = db.url.clone();
            tasks.push(tokio::spawn(async move {
                let store = Store::open(&url).await.unwrap();
                sequencers(&store, ledger);
                for i in 0..8 {
                    let count = Count {
                        location: "CART-A".parse().unwrap(),
                        product: KETAMINE_100.parse().unwrap(),
                        blind: (p + i) % 2 == 0,
                        expected: Tally { sealed: 0, open: 0 },
                        counted: Tally { sealed: 0, open: 0 },
                    };
                    store
                        .append(signed(ledger, count, "phil", &[]))
                        .await
                        .unwrap();
                }
                store.close().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(db.store.head(ledger).await.unwrap().entries, 16 + 32);
        verified(&db.store, ledger).await;
        db.cleanup().await;
    }
}

/// A process that folds what another appended (in a dry run, or in the append itself once it
/// knows the ledger is shared) moves its cached Merkle edge over those entries instead of
/// reading it again: the tree nodes it then stores must be the ones a fresh edge would give.
/// Each append of `a` below completes a subtree that holds leaves `b` appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_folds_anothers_entries_keeps_the_tree_edge_right() {
    for db in TestDb::all().await {
        let ledger = ledger_of(&seed(&db.store, 16).await);
        let (a, b) = (&db.store, Store::open(&db.url).await.unwrap());
        sequencers(&b, ledger);
        let count = |i: u64| {
            signed(
                ledger,
                Count {
                    location: "CART-A".parse().unwrap(),
                    product: KETAMINE_100.parse().unwrap(),
                    blind: i.is_multiple_of(2),
                    expected: Tally { sealed: 0, open: 0 },
                    counted: Tally { sealed: 0, open: 0 },
                },
                "phil",
                &[],
            )
        };
        let append = |s: &Store, i: u64| {
            let d = count(i);
            let s = s.clone();
            async move { s.append(d).await.unwrap().entry.seq.get() }
        };
        // Entry 16 by `a`; 17 and 18 by `b`; `a`'s dry run folds them, and its entry 19
        // completes the subtrees (18, 19) and (16 … 19).
        assert_eq!(append(a, 16).await, 16);
        assert_eq!(append(&b, 17).await, 17);
        assert_eq!(append(&b, 18).await, 18);
        a.dry_run(&[count(19)]).await.unwrap();
        assert_eq!(append(a, 19).await, 19);
        // `b` appends three, then `a` one: from its second (27) `a` knows the ledger is
        // shared and folds `b`'s entries in the append itself; 27 completes (24 … 27), 31
        // completes (16 … 31).
        for i in 20..31 {
            let by = if i % 4 == 3 { a } else { &b };
            assert_eq!(append(by, i).await, i, "{}", db.name);
        }
        assert_eq!(append(a, 31).await, 31, "{}", db.name);
        verified(a, ledger).await;
        b.close().await.unwrap();
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_debits_consume_exactly_what_is_on_hand() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        // C13-1: 100 mg/mL × 5 mL. 32 nurses race to draw 1 mL each.
        db.store
            .append(signed(ledger, open("C13-1"), "nina", &[]))
            .await
            .unwrap();
        let store = Arc::new(db.store.clone());
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let by = if i % 2 == 0 { "nina" } else { "noah" };
                store
                    .append(signed(
                        ledger,
                        administer("C13-1", dose(1_000, 100_000), by),
                        by,
                        &[],
                    ))
                    .await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Rejected(
                    Violation::InsufficientStock { .. } | Violation::ContainerEmpty(_),
                )) => {}
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(won, 5, "{}: exactly 5 mL were there", db.name);
        let on_hand = db.store.on_hand(ledger).await.unwrap();
        assert!(
            !on_hand
                .iter()
                .any(|r| r.product.to_string() == KETAMINE_100 && r.open_containers > 0),
            "the vial is empty"
        );
        assert_eq!(db.store.head(ledger).await.unwrap().entries, 16 + 1 + 5);
        verified(&db.store, ledger).await;
        db.cleanup().await;
    }
}

async fn assert_refused(store: &Store, ledger: LedgerId, d: Draft, want: &str) {
    let before = store.head(ledger).await.unwrap();
    let rows = store.entry_rows(ledger).await.unwrap();
    let on_hand = store.on_hand(ledger).await.unwrap();
    match store.append(d).await {
        Err(StoreError::Rejected(v)) => assert_eq!(v.code(), want, "{v}"),
        other => panic!("expected {want}, got {other:?}"),
    }
    let after = store.head(ledger).await.unwrap();
    assert_eq!(after.entries, before.entries, "nothing written");
    assert_eq!(after.last_hash, before.last_hash);
    assert_eq!(store.entry_rows(ledger).await.unwrap(), rows);
    assert_eq!(store.on_hand(ledger).await.unwrap(), on_hand);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_typed_error_and_writes_nothing() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let s = &db.store;
        s.append(signed(ledger, open("C12-1"), "nina", &[]))
            .await
            .unwrap();
        let receipt = |product: &str, location: &str, n: u32| Receipt {
            supplier: vectors::supplier_party(),
            invoice: text!("INV-1"),
            received_on: "2026-02-01".parse().unwrap(),
            product: product.parse().unwrap(),
            lot: "L1".parse().unwrap(),
            expiry: "2028-01-01".parse().unwrap(),
            containers: n,
            location: location.parse().unwrap(),
        };
        assert_refused(
            s,
            ledger,
            signed(ledger, receipt("99999-9999-99", "SAFE-1", 1), "phil", &[]),
            "unknown_product",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(ledger, receipt(KETAMINE_10, "NOWHERE", 1), "phil", &[]),
            "unknown_location",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(ledger, receipt(KETAMINE_10, "SAFE-1", 0), "phil", &[]),
            "zero_quantity",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(
                ledger,
                administer("C99-1", dose(1_000, 10_000), "nina"),
                "nina",
                &[],
            ),
            "unknown_container",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(
                ledger,
                administer("C12-1", dose(0, 10_000), "nina"),
                "nina",
                &[],
            ),
            "zero_quantity",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(
                ledger,
                administer("C12-1", dose(20_001, 10_000), "nina"),
                "nina",
                &[],
            ),
            "insufficient_stock",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(
                ledger,
                administer("C12-2", dose(1_000, 10_000), "nina"),
                "nina",
                &[],
            ),
            "container_state",
        )
        .await;
        let waste = Waste {
            container: "C12-1".parse().unwrap(),
            amount: dose(1_000, 10_000),
            reason: text!("remainder"),
        };
        assert_refused(
            s,
            ledger,
            signed(ledger, waste.clone(), "nina", &["nina"]),
            "witness_is_author",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(ledger, waste.clone(), "nina", &[]),
            "signatures_incomplete",
        )
        .await;
        // Someone the ledger never enrolled.
        let stranger = Draft::new(ledger, new_id(), waste.clone())
            .signed_when_made(user("mallory"), Meaning::Authored, &seeded_key("mallory"))
            .signed_when_made(user("noah"), Meaning::Witnessed, &seeded_key("noah"));
        assert_refused(s, ledger, stranger, "unknown_signer").await;
        // A forged signature: right key id, wrong bytes.
        let mut forged = signed(ledger, waste.clone(), "nina", &["noah"]);
        forged.signatures[1].signature[0] ^= 1;
        assert_refused(s, ledger, forged, "bad_signature").await;
        // A nurse may not receive stock; an auditor may write nothing.
        assert_refused(
            s,
            ledger,
            signed(ledger, receipt(KETAMINE_10, "SAFE-1", 1), "nina", &[]),
            "role_not_allowed",
        )
        .await;
        assert_refused(
            s,
            ledger,
            signed(ledger, open("C12-2"), "audrey", &[]),
            "role_not_allowed",
        )
        .await;
        // A deactivated witness.
        let off = UserDeactivated {
            user: "noah".parse().unwrap(),
            reason: text!("left the clinic"),
        };
        s.append(signed(ledger, off, "ada", &[])).await.unwrap();
        assert_refused(
            s,
            ledger,
            signed(ledger, waste.clone(), "nina", &["noah"]),
            "inactive_signer",
        )
        .await;
        // The same act twice (same entry id) is one act.
        let d = signed(ledger, waste, "nina", &["phil"]);
        s.append(d.clone()).await.unwrap();
        let before = s.head(ledger).await.unwrap().entries;
        assert!(matches!(
            s.append(d).await,
            Err(StoreError::DuplicateEntry(_))
        ));
        assert_eq!(s.head(ledger).await.unwrap().entries, before);
        verified(s, ledger).await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_reproduces_the_head_hash() {
    for db in TestDb::all().await {
        let all = vectors::build();
        for e in &all {
            db.store.import_entry(e.clone(), e.hash()).await.unwrap();
        }
        let ledger = ledger_of(&all);
        let mut out = Vec::new();
        let n = db.store.export(ledger, &mut out).await.unwrap();
        assert_eq!(n, all.len() as u64);
        let (header, summary) =
            custody_store::export::verify_export(&out[..], None, Vec::new(), |_| {}).unwrap();
        assert_eq!(header.head, all.last().unwrap().hash());
        assert_eq!(summary.entries, n);

        let target = TestDb::sqlite().await;
        let s = target.store.import(&out[..]).await.unwrap();
        assert_eq!(s.head, header.head);
        assert_eq!(
            target.store.head(ledger).await.unwrap().last_hash,
            header.head
        );
        verified(&target.store, ledger).await;
        // Import refuses a database that already holds a ledger.
        assert!(matches!(
            target.store.import(&out[..]).await,
            Err(StoreError::NotEmpty)
        ));
        target.cleanup().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_time_never_goes_backwards() {
    let db = TestDb::sqlite().await;
    let seeded = seed(&db.store, 16).await;
    let ledger = ledger_of(&seeded);
    let last = seeded.last().unwrap().timestamp;
    let earlier = Timestamp::from_micros(last.micros() - 10 * HOUR).unwrap();
    // A body made (and signed) at `earlier`, recorded with that time asked for.
    let d = Draft::new(
        ledger,
        vectors::seeded_entry_id(1000, (earlier.micros() / 1000) as u64),
        open("C12-1"),
    )
    .signed_when_made(user("nina"), Meaning::Authored, &seeded_key("nina"));
    let a = db.store.append_at(d, earlier).await.unwrap();
    assert_eq!(a.entry.timestamp, last, "clamped to the last entry's time");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_an_entry_row_that_does_not_extend_the_head() {
    use custody_store::entities::entries;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let head = db.store.head(ledger).await.unwrap();
        // A second entry 15 (a fork), and an entry 17 (a gap): both refused by the trigger.
        for (seq, prev) in [(15i64, seeded[14].hash()), (17, head.last_hash)] {
            let row = entries::ActiveModel {
                ledger_id: Set(ledger.as_uuid()),
                seq: Set(seq),
                entry_id: Set(uuid::Uuid::now_v7()),
                kind: Set(18),
                recorded_at: Set(head.last_timestamp.micros()),
                prev_hash: Set(prev.as_bytes().to_vec()),
                entry_hash: Set(vec![7; 32]),
                subtrees: Set(Vec::new()),
                body: Set(vec![1, 2, 3]),
            };
            let err = entries::Entity::insert(row)
                .exec(db.store.connection())
                .await
                .expect_err("the chain trigger refuses it");
            assert!(
                err.to_string().contains("does not extend the head")
                    || err.to_string().contains("UNIQUE")
                    || err.to_string().contains("duplicate key"),
                "{}: {err}",
                db.name
            );
        }
        let after = db.store.head(ledger).await.unwrap();
        assert_eq!(after.entries, head.entries);
        assert_eq!(after.last_hash, head.last_hash);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_secret_is_stored_only_wrapped_under_the_registrant_key() {
    use sea_orm::{ConnectionTrait, Statement};
    for db in TestDb::all().await {
        let ledger = seed(&db.store, 1).await[0].ledger;
        let key = custody_ledger::vectors::seeded_key("registrant");
        // None until first use; then made, wrapped, and the same on every later use (from
        // another connection pool too: a second server process).
        assert!(
            db.store
                .stored_patient_secret(ledger)
                .await
                .unwrap()
                .is_empty()
        );
        let second = Store::open(&db.url).await.unwrap();
        let (a, b) = tokio::join!(
            db.store.patient_secret(ledger, &key),
            second.patient_secret(ledger, &key)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(*a, *b, "{}: two first uses agree on one secret", db.name);
        let stored = db.store.stored_patient_secret(ledger).await.unwrap();
        assert!(
            stored.starts_with(b"custody-patient-secret\x01"),
            "{}",
            db.name
        );
        assert!(
            !stored.windows(32).any(|w| w == &a[..]),
            "{}: the secret is not in the row",
            db.name
        );
        // Another key opens nothing.
        let other = custody_ledger::vectors::seeded_key("someone else");
        assert!(db.store.patient_secret(ledger, &other).await.is_err());

        // A clear secret left by an older version is wrapped in place at its first use.
        let clear = [7u8; 32];
        let sql = match db.store.backend() {
            sea_orm::DbBackend::Postgres => "UPDATE ledgers SET patient_secret = $1 WHERE id = $2",
            _ => "UPDATE ledgers SET patient_secret = ? WHERE id = ?",
        };
        db.store
            .connection()
            .execute_raw(Statement::from_sql_and_values(
                db.store.backend(),
                sql,
                [clear.to_vec().into(), ledger.as_uuid().into()],
            ))
            .await
            .unwrap();
        let opened = db.store.patient_secret(ledger, &key).await.unwrap();
        assert_eq!(*opened, clear, "{}: the old secret is kept", db.name);
        let stored = db.store.stored_patient_secret(ledger).await.unwrap();
        assert!(
            stored.starts_with(b"custody-patient-secret\x01"),
            "{}",
            db.name
        );
        assert_eq!(*db.store.patient_secret(ledger, &key).await.unwrap(), clear);
        db.cleanup().await;
    }
}

/// Format version 3: the store seals each append with the registrant key in force, refuses to
/// append without it, never appends a version 1 or 2 draft, and never timestamps an entry
/// before its signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_sealed_by_the_registrant_key_and_refused_without_it() {
    for db in TestDb::all().await {
        let entries = vector_prefix(16);
        for e in &entries {
            db.store.import_entry(e.clone(), e.hash()).await.unwrap();
        }
        let ledger = entries[0].ledger;
        let count = || Count {
            location: "SAFE-1".parse().unwrap(),
            product: KETAMINE_10.parse().unwrap(),
            blind: false,
            expected: Tally { sealed: 3, open: 0 },
            counted: Tally { sealed: 3, open: 0 },
        };
        let before = db.store.head(ledger).await.unwrap();
        // No registrant key, or only one not in force: refused, nothing written.
        for key in [None, Some("registrant-2")] {
            if let Some(k) = key {
                db.store.add_sequencer(ledger, Arc::new(seeded_key(k)));
            }
            match db.store.append(signed(ledger, count(), "noah", &[])).await {
                Err(StoreError::NoSequencerKey(l)) => assert_eq!(l, ledger),
                other => panic!("{}: expected NoSequencerKey, got {other:?}", db.name),
            }
            assert_eq!(db.store.head(ledger).await.unwrap().entries, before.entries);
        }
        assert!(db.store.has_sequencer(ledger));

        // With the key: a version 4 entry, sealed, that verifies.
        db.store
            .add_sequencer(ledger, Arc::new(seeded_key("registrant")));
        let a = db
            .store
            .append(signed(ledger, count(), "noah", &[]))
            .await
            .unwrap();
        assert_eq!(a.entry.version, FormatVersion::V4);
        assert!(a.entry.sequencer.is_some());
        let signed_at = a.entry.signatures[0].signed_at.expect("a signing time");
        assert!(signed_at <= a.entry.timestamp);

        // A version 1 draft is not appended, whoever signed it.
        let legacy = Draft::legacy(ledger, new_id(), count()).signed_when_made(
            user("noah"),
            Meaning::Authored,
            &seeded_key("noah"),
        );
        match db.store.append(legacy).await {
            Err(StoreError::Rejected(Violation::Rule(m))) => {
                assert!(m.contains("format version 4"), "{m}")
            }
            other => panic!("{}: expected a refusal, got {other:?}", db.name),
        }
        // Nor a version 3 draft (signed before the upgrade to version 4).
        let v3 = Draft::v3(ledger, new_id(), count()).signed_when_made(
            user("noah"),
            Meaning::Authored,
            &seeded_key("noah"),
        );
        match db.store.append(v3).await {
            Err(StoreError::Rejected(Violation::Rule(m))) => {
                assert!(m.contains("version 3: sign it again"), "{m}")
            }
            other => panic!("{}: expected a refusal, got {other:?}", db.name),
        }

        // Signed two seconds ahead of the store's clock (a clock that stepped back between
        // signing and appending): recorded no earlier than the signature.
        let ahead = Timestamp::from_micros(
            Timestamp::from_datetime(time::OffsetDateTime::now_utc()).micros() + 2_000_000,
        )
        .unwrap();
        let d = Draft::new(ledger, new_id(), count()).signed(
            user("noah"),
            Meaning::Authored,
            &seeded_key("noah"),
            ahead,
        );
        let a = db.store.append(d).await.unwrap();
        assert!(a.entry.timestamp >= ahead, "{}", db.name);

        db.store
            .verify(
                ledger,
                Some(PublicKey::from(&seeded_key("registrant"))),
                |_, _| {},
            )
            .await
            .unwrap()
            .unwrap_or_else(|f| panic!("{}: {f}", db.name));
        db.cleanup().await;
    }
}

/// An imported version 3 entry keeps its own sequencer signature, which is checked: one that
/// does not verify is refused with its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_entry_keeps_its_sequencer_signature_and_a_bad_one_is_refused() {
    let db = TestDb::sqlite().await;
    let all = vectors::build();
    for e in &all[..vectors::LEGACY_VECTORS] {
        db.store.import_entry(e.clone(), e.hash()).await.unwrap();
    }
    // No registrant key is needed to import: the entry arrives sealed.
    let next = all[vectors::LEGACY_VECTORS].clone();
    let mut forged = next.clone();
    forged.sequencer = Some([1; 64]);
    match db.store.import_entry(forged.clone(), forged.hash()).await {
        Err(StoreError::Rejected(v)) => assert_eq!(v.code(), "bad_sequencer_signature"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let a = db
        .store
        .import_entry(next.clone(), next.hash())
        .await
        .unwrap();
    assert_eq!(a.entry, next);
    assert_eq!(a.hash, next.hash());
    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Group commit: appends that wait for their ledger's turn are written in one transaction.

/// A count of CART-A's (empty) ketamine 100 mg/mL by `by`.
fn empty_count(by: &str, blind: bool) -> Draft {
    let count = Count {
        location: "CART-A".parse().unwrap(),
        product: KETAMINE_100.parse().unwrap(),
        blind,
        expected: Tally { sealed: 0, open: 0 },
        counted: Tally { sealed: 0, open: 0 },
    };
    signed(LedgerId::from_bytes([0; 16]), count, by, &[])
}

/// Lets the spawned appends run until `n` of them wait for the ledger's turn.
async fn until_waiting(store: &Store, ledger: LedgerId, n: usize) {
    while store.appends_waiting(ledger) < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_append_in_a_group_refuses_only_itself() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let count =
            |by: &str, blind: bool| signed(ledger, empty_count(by, blind).body.payload, by, &[]);
        let record = |key: &str| custody_store::RequestRecord {
            key: key.into(),
            user: "nina".parse().unwrap(),
            fingerprint: [7; 32],
        };
        // A request already answered: its twin in the group is refused as a repeat.
        db.store
            .append_all(vec![count("nina", true)], Some(&record("first")))
            .await
            .unwrap();
        // The turn is held while the appends queue: the next turn writes them as one group.
        let turn = db.store.hold_turn(ledger).await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = db.store.clone();
            let by = if i % 2 == 0 { "nina" } else { "noah" };
            let (drafts, request) = match i {
                // A signature that does not verify: its signer signed for another ledger.
                3 => {
                    let mut d = empty_count(by, false);
                    d.ledger = ledger;
                    (vec![d], None)
                }
                // Refused by the rules: a dose from a vial no one opened.
                5 => (
                    vec![signed(
                        ledger,
                        administer("C13-1", dose(1_000, 100_000), by),
                        by,
                        &[],
                    )],
                    None,
                ),
                // Two entries, the second refused: neither is recorded.
                6 => (
                    vec![
                        count(by, false),
                        signed(
                            ledger,
                            administer("C13-1", dose(1_000, 100_000), by),
                            by,
                            &[],
                        ),
                    ],
                    None,
                ),
                // The twin of a request already answered.
                7 => (vec![count(by, true)], Some(record("first"))),
                // Two entries with a request record: both recorded.
                8 => (
                    vec![count(by, true), count(by, false)],
                    Some(record("second")),
                ),
                _ => (vec![count(by, i % 3 == 0)], None),
            };
            tasks.push((
                i,
                tokio::spawn(async move { store.append_all(drafts, request.as_ref()).await }),
            ));
        }
        until_waiting(&db.store, ledger, 10).await;
        drop(turn);
        let mut recorded = Vec::new();
        for (i, t) in tasks {
            match (i, t.await.unwrap()) {
                (3, Err(StoreError::Rejected(Violation::BadSignature { .. }))) => {}
                (5 | 6, Err(StoreError::Rejected(v)))
                    if !matches!(v, Violation::BadSignature { .. }) => {}
                (7, Err(StoreError::RequestRepeated(_))) => {}
                (3 | 5 | 6 | 7, other) => {
                    panic!("{}: append {i} should be refused: {other:?}", db.name)
                }
                (_, Ok(a)) => recorded.extend(a),
                (_, Err(e)) => panic!("{}: append {i} refused: {e}", db.name),
            }
        }
        assert_eq!(recorded.len(), 7, "{}", db.name);
        // One transaction: the group's entries share its time, and follow each other.
        let at = recorded[0].entry.timestamp;
        assert!(
            recorded.iter().all(|a| a.entry.timestamp == at),
            "{}",
            db.name
        );
        let mut seqs: Vec<u64> = recorded.iter().map(|a| a.entry.seq.get()).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (17..24).collect::<Vec<_>>(), "{}: gapless", db.name);
        assert_eq!(db.store.head(ledger).await.unwrap().entries, 24);
        assert_eq!(db.store.entry_rows(ledger).await.unwrap(), 24);
        let prior = db
            .store
            .prior_request(ledger, &"nina".parse().unwrap(), "second")
            .await
            .unwrap();
        assert!(prior.is_some(), "{}: the request record is kept", db.name);
        verified(&db.store, ledger).await;
        // The next append follows the group as usual.
        let d = signed(ledger, empty_count("phil", true).body.payload, "phil", &[]);
        assert_eq!(db.store.append(d).await.unwrap().entry.seq.get(), 24);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_appends_acknowledged_are_all_stored_gapless_after_reopening() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let turn = db.store.hold_turn(ledger).await;
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = db.store.clone();
            let by = ["nina", "noah", "phil"][i % 3];
            let d = signed(ledger, empty_count(by, i % 2 == 0).body.payload, by, &[]);
            tasks.push(tokio::spawn(async move { store.append(d).await }));
        }
        // Half queue behind the held turn; the rest come while groups are being written.
        until_waiting(&db.store, ledger, 32).await;
        drop(turn);
        let mut acknowledged = Vec::new();
        for t in tasks {
            acknowledged.push(t.await.unwrap().expect("every append succeeds"));
        }
        let url = db.url.clone();
        db.store.clone().close().await.unwrap();
        // What was acknowledged is on disk: another store opened on the database reads it.
        let again = Store::open(&url).await.unwrap();
        assert_eq!(
            again.head(ledger).await.unwrap().entries,
            16 + 64,
            "{}",
            db.name
        );
        let stored = again.entries_page(ledger, None, 200, None).await.unwrap();
        let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..80).collect::<Vec<_>>(), "{}: gapless", db.name);
        for a in &acknowledged {
            let e = &stored[a.entry.seq.get() as usize];
            assert_eq!(e.hash, a.hash, "{}: entry {}", db.name, a.entry.seq);
        }
        verified(&again, ledger).await;
        again.close().await.unwrap();
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_shape_names_the_first_broken_link_and_the_first_gap() {
    use custody_store::entities::entries;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
    for db in TestDb::all().await {
        let seeded = seed(&db.store, 16).await;
        let ledger = ledger_of(&seeded);
        let shape = db.store.chain_shape(ledger).await.unwrap();
        assert!(shape.is_one_gapless_chain(), "{}: {shape:?}", db.name);
        assert_eq!((shape.head, shape.rows), (16, 16));

        // Entry 9 names another predecessor: a fork from there on.
        let at = |seq: i64| {
            Condition::all()
                .add(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .add(entries::Column::Seq.eq(seq))
        };
        entries::Entity::update_many()
            .col_expr(entries::Column::PrevHash, Expr::value(vec![9u8; 32]))
            .filter(at(9))
            .exec(db.store.connection())
            .await
            .unwrap();
        let shape = db.store.chain_shape(ledger).await.unwrap();
        assert_eq!(shape.first_broken_link, Some(9), "{}", db.name);
        assert_eq!(shape.first_gap, None);
        assert!(!shape.is_one_gapless_chain());

        // Entry 5 is gone: a gap, and entry 6 no longer follows what comes before it.
        entries::Entity::delete_many()
            .filter(at(5))
            .exec(db.store.connection())
            .await
            .unwrap();
        let shape = db.store.chain_shape(ledger).await.unwrap();
        assert_eq!(shape.first_gap, Some(5), "{}", db.name);
        assert_eq!(shape.first_broken_link, Some(6));
        assert_eq!((shape.head, shape.rows), (16, 15));
        assert!(shape.head_is_last);
        db.cleanup().await;
    }
}

/// The dashboard's PMP deadline asks when the first dispense after a file's period was
/// recorded: a binary search of the chain for the first entry at or after the time, then one
/// read down the index of entries by kind (migration 14). Every time from before the first
/// entry to after the last is asked, and the answer is the one a reading of every entry gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_entry_of_a_kind_from_a_time_is_found_by_kind_and_time() {
    for db in TestDb::all().await {
        let seeded = seed(&db.store, vectors::build().len()).await;
        let ledger = ledger_of(&seeded);
        let kinds: BTreeSet<Kind> = seeded.iter().map(|e| e.kind()).collect();
        assert!(kinds.len() > 10, "the vectors hold many kinds");
        let mut times = vec![Timestamp::EPOCH];
        for e in &seeded {
            let t = e.timestamp.micros();
            times.extend([t - 1, t, t + 1].map(|m| Timestamp::from_micros(m).unwrap()));
        }
        for kind in kinds {
            for &from in &times {
                let want = seeded
                    .iter()
                    .find(|e| e.kind() == kind && e.timestamp >= from)
                    .map(|e| e.timestamp);
                let got = db
                    .store
                    .first_of_kind_from(ledger, kind, from)
                    .await
                    .unwrap();
                assert_eq!(got, want, "{}: {kind:?} from {}", db.name, from.micros());
            }
        }
        // A ledger that is not there has none.
        let other = LedgerId::from_uuid(uuid::Uuid::now_v7());
        let none = db
            .store
            .first_of_kind_from(other, Kind::Dispensed, Timestamp::EPOCH);
        assert_eq!(none.await.unwrap(), None, "{}", db.name);
        db.cleanup().await;
    }
}

/// A serving store reads SQLite through a memory map (issue 18, P5): without it every page a
/// query needs beyond a connection's own small cache is a system call and a copy, which is
/// what made the dashboard of a 1,000,000-entry ledger cost more CPU than a short one's.
/// Every connection of its pool has it. A store opened for a command that reads through the
/// ledger once (a report, verification) does not map the file, so such a process holds no
/// more of it than its caches. Both write durably in WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_store_reads_sqlite_through_a_memory_map_and_a_scanning_one_does_not() {
    use sea_orm::{ConnectionTrait, Statement};
    async fn pragma(store: &Store, name: &str) -> Vec<String> {
        let conn = store.connection();
        let sql = format!("PRAGMA {name}");
        // Several at once, so that more than one connection of the pool answers.
        let answers = futures_util::future::join_all((0..8).map(|_| {
            conn.query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                sql.clone(),
            ))
        }))
        .await;
        answers
            .into_iter()
            .map(|r| {
                let row = r.unwrap().unwrap();
                row.try_get_by_index::<i64>(0)
                    .map(|n| n.to_string())
                    .or_else(|_| row.try_get_by_index::<String>(0))
                    .unwrap()
            })
            .collect()
    }
    let db = TestDb::sqlite().await;
    let serving = Store::open_serving(&db.url).await.unwrap();
    for (store, mmap) in [
        (&serving, (256u64 << 20).to_string()),
        (&db.store, "0".into()),
    ] {
        assert!(pragma(store, "mmap_size").await.iter().all(|m| *m == mmap));
        assert!(
            pragma(store, "journal_mode")
                .await
                .iter()
                .all(|m| m == "wal")
        );
        // 2: FULL.
        assert!(pragma(store, "synchronous").await.iter().all(|m| m == "2"));
    }
    serving.close().await.unwrap();
    db.cleanup().await;
}
