//! The ASAP (American Society for Automation in Pharmacy) Standard for Prescription
//! Monitoring Programs, versions 4.2, 4.2A and 4.2B: one type per segment, each placing its
//! values at their field positions, a writer that counts segments (TP01, TT02), and a parser
//! that reads a file back (used by tests and by anyone checking a file before sending it).
//!
//! A file is `TH IS PHA (PAT DSP PRE [CDI] [AIR])* TP TT`; fields are separated by `*`,
//! segments end with the terminator TH09 names (itself written in TH09, so TH ends with the
//! terminator twice: `…*P**~~`). A field holds no separator and no terminator: values are
//! cleaned of both before they are placed.
//!
//! Field positions follow the ASAP 4.2 segment layout as documented field by field in the
//! VA's open-source VistA Outpatient Pharmacy routine PSOASAP (WorldVistA, "ASAP Field
//! Values": TH01–TH09, IS01–IS03, PHA01–PHA13, PAT01–PAT23, DSP01–DSP21, PRE01–PRE08,
//! CDI01–CDI05, AIR01–AIR11, TP01, TT01–TT02; <https://vivian.worldvista.org/dox/Routine_PSOASAP_source.html>).
//! 4.2A and 4.2B append optional fields at the ends of segments (see `Layout`); we write
//! them empty. See docs/pmp.md.

/// The data element separator.
pub const SEPARATOR: char = '*';

/// An ASAP version a state accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V42,
    V42A,
    V42B,
}

impl Version {
    /// As TH01 states it.
    pub fn name(self) -> &'static str {
        match self {
            Version::V42 => "4.2",
            Version::V42A => "4.2A",
            Version::V42B => "4.2B",
        }
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "4.2" => Ok(Version::V42),
            "4.2A" => Ok(Version::V42A),
            "4.2B" => Ok(Version::V42B),
            o => Err(format!(
                "ASAP version {o:?} is not one this writer knows: give 4.2, 4.2A or 4.2B"
            )),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How many fields each segment has in a version. 4.2 is PSOASAP's layout. For 4.2A and
/// 4.2B this writer appends, as we read the later layouts, DSP22 (4.2A) and DSP23–DSP25
/// (4.2B) and PRE09 (4.2A) and PRE10 (4.2B), all optional and written empty; a state's
/// guide is the authority, and its profile may give other counts (`fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub counts: Vec<(&'static str, usize)>,
}

/// Every segment this writer knows, in file order.
pub const SEGMENTS: [&str; 10] = [
    "TH", "IS", "PHA", "PAT", "DSP", "PRE", "CDI", "AIR", "TP", "TT",
];

impl Layout {
    pub fn of(v: Version) -> Layout {
        let (dsp, pre) = match v {
            Version::V42 => (21, 8),
            Version::V42A => (22, 9),
            Version::V42B => (25, 10),
        };
        Layout {
            counts: vec![
                ("TH", 9),
                ("IS", 3),
                ("PHA", 13),
                ("PAT", 23),
                ("DSP", dsp),
                ("PRE", pre),
                ("CDI", 5),
                ("AIR", 11),
                ("TP", 1),
                ("TT", 2),
            ],
        }
    }

    /// The number of fields of segment `id`.
    pub fn count(&self, id: &str) -> usize {
        self.counts
            .iter()
            .find(|(s, _)| *s == id)
            .map_or(0, |(_, n)| *n)
    }

    /// Sets segment `id`'s count (a state profile's `fields`).
    pub fn set(&mut self, id: &str, n: usize) -> Result<(), String> {
        match self.counts.iter_mut().find(|(s, _)| *s == id) {
            Some(c) => {
                c.1 = n;
                Ok(())
            }
            None => Err(format!("{id:?} is not an ASAP segment this writer writes")),
        }
    }
}

