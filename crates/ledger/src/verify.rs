//! Streaming verification: feed entries in order, get the first one that fails and why.
//!
//! Memory is bounded by the ledger's state (users, products, locations, containers) and the
//! entry ids of the last 30 days (for replay detection), never by its length: entries are
//! dropped as soon as they are checked. Each signature is checked strictly (section 5.6 of
//! docs/ledger-format.md, ed25519-dalek's `verify_strict`) as its entry is applied, the same
//! check the store makes when it appends or imports an entry.
//!
//! Batch verification is not used: ed25519-dalek's batch equation accepts signatures that
//! strict verification refuses (an `R` of small order, such as the identity in any of its
//! encodings, or with a small-order component that the batch's deterministic coefficients
//! cancel), and telling them apart costs a subgroup check per signature, which is as dear as
//! a strict verification.

use std::collections::{HashSet, VecDeque};

use thiserror::Error;

use crate::checkpoint::SignedCheckpoint;
use crate::encoding::{Canonical, DecodeError};
use crate::entry::{Entry, hash_encoded};
use crate::merkle::Frontier;
use crate::state::{Signed, State, Touched};
use crate::types::ids::{EntryHash, EntryId, LedgerId, PublicKey};
use crate::violation::Violation;

/// Why an entry fails verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Reason {
    #[error("its bytes cannot be read: {0}")]
    Undecodable(DecodeError),
    #[error("its bytes are not in canonical form")]
    NotCanonical,
    #[error("its stored hash {stored} does not match its contents, which hash to {computed}")]
    HashMismatch {
        stored: EntryHash,
        computed: EntryHash,
    },
    #[error("its stored {field} does not match the entry's signed contents")]
    FieldMismatch { field: &'static str },
    #[error("the genesis entry names registrant key {found}, not the trusted key {trusted}")]
    UntrustedRegistrant {
        // Boxed: two keys would make every `Result<_, Failure>` several hundred bytes.
        trusted: Box<PublicKey>,
        found: Box<PublicKey>,
    },
    #[error("signature {index} ({signer}) does not verify")]
    BadSignature { index: usize, signer: String },
    /// A version 3 entry's sequencer signature does not verify with the registrant key in
    /// force before it: the entry was moved, renumbered or re-timed (or its contents changed)
    /// by someone without that key.
    #[error(
        "its sequencer signature does not verify with the registrant key in force ({key_id}): its ledger, seq, prev, timestamp or contents are not the ones the registrant key signed (the entry was moved, renumbered or re-timed without the key)"
    )]
    BadSequencerSignature { key_id: crate::types::ids::KeyId },
    #[error("{0}")]
    Rule(Violation),
    #[error(
        "the ledger is missing entries: it ends at {found} entries but its head says {expected}"
    )]
    Truncated { expected: u64, found: u64 },
    #[error("the checkpoint is not one this ledger's registrant signed: {0}")]
    Checkpoint(String),
    #[error(
        "the first {size} entries do not hash to the root the checkpoint of size {size} states: an entry at or before this one was changed, removed or inserted since it was issued"
    )]
    CheckpointMismatch { size: u64 },
    #[error(
        "the ledger holds {found} entries but a checkpoint you hold covers {size}: entries were removed"
    )]
    ShorterThanCheckpoint { size: u64, found: u64 },
    /// A store's materialized row (what appends and pages read as the state) differs from the
    /// state the verified entries fold to. Reported by stores, after the whole chain verified.
    #[error("{0}")]
    MaterializedMismatch(Box<RowMismatch>),
}

/// The first materialized row that differs from the ledger's state: which table, which row
/// (by its key) and how.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.describe())]
pub struct RowMismatch {
    pub table: &'static str,
    pub key: String,
    pub difference: RowDifference,
}

/// How a materialized row differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowDifference {
    /// The row's `column` holds `stored`; the ledger gives `ledger`.
    Column {
        column: &'static str,
        stored: String,
        ledger: String,
    },
    /// The ledger gives this row; the table lacks it.
    Missing,
    /// The table holds this row; the ledger gives none.
    Extra,
}

impl RowMismatch {
    /// The column that differs (none for a missing or extra row).
    pub fn column(&self) -> Option<&'static str> {
        match &self.difference {
            RowDifference::Column { column, .. } => Some(column),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let (t, k) = (self.table, &self.key);
        match &self.difference {
            RowDifference::Column {
                column,
                stored,
                ledger,
            } => format!(
                "the materialized row {t} {k} disagrees with the ledger: its {column} is {stored}, but the ledger gives {ledger}"
            ),
            RowDifference::Missing => {
                format!("the materialized row {t} {k} is missing: the ledger gives it")
            }
            RowDifference::Extra => format!(
                "the materialized row {t} {k} is not in the ledger: the table holds a row the entries do not give"
            ),
        }
    }
}

/// The first entry that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("entry {seq} fails verification: {reason}")]
pub struct Failure {
    /// The position in the stream (the entry's expected sequence number).
    pub seq: u64,
    pub reason: Reason,
}

