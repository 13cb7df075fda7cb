//! What every signed act shares: fresh entry ids, field parsing with a clear 422, and the
//! response that shows each signature as people read it (21 CFR 11.50).

use axum::http::StatusCode;
use custody_ledger::{
    Amount, ContainerAmount, ContainerId, Draft, EntryId, Kind, LedgerId, Meaning, Micrograms,
    Payload, Principal, UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, open_key};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A signature as shown to people: who, when, meaning.
#[derive(Debug, Serialize, ToSchema)]
pub struct Manifestation {
    pub user: String,
    pub printed_name: String,
    pub meaning: String,
    pub signed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub seq: u64,
    pub hash: String,
    pub kind: String,
    pub signatures: Vec<Manifestation>,
}

pub async fn recorded(
    state: &AppState,
    ledger: LedgerId,
    a: custody_store::Appended,
) -> ApiResult<Recorded> {
    state.metrics.appended(&a.entry.kind().to_string());
    let mut signatures = Vec::new();
    for s in &a.entry.signatures {
        let (user, printed_name) = match &s.signer {
            Principal::User(u) => {
                let name = state
                    .store
                    .user(ledger, u)
                    .await?
                    .map(|i| i.printed_name)
                    .unwrap_or_default();
                (u.to_string(), name)
            }
            Principal::Registrant => ("registrant".into(), "the registrant".into()),
        };
        signatures.push(Manifestation {
            user,
            printed_name,
            meaning: s.meaning.to_string(),
            signed_at: a.entry.timestamp.to_string(),
        });
    }
    Ok(Recorded {
        seq: a.entry.seq.get(),
        hash: a.hash.to_string(),
        kind: a.entry.kind().to_string(),
        signatures,
    })
}

pub fn entry_id() -> EntryId {
    EntryId::from_uuid(uuid::Uuid::now_v7())
}

pub fn parse<T: std::str::FromStr>(what: &str, s: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// A second person signing in the same request with their own user name and password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WitnessBody {
    pub username: String,
    pub password: String,
}

impl WitnessBody {
    /// The witness's user id; a name that cannot be one is a wrong sign-in, not a bad field.
    pub fn user(&self) -> ApiResult<UserId> {
        self.username.parse().map_err(|_| {
            ApiError::unauthorized(
                "wrong_password",
                "the witness's user name or password is wrong",
            )
        })
    }
}

/// Opens the witnesses' keys (in order) and adds their signatures.
pub async fn witnessed(
    state: &AppState,
    ledger: LedgerId,
    client: &str,
    mut d: Draft,
    witnesses: &[WitnessBody],
) -> ApiResult<Draft> {
    for w in witnesses {
        let u = w.user()?;
        let key = open_key(state, ledger, &u, &w.password, client).await?;
        d = d.signed(Principal::User(u), Meaning::Witnessed, &key);
    }
    Ok(d)
}

/// Refuses unless the signed-in user may author entries of `kind` (the ledger's own table).
pub fn require_author(auth: &Auth, ledger: LedgerId, kind: Kind) -> ApiResult<()> {
    auth.require(ledger, custody_ledger::state::author_roles(kind))
}

/// Part or all of one container, as a request names it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemBody {
    pub container: String,
    /// In mg as a decimal; absent means everything the container holds.
    pub amount_mg: Option<String>,
}

fn unknown_container(c: &ContainerId) -> ApiError {
    ApiError::not_found(format!("container {c} is not in this ledger"))
}

/// The amount holding exactly `mg` of the container's product.
pub async fn amount_of(
    state: &AppState,
    ledger: LedgerId,
    c: &ContainerId,
    mg: &str,
) -> ApiResult<Amount> {
    let ug = Micrograms::parse_thousandths(mg).map_err(|e| ApiError::invalid(e.to_string()))?;
    if ug.is_zero() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "zero_quantity",
            "the amount must be more than zero",
        ));
    }
    let p = state
        .store
        .container_product(ledger, c)
        .await?
        .ok_or_else(|| unknown_container(c))?;
    Amount::of_micrograms(&p.strength, ug).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount_mismatch",
            format!(
                "{ug} of {} is not a whole number of {}",
                p.name,
                p.strength.base_unit()
            ),
        )
    })
}

/// Everything the container holds now.
pub async fn everything_in(
    state: &AppState,
    ledger: LedgerId,
    c: &ContainerId,
) -> ApiResult<Amount> {
    let info = state
        .store
        .container(ledger, c)
        .await?
        .ok_or_else(|| unknown_container(c))?;
    if info.remaining == 0 || !matches!(info.status.as_str(), "sealed" | "open") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "container_empty",
            format!("container {c} holds nothing now ({})", info.status),
        ));
    }
    Amount::of(&info.product.strength, info.remaining)
        .ok_or_else(|| ApiError::internal(format!("the amount left in {c} cannot be stated")))
}

/// Parses the items of a loss, destruction or dispense.
pub async fn items(
    state: &AppState,
    ledger: LedgerId,
    items: &[ItemBody],
) -> ApiResult<Vec<ContainerAmount>> {
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let container: ContainerId = parse("container", &i.container)?;
        let amount = match &i.amount_mg {
            Some(mg) => amount_of(state, ledger, &container, mg).await?,
            None => everything_in(state, ledger, &container).await?,
        };
        out.push(ContainerAmount { container, amount });
    }
    Ok(out)
}

/// Signs `payload` as the signed-in author with `password`, adds the witnesses, records it.
pub async fn act(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    password: &str,
    witnesses: &[WitnessBody],
    payload: impl Into<Payload>,
) -> ApiResult<Recorded> {
    let key = open_key(state, ledger, &auth.user, password, client).await?;
    let d = Draft::new(ledger, entry_id(), payload).signed(
        Principal::User(auth.user.clone()),
        Meaning::Authored,
        &key,
    );
    let d = witnessed(state, ledger, client, d, witnesses).await?;
    let a = state.store.append(d).await?;
    recorded(state, ledger, a).await
}
