//! What forms offer and read back: products, locations and containers as choices, lines
//! naming containers and amounts, the witness at the screen, the patient register.

use custody_ledger::*;
use custody_store::ContainerInfo;

use super::forms::{Errors, Field, FormBuilder, Posted, sentence};
use super::words::{left, said};
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::state::AppState;

/// Lines a form of several lines starts with, and the most it takes.
pub const MIN_LINES: usize = 3;

pub const MAX_LINES: usize = 30;

pub async fn product_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .products(ledger)
        .await?
        .into_iter()
        .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
        .collect())
}

pub async fn location_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .locations(ledger)
        .await?
        .into_iter()
        .map(|l| {
            (
                l.location.to_string(),
                format!("{} ({})", l.name, l.location),
            )
        })
        .collect())
}

/// The cookie that remembers, per browser, where a person last received or counted.
const LAST_LOCATION: &str = "custody_location";

/// Where receiving and counting start: the location this person last used here (if it
/// still exists), else the first safe; never a cart by default. Empty when there is none.
pub async fn default_location(
    state: &AppState,
    auth: &Auth,
    headers: &axum::http::HeaderMap,
) -> ApiResult<String> {
    let locations = state.store.locations(auth.ledger).await?;
    let remembered = remembered_location(auth, headers);
    let known = |id: &str| locations.iter().any(|l| l.location.to_string() == id);
    Ok(match remembered {
        Some(r) if known(&r) => r,
        _ => locations
            .iter()
            .find(|l| l.kind == LocationKind::Safe)
            .map(|l| l.location.to_string())
            .unwrap_or_default(),
    })
}

/// The location remembered for this person (the cookie holds `user:location`).
fn remembered_location(auth: &Auth, headers: &axum::http::HeaderMap) -> Option<String> {
    let me = auth.user.to_string();
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == LAST_LOCATION)
        .filter_map(|(_, v)| v.split_once(':'))
        .find(|(u, _)| *u == me)
        .map(|(_, l)| l.to_string())
}

/// Remembers `location` as where this person last recorded, once the act is recorded (the
/// answer is the redirect to what was recorded); a review or a refusal changes nothing.
pub fn remember_location(
    state: &AppState,
    auth: &Auth,
    location: &str,
    mut response: axum::response::Response,
) -> axum::response::Response {
    if !response.status().is_redirection() || location.parse::<LocationId>().is_err() {
        return response;
    }
    let mut cookie = format!(
        "{LAST_LOCATION}={}:{location}; Path=/ui; Max-Age=31536000; HttpOnly; SameSite=Strict",
        auth.user
    );
    if state.config.secure_cookies {
        cookie.push_str("; Secure");
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, v);
    }
    response
}

/// The containers held now, as choices: id, product, lot, where, state, what is left.
pub async fn container_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    container_options_where(state, ledger, |_| true).await
}

/// The containers held now that `keep` keeps, as choices.
pub async fn container_options_where(
    state: &AppState,
    ledger: LedgerId,
    keep: impl Fn(&ContainerInfo) -> bool,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .containers(ledger, true)
        .await?
        .into_iter()
        .filter(|c| keep(c))
        .map(|c| {
            (
                c.id.to_string(),
                format!(
                    "{} — {} lot {}, {}, {}, {}",
                    c.id,
                    c.product.name,
                    c.lot,
                    c.location,
                    c.status.name(),
                    left(&c) + " left"
                ),
            )
        })
        .collect())
}

/// One line naming a container and, perhaps, an amount of it.
pub struct Item {
    pub container: ContainerInfo,
    /// As typed; `None` means the whole container (or all that is left).
    pub amount_mg: Option<Micrograms>,
    pub amount: Amount,
}

impl Item {
    /// The line as the clinic's commands take it.
    pub fn item(&self) -> custody_clinic::acts::Item {
        custody_clinic::acts::Item {
            container: self.container.id,
            amount: self.amount_mg,
        }
    }

