//! Series the charts draw: on hand over time per product, doses by hour of day, and one
//! container's timeline. Amounts are the product's base units (µL or units), exact.

use std::collections::{BTreeMap, BTreeSet};

use custody_ledger::state::references;
use custody_ledger::{ContainerId, Entry, Kind, Ndc, State, Timestamp};
use serde::Serialize;

/// On hand of one product (every lot and location), after each entry that moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnHand {
    pub product: Ndc,
    pub name: String,
    /// `mL` or `units`: how the base unit is shown (µL are shown as mL).
    pub unit: &'static str,
    /// (time, base units held after the entry, seq); the first point is the period's start.
    pub points: Vec<(Timestamp, u64, Option<u64>)>,
}

/// One event in a container's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: u64,
    pub at: Timestamp,
    pub kind: Kind,
    /// Base units left after the entry.
    pub remaining: u64,
}

/// A container from receipt to empty (every entry naming it, whatever the period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    pub container: ContainerId,
    pub product: Option<Ndc>,
    pub unit: &'static str,
    pub capacity: u64,
    pub events: Vec<Event>,
}

pub(crate) fn unit_of(state: &State, product: &Ndc) -> &'static str {
    match state.products.get(product).map(|p| &p.strength) {
        Some(custody_ledger::Strength::Units { .. }) => "units",
        _ => "mL",
    }
}

/// What the series fold keeps between entries.
#[derive(Debug, Default)]
pub(crate) struct SeriesFold {
    totals: BTreeMap<Ndc, u64>,
    pub on_hand: BTreeMap<Ndc, Vec<(Timestamp, u64, Option<u64>)>>,
    started: bool,
    pub timeline: Option<Timeline>,
}

impl SeriesFold {
    pub fn new(container: Option<ContainerId>) -> Self {
        Self {
            timeline: container.map(|c| Timeline {
                container: c,
                product: None,
                unit: "mL",
                capacity: 0,
                events: Vec::new(),
            }),
            ..Self::default()
        }
    }

    /// Before `e` is applied: what the containers it names hold, by product.
    pub fn before(&self, state: &State, e: &Entry) -> (BTreeSet<ContainerId>, BTreeMap<Ndc, u64>) {
        let named = references(e).containers;
        let mut held = BTreeMap::new();
        for c in &named {
            if let Some(s) = state.containers.get(c) {
                *held.entry(s.product).or_insert(0) += s.remaining;
            }
        }
        (named, held)
    }

    /// After `e` is applied (`in_period` when it falls in the period, `from` the period's
    /// start).
    #[allow(clippy::too_many_arguments)]
    pub fn after(
        &mut self,
        state: &State,
        e: &Entry,
        named: BTreeSet<ContainerId>,
        held_before: BTreeMap<Ndc, u64>,
        touched: &BTreeSet<ContainerId>,
        in_period: bool,
        from: Timestamp,
    ) {
        if in_period {
            self.start(from);
        }
        let mut held_after: BTreeMap<Ndc, u64> = BTreeMap::new();
        let mut products: BTreeSet<Ndc> = held_before.keys().copied().collect();
        for c in named.iter().chain(touched.iter()) {
            if let Some(s) = state.containers.get(c) {
                products.insert(s.product);
            }
        }
        let all: BTreeSet<&ContainerId> = named.iter().chain(touched.iter()).collect();
        for c in all {
            if let Some(s) = state.containers.get(c) {
                *held_after.entry(s.product).or_insert(0) += s.remaining;
            }
        }
        for p in products {
            let before = held_before.get(&p).copied().unwrap_or(0);
            let after = held_after.get(&p).copied().unwrap_or(0);
            if before == after {
                continue;
            }
            let t = self.totals.entry(p).or_insert(0);
            *t = (*t + after).saturating_sub(before);
            if in_period {
                self.on_hand
                    .entry(p)
                    .or_default()
                    .push((e.timestamp, *t, Some(e.seq.get())));
            }
        }
        if let Some(tl) = &mut self.timeline
            && (named.contains(&tl.container) || touched.contains(&tl.container))
        {
            let s = state.containers.get(&tl.container);
            if let Some(s) = s {
                tl.product = Some(s.product);
                tl.capacity = s.capacity;
                tl.unit = unit_of(state, &s.product);
            }
            tl.events.push(Event {
                seq: e.seq.get(),
                at: e.timestamp,
                kind: e.kind(),
                remaining: s.map_or(0, |s| s.remaining),
            });
        }
    }

    /// The period starts: each product's line begins at what was held.
    pub fn start(&mut self, from: Timestamp) {
        if self.started {
            return;
        }
        self.started = true;
        for (p, t) in &self.totals {
            self.on_hand.entry(*p).or_default().push((from, *t, None));
        }
    }
}
