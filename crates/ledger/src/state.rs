//! The ledger's state and its rules: what each entry may do given everything before it.
//!
//! `State::apply` is the one place the rules live. The verifier folds a whole ledger through
//! it; the store loads just the rows an entry touches (see `references`) into a partial
//! `State`, applies the entry inside its transaction and writes the touched rows back — so
//! what the store accepts and what an auditor's verifier accepts cannot differ.
//!
//! `apply` does not check signatures: it returns the checks to run (each signature with the
//! key that the ledger says the signer held, and in version 3 the sequencer signature with
//! the registrant key in force), which every caller runs with `SigCheck::verify`. On error
//! the state is left part-way changed and must be discarded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::entry::{Entry, FormatVersion, MAX_SIGNATURES, Signature};
use crate::payload::*;
use crate::types::enums::{
    AdjustmentReason, BusinessHours, Direction, FinishedForm, InventoryOccasion, Meaning, Role,
    Schedule,
};
use crate::types::ids::{
    ContainerId, EntryHash, LedgerId, LocationId, Lot, PatientRef, PublicKey, Seq, UserId,
};
use crate::types::ndc::Ndc;
use crate::types::text::Text;
use crate::types::time::{Day, Timestamp};
use crate::violation::Violation;

mod doses;
pub use doses::{Dose, Doses};

/// A user as the ledger knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub printed_name: Text,
    pub role: Role,
    pub active: bool,
    pub key: PublicKey,
}

/// The registrant as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrantState {
    pub party: Party,
    pub key: PublicKey,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerStatus {
    Sealed,
    Open {
        beyond_use: Day,
    },
    /// Everything in it was given, wasted, adjusted away, lost or destroyed.
    Empty,
    /// Left the registrant whole: dispensed sealed, or transferred out.
    Gone,
}
impl ContainerStatus {
    pub fn name(&self) -> &'static str {
        match self {
            ContainerStatus::Sealed => "sealed",
            ContainerStatus::Open { .. } => "open",
            ContainerStatus::Empty => "empty",
            ContainerStatus::Gone => "gone",
        }
    }
    pub fn is_live(&self) -> bool {
        matches!(self, ContainerStatus::Sealed | ContainerStatus::Open { .. })
    }
}

/// One container's state: where it is, what it holds (in its product's base unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub id: ContainerId,
    pub product: Ndc,
    pub lot: Lot,
    pub expiry: Day,
    pub location: LocationId,
    pub status: ContainerStatus,
    /// What the label says a full container holds.
    pub capacity: u64,
    /// What is in it now (label + recorded overfill − everything taken out).
    pub remaining: u64,
}

/// Which discrepancy: the count or inventory that found it, and (an inventory finds one per
/// product and location) its product and location.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiscrepancyKey {
    pub seq: Seq,
    pub product: Ndc,
    pub location: LocationId,
}

/// A count or inventory that found a difference from the ledger, and what of it remains
/// unexplained. Adjustments that name it (and, in format version 4, losses that explain it)
/// reduce what remains; it closes when nothing remains, or when a correction says the count
/// was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub location: LocationId,
    pub product: Ndc,
    /// The way the ledger must move to agree with what was counted: `Decrease` for a
    /// shortage (less found than held), `Increase` for an overage.
    pub direction: Direction,
    /// The difference found, in the product's base unit (sealed containers at their label).
    pub difference: u64,
    /// What remains unexplained of it.
    pub remaining: u64,
    /// The entries that reduced it, in order.
    pub reduced_by: Vec<Seq>,
    /// The entry that closed it: the reduction that explained the rest, or a correction.
    pub closed_by: Option<Seq>,
}
impl Discrepancy {
    pub fn is_open(&self) -> bool {
        self.closed_by.is_none()
    }
}

/// An inventory as the ledger remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryTaken {
    pub seq: Seq,
    pub occasion: InventoryOccasion,
    pub taken_at: BusinessHours,
    pub date: Day,
}

/// A loss or theft (`loss_theft`) and whether it has been reported (`loss_reported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossState {
    pub discovered_on: Day,
    pub recorded_at: Timestamp,
    pub reported_by: Option<Seq>,
}

/// A dose given (`administered`), as a REMS session names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoseState {
    pub patient: PatientRef,
    pub product: Ndc,
    pub given_at: Timestamp,
}

/// A closed Spravato REMS session, and its monitoring form once submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemsSession {
    pub closed_by: Seq,
    pub patient: PatientRef,
    pub doses: Vec<Seq>,
    pub discharged_at: Timestamp,
    pub form_submitted_by: Option<Seq>,
}

/// What format version 4's rules remember beyond stock: going live, inventories,
/// losses and their reports, doses and REMS sessions, and every key ever held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Whether the ledger has gone live: an initial inventory, or stock received before
    /// version 4.
    pub went_live: bool,
    /// The initial inventory, if one was taken.
    pub initial_inventory: Option<Seq>,
    /// The last inventory taken.
    pub last_inventory: Option<InventoryTaken>,
    /// Every loss or theft recorded.
    pub losses: BTreeMap<Seq, LossState>,
    /// Doses given, by entry (a REMS session names its doses).
    pub doses: Doses,
    /// The closed session each dose belongs to.
    pub dose_sessions: HashMap<Seq, String>,
    /// Closed REMS sessions by their id.
    pub rems_sessions: BTreeMap<String, RemsSession>,
    /// When each container still held was opened (its `container_opened`, or the initial
    /// inventory that brought it in open); forgotten when it is finished, as only a dose from
    /// a container still open asks.
    pub opened_at: HashMap<ContainerId, Timestamp>,
    /// Every public key anyone has held here: the registrant's, every user's, every key
    /// rotated in (and so every key rotated away from).
    pub keys_ever: BTreeSet<[u8; 32]>,
}

/// What the chain has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub ledger: LedgerId,
    pub next_seq: Seq,
    pub last_hash: EntryHash,
    pub last_timestamp: Timestamp,
    /// The last entry's format version, when known: after a version 3 entry every entry is
    /// version 3. (A store that loads its head from a row does not know it; its own appends
    /// are version 3, and imports are verified in full first.)
    pub last_version: Option<FormatVersion>,
}

/// Which signature of an entry a check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// The entry's signature at this index.
    Signature(usize),
    /// The sequencer signature of a version 3 entry.
    Sequencer,
}

/// One signature to verify, with the key the ledger says the signer held.
#[derive(Debug, Clone)]
pub struct SigCheck {
    pub of: Signed,
    pub key: PublicKey,
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

impl SigCheck {
    /// Whether the signature verifies: strict Ed25519 verification (what ed25519-dalek's
    /// `verify_strict` accepts, section 5.6 of docs/ledger-format.md; `strict`), the one
    /// signature check of every path (append, import, verification). Batch verification
    /// must not stand in for it: it accepts signatures this refuses.
    pub fn verify(&self) -> bool {
        crate::strict::verify(self.key.verifying_key(), &self.message, &self.signature)
    }

    /// Which of `checks` verify, each as [`SigCheck::verify`] decides it, checked together
    /// (`strict::verify_each`: cheaper than one by one).
    pub fn verify_each<'a>(checks: impl IntoIterator<Item = &'a SigCheck>) -> Vec<bool> {
        crate::strict::verify_each(
            checks
                .into_iter()
                .map(|c| (c.key.verifying_key(), c.message.as_slice(), &c.signature)),
        )
    }
}

/// What an applied entry changed, so a store can write exactly those rows back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    pub registrant: bool,
    pub users: BTreeSet<UserId>,
    pub products: BTreeSet<Ndc>,
    pub locations: BTreeSet<LocationId>,
    pub containers: BTreeSet<ContainerId>,
    /// Discrepancies this entry found or changed.
    pub discrepancies: BTreeSet<DiscrepancyKey>,
    /// Whether this entry changed the ledger-wide facts (going live, inventories, losses,
    /// doses, REMS sessions, keys).
    pub facts: bool,
    /// The containers this entry emptied or sent away, as they last stood, with the status
    /// they ended in: the state forgets all but that status, and a store that compares its
    /// rows with the ledger needs the rest.
    pub finished: Vec<ContainerState>,
}

impl Touched {
    /// Adds what `other` changed: what several entries applied one after another changed.
    pub fn merge(&mut self, other: Touched) {
        self.registrant |= other.registrant;
        self.users.extend(other.users);
        self.products.extend(other.products);
        self.locations.extend(other.locations);
        self.containers.extend(other.containers);
        self.discrepancies.extend(other.discrepancies);
        self.facts |= other.facts;
        self.finished.extend(other.finished);
    }
}

/// What an entry needs to read: the store loads these rows before `apply`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub users: BTreeSet<UserId>,
    pub products: BTreeSet<Ndc>,
    pub locations: BTreeSet<LocationId>,
    pub containers: BTreeSet<ContainerId>,
    /// Every live container of this product at this location (for a count).
    pub stock_at: Option<(LocationId, Ndc)>,
    /// Every live container of these products at these locations (for an inventory).
    pub stocks: BTreeSet<(LocationId, Ndc)>,
    /// The discrepancies found by these counts or inventories.
    pub discrepancies: BTreeSet<Seq>,
    /// These entries' facts: losses, doses.
    pub entries: BTreeSet<Seq>,
    /// These REMS sessions.
    pub sessions: BTreeSet<String>,
    /// Users holding any of these keys (a key may belong to one person only).
    pub keys: BTreeSet<[u8; 32]>,
}

/// The ledger's state after some prefix of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub head: Option<Head>,
    pub registrant: Option<RegistrantState>,
    /// How many users were ever enrolled (the first may be enrolled by the registrant).
    pub users_enrolled: u64,
    pub users: HashMap<UserId, UserState>,
    pub products: HashMap<Ndc, ProductDefined>,
    pub locations: HashMap<LocationId, LocationDefined>,
    /// Containers still holding stock (sealed or open).
    pub containers: HashMap<ContainerId, ContainerState>,
    /// Containers that are empty or gone: kept to say so, rather than "unknown", when named.
    pub finished: HashMap<ContainerId, ContainerStatus>,
    /// Every discrepancy found, open or closed.
    pub discrepancies: BTreeMap<DiscrepancyKey, Discrepancy>,
    /// What format version 4's rules remember beyond stock.
    pub facts: Facts,
}

