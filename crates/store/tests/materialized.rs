//! Verification compares the materialized tables with the ledger: a changed, deleted or added
//! row of any of them is named (table, key, column), on SQLite and PostgreSQL.

mod common;

use common::*;
use custody_ledger::{Canonical, Micrograms, ProductDefined, Reason, RowDifference, Strength};
use custody_store::entities::products;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryOrder, Statement,
};

/// The vector ledger in full (35 entries: finished containers, a resolved count, rotations).
const ALL: usize = 35;
/// Its first 25 entries: the count at 24 found a vial missing and is not resolved yet.
const OPEN_COUNT: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Column(&'static str),
    Missing,
    Extra,
}

struct Case {
    what: &'static str,
    entries: usize,
    table: &'static str,
    /// Picks the row's key (one text column); `LEDGER`: the ledger's id.
    pick: &'static str,
    /// The change, with `{k}` standing for the key.
    sql: &'static str,
    want: Want,
}

const LEDGER: &str = "the ledger";

const CASES: &[Case] = &[
    Case {
        what: "a sealed vial's remaining raised",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'sealed'",
        sql: "UPDATE containers SET remaining = remaining + 5000 WHERE container_id = '{k}'",
        want: Want::Column("remaining"),
    },
    Case {
        what: "a sealed vial's capacity raised",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'sealed'",
        sql: "UPDATE containers SET capacity = capacity + 5000 WHERE container_id = '{k}'",
        want: Want::Column("capacity"),
    },
    Case {
        what: "a sealed vial's expiry moved",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'sealed'",
        sql: "UPDATE containers SET expiry = expiry + 365 WHERE container_id = '{k}'",
        want: Want::Column("expiry"),
    },
    Case {
        what: "a sealed vial marked gone",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'sealed'",
        sql: "UPDATE containers SET status = 'gone' WHERE container_id = '{k}'",
        want: Want::Column("status"),
    },
    Case {
        what: "an emptied vial marked sealed again",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'empty'",
        sql: "UPDATE containers SET status = 'sealed' WHERE container_id = '{k}'",
        want: Want::Column("status"),
    },
    Case {
        what: "a vial sent away given back its contents",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'gone'",
        sql: "UPDATE containers SET remaining = remaining + 1 WHERE container_id = '{k}'",
        want: Want::Column("remaining"),
    },
    Case {
        what: "a vial moved to another location",
        entries: ALL,
        table: "containers",
        pick: "SELECT MAX(container_id) FROM containers WHERE status = 'sealed'",
        sql: "UPDATE containers SET location = (SELECT MAX(location_id) FROM locations WHERE location_id <> (SELECT location FROM containers WHERE container_id = '{k}')) WHERE container_id = '{k}'",
        want: Want::Column("location"),
    },
    Case {
        what: "a deleted container row",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'sealed'",
        sql: "DELETE FROM containers WHERE container_id = '{k}'",
        want: Want::Missing,
    },
    Case {
        what: "a deleted finished container row",
        entries: ALL,
        table: "containers",
        pick: "SELECT MIN(container_id) FROM containers WHERE status = 'empty'",
        sql: "DELETE FROM containers WHERE container_id = '{k}'",
        want: Want::Missing,
    },
    Case {
        what: "an extra container row",
        entries: ALL,
        table: "containers",
        pick: "SELECT 'C12-99'",
        sql: "INSERT INTO containers (ledger_id, container_id, receipt_seq, idx, ndc, lot, expiry, location, status, beyond_use, capacity, remaining) SELECT ledger_id, '{k}', receipt_seq, 99, ndc, lot, expiry, location, status, beyond_use, capacity, remaining FROM containers WHERE container_id = (SELECT MIN(container_id) FROM containers WHERE status = 'sealed')",
        want: Want::Extra,
    },
    Case {
        what: "a nurse made an admin",
        entries: ALL,
        table: "users",
        pick: "SELECT MIN(user_id) FROM users WHERE role = 'nurse'",
        sql: "UPDATE users SET role = 'admin' WHERE user_id = '{k}'",
        want: Want::Column("role"),
    },
    Case {
        what: "a user's key replaced",
        entries: ALL,
        table: "users",
        pick: "SELECT MIN(user_id) FROM users",
        sql: "UPDATE users SET public_key = (SELECT public_key FROM users WHERE user_id = (SELECT MAX(user_id) FROM users)) WHERE user_id = '{k}'",
        want: Want::Column("public_key"),
    },
    Case {
        what: "a deactivated user made active",
        entries: ALL,
        table: "users",
        pick: "SELECT MIN(user_id) FROM users WHERE NOT active",
        sql: "UPDATE users SET active = NOT active WHERE user_id = '{k}'",
        want: Want::Column("active"),
    },
    Case {
        what: "a deleted user row",
        entries: ALL,
        table: "users",
        pick: "SELECT MIN(user_id) FROM users WHERE role = 'auditor'",
        sql: "DELETE FROM users WHERE user_id = '{k}'",
        want: Want::Missing,
    },
    Case {
        what: "a location's kind changed",
        entries: ALL,
        table: "locations",
        pick: "SELECT MIN(location_id) FROM locations WHERE kind = 'safe'",
        sql: "UPDATE locations SET kind = 'cart' WHERE location_id = '{k}'",
        want: Want::Column("kind"),
    },
    Case {
        what: "an open discrepancy marked resolved",
        entries: OPEN_COUNT,
        table: "discrepancies",
        pick: "SELECT CAST(MIN(count_seq) AS TEXT) FROM discrepancies WHERE resolved_seq IS NULL",
        sql: "UPDATE discrepancies SET resolved_seq = 24 WHERE count_seq = {k}",
        want: Want::Column("resolved_seq"),
    },
    Case {
        what: "a resolved discrepancy said resolved by another entry",
        entries: ALL,
        table: "discrepancies",
        pick: "SELECT CAST(MIN(count_seq) AS TEXT) FROM discrepancies",
        sql: "UPDATE discrepancies SET resolved_seq = resolved_seq + 1 WHERE count_seq = {k}",
        want: Want::Column("resolved_seq"),
    },
    Case {
        what: "a deleted discrepancy",
        entries: OPEN_COUNT,
        table: "discrepancies",
        pick: "SELECT CAST(MIN(count_seq) AS TEXT) FROM discrepancies",
        sql: "DELETE FROM discrepancies WHERE count_seq = {k}",
        want: Want::Missing,
    },
    Case {
        what: "the enrolment count raised",
        entries: ALL,
        table: "ledgers",
        pick: LEDGER,
        sql: "UPDATE ledgers SET users_enrolled = users_enrolled + 1",
        want: Want::Column("users_enrolled"),
    },
    Case {
        what: "the registrant key put back to the genesis key",
        entries: ALL,
        table: "ledgers",
        pick: LEDGER,
        sql: "UPDATE ledgers SET registrant_key = genesis_key",
        want: Want::Column("registrant_key"),
    },
];

