//! The clinic's acts. Each is a typed command; each goes through `Clinic::record`, which
//!
//! 1. answers a request id seen before with its first outcome (same entries, nothing
//!    written), or refuses the id if it was used for a different request;
//! 2. asks the policy whether the signed-in person may author each entry;
//! 3. applies the ledger's own rules to the would-be entries against the current state — a
//!    dry run, with the signers named but nothing signed, before any password;
//! 4. for a dry run, stops there with what would be recorded; otherwise opens each signer's
//!    key with their password and appends every entry of the act in one transaction, with
//!    the request id.

mod inventory;
mod labels;
mod movements;
mod patients;
mod people;
mod pmp;
mod rems;
mod reports;
mod stock;
mod treatment;
mod waste;

pub use inventory::*;
pub use labels::{LABEL_DAYS, LabelForPatient, last_day};
pub use movements::*;
pub use patients::*;
pub use people::*;
pub use pmp::*;
pub use rems::*;
pub use stock::*;
pub use treatment::*;
pub use waste::*;

use custody_ledger::{
    Amount, Canonical, ContainerAmount, ContainerId, Draft, Entry, EntryId, KeyId, LedgerId,
    Meaning, Micrograms, Payload, Principal, Timestamp, UserId,
};
use custody_store::{Appended, PendingEntry, PriorOutcome, RequestRecord, StoreError};
use sha2::{Digest, Sha256};

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// A password as typed, wiped from memory when dropped.
pub type Secret = zeroize::Zeroizing<String>;

/// How an act is signed.
#[derive(Debug)]
pub enum Ceremony {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    DryRun,
    /// Sign with these passwords: the signed-in author's, then each witness's in the order
    /// the command names them.
    Sign {
        password: Secret,
        witnesses: Vec<Secret>,
    },
}

impl Ceremony {
    pub fn with_witnesses(password: impl Into<String>, witnesses: Vec<String>) -> Self {
        Ceremony::Sign {
            password: Secret::new(password.into()),
            witnesses: witnesses.into_iter().map(Secret::new).collect(),
        }
    }
}

/// Where a request comes from: the client's address (for the throttle) and its request id.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub client: String,
    /// A form's hidden id or an API `Idempotency-Key`: the same id again records nothing.
    pub request_id: Option<String>,
}

/// One entry an act will record, authored by the signed-in person.
#[derive(Debug, Clone)]
pub struct Planned {
    pub payload: Payload,
    /// Who witnesses it (each signs with their own password).
    pub witnesses: Vec<UserId>,
}

impl Planned {
    pub fn new(payload: impl Into<Payload>) -> Self {
        Planned {
            payload: payload.into(),
            witnesses: Vec::new(),
        }
    }
    pub fn witnessed_by(mut self, w: impl IntoIterator<Item = UserId>) -> Self {
        self.witnesses.extend(w);
        self
    }
}

/// What an act did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A dry run: the rules accept these entries (signed by the people named, not yet).
    WouldRecord(Vec<Draft>),
    /// Recorded; `repeated` when the request id had already recorded them.
    Recorded {
        entries: Vec<Appended>,
        repeated: bool,
    },
    /// Signed by its author and waiting for a witness.
    Queued {
        pending: Box<PendingEntry>,
        repeated: bool,
    },
}

impl Outcome {
    /// The entries recorded (none for a dry run or a queued act).
    pub fn entries(&self) -> &[Appended] {
        match self {
            Outcome::Recorded { entries, .. } => entries,
            _ => &[],
        }
    }
    pub fn repeated(&self) -> bool {
        matches!(
            self,
            Outcome::Recorded { repeated: true, .. } | Outcome::Queued { repeated: true, .. }
        )
    }
}

/// A fresh entry id (UUIDv7: its time is when the body was made).
pub fn entry_id() -> EntryId {
    EntryId::from_uuid(uuid::Uuid::now_v7())
}

/// Now, by the server's clock: the signing time a signature states (21 CFR 11.50(a)(2); format
/// version 3 signs it), read as each signer's key signs.
pub fn signing_time() -> Timestamp {
    custody_store::clock::now()
}

/// Who asked what, without passwords: a request id seen again with another fingerprint was
/// used for another request.
pub(crate) fn fingerprint(s: &Session, what: &(dyn std::fmt::Debug + Sync)) -> [u8; 32] {
    fingerprint_of(s.ledger, &s.user, what)
}

/// As [`fingerprint`], for `user` of `ledger` (who asks without a session: the first admin).
pub(crate) fn fingerprint_of(
    ledger: LedgerId,
    user: &UserId,
    what: &(dyn std::fmt::Debug + Sync),
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"custody/v1/request\0");
    h.update(ledger.to_string().as_bytes());
    h.update(b"\0");
    h.update(user.as_str().as_bytes());
    h.update(b"\0");
    h.update(format!("{what:?}").as_bytes());
    h.finalize().into()
}

