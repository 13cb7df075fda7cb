//! How the pages say things: amounts, entries in one sentence, signers by printed name,
//! open discrepancies, times and today's date in the clinic's time zone.

use custody_ledger::*;

use custody_clinic::reads::OpenDiscrepancy;

use super::forms::Cell;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use custody_report::Zone;
// The one way amounts and strengths are said, shared with the reports.
pub use custody_report::words::{concentration, quantity, said, strength_said, tally_said};

/// The clinic's time zone (`custody serve --time-zone`): every time on the pages is shown
/// and typed in it. The ledger and the JSON API stay UTC.
pub fn zone(state: &AppState) -> &Zone {
    &state.clinic.settings.time_zone
}

/// The one way the pages show an instant: the clinic's local time to the minute, with the
/// zone named by its abbreviation (`2026-11-29 09:14 CST`).
pub fn when(zone: &Zone, t: Timestamp) -> String {
    zone.show(t)
}

/// An instant as a `datetime-local` input holds it, in the clinic's local time.
pub fn input_time(zone: &Zone, t: Timestamp) -> String {
    zone.input(t)
}

/// Now, to the minute, as a `datetime-local` input holds it.
pub fn now_input(zone: &Zone) -> String {
    input_time(zone, custody_store::clock::now())
}

/// A typed `datetime-local` value read in the clinic's zone as the instant it names: a time
/// the clocks skipped is refused with a sentence; one that happened twice is the earlier.
pub fn typed_time(zone: &Zone, s: &str) -> Result<Timestamp, custody_report::ZoneError> {
    zone.parse_local(s)
}

/// What a container holds now.
pub(crate) fn left(c: &custody_store::ContainerInfo) -> String {
    quantity(&c.product.strength, c.remaining)
}

