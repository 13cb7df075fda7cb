//! The chain's shape as stored, read without decoding an entry: are its rows numbered 0, 1,
//! 2 … without a gap up to the head, does each name the entry before it as its predecessor
//! (one chain, no fork), and does the head row point at the last of them? `custody bench
//! --postgres` asks this after several server processes wrote to one database, and reports
//! it beside `custody verify`'s answer: verification checks far more, but stops at the first
//! bad entry; this names the first gap and the first broken link separately.

use custody_ledger::LedgerId;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Store;
use crate::entities::entries;
use crate::error::StoreError;
use crate::rows;
use crate::verify::PAGE;

/// What one ledger's rows say about its numbering and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainShape {
    /// Entries the head row counts.
    pub head: u64,
    /// Entry rows stored.
    pub rows: u64,
    /// The first number missing from 0, 1, 2 … among the rows, if one is.
    pub first_gap: Option<u64>,
    /// The first entry whose previous-hash column is not the hash of the row before it (for
    /// entry 0, not all zeros): where the chain forks or was cut, if anywhere.
    pub first_broken_link: Option<u64>,
    /// Whether the head row's last hash is the last row's hash.
    pub head_is_last: bool,
}

impl ChainShape {
    /// Rows 0 … head − 1, each linked to the one before, and the head on the last.
    pub fn is_one_gapless_chain(&self) -> bool {
        self.rows == self.head
            && self.first_gap.is_none()
            && self.first_broken_link.is_none()
            && self.head_is_last
    }
}

impl Store {
    /// Reads `ledger`'s sequence numbers and hash columns in pages, in one snapshot with its
    /// head row.
    pub async fn chain_shape(&self, ledger: LedgerId) -> Result<ChainShape, StoreError> {
        // The head and the rows from one snapshot, as verification reads them.
        let txn = self.begin_snapshot().await?;
        let head = self.head_in(&txn, ledger).await?;
        let mut shape = ChainShape {
            head: head.entries,
            rows: 0,
            first_gap: None,
            first_broken_link: None,
            head_is_last: false,
        };
        // Genesis names no predecessor: its previous hash is all zeros.
        let mut prev_hash = vec![0u8; 32];
        let mut next: i64 = 0;
        loop {
            let page = entries::Entity::find()
                .select_only()
                .column(entries::Column::Seq)
                .column(entries::Column::PrevHash)
                .column(entries::Column::EntryHash)
                .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(entries::Column::Seq.gte(next))
                .order_by_asc(entries::Column::Seq)
                .limit(PAGE)
                .into_tuple::<(i64, Vec<u8>, Vec<u8>)>()
                .all(&txn)
                .await?;
            let Some(last) = page.last() else { break };
            next = last.0.saturating_add(1);
            for (seq, prev, hash) in page {
                let expected = rows::to_i64(shape.rows);
                if seq != expected && shape.first_gap.is_none() {
                    shape.first_gap = Some(shape.rows);
                }
                if prev != prev_hash && shape.first_broken_link.is_none() {
                    shape.first_broken_link = Some(rows::seq(seq)?.get());
                }
                prev_hash = hash;
                shape.rows += 1;
            }
        }
        shape.head_is_last = shape.rows > 0 && prev_hash.as_slice() == head.last_hash.as_bytes();
        txn.commit().await?;
        Ok(shape)
    }
}