async fn pick(c: &DatabaseConnection, sql: &str) -> String {
    let row = c
        .query_one_raw(Statement::from_string(c.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row for {sql}"));
    row.try_get_by_index::<Option<String>>(0)
        .unwrap()
        .unwrap_or_else(|| panic!("nothing picked by {sql}"))
}

/// Verifies; the materialized difference found (none when the ledger verifies).
async fn mismatch(db: &TestDb) -> Option<custody_ledger::RowMismatch> {
    let ledger = db.store.resolve_ledger(None).await.unwrap();
    match db.store.verify(ledger, None, |_, _| {}).await.unwrap() {
        Ok(_) => None,
        Err(f) => {
            let code = f.reason.code();
            match f.reason {
                Reason::MaterializedMismatch(m) => {
                    assert_eq!(code, "materialized_mismatch");
                    Some(*m)
                }
                other => panic!("{}: verification failed otherwise: {other}", db.name),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_tables_agree_with_the_ledger() {
    for n in [OPEN_COUNT, ALL] {
        for db in TestDb::all().await {
            seed(&db.store, n).await;
            assert_eq!(mismatch(&db).await, None, "{} with {n} entries", db.name);
            db.cleanup().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_materialized_table_is_compared_with_the_ledger() {
    for case in CASES {
        for db in TestDb::all().await {
            seed(&db.store, case.entries).await;
            let c = db.store.connection();
            let k = if case.pick == LEDGER {
                db.store.resolve_ledger(None).await.unwrap().to_string()
            } else {
                pick(c, case.pick).await
            };
            c.execute_unprepared(&case.sql.replace("{k}", &k))
                .await
                .unwrap_or_else(|e| panic!("{}: {}: {e}", db.name, case.what));
            let m = mismatch(&db)
                .await
                .unwrap_or_else(|| panic!("{}: {} was not caught", db.name, case.what));
            let got = match &m.difference {
                RowDifference::Column { column, .. } => Want::Column(column),
                RowDifference::Missing => Want::Missing,
                RowDifference::Extra => Want::Extra,
            };
            assert_eq!(
                (m.table, m.key.as_str(), got),
                (case.table, k.as_str(), case.want),
                "{}: {}: {m}",
                db.name,
                case.what
            );
            eprintln!("{}: {}: {m}", db.name, case.what);
            db.cleanup().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_whose_concentration_was_changed_is_named() {
    for db in TestDb::all().await {
        seed(&db.store, ALL).await;
        let c = db.store.connection();
        let row = products::Entity::find()
            .order_by_asc(products::Column::Ndc)
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
        let ndc = row.ndc.clone();
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
        let m = mismatch(&db).await.expect("caught");
        assert_eq!(
            (m.table, m.key.as_str(), m.column()),
            ("products", ndc.as_str(), Some("definition.strength")),
            "{}: {m}",
            db.name
        );
        db.cleanup().await;
    }
}

/// The pages of SQLite's write-ahead log, by page number, written since it was last emptied.
fn pages_in_log(db: &TestDb) -> std::collections::BTreeSet<u32> {
    let path = db
        .url
        .strip_prefix("sqlite://")
        .and_then(|u| u.split('?').next())
        .expect("a SQLite file");
    let log = std::fs::read(format!("{path}-wal")).expect("the write-ahead log");
    let word = |at: usize| u32::from_be_bytes(log[at..at + 4].try_into().unwrap());
    // A 32-byte header (the page size at 8), then frames: a 24-byte header (the page number
    // first), then the page.
    let page = word(8) as usize;
    (32..log.len()).step_by(24 + page).map(word).collect()
}

/// The first page of each named table or index: with this few rows, its only page.
async fn root_pages(db: &TestDb, names: &[&str]) -> Vec<u32> {
    let mut roots = Vec::new();
    for n in names {
        let row = db
            .store
            .connection()
            .query_one_raw(Statement::from_sql_and_values(
                db.store.connection().get_database_backend(),
                "SELECT rootpage FROM sqlite_master WHERE name = ?",
                [(*n).into()],
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{n} is in the schema"));
        roots.push(row.try_get_by_index::<i64>(0).unwrap() as u32);
    }
    roots
}

/// A dose changes what is left in its container, not where it is or whether it is open: its
/// commit writes the container's row and leaves the pages of the containers' indexes alone
/// (SQLite rewrites an index's entry for every indexed column a statement assigns, changed or
/// not). An opening changes the status, and writes both. The rows still agree with the ledger,
/// and the entries have three indexes, no more: each costs every commit a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dose_writes_six_pages_and_none_of_the_containers_indexes() {
    use custody_ledger::vectors::prescriber;
    use custody_ledger::*;
    let db = TestDb::sqlite().await;
    let ledger = seed(&db.store, 16).await[0].ledger;
    let c: ContainerId = "C13-1".parse().unwrap();
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    let open = ContainerOpened {
        container: c,
        beyond_use: now.date().plus_days(7).unwrap(),
        opened_at: None,
    };
    let dose = Administered {
        container: c,
        patient: PatientRef::commit(&[1; 32], "MRN-9"),
        prescriber: prescriber(),
        amount: Amount::Volume {
            ul: Microliters::new(2_000),
            ug: Micrograms::new(200_000),
        },
        route: Route::Iv,
        given_at: now,
        given_by: "nina".parse().unwrap(),
        late_reason: None,
    };
    let [table, stock, live] =
        root_pages(&db, &["containers", "containers_stock", "containers_live"]).await[..]
    else {
        unreachable!()
    };

    db.store.bench_wal_restart().await.unwrap();
    db.store
        .append(signed(ledger, open, "nina", &[]))
        .await
        .unwrap();
    let opening = pages_in_log(&db);
    for (page, what) in [(table, "row"), (stock, "stock index"), (live, "live index")] {
        assert!(
            opening.contains(&page),
            "an opening writes the container's {what}"
        );
    }

    let before = db.store.container(ledger, &c).await.unwrap().unwrap();
    db.store.bench_wal_restart().await.unwrap();
    db.store
        .append(signed(ledger, dose, "nina", &[]))
        .await
        .unwrap();
    let dosing = pages_in_log(&db);
    assert!(dosing.contains(&table), "a dose writes the container's row");
    for (page, what) in [(stock, "stock index"), (live, "live index")] {
        assert!(
            !dosing.contains(&page),
            "a dose leaves the {what} alone (pages written: {dosing:?})"
        );
    }
    // The rest of the commit: the head's row, and the entry's row, key, id and kind (one
    // index of entries by kind since migration 14), each on a page of its own.
    assert_eq!(
        dosing.len(),
        6,
        "a dose's commit writes six pages (written: {dosing:?})"
    );
    let rows = db
        .store
        .connection()
        .query_all_raw(Statement::from_string(
            db.store.connection().get_database_backend(),
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' ORDER BY name",
        ))
        .await
        .unwrap();
    let indexes: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    assert_eq!(
        indexes,
        [
            "entries_entry_id",
            "entries_kind",
            "sqlite_autoindex_entries_1"
        ]
    );
    let row = db.store.container(ledger, &c).await.unwrap().unwrap();
    assert!(
        row.remaining < before.remaining,
        "{} then {}",
        before.remaining,
        row.remaining
    );
    assert!(
        matches!(row.status, ContainerStatus::Open { .. }),
        "{:?}",
        row.status
    );
    verified(&db.store, ledger).await;
    db.cleanup().await;
}
