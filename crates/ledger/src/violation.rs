//! Why an entry breaks the ledger's rules: one typed reason, with a stable code for machines
//! and a sentence for people.

use thiserror::Error;

use crate::payload::{Kind, Principal};
use crate::types::enums::Role;
use crate::types::ids::{ContainerId, EntryHash, KeyId, LedgerId, Seq, UserId};
use crate::types::ndc::Ndc;
use crate::types::time::{Day, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    // The chain.
    #[error("the ledger must start with a genesis entry")]
    MissingGenesis,
    #[error("a genesis entry may only be entry 0")]
    GenesisNotFirst,
    #[error("the entry belongs to ledger {found}, not {expected}")]
    WrongLedger { expected: LedgerId, found: LedgerId },
    #[error("expected entry {expected} next but found entry {found}")]
    SeqGap { expected: Seq, found: Seq },
    #[error(
        "the previous-hash field {found} does not match the hash of the entry before, {expected}"
    )]
    BrokenLink {
        expected: EntryHash,
        found: EntryHash,
    },
    #[error("the timestamp {this} is earlier than the entry before ({previous})")]
    TimeWentBackwards {
        previous: Timestamp,
        this: Timestamp,
    },
    #[error(
        "a version {this} entry cannot follow a version {previous} entry: no entry is of an older version than the one before it"
    )]
    VersionDowngrade { previous: u8, this: u8 },

    // Signatures.
    #[error("{0}")]
    SignatureShape(String),
    #[error("{0} is not enrolled in this ledger")]
    UnknownSigner(Principal),
    #[error("{0} is deactivated and can no longer sign")]
    InactiveSigner(UserId),
    #[error("{signer} did not hold key {key_id} at this point in the ledger")]
    WrongKey { signer: Principal, key_id: KeyId },
    #[error("{user} is a {role}, and a {role} may not {action} a {kind} entry")]
    RoleNotAllowed {
        user: UserId,
        role: Role,
        kind: Kind,
        action: &'static str,
    },
    #[error("{0} cannot witness their own entry: a different person must witness it")]
    WitnessIsAuthor(UserId),
    #[error("{0} signed twice as a witness: two different witnesses are needed")]
    DuplicateWitness(UserId),
    #[error("the signature of {signer} ({meaning}) does not verify")]
    BadSignature { signer: Principal, meaning: String },
    #[error(
        "{signer} signed at {signed_at}, after the entry was recorded at {recorded}: a signature cannot be later than its entry"
    )]
    SignedAfterEntry {
        signer: Principal,
        signed_at: Timestamp,
        recorded: Timestamp,
    },
    #[error(
        "{signer} signed at {signed_at}, more than {days} days before the entry was recorded at {recorded}: sign it again",
        days = crate::state::MAX_SIGNING_AGE_DAYS
    )]
    SignedTooEarly {
        signer: Principal,
        signed_at: Timestamp,
        recorded: Timestamp,
    },
    #[error(
        "the sequencer signature (the registrant key's, over the entry's ledger, seq, prev, timestamp and contents) does not verify"
    )]
    BadSequencerSignature,

    // People, products, places.
    #[error("user {0} is not enrolled in this ledger")]
    UnknownUser(UserId),
    #[error("user {0} is already enrolled")]
    UserExists(UserId),
    #[error("user {0} is deactivated")]
    UserInactive(UserId),
    #[error("product {0} is not defined in this ledger")]
    UnknownProduct(Ndc),
    #[error("product {0} is already defined")]
    ProductExists(Ndc),
    #[error("location {0} is not defined in this ledger")]
    UnknownLocation(String),
    #[error("location {0} is already defined")]
    LocationExists(String),

    // Stock.
    #[error("container {0} is not in this ledger")]
    UnknownContainer(ContainerId),
    #[error("container {container} is {status}; it must be {needed} for this")]
    ContainerState {
        container: ContainerId,
        status: String,
        needed: &'static str,
    },
    #[error("container {0} is already empty")]
    ContainerEmpty(ContainerId),
    #[error("container {container} holds {remaining}, less than the {requested} asked for")]
    InsufficientStock {
        container: ContainerId,
        requested: String,
        remaining: String,
    },
    #[error("{0} must be more than zero")]
    ZeroQuantity(&'static str),
    #[error("{0}")]
    AmountMismatch(String),
    #[error("container {container} expired or passed its beyond-use date on {on}")]
    Expired { container: ContainerId, on: Day },
    #[error(
        "the count states {stated} as expected, but the ledger holds {on_hand} of {product} at {location}"
    )]
    CountMismatch {
        product: Ndc,
        location: String,
        stated: String,
        on_hand: String,
    },
    #[error("entry {0} is not a count that found a discrepancy")]
    UnknownDiscrepancy(Seq),

    // Format version 4.
    #[error(
        "the ledger has not gone live: record the initial inventory (what is on hand, or that nothing is) before any {0}"
    )]
    NoInitialInventory(Kind),
    #[error("{0}")]
    InitialInventoryExists(String),
    #[error("{0}")]
    EstimateNotAllowed(String),
    #[error(
        "the discrepancy entry {seq} found of {product} at {location} has {remaining} left to explain, less than the {requested} this entry states"
    )]
    AdjustmentExceedsDiscrepancy {
        seq: Seq,
        product: Ndc,
        location: String,
        remaining: String,
        requested: String,
    },
    #[error(
        "the discrepancy entry {seq} found of {product} at {location} was closed by entry {closed_by}"
    )]
    DiscrepancyClosed {
        seq: Seq,
        product: Ndc,
        location: String,
        closed_by: Seq,
    },
    #[error(
        "entry {seq} found {what} of {product} at {location}: an entry that explains it must {needed} what the ledger holds"
    )]
    DiscrepancyDirection {
        seq: Seq,
        product: Ndc,
        location: String,
        what: &'static str,
        needed: &'static str,
    },
    #[error("entry {0} is not a loss or theft")]
    UnknownLoss(Seq),
    #[error("the loss of entry {loss} was already reported by entry {by}")]
    LossAlreadyReported { loss: Seq, by: Seq },
    #[error(
        "key {0} was held in this ledger before and has been retired: a retired key is never enrolled or rotated in again"
    )]
    KeyRetired(KeyId),
    #[error(
        "the dose was given at {given_at}, before container {container} was opened at {opened_at}"
    )]
    GivenBeforeOpened {
        container: ContainerId,
        given_at: Timestamp,
        opened_at: Timestamp,
    },
    #[error("dose entry {dose} already belongs to REMS session {session}")]
    DoseInOtherSession { dose: Seq, session: String },
    #[error("REMS session {0} was already closed")]
    RemsSessionExists(String),
    #[error("no closed REMS session is called {0}")]
    UnknownRemsSession(String),
    #[error("the monitoring form of REMS session {session} was already submitted (entry {by})")]
    RemsFormAlreadySubmitted { session: String, by: Seq },
    #[error("{0}")]
    Rule(String),
}

