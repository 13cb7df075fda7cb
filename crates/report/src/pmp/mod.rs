//! State PMP reporting: a file in the ASAP format (`asap`) for a state's program
//! (`profile`), built from the ledger's take-home dispenses (and doses administered, where
//! the state wants them) in a period, the patient register, and the PMP registers beside
//! the chain (the registrant's NPI and NCPDP number, prescribers' NPIs, prescriptions).
//!
//! Each record is new (`00`) in the file of the period it happened in; a `correction` of a
//! dispense a file already reported makes a void (`02`) in the file of the period the
//! correction falls in; a prescription changed after the file that reported its dispense
//! makes a revision (`01`) in the file of the period the change falls in. Missing data a
//! profile requires is refused before anything is written, naming the field.

pub mod asap;
pub mod profile;

use std::collections::{BTreeMap, BTreeSet};

use custody_ledger::{
    Administered, Canonical, ContainerId, Day, Dispensed, Entry, Kind, LedgerId, Party, PatientRef,
    Payload, Prescriber, Seq, Strength, Timestamp,
};
use custody_store::{EntryFilter, PatientRecord, Prescription, Store};
use sha2::{Digest, Sha256};

use crate::zone::Zone;
use asap::{Address, Dsp, Is, Pat, Pha, Pre, Status, Th, Unit, Writer};
pub use profile::{Profile, Profiles};

/// Why no file was written.
#[derive(Debug, thiserror::Error)]
pub enum PmpError {
    /// A field the state's profile requires is empty: `field` is the ASAP field (`PRE01`).
    #[error("{field}: {message}")]
    Missing { field: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] custody_store::StoreError),
    #[error("the ledger cannot be read for the PMP file: {0}")]
    Ledger(String),
}

/// A file written.
#[derive(Debug, Clone)]
pub struct PmpFile {
    pub state: String,
    pub version: asap::Version,
    pub from: Day,
    pub to: Day,
    /// TH02 = TT01.
    pub control_number: String,
    /// DSP records (0 for a zero report).
    pub records: u32,
    pub text: String,
    pub sha256: [u8; 32],
}

/// A file issued before, as its `pmp_reported` entry says.
#[derive(Debug, Clone)]
pub struct Issued {
    pub seq: Seq,
    pub at: Timestamp,
    pub state: String,
    pub from: Day,
    pub to: Day,
}

/// One dispensing event to report, before it becomes segments.
#[derive(Debug, Clone)]
struct Event {
    seq: Seq,
    at: Timestamp,
    patient: PatientRef,
    prescriber: Prescriber,
    /// Per product: NDC, unit, base units.
    lines: Vec<(custody_ledger::Ndc, Unit, u64)>,
    administered: bool,
}

/// Every entry of `kind`, oldest first.
async fn all_of(store: &Store, ledger: LedgerId, kind: Kind) -> Result<Vec<Entry>, PmpError> {
    let filter = EntryFilter {
        kind: Some(kind),
        ..EntryFilter::default()
    };
    let mut after = None;
    let mut out = Vec::new();
    loop {
        let page = store.entries_filtered(ledger, after, 1000, &filter).await?;
        for row in &page.entries {
            out.push(
                Entry::from_canonical_bytes(&row.bytes)
                    .map_err(|e| PmpError::Ledger(format!("entry {}: {e}", row.seq)))?,
            );
        }
        match page.next {
            Some(n) => after = Some(Seq::new(n).map_err(|e| PmpError::Ledger(e.to_string()))?),
            None => return Ok(out),
        }
    }
}

/// The files issued for `state` so far (`pmp_reported` entries).
pub async fn issued(store: &Store, ledger: LedgerId, state: &str) -> Result<Vec<Issued>, PmpError> {
    Ok(issued_files(store, ledger)
        .await?
        .into_iter()
        .filter(|i| i.state == state)
        .collect())
}

