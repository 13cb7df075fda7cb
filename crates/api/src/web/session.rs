//! The treatment session page ("Give a dose"): the patient from the register (their last
//! prescriber offered again), the product, the dose in mg or worked out per kg, the container
//! custody proposes (or one picked), and the rest of the vial wasted before a witness — one
//! form, one review, one signature dialog over the reviewed form, every entry recorded or
//! none. Spravato: the devices of one lot, each opened and given, one password.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use custody_clinic::Permission;
use custody_clinic::acts::{Ceremony, DoseOrder, DosePlan, GiveDose, Origin, WasteTheRest};
use custody_ledger::types::quantity::thousandths;
use custody_ledger::*;
use custody_store::ContainerInfo;
use serde::Deserialize;

use super::choices::{patient_choices, patient_said, witness_at_screen};
use super::forms::{Dialog, Errors, Posted, Signer, Signing, Submitted, ceremony_over, status_of};
use super::kit::{Me, OrRefuse, Page, SignedIn, allow, refuse, render};
use super::words::{left, now_input, said, typed_time, when, zone};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The page's address.
const PAGE: &str = "/ui/dose";

/// A product as the form offers it, with what the script needs to follow the choice.
struct ProductChoice {
    ndc: String,
    label: String,
    /// µg per mL of a solution (0 for units): the dose's volume is shown as it is typed.
    ug_per_ml: u64,
    routes: Vec<&'static str>,
    single_use: bool,
}

/// A container the person may pick instead of the one proposed.
struct ContainerChoice {
    id: String,
    ndc: String,
    label: String,
}

#[derive(Template)]
#[template(path = "dose.html")]
struct DosePage<'a> {
    me: Option<Me>,
    csrf: String,
    request_id: String,
    form: &'a Posted,
    errors: &'a Errors,
    error: Option<String>,
    patients: Vec<(String, String)>,
    products: Vec<ProductChoice>,
    containers: Vec<ContainerChoice>,
    witnesses: Vec<(String, String)>,
    routes: Vec<&'static str>,
    zone: String,
    /// Review's findings beside the dose: the amount and, per kg, the arithmetic.
    worked_out: Option<String>,
    /// The signature dialog, over this form.
    dialog: Option<Dialog>,
}

const ALL_ROUTES: [&str; 5] = ["IV", "IM", "intranasal", "oral", "sublingual"];

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    auth: &Auth,
    form: &Posted,
    errors: &Errors,
    error: Option<String>,
    worked_out: Option<String>,
    dialog: Option<Dialog>,
    status: StatusCode,
) -> Response {
    let ledger = auth.ledger;
    let loaded = async {
        let patients = patient_choices(state, ledger).await?;
        let products = state.store.products(ledger).await?;
        let containers = state.store.containers(ledger, true).await?;
        let users = state.store.users(ledger).await?;
        Ok::<_, ApiError>((patients, products, containers, users))
    };
    let (patients, products, containers, users) = match loaded.await {
        Ok(x) => x,
        Err(e) => return refuse(auth, e),
    };
    let today = custody_clinic::acts::today();
    let products: Vec<ProductChoice> = products
        .into_iter()
        .map(|p| ProductChoice {
            ndc: p.ndc.to_string(),
            label: p.name.to_string(),
            ug_per_ml: match p.strength {
                Strength::Solution { per_ml, .. } => per_ml.get(),
                Strength::Units { .. } => 0,
            },
            routes: p.form.routes().iter().map(|r| r.as_str()).collect(),
            single_use: p.strength.single_use(),
        })
        .collect();
    let mut live: Vec<&ContainerInfo> = containers
        .iter()
        .filter(|c| custody_clinic::acts::usable(c, today))
        .collect();
    live.sort_by_key(|c| {
        (
            c.product.name.to_string(),
            !matches!(c.status, ContainerStatus::Open { .. }),
            c.expiry,
            c.id,
        )
    });
    let containers = live
        .into_iter()
        .map(|c| ContainerChoice {
            id: c.id.to_string(),
            ndc: c.product.ndc.to_string(),
            label: format!(
                "{} · {} · {} left · lot {} · {}",
                c.id,
                c.status.name(),
                left(c),
                c.lot,
                c.location
            ),
        })
        .collect();
    let witnesses = users
        .into_iter()
        .filter(|u| {
            u.active
                && u.user != auth.user
                && custody_clinic::policy::allows(u.role, Permission::Witness)
        })
        .map(|u| (u.user.to_string(), u.printed_name))
        .collect();
    let mut form = form.clone();
    if form.get("given_at").is_empty() {
        form.set("given_at", now_input(zone(state)));
    }
    if form.get("reason").is_empty() {
        form.set("reason", "remainder of single-patient vial");
    }
    render(
        &DosePage {
            me: Some(auth.into()),
            csrf: auth.csrf(),
            request_id: super::forms::request_id_for(&form, errors),
            form: &form,
            errors,
            error,
            patients,
            products,
            containers,
            witnesses,
            routes: ALL_ROUTES.to_vec(),
            zone: zone(state).to_string(),
            worked_out,
            dialog,
        },
        status,
    )
}

