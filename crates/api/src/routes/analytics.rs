//! Diversion analytics: `GET …/analytics?from&to` — each person's signals against peers of
//! the same role, their tier, and the entries behind every figure (pharmacists, auditors
//! and admins: `Permission::Analytics`). The clinic folds the ledger (`custody-analytics`);
//! this module only turns the result into its wire shape.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use custody_analytics::Analytics;
use custody_clinic::Permission;
use custody_ledger::{Day, LedgerId};
use custody_report::Request;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ledgers/{ledger}/analytics", get(analytics))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// First day (YYYY-MM-DD, a day of the clinic's time zone); default 30 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
    /// A container whose timeline to include, e.g. C12-3.
    pub container: Option<String>,
}

/// The thresholds the tiers follow (docs/analytics.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdsView {
    pub high_z: f64,
    pub elevated_z: f64,
    pub min_events: u64,
    pub min_peers: usize,
    pub late_minutes: i64,
    pub queue_minutes: i64,
}

/// One figure: exact numerator and denominator, as shown, z-score, level, entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct FigureView {
    /// `waste_ratio`, `open_to_waste`, `queue_share`, `witness_delay`, `late_charting`,
    /// `corrections`, `discrepant_counts`, `off_hours` or `witness_pair`.
    pub signal: String,
    pub title: String,
    /// µg ÷ µg for the waste ratio; entries ÷ entries for shares; for a median of minutes,
    /// seconds × denominator (minutes = numerator ÷ (60 × denominator)).
    pub numerator: u64,
    pub denominator: u64,
    pub value: Option<String>,
    pub events: u64,
    pub z: Option<f64>,
    /// `none`, `elevated` or `high`.
    pub level: String,
    /// The seqs of the entries behind the figure.
    pub entries: Vec<u64>,
    pub note: Option<String>,
}

/// One person: role, tier and figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub user: String,
    pub name: String,
    pub role: String,
    /// `none`, `watch` or `review`.
    pub tier: String,
    pub figures: Vec<FigureView>,
}

/// The peers of one role for one signal.
#[derive(Debug, Serialize, ToSchema)]
pub struct BandView {
    pub role: String,
    pub signal: String,
    pub peers: usize,
    pub median: Option<f64>,
    /// 1.4826 × MAD, or 1.2533 × mean absolute deviation when MAD = 0.
    pub spread: Option<f64>,
    /// `mad`, `mean_ad`, `no_spread` or `too_few_peers`.
    pub scale: String,
}

/// Doses given in one local hour of the day.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourView {
    pub hour: u8,
    pub doses: u64,
    pub entries: Vec<u64>,
}

/// One point of a series: time, base units (µL or units), the entry (none: the start).
#[derive(Debug, Serialize, ToSchema)]
pub struct PointView {
    pub at: String,
    pub amount: u64,
    pub entry: Option<u64>,
    pub kind: Option<String>,
}

/// On hand of one product over the period, in its base unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    pub product: String,
    pub name: String,
    /// µL (shown as mL) or units.
    pub unit: String,
    pub points: Vec<PointView>,
}

/// Diversion analytics of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    pub from: String,
    pub to: String,
    /// The clinic's hours, `HH:MM-HH:MM`.
    pub hours: String,
    pub thresholds: ThresholdsView,
    /// Review first, then watch, then none.
    pub people: Vec<PersonView>,
    pub bands: Vec<BandView>,
    pub doses_by_hour: Vec<HourView>,
    pub on_hand: Vec<SeriesView>,
    /// The container asked for, from receipt on.
    pub timeline: Option<SeriesView>,
}

impl From<Analytics> for AnalyticsView {
    fn from(a: Analytics) -> Self {
        let t = a.thresholds;
        AnalyticsView {
            from: a.from.to_string(),
            to: a.to.to_string(),
            hours: a.hours.to_string(),
            thresholds: ThresholdsView {
                high_z: t.high,
                elevated_z: t.elevated,
                min_events: t.min_events,
                min_peers: t.min_peers,
                late_minutes: t.late_minutes,
                queue_minutes: t.queue_minutes,
            },
            people: a
                .people
                .into_iter()
                .map(|p| PersonView {
                    user: p.user.to_string(),
                    name: p.name,
                    role: p.role.to_string(),
                    tier: p.tier.name().into(),
                    figures: p
                        .figures
                        .into_iter()
                        .map(|f| FigureView {
                            signal: f.signal.name().into(),
                            title: f.signal.title().into(),
                            numerator: f.numerator,
                            denominator: f.denominator,
                            value: f.value,
                            events: f.events,
                            z: f.z,
                            level: f.level.name().into(),
                            entries: f.seqs,
                            note: f.note,
                        })
                        .collect(),
                })
                .collect(),
            bands: a
                .bands
                .into_iter()
                .map(|b| BandView {
                    role: b.role.to_string(),
                    signal: b.signal.name().into(),
                    peers: b.peers,
                    median: b.median,
                    spread: b.spread,
                    scale: match b.scale {
                        custody_analytics::Scale::Mad => "mad",
                        custody_analytics::Scale::MeanAd => "mean_ad",
                        custody_analytics::Scale::NoSpread => "no_spread",
                        custody_analytics::Scale::TooFewPeers => "too_few_peers",
                    }
                    .into(),
                })
                .collect(),
            doses_by_hour: a
                .doses_by_hour
                .into_iter()
                .enumerate()
                .map(|(h, (n, seqs))| HourView {
                    hour: h as u8,
                    doses: n,
                    entries: seqs,
                })
                .collect(),
            on_hand: a
                .on_hand
                .into_iter()
                .map(|s| SeriesView {
                    product: s.product.to_string(),
                    name: s.name,
                    unit: s.unit.into(),
                    points: s
                        .points
                        .into_iter()
                        .map(|(at, amount, entry)| PointView {
                            at: at.to_string(),
                            amount,
                            entry,
                            kind: None,
                        })
                        .collect(),
                })
                .collect(),
            timeline: a.timeline.map(|t| SeriesView {
                product: t.product.map(|p| p.to_string()).unwrap_or_default(),
                name: t.container.to_string(),
                unit: t.unit.into(),
                points: t
                    .events
                    .into_iter()
                    .map(|e| PointView {
                        at: e.at.to_string(),
                        amount: e.remaining,
                        entry: Some(e.seq),
                        kind: Some(e.kind.to_string()),
                    })
                    .collect(),
            }),
        }
    }
}

/// Diversion analytics of the clinic's days `from`–`to`: people by tier, each figure with
/// its z-score against peers of the same role and the entries behind it.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/analytics",
    params(("ledger" = String, Path), AnalyticsQuery),
    responses(
        (status = 200, body = AnalyticsView),
        crate::responses::QueryRefusals,
        (status = 422, body = crate::error::ErrorBody, description = "a day or container that cannot be what it says, or a period that ends before it starts (`invalid_value`)"),
    ),
    tag = "analytics"
)]
pub async fn analytics(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<AnalyticsQuery>,
    auth: Auth,
) -> ApiResult<Json<AnalyticsView>> {
    auth.require(ledger, Permission::Analytics)?;
    let day = |what: &str, v: &Option<String>| -> ApiResult<Option<Day>> {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(str::parse::<Day>)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
    };
    let zone = &state.clinic.settings.time_zone;
    let (from, to) = Request::period(day("from", &q.from)?, day("to", &q.to)?, zone.today());
    let container = q
        .container
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("container: {e}")))?;
    let a = state.clinic.analytics(&auth, from, to, container).await?;
    Ok(Json(a.into()))
}