async fn issued_files(store: &Store, ledger: LedgerId) -> Result<Vec<Issued>, PmpError> {
    Ok(all_of(store, ledger, Kind::PmpReported)
        .await?
        .into_iter()
        .filter_map(|e| match &e.body.payload {
            Payload::PmpReported(p) => Some(Issued {
                seq: e.seq,
                at: e.timestamp,
                state: p.state.to_string(),
                from: p.from,
                to: p.to,
            }),
            _ => None,
        })
        .collect())
}

/// The states files were issued for.
pub async fn issued_states(store: &Store, ledger: LedgerId) -> Result<Vec<String>, PmpError> {
    let mut s: Vec<String> = issued_files(store, ledger)
        .await?
        .into_iter()
        .map(|i| i.state)
        .collect();
    s.sort();
    s.dedup();
    Ok(s)
}

/// Records `file` as issued: a `pmp_reported` entry signed by the registrant key `key`.
/// Returns its sequence number (None until the ledger knows the kind).
pub async fn record(
    store: &Store,
    ledger: LedgerId,
    file: &PmpFile,
    key: &ed25519_dalek::SigningKey,
) -> Result<Option<u64>, PmpError> {
    let text = |s: &str| -> Result<custody_ledger::Text, PmpError> {
        s.parse()
            .map_err(|e: custody_ledger::ParseError| PmpError::Ledger(e.to_string()))
    };
    let now = custody_store::clock::now();
    let draft = custody_ledger::Draft::new(
        ledger,
        custody_ledger::EntryId::from_uuid(uuid::Uuid::now_v7()),
        custody_ledger::PmpReported {
            state: text(&file.state)?,
            from: file.from,
            to: file.to,
            asap_version: text(file.version.name())?,
            control_number: text(&file.control_number)?,
            records: file.records,
            file_sha256: custody_ledger::EntryHash::from_bytes(file.sha256),
        },
    )
    .signed(
        custody_ledger::Principal::Registrant,
        custody_ledger::Meaning::Registrant,
        key,
        now,
    );
    let recorded = store.append(draft).await?;
    Ok(Some(recorded.entry.seq.get()))
}

async fn unit_of(
    store: &Store,
    ledger: LedgerId,
    c: &ContainerId,
) -> Result<(custody_ledger::Ndc, Unit, Strength), PmpError> {
    let p = store
        .container_product(ledger, c)
        .await?
        .ok_or_else(|| PmpError::Ledger(format!("container {c} has no product")))?;
    let unit = match p.strength {
        Strength::Solution { .. } => Unit::Milliliters,
        Strength::Units { .. } => Unit::Each,
    };
    Ok((p.ndc, unit, p.strength))
}

async fn dispense_event(
    store: &Store,
    ledger: LedgerId,
    e: &Entry,
    d: &Dispensed,
) -> Result<Event, PmpError> {
    let mut lines: BTreeMap<custody_ledger::Ndc, (Unit, u64)> = BTreeMap::new();
    for c in &d.sealed {
        let (ndc, unit, strength) = unit_of(store, ledger, c).await?;
        lines.entry(ndc).or_insert((unit, 0)).1 += strength.capacity();
    }
    for ca in &d.from_open {
        let (ndc, unit, _) = unit_of(store, ledger, &ca.container).await?;
        lines.entry(ndc).or_insert((unit, 0)).1 += ca.amount.base();
    }
    Ok(Event {
        seq: e.seq,
        at: e.timestamp,
        patient: d.patient,
        prescriber: d.prescriber.clone(),
        lines: lines.into_iter().map(|(n, (u, q))| (n, u, q)).collect(),
        administered: false,
    })
}

async fn dose_event(
    store: &Store,
    ledger: LedgerId,
    e: &Entry,
    a: &Administered,
) -> Result<Event, PmpError> {
    let (ndc, unit, _) = unit_of(store, ledger, &a.container).await?;
    Ok(Event {
        seq: e.seq,
        at: a.given_at,
        patient: a.patient,
        prescriber: a.prescriber.clone(),
        lines: vec![(ndc, unit, a.amount.base())],
        administered: true,
    })
}

