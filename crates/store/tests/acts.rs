//! What the clinic's acts rest on, on real databases: several entries appended all or none,
//! dry runs that apply the ledger's rules and write nothing, request ids recorded with their
//! entries, and password attempts counted atomically.

mod common;

use std::sync::Arc;

use common::*;
use custody_ledger::vectors::{KETAMINE_100, prescriber};
use custody_ledger::*;
use custody_store::{AttemptRow, PriorOutcome, RequestRecord, Store, StoreError};

fn open(container: &str) -> ContainerOpened {
    let today = Timestamp::from_datetime(time::OffsetDateTime::now_utc()).date();
    ContainerOpened {
        container: container.parse().unwrap(),
        beyond_use: today.plus_days(7).unwrap(),
        opened_at: None,
    }
}

/// `ml_thousandths` of a 100 mg/mL solution.
fn dose(container: &str, ml_thousandths: u64, by: &str) -> Administered {
    Administered {
        container: container.parse().unwrap(),
        patient: PatientRef::commit(&[1; 32], "MRN-9"),
        prescriber: prescriber(),
        amount: Amount::Volume {
            ul: Microliters::new(ml_thousandths),
            ug: Micrograms::new(100 * ml_thousandths),
        },
        route: Route::Iv,
        given_at: Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
        given_by: by.parse().unwrap(),
        late_reason: None,
    }
}

