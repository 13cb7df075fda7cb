//! The nurse's pages for Spravato REMS monitoring sessions: the list and the form that opens
//! one on a patient's Spravato doses (`/ui/rems`), and one session's page
//! (`/ui/rems/{session}`): its record and doses, the observations form while it is open, the
//! close (signed; refused before the monitoring minimum, with the minutes remaining) and the
//! Patient Monitoring Form's submission (signed).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use custody_clinic::Permission;
use custody_clinic::acts::{
    Ceremony, CloseRemsSession, OpenRemsSession, Origin, RemsObservations, RemsSessionView,
    RemsStatus, SubmitRemsForm, mg_and_base,
};
use custody_ledger::*;
use custody_store::{BloodPressure, CONCOMITANT_CLASSES};

use super::forms::{
    Errors, Field, FormBuilder, Posted, Signer, Submitted, Table, act_page, ceremony, link,
    status_of,
};
use super::kit::{OrRefuse, Page, SignedIn, allow};
use super::words::{when, zone};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

fn yes_no() -> Vec<(String, String)> {
    vec![("no".into(), "no".into()), ("yes".into(), "yes".into())]
}

fn said(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn bp(b: &Option<BloodPressure>) -> String {
    b.map_or_else(
        || "—".into(),
        |b| format!("{}/{} mmHg", b.systolic, b.diastolic),
    )
}

fn see_other(to: String) -> Page {
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
}

// ---- the list, and opening a session ----

async fn list_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    error: Option<String>,
    status: StatusCode,
) -> Page {
    let z = zone(state);
    let sessions = state
        .clinic
        .rems_sessions(auth, None)
        .await
        .or_refuse(auth)?;
    let table = Table {
        caption: "Spravato REMS sessions".into(),
        head: [
            "Session",
            "Patient",
            "First device",
            "Devices",
            "Status",
            "Monitoring form",
        ]
        .map(String::from)
        .to_vec(),
        rows: sessions
            .iter()
            .rev()
            .map(|v| {
                vec![
                    link(
                        v.record.session.clone(),
                        format!("/ui/rems/{}", v.record.session),
                    ),
                    v.mrn.clone().unwrap_or_else(|| "erased".into()).into(),
                    when(z, v.record.started_at).into(),
                    v.doses.len().to_string().into(),
                    v.status.name().replace('_', " ").into(),
                    v.form_deadline
                        .map_or_else(|| "after discharge".into(), |d| d.describe())
                        .into(),
                ]
            })
            .collect(),
        empty: "No REMS session yet.".into(),
    };
    let forms = if auth.may(Permission::Author(Kind::RemsSessionClosed)) {
        let mut f = FormBuilder::new(auth.csrf(), "/ui/rems", "Open the session", p, e)
            .field(Field::text("patient", "Patient (MRN)"))
            .field(
                Field::text("doses", "Dose entries")
                    .optional()
                    .hint("The entry numbers of the devices given, comma-separated; empty: the patient's Spravato doses of the last 12 hours."),
            )
            .field(Field::select("first_treatment", "First treatment", yes_no()))
            .field(Field::text("setting", "Healthcare setting"))
            .field(
                Field::text("clinician", "Monitoring clinician")
                    .optional()
                    .hint("Default: you."),
            )
            .build();
        f.error = error;
        vec![("Open a monitoring session".to_string(), f)]
    } else {
        Vec::new()
    };
    Ok(act_page(
        auth,
        "Spravato REMS sessions",
        "The patient is monitored at least two hours from the first device, and until sedation, dissociation and respiratory depression resolve; the Patient Monitoring Form goes to the REMS within 7 days.",
        Some(table),
        forms,
        status,
    ))
}