#[derive(Deserialize)]
struct DoseQuery {
    patient: Option<String>,
}

/// The form, blank or for a patient chosen on the register (`?patient=MRN`): their last
/// prescriber and DEA number offered again.
async fn form(
    State(state): State<AppState>,
    SignedIn(auth): SignedIn,
    Query(q): Query<DoseQuery>,
) -> Page {
    allow(&auth, Permission::Author(Kind::Administered))?;
    let mut posted = Posted::default();
    if let Some(mrn) = q
        .patient
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        posted.set("patient", mrn);
        if let Ok(Some(last)) = state.clinic.last_dose(&auth, mrn).await {
            posted.set("prescriber", last.prescriber.name.to_string());
            posted.set("prescriber_dea", last.prescriber.dea.to_string());
        }
    }
    Ok(page(
        &state,
        &auth,
        &posted,
        &Errors::default(),
        None,
        None,
        None,
        StatusCode::OK,
    )
    .await)
}

/// The patient's last prescriber, for the script to offer as soon as the patient is chosen.
async fn last_prescriber(
    State(state): State<AppState>,
    SignedIn(auth): SignedIn,
    Query(q): Query<DoseQuery>,
) -> Response {
    let mrn = patient_mrn(&state, &auth, q.patient.as_deref().unwrap_or_default()).await;
    let last = match state.clinic.last_dose(&auth, &mrn).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    axum::Json(serde_json::json!({
        "mrn": mrn,
        "prescriber": last.as_ref().map(|l| l.prescriber.name.to_string()),
        "prescriber_dea": last.as_ref().map(|l| l.prescriber.dea.to_string()),
    }))
    .into_response()
}

/// Where the ledger's refusals go on this form.
const FIELDS_BY_CODE: &[(&str, &str)] = &[
    ("insufficient_stock", "dose_mg"),
    ("amount_mismatch", "dose_mg"),
    ("zero_quantity", "dose_mg"),
    ("container_state", "container"),
    ("container_empty", "container"),
    ("expired", "container"),
    ("witness_is_author", "witness"),
    ("role_not_allowed", "witness"),
    ("inactive_signer", "witness"),
    ("unknown_signer", "witness"),
];

const FIELDS: &[&str] = &[
    "patient",
    "prescriber",
    "prescriber_dea",
    "product",
    "dose_mg",
    "dose_mg_per_kg",
    "weight_kg",
    "container",
    "route",
    "given_at",
    "waste",
    "waste_mg",
    "witness",
];

/// The patient as typed: an MRN, or a name the register holds once.
async fn patient_mrn(state: &AppState, auth: &Auth, typed: &str) -> String {
    let typed = typed.trim();
    if let Ok(ps) = state.clinic.find_patients(auth, typed, 50).await {
        if ps.iter().any(|p| p.mrn == typed) {
            return typed.to_string();
        }
        let named: Vec<_> = ps
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(typed))
            .collect();
        if let [one] = named.as_slice() {
            return one.mrn.clone();
        }
    }
    typed.to_string()
}

