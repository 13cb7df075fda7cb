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
use axum::response::IntoResponse;
use axum::routing::{get, post};
use custody_ledger::types::quantity::thousandths;
use custody_ledger::*;
use serde::Deserialize;

use custody_clinic::Permission;
use custody_clinic::acts::{Administer, Ceremony, Open, Origin, WasteRest, WitnessQueued};
use custody_ledger::state::{ContainerStatus, MAX_SIGNING_AGE_DAYS};

use super::choices::{patient_choices, patient_said, witness_at_screen};
use super::forms::{Errors, Posted, Signer, Submitted, Table, ceremony, sentence, status_of};
use super::kit::{Me, OrRefuse, Page, PageError, SignedIn, allow, render};
use super::words::{
    concentration, entry_head, entry_rows, left, names, now_input, said, typed_time, when, zone,
};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::state::AppState;

const ROUTES: [&str; 5] = ["IV", "IM", "intranasal", "oral", "sublingual"];

struct Row {
    id: String,
    lot: String,
    expiry: String,
    location: String,
    status: &'static str,
    left: String,
    /// What the search matches, lower-case: id, product, NDC, lot, location.
    search: String,
}

/// The containers of one product.
struct Group {
    product: String,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "containers.html")]
struct ContainersPage {
    me: Option<Me>,
    groups: Vec<Group>,
    all: bool,
    /// The search as typed.
    q: String,
    /// How many containers there are before the search.
    total: usize,
}

#[derive(Deserialize)]
struct ContainersQuery {
    all: Option<String>,
    q: Option<String>,
}

/// Grouped by product (by name); within a product open containers first (the soonest
/// beyond-use date first), then sealed ones by expiry (the soonest first), then the rest.
fn grouped(mut cs: Vec<custody_store::ContainerInfo>, q: &str) -> Vec<Group> {
    let q = q.trim().to_lowercase();
    let search = |c: &custody_store::ContainerInfo| {
        format!(
            "{} {} {} {} {}",
            c.id, c.product.name, c.product.ndc, c.lot, c.location
        )
        .to_lowercase()
    };
    cs.retain(|c| q.is_empty() || search(c).contains(&q));
    let rank = |c: &custody_store::ContainerInfo| match c.status {
        ContainerStatus::Open { beyond_use } => (0, beyond_use.to_string()),
        ContainerStatus::Sealed => (1, c.expiry.to_string()),
        _ => (2, c.expiry.to_string()),
    };
    cs.sort_by(|a, b| {
        (
            a.product.name.as_str(),
            a.product.ndc.to_string(),
            rank(a),
            a.id.to_string(),
        )
            .cmp(&(
                b.product.name.as_str(),
                b.product.ndc.to_string(),
                rank(b),
                b.id.to_string(),
            ))
    });
    let mut groups: Vec<Group> = Vec::new();
    for c in &cs {
        let row = Row {
            id: c.id.to_string(),
            lot: c.lot.to_string(),
            expiry: c.expiry.to_string(),
            location: c.location.to_string(),
            status: c.status.name(),
            left: left(c),
            search: search(c),
        };
        let name = c.product.name.to_string();
        match groups.last_mut() {
            Some(g) if g.product == name => g.rows.push(row),
            _ => groups.push(Group {
                product: name,
                rows: vec![row],
            }),
        }
    }
    groups
}

async fn containers(
    State(state): State<AppState>,
    crate::extract::Query(q): crate::extract::Query<ContainersQuery>,
    SignedIn(auth): SignedIn,
) -> Page {
    // Held containers by default; every one ever received (emptied, gone) when asked.
    let all = q.all.is_some_and(|a| a == "1");
    let rows = state
        .clinic
        .containers(&auth, !all)
        .await
        .or_refuse(&auth)?;
    let total = rows.len();
    let q = q.q.unwrap_or_default();
    Ok(render(
        &ContainersPage {
            me: Some((&auth).into()),
            groups: grouped(rows, &q),
            all,
            q,
            total,
        },
        StatusCode::OK,
    ))
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
    /// The act's request id: a form sent twice records once.
    request_id: String,
    /// A refusal of the whole act (not of one field).
    error: Option<String>,
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
    /// The clinic's time zone, in which the time given is typed.
    zone: String,
    /// A dose charted more than this many hours after it was given needs a reason.
    late_hours: u64,
}

async fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<custody_store::ContainerInfo> {
    let c: ContainerId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no container {id:?}")))?;
    Ok(state.clinic.container(auth, &c).await?)
}

fn view(c: &custody_store::ContainerInfo) -> View {
    let ug_per_ml = match c.product.strength {
        Strength::Solution { per_ml, .. } => Some(per_ml.get()),
        Strength::Units { .. } => None,
    };
    let concentration = concentration(&c.product.strength);
    View {
        id: c.id.to_string(),
        product: c.product.name.to_string(),
        lot: c.lot.to_string(),
        location: c.location.to_string(),
        status: c.status.name().to_string(),
        left: left(c),
        beyond_use: match c.status {
            ContainerStatus::Open { beyond_use } => Some(beyond_use.to_string()),
            _ => None,
        },
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
) -> Page {
    container_page_with(state, auth, id, form, errors, None, status).await
}

/// The container page with, besides the errors beside their fields, one for the whole act.
async fn container_page_with(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: &Posted,
    errors: &Errors,
    error: Option<String>,
    status: StatusCode,
) -> Page {
    let id: ContainerId = match id.parse() {
        Ok(c) => c,
        Err(_) => {
            return Err(PageError::of(
                auth,
                ApiError::not_found(format!("no container {id:?}")),
            ));
        }
    };
    let (c, history) = state
        .clinic
        .container_history(auth, &id)
        .await
        .or_refuse(auth)?;
    let rows = match names(state, auth.ledger).await {
        Ok(names) => entry_rows(&history, &names, zone(state)),
        Err(e) => Err(e),
    };
    let rows = rows.or_refuse(auth)?;
    let me: Me = auth.into();
    let patients = if me.clinical {
        patient_choices(state, auth.ledger).await.or_refuse(auth)?
    } else {
        Vec::new()
    };
    let mut form = form.clone();
    // The route a dose of this product's form usually takes (a nasal spray is not IV).
    if form.get("route").is_empty() {
        form.set("route", c.product.form.default_route().as_str());
    }
    if form.get("given_at").is_empty() {
        form.set("given_at", now_input(zone(state)));
    }
    // An open Spravato device still holding its dose was used partly or not given: it leaves
    // stock by a waste to disposal or return, never back on hand.
    if form.get("reason").is_empty()
        && custody_clinic::acts::under_rems(&c.product)
        && matches!(c.status, ContainerStatus::Open { .. })
        && c.remaining > 0
    {
        form.set("reason", custody_clinic::acts::PARTIAL_DEVICE_REASON);
    }
    Ok(render(
        &ContainerPage {
            patients,
            clinical: me.clinical,
            me: Some(me),
            csrf: auth.csrf(),
            request_id: super::forms::request_id_for(&form, errors),
            error,
            c: view(&c),
            form: &form,
            errors,
            routes: ROUTES,
            zone: zone(state).to_string(),
            late_hours: state.clinic.settings.late_charting.as_secs() / 3600,
            history: Table {
                caption: format!("Everything recorded about container {}", c.id),
                head: entry_head(),
                rows,
                empty: "Nothing yet.".into(),
            },
        },
        status,
    ))
}

async fn container(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedIn(auth): SignedIn,
) -> Page {
    let blank = (Posted::default(), Errors::default());
    container_page(&state, &auth, &id, &blank.0, &blank.1, StatusCode::OK).await
}

/// Where a refusal of the dose form goes: the ledger's codes, beside their fields.
const DOSE_FIELDS: &[(&str, &str)] = &[
    ("insufficient_stock", "dose_mg"),
    ("amount_mismatch", "dose_mg"),
    ("zero_quantity", "dose_mg"),
    ("container_state", "dose_mg"),
    ("container_empty", "dose_mg"),
    ("expired", "dose_mg"),
    ("rule_violation", "given_at"),
    ("given_before_opened", "given_at"),
];

/// Where a refusal of the waste form goes.
const WASTE_FIELDS: &[(&str, &str)] = &[
    ("insufficient_stock", "amount_mg"),
    ("amount_mismatch", "amount_mg"),
    ("zero_quantity", "amount_mg"),
    ("container_state", "amount_mg"),
    ("container_empty", "amount_mg"),
    ("expired", "amount_mg"),
    ("witness_is_author", "witness"),
    ("role_not_allowed", "witness"),
    ("inactive_signer", "witness"),
    ("unknown_signer", "witness"),
];

async fn administer(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Administered))?;
    let c = load(&state, auth, &id).await.or_refuse(auth)?;
    // Review: every field checked, each error beside its field, what was typed kept.
    let mut e = Errors::default();
    let patient = e.text(p, "patient", "Enter the patient's MRN.");
    let prescriber: Option<Text> = e.parse(p, "prescriber", "Enter who ordered the dose.");
    let dea: Option<DeaNumber> = e.parse(p, "prescriber_dea", "Enter the prescriber's DEA number.");
    let given_at = e.parse_with(p, "given_at", "Enter the time the dose was given.", |s| {
        typed_time(zone(&state), s)
    });
    let dose = e.parse_with(
        p,
        "dose_mg",
        "Enter the dose in mg.",
        Micrograms::parse_thousandths,
    );
    let route: Option<Route> = e.parse(p, "route", "Choose the route.");
    let late_reason: Option<Text> = match p.get("late_reason").trim() {
        "" => None,
        _ => e.parse(p, "late_reason", "Say why the dose is charted late."),
    };
    let (
        Some(patient),
        Some(prescriber),
        Some(dea),
        Some(given_at),
        Some(dose),
        Some(route),
        false,
    ) = (patient, prescriber, dea, given_at, dose, route, p.editing())
    else {
        return container_page(&state, auth, &id, p, &e, status_of(p)).await;
    };
    let cmd = Administer {
        container: c.id,
        patient: patient.clone(),
        prescriber: Prescriber {
            name: prescriber.clone(),
            dea,
        },
        dose,
        route,
        given_at: Some(given_at),
        late_reason,
    };
    // The dose as the ledger will state it (its mL), or the refusal beside its field.
    let amount = match state.clinic.dose_payload(auth, &cmd).await {
        Ok(a) => a.amount,
        Err(err) => {
            let err: ApiError = err.into();
            let mut e = Errors::default();
            let top = e.refusal(&["patient", "dose_mg", "late_reason"], DOSE_FIELDS, &err);
            return container_page_with(&state, auth, &id, p, &e, top, err.status).await;
        }
    };
    let named = patient_said(&state, auth.ledger, &patient)
        .await
        .or_refuse(auth)?;
    let statement = format!(
        "I, {}, gave {} of {} {route} at {} to patient {named} from container {}, as ordered by {prescriber}.",
        auth.printed_name,
        said(&amount),
        c.product.name,
        when(zone(&state), given_at),
        c.id,
    );
    let signers = vec![Signer::me(auth, "authored", statement)];
    let action = format!("/ui/containers/{id}/administer");
    let next = format!("/ui/containers/{id}");
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        let top = e.refusal(
            &["patient", "dose_mg", "given_at", "late_reason"],
            DOSE_FIELDS,
            &err,
        );
        container_page_with(&state, auth, &id, p, &e, top, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.administer(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the dose",
        &action,
        Vec::new(),
        signers,
        &next,
        back,
        run,
    )
    .await)
}

