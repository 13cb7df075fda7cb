//! Patient-labelled product: the pharmacy labels a container for one patient (a Spravato
//! device the specialty pharmacy sent for them). A dose from it for anyone else is refused;
//! unused fourteen days after it was labelled it must leave stock — destroyed or returned to a
//! reverse distributor, never given or put back on hand — so a dose from it is refused and
//! the dashboard lists it. The label lives in the patient register, outside the chain.

use std::collections::BTreeMap;

use custody_ledger::{ContainerId, ContainerStatus, Day};
use custody_store::PatientLabel;

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// Days a patient-labelled container may wait unused before it must leave stock.
pub const LABEL_DAYS: i64 = 14;

/// Labels a container for a patient.
#[derive(Debug, Clone)]
pub struct LabelForPatient {
    pub container: ContainerId,
    /// The patient's MRN, as typed at the dose.
    pub patient: String,
    pub labelled_on: Day,
}

/// The last day a label allows a dose: `LABEL_DAYS` after the day it was labelled.
pub fn last_day(l: &PatientLabel) -> Option<Day> {
    l.labelled_on.plus_days(LABEL_DAYS)
}

impl Clinic {
    /// Records that `cmd.container` is labelled for `cmd.patient` (pharmacists).
    pub async fn label_for_patient(
        &self,
        s: &Session,
        cmd: LabelForPatient,
    ) -> ClinicResult<PatientLabel> {
        s.require(s.ledger, Permission::Pharmacy)?;
        let c = self
            .store
            .container(s.ledger, &cmd.container)
            .await?
            .ok_or_else(|| super::unknown_container(&cmd.container))?;
        if !matches!(
            c.status,
            ContainerStatus::Sealed | ContainerStatus::Open { .. }
        ) {
            return Err(ClinicError::invalid(
                "container",
                format!(
                    "container {} is {}: only a container on hand is labelled for a patient",
                    cmd.container,
                    c.status.name()
                ),
            ));
        }
        let today = self.settings.time_zone.today();
        if cmd.labelled_on > today {
            return Err(ClinicError::invalid(
                "labelled_on",
                format!(
                    "{} is after today ({today}): a label is recorded once it is on the container",
                    cmd.labelled_on
                ),
            ));
        }
        if cmd.patient.trim().is_empty() {
            return Err(ClinicError::invalid("patient", "enter the patient's MRN"));
        }
        let label = PatientLabel {
            container: cmd.container,
            patient: self.patient_ref(s, &cmd.patient).await?,
            labelled_on: cmd.labelled_on,
            labelled_by: s.user.to_string(),
        };
        self.store.save_patient_label(s.ledger, &label).await?;
        Ok(label)
    }

    /// Every patient label, by container.
    pub async fn patient_labels(
        &self,
        s: &Session,
    ) -> ClinicResult<BTreeMap<ContainerId, PatientLabel>> {
        s.require(s.ledger, Permission::Read)?;
        Ok(self
            .store
            .patient_labels(s.ledger)
            .await?
            .into_iter()
            .map(|l| (l.container, l))
            .collect())
    }

    /// Refuses a dose from a container labelled for another patient, or labelled more than
    /// `LABEL_DAYS` ago.
    pub(crate) fn check_label(
        &self,
        labels: &BTreeMap<ContainerId, PatientLabel>,
        container: &ContainerId,
        patient: &custody_ledger::PatientRef,
    ) -> ClinicResult<()> {
        let Some(l) = labels.get(container) else {
            return Ok(());
        };
        if &l.patient != patient {
            return Err(ClinicError::conflict(
                "labelled_for_another_patient",
                format!(
                    "container: {container} is labelled for another patient (since {}): give from stock, or from what is labelled for this patient",
                    l.labelled_on
                ),
            ));
        }
        let today = self.settings.time_zone.today();
        if last_day(l).is_none_or(|last| today > last) {
            return Err(ClinicError::conflict(
                "patient_label_expired",
                format!(
                    "container: {container} was labelled for this patient on {}, more than {LABEL_DAYS} days ago: unused, it must leave stock (destroy it, or return it to a reverse distributor)",
                    l.labelled_on
                ),
            ));
        }
        Ok(())
    }
}
