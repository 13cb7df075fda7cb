//! The ledger's Merkle tree as stored: each entry row carries the hashes of the perfect
//! subtrees its leaf completes, so any root or proof reads O(log n) rows and no proof rebuilds
//! the tree. Checkpoints are issued here and kept in their own table.

use std::collections::BTreeMap;

use custody_ledger::checkpoint::{Checkpoint, SignedCheckpoint, origin};
use custody_ledger::merkle::{self, Frontier, Hash, Nodes, Recorder};
use custody_ledger::{LedgerId, PublicKey};
use ed25519_dalek::SigningKey;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Store;
use crate::entities::{checkpoints, entries};
use crate::error::StoreError;
use crate::rows;

/// The entry whose row holds perfect subtree (`level`, `index`): its last leaf.
pub fn node_seq(level: u32, index: u64) -> u64 {
    ((index + 1) << level) - 1
}

/// The stored form of the subtrees a leaf completes.
pub fn subtrees_bytes(completed: &[Hash]) -> Vec<u8> {
    completed.concat()
}

/// Reads the given perfect subtrees in one query.
pub(crate) async fn fetch_nodes(
    conn: &impl ConnectionTrait,
    ledger: LedgerId,
    coords: &[(u32, u64)],
) -> Result<BTreeMap<(u32, u64), Hash>, StoreError> {
    let mut out = BTreeMap::new();
    if coords.is_empty() {
        return Ok(out);
    }
    let seqs: Vec<i64> = coords
        .iter()
        .map(|&(l, i)| rows::to_i64(node_seq(l, i)))
        .collect();
    let found: BTreeMap<i64, (Vec<u8>, Vec<u8>)> = entries::Entity::find()
        .select_only()
        .column(entries::Column::Seq)
        .column(entries::Column::EntryHash)
        .column(entries::Column::Subtrees)
        .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
        .filter(entries::Column::Seq.is_in(seqs))
        .into_tuple::<(i64, Vec<u8>, Vec<u8>)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(s, h, t)| (s, (h, t)))
        .collect();
    for &(level, index) in coords {
        let seq = node_seq(level, index);
        let (hash, subtrees) = found.get(&rows::to_i64(seq)).ok_or_else(|| {
            StoreError::corrupt(format!("entry {seq}, which holds a tree node, is missing"))
        })?;
        let h = if level == 0 {
            merkle::leaf_hash(hash)
        } else {
            let at = (level as usize - 1) * 32;
            subtrees
                .get(at..at + 32)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    StoreError::corrupt(format!("entry {seq} lacks its level-{level} tree node"))
                })?
        };
        out.insert((level, index), h);
    }
    Ok(out)
}

/// Runs `f` over the stored subtrees it needs: first to learn which, then for real.
async fn with_nodes<T>(
    conn: &impl ConnectionTrait,
    ledger: LedgerId,
    f: impl Fn(&mut dyn FnMut(u32, u64) -> Hash) -> T,
) -> Result<T, StoreError> {
    let mut rec = Recorder::default();
    f(&mut |l, i| rec.node(l, i));
    let mut nodes = fetch_nodes(conn, ledger, &rec.0).await?;
    Ok(f(&mut |l, i| nodes.node(l, i)))
}

struct FnNodes<'a>(&'a mut dyn FnMut(u32, u64) -> Hash);
impl Nodes for FnNodes<'_> {
    fn node(&mut self, level: u32, index: u64) -> Hash {
        (self.0)(level, index)
    }
}

/// The frontier of the first `size` leaves, from the stored subtrees.
pub(crate) async fn load_frontier(
    conn: &impl ConnectionTrait,
    ledger: LedgerId,
    size: u64,
) -> Result<Frontier, StoreError> {
    let mut nodes = fetch_nodes(conn, ledger, &Frontier::coordinates(size)).await?;
    Ok(Frontier::from_nodes(size, &mut nodes))
}

/// An inclusion proof as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub seq: u64,
    pub entry_hash: custody_ledger::EntryHash,
    pub size: u64,
    pub root: Hash,
    pub path: Vec<Hash>,
}

/// A consistency proof as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub old_root: Hash,
    pub new_size: u64,
    pub new_root: Hash,
    pub path: Vec<Hash>,
}

fn proof_err(e: merkle::ProofError) -> StoreError {
    StoreError::Proof(e.to_string())
}

