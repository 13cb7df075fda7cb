//! The auditor's pages: signed reports for a chosen period, the verification status and a
//! full verification on demand, and the entries, browsed and searched, each in a sentence.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Form, Router};
use custody_ledger::*;
use custody_store::EntryFilter;
use serde::Deserialize;

use super::forms::{Cell, Table, link};
use super::kit::{Me, OrRefuse, Page, PageError, SignedIn, allow, check_csrf, render};
use super::words::{Zone, entry_head, entry_rows, names, zone};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use custody_clinic::Permission;

// ---- entries ----

#[derive(Debug, Default, Deserialize)]
struct EntriesForm {
    kind: Option<String>,
    product: Option<String>,
    container: Option<String>,
    user: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<u64>,
}

#[derive(Template)]
#[template(path = "entries.html")]
struct EntriesPage {
    me: Option<Me>,
    kinds: Vec<String>,
    products: Vec<(String, String)>,
    q: Filled,
    error: Option<String>,
    table: Table,
    next: Option<String>,
}

#[derive(Default)]
struct Filled {
    kind: String,
    product: String,
    container: String,
    user: String,
    from: String,
    to: String,
}

/// A day of the clinic's zone (its start) or a time, as a filter's bound.
fn day_or_time(zone: &Zone, what: &str, s: &str) -> ApiResult<Timestamp> {
    if let Ok(d) = s.parse::<Day>() {
        return Ok(zone.start_of(d));
    }
    zone.parse_local(s)
        .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn filter_of(q: &EntriesForm, zone: &Zone) -> ApiResult<EntryFilter> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ApiError::invalid(format!("{what}: {e}"));
    Ok(EntryFilter {
        kind: some(&q.kind)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("kind", &e))?,
        product: some(&q.product)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("product", &e))?,
        container: some(&q.container)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("container", &e))?,
        user: some(&q.user)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("user", &e))?,
        from: some(&q.from)
            .map(|s| day_or_time(zone, "from", s))
            .transpose()?,
        to: some(&q.to)
            .map(|s| match s.parse::<Day>() {
                // "to" a day means through its end.
                Ok(d) => Ok(zone.end_of(d)),
                Err(_) => day_or_time(zone, "to", s),
            })
            .transpose()?,
    })
}

async fn entries(
    State(state): State<AppState>,
    Query(q): Query<EntriesForm>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::Read)?;
    let products = match state.store.products(auth.ledger).await {
        Ok(ps) => ps
            .into_iter()
            .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
            .collect(),
        Err(e) => return Err(PageError::of(&auth, e)),
    };
    let filled = Filled {
        kind: some(&q.kind).unwrap_or_default().into(),
        product: some(&q.product).unwrap_or_default().into(),
        container: some(&q.container).unwrap_or_default().into(),
        user: some(&q.user).unwrap_or_default().into(),
        from: some(&q.from).unwrap_or_default().into(),
        to: some(&q.to).unwrap_or_default().into(),
    };
    let mut table = Table {
        caption: String::new(),
        head: entry_head(),
        rows: Vec::new(),
        empty: "No entry matches.".into(),
    };
    let (mut error, mut next, mut status) = (None, None, StatusCode::OK);
    match filter_of(&q, zone(&state)) {
        Ok(filter) => {
            let after = q.after.and_then(|a| Seq::new(a).ok());
            match state
                .store
                .entries_filtered(auth.ledger, after, 50, &filter)
                .await
            {
                Ok(page) => {
                    let names = names(&state, auth.ledger).await.or_refuse(&auth)?;
                    match entry_rows(&page.entries, &names, zone(&state)) {
                        Ok(rows) => table.rows = rows,
                        Err(e) => return Err(PageError::of(&auth, e)),
                    }
                    // Containers in the rows lead to their history.
                    for row in &mut table.rows {
                        link_containers(row);
                    }
                    next = page.next.map(|n| {
                        let mut s = form_urlencoded::Serializer::new(String::new());
                        for (k, v) in [
                            ("kind", &filled.kind),
                            ("product", &filled.product),
                            ("container", &filled.container),
                            ("user", &filled.user),
                            ("from", &filled.from),
                            ("to", &filled.to),
                        ] {
                            if !v.is_empty() {
                                s.append_pair(k, v);
                            }
                        }
                        s.append_pair("after", &n.to_string());
                        format!("/ui/entries?{}", s.finish())
                    });
                }
                Err(e) => return Err(PageError::of(&auth, e)),
            }
        }
        Err(e) => {
            error = Some(e.message);
            status = StatusCode::UNPROCESSABLE_ENTITY;
        }
    }
    Ok(render(
        &EntriesPage {
            me: Some((&auth).into()),
            kinds: Kind::ALL.iter().map(ToString::to_string).collect(),
            products,
            q: filled,
            error,
            table,
            next,
        },
        status,
    ))
}