impl Reason {
    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Undecodable(_) => "undecodable",
            Reason::NotCanonical => "not_canonical",
            Reason::HashMismatch { .. } => "hash_mismatch",
            Reason::FieldMismatch { .. } => "field_mismatch",
            Reason::UntrustedRegistrant { .. } => "untrusted_registrant",
            Reason::BadSignature { .. } => "bad_signature",
            Reason::BadSequencerSignature { .. } => "bad_sequencer_signature",
            Reason::Rule(v) => v.code(),
            Reason::Truncated { .. } => "truncated",
            Reason::Checkpoint(_) => "checkpoint_signature",
            Reason::CheckpointMismatch { .. } => "checkpoint_mismatch",
            Reason::ShorterThanCheckpoint { .. } => "shorter_than_checkpoint",
            Reason::MaterializedMismatch(_) => "materialized_mismatch",
        }
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub ledger: LedgerId,
    pub entries: u64,
    pub head: EntryHash,
    pub registrant_key: PublicKey,
}

/// Checks entries one at a time, in order.
pub struct Verifier {
    state: State,
    trusted: Option<PublicKey>,
    next: u64,
    head: Option<EntryHash>,
    /// Entry ids recent enough to be replayed, oldest first (see `MAX_SIGNING_AGE_DAYS`).
    recent: VecDeque<(i64, EntryId)>,
    recent_set: HashSet<EntryId>,
    /// The Merkle tree of the entries so far, and the subtrees the last entry completed.
    frontier: Frontier,
    completed: Vec<crate::merkle::Hash>,
    /// Every key the registrant held (genesis, then each rotation).
    registrant_keys: Vec<PublicKey>,
    /// Checkpoints the auditor holds, by size; the first whose root did not match.
    checkpoints: Vec<SignedCheckpoint>,
    mismatch: Option<u64>,
    /// What the last accepted entry changed.
    touched: Touched,
}

impl Verifier {
    /// `trusted`: the registrant key the auditor trusts; `None` trusts the genesis entry's.
    pub fn new(trusted: Option<PublicKey>) -> Self {
        Self {
            state: State::new(),
            trusted,
            next: 0,
            head: None,
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            frontier: Frontier::new(),
            completed: Vec::new(),
            registrant_keys: Vec::new(),
            checkpoints: Vec::new(),
            mismatch: None,
            touched: Touched::default(),
        }
    }

