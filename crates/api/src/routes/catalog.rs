//! What the ledger knows about: products (NDC, form, schedule, strength) and storage
//! locations. Defining either is an admin's signed act.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use axum::response::Response;
use custody_clinic::Permission;

use crate::auth::Auth;
use crate::ceremony::{ActAnswer, RequestOrigin, ceremony, mg, parse, respond};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StrengthBody {
    /// A solution: mg per mL and mL per container, as decimals ("50", "10").
    Solution { mg_per_ml: String, ml: String },
    /// Countable units: mg per unit and units per container.
    Units { mg_per_unit: String, units: u32 },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub ndc: String,
    pub name: String,
    pub form: String,
    pub schedule: String,
    pub strength: StrengthBody,
}

impl From<ProductDefined> for ProductView {
    fn from(p: ProductDefined) -> Self {
        let t = custody_ledger::types::quantity::thousandths;
        let strength = match p.strength {
            Strength::Solution { per_ml, volume } => StrengthBody::Solution {
                mg_per_ml: t(per_ml.get()),
                ml: t(volume.get()),
            },
            Strength::Units { per_unit, units } => StrengthBody::Units {
                mg_per_unit: t(per_unit.get()),
                units: units.get(),
            },
        };
        Self {
            ndc: p.ndc.to_string(),
            name: p.name.to_string(),
            form: p.form.to_string(),
            schedule: p.schedule.to_string(),
            strength,
        }
    }
}

/// Products this ledger knows.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/products",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<ProductView>), crate::responses::ReadRefusals),
    tag = "catalog"
)]
pub async fn products(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<ProductView>>> {
    auth.require(ledger, Permission::Read)?;
    Ok(Json(
        state
            .store
            .products(ledger)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// 10 digits in a 4-4-2, 5-3-2 or 5-4-1 pattern, or 11 digits.
    pub ndc: String,
    pub name: String,
    /// injection solution, nasal spray, lozenge, tablet, capsule, oral solution.
    pub form: String,
    /// II, IIN, III, IIIN, IV or V.
    pub schedule: String,
    pub strength: StrengthBody,
}

/// Defines a product.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/products",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = ProductRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "catalog"
)]
pub async fn define_product(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<ProductRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::ProductDefined))?;
    let strength = match &req.strength {
        StrengthBody::Solution { mg_per_ml, ml } => Strength::Solution {
            per_ml: mg("mg_per_ml", mg_per_ml)?,
            volume: Microliters::parse_thousandths(ml)
                .map_err(|e| ApiError::invalid(format!("ml: {e}")))?,
        },
        StrengthBody::Units { mg_per_unit, units } => Strength::Units {
            per_unit: mg("mg_per_unit", mg_per_unit)?,
            units: Units::new(*units),
        },
    };
    let payload = ProductDefined {
        ndc: parse("ndc", &req.ndc)?,
        name: parse("name", &req.name)?,
        form: parse("form", &req.form)?,
        schedule: parse("schedule", &req.schedule)?,
        strength,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.record_one(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    pub location: String,
    pub name: String,
    pub kind: String,
}

/// Storage locations.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/locations",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<LocationView>), crate::responses::ReadRefusals),
    tag = "catalog"
)]
pub async fn locations(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<LocationView>>> {
    auth.require(ledger, Permission::Read)?;
    Ok(Json(
        state
            .store
            .locations(ledger)
            .await?
            .into_iter()
            .map(|l| LocationView {
                location: l.location.to_string(),
                name: l.name.to_string(),
                kind: l.kind.to_string(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// A short id, e.g. `SAFE-1`.
    pub location: String,
    pub name: String,
    /// safe, cabinet, cart, refrigerator or other.
    pub kind: String,
}

/// Defines a storage location.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/locations",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = LocationRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "catalog"
)]
pub async fn define_location(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<LocationRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::LocationDefined))?;
    let payload = LocationDefined {
        location: parse("location", &req.location)?,
        name: parse("name", &req.name)?,
        kind: parse("kind", &req.kind)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.record_one(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/ledgers/{ledger}/products",
            get(products).post(define_product),
        )
        .route(
            "/api/v1/ledgers/{ledger}/locations",
            get(locations).post(define_location),
        )
}
