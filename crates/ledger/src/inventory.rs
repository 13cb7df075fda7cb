//! On hand, folded from the state: per container, and summed per product, lot and location.
//! Sealed containers are counted; open containers by what remains in them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::payload::Strength;
use crate::state::{ContainerStatus, State};
use crate::types::ids::{LocationId, Lot};
use crate::types::ndc::Ndc;
use crate::types::quantity::Micrograms;

/// On hand of one product and lot at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnHand {
    pub product: Ndc,
    pub lot: Lot,
    pub location: LocationId,
    pub sealed_containers: u64,
    pub open_containers: u64,
    /// What the open containers hold, in the product's base unit (µL or units).
    pub open_remaining: u64,
    /// Everything, sealed and open, as drug.
    pub total: Micrograms,
}

/// On hand per (product, lot, location), in that order.
pub fn on_hand(state: &State) -> Vec<OnHand> {
    let mut rows: BTreeMap<(Ndc, Lot, LocationId), OnHand> = BTreeMap::new();
    for c in state.containers.values() {
        let Some(p) = state.products.get(&c.product) else {
            continue;
        };
        let row = rows
            .entry((c.product, c.lot.clone(), c.location.clone()))
            .or_insert_with(|| OnHand {
                product: c.product,
                lot: c.lot.clone(),
                location: c.location.clone(),
                sealed_containers: 0,
                open_containers: 0,
                open_remaining: 0,
                total: Micrograms::ZERO,
            });
        match c.status {
            ContainerStatus::Sealed => row.sealed_containers += 1,
            ContainerStatus::Open { .. } => {
                row.open_containers += 1;
                row.open_remaining = row.open_remaining.saturating_add(c.remaining);
            }
            ContainerStatus::Empty | ContainerStatus::Gone => continue,
        }
        let ug = micrograms(&p.strength, c.remaining);
        row.total = row.total.checked_add(ug).unwrap_or(row.total);
    }
    rows.into_values().collect()
}

/// Drug in `base` base units, rounded down to the microgram when a volume does not divide.
pub fn micrograms(strength: &Strength, base: u64) -> Micrograms {
    match strength {
        Strength::Solution { per_ml, .. } => Micrograms::new(
            u64::try_from(u128::from(per_ml.get()) * u128::from(base) / 1000).unwrap_or(u64::MAX),
        ),
        Strength::Units { per_unit, .. } => Micrograms::new(per_unit.get().saturating_mul(base)),
    }
}
