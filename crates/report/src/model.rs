//! What a report states, folded from the ledger's entries in order — the same fold whether
//! the entries come from the database or from an auditor's export, so a report can be
//! recomputed and compared.
//!
//! Balances are kept per product and lot in the product's base unit (µL or units): every
//! amount in the ledger states its base quantity exactly, so opening + in − out = closing
//! holds to the last µL. Micrograms are shown beside them.

use std::collections::BTreeMap;

use custody_ledger::state::{State, describe_base};
use custody_ledger::*;
use sha2::{Digest, Sha256};

use crate::ReportError;
use crate::request::{ReportKind, Request};

/// A product and lot.
type LotKey = (Ndc, String);
/// Which movement an amount adds to.
type Field = fn(&mut Movement) -> &mut u64;

/// One signature as printed: who, what it means, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub meaning: String,
    /// When the signer signed: the time the signature states (format version 3), or the
    /// entry's time for an entry recorded before version 3.
    pub at: Timestamp,
}

/// One entry as the activity log prints it.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub seq: u64,
    pub hash: EntryHash,
    pub at: Timestamp,
    pub kind: Kind,
    pub product: Option<Ndc>,
    pub container: Option<String>,
    /// Drug moved, in µg, and the base quantity with its unit ("3.5 mL", "2 units").
    pub ug: Option<u64>,
    pub quantity: Option<String>,
    /// Everything else a reader needs: route, patient (masked), prescriber, reason, …
    pub detail: String,
    pub patient: Option<PatientRef>,
    pub prescriber: Option<String>,
    pub signatures: Vec<SignatureLine>,
}

/// The movements of one product and lot over the period, in base units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Movement {
    pub opening: u64,
    pub received: u64,
    pub administered: u64,
    pub dispensed: u64,
    pub wasted: u64,
    pub destroyed: u64,
    pub transferred_out: u64,
    pub adjusted_in: u64,
    pub adjusted_out: u64,
    pub lost: u64,
    pub closing: u64,
}

impl Movement {
    /// opening + in − out, which must equal `closing`.
    pub fn expected_closing(&self) -> Option<u64> {
        self.opening
            .checked_add(self.received)?
            .checked_add(self.adjusted_in)?
            .checked_sub(self.administered)?
            .checked_sub(self.dispensed)?
            .checked_sub(self.wasted)?
            .checked_sub(self.destroyed)?
            .checked_sub(self.transferred_out)?
            .checked_sub(self.adjusted_out)?
            .checked_sub(self.lost)
    }
    fn fields(&self) -> [u64; 11] {
        [
            self.opening,
            self.received,
            self.administered,
            self.dispensed,
            self.wasted,
            self.destroyed,
            self.transferred_out,
            self.adjusted_in,
            self.adjusted_out,
            self.lost,
            self.closing,
        ]
    }
}

/// The last count of a product at a location in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountLine {
    pub seq: u64,
    pub at: Timestamp,
    pub location: String,
    pub product: Ndc,
    pub expected: Tally,
    pub counted: Tally,
}

/// A count that found a difference, and the adjustments that answered it.
#[derive(Debug, Clone)]
pub struct DiscrepancyLine {
    pub count: CountLine,
    pub resolved_by: Vec<u64>,
}

/// What is on hand of one product at one moment (the inventory report).
#[derive(Debug, Clone, Default)]
pub struct InventoryLine {
    pub sealed: u64,
    /// Open containers and what each holds, in base units.
    pub open: Vec<(String, String, u64)>,
}

/// Everything a report states, and the digests that fix it.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub request: Request,
    pub registrant: Party,
    pub products: BTreeMap<Ndc, ProductDefined>,
    pub movements: BTreeMap<(Ndc, String), Movement>,
    pub log: Vec<LogRow>,
    pub counts: BTreeMap<(String, Ndc), CountLine>,
    pub discrepancies: Vec<DiscrepancyLine>,
    pub inventory: BTreeMap<Ndc, InventoryLine>,
    /// SHA-256 over every listed entry's seq (8 bytes, big-endian) and hash, in order.
    pub entries_digest: [u8; 32],
    /// SHA-256 over the totals the report states (see `totals_digest`).
    pub totals_digest: [u8; 32],
}

