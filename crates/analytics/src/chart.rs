//! The charts, as a small display list (rectangles, lines, dots, text) in points with y
//! growing downwards, and their SVG. The report crate draws the same list as PDF vector
//! graphics, so a page and a PDF show one drawing.
//!
//! Why hand-built and not a plotting crate: the four charts are bars, step lines and dots;
//! `plotters`' SVG backend would draw them, but the PDF side would then need an SVG-to-PDF
//! converter (printpdf's `svg` feature pulls in svg2pdf, usvg and its HTML layout stack,
//! which the workspace pins off), where a display list is drawn by printpdf's own line and
//! rectangle operations in a few dozen lines. Every chart carries its text alternative:
//! a title, a description sentence, and the table of the numbers it draws.

use std::fmt::Write as _;

use custody_ledger::{Role, Timestamp};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::series::{OnHand, Timeline};
use crate::{Analytics, Level, Signal};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

pub const INK: Rgb = Rgb(0x22, 0x22, 0x22);
pub const AXIS: Rgb = Rgb(0x55, 0x55, 0x55);
pub const GRID: Rgb = Rgb(0xdd, 0xdd, 0xdd);
pub const BAR: Rgb = Rgb(0x2b, 0x5c, 0x8a);
pub const BAND: Rgb = Rgb(0xd6, 0xe4, 0xf0);
pub const ALERT: Rgb = Rgb(0xb0, 0x1e, 0x1e);
pub const WATCH: Rgb = Rgb(0x9a, 0x5b, 0x00);

/// Where a text's x is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One thing drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Mark {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Line {
        points: Vec<(f32, f32)>,
        stroke: Rgb,
        width: f32,
    },
    Dot {
        x: f32,
        y: f32,
        r: f32,
        fill: Rgb,
    },
    Text {
        x: f32,
        y: f32,
        text: String,
        size: f32,
        anchor: Anchor,
        fill: Rgb,
    },
}

/// A chart: its drawing, and its text alternative (title, description, table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// An id for the page (`chart-doses-by-hour`).
    pub id: String,
    pub title: String,
    /// One or two sentences saying what the chart shows and what stands out.
    pub desc: String,
    pub width: f32,
    pub height: f32,
    pub marks: Vec<Mark>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Chart {
    /// The chart as an inline SVG element: `role="img"`, labelled by its `<title>` and
    /// described by its `<desc>`.
    pub fn svg(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif"><title id="{id}-title">{t}</title><desc id="{id}-desc">{d}</desc><rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#,
            id = esc(&self.id),
            w = self.width,
            h = self.height,
            t = esc(&self.title),
            d = esc(&self.desc)
        );
        for m in &self.marks {
            match m {
                Mark::Rect { x, y, w, h, fill } => {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}"/>"#,
                        fill.hex()
                    );
                }
                Mark::Line {
                    points,
                    stroke,
                    width,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|(x, y)| format!("{x:.1},{y:.1}"))
                        .collect();
                    let _ = write!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}"/>"#,
                        pts.join(" "),
                        stroke.hex()
                    );
                }
                Mark::Dot { x, y, r, fill } => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{}"/>"#,
                        fill.hex()
                    );
                }
                Mark::Text {
                    x,
                    y,
                    text,
                    size,
                    anchor,
                    fill,
                } => {
                    let a = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let _ = write!(
                        s,
                        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{a}" fill="{}" aria-hidden="true">{}</text>"#,
                        fill.hex(),
                        esc(text)
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }
}

/// A plot area inside a chart, with the helpers to place values in it.
struct Frame {
    left: f32,
    top: f32,
    w: f32,
    h: f32,
}

