//! Stock pages: the containers, one container with its forms (open, give a dose, waste),
//! the signature dialog that states what is signed and asks each signer's password, and the
//! awaiting-witness queue. Each act goes through the same service as the JSON API.
//!
//! A form is sent twice: first to review (the server checks every field and states what
//! will be signed, in words, with the mL it computed), then with the passwords to sign.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use custody_ledger::types::quantity::thousandths;
use custody_ledger::*;
use serde::Deserialize;

use super::forms::{
    DonePage, Errors, Posted, Signer, Submitted, Table, ceremony, done, sentence, status_of,
};
use super::pages::{Me, SignedIn, allow, refuse, render};
use super::pharmacy::witness_at_screen;
use crate::auth::Auth;
use crate::ceremony::{WitnessBody, amount_of, everything_in};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::routes::stock::{
    AdministerRequest, CLINICAL, PrescriberBody, default_beyond_use_of, give, open_container,
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

/// An amount in a product's base unit as people read it: "14.8 mL" or "3 units".
pub(crate) fn quantity(strength: &Strength, base: u64) -> String {
    match strength {
        Strength::Solution { .. } => Microliters::new(base).to_string(),
        Strength::Units { .. } => format!("{base} units"),
    }
}

/// What a container holds now.
pub(crate) fn left(c: &custody_store::ContainerInfo) -> String {
    quantity(&c.product.strength, c.remaining)
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
        Err(e) => return refuse(&auth, e.into()),
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

#[derive(Template)]
#[template(path = "container.html")]
struct ContainerPage<'a> {
    me: Option<Me>,
    csrf: String,
    c: View,
    /// What was typed (both forms read it; the dose form's route and time have defaults).
    form: &'a Posted,
    errors: &'a Errors,
    routes: [&'static str; 5],
    /// Pharmacists and nurses get the forms; everyone sees the history.
    clinical: bool,
    history: Table,
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

/// The container with its forms, filled with what was typed and each error beside its field.
async fn container_page(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: &Posted,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let c = match load(state, auth.ledger, id).await {
        Ok(c) => c,
        Err(e) => return refuse(auth, e),
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
        Err(e) => return refuse(auth, e),
    };
    let me: Me = auth.into();
    let patients = if me.clinical {
        match patient_choices(state, auth.ledger).await {
            Ok(p) => p,
            Err(e) => return refuse(auth, e),
        }
    } else {
        Vec::new()
    };
    let mut form = form.clone();
    if form.get("route").is_empty() {
        form.set("route", "IV");
    }
    if form.get("given_at").is_empty() {
        form.set("given_at", now_minute());
    }
    render(
        &ContainerPage {
            patients,
            clinical: me.clinical,
            me: Some(me),
            csrf: auth.csrf(),
            c: view(&c),
            form: &form,
            errors,
            routes: ROUTES,
            history: Table {
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
    let blank = (Posted::default(), Errors::default());
    container_page(&state, &auth, &id, &blank.0, &blank.1, StatusCode::OK).await
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
fn utc_minute(s: &str) -> Result<Timestamp, custody_ledger::types::ids::ParseError> {
    match s.len() {
        16 => format!("{s}:00Z").parse(),
        19 => format!("{s}Z").parse(),
        _ => s.parse(),
    }
}

async fn administer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, CLINICAL) {
        return r;
    }
    let c = match load(&state, auth.ledger, &id).await {
        Ok(c) => c,
        Err(e) => return refuse(&auth, e),
    };
    // Review: every field checked, each error beside its field, what was typed kept.
    let mut e = Errors::default();
    let patient = e.text(&p, "patient", "Enter the patient's MRN.");
    let prescriber = e.text(&p, "prescriber", "Enter who ordered the dose.");
    let dea: Option<DeaNumber> =
        e.parse(&p, "prescriber_dea", "Enter the prescriber's DEA number.");
    let given_at = e.parse_with(
        &p,
        "given_at",
        "Enter the time the dose was given.",
        utc_minute,
    );
    let amount = match amount_of(&state, auth.ledger, &c.id, p.get("dose_mg")).await {
        Ok(a) => Some(a),
        Err(err) => {
            e.add("dose_mg", sentence(&err.message));
            None
        }
    };
    let (Some(patient), Some(prescriber), Some(dea), Some(given_at), Some(amount), false) =
        (patient, prescriber, dea, given_at, amount, p.editing())
    else {
        return container_page(&state, &auth, &id, &p, &e, status_of(&p)).await;
    };
    let named = match patient_said(&state, auth.ledger, &patient).await {
        Ok(n) => n,
        Err(err) => return refuse(&auth, err),
    };
    let statement = format!(
        "I, {}, gave {} of {} {} at {given_at} to patient {named} from container {}, as ordered by {prescriber}.",
        auth.printed_name,
        said(&amount),
        c.product.name,
        p.get("route"),
        c.id,
    );
    let req = AdministerRequest {
        password: p.secret("password"),
        patient,
        prescriber: PrescriberBody {
            name: prescriber,
            dea: dea.to_string(),
        },
        dose_mg: p.get("dose_mg").to_string(),
        route: p.get("route").to_string(),
        given_at: Some(given_at.to_string()),
    };
    let action = format!("/ui/containers/{id}/administer");
    let signers = vec![Signer::me(&auth, "authored", statement)];
    let run = async || give(&state, auth.ledger, &auth, &client, &id, &req).await;
    match ceremony(
        &auth,
        "Sign the dose",
        &action,
        &p,
        Vec::new(),
        signers,
        run,
    )
    .await
    {
        Ok(r) => done(
            &auth,
            "Dose recorded",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Err(page) => page,
    }
}

async fn waste(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, CLINICAL) {
        return r;
    }
    let c = match load(&state, auth.ledger, &id).await {
        Ok(c) => c,
        Err(e) => return refuse(&auth, e),
    };
    let mut e = Errors::default();
    let amount = match p.get("amount_mg") {
        "" => everything_in(&state, auth.ledger, &c.id).await,
        mg => amount_of(&state, auth.ledger, &c.id, mg).await,
    };
    let amount = amount
        .map_err(|err| e.add("amount_mg", sentence(&err.message)))
        .ok();
    let reason: Option<Text> = e.parse(&p, "reason", "Say why it is wasted.");
    // No witness named: the waste goes to the awaiting-witness queue.
    let witness = if p.get("witness").is_empty() {
        None
    } else {
        witness_at_screen(&state, &auth, &p, &mut e, "witness").await
    };
    let (Some(amount), Some(reason), true, false) = (amount, reason, e.is_empty(), p.editing())
    else {
        return container_page(&state, &auth, &id, &p, &e, status_of(&p)).await;
    };
    let what = format!(
        "{} of {} from container {}",
        said(&amount),
        c.product.name,
        c.id
    );
    let mut signers = vec![Signer::me(
        &auth,
        "authored",
        format!("I, {}, wasted {what}: {reason}.", auth.printed_name),
    )];
    if let Some(w) = &witness {
        signers.push(Signer::witness(
            &w.printed_name,
            "witness_password",
            format!("I, {}, witnessed the waste of {what}.", w.printed_name),
        ));
    }
    let req = WasteRequest {
        password: p.secret("password"),
        amount_mg: Some(match amount {
            Amount::Volume { ug, .. } | Amount::Units { ug, .. } => thousandths(ug.get()),
        }),
        reason: reason.to_string(),
        witness: witness.as_ref().map(|w| WitnessBody {
            username: w.user.to_string(),
            password: p.secret("witness_password"),
        }),
    };
    let action = format!("/ui/containers/{id}/waste");
    let run = async || discard(&state, auth.ledger, &auth, &client, &id, &req).await;
    match ceremony(
        &auth,
        "Sign the waste",
        &action,
        &p,
        Vec::new(),
        signers,
        run,
    )
    .await
    {
        Ok(Wasted::Recorded(r)) => done(
            &auth,
            "Waste recorded",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Ok(Wasted::Queued(q)) => render(
            &DonePage {
                me: Some((&auth).into()),
                title: "Waste sent to the awaiting-witness queue".into(),
                summary: format!(
                    "Signed by you; not in the ledger until a colleague witnesses it (by {}).",
                    q.witness_by
                ),
                details: Vec::new(),
                signatures: Vec::new(),
                next: "/ui/wastes".into(),
            },
            StatusCode::OK,
        ),
        Err(page) => page,
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
    queue_page(&state, &auth).await
}

async fn queue_page(state: &AppState, auth: &Auth) -> Response {
    let mut rows = Vec::new();
    let pending = match state.store.pending_entries(auth.ledger).await {
        Ok(p) => p,
        Err(e) => return refuse(auth, e.into()),
    };
    for p in pending {
        let v = match crate::routes::waste::pending_view(state, auth.ledger, &p).await {
            Ok(v) => v,
            Err(e) => return refuse(auth, e),
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
            me: Some(auth.into()),
            csrf: auth.csrf(),
            rows,
        },
        StatusCode::OK,
    )
}

async fn witness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if p.editing() {
        return queue_page(&state, &auth).await;
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
    let Some(pending) = pending else {
        return refuse(
            &auth,
            ApiError::not_found("no waste with that id is waiting for a witness"),
        );
    };
    let what = match &pending.draft.body.payload {
        Payload::Waste(w) => format!("{} from container {}", said(&w.amount), w.container),
        _ => String::new(),
    };
    let signers = vec![Signer::me(
        &auth,
        "witnessed",
        format!(
            "I, {}, witnessed the waste of {what}, recorded by {}.",
            auth.printed_name, pending.author
        ),
    )];
    let action = format!("/ui/wastes/{id}/witness");
    let password = p.secret("password");
    let run = async || countersign(&state, auth.ledger, &auth, &client, &id, &password).await;
    match ceremony(
        &auth,
        "Witness the waste",
        &action,
        &p,
        Vec::new(),
        signers,
        run,
    )
    .await
    {
        Ok(r) => done(&auth, "Waste witnessed", &r, Vec::new(), "/ui/wastes"),
        Err(page) => page,
    }
}

async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, CLINICAL) {
        return r;
    }
    if p.editing() {
        return container_page(
            &state,
            &auth,
            &id,
            &Posted::default(),
            &Errors::default(),
            StatusCode::OK,
        )
        .await;
    }
    let c = match load(&state, auth.ledger, &id).await {
        Ok(c) => c,
        Err(e) => return refuse(&auth, e),
    };
    let bud = match default_beyond_use_of(&state, auth.ledger, &c.id).await {
        Ok(d) => d,
        Err(e) => return refuse(&auth, e),
    };
    let signers = vec![Signer::me(
        &auth,
        "authored",
        format!(
            "I, {}, opened container {} ({} lot {}); beyond use {bud}.",
            auth.printed_name, c.id, c.product.name, c.lot
        ),
    )];
    let action = format!("/ui/containers/{id}/open");
    let password = p.secret("password");
    let run =
        async || open_container(&state, auth.ledger, &auth, &client, c.id, bud, &password).await;
    match ceremony(
        &auth,
        "Sign the opening",
        &action,
        &p,
        Vec::new(),
        signers,
        run,
    )
    .await
    {
        Ok(r) => done(
            &auth,
            "Container opened",
            &r,
            Vec::new(),
            &format!("/ui/containers/{id}"),
        ),
        Err(page) => page,
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
