//! Witnesses' cosignatures of checkpoints, kept as each witness returned them, and the
//! newest size each witness is known to hold (where the next request to it starts from).

use custody_ledger::LedgerId;
use custody_ledger::checkpoint::SignedCheckpoint;
use custody_ledger::merkle::Hash;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{checkpoints, cosignatures};
use crate::error::StoreError;
use crate::{Store, rows};

/// The most cosigned checkpoints an export or a report carries.
pub const MAX_CARRIED: usize = 16;

/// A checkpoint with the witnesses' cosignatures of it that the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub signed: SignedCheckpoint,
    /// Ordered by witness name.
    pub cosignatures: Vec<Cosignature>,
}

impl Cosigned {
    /// The signed note with every cosignature line appended (C2SP signed note).
    pub fn note(&self) -> String {
        let mut note = self.signed.to_note();
        for c in &self.cosignatures {
            note.push_str(&c.line);
            note.push('\n');
        }
        note
    }
}

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

    /// The cosigned checkpoints an export or a report of the first `upto` entries carries:
    /// for each witness, the newest checkpoint of at most `upto` entries it cosigned, each
    /// with every cosignature kept of it, newest first, at most [`MAX_CARRIED`]. So the
    /// newest checkpoint with cosignatures comes first, and, while a witness lags behind the
    /// others (or has stopped answering), the newest one it cosigned too: a reader who needs
    /// K cosignatures finds the newest checkpoint that has them. A checkpoint whose root is
    /// not the root of the ledger's first `size` entries now is left out.
    pub async fn carried_cosigned(
        &self,
        ledger: LedgerId,
        upto: u64,
    ) -> Result<Vec<Cosigned>, StoreError> {
        let witnesses: Vec<String> = cosignatures::Entity::find()
            .select_only()
            .column(cosignatures::Column::Witness)
            .distinct()
            .filter(cosignatures::Column::LedgerId.eq(ledger.as_uuid()))
            .into_tuple()
            .all(self.connection())
            .await?;
        let mut newest: Vec<(u64, Hash)> = Vec::new();
        for w in witnesses {
            let row = cosignatures::Entity::find()
                .filter(cosignatures::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(cosignatures::Column::Witness.eq(w))
                .filter(cosignatures::Column::Size.lte(rows::to_i64(upto)))
                .order_by_desc(cosignatures::Column::Size)
                .one(self.connection())
                .await?;
            if let Some(row) = row {
                let size = u64::try_from(row.size)
                    .map_err(|_| StoreError::corrupt("a cosignature's size is negative"))?;
                let root = rows::arr32(&row.root, "cosigned root")?;
                // Only what the ledger as it stands extends: after a database was rolled back
                // and written again, the checkpoints cosigned before are left out (the
                // witnesses refuse the new history, and say so to whoever asks them).
                if size == 0 || self.tree_root(ledger, size).await? != root {
                    continue;
                }
                if !newest.contains(&(size, root)) {
                    newest.push((size, root));
                }
            }
        }
        newest.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for (size, root) in newest {
            if out.len() == MAX_CARRIED {
                break;
            }
            // The checkpoint as issued: the witnesses cosigned its body, and the note is
            // the registrant's.
            let Some(row) = checkpoints::Entity::find()
                .filter(checkpoints::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(checkpoints::Column::Size.eq(rows::to_i64(size)))
                .filter(checkpoints::Column::Root.eq(root.to_vec()))
                .order_by_desc(checkpoints::Column::IssuedAt)
                .one(self.connection())
                .await?
            else {
                continue;
            };
            let signed = SignedCheckpoint::parse(&row.note).map_err(StoreError::corrupt)?;
            let cosignatures = self.cosignatures_of(ledger, size, &root).await?;
            out.push(Cosigned {
                signed,
                cosignatures,
            });
        }
        Ok(out)
    }
}
