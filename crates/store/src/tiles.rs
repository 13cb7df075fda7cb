//! C2SP tlog-tiles, read from the stored subtrees: each tile's hashes are the perfect subtrees
//! entry rows already hold (`tree.rs`), so serving one reads its 256 rows and rebuilds nothing.
//! Entry bundles hold each leaf's data as the tree defines it (the 32-byte entry hash); the
//! canonical entry bytes behind them come in bundles of the same shape.

use custody_ledger::LedgerId;
use custody_ledger::tiles::{TileKind, TilePath};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::entries;
use crate::error::StoreError;
use crate::tree::fetch_nodes;
use crate::{Store, rows};

/// What an entry bundle holds for each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleOf {
    /// The leaf data: the entry hash (`tile/entries/…`).
    LeafData,
    /// The canonical entry bytes (`bundle/…`).
    Entries,
}

impl Store {
    /// The tile's bytes (hashes concatenated, or an entry bundle), or `None` while the ledger
    /// does not hold all of it.
    pub async fn tile(
        &self,
        ledger: LedgerId,
        tile: TilePath,
        of: BundleOf,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let size = self.head(ledger).await?.entries;
        let Some(first) = tile.first().filter(|_| tile.within(size)) else {
            return Ok(None);
        };
        let width = u64::from(tile.width);
        match tile.kind {
            TileKind::Hashes { .. } => {
                let level = tile.tree_level();
                let coords: Vec<(u32, u64)> = (first..first + width).map(|i| (level, i)).collect();
                let nodes = fetch_nodes(self.connection(), ledger, &coords).await?;
                Ok(Some(coords.iter().flat_map(|c| nodes[c]).collect()))
            }
            TileKind::Entries => {
                let found: Vec<(i64, Vec<u8>, Vec<u8>)> = entries::Entity::find()
                    .select_only()
                    .column(entries::Column::Seq)
                    .column(entries::Column::EntryHash)
                    .column(entries::Column::Body)
                    .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                    .filter(entries::Column::Seq.gte(rows::to_i64(first)))
                    .filter(entries::Column::Seq.lt(rows::to_i64(first + width)))
                    .order_by_asc(entries::Column::Seq)
                    .into_tuple()
                    .all(self.connection())
                    .await?;
                if found.len() as u64 != width {
                    return Err(StoreError::corrupt(format!(
                        "entries {first} to {} are not all stored",
                        first + width - 1
                    )));
                }
                let mut out = Vec::new();
                for (seq, hash, body) in found {
                    let data = match of {
                        BundleOf::LeafData => hash,
                        BundleOf::Entries => body,
                    };
                    let len = u16::try_from(data.len()).map_err(|_| {
                        StoreError::Proof(format!(
                            "entry {seq} is {} bytes, more than an entry bundle can hold",
                            data.len()
                        ))
                    })?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&data);
                }
                Ok(Some(out))
            }
        }
    }
}
