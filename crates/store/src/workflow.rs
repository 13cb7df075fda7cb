//! What lives beside the chain: acts waiting for a witness, patients' identifying records,
//! and the one-time bootstrap token. None of it is ledger evidence, so rows here may be
//! removed (a witnessed act leaves the queue; an admin erases a patient record).

use custody_ledger::{
    Body, Canonical, Day, Draft, EntryId, FormatVersion, Kind, LedgerId, PatientRef, Signature,
    Timestamp, UserId,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::Store;
use crate::entities::{bootstrap_tokens, entries, patients, pending_entries};
use crate::error::StoreError;
use crate::requests::{PriorOutcome, RequestRecord};

/// An act signed by its author and waiting for a witness.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    pub draft: Draft,
    pub author: UserId,
    pub container: String,
    pub queued_at: Timestamp,
}

impl PendingEntry {
    pub fn entry_id(&self) -> EntryId {
        self.draft.body.entry_id
    }
    pub fn kind(&self) -> Kind {
        self.draft.body.kind()
    }
}

/// The identifying record behind a patient commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    pub patient: PatientRef,
    pub mrn: String,
    pub name: String,
    pub address: String,
    pub birth_date: String,
    /// Enrolled in the Spravato REMS, and how.
    pub rems: Option<RemsEnrollment>,
    /// F, M or U, as state PMP reports give it (ASAP PAT19).
    pub sex: Option<String>,
}

/// A patient's enrollment in the Spravato REMS, as the REMS gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemsEnrollment {
    /// The REMS patient id.
    pub patient_id: String,
    pub enrolled_on: Day,
}

fn patient_from_row(m: patients::Model) -> Result<PatientRecord, StoreError> {
    let rems = match (m.rems_patient_id, m.rems_enrolled_on) {
        (Some(patient_id), Some(on)) => Some(RemsEnrollment {
            patient_id,
            enrolled_on: on.parse().map_err(StoreError::corrupt)?,
        }),
        _ => None,
    };
    Ok(PatientRecord {
        patient: m.patient_ref.parse().map_err(StoreError::corrupt)?,
        mrn: m.mrn,
        name: m.name,
        address: m.address,
        birth_date: m.birth_date,
        rems,
        sex: m.sex,
    })
}

/// The `signatures` column of a queued entry: the draft's format version with its signatures
/// (from version 4 on), or the bare list of signatures written before.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum StoredSignatures {
    Versioned {
        version: FormatVersion,
        signatures: Vec<Signature>,
    },
    Bare(Vec<Signature>),
}

fn pending_from_row(
    ledger: LedgerId,
    m: pending_entries::Model,
) -> Result<PendingEntry, StoreError> {
    let body = Body::from_canonical_bytes(&m.body).map_err(StoreError::corrupt)?;
    let (version, signatures) = match serde_json::from_str::<StoredSignatures>(&m.signatures)
        .map_err(StoreError::corrupt)?
    {
        // Queued from format version 4 on: the draft's version is kept with its signatures.
        StoredSignatures::Versioned {
            version,
            signatures,
        } => (version, signatures),
        // Queued before: with signing times, a version 3 draft; without (before version 3), a
        // draft of its kind's old version. The append refuses both: it is signed again.
        StoredSignatures::Bare(signatures) => {
            let version =
                if !signatures.is_empty() && signatures.iter().all(|s| s.signed_at.is_some()) {
                    FormatVersion::V3
                } else {
                    FormatVersion::legacy(body.kind())
                };
            (version, signatures)
        }
    };
    Ok(PendingEntry {
        draft: Draft {
            ledger,
            version,
            body,
            signatures,
        },
        author: m.author.parse().map_err(StoreError::corrupt)?,
        container: m.container,
        queued_at: Timestamp::from_micros(m.created_at).map_err(StoreError::corrupt)?,
    })
}

