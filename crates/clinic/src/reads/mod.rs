//! What people read to work: the dashboard, containers, open count discrepancies, the
//! awaiting-witness queue. Each read asks the policy first.

mod analytics;
mod containers;
mod dashboard;

pub use dashboard::*;

use custody_ledger::*;
use custody_store::PendingEntry;

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// A count that found other than the ledger expected, and no adjustment has resolved yet.
#[derive(Debug, Clone)]
pub struct OpenDiscrepancy {
    pub seq: u64,
    pub count: Count,
    pub at: Timestamp,
    /// The product counted (none if the ledger no longer defines it, which it always does).
    pub product: Option<ProductDefined>,
}

/// Which discrepancies to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscrepancyStatus {
    Open,
    Resolved,
    All,
}

impl std::str::FromStr for DiscrepancyStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "resolved" => Ok(Self::Resolved),
            "all" => Ok(Self::All),
            other => Err(format!(
                "{other:?} is not a status: give open, resolved or all"
            )),
        }
    }
}

/// A discrepancy a count found, and the adjustment that resolved it, if one has.
#[derive(Debug, Clone)]
pub struct Discrepancy {
    pub open: OpenDiscrepancy,
    pub resolved_by: Option<u64>,
}

impl Clinic {
    /// The discrepancies counts found, oldest first, by status: the store's indexed table,
    /// then each count's own entry.
    pub async fn discrepancies(
        &self,
        s: &Session,
        status: DiscrepancyStatus,
    ) -> ClinicResult<Vec<Discrepancy>> {
        s.require(s.ledger, Permission::Read)?;
        let products = self.store.products(s.ledger).await?;
        let mut out = Vec::new();
        for (seq, resolved) in self
            .store
            .discrepancies(s.ledger, status == DiscrepancyStatus::Open)
            .await?
        {
            if status == DiscrepancyStatus::Resolved && resolved.is_none() {
                continue;
            }
            let bytes = self
                .store
                .entry_bytes(s.ledger, seq)
                .await?
                .ok_or_else(|| ClinicError::internal(format!("count {seq} is missing")))?;
            let entry = Entry::from_canonical_bytes(&bytes).map_err(|err| {
                ClinicError::internal(format!("stored entry {seq} cannot be read: {err}"))
            })?;
            if let Payload::Count(c) = entry.body.payload {
                out.push(Discrepancy {
                    open: OpenDiscrepancy {
                        seq: seq.get(),
                        product: products.iter().find(|p| p.ndc == c.product).cloned(),
                        count: c,
                        at: entry.timestamp,
                    },
                    resolved_by: resolved.map(|r| r.get()),
                });
            }
        }
        Ok(out)
    }

    /// Counts whose discrepancy no adjustment has resolved, oldest first: the store's
    /// indexed query, then each count's own entry.
    pub async fn open_discrepancies(&self, s: &Session) -> ClinicResult<Vec<OpenDiscrepancy>> {
        s.require(s.ledger, Permission::Read)?;
        let products = self.store.products(s.ledger).await?;
        let mut out = Vec::new();
        for seq in self.store.open_discrepancies(s.ledger).await? {
            let bytes = self
                .store
                .entry_bytes(s.ledger, seq)
                .await?
                .ok_or_else(|| ClinicError::internal(format!("count {seq} is missing")))?;
            let entry = Entry::from_canonical_bytes(&bytes).map_err(|err| {
                ClinicError::internal(format!("stored entry {seq} cannot be read: {err}"))
            })?;
            if let Payload::Count(c) = entry.body.payload {
                out.push(OpenDiscrepancy {
                    seq: seq.get(),
                    product: products.iter().find(|p| p.ndc == c.product).cloned(),
                    count: c,
                    at: entry.timestamp,
                });
            }
        }
        Ok(out)
    }

    /// Wastes waiting for a witness, oldest first.
    pub async fn awaiting_witness(&self, s: &Session) -> ClinicResult<Vec<PendingEntry>> {
        s.require(s.ledger, Permission::Read)?;
        Ok(self.store.pending_entries(s.ledger).await?)
    }
}

impl Clinic {
    /// Verifies the whole ledger from disk and remembers the outcome for the dashboard.
    pub async fn verify(
        &self,
        s: &Session,
    ) -> ClinicResult<Result<custody_ledger::verify::Summary, custody_ledger::verify::Failure>>
    {
        s.require(s.ledger, Permission::Verify)?;
        let r = self.store.verify(s.ledger, None, |_, _| {}).await?;
        let when = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        *self
            .last_verification
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(match &r {
            Ok(v) => format!("Verified at {when}: {} entries, all good.", v.entries),
            Err(f) => format!("FAILED at {when}: entry {}: {}", f.seq, f.reason),
        });
        Ok(r)
    }

    /// The last full verification, as the dashboard says it.
    pub fn last_verification(&self) -> Option<String> {
        self.last_verification
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
