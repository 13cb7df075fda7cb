//! The patient register: the identifying record behind each patient commitment, kept
//! outside the chain (erasable without breaking verification).

use custody_ledger::{Day, PatientRef};
use custody_store::PatientRecord;

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// A patient's identifying record as typed.
#[derive(Debug, Clone)]
pub struct Patient {
    /// The medical record number: what staff type as the patient reference.
    pub mrn: String,
    pub name: String,
    pub address: String,
    pub birth_date: Day,
}

fn printable(field: &str, v: &str, max: usize) -> ClinicResult<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        Err(ClinicError::invalid(
            field,
            format!("give 1 to {max} printable characters"),
        ))
    } else {
        Ok(())
    }
}

impl Clinic {
    /// The commitment entries carry for `mrn`.
    pub async fn patient_ref(&self, s: &Session, mrn: &str) -> ClinicResult<PatientRef> {
        self.commit_patient(s.ledger, mrn).await
    }

    /// Keeps (or updates) a patient's record; returns the commitment entries use.
    pub async fn save_patient(&self, s: &Session, p: Patient) -> ClinicResult<PatientRecord> {
        s.require(s.ledger, Permission::KeepPatients)?;
        printable("mrn", &p.mrn, 64)?;
        printable("name", &p.name, 200)?;
        printable("address", &p.address, 400)?;
        let patient = self.patient_ref(s, &p.mrn).await?;
        let record = PatientRecord {
            patient,
            mrn: p.mrn.trim().to_string(),
            name: p.name.trim().to_string(),
            address: p.address.trim().to_string(),
            birth_date: p.birth_date.to_string(),
        };
        self.store.save_patient(s.ledger, &record).await?;
        Ok(record)
    }

    /// The record behind a commitment.
    pub async fn patient(&self, s: &Session, p: &PatientRef) -> ClinicResult<PatientRecord> {
        s.require(s.ledger, Permission::ReadPatients)?;
        self.store.patient(s.ledger, p).await?.ok_or_else(|| {
            ClinicError::not_found(format!("no record for patient {p} (never kept, or erased)"))
        })
    }

    /// The whole register.
    pub async fn patients(&self, s: &Session) -> ClinicResult<Vec<PatientRecord>> {
        s.require(s.ledger, Permission::ReadPatients)?;
        Ok(self.store.patients(s.ledger).await?)
    }

    /// Erases a record; entries keep the commitment and still verify.
    pub async fn erase_patient(&self, s: &Session, p: &PatientRef) -> ClinicResult<()> {
        s.require(s.ledger, Permission::ErasePatients)?;
        if self.store.erase_patient(s.ledger, p).await? {
            tracing::info!(ledger = %s.ledger, patient = %p, by = %s.user, "patient record erased");
            Ok(())
        } else {
            Err(ClinicError::not_found(format!("no record for patient {p}")))
        }
    }
}
