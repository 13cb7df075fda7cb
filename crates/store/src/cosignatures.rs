//! Witnesses' cosignatures of checkpoints, kept as each witness returned them, and the
//! newest size each witness is known to hold (where the next request to it starts from).

use custody_ledger::LedgerId;
use custody_ledger::checkpoint::SignedCheckpoint;
use custody_ledger::merkle::Hash;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::cosignatures;
use crate::error::StoreError;
use crate::{Store, rows};

/// A cosignature as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub size: u64,
    pub root: Hash,
    /// The witness's key name.
    pub witness: String,
    /// The signature line (`— NAME base64…`).
    pub line: String,
}

impl Store {
    /// Keeps a witness's cosignature (once per witness and size).
    pub async fn save_cosignature(
        &self,
        ledger: LedgerId,
        c: &Cosignature,
        received_at: i64,
    ) -> Result<(), StoreError> {
        cosignatures::Entity::insert(cosignatures::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            size: Set(rows::to_i64(c.size)),
            witness: Set(c.witness.clone()),
            root: Set(c.root.to_vec()),
            line: Set(c.line.clone()),
            received_at: Set(received_at),
        })
        .on_conflict(
            OnConflict::columns([
                cosignatures::Column::LedgerId,
                cosignatures::Column::Size,
                cosignatures::Column::Witness,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(self.connection())
        .await?;
        Ok(())
    }

    /// The cosignatures of the checkpoint of `size` and `root`.
    pub async fn cosignatures_of(
        &self,
        ledger: LedgerId,
        size: u64,
        root: &Hash,
    ) -> Result<Vec<Cosignature>, StoreError> {
        Ok(cosignatures::Entity::find()
            .filter(cosignatures::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(cosignatures::Column::Size.eq(rows::to_i64(size)))
            .filter(cosignatures::Column::Root.eq(root.to_vec()))
            .order_by_asc(cosignatures::Column::Witness)
            .all(self.connection())
            .await?
            .into_iter()
            .map(|m| Cosignature {
                size,
                root: *root,
                witness: m.witness,
                line: m.line,
            })
            .collect())
    }

    /// The largest size `witness` cosigned for this ledger (0 when none).
    pub async fn witness_size(&self, ledger: LedgerId, witness: &str) -> Result<u64, StoreError> {
        let size: Option<i64> = cosignatures::Entity::find()
            .select_only()
            .column(cosignatures::Column::Size)
            .filter(cosignatures::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(cosignatures::Column::Witness.eq(witness))
            .order_by_desc(cosignatures::Column::Size)
            .into_tuple()
            .one(self.connection())
            .await?;
        Ok(size.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
    }

    /// The newest checkpoint issued, with every cosignature of it appended: the note handed
    /// out.
    pub async fn newest_cosigned_note(
        &self,
        ledger: LedgerId,
    ) -> Result<Option<(SignedCheckpoint, Vec<Cosignature>)>, StoreError> {
        let Some(signed) = self.checkpoints(ledger, 1).await?.into_iter().next() else {
            return Ok(None);
        };
        let cos = self
            .cosignatures_of(ledger, signed.checkpoint.size, &signed.checkpoint.root)
            .await?;
        Ok(Some((signed, cos)))
    }
}
