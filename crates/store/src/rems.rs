//! The Spravato REMS session record: what a nurse observes while monitoring a patient after
//! their Spravato doses (vital signs, pulse oximetry, resolution of sedation, dissociation and
//! respiratory depression, adverse events, concomitant medicines, the clinician and setting)
//! and the monitoring form's submission. Clinical data about a person, so it lives here, outside
//! the chain; when the session closes, the SHA-256 of its canonical form
//! ([`RemsRecord::canonical_json`], docs/rems.md) enters the chain in `rems_session_closed`,
//! so the record can later be shown unaltered.

use std::collections::BTreeMap;

use custody_ledger::{Day, EntryHash, LedgerId, PatientRef, Seq, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::Store;
use crate::error::StoreError;

pub mod rems_sessions {
    use sea_orm::entity::prelude::*;

    /// One REMS monitoring session (see the module comment).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rems_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub session_id: String,
        pub patient_ref: String,
        /// The dose entries' sequence numbers, comma-separated, ascending.
        pub doses: String,
        pub started_at: i64,
        pub first_treatment: bool,
        pub bp_before_systolic: Option<i32>,
        pub bp_before_diastolic: Option<i32>,
        pub bp40_systolic: Option<i32>,
        pub bp40_diastolic: Option<i32>,
        pub bp_discharge_systolic: Option<i32>,
        pub bp_discharge_diastolic: Option<i32>,
        pub pulse_oximetry: bool,
        pub sedation_resolved: bool,
        pub dissociation_resolved: bool,
        pub respiratory_depression_resolved: bool,
        pub adverse_events: Option<String>,
        /// The concomitant medicine classes, comma-separated, sorted.
        pub concomitant: String,
        pub clinician: Option<String>,
        pub setting: Option<String>,
        pub discharged_at: Option<i64>,
        pub closed_seq: Option<i64>,
        pub form_submitted_on: Option<String>,
        pub form_confirmation: Option<String>,
        pub opened_by: String,
        pub updated_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// A blood pressure reading, mmHg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BloodPressure {
    pub systolic: u16,
    pub diastolic: u16,
}

/// The concomitant medicine classes the Patient Monitoring Form asks about.
pub const CONCOMITANT_CLASSES: [&str; 5] = [
    "benzodiazepines",
    "maois",
    "opioids",
    "psychostimulants",
    "sedative_hypnotics",
];

/// What identifies the canonical form and its version: the first key a reader checks.
pub const RECORD_FORMAT: &str = "custody/rems-session-record/v1";

/// One REMS monitoring session as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemsRecord {
    pub session: String,
    pub patient: PatientRef,
    /// The dose entries (`administered`), ascending.
    pub doses: Vec<Seq>,
    /// When the first device was given.
    pub started_at: Timestamp,
    pub first_treatment: bool,
    pub bp_before: Option<BloodPressure>,
    pub bp_40: Option<BloodPressure>,
    pub bp_discharge: Option<BloodPressure>,
    pub pulse_oximetry: bool,
    pub sedation_resolved: bool,
    pub dissociation_resolved: bool,
    pub respiratory_depression_resolved: bool,
    pub adverse_events: Option<String>,
    /// Classes of [`CONCOMITANT_CLASSES`], sorted, each once.
    pub concomitant: Vec<String>,
    pub clinician: Option<String>,
    pub setting: Option<String>,
    pub discharged_at: Option<Timestamp>,
    /// The `rems_session_closed` entry, once closed.
    pub closed_seq: Option<Seq>,
    /// The monitoring form's submission: the date and the confirmation number.
    pub form: Option<(Day, String)>,
    /// Who opened the session (user id).
    pub opened_by: String,
}

