//! Test databases: a fresh SQLite file in a temporary directory, and — when `DATABASE_URL`
//! names a PostgreSQL server — a fresh PostgreSQL database per test, dropped afterwards.

#![allow(dead_code)]

use custody_ledger::vectors::{self, SignWhenMade, seeded_key};
use custody_ledger::{Draft, Entry, EntryId, LedgerId, Meaning, Principal, Summary};
use custody_store::Store;
use custody_store::scratch::{DroppedWhenGone, ScratchDatabase};

pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg: Option<DroppedWhenGone>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = custody_store::sqlite_url(dir.path());
        let store = Store::open(&url).await.expect("open sqlite");
        TestDb {
            store,
            url,
            name: "sqlite",
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` when `DATABASE_URL` is not set.
    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("DATABASE_URL").ok()?;
        if !admin.starts_with("postgres") {
            return None;
        }
        let db = ScratchDatabase::create_for(&admin, "test")
            .await
            .expect("create a test database on DATABASE_URL's server")
            .dropped_when_gone();
        let url = db.url().to_owned();
        let store = Store::open(&url).await.expect("open postgres");
        Some(TestDb {
            store,
            url,
            name: "postgres",
            _dir: None,
            pg: Some(db),
        })
    }

    /// Every backend available here: SQLite always, PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite().await];
        match TestDb::postgres().await {
            Some(p) => v.push(p),
            None => say_postgres_skipped(),
        }
        v
    }

    /// Closes the store, then drops its PostgreSQL database (as dropping a `TestDb` does).
    pub async fn cleanup(self) {
        let TestDb { store, pg, .. } = self;
        store.close().await.ok();
        drop(pg);
    }
}

/// Says, past the test harness's output capture, that the PostgreSQL half was skipped.
fn say_postgres_skipped() {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::io::stderr().write_all(
            b"note: DATABASE_URL is not set: the PostgreSQL suite was skipped (SQLite ran)\n",
        );
    });
}

/// The vector ledger's first `n` entries (users, locations, products, receipts…).
pub fn vector_prefix(n: usize) -> Vec<Entry> {
    vectors::build().into_iter().take(n).collect()
}

/// Gives the store the vector ledger's registrant keys (`registrant`, `registrant-2`,
/// `registrant-3`), which seal what it appends.
pub fn sequencers(store: &Store, ledger: custody_ledger::LedgerId) {
    for name in ["registrant", "registrant-2", "registrant-3"] {
        store.add_sequencer(ledger, std::sync::Arc::new(seeded_key(name)));
    }
}

/// Imports the first `n` vector entries into the store, and gives it the registrant keys.
pub async fn seed(store: &Store, n: usize) -> Vec<Entry> {
    let entries = vector_prefix(n);
    if let Some(first) = entries.first() {
        sequencers(store, first.ledger);
    }
    for e in &entries {
        let h = e.hash();
        store
            .import_entry(e.clone(), h)
            .await
            .expect("vector entries import");
    }
    entries
}

pub fn user(s: &str) -> Principal {
    Principal::User(s.parse().unwrap())
}

pub fn new_id() -> EntryId {
    EntryId::from_uuid(uuid::Uuid::now_v7())
}

/// A draft signed by `author` and the given witnesses (all seeded vector keys).
pub fn signed(
    ledger: custody_ledger::LedgerId,
    payload: impl Into<custody_ledger::Payload>,
    author: &str,
    witnesses: &[&str],
) -> Draft {
    let mut d = Draft::new(ledger, new_id(), payload).signed_when_made(
        user(author),
        Meaning::Authored,
        &seeded_key(author),
    );
    for w in witnesses {
        d = d.signed_when_made(user(w), Meaning::Witnessed, &seeded_key(w));
    }
    d
}

/// What `custody verify` of `ledger` says in `store`, which must be that the ledger holds.
pub async fn verified(store: &Store, ledger: LedgerId) -> Summary {
    store
        .verify(ledger, None, |_, _| {})
        .await
        .expect("verification runs")
        .unwrap_or_else(|f| panic!("the ledger does not verify: {f}"))
}
