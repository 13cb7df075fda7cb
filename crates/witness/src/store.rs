//! The witness's memory: for each log (by origin), the newest checkpoint it cosigned — size,
//! root, and the note it returned (the log's verified signature and its own cosignature) —
//! in one SQLite file. Checking a request against it and replacing it happen in one
//! IMMEDIATE transaction, with the update conditional on the row still holding what was read
//! (compare-and-swap), so two requests from the same old size can never both advance it.

use std::path::Path;
use std::time::Duration;

use custody_ledger::merkle::Hash;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

use crate::WitnessError;

/// The file in the witness's directory.
pub const DB_FILE: &str = "witness.db";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS checkpoints (
    origin TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
) STRICT";

/// What the witness holds for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: DatabaseConnection,
}

fn size_value(size: u64) -> Result<Value, WitnessError> {
    i64::try_from(size)
        .map(Value::from)
        .map_err(|_| WitnessError::BadRequest("a tree size above 2^63 - 1".into()))
}

impl Store {
    pub(crate) async fn open(dir: &Path) -> Result<Self, WitnessError> {
        let url = format!("sqlite://{}?mode=rwc", dir.join(DB_FILE).display());
        let mut opt = ConnectOptions::new(url);
        // sqlx would ping each connection it hands out, a round trip to the connection's
        // thread before every request's transaction; an embedded file cannot drop it.
        opt.test_before_acquire(false);
        opt.sqlx_logging(false)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(60))
            });
        let db = Database::connect(opt).await?;
        db.execute_unprepared(SCHEMA).await?;
        Ok(Store { db })
    }

    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins the transaction a request is checked and recorded in: IMMEDIATE, so no other
    /// writer (in this process or another) runs between the read and the write.
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, WitnessError> {
        Ok(self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?)
    }

    pub(crate) async fn held(
        c: &impl ConnectionTrait,
        origin: &str,
    ) -> Result<Option<Held>, WitnessError> {
        let row = c
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT size, root FROM checkpoints WHERE origin = ?",
                [origin.into()],
            ))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let size: i64 = row.try_get("", "size")?;
        let root: Vec<u8> = row.try_get("", "root")?;
        Ok(Some(Held {
            size: u64::try_from(size)
                .map_err(|_| WitnessError::Corrupt("a negative stored size".into()))?,
            root: root
                .try_into()
                .map_err(|_| WitnessError::Corrupt("a stored root not 32 bytes".into()))?,
        }))
    }

    /// Replaces what is held for `origin` if it is still `expected`; false if another
    /// request changed it first.
    pub(crate) async fn swap(
        c: &impl ConnectionTrait,
        origin: &str,
        expected: Option<&Held>,
        new: &Held,
        note: &str,
        now: u64,
    ) -> Result<bool, WitnessError> {
        let now = size_value(now)?;
        let r = match expected {
            None => {
                c.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO checkpoints (origin, size, root, note, cosigned_at) \
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING",
                    [
                        origin.into(),
                        size_value(new.size)?,
                        new.root.to_vec().into(),
                        note.into(),
                        now,
                    ],
                ))
                .await?
            }
            Some(old) => {
                c.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "UPDATE checkpoints SET size = ?, root = ?, note = ?, cosigned_at = ? \
                     WHERE origin = ? AND size = ? AND root = ?",
                    [
                        size_value(new.size)?,
                        new.root.to_vec().into(),
                        note.into(),
                        now,
                        origin.into(),
                        size_value(old.size)?,
                        old.root.to_vec().into(),
                    ],
                ))
                .await?
            }
        };
        Ok(r.rows_affected() == 1)
    }

    /// The note last cosigned for `origin`, with the log's signature and the cosignature.
    pub(crate) async fn note(&self, origin: &str) -> Result<Option<String>, WitnessError> {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT note FROM checkpoints WHERE origin = ?",
                [origin.into()],
            ))
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("", "note")?),
            None => None,
        })
    }

    pub(crate) async fn close(self) -> Result<(), WitnessError> {
        Ok(self.db.close().await?)
    }
}
