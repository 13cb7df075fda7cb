//! A small page layout over printpdf: the embedded DejaVu fonts, pages with a running
//! header and a "page X of Y" footer, headings, key–value blocks, paragraphs, and tables
//! whose header repeats on every page they cross. Numbers are right-aligned by measuring
//! glyph advances. Coordinates are PDF points from the bottom-left corner (layout
//! coordinates, not quantities: the only floats here).
//!
//! Each table row is written as one text-showing operation with column offsets (a `TJ`
//! array), not one per cell: a dense page then costs a few hundred operations instead of
//! a thousand, which is what keeps a 2,500-page report within memory.

use std::sync::Arc;

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfFontHandle, Point, Pt, Rect,
    Rgb, TextItem, TextMatrix,
};

pub use crate::parts::{Parts, Sink};

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A font in the document, and its metrics for measuring.
pub struct Face {
    pub(crate) id: FontId,
    pub(crate) parsed: ParsedFont,
    /// Advance widths in thousandths of an em of the first code points (Latin, punctuation,
    /// µ, ±, dashes): measuring is the layout's inner loop.
    widths: Vec<i32>,
}

/// Code points whose widths are kept at hand.
const CACHED: u32 = 0x2200;

impl Face {
    /// `tag`: six capital letters, the subset tag (fixed, so the same report gives the same
    /// bytes).
    fn load(bytes: &[u8], tag: &str) -> Option<Face> {
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(bytes, 0, &mut warnings)?;
        let upm = f32::from(parsed.pdf_font_metrics.units_per_em.max(1));
        let widths = (0..CACHED)
            .map(|c| {
                let gid = parsed.lookup_glyph_index(c).unwrap_or(0);
                (f32::from(parsed.get_horizontal_advance(gid)) * 1000.0 / upm) as i32
            })
            .collect();
        Some(Face {
            id: FontId(tag.to_string()),
            parsed,
            widths,
        })
    }

    fn advance(&self, c: char) -> i64 {
        match self.widths.get(c as usize) {
            Some(w) => i64::from(*w),
            None => {
                let upm = f32::from(self.parsed.pdf_font_metrics.units_per_em.max(1));
                let gid = self.parsed.lookup_glyph_index(c as u32).unwrap_or(0);
                (f32::from(self.parsed.get_horizontal_advance(gid)) * 1000.0 / upm) as i64
            }
        }
    }

    /// Width of `s` at `size` points, as the PDF will set it (advances truncated to
    /// 1/1000 em, no kerning).
    pub fn width(&self, s: &str, size: f32) -> f32 {
        let thousandths: i64 = s.chars().map(|c| self.advance(c)).sum();
        thousandths as f32 / 1000.0 * size
    }
}

/// The paper a report is laid out on: one size for every page of it, landscape (the logs
/// need the width; the summary flows on from the cover on page 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    /// US Letter, 8.5 × 11 in: the default for a registrant with a US address.
    #[default]
    Letter,
    /// ISO A4, 210 × 297 mm.
    A4,
}

impl Paper {
    /// Letter for a US address (ending in a ZIP code, or naming the USA), A4 otherwise.
    pub fn for_address(address: &str) -> Paper {
        let a = address.trim().trim_end_matches('.');
        let upper = a.to_ascii_uppercase();
        let last = upper
            .rsplit([' ', ','])
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        let zip = |w: &str| {
            let (five, four) = w.split_once('-').unwrap_or((w, ""));
            five.len() == 5
                && five.chars().all(|c| c.is_ascii_digit())
                && (four.is_empty()
                    || (four.len() == 4 && four.chars().all(|c| c.is_ascii_digit())))
        };
        if zip(last)
            || matches!(last, "USA" | "US" | "U.S.A" | "U.S")
            || upper.ends_with("UNITED STATES")
            || upper.ends_with("UNITED STATES OF AMERICA")
        {
            Paper::Letter
        } else {
            Paper::A4
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Paper::Letter => "letter",
            Paper::A4 => "a4",
        }
    }

    /// Width and height, landscape.
    pub(crate) fn size(self) -> (Mm, Mm) {
        match self {
            Paper::Letter => (Mm(279.4), Mm(215.9)),
            Paper::A4 => (Mm(297.0), Mm(210.0)),
        }
    }
}

