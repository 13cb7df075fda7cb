//! The patient register: the identifying record behind each patient commitment, kept
//! outside the chain (erasable without breaking verification).

use custody_ledger::{Day, FinishedForm, PatientRef, ProductDefined};

use crate::settings::RemsCheck;
use custody_store::{PatientRecord, RemsEnrollment};

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
    /// The Spravato REMS enrollment: the REMS patient id and the date.
    pub rems: Option<(String, Day)>,
    /// F, M or U (state PMP reports, ASAP PAT19).
    pub sex: Option<String>,
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

/// Whether doses of `p` fall under the Spravato REMS: esketamine nasal spray (the product's
/// form and its name, "Spravato" or "esketamine", since the ledger's product definition has
/// no REMS flag).
pub fn under_rems(p: &ProductDefined) -> bool {
    let name = p.name.to_string().to_lowercase();
    p.form == FinishedForm::NasalSpray && (name.contains("spravato") || name.contains("esketamine"))
}

impl Clinic {
    /// Refuses a dose of a REMS product for a patient the register does not show enrolled
    /// (unless the clinic is an inpatient setting, `RemsCheck::Warn`, which is exempt: then
    /// it is logged).
    pub async fn check_rems(
        &self,
        s: &Session,
        product: &ProductDefined,
        mrn: &str,
    ) -> ClinicResult<()> {
        if !under_rems(product) {
            return Ok(());
        }
        let patient = self.commit_patient(s.ledger, mrn).await?;
        let enrolled = self
            .store
            .patient(s.ledger, &patient)
            .await?
            .is_some_and(|p| p.rems.is_some());
        if enrolled {
            return Ok(());
        }
        match self.settings.rems_check {
            RemsCheck::Warn => {
                tracing::warn!(ledger = %s.ledger, patient = %patient, product = %product.ndc,
                    "a REMS product given to a patient not enrolled (inpatient setting)");
                Ok(())
            }
            RemsCheck::Refuse => Err(ClinicError::Conflict {
                code: "rems_not_enrolled",
                message: format!(
                    "patient: {} is not enrolled in the Spravato REMS: enter their REMS patient id and enrollment date on the patient register before the first treatment",
                    mrn.trim()
                ),
            }),
        }
    }

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
            rems: match p.rems {
                Some((id, on)) => {
                    printable("rems_patient_id", &id, 64)?;
                    Some(RemsEnrollment {
                        patient_id: id.trim().to_string(),
                        enrolled_on: on,
                    })
                }
                None => None,
            },
            sex: match p.sex.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => match s.to_ascii_uppercase().as_str() {
                    v @ ("F" | "M" | "U") => Some(v.to_string()),
                    _ => {
                        return Err(ClinicError::invalid(
                            "sex",
                            "give F (female), M (male) or U (unknown), as PMP reports state it",
                        ));
                    }
                },
            },
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
