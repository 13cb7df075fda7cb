//! The six reports, laid out for a person on one paper size (landscape, US Letter or A4):
//! the summary from page 1, the logs, the attestation of the pharmacist in charge, and a
//! last page that says how to check the report. Cells wrap and are never cut; a product's
//! name, a lot and a container id are never broken across lines (their columns are as wide
//! as the widest of them).

use custody_ledger::types::quantity::thousandths;
use custody_ledger::*;

use crate::ReportError;
use crate::layout::{Layout, Paper, Sink, col, num};
use crate::manifest::Manifest;
use crate::model::{LogRow, ReportData};
use crate::request::ReportKind;
use crate::spill::Spill;

/// Identifying records of patients, read beside the chain (never part of its digests).
pub type PatientNames = std::collections::HashMap<PatientRef, String>;

/// A queued waste as reports list it.
#[derive(Debug, Clone)]
pub struct PendingWaste {
    pub queued_at: String,
    pub author: String,
    pub container: String,
    pub amount: String,
}

/// What a report prints beyond the chain: who is named, what waits, and on what paper.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub patients: PatientNames,
    /// Patients' addresses from the register (printed only on a patient-identifying record).
    pub addresses: PatientNames,
    pub pending: Vec<PendingWaste>,
    /// The paper size; by default Letter for a registrant with a US address, else A4.
    pub paper: Option<Paper>,
}

fn mg(ug: u64) -> String {
    Micrograms::new(ug).to_string()
}

fn base(p: Option<&ProductDefined>, v: u64) -> String {
    match p {
        Some(p) => crate::words::quantity(&p.strength, v),
        None => v.to_string(),
    }
}

/// A count's tally in the product's units: "18 sealed and 20 mL in open containers".
fn tally(p: Option<&ProductDefined>, t: &Tally) -> String {
    match p {
        Some(p) => crate::words::tally_said(&p.strength, t.sealed, t.open),
        None => format!("{} sealed and {} in open containers", t.sealed, t.open),
    }
}

/// Widths that keep what a column holds on one line: the widest product name, lot and
/// container id of the report at the table's font size (with the cell's padding).
struct Widest {
    product: f32,
    lot: f32,
    container: f32,
}

fn widest(l: &Layout, d: &ReportData, size: f32, log: &LogWidths) -> Widest {
    let w = |it: &mut dyn Iterator<Item = String>| {
        it.map(|s| l.measure(&s, size)).fold(0.0f32, f32::max) + 8.0
    };
    Widest {
        product: w(&mut d.products.values().map(|p| p.name.to_string())),
        lot: w(&mut d.movements.keys().map(|(_, lot)| lot.clone())),
        container: l.measure(&log.container, size) + 8.0,
    }
}

/// The widest container id (as the log names them: several are separated by ", ") and
/// kind name among the rows the report lists, found in one read of them before the
/// layout. Kept as the strings themselves: the widest in thousandths of an em is the
/// widest at every size, so measuring it gives what measuring every row gave.
#[derive(Debug, Default)]
pub struct LogWidths {
    container: String,
    kind: String,
}

impl LogWidths {
    pub fn of(l: &Layout, rows: &mut Spill) -> Result<LogWidths, ReportError> {
        let mut w = LogWidths::default();
        let (mut container, mut kind) = (0i64, 0i64);
        rows.each(&mut |r| {
            for c in r.container.as_deref().unwrap_or_default().split(' ') {
                let t = l.em_thousandths(c);
                if t > container {
                    container = t;
                    w.container = c.to_string();
                }
            }
            let k = r.kind.name();
            let t = l.em_thousandths(k);
            if t > kind {
                kind = t;
                w.kind = k.to_string();
            }
        })?;
        Ok(w)
    }
}

fn with_mg(p: Option<&ProductDefined>, v: u64) -> String {
    let ug = p
        .and_then(|p| p.strength.micrograms_in(v))
        .map_or(String::new(), |u| format!(" ({})", mg(u.get())));
    format!("{}{ug}", base(p, v))
}

fn product_name(d: &ReportData, ndc: Option<Ndc>) -> String {
    ndc.and_then(|n| d.products.get(&n))
        .map_or_else(String::new, |p| p.name.to_string())
}

/// 2026-11-21T14:02:11.338Z → 2026-11-21 08:02 CST in the report's zone (the clinic's).
fn at(d: &ReportData, t: Timestamp) -> String {
    d.request.zone().show(t)
}

