//! What people read to work: the dashboard, containers, open count discrepancies, the
//! awaiting-witness queue. Each read asks the policy first.

mod analytics;
mod clocks;
mod containers;
mod dashboard;

pub use clocks::*;
pub use dashboard::*;

use custody_ledger::*;
use custody_store::PendingEntry;

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// What a count or an inventory found that differs from the ledger, as the ledger's rules
/// know it: its direction, the difference, what remains unexplained, and the entries that
/// reduced and closed it.
#[derive(Debug, Clone)]
pub struct OpenDiscrepancy {
    /// The count or inventory that found it.
    pub seq: u64,
    /// `count` or `inventory`.
    pub found_by: Kind,
    pub location: LocationId,
    pub ndc: Ndc,
    /// A count's own figures (what the ledger expected, what was counted); none for an
    /// inventory, which states only what was counted.
    pub count: Option<Count>,
    pub at: Timestamp,
    /// The product (none if the ledger no longer defines it, which it always does).
    pub product: Option<ProductDefined>,
    pub state: custody_ledger::state::Discrepancy,
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

/// A discrepancy and the entry that closed it, if one has.
#[derive(Debug, Clone)]
pub struct Discrepancy {
    pub open: OpenDiscrepancy,
    pub resolved_by: Option<u64>,
}

impl Clinic {
    /// The discrepancies counts and inventories found, oldest first, by status, as the
    /// ledger's state knows them; each with its count's or inventory's own entry.
    pub async fn discrepancies(
        &self,
        s: &Session,
        status: DiscrepancyStatus,
    ) -> ClinicResult<Vec<Discrepancy>> {
        s.require(s.ledger, Permission::Read)?;
        let products = self.store.products(s.ledger).await?;
        let mut out = Vec::new();
        for (key, d) in self.store.discrepancy_states(s.ledger).await? {
            let wanted = match status {
                DiscrepancyStatus::Open => d.is_open(),
                DiscrepancyStatus::Resolved => !d.is_open(),
                DiscrepancyStatus::All => true,
            };
            if !wanted {
                continue;
            }
            let seq = key.seq;
            let bytes = self
                .store
                .entry_bytes(s.ledger, seq)
                .await?
                .ok_or_else(|| ClinicError::internal(format!("entry {seq} is missing")))?;
            let entry = Entry::from_canonical_bytes(&bytes).map_err(|err| {
                ClinicError::internal(format!("stored entry {seq} cannot be read: {err}"))
            })?;
            let count = match &entry.body.payload {
                Payload::Count(c) => Some(c.clone()),
                _ => None,
            };
            out.push(Discrepancy {
                resolved_by: d.closed_by.map(|c| c.get()),
                open: OpenDiscrepancy {
                    seq: seq.get(),
                    found_by: entry.kind(),
                    location: key.location.clone(),
                    ndc: key.product,
                    count,
                    at: entry.timestamp,
                    product: products.iter().find(|p| p.ndc == key.product).cloned(),
                    state: d,
                },
            });
        }
        out.sort_by_key(|d| d.open.seq);
        Ok(out)
    }

    /// The discrepancies still open, oldest first.
    pub async fn open_discrepancies(&self, s: &Session) -> ClinicResult<Vec<OpenDiscrepancy>> {
        Ok(self
            .discrepancies(s, DiscrepancyStatus::Open)
            .await?
            .into_iter()
            .map(|d| d.open)
            .collect())
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
        let when = custody_store::clock::now();
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