impl Violation {
    /// A stable, machine-readable code for the API and scripts.
    pub fn code(&self) -> &'static str {
        use Violation::*;
        match self {
            MissingGenesis => "missing_genesis",
            GenesisNotFirst => "genesis_not_first",
            WrongLedger { .. } => "wrong_ledger",
            SeqGap { .. } => "sequence_gap",
            BrokenLink { .. } => "broken_link",
            TimeWentBackwards { .. } => "time_went_backwards",
            VersionDowngrade { .. } => "version_downgrade",
            SignatureShape(_) => "signatures_incomplete",
            UnknownSigner(_) => "unknown_signer",
            InactiveSigner(_) => "inactive_signer",
            WrongKey { .. } => "wrong_key",
            RoleNotAllowed { .. } => "role_not_allowed",
            WitnessIsAuthor(_) => "witness_is_author",
            DuplicateWitness(_) => "duplicate_witness",
            BadSignature { .. } => "bad_signature",
            SignedAfterEntry { .. } => "signed_after_entry",
            SignedTooEarly { .. } => "signed_too_early",
            BadSequencerSignature => "bad_sequencer_signature",
            UnknownUser(_) => "unknown_user",
            UserExists(_) => "user_exists",
            UserInactive(_) => "user_inactive",
            UnknownProduct(_) => "unknown_product",
            ProductExists(_) => "product_exists",
            UnknownLocation(_) => "unknown_location",
            LocationExists(_) => "location_exists",
            UnknownContainer(_) => "unknown_container",
            ContainerState { .. } => "container_state",
            ContainerEmpty(_) => "container_empty",
            InsufficientStock { .. } => "insufficient_stock",
            ZeroQuantity(_) => "zero_quantity",
            AmountMismatch(_) => "amount_mismatch",
            Expired { .. } => "expired",
            CountMismatch { .. } => "count_mismatch",
            UnknownDiscrepancy(_) => "unknown_discrepancy",
            NoInitialInventory(_) => "no_initial_inventory",
            InitialInventoryExists(_) => "initial_inventory_exists",
            EstimateNotAllowed(_) => "estimate_not_allowed",
            AdjustmentExceedsDiscrepancy { .. } => "adjustment_exceeds_discrepancy",
            DiscrepancyClosed { .. } => "discrepancy_closed",
            DiscrepancyDirection { .. } => "discrepancy_direction",
            UnknownLoss(_) => "unknown_loss",
            LossAlreadyReported { .. } => "loss_already_reported",
            KeyRetired(_) => "key_retired",
            GivenBeforeOpened { .. } => "given_before_opened",
            DoseInOtherSession { .. } => "dose_in_other_session",
            RemsSessionExists(_) => "rems_session_exists",
            UnknownRemsSession(_) => "unknown_rems_session",
            RemsFormAlreadySubmitted { .. } => "rems_form_already_submitted",
            Rule(_) => "rule_violation",
        }
    }

    /// Whether this is a conflict with the ledger's current state (HTTP 409) rather than an
    /// invalid request (HTTP 422).
    pub fn is_conflict(&self) -> bool {
        use Violation::*;
        matches!(
            self,
            SeqGap { .. }
                | BrokenLink { .. }
                | UserExists(_)
                | ProductExists(_)
                | LocationExists(_)
                | ContainerState { .. }
                | ContainerEmpty(_)
                | InsufficientStock { .. }
                | WitnessIsAuthor(_)
                | DuplicateWitness(_)
                | CountMismatch { .. }
                | Expired { .. }
                | NoInitialInventory(_)
                | InitialInventoryExists(_)
                | AdjustmentExceedsDiscrepancy { .. }
                | DiscrepancyClosed { .. }
                | LossAlreadyReported { .. }
                | KeyRetired(_)
                | DoseInOtherSession { .. }
                | RemsSessionExists(_)
                | RemsFormAlreadySubmitted { .. }
        )
    }
}