impl ReportData {
    /// The digest a manifest signs: SHA-256 of "custody/v1/report-data\0" ‖ entries digest ‖
    /// totals digest ‖ the number of listed entries.
    pub fn data_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"custody/v1/report-data\0");
        h.update(self.entries_digest);
        h.update(self.totals_digest);
        h.update((self.log.len() as u64).to_be_bytes());
        h.finalize().into()
    }
}

/// Folds entries, in ledger order, into what a report states.
pub struct Collector {
    req: Request,
    state: State,
    from: Timestamp,
    to: Timestamp,
    seen: u64,
    products: BTreeMap<Ndc, ProductDefined>,
    movements: BTreeMap<(Ndc, String), Movement>,
    opened: bool,
    closed: Option<BTreeMap<Ndc, InventoryLine>>,
    log: Vec<LogRow>,
    counts: BTreeMap<(String, Ndc), CountLine>,
    discrepancies: Vec<DiscrepancyLine>,
    digest: Sha256,
}

/// An amount in what was measured: "3.5 mL" or "2 units".
fn quantity(a: &Amount) -> String {
    match a {
        Amount::Volume { ul, .. } => ul.to_string(),
        Amount::Units { units, .. } => units.to_string(),
    }
}

impl Collector {
    pub fn new(req: Request) -> Self {
        // The period is the clinic's days: local midnight to local midnight.
        let zone = req.zone();
        Self {
            from: zone.start_of(req.from),
            to: zone.end_of(req.to),
            req,
            state: State::new(),
            seen: 0,
            products: BTreeMap::new(),
            movements: BTreeMap::new(),
            opened: false,
            closed: None,
            log: Vec::new(),
            counts: BTreeMap::new(),
            discrepancies: Vec::new(),
            digest: Sha256::new(),
        }
    }

    fn wanted(&self, product: Option<Ndc>) -> bool {
        match self.req.product {
            Some(p) => product == Some(p),
            None => true,
        }
    }

    /// Balances per product and lot from the state as it stands.
    fn balances(&self) -> BTreeMap<(Ndc, String), u64> {
        let mut b = BTreeMap::new();
        for c in self.state.containers.values() {
            *b.entry((c.product, c.lot.to_string())).or_insert(0) += c.remaining;
        }
        b
    }

    fn open_period(&mut self) {
        if self.opened {
            return;
        }
        self.opened = true;
        for (k, v) in self.balances() {
            if self.wanted(Some(k.0)) {
                self.movements.entry(k).or_default().opening = v;
            }
        }
    }

    /// The end of the period: closing balances and what is held, once.
    fn close_period(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.open_period();
        for (k, v) in self.balances() {
            if self.wanted(Some(k.0)) {
                self.movements.entry(k).or_default().closing = v;
            }
        }
        let mut inventory: BTreeMap<Ndc, InventoryLine> = BTreeMap::new();
        let mut held: Vec<_> = self.state.containers.values().collect();
        held.sort_by_key(|c| (c.id.receipt(), c.id.index()));
        for c in held {
            if !self.wanted(Some(c.product)) {
                continue;
            }
            let line = inventory.entry(c.product).or_default();
            match c.status {
                ContainerStatus::Sealed => line.sealed += 1,
                _ => line
                    .open
                    .push((c.id.to_string(), c.location.to_string(), c.remaining)),
            }
        }
        self.closed = Some(inventory);
    }

    fn container_of(&self, c: &ContainerId) -> Option<(Ndc, String)> {
        self.state
            .containers
            .get(c)
            .map(|s| (s.product, s.lot.to_string()))
    }

    fn name(&self, p: &Principal) -> String {
        match p {
            Principal::Registrant => "the registrant".into(),
            Principal::User(u) => self
                .state
                .users
                .get(u)
                .map_or_else(|| u.to_string(), |s| format!("{} ({u})", s.printed_name)),
        }
    }