fn ymd(d: Day) -> String {
    let d = d.date();
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A US address as people type it ("10 Lake Ave, Duluth MN 55802" or "12 River Road\n
/// Springfield, IL 62701"): the street, the city, the state, the ZIP code; None when it
/// does not end with a state and a ZIP code.
pub fn split_address(a: &str) -> Option<Address> {
    let t = a.trim();
    let (rest, zip) = t.rsplit_once(char::is_whitespace)?;
    let zip_ok = (zip.len() == 5 || (zip.len() == 10 && zip.as_bytes()[5] == b'-'))
        && zip
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 5 && b == b'-'));
    if !zip_ok {
        return None;
    }
    let rest = rest.trim_end().trim_end_matches(',');
    let (rest, state) = rest.rsplit_once(|c: char| c.is_whitespace() || c == ',')?;
    if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest.trim_end().trim_end_matches(',').trim_end();
    let (street, city) = rest.rsplit_once([',', '\n'])?;
    let (street, city) = (street.trim(), city.trim());
    if street.is_empty() || city.is_empty() {
        return None;
    }
    Some(Address {
        line1: street
            .split('\n')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "),
        city: city.to_string(),
        state: state.to_ascii_uppercase(),
        zip: zip.replace('-', ""),
    })
}

/// A person's name as (last, first): "Last, First" or "First … Last", without a title
/// ("Dr.") or the degrees after a comma ("…, MD").
pub fn split_name(n: &str) -> (String, String) {
    let n = n.trim();
    let words: Vec<&str> = n
        .split_whitespace()
        .filter(|w| {
            !matches!(
                w.trim_end_matches('.').to_ascii_lowercase().as_str(),
                "dr" | "mr" | "mrs" | "ms"
            )
        })
        .collect();
    let n = words.join(" ");
    if let Some((a, b)) = n.split_once(',') {
        let b = b.trim();
        // "Amelia Park, MD": degrees after the comma.
        let degree = b.len() <= 4 && b.chars().all(|c| c.is_ascii_uppercase() || c == '.');
        if !degree {
            return (a.trim().to_string(), b.to_string());
        }
        return split_name(a);
    }
    match n.rsplit_once(' ') {
        Some((first, last)) => (
            last.to_string(),
            first.split(' ').next().unwrap_or("").to_string(),
        ),
        None => (n.to_string(), String::new()),
    }
}

/// What the file needs to know besides the ledger.
struct Registers {
    registrant: Party,
    npi: Option<String>,
    ncpdp: Option<String>,
    patients: std::collections::HashMap<PatientRef, PatientRecord>,
    prescriptions: BTreeMap<Seq, Prescription>,
}

/// A record of the file and what it is about (for a refusal's sentence).
struct Record {
    status: Status,
    event: Event,
}

/// Checks the profile's required fields of one segment.
fn require(p: &Profile, f: &asap::Fields, subject: &str, fix: &str) -> Result<(), PmpError> {
    for r in &p.required {
        let Some(pos) = r.strip_prefix(f.id).and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        if f.get(pos).trim().is_empty() {
            return Err(PmpError::Missing {
                field: r.clone(),
                message: format!(
                    "{} ({}) requires {r}, {}, and {subject} has none: {fix}",
                    p.state,
                    p.name,
                    asap::field_name(r)
                ),
            });
        }
    }
    Ok(())
}

