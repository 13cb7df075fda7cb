//! The fold: entries in ledger order in, per person and period the figures behind each
//! diversion signal out, each with the seqs of the entries it comes from. docs/analytics.md
//! states every formula; this file is the one place they are computed.

use std::collections::{BTreeMap, HashMap};

use custody_ledger::{
    ContainerId, Entry, Meaning, Payload, Principal, Role, State, Timestamp, UserId, Violation,
};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::decimal;
use crate::peers::{self, Band, Level, Tier};
use crate::series::{OnHand, SeriesFold, Timeline, unit_of};

/// The signals, each oriented so that a higher figure is the more concerning one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Drug wasted ÷ drug administered (µg ÷ µg), by the person.
    WasteRatio,
    /// Median minutes from a container's opening to the person's waste from it.
    OpenToWaste,
    /// Share of the person's wastes witnessed from the queue (the witness signed
    /// `queue_minutes` or more after the author).
    QueueShare,
    /// Median minutes between the author's and the witness's signatures on their wastes.
    WitnessDelay,
    /// Share of the person's doses recorded `late_minutes` or more after `given_at`.
    LateCharting,
    /// Share of the person's entries that a later `correction` names.
    Corrections,
    /// Share of the person's counts whose counted tally differs from the expected.
    DiscrepantCounts,
    /// Share of the person's signatures made outside the clinic's hours.
    OffHours,
    /// Share of the person's wastes witnessed by the one colleague who witnesses most of them.
    WitnessPair,
}

impl Signal {
    pub const ALL: [Signal; 9] = [
        Signal::WasteRatio,
        Signal::OpenToWaste,
        Signal::QueueShare,
        Signal::WitnessDelay,
        Signal::LateCharting,
        Signal::Corrections,
        Signal::DiscrepantCounts,
        Signal::OffHours,
        Signal::WitnessPair,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Signal::WasteRatio => "waste_ratio",
            Signal::OpenToWaste => "open_to_waste",
            Signal::QueueShare => "queue_share",
            Signal::WitnessDelay => "witness_delay",
            Signal::LateCharting => "late_charting",
            Signal::Corrections => "corrections",
            Signal::DiscrepantCounts => "discrepant_counts",
            Signal::OffHours => "off_hours",
            Signal::WitnessPair => "witness_pair",
        }
    }
    /// How a person reads it.
    pub fn title(self) -> &'static str {
        match self {
            Signal::WasteRatio => "Wasted ÷ administered",
            Signal::OpenToWaste => "Opening to waste (median min)",
            Signal::QueueShare => "Wastes witnessed from the queue",
            Signal::WitnessDelay => "Witnessing delay (median min)",
            Signal::LateCharting => "Doses charted late",
            Signal::Corrections => "Entries corrected",
            Signal::DiscrepantCounts => "Counts with a discrepancy",
            Signal::OffHours => "Signatures outside clinic hours",
            Signal::WitnessPair => "Wastes with the same witness",
        }
    }
    fn is_share(self) -> bool {
        matches!(
            self,
            Signal::QueueShare
                | Signal::LateCharting
                | Signal::Corrections
                | Signal::DiscrepantCounts
                | Signal::OffHours
                | Signal::WitnessPair
        )
    }
}

/// The clinic's opening hours, local minutes from midnight: `open..close` (overnight when
/// `close < open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hours {
    pub open: u16,
    pub close: u16,
}

impl Default for Hours {
    fn default() -> Self {
        Hours {
            open: 7 * 60,
            close: 19 * 60,
        }
    }
}

impl Hours {
    pub fn contains(&self, minute: u16) -> bool {
        if self.open <= self.close {
            minute >= self.open && minute < self.close
        } else {
            minute >= self.open || minute < self.close
        }
    }
}

impl std::fmt::Display for Hours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.open / 60,
            self.open % 60,
            self.close / 60,
            self.close % 60
        )
    }
}