    /// Takes the next entry (`seq` order, from genesis).
    pub fn push(&mut self, e: &Entry, hash: EntryHash) -> Result<(), ReportError> {
        if e.seq.get() != self.seen {
            return Err(ReportError::Ledger(format!(
                "entries out of order: expected {}, got {}",
                self.seen,
                e.seq.get()
            )));
        }
        self.seen += 1;
        let in_period = e.timestamp >= self.from && e.timestamp < self.to;
        if e.timestamp >= self.from {
            self.open_period();
        }
        if e.timestamp >= self.to {
            self.close_period();
        }
        if in_period {
            self.record(e, hash);
        }
        if let Payload::ProductDefined(p) = e.payload() {
            self.products.insert(p.ndc, p.clone());
        }
        self.state
            .apply(e)
            .map_err(|v| ReportError::Ledger(format!("entry {}: {v}", e.seq)))?;
        Ok(())
    }

    /// Notes what an entry in the period moves and how the log prints it. Runs before the
    /// entry is applied, while the containers it names are still held.
    fn record(&mut self, e: &Entry, hash: EntryHash) {
        let mut row = LogRow {
            seq: e.seq.get(),
            hash,
            at: e.timestamp,
            kind: e.kind(),
            product: None,
            container: None,
            ug: None,
            quantity: None,
            detail: String::new(),
            patient: None,
            prescriber: None,
            signatures: e
                .signatures
                .iter()
                .map(|s| SignatureLine {
                    name: self.name(&s.signer),
                    meaning: s.meaning.to_string(),
                    at: e.signed_at(s),
                })
                .collect(),
        };
        let mut moves: Vec<(LotKey, Field, u64)> = Vec::new();
        match e.payload() {
            Payload::Receipt(p) => {
                row.product = Some(p.product);
                let cap = self
                    .state
                    .products
                    .get(&p.product)
                    .map_or(0, |d| d.strength.capacity());
                let base = cap.saturating_mul(u64::from(p.containers));
                row.quantity = self
                    .state
                    .products
                    .get(&p.product)
                    .map(|d| describe_base(&d.strength, base));
                row.ug = self
                    .state
                    .products
                    .get(&p.product)
                    .and_then(|d| d.strength.micrograms_in(base))
                    .map(|u| u.get());
                row.detail = format!(
                    "{} containers (C{}-1 to C{}-{}) from {} (DEA {}), invoice {}, lot {}, exp {}, to {}",
                    p.containers,
                    e.seq,
                    e.seq,
                    p.containers,
                    p.supplier.name,
                    p.supplier.dea,
                    p.invoice,
                    p.lot,
                    p.expiry,
                    p.location
                );
                moves.push(((p.product, p.lot.to_string()), |m| &mut m.received, base));
            }
            Payload::ContainerOpened(p) => {
                row.container = Some(p.container.to_string());
                row.product = self.container_of(&p.container).map(|k| k.0);
                row.detail = format!("beyond-use {}", p.beyond_use);
            }
            Payload::Administered(p) => {
                row.container = Some(p.container.to_string());
                row.product = self.container_of(&p.container).map(|k| k.0);
                row.ug = Some(p.amount.micrograms().get());
                row.quantity = Some(quantity(&p.amount));
                row.patient = Some(p.patient);
                row.prescriber = Some(format!("{} ({})", p.prescriber.name, p.prescriber.dea));
                row.detail = format!(
                    "{} to {}, ordered by {}",
                    p.route,
                    p.patient.masked(),
                    p.prescriber.name
                );
                if let Some(k) = self.container_of(&p.container) {
                    moves.push((k, |m| &mut m.administered, p.amount.base()));
                }
            }
            Payload::Dispensed(p) => {
                let mut ug = 0u64;
                let mut parts = Vec::new();
                for c in &p.sealed {
                    if let Some(s) = self.state.containers.get(c) {
                        let k = (s.product, s.lot.to_string());
                        row.product = Some(s.product);
                        ug += self
                            .state
                            .products
                            .get(&s.product)
                            .and_then(|d| d.strength.micrograms_in(s.remaining))
                            .map_or(0, |u| u.get());
                        moves.push((k, |m| &mut m.dispensed, s.remaining));
                        parts.push(format!("{c} whole"));
                    }
                }
                for i in &p.from_open {
                    if let Some(k) = self.container_of(&i.container) {
                        row.product = Some(k.0);
                        moves.push((k, |m| &mut m.dispensed, i.amount.base()));
                    }
                    ug += i.amount.micrograms().get();
                    parts.push(format!("{} from {}", quantity(&i.amount), i.container));
                }
                row.ug = Some(ug);
                row.container = Some(parts.join(", "));
                row.patient = Some(p.patient);
                row.prescriber = Some(format!("{} ({})", p.prescriber.name, p.prescriber.dea));
                row.detail = format!(
                    "take-home for {}, prescribed by {}",
                    p.patient.masked(),
                    p.prescriber.name
                );
            }
            Payload::Waste(p) => {
                row.container = Some(p.container.to_string());
                row.product = self.container_of(&p.container).map(|k| k.0);
                row.ug = Some(p.amount.micrograms().get());
                row.quantity = Some(quantity(&p.amount));
                row.detail = format!("wasted: {}", p.reason);
                if let Some(k) = self.container_of(&p.container) {
                    moves.push((k, |m| &mut m.wasted, p.amount.base()));
                }
            }
            Payload::Transfer(p) => {
                row.container = Some(
                    p.containers
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                match &p.to {
                    TransferTo::Location { location } => {
                        row.detail = format!("moved to {location}");
                        row.product = p
                            .containers
                            .first()
                            .and_then(|c| self.container_of(c))
                            .map(|k| k.0);
                    }
                    TransferTo::Registrant { registrant } => {
                        row.detail = format!(
                            "transferred to {} (DEA {})",
                            registrant.name, registrant.dea
                        );
                        for c in &p.containers {
                            if let Some(s) = self.state.containers.get(c) {
                                row.product = Some(s.product);
                                moves.push((
                                    (s.product, s.lot.to_string()),
                                    |m| &mut m.transferred_out,
                                    s.remaining,
                                ));
                            }
                        }
                    }
                }
            }
            Payload::Count(p) => {
                row.product = Some(p.product);
                row.detail = format!(
                    "{}count at {}: expected {} sealed + {} open, counted {} sealed + {} open{}",
                    if p.blind { "blind " } else { "" },
                    p.location,
                    p.expected.sealed,
                    p.expected.open,
                    p.counted.sealed,
                    p.counted.open,
                    if p.expected == p.counted {
                        ""
                    } else {
                        " — DISCREPANCY"
                    }
                );
                let line = CountLine {
                    seq: e.seq.get(),
                    at: e.timestamp,
                    location: p.location.to_string(),
                    product: p.product,
                    expected: p.expected,
                    counted: p.counted,
                };
                if p.expected != p.counted && self.wanted(Some(p.product)) {
                    self.discrepancies.push(DiscrepancyLine {
                        count: line.clone(),
                        resolved_by: Vec::new(),
                    });
                }
                if self.wanted(Some(p.product)) {
                    self.counts
                        .insert((p.location.to_string(), p.product), line);
                }
            }
            Payload::Adjustment(p) => {
                row.container = Some(p.container.to_string());
                row.product = self.container_of(&p.container).map(|k| k.0);
                row.ug = Some(p.amount.micrograms().get());
                row.quantity = Some(quantity(&p.amount));
                row.detail = format!("{} ({}): {}", p.direction, p.reason, p.note);
                if let Some(r) = p.resolves {
                    row.detail.push_str(&format!(", resolves count {r}"));
                    if let Some(d) = self
                        .discrepancies
                        .iter_mut()
                        .find(|d| d.count.seq == r.get())
                    {
                        d.resolved_by.push(e.seq.get());
                    }
                }
                if let Some(k) = self.container_of(&p.container) {
                    match p.direction {
                        Direction::Increase => {
                            moves.push((k, |m| &mut m.adjusted_in, p.amount.base()))
                        }
                        Direction::Decrease => {
                            moves.push((k, |m| &mut m.adjusted_out, p.amount.base()))
                        }
                    }
                }
            }
            Payload::LossTheft(p) => {
                row.detail = format!(
                    "{} discovered {}{}: {}",
                    p.loss_type,
                    p.discovered_on,
                    p.police_report
                        .as_ref()
                        .map_or(String::new(), |r| format!(", police report {r}")),
                    p.description
                );
                let mut ug = 0;
                for i in &p.items {
                    if let Some(k) = self.container_of(&i.container) {
                        row.product = Some(k.0);
                        moves.push((k, |m| &mut m.lost, i.amount.base()));
                    }
                    ug += i.amount.micrograms().get();
                }
                row.ug = Some(ug);
                row.container = Some(items_text(&p.items));
            }
            Payload::Destruction(p) => {
                row.detail = match &p.method {
                    DestructionMethod::OnSite { method, place } => {
                        format!("destroyed {} by {method} at {place}", p.date)
                    }
                    DestructionMethod::ReverseDistributor { distributor } => format!(
                        "returned {} to reverse distributor {} (DEA {})",
                        p.date, distributor.name, distributor.dea
                    ),
                };
                let mut ug = 0;
                for i in &p.items {
                    if let Some(k) = self.container_of(&i.container) {
                        row.product = Some(k.0);
                        moves.push((k, |m| &mut m.destroyed, i.amount.base()));
                    }
                    ug += i.amount.micrograms().get();
                }
                row.ug = Some(ug);
                row.container = Some(items_text(&p.items));
            }
            Payload::Correction(p) => {
                row.detail = format!("corrects entry {}: {}", p.corrects, p.reason);
            }
            Payload::Genesis(g) => {
                row.detail = format!("ledger opened for {}", g.registrant.name);
            }
            Payload::Inventory(p) => {
                row.detail = format!(
                    "{} inventory of {} at {}, {} line{}",
                    p.occasion,
                    p.date,
                    p.taken_at.describe(),
                    p.lines.len(),
                    if p.lines.len() == 1 { "" } else { "s" }
                );
                if p.occasion == custody_ledger::InventoryOccasion::Initial {
                    // The stock an initial inventory brings in starts the ledger's balances.
                    for l in &p.lines {
                        row.product = Some(l.product);
                        let cap = self
                            .state
                            .products
                            .get(&l.product)
                            .map_or(0, |d| d.strength.capacity());
                        let base = l
                            .open
                            .iter()
                            .fold(cap.saturating_mul(u64::from(l.sealed)), |acc, o| {
                                acc.saturating_add(o.amount.base())
                            });
                        moves.push(((l.product, l.lot.to_string()), |m| &mut m.received, base));
                    }
                }
            }
            Payload::LossReported(p) => {
                row.detail = format!(
                    "loss {} reported: written notice {}, DEA Form 106 {} submitted {}",
                    p.loss, p.notice_on, p.form_106, p.form_106_on
                );
            }
            Payload::RemsSessionClosed(p) => {
                row.patient = Some(p.patient);
                row.detail = format!(
                    "REMS session {} for {} closed: doses {}, discharged {}",
                    p.session,
                    p.patient.masked(),
                    p.doses
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    p.discharged_at
                );
            }
            Payload::RemsFormSubmitted(p) => {
                row.detail = format!(
                    "REMS form of session {} submitted {}, confirmation {}",
                    p.session, p.submitted_on, p.confirmation
                );
            }
            Payload::PmpReported(p) => {
                row.detail = format!(
                    "PMP file to {} for {} to {}: ASAP {}, control number {}, {} records",
                    p.state, p.from, p.to, p.asap_version, p.control_number, p.records
                );
            }
            Payload::ReportIssued(p) => {
                row.detail = format!(
                    "{} report of {} to {} issued for {}, built at {} entries, data digest {}",
                    p.report,
                    p.from,
                    p.to,
                    p.requested_by,
                    p.checkpoint_size,
                    &p.data_digest.to_string()[..16]
                );
            }
            Payload::UserEnrolled(p) => {
                row.detail = format!("enrolled {} ({}) as {}", p.printed_name, p.user, p.role);
            }
            Payload::RoleChanged(p) => {
                row.detail = format!("{} is now {}: {}", p.user, p.role, p.reason);
            }
            Payload::UserDeactivated(p) => {
                row.detail = format!("{} deactivated: {}", p.user, p.reason);
            }
            Payload::KeyRotated(p) => {
                row.detail = format!("new key for {}: {}", p.subject, p.reason);
            }
            Payload::ProductDefined(p) => {
                row.product = Some(p.ndc);
                row.detail = format!("product {} ({}, schedule {})", p.name, p.form, p.schedule);
            }
            Payload::LocationDefined(p) => {
                row.detail = format!("location {} — {} ({})", p.location, p.name, p.kind);
            }
        }
        for (k, field, base) in moves {
            if self.wanted(Some(k.0)) {
                let m = self.movements.entry(k).or_default();
                *field(m) = field(m).saturating_add(base);
            }
        }
        if self.listed(&row) {
            self.digest.update(row.seq.to_be_bytes());
            self.digest.update(row.hash.as_bytes());
            self.log.push(row);
        }
    }

    /// Whether the report lists this entry, by kind of report.
    fn listed(&self, row: &LogRow) -> bool {
        let product_ok = self.req.product.is_none() || row.product == self.req.product;
        match self.req.kind {
            ReportKind::Audit => product_ok,
            ReportKind::Inventory => false,
            ReportKind::Waste => product_ok && matches!(row.kind, Kind::Waste | Kind::Destruction),
            ReportKind::Loss => product_ok && row.kind == Kind::LossTheft,
            ReportKind::Dispensing => {
                product_ok
                    && matches!(row.kind, Kind::Administered | Kind::Dispensed)
                    && self
                        .req
                        .prescriber
                        .as_ref()
                        .is_none_or(|p| row.prescriber.as_ref().is_some_and(|r| r.contains(p)))
                    && self.req.patient.is_none_or(|p| row.patient == Some(p))
            }
            ReportKind::Trace => match &self.req.container {
                Some(c) => {
                    let id = c.to_string();
                    row.seq == c.receipt().get()
                        || row
                            .container
                            .as_ref()
                            .is_some_and(|s| s.split([',', ' ']).any(|w| w == id))
                }
                None => false,
            },
        }
    }

    /// Ends the fold: closing balances, the inventory, the digests.
    pub fn finish(mut self) -> Result<ReportData, ReportError> {
        self.open_period();
        self.close_period();
        let registrant = self
            .state
            .registrant
            .as_ref()
            .map(|r| r.party.clone())
            .ok_or_else(|| ReportError::Ledger("the ledger has no genesis".into()))?;
        let inventory = self.closed.take().unwrap_or_default();
        let mut t = Sha256::new();
        t.update(b"custody/v1/report-totals\0");
        for ((ndc, lot), m) in &self.movements {
            t.update(ndc.digits().as_bytes());
            t.update([0]);
            t.update(lot.as_bytes());
            t.update([0]);
            for v in m.fields() {
                t.update(v.to_be_bytes());
            }
        }
        for ((loc, ndc), c) in &self.counts {
            t.update(loc.as_bytes());
            t.update([0]);
            t.update(ndc.digits().as_bytes());
            t.update(c.seq.to_be_bytes());
        }
        for (ndc, l) in &inventory {
            t.update(ndc.digits().as_bytes());
            t.update(l.sealed.to_be_bytes());
            for (id, _, rem) in &l.open {
                t.update(id.as_bytes());
                t.update(rem.to_be_bytes());
            }
        }
        Ok(ReportData {
            request: self.req,
            registrant,
            products: self.products,
            movements: self.movements,
            log: self.log,
            counts: self.counts,
            discrepancies: self.discrepancies,
            inventory,
            entries_digest: self.digest.finalize().into(),
            totals_digest: t.finalize().into(),
        })
    }
}

fn items_text(items: &[ContainerAmount]) -> String {
    items
        .iter()
        .map(|i| format!("{} {}", i.container, quantity(&i.amount)))
        .collect::<Vec<_>>()
        .join(", ")
}