impl Frame {
    fn x(&self, f: f64) -> f32 {
        self.left + self.w * f.clamp(0.0, 1.0) as f32
    }
    fn y(&self, f: f64) -> f32 {
        self.top + self.h * (1.0 - f.clamp(0.0, 1.0) as f32)
    }
    /// Axes and horizontal grid lines with labels at 0, ¼ … of `max`.
    fn axes(&self, marks: &mut Vec<Mark>, max: f64, label: impl Fn(f64) -> String) {
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let y = self.y(f);
            marks.push(Mark::Line {
                points: vec![(self.left, y), (self.left + self.w, y)],
                stroke: if i == 0 { AXIS } else { GRID },
                width: if i == 0 { 1.0 } else { 0.5 },
            });
            marks.push(Mark::Text {
                x: self.left - 4.0,
                y: y + 3.0,
                text: label(max * f),
                size: 8.0,
                anchor: Anchor::End,
                fill: INK,
            });
        }
        marks.push(Mark::Line {
            points: vec![(self.left, self.top), (self.left, self.top + self.h)],
            stroke: AXIS,
            width: 1.0,
        });
    }
}

/// A round number at or above `v` (1, 2, 2.5, 5 × 10ⁿ).
fn nice(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn local(tz: &TimeZone, t: Timestamp, fmt: &str) -> String {
    jiff::Timestamp::from_microsecond(t.micros())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .strftime(fmt)
        .to_string()
}

/// Doses by hour of day (local hour of `given_at`), 24 bars.
pub fn doses_by_hour(a: &Analytics) -> Chart {
    let (width, height) = (520.0, 200.0);
    let f = Frame {
        left: 40.0,
        top: 30.0,
        w: 460.0,
        h: 130.0,
    };
    let counts: Vec<u64> = a.doses_by_hour.iter().map(|(n, _)| *n).collect();
    let total: u64 = counts.iter().sum();
    let max = nice(counts.iter().copied().max().unwrap_or(0) as f64);
    let mut marks = Vec::new();
    marks.push(Mark::Text {
        x: 10.0,
        y: 16.0,
        text: "Doses by hour of day".into(),
        size: 10.0,
        anchor: Anchor::Start,
        fill: INK,
    });
    f.axes(&mut marks, max, short);
    let slot = f.w / 24.0;
    for (h, n) in counts.iter().enumerate() {
        let x = f.left + slot * h as f32;
        let top = f.y(*n as f64 / max);
        if *n > 0 {
            marks.push(Mark::Rect {
                x: x + 1.5,
                y: top,
                w: slot - 3.0,
                h: f.top + f.h - top,
                fill: BAR,
            });
        }
        if h % 3 == 0 {
            marks.push(Mark::Text {
                x: x + slot / 2.0,
                y: f.top + f.h + 12.0,
                text: format!("{h:02}"),
                size: 8.0,
                anchor: Anchor::Middle,
                fill: INK,
            });
        }
    }
    marks.push(Mark::Text {
        x: f.left + f.w / 2.0,
        y: height - 8.0,
        text: "hour of day (clinic time)".into(),
        size: 8.0,
        anchor: Anchor::Middle,
        fill: INK,
    });
    let busiest = counts
        .iter()
        .enumerate()
        .max_by_key(|(h, n)| (**n, std::cmp::Reverse(*h)))
        .filter(|(_, n)| **n > 0);
    let desc = match busiest {
        Some((h, n)) => format!(
            "{total} doses in the period by the hour they were given; the busiest hour is {h:02}:00 with {n}."
        ),
        None => "No doses were given in the period.".into(),
    };
    Chart {
        id: "chart-doses-by-hour".into(),
        title: "Doses by hour of day".into(),
        desc,
        width,
        height,
        marks,
        headers: vec!["Hour".into(), "Doses".into()],
        rows: counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(h, n)| vec![format!("{h:02}:00"), n.to_string()])
            .collect(),
    }
}

