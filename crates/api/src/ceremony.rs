//! What every signed act's route shares: the request's origin (client address, and its
//! `Idempotency-Key`), the passwords as a ceremony (or a dry run), and the response that shows
//! each signature as people read it (21 CFR 11.50).

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use custody_clinic::acts::{Ceremony, Origin, Outcome};
use custody_ledger::{Principal, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::extract::Client;
use crate::state::AppState;

/// A signature as shown to people: who, when, meaning.
#[derive(Debug, Serialize, ToSchema)]
pub struct Manifestation {
    pub user: String,
    pub printed_name: String,
    pub meaning: String,
    /// When the signer signed (RFC 3339, UTC): the signing time the signature states (format
    /// version 3), or the entry's time for an entry recorded before version 3.
    pub signed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub seq: u64,
    pub hash: String,
    pub kind: String,
    pub signatures: Vec<Manifestation>,
}

/// What a dry run found the rules would accept.
#[derive(Debug, Serialize, ToSchema)]
pub struct WouldRecord {
    pub dry_run: bool,
    /// The entries the act would record, in order (kind and body; nothing is signed yet).
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
}

/// What a signed act answers: the entry it recorded, or, with `dry_run`, what it would
/// record. (The OpenAPI document's schema of that answer; handlers build either part.)
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ActAnswer {
    Recorded(Recorded),
    DryRun(WouldRecord),
}

pub fn recorded(a: &custody_store::Appended) -> Recorded {
    let signatures = a
        .entry
        .signatures
        .iter()
        .zip(&a.names)
        .map(|(s, name)| Manifestation {
            user: match &s.signer {
                Principal::User(u) => u.to_string(),
                Principal::Registrant => "registrant".into(),
            },
            printed_name: name.clone(),
            meaning: s.meaning.to_string(),
            signed_at: a.entry.signed_at(s).to_string(),
        })
        .collect();
    Recorded {
        seq: a.entry.seq.get(),
        hash: a.hash.to_string(),
        kind: a.entry.kind().to_string(),
        signatures,
    }
}

/// Each entry of an outcome as the API shows it; counted in the metrics when new.
pub fn recorded_all(state: &AppState, o: &Outcome) -> Vec<Recorded> {
    let mut out = Vec::new();
    for a in o.entries() {
        if !o.repeated() {
            state.metrics.appended(&a.entry.kind().to_string());
        }
        out.push(recorded(a));
    }
    out
}

/// The response of an act recording one entry: 200 with the entry, or with what a dry run
/// would record.
pub fn respond(state: &AppState, o: Outcome) -> ApiResult<Response> {
    Ok(match last(state, &o)? {
        Ok((one, _)) => Json(one).into_response(),
        Err(dry_run) => dry_run,
    })
}

/// The last entry an act recorded, as shown and as recorded (acts add what they know of
/// it); or, for a dry run, its answer.
pub fn last<'o>(
    state: &AppState,
    o: &'o Outcome,
) -> ApiResult<Result<(Recorded, &'o custody_store::Appended), Response>> {
    if let Some(r) = dry(o)? {
        return Ok(Err(r));
    }
    let mut all = recorded_all(state, o);
    match (all.pop(), o.entries().last()) {
        (Some(shown), Some(a)) => Ok(Ok((shown, a))),
        _ => Err(ApiError::internal("the act recorded nothing")),
    }
}

/// An entry's body as JSON: its `kind` is the entry's kind. (A location's own kind, which
/// the payload calls `kind` too, is `location_kind`.)
pub fn body_json(body: &custody_ledger::Body) -> ApiResult<serde_json::Value> {
    let mut v = serde_json::to_value(body).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        if let custody_ledger::Payload::LocationDefined(l) = &body.payload {
            m.insert("location_kind".into(), l.kind.to_string().into());
        }
        m.insert("kind".into(), body.kind().to_string().into());
    }
    Ok(v)
}

/// A dry run's answer, if `o` is one.
pub fn dry(o: &Outcome) -> ApiResult<Option<Response>> {
    let Outcome::WouldRecord(drafts) = o else {
        return Ok(None);
    };
    let entries = drafts
        .iter()
        .map(|d| {
            let mut v = body_json(&d.body)?;
            if let Some(m) = v.as_object_mut() {
                // A count is blind: what the ledger expects is shown only once it is signed.
                m.remove("expected");
            }
            Ok(v)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Some(
        (
            StatusCode::OK,
            Json(WouldRecord {
                dry_run: true,
                entries,
            }),
        )
            .into_response(),
    ))
}

/// A second person signing in the same request with their own user name and password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessBody {
    pub username: String,
    /// Leave it out (or empty) in a dry run.
    #[serde(default)]
    pub password: String,
}

impl WitnessBody {
    pub fn user(&self) -> ApiResult<UserId> {
        self.username
            .parse()
            .map_err(|e: custody_ledger::types::ids::ParseError| {
                ApiError::invalid(format!("witness: {e}"))
            })
    }
}

/// The passwords of an act, or a dry run.
pub fn ceremony(dry_run: bool, password: &str, witnesses: &[WitnessBody]) -> Ceremony {
    if dry_run {
        Ceremony::DryRun
    } else {
        Ceremony::with_witnesses(
            password,
            witnesses.iter().map(|w| w.password.clone()).collect(),
        )
    }
}

/// The `Idempotency-Key` header: a request id of 1 to 200 visible characters.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Where an act's request came from: the client's address and its `Idempotency-Key`.
pub struct RequestOrigin(pub Origin);

impl FromRequestParts<AppState> for RequestOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(Client(client)) = Client::from_request_parts(parts, state).await;
        let request_id = match parts.headers.get(&IDEMPOTENCY_KEY) {
            None => None,
            Some(v) => {
                let k = v
                    .to_str()
                    .ok()
                    .map(str::trim)
                    .filter(|k| {
                        !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic())
                    })
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "malformed",
                            "the Idempotency-Key header must be 1 to 200 visible ASCII characters",
                        )
                    })?;
                Some(format!("api:{k}"))
            }
        };
        Ok(RequestOrigin(Origin { client, request_id }))
    }
}

/// A field parsed at the edge, or a 422 naming it.
pub fn parse<T: std::str::FromStr>(what: &str, s: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// An amount in mg as typed (a decimal of thousandths), or a 422 naming the field.
pub fn mg(what: &str, s: &str) -> ApiResult<custody_ledger::Micrograms> {
    custody_ledger::Micrograms::parse_thousandths(s)
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// Part or all of one container, as a request names it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    pub container: String,
    /// In mg as a decimal; absent means everything the container holds.
    pub amount_mg: Option<String>,
}

impl ItemBody {
    pub fn item(&self) -> ApiResult<custody_clinic::acts::Item> {
        Ok(custody_clinic::acts::Item {
            container: parse("container", &self.container)?,
            amount: self
                .amount_mg
                .as_deref()
                .map(|m| mg("amount_mg", m))
                .transpose()?,
        })
    }
}

pub fn items(xs: &[ItemBody]) -> ApiResult<Vec<custody_clinic::acts::Item>> {
    xs.iter().map(ItemBody::item).collect()
}