impl Clinic {
    /// The current key id of `user`, as the ledger's rules will check it.
    async fn key_id_of(&self, s: &Session, user: &UserId) -> ClinicResult<KeyId> {
        if user == &s.user {
            return Ok(s.key_id());
        }
        Ok(match self.store.user(s.ledger, user).await? {
            Some(u) => u.key_id.parse().map_err(ClinicError::internal)?,
            // An unknown signer: the rules say so by name.
            None => KeyId::from_bytes([0; 16]),
        })
    }

    /// What a request id recorded before, if it did: the same outcome again, or a refusal
    /// when the id came with a different request.
    pub(crate) async fn prior(
        &self,
        s: &Session,
        origin: &Origin,
        fp: &[u8; 32],
    ) -> ClinicResult<Option<Outcome>> {
        self.prior_of(s.ledger, &s.user, origin, fp).await
    }

    /// As [`Clinic::prior`], for `user` of `ledger`.
    pub(crate) async fn prior_of(
        &self,
        ledger: LedgerId,
        user: &UserId,
        origin: &Origin,
        fp: &[u8; 32],
    ) -> ClinicResult<Option<Outcome>> {
        let Some(id) = &origin.request_id else {
            return Ok(None);
        };
        let Some(p) = self.store.prior_request(ledger, user, id).await? else {
            return Ok(None);
        };
        if &p.user != user || &p.fingerprint != fp {
            return Err(ClinicError::IdempotencyKeyReused);
        }
        Ok(Some(match p.outcome {
            PriorOutcome::Recorded(seqs) => {
                let mut entries = Vec::with_capacity(seqs.len());
                for seq in seqs {
                    let bytes =
                        self.store.entry_bytes(ledger, seq).await?.ok_or_else(|| {
                            ClinicError::internal(format!("entry {seq} is missing"))
                        })?;
                    let entry =
                        Entry::from_canonical_bytes(&bytes).map_err(ClinicError::internal)?;
                    let hash = custody_ledger::entry::hash_encoded(&bytes);
                    entries.push(self.store.appended(entry, hash).await?);
                }
                Outcome::Recorded {
                    entries,
                    repeated: true,
                }
            }
            PriorOutcome::Queued(eid) => match self.store.pending_entry(ledger, eid).await? {
                Some(pending) => Outcome::Queued {
                    pending: Box::new(pending),
                    repeated: true,
                },
                None => {
                    return Err(ClinicError::conflict(
                        "already_recorded",
                        "this act was already queued for a witness and has since been witnessed",
                    ));
                }
            },
        }))
    }

    /// What the request `request_id` of the signed-in person recorded (for the page that
    /// shows it after signing); none if it recorded nothing.
    pub async fn outcome_of(&self, s: &Session, request_id: &str) -> ClinicResult<Option<Outcome>> {
        match self
            .store
            .prior_request(s.ledger, &s.user, request_id)
            .await?
        {
            Some(p) if p.user == s.user => {
                self.prior(
                    s,
                    &Origin {
                        client: String::new(),
                        request_id: Some(request_id.to_string()),
                    },
                    &p.fingerprint,
                )
                .await
            }
            _ => Ok(None),
        }
    }

    /// `e`, unless it says a twin of this request was recorded first: then that outcome.
    pub(crate) async fn repeated_or(
        &self,
        s: &Session,
        origin: &Origin,
        fp: &[u8; 32],
        e: ClinicError,
    ) -> ClinicResult<Outcome> {
        self.repeated_or_of(s.ledger, &s.user, origin, fp, e).await
    }

    /// As [`Clinic::repeated_or`], for `user` of `ledger`.
    pub(crate) async fn repeated_or_of(
        &self,
        ledger: LedgerId,
        user: &UserId,
        origin: &Origin,
        fp: &[u8; 32],
        e: ClinicError,
    ) -> ClinicResult<Outcome> {
        match e {
            ClinicError::Store(StoreError::RequestRepeated(_)) => self
                .prior_of(ledger, user, origin, fp)
                .await?
                .ok_or_else(|| ClinicError::internal("a repeated request left no outcome")),
            e => Err(e),
        }
    }

    pub(crate) fn request_record(
        s: &Session,
        origin: &Origin,
        fp: [u8; 32],
    ) -> Option<RequestRecord> {
        Self::request_record_of(&s.user, origin, fp)
    }

    /// As [`Clinic::request_record`], for `user`.
    pub(crate) fn request_record_of(
        user: &UserId,
        origin: &Origin,
        fp: [u8; 32],
    ) -> Option<RequestRecord> {
        origin.request_id.as_ref().map(|k| RequestRecord {
            key: k.clone(),
            user: user.clone(),
            fingerprint: fp,
        })
    }