/// Review (a dry run of every entry) and then signing, through one dialog over the form.
async fn give(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Administered))?;
    let mut e = Errors::default();
    let mut p = p.clone();
    let mrn = match e.text(&p, "patient", "Choose the patient, or type their MRN.") {
        Some(t) => Some(patient_mrn(&state, auth, &t).await),
        None => None,
    };
    // The prescriber of the patient's last dose, when none is typed.
    if let Some(m) = &mrn
        && p.get("prescriber").is_empty()
        && p.get("prescriber_dea").is_empty()
        && let Ok(Some(last)) = state.clinic.last_dose(auth, m).await
    {
        p.set("prescriber", last.prescriber.name.to_string());
        p.set("prescriber_dea", last.prescriber.dea.to_string());
    }
    let prescriber: Option<Text> = e.parse(&p, "prescriber", "Enter who ordered the dose.");
    let dea: Option<DeaNumber> =
        e.parse(&p, "prescriber_dea", "Enter the prescriber's DEA number.");
    let product: Option<Ndc> = e.parse(&p, "product", "Choose the product.");
    let by_weight = !p.get("dose_mg_per_kg").is_empty() || !p.get("weight_kg").is_empty();
    let order = if by_weight {
        if !p.get("dose_mg").is_empty() {
            e.add(
                "dose_mg",
                "Give the dose in mg, or per kg with the weight — not both.",
            );
        }
        let per_kg = e.parse_with(
            &p,
            "dose_mg_per_kg",
            "Enter the dose in mg per kg.",
            Micrograms::parse_thousandths,
        );
        let weight = e.parse_with(
            &p,
            "weight_kg",
            "Enter the patient's weight in kg.",
            Grams::parse_thousandths,
        );
        per_kg
            .zip(weight)
            .map(|(per_kg, weight)| DoseOrder::PerKg { per_kg, weight })
    } else {
        e.parse_with(
            &p,
            "dose_mg",
            "Enter the dose in mg (or per kg, with the weight).",
            Micrograms::parse_thousandths,
        )
        .map(DoseOrder::Mg)
    };
    let route: Option<Route> = match p.get("route") {
        "" => None,
        r => r
            .parse()
            .map_err(|err: custody_ledger::types::ids::ParseError| {
                e.add("route", super::forms::sentence(&err.to_string()))
            })
            .ok(),
    };
    let given_at = e.parse_with(&p, "given_at", "Enter the time the dose was given.", |s| {
        typed_time(zone(&state), s)
    });
    // The containers Review proposed, carried by the dialog: signed as they were read.
    let fixed: Vec<ContainerId> = p
        .get("containers")
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    let picked: Option<ContainerId> = match p.get("container") {
        "" => None,
        c => c
            .parse()
            .map_err(|err: custody_ledger::types::ids::ParseError| {
                e.add("container", super::forms::sentence(&err.to_string()))
            })
            .ok(),
    };
    let wasting = p.get("waste_rest") == "1";
    let waste_reason: Option<Text> = if wasting {
        e.parse(&p, "reason", "Say why the rest is wasted.")
    } else {
        None
    };
    let witness = if wasting {
        witness_at_screen(&state, auth, &p, &mut e, "witness").await
    } else {
        None
    };
    let waste_mg = match p.get("waste_mg") {
        "" => None,
        w => Micrograms::parse_thousandths(w).ok(),
    };
    let (
        Some(mrn),
        Some(prescriber),
        Some(dea),
        Some(product),
        Some(order),
        Some(given_at),
        true,
        false,
    ) = (
        mrn,
        prescriber,
        dea,
        product,
        order,
        given_at,
        e.is_empty(),
        p.editing(),
    )
    else {
        return Ok(page(&state, auth, &p, &e, None, None, None, status_of(&p)).await);
    };
    let waste = match (wasting, waste_reason, &witness) {
        (true, Some(reason), Some(w)) => Some(WasteTheRest {
            reason,
            witness: w.user.clone(),
            amount: waste_mg,
        }),
        _ => None,
    };
    let mut cmd = GiveDose {
        patient: mrn.clone(),
        product,
        dose: order,
        containers: if fixed.is_empty() {
            picked.into_iter().collect()
        } else {
            fixed
        },
        prescriber: Prescriber {
            name: prescriber.clone(),
            dea,
        },
        route,
        given_at: Some(given_at),
        waste,
    };
    let refused = async |p: &Posted, err: ApiError| {
        let mut e = Errors::default();
        let top = e.refusal(FIELDS, FIELDS_BY_CODE, &err);
        page(&state, auth, p, &e, top, None, None, err.status).await
    };
    // What the session will record, or why not, beside its field.
    let plan = match state.clinic.plan_dose(auth, &cmd).await {
        Ok(plan) => plan,
        Err(err) => return Ok(refused(&p, err.into()).await),
    };
    // The dialog signs what Review read: these containers and this much waste.
    cmd.containers = plan.steps.iter().map(|s| s.container.id).collect();
    p.set(
        "containers",
        cmd.containers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if let (Some(w), Some((_, amount))) = (cmd.waste.as_mut(), &plan.waste) {
        w.amount = Some(amount.micrograms());
        p.set("waste_mg", thousandths(amount.micrograms().get()));
    }
    let named = patient_said(&state, auth.ledger, &mrn)
        .await
        .or_refuse(auth)?;
    let signers = statements(&state, auth, &plan, &named, witness.as_ref(), &cmd);
    let worked_out = worked_out(&plan);
    let sub = Submitted {
        auth: sub.auth.clone(),
        posted: p.clone(),
        client: sub.client.clone(),
    };
    let signing = Signing {
        title: "Sign the dose",
        action: PAGE,
        secrets: Vec::new(),
        signers,
        next: "/ui",
    };
    let back = async |err: ApiError| refused(&p, err).await;
    let run = async |c: Ceremony, o: Origin| {
        state
            .clinic
            .give_dose(auth, cmd, c, &o)
            .await
            .map(|(_, o)| o)
    };
    let show = async |d: Dialog, status: StatusCode| {
        page(
            &state,
            auth,
            &p,
            &Errors::default(),
            None,
            worked_out.clone(),
            Some(d),
            status,
        )
        .await
    };
    Ok(ceremony_over(&sub, signing, true, back, run, show).await)
}