    /// Also proves that the ledger extends each of these checkpoints: its first `size`
    /// entries must hash to the checkpoint's root, and the checkpoint must be signed by a key
    /// the ledger says the registrant held.
    pub fn with_checkpoints(mut self, mut checkpoints: Vec<SignedCheckpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.checkpoint.size);
        self.checkpoints = checkpoints;
        self
    }

    /// The Merkle subtrees the last accepted entry completed (levels 1 up).
    pub fn completed(&self) -> &[crate::merkle::Hash] {
        &self.completed
    }

    /// The Merkle root of the entries accepted so far.
    pub fn root(&self) -> crate::merkle::Hash {
        self.frontier.root()
    }

    /// The state so far (for inventory folding after a verification).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What the last accepted entry changed (a store compares its rows with these).
    pub fn touched(&self) -> &Touched {
        &self.touched
    }

    /// Checks one stored entry: its bytes and, if the store keeps one, its stored hash.
    pub fn push_bytes(
        &mut self,
        bytes: &[u8],
        stored_hash: Option<&EntryHash>,
    ) -> Result<Entry, Failure> {
        let (entry, hash) = self.read_bytes(bytes, stored_hash)?;
        self.push_checked(&entry, hash)?;
        Ok(entry)
    }

    fn read_bytes(
        &self,
        bytes: &[u8],
        stored_hash: Option<&EntryHash>,
    ) -> Result<(Entry, EntryHash), Failure> {
        let seq = self.next;
        let fail = |reason| Failure { seq, reason };
        let entry = Entry::from_canonical_bytes(bytes).map_err(|e| fail(Reason::Undecodable(e)))?;
        if entry.to_canonical_bytes() != bytes {
            return Err(fail(Reason::NotCanonical));
        }
        let computed = hash_encoded(bytes);
        if let Some(stored) = stored_hash
            && *stored != computed
        {
            return Err(fail(Reason::HashMismatch {
                stored: *stored,
                computed,
            }));
        }
        Ok((entry, computed))
    }

    /// Checks one entry already decoded (its hash is recomputed).
    pub fn push(&mut self, entry: &Entry) -> Result<(), Failure> {
        let h = entry.hash();
        self.push_checked(entry, h)
    }

    fn push_checked(&mut self, entry: &Entry, hash: EntryHash) -> Result<(), Failure> {
        let seq = self.next;
        if let (Some(trusted), crate::payload::Payload::Genesis(g)) =
            (self.trusted, entry.payload())
            && g.registrant_key != trusted
        {
            return Err(Failure {
                seq,
                reason: Reason::UntrustedRegistrant {
                    trusted: Box::new(trusted),
                    found: Box::new(g.registrant_key),
                },
            });
        }
        let replayed = self.remember(entry);
        match replayed.and_then(|()| self.state.apply(entry)) {
            Ok((checks, touched)) => {
                self.touched = touched;
                if let Some(check) = checks.iter().find(|c| !c.verify()) {
                    let reason = match check.of {
                        Signed::Signature(index) => {
                            let s = &entry.signatures[index];
                            Reason::BadSignature {
                                index,
                                signer: format!("{} ({})", s.signer, s.meaning),
                            }
                        }
                        Signed::Sequencer => Reason::BadSequencerSignature {
                            key_id: check.key.key_id(),
                        },
                    };
                    return Err(Failure { seq, reason });
                }
                self.next += 1;
                self.head = Some(hash);
                self.completed = self
                    .frontier
                    .push(crate::merkle::leaf_hash(hash.as_bytes()));
                match entry.payload() {
                    crate::payload::Payload::Genesis(g) => {
                        self.registrant_keys.push(g.registrant_key)
                    }
                    crate::payload::Payload::KeyRotated(k)
                        if k.subject == crate::payload::Principal::Registrant =>
                    {
                        self.registrant_keys.push(k.new_key)
                    }
                    _ => {}
                }
                if self.mismatch.is_none()
                    && self.checkpoints.iter().any(|c| {
                        c.checkpoint.size == self.next && c.checkpoint.root != self.frontier.root()
                    })
                {
                    self.mismatch = Some(self.next);
                }
                Ok(())
            }
            Err(v) => Err(Failure {
                seq,
                reason: Reason::Rule(v),
            }),
        }
    }

    /// Records the entry's id, refusing one seen within the replay window.
    fn remember(&mut self, entry: &crate::entry::Entry) -> Result<(), Violation> {
        let id = entry.body.entry_id;
        let now = entry.timestamp.micros();
        let horizon = now
            .saturating_sub(crate::state::MAX_SIGNING_AGE_DAYS * 86_400 * 1_000_000)
            .saturating_sub(crate::state::GIVEN_AT_TOLERANCE_MINUTES * 60 * 1_000_000);
        while let Some((t, old)) = self.recent.front() {
            if *t >= horizon {
                break;
            }
            self.recent_set.remove(old);
            self.recent.pop_front();
        }
        if !self.recent_set.insert(id) {
            return Err(Violation::Rule(format!(
                "entry id {id} was already used: a signed entry cannot be recorded twice"
            )));
        }
        self.recent.push_back((now, id));
        Ok(())
    }

    /// Ends the stream: checks that the ledger is not empty and holds to the checkpoints.
    pub fn finish(self) -> Result<Summary, Failure> {
        self.finish_with_state().map(|(s, _)| s)
    }

    /// Ends the stream as `finish` does, and hands back the state the entries folded to.
    pub fn finish_with_state(self) -> Result<(Summary, State), Failure> {
        let (Some(head), Some(reg)) = (self.head, self.state.registrant.as_ref()) else {
            return Err(Failure {
                seq: 0,
                reason: Reason::Rule(Violation::MissingGenesis),
            });
        };
        let ledger = self.state.head.expect("entries were applied").ledger;
        // A checkpoint that covers more entries than the ledger holds: entries were removed —
        // if the registrant signed it. (A key whose rotation was among the removed entries
        // cannot be recognised: then the signature is what is reported.)
        let origin = crate::checkpoint::origin(&ledger);
        if let Some(c) = self
            .checkpoints
            .iter()
            .find(|c| c.checkpoint.size > self.next)
        {
            if let Err(e) = c.verify_any(&origin, &self.registrant_keys) {
                return Err(Failure {
                    seq: self.next,
                    reason: Reason::Checkpoint(e.to_string()),
                });
            }
            return Err(Failure {
                seq: self.next,
                reason: Reason::ShorterThanCheckpoint {
                    size: c.checkpoint.size,
                    found: self.next,
                },
            });
        }
        // Otherwise a checkpoint counts only if the registrant signed it, and then the ledger
        // must extend it.
        for c in &self.checkpoints {
            if let Err(e) = c.verify_any(&origin, &self.registrant_keys) {
                return Err(Failure {
                    seq: c.checkpoint.size.saturating_sub(1),
                    reason: Reason::Checkpoint(e.to_string()),
                });
            }
        }
        if let Some(size) = self.mismatch {
            return Err(Failure {
                seq: size - 1,
                reason: Reason::CheckpointMismatch { size },
            });
        }
        let summary = Summary {
            ledger,
            entries: self.next,
            head,
            registrant_key: reg.key,
        };
        Ok((summary, self.state))
    }

    /// How many entries have been accepted.
    pub fn entries(&self) -> u64 {
        self.next
    }
}

/// Verifies a whole in-memory ledger (tests, small tools).
pub fn verify_entries<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    trusted: Option<PublicKey>,
) -> Result<Summary, Failure> {
    let mut v = Verifier::new(trusted);
    for e in entries {
        v.push(e)?;
    }
    v.finish()
}