/// How many minutes a dose's `given_at` may lie ahead of the server's clock.
pub const GIVEN_AT_TOLERANCE_MINUTES: i64 = 5;
/// How long a body may wait between its first signature and its place in the chain (a waste
/// waiting for a witness, say). Entry ids are UUIDv7s whose time is when the body was made;
/// in version 3 each signature's signing time must also lie within this window before the
/// entry's timestamp.
pub const MAX_SIGNING_AGE_DAYS: i64 = 30;
/// The most containers one receipt may bring in.
pub const MAX_CONTAINERS_PER_RECEIPT: u32 = 1000;
/// Default beyond-use period of an opened container, in days.
pub const DEFAULT_BEYOND_USE_DAYS: i64 = 28;

fn rule(msg: impl Into<String>) -> Violation {
    Violation::Rule(msg.into())
}

/// Each signature's signing time against the entry's timestamp (version 3): no later than
/// it, and at most `MAX_SIGNING_AGE_DAYS` before it. Versions 1 and 2 keep no signing times
/// and no sequencer signature.
fn check_signing_times(e: &Entry) -> Result<(), Violation> {
    let sequenced = e.version.is_sequenced();
    if !sequenced && e.sequencer.is_some() {
        return Err(Violation::SignatureShape(format!(
            "a version {} entry carries no sequencer signature",
            e.version
        )));
    }
    let age = i128::from(MAX_SIGNING_AGE_DAYS) * 86_400 * 1_000_000;
    for s in &e.signatures {
        match (sequenced, s.signed_at) {
            (false, None) => {}
            (false, Some(_)) => {
                return Err(Violation::SignatureShape(format!(
                    "a version {} signature states no signing time",
                    e.version
                )));
            }
            (true, None) => {
                return Err(Violation::SignatureShape(
                    "a version 3 signature states when it was signed".into(),
                ));
            }
            (true, Some(at)) if at > e.timestamp => {
                return Err(Violation::SignedAfterEntry {
                    signer: s.signer.clone(),
                    signed_at: at,
                    recorded: e.timestamp,
                });
            }
            (true, Some(at))
                if i128::from(e.timestamp.micros()) - i128::from(at.micros()) > age =>
            {
                return Err(Violation::SignedTooEarly {
                    signer: s.signer.clone(),
                    signed_at: at,
                    recorded: e.timestamp,
                });
            }
            (true, Some(_)) => {}
        }
    }
    Ok(())
}

/// Which roles may author each kind (genesis, enrollment and key rotation have their own rules).
pub fn author_roles(kind: Kind) -> &'static [Role] {
    use Kind::*;
    match kind {
        Genesis => &[],
        UserEnrolled | RoleChanged | UserDeactivated | ProductDefined | LocationDefined => {
            &[Role::Admin]
        }
        KeyRotated => &[Role::Admin, Role::Pharmacist, Role::Nurse, Role::Auditor],
        Receipt | Dispensed | Transfer | Adjustment | LossTheft | Destruction => {
            &[Role::Pharmacist]
        }
        ContainerOpened | Administered | Waste | Count => &[Role::Pharmacist, Role::Nurse],
        Correction => &[Role::Admin, Role::Pharmacist],
        Inventory | LossReported => &[Role::Admin, Role::Pharmacist],
        RemsSessionClosed | RemsFormSubmitted => &[Role::Admin, Role::Pharmacist, Role::Nurse],
        // Signed by the registrant key alone, naming who asked.
        ReportIssued | PmpReported => &[],
    }
}

/// Which roles may witness.
pub const WITNESS_ROLES: &[Role] = &[Role::Pharmacist, Role::Nurse];

/// How many witnesses each kind needs.
pub fn witnesses_needed(kind: Kind) -> usize {
    match kind {
        Kind::Waste | Kind::Adjustment | Kind::Inventory => 1,
        Kind::Destruction => 2,
        _ => 0,
    }
}

