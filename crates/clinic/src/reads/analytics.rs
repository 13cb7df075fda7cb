//! Diversion analytics for a period, as the JSON route and the analytics page read them:
//! the ledger's entries from genesis folded by `custody-analytics` (pure), in the clinic's
//! time zone and hours. Who may read them is `Permission::Analytics`.

use custody_analytics::{Analytics, Analyzer, Params, Thresholds};
use custody_ledger::{Canonical, ContainerId, Day, Entry, Seq};

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// Entries read from the store at a time.
const PAGE: u64 = 2000;

impl Clinic {
    /// The analytics of the clinic's days `from..=to`, with `container`'s timeline if asked.
    pub async fn analytics(
        &self,
        s: &Session,
        from: Day,
        to: Day,
        container: Option<ContainerId>,
    ) -> ClinicResult<Analytics> {
        s.require(s.ledger, Permission::Analytics)?;
        if from > to {
            return Err(ClinicError::invalid(
                "from",
                format!("the period starts ({from}) after it ends ({to})"),
            ));
        }
        let zone = &self.settings.time_zone;
        let mut a = Analyzer::new(Params {
            from: zone.start_of(from),
            to: zone.end_of(to),
            tz: zone.tz().clone(),
            hours: self.settings.hours,
            thresholds: Thresholds::default(),
            container,
        });
        let mut after: Option<Seq> = None;
        loop {
            let page = self.store.entries_page(s.ledger, after, PAGE, None).await?;
            let Some(last) = page.last() else { break };
            after = Some(Seq::new(last.seq).map_err(ClinicError::internal)?);
            for row in &page {
                let e = Entry::from_canonical_bytes(&row.bytes).map_err(|err| {
                    ClinicError::internal(format!("stored entry {} cannot be read: {err}", row.seq))
                })?;
                a.push(&e)
                    .map_err(|v| ClinicError::internal(format!("stored entry {}: {v}", row.seq)))?;
            }
            if (page.len() as u64) < PAGE {
                break;
            }
        }
        Ok(a.finish())
    }
}
