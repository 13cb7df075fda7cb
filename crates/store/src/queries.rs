//! Reads: ledgers and their heads, users and their sealed keys, on hand.

use custody_ledger::inventory::{OnHand, on_hand};
use custody_ledger::state::State;
use custody_ledger::{EntryHash, KeyId, LedgerId, Party, PublicKey, Seq, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder};

use crate::Store;
use crate::entities::{containers, credentials, entries, ledgers, products, users};
use crate::error::StoreError;
use crate::rows::{self, ContainerRow};

/// The row [`Store::current_sealed_key`] reads.
#[derive(Debug, FromQueryResult)]
struct SealedKeyRow {
    key_id: String,
    sealed_key: Vec<u8>,
}

/// A ledger in this database.
#[derive(Debug, Clone)]
pub struct LedgerInfo {
    pub ledger: LedgerId,
    pub registrant: Party,
}

/// A ledger's head as the head row states it.
#[derive(Debug, Clone)]
pub struct HeadInfo {
    pub ledger: LedgerId,
    pub registrant: Party,
    /// The key the registrant signs with now.
    pub registrant_key: PublicKey,
    /// The key named in the genesis entry: an auditor's trust anchor.
    pub genesis_key: PublicKey,
    /// How many entries the ledger holds.
    pub entries: u64,
    pub last_hash: EntryHash,
    pub last_timestamp: Timestamp,
}

fn party(m: &ledgers::Model) -> Result<Party, StoreError> {
    Ok(Party {
        name: m.registrant_name.parse().map_err(StoreError::corrupt)?,
        address: m.registrant_address.parse().map_err(StoreError::corrupt)?,
        dea: m.registrant_dea.parse().map_err(StoreError::corrupt)?,
    })
}

impl Store {
    pub async fn ledgers(&self) -> Result<Vec<LedgerInfo>, StoreError> {
        ledgers::Entity::find()
            .order_by_asc(ledgers::Column::Id)
            .all(self.connection())
            .await?
            .iter()
            .map(|m| {
                Ok(LedgerInfo {
                    ledger: LedgerId::from_uuid(m.id),
                    registrant: party(m)?,
                })
            })
            .collect()
    }

