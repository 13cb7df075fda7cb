//! What a report is asked for: its kind, period and filters.

use custody_ledger::{ContainerId, Day, Ndc, PatientRef};

use serde::{Deserialize, Serialize};

/// The seven reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// Balances and every entry of a period, with signatures, discrepancies and open wastes.
    Audit,
    /// On hand at close of business (21 CFR 1304.11).
    Inventory,
    /// Wastes with author and witness; destructions and returns (DEA Form 41 fields).
    Waste,
    /// Losses and thefts (DEA Form 106 fields), with their deadlines.
    Loss,
    /// One container from receipt to empty.
    Trace,
    /// Doses and take-home dispensing, by practitioner or patient.
    Dispensing,
    /// Diversion analytics: each person's signals against peers of the same role, tiers,
    /// the entries behind every figure, and charts (`custody-analytics`).
    Diversion,
    /// Spravato REMS sessions closed in the period, with their monitoring forms' status.
    Rems,
}

impl ReportKind {
    pub const ALL: [ReportKind; 8] = [
        ReportKind::Audit,
        ReportKind::Inventory,
        ReportKind::Waste,
        ReportKind::Loss,
        ReportKind::Trace,
        ReportKind::Dispensing,
        ReportKind::Diversion,
        ReportKind::Rems,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Audit => "audit",
            ReportKind::Inventory => "inventory",
            ReportKind::Waste => "waste",
            ReportKind::Loss => "loss",
            ReportKind::Trace => "trace",
            ReportKind::Dispensing => "dispensing",
            ReportKind::Diversion => "diversion",
            ReportKind::Rems => "rems",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Audit => "Controlled substance audit report",
            ReportKind::Inventory => "Controlled substance inventory",
            ReportKind::Waste => "Waste and destruction log",
            ReportKind::Loss => "Loss and theft report",
            ReportKind::Trace => "Container trace",
            ReportKind::Dispensing => "Dispensing log",
            ReportKind::Diversion => "Diversion analytics",
            ReportKind::Rems => "Spravato REMS sessions",
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ReportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "no report {s:?}: choose audit, inventory, waste, loss, trace, dispensing, diversion or rems"
                )
            })
    }
}

/// A report's parameters; the manifest carries them so a verifier can rebuild the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub kind: ReportKind,
    /// First and last day of the period, inclusive, as days of the clinic's time zone
    /// (`time_zone`): from local midnight starting `from` to local midnight ending `to`.
    /// An inventory is taken at the close of business of `to`.
    pub from: Day,
    pub to: Day,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Ndc>,
    /// For a container trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerId>,
    /// For a dispensing log: part of the practitioner's name or DEA number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescriber: Option<String>,
    /// For a dispensing log: one patient's commitment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientRef>,
    /// The clinic's time zone (IANA name) whose days the period covers and whose clock the
    /// report's times are shown in; absent means UTC (and reports made before zones existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// For a diversion report: the clinic's hours (`HH:MM-HH:MM`) outside which signatures
    /// count as off-hours; absent means `custody_analytics::Hours::default()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// A dispensing record that names each patient with their name and address from the
    /// patient register (21 CFR 1304.22(c)), for an inspector: admins and pharmacists only,
    /// with `reason`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identified: bool,
    /// Why a patient-identifying record was made, as the person asking stated it; recorded
    /// in the manifest and in the report's `report_issued` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Request {
    /// The zone named by `time_zone` (UTC when absent; an unknown name is refused by
    /// [`crate::check`] before any report is made, and read as UTC here).
    pub fn zone(&self) -> crate::Zone {
        self.time_zone
            .as_deref()
            .and_then(|n| crate::Zone::named(n).ok())
            .unwrap_or_default()
    }

    /// `time_zone` as a request carries it: absent for UTC, so UTC reports stay as they were.
    pub fn zone_name(zone: &crate::Zone) -> Option<String> {
        (!zone.is_utc()).then(|| zone.name().to_string())
    }

    /// The period a request means: `to` defaults to `today`, `from` to 30 days before `to`.
    pub fn period(from: Option<Day>, to: Option<Day>, today: Day) -> (Day, Day) {
        let to = to.unwrap_or(today);
        (from.unwrap_or_else(|| to.plus_days(-30).unwrap_or(to)), to)
    }
}
