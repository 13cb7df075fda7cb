//! A part's page content streams, written here for the operations a report's pages are
//! made of: byte for byte as printpdf and lopdf would write them, but for the strings,
//! written as literal strings (half as long as printpdf's hexadecimal ones).
//!
//! printpdf turns every operation into lopdf objects, looks every character's glyph up
//! twice (once to choose the fonts' subset, once to write it) and records each character
//! as a string of its own; lopdf then writes each byte of a glyph's code through the
//! formatting machinery. For a long report that was 45 % of its CPU
//! (docs/performance.md). Here the run of operations listed in [`written_here`] that ends
//! each page — a report's whole page: rules, shading, text; not a chart's polygons — is
//! taken out before printpdf converts the part. Its characters are gathered per font and
//! shown once, on a page of their own, so that printpdf subsets the fonts exactly as it
//! would have; that page's codes give each character's code, the page is dropped, and each
//! page's run is written after whatever printpdf wrote of the page. Anything else — an
//! operation not listed, a code that cannot be read back — is left to printpdf.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use lopdf::{Object, ObjectId};
use printpdf::{
    Color, CurTransMat, FontId, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, Pt, TextItem,
    WindingOrder, XObjectId,
};

/// How a part's page contents were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Each page's final run (text, rules, shading) here, the rest by printpdf.
    Direct,
    /// Wholly by printpdf: nothing to write here, or the characters' codes could not be
    /// read back.
    Printpdf,
}

/// `doc` as PDF objects, as `PdfDocument::to_lopdf_document` makes them but for the
/// strings' form (see the module's comment).
pub(crate) fn to_lopdf(
    mut doc: PdfDocument,
    opts: &printpdf::PdfSaveOptions,
) -> (lopdf::Document, Path) {
    let mut warnings = Vec::new();
    let own = Own::of(&doc);
    let tails: Vec<Vec<Op>> = doc
        .pages
        .iter_mut()
        .map(|p| {
            let at = split(&p.ops, &own);
            p.ops.split_off(at)
        })
        .collect();
    let chars = gathered(&tails);
    if !chars.is_empty()
        && let Some(first) = doc.pages.first()
    {
        let shown: Vec<(FontId, Vec<char>)> =
            chars.into_iter().map(|(f, c)| (f, c.listed())).collect();
        doc.pages.push(sample(first, &shown));
        let mut lo = doc.to_lopdf_document(opts, &mut warnings);
        doc.pages.pop();
        if written(&mut lo, &shown, &tails).is_some() {
            return (lo, Path::Direct);
        }
    }
    // Nothing to write here, or the codes could not be read back: printpdf writes it all.
    restore(&mut doc, tails);
    (doc.to_lopdf_document(opts, &mut warnings), Path::Printpdf)
}

/// Puts back the operations taken out of each page.
fn restore(doc: &mut PdfDocument, tails: Vec<Vec<Op>>) {
    for (p, t) in doc.pages.iter_mut().zip(tails) {
        p.ops.extend(t);
    }
}

/// What a document's resources hold, as far as how printpdf writes an operation depends on
/// it.
struct Own {
    fonts: BTreeSet<FontId>,
    /// XObjects registered with the document (printpdf scales an image to its size).
    xobjects: BTreeSet<XObjectId>,
}

impl Own {
    fn of(doc: &PdfDocument) -> Own {
        Own {
            fonts: doc.resources.fonts.map.keys().cloned().collect(),
            xobjects: doc.resources.xobjects.map.keys().cloned().collect(),
        }
    }
}