    /// The one ledger in this database, or the one named.
    pub async fn resolve_ledger(&self, named: Option<LedgerId>) -> Result<LedgerId, StoreError> {
        let all = self.ledgers().await?;
        match (named, all.as_slice()) {
            (Some(l), _) if all.iter().any(|i| i.ledger == l) => Ok(l),
            (Some(l), _) => Err(StoreError::UnknownLedger(l)),
            (None, []) => Err(StoreError::NoLedger),
            (None, [one]) => Ok(one.ledger),
            (None, many) => Err(StoreError::SeveralLedgers(
                many.iter()
                    .map(|i| i.ledger.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    pub async fn head(&self, ledger: LedgerId) -> Result<HeadInfo, StoreError> {
        self.head_in(self.connection(), ledger).await
    }

    /// The head as `db` (a transaction, say) sees it.
    pub(crate) async fn head_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        ledger: LedgerId,
    ) -> Result<HeadInfo, StoreError> {
        let m = ledgers::Entity::find_by_id(ledger.as_uuid())
            .one(db)
            .await?
            .ok_or(StoreError::UnknownLedger(ledger))?;
        Ok(HeadInfo {
            ledger,
            registrant: party(&m)?,
            registrant_key: rows::public_key(&m.registrant_key, "registrant key")?,
            genesis_key: rows::public_key(&m.genesis_key, "genesis key")?,
            entries: rows::seq(m.next_seq)?.get(),
            last_hash: rows::hash(&m.last_hash, "head hash")?,
            last_timestamp: Timestamp::from_micros(m.last_timestamp)
                .map_err(StoreError::corrupt)?,
        })
    }

    /// How many entry rows are stored (whatever the head says).
    pub async fn entry_rows(&self, ledger: LedgerId) -> Result<u64, StoreError> {
        Ok(entries::Entity::find()
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .count(self.connection())
            .await?)
    }

    /// Keeps a user's sealed private key (see `keystore`).
    pub async fn save_sealed_key(
        &self,
        ledger: LedgerId,
        user: &UserId,
        key_id: KeyId,
        sealed: Vec<u8>,
    ) -> Result<(), StoreError> {
        credentials::Entity::insert(credentials::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            user_id: Set(user.to_string()),
            key_id: Set(key_id.to_string()),
            sealed_key: Set(sealed),
        })
        .on_conflict(
            OnConflict::columns([
                credentials::Column::LedgerId,
                credentials::Column::UserId,
                credentials::Column::KeyId,
            ])
            .update_column(credentials::Column::SealedKey)
            .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// The sealed private key of the key the ledger says `user` holds now.
    pub async fn current_sealed_key(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> Result<Option<(KeyId, Vec<u8>)>, StoreError> {
        // One statement: the user's current key id and its sealed key, joined.
        let q = Query::select()
            .column((users::Entity, users::Column::KeyId))
            .column((credentials::Entity, credentials::Column::SealedKey))
            .from(users::Entity)
            .inner_join(
                credentials::Entity,
                Expr::col((credentials::Entity, credentials::Column::LedgerId))
                    .equals((users::Entity, users::Column::LedgerId))
                    .and(
                        Expr::col((credentials::Entity, credentials::Column::UserId))
                            .equals((users::Entity, users::Column::UserId)),
                    )
                    .and(
                        Expr::col((credentials::Entity, credentials::Column::KeyId))
                            .equals((users::Entity, users::Column::KeyId)),
                    ),
            )
            .and_where(Expr::col((users::Entity, users::Column::LedgerId)).eq(ledger.as_uuid()))
            .and_where(Expr::col((users::Entity, users::Column::UserId)).eq(user.to_string()))
            .to_owned();
        let Some(row) = SealedKeyRow::find_by_statement(self.backend().build(&q))
            .one(self.connection())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            row.key_id.parse().map_err(StoreError::corrupt)?,
            row.sealed_key,
        )))
    }

    /// On hand per product, lot and location, from the materialized container rows.
    pub async fn on_hand(&self, ledger: LedgerId) -> Result<Vec<OnHand>, StoreError> {
        let lid = ledger.as_uuid();
        let mut state = State::new();
        for m in containers::Entity::find()
            .filter(containers::Column::LedgerId.eq(lid))
            .filter(containers::Column::Status.is_in(["sealed", "open"]))
            .all(self.connection())
            .await?
        {
            if let ContainerRow::Live(c) = rows::container_from_row(&m)? {
                state.containers.insert(c.id, c);
            }
        }
        for m in products::Entity::find()
            .filter(products::Column::LedgerId.eq(lid))
            .all(self.connection())
            .await?
        {
            let p = rows::product_from_row(&m)?;
            state.products.insert(p.ndc, p);
        }
        Ok(on_hand(&state))
    }

    /// One stored entry's bytes.
    pub async fn entry_bytes(
        &self,
        ledger: LedgerId,
        seq: Seq,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            entries::Entity::find_by_id((ledger.as_uuid(), rows::to_i64(seq.get())))
                .one(self.connection())
                .await?
                .map(|m| m.body),
        )
    }
}

impl Store {
    /// A container's product definition, if both exist.
    pub async fn container_product(
        &self,
        ledger: LedgerId,
        container: &custody_ledger::ContainerId,
    ) -> Result<Option<custody_ledger::ProductDefined>, StoreError> {
        let Some(c) = containers::Entity::find_by_id((ledger.as_uuid(), container.to_string()))
            .one(self.connection())
            .await?
        else {
            return Ok(None);
        };
        let p = products::Entity::find_by_id((ledger.as_uuid(), c.ndc.clone()))
            .one(self.connection())
            .await?;
        p.map(|m| rows::product_from_row(&m)).transpose()
    }
}

impl Store {
    /// A container's lot expiry, if the container exists.
    pub async fn container_expiry(
        &self,
        ledger: LedgerId,
        container: &custody_ledger::ContainerId,
    ) -> Result<Option<custody_ledger::Day>, StoreError> {
        containers::Entity::find_by_id((ledger.as_uuid(), container.to_string()))
            .one(self.connection())
            .await?
            .map(|c| custody_ledger::Day::from_unix_days(c.expiry).map_err(StoreError::corrupt))
            .transpose()
    }
}

impl Store {
    /// What the ledger holds of `product` at `location`, as a count states it: sealed
    /// containers, and what the open ones hold (µL or units).
    pub async fn tally(
        &self,
        ledger: LedgerId,
        location: &custody_ledger::LocationId,
        product: &custody_ledger::Ndc,
    ) -> Result<custody_ledger::Tally, StoreError> {
        let mut state = State::new();
        for m in containers::Entity::find()
            .filter(containers::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(containers::Column::Location.eq(location.to_string()))
            .filter(containers::Column::Ndc.eq(product.digits()))
            .filter(containers::Column::Status.is_in(["sealed", "open"]))
            .all(self.connection())
            .await?
        {
            if let ContainerRow::Live(c) = rows::container_from_row(&m)? {
                state.containers.insert(c.id, c);
            }
        }
        Ok(state.tally(location, product))
    }
}
