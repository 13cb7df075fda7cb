//! The analytics page: each person's diversion signals against peers of the same role,
//! their tier, the entries behind every figure, and the charts (server-drawn SVG with a
//! title, a description and the table of their numbers). The same clinic read as
//! `GET …/analytics`; pharmacists, auditors and admins only.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use custody_analytics::Level;
use custody_clinic::Permission;
use custody_ledger::Day;
use serde::Deserialize;

use super::kit::{Me, Page, PageError, SignedIn, allow, render};
use super::words::{today, zone};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
struct AnalyticsForm {
    from: Option<String>,
    to: Option<String>,
    container: Option<String>,
}

/// A chart as the page shows it: the SVG, and its numbers as a table.
struct ChartView {
    id: String,
    title: String,
    svg: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// One figure row: signal, value, z, level, the entries behind it (seq, link).
struct FigureRow {
    signal: String,
    value: String,
    z: String,
    level: String,
    entries: Vec<(u64, String)>,
}

struct PersonRow {
    name: String,
    user: String,
    role: String,
    tier: String,
    high: String,
    figures: Vec<FigureRow>,
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    me: Option<Me>,
    from: String,
    to: String,
    container: String,
    zone: String,
    hours: String,
    rule: String,
    people: Vec<PersonRow>,
    charts: Vec<ChartView>,
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

async fn analytics(
    State(state): State<AppState>,
    SignedIn(auth): SignedIn,
    Query(q): Query<AnalyticsForm>,
) -> Page {
    allow(&auth, Permission::Analytics)?;
    let z = zone(&state);
    let day = |what: &str, v: &Option<String>| -> Result<Option<Day>, PageError> {
        some(v)
            .map(str::parse::<Day>)
            .transpose()
            .map_err(|e| PageError::of(&auth, ApiError::invalid(format!("{what}: {e}"))))
    };
    let (from, to) =
        custody_report::Request::period(day("from", &q.from)?, day("to", &q.to)?, today(z));
    let container = some(&q.container)
        .map(str::parse)
        .transpose()
        .map_err(|e| PageError::of(&auth, ApiError::invalid(format!("container: {e}"))))?;
    let a = state
        .clinic
        .analytics(&auth, from, to, container)
        .await
        .map_err(|e| PageError::of(&auth, e))?;
    let charts = custody_analytics::chart::all(&a, z.tz())
        .into_iter()
        .map(|c| ChartView {
            svg: c.svg(),
            id: c.id,
            title: c.title,
            headers: c.headers,
            rows: c.rows,
        })
        .collect();
    let th = a.thresholds;
    let people = a
        .people
        .iter()
        .map(|p| PersonRow {
            name: p.name.clone(),
            user: p.user.to_string(),
            role: p.role.to_string(),
            tier: p.tier.name().into(),
            high: {
                let h: Vec<&str> = p
                    .figures
                    .iter()
                    .filter(|f| f.level == Level::High)
                    .map(|f| f.signal.title())
                    .collect();
                if h.is_empty() {
                    "—".into()
                } else {
                    h.join("; ")
                }
            },
            figures: p
                .figures
                .iter()
                .filter(|f| f.denominator > 0)
                .map(|f| FigureRow {
                    signal: f.signal.title().into(),
                    value: f.value.clone().unwrap_or_default(),
                    z: f.z.map_or_else(|| "—".into(), |z| format!("{z:.2}")),
                    level: f.level.name().into(),
                    entries: f
                        .seqs
                        .iter()
                        .map(|s| (*s, format!("/ui/entries?after={}", s.saturating_sub(1))))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(render(
        &AnalyticsPage {
            me: Some((&auth).into()),
            from: from.to_string(),
            to: to.to_string(),
            container: container
                .map(|c: custody_ledger::ContainerId| c.to_string())
                .unwrap_or_default(),
            zone: z.to_string(),
            hours: a.hours.to_string(),
            rule: format!(
                "A figure is elevated at z ≥ {:.1} and high at z ≥ {:.1} with at least {} events behind it; a role needs {} people with a figure for a z-score. Review: two or more high signals. Watch: one high, or two elevated.",
                th.elevated, th.high, th.min_events, th.min_peers
            ),
            people,
            charts,
        },
        StatusCode::OK,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/ui/analytics", get(analytics))
}