/// Whether `op` is written here: a report page's operations — text with a font of the
/// document's own (a standard-14 font is encoded otherwise) and text, not glyph ids;
/// colours in RGB or grey; straight lines; rectangles; a form drawn by name that the
/// document does not hold (the footers' number of pages, `parts::TOTAL`).
fn written_here(op: &Op, own: &Own) -> bool {
    match op {
        Op::SaveGraphicsState
        | Op::RestoreGraphicsState
        | Op::StartTextSection
        | Op::EndTextSection
        | Op::SetTextMatrix { .. } => true,
        Op::SetFillColor { col } | Op::SetOutlineColor { col } => {
            matches!(col, Color::Rgb(_) | Color::Greyscale(_))
        }
        Op::SetOutlineThickness { .. } | Op::DrawRectangle { .. } => true,
        Op::DrawLine { line } => line.points.iter().all(|p| !p.bezier),
        Op::SetFont {
            font: PdfFontHandle::External(id),
            ..
        } => own.fonts.contains(id),
        Op::UseXobject { id, transform } => transform.no_auto_scale || !own.xobjects.contains(id),
        Op::ShowText { items } => items
            .iter()
            .all(|i| matches!(i, TextItem::Text(_) | TextItem::Offset(_))),
        _ => false,
    }
}

/// Where the operations written here start: the longest run at the end of `ops` of
/// operations written here in which a font is set before any text is shown (the font in
/// force before the run is printpdf's to know).
fn split(ops: &[Op], own: &Own) -> usize {
    let mut at = ops.len();
    while at > 0 && written_here(&ops[at - 1], own) {
        at -= 1;
    }
    let mut font = false;
    for (i, op) in ops.iter().enumerate().skip(at) {
        match op {
            Op::SetFont { .. } => font = true,
            Op::ShowText { .. } if !font => at = i + 1,
            _ => {}
        }
    }
    at
}

/// Characters shown with one font.
#[derive(Default)]
struct Chars {
    ascii: u128,
    other: BTreeSet<char>,
}

impl Chars {
    fn add(&mut self, s: &str) {
        for c in s.chars() {
            match u32::from(c) {
                n @ 0..128 => self.ascii |= 1 << n,
                _ => {
                    self.other.insert(c);
                }
            }
        }
    }

    fn listed(&self) -> Vec<char> {
        (0u8..128)
            .filter(|b| (self.ascii >> b) & 1 == 1)
            .map(char::from)
            .chain(self.other.iter().copied())
            .collect()
    }
}

