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
use crate::spill::Spill;

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
    /// The reason as its author typed it (a waste's, an adjustment's, a correction's), for
    /// a CSV column of its own.
    pub reason: Option<String>,
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
    /// Where it stands at the end of the period, as the ledger's rules know it: the entries
    /// that reduced it and the one that closed it, or what remains open.
    pub status: String,
}

/// What is on hand of one product at one moment (the inventory report).
#[derive(Debug, Clone, Default)]
pub struct InventoryLine {
    pub sealed: u64,
    /// Open containers and what each holds, in base units.
    pub open: Vec<(String, String, u64)>,
}

/// An inventory entry of the period, as the inventory report prints it (21 CFR 1304.11: the
/// occasion, opening or close of business, what was counted, who took and who witnessed it).
#[derive(Debug, Clone)]
pub struct InventoryTaken {
    pub seq: u64,
    pub at: Timestamp,
    pub occasion: InventoryOccasion,
    pub taken_at: BusinessHours,
    pub date: Day,
    /// One line per product, lot and location, as people read it.
    pub lines: Vec<String>,
    pub signatures: Vec<SignatureLine>,
}

/// A loss or theft recorded up to the end of the period, its two deadlines, and its reports to
/// the DEA once recorded (up to the end of the period).
#[derive(Debug, Clone)]
pub struct LossLine {
    pub seq: u64,
    pub discovered_on: Day,
    pub deadlines: crate::deadlines::LossDeadlines,
    pub reported: Option<(u64, LossReported)>,
}

/// A Spravato REMS session closed in the period (`rems_session_closed`), and its monitoring
/// form's submission (`rems_form_submitted`) once recorded by the end of the period.
#[derive(Debug, Clone)]
pub struct RemsLine {
    pub seq: u64,
    pub closed: RemsSessionClosed,
    pub form: Option<(u64, RemsFormSubmitted)>,
}

/// The Patient Monitoring Form is due this many days after discharge.
pub const REMS_FORM_DAYS: i64 = 7;

impl RemsLine {
    /// The form's deadline (7 days from the day of discharge in `zone`) as of `day`.
    pub fn form_status(&self, zone: &crate::Zone, day: Day) -> crate::deadlines::DeadlineStatus {
        let discharged = zone.day_of(self.closed.discharged_at);
        let due = discharged.plus_days(REMS_FORM_DAYS).unwrap_or(discharged);
        crate::deadlines::DeadlineStatus::of(
            due,
            self.form.as_ref().map(|(_, f)| f.submitted_on),
            day,
        )
    }

    /// Whole minutes from the first device to discharge.
    pub fn minutes(&self) -> i64 {
        (self.closed.discharged_at.micros() - self.closed.started_at.micros()).max(0) / 60_000_000
    }
}

impl LossLine {
    /// The written notice's and Form 106's status as of `day`.
    pub fn status(
        &self,
        day: Day,
    ) -> (
        crate::deadlines::DeadlineStatus,
        crate::deadlines::DeadlineStatus,
    ) {
        use crate::deadlines::DeadlineStatus;
        let r = self.reported.as_ref().map(|(_, r)| r);
        (
            DeadlineStatus::of(self.deadlines.notice_due, r.map(|r| r.notice_on), day),
            DeadlineStatus::of(self.deadlines.form_106_due, r.map(|r| r.form_106_on), day),
        )
    }
}

