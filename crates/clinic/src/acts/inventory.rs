//! The DEA inventories (21 CFR 1304.11) and a loss's reports to the DEA: an inventory taken
//! by one person and witnessed by another, signed by both in one act; the written notice and
//! Form 106 of a loss, recorded once. The ledger's rules decide what is acceptable (go-live,
//! the initial inventory's containers, estimates, a second initial inventory, a loss reported
//! twice); the clinic turns what people typed (amounts in base units) into the entry.

use custody_ledger::*;

use super::{Ceremony, Origin, Outcome, Planned};
use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::session::Session;

/// One open container as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCount {
    /// The open container counted; none in an initial inventory (a container it brings in).
    pub container: Option<ContainerId>,
    /// What remains, in the product's base unit (µL for solutions, units otherwise).
    pub remaining: u64,
    /// Estimated rather than measured (Schedule III–V, not a container over 1,000 units).
    pub estimated: bool,
    /// An initial inventory's opened container: its beyond-use date.
    pub beyond_use: Option<Day>,
}

/// One line of an inventory: a product's lot at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCount {
    pub product: Ndc,
    pub lot: Lot,
    pub expiry: Day,
    pub location: LocationId,
    /// Sealed containers, counted exactly.
    pub sealed: u32,
    pub open: Vec<OpenCount>,
}

/// An inventory, taken by the signed-in person and witnessed by `witness` in the same act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeInventory {
    pub occasion: InventoryOccasion,
    pub taken_at: BusinessHours,
    pub date: Day,
    /// May be empty: zero stock is a valid initial inventory.
    pub lines: Vec<InventoryCount>,
    pub witness: UserId,
}

/// A loss's written notice to the DEA Field Division and its DEA Form 106, recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLoss {
    /// The `loss_theft` entry reported.
    pub loss: Seq,
    pub notice_on: Day,
    pub form_106: Text,
    pub form_106_on: Day,
}

impl Clinic {
    /// The inventory entry `cmd` will be: each open amount stated in its product's units.
    pub async fn inventory_payload(
        &self,
        s: &Session,
        cmd: &TakeInventory,
    ) -> ClinicResult<Inventory> {
        let products = self.store.products(s.ledger).await?;
        let mut lines = Vec::with_capacity(cmd.lines.len());
        for (i, l) in cmd.lines.iter().enumerate() {
            let product = products
                .iter()
                .find(|p| p.ndc == l.product)
                .ok_or_else(|| {
                    ClinicError::invalid(
                        &format!("lines[{i}].product"),
                        format!("{} is not a product this clinic defines", l.product),
                    )
                })?;
            let mut open = Vec::with_capacity(l.open.len());
            for (j, o) in l.open.iter().enumerate() {
                let amount = Amount::of(&product.strength, o.remaining).ok_or_else(|| {
                    ClinicError::invalid(
                        &format!("lines[{i}].open[{j}].remaining"),
                        format!(
                            "{} {} of {} cannot be stated",
                            o.remaining,
                            product.strength.base_unit(),
                            product.name
                        ),
                    )
                })?;
                open.push(OpenContainer {
                    container: o.container,
                    amount,
                    estimated: o.estimated,
                    beyond_use: o.beyond_use,
                });
            }
            lines.push(InventoryLine {
                product: l.product,
                lot: l.lot.clone(),
                expiry: l.expiry,
                location: l.location.clone(),
                sealed: l.sealed,
                open,
            });
        }
        Ok(Inventory {
            occasion: cmd.occasion,
            taken_at: cmd.taken_at,
            date: cmd.date,
            lines,
        })
    }

    /// Records an inventory signed by its taker and its witness.
    pub async fn take_inventory(
        &self,
        s: &Session,
        cmd: TakeInventory,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = self.inventory_payload(s, &cmd).await?;
        let planned = Planned::new(payload).witnessed_by([cmd.witness.clone()]);
        self.record(s, &cmd, vec![planned], ceremony, origin).await
    }

    /// Records a loss's notice to the DEA and its Form 106.
    pub async fn report_loss(
        &self,
        s: &Session,
        cmd: ReportLoss,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = LossReported {
            loss: cmd.loss,
            notice_on: cmd.notice_on,
            form_106: cmd.form_106.clone(),
            form_106_on: cmd.form_106_on,
        };
        self.record(s, &cmd, vec![Planned::new(payload)], ceremony, origin)
            .await
    }
}