    pub fn said(&self) -> String {
        let whole = self.amount_mg.is_none()
            && self.container.status == custody_ledger::state::ContainerStatus::Sealed;
        format!(
            "{} of {} from container {}{}",
            said(&self.amount),
            self.container.product.name,
            self.container.id,
            if whole { " (sealed, whole)" } else { "" }
        )
    }
}

/// The lines `container_N` / `amount_N` that name a container; each error beside its field.
pub async fn items(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &mut Errors,
    with_amounts: bool,
) -> Vec<Item> {
    let mut out = Vec::new();
    for i in 1..=p.lines(MIN_LINES, MAX_LINES) {
        let cf = format!("container_{i}");
        let af = format!("amount_{i}");
        let c = p.get(&cf);
        let mg = if with_amounts { p.get(&af) } else { "" };
        if c.is_empty() {
            if !mg.is_empty() {
                e.add(&cf, "Choose the container this amount comes from.");
            }
            continue;
        }
        let Some(info) = (match c.parse::<ContainerId>() {
            Ok(id) => state.store.container(auth.ledger, &id).await.ok().flatten(),
            Err(_) => None,
        }) else {
            e.add(&cf, format!("There is no container {c} here."));
            continue;
        };
        let typed = if mg.is_empty() {
            None
        } else {
            match Micrograms::parse_thousandths(mg) {
                Ok(m) => Some(m),
                Err(err) => {
                    e.add(&af, sentence(&err.to_string()));
                    continue;
                }
            }
        };
        let amount = match typed {
            None => state.clinic.everything_in(auth, &info.id).await,
            Some(m) => state.clinic.amount_of(auth, &info.id, m, &af).await,
        };
        match amount {
            Ok(amount) => out.push(Item {
                container: info,
                amount_mg: typed,
                amount,
            }),
            Err(err) => {
                let err = crate::error::ApiError::from(err);
                let why = err
                    .message
                    .split_once(": ")
                    .map_or(err.message.as_str(), |(_, w)| w);
                e.add(if mg.is_empty() { &cf } else { &af }, sentence(why));
            }
        }
    }
    if out.is_empty() && e.is_empty() {
        e.add("container_1", "Name at least one container.");
    }
    out
}

/// The item lines of a form: a container choice and, when asked, an amount.
pub fn item_fields<'a>(
    mut b: FormBuilder<'a>,
    p: &Posted,
    options: &[(String, String)],
    amount_hint: Option<&str>,
) -> FormBuilder<'a> {
    let n = p.lines(MIN_LINES, MAX_LINES);
    for i in 1..=n {
        b = b.line(&format!("Container {i}")).field(
            Field::select(
                &format!("container_{i}"),
                &format!("Container {i}"),
                options.to_vec(),
            )
            .optional(),
        );
        if let Some(h) = amount_hint {
            b = b.field(
                Field::decimal(&format!("amount_{i}"), &format!("Amount {i} (mg)"))
                    .optional()
                    .hint(h),
            );
        }
    }
    b.more_lines(n)
}

/// The colleague named in `field` who signs at this screen, as the clinic knows them. Whether
/// they may witness this act is the ledger's rule, checked by the act's dry run.
pub async fn witness_at_screen(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &mut Errors,
    field: &str,
) -> Option<custody_store::sessions::UserInfo> {
    let name = p.get(field);
    if name.is_empty() {
        e.add(field, "Name the colleague who witnesses.");
        return None;
    }
    let info = match name.parse::<UserId>() {
        Ok(u) => state.store.user(auth.ledger, &u).await.ok().flatten(),
        Err(_) => None,
    };
    if info.is_none() {
        e.add(field, format!("No user {name:?} in this clinic."));
    }
    info
}

/// The patient register as choices for the MRN field (clinical staff only see it).
pub async fn patient_choices(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
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
    let patient = state.commit_patient(ledger, mrn).await?;
    Ok(match state.store.patient(ledger, &patient).await? {
        Some(p) => format!("{mrn} ({}, born {})", p.name, p.birth_date),
        None => format!("{mrn} (not in the patient register)"),
    })
}