/// What a field is, for a refusal that names it ("PRE01, the prescriber's NPI").
pub fn field_name(field: &str) -> &'static str {
    match field {
        "TH02" => "the transaction control number",
        "IS01" => "the information source id",
        "IS02" => "the information source's name",
        "PHA01" => "the registrant's NPI",
        "PHA02" => "the registrant's NCPDP number",
        "PHA03" => "the registrant's DEA number",
        "PHA04" => "the registrant's name",
        "PHA05" => "the registrant's street address",
        "PHA07" => "the registrant's city",
        "PHA08" => "the registrant's state",
        "PHA09" => "the registrant's ZIP code",
        "PAT07" => "the patient's last name",
        "PAT08" => "the patient's first name",
        "PAT12" => "the patient's street address",
        "PAT14" => "the patient's city",
        "PAT15" => "the patient's state",
        "PAT16" => "the patient's ZIP code",
        "PAT18" => "the patient's date of birth",
        "PAT19" => "the patient's sex",
        "DSP02" => "the prescription number",
        "DSP03" => "the date the prescription was written",
        "DSP04" => "the refills authorized",
        "DSP05" => "the date filled",
        "DSP08" => "the NDC",
        "DSP09" => "the quantity dispensed",
        "DSP10" => "the days' supply",
        "DSP11" => "the dosage unit",
        "PRE01" => "the prescriber's NPI",
        "PRE02" => "the prescriber's DEA number",
        "PRE05" => "the prescriber's last name",
        "PRE06" => "the prescriber's first name",
        _ => "a field of the ASAP layout",
    }
}

/// A segment's values at their positions (1-based, as the standard numbers them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub id: &'static str,
    values: Vec<String>,
}

impl Fields {
    fn new(id: &'static str) -> Self {
        Fields {
            id,
            values: Vec::new(),
        }
    }
    /// Places `v` at position `pos` (1-based).
    fn at(mut self, pos: usize, v: impl AsRef<str>) -> Self {
        if self.values.len() < pos {
            self.values.resize(pos, String::new());
        }
        self.values[pos - 1] = v.as_ref().to_string();
        self
    }
    fn opt(self, pos: usize, v: Option<impl AsRef<str>>) -> Self {
        match v {
            Some(v) => self.at(pos, v),
            None => self,
        }
    }
    /// The value at position `pos` (1-based), empty when not set.
    pub fn get(&self, pos: usize) -> &str {
        self.values.get(pos - 1).map_or("", String::as_str)
    }
}

/// A segment: its id and its values.
pub trait Segment {
    fn fields(&self) -> Fields;
}

/// TH, transaction header.
#[derive(Debug, Clone)]
pub struct Th {
    pub version: Version,
    /// TH02, repeated in TT01.
    pub control_number: String,
    /// TH05 CCYYMMDD and TH06 HHMMSS.
    pub created: (String, String),
    /// TH07: P (production) or T (test).
    pub production: bool,
    /// TH09.
    pub terminator: char,
}
impl Segment for Th {
    fn fields(&self) -> Fields {
        Fields::new("TH")
            .at(1, self.version.name())
            .at(2, &self.control_number)
            // TH03 01: send/request transaction (a zero report too).
            .at(3, "01")
            .at(5, &self.created.0)
            .at(6, &self.created.1)
            .at(7, if self.production { "P" } else { "T" })
            .at(9, self.terminator.to_string())
    }
}

/// IS, information source.
#[derive(Debug, Clone)]
pub struct Is {
    /// IS01: the registrant's DEA number (a unique id of the source).
    pub id: String,
    /// IS02.
    pub name: String,
    /// IS03: a message (custody states the period).
    pub message: String,
}
impl Segment for Is {
    fn fields(&self) -> Fields {
        Fields::new("IS")
            .at(1, &self.id)
            .at(2, &self.name)
            .at(3, &self.message)
    }
}

/// A US postal address as ASAP splits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub line1: String,
    pub city: String,
    pub state: String,
    pub zip: String,
}