/// The waste ratio of each person of `role` against the band of their peers: the shaded
/// band runs from the peers' median to where a figure becomes elevated (z = 2).
pub fn waste_ratio_band(a: &Analytics, role: Role) -> Chart {
    let people: Vec<_> = a
        .people
        .iter()
        .filter(|p| p.role == role)
        .filter_map(|p| {
            let f = p.figure(Signal::WasteRatio)?;
            Some((p, f, f.score()?))
        })
        .collect();
    let band = a.band(role, Signal::WasteRatio);
    let upper = band.and_then(|b| b.upper(a.thresholds.elevated));
    let median = band.and_then(|b| b.median);
    let top_value = people
        .iter()
        .map(|x| x.2)
        .chain(upper)
        .fold(0.0f64, f64::max);
    let max = nice(top_value);
    let row = 22.0;
    let width = 520.0;
    let height = 60.0 + row * people.len().max(1) as f32;
    let f = Frame {
        left: 150.0,
        top: 30.0,
        w: 340.0,
        h: row * people.len().max(1) as f32,
    };
    let xs = |v: f64| f.x(v / max);
    let mut marks = vec![Mark::Text {
        x: 10.0,
        y: 16.0,
        text: format!("Waste ratio per {role} against peers"),
        size: 10.0,
        anchor: Anchor::Start,
        fill: INK,
    }];
    if let (Some(m), Some(u)) = (median, upper) {
        let lo = m.min(u);
        marks.push(Mark::Rect {
            x: xs(lo),
            y: f.top,
            w: (xs(u) - xs(lo)).max(1.0),
            h: f.h,
            fill: BAND,
        });
        marks.push(Mark::Line {
            points: vec![(xs(m), f.top), (xs(m), f.top + f.h)],
            stroke: AXIS,
            width: 1.0,
        });
    }
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        marks.push(Mark::Line {
            points: vec![(xs(v), f.top + f.h), (xs(v), f.top + f.h + 3.0)],
            stroke: AXIS,
            width: 1.0,
        });
        marks.push(Mark::Text {
            x: xs(v),
            y: f.top + f.h + 13.0,
            text: short(v),
            size: 8.0,
            anchor: Anchor::Middle,
            fill: INK,
        });
    }
    marks.push(Mark::Line {
        points: vec![(f.left, f.top + f.h), (f.left + f.w, f.top + f.h)],
        stroke: AXIS,
        width: 1.0,
    });
    let mut rows = Vec::new();
    for (i, (p, fig, v)) in people.iter().enumerate() {
        let y = f.top + row * i as f32 + row / 2.0;
        let colour = match fig.level {
            Level::High => ALERT,
            Level::Elevated => WATCH,
            Level::None => BAR,
        };
        marks.push(Mark::Text {
            x: f.left - 6.0,
            y: y + 3.0,
            text: p.name.clone(),
            size: 8.0,
            anchor: Anchor::End,
            fill: INK,
        });
        marks.push(Mark::Dot {
            x: xs(*v),
            y,
            r: 4.5,
            fill: colour,
        });
        rows.push(vec![
            p.name.clone(),
            fig.value.clone().unwrap_or_default(),
            fig.z.map_or_else(|| "—".into(), |z| format!("{z:.1}")),
            fig.level.name().into(),
        ]);
    }
    marks.push(Mark::Text {
        x: f.left + f.w / 2.0,
        y: height - 6.0,
        text: "µg wasted per µg administered".into(),
        size: 8.0,
        anchor: Anchor::Middle,
        fill: INK,
    });
    let outliers: Vec<&str> = people
        .iter()
        .filter(|x| x.1.level == Level::High)
        .map(|x| x.0.name.as_str())
        .collect();
    let desc = match (median, upper) {
        (Some(m), Some(u)) => format!(
            "Waste ratio of {} {role}s; peers' median {m:.2}, elevated from {u:.2}. {}",
            people.len(),
            if outliers.is_empty() {
                "No one is high.".to_string()
            } else {
                format!("High: {}.", outliers.join(", "))
            }
        ),
        _ => format!(
            "Waste ratio of {} {role}s; too few peers for a band.",
            people.len()
        ),
    };
    Chart {
        id: format!("chart-waste-ratio-{role}"),
        title: format!("Waste ratio per {role} against the peer band"),
        desc,
        width,
        height,
        marks,
        headers: vec![
            "Person".into(),
            "Wasted ÷ administered".into(),
            "z".into(),
            "Level".into(),
        ],
        rows,
    }
}