impl std::str::FromStr for Hours {
    type Err = String;
    /// `HH:MM-HH:MM`, e.g. `07:00-19:00`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not clinic hours: give them as HH:MM-HH:MM, e.g. 07:00-19:00");
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
        };
        let (open, close) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        if open == close {
            return Err(bad());
        }
        Ok(Hours { open, close })
    }
}

/// The stated thresholds (docs/analytics.md gives their sources). Not fitted to any clinic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// z at or above which a figure is high (Iglewicz & Hoaglin's outlier cut-off, 3.5).
    pub high: f64,
    /// z at or above which a figure is elevated (2.0).
    pub elevated: f64,
    /// Events a figure needs behind it to be high: one odd entry is not a pattern (3).
    pub min_events: u64,
    /// People of a role with a figure needed for a z-score at all (3).
    pub min_peers: usize,
    /// A dose recorded this many minutes or more after `given_at` is charted late (60).
    pub late_minutes: i64,
    /// A waste whose witness signed this many minutes or more after its author was
    /// witnessed from the queue (5).
    pub queue_minutes: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            high: 3.5,
            elevated: 2.0,
            min_events: 3,
            min_peers: 3,
            late_minutes: 60,
            queue_minutes: 5,
        }
    }
}

/// What the analytics are asked for.
#[derive(Debug, Clone)]
pub struct Params {
    /// The period: entries with `from <= timestamp < to`.
    pub from: Timestamp,
    pub to: Timestamp,
    /// The clinic's zone: hours of day are its local hours.
    pub tz: TimeZone,
    pub hours: Hours,
    pub thresholds: Thresholds,
    /// A container whose timeline to draw.
    pub container: Option<ContainerId>,
}

/// One figure of one person: exact numerator and denominator, what is shown, its z-score
/// and level, and the entries behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub signal: Signal,
    /// For a ratio or share: the exact numerator and denominator (µg ÷ µg, entries ÷
    /// entries). For a median of minutes: the median in seconds × `denominator` (1, or 2
    /// when it is the mean of the two middle values) — minutes = numerator ÷ (60 ×
    /// denominator).
    pub numerator: u64,
    pub denominator: u64,
    /// As shown ("3.412", "75.0%", "42.5 min"); none when there is nothing to divide by.
    pub value: Option<String>,
    /// Events behind the figure (wastes, doses, entries, counts flagged).
    pub events: u64,
    pub z: Option<f64>,
    pub level: Level,
    /// The seqs of the entries the figure counts.
    pub seqs: Vec<u64>,
    /// A note (the witness of a witness pair).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// The number compared with peers.
    pub fn score(&self) -> Option<f64> {
        (self.denominator > 0).then(|| {
            let v = self.numerator as f64 / self.denominator as f64;
            match self.signal {
                Signal::OpenToWaste | Signal::WitnessDelay => v / 60.0,
                _ => v,
            }
        })
    }
}

/// One person's figures and tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub user: UserId,
    pub name: String,
    pub role: Role,
    pub tier: Tier,
    pub figures: Vec<Figure>,
}

impl Person {
    pub fn figure(&self, s: Signal) -> Option<&Figure> {
        self.figures.iter().find(|f| f.signal == s)
    }
}

/// Everything the analytics state for a period.
#[derive(Debug, Clone, Serialize)]
pub struct Analytics {
    pub from: Timestamp,
    pub to: Timestamp,
    pub hours: Hours,
    pub thresholds: Thresholds,
    pub people: Vec<Person>,
    pub bands: Vec<Band>,
    pub on_hand: Vec<OnHand>,
    /// Doses (administered entries) by local hour of `given_at`, 0–23, with their seqs.
    pub doses_by_hour: Vec<(u64, Vec<u64>)>,
    pub timeline: Option<Timeline>,
}

impl Analytics {
    pub fn band(&self, role: Role, s: Signal) -> Option<&Band> {
        self.bands.iter().find(|b| b.role == role && b.signal == s)
    }
}

