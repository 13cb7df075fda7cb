//! Bulk loading for benchmarks only: writes already-verified entries straight into the entries
//! table and the head, many per transaction, without materializing state. A ledger loaded
//! this way verifies like any other, but its stock tables are empty — never use it for a
//! ledger that people will work in.

use custody_ledger::{Canonical, Entry, Payload};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::Store;
use crate::entities::{entries, ledgers};
use crate::error::StoreError;
use crate::rows;

impl Store {
    /// Appends a batch of chained entries (the first batch starts with genesis) in one
    /// transaction and moves the head to the last of them.
    #[doc(hidden)]
    pub async fn bench_bulk_load(
        &self,
        batch: &[Entry],
        frontier: &mut custody_ledger::merkle::Frontier,
    ) -> Result<(), StoreError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let txn = self.connection().begin().await?;
        let lid = last.ledger.as_uuid();
        if let Some(Payload::Genesis(g)) = batch.first().map(|e| e.payload()) {
            ledgers::Entity::insert(ledgers::ActiveModel {
                id: Set(lid),
                registrant_name: Set(g.registrant.name.to_string()),
                registrant_address: Set(g.registrant.address.to_string()),
                registrant_dea: Set(g.registrant.dea.to_string()),
                registrant_key: Set(g.registrant_key.to_bytes().to_vec()),
                genesis_key: Set(g.registrant_key.to_bytes().to_vec()),
                patient_secret: Set(Vec::new()),
                users_enrolled: Set(0),
                next_seq: Set(0),
                last_hash: Set(vec![0; 32]),
                last_timestamp: Set(0),
            })
            .exec(&txn)
            .await?;
        }
        for chunk in batch.chunks(1000) {
            entries::Entity::insert_many(chunk.iter().map(|e| {
                let completed =
                    frontier.push(custody_ledger::merkle::leaf_hash(e.hash().as_bytes()));
                entries::ActiveModel {
                    ledger_id: Set(lid),
                    seq: Set(rows::to_i64(e.seq.get())),
                    entry_id: Set(e.body.entry_id.as_uuid()),
                    kind: Set(i32::from(e.kind().code())),
                    recorded_at: Set(e.timestamp.micros()),
                    prev_hash: Set(e.prev.as_bytes().to_vec()),
                    entry_hash: Set(e.hash().as_bytes().to_vec()),
                    subtrees: Set(crate::tree::subtrees_bytes(&completed)),
                    body: Set(e.to_canonical_bytes()),
                }
            }))
            .exec(&txn)
            .await?;
        }
        ledgers::Entity::update_many()
            .col_expr(
                ledgers::Column::NextSeq,
                (rows::to_i64(last.seq.get()) + 1).into(),
            )
            .col_expr(
                ledgers::Column::LastHash,
                last.hash().as_bytes().to_vec().into(),
            )
            .col_expr(
                ledgers::Column::LastTimestamp,
                last.timestamp.micros().into(),
            )
            .filter(ledgers::Column::Id.eq(lid))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// A plain single-row insert-and-commit, the baseline the append rate is compared with.
    #[doc(hidden)]
    pub async fn bench_plain_insert(&self, id: i64, body: Vec<u8>) -> Result<(), StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let txn = self.begin_write().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            self.backend(),
            match self.backend() {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO bench_plain (id, body) VALUES ($1, $2)"
                }
                _ => "INSERT INTO bench_plain (id, body) VALUES (?, ?)",
            },
            [id.into(), body.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }

    #[doc(hidden)]
    pub async fn bench_plain_table(&self) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        self.connection()
            .execute_unprepared(match self.backend() {
                sea_orm::DbBackend::Postgres => {
                    "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, body BYTEA NOT NULL)"
                }
                _ => "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, body BLOB NOT NULL)",
            })
            .await?;
        Ok(())
    }

    #[doc(hidden)]
    pub async fn bench_round_trip(&self) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        self.connection().execute_unprepared("SELECT 1").await?;
        Ok(())
    }
}
