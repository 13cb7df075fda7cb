//! The append transaction: the one path by which entries enter the database, for new drafts
//! and for imported entries alike.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::{Mutex, oneshot};

use custody_ledger::state::{
    ContainerStatus, References, SigCheck, Signed, State, Touched, references,
};
use custody_ledger::{
    Canonical, ContainerId, Draft, Entry, EntryHash, LedgerId, LocationId, Payload, Principal,
    PublicKey, Seq, Timestamp, Violation,
};
use ed25519_dalek::SigningKey;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::Store;
use crate::entities::{containers, discrepancies, entries, ledgers, locations, products, users};
use crate::error::StoreError;
use crate::requests::{self, PriorOutcome, RequestRecord};
use crate::rows;
use crate::tree;
use custody_ledger::merkle::{self, Frontier};

/// What this process knows of each ledger's state: the ledger's stored entries folded through
/// its rules (`fold_entries`), kept up to date by its own appends. An append checks its
/// entries against the part of it they read (`State::subset`). It serves while the head row
/// says no one else has appended since; the first time another writer is seen (several
/// processes on one database), the ledger is marked shared: every append then reads the head
/// row and folds in what others appended before it applies its own.
///
/// It also holds each ledger's queue of appends waiting for their turn (group commit): whoever
/// takes the ledger's turn writes every append waiting in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Cache {
    slots: Arc<StdMutex<HashMap<LedgerId, Arc<Mutex<Slot>>>>>,
    waiting: Waiting,
}

#[derive(Debug, Default)]
struct Slot {
    state: Option<State>,
    /// The Merkle tree's right edge, kept with `state`.
    frontier: Option<Frontier>,
    /// Another process appends to this ledger too: read the head row on every append.
    shared: bool,
}

impl Slot {
    /// Folds what was stored after the cached state into it (from nothing when none is
    /// cached), and into the tree's edge kept with it. A fold that fails partway leaves both
    /// at the last entry it applied.
    async fn catch_up(
        &mut self,
        db: &impl ConnectionTrait,
        ledger: LedgerId,
    ) -> Result<u64, StoreError> {
        let state = match &mut self.state {
            Some(state) => state,
            None => {
                self.frontier = None;
                self.state.insert(State::new())
            }
        };
        fold_entries(db, ledger, state, self.frontier.as_mut()).await
    }
}

/// One caller's append (its entries, all or none) waiting for its ledger's turn, and where its
/// answer goes.
struct Waiter {
    id: u64,
    member: Member,
    answer: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
}

/// The entries of one caller's append, and the request they answer.
#[derive(Clone)]
struct Member {
    modes: Vec<Mode>,
    request: Option<RequestRecord>,
}

impl Member {
    /// Whether it may share a transaction with others: a genesis entry or an import goes alone.
    fn groups(&self) -> bool {
        self.modes
            .iter()
            .all(|m| matches!(m, Mode::Draft(..)) && !m.is_genesis())
    }
}

/// The appends waiting, by ledger, and the last id handed out.
#[derive(Clone, Default)]
struct Waiting(Arc<StdMutex<Queues>>);

type Queues = (u64, HashMap<LedgerId, Vec<Waiter>>);

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_map()
            .entries(q.1.iter().map(|(l, w)| (l.to_string(), w.len())))
            .finish()
    }
}

impl Cache {
    fn slot(&self, ledger: LedgerId) -> Arc<Mutex<Slot>> {
        let mut map = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(ledger).or_default().clone()
    }

    /// Queues an append; its id and where its answer will come.
    fn enqueue(
        &self,
        ledger: LedgerId,
        member: Member,
    ) -> (u64, oneshot::Receiver<Result<Vec<Appended>, StoreError>>) {
        let (answer, rx) = oneshot::channel();
        let mut q = self.waiting.0.lock().unwrap_or_else(|e| e.into_inner());
        q.0 += 1;
        let id = q.0;
        q.1.entry(ledger)
            .or_default()
            .push(Waiter { id, member, answer });
        (id, rx)
    }

    /// Every append waiting for `ledger`, oldest first, but those whose caller has gone.
    fn drain(&self, ledger: LedgerId) -> Vec<Waiter> {
        let mut q = self.waiting.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = q.1.remove(&ledger).unwrap_or_default();
        all.retain(|w| !w.answer.is_closed());
        all
    }
}

/// The registrant keys this process holds, by ledger: an appended entry (format version 3) is
/// sealed by the one the ledger says is in force (`State::sequencer_key`). Several per ledger,
/// so that a registrant key rotation can be sealed by the old key and what follows by the new.
#[derive(Clone, Default)]
pub struct Sequencers(Arc<StdMutex<HashMap<LedgerId, Vec<Arc<SigningKey>>>>>);

impl std::fmt::Debug for Sequencers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_map()
            .entries(map.iter().map(|(l, keys)| {
                let publics: Vec<String> = keys
                    .iter()
                    .map(|k| PublicKey::from(&**k).key_id().to_string())
                    .collect();
                (l.to_string(), publics)
            }))
            .finish()
    }
}

impl Sequencers {
    fn find(&self, ledger: LedgerId, public: &PublicKey) -> Option<Arc<SigningKey>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ledger)?
            .iter()
            .find(|k| PublicKey::from(&***k) == *public)
            .cloned()
    }
}

/// Signatures of a group's drafts already verified, before the ordered pass, each with the
/// key it verified under and the message it signs: the ordered pass, which finds the key the
/// ledger's state holds at that point, skips a check only when key, message and signature are
/// exactly these.
#[derive(Debug, Default)]
struct Verified(HashMap<[u8; 64], ([u8; 32], Vec<u8>)>);

