//! Spravato REMS monitoring sessions: a session opened on a patient's Spravato doses, the
//! observations a nurse records while monitoring (vital signs, pulse oximetry, resolution of
//! sedation, dissociation and respiratory depression, adverse events, concomitant medicines),
//! its close — refused before the monitoring minimum — which puts the SHA-256 of the record
//! kept outside the chain into `rems_session_closed`, and the Patient Monitoring Form's
//! submission (`rems_form_submitted`). The record itself is clinical data about a person and
//! stays in the store (`custody_store::rems`); the chain holds what proves it unaltered.

use std::collections::BTreeMap;

use custody_ledger::*;
use custody_store::{BloodPressure, CONCOMITANT_CLASSES, RemsRecord};

use super::patients::under_rems;
use super::{Ceremony, Origin, Outcome, Planned, fingerprint};
use crate::Clinic;
use crate::deadlines::DeadlineStatus;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// The Patient Monitoring Form is due this many days after the session.
pub const REMS_FORM_DAYS: i64 = 7;

/// Opening a session on a patient's Spravato doses.
#[derive(Debug, Clone)]
pub struct OpenRemsSession {
    /// The patient's reference (MRN).
    pub patient: String,
    /// The dose entries (`administered`) of this session; empty: the patient's Spravato doses
    /// of the last 12 hours that no session names yet.
    pub doses: Vec<Seq>,
    pub first_treatment: bool,
    /// Default: the signed-in person's printed name.
    pub clinician: Option<String>,
    pub setting: Option<String>,
}

/// What a nurse records while monitoring; what is absent stays as it was.
#[derive(Debug, Clone, Default)]
pub struct RemsObservations {
    pub first_treatment: Option<bool>,
    pub bp_before: Option<BloodPressure>,
    pub bp_40: Option<BloodPressure>,
    pub bp_discharge: Option<BloodPressure>,
    pub pulse_oximetry: Option<bool>,
    pub sedation_resolved: Option<bool>,
    pub dissociation_resolved: Option<bool>,
    pub respiratory_depression_resolved: Option<bool>,
    /// Empty text clears it.
    pub adverse_events: Option<String>,
    /// Replaces the list (of [`CONCOMITANT_CLASSES`]).
    pub concomitant: Option<Vec<String>>,
    pub clinician: Option<String>,
    pub setting: Option<String>,
}

/// Closing a session: the patient discharged.
#[derive(Debug, Clone)]
pub struct CloseRemsSession {
    pub session: String,
    /// When the patient was discharged; default now.
    pub discharged_at: Option<Timestamp>,
}

/// The monitoring form of a closed session, submitted to the REMS.
#[derive(Debug, Clone)]
pub struct SubmitRemsForm {
    pub session: String,
    pub submitted_on: Day,
    pub confirmation: Text,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemsStatus {
    /// Monitoring: not closed yet.
    Open,
    /// Closed; its monitoring form not marked submitted.
    FormDue,
    /// Closed and its form submitted.
    Submitted,
}

impl RemsStatus {
    pub fn name(self) -> &'static str {
        match self {
            RemsStatus::Open => "open",
            RemsStatus::FormDue => "form_due",
            RemsStatus::Submitted => "submitted",
        }
    }
}

impl std::str::FromStr for RemsStatus {
    type Err = ClinicError;
    fn from_str(s: &str) -> ClinicResult<Self> {
        match s {
            "open" => Ok(RemsStatus::Open),
            "form_due" => Ok(RemsStatus::FormDue),
            "submitted" => Ok(RemsStatus::Submitted),
            _ => Err(ClinicError::invalid(
                "status",
                "give open, form_due or submitted",
            )),
        }
    }
}

/// One device given in a session, as the form states it.
#[derive(Debug, Clone)]
pub struct RemsDose {
    pub seq: Seq,
    pub container: ContainerId,
    pub product: String,
    pub ndc: Ndc,
    pub lot: String,
    pub amount: Amount,
    pub given_at: Timestamp,
}