/// PHA, pharmacy (dispenser) header.
#[derive(Debug, Clone, Default)]
pub struct Pha {
    /// PHA01.
    pub npi: Option<String>,
    /// PHA02.
    pub ncpdp: Option<String>,
    /// PHA03.
    pub dea: String,
    /// PHA04.
    pub name: String,
    /// PHA05, PHA07, PHA08, PHA09.
    pub address: Option<Address>,
}
impl Segment for Pha {
    fn fields(&self) -> Fields {
        let a = self.address.as_ref();
        Fields::new("PHA")
            .opt(1, self.npi.as_ref())
            .opt(2, self.ncpdp.as_ref())
            .at(3, &self.dea)
            .at(4, &self.name)
            .opt(5, a.map(|a| &a.line1))
            .opt(7, a.map(|a| &a.city))
            .opt(8, a.map(|a| &a.state))
            .opt(9, a.map(|a| &a.zip))
    }
}

/// PAT, patient.
#[derive(Debug, Clone, Default)]
pub struct Pat {
    /// PAT07, PAT08.
    pub last_name: String,
    pub first_name: String,
    /// PAT12, PAT14, PAT15, PAT16.
    pub address: Option<Address>,
    /// PAT18, CCYYMMDD.
    pub birth_date: Option<String>,
    /// PAT19: F, M or U.
    pub sex: Option<String>,
}
impl Pat {
    /// The zero report's patient: PAT07 `REPORT`, PAT08 `ZERO`, nothing else.
    pub fn zero() -> Pat {
        Pat {
            last_name: "REPORT".into(),
            first_name: "ZERO".into(),
            ..Pat::default()
        }
    }
}
impl Segment for Pat {
    fn fields(&self) -> Fields {
        let a = self.address.as_ref();
        let f = Fields::new("PAT")
            .at(7, &self.last_name)
            .at(8, &self.first_name)
            .opt(12, a.map(|a| &a.line1))
            .opt(14, a.map(|a| &a.city))
            .opt(15, a.map(|a| &a.state))
            .opt(16, a.map(|a| &a.zip))
            .opt(18, self.birth_date.as_ref())
            .opt(19, self.sex.as_ref());
        // PAT20 01: a human patient (not for the zero report's placeholder).
        if self.birth_date.is_some() {
            f.at(20, "01")
        } else {
            f
        }
    }
}

/// DSP01, what a dispensing record does: ASAP 4.1+ `00` new, `01` revise, `02` void.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Revise,
    Void,
}
impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::New => "00",
            Status::Revise => "01",
            Status::Void => "02",
        }
    }
}

/// DSP11, the unit of DSP09.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 01: each (Spravato devices, troches).
    Each,
    /// 02: milliliters (solutions).
    Milliliters,
}
impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Each => "01",
            Unit::Milliliters => "02",
        }
    }
}

/// DSP09 for a count of units, or for microliters stated in mL with exact decimals
/// (2500 µL is `2.5`): integer arithmetic, no floating point.
pub fn quantity(unit: Unit, base: u64) -> String {
    match unit {
        Unit::Each => base.to_string(),
        Unit::Milliliters => {
            let (whole, frac) = (base / 1000, base % 1000);
            if frac == 0 {
                whole.to_string()
            } else {
                let f = format!("{frac:03}");
                format!("{whole}.{}", f.trim_end_matches('0'))
            }
        }
    }
}