/// The default beyond-use date of a container opened on `today`: 28 days, never past expiry.
pub fn default_beyond_use(today: Day, expiry: Day) -> Day {
    today
        .plus_days(DEFAULT_BEYOND_USE_DAYS)
        .map_or(expiry, |d| d.min(expiry))
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one entry: checks the chain position, the signers and every rule, and updates
    /// the state. Returns the signature checks still to run and what changed.
    pub fn apply(&mut self, e: &Entry) -> Result<(Vec<SigCheck>, Touched), Violation> {
        self.apply_as(e, false)
    }

    /// Applies an entry still waiting for its witnesses (a waste queued for a colleague):
    /// every rule as [`State::apply`] checks it, except that witness signatures may be
    /// missing — only missing: those it carries are checked as ever. What a server checks
    /// before queueing such an entry; never a way into the chain.
    pub fn apply_awaiting_witness(
        &mut self,
        e: &Entry,
    ) -> Result<(Vec<SigCheck>, Touched), Violation> {
        self.apply_as(e, true)
    }

    fn apply_as(
        &mut self,
        e: &Entry,
        awaiting_witness: bool,
    ) -> Result<(Vec<SigCheck>, Touched), Violation> {
        self.check_position(e)?;
        if e.signatures.len() > usize::from(MAX_SIGNATURES) {
            return Err(Violation::SignatureShape(format!(
                "an entry carries at most {MAX_SIGNATURES} signatures"
            )));
        }
        check_signing_times(e)?;
        let needs = e.payload().format_version();
        if needs > e.version.byte() {
            return Err(Violation::SignatureShape(format!(
                "a version {} entry cannot hold this {} entry: it needs format version {needs}",
                e.version,
                e.kind()
            )));
        }
        let mut t = Touched::default();
        let checks = self.check_signers(e, awaiting_witness)?;
        self.apply_payload(e, &mut t)?;
        self.head = Some(Head {
            ledger: e.ledger,
            next_seq: e.seq.next(),
            last_hash: e.hash(),
            last_timestamp: e.timestamp,
            last_version: Some(e.version),
        });
        Ok((checks, t))
    }

    /// The entry id's own time must lie between `MAX_SIGNING_AGE_DAYS` before the entry's
    /// timestamp and a few minutes after it. With the verifier's memory of recent ids this
    /// makes a signed body usable once: replaying it later is refused.
    fn check_entry_id(&self, e: &Entry) -> Result<(), Violation> {
        let id = e.body.entry_id.as_uuid();
        let Some(ts) = id.get_timestamp().filter(|_| id.get_version_num() == 7) else {
            return Err(rule("the entry id must be a UUIDv7"));
        };
        let (secs, nanos) = ts.to_unix();
        let id_micros = i128::from(secs) * 1_000_000 + i128::from(nanos / 1000);
        let at = i128::from(e.timestamp.micros());
        let ahead = i128::from(GIVEN_AT_TOLERANCE_MINUTES) * 60 * 1_000_000;
        let age = i128::from(MAX_SIGNING_AGE_DAYS) * 86_400 * 1_000_000;
        if id_micros > at + ahead {
            return Err(rule("the entry id was made after the entry was recorded"));
        }
        if id_micros < at - age {
            return Err(rule(format!(
                "the entry was signed more than {MAX_SIGNING_AGE_DAYS} days before it was recorded: sign it again"
            )));
        }
        Ok(())
    }

    fn check_position(&self, e: &Entry) -> Result<(), Violation> {
        self.check_entry_id(e)?;
        match (&self.head, e.payload()) {
            (None, Payload::Genesis(_)) => {
                if e.seq != Seq::GENESIS {
                    return Err(Violation::SeqGap {
                        expected: Seq::GENESIS,
                        found: e.seq,
                    });
                }
                if e.prev != EntryHash::ZERO {
                    return Err(Violation::BrokenLink {
                        expected: EntryHash::ZERO,
                        found: e.prev,
                    });
                }
                Ok(())
            }
            (None, _) => Err(Violation::MissingGenesis),
            (Some(_), Payload::Genesis(_)) => Err(Violation::GenesisNotFirst),
            (Some(h), _) => {
                if e.ledger != h.ledger {
                    return Err(Violation::WrongLedger {
                        expected: h.ledger,
                        found: e.ledger,
                    });
                }
                if e.seq != h.next_seq {
                    return Err(Violation::SeqGap {
                        expected: h.next_seq,
                        found: e.seq,
                    });
                }
                if e.prev != h.last_hash {
                    return Err(Violation::BrokenLink {
                        expected: h.last_hash,
                        found: e.prev,
                    });
                }
                if e.timestamp < h.last_timestamp {
                    return Err(Violation::TimeWentBackwards {
                        previous: h.last_timestamp,
                        this: e.timestamp,
                    });
                }
                if let Some(previous) = h.last_version
                    && e.version < previous
                {
                    return Err(Violation::VersionDowngrade {
                        previous: previous.byte(),
                        this: e.version.byte(),
                    });
                }
                Ok(())
            }
        }
    }

    /// The active user `u`, whose current key must be `sig`'s key.
    fn signing_user(&self, u: &UserId, sig: &Signature) -> Result<&UserState, Violation> {
        let user = self
            .users
            .get(u)
            .ok_or_else(|| Violation::UnknownSigner(Principal::User(u.clone())))?;
        if !user.active {
            return Err(Violation::InactiveSigner(u.clone()));
        }
        if user.key.key_id() != sig.key_id {
            return Err(Violation::WrongKey {
                signer: sig.signer.clone(),
                key_id: sig.key_id,
            });
        }
        Ok(user)
    }

    fn registrant_key(&self, sig: &Signature) -> Result<PublicKey, Violation> {
        let r = self
            .registrant
            .as_ref()
            .ok_or(Violation::UnknownSigner(Principal::Registrant))?;
        if r.key.key_id() != sig.key_id {
            return Err(Violation::WrongKey {
                signer: Principal::Registrant,
                key_id: sig.key_id,
            });
        }
        Ok(r.key)
    }

    /// Checks who signed, in what roles and with which keys; returns the checks to run.
    /// `awaiting_witness`: fewer witness signatures than the kind needs are accepted.
    fn check_signers(&self, e: &Entry, awaiting_witness: bool) -> Result<Vec<SigCheck>, Violation> {
        let kind = e.kind();
        let sigs = &e.signatures;
        let mut checks = Vec::with_capacity(sigs.len());
        let mut push = |i: usize, key: PublicKey| {
            checks.push(SigCheck {
                of: Signed::Signature(i),
                key,
                message: e.signing_input(&sigs[i]),
                signature: sigs[i].signature,
            })
        };
        let shape = |msg: &str| Violation::SignatureShape(format!("a {kind} entry {msg}"));
        let expect_key = |sig: &Signature, key: &PublicKey| {
            if sig.key_id != key.key_id() {
                Err(Violation::WrongKey {
                    signer: sig.signer.clone(),
                    key_id: sig.key_id,
                })
            } else {
                Ok(())
            }
        };

        match e.payload() {
            Payload::Genesis(g) => {
                let [s] = sigs.as_slice() else {
                    return Err(shape("is signed by the registrant key alone"));
                };
                if s.signer != Principal::Registrant || s.meaning != Meaning::Registrant {
                    return Err(shape("is signed by the registrant key alone"));
                }
                expect_key(s, &g.registrant_key)?;
                push(0, g.registrant_key);
            }
            Payload::ReportIssued(_) | Payload::PmpReported(_) => {
                let [s] = sigs.as_slice() else {
                    return Err(shape("is signed by the registrant key alone"));
                };
                if s.signer != Principal::Registrant || s.meaning != Meaning::Registrant {
                    return Err(shape("is signed by the registrant key alone"));
                }
                push(0, self.registrant_key(s)?);
            }
            Payload::UserEnrolled(p) => {
                let [a, k] = sigs.as_slice() else {
                    return Err(shape(
                        "is signed by an admin (or, for the first user, the registrant) and by the new user's key",
                    ));
                };
                match (&a.signer, a.meaning) {
                    (Principal::Registrant, Meaning::Registrant) if self.users_enrolled == 0 => {
                        push(0, self.registrant_key(a)?);
                    }
                    (Principal::Registrant, _) => {
                        return Err(shape(
                            "after the first user is signed by an admin, not the registrant key",
                        ));
                    }
                    (Principal::User(u), Meaning::Authored) => {
                        let user = self.signing_user(u, a)?;
                        self.check_role(u, user.role, kind, author_roles(kind), "author")?;
                        push(0, user.key);
                    }
                    _ => return Err(shape("is authored by an admin")),
                }
                if k.signer != Principal::User(p.user.clone())
                    || k.meaning != Meaning::KeyPossession
                {
                    return Err(shape(
                        "carries the new user's key-possession signature second",
                    ));
                }
                expect_key(k, &p.public_key)?;
                push(1, p.public_key);
            }
            Payload::KeyRotated(p) => {
                let [a, k] = sigs.as_slice() else {
                    return Err(shape(
                        "is signed by the old key (or an admin) and the new key",
                    ));
                };
                match &p.subject {
                    Principal::Registrant => {
                        if a.signer != Principal::Registrant || a.meaning != Meaning::Registrant {
                            return Err(shape(
                                "for the registrant is signed by the old registrant key",
                            ));
                        }
                        push(0, self.registrant_key(a)?);
                    }
                    Principal::User(subject) => {
                        let Principal::User(u) = &a.signer else {
                            return Err(shape("for a user is signed by that user or an admin"));
                        };
                        if a.meaning != Meaning::Authored {
                            return Err(shape("is authored by that user or an admin"));
                        }
                        let user = self.signing_user(u, a)?;
                        if u != subject && user.role != Role::Admin {
                            return Err(Violation::RoleNotAllowed {
                                user: u.clone(),
                                role: user.role,
                                kind,
                                action: "author (for someone else)",
                            });
                        }
                        match self.users.get(subject) {
                            None => return Err(Violation::UnknownUser(subject.clone())),
                            Some(s) if !s.active => {
                                return Err(Violation::UserInactive(subject.clone()));
                            }
                            Some(_) => {}
                        }
                        push(0, user.key);
                    }
                }
                if k.signer != p.subject || k.meaning != Meaning::KeyPossession {
                    return Err(shape(
                        "carries the new key's key-possession signature second",
                    ));
                }
                expect_key(k, &p.new_key)?;
                push(1, p.new_key);
            }
            _ => {
                let need = witnesses_needed(kind);
                let Some((a, ws)) = sigs.split_first() else {
                    return Err(shape("needs its author's signature"));
                };
                if ws.len() > need || (ws.len() < need && !awaiting_witness) {
                    return Err(shape(&match need {
                        0 => "is signed by its author alone".to_string(),
                        1 => "needs its author's and one witness's signature".to_string(),
                        n => format!("needs its author's and {n} witnesses' signatures"),
                    }));
                }
                let Principal::User(author) = &a.signer else {
                    return Err(shape("is authored by a user, not the registrant key"));
                };
                if a.meaning != Meaning::Authored {
                    return Err(shape("carries its author's signature first"));
                }
                let user = self.signing_user(author, a)?;
                self.check_role(author, user.role, kind, author_roles(kind), "author")?;
                push(0, user.key);
                let mut seen: Vec<&UserId> = Vec::new();
                for (i, w) in ws.iter().enumerate() {
                    let Principal::User(wu) = &w.signer else {
                        return Err(shape("is witnessed by a user, not the registrant key"));
                    };
                    if w.meaning != Meaning::Witnessed {
                        return Err(shape("carries witness signatures after the author's"));
                    }
                    if wu == author {
                        return Err(Violation::WitnessIsAuthor(wu.clone()));
                    }
                    if seen.contains(&wu) {
                        return Err(Violation::DuplicateWitness(wu.clone()));
                    }
                    seen.push(wu);
                    let witness = self.signing_user(wu, w)?;
                    self.check_role(wu, witness.role, kind, WITNESS_ROLES, "witness")?;
                    push(i + 1, witness.key);
                }
            }
        }
        if e.version.is_sequenced() {
            checks.push(SigCheck {
                of: Signed::Sequencer,
                key: self.sequencer_key(e)?,
                message: e.sequencer_input(),
                signature: e.sequencer.unwrap_or([0; 64]),
            });
        }
        Ok(checks)
    }

    /// The key that signs `e`'s place in the chain: the registrant key in force before it
    /// (for genesis, the key it names). A registrant key rotation is sequenced by the old key.
    pub fn sequencer_key(&self, e: &Entry) -> Result<PublicKey, Violation> {
        match (e.payload(), &self.registrant) {
            (Payload::Genesis(g), _) => Ok(g.registrant_key),
            (_, Some(r)) => Ok(r.key),
            (_, None) => Err(Violation::UnknownSigner(Principal::Registrant)),
        }
    }

    fn check_role(
        &self,
        u: &UserId,
        role: Role,
        kind: Kind,
        allowed: &[Role],
        action: &'static str,
    ) -> Result<(), Violation> {
        if allowed.contains(&role) {
            Ok(())
        } else {
            Err(Violation::RoleNotAllowed {
                user: u.clone(),
                role,
                kind,
                action,
            })
        }
    }

    fn product(&self, ndc: &Ndc) -> Result<&ProductDefined, Violation> {
        self.products
            .get(ndc)
            .ok_or(Violation::UnknownProduct(*ndc))
    }

    fn location(&self, l: &LocationId) -> Result<&LocationDefined, Violation> {
        self.locations
            .get(l)
            .ok_or_else(|| Violation::UnknownLocation(l.to_string()))
    }

    /// A live container, or why it is not one.
    fn live(&self, c: &ContainerId) -> Result<&ContainerState, Violation> {
        if let Some(s) = self.containers.get(c) {
            return Ok(s);
        }
        match self.finished.get(c) {
            Some(ContainerStatus::Empty) => Err(Violation::ContainerEmpty(*c)),
            Some(st) => Err(Violation::ContainerState {
                container: *c,
                status: st.name().into(),
                needed: "still held here",
            }),
            None => Err(Violation::UnknownContainer(*c)),
        }
    }

    fn live_mut(&mut self, c: &ContainerId) -> Result<&mut ContainerState, Violation> {
        self.live(c)?;
        Ok(self.containers.get_mut(c).expect("checked live"))
    }

    /// Checks that `amount` is positive and exactly what the container's product holds in
    /// that many base units.
    fn check_amount(&self, c: &ContainerState, amount: &Amount) -> Result<(), Violation> {
        let p = self.product(&c.product)?;
        if amount.base() == 0 {
            return Err(Violation::ZeroQuantity("the amount"));
        }
        let kind_ok = matches!(
            (&p.strength, amount),
            (Strength::Solution { .. }, Amount::Volume { .. })
                | (Strength::Units { .. }, Amount::Units { .. })
        );
        if !kind_ok {
            return Err(Violation::AmountMismatch(format!(
                "{} is measured in {}, so the amount must be given in {}",
                c.product,
                p.strength.base_unit(),
                p.strength.base_unit()
            )));
        }
        match p.strength.micrograms_in(amount.base()) {
            Some(ug) if ug == amount.micrograms() => Ok(()),
            Some(ug) => Err(Violation::AmountMismatch(format!(
                "{} of {} holds {}, not {}",
                describe_base(&p.strength, amount.base()),
                p.name,
                ug,
                amount.micrograms()
            ))),
            None => Err(Violation::AmountMismatch(format!(
                "{} of {} is not a whole number of micrograms; give the volume in whole µL that make whole µg",
                describe_base(&p.strength, amount.base()),
                p.name
            ))),
        }
    }

    /// Takes `amount` out of a live container: refused if more than it holds.
    fn debit(
        &mut self,
        c: &ContainerId,
        amount: &Amount,
        t: &mut Touched,
    ) -> Result<(), Violation> {
        let state = self.live(c)?.clone();
        self.check_amount(&state, amount)?;
        if amount.base() > state.remaining {
            let p = self.product(&state.product)?;
            return Err(Violation::InsufficientStock {
                container: *c,
                requested: describe_base(&p.strength, amount.base()),
                remaining: describe_base(&p.strength, state.remaining),
            });
        }
        let s = self.live_mut(c)?;
        s.remaining -= amount.base();
        t.containers.insert(*c);
        if s.remaining == 0 {
            self.finish(c, ContainerStatus::Empty, t);
        }
        Ok(())
    }

    fn finish(&mut self, c: &ContainerId, status: ContainerStatus, t: &mut Touched) {
        if let Some(mut last) = self.containers.remove(c) {
            self.finished.insert(*c, status);
            self.facts.opened_at.remove(c);
            last.status = status;
            t.finished.push(last);
        }
    }

    fn require_open(&self, c: &ContainerId) -> Result<Day, Violation> {
        match self.live(c)?.status {
            ContainerStatus::Open { beyond_use } => Ok(beyond_use),
            st => Err(Violation::ContainerState {
                container: *c,
                status: st.name().into(),
                needed: "opened first",
            }),
        }
    }

    /// A whole sealed container, or an open one, may leave in full; a sealed one only whole.
    fn check_whole_if_sealed(&self, c: &ContainerId, amount: &Amount) -> Result<(), Violation> {
        let s = self.live(c)?;
        if s.status == ContainerStatus::Sealed && amount.base() != s.remaining {
            return Err(Violation::ContainerState {
                container: *c,
                status: "sealed".into(),
                needed: "opened first (a sealed container leaves only whole)",
            });
        }
        Ok(())
    }

    fn check_usable_on(&self, c: &ContainerId, day: Day) -> Result<(), Violation> {
        let s = self.live(c)?;
        let mut last = s.expiry;
        if let ContainerStatus::Open { beyond_use } = s.status {
            last = last.min(beyond_use);
        }
        if day > last {
            return Err(Violation::Expired {
                container: *c,
                on: last,
            });
        }
        Ok(())
    }

    fn active_user(&self, u: &UserId) -> Result<&UserState, Violation> {
        match self.users.get(u) {
            None => Err(Violation::UnknownUser(u.clone())),
            Some(s) if !s.active => Err(Violation::UserInactive(u.clone())),
            Some(s) => Ok(s),
        }
    }

    fn unique<'a>(ids: impl Iterator<Item = &'a ContainerId>) -> Result<(), Violation> {
        let mut seen = BTreeSet::new();
        for c in ids {
            if !seen.insert(*c) {
                return Err(rule(format!("container {c} is listed twice")));
            }
        }
        Ok(())
    }

    /// What the ledger holds of `product` at `location`.
    pub fn tally(&self, location: &LocationId, product: &Ndc) -> Tally {
        let mut t = Tally { sealed: 0, open: 0 };
        for c in self.containers.values() {
            if &c.location == location && &c.product == product {
                match c.status {
                    ContainerStatus::Sealed => t.sealed += 1,
                    ContainerStatus::Open { .. } => t.open = t.open.saturating_add(c.remaining),
                    _ => {}
                }
            }
        }
        t
    }

    fn apply_payload(&mut self, e: &Entry, t: &mut Touched) -> Result<(), Violation> {
        let today = e.timestamp.date();
        match e.payload() {
            Payload::Genesis(g) => {
                self.registrant = Some(RegistrantState {
                    party: g.registrant.clone(),
                    key: g.registrant_key,
                });
                t.registrant = true;
                self.remember_key(&g.registrant_key, t);
            }
            Payload::UserEnrolled(p) => {
                if self.users.contains_key(&p.user) {
                    return Err(Violation::UserExists(p.user.clone()));
                }
                if self.users_enrolled == 0 && p.role != Role::Admin {
                    return Err(rule("the first user enrolled must be an admin"));
                }
                if self.users.values().any(|u| u.key == p.public_key)
                    || self
                        .registrant
                        .as_ref()
                        .is_some_and(|r| r.key == p.public_key)
                {
                    return Err(rule(
                        "that public key already belongs to someone in this ledger",
                    ));
                }
                self.check_key_not_retired(e, &p.public_key)?;
                self.remember_key(&p.public_key, t);
                self.users.insert(
                    p.user.clone(),
                    UserState {
                        printed_name: p.printed_name.clone(),
                        role: p.role,
                        active: true,
                        key: p.public_key,
                    },
                );
                self.users_enrolled += 1;
                t.users.insert(p.user.clone());
                t.registrant = true;
            }
            Payload::RoleChanged(p) => {
                if e.author() == Some(&Principal::User(p.user.clone())) {
                    return Err(rule(
                        "nobody may change their own role: another admin must do it",
                    ));
                }
                let u = self.active_user(&p.user)?;
                if u.role == p.role {
                    return Err(rule(format!("{} is already a {}", p.user, p.role)));
                }
                self.users.get_mut(&p.user).expect("checked").role = p.role;
                t.users.insert(p.user.clone());
            }
            Payload::UserDeactivated(p) => {
                if e.author() == Some(&Principal::User(p.user.clone())) {
                    return Err(rule(
                        "nobody may deactivate themselves: another admin must do it",
                    ));
                }
                self.active_user(&p.user)?;
                self.users.get_mut(&p.user).expect("checked").active = false;
                t.users.insert(p.user.clone());
            }
            Payload::KeyRotated(p) => match &p.subject {
                Principal::Registrant => {
                    let r = self.registrant.as_mut().ok_or(Violation::MissingGenesis)?;
                    if r.key == p.new_key {
                        return Err(rule("the new registrant key is the old one"));
                    }
                    if self.users.values().any(|u| u.key == p.new_key) {
                        return Err(rule(
                            "that public key already belongs to someone in this ledger",
                        ));
                    }
                    r.key = p.new_key;
                    t.registrant = true;
                    self.check_key_not_retired(e, &p.new_key)?;
                    self.remember_key(&p.new_key, t);
                }
                Principal::User(u) => {
                    let cur = self.active_user(u)?;
                    if cur.key == p.new_key {
                        return Err(rule("the new key is the old one"));
                    }
                    if self.users.values().any(|x| x.key == p.new_key)
                        || self.registrant.as_ref().is_some_and(|r| r.key == p.new_key)
                    {
                        return Err(rule(
                            "that public key already belongs to someone in this ledger",
                        ));
                    }
                    self.check_key_not_retired(e, &p.new_key)?;
                    self.remember_key(&p.new_key, t);
                    self.users.get_mut(u).expect("checked").key = p.new_key;
                    t.users.insert(u.clone());
                }
            },
            Payload::ProductDefined(p) => {
                if self.products.contains_key(&p.ndc) {
                    return Err(Violation::ProductExists(p.ndc));
                }
                match p.strength {
                    Strength::Solution { per_ml, volume } => {
                        if per_ml.is_zero() {
                            return Err(Violation::ZeroQuantity("the concentration"));
                        }
                        if volume.is_zero() {
                            return Err(Violation::ZeroQuantity("the container volume"));
                        }
                    }
                    Strength::Units { per_unit, units } => {
                        if per_unit.is_zero() {
                            return Err(Violation::ZeroQuantity("the strength per unit"));
                        }
                        if units.get() == 0 {
                            return Err(Violation::ZeroQuantity("the units per container"));
                        }
                    }
                }
                if p.strength.micrograms_in(p.strength.capacity()).is_none() {
                    return Err(rule(
                        "a full container must hold a whole number of micrograms",
                    ));
                }
                self.products.insert(p.ndc, p.clone());
                t.products.insert(p.ndc);
            }
            Payload::LocationDefined(p) => {
                if self.locations.contains_key(&p.location) {
                    return Err(Violation::LocationExists(p.location.to_string()));
                }
                self.locations.insert(p.location.clone(), p.clone());
                t.locations.insert(p.location.clone());
            }
            Payload::Receipt(p) => {
                self.require_live(e)?;
                let capacity = self.product(&p.product)?.strength.capacity();
                self.location(&p.location)?;
                if p.containers == 0 {
                    return Err(Violation::ZeroQuantity("the number of containers"));
                }
                if p.containers > MAX_CONTAINERS_PER_RECEIPT {
                    return Err(rule(format!(
                        "one receipt may bring in at most {MAX_CONTAINERS_PER_RECEIPT} containers"
                    )));
                }
                if p.received_on > today {
                    return Err(rule("the date received is in the future"));
                }
                if p.expiry <= p.received_on {
                    return Err(rule(format!(
                        "lot {} expired on {}, before it was received",
                        p.lot, p.expiry
                    )));
                }
                if p.expiry < today {
                    return Err(rule(format!("lot {} expired on {}", p.lot, p.expiry)));
                }
                if self
                    .registrant
                    .as_ref()
                    .is_some_and(|r| r.party.dea == p.supplier.dea)
                {
                    return Err(rule("the supplier's DEA number is this registrant's own"));
                }
                for i in 1..=p.containers {
                    let id = ContainerId::new(e.seq, i).expect("index starts at 1");
                    self.containers.insert(
                        id,
                        ContainerState {
                            id,
                            product: p.product,
                            lot: p.lot.clone(),
                            expiry: p.expiry,
                            location: p.location.clone(),
                            status: ContainerStatus::Sealed,
                            capacity,
                            remaining: capacity,
                        },
                    );
                    t.containers.insert(id);
                }
                if !self.facts.went_live {
                    self.facts.went_live = true;
                    t.facts = true;
                }
            }
            Payload::ContainerOpened(p) => {
                let s = self.live(&p.container)?;
                if s.status != ContainerStatus::Sealed {
                    return Err(Violation::ContainerState {
                        container: p.container,
                        status: s.status.name().into(),
                        needed: "sealed",
                    });
                }
                if today > s.expiry {
                    return Err(Violation::Expired {
                        container: p.container,
                        on: s.expiry,
                    });
                }
                if p.beyond_use < today {
                    return Err(rule("the beyond-use date is before today"));
                }
                if p.beyond_use > s.expiry {
                    return Err(rule(format!(
                        "the beyond-use date {} is after the lot's expiry {}",
                        p.beyond_use, s.expiry
                    )));
                }
                let opened_at = match p.opened_at {
                    None => e.timestamp,
                    Some(at) => {
                        let tolerance = GIVEN_AT_TOLERANCE_MINUTES * 60 * 1_000_000;
                        if at.micros() > e.timestamp.micros() + tolerance {
                            return Err(rule("the time opened is in the future"));
                        }
                        at
                    }
                };
                self.live_mut(&p.container)?.status = ContainerStatus::Open {
                    beyond_use: p.beyond_use,
                };
                t.containers.insert(p.container);
                self.facts.opened_at.insert(p.container, opened_at);
                t.facts = true;
            }
            Payload::Administered(p) => {
                self.require_live(e)?;
                self.require_open(&p.container)?;
                let giver = self.active_user(&p.given_by)?;
                if !WITNESS_ROLES.contains(&giver.role) {
                    return Err(rule(format!(
                        "{} is a {} and cannot give doses",
                        p.given_by, giver.role
                    )));
                }
                let limit = e.timestamp.micros() + GIVEN_AT_TOLERANCE_MINUTES * 60 * 1_000_000;
                if p.given_at.micros() > limit {
                    return Err(rule("the time given is in the future"));
                }
                self.check_usable_on(&p.container, p.given_at.date())?;
                // The container was opened at its entry's timestamp, which the store sets when
                // it appends; a dose charted in the same act states the time the nurse gave it,
                // a moment earlier. The same tolerance as for a time ahead of the clock.
                let tolerance = GIVEN_AT_TOLERANCE_MINUTES * 60 * 1_000_000;
                if e.version >= FormatVersion::V4
                    && let Some(opened_at) = self.facts.opened_at.get(&p.container)
                    && p.given_at.micros() + tolerance < opened_at.micros()
                {
                    return Err(Violation::GivenBeforeOpened {
                        container: p.container,
                        given_at: p.given_at,
                        opened_at: *opened_at,
                    });
                }
                let product = self.live(&p.container)?.product;
                let spray = self.product(&product)?.form == FinishedForm::NasalSpray;
                self.debit(&p.container, &p.amount, t)?;
                self.facts.doses.insert(
                    e.seq,
                    DoseState {
                        patient: p.patient,
                        product,
                        given_at: p.given_at,
                    },
                    spray,
                );
                t.facts = true;
            }
            Payload::Dispensed(p) => {
                self.require_live(e)?;
                if p.sealed.is_empty() && p.from_open.is_empty() {
                    return Err(rule("a dispense names at least one container"));
                }
                Self::unique(
                    p.sealed
                        .iter()
                        .chain(p.from_open.iter().map(|i| &i.container)),
                )?;
                for c in &p.sealed {
                    let s = self.live(c)?;
                    if s.status != ContainerStatus::Sealed {
                        return Err(Violation::ContainerState {
                            container: *c,
                            status: s.status.name().into(),
                            needed: "sealed to dispense it whole",
                        });
                    }
                    self.check_usable_on(c, today)?;
                    self.finish(c, ContainerStatus::Gone, t);
                    t.containers.insert(*c);
                }
                for i in &p.from_open {
                    self.require_open(&i.container)?;
                    self.check_usable_on(&i.container, today)?;
                    self.debit(&i.container, &i.amount, t)?;
                }
            }
            Payload::Waste(p) => {
                self.require_open(&p.container)?;
                self.debit(&p.container, &p.amount, t)?;
            }
            Payload::Transfer(p) => {
                if p.containers.is_empty() {
                    return Err(rule("a transfer names at least one container"));
                }
                Self::unique(p.containers.iter())?;
                match &p.to {
                    TransferTo::Location { location } => {
                        self.location(location)?;
                        for c in &p.containers {
                            if &self.live(c)?.location == location {
                                return Err(rule(format!(
                                    "container {c} is already at {location}"
                                )));
                            }
                            self.live_mut(c)?.location = location.clone();
                            t.containers.insert(*c);
                        }
                    }
                    TransferTo::Registrant { registrant } => {
                        if self
                            .registrant
                            .as_ref()
                            .is_some_and(|r| r.party.dea == registrant.dea)
                        {
                            return Err(rule("a transfer out must go to another registrant"));
                        }
                        for c in &p.containers {
                            self.live(c)?;
                            self.finish(c, ContainerStatus::Gone, t);
                            t.containers.insert(*c);
                        }
                    }
                }
            }
            Payload::Count(p) => {
                self.product(&p.product)?;
                self.location(&p.location)?;
                let on_hand = self.tally(&p.location, &p.product);
                if p.expected != on_hand {
                    return Err(Violation::CountMismatch {
                        product: p.product,
                        location: p.location.to_string(),
                        stated: describe_tally(&p.expected),
                        on_hand: describe_tally(&on_hand),
                    });
                }
                if p.counted != p.expected {
                    let capacity = self.product(&p.product)?.strength.capacity();
                    let total = |x: &Tally| {
                        u128::from(x.sealed) * u128::from(capacity) + u128::from(x.open)
                    };
                    self.open_discrepancy(
                        e.seq,
                        p.product,
                        &p.location,
                        total(&p.expected),
                        total(&p.counted),
                        t,
                    );
                }
            }
            Payload::Adjustment(p) => {
                let s = self.live(&p.container)?.clone();
                let mut resolves = None;
                match (p.reason, p.resolves) {
                    (AdjustmentReason::CountDiscrepancy, None) => {
                        return Err(rule(
                            "a count-discrepancy adjustment names the count it resolves",
                        ));
                    }
                    (AdjustmentReason::CountDiscrepancy, Some(seq)) => {
                        let key = self.discrepancy_of(seq, &s, &p.container)?;
                        self.check_explains(e, &key, p.direction, p.amount.base())?;
                        resolves = Some(key);
                    }
                    (_, Some(_)) => {
                        return Err(rule("only a count-discrepancy adjustment resolves a count"));
                    }
                    (_, None) => {}
                }
                match p.direction {
                    Direction::Increase => {
                        if p.reason != AdjustmentReason::Overfill
                            && p.reason != AdjustmentReason::CountDiscrepancy
                        {
                            return Err(rule(
                                "only overfill or a count discrepancy adds to a container",
                            ));
                        }
                        self.require_open(&p.container)?;
                        self.check_amount(&s, &p.amount)?;
                        let c = self.live_mut(&p.container)?;
                        c.remaining = c
                            .remaining
                            .checked_add(p.amount.base())
                            .ok_or_else(|| rule("the amount is too large"))?;
                        t.containers.insert(p.container);
                    }
                    Direction::Decrease => {
                        if p.reason == AdjustmentReason::Overfill {
                            return Err(rule("overfill adds to a container; it cannot take away"));
                        }
                        self.check_whole_if_sealed(&p.container, &p.amount)?;
                        self.debit(&p.container, &p.amount, t)?;
                    }
                }
                if let Some(key) = resolves {
                    self.reduce_discrepancy(e, &key, p.direction, p.amount.base(), t);
                }
            }
            Payload::LossTheft(p) => {
                if p.items.is_empty() {
                    return Err(rule("a loss names at least one container"));
                }
                if p.discovered_on > today {
                    return Err(rule("the date discovered is in the future"));
                }
                Self::unique(p.items.iter().map(|i| &i.container))?;
                // What the loss explains of a count's or inventory's shortage, by product and
                // location, as its containers stood before it.
                let mut explains: BTreeMap<DiscrepancyKey, u64> = BTreeMap::new();
                if let Some(seq) = p.explains_count {
                    for i in &p.items {
                        let c = self.live(&i.container)?;
                        let key = DiscrepancyKey {
                            seq,
                            product: c.product,
                            location: c.location.clone(),
                        };
                        if self.discrepancies.contains_key(&key) {
                            let sum = explains.entry(key).or_default();
                            *sum = sum.saturating_add(i.amount.base());
                        }
                    }
                    if explains.is_empty() {
                        return Err(Violation::UnknownDiscrepancy(seq));
                    }
                    for (key, amount) in &explains {
                        self.check_explains(e, key, Direction::Decrease, *amount)?;
                    }
                }
                for i in &p.items {
                    self.check_whole_if_sealed(&i.container, &i.amount)?;
                    self.debit(&i.container, &i.amount, t)?;
                }
                for (key, amount) in &explains {
                    self.reduce_discrepancy(e, key, Direction::Decrease, *amount, t);
                }
                self.facts.losses.insert(
                    e.seq,
                    LossState {
                        discovered_on: p.discovered_on,
                        recorded_at: e.timestamp,
                        reported_by: None,
                    },
                );
                t.facts = true;
            }
            Payload::Destruction(p) => {
                if p.items.is_empty() {
                    return Err(rule("a destruction names at least one container"));
                }
                if p.date > today {
                    return Err(rule("the destruction date is in the future"));
                }
                if let DestructionMethod::ReverseDistributor { distributor } = &p.method
                    && self
                        .registrant
                        .as_ref()
                        .is_some_and(|r| r.party.dea == distributor.dea)
                {
                    return Err(rule("the reverse distributor must be another registrant"));
                }
                Self::unique(p.items.iter().map(|i| &i.container))?;
                for i in &p.items {
                    self.check_whole_if_sealed(&i.container, &i.amount)?;
                    self.debit(&i.container, &i.amount, t)?;
                }
            }
            Payload::Correction(p) => {
                if p.corrects >= e.seq {
                    return Err(rule("a correction names an earlier entry"));
                }
                if e.version >= FormatVersion::V4 {
                    // The count or inventory was wrong: what it found is no discrepancy.
                    let keys: Vec<DiscrepancyKey> = self
                        .discrepancies
                        .iter()
                        .filter(|(k, d)| k.seq == p.corrects && d.is_open())
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in keys {
                        if let Some(d) = self.discrepancies.get_mut(&k) {
                            d.closed_by = Some(e.seq);
                        }
                        t.discrepancies.insert(k);
                    }
                }
            }
            Payload::Inventory(p) => self.apply_inventory(e, p, t)?,
            Payload::LossReported(p) => {
                let loss = self
                    .facts
                    .losses
                    .get(&p.loss)
                    .ok_or(Violation::UnknownLoss(p.loss))?;
                if let Some(by) = loss.reported_by {
                    return Err(Violation::LossAlreadyReported { loss: p.loss, by });
                }
                for (what, day) in [
                    ("the written notice", p.notice_on),
                    ("DEA Form 106", p.form_106_on),
                ] {
                    if day < loss.discovered_on {
                        return Err(rule(format!(
                            "{what} is dated {day}, before the loss was discovered on {}",
                            loss.discovered_on
                        )));
                    }
                    if day > today {
                        return Err(rule(format!("{what} is dated {day}, in the future")));
                    }
                }
                if p.form_106.as_str().trim().is_empty() {
                    return Err(rule("the DEA Form 106 number is empty"));
                }
                if let Some(l) = self.facts.losses.get_mut(&p.loss) {
                    l.reported_by = Some(e.seq);
                }
                t.facts = true;
            }
            Payload::RemsSessionClosed(p) => self.apply_rems_session(e, p, t)?,
            Payload::RemsFormSubmitted(p) => {
                let session = self
                    .facts
                    .rems_sessions
                    .get(p.session.as_str())
                    .ok_or_else(|| Violation::UnknownRemsSession(p.session.to_string()))?;
                if let Some(by) = session.form_submitted_by {
                    return Err(Violation::RemsFormAlreadySubmitted {
                        session: p.session.to_string(),
                        by,
                    });
                }
                if p.submitted_on < session.discharged_at.date() {
                    return Err(rule(format!(
                        "the form is dated {}, before the patient was discharged on {}",
                        p.submitted_on,
                        session.discharged_at.date()
                    )));
                }
                if p.submitted_on > today {
                    return Err(rule("the date submitted is in the future"));
                }
                if let Some(s) = self.facts.rems_sessions.get_mut(p.session.as_str()) {
                    s.form_submitted_by = Some(e.seq);
                }
                t.facts = true;
            }
            Payload::PmpReported(p) => {
                if p.from > p.to {
                    return Err(rule("a PMP report's period starts after it ends"));
                }
                if p.state.as_str().len() != 2
                    || !p.state.as_str().bytes().all(|b| b.is_ascii_uppercase())
                {
                    return Err(rule(format!("{} is not a two-letter state code", p.state)));
                }
                if p.to > today {
                    return Err(rule("a PMP report's period ends in the future"));
                }
            }
            Payload::ReportIssued(p) => {
                if p.from > p.to {
                    return Err(rule("a report's period starts after it ends"));
                }
                if p.checkpoint_size > e.seq.get() {
                    return Err(rule(
                        "a report is built at a checkpoint of the ledger before this entry",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The most an open container may be estimated at: a container of more than this many
/// units is counted exactly (21 CFR 1304.11(e)(3)(iii)).
pub const MAX_ESTIMATED_UNITS: u32 = 1000;

impl State {
    /// Format version 4: receipts, doses and dispenses wait for the ledger to go live (an
    /// initial inventory, or stock received before version 4).
    fn require_live(&self, e: &Entry) -> Result<(), Violation> {
        if e.version >= FormatVersion::V4 && !self.facts.went_live {
            return Err(Violation::NoInitialInventory(e.kind()));
        }
        Ok(())
    }

    /// Format version 4: a key anyone held here before is never enrolled or rotated in again.
    fn check_key_not_retired(&self, e: &Entry, key: &PublicKey) -> Result<(), Violation> {
        if e.version >= FormatVersion::V4 && self.facts.keys_ever.contains(&key.to_bytes()) {
            return Err(Violation::KeyRetired(key.key_id()));
        }
        Ok(())
    }

    fn remember_key(&mut self, key: &PublicKey, t: &mut Touched) {
        self.facts.keys_ever.insert(key.to_bytes());
        t.facts = true;
    }

    /// Opens the discrepancy entry `seq` found of `product` at `location`: `counted` where
    /// the ledger held `held` (base units).
    fn open_discrepancy(
        &mut self,
        seq: Seq,
        product: Ndc,
        location: &LocationId,
        held: u128,
        counted: u128,
        t: &mut Touched,
    ) {
        let (direction, difference) = if counted < held {
            (Direction::Decrease, held - counted)
        } else {
            (Direction::Increase, counted - held)
        };
        let difference = u64::try_from(difference).unwrap_or(u64::MAX);
        let key = DiscrepancyKey {
            seq,
            product,
            location: location.clone(),
        };
        self.discrepancies.insert(
            key.clone(),
            Discrepancy {
                location: location.clone(),
                product,
                direction,
                difference,
                remaining: difference,
                reduced_by: Vec::new(),
                closed_by: None,
            },
        );
        t.discrepancies.insert(key);
    }

    /// The discrepancy entry `seq` found of the product at the location of container `s`.
    fn discrepancy_of(
        &self,
        seq: Seq,
        s: &ContainerState,
        container: &ContainerId,
    ) -> Result<DiscrepancyKey, Violation> {
        let key = DiscrepancyKey {
            seq,
            product: s.product,
            location: s.location.clone(),
        };
        if self.discrepancies.contains_key(&key) {
            return Ok(key);
        }
        let mut found = self.discrepancies.iter().filter(|(k, _)| k.seq == seq);
        match found.next() {
            None => Err(Violation::UnknownDiscrepancy(seq)),
            Some((_, d)) if d.location != s.location => Err(rule(format!(
                "count {seq} was at {}, but container {container} is at {}",
                d.location, s.location
            ))),
            Some((_, d)) => Err(rule(format!(
                "count {seq} was of {}, but container {container} holds {}",
                d.product, s.product
            ))),
        }
    }

    /// Format version 4: an entry explaining `amount` of discrepancy `key`, moving the ledger
    /// in `direction`, must name an open one, move the way it needs, and explain no more
    /// than remains. Older entries are never refused here.
    fn check_explains(
        &self,
        e: &Entry,
        key: &DiscrepancyKey,
        direction: Direction,
        amount: u64,
    ) -> Result<(), Violation> {
        if e.version < FormatVersion::V4 {
            return Ok(());
        }
        let Some(d) = self.discrepancies.get(key) else {
            return Err(Violation::UnknownDiscrepancy(key.seq));
        };
        if let Some(closed_by) = d.closed_by {
            return Err(Violation::DiscrepancyClosed {
                seq: key.seq,
                product: key.product,
                location: key.location.to_string(),
                closed_by,
            });
        }
        if d.direction != direction {
            let (what, needed) = match d.direction {
                Direction::Decrease => ("less than the ledger held", "decrease"),
                Direction::Increase => ("more than the ledger held", "increase"),
            };
            return Err(Violation::DiscrepancyDirection {
                seq: key.seq,
                product: key.product,
                location: key.location.to_string(),
                what,
                needed,
            });
        }
        if amount > d.remaining {
            let strength = self.product(&key.product)?.strength;
            return Err(Violation::AdjustmentExceedsDiscrepancy {
                seq: key.seq,
                product: key.product,
                location: key.location.to_string(),
                remaining: describe_base(&strength, d.remaining),
                requested: describe_base(&strength, amount),
            });
        }
        Ok(())
    }

    /// Takes `amount` off what remains of discrepancy `key` (saturating: an older entry may
    /// state more), if it moves the ledger the way the discrepancy needs; closes it when
    /// nothing remains.
    fn reduce_discrepancy(
        &mut self,
        e: &Entry,
        key: &DiscrepancyKey,
        direction: Direction,
        amount: u64,
        t: &mut Touched,
    ) {
        let Some(d) = self.discrepancies.get_mut(key) else {
            return;
        };
        if !d.is_open() || d.direction != direction {
            return;
        }
        d.remaining = d.remaining.saturating_sub(amount);
        d.reduced_by.push(e.seq);
        if d.remaining == 0 {
            d.closed_by = Some(e.seq);
        }
        t.discrepancies.insert(key.clone());
    }

    /// An inventory: the initial one brings its containers in; a later one is compared, per
    /// product and location, with what the ledger holds.
    fn apply_inventory(
        &mut self,
        e: &Entry,
        p: &Inventory,
        t: &mut Touched,
    ) -> Result<(), Violation> {
        let today = e.timestamp.date();
        if p.date > today {
            return Err(rule("the inventory's date is in the future"));
        }
        let initial = p.occasion == InventoryOccasion::Initial;
        if initial {
            if let Some(seq) = self.facts.initial_inventory {
                return Err(Violation::InitialInventoryExists(format!(
                    "entry {seq} is this ledger's initial inventory: a later one is biennial or other"
                )));
            }
            if self.facts.went_live {
                return Err(Violation::InitialInventoryExists(
                    "this ledger has held stock already: its inventories now are biennial or other"
                        .into(),
                ));
            }
        } else if p.lines.is_empty() {
            return Err(rule("a biennial or other inventory lists what it counted"));
        }
        let mut total: u64 = 0;
        for (n, l) in p.lines.iter().enumerate() {
            let line = n + 1;
            let product = self.product(&l.product)?.clone();
            self.location(&l.location)?;
            if l.sealed == 0 && l.open.is_empty() {
                return Err(rule(format!(
                    "line {line} counts no container: leave out what is not on hand"
                )));
            }
            total = total
                .saturating_add(u64::from(l.sealed))
                .saturating_add(l.open.len() as u64);
            for o in &l.open {
                if o.estimated {
                    if matches!(product.schedule, Schedule::II | Schedule::IIN) {
                        return Err(Violation::EstimateNotAllowed(format!(
                            "line {line}: {} is schedule {}, whose open containers are measured exactly",
                            product.name, product.schedule
                        )));
                    }
                    if let Strength::Units { units, .. } = product.strength
                        && units.get() > MAX_ESTIMATED_UNITS
                    {
                        return Err(Violation::EstimateNotAllowed(format!(
                            "line {line}: a container of {} holds {} units, more than {MAX_ESTIMATED_UNITS}: count it exactly",
                            product.name,
                            units.get()
                        )));
                    }
                }
                let probe = ContainerState {
                    id: ContainerId::new(e.seq, 1).expect("index starts at 1"),
                    product: l.product,
                    lot: l.lot.clone(),
                    expiry: l.expiry,
                    location: l.location.clone(),
                    status: ContainerStatus::Sealed,
                    capacity: product.strength.capacity(),
                    remaining: product.strength.capacity(),
                };
                self.check_amount(&probe, &o.amount)?;
                match (initial, o.container) {
                    (true, Some(c)) => {
                        return Err(rule(format!(
                            "line {line}: an initial inventory brings its containers in; it names none already here ({c})"
                        )));
                    }
                    (true, None) => {
                        if o.amount.base() > product.strength.capacity() {
                            return Err(rule(format!(
                                "line {line}: an open container holds at most {}",
                                describe_base(&product.strength, product.strength.capacity())
                            )));
                        }
                        if let Some(bud) = o.beyond_use
                            && bud > l.expiry
                        {
                            return Err(rule(format!(
                                "line {line}: the beyond-use date {bud} is after the lot's expiry {}",
                                l.expiry
                            )));
                        }
                    }
                    (false, None) => {
                        return Err(rule(format!(
                            "line {line}: name each open container measured"
                        )));
                    }
                    (false, Some(c)) => {
                        let s = self.live(&c)?;
                        if !matches!(s.status, ContainerStatus::Open { .. }) {
                            return Err(Violation::ContainerState {
                                container: c,
                                status: s.status.name().into(),
                                needed: "open to be measured (a sealed one is counted)",
                            });
                        }
                        if s.product != l.product || s.location != l.location || s.lot != l.lot {
                            return Err(rule(format!(
                                "line {line}: container {c} is {} lot {} at {}, not this line's",
                                s.product, s.lot, s.location
                            )));
                        }
                    }
                }
            }
        }
        if total > u64::from(MAX_CONTAINERS_PER_RECEIPT) * 10 {
            return Err(rule("an inventory this large is split into several"));
        }
        if !initial {
            Self::unique(
                p.lines
                    .iter()
                    .flat_map(|l| l.open.iter().filter_map(|o| o.container.as_ref())),
            )?;
        }
        if initial {
            let mut index: u32 = 0;
            for l in &p.lines {
                let capacity = self.product(&l.product)?.strength.capacity();
                let mut add = |state: &mut State, status: ContainerStatus, remaining: u64| {
                    index += 1;
                    let id = ContainerId::new(e.seq, index).expect("index starts at 1");
                    state.containers.insert(
                        id,
                        ContainerState {
                            id,
                            product: l.product,
                            lot: l.lot.clone(),
                            expiry: l.expiry,
                            location: l.location.clone(),
                            status,
                            capacity,
                            remaining,
                        },
                    );
                    t.containers.insert(id);
                    id
                };
                for _ in 0..l.sealed {
                    add(self, ContainerStatus::Sealed, capacity);
                }
                for o in &l.open {
                    let beyond_use = o
                        .beyond_use
                        .unwrap_or_else(|| default_beyond_use(p.date, l.expiry));
                    let id = add(self, ContainerStatus::Open { beyond_use }, o.amount.base());
                    self.facts.opened_at.insert(id, e.timestamp);
                }
            }
            self.facts.went_live = true;
            self.facts.initial_inventory = Some(e.seq);
        } else {
            // Per product and location: sealed containers, open ones, and the total in base
            // units, as counted.
            let mut counted: BTreeMap<(LocationId, Ndc), (u64, u64, u128)> = BTreeMap::new();
            for l in &p.lines {
                let capacity = self.product(&l.product)?.strength.capacity();
                let c = counted.entry((l.location.clone(), l.product)).or_default();
                c.0 += u64::from(l.sealed);
                c.1 += l.open.len() as u64;
                c.2 += u128::from(l.sealed) * u128::from(capacity);
                for o in &l.open {
                    c.2 += u128::from(o.amount.base());
                }
            }
            for ((location, product), (sealed, open, total)) in counted {
                let capacity = self.product(&product)?.strength.capacity();
                let held = self.tally(&location, &product);
                let held_total =
                    u128::from(held.sealed) * u128::from(capacity) + u128::from(held.open);
                let held_open = self
                    .containers
                    .values()
                    .filter(|c| {
                        c.location == location
                            && c.product == product
                            && matches!(c.status, ContainerStatus::Open { .. })
                    })
                    .count() as u64;
                // Each open container measured as the ledger holds it.
                let measured_each = p
                    .lines
                    .iter()
                    .filter(|l| l.location == location && l.product == product)
                    .flat_map(|l| l.open.iter())
                    .all(|o| {
                        o.container
                            .and_then(|c| self.containers.get(&c))
                            .is_some_and(|c| c.remaining == o.amount.base())
                    });
                if total != held_total
                    || sealed != u64::from(held.sealed)
                    || open != held_open
                    || !measured_each
                {
                    self.open_discrepancy(e.seq, product, &location, held_total, total, t);
                }
            }
        }
        self.facts.last_inventory = Some(InventoryTaken {
            seq: e.seq,
            occasion: p.occasion,
            taken_at: p.taken_at,
            date: p.date,
        });
        t.facts = true;
        Ok(())
    }

    /// A REMS session closed: its doses are nasal-spray doses given to its patient, none in
    /// another session.
    fn apply_rems_session(
        &mut self,
        e: &Entry,
        p: &RemsSessionClosed,
        t: &mut Touched,
    ) -> Result<(), Violation> {
        let id = p.session.as_str().to_string();
        if self.facts.rems_sessions.contains_key(&id) {
            return Err(Violation::RemsSessionExists(id));
        }
        if p.doses.is_empty() {
            return Err(rule("a REMS session names the doses it monitored"));
        }
        if p.discharged_at < p.started_at {
            return Err(rule(
                "the patient was discharged before the session started",
            ));
        }
        let limit = e.timestamp.micros() + GIVEN_AT_TOLERANCE_MINUTES * 60 * 1_000_000;
        if p.discharged_at.micros() > limit {
            return Err(rule("the time of discharge is in the future"));
        }
        let mut seen = BTreeSet::new();
        for d in &p.doses {
            if !seen.insert(*d) {
                return Err(rule(format!("dose entry {d} is listed twice")));
            }
            let dose = match self.facts.doses.get(*d) {
                Some(Dose::Spray(dose)) => dose,
                Some(Dose::Other(product)) => {
                    return Err(rule(format!(
                        "dose entry {d} was of {}, not a nasal spray",
                        self.product(&product)?.name
                    )));
                }
                None => return Err(rule(format!("entry {d} is not a dose given"))),
            };
            if dose.patient != p.patient {
                return Err(rule(format!("dose entry {d} was given to another patient")));
            }
            if let Some(other) = self.facts.dose_sessions.get(d) {
                return Err(Violation::DoseInOtherSession {
                    dose: *d,
                    session: other.clone(),
                });
            }
        }
        for d in &p.doses {
            self.facts.dose_sessions.insert(*d, id.clone());
        }
        self.facts.rems_sessions.insert(
            id,
            RemsSession {
                closed_by: e.seq,
                patient: p.patient,
                doses: p.doses.clone(),
                discharged_at: p.discharged_at,
                form_submitted_by: None,
            },
        );
        t.facts = true;
        Ok(())
    }
}

/// What the folded state says, for the store, the clinic and reports: read accessors over
/// the rules' memory, so no one re-derives a rule.
impl State {
    /// Whether the ledger has gone live (format version 4): an initial inventory, or stock
    /// received before version 4.
    pub fn has_gone_live(&self) -> bool {
        self.facts.went_live
    }
    /// The initial inventory's entry, if one was taken.
    pub fn initial_inventory(&self) -> Option<Seq> {
        self.facts.initial_inventory
    }
    /// The last inventory taken: its entry, occasion, date and time of day.
    pub fn last_inventory(&self) -> Option<&InventoryTaken> {
        self.facts.last_inventory.as_ref()
    }
    /// Every discrepancy still open, oldest first, with what remains of it.
    pub fn open_discrepancies(&self) -> impl Iterator<Item = (&DiscrepancyKey, &Discrepancy)> {
        self.discrepancies.iter().filter(|(_, d)| d.is_open())
    }
    /// Every closed discrepancy, with the entries that reduced and closed it.
    pub fn closed_discrepancies(&self) -> impl Iterator<Item = (&DiscrepancyKey, &Discrepancy)> {
        self.discrepancies.iter().filter(|(_, d)| !d.is_open())
    }
    /// The discrepancies entry `seq` (a count or inventory) found.
    pub fn discrepancies_of(
        &self,
        seq: Seq,
    ) -> impl Iterator<Item = (&DiscrepancyKey, &Discrepancy)> {
        self.discrepancies.iter().filter(move |(k, _)| k.seq == seq)
    }
    /// Every loss or theft, with whether (and by which entry) it has been reported.
    pub fn losses(&self) -> &BTreeMap<Seq, LossState> {
        &self.facts.losses
    }
    /// The losses not yet reported (`loss_reported`).
    pub fn unreported_losses(&self) -> impl Iterator<Item = (&Seq, &LossState)> {
        self.facts
            .losses
            .iter()
            .filter(|(_, l)| l.reported_by.is_none())
    }
    /// Closed REMS sessions by id, each with its form's entry once submitted.
    pub fn rems_sessions(&self) -> &BTreeMap<String, RemsSession> {
        &self.facts.rems_sessions
    }
    /// The REMS session a dose belongs to, if any.
    pub fn session_of_dose(&self, dose: Seq) -> Option<&str> {
        self.facts.dose_sessions.get(&dose).map(String::as_str)
    }
    /// When container `c` was opened, if the ledger saw it opened.
    pub fn opened_at(&self, c: &ContainerId) -> Option<Timestamp> {
        self.facts.opened_at.get(c).copied()
    }
    /// Whether `key` was held here before and is no longer held by anyone: a retired key,
    /// never enrolled or rotated in again.
    pub fn is_key_retired(&self, key: &PublicKey) -> bool {
        self.facts.keys_ever.contains(&key.to_bytes()) && !self.holds_key(key)
    }
    /// Whether `key` was ever held here (retired or in use).
    pub fn key_ever_held(&self, key: &PublicKey) -> bool {
        self.facts.keys_ever.contains(&key.to_bytes())
    }
    /// Every retired key.
    pub fn retired_keys(&self) -> Vec<PublicKey> {
        self.facts
            .keys_ever
            .iter()
            .filter_map(|b| PublicKey::from_bytes(b).ok())
            .filter(|k| !self.holds_key(k))
            .collect()
    }
    fn holds_key(&self, key: &PublicKey) -> bool {
        self.registrant.as_ref().is_some_and(|r| r.key == *key)
            || self.users.values().any(|u| u.key == *key)
    }
}

/// `2.5 mL` or `3 units`.
pub fn describe_base(strength: &Strength, base: u64) -> String {
    match strength {
        Strength::Solution { .. } => crate::types::quantity::Microliters::new(base).to_string(),
        Strength::Units { .. } => format!("{base} unit{}", if base == 1 { "" } else { "s" }),
    }
}

fn describe_tally(t: &Tally) -> String {
    format!("{} sealed + {} in open containers", t.sealed, t.open)
}

/// What an entry will read, so a store can load only those rows. Must name everything
/// `State::apply` looks up for this entry.
pub fn references(e: &Entry) -> References {
    let mut r = References::default();
    for s in &e.signatures {
        if let Principal::User(u) = &s.signer {
            r.users.insert(u.clone());
        }
    }
    let items = |r: &mut References, xs: &[ContainerAmount]| {
        for i in xs {
            r.containers.insert(i.container);
        }
    };
    match e.payload() {
        Payload::Genesis(_) | Payload::ReportIssued(_) | Payload::PmpReported(_) => {}
        Payload::Correction(p) => {
            r.discrepancies.insert(p.corrects);
        }
        Payload::Inventory(p) => {
            for l in &p.lines {
                r.products.insert(l.product);
                r.locations.insert(l.location.clone());
                r.containers
                    .extend(l.open.iter().filter_map(|o| o.container));
                r.stocks.insert((l.location.clone(), l.product));
            }
        }
        Payload::LossReported(p) => {
            r.entries.insert(p.loss);
        }
        Payload::RemsSessionClosed(p) => {
            r.entries.extend(p.doses.iter().copied());
            r.sessions.insert(p.session.as_str().to_string());
        }
        Payload::RemsFormSubmitted(p) => {
            r.sessions.insert(p.session.as_str().to_string());
        }
        Payload::UserEnrolled(p) => {
            r.users.insert(p.user.clone());
            r.keys.insert(p.public_key.to_bytes());
        }
        Payload::RoleChanged(RoleChanged { user, .. })
        | Payload::UserDeactivated(UserDeactivated { user, .. }) => {
            r.users.insert(user.clone());
        }
        Payload::KeyRotated(p) => {
            if let Principal::User(u) = &p.subject {
                r.users.insert(u.clone());
            }
            r.keys.insert(p.new_key.to_bytes());
        }
        Payload::ProductDefined(p) => {
            r.products.insert(p.ndc);
        }
        Payload::LocationDefined(p) => {
            r.locations.insert(p.location.clone());
        }
        Payload::Receipt(p) => {
            r.products.insert(p.product);
            r.locations.insert(p.location.clone());
        }
        Payload::ContainerOpened(p) => {
            r.containers.insert(p.container);
        }
        Payload::Administered(p) => {
            r.containers.insert(p.container);
            r.users.insert(p.given_by.clone());
        }
        Payload::Dispensed(p) => {
            r.containers.extend(p.sealed.iter().copied());
            items(&mut r, &p.from_open);
        }
        Payload::Waste(p) => {
            r.containers.insert(p.container);
        }
        Payload::Transfer(p) => {
            r.containers.extend(p.containers.iter().copied());
            if let TransferTo::Location { location } = &p.to {
                r.locations.insert(location.clone());
            }
        }
        Payload::Count(p) => {
            r.products.insert(p.product);
            r.locations.insert(p.location.clone());
            r.stock_at = Some((p.location.clone(), p.product));
        }
        Payload::Adjustment(p) => {
            r.containers.insert(p.container);
            if let Some(s) = p.resolves {
                r.discrepancies.insert(s);
            }
        }
        Payload::LossTheft(p) => {
            items(&mut r, &p.items);
            if let Some(s) = p.explains_count {
                r.discrepancies.insert(s);
            }
        }
        Payload::Destruction(Destruction { items: xs, .. }) => items(&mut r, xs),
    }
    // Amounts are checked against the product of each container: the store loads the
    // products of the containers it loads.
    r
}

impl State {
    /// The part of this state that an entry with references `refs` reads: what a store keeps
    /// in memory can stand in for the rows it would otherwise load.
    pub fn subset(&self, refs: &References) -> State {
        let mut s = State {
            head: self.head,
            registrant: self.registrant.clone(),
            users_enrolled: self.users_enrolled,
            ..State::default()
        };
        for u in &refs.users {
            if let Some(x) = self.users.get(u) {
                s.users.insert(u.clone(), x.clone());
            }
        }
        if !refs.keys.is_empty() {
            for (id, u) in &self.users {
                if refs.keys.contains(&u.key.to_bytes()) {
                    s.users.insert(id.clone(), u.clone());
                }
            }
        }
        let mut products: BTreeSet<Ndc> = refs.products.clone();
        for c in &refs.containers {
            if let Some(x) = self.containers.get(c) {
                products.insert(x.product);
                s.containers.insert(*c, x.clone());
            } else if let Some(st) = self.finished.get(c) {
                s.finished.insert(*c, *st);
            }
        }
        for (loc, ndc) in refs.stock_at.iter().chain(refs.stocks.iter()) {
            for (id, c) in &self.containers {
                if &c.location == loc && &c.product == ndc {
                    s.containers.insert(*id, c.clone());
                }
            }
        }
        for p in &products {
            if let Some(x) = self.products.get(p) {
                s.products.insert(*p, x.clone());
            }
        }
        for l in &refs.locations {
            if let Some(x) = self.locations.get(l) {
                s.locations.insert(l.clone(), x.clone());
            }
        }
        for (k, x) in &self.discrepancies {
            if refs.discrepancies.contains(&k.seq) {
                s.discrepancies.insert(k.clone(), x.clone());
            }
        }
        s.facts = self.facts_subset(refs, &mut products);
        for p in &products {
            if let Some(x) = self.products.get(p) {
                s.products.insert(*p, x.clone());
            }
        }
        s
    }

    /// The facts an entry with references `refs` reads: the ledger-wide flags, and the
    /// losses, doses, sessions, opening times and keys it names. Adds the products of the
    /// doses it names to `products`.
    fn facts_subset(&self, refs: &References, products: &mut BTreeSet<Ndc>) -> Facts {
        let f = &self.facts;
        let mut out = Facts {
            went_live: f.went_live,
            initial_inventory: f.initial_inventory,
            last_inventory: f.last_inventory,
            ..Facts::default()
        };
        for seq in &refs.entries {
            if let Some(x) = f.losses.get(seq) {
                out.losses.insert(*seq, *x);
            }
            if let Some(product) = out.doses.copy_from(&f.doses, *seq) {
                products.insert(product);
            }
            if let Some(x) = f.dose_sessions.get(seq) {
                out.dose_sessions.insert(*seq, x.clone());
            }
        }
        for id in &refs.sessions {
            if let Some(x) = f.rems_sessions.get(id) {
                out.rems_sessions.insert(id.clone(), x.clone());
            }
        }
        for c in &refs.containers {
            if let Some(x) = f.opened_at.get(c) {
                out.opened_at.insert(*c, *x);
            }
        }
        for k in &refs.keys {
            if f.keys_ever.contains(k) {
                out.keys_ever.insert(*k);
            }
        }
        out
    }

    /// Takes back what `part` (a `subset` after `apply`) changed.
    pub fn absorb(&mut self, part: State, touched: &Touched) {
        self.head = part.head;
        self.registrant = part.registrant;
        self.users_enrolled = part.users_enrolled;
        for u in &touched.users {
            if let Some(x) = part.users.get(u) {
                self.users.insert(u.clone(), x.clone());
            }
        }
        for p in &touched.products {
            if let Some(x) = part.products.get(p) {
                self.products.insert(*p, x.clone());
            }
        }
        for l in &touched.locations {
            if let Some(x) = part.locations.get(l) {
                self.locations.insert(l.clone(), x.clone());
            }
        }
        for c in &touched.containers {
            if let Some(x) = part.containers.get(c) {
                self.containers.insert(*c, x.clone());
            } else if let Some(st) = part.finished.get(c) {
                self.containers.remove(c);
                self.finished.insert(*c, *st);
                self.facts.opened_at.remove(c);
            }
        }
        for d in &touched.discrepancies {
            if let Some(x) = part.discrepancies.get(d) {
                self.discrepancies.insert(d.clone(), x.clone());
            }
        }
        if touched.facts {
            let f = part.facts;
            self.facts.went_live = f.went_live;
            self.facts.initial_inventory = f.initial_inventory;
            self.facts.last_inventory = f.last_inventory;
            self.facts.losses.extend(f.losses);
            self.facts.doses.extend(f.doses);
            self.facts.dose_sessions.extend(f.dose_sessions);
            self.facts.rems_sessions.extend(f.rems_sessions);
            self.facts.opened_at.extend(f.opened_at);
            self.facts.keys_ever.extend(f.keys_ever);
        }
    }
}