/// A session as people read it: the record, its doses from the ledger, where it stands, its
/// form's deadline, and whether the record still matches the digest in the chain.
#[derive(Debug, Clone)]
pub struct RemsSessionView {
    pub record: RemsRecord,
    /// The patient's MRN, from the register (none once erased).
    pub mrn: Option<String>,
    pub status: RemsStatus,
    pub doses: Vec<RemsDose>,
    /// The record's SHA-256 now.
    pub record_sha256: EntryHash,
    /// The `rems_session_closed` entry and the digest it holds.
    pub closed: Option<(Seq, RemsSessionClosed)>,
    /// Whether the record hashes to the digest in the chain (none while open).
    pub record_matches_chain: Option<bool>,
    /// The `rems_form_submitted` entry and what it says.
    pub form: Option<(Seq, RemsFormSubmitted)>,
    /// The form's 7-day deadline from the discharge day in the clinic's time zone (none
    /// while open).
    pub form_deadline: Option<DeadlineStatus>,
    /// Minutes from the first device to discharge (or to now while open).
    pub monitored_minutes: i64,
}

const MINUTE: i64 = 60_000_000;

fn printable(field: &str, v: &str, max: usize) -> ClinicResult<String> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        Err(ClinicError::invalid(
            field,
            format!("give 1 to {max} printable characters"),
        ))
    } else {
        Ok(t.to_string())
    }
}

fn check_bp(field: &str, b: &BloodPressure) -> ClinicResult<()> {
    if !(40..=300).contains(&b.systolic)
        || !(20..=200).contains(&b.diastolic)
        || b.diastolic >= b.systolic
    {
        return Err(ClinicError::invalid(
            field,
            format!(
                "{}/{} mmHg is not a blood pressure: systolic 40 to 300, diastolic 20 to 200 and below the systolic",
                b.systolic, b.diastolic
            ),
        ));
    }
    Ok(())
}

impl Clinic {
    /// A dose entry of a REMS product: the dose and the device it came from.
    async fn rems_dose(&self, s: &Session, seq: Seq) -> ClinicResult<(Administered, RemsDose)> {
        let not_dose = || {
            ClinicError::invalid(
                "doses",
                format!("entry {seq} is not a Spravato dose given in this ledger"),
            )
        };
        let bytes = self
            .store
            .entry_bytes(s.ledger, seq)
            .await?
            .ok_or_else(not_dose)?;
        let entry = Entry::from_canonical_bytes(&bytes).map_err(ClinicError::internal)?;
        let Payload::Administered(a) = entry.body.payload else {
            return Err(not_dose());
        };
        let c = self
            .store
            .container(s.ledger, &a.container)
            .await?
            .ok_or_else(not_dose)?;
        if !under_rems(&c.product) {
            return Err(not_dose());
        }
        let dose = RemsDose {
            seq,
            container: a.container,
            product: c.product.name.to_string(),
            ndc: c.product.ndc,
            lot: c.lot.to_string(),
            amount: a.amount,
            given_at: a.given_at,
        };
        Ok((a, dose))
    }

