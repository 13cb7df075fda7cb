//! The tabular parts of each report as plain tables (a header and rows of cells), for the
//! CSV files: the same fold, the same figures and words as the PDF, one value per cell.
//!
//! Quantities are exact decimals in the unit their `unit` column names (mL to the µL, or
//! whole units), drug in mg to the µg; nothing is signed (an adjustment has an "in" and an
//! "out" column), so a number never begins with `-` and is never taken for a formula.

use custody_ledger::*;

use crate::model::{LogRow, ReportData};
use crate::render::Extras;
use crate::request::ReportKind;
use crate::words;

/// One table of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its name in `?table=` and `--table`.
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The tables of a report kind, the first being the one given when none is named.
pub fn names(kind: ReportKind) -> &'static [&'static str] {
    match kind {
        ReportKind::Audit => &["balances", "counts", "discrepancies", "pending", "activity"],
        ReportKind::Inventory => &["inventory", "open"],
        ReportKind::Waste => &["waste", "pending"],
        ReportKind::Loss => &["loss"],
        ReportKind::Trace => &["activity"],
        ReportKind::Dispensing => &["dispensing"],
        ReportKind::Diversion => &["people", "figures"],
        ReportKind::Rems => &["sessions"],
    }
}

/// The table `name` of report kind `kind` (its first when `None`), or why not.
pub fn pick(kind: ReportKind, name: Option<&str>) -> Result<&'static str, String> {
    let all = names(kind);
    match name {
        None => Ok(all[0]),
        Some(n) => all.iter().copied().find(|t| *t == n).ok_or_else(|| {
            format!(
                "the {kind} report has no table {n:?}: choose {}",
                all.join(", ")
            )
        }),
    }
}

fn product(d: &ReportData, ndc: Option<Ndc>) -> Option<&ProductDefined> {
    ndc.and_then(|n| d.products.get(&n))
}

fn name(d: &ReportData, ndc: Option<Ndc>) -> String {
    product(d, ndc).map_or_else(String::new, |p| p.name.to_string())
}

fn ndc(n: Option<Ndc>) -> String {
    n.map_or_else(String::new, |n| n.to_string())
}

fn at(d: &ReportData, t: Timestamp) -> String {
    d.request.zone().show(t)
}

