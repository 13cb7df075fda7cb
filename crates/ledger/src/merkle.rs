//! The ledger as an RFC 6962 / RFC 9162 Merkle tree: leaf `i` is the entry hash of entry `i`.
//!
//! Leaf hash `SHA-256(0x00 ‖ entry hash)`, node hash `SHA-256(0x01 ‖ left ‖ right)`. Proofs
//! are made from the hashes of *perfect* subtrees (`level`, `index`: the subtree over leaves
//! `index·2^level … (index+1)·2^level − 1`), which a store keeps as the tree grows; a proof
//! reads O(log n) of them. Verification uses the `ct-merkle` crate (RFC 6962, with the
//! transparency-dev known-answer tests).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A tree hash (leaf, node or root).
pub type Hash = [u8; 32];

/// The leaf hash of `data` (for the ledger: an entry hash).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of perfect subtrees come from.
pub trait Nodes {
    /// The hash of the perfect subtree at (`level`, `index`); level 0 is a leaf hash.
    fn node(&mut self, level: u32, index: u64) -> Hash;
}

/// Perfect-subtree hashes already fetched, by (level, index).
impl Nodes for BTreeMap<(u32, u64), Hash> {
    fn node(&mut self, level: u32, index: u64) -> Hash {
        self.get(&(level, index)).copied().unwrap_or([0; 32])
    }
}

/// Records which perfect subtrees a computation reads, so a store can fetch them in one go
/// (the recursion's shape does not depend on the hashes).
#[derive(Debug, Default)]
pub struct Recorder(pub Vec<(u32, u64)>);

impl Nodes for Recorder {
    fn node(&mut self, level: u32, index: u64) -> Hash {
        self.0.push((level, index));
        [0; 32]
    }
}

/// The hashes of all leaves given, as a source of perfect subtrees (tests, small trees).
pub struct Leaves<'a>(pub &'a [Hash]);

impl Nodes for Leaves<'_> {
    fn node(&mut self, level: u32, index: u64) -> Hash {
        let width = 1u64 << level;
        let start = index * width;
        mth_of(&self.0[start as usize..(start + width) as usize])
    }
}

fn mth_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth_of(&leaves[..k]), &mth_of(&leaves[k..]))
        }
    }
}

/// MTH(D[a:b]) for 0 ≤ a < b, from perfect subtrees.
pub fn subtree_root(nodes: &mut impl Nodes, a: u64, b: u64) -> Hash {
    let n = b - a;
    if n.is_power_of_two() && a.is_multiple_of(n) {
        return nodes.node(n.trailing_zeros(), a / n);
    }
    let k = split(n);
    let left = subtree_root(nodes, a, a + k);
    let right = subtree_root(nodes, a + k, b);
    node_hash(&left, &right)
}

/// The root of the tree of the first `n` leaves.
pub fn root(nodes: &mut impl Nodes, n: u64) -> Hash {
    if n == 0 {
        empty_root()
    } else {
        subtree_root(nodes, 0, n)
    }
}

/// Why a proof cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    #[error("entry {index} is not in a tree of {size} entries")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < old size ≤ new size; got {old} and {new}")]
    BadSizes { old: u64, new: u64 },
    #[error("the proof does not verify: {0}")]
    Invalid(String),
}

/// The audit path of leaf `m` in the tree of size `n` (RFC 6962 §2.1.1, RFC 9162 §2.1.3.1).
pub fn inclusion_proof(nodes: &mut impl Nodes, m: u64, n: u64) -> Result<Vec<Hash>, ProofError> {
    if m >= n {
        return Err(ProofError::IndexOutOfRange { index: m, size: n });
    }
    let mut out = Vec::new();
    path(nodes, m, 0, n, &mut out);
    Ok(out)
}

fn path(nodes: &mut impl Nodes, m: u64, a: u64, b: u64, out: &mut Vec<Hash>) {
    let n = b - a;
    if n == 1 {
        return;
    }
    let k = split(n);
    if m < a + k {
        path(nodes, m, a, a + k, out);
        out.push(subtree_root(nodes, a + k, b));
    } else {
        path(nodes, m, a + k, b, out);
        out.push(subtree_root(nodes, a, a + k));
    }
}

/// The consistency proof from size `m` to size `n` (RFC 6962 §2.1.2, RFC 9162 §2.1.4.1).
pub fn consistency_proof(nodes: &mut impl Nodes, m: u64, n: u64) -> Result<Vec<Hash>, ProofError> {
    if m == 0 || m > n {
        return Err(ProofError::BadSizes { old: m, new: n });
    }
    let mut out = Vec::new();
    if m < n {
        subproof(nodes, m, 0, n, true, &mut out);
    }
    Ok(out)
}