impl RemsRecord {
    /// The record's canonical form: a JSON object with its keys sorted by their bytes, no
    /// whitespace, integers for times (µs since the Unix epoch, UTC) and blood pressures
    /// (`[systolic, diastolic]`, mmHg), `null` for what was not recorded, UTF-8. It holds what
    /// was observed up to discharge — not the form's submission (its own entry) nor who
    /// opened the record. docs/rems.md specifies it.
    pub fn canonical_json(&self, ledger: LedgerId) -> String {
        use serde_json::Value;
        fn bp(b: &Option<BloodPressure>) -> Value {
            match b {
                Some(b) => Value::from(vec![b.systolic, b.diastolic]),
                None => Value::Null,
            }
        }
        fn text(t: &Option<String>) -> Value {
            t.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()))
        }
        let mut doses: Vec<u64> = self.doses.iter().map(|d| d.get()).collect();
        doses.sort_unstable();
        let mut concomitant = self.concomitant.clone();
        concomitant.sort();
        concomitant.dedup();
        // A BTreeMap serializes in key order whatever serde_json's features are.
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        m.insert("adverse_events", text(&self.adverse_events));
        m.insert("blood_pressure_40_min", bp(&self.bp_40));
        m.insert("blood_pressure_before", bp(&self.bp_before));
        m.insert("blood_pressure_discharge", bp(&self.bp_discharge));
        m.insert("clinician", text(&self.clinician));
        m.insert("concomitant", Value::from(concomitant));
        m.insert(
            "discharged_at",
            self.discharged_at
                .map_or(Value::Null, |t| Value::from(t.micros())),
        );
        m.insert("dissociation_resolved", self.dissociation_resolved.into());
        m.insert("doses", Value::from(doses));
        m.insert("first_treatment", self.first_treatment.into());
        m.insert("format", RECORD_FORMAT.into());
        m.insert("ledger", ledger.to_string().into());
        m.insert("patient", self.patient.to_string().into());
        m.insert("pulse_oximetry", self.pulse_oximetry.into());
        m.insert(
            "respiratory_depression_resolved",
            self.respiratory_depression_resolved.into(),
        );
        m.insert("sedation_resolved", self.sedation_resolved.into());
        m.insert("session", self.session.as_str().into());
        m.insert("setting", text(&self.setting));
        m.insert("started_at", self.started_at.micros().into());
        // Serializing a map of JSON values cannot fail.
        serde_json::to_string(&m).unwrap_or_default()
    }

    /// SHA-256 of [`RemsRecord::canonical_json`]: what `rems_session_closed.record_sha256`
    /// holds.
    pub fn sha256(&self, ledger: LedgerId) -> EntryHash {
        EntryHash::from_bytes(Sha256::digest(self.canonical_json(ledger).as_bytes()).into())
    }
}

fn split(b: &Option<BloodPressure>) -> (Option<i32>, Option<i32>) {
    match b {
        Some(b) => (Some(b.systolic.into()), Some(b.diastolic.into())),
        None => (None, None),
    }
}

fn join(s: Option<i32>, d: Option<i32>) -> Result<Option<BloodPressure>, StoreError> {
    Ok(match (s, d) {
        (Some(s), Some(d)) => Some(BloodPressure {
            systolic: u16::try_from(s).map_err(StoreError::corrupt)?,
            diastolic: u16::try_from(d).map_err(StoreError::corrupt)?,
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::corrupt(
                "a blood pressure lacks half its reading",
            ));
        }
    })
}

fn seq(v: i64) -> Result<Seq, StoreError> {
    Seq::new(u64::try_from(v).map_err(StoreError::corrupt)?).map_err(StoreError::corrupt)
}

fn of_model(m: rems_sessions::Model) -> Result<RemsRecord, StoreError> {
    let doses = m
        .doses
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| seq(s.parse::<i64>().map_err(StoreError::corrupt)?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RemsRecord {
        session: m.session_id,
        patient: m.patient_ref.parse().map_err(StoreError::corrupt)?,
        doses,
        started_at: Timestamp::from_micros(m.started_at).map_err(StoreError::corrupt)?,
        first_treatment: m.first_treatment,
        bp_before: join(m.bp_before_systolic, m.bp_before_diastolic)?,
        bp_40: join(m.bp40_systolic, m.bp40_diastolic)?,
        bp_discharge: join(m.bp_discharge_systolic, m.bp_discharge_diastolic)?,
        pulse_oximetry: m.pulse_oximetry,
        sedation_resolved: m.sedation_resolved,
        dissociation_resolved: m.dissociation_resolved,
        respiratory_depression_resolved: m.respiratory_depression_resolved,
        adverse_events: m.adverse_events,
        concomitant: m
            .concomitant
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        clinician: m.clinician,
        setting: m.setting,
        discharged_at: m
            .discharged_at
            .map(Timestamp::from_micros)
            .transpose()
            .map_err(StoreError::corrupt)?,
        closed_seq: m.closed_seq.map(seq).transpose()?,
        form: match (m.form_submitted_on, m.form_confirmation) {
            (Some(on), Some(c)) => Some((on.parse().map_err(StoreError::corrupt)?, c)),
            _ => None,
        },
        opened_by: m.opened_by,
    })
}

