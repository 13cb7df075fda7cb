//! The regulatory clocks people read: each loss's two deadlines and where they stand, and the
//! biennial inventory's due date. The arithmetic is `crate::deadlines`; this reads the ledger's
//! `loss_theft`, `loss_reported` and `inventory` entries and asks it, as of today in the
//! clinic's time zone.

use custody_ledger::*;
use custody_store::EntryFilter;

use crate::Clinic;
use crate::deadlines::{BiennialClock, DeadlineStatus, LossDeadlines};
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// A loss or theft, its deadlines, and its reports to the DEA once recorded.
#[derive(Debug, Clone)]
pub struct LossStatus {
    /// The `loss_theft` entry.
    pub seq: u64,
    pub loss: LossTheft,
    pub deadlines: LossDeadlines,
    /// The written notice to the DEA Field Division.
    pub notice: DeadlineStatus,
    /// DEA Form 106.
    pub form_106: DeadlineStatus,
    /// The `loss_reported` entry and what it recorded, once there is one.
    pub reported: Option<(u64, LossReported)>,
}

impl LossStatus {
    /// Something is still to be sent.
    pub fn is_open(&self) -> bool {
        self.notice.is_open() || self.form_106.is_open()
    }
}

impl Clinic {
    /// Every entry of `kind`, oldest first.
    pub(crate) async fn entries_of_kind(
        &self,
        ledger: LedgerId,
        kind: Kind,
    ) -> ClinicResult<Vec<(u64, Entry)>> {
        let filter = EntryFilter {
            kind: Some(kind),
            ..EntryFilter::default()
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .entries_filtered(ledger, after, 1000, &filter)
                .await?;
            for e in page.entries {
                let entry = Entry::from_canonical_bytes(&e.bytes).map_err(|err| {
                    ClinicError::internal(format!("stored entry {} cannot be read: {err}", e.seq))
                })?;
                out.push((e.seq, entry));
            }
            match page.next {
                Some(n) => after = Some(Seq::new(n).map_err(ClinicError::internal)?),
                None => return Ok(out),
            }
        }
    }

    /// Whether the ledger holds any entry of `kind`.
    pub(crate) async fn has_any(&self, ledger: LedgerId, kind: Kind) -> ClinicResult<bool> {
        let filter = EntryFilter {
            kind: Some(kind),
            ..EntryFilter::default()
        };
        let page = self
            .store
            .entries_filtered(ledger, None, 1, &filter)
            .await?;
        Ok(!page.entries.is_empty())
    }

    /// Each loss or theft with its deadlines, oldest first, as of today in the clinic's time
    /// zone.
    pub async fn losses(&self, s: &Session) -> ClinicResult<Vec<LossStatus>> {
        s.require(s.ledger, Permission::Read)?;
        let today = self.settings.time_zone.today();
        let reports: Vec<(u64, LossReported)> = self
            .entries_of_kind(s.ledger, Kind::LossReported)
            .await?
            .into_iter()
            .filter_map(|(seq, e)| match e.body.payload {
                Payload::LossReported(r) => Some((seq, r)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (seq, e) in self.entries_of_kind(s.ledger, Kind::LossTheft).await? {
            let Payload::LossTheft(loss) = e.body.payload else {
                continue;
            };
            let deadlines = LossDeadlines::of(loss.discovered_on);
            let reported = reports.iter().find(|(_, r)| r.loss.get() == seq).cloned();
            let done = reported.as_ref().map(|(_, r)| r);
            out.push(LossStatus {
                seq,
                notice: DeadlineStatus::of(deadlines.notice_due, done.map(|r| r.notice_on), today),
                form_106: DeadlineStatus::of(
                    deadlines.form_106_due,
                    done.map(|r| r.form_106_on),
                    today,
                ),
                deadlines,
                loss,
                reported,
            });
        }
        Ok(out)
    }

    /// The biennial inventory's clock: two years from the last initial or biennial
    /// inventory's date; none before the initial inventory.
    pub async fn biennial(&self, s: &Session) -> ClinicResult<Option<BiennialClock>> {
        s.require(s.ledger, Permission::Read)?;
        self.biennial_of(s.ledger).await
    }

    /// As [`Clinic::biennial`], without a session (the metrics).
    pub async fn biennial_of(&self, ledger: LedgerId) -> ClinicResult<Option<BiennialClock>> {
        let today = self.settings.time_zone.today();
        let last = self
            .entries_of_kind(ledger, Kind::Inventory)
            .await?
            .into_iter()
            .filter_map(|(_, e)| match e.body.payload {
                Payload::Inventory(i)
                    if matches!(
                        i.occasion,
                        InventoryOccasion::Initial | InventoryOccasion::Biennial
                    ) =>
                {
                    Some(i.date)
                }
                _ => None,
            })
            .max();
        Ok(last.map(|d| BiennialClock::of(d, today)))
    }
}