async fn snapshot(store: &Store, ledger: LedgerId) -> (u64, EntryHash, u64, String) {
    let head = store.head(ledger).await.unwrap();
    let c = store
        .container(ledger, &"C13-1".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    (
        head.entries,
        head.last_hash,
        store.entry_rows(ledger).await.unwrap(),
        format!("{:?} {}", c.status, c.remaining),
    )
}

/// Asserts that `r` is a refusal by the rules with `code`.
fn assert_refused_as<T: std::fmt::Debug>(r: Result<T, StoreError>, code: &str, db: &str) {
    match r {
        Err(StoreError::Rejected(v)) => assert_eq!(v.code(), code, "{db}: {v}"),
        other => panic!("{db}: expected a refusal ({code}), got {other:?}"),
    }
}

/// A second store on `db`'s database, as another process would open it, with nothing cached.
async fn another_process(db: &TestDb, ledger: LedgerId) -> Store {
    let other = Store::open(&db.url).await.unwrap();
    sequencers(&other, ledger);
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_act_of_several_entries_is_appended_all_or_none() {
    for db in TestDb::all().await {
        let ledger = seed(&db.store, 16).await[0].ledger;
        let before = snapshot(&db.store, ledger).await;
        // Open C13-1 (5 mL), give 2 mL, then 4 mL more than is left: the third is refused,
        // and the opening and the first dose go with it.
        let group = vec![
            signed(ledger, open("C13-1"), "nina", &[]),
            signed(ledger, dose("C13-1", 2_000, "nina"), "nina", &[]),
            signed(ledger, dose("C13-1", 4_000, "nina"), "nina", &[]),
        ];
        assert_refused_as(
            db.store.append_all(group, None).await,
            "insufficient_stock",
            db.name,
        );
        assert_eq!(snapshot(&db.store, ledger).await, before, "{}", db.name);
        // The same act that fits is appended whole, in order, each entry seeing the last.
        let group = vec![
            signed(ledger, open("C13-1"), "nina", &[]),
            signed(ledger, dose("C13-1", 2_000, "nina"), "nina", &[]),
            signed(ledger, dose("C13-1", 3_000, "nina"), "nina", &[]),
        ];
        let done = db.store.append_all(group, None).await.unwrap();
        let seqs: Vec<u64> = done.iter().map(|a| a.entry.seq.get()).collect();
        assert_eq!(seqs, vec![16, 17, 18], "{}", db.name);
        let c = db
            .store
            .container(ledger, &"C13-1".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.remaining, 0);
        assert_eq!(c.status, custody_ledger::ContainerStatus::Empty);
        verified(&db.store, ledger).await;
        db.cleanup().await;
    }
}

/// A report's fold hands the ledger's state to the store (`adopt_state`), so that the entry
/// recording the report is not checked after a second fold of the whole ledger. A state
/// behind what is stored (another process appended after the fold) is caught up before the
/// next append, whose rules then see every entry; an older one than the cache's changes
/// nothing. And the adopted state is the one the next append is checked against (a store
/// that folded the ledger again instead would not refuse the deactivated signer below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_state_is_caught_up_with_what_was_stored_after_it() {
    for db in TestDb::all().await {
        let entries = seed(&db.store, 16).await;
        let ledger = entries[0].ledger;
        let fold = |n: usize| {
            let mut s = State::new();
            for e in &entries[..n] {
                s.apply(e).unwrap();
            }
            s
        };
        // C13-1 (5 mL) is opened through the first store; a second one on the same database
        // (`custody report` beside a server) adopts the state of the 16 seeded entries, in
        // which C13-1 is still sealed.
        db.store
            .append(signed(ledger, open("C13-1"), "nina", &[]))
            .await
            .unwrap();
        let other = another_process(&db, ledger).await;
        other.adopt_state(ledger, fold(16)).await;
        // A dose from it is checked against the state caught up with the opening.
        let done = other
            .append(signed(ledger, dose("C13-1", 1_000, "nina"), "nina", &[]))
            .await
            .unwrap();
        assert_eq!(done.entry.seq.get(), 17, "{}", db.name);
        assert_refused_as(
            other
                .append(signed(ledger, dose("C13-1", 4_500, "nina"), "nina", &[]))
                .await,
            "insufficient_stock",
            db.name,
        );
        other.adopt_state(ledger, fold(10)).await;
        let done = other
            .append(signed(ledger, dose("C13-1", 4_000, "nina"), "nina", &[]))
            .await
            .unwrap();
        assert_eq!(done.entry.seq.get(), 18, "{}", db.name);
        verified(&other, ledger).await;
        other.close().await.ok();
        // What a store adopts is what its next append is checked against, with no second
        // fold: one that adopts a state in which noah has left refuses noah.
        let third = another_process(&db, ledger).await;
        let mut left = fold(16);
        left.users.get_mut(&"noah".parse().unwrap()).unwrap().active = false;
        third.adopt_state(ledger, left).await;
        assert_refused_as(
            third
                .append(signed(ledger, open("C13-2"), "noah", &[]))
                .await,
            "inactive_signer",
            db.name,
        );
        third.close().await.ok();
        db.cleanup().await;
    }
}

/// Two processes on one database: an append is checked against what is stored, not refused
/// by a cached state the other process has overtaken (on SQLite, the cached head is trusted
/// until the chain trigger says otherwise, and the rules run before the trigger can).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_not_refused_by_a_cache_another_process_overtook() {
    for db in TestDb::all().await {
        let ledger = seed(&db.store, 16).await[0].ledger;
        db.store
            .append(signed(ledger, open("C13-2"), "nina", &[]))
            .await
            .unwrap();
        // Another process opens C13-1; this one's cache still has it sealed.
        let other = another_process(&db, ledger).await;
        other
            .append(signed(ledger, open("C13-1"), "noah", &[]))
            .await
            .unwrap();
        let done = db
            .store
            .append(signed(ledger, dose("C13-1", 1_000, "nina"), "nina", &[]))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        assert_eq!(done.entry.seq.get(), 18, "{}", db.name);
        // A refusal the rules do make stands, with the cache caught up.
        assert_refused_as(
            db.store
                .append(signed(ledger, dose("C13-1", 4_500, "nina"), "nina", &[]))
                .await,
            "insufficient_stock",
            db.name,
        );
        other.close().await.ok();
        verified(&db.store, ledger).await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_applies_the_rules_to_unsigned_drafts_and_writes_nothing() {
    for db in TestDb::all().await {
        let entries = seed(&db.store, 16).await;
        let ledger = entries[0].ledger;
        let state = {
            let mut s = State::new();
            for e in &entries {
                s.apply(e).unwrap();
            }
            s
        };
        let key = |u: &str| state.users[&u.parse::<UserId>().unwrap()].key.key_id();
        let unsigned = |p: Payload, by: &str| {
            let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
            Draft::new(ledger, new_id(), p).to_be_signed_by(
                user(by),
                Meaning::Authored,
                key(by),
                now,
            )
        };
        let before = snapshot(&db.store, ledger).await;
        // Accepted: open then give 2 mL, as one act.
        db.store
            .dry_run(&[
                unsigned(open("C13-1").into(), "nina"),
                unsigned(dose("C13-1", 2_000, "nina").into(), "nina"),
            ])
            .await
            .unwrap();
        // Refused by the rules: a dose from a sealed vial; 6 mL from a 5 mL vial.
        let refused = |r: Result<(), StoreError>| match r {
            Err(StoreError::Rejected(v)) => v.code().to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused(
                db.store
                    .dry_run(&[unsigned(dose("C13-1", 1_000, "nina").into(), "nina")])
                    .await
            ),
            "container_state"
        );
        assert_eq!(
            refused(
                db.store
                    .dry_run(&[
                        unsigned(open("C13-1").into(), "nina"),
                        unsigned(dose("C13-1", 6_000, "nina").into(), "nina"),
                    ])
                    .await
            ),
            "insufficient_stock"
        );
        assert_eq!(snapshot(&db.store, ledger).await, before, "{}", db.name);
        // A dry run's draft can never be appended: nothing signed it.
        match db
            .store
            .append(unsigned(open("C13-1").into(), "nina"))
            .await
        {
            Err(StoreError::Rejected(v)) => assert_eq!(v.code(), "bad_signature"),
            other => panic!("expected bad_signature, got {other:?}"),
        }
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_records_once() {
    for db in TestDb::all().await {
        let ledger = seed(&db.store, 16).await[0].ledger;
        let rec = RequestRecord {
            key: "web:0192".into(),
            user: "nina".parse().unwrap(),
            fingerprint: [7; 32],
        };
        assert!(
            db.store
                .prior_request(ledger, &rec.user, &rec.key)
                .await
                .unwrap()
                .is_none()
        );
        let done = db
            .store
            .append_all(
                vec![
                    signed(ledger, open("C13-1"), "nina", &[]),
                    signed(ledger, dose("C13-1", 1_000, "nina"), "nina", &[]),
                ],
                Some(&rec),
            )
            .await
            .unwrap();
        let prior = db
            .store
            .prior_request(ledger, &rec.user, &rec.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(prior.fingerprint, [7; 32]);
        assert_eq!(
            prior.outcome,
            PriorOutcome::Recorded(done.iter().map(|a| a.entry.seq).collect())
        );
        // The same id again (a retry whose first answer was lost) records nothing.
        let before = snapshot(&db.store, ledger).await;
        match db
            .store
            .append_all(
                vec![signed(ledger, dose("C13-1", 1_000, "nina"), "nina", &[])],
                Some(&rec),
            )
            .await
        {
            Err(StoreError::RequestRepeated(k)) => assert_eq!(k, rec.key),
            other => panic!("expected RequestRepeated, got {other:?}"),
        }
        assert_eq!(snapshot(&db.store, ledger).await, before, "{}", db.name);
        // A request id is its signer's own: another person's same id is another request.
        let theirs = RequestRecord {
            user: "noah".parse().unwrap(),
            ..rec.clone()
        };
        db.store
            .append_all(
                vec![signed(ledger, dose("C13-1", 1_000, "noah"), "noah", &[])],
                Some(&theirs),
            )
            .await
            .unwrap();
        assert!(
            db.store
                .prior_request(ledger, &theirs.user, &theirs.key)
                .await
                .unwrap()
                .is_some()
        );
        db.cleanup().await;
    }
}

/// Counts one more attempt against `key` in the throttle's transaction; the count it makes.
async fn one_more_attempt(store: &custody_store::Store, key: &str) -> u32 {
    store
        .with_attempts(key, |row| {
            let n = row.map_or(0, |r| r.failures) + 1;
            let keep = AttemptRow {
                failures: n,
                window_start: 1,
                next_at: 0,
            };
            (Some(keep), n)
        })
        .await
        .unwrap()
}

/// Runs `attempt` 40 times at once, each on a task of its own; the counts they made, sorted.
async fn forty_at_once<F, Fut>(store: &custody_store::Store, attempt: F) -> Vec<u32>
where
    F: Fn(Arc<custody_store::Store>) -> Fut,
    Fut: std::future::Future<Output = u32> + Send + 'static,
{
    let store = Arc::new(store.clone());
    let tasks: Vec<_> = (0..40)
        .map(|_| tokio::spawn(attempt(store.clone())))
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_are_counted_one_after_another() {
    for db in TestDb::all().await {
        let seen = forty_at_once(&db.store, |store| async move {
            one_more_attempt(&store, "account:test:nina").await
        })
        .await;
        assert_eq!(seen, (1..=40).collect::<Vec<u32>>(), "{}", db.name);
        // Forgetting: a row whose window has passed goes.
        assert_eq!(db.store.prune_attempts(2, 1).await.unwrap(), 1);
        let left = db
            .store
            .with_attempts("account:test:nina", |row| (row, row))
            .await
            .unwrap();
        assert_eq!(left, None);
        let _ = KETAMINE_100;
        db.cleanup().await;
    }
}

/// The clinic's reservation: the first attempt against an account in one statement, any
/// other in the transaction. Attempts arriving together are still counted one after another,
/// and a right password forgets them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_attempt_in_one_statement_and_the_rest_in_turn_count_each_once() {
    for db in TestDb::all().await {
        let seen = forty_at_once(&db.store, |store| async move {
            let first = AttemptRow {
                failures: 1,
                window_start: 1,
                next_at: 0,
            };
            if store
                .first_attempt("account:test:noah", first)
                .await
                .unwrap()
            {
                return 1;
            }
            one_more_attempt(&store, "account:test:noah").await
        })
        .await;
        assert_eq!(seen, (1..=40).collect::<Vec<u32>>(), "{}", db.name);
        // A row there: the one-statement path counts nothing.
        let again = AttemptRow {
            failures: 1,
            window_start: 5,
            next_at: 0,
        };
        assert!(
            !db.store
                .first_attempt("account:test:noah", again)
                .await
                .unwrap()
        );
        let row = db
            .store
            .with_attempts("account:test:noah", |row| (row, row))
            .await
            .unwrap();
        assert_eq!(row.map(|r| r.failures), Some(40), "{}", db.name);
        db.store.forget_attempts("account:test:noah").await.unwrap();
        let left = db
            .store
            .with_attempts("account:test:noah", |row| (row, row))
            .await
            .unwrap();
        assert_eq!(left, None, "{}", db.name);
        db.cleanup().await;
    }
}

/// Password attempts are committed without waiting for the disk (the next synced commit
/// carries them), while the ledger's connections wait for it on every commit: a signed
/// write's reservation and its forgetting no longer cost an fsync each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_attempts_do_not_wait_for_the_disk_and_the_ledger_does() {
    for db in TestDb::all().await {
        let (ledger, attempts) = db.store.commit_durability().await.unwrap();
        if db.name == "sqlite" {
            assert_eq!(
                (ledger.as_str(), attempts.as_str()),
                ("2", "1"),
                "FULL, NORMAL"
            );
        } else {
            assert_ne!(ledger, "off", "{}", db.name);
            assert_eq!(attempts, "off", "{}", db.name);
        }
        // Attempts are counted and read back through those connections.
        let first = AttemptRow {
            failures: 1,
            window_start: 1,
            next_at: 0,
        };
        assert!(
            db.store
                .first_attempt("account:test:ivy", first)
                .await
                .unwrap()
        );
        let seen = db
            .store
            .with_attempts("account:test:ivy", |row| (row, row))
            .await
            .unwrap();
        assert_eq!(seen, Some(first), "{}", db.name);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_discrepancies_are_an_indexed_query_kept_with_each_append() {
    for db in TestDb::all().await {
        // Vector entry 24 is a count that finds a vial missing; 25 resolves it.
        let ledger = seed(&db.store, 25).await[0].ledger;
        assert_eq!(
            db.store.open_discrepancies(ledger).await.unwrap(),
            vec![Seq::new(24).unwrap()],
            "{}",
            db.name
        );
        let all = custody_ledger::vectors::build();
        db.store
            .import_entry(all[25].clone(), all[25].hash())
            .await
            .unwrap();
        assert!(
            db.store
                .open_discrepancies(ledger)
                .await
                .unwrap()
                .is_empty()
        );
        // A ledger recorded before the store kept resolutions gets them from its adjustments.
        use sea_orm::ConnectionTrait;
        db.store
            .connection()
            .execute_unprepared("UPDATE discrepancies SET resolved_seq = NULL")
            .await
            .unwrap();
        assert_eq!(db.store.open_discrepancies(ledger).await.unwrap().len(), 1);
        db.store.backfill_resolutions().await.unwrap();
        assert!(
            db.store
                .open_discrepancies(ledger)
                .await
                .unwrap()
                .is_empty()
        );
        db.cleanup().await;
    }
}