async fn list(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::ReadPatients)?;
    list_page(
        &state,
        &auth,
        &Posted::default(),
        &Errors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn open(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::RemsSessionClosed))?;
    let mut e = Errors::default();
    let mut doses = Vec::new();
    for d in p
        .get("doses")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        match d.parse::<u64>().ok().and_then(|n| Seq::new(n).ok()) {
            Some(s) => doses.push(s),
            None => e.add("doses", format!("{d:?} is not an entry number.")),
        }
    }
    if p.get("patient").trim().is_empty() {
        e.add("patient", "Enter the patient's MRN.");
    }
    if !e.is_empty() {
        return list_page(&state, auth, p, &e, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let cmd = OpenRemsSession {
        patient: p.get("patient").to_string(),
        doses,
        first_treatment: p.get("first_treatment") == "yes",
        clinician: Some(p.get("clinician").to_string()).filter(|c| !c.trim().is_empty()),
        setting: Some(p.get("setting").to_string()).filter(|c| !c.trim().is_empty()),
    };
    match state
        .clinic
        .open_rems_session(auth, cmd)
        .await
        .map_err(ApiError::from)
    {
        Ok(v) => see_other(format!("/ui/rems/{}", v.record.session)),
        Err(err) => {
            let mut e = Errors::default();
            let general = e.refusal(&["patient", "doses", "clinician", "setting"], &[], &err);
            list_page(&state, auth, p, &e, general, err.status).await
        }
    }
}

// ---- one session ----

fn record_table(state: &AppState, auth: &Auth, v: &RemsSessionView) -> Table {
    let z = zone(state);
    let r = &v.record;
    let mut rows: Vec<(String, String)> = vec![
        (
            "Patient".into(),
            v.mrn.clone().unwrap_or_else(|| "erased".into()),
        ),
        ("Status".into(), v.status.name().replace('_', " ")),
        ("First treatment".into(), said(r.first_treatment).into()),
        ("First device".into(), when(z, r.started_at)),
    ];
    for d in &v.doses {
        rows.push((
            format!("Dose entry {}", d.seq),
            format!(
                "{} {} lot {} (container {}) at {}",
                mg_and_base(&d.amount),
                d.product,
                d.lot,
                d.container,
                when(z, d.given_at)
            ),
        ));
    }
    rows.extend([
        ("Minutes monitored".into(), v.monitored_minutes.to_string()),
        ("Blood pressure before dosing".into(), bp(&r.bp_before)),
        ("Blood pressure at about 40 minutes".into(), bp(&r.bp_40)),
        (
            "Blood pressure before discharge".into(),
            bp(&r.bp_discharge),
        ),
        ("Pulse oximetry".into(), said(r.pulse_oximetry).into()),
        ("Sedation resolved".into(), said(r.sedation_resolved).into()),
        (
            "Dissociation resolved".into(),
            said(r.dissociation_resolved).into(),
        ),
        (
            "Respiratory depression resolved".into(),
            said(r.respiratory_depression_resolved).into(),
        ),
        (
            "Adverse events".into(),
            r.adverse_events.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "Concomitant medicines".into(),
            if r.concomitant.is_empty() {
                "none".into()
            } else {
                r.concomitant.join(", ").replace('_', " ")
            },
        ),
        (
            "Monitoring clinician".into(),
            r.clinician.clone().unwrap_or_default(),
        ),
        ("Setting".into(), r.setting.clone().unwrap_or_default()),
    ]);
    if let Some((seq, c)) = &v.closed {
        rows.push(("Discharged".into(), when(z, c.discharged_at)));
        rows.push((
            "Closed by entry".into(),
            format!(
                "{seq}: the record {} the SHA-256 in the chain",
                if v.record_matches_chain == Some(true) {
                    "matches"
                } else {
                    "DOES NOT MATCH"
                }
            ),
        ));
    }
    if let Some(d) = v.form_deadline {
        rows.push(("Monitoring form".into(), d.describe()));
    }
    if let Some((seq, f)) = &v.form {
        rows.push((
            "Form submitted".into(),
            format!(
                "{} confirmation {} (entry {seq})",
                f.submitted_on, f.confirmation
            ),
        ));
    }
    let mut rows: Vec<Vec<super::forms::Cell>> = rows
        .into_iter()
        .map(|(k, v)| vec![k.into(), v.into()])
        .collect();
    rows.push(vec![
        "Printable form data".into(),
        link(
            "PDF",
            format!(
                "/api/v1/ledgers/{}/rems/sessions/{}/form.pdf",
                auth.ledger, r.session
            ),
        ),
    ]);
    Table {
        caption: format!("REMS session {}", r.session),
        head: vec!["".into(), "".into()],
        rows,
        empty: String::new(),
    }
}

async fn session_page(
    state: &AppState,
    auth: &Auth,
    id: &str,
    (p, e, general): (&Posted, &Errors, Option<String>),
    status: StatusCode,
) -> Page {
    let v = state.clinic.rems_session(auth, id).await.or_refuse(auth)?;
    let mut forms = Vec::new();
    let acts = auth.may(Permission::Author(Kind::RemsSessionClosed));
    if acts && v.status == RemsStatus::Open {
        let r = &v.record;
        let bp_value = |b: &Option<BloodPressure>| {
            b.map_or_else(String::new, |b| format!("{}/{}", b.systolic, b.diastolic))
        };
        let flag = |b: bool| said(b).to_string();
        let f = FormBuilder::new(
            auth.csrf(),
            &format!("/ui/rems/{id}/observations"),
            "Save the observations",
            p,
            e,
        )
        .field(
            Field::text("bp_before", "Blood pressure before dosing")
                .optional()
                .placeholder("120/80")
                .value(bp_value(&r.bp_before)),
        )
        .field(
            Field::text("bp_40_min", "Blood pressure at about 40 minutes")
                .optional()
                .value(bp_value(&r.bp_40)),
        )
        .field(
            Field::text("bp_discharge", "Blood pressure before discharge")
                .optional()
                .value(bp_value(&r.bp_discharge)),
        )
        .field(
            Field::select("pulse_oximetry", "Pulse oximetry observed", yes_no())
                .value(flag(r.pulse_oximetry)),
        )
        .field(
            Field::select("sedation_resolved", "Sedation resolved", yes_no())
                .value(flag(r.sedation_resolved)),
        )
        .field(
            Field::select("dissociation_resolved", "Dissociation resolved", yes_no())
                .value(flag(r.dissociation_resolved)),
        )
        .field(
            Field::select(
                "respiratory_depression_resolved",
                "Respiratory depression resolved",
                yes_no(),
            )
            .value(flag(r.respiratory_depression_resolved)),
        )
        .field(
            Field::text("concomitant", "Concomitant medicine classes")
                .optional()
                .hint(format!(
                    "Comma-separated, of: {}.",
                    CONCOMITANT_CLASSES.join(", ")
                ))
                .value(r.concomitant.join(", ")),
        )
        .field(
            Field::textarea("adverse_events", "Adverse events")
                .optional()
                .value(r.adverse_events.clone().unwrap_or_default()),
        )
        .build();
        forms.push(("Observations".to_string(), f));
        let close = FormBuilder::new(
            auth.csrf(),
            &format!("/ui/rems/{id}/close"),
            "Review and sign…",
            p,
            e,
        )
        .field(
            Field::text("discharged_at", "Discharged at")
                .optional()
                .hint("Default: now. The session closes no sooner than the monitoring minimum from the first device."),
        )
        .build();
        forms.push((
            "Discharge the patient and close the session".to_string(),
            close,
        ));
    }
    if auth.may(Permission::Author(Kind::RemsFormSubmitted)) && v.status == RemsStatus::FormDue {
        let f = FormBuilder::new(
            auth.csrf(),
            &format!("/ui/rems/{id}/form"),
            "Review and sign…",
            p,
            e,
        )
        .field(Field::date("submitted_on", "Submitted on"))
        .field(Field::text("confirmation", "Confirmation number"))
        .build();
        forms.push(("Mark the Patient Monitoring Form submitted".to_string(), f));
    }
    let mut lead = format!(
        "{} · {} device(s) · {}",
        v.mrn.clone().unwrap_or_default(),
        v.doses.len(),
        v.status.name().replace('_', " ")
    );
    // A refusal no field holds is said first.
    if let Some(g) = general {
        lead = format!("{g} — {lead}");
    }
    Ok(act_page(
        auth,
        &format!("REMS session {id}"),
        &lead,
        Some(record_table(state, auth, &v)),
        forms,
        status,
    ))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::ReadPatients)?;
    session_page(
        &state,
        &auth,
        &id,
        (&Posted::default(), &Errors::default(), None),
        StatusCode::OK,
    )
    .await
}

