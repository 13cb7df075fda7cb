//! Stock pages: the containers, one container with its forms (open, give a dose, waste),
//! the signature dialog that states what is signed and asks each signer's password, and the
//! awaiting-witness queue. Each act goes through the same service as the JSON API.
//!
//! A form is sent twice: first to review (the server checks every field and states what
//! will be signed, in words, with the mL it computed), then with the passwords to sign.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use custody_ledger::types::quantity::thousandths;
use custody_ledger::*;
use serde::Deserialize;

use super::forms::{DonePage, SignPage, Signer, done};
use super::pages::{Me, SignedIn, check_csrf, failure, render};
use crate::auth::Auth;
use crate::ceremony::{WitnessBody, amount_of, everything_in};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Path};
use crate::routes::stock::{
    AdministerRequest, PrescriberBody, default_beyond_use_of, give, open_container,
};
use crate::routes::waste::{WasteRequest, Wasted, countersign, discard};
use crate::state::AppState;

const ROUTES: [&str; 5] = ["IV", "IM", "intranasal", "oral", "sublingual"];

struct Row {
    id: String,
    product: String,
    lot: String,
    location: String,
    status: String,
    left: String,
}

#[derive(Template)]
#[template(path = "containers.html")]
struct ContainersPage {
    me: Option<Me>,
    rows: Vec<Row>,
    all: bool,
}

fn left(c: &custody_store::ContainerInfo) -> String {
    match c.product.strength {
        Strength::Solution { .. } => Microliters::new(c.remaining).to_string(),
        Strength::Units { .. } => format!("{} units", c.remaining),
    }
}

#[derive(Deserialize)]
struct ContainersQuery {
    all: Option<String>,
}

async fn containers(
    State(state): State<AppState>,
    crate::extract::Query(q): crate::extract::Query<ContainersQuery>,
    SignedIn(auth): SignedIn,
) -> Response {
    // Held containers by default; every one ever received (emptied, gone) when asked.
    let all = q.all.is_some_and(|a| a == "1");
    let rows = match state.store.containers(auth.ledger, !all).await {
        Ok(v) => v,
        Err(e) => return super::pages::refuse(&auth, e.into()),
    };
    let rows = rows
        .iter()
        .map(|c| Row {
            id: c.id.to_string(),
            product: c.product.name.to_string(),
            lot: c.lot.clone(),
            location: c.location.clone(),
            status: c.status.clone(),
            left: left(c),
        })
        .collect();
    render(
        &ContainersPage {
            me: Some((&auth).into()),
            rows,
            all,
        },
        StatusCode::OK,
    )
}

struct View {
    id: String,
    product: String,
    lot: String,
    location: String,
    status: String,
    left: String,
    beyond_use: Option<String>,
    ug_per_ml: Option<u64>,
    concentration: String,
}

#[derive(Default, Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    prescriber: String,
    #[serde(default)]
    prescriber_dea: String,
    #[serde(default)]
    dose_mg: String,
    #[serde(default)]
    route: String,
    /// When the dose was given, as a `datetime-local` input sends it, in UTC.
    #[serde(default)]
    given_at: String,
    #[serde(default)]
    amount_mg: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    witness: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    witness_password: String,
}

#[derive(Default)]
struct FieldErrors {
    patient: Option<String>,
    prescriber_dea: Option<String>,
    dose_mg: Option<String>,
    given_at: Option<String>,
    amount_mg: Option<String>,
    witness: Option<String>,
}