#[derive(Debug, Default)]
struct Tally {
    wasted_ug: u64,
    administered_ug: u64,
    waste_seqs: Vec<u64>,
    dose_seqs: Vec<u64>,
    open_to_waste: Vec<(i64, u64)>,
    witnessed: Vec<(i64, u64)>,
    queued: Vec<u64>,
    witnesses: BTreeMap<UserId, Vec<u64>>,
    late: Vec<u64>,
    authored: Vec<u64>,
    corrected: Vec<u64>,
    counts: Vec<u64>,
    discrepant: Vec<u64>,
    signatures: u64,
    off_hours: Vec<u64>,
}

/// Folds entries (every entry from genesis, in order) into [`Analytics`].
pub struct Analyzer {
    p: Params,
    state: State,
    opened: HashMap<ContainerId, Timestamp>,
    /// Who authored each entry in the period (for corrections).
    authors: HashMap<u64, UserId>,
    people: BTreeMap<UserId, Tally>,
    hours: Vec<(u64, Vec<u64>)>,
    series: SeriesFold,
}

fn minutes_between(a: Timestamp, b: Timestamp) -> i64 {
    (b.micros() - a.micros()).div_euclid(60_000_000)
}

fn seconds_between(a: Timestamp, b: Timestamp) -> i64 {
    (b.micros() - a.micros()).div_euclid(1_000_000)
}

impl Analyzer {
    pub fn new(p: Params) -> Self {
        Analyzer {
            series: SeriesFold::new(p.container),
            p,
            state: State::new(),
            opened: HashMap::new(),
            authors: HashMap::new(),
            people: BTreeMap::new(),
            hours: (0..24).map(|_| (0, Vec::new())).collect(),
        }
    }

    fn local(&self, t: Timestamp) -> (u16, usize) {
        let z = jiff::Timestamp::from_microsecond(t.micros())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(self.p.tz.clone());
        let (h, m) = (z.hour() as u16, z.minute() as u16);
        (h * 60 + m, usize::from(h))
    }

    /// Takes the next entry. Entries must come in seq order from genesis; the rules are
    /// applied (without checking signatures, which the store checked when it appended).
    pub fn push(&mut self, e: &Entry) -> Result<(), Violation> {
        // An entry out of order is refused by the rules (`seq_gap`) before it counts.
        if self.state.head.as_ref().map_or(0, |h| h.next_seq.get()) != e.seq.get() {
            return Err(Violation::SeqGap {
                expected: self
                    .state
                    .head
                    .as_ref()
                    .map_or(custody_ledger::Seq::GENESIS, |h| h.next_seq),
                found: e.seq,
            });
        }
        let in_period = e.timestamp >= self.p.from && e.timestamp < self.p.to;
        if in_period {
            self.record(e);
        }
        let (named, held) = self.series.before(&self.state, e);
        let (_, touched) = self.state.apply(e)?;
        self.series.after(
            &self.state,
            e,
            named,
            held,
            &touched.containers,
            in_period,
            self.p.from,
        );
        if let Payload::ContainerOpened(o) = e.payload() {
            self.opened.insert(o.container, e.timestamp);
        }
        Ok(())
    }