impl std::str::FromStr for Paper {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "letter" | "us-letter" => Ok(Paper::Letter),
            "a4" => Ok(Paper::A4),
            _ => Err(format!("no paper size {s:?}: choose letter or a4")),
        }
    }
}

impl std::fmt::Display for Paper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table column: title, share of the width, alignment, and the least width (points) it
/// must have so that what it holds (a product's name, a lot, a container id) is never
/// broken across lines.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: &'static str,
    pub weight: f32,
    pub align: Align,
    pub min: f32,
}

pub const fn col(title: &'static str, weight: f32) -> Column {
    Column {
        title,
        weight,
        align: Align::Left,
        min: 0.0,
    }
}

pub const fn num(title: &'static str, weight: f32) -> Column {
    Column {
        title,
        weight,
        align: Align::Right,
        min: 0.0,
    }
}

impl Column {
    /// The column, at least `min` points wide.
    pub fn at_least(mut self, min: f32) -> Column {
        self.min = min;
        self
    }
}

pub(crate) struct Page {
    pub(crate) gfx: Vec<Op>,
    pub(crate) text: Vec<Op>,
    font: Option<(bool, u32)>,
}

pub(crate) const MARGIN: f32 = 36.0;
const BODY: f32 = 8.0;
const LEADING: f32 = 10.5;
const GREY: f32 = 0.93;

/// The document being laid out.
pub struct Layout {
    pub(crate) paper: Paper,
    pub(crate) regular: Face,
    pub(crate) bold: Face,
    /// Every page (`Sink::Keep`), or only the one being laid out.
    pages: Vec<Page>,
    /// Pages already handed on (drawn into a part).
    handed: usize,
    sink: Sink,
    y: f32,
    pub(crate) running: String,
    pub(crate) title: String,
    /// The table being written, to repeat its header after a page break (shared: every row
    /// reads it while the layout is borrowed to draw).
    table: Option<Arc<(Vec<Column>, Vec<f32>)>>,
    zebra: bool,
    /// Font size and leading of table rows (dense logs use a smaller size).
    cell: (f32, f32),
}

pub(crate) fn rgb(g: f32) -> Color {
    Color::Rgb(Rgb::new(g, g, g, None))
}

impl Layout {
    /// A document titled `title`, with `running` (the registrant) in every page header,
    /// that keeps its pages (`into_parts` turns them into PDF).
    pub fn new(title: &str, running: &str, paper: Paper) -> Option<Layout> {
        Layout::with_sink(title, running, paper, Sink::Keep)
    }

    /// The same, with its finished pages going to `sink`: kept, or drawn in parts as they
    /// are finished (see `Sink`).
    pub fn with_sink(title: &str, running: &str, paper: Paper, sink: Sink) -> Option<Layout> {
        let regular = Face::load(REGULAR_TTF, "CUSTRG")?;
        let bold = Face::load(BOLD_TTF, "CUSTBD")?;
        Some(Layout {
            paper,
            regular,
            bold,
            pages: Vec::new(),
            handed: 0,
            sink,
            y: 0.0,
            running: running.to_string(),
            title: title.to_string(),
            table: None,
            zebra: false,
            cell: (BODY, LEADING),
        })
    }

    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.new_page();
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    fn dims(&self) -> (f32, f32) {
        let (w, h) = self.paper.size();
        (w.into_pt().0, h.into_pt().0)
    }

    /// The width of `s` in points, in the regular face at `size`.
    pub fn measure(&self, s: &str, size: f32) -> f32 {
        self.regular.width(s, size)
    }

    /// The width of `s` in thousandths of an em in the regular face: what `measure` scales,
    /// so the widest of several strings is the same at every size.
    pub fn em_thousandths(&self, s: &str) -> i64 {
        s.chars().map(|c| self.regular.advance(c)).sum()
    }

    /// The font size of table rows: dense logs are smaller.
    pub const DENSE: f32 = 7.0;
    pub const BODY: f32 = BODY;

    /// Starts a page; the header is drawn now, the footer when the page count is known.
    pub fn new_page(&mut self) {
        self.hand_on();
        self.pages.push(Page {
            gfx: Vec::new(),
            text: Vec::new(),
            font: None,
        });
        let (w, h) = self.dims();
        let running = self.running.clone();
        let title = self.title.clone();
        self.put(false, 7.5, MARGIN, h - 24.0, &running);
        let tw = self.regular.width(&title, 7.5);
        self.put(false, 7.5, w - MARGIN - tw, h - 24.0, &title);
        self.rule(MARGIN, h - 28.0, w - MARGIN, 0.5, 0.4);
        self.y = h - 44.0;
        self.zebra = false;
    }

    fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }

    fn set_font(&mut self, bold: bool, size: f32) {
        let key = (bold, (size * 100.0) as u32);
        let id = self.face(bold).id.clone();
        let p = self.page();
        if p.font != Some(key) {
            p.text.push(Op::SetFont {
                font: PdfFontHandle::External(id),
                size: Pt(size),
            });
            p.font = Some(key);
        }
    }

    /// Text at an absolute position (the left end of its baseline).
    fn put(&mut self, bold: bool, size: f32, x: f32, y: f32, s: &str) {
        self.set_font(bold, size);
        let p = self.page();
        p.text.push(Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(x), Pt(y)),
        });
        p.text.push(Op::ShowText {
            items: vec![TextItem::Text(s.to_string())],
        });
    }

    fn rule(&mut self, x1: f32, y: f32, x2: f32, width: f32, grey: f32) {
        let p = self.page();
        p.gfx.push(Op::SetOutlineColor { col: rgb(grey) });
        p.gfx.push(Op::SetOutlineThickness { pt: Pt(width) });
        p.gfx.push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint {
                        p: Point {
                            x: Pt(x1),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                    LinePoint {
                        p: Point {
                            x: Pt(x2),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                ],
                is_closed: false,
            },
        });
    }

    fn shade(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        let p = self.page();
        p.gfx.push(Op::SetFillColor { col: rgb(grey) });
        let mut r = Rect::from_xywh(Pt(x), Pt(y), Pt(w), Pt(h));
        r.mode = Some(PaintMode::Fill);
        p.gfx.push(Op::DrawRectangle { rectangle: r });
    }

    /// Makes room for `h` points, breaking the page (and repeating a table's header) if
    /// needed.
    fn room(&mut self, h: f32) {
        if self.y - h < MARGIN + 20.0 {
            self.new_page();
            if let Some(table) = self.table.clone() {
                self.table_header(&table.0, &table.1);
            }
        }
    }

    pub fn heading(&mut self, s: &str) {
        self.table = None;
        // A heading keeps at least a table's header and a row with it.
        self.room(64.0);
        self.y -= 6.0;
        self.put(true, 11.0, MARGIN, self.y, s);
        self.y -= 16.0;
    }

    pub fn title(&mut self, s: &str) {
        self.room(30.0);
        self.put(true, 15.0, MARGIN, self.y, s);
        self.y -= 22.0;
    }

    /// A line of text, wrapped to the page width.
    pub fn paragraph(&mut self, s: &str) {
        self.table = None;
        let (w, _) = self.dims();
        for line in wrap(&self.regular, s, BODY, w - 2.0 * MARGIN) {
            self.room(LEADING);
            self.put(false, BODY, MARGIN, self.y, &line);
            self.y -= LEADING;
        }
    }

    /// "Label: value" lines, labels in bold.
    pub fn pairs(&mut self, pairs: &[(&str, String)]) {
        self.table = None;
        let (w, _) = self.dims();
        let label_w = 130.0;
        for (k, v) in pairs {
            let lines = wrap(&self.regular, v, BODY, w - 2.0 * MARGIN - label_w);
            self.room(LEADING * lines.len().max(1) as f32);
            self.put(true, BODY, MARGIN, self.y, k);
            for l in lines {
                self.put(false, BODY, MARGIN + label_w, self.y, &l);
                self.y -= LEADING;
            }
        }
        self.y -= 4.0;
    }

    /// Column widths: shares of the page by weight, each at least its minimum (the others
    /// narrowed in proportion to make room).
    fn widths(&self, cols: &[Column]) -> Vec<f32> {
        let (w, _) = self.dims();
        let room = w - 2.0 * MARGIN;
        // A title's words are never broken either.
        let size = self.cell.0;
        let cols: Vec<Column> = cols
            .iter()
            .map(|c| {
                let word = c
                    .title
                    .split(' ')
                    .map(|t| self.bold.width(t, size))
                    .fold(0.0f32, f32::max);
                c.clone().at_least(c.min.max(word + 7.0))
            })
            .collect();
        let cols = &cols[..];
        let mut fixed = vec![false; cols.len()];
        loop {
            let taken: f32 = cols
                .iter()
                .zip(&fixed)
                .filter(|(_, f)| **f)
                .map(|(c, _)| c.min)
                .sum();
            let weight: f32 = cols
                .iter()
                .zip(&fixed)
                .filter(|(_, f)| !**f)
                .map(|(c, _)| c.weight)
                .sum();
            let share = |c: &Column| (room - taken).max(0.0) * c.weight / weight.max(f32::EPSILON);
            let mut changed = false;
            for (c, f) in cols.iter().zip(fixed.iter_mut()) {
                if !*f && share(c) < c.min {
                    *f = true;
                    changed = true;
                }
            }
            if !changed {
                return cols
                    .iter()
                    .zip(&fixed)
                    .map(|(c, f)| if *f { c.min } else { share(c) })
                    .collect();
            }
        }
    }

    fn table_header(&mut self, cols: &[Column], widths: &[f32]) {
        let (w, _) = self.dims();
        let size = self.cell.0;
        let titles: Vec<Lines> = cols
            .iter()
            .zip(widths)
            .map(|(c, cw)| Lines::of(&self.bold, c.title, size, cw - 6.0))
            .collect();
        let lines = titles.iter().map(Lines::len).max().unwrap_or(1).max(1);
        let h = LEADING * lines as f32 + 3.0;
        self.shade(MARGIN, self.y - h + LEADING, w - 2.0 * MARGIN, h, 0.82);
        for i in 0..lines {
            let line: Vec<&str> = titles.iter().map(|t| t.line(i)).collect();
            self.row_text(true, cols, widths, &line);
            self.y -= LEADING;
        }
        self.y -= 3.0;
    }

    /// Starts a dense table (7 pt rows), for long logs.
    pub fn dense_table(&mut self, cols: &[Column]) {
        self.cell = (7.0, 8.6);
        self.start_table(cols);
    }

    /// Starts a table; its header repeats on every page it crosses.
    pub fn table(&mut self, cols: &[Column]) {
        self.cell = (BODY, LEADING);
        self.start_table(cols);
    }

    fn start_table(&mut self, cols: &[Column]) {
        let widths = self.widths(cols);
        self.room(4.0 * LEADING);
        self.y -= 4.0;
        self.table_header(cols, &widths);
        self.table = Some(Arc::new((cols.to_vec(), widths)));
        self.zebra = false;
    }

    /// One line of a row as a single text operation: each cell placed by an offset from
    /// the last, left- or right-aligned in its column (each already wrapped to fit).
    fn row_text(&mut self, bold: bool, cols: &[Column], widths: &[f32], cells: &[&str]) {
        let size = self.cell.0;
        let face = self.face(bold);
        // Each cell's start and width, measured once.
        let mut placed: Vec<(f32, f32, &str)> = Vec::with_capacity(cells.len());
        let mut x = MARGIN;
        for ((c, w), s) in cols.iter().zip(widths).zip(cells) {
            if !s.is_empty() {
                let width = face.width(s, size);
                let start = match c.align {
                    Align::Left => x + 2.0,
                    Align::Right => x + w - 4.0 - width,
                };
                placed.push((start, width, s));
            }
            x += w;
        }
        let Some(first) = placed.first().map(|(x, _, _)| *x) else {
            return;
        };
        let mut items = Vec::with_capacity(2 * placed.len());
        let mut cursor = first;
        for (start, width, s) in placed {
            if !items.is_empty() {
                // A TJ offset moves left when positive, in thousandths of the font size.
                items.push(TextItem::Offset(-(start - cursor) * 1000.0 / size));
            }
            cursor = start + width;
            items.push(TextItem::Text(s.to_string()));
        }
        self.set_font(bold, size);
        let y = self.y;
        let p = self.page();
        p.text.push(Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(first), Pt(y)),
        });
        p.text.push(Op::ShowText { items });
    }

    /// A table row. Every cell wraps onto as many lines as it needs (never cut); the row is
    /// as tall as its tallest cell.
    pub fn row(&mut self, cells: &[String]) {
        let Some(table) = self.table.clone() else {
            return;
        };
        let (cols, widths) = &*table;
        let (size, leading) = self.cell;
        let wrapped: Vec<Lines> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                Lines::of(
                    &self.regular,
                    cells.get(i).map_or("", String::as_str),
                    size,
                    w - 6.0,
                )
            })
            .collect();
        let lines = wrapped.iter().map(Lines::len).max().unwrap_or(1).max(1);
        let h = leading * lines as f32;
        self.room(h);
        let (w, _) = self.dims();
        if self.zebra {
            self.shade(
                MARGIN,
                self.y - h + leading - 2.0,
                w - 2.0 * MARGIN,
                h,
                GREY,
            );
        }
        self.zebra = !self.zebra;
        for i in 0..lines {
            let line: Vec<&str> = wrapped.iter().map(|c| c.line(i)).collect();
            self.row_text(false, cols, widths, &line);
            self.y -= leading;
        }
    }

    /// A signature block to be completed by hand: each label over a rule.
    pub fn sign_lines(&mut self, labels: &[(&str, &str)]) {
        self.table = None;
        let (w, _) = self.dims();
        let width = (w - 2.0 * MARGIN - 24.0) / 2.0;
        for pair in labels.chunks(2) {
            self.room(34.0);
            self.y -= 18.0;
            for (i, (label, filled)) in pair.iter().enumerate() {
                let x = MARGIN + i as f32 * (width + 24.0);
                if !filled.is_empty() {
                    self.put(false, BODY + 1.0, x + 2.0, self.y + 3.0, filled);
                }
                self.rule(x, self.y, x + width, 0.6, 0.0);
                self.put(false, 7.0, x, self.y - 9.0, label);
            }
            self.y -= 16.0;
        }
        self.y -= 4.0;
    }

    /// A chart (`custody_analytics::chart`) drawn as vector graphics, scaled to the text
    /// width, its title above it; its description follows as a paragraph (the text
    /// alternative a reader of the PDF's text also gets).
    /// A chart under its title as a heading, kept on one page: the heading never stays
    /// alone at the foot of a page.
    pub fn figure(&mut self, c: &custody_analytics::chart::Chart) {
        let (w, _) = self.dims();
        let scale = ((w - 2.0 * MARGIN) / c.width).min(1.0);
        // The heading's own space (6 + 16) and the chart's (its height + 8).
        self.room(c.height * scale + 8.0 + 22.0);
        self.heading(&c.title);
        self.chart(c);
    }

    pub fn chart(&mut self, c: &custody_analytics::chart::Chart) {
        use custody_analytics::chart::{Anchor, Mark};
        self.table = None;
        let (w, _) = self.dims();
        let scale = ((w - 2.0 * MARGIN) / c.width).min(1.0);
        let h = c.height * scale;
        self.room(h + 8.0);
        let (left, top) = (MARGIN, self.y + LEADING);
        let at = |x: f32, y: f32| (left + x * scale, top - y * scale);
        let colour = |c: custody_analytics::chart::Rgb| {
            Color::Rgb(Rgb::new(
                f32::from(c.0) / 255.0,
                f32::from(c.1) / 255.0,
                f32::from(c.2) / 255.0,
                None,
            ))
        };
        let line = |pts: &[(f32, f32)], closed: bool| Line {
            points: pts
                .iter()
                .map(|&(x, y)| {
                    let (x, y) = at(x, y);
                    LinePoint {
                        p: Point { x: Pt(x), y: Pt(y) },
                        bezier: false,
                    }
                })
                .collect(),
            is_closed: closed,
        };
        let mut texts = Vec::new();
        let p = self.page();
        for m in &c.marks {
            match m {
                Mark::Rect { x, y, w, h, fill } => {
                    p.gfx.push(Op::SetFillColor { col: colour(*fill) });
                    let (x0, y0) = at(*x, *y + *h);
                    let mut r = Rect::from_xywh(Pt(x0), Pt(y0), Pt(*w * scale), Pt(*h * scale));
                    r.mode = Some(PaintMode::Fill);
                    p.gfx.push(Op::DrawRectangle { rectangle: r });
                }
                Mark::Line {
                    points,
                    stroke,
                    width,
                } => {
                    p.gfx.push(Op::SetOutlineColor {
                        col: colour(*stroke),
                    });
                    p.gfx.push(Op::SetOutlineThickness {
                        pt: Pt(*width * scale),
                    });
                    p.gfx.push(Op::DrawLine {
                        line: line(points, false),
                    });
                }
                Mark::Dot { x, y, r, fill } => {
                    // An octagon is a dot at this size.
                    let pts: Vec<(f32, f32)> = (0..8)
                        .map(|i| {
                            let a = std::f32::consts::PI * (2 * i + 1) as f32 / 8.0;
                            (x + r * a.cos(), y + r * a.sin())
                        })
                        .collect();
                    p.gfx.push(Op::SetFillColor { col: colour(*fill) });
                    p.gfx.push(Op::DrawPolygon {
                        polygon: printpdf::Polygon {
                            rings: vec![printpdf::PolygonRing {
                                points: line(&pts, true).points,
                            }],
                            mode: PaintMode::Fill,
                            winding_order: printpdf::WindingOrder::NonZero,
                        },
                    });
                }
                Mark::Text {
                    x,
                    y,
                    text,
                    size,
                    anchor,
                    ..
                } => texts.push((*x, *y, text.clone(), *size, *anchor)),
            }
        }
        for (x, y, text, size, anchor) in texts {
            let size = (size * scale).max(5.0);
            let tw = self.regular.width(&text, size);
            let (px, py) = at(x, y);
            let px = match anchor {
                Anchor::Start => px,
                Anchor::Middle => px - tw / 2.0,
                Anchor::End => px - tw,
            };
            self.put(false, size, px, py, &text);
        }
        self.y -= h + 4.0;
        self.paragraph(&c.desc);
    }

    /// Ends a table with a rule.
    pub fn end_table(&mut self) {
        let (w, _) = self.dims();
        self.rule(MARGIN, self.y + LEADING - 3.0, w - MARGIN, 0.5, 0.4);
        self.table = None;
        self.y -= 6.0;
    }

    /// The finished document in parts of at most `per` pages, each a document of its own
    /// with the fonts, so that only one part at a time is ever turned into PDF objects.
    /// Footers say "page X of Y" of the whole, Y drawn by the form `parts::total_form`
    /// makes (of `page_count()` pages, taken before).
    pub fn into_parts(mut self, per: usize) -> Parts {
        let pages = std::mem::take(&mut self.pages).into_iter();
        Parts::new(self, pages, per)
    }

    /// Pages so far (all of them once the document is finished).
    pub fn page_count(&self) -> usize {
        self.handed + self.pages.len()
    }

    /// Hands on the page being laid out, unless pages are kept: it is finished.
    fn hand_on(&mut self) {
        if matches!(self.sink, Sink::Keep) {
            return;
        }
        let Some(page) = self.pages.pop() else { return };
        self.handed += 1;
        let number = self.handed;
        let sink = std::mem::replace(&mut self.sink, Sink::Keep);
        self.sink = match sink {
            Sink::Stream(mut s) => {
                s.take(self, page, number);
                Sink::Stream(s)
            }
            other => other,
        };
    }

    /// Ends the document: the last page and part are handed on. Returns the number of
    /// pages; fails if a part could not be handed on.
    pub fn finish(mut self) -> Result<usize, crate::ReportError> {
        self.hand_on();
        let pages = self.page_count();
        match std::mem::replace(&mut self.sink, Sink::Keep) {
            Sink::Stream(s) => {
                s.finish(&self)?;
                Ok(pages)
            }
            _ => Ok(pages),
        }
    }
}