/// "Name (user, meaning, when); …" as the PDF prints signatures.
fn signed(d: &ReportData, r: &LogRow) -> String {
    r.signatures
        .iter()
        .map(|s| format!("{} ({}, {})", s.name, s.meaning, at(d, s.at)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The patient as the report shows them: the masked commitment, with the name where the
/// patient register holds one.
pub(crate) fn patient(e: &Extras, p: Option<PatientRef>) -> String {
    match p {
        None => String::new(),
        Some(p) => match e.patients.get(&p) {
            Some(name) => format!("{} ({})", p.masked(), name),
            None => p.masked(),
        },
    }
}

/// The base quantity of a log row as a number and its unit ("3.5", "mL").
fn row_quantity(d: &ReportData, r: &LogRow) -> (String, String) {
    match r.quantity.as_deref() {
        None => (String::new(), String::new()),
        Some(q) => {
            let unit = product(d, r.product).map_or("", |p| words::unit(&p.strength));
            let n = q.split(' ').next().unwrap_or_default().to_string();
            (n, unit.to_string())
        }
    }
}

/// Table `name` of report `d` (a name from [`names`] for its kind).
pub fn table(d: &ReportData, e: &Extras, name: &'static str) -> Table {
    let (columns, rows): (Vec<&'static str>, Vec<Vec<String>>) = match name {
        "balances" => balances(d),
        "counts" => counts(d),
        "discrepancies" => discrepancies(d),
        "pending" => pending(e),
        "inventory" => inventory(d),
        "open" => open(d),
        "loss" => loss(d),
        "sessions" => rems(d, e),
        "waste" => log(d, e, false),
        "people" => people(d),
        "figures" => figures(d),
        _ => log(d, e, true),
    };
    Table {
        name,
        columns,
        rows,
    }
}

type Cells = (Vec<&'static str>, Vec<Vec<String>>);

/// A diversion report's people and their tiers.
fn people(d: &ReportData) -> Cells {
    let cols = vec!["person", "role", "tier", "high_signals"];
    let rows = d.analytics.iter().flat_map(|a| &a.people).map(|p| {
        let high: Vec<&str> = p
            .figures
            .iter()
            .filter(|f| f.level == custody_analytics::Level::High)
            .map(|f| f.signal.title())
            .collect();
        vec![
            p.user.to_string(),
            p.role.to_string(),
            p.tier.name().to_string(),
            high.join("; "),
        ]
    });
    (cols, rows.collect())
}

/// A diversion report's figures, each with its z-score and the entries behind it.
fn figures(d: &ReportData) -> Cells {
    let cols = vec![
        "person",
        "signal",
        "numerator",
        "denominator",
        "value",
        "z",
        "level",
        "entries",
    ];
    let mut rows = Vec::new();
    for p in d.analytics.iter().flat_map(|a| &a.people) {
        for f in p.figures.iter().filter(|f| f.denominator > 0) {
            rows.push(vec![
                p.user.to_string(),
                f.signal.title().to_string(),
                f.numerator.to_string(),
                f.denominator.to_string(),
                f.value.clone().unwrap_or_default(),
                f.z.map_or_else(String::new, |z| format!("{z:.2}")),
                f.level.name().to_string(),
                f.seqs
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
    }
    (cols, rows)
}

fn balances(d: &ReportData) -> Cells {
    let cols = vec![
        "product",
        "ndc",
        "lot",
        "unit",
        "opening",
        "received",
        "administered",
        "dispensed",
        "wasted",
        "destroyed",
        "transferred_out",
        "adjusted_in",
        "adjusted_out",
        "lost",
        "closing",
        "closing_mg",
        "adds_up",
    ];
    let rows = d
        .movements
        .iter()
        .map(|((n, lot), m)| {
            let p = d.products.get(n);
            let b = |v: u64| p.map_or_else(|| v.to_string(), |p| words::number(&p.strength, v));
            vec![
                name(d, Some(*n)),
                n.to_string(),
                lot.clone(),
                p.map_or("", |p| words::unit(&p.strength)).to_string(),
                b(m.opening),
                b(m.received),
                b(m.administered),
                b(m.dispensed),
                b(m.wasted),
                b(m.destroyed),
                b(m.transferred_out),
                b(m.adjusted_in),
                b(m.adjusted_out),
                b(m.lost),
                b(m.closing),
                p.and_then(|p| p.strength.micrograms_in(m.closing))
                    .map_or_else(String::new, |u| words::milligrams(u.get())),
                if m.expected_closing() == Some(m.closing) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    (cols, rows)
}

fn counts(d: &ReportData) -> Cells {
    let cols = vec![
        "entry",
        "time",
        "location",
        "product",
        "ndc",
        "unit",
        "expected_sealed",
        "expected_open",
        "counted_sealed",
        "counted_open",
        "differs",
    ];
    let rows = d
        .counts
        .iter()
        .map(|((loc, n), c)| {
            let p = d.products.get(n);
            let b = |v: u64| p.map_or_else(|| v.to_string(), |p| words::number(&p.strength, v));
            vec![
                c.seq.to_string(),
                at(d, c.at),
                loc.clone(),
                name(d, Some(*n)),
                n.to_string(),
                p.map_or("", |p| words::unit(&p.strength)).to_string(),
                c.expected.sealed.to_string(),
                b(c.expected.open),
                c.counted.sealed.to_string(),
                b(c.counted.open),
                if c.counted == c.expected { "no" } else { "yes" }.into(),
            ]
        })
        .collect();
    (cols, rows)
}

fn discrepancies(d: &ReportData) -> Cells {
    let cols = vec![
        "count",
        "time",
        "location",
        "product",
        "ndc",
        "status",
        "resolved_by",
    ];
    let rows = d
        .discrepancies
        .iter()
        .map(|x| {
            vec![
                x.count.seq.to_string(),
                at(d, x.count.at),
                x.count.location.clone(),
                name(d, Some(x.count.product)),
                x.count.product.to_string(),
                if x.resolved_by.is_empty() {
                    "open"
                } else {
                    "resolved"
                }
                .into(),
                x.resolved_by
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    (cols, rows)
}

fn pending(e: &Extras) -> Cells {
    let cols = vec!["queued", "recorded_by", "container", "amount"];
    let rows = e
        .pending
        .iter()
        .map(|p| {
            vec![
                p.queued_at.clone(),
                p.author.clone(),
                p.container.clone(),
                p.amount.clone(),
            ]
        })
        .collect();
    (cols, rows)
}

fn inventory(d: &ReportData) -> Cells {
    let cols = vec![
        "product",
        "ndc",
        "form",
        "per_container",
        "sealed_containers",
        "open_containers",
    ];
    let rows = d
        .inventory
        .iter()
        .map(|(n, line)| {
            let p = d.products.get(n);
            vec![
                name(d, Some(*n)),
                n.to_string(),
                p.map_or_else(String::new, |p| p.form.to_string()),
                p.map_or_else(String::new, |p| words::strength_said(&p.strength)),
                line.sealed.to_string(),
                line.open.len().to_string(),
            ]
        })
        .collect();
    (cols, rows)
}

fn open(d: &ReportData) -> Cells {
    let cols = vec![
        "product",
        "ndc",
        "container",
        "location",
        "remaining",
        "unit",
        "remaining_mg",
    ];
    let mut rows = Vec::new();
    for (n, line) in &d.inventory {
        let p = d.products.get(n);
        for (id, loc, rem) in &line.open {
            rows.push(vec![
                name(d, Some(*n)),
                n.to_string(),
                id.clone(),
                loc.clone(),
                p.map_or_else(|| rem.to_string(), |p| words::number(&p.strength, *rem)),
                p.map_or("", |p| words::unit(&p.strength)).to_string(),
                p.and_then(|p| p.strength.micrograms_in(*rem))
                    .map_or_else(String::new, |u| words::milligrams(u.get())),
            ]);
        }
    }
    (cols, rows)
}

/// A REMS report's sessions and their monitoring forms.
fn rems(d: &ReportData, e: &Extras) -> Cells {
    let cols = vec![
        "entry",
        "session",
        "patient",
        "dose_entries",
        "first_device",
        "discharged",
        "minutes_monitored",
        "record_sha256",
        "form_due",
        "form_status",
        "form_submitted_on",
        "form_confirmation",
    ];
    let zone = d.request.zone();
    let rows = d
        .rems
        .iter()
        .map(|x| {
            let status = x.form_status(&zone, d.request.to);
            let name = match status {
                crate::deadlines::DeadlineStatus::Due { .. } => "due",
                crate::deadlines::DeadlineStatus::Overdue { .. } => "overdue",
                crate::deadlines::DeadlineStatus::Met { .. } => "met",
                crate::deadlines::DeadlineStatus::Late { .. } => "late",
            };
            vec![
                x.seq.to_string(),
                x.closed.session.to_string(),
                patient(e, Some(x.closed.patient)),
                x.closed
                    .doses
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                at(d, x.closed.started_at),
                at(d, x.closed.discharged_at),
                x.minutes().to_string(),
                x.closed.record_sha256.to_hex(),
                status.due().to_string(),
                name.to_string(),
                x.form
                    .as_ref()
                    .map_or_else(String::new, |(_, f)| f.submitted_on.to_string()),
                x.form
                    .as_ref()
                    .map_or_else(String::new, |(_, f)| f.confirmation.to_string()),
            ]
        })
        .collect();
    (cols, rows)
}

fn loss(d: &ReportData) -> Cells {
    let cols = vec![
        "entry",
        "time",
        "product",
        "ndc",
        "containers_and_amounts",
        "mg",
        "event",
        "form_106_due",
        "recorded_by",
    ];
    let rows = d
        .log
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                at(d, r.at),
                name(d, r.product),
                ndc(r.product),
                r.container.clone().unwrap_or_default(),
                r.ug.map_or_else(String::new, words::milligrams),
                r.detail.clone(),
                crate::render::form_106_due(r),
                signed(d, r),
            ]
        })
        .collect();
    (cols, rows)
}

/// The activity, waste and dispensing logs: one row per listed entry.
fn log(d: &ReportData, e: &Extras, with_patient: bool) -> Cells {
    let mut cols = vec![
        "seq",
        "time",
        "kind",
        "product",
        "ndc",
        "container",
        "mg",
        "quantity",
        "unit",
    ];
    let identified = d.request.identified;
    if with_patient {
        cols.push("patient");
    }
    if with_patient && identified {
        cols.extend(["patient_name", "patient_address"]);
    }
    cols.extend(["reason", "details", "signed_by"]);
    let rows = d
        .log
        .iter()
        .map(|r| {
            let (q, u) = row_quantity(d, r);
            let mut row = vec![
                r.seq.to_string(),
                at(d, r.at),
                r.kind.to_string(),
                name(d, r.product),
                ndc(r.product),
                r.container.clone().unwrap_or_default(),
                r.ug.map_or_else(String::new, words::milligrams),
                q,
                u,
            ];
            if with_patient {
                row.push(patient(e, r.patient));
            }
            if with_patient && identified {
                let known = |m: &crate::render::PatientNames| {
                    r.patient
                        .and_then(|p| m.get(&p).cloned())
                        .unwrap_or_default()
                };
                row.push(known(&e.patients));
                row.push(known(&e.addresses));
            }
            row.push(r.reason.clone().unwrap_or_default());
            row.push(r.detail.clone());
            row.push(signed(d, r));
            row
        })
        .collect();
    (cols, rows)
}