    /// Notes what an entry in the period says about the people who signed it. Runs before
    /// the entry is applied.
    fn record(&mut self, e: &Entry) {
        let seq = e.seq.get();
        let authored = e.signatures.iter().find(|s| s.meaning == Meaning::Authored);
        let author = authored.and_then(|s| match &s.signer {
            Principal::User(u) => Some((u.clone(), e.signed_at(s))),
            Principal::Registrant => None,
        });
        for s in &e.signatures {
            let Principal::User(u) = &s.signer else {
                continue;
            };
            if !matches!(s.meaning, Meaning::Authored | Meaning::Witnessed) {
                continue;
            }
            let (minute, _) = self.local(e.signed_at(s));
            let off = !self.p.hours.contains(minute);
            let t = self.people.entry(u.clone()).or_default();
            t.signatures += 1;
            if off {
                t.off_hours.push(seq);
            }
        }
        if let Some((u, _)) = &author {
            self.authors.insert(seq, u.clone());
            self.people.entry(u.clone()).or_default().authored.push(seq);
        }
        match e.payload() {
            Payload::Administered(a) => {
                let (_, hour) = self.local(a.given_at);
                self.hours[hour].0 += 1;
                self.hours[hour].1.push(seq);
                let t = self.people.entry(a.given_by.clone()).or_default();
                t.administered_ug += a.amount.micrograms().get();
                t.dose_seqs.push(seq);
                let recorded = author.as_ref().map_or(e.timestamp, |(_, at)| *at);
                if minutes_between(a.given_at, recorded) >= self.p.thresholds.late_minutes {
                    t.late.push(seq);
                }
            }
            Payload::Waste(w) => {
                let Some((u, at)) = author else { return };
                let witness = e
                    .signatures
                    .iter()
                    .find(|s| s.meaning == Meaning::Witnessed)
                    .and_then(|s| match &s.signer {
                        Principal::User(w) => Some((w.clone(), e.signed_at(s))),
                        Principal::Registrant => None,
                    });
                let opened = self.opened.get(&w.container).copied();
                let queue = self.p.thresholds.queue_minutes;
                let t = self.people.entry(u).or_default();
                t.wasted_ug += w.amount.micrograms().get();
                t.waste_seqs.push(seq);
                if let Some(o) = opened {
                    t.open_to_waste.push((seconds_between(o, at).max(0), seq));
                }
                if let Some((by, wat)) = witness {
                    let delay = seconds_between(at, wat).max(0);
                    t.witnessed.push((delay, seq));
                    if delay >= queue * 60 {
                        t.queued.push(seq);
                    }
                    t.witnesses.entry(by).or_default().push(seq);
                }
            }
            Payload::Count(c) => {
                let Some((u, _)) = author else { return };
                let t = self.people.entry(u).or_default();
                t.counts.push(seq);
                if c.counted != c.expected {
                    t.discrepant.push(seq);
                }
            }
            Payload::Correction(c) => {
                if let Some(u) = self.authors.get(&c.corrects.get()).cloned() {
                    self.people.entry(u).or_default().corrected.push(seq);
                }
            }
            _ => {}
        }
    }

    /// The figures, bands and tiers of the period.
    pub fn finish(mut self) -> Analytics {
        self.series.start(self.p.from);
        let th = self.p.thresholds;
        let mut people: Vec<Person> = Vec::new();
        for (user, t) in &self.people {
            let Some(u) = self.state.users.get(user) else {
                continue;
            };
            people.push(Person {
                user: user.clone(),
                name: u.printed_name.to_string(),
                role: u.role,
                tier: Tier::None,
                figures: figures(t),
            });
        }
        // Bands per role and signal, then z-scores, levels and tiers.
        let mut bands = Vec::new();
        for &role in Role::ALL {
            for s in Signal::ALL {
                let values: Vec<f64> = people
                    .iter()
                    .filter(|p| p.role == role)
                    .filter_map(|p| p.figure(s).and_then(Figure::score))
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let (median, spread, scale) = peers::spread(&values, th.min_peers);
                bands.push(Band {
                    role,
                    signal: s,
                    peers: values.len(),
                    median,
                    spread,
                    scale,
                });
            }
        }
        for p in &mut people {
            for f in &mut p.figures {
                let band = bands
                    .iter()
                    .find(|b| b.role == p.role && b.signal == f.signal);
                f.z = match (f.score(), band) {
                    (Some(x), Some(b)) => peers::z(x, b),
                    _ => None,
                };
                f.level = match f.z {
                    Some(z) if z >= th.high && f.events >= th.min_events => Level::High,
                    Some(z) if z >= th.elevated => Level::Elevated,
                    _ => Level::None,
                };
            }
            p.tier = Tier::of(p.figures.iter().map(|f| f.level));
        }
        people.sort_by(|a, b| b.tier.cmp(&a.tier).then_with(|| a.name.cmp(&b.name)));
        let on_hand = self
            .series
            .on_hand
            .iter()
            .map(|(ndc, points)| OnHand {
                product: *ndc,
                name: self
                    .state
                    .products
                    .get(ndc)
                    .map_or_else(|| ndc.to_string(), |p| p.name.to_string()),
                unit: unit_of(&self.state, ndc),
                points: points.clone(),
            })
            .collect();
        Analytics {
            from: self.p.from,
            to: self.p.to,
            hours: self.p.hours,
            thresholds: th,
            people,
            bands,
            on_hand,
            doses_by_hour: self.hours,
            timeline: self.series.timeline,
        }
    }
}