fn subproof(nodes: &mut impl Nodes, m: u64, a: u64, b: u64, complete: bool, out: &mut Vec<Hash>) {
    let n = b - a;
    if m == n {
        if !complete {
            out.push(subtree_root(nodes, a, b));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, a, a + k, complete, out);
        out.push(subtree_root(nodes, a + k, b));
    } else {
        subproof(nodes, m - k, a + k, b, false, out);
        out.push(subtree_root(nodes, a, a + k));
    }
}

/// Checks that `leaf` (a leaf's data: for the ledger, an entry hash) is leaf `index` of the
/// tree of `size` leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &[u8],
    index: u64,
    size: u64,
    root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let r = ct_merkle::RootHash::<Sha256>::new((*root).into(), size);
    let p = ct_merkle::InclusionProof::<Sha256>::from_digests(
        proof.iter().map(<&sha2::digest::Output<Sha256>>::from),
    );
    r.verify_inclusion(&leaf, index, &p)
        .map_err(|e| ProofError::Invalid(e.to_string()))
}

/// Checks that the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`)
/// (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Invalid(
                "equal sizes need an empty proof and equal roots".into(),
            ))
        };
    }
    let old = ct_merkle::RootHash::<Sha256>::new((*old_root).into(), old_size);
    let new = ct_merkle::RootHash::<Sha256>::new((*new_root).into(), new_size);
    let p = ct_merkle::ConsistencyProof::<Sha256>::from_digests(
        proof.iter().map(<&sha2::digest::Output<Sha256>>::from),
    );
    new.verify_consistency(&old, &p)
        .map_err(|e| ProofError::Invalid(e.to_string()))
}

/// The right edge of a growing tree: one perfect-subtree root per set bit of its size.
/// Appending a leaf returns the perfect subtrees it completes, which a store keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `nodes[level]` is the root of the perfect subtree at that level, if bit `level` of
    /// `size` is set.
    nodes: Vec<Option<Hash>>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier of a tree of `size` leaves, from its perfect subtrees.
    pub fn from_nodes(size: u64, nodes: &mut impl Nodes) -> Self {
        let mut f = Frontier {
            size,
            nodes: vec![None; 64 - size.leading_zeros() as usize],
        };
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                f.nodes[level as usize] = Some(nodes.node(level, start >> level));
                start += 1u64 << level;
            }
        }
        f
    }

    /// The (level, index) of every perfect subtree `from_nodes` reads for `size`.
    pub fn coordinates(size: u64) -> Vec<(u32, u64)> {
        let mut r = Recorder::default();
        Frontier::from_nodes(size, &mut r);
        r.0
    }

    /// Appends a leaf hash; returns the perfect subtrees completed at levels ≥ 1, lowest first.
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut carry = leaf;
        let mut level = 0usize;
        let mut completed = Vec::new();
        while self.size & (1u64 << level) != 0 {
            let left = self.nodes[level].take().expect("bit set means a node");
            carry = node_hash(&left, &carry);
            completed.push(carry);
            level += 1;
        }
        if self.nodes.len() <= level {
            self.nodes.resize(level + 1, None);
        }
        self.nodes[level] = Some(carry);
        self.size += 1;
        completed
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for h in self.nodes.iter().flatten() {
            acc = Some(match acc {
                None => *h,
                Some(right) => node_hash(h, &right),
            });
        }
        acc.unwrap_or_else(empty_root)
    }
}

/// A proof together with the perfect-subtree coordinates it was computed from.
pub fn needed_for_inclusion(m: u64, n: u64) -> Result<Vec<(u32, u64)>, ProofError> {
    let mut r = Recorder::default();
    inclusion_proof(&mut r, m, n)?;
    Ok(r.0)
}

/// The perfect subtrees a consistency proof from `m` to `n` reads.
pub fn needed_for_consistency(m: u64, n: u64) -> Result<Vec<(u32, u64)>, ProofError> {
    let mut r = Recorder::default();
    consistency_proof(&mut r, m, n)?;
    Ok(r.0)
}

/// The perfect subtrees the root of size `n` reads.
pub fn needed_for_root(n: u64) -> Vec<(u32, u64)> {
    let mut r = Recorder::default();
    root(&mut r, n);
    r.0
}
