//! Proof files: what `custody prove` writes and `custody verify-proof` checks, offline, with
//! nothing but the registrant's public key. Each proof carries the signed checkpoint(s) it is
//! made against, so a proof stands on its own.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checkpoint::{SignedCheckpoint, origin};
use crate::encoding::Canonical;
use crate::entry::{Entry, hash_encoded};
use crate::merkle::{self, Hash};
use crate::types::ids::{EntryHash, LedgerId, PublicKey};

/// A proof, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProofFile {
    /// Entry `seq` is leaf `seq` of the tree the checkpoint signs.
    Inclusion {
        ledger: LedgerId,
        seq: u64,
        entry_hash: EntryHash,
        /// The entry's canonical bytes (hex), so the reader sees what is proven.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
        tree_size: u64,
        #[serde(with = "hex32")]
        root: Hash,
        #[serde(with = "hex32s")]
        path: Vec<Hash>,
        /// The signed note of the checkpoint of `tree_size`.
        checkpoint: String,
    },
    /// The tree of the old checkpoint is a prefix of the tree of the new one.
    Consistency {
        ledger: LedgerId,
        old_size: u64,
        #[serde(with = "hex32")]
        old_root: Hash,
        new_size: u64,
        #[serde(with = "hex32")]
        new_root: Hash,
        #[serde(with = "hex32s")]
        path: Vec<Hash>,
        old_checkpoint: String,
        new_checkpoint: String,
    },
}

/// Why a proof file does not prove what it says.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofFileError {
    #[error("the checkpoint is refused: {0}")]
    Checkpoint(String),
    #[error("the proof's {what} does not match its checkpoint's")]
    Mismatch { what: &'static str },
    #[error("the entry's bytes do not hash to the entry hash, or do not decode: {0}")]
    Entry(String),
    #[error("the Merkle proof does not verify: {0}")]
    Merkle(String),
}

/// What a verified proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proven {
    Inclusion {
        seq: u64,
        tree_size: u64,
        entry: Option<Box<Entry>>,
    },
    Consistency {
        old_size: u64,
        new_size: u64,
    },
}

fn checked(
    note: &str,
    ledger: &LedgerId,
    keys: &[PublicKey],
) -> Result<SignedCheckpoint, ProofFileError> {
    let c = SignedCheckpoint::parse(note).map_err(|e| ProofFileError::Checkpoint(e.to_string()))?;
    c.verify_any(&origin(ledger), keys)
        .map_err(|e| ProofFileError::Checkpoint(e.to_string()))?;
    Ok(c)
}

impl ProofFile {
    /// Verifies the proof and its checkpoint(s) against the registrant's key(s).
    pub fn verify(&self, keys: &[PublicKey]) -> Result<Proven, ProofFileError> {
        match self {
            ProofFile::Inclusion {
                ledger,
                seq,
                entry_hash,
                entry,
                tree_size,
                root,
                path,
                checkpoint,
            } => {
                let c = checked(checkpoint, ledger, keys)?;
                if c.checkpoint.size != *tree_size {
                    return Err(ProofFileError::Mismatch { what: "tree size" });
                }
                if c.checkpoint.root != *root {
                    return Err(ProofFileError::Mismatch { what: "root" });
                }
                let decoded = match entry {
                    None => None,
                    Some(hexed) => {
                        let bytes =
                            hex::decode(hexed).map_err(|e| ProofFileError::Entry(e.to_string()))?;
                        if hash_encoded(&bytes) != *entry_hash {
                            return Err(ProofFileError::Entry("hash differs".into()));
                        }
                        let e = Entry::from_canonical_bytes(&bytes)
                            .map_err(|e| ProofFileError::Entry(e.to_string()))?;
                        if e.seq.get() != *seq || e.ledger != *ledger {
                            return Err(ProofFileError::Entry(
                                "the entry names another position or ledger".into(),
                            ));
                        }
                        Some(Box::new(e))
                    }
                };
                merkle::verify_inclusion(entry_hash.as_bytes(), *seq, *tree_size, root, path)
                    .map_err(|e| ProofFileError::Merkle(e.to_string()))?;
                Ok(Proven::Inclusion {
                    seq: *seq,
                    tree_size: *tree_size,
                    entry: decoded,
                })
            }
            ProofFile::Consistency {
                ledger,
                old_size,
                old_root,
                new_size,
                new_root,
                path,
                old_checkpoint,
                new_checkpoint,
            } => {
                let old = checked(old_checkpoint, ledger, keys)?;
                let new = checked(new_checkpoint, ledger, keys)?;
                if old.checkpoint.size != *old_size || new.checkpoint.size != *new_size {
                    return Err(ProofFileError::Mismatch { what: "tree size" });
                }
                if old.checkpoint.root != *old_root || new.checkpoint.root != *new_root {
                    return Err(ProofFileError::Mismatch { what: "root" });
                }
                merkle::verify_consistency(*old_size, old_root, *new_size, new_root, path)
                    .map_err(|e| ProofFileError::Merkle(e.to_string()))?;
                Ok(Proven::Consistency {
                    old_size: *old_size,
                    new_size: *new_size,
                })
            }
        }
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

mod hex32s {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};
    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for h in v {
            seq.serialize_element(&hex::encode(h))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        if v.len() > 128 {
            return Err(serde::de::Error::custom("a proof has at most 128 hashes"));
        }
        v.iter()
            .map(|s| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}
