//! How the store's pool hands out connections: SQLite's without a ping (a round trip to the
//! connection's thread that an embedded database never needs), PostgreSQL's pinged only once
//! they have idled long enough that the server may have closed them (issue 18, P3).

mod common;

use common::TestDb;
use sea_orm::{ConnectionTrait, Database, Statement};

#[tokio::test]
async fn sqlite_connections_are_handed_out_without_a_ping() {
    let db = TestDb::sqlite().await;
    let pool = db.store.connection().get_sqlite_connection_pool();
    assert!(
        !pool.options().get_test_before_acquire(),
        "every statement outside a transaction would first ping its connection's thread"
    );
    db.cleanup().await;
}

/// A connection the server closed while it idled in the pool is found dead by the ping and
/// replaced: the next statement runs. Without any ping (`test_before_acquire(false)` alone)
/// that statement fails with the closed connection's error.
#[tokio::test]
async fn a_postgresql_connection_closed_while_it_idled_is_replaced_before_use() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let conn = db.store.connection();
    let pool = conn.get_postgres_connection_pool();
    assert!(
        !pool.options().get_test_before_acquire(),
        "a connection in use moments ago is not pinged"
    );
    conn.execute_unprepared("SELECT 1").await.unwrap();

    // The server ends every session of the test's database, as a restart would.
    let admin = Database::connect(std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let ended = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1",
            [name.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    // Only the store's pool connects to the test's database: these were its connections.
    assert!(ended >= 1, "the pool's connections were ended");
    admin.close().await.ok();

    // The condition under test is the idle time itself, not a wait for something to happen.
    tokio::time::sleep(custody_store::PING_AFTER_IDLE + std::time::Duration::from_millis(500))
        .await;
    conn.execute_unprepared("SELECT 1")
        .await
        .expect("the dead connection is replaced before the statement runs");
    db.cleanup().await;
}
