//! Signed reports: built from one fold of the ledger, signed by the registrant key, and
//! recorded by a `report_issued` entry. The detached signature of the last report each
//! person downloaded is kept (in memory) so that it can be fetched on its own. Reports are
//! built on the blocking pool (`off_the_request_threads`), not on the request's async worker.

use custody_ledger::LedgerId;
use custody_report::{Built, BuiltCsv, ReportError, Request};

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// Which report a signature belongs to: who asked, for what.
fn cache_key(s: &Session, req: &Request) -> String {
    format!(
        "{}/{}/{}?{}|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
        s.ledger,
        s.user,
        req.kind,
        req.from,
        req.to,
        req.product,
        req.container,
        req.prescriber,
        req.patient,
        req.identified,
        req.reason
    )
}

fn report_error(e: ReportError) -> ClinicError {
    match e {
        ReportError::Invalid(m) => ClinicError::invalid("report", m),
        ReportError::Store(e) => e.into(),
        e => ClinicError::internal(e),
    }
}

/// Runs a report's build on tokio's blocking pool: rendering a large report takes seconds of
/// CPU, which on an async worker would hold up every request scheduled behind it (the server
/// has one worker per core). Its reads still go through the runtime (`Handle::block_on`).
async fn off_the_request_threads<T: Send + 'static>(
    build: impl std::future::Future<Output = T> + Send + 'static,
) -> ClinicResult<T> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(build))
        .await
        .map_err(ClinicError::internal)
}

impl Clinic {
    /// Builds and signs the report `req` asks for, for the signed-in person.
    pub async fn issue_report(&self, s: &Session, req: &Request) -> ClinicResult<Built> {
        s.require(s.ledger, Permission::Reports)?;
        if req.kind == custody_report::ReportKind::Diversion {
            s.require(s.ledger, Permission::Analytics)?;
        }
        if req.identified {
            s.require(s.ledger, Permission::IdentifyPatients)?;
        }
        let ledger: LedgerId = s.ledger;
        let key = self.registrant(ledger, "signs reports")?;
        let mut extras = custody_report::extras(&self.store, ledger).await?;
        extras.paper = self.settings.paper;
        let who = format!("{} ({}, {})", s.printed_name, s.user, s.role);
        let (store, request) = (self.store.clone(), req.clone());
        let built = off_the_request_threads(async move {
            custody_report::build(&store, ledger, &request, &who, &key, extras).await
        })
        .await?
        .map_err(report_error)?;
        let mut cache = self.signatures.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(cache_key(s, req), built.signature);
        tracing::info!(ledger = %ledger, kind = %req.kind, by = %s.user, pages = built.pages, digest = %built.manifest.data_digest, "report issued");
        Ok(built)
    }

    /// Builds table `table` of the report `req` asks for as CSV, for the signed-in person,
    /// recorded (with the file's SHA-256) like a PDF.
    pub async fn issue_csv(
        &self,
        s: &Session,
        req: &Request,
        table: Option<&str>,
    ) -> ClinicResult<BuiltCsv> {
        s.require(s.ledger, Permission::Reports)?;
        if req.identified {
            s.require(s.ledger, Permission::IdentifyPatients)?;
        }
        let ledger: LedgerId = s.ledger;
        let key = self.registrant(ledger, "signs reports")?;
        let extras = custody_report::extras(&self.store, ledger).await?;
        let who = format!("{} ({}, {})", s.printed_name, s.user, s.role);
        let (store, request) = (self.store.clone(), req.clone());
        let table = table.map(str::to_owned);
        let built = off_the_request_threads(async move {
            custody_report::build_csv(
                &store,
                ledger,
                &request,
                table.as_deref(),
                &who,
                &key,
                extras,
            )
            .await
        })
        .await?
        .map_err(report_error)?;
        tracing::info!(ledger = %ledger, kind = %req.kind, table = built.table, by = %s.user, rows = built.rows, sha256 = %hex::encode(built.sha256), "CSV report issued");
        Ok(built)
    }

    /// The detached signature of the report `req` the signed-in person last downloaded.
    pub fn report_signature(&self, s: &Session, req: &Request) -> ClinicResult<[u8; 64]> {
        s.require(s.ledger, Permission::Reports)?;
        self.signatures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key(s, req))
            .copied()
            .ok_or_else(|| {
                ClinicError::not_found(
                    "no such report was downloaded in this session: download the PDF first, with the same parameters",
                )
            })
    }
}