/// The dose as Review found it: "35.2 mg = 3.52 mL", and per kg the arithmetic.
fn worked_out(plan: &DosePlan) -> Option<String> {
    Some(match &plan.by_weight {
        Some(w) => w.said(),
        None => custody_clinic::acts::mg_and_base(&plan.dose),
    })
}

/// What each signer signs, in words: the product, the amount in mg and mL (or devices), the
/// containers, the patient and, for a waste, the reason.
fn statements(
    state: &AppState,
    auth: &Auth,
    plan: &DosePlan,
    patient: &str,
    witness: Option<&custody_store::sessions::UserInfo>,
    cmd: &GiveDose,
) -> Vec<Signer> {
    let product = &plan.product.name;
    let at = when(zone(state), plan.given_at);
    let ids: Vec<String> = plan
        .steps
        .iter()
        .map(|s| s.container.id.to_string())
        .collect();
    let lot = plan
        .steps
        .first()
        .map(|s| s.container.lot.to_string())
        .unwrap_or_default();
    let opened: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.opens.map(|d| (s, d)))
        .map(|(s, d)| {
            if plan.product.strength.single_use() {
                s.container.id.to_string()
            } else {
                format!("{} (beyond use {d})", s.container.id)
            }
        })
        .collect();
    let how = plan
        .by_weight
        .as_ref()
        .map(|w| format!(" ({})", w.said()))
        .unwrap_or_default();
    let opening = if opened.is_empty() {
        String::new()
    } else {
        format!("opened {} and ", opened.join(", "))
    };
    let mut mine = format!(
        "I, {}, {opening}gave {}{how} of {product} lot {lot} {} at {at} to patient {patient} from {} {}, as ordered by {}",
        auth.printed_name,
        said(&plan.dose),
        plan.route,
        if ids.len() == 1 {
            "container"
        } else {
            "containers"
        },
        ids.join(", "),
        cmd.prescriber.name,
    );
    let mut signers = Vec::new();
    match (&plan.waste, &cmd.waste, witness) {
        (Some((c, amount)), Some(w), Some(wi)) => {
            mine.push_str(&format!(
                "; and wasted the rest, {} of {product} from container {c}: {}.",
                said(amount),
                w.reason
            ));
            signers.push(Signer::me(auth, "authored", mine));
            signers.push(Signer::witness(
                &wi.printed_name,
                "witness_password",
                format!(
                    "I, {}, witnessed the waste of {} of {product} from container {c}, left after a dose to patient {patient}: {}.",
                    wi.printed_name,
                    said(amount),
                    w.reason
                ),
            ));
        }
        _ => {
            mine.push('.');
            signers.push(Signer::me(auth, "authored", mine));
        }
    }
    signers
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(form).post(give))
        .route("/ui/dose/last", get(last_prescriber))
}