fn parse_bp(e: &mut Errors, p: &Posted, field: &str) -> Option<BloodPressure> {
    let v = p.get(field).trim();
    if v.is_empty() {
        return None;
    }
    let parsed = v.split_once('/').and_then(|(s, d)| {
        Some(BloodPressure {
            systolic: s.trim().parse().ok()?,
            diastolic: d.trim().parse().ok()?,
        })
    });
    if parsed.is_none() {
        e.add(field, "Enter it as systolic/diastolic, e.g. 120/80.");
    }
    parsed
}

async fn observations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    sub: Submitted,
) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::RemsSessionClosed))?;
    let mut e = Errors::default();
    let o = RemsObservations {
        first_treatment: None,
        bp_before: parse_bp(&mut e, p, "bp_before"),
        bp_40: parse_bp(&mut e, p, "bp_40_min"),
        bp_discharge: parse_bp(&mut e, p, "bp_discharge"),
        pulse_oximetry: Some(p.get("pulse_oximetry") == "yes"),
        sedation_resolved: Some(p.get("sedation_resolved") == "yes"),
        dissociation_resolved: Some(p.get("dissociation_resolved") == "yes"),
        respiratory_depression_resolved: Some(p.get("respiratory_depression_resolved") == "yes"),
        adverse_events: Some(p.get("adverse_events").to_string()),
        concomitant: Some(
            p.get("concomitant")
                .split(',')
                .map(|c| c.trim().replace(' ', "_"))
                .filter(|c| !c.is_empty())
                .collect(),
        ),
        clinician: None,
        setting: None,
    };
    if !e.is_empty() {
        return session_page(
            &state,
            auth,
            &id,
            (p, &e, None),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match state
        .clinic
        .observe_rems_session(auth, &id, o)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => see_other(format!("/ui/rems/{id}")),
        Err(err) => {
            let mut e = Errors::default();
            let general = e.refusal(
                &[
                    "bp_before",
                    "bp_40_min",
                    "bp_discharge",
                    "concomitant",
                    "adverse_events",
                ],
                &[],
                &err,
            );
            session_page(&state, auth, &id, (p, &e, general), err.status).await
        }
    }
}

