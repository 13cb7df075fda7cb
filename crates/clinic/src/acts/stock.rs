//! Stock coming in, counted, opened and given: an invoice of several lines, a count (blind or
//! not), opening a container, a dose.

use custody_ledger::state::default_beyond_use;
use custody_ledger::*;

use super::{Ceremony, Origin, Outcome, Planned, unknown_container};
use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::session::Session;

/// One line of an invoice.
#[derive(Debug, Clone)]
pub struct ReceiptLine {
    pub product: Ndc,
    pub lot: Lot,
    pub expiry: Day,
    /// How many containers (vials, devices, bottles).
    pub containers: u32,
    pub location: LocationId,
}

/// Stock received against one invoice: each line a receipt entry, all recorded or none.
#[derive(Debug, Clone)]
pub struct ReceiveInvoice {
    pub supplier: Party,
    pub invoice: Text,
    pub received_on: Day,
    pub lines: Vec<ReceiptLine>,
}

/// A count of one product at one location.
#[derive(Debug, Clone)]
pub struct CountStock {
    pub location: LocationId,
    pub product: Ndc,
    /// The counter was not shown what the ledger expects.
    pub blind: bool,
    pub counted: Tally,
}

/// Opening (puncturing) a sealed container.
#[derive(Debug, Clone)]
pub struct Open {
    pub container: ContainerId,
    /// Default: 28 days from today, never past the lot's expiry.
    pub beyond_use: Option<Day>,
    /// When it was opened, where it is charted later; default: when it is recorded.
    pub opened_at: Option<Timestamp>,
}

/// A dose given to a patient from an open container.
#[derive(Debug, Clone)]
pub struct Administer {
    pub container: ContainerId,
    /// The patient's reference (MRN); only a keyed commitment of it enters the ledger.
    pub patient: String,
    pub prescriber: Prescriber,
    pub dose: Micrograms,
    pub route: Route,
    /// When it was given; default now. It may lie long in the past (charted late), never
    /// before its container was opened (the ledger's rule).
    pub given_at: Option<Timestamp>,
    /// Why it is charted late: needed when it is charted more than the clinic's
    /// late-charting threshold (default 24 hours) after it was given.
    pub late_reason: Option<Text>,
}

/// The container ids a receipt recorded as entry `seq` brought in.
pub fn received_containers(seq: Seq, count: u32) -> Vec<ContainerId> {
    (1..=count)
        .filter_map(|i| ContainerId::new(seq, i).ok())
        .collect()
}

/// The beyond-use date of `c` opened on `day`: 28 days, never past its lot's expiry; the
/// same day for a single-use device (no beyond-use period to count down).
pub fn beyond_use_from(day: Day, c: &custody_store::ContainerInfo) -> Day {
    if c.product.strength.single_use() {
        day.min(c.expiry)
    } else {
        default_beyond_use(day, c.expiry)
    }
}

pub fn today() -> Day {
    custody_store::clock::now().date()
}

impl Clinic {
    /// Receives an invoice: one receipt per line, all in one transaction.
    pub async fn receive(
        &self,
        s: &Session,
        cmd: ReceiveInvoice,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        if cmd.lines.is_empty() {
            return Err(ClinicError::invalid(
                "lines",
                "an invoice needs at least one line",
            ));
        }
        let plan = cmd
            .lines
            .iter()
            .map(|l| {
                Planned::new(Receipt {
                    supplier: cmd.supplier.clone(),
                    invoice: cmd.invoice.clone(),
                    received_on: cmd.received_on,
                    product: l.product,
                    lot: l.lot.clone(),
                    expiry: l.expiry,
                    containers: l.containers,
                    location: l.location.clone(),
                })
            })
            .collect();
        self.record(s, &cmd, plan, ceremony, origin).await
    }

    /// What the ledger expects at a location for a product.
    pub async fn expected(
        &self,
        s: &Session,
        location: &LocationId,
        product: &Ndc,
    ) -> ClinicResult<Tally> {
        Ok(self.store.tally(s.ledger, location, product).await?)
    }

    /// Records a count; the entry states what the ledger expected.
    pub async fn count(
        &self,
        s: &Session,
        cmd: CountStock,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let expected = self.expected(s, &cmd.location, &cmd.product).await?;
        let payload = Count {
            location: cmd.location.clone(),
            product: cmd.product,
            blind: cmd.blind,
            expected,
            counted: cmd.counted,
        };
        self.record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await
    }

    /// The beyond-use date a container gets when opened today: 28 days, never past its lot's
    /// expiry; today for a single-use device, which is used whole when opened.
    pub async fn default_beyond_use(&self, s: &Session, c: &ContainerId) -> ClinicResult<Day> {
        let info = self
            .store
            .container(s.ledger, c)
            .await?
            .ok_or_else(|| unknown_container(c))?;
        Ok(beyond_use_from(today(), &info))
    }

    /// Opens a container.
    pub async fn open(
        &self,
        s: &Session,
        cmd: Open,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let beyond_use = match cmd.beyond_use {
            Some(d) => d,
            None => self.default_beyond_use(s, &cmd.container).await?,
        };
        let payload = ContainerOpened {
            container: cmd.container,
            beyond_use,
            opened_at: cmd.opened_at,
        };
        self.record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await
    }

    /// The entry a dose will be.
    pub async fn dose_payload(&self, s: &Session, cmd: &Administer) -> ClinicResult<Administered> {
        if cmd.patient.trim().is_empty() {
            return Err(ClinicError::invalid(
                "patient",
                "a patient reference is needed",
            ));
        }
        let amount = self
            .amount_of(s, &cmd.container, cmd.dose, "dose_mg")
            .await?;
        if let Some(product) = self
            .store
            .container_product(s.ledger, &cmd.container)
            .await?
        {
            self.check_rems(s, &product, &cmd.patient).await?;
        }
        let now = custody_store::clock::now();
        let given_at = cmd.given_at.unwrap_or(now);
        let late_by = now.micros().saturating_sub(given_at.micros());
        let threshold = i64::try_from(self.settings.late_charting.as_micros()).unwrap_or(i64::MAX);
        if late_by > threshold && cmd.late_reason.is_none() {
            return Err(ClinicError::invalid(
                "late_reason",
                format!(
                    "this dose is charted {} hours after it was given (more than {} hours): say why it is charted late",
                    late_by / 3_600_000_000,
                    threshold / 3_600_000_000
                ),
            ));
        }
        let patient = self.commit_patient(s.ledger, &cmd.patient).await?;
        Ok(Administered {
            container: cmd.container,
            patient,
            prescriber: cmd.prescriber.clone(),
            amount,
            route: cmd.route,
            given_at,
            given_by: s.user.clone(),
            late_reason: cmd.late_reason.clone(),
        })
    }

    /// Records a dose.
    pub async fn administer(
        &self,
        s: &Session,
        cmd: Administer,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = self.dose_payload(s, &cmd).await?;
        // Recognised again by what it records, the patient by commitment: a request row
        // holds no MRN.
        let what = (
            payload.patient,
            cmd.container,
            &cmd.prescriber,
            cmd.dose,
            cmd.route,
            cmd.given_at,
            &cmd.late_reason,
        );
        self.record(s, &what, vec![Planned::new(payload)], ceremony, origin)
            .await
    }
}