/// Who signed, with what meaning, when (21 CFR 11.50(a)).
fn signatures(d: &ReportData, r: &LogRow) -> String {
    r.signatures
        .iter()
        .map(|s| format!("{} ({}, {})", s.name, s.meaning, at(d, s.at)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn patient(extras: &Extras, p: Option<PatientRef>, identified: bool) -> String {
    if identified && let Some(p) = p {
        return format!(
            "{}, {} ({})",
            extras
                .patients
                .get(&p)
                .map_or("NOT IN THE PATIENT REGISTER", String::as_str),
            extras.addresses.get(&p).map_or("", String::as_str),
            p.masked()
        );
    }
    match p {
        None => String::new(),
        Some(p) => match extras.patients.get(&p) {
            Some(name) => format!("{} ({})", p.masked(), name),
            None => p.masked(),
        },
    }
}

/// The cosigned checkpoints a report carries, one line each for a person: size, the root's
/// first hex digits, and which witnesses cosigned it when (in the report's zone).
fn witnessed(d: &ReportData, m: &Manifest) -> Vec<String> {
    if m.cosigned.is_empty() {
        return vec![
            "none: no witness had cosigned a checkpoint of this ledger when this report was issued (no witnesses configured, or none had answered yet)".into(),
        ];
    }
    m.cosigned
        .iter()
        .map(|c| {
            let Ok(note) = custody_ledger::note::Note::parse(&c.note) else {
                return "a checkpoint that cannot be read".into();
            };
            let Ok(cp) = note.checkpoint() else {
                return "a checkpoint that cannot be read".into();
            };
            let by = note
                .cosignatures()
                .iter()
                .map(|w| {
                    let when = i64::try_from(w.timestamp)
                        .ok()
                        .and_then(|s| s.checked_mul(1_000_000))
                        .and_then(|us| Timestamp::from_micros(us).ok())
                        .map_or_else(|| w.timestamp.to_string(), |t| at(d, t));
                    format!("{} at {when}", w.name)
                })
                .collect::<Vec<_>>();
            format!(
                "checkpoint of {} entries, root {}…, cosigned by {}",
                cp.size,
                &hex::encode(cp.root)[..16],
                by.join(" and ")
            )
        })
        .collect()
}

fn cover(l: &mut Layout, d: &ReportData, m: &Manifest) {
    l.title(d.request.kind.title());
    let mut pairs = vec![
        ("Registrant", d.registrant.name.to_string()),
        ("Address", d.registrant.address.to_string()),
        ("DEA registration", d.registrant.dea.to_string()),
        (
            "Period",
            match d.request.kind {
                ReportKind::Inventory => format!(
                    "at close of business on {} ({})",
                    d.request.to,
                    d.request.zone()
                ),
                _ => format!(
                    "{} to {} (inclusive; days in {})",
                    d.request.from,
                    d.request.to,
                    d.request.zone()
                ),
            },
        ),
        ("Generated", at(d, m.generated_at)),
        (
            "Quantities",
            "exact, as recorded in µg and µL (or units); shown in mg and mL".to_string(),
        ),
        ("For", m.requested_by.clone()),
        (
            "Ledger",
            format!("{} at {} entries", m.ledger, m.checkpoint_size),
        ),
    ];
    for (i, w) in witnessed(d, m).into_iter().enumerate() {
        pairs.push((if i == 0 { "Witnessed" } else { "" }, w));
    }
    if let Some(p) = d.request.product {
        pairs.push(("Product", format!("{} {}", p, product_name(d, Some(p)))));
    }
    if let Some(c) = d.request.container {
        pairs.push(("Container", c.to_string()));
    }
    if let Some(p) = &d.request.prescriber {
        pairs.push(("Practitioner", p.clone()));
    }
    if let Some(p) = d.request.patient {
        pairs.push(("Patient", p.masked()));
    }
    if d.request.identified {
        pairs.push((
            "Patients named",
            "with name and address from the patient register (21 CFR 1304.22(c)): protected health information, for the inspector it was made for".into(),
        ));
        pairs.push((
            "Reason stated",
            d.request.reason.clone().unwrap_or_default(),
        ));
    }
    l.pairs(&pairs);
}

fn balances(l: &mut Layout, d: &ReportData, log: &LogWidths) {
    let wide = widest(l, d, Layout::DENSE, log);
    l.heading("Balances per product and lot");
    l.paragraph(
        "Volumes (or units) exactly as recorded, in the row's unit; the closing balance also as drug. Received includes what an initial inventory brought in. Opening + received + adjusted in − given (administered) − dispensed − wasted − destroyed (or returned to a reverse distributor) − out (transferred to another registrant) − adjusted out − lost = closing. \"Adds up\" says whether it does.",
    );
    // A figure is never broken across lines: each column is at least as wide as the widest.
    let figure = |p: Option<&ProductDefined>, v: u64| match p {
        Some(p) => crate::words::number(&p.strength, v),
        None => v.to_string(),
    };
    let fig = d
        .movements
        .iter()
        .flat_map(|((ndc, _), m)| {
            let p = d.products.get(ndc);
            [
                m.opening,
                m.received,
                m.administered,
                m.dispensed,
                m.wasted,
                m.destroyed,
                m.transferred_out,
                m.adjusted_in,
                m.adjusted_out,
                m.lost,
                m.closing,
            ]
            .map(|v| l.measure(&format!("+{}", figure(p, v)), Layout::DENSE))
        })
        .fold(0.0f32, f32::max)
        + 8.0;
    let drug = d
        .movements
        .iter()
        .map(|((ndc, _), m)| {
            let ug = d
                .products
                .get(ndc)
                .and_then(|p| p.strength.micrograms_in(m.closing))
                .map_or(0, |u| u.get());
            l.measure(&mg(ug), Layout::DENSE)
        })
        .fold(0.0f32, f32::max)
        + 8.0;
    l.dense_table(&[
        col("Product", 2.6).at_least(wide.product),
        col("Lot", 0.9).at_least(wide.lot),
        col("Unit", 0.5).at_least(l.measure("units", Layout::DENSE) + 8.0),
        num("Opening", 1.0).at_least(fig),
        num("Received", 1.0).at_least(fig),
        num("Given", 1.0).at_least(fig),
        num("Dispensed", 1.0).at_least(fig),
        num("Wasted", 1.0).at_least(fig),
        num("Destroyed", 1.0).at_least(fig),
        num("Out", 1.0).at_least(fig),
        num("Adjusted", 1.0).at_least(fig),
        num("Lost", 1.0).at_least(fig),
        num("Closing", 1.0).at_least(fig),
        num("Closing drug", 1.2).at_least(drug),
        col("Adds up", 0.7).at_least(l.measure("Adds up", Layout::DENSE) + 8.0),
    ]);
    for ((ndc, lot), m) in &d.movements {
        let p = d.products.get(ndc);
        let b = |v: u64| figure(p, v);
        let adjusted = if m.adjusted_in >= m.adjusted_out {
            format!("+{}", b(m.adjusted_in - m.adjusted_out))
        } else {
            format!("−{}", b(m.adjusted_out - m.adjusted_in))
        };
        let ok = m.expected_closing() == Some(m.closing);
        l.row(&[
            p.map_or(ndc.to_string(), |p| p.name.to_string()),
            lot.clone(),
            p.map_or("", |p| crate::words::unit(&p.strength))
                .to_string(),
            b(m.opening),
            b(m.received),
            b(m.administered),
            b(m.dispensed),
            b(m.wasted),
            b(m.destroyed),
            b(m.transferred_out),
            adjusted,
            b(m.lost),
            b(m.closing),
            p.and_then(|p| p.strength.micrograms_in(m.closing))
                .map_or_else(String::new, |u| mg(u.get())),
            if ok { "yes".into() } else { "NO".into() },
        ]);
    }
    l.end_table();
}

fn counts(l: &mut Layout, d: &ReportData, log: &LogWidths) {
    l.heading("Last count in the period, per location and product");
    if d.counts.is_empty() {
        l.paragraph("No count was recorded in the period.");
        return;
    }
    let wide = widest(l, d, Layout::BODY, log);
    l.table(&[
        num("Entry", 0.6),
        col("When", 1.6),
        col("Location", 1.0),
        col("Product", 3.2).at_least(wide.product),
        col("Expected", 1.9),
        col("Counted", 1.9),
        col("Variance", 1.8),
    ]);
    for ((loc, ndc), c) in &d.counts {
        let p = d.products.get(ndc);
        let variance = if c.counted == c.expected {
            "none".to_string()
        } else {
            format!(
                "{} sealed, {} in open containers",
                {
                    let v = i64::from(c.counted.sealed) - i64::from(c.expected.sealed);
                    if v < 0 {
                        format!("−{}", -v)
                    } else {
                        format!("+{v}")
                    }
                },
                if c.counted.open >= c.expected.open {
                    format!("+{}", base(p, c.counted.open - c.expected.open))
                } else {
                    format!("−{}", base(p, c.expected.open - c.counted.open))
                }
            )
        };
        l.row(&[
            c.seq.to_string(),
            at(d, c.at),
            loc.clone(),
            product_name(d, Some(*ndc)),
            tally(p, &c.expected),
            tally(p, &c.counted),
            variance,
        ]);
    }
    l.end_table();
}

fn discrepancies(l: &mut Layout, d: &ReportData, log: &LogWidths) {
    l.heading("Discrepancies, open and closed");
    if d.discrepancies.is_empty() {
        l.paragraph("No count or inventory in the period found a discrepancy.");
        return;
    }
    let wide = widest(l, d, Layout::BODY, log);
    l.table(&[
        num("Count", 0.7),
        col("When", 1.9),
        col("Location", 1.0),
        col("Product", 3.2).at_least(wide.product),
        col(
            "Status (as the ledger's rules know it at the end of the period)",
            4.0,
        ),
    ]);
    for x in &d.discrepancies {
        l.row(&[
            x.count.seq.to_string(),
            at(d, x.count.at),
            x.count.location.clone(),
            product_name(d, Some(x.count.product)),
            if !x.status.is_empty() {
                x.status.clone()
            } else if x.resolved_by.is_empty() {
                "OPEN: no adjustment names this count".into()
            } else {
                format!(
                    "adjustment entr{} {}",
                    if x.resolved_by.len() == 1 { "y" } else { "ies" },
                    x.resolved_by
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ]);
    }
    l.end_table();
}

fn pending(l: &mut Layout, e: &Extras) {
    l.heading("Wastes awaiting a witness (not yet in the ledger)");
    if e.pending.is_empty() {
        l.paragraph("None.");
        return;
    }
    l.table(&[
        col("Queued", 1.6),
        col("Recorded by", 2.4),
        col("Container", 1.2),
        num("Amount", 1.2),
    ]);
    for p in &e.pending {
        l.row(&[
            p.queued_at.clone(),
            p.author.clone(),
            p.container.clone(),
            p.amount.clone(),
        ]);
    }
    l.end_table();
}

/// The rows a report lists: read from their file, with their widest cells.
pub struct Rows<'a> {
    pub spill: &'a mut Spill,
    pub widths: &'a LogWidths,
}

fn activity(
    l: &mut Layout,
    d: &ReportData,
    e: &Extras,
    heading: &str,
    rows: &mut Rows,
) -> Result<(), ReportError> {
    let wide = widest(l, d, Layout::DENSE, rows.widths);
    // A kind's name (container_opened) is one word: never broken.
    let kind_width = l.measure(&rows.widths.kind, Layout::DENSE) + 8.0;
    l.heading(heading);
    if rows.spill.is_empty() {
        l.paragraph("No entry in the period.");
        return Ok(());
    }
    l.dense_table(&[
        num("Seq", 0.6),
        col("Time", 1.7),
        col("Kind", 1.8).at_least(kind_width),
        col("Product", 1.5).at_least(wide.product),
        col("Container", 0.9).at_least(wide.container),
        num("mg", 0.7),
        num("Amount", 0.95),
        col("Patient", 1.25).at_least(l.measure("P-00000000", Layout::DENSE) + 8.0),
        col("Details; signed by (meaning, when)", 6.7),
    ]);
    // Rows are read back a buffer at a time and given up as they are laid out.
    rows.spill.each(&mut |r| {
        l.row(&[
            r.seq.to_string(),
            at(d, r.at),
            r.kind.to_string(),
            product_name(d, r.product),
            r.container.clone().unwrap_or_default(),
            r.ug.map_or(String::new(), thousandths),
            r.quantity.clone().unwrap_or_default(),
            patient(e, r.patient, d.request.identified),
            format!("{}; {}", r.detail, signatures(d, &r)),
        ]);
    })?;
    l.end_table();
    Ok(())
}

fn inventory(l: &mut Layout, d: &ReportData, log: &LogWidths) {
    let wide = widest(l, d, Layout::BODY, log);
    l.heading("Inventory (21 CFR 1304.11)");
    l.paragraph(
        "Open containers show what the ledger records as remaining: exact, from the signed entries (not a physical estimate).",
    );
    l.table(&[
        col("Product (NDC)", 4.2).at_least(wide.product),
        col("Form", 1.6),
        col("Per container", 2.2),
        num("Sealed", 0.8),
        col("Open containers and what remains (exact)", 4.5),
    ]);
    for (ndc, line) in &d.inventory {
        let p = d.products.get(ndc);
        let per = p.map_or(String::new(), |p| match p.strength {
            Strength::Solution { per_ml, volume } => {
                format!(
                    "{} mL of {} mg/mL",
                    thousandths(volume.get()),
                    thousandths(per_ml.get())
                )
            }
            Strength::Units { per_unit, units } => {
                format!(
                    "{} units of {} mg",
                    units.get(),
                    thousandths(per_unit.get())
                )
            }
        });
        let open = if line.open.is_empty() {
            "none".to_string()
        } else {
            line.open
                .iter()
                .map(|(id, loc, rem)| format!("{id} at {loc}: {}", with_mg(p, *rem)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        l.row(&[
            format!(
                "{} ({ndc})",
                p.map_or(String::new(), |p| p.name.to_string())
            ),
            p.map_or(String::new(), |p| p.form.to_string()),
            per,
            line.sealed.to_string(),
            open,
        ]);
    }
    l.end_table();
}

/// The inventories taken in the period: occasion, opening or close of business, the lines,
/// and the signatures of who took it and who witnessed it.
fn inventories_taken(l: &mut Layout, d: &ReportData) {
    l.heading("Inventories taken in the period");
    if d.inventories.is_empty() {
        l.paragraph("No inventory was recorded in the period: the table above is the ledger's state at the close of the period's last day.");
        return;
    }
    for i in &d.inventories {
        let signed = |meaning: &str| {
            i.signatures
                .iter()
                .filter(|s| s.meaning == meaning)
                .map(|s| format!("{}, signed {}", s.name, at(d, s.at)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        l.pairs(&[
            ("Entry", i.seq.to_string()),
            (
                "Occasion",
                format!("{} inventory", crate::model::occasion_word(i.occasion)),
            ),
            (
                "Taken",
                format!(
                    "at the {} of business on {}",
                    crate::model::hours_word(i.taken_at),
                    i.date
                ),
            ),
            (
                "Counted",
                if i.lines.is_empty() {
                    "nothing on hand (zero stock)".to_string()
                } else {
                    i.lines.join("; ")
                },
            ),
            ("Taken by", signed("authored")),
            ("Witnessed by", signed("witnessed")),
        ]);
    }
}

/// The Spravato REMS sessions closed in the period and their monitoring forms.
fn rems_log(l: &mut Layout, d: &ReportData, e: &Extras) {
    l.heading("Spravato REMS sessions and Patient Monitoring Forms");
    if d.rems.is_empty() {
        l.paragraph("No Spravato REMS session was closed in the period.");
        return;
    }
    l.paragraph("Each session from the first device to discharge; its Patient Monitoring Form is due 7 days after discharge (status as of the period's last day). The session record's SHA-256 (kept outside the chain, docs/rems.md) is in its entry.");
    let zone = d.request.zone();
    l.table(&[
        num("Entry", 0.7),
        col("Session", 1.3),
        col("Patient", 2.2),
        num("Devices", 0.8),
        col("First device", 1.7),
        col("Discharged", 1.7),
        num("Minutes", 0.9),
        col("Monitoring form", 4.0),
    ]);
    for x in &d.rems {
        let status = x.form_status(&zone, d.request.to);
        l.row(&[
            x.seq.to_string(),
            x.closed.session.to_string(),
            crate::tables::patient(e, Some(x.closed.patient)),
            x.closed.doses.len().to_string(),
            zone.show(x.closed.started_at),
            zone.show(x.closed.discharged_at),
            x.minutes().to_string(),
            match &x.form {
                Some((_, f)) => format!("{} — confirmation {}", status.describe(), f.confirmation),
                None => status.describe(),
            },
        ]);
    }
    l.end_table();
}

/// Each loss's two deadlines and where they stand at the end of the period.
fn loss_deadlines(l: &mut Layout, d: &ReportData) {
    l.heading("Loss and theft deadlines (21 CFR 1301.76(b))");
    if d.losses.is_empty() {
        l.paragraph("No loss or theft is recorded up to the end of the period.");
        return;
    }
    l.paragraph("Written notice to the DEA Field Division is due one business day after discovery; DEA Form 106 45 days after. Status as of the period's last day.");
    l.table(&[
        num("Loss", 0.7),
        col("Discovered", 1.3),
        col("Written notice", 4.0),
        col("Form 106", 5.0),
    ]);
    for x in &d.losses {
        let (notice, form) = x.status(d.request.to);
        l.row(&[
            x.seq.to_string(),
            x.discovered_on.to_string(),
            notice.describe(),
            match &x.reported {
                Some((_, r)) => format!("{} — submission {}", form.describe(), r.form_106),
                None => form.describe(),
            },
        ]);
    }
    l.end_table();
}

fn waste_log(l: &mut Layout, d: &ReportData, rows: &mut Rows) -> Result<(), ReportError> {
    let wide = widest(l, d, Layout::BODY, rows.widths);
    l.heading("Wastes (author and witness) and destructions (DEA Form 41)");
    l.table(&[
        num("Seq", 0.6),
        col("Time", 1.7),
        col("Kind", 1.2),
        col("Product", 2.4).at_least(wide.product),
        col("Container(s) and amounts", 2.4),
        num("mg", 0.9),
        col("Method, reason, witnesses", 6.0),
    ]);
    rows.spill.each(&mut |r| {
        l.row(&[
            r.seq.to_string(),
            at(d, r.at),
            r.kind.to_string(),
            product_name(d, r.product),
            r.container.clone().unwrap_or_default(),
            r.ug.map_or(String::new(), thousandths),
            format!("{}. Signed: {}", r.detail, signatures(d, &r)),
        ]);
    })?;
    l.end_table();
    Ok(())
}

/// The day DEA Form 106 is due for a loss: 45 days after its discovery.
pub(crate) fn form_106_due(r: &LogRow) -> String {
    r.detail
        .split(" discovered ")
        .nth(1)
        .and_then(|s| s.get(..10))
        .and_then(|s| s.parse::<Day>().ok())
        .and_then(|d| d.plus_days(45))
        .map_or(String::new(), |d| d.to_string())
}

fn loss_log(l: &mut Layout, d: &ReportData, rows: &mut Rows) -> Result<(), ReportError> {
    l.heading("Losses and thefts (DEA Form 106)");
    l.paragraph(
        "Deadlines (21 CFR 1301.76(b)): notify the DEA Field Division in writing within one business day of discovering a theft or significant loss; file DEA Form 106 within 45 days of discovery.",
    );
    if rows.spill.is_empty() {
        l.paragraph("No loss or theft was recorded in the period.");
        return Ok(());
    }
    rows.spill.each(&mut |r| {
        let discovered = r
            .detail
            .split(" discovered ")
            .nth(1)
            .and_then(|s| s.get(..10))
            .and_then(|s| s.parse::<Day>().ok());
        if r.kind != Kind::LossTheft {
            return;
        }
        let deadline = discovered
            .and_then(|d| d.plus_days(45))
            .map_or(String::new(), |d| d.to_string());
        let status = d.losses.iter().find(|x| x.seq == r.seq).map(|x| {
            let (notice, form) = x.status(d.request.to);
            (
                notice.describe(),
                match &x.reported {
                    Some((_, rep)) => format!("{} — submission {}", form.describe(), rep.form_106),
                    None => form.describe(),
                },
            )
        });
        let (notice, form) = status.unwrap_or_default();
        l.pairs(&[
            ("Entry", format!("{} at {}", r.seq, at(d, r.at))),
            ("Event", r.detail.clone()),
            ("Product", product_name(d, r.product)),
            (
                "Containers and amounts",
                r.container.clone().unwrap_or_default(),
            ),
            ("Total", r.ug.map_or(String::new(), mg)),
            ("Form 106 due by", deadline),
            ("Written notice to the DEA", notice),
            ("DEA Form 106", form),
            ("Recorded by", signatures(d, &r)),
        ]);
    })
}

/// The pharmacist in charge attests the report (printed name, role, date, signature), by
/// hand on the printed copy: the ledger's own signatures are on every entry.
fn attestation(l: &mut Layout, kind: ReportKind) {
    l.heading("Attestation of the pharmacist in charge");
    l.paragraph(&format!(
        "I have reviewed this {kind} report and attest that, to the best of my knowledge, it is a complete and accurate record of the controlled substances it covers, made from the registrant's ledger."
    ));
    l.sign_lines(&[
        ("Printed name", ""),
        ("Role", "Pharmacist in charge"),
        ("Date", ""),
        ("Signature", ""),
    ]);
}

fn verification(l: &mut Layout, d: &ReportData, m: &Manifest, kind: ReportKind) {
    l.new_page();
    l.heading("How to verify this report");
    let mut pairs = vec![
        ("Registrant key", m.registrant_key.to_string()),
        ("Key id", m.registrant_key.key_id().to_string()),
        ("Checkpoint size", m.checkpoint_size.to_string()),
        ("Checkpoint root", m.checkpoint_root.clone()),
        ("Entries listed", m.entries.to_string()),
        ("Report data SHA-256", m.data_digest.clone()),
    ];
    if let Some(fp) = &m.report_certificate {
        pairs.push(("Report certificate SHA-256", fp.clone()));
    }
    for (i, w) in witnessed(d, m).into_iter().enumerate() {
        pairs.push((if i == 0 { "Witnessed" } else { "" }, w));
    }
    l.pairs(&pairs);
    l.paragraph(&format!(
        "This {kind} report is signed twice by the registrant key above: a detached Ed25519 signature over this file's exact bytes (the file of the same name ending .sig), and a signed manifest inside the file (an embedded file, manifest.json) naming the ledger, the period, the checkpoint below and the SHA-256 of the data the report states. Any change to a byte of the file breaks the first; a report rebuilt with other numbers cannot match the second."
    ));
    if m.report_certificate.is_some() {
        l.paragraph("It also carries a PDF signature (PAdES B-B, ECDSA P-256) that PDF readers show: by the registrant's report-signing key, derived from the registrant key, whose self-issued certificate has the SHA-256 fingerprint above. A reader will say the signer is not from a trusted list; what makes it the registrant's is that fingerprint, which the signed manifest names. To see it: pdfsig -dump REPORT.pdf, then openssl pkcs7 -inform DER -in REPORT.pdf.sig0 -print_certs | openssl x509 -noout -fingerprint -sha256 (or pyHanko); custody verify-report compares it for you.");
    }
    l.paragraph("To check it: custody verify-report REPORT.pdf --registrant-key KEY. Given a later export of the ledger (custody export, or GET …/export.jsonl), add --export FILE: the ledger must extend the checkpoint, and the report is rebuilt from the export and must state the same entries and totals.");
    l.paragraph("The checkpoint (a C2SP signed note by the registrant):");
    for line in m.checkpoint.lines() {
        l.paragraph(line);
    }
    if m.cosigned.is_empty() {
        l.paragraph("No checkpoint cosigned by a witness is carried: this report cannot be checked against witnesses (custody verify-report --witness fails), only against checkpoints and exports held elsewhere.");
        return;
    }
    l.paragraph("Witnessed: independent witnesses (C2SP tlog-witness) had cosigned the checkpoint(s) below when the report was issued; each is in the signed manifest with a consistency proof that the ledger of this report extends it. To check who cosigned: custody verify-report REPORT.pdf --witness VKEY [--witness VKEY …] --witness-quorum K, with each witness's verifier key from its operator; no database and no network are needed.");
    for c in &m.cosigned {
        l.paragraph("A cosigned checkpoint (the registrant's signed note with the witnesses' cosignatures):");
        for line in c.note.lines() {
            l.paragraph(line);
        }
    }
}

/// The diversion report: the tiers, every figure with its z-score and entries, the peer
/// bands, and the charts. Each table is plain rows and columns (one figure per row), so
/// the same rows can be written as CSV.
fn diversion(l: &mut Layout, d: &ReportData) {
    let Some(a) = &d.analytics else { return };
    let zone = d.request.zone();
    l.heading("How to read this report");
    l.paragraph(&format!(
        "Each person's figures are compared with those of the people of the same role in the period by a robust z-score: (figure − peers' median) ÷ (1.4826 × median absolute deviation), or, when more than half the peers share one figure, ÷ (1.2533 × mean absolute deviation). A figure is elevated at z ≥ {:.1} and high at z ≥ {:.1} with at least {} events behind it; a role needs {} people with a figure for any z-score. Tier: review with two or more high signals, watch with one high or two elevated, none otherwise. Clinic hours {} ({}). A tier is a reason to look at the entries listed, not a finding.",
        a.thresholds.elevated,
        a.thresholds.high,
        a.thresholds.min_events,
        a.thresholds.min_peers,
        a.hours,
        zone
    ));
    l.heading("People and tiers");
    l.table(&[
        col("Person", 3.0),
        col("Role", 1.2),
        col("Tier", 1.0),
        col("High signals", 5.0),
    ]);
    for p in &a.people {
        let high: Vec<&str> = p
            .figures
            .iter()
            .filter(|f| f.level == custody_analytics::Level::High)
            .map(|f| f.signal.title())
            .collect();
        l.row(&[
            format!("{} ({})", p.name, p.user),
            p.role.to_string(),
            p.tier.name().to_string(),
            if high.is_empty() {
                "—".into()
            } else {
                high.join("; ")
            },
        ]);
    }
    l.end_table();
    for c in custody_analytics::chart::all(a, zone.tz()) {
        l.figure(&c);
    }
    l.new_page();
    l.heading("Figures, z-scores and the entries behind them");
    l.dense_table(&[
        col("Person", 2.4),
        col("Signal", 2.6),
        num("Numerator", 1.1),
        num("Denominator", 1.1),
        num("Value", 1.0),
        num("z", 0.6),
        col("Level", 0.9),
        col("Entries (seq)", 6.0),
    ]);
    for p in &a.people {
        for f in &p.figures {
            if f.denominator == 0 {
                continue;
            }
            let seqs: Vec<String> = f.seqs.iter().map(u64::to_string).collect();
            l.row(&[
                p.user.to_string(),
                f.signal.title().to_string(),
                f.numerator.to_string(),
                f.denominator.to_string(),
                f.value.clone().unwrap_or_default(),
                f.z.map_or_else(|| "—".into(), |z| format!("{z:.2}")),
                f.level.name().to_string(),
                seqs.join(" "),
            ]);
        }
    }
    l.end_table();
    l.heading("Peer bands");
    l.table(&[
        col("Role", 1.2),
        col("Signal", 3.0),
        num("People", 0.8),
        num("Median", 1.0),
        num("Spread (σ)", 1.0),
        col("Rule", 2.0),
    ]);
    for b in &a.bands {
        l.row(&[
            b.role.to_string(),
            b.signal.title().to_string(),
            b.peers.to_string(),
            b.median.map_or_else(|| "—".into(), |m| format!("{m:.3}")),
            b.spread.map_or_else(|| "—".into(), |m| format!("{m:.3}")),
            match b.scale {
                custody_analytics::Scale::Mad => "1.4826 × MAD",
                custody_analytics::Scale::MeanAd => "MAD = 0: 1.2533 × mean deviation",
                custody_analytics::Scale::NoSpread => "no spread: every z is 0",
                custody_analytics::Scale::TooFewPeers => "too few peers: no z",
            }
            .to_string(),
        ]);
    }
    l.end_table();
}

/// The layout a report of `d` is drawn on (its paper, title and running header), its
/// finished pages going to `sink`.
pub fn layout(d: &ReportData, e: &Extras, sink: Sink) -> Result<Layout, ReportError> {
    let paper = e
        .paper
        .unwrap_or_else(|| Paper::for_address(&d.registrant.address.to_string()));
    Layout::with_sink(
        d.request.kind.title(),
        &format!("{} · DEA {}", d.registrant.name, d.registrant.dea),
        paper,
        sink,
    )
    .ok_or_else(|| ReportError::Pdf("the embedded fonts cannot be read".into()))
}

/// Lays out report `d` with its manifest on `l`, its listed rows read from `rows` (from the
/// start, each time it is laid out).
pub fn render(
    l: &mut Layout,
    d: &ReportData,
    m: &Manifest,
    e: &Extras,
    rows: &mut Rows,
) -> Result<(), ReportError> {
    let kind = d.request.kind;
    let l = &mut *l;
    let log = rows.widths;
    l.new_page();
    cover(l, d, m);
    match kind {
        ReportKind::Audit => {
            balances(l, d, log);
            counts(l, d, log);
            discrepancies(l, d, log);
            loss_deadlines(l, d);
            pending(l, e);
            activity(l, d, e, "Activity log of the period", rows)?;
        }
        ReportKind::Inventory => {
            inventory(l, d, log);
            inventories_taken(l, d);
        }
        ReportKind::Waste => {
            pending(l, e);
            waste_log(l, d, rows)?;
        }
        ReportKind::Loss => loss_log(l, d, rows)?,
        ReportKind::Trace => {
            // The container's life at a glance: what it held after each entry.
            if let Some(t) = d.analytics.as_ref().and_then(|a| a.timeline.as_ref()) {
                l.figure(&custody_analytics::chart::timeline(
                    t,
                    d.request.zone().tz(),
                ));
            }
            activity(l, d, e, "Every entry naming this container", rows)?
        }
        ReportKind::Dispensing if d.request.identified => activity(
            l,
            d,
            e,
            "Doses and take-home dispensing, with the name and address of each patient",
            rows,
        )?,
        ReportKind::Dispensing => activity(l, d, e, "Doses and take-home dispensing", rows)?,
        ReportKind::Diversion => diversion(l, d),
        ReportKind::Rems => rems_log(l, d, e),
    }
    attestation(l, kind);
    verification(l, d, m, kind);
    Ok(())
}