impl Verified {
    fn holds(&self, c: &SigCheck) -> bool {
        self.0
            .get(&c.signature)
            .is_some_and(|(key, message)| *key == c.key.to_bytes() && *message == c.message)
    }
}

/// Verifies the users' signatures of a group's drafts on every core at once, under the keys
/// `state` (the cached state before the group) says their signers hold; a signature that does
/// not verify, or whose signer the state does not know, is left out and checked in order.
/// (Appends of one ledger are written by one task in order; without this, that task would also
/// check every signature of the group on one core.)
async fn verify_ahead(state: &State, members: &[Member]) -> Verified {
    let mut checks: Vec<SigCheck> = Vec::new();
    for m in members {
        for mode in &m.modes {
            let Mode::Draft(d, _) = mode else { continue };
            for (i, sig) in d.signatures.iter().enumerate() {
                let Principal::User(u) = &sig.signer else {
                    continue;
                };
                let Some(user) = state.users.get(u) else {
                    continue;
                };
                if user.key.key_id() != sig.key_id {
                    continue;
                }
                let message =
                    custody_ledger::entry::signing_input(&d.ledger, d.version, sig, &d.body);
                checks.push(SigCheck {
                    of: Signed::Signature(i),
                    key: user.key,
                    message,
                    signature: sig.signature,
                });
            }
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    if checks.len() < 2 || workers < 2 {
        return Verified::default();
    }
    let per = checks.len().div_ceil(workers);
    let mut tasks = Vec::with_capacity(workers);
    let mut rest = checks;
    while !rest.is_empty() {
        let chunk: Vec<_> = rest.drain(..per.min(rest.len())).collect();
        tasks.push(tokio::task::spawn_blocking(move || {
            let ok = SigCheck::verify_each(&chunk);
            chunk
                .into_iter()
                .zip(ok)
                .filter(|(_, ok)| *ok)
                .map(|(c, _)| (c.signature, (c.key.to_bytes(), c.message)))
                .collect::<Vec<_>>()
        }));
    }
    let mut verified = Verified::default();
    for t in tasks {
        // A task that did not finish verified nothing: its signatures are checked in order.
        if let Ok(done) = t.await {
            verified.0.extend(done);
        }
    }
    verified
}

/// A ledger's turn to append, held (`Store::hold_turn`).
#[doc(hidden)]
pub struct Turn(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<Slot>);

/// What an append recorded.
#[derive(Debug, Clone)]
pub struct Appended {
    pub entry: Entry,
    pub hash: EntryHash,
    /// Each signer's printed name, in the order of the entry's signatures, as the ledger's
    /// state held it when the entry was recorded: showing the entry reads nothing more.
    pub names: Vec<String>,
}

/// The printed name of each of `entry`'s signers in `state` ("the registrant" for the
/// registrant's signature; empty for a user the state does not know).
fn signer_names(state: &State, entry: &Entry) -> Vec<String> {
    entry
        .signatures
        .iter()
        .map(|s| match &s.signer {
            Principal::User(u) => state
                .users
                .get(u)
                .map(|x| x.printed_name.to_string())
                .unwrap_or_default(),
            Principal::Registrant => REGISTRANT_NAME.to_string(),
        })
        .collect()
}

/// How the registrant's signature is shown.
pub const REGISTRANT_NAME: &str = "the registrant";

impl Store {
    /// An entry read back from the store as an append answers it, its signers' printed names
    /// read from the users table.
    pub async fn appended(&self, entry: Entry, hash: EntryHash) -> Result<Appended, StoreError> {
        let mut names = Vec::with_capacity(entry.signatures.len());
        for s in &entry.signatures {
            names.push(match &s.signer {
                Principal::User(u) => self
                    .user(entry.ledger, u)
                    .await?
                    .map(|i| i.printed_name)
                    .unwrap_or_default(),
                Principal::Registrant => REGISTRANT_NAME.to_string(),
            });
        }
        Ok(Appended { entry, hash, names })
    }
}

/// What the chain trigger says when an entry row does not extend its ledger's head.
const CHAIN_GUARD: &str = "does not extend the head of its ledger";

#[derive(Clone)]
enum Mode {
    Draft(Draft, Option<Timestamp>),
    Import(Entry, EntryHash),
}

impl Mode {
    fn ledger(&self) -> LedgerId {
        match self {
            Mode::Draft(d, _) => d.ledger,
            Mode::Import(e, _) => e.ledger,
        }
    }
    fn is_genesis(&self) -> bool {
        let p = match self {
            Mode::Draft(d, _) => &d.body.payload,
            Mode::Import(e, _) => &e.body.payload,
        };
        matches!(p, Payload::Genesis(_))
    }
    /// The entry as `references` reads it (its place in the chain does not matter there).
    fn placed(&self) -> Entry {
        match self {
            Mode::Draft(d, _) => d
                .clone()
                .chain(Seq::GENESIS, EntryHash::ZERO, Timestamp::EPOCH),
            Mode::Import(e, _) => e.clone(),
        }
    }
}

impl Store {
    /// Gives this store `ledger`'s registrant key `key`, with which it seals the entries it
    /// appends (format version 3: the sequencer signature over each entry's ledger, seq, prev,
    /// timestamp and contents). Without the key in force an append is refused
    /// (`StoreError::NoSequencerKey`). Whoever opens the registrant key registers it; a new
    /// key after a rotation is added beside the old one.
    pub fn add_sequencer(&self, ledger: LedgerId, key: Arc<SigningKey>) {
        let mut map = self.sequencers.0.lock().unwrap_or_else(|e| e.into_inner());
        let keys = map.entry(ledger).or_default();
        let public = PublicKey::from(&*key);
        if !keys.iter().any(|k| PublicKey::from(&**k) == public) {
            keys.push(key);
        }
    }

    /// Takes `ledger`'s turn to append and holds it until the `Turn` is dropped: appends made
    /// meanwhile queue up, and the next turn writes them as one group. For tests of group
    /// commit, which must know that a group formed without timing anything.
    #[doc(hidden)]
    pub async fn hold_turn(&self, ledger: LedgerId) -> Turn {
        Turn(self.cache.slot(ledger).lock_owned().await)
    }

    /// How many appends to `ledger` wait for their turn (tests of group commit).
    #[doc(hidden)]
    pub fn appends_waiting(&self, ledger: LedgerId) -> usize {
        let q = self
            .cache
            .waiting
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        q.1.get(&ledger).map_or(0, Vec::len)
    }

    /// Whether this store holds a registrant key of `ledger` to seal appends with.
    pub fn has_sequencer(&self, ledger: LedgerId) -> bool {
        let map = self.sequencers.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ledger).is_some_and(|k| !k.is_empty())
    }

    /// Appends a signed draft, timestamped now.
    pub async fn append(&self, draft: Draft) -> Result<Appended, StoreError> {
        one(self.write(vec![Mode::Draft(draft, None)], None).await?)
    }

    /// Appends several signed drafts of one ledger in one transaction, in order: all of them
    /// or, when any is refused, none. With `request`, the request id is recorded with them
    /// in the same transaction (a twin that got there first: `RequestRepeated`).
    pub async fn append_all(
        &self,
        drafts: Vec<Draft>,
        request: Option<&RequestRecord>,
    ) -> Result<Vec<Appended>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let modes = drafts.into_iter().map(|d| Mode::Draft(d, None)).collect();
        self.write(modes, request).await
    }

    /// Appends a signed draft at `at` (never before the last entry's time, nor before its
    /// signatures' times: the latest is used). For back-dated demo histories and tests.
    pub async fn append_at(&self, draft: Draft, at: Timestamp) -> Result<Appended, StoreError> {
        one(self.write(vec![Mode::Draft(draft, Some(at))], None).await?)
    }

    /// Replays an already-chained entry (import); its hash must come out as `hash`.
    pub async fn import_entry(
        &self,
        entry: Entry,
        hash: EntryHash,
    ) -> Result<Appended, StoreError> {
        one(self.write(vec![Mode::Import(entry, hash)], None).await?)
    }

    /// Applies the ledger's rules to `drafts` as if they were appended now, one after the
    /// other, against the current state, and writes nothing. Their signatures are not
    /// checked — a dry run's drafts carry only who will sign, with which key
    /// (`Draft::to_be_signed_by`) — so a refusal the rules can make shows before anyone types
    /// a password.
    pub async fn dry_run(&self, drafts: &[Draft]) -> Result<(), StoreError> {
        self.dry_run_as(drafts, false).await
    }

    /// As [`Store::dry_run`], for entries still waiting for their witnesses (a waste going
    /// to the awaiting-witness queue): every rule but the missing witness signatures
    /// (`State::apply_awaiting_witness`).
    pub async fn dry_run_awaiting_witness(&self, drafts: &[Draft]) -> Result<(), StoreError> {
        self.dry_run_as(drafts, true).await
    }

    async fn dry_run_as(&self, drafts: &[Draft], awaiting_witness: bool) -> Result<(), StoreError> {
        let Some(first) = drafts.first() else {
            return Ok(());
        };
        let modes: Vec<Mode> = drafts
            .iter()
            .map(|d| Mode::Draft(d.clone(), None))
            .collect();
        one_count(&modes)?;
        let ledger = first.ledger;
        let db = self.connection();
        // The ledger's state, caught up with what is stored (one statement when this process's
        // cached state is current: the head row need not be read), and the part of it these
        // entries read.
        let slot = self.cache.slot(ledger);
        let mut slot = slot.lock().await;
        let folded = slot.catch_up(db, ledger).await;
        let Some((full, h)) = slot.state.as_ref().and_then(|s| Some((s, s.head?))) else {
            // Nothing stored: no such ledger (and nothing worth caching).
            slot.state = None;
            folded?;
            return Err(StoreError::UnknownLedger(ledger));
        };
        let now = crate::clock::now();
        let mut entries = Vec::with_capacity(drafts.len());
        let mut refs = References::default();
        for d in drafts {
            let ts = entry_time(now, Some(h.last_timestamp), d);
            let e = d.clone().chain(h.next_seq, h.last_hash, ts);
            merge_refs(&mut refs, references(&e));
            entries.push(e);
        }
        let mut state = full.subset(&refs);
        state.head = Some(h);
        folded?;
        drop(slot);
        for e in &mut entries {
            // Each entry follows the one before it, as it would in the append, and no earlier
            // than it: the fold may have caught up with entries another process appended
            // after the head was read.
            if let Some(h) = state.head {
                e.seq = h.next_seq;
                e.prev = h.last_hash;
                e.timestamp = e.timestamp.max(h.last_timestamp);
            }
            let applied = if awaiting_witness {
                state.apply_awaiting_witness(e)
            } else {
                state.apply(e)
            };
            applied.map_err(StoreError::Rejected)?;
        }
        Ok(())
    }

    /// Folds what is stored of `ledger` into this process's cached state now (its whole
    /// history the first time): how many entries were folded.
    pub async fn catch_up(&self, ledger: LedgerId) -> Result<u64, StoreError> {
        let slot = self.cache.slot(ledger);
        let mut slot = slot.lock().await;
        slot.catch_up(self.connection(), ledger).await
    }

    /// Keeps `state` as this process's cached state of `ledger` when it has none, or one of
    /// fewer entries: `state` must be the ledger's rules (`State::apply`) applied in order to
    /// its first stored entries, as a report's fold computes it, which is what this cache
    /// holds. The entry that records a report then need not fold the whole ledger again
    /// (`custody report` starts with nothing cached). What was stored after `state` (another
    /// process appended meanwhile) is folded in now, as a fresh cache would be; should that
    /// fail, the cache stays as it was and the next append folds for itself.
    pub async fn adopt_state(&self, ledger: LedgerId, mut state: State) {
        let Some(head) = state.head.filter(|h| h.ledger == ledger) else {
            return;
        };
        let slot = self.cache.slot(ledger);
        let mut slot = slot.lock().await;
        let cached = slot.state.as_ref().and_then(|s| s.head).map(|h| h.next_seq);
        if cached.is_some_and(|seq| seq >= head.next_seq) {
            return;
        }
        if fold_entries(self.connection(), ledger, &mut state, None)
            .await
            .is_ok()
        {
            slot.state = Some(state);
            slot.frontier = None;
        }
    }

    /// The ledger's discrepancies as its rules know them — every count's and inventory's, open
    /// or closed, with what remains of each and the entries that reduced and closed it — from
    /// the cached state caught up with what is stored.
    pub async fn discrepancy_states(
        &self,
        ledger: LedgerId,
    ) -> Result<
        Vec<(
            custody_ledger::state::DiscrepancyKey,
            custody_ledger::state::Discrepancy,
        )>,
        StoreError,
    > {
        let slot = self.cache.slot(ledger);
        let mut slot = slot.lock().await;
        let folded = slot.catch_up(self.connection(), ledger).await;
        let out = slot
            .state
            .iter()
            .flat_map(|s| &s.discrepancies)
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        folded?;
        Ok(out)
    }

    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        begin_write_on(self.connection()).await
    }

    /// Group commit: the append joins its ledger's queue, then waits for the ledger's turn.
    /// Whoever gets the turn writes every append queued by then in one transaction and one
    /// fsync, each checked by the rules in order against the state the ones before it left,
    /// each answered only after the commit; one refused is rolled back to its savepoint and
    /// refuses only itself. An append whose turn comes while it is alone in the queue is
    /// written by its own caller, as before; a group is written on a task of its own, so that
    /// a caller who stops waiting does not abandon the others.
    async fn write(
        &self,
        modes: Vec<Mode>,
        request: Option<&RequestRecord>,
    ) -> Result<Vec<Appended>, StoreError> {
        let ledger = modes[0].ledger();
        if modes.iter().any(|m| m.ledger() != ledger) {
            return Err(StoreError::Rejected(Violation::Rule(
                "one append holds entries of one ledger".into(),
            )));
        }
        one_count(&modes)?;
        let member = Member {
            modes,
            request: request.cloned(),
        };
        let (id, mut answer) = self.cache.enqueue(ledger, member);
        // Appends to one ledger from this process take turns; the database serializes them
        // anyway, and the turn keeps the cached state consistent. An append another turn
        // wrote leaves as soon as it is answered, without waiting for a turn of its own: the
        // turn then goes to an append still queued, which takes everything queued since.
        let slot = self.cache.slot(ledger);
        let mut slot = tokio::select! {
            biased;
            done = &mut answer => return answered(done),
            slot = slot.lock_owned() => slot,
        };
        let mut group = self.cache.drain(ledger);
        if group.len() == 1 && group[0].id == id {
            if let Some(w) = group.pop() {
                return self.write_alone(&mut slot, w.member).await;
            }
        } else if !group.is_empty() {
            let store = self.clone();
            tokio::spawn(async move { store.write_group(&mut slot, group).await });
        } else {
            // An earlier turn wrote this append: its answer is waiting.
            drop(slot);
        }
        answered(answer.await)
    }

    /// Writes the queued appends `group`, in order, and answers each.
    async fn write_group(&self, slot: &mut Slot, group: Vec<Waiter>) {
        if group.len() > 1 && group.iter().all(|w| w.member.groups()) {
            let members: Vec<Member> = group.iter().map(|w| w.member.clone()).collect();
            let verified = match &slot.state {
                Some(state) => verify_ahead(state, &members).await,
                None => Verified::default(),
            };
            if let Ok(results) = self.write_once(slot, &members, &verified).await {
                for (w, r) in group.into_iter().zip(results) {
                    let _ = w.answer.send(r);
                }
                return;
            }
            // The group failed as a whole (another process appended, the database refused a
            // statement): each append is tried again alone.
        }
        for w in group {
            let r = self.write_alone(slot, w.member).await;
            let _ = w.answer.send(r);
        }
    }

    /// Writes one append in its own transaction.
    async fn write_alone(
        &self,
        slot: &mut Slot,
        member: Member,
    ) -> Result<Vec<Appended>, StoreError> {
        let members = [member];
        let none = Verified::default();
        let r = match self.write_once(slot, &members, &none).await {
            Err(StoreError::StaleCache) => {
                // Someone else appended: from now on, read the head row every time and fold
                // what others appended into the cached state.
                slot.frontier = None;
                slot.shared = true;
                self.write_once(slot, &members, &none).await
            }
            other => other,
        };
        r?.pop()
            .unwrap_or_else(|| Err(StoreError::corrupt("an append recorded nothing")))
    }

    /// Writes `members` in one transaction. `Err` when the transaction as a whole failed (then
    /// nothing was written); otherwise each member's outcome. A lone member's refusal fails
    /// the transaction.
    async fn write_once(
        &self,
        slot: &mut Slot,
        members: &[Member],
        verified: &Verified,
    ) -> Result<Vec<Result<Vec<Appended>, StoreError>>, StoreError> {
        let Some(first) = members.first().and_then(|m| m.modes.first()) else {
            return Ok(Vec::new());
        };
        let ledger = first.ledger();
        let is_genesis = first.is_genesis();
        let txn = self.begin_write().await?;
        let mut state = State::new();
        // On SQLite the IMMEDIATE transaction already excludes every other writer, and the
        // chain trigger refuses an entry that does not extend the head: with a cached state
        // the head need not be read. PostgreSQL locks the head row.
        let fast = !is_genesis
            && !slot.shared
            && slot.state.is_some()
            && self.backend() == DbBackend::Sqlite;
        if fast {
            state.head = slot.state.as_ref().and_then(|s| s.head);
        } else {
            let head = ledgers::Entity::find_by_id(ledger.as_uuid())
                .lock_exclusive()
                .one(&txn)
                .await?;
            match (&head, is_genesis) {
                (Some(_), true) => return Err(StoreError::LedgerExists(ledger)),
                (None, false) => return Err(StoreError::UnknownLedger(ledger)),
                (None, true) => {}
                (Some(h), false) => load_head(h, &mut state)?,
            }
            if head.is_some() {
                let cached = |slot: &Slot| slot.state.as_ref().and_then(|s| s.head);
                if !same_place(&cached(slot), &state.head) {
                    // Entries appended by someone else (or none folded yet): fold them in.
                    let folded = slot.catch_up(&txn, ledger).await;
                    if folded.is_err() || !same_place(&cached(slot), &state.head) {
                        slot.state = None;
                        slot.frontier = None;
                        folded?;
                        return Err(StoreError::StaleCache);
                    }
                }
                // The fold also knows the last entry's format version, which the row does not.
                state.head = slot.state.as_ref().and_then(|s| s.head);
            }
        }
        let mut frontier = match (&slot.frontier, &state.head) {
            _ if !self.maintain_tree => Frontier::new(),
            (Some(f), _) if slot.state.is_some() => f.clone(),
            (_, Some(h)) => tree::load_frontier(&txn, ledger, h.next_seq.get()).await?,
            (_, None) => Frontier::new(),
        };
        // Every row the group reads is loaded before the first entry applies; later entries
        // see what earlier ones changed.
        let mut refs = References::default();
        for m in members.iter().flat_map(|m| &m.modes) {
            merge_refs(&mut refs, references(&m.placed()));
        }
        if let Some(full) = &slot.state {
            let head = state.head;
            state = full.subset(&refs);
            state.head = head;
        }
        let now = crate::clock::now();
        let alone = members.len() == 1;
        let mut outcomes = Vec::with_capacity(members.len());
        // What the appended entries changed, all together (`None`: nothing was appended).
        let mut changed: Option<Touched> = None;
        // On the fast path the cached head was trusted, and the rules ran before the chain
        // trigger could say that another process appended since: a refusal is given only
        // once the head row is where this transaction's state says (else the append is tried
        // again against what is stored).
        for member in members {
            if alone {
                let r = self
                    .write_member(&txn, &mut state, &mut frontier, member, now, verified)
                    .await;
                if fast
                    && matches!(r, Err(StoreError::Rejected(_)))
                    && !head_is(&txn, ledger, &state.head).await?
                {
                    return Err(StoreError::StaleCache);
                }
                let (done, touched) = r?;
                changed.get_or_insert_with(Touched::default).merge(touched);
                outcomes.push(Ok(done));
                continue;
            }
            let before = (state.clone(), frontier.clone());
            // A lone entry without a request record is checked (rules, signatures) before any
            // statement of its own: refused, it leaves nothing to undo in the database. Any
            // other member gets a savepoint to roll back to.
            let savepoint = if member.modes.len() == 1 && member.request.is_none() {
                None
            } else {
                Some(txn.begin().await?)
            };
            let r = self
                .write_member(
                    savepoint.as_ref().unwrap_or(&txn),
                    &mut state,
                    &mut frontier,
                    member,
                    now,
                    verified,
                )
                .await;
            match (r, savepoint) {
                (Ok((done, touched)), savepoint) => {
                    if let Some(sp) = savepoint {
                        sp.commit().await?;
                    }
                    changed.get_or_insert_with(Touched::default).merge(touched);
                    outcomes.push(Ok(done));
                }
                (Err(e), Some(sp)) if refuses_only_itself(&e) => {
                    sp.rollback().await?;
                    (state, frontier) = before;
                    outcomes.push(Err(e));
                }
                (Err(e @ (StoreError::Rejected(_) | StoreError::NoSequencerKey(_))), None) => {
                    (state, frontier) = before;
                    outcomes.push(Err(e));
                }
                (Err(e), _) => return Err(e),
            }
        }
        if fast
            && outcomes
                .iter()
                .any(|o| matches!(o, Err(StoreError::Rejected(_))))
            && !head_is(&txn, ledger, &state.head).await?
        {
            return Err(StoreError::StaleCache);
        }
        if let Err(e) = txn.commit().await {
            slot.state = None;
            slot.frontier = None;
            return Err(e.into());
        }
        if let Some(full) = slot.state.as_mut() {
            // Each entry's changes are taken from the group's final state: once, for all.
            if let Some(touched) = changed {
                full.absorb(state, &touched);
            }
            slot.frontier = Some(frontier);
        }
        Ok(outcomes)
    }

    /// One member of a group: its request record and its entries, in `txn` (the group's
    /// transaction or the member's savepoint), and what its entries changed, together.
    async fn write_member(
        &self,
        txn: &DatabaseTransaction,
        state: &mut State,
        frontier: &mut Frontier,
        member: &Member,
        now: Timestamp,
        verified: &Verified,
    ) -> Result<(Vec<Appended>, Touched), StoreError> {
        let ledger = member.modes[0].ledger();
        if let Some(r) = &member.request {
            let first = state.head.map_or(0, |h| h.next_seq.get());
            let seqs = (0..member.modes.len() as u64)
                .map(|i| Seq::new(first + i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::corrupt)?;
            requests::insert_request(txn, ledger, r, &PriorOutcome::Recorded(seqs), now.micros())
                .await?;
        }
        let mut done = Vec::with_capacity(member.modes.len());
        let mut changed = Touched::default();
        for mode in &member.modes {
            let (a, touched) = self
                .write_entry(txn, state, frontier, mode.clone(), now, verified)
                .await?;
            done.push(a);
            changed.merge(touched);
        }
        Ok((done, changed))
    }

    /// Chains, checks and writes one entry of a group, inside the group's transaction.
    async fn write_entry(
        &self,
        txn: &DatabaseTransaction,
        state: &mut State,
        frontier: &mut Frontier,
        mode: Mode,
        now: Timestamp,
        verified: &Verified,
    ) -> Result<(Appended, Touched), StoreError> {
        let is_genesis = mode.is_genesis();
        let ledger = mode.ledger();
        let mut expected_hash = None;
        let mut sealed_here = false;
        let entry = match mode {
            Mode::Draft(d, at) => {
                if d.version != custody_ledger::FormatVersion::CURRENT && !self.legacy_drafts {
                    return Err(StoreError::Rejected(Violation::Rule(format!(
                        "entries are recorded in format version {}; this draft was signed for version {}: sign it again",
                        custody_ledger::FormatVersion::CURRENT,
                        d.version
                    ))));
                }
                let (seq, prev, last) = match &state.head {
                    Some(h) => (h.next_seq, h.last_hash, Some(h.last_timestamp)),
                    None => (Seq::GENESIS, EntryHash::ZERO, None),
                };
                let ts = entry_time(at.unwrap_or(now), last, &d);
                let e = d.chain(seq, prev, ts);
                if e.version.is_sequenced() {
                    let public = state.sequencer_key(&e).map_err(StoreError::Rejected)?;
                    let key = self
                        .sequencers
                        .find(ledger, &public)
                        .ok_or(StoreError::NoSequencerKey(ledger))?;
                    sealed_here = true;
                    e.sealed(&key)
                } else {
                    e
                }
            }
            Mode::Import(e, h) => {
                expected_hash = Some(h);
                e
            }
        };
        // Where the containers this entry names stood, so that a row whose place and status
        // stay is written without them (`rows::container_upsert`).
        let placed_before: Vec<(ContainerId, LocationId, &'static str)> = references(&entry)
            .containers
            .into_iter()
            .filter_map(|c| {
                let s = state.containers.get(&c)?;
                let (location, status) = rows::container_place(s);
                Some((c, location.clone(), status))
            })
            .collect();
        let (checks, touched) = state.apply(&entry).map_err(StoreError::Rejected)?;
        for c in &checks {
            // The sequencer signature this append just made with the key in force needs no
            // check; an imported one is checked like every signature.
            if sealed_here && c.of == Signed::Sequencer {
                continue;
            }
            if !(verified.holds(c) || c.verify()) {
                return Err(StoreError::Rejected(match c.of {
                    Signed::Signature(i) => {
                        let s = &entry.signatures[i];
                        Violation::BadSignature {
                            signer: s.signer.clone(),
                            meaning: s.meaning.to_string(),
                        }
                    }
                    Signed::Sequencer => Violation::BadSequencerSignature,
                }));
            }
        }
        let bytes = entry.to_canonical_bytes();
        let hash = custody_ledger::entry::hash_encoded(&bytes);
        if let Some(h) = expected_hash
            && h != hash
        {
            return Err(StoreError::Import {
                line: entry.seq.get() + 2,
                reason: format!("entry {} hashes to {hash}, not the stated {h}", entry.seq),
            });
        }
        let completed = if self.maintain_tree {
            frontier.push(merkle::leaf_hash(hash.as_bytes()))
        } else {
            Vec::new()
        };
        let lid = ledger.as_uuid();

        // The head row first: on PostgreSQL it is already locked by us.
        let reg = state
            .registrant
            .as_ref()
            .expect("applied entries have a registrant");
        if is_genesis {
            ledgers::Entity::insert(ledgers::ActiveModel {
                id: Set(lid),
                registrant_name: Set(reg.party.name.to_string()),
                registrant_address: Set(reg.party.address.to_string()),
                registrant_dea: Set(reg.party.dea.to_string()),
                registrant_key: Set(reg.key.to_bytes().to_vec()),
                genesis_key: Set(reg.key.to_bytes().to_vec()),
                // Made and wrapped under the registrant key on first use (patient_secret.rs).
                patient_secret: Set(Vec::new()),
                users_enrolled: Set(0),
                // The chain trigger moves the head when the genesis entry goes in.
                next_seq: Set(0),
                last_hash: Set(EntryHash::ZERO.as_bytes().to_vec()),
                last_timestamp: Set(entry.timestamp.micros()),
            })
            .exec(txn)
            .await?;
        } else if touched.registrant {
            // Who the registrant is and how many have enrolled; the head itself moves with
            // the entry row (the chain trigger).
            ledgers::Entity::update_many()
                .col_expr(
                    ledgers::Column::RegistrantKey,
                    reg.key.to_bytes().to_vec().into(),
                )
                .col_expr(
                    ledgers::Column::UsersEnrolled,
                    rows::to_i64(state.users_enrolled).into(),
                )
                .filter(ledgers::Column::Id.eq(lid))
                .exec(txn)
                .await?;
        }

        let insert = entries::Entity::insert(entries::ActiveModel {
            ledger_id: Set(lid),
            seq: Set(rows::to_i64(entry.seq.get())),
            entry_id: Set(entry.body.entry_id.as_uuid()),
            kind: Set(i32::from(entry.kind().code())),
            recorded_at: Set(entry.timestamp.micros()),
            prev_hash: Set(entry.prev.as_bytes().to_vec()),
            entry_hash: Set(hash.as_bytes().to_vec()),
            subtrees: Set(tree::subtrees_bytes(&completed)),
            body: Set(bytes),
        })
        .exec(txn)
        .await;
        if let Err(e) = insert {
            return Err(match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => {
                    StoreError::DuplicateEntry(entry.body.entry_id)
                }
                _ if e.to_string().contains(CHAIN_GUARD) => StoreError::StaleCache,
                _ => StoreError::Database(e),
            });
        }

        for u in &touched.users {
            let s = state.users.get(u).expect("touched users are in the state");
            users::Entity::insert(rows::user_to_row(lid, u, s))
                .on_conflict(
                    OnConflict::columns([users::Column::LedgerId, users::Column::UserId])
                        .update_columns([
                            users::Column::PrintedName,
                            users::Column::Role,
                            users::Column::Active,
                            users::Column::PublicKey,
                            users::Column::KeyId,
                        ])
                        .to_owned(),
                )
                .exec(txn)
                .await?;
        }
        for p in &touched.products {
            let def = state
                .products
                .get(p)
                .expect("touched products are in the state");
            products::Entity::insert(rows::product_to_row(lid, def))
                .exec(txn)
                .await?;
        }
        for l in &touched.locations {
            let def = state
                .locations
                .get(l)
                .expect("touched locations are in the state");
            locations::Entity::insert(rows::location_to_row(lid, def))
                .exec(txn)
                .await?;
        }
        for c in &touched.containers {
            if let Some(s) = state.containers.get(c) {
                let stayed = placed_before
                    .iter()
                    .any(|(id, l, st)| id == c && (l, *st) == rows::container_place(s));
                let change = if stayed {
                    rows::ContainerChange::Contents
                } else {
                    rows::ContainerChange::Placed
                };
                containers::Entity::insert(rows::container_to_row(lid, s))
                    .on_conflict(rows::container_upsert(change))
                    .exec(txn)
                    .await?;
            } else if let Some(st) = state.finished.get(c) {
                let mut q = containers::Entity::update_many()
                    .col_expr(containers::Column::Status, st.name().into())
                    .col_expr(containers::Column::BeyondUse, Option::<i32>::None.into());
                if *st == ContainerStatus::Empty {
                    q = q.col_expr(containers::Column::Remaining, 0i64.into());
                }
                q.filter(containers::Column::LedgerId.eq(lid))
                    .filter(containers::Column::ContainerId.eq(c.to_string()))
                    .exec(txn)
                    .await?;
            }
        }
        for key in &touched.discrepancies {
            let d = state
                .discrepancies
                .get(key)
                .expect("touched discrepancy is in the state");
            insert_discrepancy(txn, lid, key, d).await?;
        }
        if let Payload::Adjustment(a) = entry.payload()
            && let Some(count) = a.resolves
        {
            resolve_discrepancy(txn, lid, count, entry.seq).await?;
        }
        let names = signer_names(state, &entry);
        Ok((Appended { entry, hash, names }, touched))
    }
}