async fn waste(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Waste))?;
    let c = load(&state, auth, &id).await.or_refuse(auth)?;
    let mut e = Errors::default();
    let amount = match p.get("amount_mg") {
        "" => None,
        mg => Micrograms::parse_thousandths(mg)
            .map_err(|err| e.add("amount_mg", sentence(&err.to_string())))
            .ok(),
    };
    let reason: Option<Text> = e.parse(p, "reason", "Say why it is wasted.");
    // No witness named: the waste goes to the awaiting-witness queue.
    let witness = if p.get("witness").is_empty() {
        None
    } else {
        witness_at_screen(&state, auth, p, &mut e, "witness").await
    };
    let (Some(reason), true, false) = (reason, e.is_empty(), p.editing()) else {
        return container_page(&state, auth, &id, p, &e, status_of(p)).await;
    };
    let cmd = WasteRest {
        container: c.id,
        amount,
        reason: reason.clone(),
        witness: witness.as_ref().map(|w| w.user.clone()),
    };
    let wasted = match state.clinic.waste_payload(auth, &cmd).await {
        Ok(w) => w.amount,
        Err(err) => {
            let err: ApiError = err.into();
            let mut e = Errors::default();
            let top = e.refusal(&["amount_mg", "reason", "witness"], WASTE_FIELDS, &err);
            return container_page_with(&state, auth, &id, p, &e, top, err.status).await;
        }
    };
    let what = format!(
        "{} of {} from container {}",
        said(&wasted),
        c.product.name,
        c.id
    );
    let mut signers = vec![Signer::me(
        auth,
        "authored",
        format!("I, {}, wasted {what}: {reason}.", auth.printed_name),
    )];
    if let Some(w) = &witness {
        signers.push(Signer::witness(
            &w.printed_name,
            "witness_password",
            format!(
                "I, {}, witnessed the waste of {what}: {reason}.",
                w.printed_name
            ),
        ));
    }
    let action = format!("/ui/containers/{id}/waste");
    let next = if witness.is_some() {
        format!("/ui/containers/{id}")
    } else {
        "/ui/wastes".to_string()
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        let top = e.refusal(&["amount_mg", "reason", "witness"], WASTE_FIELDS, &err);
        container_page_with(&state, auth, &id, p, &e, top, err.status).await
    };
    // "Everything left" is what Review found and the signers read: the dialog carries it as
    // the amount, so a dose recorded in between makes the ledger refuse rather than have
    // them sign for an amount they never saw.
    let mut cmd = cmd;
    let mut fixed = Submitted {
        auth: sub.auth.clone(),
        posted: sub.posted.clone(),
        client: sub.client.clone(),
    };
    if cmd.amount.is_none() {
        let ug = match wasted {
            Amount::Volume { ug, .. } | Amount::Units { ug, .. } => ug,
        };
        cmd.amount = Some(ug);
        fixed.posted.set("amount_mg", thousandths(ug.get()));
    }
    let run = async |c: Ceremony, o: Origin| state.clinic.waste(auth, cmd, c, &o).await;
    Ok(ceremony(
        &fixed,
        "Sign the waste",
        &action,
        Vec::new(),
        signers,
        &next,
        back,
        run,
    )
    .await)
}

