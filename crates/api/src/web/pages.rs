//! The pages: sign-in, sign-out, dashboard, and one's own password.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use custody_clinic::deadlines::DeadlineStatus;
use custody_ledger::LedgerId;
use serde::Deserialize;

use super::forms::{Errors, Field, FormBuilder, Posted, act_page, sentence};
use super::kit::{
    Me, OrRefuse, PASSWORD_PAGE, Page, SignedIn, SignedInPending, check_csrf, render,
};
use super::words::{discrepancy_line, left, when, zone};
use crate::auth::{Auth, Pending, cleared_cookie, session_cookie, sign_in};
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    me: Option<Me>,
    registrant: String,
    ledger: String,
    /// Every ledger served: a choice when there are several.
    ledgers: Vec<LedgerChoice>,
    username: String,
    error: Option<String>,
    notice: Option<String>,
    /// No one is enrolled yet: offer the first admin's sign-up.
    first_start: bool,
}

impl LoginPage {
    /// The sign-in page of `ledger`, empty.
    async fn of(
        state: &AppState,
        ledger: LedgerId,
        registrant: String,
        ledgers: Vec<LedgerChoice>,
    ) -> Self {
        LoginPage {
            me: None,
            registrant,
            ledger: ledger.to_string(),
            ledgers,
            username: String::new(),
            error: None,
            notice: None,
            first_start: first_start(state, ledger).await,
        }
    }
}

/// A ledger this server holds, as the sign-in page offers it.
struct LedgerChoice {
    id: String,
    registrant: String,
    dea: String,
}

/// The ledgers served, and the one `wanted` (else the first) with its registrant's name.
async fn the_ledger(
    state: &AppState,
    wanted: Option<LedgerId>,
) -> Result<(LedgerId, String, Vec<LedgerChoice>), ApiError> {
    let ledgers = state.store.ledgers().await?;
    let l = ledgers
        .iter()
        .find(|l| Some(l.ledger) == wanted)
        .or_else(|| ledgers.first())
        .ok_or_else(|| ApiError::not_found("this server holds no ledger yet"))?;
    let choices = ledgers
        .iter()
        .map(|l| LedgerChoice {
            id: l.ledger.to_string(),
            registrant: l.registrant.name.to_string(),
            dea: l.registrant.dea.to_string(),
        })
        .collect();
    Ok((l.ledger, l.registrant.name.to_string(), choices))
}

#[derive(Deserialize)]
struct LoginQuery {
    ended: Option<String>,
    welcome: Option<String>,
    ledger: Option<String>,
}

async fn first_start(state: &AppState, ledger: LedgerId) -> bool {
    state.store.users(ledger).await.is_ok_and(|u| u.is_empty())
}

async fn login_page(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Page {
    // The page's idle timer says `ended=idle`; a session found ended on the server (timed
    // out, or ended by a password reset, a deactivation or a sign-out elsewhere) `ended=1`.
    let notice = if q.ended.as_deref() == Some("idle") {
        Some(format!(
            "You were signed out after {} minutes without activity. Sign in again to go on.",
            state.settings.idle_timeout.as_secs() / 60
        ))
    } else if q.ended.is_some() {
        Some(
            "Your session has ended: it timed out, or it was ended by a password reset, a deactivation or a sign-out elsewhere. Sign in again to go on."
                .to_string(),
        )
    } else if q.welcome.is_some() {
        Some("The first admin is enrolled: sign in.".to_string())
    } else {
        None
    };
    let wanted = q.ledger.as_deref().and_then(|l| l.parse().ok());
    let (ledger, registrant, ledgers) = the_ledger(&state, wanted).await?;
    let page = LoginPage {
        notice,
        ..LoginPage::of(&state, ledger, registrant, ledgers).await
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
struct LoginForm {
    ledger: String,
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Form(f): Form<LoginForm>,
) -> Page {
    let (ledger, registrant, ledgers) = the_ledger(&state, f.ledger.parse().ok()).await?;
    match sign_in(&state, ledger, &f.username, &f.password, &client).await {
        Ok(s) => Ok((
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, session_cookie(&state, &s.token)),
                (header::LOCATION, "/ui".to_string()),
            ],
        )
            .into_response()),
        Err(e) => {
            let e = ApiError::from(e);
            let page = LoginPage {
                username: f.username,
                error: Some(e.message),
                ..LoginPage::of(&state, ledger, registrant, ledgers).await
            };
            Ok(render(&page, e.status))
        }
    }
}

/// The idle notice's "Stay signed in": any request by the session keeps it alive.
async fn keepalive(_: Pending) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    SignedInPending(auth): SignedInPending,
    Form(f): Form<CsrfForm>,
) -> Page {
    check_csrf(&auth, &f.csrf)?;
    state.clinic.sign_out(&auth).await.map_err(ApiError::from)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cleared_cookie()),
            (header::LOCATION, "/ui/login".to_string()),
        ],
    )
        .into_response())
}

struct OnHandLine {
    product: String,
    lot: String,
    location: String,
    sealed: u64,
    open: u64,
    drug: String,
}

