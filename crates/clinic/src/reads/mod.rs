//! What people read to work: open count discrepancies, the awaiting-witness queue.

use custody_ledger::*;
use custody_store::{EntryFilter, PendingEntry};

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
}

impl Clinic {
    /// Counts whose discrepancy no adjustment has resolved, oldest first. Reads the counts
    /// and adjustments by kind (an index), not the whole ledger.
    pub async fn open_discrepancies(&self, s: &Session) -> ClinicResult<Vec<OpenDiscrepancy>> {
        s.require(s.ledger, Permission::Read)?;
        let mut counts = Vec::new();
        let mut resolved = std::collections::BTreeSet::new();
        for kind in [Kind::Count, Kind::Adjustment] {
            let filter = EntryFilter {
                kind: Some(kind),
                ..Default::default()
            };
            let mut after = None;
            loop {
                let page = self
                    .store
                    .entries_filtered(s.ledger, after, 1000, &filter)
                    .await?;
                for r in &page.entries {
                    let entry = Entry::from_canonical_bytes(&r.bytes).map_err(|err| {
                        ClinicError::internal(format!(
                            "stored entry {} cannot be read: {err}",
                            r.seq
                        ))
                    })?;
                    match entry.body.payload {
                        Payload::Count(c) if c.counted != c.expected => {
                            counts.push(OpenDiscrepancy {
                                seq: r.seq,
                                count: c,
                                at: entry.timestamp,
                            })
                        }
                        Payload::Adjustment(a) => {
                            if let Some(s) = a.resolves {
                                resolved.insert(s.get());
                            }
                        }
                        _ => {}
                    }
                }
                match page.next {
                    Some(n) => after = Some(Seq::new(n).map_err(ClinicError::internal)?),
                    None => break,
                }
            }
        }
        counts.retain(|c| !resolved.contains(&c.seq));
        Ok(counts)
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