/// Everything a report states, and the digests that fix it.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub request: Request,
    pub registrant: Party,
    pub products: BTreeMap<Ndc, ProductDefined>,
    pub movements: BTreeMap<(Ndc, String), Movement>,
    /// The rows the report lists, when the fold kept them (`Collector::new`); a PDF report's
    /// fold writes them to a `Spill` instead (`Collector::spilling`).
    pub log: Vec<LogRow>,
    /// How many entries the report lists (kept or spilled).
    pub listed: u64,
    pub counts: BTreeMap<(String, Ndc), CountLine>,
    pub discrepancies: Vec<DiscrepancyLine>,
    pub inventory: BTreeMap<Ndc, InventoryLine>,
    /// The inventories taken in the period.
    pub inventories: Vec<InventoryTaken>,
    /// Every loss or theft up to the end of the period, with its deadlines.
    pub losses: Vec<LossLine>,
    /// The REMS sessions closed in the period (a `rems` report).
    pub rems: Vec<RemsLine>,
    /// A diversion report's analytics.
    pub analytics: Option<custody_analytics::Analytics>,
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
        h.update(self.listed.to_be_bytes());
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
    /// Where listed rows go instead of `log`, for a report laid out from a file.
    spill: Option<Spill>,
    listed: u64,
    counts: BTreeMap<(String, Ndc), CountLine>,
    discrepancies: Vec<DiscrepancyLine>,
    inventories: Vec<InventoryTaken>,
    losses: Vec<LossLine>,
    rems: Vec<RemsLine>,
    digest: Sha256,
    analyzer: Option<custody_analytics::Analyzer>,
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
            state: State::new(),
            seen: 0,
            products: BTreeMap::new(),
            movements: BTreeMap::new(),
            opened: false,
            closed: None,
            log: Vec::new(),
            spill: None,
            listed: 0,
            counts: BTreeMap::new(),
            discrepancies: Vec::new(),
            inventories: Vec::new(),
            losses: Vec::new(),
            rems: Vec::new(),
            digest: Sha256::new(),
            // The diversion report's figures and charts; a trace's container timeline.
            analyzer: matches!(req.kind, ReportKind::Diversion | ReportKind::Trace).then(|| {
                custody_analytics::Analyzer::new(custody_analytics::Params {
                    from: zone.start_of(req.from),
                    to: zone.end_of(req.to),
                    tz: zone.tz().clone(),
                    hours: req
                        .hours
                        .as_deref()
                        .and_then(|h| h.parse().ok())
                        .unwrap_or_default(),
                    thresholds: custody_analytics::Thresholds::default(),
                    container: req.container,
                })
            }),
            req,
        }
    }

    /// A fold that writes the rows it lists to a temporary file (`Spill`) rather than keeping
    /// them: memory then holds the report's totals, not its rows.
    pub fn spilling(req: Request) -> Result<Self, ReportError> {
        Ok(Self {
            spill: Some(Spill::new()?),
            ..Self::new(req)
        })
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
            self.record(e, hash)?;
            if let Payload::RemsSessionClosed(p) = e.payload() {
                self.rems.push(RemsLine {
                    seq: e.seq.get(),
                    closed: p.clone(),
                    form: None,
                });
            }
        }
        if let (Payload::RemsFormSubmitted(p), true) = (e.payload(), e.timestamp < self.to)
            && let Some(l) = self.rems.iter_mut().find(|l| l.closed.session == p.session)
        {
            l.form = Some((e.seq.get(), p.clone()));
        }
        if let Payload::ProductDefined(p) = e.payload() {
            self.products.insert(p.ndc, p.clone());
        }
        if e.timestamp < self.to {
            match e.payload() {
                Payload::LossTheft(p) => self.losses.push(LossLine {
                    seq: e.seq.get(),
                    discovered_on: p.discovered_on,
                    deadlines: crate::deadlines::LossDeadlines::of(p.discovered_on),
                    reported: None,
                }),
                Payload::LossReported(r) => {
                    if let Some(l) = self.losses.iter_mut().find(|l| l.seq == r.loss.get()) {
                        l.reported = Some((e.seq.get(), r.clone()));
                    }
                }
                _ => {}
            }
        }
        if let Some(a) = &mut self.analyzer {
            a.push(e)
                .map_err(|v| ReportError::Ledger(format!("entry {}: {v}", e.seq)))?;
        }
        self.state
            .apply(e)
            .map_err(|v| ReportError::Ledger(format!("entry {}: {v}", e.seq)))?;
        Ok(())
    }

    /// Notes what an entry in the period moves and how the log prints it. Runs before the
    /// entry is applied, while the containers it names are still held.
    fn record(&mut self, e: &Entry, hash: EntryHash) -> Result<(), ReportError> {
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
            reason: None,
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
                    "{} to {}, ordered by {}, given {}",
                    p.route,
                    p.patient.masked(),
                    p.prescriber.name,
                    self.req.zone().show(p.given_at)
                );
                if let Some(r) = &p.late_reason {
                    row.detail.push_str(&format!("; charted late: {r}"));
                }
                if let Some(k) = self.container_of(&p.container) {
                    moves.push((k, |m| &mut m.administered, p.amount.base()));
                }
            }
            Payload::Dispensed(p) => {
                let mut ug = 0u64;
                let mut parts = Vec::new();
                let mut ids = Vec::new();
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
                        ids.push(c.to_string());
                        parts.push(format!("{c} whole"));
                    }
                }
                for i in &p.from_open {
                    if let Some(k) = self.container_of(&i.container) {
                        row.product = Some(k.0);
                        moves.push((k, |m| &mut m.dispensed, i.amount.base()));
                    }
                    ug += i.amount.micrograms().get();
                    ids.push(i.container.to_string());
                    parts.push(format!("{} from {}", quantity(&i.amount), i.container));
                }
                row.ug = Some(ug);
                // The container column names the containers; the amounts go in the details.
                row.container = Some(ids.join(", "));
                row.patient = Some(p.patient);
                row.prescriber = Some(format!("{} ({})", p.prescriber.name, p.prescriber.dea));
                row.detail = format!(
                    "take-home {} for {}, prescribed by {}",
                    parts.join(", "),
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
                row.reason = Some(p.reason.to_string());
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
                let tally = |t: &Tally| match self.state.products.get(&p.product) {
                    Some(d) => crate::words::tally_said(&d.strength, t.sealed, t.open),
                    None => format!("{} sealed and {} in open containers", t.sealed, t.open),
                };
                row.detail = format!(
                    "{}count at {}: expected {}, counted {}{}",
                    if p.blind { "blind " } else { "" },
                    p.location,
                    tally(&p.expected),
                    tally(&p.counted),
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
                        status: String::new(),
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
                row.reason = Some(p.note.to_string());
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
            Payload::Inventory(p) => {
                let mut lines = Vec::new();
                for l in &p.lines {
                    let strength = self.state.products.get(&l.product).map(|d| d.strength);
                    let name = self
                        .state
                        .products
                        .get(&l.product)
                        .map_or_else(|| l.product.to_string(), |d| d.name.to_string());
                    let open: Vec<String> = l
                        .open
                        .iter()
                        .map(|o| {
                            format!(
                                "{}{} ({})",
                                o.container.map_or(String::new(), |c| format!("{c}: ")),
                                strength.map_or_else(
                                    || quantity(&o.amount),
                                    |s| describe_base(&s, o.amount.base())
                                ),
                                if o.estimated { "estimated" } else { "measured" }
                            )
                        })
                        .collect();
                    lines.push(format!(
                        "{name} lot {} (exp {}) at {}: {} sealed{}",
                        l.lot,
                        l.expiry,
                        l.location,
                        l.sealed,
                        if open.is_empty() {
                            String::new()
                        } else {
                            format!("; open: {}", open.join(", "))
                        }
                    ));
                    if self.wanted(Some(l.product)) && p.occasion == InventoryOccasion::Initial {
                        // The stock an initial inventory brings in enters the balances as
                        // received.
                        let cap = strength.map_or(0, |s| s.capacity());
                        let base = cap
                            .saturating_mul(u64::from(l.sealed))
                            .saturating_add(l.open.iter().map(|o| o.amount.base()).sum::<u64>());
                        moves.push(((l.product, l.lot.to_string()), |m| &mut m.received, base));
                    }
                }
                row.product = p.lines.first().map(|l| l.product);
                row.detail = format!(
                    "{} inventory, taken at the {} of business on {}: {}",
                    occasion_word(p.occasion),
                    hours_word(p.taken_at),
                    p.date,
                    if lines.is_empty() {
                        "nothing on hand".to_string()
                    } else {
                        lines.join("; ")
                    }
                );
                self.inventories.push(InventoryTaken {
                    seq: e.seq.get(),
                    at: e.timestamp,
                    occasion: p.occasion,
                    taken_at: p.taken_at,
                    date: p.date,
                    lines,
                    signatures: row.signatures.clone(),
                });
            }
            Payload::LossReported(p) => {
                row.detail = format!(
                    "loss {} reported: written notice to the DEA Field Division {}, DEA Form 106 {} submitted {}",
                    p.loss, p.notice_on, p.form_106, p.form_106_on
                );
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
                row.reason = Some(p.reason.to_string());
            }
            Payload::Genesis(g) => {
                row.detail = format!("ledger opened for {}", g.registrant.name);
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
            self.listed += 1;
            match &mut self.spill {
                Some(s) => s.push(&row)?,
                None => self.log.push(row),
            }
        }
        Ok(())
    }

    /// Whether the report lists this entry, by kind of report.
    fn listed(&self, row: &LogRow) -> bool {
        let product_ok = self.req.product.is_none() || row.product == self.req.product;
        match self.req.kind {
            ReportKind::Audit => product_ok,
            ReportKind::Inventory => row.kind == Kind::Inventory,
            ReportKind::Waste => product_ok && matches!(row.kind, Kind::Waste | Kind::Destruction),
            ReportKind::Loss => {
                (product_ok && row.kind == Kind::LossTheft) || row.kind == Kind::LossReported
            }
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
            ReportKind::Diversion => {
                product_ok
                    && matches!(
                        row.kind,
                        Kind::Administered | Kind::Waste | Kind::Count | Kind::Correction
                    )
            }
            ReportKind::Rems => {
                matches!(row.kind, Kind::RemsSessionClosed | Kind::RemsFormSubmitted)
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

    /// Each discrepancy's status from the ledger's own knowledge of it (at the end of the
    /// fold); an inventory's discrepancies of the period are listed too.
    fn discrepancy_statuses(&mut self) {
        let strength = |n: &Ndc| self.state.products.get(n).map(|p| p.strength);
        let says = |d: &custody_ledger::state::Discrepancy| {
            let amount = |v: u64| {
                strength(&d.product).map_or_else(|| v.to_string(), |s| describe_base(&s, v))
            };
            let by = |v: &[Seq]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match d.closed_by {
                Some(c) => format!(
                    "closed by entry {c} ({} {}; reduced by {})",
                    amount(d.difference),
                    if d.direction == Direction::Decrease {
                        "short"
                    } else {
                        "over"
                    },
                    if d.reduced_by.is_empty() {
                        "none: the count was corrected".to_string()
                    } else {
                        by(&d.reduced_by)
                    }
                ),
                None => format!(
                    "OPEN: {} of {} {} unexplained{}",
                    amount(d.remaining),
                    amount(d.difference),
                    if d.direction == Direction::Decrease {
                        "short"
                    } else {
                        "over"
                    },
                    if d.reduced_by.is_empty() {
                        String::new()
                    } else {
                        format!(" (reduced by {})", by(&d.reduced_by))
                    }
                ),
            }
        };
        let mut lines = std::mem::take(&mut self.discrepancies);
        for line in &mut lines {
            let found: Vec<String> = self
                .state
                .discrepancies
                .iter()
                .filter(|(k, _)| k.seq.get() == line.count.seq)
                .map(|(_, d)| says(d))
                .collect();
            line.status = found.join("; ");
        }
        // An inventory's discrepancies: one line per product and location.
        for (k, d) in &self.state.discrepancies {
            let Some(ts) = self.log_time(k.seq.get()) else {
                continue;
            };
            if !self.wanted(Some(k.product)) {
                continue;
            }
            lines.push(DiscrepancyLine {
                count: CountLine {
                    seq: k.seq.get(),
                    at: ts,
                    location: k.location.to_string(),
                    product: k.product,
                    expected: Tally { sealed: 0, open: 0 },
                    counted: Tally { sealed: 0, open: 0 },
                },
                resolved_by: d.reduced_by.iter().map(|s| s.get()).collect(),
                status: format!("inventory {}: {}", k.seq, says(d)),
            });
        }
        self.discrepancies = lines;
    }

    fn log_time(&self, seq: u64) -> Option<Timestamp> {
        self.inventories.iter().find(|i| i.seq == seq).map(|i| i.at)
    }

    /// Ends the fold: closing balances, the inventory, the digests.
    pub fn finish(self) -> Result<ReportData, ReportError> {
        Ok(self.finish_spilled()?.0)
    }

    /// Ends the fold, with the rows it wrote to a file if it was `spilling`.
    pub fn finish_spilled(self) -> Result<(ReportData, Option<Spill>), ReportError> {
        self.finish_all().map(|(data, spill, _)| (data, spill))
    }

    /// What the report states, the file of its rows (when spilling), and the ledger's rule
    /// state after the entries folded (a store may keep it: `Store::adopt_state`).
    pub fn finish_all(mut self) -> Result<(ReportData, Option<Spill>, State), ReportError> {
        let spill = self.spill.take();
        self.open_period();
        self.close_period();
        let registrant = self
            .state
            .registrant
            .as_ref()
            .map(|r| r.party.clone())
            .ok_or_else(|| ReportError::Ledger("the ledger has no genesis".into()))?;
        let inventory = self.closed.take().unwrap_or_default();
        self.discrepancy_statuses();
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
        let analytics = self.analyzer.take().map(|a| a.finish());
        // Only the diversion report states figures; a trace's timeline is drawn from the
        // entries it lists, which the entries digest covers.
        if let Some(a) = analytics
            .as_ref()
            .filter(|_| self.req.kind == ReportKind::Diversion)
        {
            // What the report states of each person: tier, and every figure's exact
            // numerator, denominator and entries (z-scores follow from these).
            t.update(b"diversion\0");
            for p in &a.people {
                t.update(p.user.as_str().as_bytes());
                t.update([0]);
                t.update(p.tier.name().as_bytes());
                for f in &p.figures {
                    t.update(f.signal.name().as_bytes());
                    t.update(f.numerator.to_be_bytes());
                    t.update(f.denominator.to_be_bytes());
                    t.update((f.seqs.len() as u64).to_be_bytes());
                    for s in &f.seqs {
                        t.update(s.to_be_bytes());
                    }
                }
            }
        }
        let data = ReportData {
            analytics,
            request: self.req,
            registrant,
            products: self.products,
            movements: self.movements,
            log: self.log,
            listed: self.listed,
            counts: self.counts,
            discrepancies: self.discrepancies,
            inventory,
            inventories: self.inventories,
            losses: self.losses,
            rems: self.rems,
            entries_digest: self.digest.finalize().into(),
            totals_digest: t.finalize().into(),
        };
        Ok((data, spill, self.state))
    }
}

/// "initial", "biennial" or "other", as the inventory report says it.
pub fn occasion_word(o: InventoryOccasion) -> &'static str {
    match o {
        InventoryOccasion::Initial => "initial",
        InventoryOccasion::Biennial => "biennial",
        InventoryOccasion::Other => "other",
    }
}

/// "opening" or "close" (of business).
pub fn hours_word(h: BusinessHours) -> &'static str {
    match h {
        BusinessHours::Opening => "opening",
        BusinessHours::Close => "close",
    }
}

fn items_text(items: &[ContainerAmount]) -> String {
    items
        .iter()
        .map(|i| format!("{} {}", i.container, quantity(&i.amount)))
        .collect::<Vec<_>>()
        .join(", ")
}
