//! A treatment session over the API: a dose (in mg, or mg/kg with the weight), from the
//! containers custody proposes or the ones named, opened when sealed, and the rest of the
//! vial wasted before a witness — one request, one ceremony, all entries or none.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{DoseOrder, DosePlan, GiveDose, Outcome, WasteTheRest, mg_and_base};
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::stock::PrescriberBody;
use crate::auth::Auth;
use crate::ceremony::{
    Recorded, RequestOrigin, WitnessBody, body_json, ceremony, mg, parse, recorded_all,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WasteRestBody {
    pub reason: String,
    /// The witness signing the waste in this request.
    pub witness: WitnessBody,
    /// The amount wasted in mg, as the dry run showed it; absent means everything left after
    /// the dose.
    pub amount_mg: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoseRequest {
    /// Your password: it signs every entry of the session (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// The patient's reference (MRN); only a keyed commitment of it enters the ledger.
    pub patient: String,
    /// The product's NDC.
    pub product: String,
    /// The dose in mg, as a decimal ("35"). Give this, or `dose_mg_per_kg` and `weight_kg`.
    pub dose_mg: Option<String>,
    /// The dose in mg per kg of body weight, as a decimal ("0.5").
    pub dose_mg_per_kg: Option<String>,
    /// The patient's weight in kg, as a decimal ("70.4"), for a dose per kg.
    pub weight_kg: Option<String>,
    /// The containers to give from; absent or empty: custody proposes them (an open one of
    /// the product first, otherwise the sealed one that expires first; a Spravato dose takes
    /// the devices of one lot).
    #[serde(default)]
    pub containers: Vec<String>,
    pub prescriber: PrescriberBody,
    /// Default: the usual route of the product's form (IV for an injection, intranasal for a
    /// nasal spray, sublingual for a troche).
    pub route: Option<String>,
    /// When it was given (RFC 3339); default now.
    pub given_at: Option<String>,
    /// Waste what is left in the vial after the dose, before this witness.
    pub waste_rest: Option<WasteRestBody>,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a session recorded, or (with `dry_run`) would record.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoseAnswer {
    pub dry_run: bool,
    /// The dose as given: "35.2 mg = 3.52 mL".
    pub dose: String,
    /// A dose per kg worked out, its rounding stated: "0.5 mg/kg × 70.4 kg = 35.2 mg = 3.52
    /// mL, exact".
    pub worked_out: Option<String>,
    /// The containers given from, in order.
    pub containers: Vec<String>,
    pub route: String,
    /// The entries recorded (seq, hash, kind, signatures); in a dry run, the bodies that
    /// would be.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
}

/// A field given and not blank.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|t| !t.is_empty())
}

impl DoseRequest {
    fn order(&self) -> ApiResult<DoseOrder> {
        match (
            given(self.dose_mg.as_deref()),
            given(self.dose_mg_per_kg.as_deref()),
            given(self.weight_kg.as_deref()),
        ) {
            (Some(d), None, None) => Ok(DoseOrder::Mg(mg("dose_mg", d)?)),
            (None, Some(k), Some(w)) => Ok(DoseOrder::PerKg {
                per_kg: mg("dose_mg_per_kg", k)?,
                weight: Grams::parse_thousandths(w)
                    .map_err(|e| ApiError::invalid(format!("weight_kg: {e}")))?,
            }),
            (None, Some(_), None) => Err(ApiError::invalid(
                "weight_kg: a dose per kg needs the patient's weight in kg",
            )),
            _ => Err(ApiError::invalid(
                "dose_mg: give the dose in mg, or dose_mg_per_kg with weight_kg (not both)",
            )),
        }
    }

    fn command(&self) -> ApiResult<GiveDose> {
        Ok(GiveDose {
            patient: self.patient.clone(),
            product: parse("product", &self.product)?,
            dose: self.order()?,
            containers: self
                .containers
                .iter()
                .map(|c| parse("containers", c))
                .collect::<ApiResult<_>>()?,
            prescriber: self.prescriber.prescriber()?,
            route: given(self.route.as_deref())
                .map(|r| parse("route", r))
                .transpose()?,
            given_at: given(self.given_at.as_deref())
                .map(|t| parse("given_at", t))
                .transpose()?,
            waste: self
                .waste_rest
                .as_ref()
                .map(|w| {
                    Ok::<_, ApiError>(WasteTheRest {
                        reason: parse("waste_rest.reason", &w.reason)?,
                        witness: w.witness.user()?,
                        amount: w
                            .amount_mg
                            .as_deref()
                            .map(|a| mg("waste_rest.amount_mg", a))
                            .transpose()?,
                    })
                })
                .transpose()?,
        })
    }
}

fn answer(state: &AppState, plan: Option<&DosePlan>, o: &Outcome) -> ApiResult<DoseAnswer> {
    let entries = match o {
        Outcome::WouldRecord(drafts) => drafts
            .iter()
            .map(|d| body_json(&d.body))
            .collect::<ApiResult<Vec<_>>>()?,
        _ => recorded_all(state, o)
            .into_iter()
            .map(|r: Recorded| {
                serde_json::to_value(r).map_err(|e| ApiError::internal(e.to_string()))
            })
            .collect::<ApiResult<Vec<_>>>()?,
    };
    // A repeated request is answered from the entries it recorded.
    let doses: Vec<&Administered> = o
        .entries()
        .iter()
        .filter_map(|a| match a.entry.payload() {
            Payload::Administered(d) => Some(d),
            _ => None,
        })
        .collect();
    let (dose, containers, route) = match plan {
        Some(p) => (
            mg_and_base(&p.dose),
            p.steps.iter().map(|s| s.container.id.to_string()).collect(),
            p.route.to_string(),
        ),
        None => {
            let ug = Micrograms::new(doses.iter().map(|d| d.amount.micrograms().get()).sum());
            let base: u64 = doses.iter().map(|d| d.amount.base()).sum();
            let whole = match doses.first().map(|d| &d.amount) {
                Some(Amount::Volume { .. }) => Some(Amount::Volume {
                    ul: Microliters::new(base),
                    ug,
                }),
                Some(Amount::Units { .. }) => u32::try_from(base).ok().map(|n| Amount::Units {
                    units: Units::new(n),
                    ug,
                }),
                None => None,
            };
            (
                whole.as_ref().map_or_else(|| ug.to_string(), mg_and_base),
                doses.iter().map(|d| d.container.to_string()).collect(),
                doses
                    .first()
                    .map(|d| d.route.to_string())
                    .unwrap_or_default(),
            )
        }
    };
    Ok(DoseAnswer {
        dry_run: matches!(o, Outcome::WouldRecord(_)),
        dose,
        worked_out: plan.and_then(|p| p.by_weight.as_ref()).map(|w| w.said()),
        containers,
        route,
        entries,
    })
}

/// Gives a dose in one signing ceremony: opens the container(s) when sealed, records the
/// dose, and — with `waste_rest` — the waste of what is left before a witness who signs in
/// the same request. All entries are appended, or none.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/doses",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = DoseRequest,
    responses(
        (status = 200, body = DoseAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn give(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<DoseRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Administered))?;
    let cmd = req.command()?;
    let witnesses: Vec<WitnessBody> = req.waste_rest.iter().map(|w| w.witness.clone()).collect();
    let c = ceremony(req.dry_run, &req.password, &witnesses);
    let (plan, o) = state.clinic.give_dose(&auth, cmd, c, &origin).await?;
    Ok(Json(answer(&state, plan.as_ref(), &o)?).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ledgers/{ledger}/doses", post(give))
}