/// A step line over time: `points` are (time, value) and the line holds each value until
/// the next.
fn steps(
    id: String,
    title: String,
    desc: String,
    tz: &TimeZone,
    (from, to): (Timestamp, Timestamp),
    points: &[(Timestamp, f64)],
    unit: &str,
) -> (Chart, Frame, f64) {
    let (width, height) = (520.0, 200.0);
    let f = Frame {
        left: 50.0,
        top: 30.0,
        w: 450.0,
        h: 130.0,
    };
    let max = nice(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let span = (to.micros() - from.micros()).max(1) as f64;
    let xt = |t: Timestamp| f.x((t.micros() - from.micros()) as f64 / span);
    let mut marks = vec![Mark::Text {
        x: 10.0,
        y: 16.0,
        text: title.clone(),
        size: 10.0,
        anchor: Anchor::Start,
        fill: INK,
    }];
    f.axes(&mut marks, max, short);
    let mut line = Vec::new();
    for (i, (t, v)) in points.iter().enumerate() {
        let y = f.y(v / max);
        if i > 0 {
            let prev = line.last().copied().unwrap_or((xt(*t), y));
            line.push((xt(*t), prev.1));
        }
        line.push((xt(*t), y));
    }
    if let Some(&(_, y)) = line.last() {
        line.push((f.left + f.w, y));
    }
    if line.len() >= 2 {
        marks.push(Mark::Line {
            points: line,
            stroke: BAR,
            width: 1.5,
        });
    }
    for (i, t) in [from, to].iter().enumerate() {
        marks.push(Mark::Text {
            x: if i == 0 { f.left } else { f.left + f.w },
            y: f.top + f.h + 12.0,
            text: local(tz, *t, "%Y-%m-%d %H:%M"),
            size: 8.0,
            anchor: if i == 0 { Anchor::Start } else { Anchor::End },
            fill: INK,
        });
    }
    marks.push(Mark::Text {
        x: 12.0,
        y: f.top + f.h / 2.0,
        text: unit.into(),
        size: 8.0,
        anchor: Anchor::Start,
        fill: INK,
    });
    (
        Chart {
            id,
            title,
            desc,
            width,
            height,
            marks,
            headers: Vec::new(),
            rows: Vec::new(),
        },
        f,
        max,
    )
}

/// Base units as shown: µL as mL (exact, three decimals at most), units as they are.
pub fn amount(v: u64, unit: &str) -> String {
    if unit == "mL" {
        let whole = v / 1000;
        let frac = v % 1000;
        if frac == 0 {
            format!("{whole} mL")
        } else {
            let f = format!("{frac:03}");
            format!("{whole}.{} mL", f.trim_end_matches('0'))
        }
    } else {
        format!("{v} units")
    }
}

fn plot_value(v: u64, unit: &str) -> f64 {
    if unit == "mL" {
        v as f64 / 1000.0
    } else {
        v as f64
    }
}

/// On hand of one product over the period.
pub fn on_hand(s: &OnHand, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Chart {
    let pts: Vec<(Timestamp, f64)> = s
        .points
        .iter()
        .map(|(t, v, _)| (*t, plot_value(*v, s.unit)))
        .collect();
    let first = s.points.first().map(|p| p.1).unwrap_or(0);
    let last = s.points.last().map(|p| p.1).unwrap_or(0);
    let low = s.points.iter().map(|p| p.1).min().unwrap_or(0);
    let desc = format!(
        "On hand of {} from {} to {}: {} at the start, {} at the end, lowest {}; {} changes.",
        s.name,
        local(tz, from, "%Y-%m-%d"),
        local(tz, to, "%Y-%m-%d"),
        amount(first, s.unit),
        amount(last, s.unit),
        amount(low, s.unit),
        s.points.iter().filter(|p| p.2.is_some()).count()
    );
    let (mut c, _, _) = steps(
        format!("chart-on-hand-{}", s.product),
        format!("On hand: {}", s.name),
        desc,
        tz,
        (from, to),
        &pts,
        s.unit,
    );
    c.headers = vec!["Time".into(), "On hand".into(), "Entry".into()];
    c.rows = s
        .points
        .iter()
        .map(|(t, v, seq)| {
            vec![
                local(tz, *t, "%Y-%m-%d %H:%M"),
                amount(*v, s.unit),
                seq.map_or_else(|| "start".into(), |q| q.to_string()),
            ]
        })
        .collect();
    c
}

/// One container's life: what it held after each entry naming it, with a dot per entry.
pub fn timeline(t: &Timeline, tz: &TimeZone) -> Chart {
    let from = t.events.first().map_or(Timestamp::EPOCH, |e| e.at);
    let last = t.events.last().map_or(from, |e| e.at);
    let to = Timestamp::from_micros(last.micros().max(from.micros() + 60_000_000)).unwrap_or(last);
    let pts: Vec<(Timestamp, f64)> = t
        .events
        .iter()
        .map(|e| (e.at, plot_value(e.remaining, t.unit)))
        .collect();
    let kinds: Vec<String> = t.events.iter().map(|e| e.kind.to_string()).collect();
    let desc = format!(
        "Container {}: {} entries from {} to {} ({}); it holds {} after the last.",
        t.container,
        t.events.len(),
        local(tz, from, "%Y-%m-%d %H:%M"),
        local(tz, last, "%Y-%m-%d %H:%M"),
        kinds.join(", "),
        amount(t.events.last().map_or(0, |e| e.remaining), t.unit)
    );
    let (mut c, f, max) = steps(
        format!("chart-timeline-{}", t.container),
        format!("Timeline of container {}", t.container),
        desc,
        tz,
        (from, to),
        &pts,
        t.unit,
    );
    let span = (to.micros() - from.micros()).max(1) as f64;
    for e in &t.events {
        let x = f.x((e.at.micros() - from.micros()) as f64 / span);
        let y = f.y(plot_value(e.remaining, t.unit) / max);
        c.marks.push(Mark::Dot {
            x,
            y,
            r: 3.0,
            fill: ALERT,
        });
    }
    c.headers = vec![
        "Time".into(),
        "Entry".into(),
        "Kind".into(),
        "Holds after".into(),
    ];
    c.rows = t
        .events
        .iter()
        .map(|e| {
            vec![
                local(tz, e.at, "%Y-%m-%d %H:%M"),
                e.seq.to_string(),
                e.kind.to_string(),
                amount(e.remaining, t.unit),
            ]
        })
        .collect();
    c
}

/// Every chart of an analytics page or report: waste ratio bands (per role with figures),
/// doses by hour, on hand per product, the container's timeline if one was asked for.
pub fn all(a: &Analytics, tz: &TimeZone) -> Vec<Chart> {
    let mut out = Vec::new();
    for &role in Role::ALL {
        if a.people.iter().any(|p| {
            p.role == role
                && p.figure(Signal::WasteRatio)
                    .and_then(|f| f.score())
                    .is_some()
        }) {
            out.push(waste_ratio_band(a, role));
        }
    }
    out.push(doses_by_hour(a));
    for s in &a.on_hand {
        out.push(on_hand(s, tz, a.from, a.to));
    }
    if let Some(t) = &a.timeline {
        out.push(timeline(t, tz));
    }
    out
}