/// Writes the row of a discrepancy a count or inventory found, if its entry has none yet: the
/// table keeps one row per count or inventory (the first product and location an inventory
/// found differing); the ledger's state (`State::discrepancies`) has each of them.
pub(crate) async fn insert_discrepancy(
    txn: &impl ConnectionTrait,
    lid: uuid::Uuid,
    key: &custody_ledger::state::DiscrepancyKey,
    d: &custody_ledger::state::Discrepancy,
) -> Result<(), StoreError> {
    discrepancies::Entity::insert(discrepancies::ActiveModel {
        ledger_id: Set(lid),
        count_seq: Set(rows::to_i64(key.seq.get())),
        location: Set(d.location.to_string()),
        ndc: Set(d.product.digits().to_string()),
        resolved_seq: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            discrepancies::Column::LedgerId,
            discrepancies::Column::CountSeq,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Marks the discrepancy of `count` resolved by the adjustment `by` (the first that names it).
pub(crate) async fn resolve_discrepancy(
    txn: &impl ConnectionTrait,
    lid: uuid::Uuid,
    count: Seq,
    by: Seq,
) -> Result<(), StoreError> {
    discrepancies::Entity::update_many()
        .col_expr(
            discrepancies::Column::ResolvedSeq,
            Some(rows::to_i64(by.get())).into(),
        )
        .filter(discrepancies::Column::LedgerId.eq(lid))
        .filter(discrepancies::Column::CountSeq.eq(rows::to_i64(count.get())))
        .filter(discrepancies::Column::ResolvedSeq.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// The time an entry is recorded at: `now`, but never before the entry before it (`last`),
/// nor before its own signatures (a clock that stepped back between signing and appending).
fn entry_time(now: Timestamp, last: Option<Timestamp>, d: &Draft) -> Timestamp {
    [last, d.last_signed_at()]
        .into_iter()
        .flatten()
        .fold(now, Timestamp::max)
}

/// An append's answer from the turn that wrote it.
fn answered(
    answer: Result<Result<Vec<Appended>, StoreError>, oneshot::error::RecvError>,
) -> Result<Vec<Appended>, StoreError> {
    answer.unwrap_or_else(|_| {
        Err(StoreError::Database(sea_orm::DbErr::Custom(
            "the group commit stopped before answering this append".into(),
        )))
    })
}

/// Whether an append refused with `e` can be undone alone, its group going on: a refusal of
/// the rules or of its own rows, not a fault of the transaction.
fn refuses_only_itself(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Rejected(_)
            | StoreError::DuplicateEntry(_)
            | StoreError::RequestRepeated(_)
            | StoreError::NoSequencerKey(_)
    )
}

fn one(mut v: Vec<Appended>) -> Result<Appended, StoreError> {
    v.pop()
        .ok_or_else(|| StoreError::corrupt("an append recorded nothing"))
}

/// Adds `more` to what a group of entries reads.
fn merge_refs(into: &mut References, more: References) {
    into.users.extend(more.users);
    into.products.extend(more.products);
    into.locations.extend(more.locations);
    into.containers.extend(more.containers);
    into.discrepancies.extend(more.discrepancies);
    into.stocks.extend(more.stocks);
    into.entries.extend(more.entries);
    into.sessions.extend(more.sessions);
    into.keys.extend(more.keys);
    if more.stock_at.is_some() {
        into.stock_at = more.stock_at;
    }
}

/// Refuses a group that counts more than one product at one location: a count reads every
/// live container of its product there, and a group loads one such set.
fn one_count(modes: &[Mode]) -> Result<(), StoreError> {
    let counts: BTreeSet<_> = modes
        .iter()
        .filter_map(|m| references(&m.placed()).stock_at)
        .collect();
    if counts.len() > 1 {
        return Err(StoreError::Rejected(Violation::Rule(
            "one act counts one product at one location".into(),
        )));
    }
    Ok(())
}

/// Whether the head row of `ledger`, as `txn` sees it, is at `expected`.
async fn head_is(
    txn: &DatabaseTransaction,
    ledger: LedgerId,
    expected: &Option<custody_ledger::state::Head>,
) -> Result<bool, StoreError> {
    let Some(row) = ledgers::Entity::find_by_id(ledger.as_uuid())
        .one(txn)
        .await?
    else {
        return Ok(expected.is_none());
    };
    let mut stored = State::new();
    load_head(&row, &mut stored)?;
    Ok(same_place(expected, &stored.head))
}

/// Whether two heads are at the same place in the chain (a head loaded from its row does not
/// know the last entry's format version).
fn same_place(
    a: &Option<custody_ledger::state::Head>,
    b: &Option<custody_ledger::state::Head>,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            (a.ledger, a.next_seq, a.last_hash, a.last_timestamp)
                == (b.ledger, b.next_seq, b.last_hash, b.last_timestamp)
        }
        (None, None) => true,
        _ => false,
    }
}

/// Loads the head row into the state: chain position, registrant, enrollment count.
fn load_head(h: &ledgers::Model, state: &mut State) -> Result<(), StoreError> {
    use custody_ledger::state::{Head, RegistrantState};
    let ledger = LedgerId::from_uuid(h.id);
    state.head = Some(Head {
        ledger,
        next_seq: rows::seq(h.next_seq)?,
        last_hash: rows::hash(&h.last_hash, "head hash")?,
        last_timestamp: Timestamp::from_micros(h.last_timestamp).map_err(StoreError::corrupt)?,
        // Not kept in the row: this store appends version 3 only, and an import is verified
        // in full (versions in order included) before its entries come here.
        last_version: None,
    });
    state.registrant = Some(RegistrantState {
        party: custody_ledger::Party {
            name: h.registrant_name.parse().map_err(StoreError::corrupt)?,
            address: h.registrant_address.parse().map_err(StoreError::corrupt)?,
            dea: h.registrant_dea.parse().map_err(StoreError::corrupt)?,
        },
        key: rows::public_key(&h.registrant_key, "registrant key")?,
    });
    state.users_enrolled = u64::try_from(h.users_enrolled).map_err(StoreError::corrupt)?;
    Ok(())
}

/// Folds the ledger's stored entries after `state`'s head (all of them for an empty state)
/// through the ledger's rules: the state an append checks its entry against, with everything
/// the rules remember (format version 4's facts: going live, discrepancies and what remains of
/// them, losses, doses, REMS sessions, keys ever held), which no table holds. Signatures are
/// not checked again: every stored entry was checked when it was appended or imported.
///
/// `frontier`, the Merkle tree's right edge at `state`'s head, takes each folded entry's leaf
/// as its entry is applied, so the two stay at one place even when the fold fails halfway
/// (the tree's nodes themselves were stored by whoever appended the entry). Keeping it spares
/// an append after another process's entries a read of the tree's edge. Returns how many
/// entries it folded.
pub(crate) async fn fold_entries(
    db: &impl ConnectionTrait,
    ledger: LedgerId,
    state: &mut State,
    mut frontier: Option<&mut Frontier>,
) -> Result<u64, StoreError> {
    let mut next = state.head.map_or(0, |h| h.next_seq.get());
    let mut folded = 0;
    loop {
        let page = entries::Entity::find()
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(entries::Column::Seq.gte(rows::to_i64(next)))
            .order_by_asc(entries::Column::Seq)
            .limit(crate::verify::PAGE)
            .all(db)
            .await?;
        for row in &page {
            let e = Entry::from_canonical_bytes(&row.body).map_err(StoreError::corrupt)?;
            state.apply(&e).map_err(|v| {
                StoreError::corrupt(format!("stored entry {} breaks the rules: {v}", e.seq))
            })?;
            if let Some(f) = frontier.as_deref_mut() {
                let hash = custody_ledger::entry::hash_encoded(&row.body);
                f.push(merkle::leaf_hash(hash.as_bytes()));
            }
            next = e.seq.get() + 1;
            folded += 1;
        }
        // A short page was the last one when it was read: asking again would cost a
        // statement (an empty page) on every fold of a few entries.
        if (page.len() as u64) < crate::verify::PAGE {
            return Ok(folded);
        }
    }
}

/// A write transaction on `db` that takes SQLite's one write lock at once (IMMEDIATE), so that
/// what it reads is not changed by another writer before it commits.
pub(crate) async fn begin_write_on(
    db: &sea_orm::DatabaseConnection,
) -> Result<DatabaseTransaction, StoreError> {
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}