/// A cell's text in lines, as `wrap` breaks it. Most cells fit on one line as they are:
/// those are measured once and borrowed, not split into words and copied (laying out a long
/// log is mostly this).
enum Lines<'a> {
    One(&'a str),
    Wrapped(Vec<String>),
}

impl<'a> Lines<'a> {
    fn of(face: &Face, s: &'a str, size: f32, width: f32) -> Lines<'a> {
        let limit = (width / size * 1000.0) as i64;
        // `wrap` keeps such a line as it is: no break, no leading space to drop, nothing
        // wider than the column.
        if !s.contains('\n')
            && !s.starts_with(' ')
            && s.chars().map(|c| face.advance(c)).sum::<i64>() <= limit
        {
            return Lines::One(s);
        }
        Lines::Wrapped(wrap(face, s, size, width))
    }

    fn len(&self) -> usize {
        match self {
            Lines::One(_) => 1,
            Lines::Wrapped(l) => l.len(),
        }
    }

    /// Line `i`, empty past the last.
    fn line(&self, i: usize) -> &str {
        match self {
            Lines::One(s) if i == 0 => s,
            Lines::One(_) => "",
            Lines::Wrapped(l) => l.get(i).map_or("", String::as_str),
        }
    }
}

/// `word` in pieces no wider than `width` points (a word longer than a line is broken
/// between characters, never cut).
fn pieces(face: &Face, word: &str, size: f32, width: f32) -> Vec<String> {
    let limit = ((width / size * 1000.0) as i64).max(1);
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    for c in word.chars() {
        let a = face.advance(c);
        if used + a > limit && !piece.is_empty() {
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        piece.push(c);
        used += a;
    }
    out.push(piece);
    out
}

/// `s` in lines no wider than `width`, broken at spaces (a word longer than a line is
/// broken between characters). Nothing is ever left out.
pub fn wrap(face: &Face, s: &str, size: f32, width: f32) -> Vec<String> {
    let limit = (width / size * 1000.0) as i64;
    let space = face.advance(' ');
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        let mut used = 0i64;
        for word in para.split(' ') {
            let w: i64 = word.chars().map(|c| face.advance(c)).sum();
            if !line.is_empty() && used + space + w <= limit {
                line.push(' ');
                line.push_str(word);
                used += space + w;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut parts = pieces(face, word, size, width);
            let last = parts.pop().unwrap_or_default();
            lines.extend(parts);
            used = last.chars().map(|c| face.advance(c)).sum();
            line = last;
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell laid out without `wrap` (it fits as it is) has exactly the lines `wrap` gives:
    /// the count pass and the drawing break rows where they always did.
    #[test]
    fn a_cell_that_fits_has_the_lines_wrap_gives() {
        let l = Layout::new("t", "r", Paper::Letter).expect("fonts");
        let face = &l.regular;
        let texts = [
            "",
            " ",
            "a",
            " leading",
            "  two leading",
            "trailing ",
            "two  spaces",
            "two\nlines",
            "P-00000042",
            "container_opened",
            "Ketamine HCl 10 mg/mL 20 mL vial",
            "averyveryverylongwordthatcannotfitonanyline",
            "µg ± — ä 漢字",
        ];
        let mut fitted = 0;
        for s in texts {
            for width in [0.0, 1.0, 10.0, 30.0, 60.0, 120.0, 400.0] {
                let lines = Lines::of(face, s, 7.0, width);
                if matches!(lines, Lines::One(_)) {
                    fitted += 1;
                }
                let whole = wrap(face, s, 7.0, width);
                let got: Vec<&str> = (0..lines.len()).map(|i| lines.line(i)).collect();
                assert_eq!(got, whole, "{s:?} in {width} pt");
                assert_eq!(lines.line(lines.len()), "", "past the last line");
            }
        }
        assert!(fitted > 20, "most of these fit on one line somewhere");
    }

    /// However far down the page, a chart's heading starts the page its chart is drawn on.
    #[test]
    fn a_chart_heading_never_stays_alone_at_the_foot_of_a_page() {
        let chart = custody_analytics::chart::Chart {
            id: "c".into(),
            title: "A chart".into(),
            desc: "What it shows.".into(),
            width: 520.0,
            height: 200.0,
            marks: Vec::new(),
            headers: Vec::new(),
            rows: Vec::new(),
        };
        // Where a figure drawn at the top of a page ends.
        let mut fresh = Layout::new("t", "r", Paper::Letter).expect("fonts");
        fresh.new_page();
        fresh.figure(&chart);
        let after_whole = fresh.y;
        let mut moved_any = false;
        for lines in 0..80 {
            let mut l = Layout::new("t", "r", Paper::Letter).expect("fonts");
            l.new_page();
            for _ in 0..lines {
                l.paragraph("a line of text");
            }
            let page = l.page_count();
            l.figure(&chart);
            if l.page_count() > page {
                moved_any = true;
                // It went over whole: the new page holds the heading and the chart.
                assert!(
                    (l.y - after_whole).abs() < 0.01,
                    "{lines} lines: the heading stayed behind ({} vs {after_whole})",
                    l.y
                );
            }
        }
        assert!(moved_any, "some figure had to go over to a new page");
    }
}
