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
//!
//! With `parallel`, the strict checks are handed in bounded batches to worker threads while
//! decoding and the rules go on in order on the caller's thread; when every worker is busy
//! and the queue is full, the caller's thread checks the next batch itself instead of
//! waiting (so one worker fewer than the cores keeps every core busy without crowding the
//! reading thread). A failure is reported only once every earlier signature has been
//! checked, so the entry named is the same first bad entry the sequential verifier names.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use thiserror::Error;

use crate::checkpoint::SignedCheckpoint;
use crate::encoding::{Canonical, DecodeError};
use crate::entry::{Entry, hash_encoded};
use crate::merkle::Frontier;
use crate::state::{SigCheck, Signed, State, Touched};
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
    /// Worker threads checking signatures, when verification runs in parallel.
    parallel: Option<Parallel>,
}

/// Signatures in a batch handed to one worker at a time: large enough that a hand-off costs
/// little beside ~60 µs per strict check, small enough that memory stays flat.
const BATCH: usize = 256;

/// One signature to check, and what to say if it does not verify.
struct Job {
    /// Its place among all the checks handed out (orders two failures of one entry).
    order: u64,
    seq: u64,
    check: SigCheck,
    /// The signer and meaning of an entry signature (none for the sequencer signature).
    signer: Option<(crate::payload::Principal, crate::types::enums::Meaning)>,
}

/// The first check of a batch that failed.
struct Bad {
    order: u64,
    failure: Failure,
}

impl Job {
    fn failure(self) -> Failure {
        let reason = match (self.check.of, self.signer) {
            (Signed::Signature(index), Some((signer, meaning))) => Reason::BadSignature {
                index,
                signer: format!("{signer} ({meaning})"),
            },
            (Signed::Signature(index), None) => Reason::BadSignature {
                index,
                signer: String::new(),
            },
            (Signed::Sequencer, _) => Reason::BadSequencerSignature {
                key_id: self.check.key.key_id(),
            },
        };
        Failure {
            seq: self.seq,
            reason,
        }
    }
}

/// Batches queued for each worker. Two left a worker idle while the reading thread waited
/// for the next page of entries from the database; eight (≈ 20 ms of checks, ≈ 3.5 MB) keep
/// it busy: `custody verify` of 1,000,000 entries in 0.75 of the time (docs/performance.md).
const QUEUED: usize = 8;

/// The worker pool: batches go out on a bounded queue (so a fast reader waits rather than
/// holding the ledger's signatures in memory), one answer per batch comes back.
struct Parallel {
    jobs: Option<SyncSender<Vec<Job>>>,
    answers: Receiver<Option<Bad>>,
    workers: Vec<JoinHandle<()>>,
    batch: Vec<Job>,
    size: usize,
    order: u64,
    sent: u64,
    answered: u64,
    first_bad: Option<Bad>,
}

/// The first job of `batch` whose signature does not verify (all checked together).
fn first_refused(batch: Vec<Job>) -> Option<Job> {
    let ok = SigCheck::verify_each(batch.iter().map(|j| &j.check));
    batch
        .into_iter()
        .zip(ok)
        .find(|(_, ok)| !ok)
        .map(|(j, _)| j)
}

impl Parallel {
    /// With no thread, the caller checks every batch itself, as it does whenever the workers
    /// are all busy.
    fn new(threads: usize, size: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Vec<Job>>(threads * QUEUED);
        let queue = Arc::new(Mutex::new(queue));
        let (tell, answers) = std::sync::mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                let tell: Sender<Option<Bad>> = tell.clone();
                std::thread::spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next batch.
                        let next = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        let Ok(batch) = next else { return };
                        let bad = first_refused(batch).map(|j| Bad {
                            order: j.order,
                            failure: j.failure(),
                        });
                        if tell.send(bad).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self {
            jobs: Some(jobs),
            answers,
            workers,
            batch: Vec::with_capacity(size),
            size,
            order: 0,
            sent: 0,
            answered: 0,
            first_bad: None,
        }
    }

    fn add(&mut self, job: Job) {
        self.batch.push(job);
        if self.batch.len() >= self.size {
            self.send();
        }
    }

    fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        let unsent = match self.jobs.as_ref() {
            Some(j) => match j.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => Some(b),
            },
            None => Some(batch),
        };
        match unsent {
            None => self.sent += 1,
            // Every worker is busy and the queue is full, or the workers are gone (one
            // panicked): this thread checks the batch itself rather than wait, so one
            // worker and this thread keep two cores busy.
            Some(batch) => {
                if let Some(j) = first_refused(batch) {
                    self.note(Bad {
                        order: j.order,
                        failure: j.failure(),
                    });
                }
            }
        }
    }

    fn note(&mut self, bad: Bad) {
        if self.first_bad.as_ref().is_none_or(|b| bad.order < b.order) {
            self.first_bad = Some(bad);
        }
    }

    /// Takes the answers already in, without waiting. Whether a signature failed.
    fn poll(&mut self) -> bool {
        while let Ok(answer) = self.answers.try_recv() {
            self.answered += 1;
            if let Some(bad) = answer {
                self.note(bad);
            }
        }
        self.first_bad.is_some()
    }

    /// Checks everything handed out so far; the first signature (in stream order) that
    /// failed.
    fn settle(&mut self) -> Option<Failure> {
        self.send();
        while self.answered < self.sent {
            match self.answers.recv() {
                Ok(answer) => {
                    self.answered += 1;
                    if let Some(bad) = answer {
                        self.note(bad);
                    }
                }
                // Every worker is gone with batches unanswered: a worker panicked, which
                // `verify` does not do; say the first unanswered entry cannot be vouched for.
                Err(_) => break,
            }
        }
        self.first_bad.take().map(|b| b.failure)
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
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
            parallel: None,
        }
    }

    /// Checks signatures on `threads` worker threads (one fewer than the cores is right: the
    /// caller's thread takes a batch whenever they are all busy) while the caller's thread
    /// decodes and applies the rules. The failure reported is the same.
    pub fn parallel(self, threads: usize) -> Self {
        self.parallel_in_batches(threads, BATCH)
    }

    /// As `parallel`, with `batch` signatures handed to a worker at a time (tests use small
    /// batches to put a bad signature at every place in one).
    pub fn parallel_in_batches(mut self, threads: usize, batch: usize) -> Self {
        self.parallel = Some(Parallel::new(threads, batch.max(1)));
        self
    }

    /// The failure to report when the caller finds `failure` at an entry (a stored column
    /// that disagrees, say): a signature of that entry or an earlier one still being checked
    /// may fail first, as the sequential verifier would have found.
    pub fn first_failure(&mut self, failure: Failure) -> Failure {
        match self.parallel.as_mut().and_then(Parallel::settle) {
            Some(earlier) if earlier.seq <= failure.seq => earlier,
            _ => failure,
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
        let (entry, hash) = match self.read_bytes(bytes, stored_hash) {
            Ok(x) => x,
            Err(f) => return Err(self.first_failure(f)),
        };
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
        match self.apply_checked(entry, hash) {
            Ok(()) => {
                if let Some(p) = self.parallel.as_mut()
                    && p.poll()
                    && let Some(f) = p.settle()
                {
                    return Err(f);
                }
                Ok(())
            }
            Err(f) => Err(self.first_failure(f)),
        }
    }

    fn apply_checked(&mut self, entry: &Entry, hash: EntryHash) -> Result<(), Failure> {
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
                if let Some(p) = self.parallel.as_mut() {
                    for check in checks {
                        let signer = match check.of {
                            Signed::Signature(i) => entry
                                .signatures
                                .get(i)
                                .map(|s| (s.signer.clone(), s.meaning)),
                            Signed::Sequencer => None,
                        };
                        p.order += 1;
                        let order = p.order;
                        p.add(Job {
                            order,
                            seq,
                            check,
                            signer,
                        });
                    }
                } else if let Some((check, _)) = checks
                    .iter()
                    .zip(SigCheck::verify_each(&checks))
                    .find(|(_, ok)| !ok)
                {
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
    pub fn finish_with_state(mut self) -> Result<(Summary, State), Failure> {
        if let Some(f) = self.parallel.as_mut().and_then(Parallel::settle) {
            return Err(f);
        }
        drop(self.parallel.take());
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
