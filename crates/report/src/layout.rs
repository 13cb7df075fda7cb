//! A small page layout over printpdf: the embedded DejaVu fonts, pages with a running
//! header and a "page X of Y" footer, headings, key–value blocks, paragraphs, and tables
//! whose header repeats on every page they cross. Numbers are right-aligned by measuring
//! glyph advances. Coordinates are PDF points from the bottom-left corner (layout
//! coordinates, not quantities: the only floats here).
//!
//! Each table row is written as one text-showing operation with column offsets (a `TJ`
//! array), not one per cell: a dense page then costs a few hundred operations instead of
//! a thousand, which is what keeps a 2,500-page report within memory.

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFont,
    PdfFontHandle, PdfPage, Point, Pt, Rect, Rgb, TextItem, TextMatrix,
};

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A font in the document, and its metrics for measuring.
pub struct Face {
    id: FontId,
    parsed: ParsedFont,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// A4 portrait, for summaries.
    Portrait,
    /// US Letter landscape, for logs.
    Landscape,
}

impl Orientation {
    fn size(self) -> (Mm, Mm) {
        match self {
            Orientation::Portrait => (Mm(210.0), Mm(297.0)),
            Orientation::Landscape => (Mm(279.4), Mm(215.9)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table column: title, share of the width, alignment.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: &'static str,
    pub weight: f32,
    pub align: Align,
}

pub const fn col(title: &'static str, weight: f32) -> Column {
    Column {
        title,
        weight,
        align: Align::Left,
    }
}

pub const fn num(title: &'static str, weight: f32) -> Column {
    Column {
        title,
        weight,
        align: Align::Right,
    }
}

struct Page {
    orientation: Orientation,
    gfx: Vec<Op>,
    text: Vec<Op>,
    font: Option<(bool, u32)>,
}

const MARGIN: f32 = 36.0;
const BODY: f32 = 8.0;
const LEADING: f32 = 10.5;
const GREY: f32 = 0.93;

/// The document being laid out.
pub struct Layout {
    regular: Face,
    bold: Face,
    pages: Vec<Page>,
    y: f32,
    running: String,
    title: String,
    /// The table being written, to repeat its header after a page break.
    table: Option<(Vec<Column>, Vec<f32>)>,
    zebra: bool,
    /// Font size and leading of table rows (dense logs use a smaller size).
    cell: (f32, f32),
}

fn rgb(g: f32) -> Color {
    Color::Rgb(Rgb::new(g, g, g, None))
}

impl Layout {
    /// A document titled `title`, with `running` (the registrant) in every page header.
    pub fn new(title: &str, running: &str) -> Option<Layout> {
        let regular = Face::load(REGULAR_TTF, "CUSTRG")?;
        let bold = Face::load(BOLD_TTF, "CUSTBD")?;
        Some(Layout {
            regular,
            bold,
            pages: Vec::new(),
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
            self.new_page(Orientation::Portrait);
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    fn dims(&self) -> (f32, f32) {
        let o = self
            .pages
            .last()
            .map_or(Orientation::Portrait, |p| p.orientation);
        let (w, h) = o.size();
        (w.into_pt().0, h.into_pt().0)
    }

    /// Starts a page; the header is drawn now, the footer when the page count is known.
    pub fn new_page(&mut self, orientation: Orientation) {
        self.pages.push(Page {
            orientation,
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
            let o = self
                .pages
                .last()
                .map_or(Orientation::Portrait, |p| p.orientation);
            self.new_page(o);
            if let Some((cols, widths)) = self.table.clone() {
                self.table_header(&cols, &widths);
            }
        }
    }

    pub fn heading(&mut self, s: &str) {
        self.table = None;
        self.room(40.0);
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

    fn widths(&self, cols: &[Column]) -> Vec<f32> {
        let (w, _) = self.dims();
        let total: f32 = cols.iter().map(|c| c.weight).sum();
        cols.iter()
            .map(|c| (w - 2.0 * MARGIN) * c.weight / total)
            .collect()
    }

    fn table_header(&mut self, cols: &[Column], widths: &[f32]) {
        let (w, _) = self.dims();
        let h = LEADING + 3.0;
        self.shade(MARGIN, self.y - 3.0, w - 2.0 * MARGIN, h, 0.82);
        let titles: Vec<String> = cols.iter().map(|c| c.title.to_string()).collect();
        self.row_text(true, cols, widths, &titles);
        self.y -= h;
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
        self.room(3.0 * LEADING);
        self.table_header(cols, &widths);
        self.table = Some((cols.to_vec(), widths));
        self.zebra = false;
    }

    /// One line of a row as a single text operation: each cell placed by an offset from
    /// the last, left- or right-aligned in its column, cut to fit.
    fn row_text(&mut self, bold: bool, cols: &[Column], widths: &[f32], cells: &[String]) {
        let size = self.cell.0;
        let face = self.face(bold);
        let mut placed: Vec<(f32, String)> = Vec::new();
        let mut x = MARGIN;
        for ((c, w), s) in cols.iter().zip(widths).zip(cells) {
            let s = fit(face, s, size, w - 6.0);
            if !s.is_empty() {
                let start = match c.align {
                    Align::Left => x + 2.0,
                    Align::Right => x + w - 4.0 - face.width(&s, size),
                };
                placed.push((start, s));
            }
            x += w;
        }
        let Some(first) = placed.first().map(|(x, _)| *x) else {
            return;
        };
        let mut items = Vec::new();
        let mut cursor = first;
        for (start, s) in placed {
            if !items.is_empty() {
                // A TJ offset moves left when positive, in thousandths of the font size.
                items.push(TextItem::Offset(-(start - cursor) * 1000.0 / size));
            }
            cursor = start + face.width(&s, size);
            items.push(TextItem::Text(s));
        }
        self.set_font(bold, size);
        let y = self.y;
        let p = self.page();
        p.text.push(Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(first), Pt(y)),
        });
        p.text.push(Op::ShowText { items });
    }

    /// A table row. The last column wraps onto more lines when it is long (details);
    /// the others are cut to fit.
    pub fn row(&mut self, cells: &[String]) {
        let Some((cols, widths)) = self.table.clone() else {
            return;
        };
        let last = cols.len().saturating_sub(1);
        let (size, leading) = self.cell;
        let wrapped = wrap(
            &self.regular,
            cells.get(last).map_or("", |s| s.as_str()),
            size,
            widths[last] - 6.0,
        );
        let lines = wrapped.len().max(1);
        let h = leading * lines as f32;
        self.room(h);
        let (w, _) = self.dims();
        if self.zebra {
            self.shade(
                MARGIN,
                self.y - h + LEADING - 3.0,
                w - 2.0 * MARGIN,
                h,
                GREY,
            );
        }
        self.zebra = !self.zebra;
        for (i, l) in wrapped.iter().enumerate().take(lines) {
            let mut line: Vec<String> = if i == 0 {
                cells.to_vec()
            } else {
                vec![String::new(); cols.len()]
            };
            line.resize(cols.len(), String::new());
            line[last] = l.clone();
            self.row_text(false, &cols, &widths, &line);
            self.y -= leading;
        }
        if wrapped.is_empty() {
            self.row_text(false, &cols, &widths, cells);
            self.y -= leading;
        }
    }

    /// A chart (`custody_analytics::chart`) drawn as vector graphics, scaled to the text
    /// width, its title above it; its description follows as a paragraph (the text
    /// alternative a reader of the PDF's text also gets).
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
        {
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
    /// Footers say "page X of Y" of the whole.
    pub fn into_parts(self, per: usize) -> Parts {
        let total = self.pages.len();
        Parts {
            pages: self.pages.into_iter(),
            total,
            done: 0,
            per: per.max(1),
            title: self.title,
            running: self.running,
            regular: self.regular,
            bold: self.bold,
        }
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }
}

/// `s` cut (with an ellipsis) to fit `width` points.
fn fit(face: &Face, s: &str, size: f32, width: f32) -> String {
    if face.width(s, size) <= width {
        return s.to_string();
    }
    let limit = (width / size * 1000.0) as i64 - face.advance('…');
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        used += face.advance(c);
        if used > limit {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` in lines no wider than `width`, broken at spaces (a word longer than a line is cut).
pub fn wrap(face: &Face, s: &str, size: f32, width: f32) -> Vec<String> {
    let limit = (width / size * 1000.0) as i64;
    let space = face.advance(' ');
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        let mut used = 0i64;
        for word in para.split(' ') {
            let w: i64 = word.chars().map(|c| face.advance(c)).sum();
            if line.is_empty() {
                line.push_str(word);
                used = w;
            } else if used + space + w <= limit {
                line.push(' ');
                line.push_str(word);
                used += space + w;
            } else {
                lines.push(fit(face, &std::mem::take(&mut line), size, width));
                line.push_str(word);
                used = w;
            }
        }
        lines.push(fit(face, &line, size, width));
    }
    lines
}

/// The parts of a finished document (see `Layout::into_parts`).
pub struct Parts {
    pages: std::vec::IntoIter<Page>,
    total: usize,
    done: usize,
    per: usize,
    title: String,
    running: String,
    regular: Face,
    bold: Face,
}

impl Parts {
    fn finish_page(&self, mut p: Page, number: usize) -> PdfPage {
        let (w, _) = p.orientation.size();
        let w = w.into_pt().0;
        let footer = format!("page {number} of {}", self.total);
        let fw = self.regular.width(&footer, 7.5);
        p.text.push(Op::SetFont {
            font: PdfFontHandle::External(self.regular.id.clone()),
            size: Pt(7.5),
        });
        p.text.push(Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(w - MARGIN - fw), Pt(MARGIN - 12.0)),
        });
        p.text.push(Op::ShowText {
            items: vec![TextItem::Text(footer)],
        });
        p.text.push(Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(MARGIN), Pt(MARGIN - 12.0)),
        });
        p.text.push(Op::ShowText {
            items: vec![TextItem::Text(self.running.clone())],
        });
        let mut ops = p.gfx;
        ops.push(Op::SaveGraphicsState);
        ops.push(Op::SetFillColor { col: rgb(0.0) });
        ops.push(Op::StartTextSection);
        ops.extend(p.text);
        ops.push(Op::EndTextSection);
        ops.push(Op::RestoreGraphicsState);
        let (pw, ph) = p.orientation.size();
        PdfPage::new(pw, ph, ops)
    }
}

impl Iterator for Parts {
    type Item = PdfDocument;

    fn next(&mut self) -> Option<PdfDocument> {
        let mut pages = Vec::with_capacity(self.per);
        while pages.len() < self.per {
            let Some(p) = self.pages.next() else { break };
            self.done += 1;
            pages.push(self.finish_page(p, self.done));
        }
        if pages.is_empty() {
            return None;
        }
        let mut doc = PdfDocument::new(&self.title);
        for f in [&self.regular, &self.bold] {
            doc.resources
                .fonts
                .map
                .insert(f.id.clone(), PdfFont::new(f.parsed.clone()));
        }
        doc.with_pages(pages);
        Some(doc)
    }
}