struct QueueRow {
    id: String,
    queued_at: String,
    author: String,
    container: String,
    product: String,
    amount: String,
    reason: String,
    witness_by: String,
    request_id: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<QueueRow>,
    error: Option<String>,
}

async fn queue(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    queue_page(&state, &auth, None, StatusCode::OK).await
}

async fn queue_page(
    state: &AppState,
    auth: &Auth,
    error: Option<ApiError>,
    status: StatusCode,
) -> Page {
    let pending = state.clinic.awaiting_witness(auth).await.or_refuse(auth)?;
    let names = names(state, auth.ledger).await.or_refuse(auth)?;
    let mut rows = Vec::new();
    for p in pending {
        let (amount, reason) = match &p.draft.body.payload {
            Payload::Waste(w) => (said(&w.amount), w.reason.to_string()),
            _ => (String::new(), String::new()),
        };
        let product = match p.container.parse::<ContainerId>() {
            Ok(c) => state
                .store
                .container_product(auth.ledger, &c)
                .await
                .ok()
                .flatten()
                .map(|p| p.name.to_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        // The entry id is made just before queueing; the ledger accepts it this long after.
        let by =
            Timestamp::from_micros(p.queued_at.micros() + MAX_SIGNING_AGE_DAYS * 86_400_000_000)
                .map_or_else(|_| String::new(), |t| when(zone(state), t));
        rows.push(QueueRow {
            id: p.entry_id().to_string(),
            queued_at: when(zone(state), p.queued_at),
            author: names
                .get(&p.author)
                .cloned()
                .unwrap_or_else(|| p.author.to_string()),
            container: p.container.clone(),
            product,
            amount,
            reason,
            witness_by: by,
            request_id: uuid::Uuid::now_v7().to_string(),
        });
    }
    Ok(render(
        &QueuePage {
            me: Some(auth.into()),
            csrf: auth.csrf(),
            rows,
            error: error.map(|e| e.message),
        },
        status,
    ))
}

async fn witness(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    if p.editing() {
        return queue_page(&state, auth, None, StatusCode::OK).await;
    }
    allow(auth, Permission::Witness)?;
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
        // Witnessed already — by this very form, sent again: say so.
        let rid = p.get("request_id");
        if !rid.is_empty()
            && let Ok(Some(_)) = state.clinic.outcome_of(auth, &format!("web:{rid}")).await
        {
            return Ok(axum::response::Redirect::to(&format!(
                "/ui/recorded/{rid}?next=%2Fui%2Fwastes&again=1"
            ))
            .into_response());
        }
        return Err(PageError::of(
            auth,
            ApiError::not_found("no waste with that id is waiting for a witness"),
        ));
    };
    let what = match &pending.draft.body.payload {
        Payload::Waste(w) => {
            let product = state
                .store
                .container_product(auth.ledger, &w.container)
                .await
                .ok()
                .flatten()
                .map(|p| format!(" of {}", p.name))
                .unwrap_or_default();
            format!(
                "{}{product} from container {}: {}",
                said(&w.amount),
                w.container,
                w.reason
            )
        }
        _ => String::new(),
    };
    let signers = vec![Signer::me(
        auth,
        "witnessed",
        format!(
            "I, {}, witnessed the waste of {what}, recorded by {}.",
            auth.printed_name, pending.author
        ),
    )];
    let action = format!("/ui/wastes/{id}/witness");
    let back = async |err: ApiError| {
        let status = err.status;
        queue_page(&state, auth, Some(err), status).await
    };
    let cmd = WitnessQueued {
        pending: pending.entry_id(),
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.witness(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Witness the waste",
        &action,
        Vec::new(),
        signers,
        "/ui/wastes",
        back,
        run,
    )
    .await)
}

async fn open(State(state): State<AppState>, Path(id): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::ContainerOpened))?;
    if p.editing() {
        return container_page(
            &state,
            auth,
            &id,
            &Posted::default(),
            &Errors::default(),
            StatusCode::OK,
        )
        .await;
    }
    let c = load(&state, auth, &id).await.or_refuse(auth)?;
    let bud = state
        .clinic
        .default_beyond_use(auth, &c.id)
        .await
        .or_refuse(auth)?;
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, opened container {} ({} lot {}); beyond use {bud}.",
            auth.printed_name, c.id, c.product.name, c.lot
        ),
    )];
    let action = format!("/ui/containers/{id}/open");
    let next = format!("/ui/containers/{id}");
    let back = async |err: ApiError| {
        let status = err.status;
        container_page_with(
            &state,
            auth,
            &id,
            p,
            &Errors::default(),
            Some(err.message),
            status,
        )
        .await
    };
    let cmd = Open {
        container: c.id,
        beyond_use: Some(bud),
        opened_at: None,
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.open(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the opening",
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
        .route("/ui/containers", get(containers))
        .route("/ui/containers/{id}", get(container))
        .route("/ui/containers/{id}/open", post(open))
        .route("/ui/containers/{id}/administer", post(administer))
        .route("/ui/containers/{id}/waste", post(waste))
        .route("/ui/wastes", get(queue))
        .route("/ui/wastes/{id}/witness", post(witness))
}