    /// Drafts of `plan` with the signers named and their key ids, unsigned: what the dry run
    /// checks.
    pub(crate) async fn unsigned(&self, s: &Session, plan: &[Planned]) -> ClinicResult<Vec<Draft>> {
        let author = self.key_id_of(s, &s.user).await?;
        let mut out = Vec::with_capacity(plan.len());
        for p in plan {
            let mut d = Draft::new(s.ledger, entry_id(), p.payload.clone()).to_be_signed_by(
                Principal::User(s.user.clone()),
                Meaning::Authored,
                author,
                signing_time(),
            );
            for w in &p.witnesses {
                let k = self.key_id_of(s, w).await?;
                d = d.to_be_signed_by(
                    Principal::User(w.clone()),
                    Meaning::Witnessed,
                    k,
                    signing_time(),
                );
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Checks `plan` against the policy and the ledger's rules, without any password.
    pub(crate) async fn check(&self, s: &Session, plan: &[Planned]) -> ClinicResult<Vec<Draft>> {
        for p in plan {
            s.require(s.ledger, Permission::Author(p.payload.kind()))?;
        }
        let drafts = self.unsigned(s, plan).await?;
        self.store.dry_run(&drafts).await?;
        Ok(drafts)
    }

    /// Records `plan` as one act authored by the signed-in person: see the module comment.
    /// `what` is the command as asked (never its passwords), to recognise a repeated request.
    pub async fn record(
        &self,
        s: &Session,
        what: &(dyn std::fmt::Debug + Sync),
        plan: Vec<Planned>,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let fp = fingerprint(s, what);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        let checked = self.check(s, &plan).await?;
        let (password, witness_passwords) = match ceremony {
            Ceremony::DryRun => return Ok(Outcome::WouldRecord(checked)),
            Ceremony::Sign {
                password,
                witnesses,
            } => (password, witnesses),
        };
        let mut witnesses: Vec<UserId> = Vec::new();
        for p in &plan {
            for w in &p.witnesses {
                if !witnesses.contains(w) {
                    witnesses.push(w.clone());
                }
            }
        }
        if witness_passwords.len() != witnesses.len() {
            return Err(ClinicError::invalid(
                "witness",
                format!("{} witness password(s) are needed", witnesses.len()),
            ));
        }
        let key = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let mut keys = Vec::with_capacity(witnesses.len());
        for (w, pw) in witnesses.iter().zip(&witness_passwords) {
            keys.push(self.open_key(s.ledger, w, pw, &origin.client).await?);
        }
        let drafts = checked
            .into_iter()
            .zip(&plan)
            .map(|(d, p)| {
                let mut signed = Draft::new(d.ledger, d.body.entry_id, d.body.payload).signed(
                    Principal::User(s.user.clone()),
                    Meaning::Authored,
                    &key,
                    signing_time(),
                );
                for w in &p.witnesses {
                    let i = witnesses.iter().position(|x| x == w).unwrap_or(0);
                    signed = signed.signed(
                        Principal::User(w.clone()),
                        Meaning::Witnessed,
                        &keys[i],
                        signing_time(),
                    );
                }
                signed
            })
            .collect();
        let request = Self::request_record(s, origin, fp);
        match self.store.append_all(drafts, request.as_ref()).await {
            Ok(entries) => Ok(Outcome::Recorded {
                entries,
                repeated: false,
            }),
            Err(e) => self.repeated_or(s, origin, &fp, e.into()).await,
        }
    }

    /// The amount holding exactly `mg` of the container's product; `field` names the field
    /// that typed it. Zero is stated as it is: the ledger's rules refuse it in the dry run.
    pub async fn amount_of(
        &self,
        s: &Session,
        c: &ContainerId,
        mg: Micrograms,
        field: &str,
    ) -> ClinicResult<Amount> {
        let p = self
            .store
            .container_product(s.ledger, c)
            .await?
            .ok_or_else(|| unknown_container(c))?;
        Amount::of_micrograms(&p.strength, mg).ok_or_else(|| {
            ClinicError::invalid(
                field,
                format!(
                    "{mg} of {} is not a whole number of {}",
                    p.name,
                    p.strength.base_unit()
                ),
            )
        })
    }

    /// Everything the container holds now.
    pub async fn everything_in(&self, s: &Session, c: &ContainerId) -> ClinicResult<Amount> {
        let info = self
            .store
            .container(s.ledger, c)
            .await?
            .ok_or_else(|| unknown_container(c))?;
        if info.remaining == 0 || !info.status.is_live() {
            return Err(ClinicError::conflict(
                "container_empty",
                format!("container {c} holds nothing now ({})", info.status.name()),
            ));
        }
        Amount::of(&info.product.strength, info.remaining).ok_or_else(|| {
            ClinicError::internal(format!("the amount left in {c} cannot be stated"))
        })
    }

    /// Part (`Some(mg)`) or all of each container.
    pub async fn items(&self, s: &Session, items: &[Item]) -> ClinicResult<Vec<ContainerAmount>> {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let amount = match i.amount {
                Some(mg) => self.amount_of(s, &i.container, mg, "amount_mg").await?,
                None => self.everything_in(s, &i.container).await?,
            };
            out.push(ContainerAmount {
                container: i.container,
                amount,
            });
        }
        Ok(out)
    }
}

/// Part or all of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub container: ContainerId,
    /// Absent: everything the container holds.
    pub amount: Option<Micrograms>,
}

pub(crate) fn unknown_container(c: &ContainerId) -> ClinicError {
    ClinicError::not_found(format!("container {c} is not in this ledger"))
}