/// DSP, dispensing record.
#[derive(Debug, Clone, Default)]
pub struct Dsp {
    pub status: Option<Status>,
    /// DSP02.
    pub rx_number: Option<String>,
    /// DSP03, CCYYMMDD.
    pub written: Option<String>,
    /// DSP04.
    pub refills_authorized: Option<u32>,
    /// DSP05, CCYYMMDD.
    pub filled: String,
    /// DSP08: the NDC, 11 digits (DSP07 `01`).
    pub ndc: Option<String>,
    /// DSP09, DSP11.
    pub quantity: Option<(String, Unit)>,
    /// DSP10.
    pub days_supply: Option<u32>,
}
impl Dsp {
    /// The zero report's dispensing record: DSP05, the day reported, alone.
    pub fn zero(day: String) -> Dsp {
        Dsp {
            filled: day,
            ..Dsp::default()
        }
    }
}
impl Segment for Dsp {
    fn fields(&self) -> Fields {
        let f = Fields::new("DSP")
            .opt(1, self.status.map(Status::code))
            .opt(2, self.rx_number.as_ref())
            .opt(3, self.written.as_ref())
            .opt(4, self.refills_authorized.map(|n| n.to_string()))
            .at(5, &self.filled)
            .opt(8, self.ndc.as_ref())
            .opt(9, self.quantity.as_ref().map(|q| &q.0))
            .opt(10, self.days_supply.map(|n| n.to_string()))
            .opt(11, self.quantity.as_ref().map(|q| q.1.code()));
        if self.status.is_some() {
            // DSP06 0: the original fill (custody records no refills); DSP07 01: an NDC;
            // DSP13 00: not a partial fill.
            f.at(6, "0").at(7, "01").at(13, "00")
        } else {
            f
        }
    }
}

/// PRE, prescriber.
#[derive(Debug, Clone, Default)]
pub struct Pre {
    /// PRE01.
    pub npi: Option<String>,
    /// PRE02.
    pub dea: Option<String>,
    /// PRE05, PRE06.
    pub last_name: Option<String>,
    pub first_name: Option<String>,
}
impl Segment for Pre {
    fn fields(&self) -> Fields {
        Fields::new("PRE")
            .opt(1, self.npi.as_ref())
            .opt(2, self.dea.as_ref())
            .opt(5, self.last_name.as_ref())
            .opt(6, self.first_name.as_ref())
    }
}

/// CDI, compound drug ingredient: custody dispenses no compounds; written empty in a zero
/// report, as the standard's zero-report layout has it.
#[derive(Debug, Clone, Default)]
pub struct Cdi;
impl Segment for Cdi {
    fn fields(&self) -> Fields {
        Fields::new("CDI")
    }
}

/// AIR, additional information reporting: written (empty) where a state profile asks for
/// it, and in a zero report.
#[derive(Debug, Clone, Default)]
pub struct Air;
impl Segment for Air {
    fn fields(&self) -> Fields {
        Fields::new("AIR")
    }
}

/// Writes segments, counting them for TP01 (PHA through TP) and TT02 (TH through TT).
#[derive(Debug)]
pub struct Writer {
    layout: Layout,
    terminator: char,
    out: String,
    total: usize,
    detail: usize,
}