/// The first container id named in the "What" cell becomes a link to its page.
fn link_containers(row: &mut [Cell]) {
    let Some(what) = row.last_mut() else { return };
    let found = what
        .text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':')
        .find(|w| w.parse::<ContainerId>().is_ok())
        .map(str::to_string);
    if let Some(id) = found {
        *what = link(what.text.clone(), format!("/ui/containers/{id}"));
    }
}

// ---- verification ----

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    me: Option<Me>,
    csrf: String,
    entries: u64,
    head: String,
    registrant_key: String,
    last: String,
    result: Option<(bool, String)>,
}

async fn verify_page(
    state: &AppState,
    auth: &Auth,
    result: Option<(bool, String)>,
    status: StatusCode,
) -> Page {
    let head = state.store.head(auth.ledger).await.or_refuse(auth)?;
    let last = state
        .last_verification
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| "Not verified since the server started.".into());
    Ok(render(
        &VerifyPage {
            me: Some(auth.into()),
            csrf: auth.csrf(),
            entries: head.entries,
            head: head.last_hash.to_string(),
            registrant_key: head.registrant_key.to_string(),
            last,
            result,
        },
        status,
    ))
}

async fn verify_get(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::Verify)?;
    verify_page(&state, &auth, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn verify_post(
    State(state): State<AppState>,
    SignedIn(auth): SignedIn,
    Form(f): Form<CsrfOnly>,
) -> Page {
    check_csrf(&auth, &f.csrf)?;
    allow(&auth, Permission::Verify)?;
    match state.clinic.verify(&auth).await.or_refuse(&auth)? {
        Ok(v) => {
            state.metrics.verified(true);
            let msg = format!(
                "Every one of the {} entries verified: hashes chain, signatures are valid, and the rules held. Head {}.",
                v.entries, v.head
            );
            verify_page(&state, &auth, Some((true, msg)), StatusCode::OK).await
        }
        Err(f) => {
            state.metrics.verified(false);
            let msg = format!(
                "Verification FAILED at entry {}: {} ({}). Entries before it verified.",
                f.seq,
                f.reason,
                f.reason.code()
            );
            verify_page(&state, &auth, Some((false, msg)), StatusCode::OK).await
        }
    }
}

// ---- reports ----

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    me: Option<Me>,
    ledger: String,
    from: String,
    to: String,
    /// The clinic's time zone, whose days the period covers.
    zone: String,
    products: Vec<(String, String)>,
    reports: Vec<(&'static str, &'static str, &'static str)>,
}

async fn reports(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::Reports)?;
    let products = match state.store.products(auth.ledger).await {
        Ok(ps) => ps
            .into_iter()
            .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
            .collect(),
        Err(e) => return Err(PageError::of(&auth, e)),
    };
    let (from, to) = custody_report::Request::period(None, None, super::words::today(zone(&state)));
    Ok(render(
        &ReportsPage {
            me: Some((&auth).into()),
            ledger: auth.ledger.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            zone: zone(&state).to_string(),
            products,
            reports: vec![
                (
                    "audit",
                    "Audit",
                    "Every entry of the period, balances per product and lot, discrepancies, and the verification.",
                ),
                (
                    "inventory",
                    "Inventory",
                    "What was on hand at the close of the last day (the biennial inventory's facts).",
                ),
                ("waste", "Waste", "Every waste with its witness."),
                (
                    "loss",
                    "Loss and theft",
                    "The DEA Form 106 facts for each loss.",
                ),
                (
                    "trace",
                    "Container trace",
                    "One container from receipt to its end: name it below.",
                ),
                (
                    "dispensing",
                    "Dispensing",
                    "Doses and take-home dispenses by patient and prescriber.",
                ),
                (
                    "diversion",
                    "Diversion analytics",
                    "Each person's signals against peers of the same role, tiers, the entries behind every figure, and charts.",
                ),
                (
                    "rems",
                    "Spravato REMS",
                    "Sessions closed in the period, and whether each Patient Monitoring Form was submitted in its 7 days.",
                ),
            ],
        },
        StatusCode::OK,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/entries", get(entries))
        .route("/ui/verify", get(verify_get).post(verify_post))
        .route("/ui/reports", get(reports))
}
