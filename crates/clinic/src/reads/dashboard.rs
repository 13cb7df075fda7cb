//! The dashboard: what a person sees first — on hand, open containers with their beyond-use
//! dates, lots expiring soon, wastes waiting for a witness, open count discrepancies, the
//! last verification and (for admins) witnesses' refusals.

use std::collections::BTreeSet;

use custody_ledger::inventory::OnHand;
use custody_ledger::state::ContainerStatus;
use custody_ledger::{Day, Kind, Lot};
use custody_store::{ContainerInfo, PendingEntry};

use super::{LossStatus, OpenDiscrepancy};
use crate::deadlines::BiennialClock;
use crate::error::ClinicResult;
use crate::policy::Permission;
use crate::session::Session;
use crate::{Clinic, WitnessAlert};

/// A lot expiring within this many days is listed as expiring.
pub const EXPIRING_WITHIN_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The registrant's name.
    pub registrant: String,
    /// How many entries the ledger holds.
    pub entries: u64,
    /// On hand per product, lot and location.
    pub on_hand: Vec<Stock>,
    /// Open containers, as the store lists them, with their beyond-use dates.
    pub open: Vec<OpenContainer>,
    /// Lots held that expire within `EXPIRING_WITHIN_DAYS` (or have expired), one line each.
    pub expiring: Vec<ExpiringLot>,
    /// Wastes waiting for a witness, oldest first.
    pub pending: Vec<AwaitingWitness>,
    /// Counts whose discrepancy no adjustment has resolved yet, oldest first.
    pub discrepancies: Vec<OpenDiscrepancy>,
    /// The last full verification's outcome, if one ran since the server started.
    pub last_verification: Option<String>,
    /// Witnesses' refusals not resolved yet: for those who manage users, else none.
    pub witness_alerts: Vec<WitnessAlert>,
    /// Losses whose notice to the DEA or Form 106 is still to be sent: for those who report
    /// losses (pharmacists, admins), else none.
    pub losses_due: Vec<LossStatus>,
    /// The biennial inventory, from 60 days before it is due (and overdue after): for those
    /// who take inventories, else none.
    pub biennial: Option<BiennialClock>,
    /// No initial inventory yet: the ledger refuses receipts, doses and dispenses until one
    /// is recorded (for those who take inventories).
    pub needs_initial_inventory: bool,
    /// Spravato REMS sessions whose Patient Monitoring Form is still to be submitted, with
    /// its 7-day deadline: for those who record REMS sessions, else none.
    pub rems_forms_due: Vec<crate::acts::RemsSessionView>,
    /// Containers labelled for a patient more than `LABEL_DAYS` ago and still on hand: they
    /// must leave stock (destroyed or returned), oldest label first. For the pharmacy.
    pub labels_expired: Vec<LabelExpired>,
}

/// A patient-labelled container that waited too long.
#[derive(Debug, Clone)]
pub struct LabelExpired {
    pub container: ContainerInfo,
    pub labelled_on: Day,
    /// The last day a dose from it was allowed.
    pub last_day: Day,
}

/// On hand of one product, lot and location.
#[derive(Debug, Clone)]
pub struct Stock {
    /// The product's name (its NDC if the ledger does not define it).
    pub product: String,
    pub on_hand: OnHand,
}

/// An open container and how many days its beyond-use date is away (negative: past).
#[derive(Debug, Clone)]
pub struct OpenContainer {
    pub container: ContainerInfo,
    pub beyond_use: Day,
    pub days_left: i64,
}

/// A lot held that expires soon.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiringLot {
    pub product: String,
    pub lot: Lot,
    pub expiry: Day,
    /// Days until it expires (negative: expired).
    pub days_left: i64,
}

/// A waste waiting for a witness, with its author's printed name.
#[derive(Debug, Clone)]
pub struct AwaitingWitness {
    pub pending: PendingEntry,
    pub author_name: String,
}

fn days_between(from: Day, to: Day) -> i64 {
    i64::from(to.unix_days()) - i64::from(from.unix_days())
}

impl Clinic {
    /// The dashboard of the session's ledger, as of today in the clinic's time zone.
    pub async fn dashboard(&self, s: &Session) -> ClinicResult<Dashboard> {
        s.require(s.ledger, Permission::Read)?;
        let ledger = s.ledger;
        let today = self.settings.time_zone.today();
        let head = self.store.head(ledger).await?;
        let products = self.store.products(ledger).await?;
        let on_hand = self
            .store
            .on_hand(ledger)
            .await?
            .into_iter()
            .map(|r| Stock {
                product: products
                    .iter()
                    .find(|p| p.ndc == r.product)
                    .map_or_else(|| r.product.to_string(), |p| p.name.to_string()),
                on_hand: r,
            })
            .collect();
        let mut open = Vec::new();
        let mut expiring = BTreeSet::new();
        let labels = if s.may(Permission::Pharmacy) {
            self.patient_labels(s).await?
        } else {
            Default::default()
        };
        let mut labels_expired = Vec::new();
        for c in self.containers(s, true).await? {
            if let Some(l) = labels.get(&c.id)
                && let Some(last) = crate::acts::last_day(l)
                && today > last
            {
                labels_expired.push(LabelExpired {
                    container: c.clone(),
                    labelled_on: l.labelled_on,
                    last_day: last,
                });
            }
            let days_to_expiry = days_between(today, c.expiry);
            if days_to_expiry <= EXPIRING_WITHIN_DAYS {
                expiring.insert(ExpiringLot {
                    product: c.product.name.to_string(),
                    lot: c.lot.clone(),
                    expiry: c.expiry,
                    days_left: days_to_expiry,
                });
            }
            if let ContainerStatus::Open { beyond_use } = c.status {
                open.push(OpenContainer {
                    days_left: days_between(today, beyond_use),
                    beyond_use,
                    container: c,
                });
            }
        }
        let mut pending = Vec::new();
        for p in self.awaiting_witness(s).await? {
            let author_name = self
                .store
                .user(ledger, &p.author)
                .await?
                .map_or_else(|| p.author.to_string(), |u| u.printed_name);
            pending.push(AwaitingWitness {
                pending: p,
                author_name,
            });
        }
        let witness_alerts = if s.may(Permission::ManageUsers) {
            self.witness_alerts(s)?
        } else {
            Vec::new()
        };
        let (losses_due, biennial, needs_initial_inventory) =
            if s.may(Permission::Author(Kind::Inventory)) {
                let losses = self.losses(s).await?;
                let clock = self.biennial(s).await?;
                // A ledger that held stock before format version 4 went live then.
                let held_stock = self.has_any(ledger, Kind::Receipt).await?;
                (
                    losses.into_iter().filter(LossStatus::is_open).collect(),
                    clock.filter(BiennialClock::shown),
                    clock.is_none() && !held_stock,
                )
            } else {
                (Vec::new(), None, false)
            };
        let rems_forms_due = if s.may(Permission::Author(Kind::RemsFormSubmitted))
            && s.may(Permission::ReadPatients)
        {
            self.rems_sessions(s, Some(crate::acts::RemsStatus::FormDue))
                .await?
        } else {
            Vec::new()
        };
        labels_expired.sort_by_key(|l| l.labelled_on);
        Ok(Dashboard {
            labels_expired,
            rems_forms_due,
            registrant: head.registrant.name.to_string(),
            entries: head.entries,
            on_hand,
            open,
            expiring: expiring.into_iter().collect(),
            pending,
            discrepancies: self.open_discrepancies(s).await?,
            last_verification: self.last_verification(),
            witness_alerts,
            losses_due,
            biennial,
            needs_initial_inventory,
        })
    }
}