fn clean(v: &str, terminator: char) -> String {
    v.chars()
        .map(|c| {
            if c == SEPARATOR || c == terminator || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

impl Writer {
    pub fn new(layout: Layout, terminator: char) -> Writer {
        Writer {
            layout,
            terminator,
            out: String::new(),
            total: 0,
            detail: 0,
        }
    }

    fn put(&mut self, f: &Fields, raw_last: bool) {
        let n = self.layout.count(f.id).max(f.values.len());
        self.out.push_str(f.id);
        for pos in 1..=n {
            self.out.push(SEPARATOR);
            let v = f.get(pos);
            if raw_last && pos == n {
                self.out.push_str(v);
            } else {
                self.out.push_str(&clean(v, self.terminator));
            }
        }
        self.out.push(self.terminator);
        self.total += 1;
    }

    /// TH (its TH09 is the terminator itself, written as it is).
    pub fn header(&mut self, th: &Th) {
        self.put(&th.fields(), true);
    }
    pub fn source(&mut self, is: &Is) {
        self.put(&is.fields(), false);
    }
    /// A segment from PHA on: counted in TP01.
    pub fn detail(&mut self, s: &dyn Segment) {
        self.put(&s.fields(), false);
        self.detail += 1;
    }
    /// TP and TT, and the file.
    pub fn finish(mut self, control_number: &str) -> String {
        self.detail += 1;
        let tp = Fields::new("TP").at(1, self.detail.to_string());
        self.put(&tp, false);
        let tt = Fields::new("TT")
            .at(1, control_number)
            .at(2, (self.total + 1).to_string());
        self.put(&tt, false);
        self.out
    }
}

/// A segment read back: its id and its fields (without the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub id: String,
    pub fields: Vec<String>,
}

/// Reads a file back into segments. The terminator is TH09's: the character after TH's
/// ninth separator, which TH then ends with.
pub fn parse(file: &str) -> Result<Vec<Parsed>, String> {
    if !file.starts_with("TH*") {
        return Err("an ASAP file starts with its TH segment".into());
    }
    let mut seps = 0;
    let mut th_end = None;
    for (i, c) in file.char_indices() {
        if c == SEPARATOR {
            seps += 1;
            if seps == 9 {
                th_end = Some(i + 1);
                break;
            }
        }
    }
    let at = th_end.ok_or("TH has fewer than 9 fields")?;
    let terminator = file[at..].chars().next().ok_or("TH09 is missing")?;
    let th_text = &file[..at + terminator.len_utf8()];
    let rest = &file[at + terminator.len_utf8()..];
    let rest = rest
        .strip_prefix(terminator)
        .ok_or("TH does not end with the terminator TH09 names")?;
    let mut out = vec![Parsed {
        id: "TH".into(),
        fields: th_text
            .split(SEPARATOR)
            .skip(1)
            .map(str::to_string)
            .collect(),
    }];
    let body = rest
        .strip_suffix(terminator)
        .ok_or("the file does not end with the segment terminator")?;
    for seg in body.split(terminator) {
        let mut parts = seg.split(SEPARATOR);
        let id = parts.next().unwrap_or_default().trim().to_string();
        if !SEGMENTS.contains(&id.as_str()) {
            return Err(format!("{id:?} is not an ASAP segment"));
        }
        out.push(Parsed {
            id,
            fields: parts.map(str::to_string).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_ml_are_exact_decimals() {
        assert_eq!(quantity(Unit::Milliliters, 2500), "2.5");
        assert_eq!(quantity(Unit::Milliliters, 10_000), "10");
        assert_eq!(quantity(Unit::Milliliters, 1), "0.001");
        assert_eq!(quantity(Unit::Milliliters, 1_250), "1.25");
        assert_eq!(quantity(Unit::Each, 30), "30");
    }

    #[test]
    fn a_file_reads_back_with_its_counts() {
        let th = Th {
            version: Version::V42B,
            control_number: "17".into(),
            created: ("20261129".into(), "210000".into()),
            production: true,
            terminator: '~',
        };
        let mut w = Writer::new(Layout::of(Version::V42B), '~');
        w.header(&th);
        w.source(&Is {
            id: "BR1234563".into(),
            name: "A*clinic~".into(),
            message: String::new(),
        });
        w.detail(&Pha::default());
        w.detail(&Pat::zero());
        w.detail(&Dsp::zero("20261128".into()));
        w.detail(&Pre::default());
        w.detail(&Cdi);
        w.detail(&Air);
        let file = w.finish("17");
        assert!(file.starts_with("TH*4.2B*17*01**20261129*210000*P**~~IS*BR1234563*A clinic*~"));
        let segs = parse(&file).expect("parses");
        let ids: Vec<&str> = segs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, SEGMENTS);
        let layout = Layout::of(Version::V42B);
        for s in &segs {
            assert_eq!(s.fields.len(), layout.count(&s.id), "{}", s.id);
        }
        assert_eq!(segs[8].fields, ["7"]);
        assert_eq!(segs[9].fields, ["17", "10"]);
    }
}