async fn close(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::RemsSessionClosed))?;
    let mut e = Errors::default();
    let z = zone(&state);
    let discharged_at = match p.get("discharged_at").trim() {
        "" => None,
        t => match z.parse_local(t) {
            Ok(t) => Some(t),
            Err(err) => {
                e.add("discharged_at", format!("{err}"));
                None
            }
        },
    };
    if !e.is_empty() || p.editing() {
        return session_page(&state, auth, &id, (p, &e, None), status_of(p)).await;
    }
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, record that the patient of REMS session {id} was monitored and discharged{}, as its record states.",
            auth.printed_name,
            discharged_at.map_or_else(String::new, |t| format!(" at {}", when(z, t)))
        ),
    )];
    let cmd = CloseRemsSession {
        session: id.clone(),
        discharged_at,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        let general = e.refusal(
            &["discharged_at"],
            &[
                ("rems_monitoring_incomplete", "discharged_at"),
                ("rems_record_incomplete", "discharged_at"),
            ],
            &err,
        );
        session_page(&state, auth, &id, (p, &e, general), err.status).await
    };
    let action = format!("/ui/rems/{id}/close");
    let next = format!("/ui/rems/{id}");
    let run =
        async |c: Ceremony, o: Origin| state.clinic.close_rems_session(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the close of the session",
        &action,
        Vec::new(),
        signers,
        &next,
        back,
        run,
    )
    .await)
}

async fn form(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::RemsFormSubmitted))?;
    let mut e = Errors::default();
    let submitted_on: Option<Day> = e.parse(p, "submitted_on", "Enter the day it was submitted.");
    let confirmation: Option<Text> =
        e.parse(p, "confirmation", "Enter the REMS confirmation number.");
    let (Some(submitted_on), Some(confirmation), true, false) =
        (submitted_on, confirmation, e.is_empty(), p.editing())
    else {
        return session_page(&state, auth, &id, (p, &e, None), status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, record that the Patient Monitoring Form of REMS session {id} was submitted on {submitted_on}, confirmation {confirmation}.",
            auth.printed_name
        ),
    )];
    let cmd = SubmitRemsForm {
        session: id.clone(),
        submitted_on,
        confirmation,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        let general = e.refusal(
            &["submitted_on", "confirmation"],
            &[
                ("rems_form_already_submitted", "confirmation"),
                ("rems_session_open", "confirmation"),
            ],
            &err,
        );
        session_page(&state, auth, &id, (p, &e, general), err.status).await
    };
    let action = format!("/ui/rems/{id}/form");
    let next = format!("/ui/rems/{id}");
    let run = async |c: Ceremony, o: Origin| state.clinic.submit_rems_form(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the form's submission",
        &action,
        Vec::new(),
        signers,
        &next,
        back,
        run,
    )
    .await)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/rems", get(list).post(open))
        .route("/ui/rems/{session}", get(one))
        .route("/ui/rems/{session}/observations", post(observations))
        .route("/ui/rems/{session}/close", post(close))
        .route("/ui/rems/{session}/form", post(form))
}
