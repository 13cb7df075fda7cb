//! The store's SQLite connections wait for another's write lock through `custody_store::busy`
//! (short pauses) instead of SQLite's busy timeout (1, 2, 5 … 25 ms). A test binary of its
//! own: the count of waits is the process's.

mod common;

use std::time::{Duration, Instant};

use common::TestDb;
use sea_orm::{ConnectionTrait, TransactionTrait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_finding_the_lock_held_waits_through_the_store_handler_then_lands() {
    let db = TestDb::sqlite().await;
    let conn = db.store.connection().clone();
    conn.execute_unprepared("CREATE TABLE scratch_busy (n INTEGER)")
        .await
        .unwrap();

    // One pooled connection takes the write lock and keeps it.
    let holder = conn.begin().await.unwrap();
    holder
        .execute_unprepared("INSERT INTO scratch_busy VALUES (1)")
        .await
        .unwrap();

    // Another finds it held.
    let before = custody_store::busy::waits();
    let writer = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.execute_unprepared("INSERT INTO scratch_busy VALUES (2)")
                .await
        }
    });

    // It waits through the handler, try after try (SQLite's own timeout never counts here).
    let deadline = Instant::now() + Duration::from_secs(30);
    while custody_store::busy::waits() < before + 5 {
        assert!(
            Instant::now() < deadline,
            "the waiting writer never went through the store's busy handler"
        );
        assert!(!writer.is_finished(), "the write did not wait for the lock");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // Once the lock is free its write lands: it did not give up.
    holder.commit().await.unwrap();
    writer.await.unwrap().expect("the waiting write lands");
    let rows = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM scratch_busy",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 2);
}
