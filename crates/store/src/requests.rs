//! Request ids and password attempts: the rows that make a signed act safe to repeat and
//! password guessing costly, shared by every server process on one database.

use custody_ledger::{EntryId, LedgerId, Seq, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, SqlErr};

use crate::Store;
use crate::entities::{attempts, requests};
use crate::error::StoreError;
use crate::rows;

/// What a signed act's request asked, kept with what it recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The request id (a form's hidden id, an API `Idempotency-Key`).
    pub key: String,
    pub user: UserId,
    /// SHA-256 of what was asked, without passwords.
    pub fingerprint: [u8; 32],
}

/// What a request recorded the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorOutcome {
    Recorded(Vec<Seq>),
    Queued(EntryId),
}

/// A request id already used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRequest {
    pub user: UserId,
    pub fingerprint: [u8; 32],
    pub outcome: PriorOutcome,
}

/// Failed passwords counted against one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRow {
    pub failures: u32,
    /// When the first failure counted now happened (µs since the epoch).
    pub window_start: i64,
    /// No attempt before this moment (µs since the epoch).
    pub next_at: i64,
}

/// Writes a request's row inside an append's (or a queueing's) transaction. A second request
/// with the same id loses here, and the caller reads the first one's outcome.
pub(crate) async fn insert_request(
    txn: &impl ConnectionTrait,
    ledger: LedgerId,
    rec: &RequestRecord,
    outcome: &PriorOutcome,
    now: i64,
) -> Result<(), StoreError> {
    let (seqs, pending) = match outcome {
        PriorOutcome::Recorded(s) => (
            s.iter()
                .map(|s| s.get().to_string())
                .collect::<Vec<_>>()
                .join(","),
            None,
        ),
        PriorOutcome::Queued(id) => (String::new(), Some(id.as_uuid())),
    };
    let r = requests::Entity::insert(requests::ActiveModel {
        ledger_id: Set(ledger.as_uuid()),
        request_key: Set(rec.key.clone()),
        user_id: Set(rec.user.to_string()),
        fingerprint: Set(rec.fingerprint.to_vec()),
        seqs: Set(seqs),
        pending: Set(pending),
        created_at: Set(now),
    })
    .exec(txn)
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(StoreError::RequestRepeated(rec.key.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// What `user`'s request `key` recorded, if it was seen before.
    pub async fn prior_request(
        &self,
        ledger: LedgerId,
        user: &UserId,
        key: &str,
    ) -> Result<Option<PriorRequest>, StoreError> {
        let Some(m) =
            requests::Entity::find_by_id((ledger.as_uuid(), user.to_string(), key.to_string()))
                .one(self.connection())
                .await?
        else {
            return Ok(None);
        };
        let fingerprint: [u8; 32] = m
            .fingerprint
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::corrupt("a request fingerprint is not 32 bytes"))?;
        let outcome = match m.pending {
            Some(id) => PriorOutcome::Queued(EntryId::from_uuid(id)),
            None => PriorOutcome::Recorded(
                m.seqs
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<i64>()
                            .map_err(StoreError::corrupt)
                            .and_then(rows::seq)
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Some(PriorRequest {
            user: m.user_id.parse().map_err(StoreError::corrupt)?,
            fingerprint,
            outcome,
        }))
    }

    /// Reads and rewrites the attempts counted against `key` in one transaction, so that
    /// concurrent attempts (from any server process) are counted one after another: `decide`
    /// gets the row (none when nothing counts) and returns the row to keep (none deletes it)
    /// and its answer.
    pub async fn with_attempts<T>(
        &self,
        key: &str,
        decide: impl FnOnce(Option<AttemptRow>) -> (Option<AttemptRow>, T),
    ) -> Result<T, StoreError> {
        let txn = crate::append::begin_write_on(self.attempts_connection()).await?;
        // Make sure the row exists so that PostgreSQL's row lock covers the first attempt too.
        // (SQLite's immediate transaction already holds the database's one write lock.)
        if self.backend() != sea_orm::DbBackend::Sqlite {
            attempts::Entity::insert(attempts::ActiveModel {
                key: Set(key.to_string()),
                failures: Set(-1),
                window_start: Set(0),
                next_at: Set(0),
            })
            .on_conflict_do_nothing_on([attempts::Column::Key])
            .exec(&txn)
            .await?;
        }
        let m = attempts::Entity::find_by_id(key.to_string())
            .lock_exclusive()
            .one(&txn)
            .await?;
        let row = m.filter(|m| m.failures >= 0).map(|m| AttemptRow {
            failures: u32::try_from(m.failures).unwrap_or(u32::MAX),
            window_start: m.window_start,
            next_at: m.next_at,
        });
        let (keep, answer) = decide(row);
        match keep {
            // An upsert: a concurrent attempt may have removed the row since it was read
            // (the row lock covers a row that exists; the insert covers one that does not).
            Some(r) => {
                attempts::Entity::insert(attempts::ActiveModel {
                    key: Set(key.to_string()),
                    failures: Set(i64::from(r.failures)),
                    window_start: Set(r.window_start),
                    next_at: Set(r.next_at),
                })
                .on_conflict(
                    OnConflict::column(attempts::Column::Key)
                        .update_columns([
                            attempts::Column::Failures,
                            attempts::Column::WindowStart,
                            attempts::Column::NextAt,
                        ])
                        .to_owned(),
                )
                .exec(&txn)
                .await?;
            }
            None => {
                attempts::Entity::delete_by_id(key.to_string())
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(answer)
    }

    /// Counts `row` as the first attempt against `key` if nothing is counted against it yet
    /// (one statement, no transaction); `false`, counting nothing, when a row is there.
    pub async fn first_attempt(&self, key: &str, row: AttemptRow) -> Result<bool, StoreError> {
        let inserted = attempts::Entity::insert(attempts::ActiveModel {
            key: Set(key.to_string()),
            failures: Set(i64::from(row.failures)),
            window_start: Set(row.window_start),
            next_at: Set(row.next_at),
        })
        .on_conflict_do_nothing_on([attempts::Column::Key])
        .exec_without_returning(self.attempts_connection())
        .await?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n == 1))
    }

    /// Forgets every attempt counted against `key` (a right password): one statement.
    pub async fn forget_attempts(&self, key: &str) -> Result<(), StoreError> {
        attempts::Entity::delete_by_id(key.to_string())
            .exec(self.attempts_connection())
            .await?;
        Ok(())
    }

    /// How soon commits are on disk, as the database says, for the ledger's connections and
    /// for the password attempts' (`Durability` in lib.rs): SQLite's `synchronous` ("2" is
    /// FULL, "1" NORMAL), PostgreSQL's `synchronous_commit`. For tests.
    #[doc(hidden)]
    pub async fn commit_durability(&self) -> Result<(String, String), StoreError> {
        async fn ask(db: &sea_orm::DatabaseConnection) -> Result<String, StoreError> {
            let backend = db.get_database_backend();
            let (sql, sqlite) = match backend {
                sea_orm::DbBackend::Sqlite => ("PRAGMA synchronous", true),
                _ => ("SHOW synchronous_commit", false),
            };
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(backend, sql))
                .await?
                .ok_or_else(|| StoreError::corrupt("the database did not say"))?;
            Ok(if sqlite {
                row.try_get_by_index::<i64>(0)?.to_string()
            } else {
                row.try_get_by_index::<String>(0)?
            })
        }
        Ok((
            ask(self.connection()).await?,
            ask(self.attempts_connection()).await?,
        ))
    }

    /// Forgets attempts whose window began before `before` and that hold no wait past now.
    pub async fn prune_attempts(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        let r = attempts::Entity::delete_many()
            .filter(attempts::Column::WindowStart.lt(before))
            .filter(attempts::Column::NextAt.lt(now))
            .exec(self.attempts_connection())
            .await?;
        Ok(r.rows_affected)
    }
}