#[derive(Template)]
#[template(path = "container.html")]
struct ContainerPage {
    me: Option<Me>,
    csrf: String,
    c: View,
    form: ActForm,
    field_errors: FieldErrors,
    error: Option<String>,
    routes: [&'static str; 5],
    /// Pharmacists and nurses get the forms; everyone sees the history.
    clinical: bool,
    history: super::forms::Table,
    /// The patient register, to pick from: MRN and "name, born …".
    patients: Vec<(String, String)>,
}

/// The patient register as choices for the MRN field (clinical staff only see it).
async fn patient_choices(state: &AppState, ledger: LedgerId) -> ApiResult<Vec<(String, String)>> {
    let mut ps: Vec<(String, String)> = state
        .store
        .patients(ledger)
        .await?
        .into_iter()
        .map(|p| (p.mrn, format!("{}, born {}", p.name, p.birth_date)))
        .collect();
    ps.sort();
    Ok(ps)
}

/// The patient as the signature names them: the MRN, and the register's name when it has
/// them (a dose for someone not in the register can still be charted, and says so).
pub(crate) async fn patient_said(
    state: &AppState,
    ledger: LedgerId,
    mrn: &str,
) -> ApiResult<String> {
    let secret = state.store.patient_secret(ledger).await?;
    Ok(
        match state
            .store
            .patient(ledger, &PatientRef::commit(&secret, mrn))
            .await?
        {
            Some(p) => format!("{mrn} ({}, born {})", p.name, p.birth_date),
            None => format!("{mrn} (not in the patient register)"),
        },
    )
}

async fn load(
    state: &AppState,
    ledger: LedgerId,
    id: &str,
) -> ApiResult<custody_store::ContainerInfo> {
    let c: ContainerId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no container {id:?}")))?;
    state
        .store
        .container(ledger, &c)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no container {c} in this ledger")))
}

fn view(c: &custody_store::ContainerInfo) -> View {
    let (ug_per_ml, concentration) = match c.product.strength {
        Strength::Solution { per_ml, .. } => (
            Some(per_ml.get()),
            format!("{} mg/mL", thousandths(per_ml.get())),
        ),
        Strength::Units { per_unit, .. } => {
            (None, format!("{} mg per unit", thousandths(per_unit.get())))
        }
    };
    View {
        id: c.id.to_string(),
        product: c.product.name.to_string(),
        lot: c.lot.clone(),
        location: c.location.clone(),
        status: c.status.clone(),
        left: left(c),
        beyond_use: c.beyond_use.map(|d| d.to_string()),
        ug_per_ml,
        concentration,
    }
}

#[allow(clippy::too_many_arguments)]
async fn container_page(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: ActForm,
    field_errors: FieldErrors,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let c = match load(state, auth.ledger, id).await {
        Ok(c) => c,
        Err(e) => return super::pages::refuse(auth, e),
    };
    let rows = match (
        state.store.container_history(auth.ledger, &c.id).await,
        super::audit::names(state, auth.ledger).await,
    ) {
        (Ok(h), Ok(names)) => super::audit::entry_rows(&h, &names),
        (Err(e), _) => Err(e.into()),
        (_, Err(e)) => Err(e),
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return super::pages::refuse(auth, e),
    };
    let me: Me = auth.into();
    let patients = if me.clinical {
        match patient_choices(state, auth.ledger).await {
            Ok(p) => p,
            Err(e) => return super::pages::refuse(auth, e),
        }
    } else {
        Vec::new()
    };
    render(
        &ContainerPage {
            patients,
            clinical: me.clinical,
            me: Some(me),
            csrf: auth.csrf(),
            c: view(&c),
            form,
            field_errors,
            error,
            routes: ROUTES,
            history: super::forms::Table {
                caption: format!("Everything recorded about container {}", c.id),
                head: super::audit::entry_head(),
                rows,
                empty: "Nothing yet.".into(),
            },
        },
        status,
    )
}

async fn container(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedIn(auth): SignedIn,
) -> Response {
    let form = ActForm {
        route: "IV".into(),
        given_at: now_minute(),
        ..Default::default()
    };
    container_page(
        &state,
        &auth,
        &id,
        form,
        FieldErrors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// The amount as people say it: "35 mg (3.5 mL)".
pub(crate) fn said(a: &Amount) -> String {
    match a {
        Amount::Volume { ul, ug } => format!("{} mg ({ul})", thousandths(ug.get())),
        Amount::Units { units, ug } => {
            format!("{} mg ({} units)", thousandths(ug.get()), units.get())
        }
    }
}

/// Now, to the minute, as a `datetime-local` input shows it (UTC).
fn now_minute() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, read as UTC) or an RFC 3339 time.
fn utc_minute(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("Enter the time the dose was given.".into());
    }
    let full = match s.len() {
        16 => format!("{s}:00Z"),
        19 => format!("{s}Z"),
        _ => s.to_string(),
    };
    full.parse::<Timestamp>()
        .map_err(|e| super::forms::sentence(&e.to_string()))
}

async fn administer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Client(client): Client,
    SignedIn(auth): SignedIn,
    Form(f): Form<ActForm>,
) -> Response {
    if let Some(r) = check_csrf(&auth, &f.csrf) {
        return r;
    }
    if let Err(e) = auth.require(auth.ledger, &[Role::Pharmacist, Role::Nurse]) {
        return failure(e);
    }
    // Review: every field checked, each error beside its field, what was typed kept.
    let mut errs = FieldErrors::default();
    if f.patient.trim().is_empty() {
        errs.patient = Some("Enter the patient's MRN.".into());
    }
    if let Err(e) = f.prescriber_dea.parse::<DeaNumber>() {
        errs.prescriber_dea = Some(e.to_string());
    }
    let given_at = match utc_minute(&f.given_at) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.given_at = Some(e);
            None
        }
    };
    let amount = match load(&state, auth.ledger, &id).await {
        Ok(c) => match amount_of(&state, auth.ledger, &c.id, &f.dose_mg).await {
            Ok(a) => Some((a, c)),
            Err(e) => {
                errs.dose_mg = Some(e.message);
                None
            }
        },
        Err(e) => return failure(e),
    };
    let fields_ok = errs.patient.is_none() && errs.prescriber_dea.is_none();
    let (Some((amount, c)), Some(given_at), true) = (amount, given_at, fields_ok) else {
        return container_page(
            &state,
            &auth,
            &id,
            f,
            errs,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let patient = match patient_said(&state, auth.ledger, f.patient.trim()).await {
        Ok(p) => p,
        Err(e) => return failure(e),
    };
    let statement = format!(
        "I, {}, gave {} of {} {} at {} to patient {patient} from container {}, as ordered by {}.",
        auth.printed_name,
        said(&amount),
        c.product.name,
        f.route,
        given_at,
        c.id,
        f.prescriber
    );
    if f.confirm != "yes" {
        return sign_page(
            &auth,
            &id,
            "Sign the dose",
            "administer",
            &f,
            vec![signer(&auth, "authored", statement)],
            None,
        );
    }
    let req = AdministerRequest {
        password: f.password.clone(),
        patient: f.patient.clone(),
        prescriber: PrescriberBody {
            name: f.prescriber.clone(),
            dea: f.prescriber_dea.clone(),
        },
        dose_mg: f.dose_mg.clone(),
        route: f.route.clone(),
        given_at: Some(given_at.to_string()),
    };
    match give(&state, auth.ledger, &auth, &client, &id, &req).await {
        Ok(r) => done(
            &auth,
            "Dose recorded",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Err(e) => sign_page(
            &auth,
            &id,
            "Sign the dose",
            "administer",
            &f,
            vec![signer(&auth, "authored", statement)],
            Some(e),
        ),
    }
}

fn signer(auth: &Auth, meaning: &str, statement: String) -> Signer {
    Signer::me(auth, meaning, statement)
}

fn sign_page(
    auth: &Auth,
    id: &str,
    title: &str,
    act: &str,
    f: &ActForm,
    signers: Vec<Signer>,
    error: Option<ApiError>,
) -> Response {
    let hidden = [
        ("patient", &f.patient),
        ("prescriber", &f.prescriber),
        ("prescriber_dea", &f.prescriber_dea),
        ("dose_mg", &f.dose_mg),
        ("route", &f.route),
        ("given_at", &f.given_at),
        ("amount_mg", &f.amount_mg),
        ("reason", &f.reason),
        ("witness", &f.witness),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    render(
        &SignPage {
            me: Some(auth.into()),
            csrf: auth.csrf(),
            title: title.into(),
            error: error.map(|e| e.message),
            action: format!("/ui/containers/{id}/{act}"),
            back: format!("/ui/containers/{id}"),
            editable: false,
            hidden,
            secrets: Vec::new(),
            signers,
        },
        status,
    )
}

async fn waste(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Client(client): Client,
    SignedIn(auth): SignedIn,
    Form(f): Form<ActForm>,
) -> Response {
    if let Some(r) = check_csrf(&auth, &f.csrf) {
        return r;
    }
    if let Err(e) = auth.require(auth.ledger, &[Role::Pharmacist, Role::Nurse]) {
        return failure(e);
    }
    let c = match load(&state, auth.ledger, &id).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let mut errs = FieldErrors::default();
    let amount = if f.amount_mg.trim().is_empty() {
        everything_in(&state, auth.ledger, &c.id).await
    } else {
        amount_of(&state, auth.ledger, &c.id, &f.amount_mg).await
    };
    let amount = match amount {
        Ok(a) => Some(a),
        Err(e) => {
            errs.amount_mg = Some(e.message);
            None
        }
    };
    let witness = if f.witness.trim().is_empty() {
        None
    } else {
        let w = f.witness.trim().parse::<UserId>().ok();
        let info = match &w {
            Some(u) => state.store.user(auth.ledger, u).await.ok().flatten(),
            None => None,
        };
        match info.filter(|i| i.active) {
            Some(i) if i.user == auth.user => {
                errs.witness = Some("You cannot witness your own waste: ask a colleague.".into());
                None
            }
            Some(i) => Some(i),
            None => {
                errs.witness = Some(format!(
                    "No active user {:?} in this clinic.",
                    f.witness.trim()
                ));
                None
            }
        }
    };
    let Some(amount) = amount.filter(|_| errs.amount_mg.is_none() && errs.witness.is_none()) else {
        return container_page(
            &state,
            &auth,
            &id,
            f,
            errs,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let what = format!(
        "{} of {} from container {}",
        said(&amount),
        c.product.name,
        c.id
    );
    let mut signers = vec![signer(
        &auth,
        "authored",
        format!(
            "I, {}, wasted {what}: {}.",
            auth.printed_name,
            f.reason.trim()
        ),
    )];
    if let Some(w) = &witness {
        signers.push(Signer {
            meaning: "witnessed".into(),
            statement: format!("I, {}, witnessed the waste of {what}.", w.printed_name),
            printed_name: w.printed_name.clone(),
            field: "witness_password".into(),
        });
    }
    if f.confirm != "yes" {
        return sign_page(&auth, &id, "Sign the waste", "waste", &f, signers, None);
    }
    let req = WasteRequest {
        password: f.password.clone(),
        amount_mg: Some(match amount {
            Amount::Volume { ug, .. } | Amount::Units { ug, .. } => thousandths(ug.get()),
        }),
        reason: f.reason.clone(),
        witness: witness.as_ref().map(|w| WitnessBody {
            username: w.user.to_string(),
            password: f.witness_password.clone(),
        }),
    };
    match discard(&state, auth.ledger, &auth, &client, &id, &req).await {
        Ok(Wasted::Recorded(r)) => done(
            &auth,
            "Waste recorded",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Ok(Wasted::Queued(p)) => render(
            &DonePage {
                me: Some((&auth).into()),
                title: "Waste sent to the awaiting-witness queue".into(),
                summary: format!(
                    "Signed by you; not in the ledger until a colleague witnesses it (by {}).",
                    p.witness_by
                ),
                details: Vec::new(),
                signatures: Vec::new(),
                next: "/ui/wastes".into(),
            },
            StatusCode::OK,
        ),
        Err(e) => sign_page(&auth, &id, "Sign the waste", "waste", &f, signers, Some(e)),
    }
}

struct QueueRow {
    id: String,
    queued_at: String,
    author: String,
    container: String,
    amount: String,
    witness_by: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<QueueRow>,
}

async fn queue(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Response {
    let mut rows = Vec::new();
    let pending = match state.store.pending_entries(auth.ledger).await {
        Ok(p) => p,
        Err(e) => return failure(e.into()),
    };
    for p in pending {
        let v = match crate::routes::waste::pending_view(&state, auth.ledger, &p).await {
            Ok(v) => v,
            Err(e) => return failure(e),
        };
        let amount = match &p.draft.body.payload {
            Payload::Waste(w) => said(&w.amount),
            _ => String::new(),
        };
        rows.push(QueueRow {
            id: v.id,
            queued_at: v.queued_at,
            author: v.author_name,
            container: v.container,
            amount,
            witness_by: v.witness_by,
        });
    }
    render(
        &QueuePage {
            me: Some((&auth).into()),
            csrf: auth.csrf(),
            rows,
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
struct WitnessForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    password: String,
}

async fn witness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Client(client): Client,
    SignedIn(auth): SignedIn,
    Form(f): Form<WitnessForm>,
) -> Response {
    if let Some(r) = check_csrf(&auth, &f.csrf) {
        return r;
    }
    let pending = match id.parse::<EntryId>() {
        Ok(eid) => state
            .store
            .pending_entry(auth.ledger, eid)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    let Some(p) = pending else {
        return failure(ApiError::not_found(
            "no waste with that id is waiting for a witness",
        ));
    };
    let (what, author) = match &p.draft.body.payload {
        Payload::Waste(w) => (
            format!("{} from container {}", said(&w.amount), w.container),
            p.author.to_string(),
        ),
        _ => (String::new(), p.author.to_string()),
    };
    let signers = [signer(
        &auth,
        "witnessed",
        format!(
            "I, {}, witnessed the waste of {what}, recorded by {author}.",
            auth.printed_name
        ),
    )];
    let page = |error: Option<ApiError>| {
        let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
        render(
            &SignPage {
                me: Some((&auth).into()),
                csrf: auth.csrf(),
                title: "Witness the waste".into(),
                error: error.map(|e| e.message),
                action: format!("/ui/wastes/{id}/witness"),
                back: "/ui/wastes".into(),
                editable: false,
                hidden: Vec::new(),
                secrets: Vec::new(),
                signers: signers
                    .iter()
                    .map(|s| Signer {
                        meaning: s.meaning.clone(),
                        statement: s.statement.clone(),
                        printed_name: s.printed_name.clone(),
                        field: s.field.clone(),
                    })
                    .collect(),
            },
            status,
        )
    };
    if f.confirm != "yes" {
        return page(None);
    }
    match countersign(&state, auth.ledger, &auth, &client, &id, &f.password).await {
        Ok(r) => done(&auth, "Waste witnessed", &r, Vec::new(), "/ui/wastes"),
        Err(e) => page(Some(e)),
    }
}

#[derive(Deserialize)]
struct OpenForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    password: String,
}

async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Client(client): Client,
    SignedIn(auth): SignedIn,
    Form(f): Form<OpenForm>,
) -> Response {
    if let Some(r) = check_csrf(&auth, &f.csrf) {
        return r;
    }
    let c = match load(&state, auth.ledger, &id).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let bud = match default_beyond_use_of(&state, auth.ledger, &c.id).await {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let signers = vec![signer(
        &auth,
        "authored",
        format!(
            "I, {}, opened container {} ({} lot {}); beyond use {bud}.",
            auth.printed_name, c.id, c.product.name, c.lot
        ),
    )];
    let form = ActForm::default();
    if f.confirm != "yes" {
        return sign_page(&auth, &id, "Sign the opening", "open", &form, signers, None);
    }
    let result = open_container(&state, auth.ledger, &auth, &client, c.id, bud, &f.password).await;
    match result {
        Ok(r) => done(
            &auth,
            "Container opened",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Err(e) => sign_page(
            &auth,
            &id,
            "Sign the opening",
            "open",
            &form,
            signers,
            Some(e),
        ),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/containers", get(containers))
        .route("/ui/containers/{id}", get(container))
        .route("/ui/containers/{id}/open", post(open))
        .route("/ui/containers/{id}/administer", post(administer))
        .route("/ui/containers/{id}/waste", post(waste))
        .route("/ui/wastes", get(queue))
        .route("/ui/wastes/{id}/witness", post(witness))
}