impl Store {
    /// Puts an act signed by its author in the awaiting-witness queue.
    /// With `request`, its id is recorded in the same transaction.
    pub async fn queue_entry(
        &self,
        draft: &Draft,
        author: &UserId,
        container: &str,
        request: Option<&RequestRecord>,
    ) -> Result<PendingEntry, StoreError> {
        let queued_at = crate::clock::now();
        let txn = self.begin_write().await?;
        if let Some(r) = request {
            crate::requests::insert_request(
                &txn,
                draft.ledger,
                r,
                &PriorOutcome::Queued(draft.body.entry_id),
                queued_at.micros(),
            )
            .await?;
        }
        pending_entries::Entity::insert(pending_entries::ActiveModel {
            ledger_id: Set(draft.ledger.as_uuid()),
            entry_id: Set(draft.body.entry_id.as_uuid()),
            kind: Set(i32::from(draft.body.kind().code())),
            author: Set(author.to_string()),
            container: Set(container.to_string()),
            created_at: Set(queued_at.micros()),
            body: Set(draft.body.to_canonical_bytes()),
            signatures: Set(serde_json::to_string(&StoredSignatures::Versioned {
                version: draft.version,
                signatures: draft.signatures.clone(),
            })
            .map_err(StoreError::corrupt)?),
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(PendingEntry {
            draft: draft.clone(),
            author: author.clone(),
            container: container.to_string(),
            queued_at,
        })
    }

    /// Acts still waiting for a witness, oldest first. One whose entry already reached the
    /// ledger (witnessed, its queue row not yet removed) is not listed.
    pub async fn pending_entries(&self, ledger: LedgerId) -> Result<Vec<PendingEntry>, StoreError> {
        let rows = pending_entries::Entity::find()
            .filter(pending_entries::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(pending_entries::Column::CreatedAt)
            .all(self.connection())
            .await?;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.entry_id).collect();
        let done: std::collections::HashSet<uuid::Uuid> = if ids.is_empty() {
            Default::default()
        } else {
            entries::Entity::find()
                .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(entries::Column::EntryId.is_in(ids))
                .all(self.connection())
                .await?
                .into_iter()
                .map(|e| e.entry_id)
                .collect()
        };
        rows.into_iter()
            .filter(|r| !done.contains(&r.entry_id))
            .map(|r| pending_from_row(ledger, r))
            .collect()
    }

    /// One queued act, if it is still waiting.
    pub async fn pending_entry(
        &self,
        ledger: LedgerId,
        id: EntryId,
    ) -> Result<Option<PendingEntry>, StoreError> {
        let Some(m) = pending_entries::Entity::find_by_id((ledger.as_uuid(), id.as_uuid()))
            .one(self.connection())
            .await?
        else {
            return Ok(None);
        };
        let recorded = entries::Entity::find()
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(entries::Column::EntryId.eq(id.as_uuid()))
            .one(self.connection())
            .await?
            .is_some();
        if recorded {
            return Ok(None);
        }
        pending_from_row(ledger, m).map(Some)
    }

    /// Removes a queued act once its entry is in the ledger.
    pub async fn dequeue_entry(&self, ledger: LedgerId, id: EntryId) -> Result<(), StoreError> {
        pending_entries::Entity::delete_by_id((ledger.as_uuid(), id.as_uuid()))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Keeps (or replaces) the identifying record behind a patient commitment.
    pub async fn save_patient(
        &self,
        ledger: LedgerId,
        p: &PatientRecord,
    ) -> Result<(), StoreError> {
        patients::Entity::insert(patients::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            patient_ref: Set(p.patient.to_string()),
            mrn: Set(p.mrn.clone()),
            name: Set(p.name.clone()),
            address: Set(p.address.clone()),
            birth_date: Set(p.birth_date.clone()),
            created_at: Set(crate::clock::now_micros()),
            rems_patient_id: Set(p.rems.as_ref().map(|r| r.patient_id.clone())),
            rems_enrolled_on: Set(p.rems.as_ref().map(|r| r.enrolled_on.to_string())),
            sex: Set(p.sex.clone()),
        })
        .on_conflict(
            OnConflict::columns([patients::Column::LedgerId, patients::Column::PatientRef])
                .update_columns([
                    patients::Column::Mrn,
                    patients::Column::Name,
                    patients::Column::Address,
                    patients::Column::BirthDate,
                    patients::Column::RemsPatientId,
                    patients::Column::RemsEnrolledOn,
                    patients::Column::Sex,
                ])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    pub async fn patient(
        &self,
        ledger: LedgerId,
        patient: &PatientRef,
    ) -> Result<Option<PatientRecord>, StoreError> {
        patients::Entity::find_by_id((ledger.as_uuid(), patient.to_string()))
            .one(self.connection())
            .await?
            .map(patient_from_row)
            .transpose()
    }

    /// Erases a patient's identifying record; the ledger keeps only the commitment.
    /// Returns whether there was one.
    pub async fn erase_patient(
        &self,
        ledger: LedgerId,
        patient: &PatientRef,
    ) -> Result<bool, StoreError> {
        let r = patients::Entity::delete_by_id((ledger.as_uuid(), patient.to_string()))
            .exec(self.connection())
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Keeps the hash of a ledger's one-time bootstrap token.
    pub async fn save_bootstrap_token(
        &self,
        ledger: LedgerId,
        token_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        bootstrap_tokens::Entity::insert(bootstrap_tokens::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            token_hash: Set(token_hash.to_vec()),
            created_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::column(bootstrap_tokens::Column::LedgerId)
                .update_columns([
                    bootstrap_tokens::Column::TokenHash,
                    bootstrap_tokens::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// Uses up the bootstrap token whose hash is `token_hash`: true once, then never again.
    pub async fn take_bootstrap_token(
        &self,
        ledger: LedgerId,
        token_hash: [u8; 32],
    ) -> Result<bool, StoreError> {
        let r = bootstrap_tokens::Entity::delete_many()
            .filter(bootstrap_tokens::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(bootstrap_tokens::Column::TokenHash.eq(token_hash.to_vec()))
            .exec(self.connection())
            .await?;
        Ok(r.rows_affected == 1)
    }
}

impl Store {
    /// Whether `token_hash` is the ledger's unused bootstrap token (it stays unused).
    pub async fn bootstrap_token_matches(
        &self,
        ledger: LedgerId,
        token_hash: [u8; 32],
    ) -> Result<bool, StoreError> {
        Ok(bootstrap_tokens::Entity::find_by_id(ledger.as_uuid())
            .one(self.connection())
            .await?
            .is_some_and(|m| m.token_hash == token_hash))
    }
}

impl Store {
    /// Every identifying record kept for this ledger.
    pub async fn patients(&self, ledger: LedgerId) -> Result<Vec<PatientRecord>, StoreError> {
        patients::Entity::find()
            .filter(patients::Column::LedgerId.eq(ledger.as_uuid()))
            .all(self.connection())
            .await?
            .into_iter()
            .map(patient_from_row)
            .collect()
    }
}