impl Store {
    /// The Merkle root of the ledger's first `size` entries.
    pub async fn tree_root(&self, ledger: LedgerId, size: u64) -> Result<Hash, StoreError> {
        self.check_size(ledger, size).await?;
        with_nodes(self.connection(), ledger, |n| {
            merkle::root(&mut FnNodes(n), size)
        })
        .await
    }

    async fn check_size(&self, ledger: LedgerId, size: u64) -> Result<(), StoreError> {
        let head = self.head(ledger).await?;
        if size > head.entries {
            return Err(StoreError::Proof(format!(
                "the ledger holds {} entries, fewer than the {size} asked for",
                head.entries
            )));
        }
        Ok(())
    }

    /// Proves that entry `seq` is in the tree of the first `size` entries.
    pub async fn inclusion_proof(
        &self,
        ledger: LedgerId,
        seq: u64,
        size: u64,
    ) -> Result<InclusionProof, StoreError> {
        self.check_size(ledger, size).await?;
        if seq >= size {
            return Err(proof_err(merkle::ProofError::IndexOutOfRange {
                index: seq,
                size,
            }));
        }
        let (path, root) = with_nodes(self.connection(), ledger, |n| {
            let mut nodes = FnNodes(n);
            (
                merkle::inclusion_proof(&mut nodes, seq, size),
                merkle::root(&mut nodes, size),
            )
        })
        .await?;
        let row = entries::Entity::find_by_id((ledger.as_uuid(), rows::to_i64(seq)))
            .one(self.connection())
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("entry {seq} is missing")))?;
        Ok(InclusionProof {
            seq,
            entry_hash: rows::hash(&row.entry_hash, "entry hash")?,
            size,
            root,
            path: path.map_err(proof_err)?,
        })
    }

    /// Proves that the first `old` entries are a prefix of the first `new`.
    pub async fn consistency_proof(
        &self,
        ledger: LedgerId,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        self.check_size(ledger, new).await?;
        if old == 0 || old > new {
            return Err(proof_err(merkle::ProofError::BadSizes { old, new }));
        }
        let (path, old_root, new_root) = with_nodes(self.connection(), ledger, |n| {
            let mut nodes = FnNodes(n);
            (
                merkle::consistency_proof(&mut nodes, old, new),
                merkle::root(&mut nodes, old),
                merkle::root(&mut nodes, new),
            )
        })
        .await?;
        Ok(ConsistencyProof {
            old_size: old,
            old_root,
            new_size: new,
            new_root,
            path: path.map_err(proof_err)?,
        })
    }

    /// Signs and records a checkpoint of the ledger as it stands. `key` must be the key the
    /// ledger names as the registrant's now.
    pub async fn issue_checkpoint(
        &self,
        ledger: LedgerId,
        key: &SigningKey,
    ) -> Result<SignedCheckpoint, StoreError> {
        let head = self.head(ledger).await?;
        if PublicKey::from(key) != head.registrant_key {
            return Err(StoreError::Proof(format!(
                "that key is not the registrant key the ledger names ({})",
                head.registrant_key
            )));
        }
        let root = self.tree_root(ledger, head.entries).await?;
        let signed = Checkpoint {
            origin: origin(&ledger),
            size: head.entries,
            root,
        }
        .sign(key);
        let now = crate::clock::now();
        checkpoints::Entity::insert(checkpoints::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            size: Set(rows::to_i64(head.entries)),
            issued_at: Set(now.micros()),
            root: Set(root.to_vec()),
            note: Set(signed.to_note()),
        })
        .exec(self.connection())
        .await?;
        Ok(signed)
    }

    /// The checkpoints issued, newest first.
    pub async fn checkpoints(
        &self,
        ledger: LedgerId,
        limit: u64,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        checkpoints::Entity::find()
            .filter(checkpoints::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_desc(checkpoints::Column::Size)
            .order_by_desc(checkpoints::Column::IssuedAt)
            .limit(limit)
            .all(self.connection())
            .await?
            .iter()
            .map(|m| SignedCheckpoint::parse(&m.note).map_err(StoreError::corrupt))
            .collect()
    }
}

impl Store {
    /// The newest checkpoint issued at tree size `size`.
    pub async fn checkpoint_at(
        &self,
        ledger: LedgerId,
        size: u64,
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        // A size no ledger can reach (it comes from a URL) has no checkpoint.
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        checkpoints::Entity::find()
            .filter(checkpoints::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(checkpoints::Column::Size.eq(size))
            .order_by_desc(checkpoints::Column::IssuedAt)
            .one(self.connection())
            .await?
            .map(|m| SignedCheckpoint::parse(&m.note).map_err(StoreError::corrupt))
            .transpose()
    }
}