/// The characters each font shows in `tails` (each run sets its font before showing text).
fn gathered(tails: &[Vec<Op>]) -> BTreeMap<FontId, Chars> {
    let mut out: BTreeMap<FontId, Chars> = BTreeMap::new();
    for ops in tails {
        let mut font: Option<&mut Chars> = None;
        for op in ops {
            match op {
                Op::SetFont {
                    font: PdfFontHandle::External(id),
                    ..
                } => font = Some(out.entry(id.clone()).or_default()),
                Op::ShowText { items } => {
                    if let Some(f) = font.as_deref_mut() {
                        for i in items {
                            if let TextItem::Text(t) = i {
                                f.add(t);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out.retain(|_, c| c.ascii != 0 || !c.other.is_empty());
    out
}

/// A page (of `like`'s size) showing each font's characters once, in order.
fn sample(like: &PdfPage, shown: &[(FontId, Vec<char>)]) -> PdfPage {
    let mut ops = vec![Op::StartTextSection];
    for (font, chars) in shown {
        ops.push(Op::SetFont {
            font: PdfFontHandle::External(font.clone()),
            size: Pt(1.0),
        });
        ops.push(Op::ShowText {
            items: vec![TextItem::Text(chars.iter().collect())],
        });
    }
    ops.push(Op::EndTextSection);
    PdfPage {
        media_box: like.media_box.clone(),
        trim_box: like.trim_box.clone(),
        crop_box: like.crop_box.clone(),
        ops,
    }
}

/// A character's two-byte code as written in a literal string: each byte as itself, or
/// escaped (`\(`, `\)`, `\\`, and `\r`, `\n`, which a reader would take for line ends).
#[derive(Clone, Copy)]
struct Escaped {
    bytes: [u8; 4],
    len: u8,
}

impl Escaped {
    fn of(code: [u8; 2]) -> Escaped {
        let mut e = Escaped {
            bytes: [0; 4],
            len: 0,
        };
        for b in code {
            let out: &[u8] = match b {
                b'(' => b"\\(",
                b')' => b"\\)",
                b'\\' => b"\\\\",
                b'\r' => b"\\r",
                b'\n' => b"\\n",
                _ => std::slice::from_ref(&b),
            };
            for &o in out {
                e.bytes[usize::from(e.len)] = o;
                e.len += 1;
            }
        }
        e
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Each character's code in a font.
struct Codes {
    ascii: [Option<Escaped>; 128],
    other: HashMap<char, Escaped>,
}

impl Codes {
    fn get(&self, c: char) -> Option<Escaped> {
        match u32::from(c) {
            n @ 0..128 => self.ascii[n as usize],
            _ => self.other.get(&c).copied(),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Reads each font's codes off the sample page (the part's last), drops the page, and
/// writes each page's text after printpdf's content. None when the codes cannot be read
/// back (a font printpdf did not embed, say): `lo` is then to be made again, wholly by
/// printpdf.
fn written(
    lo: &mut lopdf::Document,
    shown: &[(FontId, Vec<char>)],
    tails: &[Vec<Op>],
) -> Option<()> {
    let pages: Vec<ObjectId> = lo.get_pages().into_values().collect();
    let (&sample_id, real) = pages.split_last()?;
    if real.len() != tails.len() {
        return None;
    }
    let codes = read_codes(lo, sample_id, shown)?;
    let mut texts = Vec::with_capacity(tails.len());
    for t in tails {
        texts.push(encode(t, &codes)?);
    }
    // Every check is done: from here `lo` is changed.
    drop_page(lo, sample_id)?;
    for (page, text) in real.iter().zip(texts) {
        if text.is_empty() {
            continue;
        }
        let id = contents(lo, *page)?;
        let Some(Object::Stream(s)) = lo.objects.get_mut(&id) else {
            return None;
        };
        let mut bytes = std::mem::take(&mut s.content);
        if !bytes.is_empty() {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&text);
        s.set_content(bytes);
    }
    Some(())
}

/// The content stream of page `page`.
fn contents(lo: &lopdf::Document, page: ObjectId) -> Option<ObjectId> {
    lo.get_dictionary(page)
        .ok()?
        .get(b"Contents")
        .ok()?
        .as_reference()
        .ok()
}

/// Each font's character codes, read off the sample page's `Tj` operations.
fn read_codes(
    lo: &lopdf::Document,
    sample: ObjectId,
    shown: &[(FontId, Vec<char>)],
) -> Option<HashMap<FontId, Codes>> {
    let stream = lo
        .get_object(contents(lo, sample)?)
        .ok()?
        .as_stream()
        .ok()?;
    let content = lopdf::content::Content::decode(&stream.content).ok()?;
    let strings = content.operations.iter().filter(|o| o.operator == "Tj");
    let mut out = HashMap::new();
    let mut n = 0;
    for (op, (font, chars)) in strings.zip(shown) {
        n += 1;
        let Some(Object::String(bytes, lopdf::StringFormat::Hexadecimal)) = op.operands.first()
        else {
            return None;
        };
        if bytes.len() != 2 * chars.len() {
            return None;
        }
        let mut codes = Codes {
            ascii: [None; 128],
            other: HashMap::new(),
        };
        for (c, code) in chars.iter().zip(bytes.chunks_exact(2)) {
            let e = Escaped::of([code[0], code[1]]);
            match u32::from(*c) {
                i @ 0..128 => codes.ascii[i as usize] = Some(e),
                _ => {
                    codes.other.insert(*c, e);
                }
            }
        }
        out.insert(font.clone(), codes);
    }
    (n == shown.len()).then_some(out)
}

/// Takes page `page` (the last) out of the page tree, with its content and resources.
fn drop_page(lo: &mut lopdf::Document, page: ObjectId) -> Option<()> {
    let dict = lo.get_dictionary(page).ok()?;
    let parent = dict.get(b"Parent").ok()?.as_reference().ok()?;
    let own: Vec<ObjectId> = [&b"Contents"[..], b"Resources"]
        .iter()
        .filter_map(|k| dict.get(k).ok()?.as_reference().ok())
        .collect();
    let tree = lo.get_dictionary_mut(parent).ok()?;
    let Ok(Object::Array(kids)) = tree.get_mut(b"Kids") else {
        return None;
    };
    let before = kids.len();
    kids.retain(|k| k.as_reference().ok() != Some(page));
    let left = kids.len();
    if left + 1 != before {
        return None;
    }
    tree.set("Count", Object::Integer(left as i64));
    lo.objects.remove(&page);
    for id in own {
        lo.objects.remove(&id);
    }
    Some(())
}

/// `ops` as lopdf's content encoder writes printpdf's operations for them (each
/// operation's operands followed by a space, then its operator, operations on lines of
/// their own), strings as literal strings. None if a character has no code.
fn encode(ops: &[Op], codes: &HashMap<FontId, Codes>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(ops.len() * 24);
    let mut font: Option<&Codes> = None;
    for op in ops {
        // printpdf writes no operation for text of no items, nor for a line of no points.
        if matches!(op, Op::ShowText { items } if items.is_empty())
            || matches!(op, Op::DrawLine { line } if line.points.is_empty())
        {
            continue;
        }
        if !out.is_empty() {
            out.push(b'\n');
        }
        match op {
            Op::SaveGraphicsState => out.push(b'q'),
            Op::RestoreGraphicsState => out.push(b'Q'),
            Op::StartTextSection => out.extend_from_slice(b"BT"),
            Op::EndTextSection => out.extend_from_slice(b"ET"),
            Op::SetTextMatrix { matrix } => {
                for v in matrix.as_array() {
                    real(&mut out, v);
                    out.push(b' ');
                }
                out.extend_from_slice(b"Tm");
            }
            Op::SetFillColor { col } => colour(&mut out, col, b"rg", b"g")?,
            Op::SetOutlineColor { col } => colour(&mut out, col, b"RG", b"G")?,
            Op::SetOutlineThickness { pt } => {
                real(&mut out, pt.0);
                out.extend_from_slice(b" w");
            }
            Op::DrawLine { line } => {
                for (i, p) in line.points.iter().enumerate() {
                    if p.bezier {
                        return None;
                    }
                    if i > 0 {
                        out.push(b'\n');
                    }
                    for v in [p.p.x.0, p.p.y.0] {
                        real(&mut out, v);
                        out.push(b' ');
                    }
                    out.push(if i == 0 { b'm' } else { b'l' });
                }
                out.extend_from_slice(if line.is_closed { b"\nh\nS" } else { b"\nS" });
            }
            Op::DrawRectangle { rectangle: r } => {
                for v in [r.x.0, r.y.0, r.width.0, r.height.0] {
                    real(&mut out, v);
                    out.push(b' ');
                }
                out.extend_from_slice(b"re");
                let winding = r.winding_order.unwrap_or(WindingOrder::NonZero);
                let paint: &[&str] = match r.mode {
                    Some(PaintMode::Clip) => &[winding.get_clip_op(), "n"],
                    Some(PaintMode::Fill) => &[winding.get_fill_op()],
                    Some(PaintMode::Stroke) => &["S"],
                    Some(PaintMode::FillStroke) => &[winding.get_fill_stroke_op()],
                    None => match r.winding_order {
                        Some(WindingOrder::NonZero) => &["W", "n"],
                        Some(WindingOrder::EvenOdd) => &["W*", "n"],
                        None => &["n"],
                    },
                };
                for op in paint {
                    out.push(b'\n');
                    out.extend_from_slice(op.as_bytes());
                }
            }
            Op::UseXobject { id, transform } => {
                // As printpdf combines the transform's matrices (none is an image's scale:
                // see `written_here`).
                let m = transform
                    .get_ctms(None)
                    .iter()
                    .fold(CurTransMat::Identity.as_array(), |t, q| {
                        CurTransMat::combine_matrix(t, q.as_array())
                    });
                out.extend_from_slice(b"q\n");
                for v in m {
                    real(&mut out, v);
                    out.push(b' ');
                }
                out.extend_from_slice(b"cm\n");
                name(&mut out, id.0.as_bytes());
                out.extend_from_slice(b" Do\nQ");
            }
            Op::SetFont {
                font: PdfFontHandle::External(id),
                size,
            } => {
                // A font with nothing shown has no codes, and needs none.
                font = codes.get(id);
                name(&mut out, id.0.as_bytes());
                out.push(b' ');
                real(&mut out, size.0);
                out.extend_from_slice(b" Tf");
            }
            Op::ShowText { items } => {
                let codes = font?;
                if let [TextItem::Text(t)] = items.as_slice() {
                    string(&mut out, t, codes)?;
                    out.extend_from_slice(b" Tj");
                } else {
                    out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            TextItem::Text(t) => string(&mut out, t, codes)?,
                            TextItem::Offset(o) => {
                                if i > 0 {
                                    out.push(b' ');
                                }
                                real(&mut out, *o);
                            }
                            TextItem::GlyphIds(_) => return None,
                        }
                    }
                    out.extend_from_slice(b"] TJ");
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A colour: its components, then `rgb` or `grey` (the operator for either space).
fn colour(out: &mut Vec<u8>, col: &Color, rgb: &[u8], grey: &[u8]) -> Option<()> {
    let op = match col {
        Color::Rgb(_) => rgb,
        Color::Greyscale(_) => grey,
        _ => return None,
    };
    for v in col.into_vec() {
        real(out, v);
        out.push(b' ');
    }
    out.extend_from_slice(op);
    Some(())
}

/// A number as lopdf writes a real: Rust's shortest form that reads back the same, never
/// with an exponent. ryu finds the same digits faster; it writes `36.0` where `Display`
/// writes `36`, and an exponent for very small or large numbers, where `Display` is used.
fn real(out: &mut Vec<u8>, v: f32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format(v).as_bytes();
    if !v.is_finite() || s.contains(&b'e') {
        // Writing to memory cannot fail.
        let _ = write!(out, "{v}");
        return;
    }
    out.extend_from_slice(s.strip_suffix(b".0").unwrap_or(s));
}

/// Text as a literal string of its characters' codes. printpdf writes a hexadecimal
/// string (four digits a character): a literal one is half as long, and deflate, the
/// largest cost left in a report, takes about half the time over it for a smaller file.
fn string(out: &mut Vec<u8>, s: &str, codes: &Codes) -> Option<()> {
    out.push(b'(');
    for c in s.chars() {
        out.extend_from_slice(codes.get(c)?.as_bytes());
    }
    out.push(b')');
    Some(())
}

/// A name as lopdf writes one: delimiters, white space and bytes outside `!`–`~` as `#XX`.
fn name(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'/');
    for &b in bytes {
        if b" \t\n\r\x0C()<>[]{}/%#".contains(&b) || !(33..=126).contains(&b) {
            out.extend_from_slice(&[b'#', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, Paper, col, num};

    fn opts() -> printpdf::PdfSaveOptions {
        printpdf::PdfSaveOptions {
            optimize: true,
            subset_fonts: true,
            secure: true,
            image_optimization: None,
        }
    }

    /// Every page's content of `part`, one after another.
    fn contents_of(part: &lopdf::Document) -> Vec<u8> {
        let mut out = Vec::new();
        for page in part.get_pages().into_values() {
            let id = contents(part, page).expect("a content stream");
            let s = part
                .get_object(id)
                .and_then(Object::as_stream)
                .expect("a stream");
            out.extend_from_slice(&s.content);
            out.push(b'\n');
        }
        out
    }

    /// `part` written alone as a PDF, with a fixed file identifier (printpdf's is random),
    /// and its pages' strings as hexadecimal strings: what they hold, however written.
    fn bytes(mut part: lopdf::Document) -> Vec<u8> {
        for page in part.get_pages().into_values() {
            let id = contents(&part, page).expect("a content stream");
            let Some(Object::Stream(s)) = part.objects.get_mut(&id) else {
                panic!("no content stream");
            };
            let mut content = lopdf::content::Content::decode(&s.content).expect("content");
            for op in &mut content.operations {
                for o in &mut op.operands {
                    hexadecimal(o);
                }
            }
            s.set_content(content.encode().expect("encoded"));
        }
        let mut w = crate::writer::Writer::new(Vec::new()).expect("a header");
        w.set_id(Object::Array(vec![
            Object::String(b"id".to_vec(), lopdf::StringFormat::Literal),
            Object::String(b"id".to_vec(), lopdf::StringFormat::Literal),
        ]));
        w.part(part).expect("written");
        w.finish().expect("finished")
    }

    fn hexadecimal(o: &mut Object) {
        match o {
            Object::String(_, f) => *f = lopdf::StringFormat::Hexadecimal,
            Object::Array(a) => a.iter_mut().for_each(hexadecimal),
            _ => {}
        }
    }

    /// Each part of `layout`, written with its pages here and wholly by printpdf: the same
    /// bytes, but for the strings' form. Returns how each was written.
    fn same_as_printpdf(layout: Layout, per: usize) -> Vec<Path> {
        let mut paths = Vec::new();
        for doc in layout.into_parts(per) {
            let mut warnings = Vec::new();
            let theirs = doc.to_lopdf_document(&opts(), &mut warnings);
            let (ours, path) = to_lopdf(doc, &opts());
            let (ours, theirs) = (bytes(ours), bytes(theirs));
            assert!(
                ours == theirs,
                "part {} ({path:?}) differs from printpdf's:\n{}\n---\n{}",
                paths.len(),
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            paths.push(path);
        }
        paths
    }

    #[test]
    fn a_reports_pages_are_written_as_printpdf_writes_them() {
        let report = || {
            let mut l =
                Layout::new("A title", "Lakeside Clinic — audit", Paper::Letter).expect("fonts");
            l.title("Audit report (ketamine 10 mg/mL)");
            // Over a hundred characters, so that some codes are bytes a literal string
            // escapes: ( ) \ and line ends.
            l.paragraph(
                &(' '..='~')
                    .chain('Α'..='ω')
                    .chain('А'..='я')
                    .collect::<String>(),
            );
            l.heading("Stock · µg ± — «Ωμέγα» Ünïcödé 漢字");
            l.paragraph(
                "A paragraph long enough to wrap over several lines, with (parentheses), \\ a \
                 backslash, <angles>, [brackets], #hash, %percent and 100 % µg.",
            );
            l.pairs(&[
                ("Registrant", "Lakeside".into()),
                ("DEA", "AB1234563".into()),
            ]);
            l.dense_table(&[
                num("Seq", 0.5),
                col("Kind", 1.0),
                num("Quantity", 1.0),
                col("Detail", 4.0),
            ]);
            for i in 0..400 {
                l.row(&[
                    i.to_string(),
                    ["dose", "waste", "receipt"][i % 3].into(),
                    format!("{} µg", i * 1250),
                    if i % 9 == 0 {
                        "a long detail that wraps over the column's width ".repeat(4)
                    } else {
                        format!("vial C{i}-1, 35 mg given")
                    },
                ]);
            }
            l.end_table();
            l.sign_lines(&[("Pharmacist", "signature"), ("Witness", "signature")]);
            l
        };
        let paths = same_as_printpdf(report(), 3);
        assert!(paths.len() >= 3, "{} parts", paths.len());
        assert!(
            paths.iter().all(|p| *p == Path::Direct),
            "every part's text written here: {paths:?}"
        );
        // Written as literal strings, escaped where they must be.
        let first = report().into_parts(3).next().expect("a part");
        let raw = contents_of(&to_lopdf(first, &opts()).0);
        let has = |b: &[u8]| raw.windows(b.len()).any(|w| w == b);
        assert!(has(b") Tj") && !has(b"> Tj"), "literal strings");
        for escaped in [&b"\\("[..], b"\\)", b"\\\\", b"\\r", b"\\n"] {
            assert!(has(escaped), "{} escaped", String::from_utf8_lossy(escaped));
        }
    }

    fn point(x: f32, y: f32, bezier: bool) -> printpdf::LinePoint {
        printpdf::LinePoint {
            p: printpdf::Point { x: Pt(x), y: Pt(y) },
            bezier,
        }
    }

    fn line(points: Vec<printpdf::LinePoint>, is_closed: bool) -> Op {
        Op::DrawLine {
            line: printpdf::Line { points, is_closed },
        }
    }

    #[test]
    fn graphics_of_every_kind_are_written_as_printpdf_writes_them() {
        let mut l = Layout::new("t", "r", Paper::A4).expect("fonts");
        l.paragraph("a first page");
        l.new_page();
        l.paragraph("a second page");
        let mut doc = l.into_parts(10).next().expect("a part");
        assert_eq!(doc.pages.len(), 2);
        let font = PdfFontHandle::External(
            doc.resources
                .fonts
                .map
                .keys()
                .next()
                .expect("a font")
                .clone(),
        );
        let rect = |mode, winding| {
            let mut r = printpdf::Rect::from_xywh(Pt(1.5), Pt(2.25), Pt(30.0), Pt(0.1));
            r.mode = mode;
            r.winding_order = winding;
            Op::DrawRectangle { rectangle: r }
        };
        // Page 1: a polygon and a curve (printpdf's), then a run written here.
        let mut first = vec![
            Op::DrawPolygon {
                polygon: printpdf::Polygon {
                    rings: vec![printpdf::PolygonRing {
                        points: vec![
                            point(0.0, 0.0, false),
                            point(5.0, 5.0, false),
                            point(9.0, 0.5, false),
                        ],
                    }],
                    mode: PaintMode::Fill,
                    winding_order: WindingOrder::NonZero,
                },
            },
            line(
                vec![
                    point(0.0, 0.0, false),
                    point(1.0, 2.0, true),
                    point(3.0, 4.0, true),
                    point(5.0, 6.0, false),
                ],
                false,
            ),
        ];
        first.append(&mut doc.pages[0].ops);
        first.extend([
            Op::SetFillColor {
                col: Color::Greyscale(printpdf::Greyscale::new(0.5, None)),
            },
            rect(None, None),
            rect(None, Some(WindingOrder::NonZero)),
            rect(None, Some(WindingOrder::EvenOdd)),
            rect(Some(PaintMode::Clip), Some(WindingOrder::EvenOdd)),
            rect(Some(PaintMode::Fill), Some(WindingOrder::EvenOdd)),
            rect(Some(PaintMode::Stroke), None),
            rect(Some(PaintMode::FillStroke), None),
            Op::SetOutlineColor {
                col: Color::Greyscale(printpdf::Greyscale::new(0.25, None)),
            },
            Op::SetOutlineThickness { pt: Pt(0.75) },
            // A form drawn by name, scaled and rotated as well as moved.
            Op::UseXobject {
                id: XObjectId("Form one".into()),
                transform: printpdf::XObjectTransform {
                    translate_x: Some(Pt(10.5)),
                    translate_y: Some(Pt(-3.25)),
                    scale_x: Some(1.5),
                    rotate: Some(printpdf::XObjectRotation {
                        angle_ccw_degrees: 30.0,
                        rotation_center_x: printpdf::Px(2),
                        rotation_center_y: printpdf::Px(3),
                    }),
                    ..Default::default()
                },
            },
            line(
                vec![
                    point(1.0, 1.0, false),
                    point(2.0, 1.0, false),
                    point(2.0, 3.0, false),
                ],
                true,
            ),
            line(Vec::new(), false),
            Op::StartTextSection,
            Op::SetFont {
                font,
                size: Pt(6.5),
            },
            Op::ShowText { items: Vec::new() },
            Op::ShowText {
                items: vec![
                    TextItem::Offset(-120.5),
                    TextItem::Text("after an offset".into()),
                ],
            },
            Op::EndTextSection,
        ]);
        doc.pages[0].ops = first;
        assert_eq!(
            split(&doc.pages[0].ops, &Own::of(&doc)),
            2,
            "all but the polygon and the curve written here"
        );
        // Page 2 ends in a colour printpdf writes: the whole page is printpdf's.
        doc.pages[1].ops.push(Op::SetFillColor {
            col: Color::Cmyk(printpdf::Cmyk::new(0.1, 0.2, 0.3, 0.4, None)),
        });

        let mut warnings = Vec::new();
        let theirs = bytes(doc.to_lopdf_document(&opts(), &mut warnings));
        let (ours, path) = to_lopdf(doc, &opts());
        assert_eq!(path, Path::Direct);
        let ours = bytes(ours);
        assert!(
            ours == theirs,
            "differs from printpdf's:\n{}\n---\n{}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn text_printpdf_must_write_is_left_to_it() {
        // A character neither font has: printpdf writes the missing glyph's code.
        let missing = '\u{1F9EA}';
        let l = Layout::new("t", "r", Paper::A4).expect("fonts");
        assert!(
            l.regular
                .parsed
                .lookup_glyph_index(u32::from(missing))
                .is_none(),
            "the test needs a character the font lacks"
        );
        let mut l = Layout::new("t", "r", Paper::A4).expect("fonts");
        l.paragraph(&format!("a test tube {missing} among text"));
        assert_eq!(same_as_printpdf(l, 10), [Path::Direct]);

        // Text shown before any font is set in the run (the font in force is printpdf's to
        // know), and a standard-14 font.
        let mut l = Layout::new("t", "r", Paper::A4).expect("fonts");
        l.paragraph("some text");
        let mut doc = l.into_parts(10).next().expect("a part");
        doc.pages[0].ops.extend([
            Op::StartTextSection,
            Op::ShowText {
                items: vec![TextItem::Text("in the font before".into())],
            },
            Op::SetFont {
                font: PdfFontHandle::Builtin(printpdf::BuiltinFont::Helvetica),
                size: Pt(9.0),
            },
            Op::ShowText {
                items: vec![TextItem::Text("in Helvetica".into())],
            },
            Op::EndTextSection,
        ]);
        let mut warnings = Vec::new();
        let theirs = bytes(doc.to_lopdf_document(&opts(), &mut warnings));
        let (ours, path) = to_lopdf(doc, &opts());
        assert_eq!(path, Path::Printpdf);
        assert!(bytes(ours) == theirs);
    }

    #[test]
    fn a_number_is_written_as_display_writes_it() {
        let mut odd = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            36.0,
            0.1,
            0.93,
            7.5,
            -120.5,
            1e-7,
            3.4e-5,
            123_456_790.0,
            1e20,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::EPSILON,
            f32::NAN,
            f32::INFINITY,
        ];
        // Layout positions: every hundredth of a point over a page, and their sums.
        odd.extend((0..80_000).map(|i| i as f32 / 100.0));
        odd.extend((0..10_000).map(|i| 36.0 + i as f32 * 0.37 - 1000.0));
        for v in odd {
            let mut out = Vec::new();
            real(&mut out, v);
            assert_eq!(String::from_utf8(out).expect("text"), v.to_string());
        }
    }

    #[test]
    fn only_the_run_ending_a_page_is_written_here() {
        let own = Own {
            fonts: BTreeSet::from([FontId("F".into())]),
            xobjects: BTreeSet::from([XObjectId("IMG".into())]),
        };
        let set = Op::SetFont {
            font: PdfFontHandle::External(FontId("F".into())),
            size: Pt(8.0),
        };
        let show = Op::ShowText {
            items: vec![TextItem::Text("x".into())],
        };
        let line = Op::AddLineBreak;
        let ops = vec![
            line.clone(),
            Op::SaveGraphicsState,
            Op::StartTextSection,
            set.clone(),
            show.clone(),
            Op::EndTextSection,
            Op::RestoreGraphicsState,
        ];
        assert_eq!(split(&ops, &own), 1);
        // Text before the run's first font.
        let ops = vec![line.clone(), show.clone(), set.clone(), show.clone()];
        assert_eq!(split(&ops, &own), 2);
        // A font the document does not hold.
        let other = Op::SetFont {
            font: PdfFontHandle::External(FontId("G".into())),
            size: Pt(8.0),
        };
        let ops = vec![set.clone(), show.clone(), other, show.clone()];
        assert_eq!(split(&ops, &own), 4);
        assert_eq!(split(&[], &own), 0);
        // A form drawn by name is written here; an XObject the document holds (an image,
        // which printpdf scales to its size) is not.
        let form = |id: &str| Op::UseXobject {
            id: XObjectId(id.into()),
            transform: printpdf::XObjectTransform {
                translate_x: Some(Pt(3.0)),
                ..Default::default()
            },
        };
        let ops = vec![line.clone(), set.clone(), show.clone(), form("CUSTTOT")];
        assert_eq!(split(&ops, &own), 1);
        let ops = vec![
            set.clone(),
            show.clone(),
            form("IMG"),
            set.clone(),
            show.clone(),
        ];
        assert_eq!(split(&ops, &own), 3);
    }
}