struct OpenLine {
    id: String,
    product: String,
    location: String,
    left: String,
    beyond_use: String,
    countdown: String,
    urgent: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    me: Option<Me>,
    registrant: String,
    entries: u64,
    on_hand: Vec<OnHandLine>,
    open: Vec<OpenLine>,
    expiring: Vec<String>,
    pending: Vec<String>,
    discrepancies: Vec<(String, String)>,
    verification: String,
    /// Witnesses' refusals not resolved yet (admins only).
    witness_alerts: Vec<String>,
    /// Go-live: no initial inventory yet (those who take inventories).
    needs_initial_inventory: bool,
    /// The biennial inventory, from 60 days before it is due: what it says, and overdue.
    biennial: Option<(String, bool)>,
    /// Losses whose reports to the DEA are due: what is due, overdue, and the page that
    /// records them.
    losses_due: Vec<(String, bool, String)>,
    /// Each state PMP's next file and its deadline.
    pmp: Vec<String>,
    /// Spravato REMS monitoring forms due: what is due, overdue, and the session's page.
    rems_forms_due: Vec<(String, bool, String)>,
    /// Patient-labelled containers that must leave stock: (what, link).
    labels_expired: Vec<(String, String)>,
}

async fn dashboard(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    let d = state.clinic.dashboard(&auth).await.or_refuse(&auth)?;
    let pmp = state
        .clinic
        .pmp_deadlines(&auth)
        .await
        .or_refuse(&auth)?
        .into_iter()
        .map(|p| {
            format!(
                "{} ({}): the file for {} is due by {}",
                p.state, p.name, p.day, p.due
            )
        })
        .collect();
    let auth = &auth;
    let z = zone(&state);
    let on_hand = d
        .on_hand
        .into_iter()
        .map(|s| OnHandLine {
            product: s.product,
            lot: s.on_hand.lot.to_string(),
            location: s.on_hand.location.to_string(),
            sealed: s.on_hand.sealed_containers,
            open: s.on_hand.open_containers,
            drug: s.on_hand.total.to_string(),
        })
        .collect();
    let open = d
        .open
        .iter()
        .map(|o| {
            let c = &o.container;
            let single_use = c.product.strength.single_use();
            OpenLine {
                id: c.id.to_string(),
                product: c.product.name.to_string(),
                location: c.location.to_string(),
                left: left(c),
                beyond_use: o.beyond_use.to_string(),
                countdown: match o.days_left {
                    // An open Spravato device still holding its dose was used partly, or
                    // opened for a patient and not given: it leaves stock, never back on hand.
                    _ if single_use
                        && c.remaining > 0
                        && custody_clinic::acts::under_rems(&c.product) =>
                    {
                        format!(
                            "partly used or not given: waste it ({}) within {} days of labelling",
                            custody_clinic::acts::PARTIAL_DEVICE_REASON,
                            custody_clinic::acts::PATIENT_LABELLED_DAYS
                        )
                    }
                    // Used whole when opened: no beyond-use period to count down.
                    _ if single_use => "single use".into(),
                    d if d < 0 => format!("past by {} days", -d),
                    0 => "last day".into(),
                    1 => "1 day left".into(),
                    d => format!("{d} days left"),
                },
                urgent: (o.days_left <= 2 && !single_use)
                    || (single_use
                        && c.remaining > 0
                        && custody_clinic::acts::under_rems(&c.product)),
            }
        })
        .collect();
    let expiring = d
        .expiring
        .iter()
        .map(|x| {
            format!(
                "{} lot {} expires {} ({} days)",
                x.product, x.lot, x.expiry, x.days_left
            )
        })
        .collect();
    let pending = d
        .pending
        .iter()
        .map(|p| {
            format!(
                "{} — container {}, recorded by {} at {}",
                p.pending.kind(),
                p.pending.container,
                p.author_name,
                when(z, p.pending.queued_at)
            )
        })
        .collect();
    let discrepancies = d
        .discrepancies
        .iter()
        .map(|x| discrepancy_line(z, x))
        .collect();
    let witness_alerts = d
        .witness_alerts
        .into_iter()
        .map(|a| {
            format!(
                "Witness {} refused the checkpoint of {} entries at {}: {}",
                a.witness,
                a.size,
                when(z, a.at),
                a.message
            )
        })
        .collect();
    let biennial = d.biennial.map(|b| {
        let says = if b.overdue() {
            format!(
                "The biennial inventory is OVERDUE: it was due {} ({} days ago; the last inventory was taken {}).",
                b.due, -b.days_left, b.last
            )
        } else {
            format!(
                "The biennial inventory is due by {} ({} days left; the last inventory was taken {}).",
                b.due, b.days_left, b.last
            )
        };
        (says, b.overdue())
    });
    let losses_due = d
        .losses_due
        .iter()
        .map(|l| {
            let overdue = matches!(l.notice, DeadlineStatus::Overdue { .. })
                || matches!(l.form_106, DeadlineStatus::Overdue { .. });
            (
                format!(
                    "Loss {} ({}, discovered {}): written notice to the DEA Field Division {}; DEA Form 106 {}.",
                    l.seq,
                    l.loss.loss_type,
                    l.loss.discovered_on,
                    l.notice.describe(),
                    l.form_106.describe()
                ),
                overdue,
                format!("/ui/losses/{}/reported", l.seq),
            )
        })
        .collect();
    let rems_forms_due = d
        .rems_forms_due
        .iter()
        .filter_map(|v| {
            let deadline = v.form_deadline?;
            Some((
                format!(
                    "REMS session {} ({}, {} device(s), discharged {}): Patient Monitoring Form {}.",
                    v.record.session,
                    v.mrn.as_deref().unwrap_or("patient record erased"),
                    v.doses.len(),
                    v.closed
                        .as_ref()
                        .map_or_else(String::new, |(_, c)| when(z, c.discharged_at)),
                    deadline.describe()
                ),
                matches!(deadline, DeadlineStatus::Overdue { .. }),
                format!("/ui/rems/{}", v.record.session),
            ))
        })
        .collect();
    let labels_expired = d
        .labels_expired
        .iter()
        .map(|l| {
            (
                format!(
                    "{} ({}, lot {}, {}): labelled for a patient on {}, unused after {}.",
                    l.container.id,
                    l.container.product.name,
                    l.container.lot,
                    l.container.location,
                    l.labelled_on,
                    l.last_day
                ),
                "/ui/destruction".to_string(),
            )
        })
        .collect();
    Ok(render(
        &Dashboard {
            labels_expired,
            rems_forms_due,
            needs_initial_inventory: d.needs_initial_inventory,
            biennial,
            losses_due,
            witness_alerts,
            pmp,
            me: Some(auth.into()),
            registrant: d.registrant,
            entries: d.entries,
            on_hand,
            open,
            expiring,
            pending,
            discrepancies,
            verification: d
                .last_verification
                .unwrap_or_else(|| "Not verified since the server started.".into()),
        },
        StatusCode::OK,
    ))
}