/// Builds the file of `profile`'s state for `from..=to` (days of `zone`), as of now.
/// Nothing is recorded: `Issued` files are the caller's to record (`pmp_reported`).
pub async fn build(
    store: &Store,
    ledger: LedgerId,
    profile: &Profile,
    from: Day,
    to: Day,
    zone: &Zone,
) -> Result<PmpFile, PmpError> {
    if from > to {
        return Err(PmpError::Invalid(format!(
            "from {from} is after to {to}: give a period whose first day comes first"
        )));
    }
    let head = store.head(ledger).await?;
    let in_period = |t: Timestamp| {
        let d = zone.day_of(t);
        from <= d && d <= to
    };
    let mut events: BTreeMap<Seq, Event> = BTreeMap::new();
    for e in all_of(store, ledger, Kind::Dispensed).await? {
        if let Payload::Dispensed(d) = &e.body.payload {
            events.insert(e.seq, dispense_event(store, ledger, &e, d).await?);
        }
    }
    if profile.report_administration {
        for e in all_of(store, ledger, Kind::Administered).await? {
            if let Payload::Administered(a) = &e.body.payload {
                events.insert(e.seq, dose_event(store, ledger, &e, a).await?);
            }
        }
    }
    // Corrections naming a dispense (or dose): the record was wrong.
    let mut corrected: BTreeMap<Seq, Timestamp> = BTreeMap::new();
    for e in all_of(store, ledger, Kind::Correction).await? {
        if let Payload::Correction(c) = &e.body.payload
            && events.contains_key(&c.corrects)
        {
            corrected.entry(c.corrects).or_insert(e.timestamp);
        }
    }
    let files = issued(store, ledger, &profile.state).await?;
    // The file that reported an event: issued after it, its period holding the event's day.
    let reported_at = |ev: &Event| -> Option<Timestamp> {
        let d = zone.day_of(ev.at);
        files
            .iter()
            .filter(|f| f.seq > ev.seq && f.from <= d && d <= f.to)
            .map(|f| f.at)
            .min()
    };
    let regs = Registers {
        registrant: head.registrant.clone(),
        npi: store.registrant_ids(ledger).await?.npi,
        ncpdp: store.registrant_ids(ledger).await?.ncpdp,
        patients: store
            .patients(ledger)
            .await?
            .into_iter()
            .map(|p| (p.patient, p))
            .collect(),
        prescriptions: store
            .prescriptions(ledger)
            .await?
            .into_iter()
            .map(|p| (p.seq, p))
            .collect(),
    };
    let mut records = Vec::new();
    let mut voided = BTreeSet::new();
    for ev in events.values() {
        let reported = reported_at(ev);
        match (corrected.get(&ev.seq), reported) {
            // Corrected after a file reported it: void, in the file of the correction's day.
            (Some(&c), Some(r)) if c > r => {
                voided.insert(ev.seq);
                if in_period(c) {
                    records.push(Record {
                        status: Status::Void,
                        event: ev.clone(),
                    });
                }
            }
            // Corrected before any file reported it: never reported.
            (Some(_), _) => {
                voided.insert(ev.seq);
            }
            (None, _) if in_period(ev.at) => records.push(Record {
                status: Status::New,
                event: ev.clone(),
            }),
            (None, Some(r)) => {
                // A prescription changed after the file that reported its dispense.
                if let Some(rx) = regs.prescriptions.get(&ev.seq)
                    && rx.updated_at > r
                    && in_period(rx.updated_at)
                {
                    records.push(Record {
                        status: Status::Revise,
                        event: ev.clone(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    if records.is_empty() && !profile.zero_reports {
        return Err(PmpError::Invalid(format!(
            "nothing to report to {} for {from} to {to}, and {} needs no zero reports",
            profile.state, profile.name
        )));
    }

    // The header, then the registrant.
    let control_number = head.entries.to_string();
    let now = time::OffsetDateTime::now_utc();
    let local = zone.day_of(Timestamp::from_datetime(now));
    let th = Th {
        version: profile.version,
        control_number: control_number.clone(),
        created: (
            ymd(local),
            format!("{:02}{:02}{:02}", now.hour(), now.minute(), now.second()),
        ),
        production: profile.production,
        terminator: profile.terminator,
    };
    let mut w = Writer::new(profile.layout.clone(), profile.terminator);
    w.header(&th);
    let is = Is {
        id: regs.registrant.dea.to_string(),
        name: regs.registrant.name.to_string(),
        message: format!("custody PMP file {from} to {to}"),
    };
    w.source(&is);
    let pha = Pha {
        npi: regs.npi.clone(),
        ncpdp: regs.ncpdp.clone(),
        dea: regs.registrant.dea.to_string(),
        name: regs.registrant.name.to_string(),
        address: split_address(&regs.registrant.address.to_string()),
    };
    let fix_registrant = "set the registrant's NPI and NCPDP number (PUT /api/v1/ledgers/{ledger}/pmp/registrant) and its address as \"street, city, ST 12345\"";
    require(profile, &pha.fields_of(), "the registrant", fix_registrant)?;
    w.detail(&pha);

    if records.is_empty() {
        w.detail(&Pat::zero());
        w.detail(&Dsp::zero(ymd(from)));
        w.detail(&Pre::default());
        w.detail(&asap::Cdi);
        w.detail(&asap::Air);
    }
    let mut count = 0u32;
    for r in &records {
        let ev = &r.event;
        let patient = regs.patients.get(&ev.patient);
        let subject_pat = match patient {
            Some(p) => format!("patient {}", p.mrn),
            None => format!("patient {} (no record on the register)", ev.patient),
        };
        let (last, first) = patient.map(|p| split_name(&p.name)).unwrap_or_default();
        let pat = Pat {
            last_name: last,
            first_name: first,
            address: patient.and_then(|p| split_address(&p.address)),
            birth_date: patient
                .and_then(|p| p.birth_date.parse::<Day>().ok())
                .map(ymd),
            sex: patient.and_then(|p| p.sex.clone()),
        };
        require(
            profile,
            &asap::Segment::fields(&pat),
            &subject_pat,
            "complete the patient's record on the patient register (name, address as \"street, city, ST 12345\", date of birth, sex)",
        )?;
        let rx = regs.prescriptions.get(&ev.seq);
        let npi = store.prescriber_npi(ledger, &ev.prescriber.dea).await?;
        let (plast, pfirst) = split_name(&ev.prescriber.name.to_string());
        let pre = Pre {
            npi,
            dea: Some(ev.prescriber.dea.to_string()),
            last_name: Some(plast).filter(|s| !s.is_empty()),
            first_name: Some(pfirst).filter(|s| !s.is_empty()),
        };
        for (ndc, unit, base) in &ev.lines {
            let dsp = Dsp {
                status: Some(r.status),
                rx_number: if ev.administered {
                    Some(format!("A{}", ev.seq))
                } else {
                    rx.map(|p| p.rx_number.clone())
                },
                written: if ev.administered {
                    Some(ymd(zone.day_of(ev.at)))
                } else {
                    rx.map(|p| ymd(p.written_on))
                },
                refills_authorized: if ev.administered {
                    Some(0)
                } else {
                    rx.map(|p| p.refills_authorized)
                },
                filled: ymd(zone.day_of(ev.at)),
                ndc: Some(ndc.digits().to_string()),
                quantity: Some((asap::quantity(*unit, *base), *unit)),
                days_supply: if ev.administered {
                    Some(1)
                } else {
                    rx.map(|p| p.days_supply)
                },
            };
            require(
                profile,
                &asap::Segment::fields(&dsp),
                &format!("the dispense recorded as entry {}", ev.seq),
                "record its prescription (PUT /api/v1/ledgers/{ledger}/pmp/prescriptions/{seq}: number, date written, refills, days' supply)",
            )?;
            require(
                profile,
                &asap::Segment::fields(&pre),
                &format!(
                    "prescriber {} (DEA {})",
                    ev.prescriber.name, ev.prescriber.dea
                ),
                "record the prescriber's NPI (PUT /api/v1/ledgers/{ledger}/pmp/prescribers/{dea})",
            )?;
            w.detail(&pat);
            w.detail(&dsp);
            w.detail(&pre);
            if profile.air {
                w.detail(&asap::Air);
            }
            count += 1;
        }
    }
    let _ = voided;
    let text = w.finish(&control_number);
    let sha256: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    Ok(PmpFile {
        state: profile.state.clone(),
        version: profile.version,
        from,
        to,
        control_number,
        records: count,
        text,
        sha256,
    })
}

impl Pha {
    fn fields_of(&self) -> asap::Fields {
        asap::Segment::fields(self)
    }
}

/// The day `business_days` business days (Monday to Friday) after `day`.
pub fn due_by(day: Day, business_days: u32) -> Day {
    let mut d = day;
    let mut left = business_days;
    while left > 0 {
        d = d.plus_days(1).unwrap_or(d);
        if d.date().weekday().number_days_from_monday() < 5 {
            left -= 1;
        }
    }
    d
}

/// A state's next file: the first day not reported yet that needs one, and when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub state: String,
    pub name: String,
    /// The first day a file is owed for.
    pub day: Day,
    pub due: Day,
}

/// The next deadline of each profile's state that has something to report: for a state
/// wanting zero reports, the day after its last file (or the first take-home dispense);
/// otherwise the first dispense after its last file.
pub async fn deadlines(
    store: &Store,
    ledger: LedgerId,
    profiles: &Profiles,
    zone: &Zone,
    states: &[String],
) -> Result<Vec<Deadline>, PmpError> {
    let files = issued_files(store, ledger).await?;
    let mut out = Vec::new();
    for state in states {
        let Ok(p) = profiles.get(state) else { continue };
        let last = files
            .iter()
            .filter(|f| f.state == p.state)
            .map(|f| f.to)
            .max();
        // The first day after the last file with a dispense: one indexed read of the first
        // dispense recorded from the start of the next day (entry times only move forward),
        // never a pass over every dispense (the dashboard asks on every load).
        let from = match last.and_then(|l| l.plus_days(1)) {
            Some(next) => zone.start_of(next),
            None if last.is_some() => continue,
            None => Timestamp::EPOCH,
        };
        let next_dispense = store
            .first_of_kind_from(ledger, Kind::Dispensed, from)
            .await?
            .map(|t| zone.day_of(t));
        let day = match (p.zero_reports, last) {
            (true, Some(l)) => l.plus_days(1),
            _ => next_dispense,
        };
        if let Some(day) = day {
            out.push(Deadline {
                state: p.state.clone(),
                name: p.name.clone(),
                day,
                due: due_by(day, p.deadline_business_days),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_split_as_asap_wants_them() {
        let a = split_address("10 Lake Ave, Duluth MN 55802").expect("parses");
        assert_eq!(
            (
                a.line1.as_str(),
                a.city.as_str(),
                a.state.as_str(),
                a.zip.as_str()
            ),
            ("10 Lake Ave", "Duluth", "MN", "55802")
        );
        let b = split_address("12 River Road\nSpringfield, IL 62701-1234").expect("parses");
        assert_eq!(
            (b.city.as_str(), b.zip.as_str()),
            ("Springfield", "627011234")
        );
        assert_eq!(split_address("somewhere"), None);
        assert_eq!(
            split_name("Dr. Amelia Park, MD"),
            ("Park".into(), "Amelia".into())
        );
        assert_eq!(split_name("Lopez, Maria"), ("Lopez".into(), "Maria".into()));
        assert_eq!(split_name("Maria Lopez"), ("Lopez".into(), "Maria".into()));
    }

    #[test]
    fn deadlines_skip_weekends() {
        let fri: Day = "2026-11-27".parse().expect("day");
        assert_eq!(due_by(fri, 1).to_string(), "2026-11-30");
        let mon: Day = "2026-11-30".parse().expect("day");
        assert_eq!(due_by(mon, 1).to_string(), "2026-12-01");
    }
}
