//! Prometheus metrics at `/metrics`: requests by route, method and status with their
//! latencies, entries appended by kind, and verification results. The route label is the
//! matched pattern (`/api/v1/ledgers/{ledger}/head`), never the raw path, so ids do not
//! multiply the series.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LedgerLabels {
    pub ledger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The service's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub appends: Family<KindLabels, Counter>,
    pub verifications: Family<ResultLabels, Counter>,
    /// Checkpoints each witness cosigned, and those it refused.
    pub cosignatures: Family<WitnessLabels, Counter>,
    pub witness_refusals: Family<WitnessLabels, Counter>,
    /// Days until each ledger's biennial inventory is due (negative: overdue), read as
    /// `/metrics` is rendered.
    pub biennial_days: Family<LedgerLabels, Gauge>,
}

/// A witness, by its key name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct WitnessLabels {
    pub witness: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("custody");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let appends = Family::<KindLabels, Counter>::default();
        let verifications = Family::<ResultLabels, Counter>::default();
        let cosignatures = Family::<WitnessLabels, Counter>::default();
        let witness_refusals = Family::<WitnessLabels, Counter>::default();
        let biennial_days = Family::<LedgerLabels, Gauge>::default();
        registry.register(
            "biennial_inventory_days_remaining",
            "Days until the biennial inventory is due (negative: overdue), by ledger; absent before the initial inventory",
            biennial_days.clone(),
        );
        registry.register(
            "witness_cosignatures",
            "Checkpoints a witness cosigned, by witness",
            cosignatures.clone(),
        );
        registry.register(
            "witness_refusals",
            "Checkpoints a witness refused (a split view, a rollback), by witness",
            witness_refusals.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            latency.clone(),
        );
        registry.register(
            "entries_appended",
            "Entries this process appended, by kind",
            appends.clone(),
        );
        registry.register_collector(Box::new(SqliteLockWaits));
        registry.register(
            "verifications",
            "Full verifications run over HTTP, by result",
            verifications.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            appends,
            verifications,
            cosignatures,
            witness_refusals,
            biennial_days,
        }
    }
}

/// How often this process's SQLite connections found another's write lock held and waited
/// (`custody_store::busy`), read as `/metrics` is rendered: contention, say from a backup
/// or a second process on the same file. Zero on PostgreSQL.
#[derive(Debug)]
struct SqliteLockWaits;

impl Collector for SqliteLockWaits {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let waits = ConstCounter::new(custody_store::busy::waits());
        let metric = encoder.encode_descriptor(
            "sqlite_lock_waits",
            "Times a SQLite connection of this process waited for another's write lock",
            None,
            waits.metric_type(),
        )?;
        waits.encode(metric)
    }
}

impl Metrics {
    pub fn appended(&self, kind: &str) {
        self.appends
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }
    pub fn witness_answered(&self, witness: &str, cosigned: bool) {
        let labels = WitnessLabels {
            witness: witness.into(),
        };
        if cosigned {
            self.cosignatures.get_or_create(&labels).inc();
        } else {
            self.witness_refusals.get_or_create(&labels).inc();
        }
    }
    pub fn verified(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.verifications
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }
}

/// Counts and times every request.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let labels = RequestLabels {
        route,
        method,
        status: resp.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`, in the Prometheus text format; the biennial inventory clocks are read now.
pub async fn render(State(state): State<crate::AppState>) -> Response {
    let metrics = &state.metrics;
    if let Ok(ledgers) = state.store.ledgers().await {
        for l in ledgers {
            if let Ok(Some(clock)) = state.clinic.biennial_of(l.ledger).await {
                metrics
                    .biennial_days
                    .get_or_create(&LedgerLabels {
                        ledger: l.ledger.to_string(),
                    })
                    .set(clock.days_left);
            }
        }
    }
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &metrics.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e.to_string()).into_response(),
    }
}