// ---- one's own password ----

/// The password form: the current password, the new one twice.
fn password_page(auth: &Auth, p: &Posted, e: &Errors, status: StatusCode) -> Response {
    let mut current = Field::password("password", "Current password");
    current.autocomplete = "current-password";
    let form = FormBuilder::new(auth.csrf(), PASSWORD_PAGE, "Change the password", p, e)
        .field(current)
        .field(
            Field::password("new_password", "New password")
                .hint("At least 12 characters; not your user name, not a common password."),
        )
        .field(Field::password("new_password_again", "New password, again"))
        .build();
    let lead = if auth.password_change_required() {
        "An admin set your password. Choose your own before you go on: nothing else is open until you do."
    } else {
        "Your signing key stays the same: it is sealed again under the new password, which then signs in and signs your acts."
    };
    act_page(
        auth,
        "Change your password",
        lead,
        None,
        vec![(String::new(), form)],
        status,
    )
}

async fn password_form(SignedInPending(auth): SignedInPending) -> Response {
    password_page(
        &auth,
        &Posted::default(),
        &Errors::default(),
        StatusCode::OK,
    )
}

async fn change_password(
    State(state): State<AppState>,
    SignedInPending(auth): SignedInPending,
    Client(client): Client,
    Form(fields): Form<Vec<(String, String)>>,
) -> Page {
    let p = Posted::from(fields);
    check_csrf(&auth, p.csrf())?;
    let (current, new) = (p.secret("password"), p.secret("new_password"));
    let mut e = Errors::default();
    if current.is_empty() {
        e.add("password", "Type your current password.");
    }
    if new.is_empty() {
        e.add("new_password", "Type a new password.");
    } else if let Err(err) = custody_clinic::passwords::check(auth.user.as_str(), &new) {
        e.add("new_password", sentence(&err.to_string()));
    }
    if p.secret("new_password_again") != new {
        e.add(
            "new_password_again",
            "The two new passwords differ: type the same one twice.",
        );
    }
    if !e.is_empty() {
        return Ok(password_page(
            &auth,
            &p,
            &e,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let origin = custody_clinic::acts::Origin {
        client,
        request_id: None,
    };
    match state
        .clinic
        .change_password(&auth, &current, &new, &origin)
        .await
    {
        Ok(()) => Ok(Redirect::to("/ui/password/changed").into_response()),
        Err(err) => {
            let err = ApiError::from(err);
            e.refusal(
                &[],
                &[
                    ("wrong_password", "password"),
                    ("too_many_attempts", "password"),
                    ("weak_password", "new_password"),
                ],
                &err,
            );
            Ok(password_page(&auth, &p, &e, err.status))
        }
    }
}

async fn password_changed(SignedIn(auth): SignedIn) -> Response {
    act_page(
        &auth,
        "Password changed",
        "Your password was changed: sign in and sign your acts with the new one from now on. Your signing key is the same.",
        None,
        Vec::new(),
        StatusCode::OK,
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(dashboard))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/keepalive", get(keepalive))
        .route(PASSWORD_PAGE, get(password_form).post(change_password))
        .route("/ui/password/changed", get(password_changed))
}