impl Store {
    /// Keeps (or replaces) a session's record.
    pub async fn save_rems_session(
        &self,
        ledger: LedgerId,
        r: &RemsRecord,
    ) -> Result<(), StoreError> {
        use rems_sessions::Column as C;
        let (bs, bd) = split(&r.bp_before);
        let (ms, md) = split(&r.bp_40);
        let (ds, dd) = split(&r.bp_discharge);
        let mut doses: Vec<u64> = r.doses.iter().map(|d| d.get()).collect();
        doses.sort_unstable();
        let mut concomitant = r.concomitant.clone();
        concomitant.sort();
        concomitant.dedup();
        rems_sessions::Entity::insert(rems_sessions::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            session_id: Set(r.session.clone()),
            patient_ref: Set(r.patient.to_string()),
            doses: Set(doses
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")),
            started_at: Set(r.started_at.micros()),
            first_treatment: Set(r.first_treatment),
            bp_before_systolic: Set(bs),
            bp_before_diastolic: Set(bd),
            bp40_systolic: Set(ms),
            bp40_diastolic: Set(md),
            bp_discharge_systolic: Set(ds),
            bp_discharge_diastolic: Set(dd),
            pulse_oximetry: Set(r.pulse_oximetry),
            sedation_resolved: Set(r.sedation_resolved),
            dissociation_resolved: Set(r.dissociation_resolved),
            respiratory_depression_resolved: Set(r.respiratory_depression_resolved),
            adverse_events: Set(r.adverse_events.clone()),
            concomitant: Set(concomitant.join(",")),
            clinician: Set(r.clinician.clone()),
            setting: Set(r.setting.clone()),
            discharged_at: Set(r.discharged_at.map(|t| t.micros())),
            closed_seq: Set(r
                .closed_seq
                .map(|s| i64::try_from(s.get()))
                .transpose()
                .map_err(StoreError::corrupt)?),
            form_submitted_on: Set(r.form.as_ref().map(|(d, _)| d.to_string())),
            form_confirmation: Set(r.form.as_ref().map(|(_, c)| c.clone())),
            opened_by: Set(r.opened_by.clone()),
            updated_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::columns([C::LedgerId, C::SessionId])
                .update_columns([
                    C::PatientRef,
                    C::Doses,
                    C::StartedAt,
                    C::FirstTreatment,
                    C::BpBeforeSystolic,
                    C::BpBeforeDiastolic,
                    C::Bp40Systolic,
                    C::Bp40Diastolic,
                    C::BpDischargeSystolic,
                    C::BpDischargeDiastolic,
                    C::PulseOximetry,
                    C::SedationResolved,
                    C::DissociationResolved,
                    C::RespiratoryDepressionResolved,
                    C::AdverseEvents,
                    C::Concomitant,
                    C::Clinician,
                    C::Setting,
                    C::DischargedAt,
                    C::ClosedSeq,
                    C::FormSubmittedOn,
                    C::FormConfirmation,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// One session's record.
    pub async fn rems_session(
        &self,
        ledger: LedgerId,
        session: &str,
    ) -> Result<Option<RemsRecord>, StoreError> {
        rems_sessions::Entity::find_by_id((ledger.as_uuid(), session.to_string()))
            .one(self.connection())
            .await?
            .map(of_model)
            .transpose()
    }

    /// Every session's record of this ledger, oldest first.
    pub async fn rems_session_records(
        &self,
        ledger: LedgerId,
    ) -> Result<Vec<RemsRecord>, StoreError> {
        let mut out = rems_sessions::Entity::find()
            .filter(rems_sessions::Column::LedgerId.eq(ledger.as_uuid()))
            .all(self.connection())
            .await?
            .into_iter()
            .map(of_model)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.session.cmp(&b.session))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_sorts_its_keys_and_changes_with_a_blood_pressure() {
        let ledger: LedgerId = "0193a5d0-0000-7000-8000-000000000001".parse().unwrap();
        let mut r = RemsRecord {
            session: "rems-12".into(),
            patient: PatientRef::from_bytes([7; 32]),
            doses: vec![Seq::new(14).unwrap(), Seq::new(12).unwrap()],
            started_at: Timestamp::from_micros(1_764_460_800_000_000).unwrap(),
            first_treatment: true,
            bp_before: Some(BloodPressure {
                systolic: 128,
                diastolic: 82,
            }),
            bp_40: None,
            bp_discharge: None,
            pulse_oximetry: true,
            sedation_resolved: false,
            dissociation_resolved: false,
            respiratory_depression_resolved: false,
            adverse_events: None,
            concomitant: vec!["opioids".into(), "benzodiazepines".into()],
            clinician: Some("Nurse Chen".into()),
            setting: None,
            discharged_at: None,
            closed_seq: None,
            form: None,
            opened_by: "nurse.chen".into(),
        };
        let j = r.canonical_json(ledger);
        assert!(j.starts_with(r#"{"adverse_events":null,"blood_pressure_40_min":null,"blood_pressure_before":[128,82],"#), "{j}");
        assert!(
            j.contains(r#""concomitant":["benzodiazepines","opioids"]"#),
            "{j}"
        );
        assert!(j.contains(r#""doses":[12,14]"#), "{j}");
        let before = r.sha256(ledger);
        r.form = Some(("2026-11-30".parse().unwrap(), "C-1".into()));
        assert_eq!(
            r.sha256(ledger),
            before,
            "the form's submission is not part of it"
        );
        r.bp_before = Some(BloodPressure {
            systolic: 150,
            diastolic: 82,
        });
        assert_ne!(r.sha256(ledger), before);
    }
}
