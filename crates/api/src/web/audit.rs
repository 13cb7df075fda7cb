//! The auditor's pages: signed reports for a chosen period, the verification status and a
//! full verification on demand, and the entries, browsed and searched, each in a sentence.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use custody_ledger::*;
use custody_store::EntryFilter;
use serde::Deserialize;

use super::forms::{Cell, Table, link};
use super::pages::{Me, SignedIn, allow, check_csrf, refuse, render};
use super::stock::said;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::ledger::{READERS, VERIFIERS, query_time, run_verification};
use crate::routes::reports::REPORT_READERS;
use crate::state::AppState;

/// An entry in one sentence, as the entries page and a container's history show it.
pub fn describe(e: &Entry) -> String {
    let items = |xs: &[ContainerAmount]| {
        xs.iter()
            .map(|i| format!("{} from {}", said(&i.amount), i.container))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e.payload() {
        Payload::Genesis(g) => format!(
            "ledger opened for {} (DEA {})",
            g.registrant.name, g.registrant.dea
        ),
        Payload::UserEnrolled(u) => {
            format!("{} ({}) enrolled as {}", u.user, u.printed_name, u.role)
        }
        Payload::RoleChanged(r) => format!("{} made {}: {}", r.user, r.role, r.reason),
        Payload::UserDeactivated(u) => format!("{} deactivated: {}", u.user, u.reason),
        Payload::KeyRotated(k) => format!(
            "new key for {}: {}",
            match &k.subject {
                Principal::User(u) => u.to_string(),
                Principal::Registrant => "the registrant".into(),
            },
            k.reason
        ),
        Payload::ProductDefined(p) => format!("product {} defined: {}", p.ndc, p.name),
        Payload::LocationDefined(l) => format!("location {} defined: {}", l.location, l.name),
        Payload::Receipt(r) => format!(
            "{} × {} lot {} received from {} (invoice {}) into {}",
            r.containers, r.product, r.lot, r.supplier.name, r.invoice, r.location
        ),
        Payload::ContainerOpened(o) => {
            format!("{} opened; beyond use {}", o.container, o.beyond_use)
        }
        Payload::Administered(a) => format!(
            "{} {} from {} given by {} at {}",
            said(&a.amount),
            a.route,
            a.container,
            a.given_by,
            a.given_at
        ),
        Payload::Dispensed(d) => {
            let sealed: Vec<String> = d.sealed.iter().map(ToString::to_string).collect();
            let mut parts = Vec::new();
            if !sealed.is_empty() {
                parts.push(format!("sealed {}", sealed.join(", ")));
            }
            if !d.from_open.is_empty() {
                parts.push(items(&d.from_open));
            }
            format!("take-home dispensed: {}", parts.join("; "))
        }
        Payload::Waste(w) => format!(
            "{} wasted from {}: {}",
            said(&w.amount),
            w.container,
            w.reason
        ),
        Payload::Transfer(t) => format!(
            "{} transferred to {}",
            t.containers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            match &t.to {
                TransferTo::Location { location } => location.to_string(),
                TransferTo::Registrant { registrant } =>
                    format!("{} (DEA {})", registrant.name, registrant.dea),
            }
        ),
        Payload::Count(c) => format!(
            "{}count of {} at {}: {} sealed + {} open counted, {} sealed + {} open expected",
            if c.blind { "blind " } else { "" },
            c.product,
            c.location,
            c.counted.sealed,
            c.counted.open,
            c.expected.sealed,
            c.expected.open
        ),
        Payload::Adjustment(a) => format!(
            "{} of {} in {} ({}{}): {}",
            a.direction,
            said(&a.amount),
            a.container,
            a.reason,
            a.resolves
                .map(|s| format!(", resolves count {s}"))
                .unwrap_or_default(),
            a.note
        ),
        Payload::LossTheft(l) => format!(
            "{} discovered {}: {}",
            l.loss_type,
            l.discovered_on,
            items(&l.items)
        ),
        Payload::Destruction(d) => format!(
            "destroyed on {} ({}): {}",
            d.date,
            match &d.method {
                DestructionMethod::OnSite { method, .. } => method.to_string(),
                DestructionMethod::ReverseDistributor { distributor } =>
                    format!("to {}", distributor.name),
            },
            items(&d.items)
        ),
        Payload::Correction(c) => format!("corrects entry {}: {}", c.corrects, c.reason),
        Payload::ReportIssued(r) => format!(
            "{} report for {} – {} issued to {}",
            r.report, r.from, r.to, r.requested_by
        ),
    }
}

/// Printed names by user id, as signatures are shown to people (21 CFR 11.50).
pub type Names = std::collections::HashMap<UserId, String>;

pub async fn names(state: &AppState, ledger: LedgerId) -> ApiResult<Names> {
    Ok(state
        .store
        .users(ledger)
        .await?
        .into_iter()
        .map(|u| (u.user, u.printed_name))
        .collect())
}

fn signers(e: &Entry, names: &Names) -> String {
    e.signatures
        .iter()
        .map(|s| match &s.signer {
            Principal::User(u) => match names.get(u) {
                Some(n) => format!("{n} ({u}), {}", s.meaning),
                None => format!("{u}, {}", s.meaning),
            },
            Principal::Registrant => format!("the registrant, {}", s.meaning),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The rows of an entries table: number, time, kind, signers, what happened.
pub fn entry_rows(
    rows: &[custody_store::sessions::StoredEntry],
    names: &Names,
) -> ApiResult<Vec<Vec<Cell>>> {
    rows.iter()
        .map(|r| {
            let e = Entry::from_canonical_bytes(&r.bytes).map_err(|err| {
                ApiError::internal(format!("stored entry {} cannot be read: {err}", r.seq))
            })?;
            Ok(vec![
                r.seq.to_string().into(),
                e.timestamp.to_string().into(),
                e.kind().to_string().into(),
                signers(&e, names).into(),
                describe(&e).into(),
            ])
        })
        .collect()
}

pub fn entry_head() -> Vec<String> {
    ["#", "Recorded", "Kind", "Signed by", "What"]
        .map(String::from)
        .to_vec()
}

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

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn filter_of(q: &EntriesForm) -> ApiResult<EntryFilter> {
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
        from: some(&q.from).map(|s| query_time("from", s)).transpose()?,
        to: some(&q.to)
            .map(|s| match s.parse::<Day>() {
                // "to" a day means through its end.
                Ok(d) => Ok(d.plus_days(1).unwrap_or(d).start()),
                Err(_) => query_time("to", s),
            })
            .transpose()?,
    })
}

async fn entries(
    State(state): State<AppState>,
    Query(q): Query<EntriesForm>,
    SignedIn(auth): SignedIn,
) -> Response {
    if let Some(r) = allow(&auth, READERS) {
        return r;
    }
    let products = match state.store.products(auth.ledger).await {
        Ok(ps) => ps
            .into_iter()
            .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
            .collect(),
        Err(e) => return refuse(&auth, e.into()),
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
    match filter_of(&q) {
        Ok(filter) => {
            let after = q.after.and_then(|a| Seq::new(a).ok());
            match state
                .store
                .entries_filtered(auth.ledger, after, 50, &filter)
                .await
            {
                Ok(page) => {
                    let names = match names(&state, auth.ledger).await {
                        Ok(n) => n,
                        Err(e) => return refuse(&auth, e),
                    };
                    match entry_rows(&page.entries, &names) {
                        Ok(rows) => table.rows = rows,
                        Err(e) => return refuse(&auth, e),
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
                Err(e) => return refuse(&auth, e.into()),
            }
        }
        Err(e) => {
            error = Some(e.message);
            status = StatusCode::UNPROCESSABLE_ENTITY;
        }
    }
    render(
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
    )
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
) -> Response {
    let head = match state.store.head(auth.ledger).await {
        Ok(h) => h,
        Err(e) => return refuse(auth, e.into()),
    };
    let last = state
        .last_verification
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| "Not verified since the server started.".into());
    render(
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
    )
}

async fn verify_get(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Response {
    if let Some(r) = allow(&auth, VERIFIERS) {
        return r;
    }
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
) -> Response {
    if let Some(r) = check_csrf(&auth, &f.csrf).or_else(|| allow(&auth, VERIFIERS)) {
        return r;
    }
    match run_verification(&state, auth.ledger, &auth).await {
        Ok(v) if v.ok => {
            let msg = format!(
                "Every one of the {} entries verified: hashes chain, signatures are valid, and the rules held. Head {}.",
                v.entries,
                v.head.unwrap_or_default()
            );
            verify_page(&state, &auth, Some((true, msg)), StatusCode::OK).await
        }
        Ok(v) => {
            let msg = format!(
                "Verification FAILED at entry {}: {} ({}). Entries before it verified.",
                v.failed_at.unwrap_or_default(),
                v.reason.unwrap_or_default(),
                v.code.unwrap_or_default()
            );
            verify_page(&state, &auth, Some((false, msg)), StatusCode::OK).await
        }
        Err(e) => refuse(&auth, e),
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
    products: Vec<(String, String)>,
    reports: Vec<(&'static str, &'static str, &'static str)>,
}

async fn reports(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Response {
    if let Some(r) = allow(&auth, REPORT_READERS) {
        return r;
    }
    let products = match state.store.products(auth.ledger).await {
        Ok(ps) => ps
            .into_iter()
            .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
            .collect(),
        Err(e) => return refuse(&auth, e.into()),
    };
    let (from, to) = custody_report::Request::period(None, None, super::pharmacy::today());
    render(
        &ReportsPage {
            me: Some((&auth).into()),
            ledger: auth.ledger.to_string(),
            from: from.to_string(),
            to: to.to_string(),
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
            ],
        },
        StatusCode::OK,
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/entries", get(entries))
        .route("/ui/verify", get(verify_get).post(verify_post))
        .route("/ui/reports", get(reports))
}
