//! Stock leaving, moving or set right: take-home dispensing, transfers, losses and thefts,
//! destruction, adjustments, corrections of earlier entries; and the catalog (products,
//! locations) and role changes, whose commands are their entries.

use custody_ledger::*;

use super::{Ceremony, Item, Origin, Outcome, Planned};
use crate::Clinic;
use crate::error::ClinicResult;
use crate::session::Session;

/// Take-home dispensing to a patient: whole sealed containers and parts of open ones.
#[derive(Debug, Clone)]
pub struct Dispense {
    pub patient: String,
    pub prescriber: Prescriber,
    pub sealed: Vec<ContainerId>,
    pub from_open: Vec<Item>,
}

/// A loss or theft.
#[derive(Debug, Clone)]
pub struct Lose {
    pub loss_type: LossType,
    pub discovered_on: Day,
    pub police_report: Option<Text>,
    pub items: Vec<Item>,
    pub description: Text,
}

/// A destruction before two witnesses.
#[derive(Debug, Clone)]
pub struct Destroy {
    pub method: DestructionMethod,
    pub date: Day,
    pub items: Vec<Item>,
    pub witnesses: Vec<UserId>,
}

/// An adjustment of what a container holds, before a witness.
#[derive(Debug, Clone)]
pub struct Adjust {
    pub container: ContainerId,
    pub resolves: Option<Seq>,
    pub reason: AdjustmentReason,
    pub direction: Direction,
    pub amount: Micrograms,
    pub note: Text,
    pub witness: UserId,
}

impl Clinic {
    /// Records an act whose command is its one entry (a transfer, a correction, a product,
    /// a location, a role change).
    pub async fn record_one(
        &self,
        s: &Session,
        payload: impl Into<Payload>,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = payload.into();
        self.record(
            s,
            &payload,
            vec![Planned::new(payload.clone())],
            ceremony,
            origin,
        )
        .await
    }

    pub async fn dispense(
        &self,
        s: &Session,
        cmd: Dispense,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        if cmd.patient.trim().is_empty() {
            return Err(crate::ClinicError::invalid(
                "patient",
                "a patient reference is needed",
            ));
        }
        let patient = self.commit_patient(s.ledger, &cmd.patient).await?;
        let payload = Dispensed {
            patient,
            prescriber: cmd.prescriber.clone(),
            sealed: cmd.sealed.clone(),
            from_open: self.items(s, &cmd.from_open).await?,
        };
        // Recognised again by what it records, the patient by commitment: a request row
        // holds no MRN.
        let what = (
            payload.patient,
            &cmd.prescriber,
            &cmd.sealed,
            &cmd.from_open,
        );
        self.record(s, &what, vec![Planned::new(payload)], ceremony, origin)
            .await
    }

    pub async fn lose(
        &self,
        s: &Session,
        cmd: Lose,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = LossTheft {
            loss_type: cmd.loss_type,
            discovered_on: cmd.discovered_on,
            police_report: cmd.police_report.clone(),
            items: self.items(s, &cmd.items).await?,
            description: cmd.description.clone(),
            explains_count: None,
        };
        self.record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await
    }

    pub async fn destroy(
        &self,
        s: &Session,
        cmd: Destroy,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = Destruction {
            method: cmd.method.clone(),
            date: cmd.date,
            items: self.items(s, &cmd.items).await?,
        };
        let planned = Planned::new(payload).witnessed_by(cmd.witnesses.clone());
        self.record(s, &cmd, vec![planned], ceremony, origin).await
    }

    pub async fn adjust(
        &self,
        s: &Session,
        cmd: Adjust,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = Adjustment {
            container: cmd.container,
            resolves: cmd.resolves,
            reason: cmd.reason,
            direction: cmd.direction,
            amount: self
                .amount_of(s, &cmd.container, cmd.amount, "amount_mg")
                .await?,
            note: cmd.note.clone(),
        };
        let planned = Planned::new(payload).witnessed_by([cmd.witness.clone()]);
        self.record(s, &cmd, vec![planned], ceremony, origin).await
    }
}
