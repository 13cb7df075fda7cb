//! Bulk loading for benchmarks only: writes already-verified entries straight into the entries
//! table and the head, many per transaction, and the materialized rows they give (folded
//! through the ledger's rules, without checking signatures). A ledger loaded this way
//! verifies like any other, but skips the append path's checks — never use it for a ledger
//! that people will work in.

use std::collections::{BTreeMap, BTreeSet};

use custody_ledger::merkle::Frontier;
use custody_ledger::state::{ContainerState, State};
use custody_ledger::{Canonical, ContainerId, Entry, Payload, Seq};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::Store;
use crate::entities::{containers, entries, ledgers, locations, products, users};
use crate::error::StoreError;
use crate::rows;

/// What a bulk load carries from one batch to the next: the Merkle tree's right edge and the
/// ledger's state.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct BulkLoad {
    pub frontier: Frontier,
    state: State,
}

impl Store {
    /// Appends a batch of chained entries (the first batch starts with genesis) in one
    /// transaction and moves the head to the last of them.
    #[doc(hidden)]
    pub async fn bench_bulk_load(
        &self,
        batch: &[Entry],
        bulk: &mut BulkLoad,
    ) -> Result<(), StoreError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let frontier = &mut bulk.frontier;
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
        // The rows these entries give, as the append path writes them.
        let state = &mut bulk.state;
        let mut touched_users = BTreeSet::new();
        let mut new_products = Vec::new();
        let mut new_locations = Vec::new();
        let mut touched_containers = BTreeSet::new();
        let mut finished: BTreeMap<ContainerId, ContainerState> = BTreeMap::new();
        let mut new_discrepancies = Vec::new();
        let mut resolutions: Vec<(Seq, Seq)> = Vec::new();
        for e in batch {
            let (_, t) = state.apply(e).map_err(StoreError::Rejected)?;
            touched_users.extend(t.users);
            new_products.extend(t.products);
            new_locations.extend(t.locations);
            touched_containers.extend(t.containers);
            finished.extend(t.finished.into_iter().map(|c| (c.id, c)));
            new_discrepancies.extend(t.discrepancies);
            if let Payload::Adjustment(a) = e.payload()
                && let Some(count) = a.resolves
            {
                resolutions.push((count, e.seq));
            }
        }
        for u in &touched_users {
            let s = state
                .users
                .get(u)
                .ok_or_else(|| StoreError::corrupt("a touched user is not in the state"))?;
            users::Entity::insert(rows::user_to_row(lid, u, s))
                .on_conflict(
                    OnConflict::columns([users::Column::LedgerId, users::Column::UserId])
                        .update_columns([
                            users::Column::PrintedName,
                            users::Column::Role,
                            users::Column::Active,
                            users::Column::PublicKey,
                            users::Column::KeyId,
                        ])
                        .to_owned(),
                )
                .exec(&txn)
                .await?;
        }
        for p in new_products.iter().filter_map(|p| state.products.get(p)) {
            products::Entity::insert(rows::product_to_row(lid, p))
                .exec(&txn)
                .await?;
        }
        for l in new_locations.iter().filter_map(|l| state.locations.get(l)) {
            locations::Entity::insert(rows::location_to_row(lid, l))
                .exec(&txn)
                .await?;
        }
        let container_rows: Vec<containers::ActiveModel> = touched_containers
            .iter()
            .filter_map(|c| state.containers.get(c).or_else(|| finished.get(c)))
            .map(|c| rows::container_to_row(lid, c))
            .collect();
        for chunk in container_rows.chunks(500) {
            containers::Entity::insert_many(chunk.to_vec())
                .on_conflict(rows::container_upsert(rows::ContainerChange::Placed))
                .exec(&txn)
                .await?;
        }
        for key in new_discrepancies {
            if let Some(d) = state.discrepancies.get(&key) {
                crate::append::insert_discrepancy(&txn, lid, &key, d).await?;
            }
        }
        for (count, by) in resolutions {
            crate::append::resolve_discrepancy(&txn, lid, count, by).await?;
        }
        if let Some(reg) = &state.registrant {
            ledgers::Entity::update_many()
                .col_expr(
                    ledgers::Column::RegistrantKey,
                    reg.key.to_bytes().to_vec().into(),
                )
                .col_expr(
                    ledgers::Column::UsersEnrolled,
                    rows::to_i64(state.users_enrolled).into(),
                )
                .filter(ledgers::Column::Id.eq(lid))
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

    /// A table whose every insert writes `indexes` index pages besides its own two (SQLite):
    /// the plain insert made as wide as an append.
    #[doc(hidden)]
    pub async fn bench_wide_table(&self, indexes: usize) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        let columns: String = (0..indexes)
            .map(|i| format!(", k{i} INTEGER NOT NULL"))
            .collect();
        let c = self.connection();
        c.execute_unprepared(&format!(
            "CREATE TABLE bench_wide (id BIGINT PRIMARY KEY, body BLOB NOT NULL{columns})"
        ))
        .await?;
        for i in 0..indexes {
            c.execute_unprepared(&format!("CREATE INDEX bench_wide_{i} ON bench_wide (k{i})"))
                .await?;
        }
        Ok(())
    }