/// The exact median of `v` (seconds) as (numerator, denominator): the middle value over 1,
/// or the sum of the two middle values over 2.
fn median_seconds(v: &[(i64, u64)]) -> (u64, u64) {
    if v.is_empty() {
        return (0, 0);
    }
    let mut s: Vec<u64> = v.iter().map(|(x, _)| *x as u64).collect();
    s.sort_unstable();
    let n = s.len();
    if n % 2 == 1 {
        (s[n / 2], 1)
    } else {
        (s[n / 2 - 1] + s[n / 2], 2)
    }
}

fn figure(signal: Signal, numerator: u64, denominator: u64, events: u64, seqs: Vec<u64>) -> Figure {
    let value = (denominator > 0).then(|| match signal {
        Signal::WasteRatio => decimal(numerator, denominator, 3),
        Signal::OpenToWaste | Signal::WitnessDelay => {
            format!("{} min", decimal(numerator, denominator * 60, 1))
        }
        s if s.is_share() => format!("{}%", decimal(numerator * 100, denominator, 1)),
        _ => decimal(numerator, denominator, 3),
    });
    let mut seqs = seqs;
    seqs.sort_unstable();
    seqs.dedup();
    Figure {
        signal,
        numerator,
        denominator,
        value,
        events,
        z: None,
        level: Level::None,
        seqs,
        note: None,
    }
}

fn figures(t: &Tally) -> Vec<Figure> {
    let n = |v: &Vec<u64>| v.len() as u64;
    let mut out = Vec::new();
    let mut both = t.waste_seqs.clone();
    both.extend(&t.dose_seqs);
    out.push(figure(
        Signal::WasteRatio,
        t.wasted_ug,
        t.administered_ug,
        n(&t.waste_seqs),
        both,
    ));
    let (num, den) = median_seconds(&t.open_to_waste);
    out.push(figure(
        Signal::OpenToWaste,
        num,
        den,
        t.open_to_waste.len() as u64,
        t.open_to_waste.iter().map(|x| x.1).collect(),
    ));
    out.push(figure(
        Signal::QueueShare,
        n(&t.queued),
        t.witnessed.len() as u64,
        n(&t.queued),
        t.queued.clone(),
    ));
    let (num, den) = median_seconds(&t.witnessed);
    out.push(figure(
        Signal::WitnessDelay,
        num,
        den,
        t.witnessed.len() as u64,
        t.witnessed.iter().map(|x| x.1).collect(),
    ));
    out.push(figure(
        Signal::LateCharting,
        n(&t.late),
        n(&t.dose_seqs),
        n(&t.late),
        t.late.clone(),
    ));
    out.push(figure(
        Signal::Corrections,
        n(&t.corrected),
        n(&t.authored),
        n(&t.corrected),
        t.corrected.clone(),
    ));
    out.push(figure(
        Signal::DiscrepantCounts,
        n(&t.discrepant),
        n(&t.counts),
        n(&t.discrepant),
        t.discrepant.clone(),
    ));
    out.push(figure(
        Signal::OffHours,
        n(&t.off_hours),
        t.signatures,
        n(&t.off_hours),
        t.off_hours.clone(),
    ));
    // The witness who witnessed most of the person's wastes (the first by id on a tie).
    let top = t
        .witnesses
        .iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)));
    let mut pair = figure(
        Signal::WitnessPair,
        top.map_or(0, |(_, s)| s.len() as u64),
        t.witnessed.len() as u64,
        top.map_or(0, |(_, s)| s.len() as u64),
        top.map_or_else(Vec::new, |(_, s)| s.clone()),
    );
    pair.note = top.map(|(w, _)| w.to_string());
    out.push(pair);
    out
}