    /// Every dose a session names, closed (in the chain) or open (in the store).
    async fn doses_in_sessions(&self, s: &Session) -> ClinicResult<BTreeMap<Seq, String>> {
        let mut out = BTreeMap::new();
        for r in self.store.rems_session_records(s.ledger).await? {
            for d in r.doses {
                out.insert(d, r.session.clone());
            }
        }
        for (_, e) in self
            .entries_of_kind(s.ledger, Kind::RemsSessionClosed)
            .await?
        {
            if let Payload::RemsSessionClosed(p) = e.body.payload {
                for d in p.doses {
                    out.insert(d, p.session.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Opens a monitoring session on a patient's Spravato doses (kept outside the chain
    /// until it closes).
    pub async fn open_rems_session(
        &self,
        s: &Session,
        cmd: OpenRemsSession,
    ) -> ClinicResult<RemsSessionView> {
        s.require(s.ledger, Permission::Author(Kind::RemsSessionClosed))?;
        let mrn = printable("patient", &cmd.patient, 64)?;
        let patient = self.commit_patient(s.ledger, &mrn).await?;
        let taken = self.doses_in_sessions(s).await?;
        let mut doses = cmd.doses.clone();
        if doses.is_empty() {
            let since = custody_store::clock::now_micros() - 12 * 60 * MINUTE;
            for (seq, e) in self.entries_of_kind(s.ledger, Kind::Administered).await? {
                let Payload::Administered(a) = &e.body.payload else {
                    continue;
                };
                let seq = Seq::new(seq).map_err(ClinicError::internal)?;
                if a.patient == patient
                    && a.given_at.micros() >= since
                    && !taken.contains_key(&seq)
                    && self.rems_dose(s, seq).await.is_ok()
                {
                    doses.push(seq);
                }
            }
            if doses.is_empty() {
                return Err(ClinicError::invalid(
                    "doses",
                    format!(
                        "patient {mrn} has no Spravato dose of the last 12 hours outside a session: give the dose entries"
                    ),
                ));
            }
        }
        doses.sort_unstable();
        doses.dedup();
        let mut started_at: Option<Timestamp> = None;
        for d in &doses {
            let (a, _) = self.rems_dose(s, *d).await?;
            if a.patient != patient {
                return Err(ClinicError::invalid(
                    "doses",
                    format!("dose entry {d} was given to another patient"),
                ));
            }
            if let Some(other) = taken.get(d) {
                return Err(ClinicError::conflict(
                    "dose_in_other_session",
                    format!("dose entry {d} already belongs to REMS session {other}"),
                ));
            }
            started_at = Some(started_at.map_or(a.given_at, |t| t.min(a.given_at)));
        }
        let started_at =
            started_at.ok_or_else(|| ClinicError::invalid("doses", "name the dose entries"))?;
        let clinician = match &cmd.clinician {
            Some(c) => printable("clinician", c, 200)?,
            None => s.printed_name.clone(),
        };
        let setting = cmd
            .setting
            .as_deref()
            .map(|v| printable("setting", v, 200))
            .transpose()?;
        let record = RemsRecord {
            session: format!("rems-{}", doses[0]),
            patient,
            doses,
            started_at,
            first_treatment: cmd.first_treatment,
            bp_before: None,
            bp_40: None,
            bp_discharge: None,
            pulse_oximetry: false,
            sedation_resolved: false,
            dissociation_resolved: false,
            respiratory_depression_resolved: false,
            adverse_events: None,
            concomitant: Vec::new(),
            clinician: Some(clinician),
            setting,
            discharged_at: None,
            closed_seq: None,
            form: None,
            opened_by: s.user.to_string(),
        };
        self.store.save_rems_session(s.ledger, &record).await?;
        tracing::info!(ledger = %s.ledger, session = %record.session, by = %s.user, "REMS session opened");
        self.rems_session(s, &record.session).await
    }

    /// The record of session `id`, or a refusal naming it.
    async fn rems_record(&self, s: &Session, id: &str) -> ClinicResult<RemsRecord> {
        self.store
            .rems_session(s.ledger, id)
            .await?
            .ok_or_else(|| ClinicError::not_found(format!("no REMS session {id:?} in this ledger")))
    }

    /// Records observations on an open session.
    pub async fn observe_rems_session(
        &self,
        s: &Session,
        id: &str,
        o: RemsObservations,
    ) -> ClinicResult<RemsSessionView> {
        s.require(s.ledger, Permission::Author(Kind::RemsSessionClosed))?;
        let mut r = self.rems_record(s, id).await?;
        if r.closed_seq.is_some() {
            return Err(ClinicError::conflict(
                "rems_session_closed",
                format!(
                    "REMS session {id} is closed: its record is in the chain's digest and no longer changes"
                ),
            ));
        }
        for (field, b) in [
            ("bp_before", &o.bp_before),
            ("bp_40_min", &o.bp_40),
            ("bp_discharge", &o.bp_discharge),
        ] {
            if let Some(b) = b {
                check_bp(field, b)?;
            }
        }
        if let Some(v) = o.first_treatment {
            r.first_treatment = v;
        }
        r.bp_before = o.bp_before.or(r.bp_before);
        r.bp_40 = o.bp_40.or(r.bp_40);
        r.bp_discharge = o.bp_discharge.or(r.bp_discharge);
        if let Some(v) = o.pulse_oximetry {
            r.pulse_oximetry = v;
        }
        if let Some(v) = o.sedation_resolved {
            r.sedation_resolved = v;
        }
        if let Some(v) = o.dissociation_resolved {
            r.dissociation_resolved = v;
        }
        if let Some(v) = o.respiratory_depression_resolved {
            r.respiratory_depression_resolved = v;
        }
        if let Some(a) = &o.adverse_events {
            r.adverse_events = if a.trim().is_empty() {
                None
            } else {
                Some(printable("adverse_events", a, 2000)?)
            };
        }
        if let Some(cs) = &o.concomitant {
            let mut out = Vec::new();
            for c in cs {
                let c = c.trim().to_ascii_lowercase();
                if !CONCOMITANT_CLASSES.contains(&c.as_str()) {
                    return Err(ClinicError::invalid(
                        "concomitant",
                        format!(
                            "{c:?} is not a class the form asks about: give any of {}",
                            CONCOMITANT_CLASSES.join(", ")
                        ),
                    ));
                }
                out.push(c);
            }
            out.sort();
            out.dedup();
            r.concomitant = out;
        }
        if let Some(c) = &o.clinician {
            r.clinician = Some(printable("clinician", c, 200)?);
        }
        if let Some(v) = &o.setting {
            r.setting = Some(printable("setting", v, 200)?);
        }
        self.store.save_rems_session(s.ledger, &r).await?;
        self.rems_session(s, id).await
    }

    /// Closes a session: refused before the monitoring minimum (with the minutes remaining)
    /// and while the record lacks what the form asks for, both before any password; then
    /// `rems_session_closed` holds the record's SHA-256.
    pub async fn close_rems_session(
        &self,
        s: &Session,
        cmd: CloseRemsSession,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let fp = fingerprint(s, &cmd);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        s.require(s.ledger, Permission::Author(Kind::RemsSessionClosed))?;
        let mut r = self.rems_record(s, &cmd.session).await?;
        if r.closed_seq.is_some() {
            return Err(ClinicError::Refused(Violation::RemsSessionExists(
                r.session.clone(),
            )));
        }
        let discharged_at = cmd.discharged_at.unwrap_or_else(custody_store::clock::now);
        let elapsed = discharged_at.micros() - r.started_at.micros();
        let minimum = self.settings.rems_monitoring_minutes;
        let needed = i64::from(minimum) * MINUTE;
        if elapsed < needed {
            return Err(ClinicError::MonitoringIncomplete {
                monitored: elapsed.max(0) / MINUTE,
                minimum,
                remaining: (needed - elapsed + MINUTE - 1) / MINUTE,
            });
        }
        let mut missing = Vec::new();
        for (name, absent) in [
            ("bp_before", r.bp_before.is_none()),
            ("bp_40_min", r.bp_40.is_none()),
            ("bp_discharge", r.bp_discharge.is_none()),
            ("pulse_oximetry", !r.pulse_oximetry),
            ("sedation_resolved", !r.sedation_resolved),
            ("dissociation_resolved", !r.dissociation_resolved),
            (
                "respiratory_depression_resolved",
                !r.respiratory_depression_resolved,
            ),
            ("clinician", r.clinician.is_none()),
            ("setting", r.setting.is_none()),
        ] {
            if absent {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(ClinicError::conflict(
                "rems_record_incomplete",
                format!(
                    "REMS session {} cannot close yet: the patient is monitored until sedation, dissociation and respiratory depression resolve, with pulse oximetry and three blood pressures; still missing: {}",
                    r.session,
                    missing.join(", ")
                ),
            ));
        }
        r.discharged_at = Some(discharged_at);
        let payload = RemsSessionClosed {
            session: r
                .session
                .parse()
                .map_err(|e| ClinicError::invalid("session", format!("{e}")))?,
            patient: r.patient,
            doses: r.doses.clone(),
            started_at: r.started_at,
            discharged_at,
            record_sha256: r.sha256(s.ledger),
        };
        let o = self
            .record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await?;
        if let Some(a) = o.entries().last() {
            r.closed_seq = Some(a.entry.seq);
            self.store.save_rems_session(s.ledger, &r).await?;
        }
        Ok(o)
    }

    /// Marks a closed session's monitoring form submitted (`rems_form_submitted`).
    pub async fn submit_rems_form(
        &self,
        s: &Session,
        cmd: SubmitRemsForm,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let fp = fingerprint(s, &cmd);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        s.require(s.ledger, Permission::Author(Kind::RemsFormSubmitted))?;
        let mut r = self.rems_record(s, &cmd.session).await?;
        if r.closed_seq.is_none() {
            return Err(ClinicError::conflict(
                "rems_session_open",
                format!(
                    "REMS session {} is still open: close it (the patient discharged) before its form is submitted",
                    r.session
                ),
            ));
        }
        let payload = RemsFormSubmitted {
            session: r
                .session
                .parse()
                .map_err(|e| ClinicError::invalid("session", format!("{e}")))?,
            submitted_on: cmd.submitted_on,
            confirmation: cmd.confirmation.clone(),
        };
        let o = self
            .record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await?;
        if !o.entries().is_empty() {
            r.form = Some((cmd.submitted_on, cmd.confirmation.to_string()));
            self.store.save_rems_session(s.ledger, &r).await?;
        }
        Ok(o)
    }

    /// One session as people read it (see [`RemsSessionView`]).
    pub async fn rems_session(&self, s: &Session, id: &str) -> ClinicResult<RemsSessionView> {
        s.require(s.ledger, Permission::ReadPatients)?;
        let r = self.rems_record(s, id).await?;
        let chain = self.rems_chain(s).await?;
        self.rems_view(s, r, &chain).await
    }

    /// Every session, oldest first; with `status`, those standing so.
    pub async fn rems_sessions(
        &self,
        s: &Session,
        status: Option<RemsStatus>,
    ) -> ClinicResult<Vec<RemsSessionView>> {
        s.require(s.ledger, Permission::ReadPatients)?;
        let chain = self.rems_chain(s).await?;
        let mut out = Vec::new();
        for r in self.store.rems_session_records(s.ledger).await? {
            let v = self.rems_view(s, r, &chain).await?;
            if status.is_none_or(|st| st == v.status) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// What the chain says of each session: its close and its form.
    async fn rems_chain(&self, s: &Session) -> ClinicResult<RemsChain> {
        let mut chain = RemsChain::default();
        for (seq, e) in self
            .entries_of_kind(s.ledger, Kind::RemsSessionClosed)
            .await?
        {
            if let Payload::RemsSessionClosed(p) = e.body.payload {
                let seq = Seq::new(seq).map_err(ClinicError::internal)?;
                chain.closed.insert(p.session.to_string(), (seq, p));
            }
        }
        for (seq, e) in self
            .entries_of_kind(s.ledger, Kind::RemsFormSubmitted)
            .await?
        {
            if let Payload::RemsFormSubmitted(p) = e.body.payload {
                let seq = Seq::new(seq).map_err(ClinicError::internal)?;
                chain.forms.insert(p.session.to_string(), (seq, p));
            }
        }
        Ok(chain)
    }

    async fn rems_view(
        &self,
        s: &Session,
        r: RemsRecord,
        chain: &RemsChain,
    ) -> ClinicResult<RemsSessionView> {
        let mut doses = Vec::with_capacity(r.doses.len());
        for d in &r.doses {
            doses.push(self.rems_dose(s, *d).await?.1);
        }
        let closed = chain.closed.get(&r.session).cloned();
        let form = chain.forms.get(&r.session).cloned();
        let record_sha256 = r.sha256(s.ledger);
        let zone = &self.settings.time_zone;
        let (status, record_matches_chain, form_deadline) = match &closed {
            None => (RemsStatus::Open, None, None),
            Some((_, c)) => {
                let day = zone.day_of(c.discharged_at);
                let due = day.plus_days(REMS_FORM_DAYS).unwrap_or(day);
                let deadline = DeadlineStatus::of(
                    due,
                    form.as_ref().map(|(_, f)| f.submitted_on),
                    zone.today(),
                );
                (
                    if form.is_some() {
                        RemsStatus::Submitted
                    } else {
                        RemsStatus::FormDue
                    },
                    Some(c.record_sha256 == record_sha256),
                    Some(deadline),
                )
            }
        };
        let end = closed
            .as_ref()
            .map(|(_, c)| c.discharged_at)
            .or(r.discharged_at)
            .unwrap_or_else(custody_store::clock::now);
        let mrn = self
            .store
            .patient(s.ledger, &r.patient)
            .await?
            .map(|p| p.mrn);
        Ok(RemsSessionView {
            monitored_minutes: (end.micros() - r.started_at.micros()).max(0) / MINUTE,
            mrn,
            status,
            doses,
            record_sha256,
            closed,
            record_matches_chain,
            form,
            form_deadline,
            record: r,
        })
    }
}

#[derive(Default)]
struct RemsChain {
    closed: BTreeMap<String, (Seq, RemsSessionClosed)>,
    forms: BTreeMap<String, (Seq, RemsFormSubmitted)>,
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn pressure(b: &Option<BloodPressure>) -> String {
    b.map_or_else(
        || "not recorded".into(),
        |b| format!("{}/{} mmHg", b.systolic, b.diastolic),
    )
}

impl Clinic {
    /// A printable PDF of one session's Patient Monitoring Form data: the patient, the
    /// treatment (doses, lot), the monitoring and its observations, the form's status, and
    /// whether the record still matches its digest in the chain. Not signed: the chain's
    /// digest is what shows the record unaltered.
    pub async fn rems_form_pdf(&self, s: &Session, id: &str) -> ClinicResult<Vec<u8>> {
        use custody_report::layout::{Layout, Paper, col};
        let v = self.rems_session(s, id).await?;
        let head = self.store.head(s.ledger).await?;
        let zone = &self.settings.time_zone;
        let paper = self
            .settings
            .paper
            .unwrap_or_else(|| Paper::for_address(&head.registrant.address.to_string()));
        let title = "Spravato REMS: Patient Monitoring Form data";
        let mut l = Layout::new(title, &head.registrant.name.to_string(), paper)
            .ok_or_else(|| ClinicError::internal("the embedded fonts cannot be read"))?;
        let r = &v.record;
        l.title(title);
        l.paragraph(&format!(
            "{} — session {}. Times in {}. Printed from the session record kept outside the chain.",
            head.registrant.name,
            r.session,
            zone.name()
        ));
        let patient = match self.store.patient(s.ledger, &r.patient).await? {
            Some(p) => format!(
                "{} (MRN {}, born {}){}",
                p.name,
                p.mrn,
                p.birth_date,
                p.rems.map_or_else(String::new, |e| format!(
                    ", REMS patient id {} enrolled {}",
                    e.patient_id, e.enrolled_on
                ))
            ),
            None => format!("{} (record erased)", r.patient.masked()),
        };
        l.heading("Patient and treatment");
        let total: u64 = v.doses.iter().map(|d| d.amount.micrograms().get()).sum();
        let lots: std::collections::BTreeSet<&str> =
            v.doses.iter().map(|d| d.lot.as_str()).collect();
        l.pairs(&[
            ("Patient", patient),
            ("First treatment", yes(r.first_treatment)),
            ("Treatment date", zone.day_of(r.started_at).to_string()),
            (
                "Dose",
                format!(
                    "{} mg ({} device(s))",
                    custody_ledger::types::quantity::thousandths(total),
                    v.doses.len()
                ),
            ),
            (
                "Lot number",
                lots.into_iter().collect::<Vec<_>>().join(", "),
            ),
            (
                "Concomitant medicines",
                if r.concomitant.is_empty() {
                    "none".into()
                } else {
                    r.concomitant.join(", ").replace('_', " ")
                },
            ),
            (
                "Monitoring clinician",
                r.clinician.clone().unwrap_or_default(),
            ),
            ("Setting", r.setting.clone().unwrap_or_default()),
        ]);
        l.table(&[
            col("Dose entry", 1.0),
            col("Given", 2.0),
            col("Product", 3.0),
            col("Lot", 1.2),
            col("Container", 1.4),
            col("Amount", 1.6),
        ]);
        for d in &v.doses {
            l.row(&[
                d.seq.to_string(),
                zone.show(d.given_at),
                d.product.clone(),
                d.lot.clone(),
                d.container.to_string(),
                super::mg_and_base(&d.amount),
            ]);
        }
        l.end_table();
        l.heading("Monitoring");
        l.pairs(&[
            ("First device", zone.show(r.started_at)),
            (
                "Discharged",
                v.closed
                    .as_ref()
                    .map_or_else(|| "not yet".into(), |(_, c)| zone.show(c.discharged_at)),
            ),
            (
                "Minutes, first device to end of monitoring",
                v.monitored_minutes.to_string(),
            ),
            ("Blood pressure before dosing", pressure(&r.bp_before)),
            ("Blood pressure at about 40 minutes", pressure(&r.bp_40)),
            ("Blood pressure before discharge", pressure(&r.bp_discharge)),
            ("Pulse oximetry", yes(r.pulse_oximetry)),
            ("Sedation resolved", yes(r.sedation_resolved)),
            ("Dissociation resolved", yes(r.dissociation_resolved)),
            (
                "Respiratory depression resolved",
                yes(r.respiratory_depression_resolved),
            ),
            (
                "Adverse events",
                r.adverse_events.clone().unwrap_or_else(|| "none".into()),
            ),
        ]);
        l.heading("Form and record");
        l.pairs(&[
            (
                "Monitoring form",
                match (&v.form, v.form_deadline) {
                    (Some((_, f)), Some(d)) => {
                        format!("{} — confirmation {}", d.describe(), f.confirmation)
                    }
                    (_, Some(d)) => d.describe(),
                    _ => "due 7 days after discharge".into(),
                },
            ),
            ("Record SHA-256", v.record_sha256.to_hex()),
            (
                "Matches the chain",
                match (&v.closed, v.record_matches_chain) {
                    (Some((seq, _)), Some(true)) => format!("yes (entry {seq})"),
                    (Some((seq, _)), _) => {
                        format!("NO: the record differs from the digest entry {seq} holds")
                    }
                    _ => "not yet closed".into(),
                },
            ),
        ]);
        custody_report::plain_pdf(l, &format!("REMS session {}", r.session))
            .map_err(ClinicError::internal)
    }
}