    /// One insert-and-commit into `bench_wide` (made with `indexes` indexes), each indexed
    /// value scattered so that it lands on a page of its own index.
    #[doc(hidden)]
    pub async fn bench_wide_insert(
        &self,
        id: i64,
        body: Vec<u8>,
        indexes: usize,
    ) -> Result<(), StoreError> {
        use sea_orm::{ConnectionTrait, Statement, Value};
        let names: String = (0..indexes).map(|i| format!(", k{i}")).collect();
        let marks: String = (0..indexes).map(|_| ", ?").collect();
        let mut values: Vec<Value> = vec![id.into(), body.into()];
        values.extend((0..indexes as u64).map(|i| {
            let k = (id as u64 ^ (i << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1;
            Value::from(k as i64)
        }));
        let txn = self.begin_write().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            self.backend(),
            format!("INSERT INTO bench_wide (id, body{names}) VALUES (?, ?{marks})"),
            values,
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Empties SQLite's write-ahead log, so that `bench_wal_frames` counts what is written
    /// after.
    #[doc(hidden)]
    pub async fn bench_wal_restart(&self) -> Result<(), StoreError> {
        let (busy, _) = self.bench_checkpoint("TRUNCATE").await?;
        if busy {
            return Err(StoreError::corrupt(
                "the write-ahead log could not be emptied",
            ));
        }
        Ok(())
    }

    /// The pages written to SQLite's write-ahead log since `bench_wal_restart` (each commit
    /// writes every page it changed).
    #[doc(hidden)]
    pub async fn bench_wal_frames(&self) -> Result<u64, StoreError> {
        Ok(self.bench_checkpoint("PASSIVE").await?.1)
    }

    /// A checkpoint of SQLite's log: whether it was kept from finishing, and the pages in the
    /// log.
    async fn bench_checkpoint(&self, mode: &str) -> Result<(bool, u64), StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .connection()
            .query_one_raw(Statement::from_string(
                self.backend(),
                format!("PRAGMA wal_checkpoint({mode})"),
            ))
            .await?
            .ok_or_else(|| StoreError::corrupt("wal_checkpoint answered nothing"))?;
        let busy: i64 = row.try_get_by_index(0)?;
        let frames: i64 = row.try_get_by_index(1)?;
        Ok((
            busy != 0,
            u64::try_from(frames).map_err(StoreError::corrupt)?,
        ))
    }

    #[doc(hidden)]
    pub async fn bench_round_trip(&self) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        self.connection().execute_unprepared("SELECT 1").await?;
        Ok(())
    }
}