/// An entry in one sentence, as the entries page and a container's history show it.
pub fn describe(e: &Entry, zone: &Zone) -> String {
    let items = |xs: &[ContainerAmount]| {
        xs.iter()
            .map(|i| format!("{} from {}", said(&i.amount), i.container))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e.payload() {
        Payload::Genesis(g) => format!(
            "ledger opened for {} (DEA {})",
            g.registrant.name, g.registrant.dea
        ),
        Payload::UserEnrolled(u) => {
            format!("{} ({}) enrolled as {}", u.user, u.printed_name, u.role)
        }
        Payload::RoleChanged(r) => format!("{} made {}: {}", r.user, r.role, r.reason),
        Payload::UserDeactivated(u) => format!("{} deactivated: {}", u.user, u.reason),
        Payload::KeyRotated(k) => format!(
            "new key for {}: {}",
            match &k.subject {
                Principal::User(u) => u.to_string(),
                Principal::Registrant => "the registrant".into(),
            },
            k.reason
        ),
        Payload::ProductDefined(p) => format!("product {} defined: {}", p.ndc, p.name),
        Payload::LocationDefined(l) => format!("location {} defined: {}", l.location, l.name),
        Payload::Receipt(r) => format!(
            "{} × {} lot {} received from {} (invoice {}) into {}",
            r.containers, r.product, r.lot, r.supplier.name, r.invoice, r.location
        ),
        Payload::ContainerOpened(o) => {
            format!("{} opened; beyond use {}", o.container, o.beyond_use)
        }
        Payload::Administered(a) => format!(
            "{} {} from {} given by {} at {}",
            said(&a.amount),
            a.route,
            a.container,
            a.given_by,
            when(zone, a.given_at)
        ),
        Payload::Dispensed(d) => {
            let sealed: Vec<String> = d.sealed.iter().map(ToString::to_string).collect();
            let mut parts = Vec::new();
            if !sealed.is_empty() {
                parts.push(format!("sealed {}", sealed.join(", ")));
            }
            if !d.from_open.is_empty() {
                parts.push(items(&d.from_open));
            }
            format!("take-home dispensed: {}", parts.join("; "))
        }
        Payload::Waste(w) => format!(
            "{} wasted from {}: {}",
            said(&w.amount),
            w.container,
            w.reason
        ),
        Payload::Transfer(t) => format!(
            "{} transferred to {}",
            t.containers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            match &t.to {
                TransferTo::Location { location } => location.to_string(),
                TransferTo::Registrant { registrant } =>
                    format!("{} (DEA {})", registrant.name, registrant.dea),
            }
        ),
        Payload::Count(c) => format!(
            "{}count of {} at {}: {} sealed + {} open counted, {} sealed + {} open expected",
            if c.blind { "blind " } else { "" },
            c.product,
            c.location,
            c.counted.sealed,
            c.counted.open,
            c.expected.sealed,
            c.expected.open
        ),
        Payload::Adjustment(a) => format!(
            "{} of {} in {} ({}{}): {}",
            a.direction,
            said(&a.amount),
            a.container,
            a.reason,
            a.resolves
                .map(|s| format!(", resolves count {s}"))
                .unwrap_or_default(),
            a.note
        ),
        Payload::LossTheft(l) => format!(
            "{} discovered {}: {}",
            l.loss_type,
            l.discovered_on,
            items(&l.items)
        ),
        Payload::Destruction(d) => format!(
            "destroyed on {} ({}): {}",
            d.date,
            match &d.method {
                DestructionMethod::OnSite { method, .. } => method.to_string(),
                DestructionMethod::ReverseDistributor { distributor } =>
                    format!("to {}", distributor.name),
            },
            items(&d.items)
        ),
        Payload::Correction(c) => format!("corrects entry {}: {}", c.corrects, c.reason),
        Payload::ReportIssued(r) => format!(
            "{} report ({}) for {} – {} issued to {}",
            r.report, r.format, r.from, r.to, r.requested_by
        ),
        Payload::Inventory(i) => format!(
            "{} inventory of {} at {} ({} line{})",
            i.occasion,
            i.date,
            i.taken_at.describe(),
            i.lines.len(),
            if i.lines.len() == 1 { "" } else { "s" }
        ),
        Payload::LossReported(l) => format!(
            "loss {} reported: notice {}, DEA Form 106 {} on {}",
            l.loss, l.notice_on, l.form_106, l.form_106_on
        ),
        Payload::RemsSessionClosed(r) => format!(
            "REMS session {} closed: {} dose{}, discharged {}",
            r.session,
            r.doses.len(),
            if r.doses.len() == 1 { "" } else { "s" },
            r.discharged_at
        ),
        Payload::RemsFormSubmitted(r) => format!(
            "REMS form of session {} submitted on {} (confirmation {})",
            r.session, r.submitted_on, r.confirmation
        ),
        Payload::PmpReported(p) => format!(
            "PMP report to {} for {} – {}: {} record{}, ASAP {}",
            p.state,
            p.from,
            p.to,
            p.records,
            if p.records == 1 { "" } else { "s" },
            p.asap_version
        ),
    }
}

/// Printed names by user id, as signatures are shown to people (21 CFR 11.50).
pub type Names = std::collections::HashMap<UserId, String>;

pub async fn names(state: &AppState, ledger: LedgerId) -> ApiResult<Names> {
    Ok(state
        .store
        .users(ledger)
        .await?
        .into_iter()
        .map(|u| (u.user, u.printed_name))
        .collect())
}

/// Who signed, with what meaning and, where the signature states it (format version 3), when.
fn signers(e: &Entry, names: &Names, zone: &Zone) -> String {
    e.signatures
        .iter()
        .map(|s| {
            let who = match &s.signer {
                Principal::User(u) => match names.get(u) {
                    Some(n) => format!("{n} ({u}), {}", s.meaning),
                    None => format!("{u}, {}", s.meaning),
                },
                Principal::Registrant => format!("the registrant, {}", s.meaning),
            };
            match s.signed_at {
                Some(t) => format!("{who}, signed {}", when(zone, t)),
                None => who,
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The rows of an entries table: number, time, kind, signers, what happened.
pub fn entry_rows(
    rows: &[custody_store::sessions::StoredEntry],
    names: &Names,
    zone: &Zone,
) -> ApiResult<Vec<Vec<Cell>>> {
    rows.iter()
        .map(|r| {
            let e = Entry::from_canonical_bytes(&r.bytes).map_err(|err| {
                ApiError::internal(format!("stored entry {} cannot be read: {err}", r.seq))
            })?;
            Ok(vec![
                r.seq.to_string().into(),
                when(zone, e.timestamp).into(),
                e.kind().to_string().into(),
                signers(&e, names, zone).into(),
                describe(&e, zone).into(),
            ])
        })
        .collect()
}

pub fn entry_head() -> Vec<String> {
    ["#", "Recorded", "Kind", "Signed by", "What"]
        .map(String::from)
        .to_vec()
}

/// Today in the clinic's time zone.
pub fn today(zone: &Zone) -> Day {
    zone.today()
}

/// The open discrepancies as sentences, each with the page that resolves it.
pub async fn discrepancy_lines(state: &AppState, auth: &Auth) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .clinic
        .open_discrepancies(auth)
        .await?
        .iter()
        .map(|d| discrepancy_line(zone(state), d))
        .collect())
}

/// An open discrepancy in one sentence (what remains of it), and where it is resolved.
pub fn discrepancy_line(zone: &Zone, d: &OpenDiscrepancy) -> (String, String) {
    let name = d
        .product
        .as_ref()
        .map_or_else(|| d.ndc.to_string(), |p| p.name.to_string());
    let base = |v: u64| match &d.product {
        Some(p) => custody_ledger::state::describe_base(&p.strength, v),
        None => v.to_string(),
    };
    let way = if d.state.direction == Direction::Decrease {
        "short"
    } else {
        "over"
    };
    let found = match &d.count {
        Some(c) => {
            let tally = |t: &Tally| match &d.product {
                Some(p) => tally_said(&p.strength, t.sealed, t.open),
                None => format!("{} sealed and {} in open containers", t.sealed, t.open),
            };
            format!(
                "Count {} of {name} at {} on {}: counted {}, the ledger expected {}",
                d.seq,
                d.location,
                zone.day_of(d.at),
                tally(&c.counted),
                tally(&c.expected)
            )
        }
        None => format!(
            "Inventory {} of {name} at {} on {}",
            d.seq,
            d.location,
            zone.day_of(d.at)
        ),
    };
    let left = if d.state.remaining == d.state.difference {
        format!("{} {way}", base(d.state.difference))
    } else {
        format!(
            "{} {way}, {} of it still unexplained",
            base(d.state.difference),
            base(d.state.remaining)
        )
    };
    (
        format!("{found} ({left})"),
        format!("/ui/adjust?count={}", d.seq),
    )
}
