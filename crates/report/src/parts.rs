//! Finished pages: their "page X of Y" footers, and the parts of a document they are
//! gathered into, each a printpdf document of its own with the fonts (printpdf holds a
//! whole document in memory, twice while saving, so a long report is never one).
//!
//! A short document keeps its pages and is cut into parts at the end (`Layout::into_parts`).
//! A long one is drawn once (`Sink::Stream`), each part handed on as soon as its last page
//! is finished — so memory holds a part or two of pages, however long the ledger. Neither
//! needs the number of pages while drawing: every footer draws "Y" with one form XObject
//! ([`TOTAL`]), written once the last page is ([`total_form`]). The parts, converted to PDF
//! objects by worker threads, come back out of order; `InOrder` hands them on in order.

use std::collections::BTreeMap;

use printpdf::{
    Op, PdfDocument, PdfFont, PdfFontHandle, PdfPage, Pt, TextItem, TextMatrix, XObjectId,
    XObjectTransform,
};

use crate::ReportError;
use crate::layout::{Layout, MARGIN, Page, rgb};

/// The name under which every page's footer draws the document's number of pages: a form
/// XObject every page's resources name (`Writer::name_on_every_page`), written once the
/// last page is. A long report used to be laid out twice, once only to count its pages
/// for the footers — a third of its time on one core (docs/performance.md).
pub const TOTAL: &str = "CUSTTOT";

/// The footers' font size.
const FOOT: f32 = 7.5;

/// What a layout does with each page once it is finished.
pub enum Sink {
    /// Keeps it (`Layout::into_parts` afterwards).
    Keep,
    /// Draws its footer and hands it on in parts.
    Stream(Stream),
}

/// Where a drawn part goes: a worker that turns it into PDF objects, say.
pub type Handoff = Box<dyn FnMut(PdfDocument) -> Result<(), ReportError> + Send>;

/// Pages being gathered into parts of `per`.
pub struct Stream {
    per: usize,
    pages: Vec<PdfPage>,
    send: Handoff,
    /// The first part that could not be handed on: later parts are dropped, and `finish`
    /// says why.
    failed: Option<ReportError>,
}

impl Sink {
    /// Draws a document, handing each part of `per` pages to `send` as soon as it is
    /// finished.
    pub fn stream(per: usize, send: Handoff) -> Sink {
        Sink::Stream(Stream {
            per: per.max(1),
            pages: Vec::with_capacity(per.max(1)),
            send,
            failed: None,
        })
    }
}

impl Stream {
    /// Takes finished page `number` of `layout`.
    pub(crate) fn take(&mut self, layout: &Layout, page: Page, number: usize) {
        self.pages.push(footed(layout, page, number));
        if self.pages.len() >= self.per {
            self.hand(layout);
        }
    }

    fn hand(&mut self, layout: &Layout) {
        let pages = std::mem::replace(&mut self.pages, Vec::with_capacity(self.per));
        if pages.is_empty() || self.failed.is_some() {
            return;
        }
        if let Err(e) = (self.send)(document(layout, pages)) {
            self.failed = Some(e);
        }
    }

    /// Hands on the last part; fails if a part could not be handed on.
    pub(crate) fn finish(mut self, layout: &Layout) -> Result<(), ReportError> {
        self.hand(layout);
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Page `p`, number `number`, with its footer, ready for a part: "page X of " at the left
/// margin, the number of pages right after it by the form [`TOTAL`] (so the footer's
/// length need not be known), the registrant at the right margin.
fn footed(l: &Layout, mut p: Page, number: usize) -> PdfPage {
    let (w, _) = l.paper.size();
    let w = w.into_pt().0;
    let y = MARGIN - 12.0;
    let footer = format!("page {number} of ");
    let fw = l.regular.width(&footer, FOOT);
    let rw = l.regular.width(&l.running, FOOT);
    p.text.push(Op::SetFont {
        font: PdfFontHandle::External(l.regular.id.clone()),
        size: Pt(FOOT),
    });
    p.text.push(Op::SetTextMatrix {
        matrix: TextMatrix::Translate(Pt(MARGIN), Pt(y)),
    });
    p.text.push(Op::ShowText {
        items: vec![TextItem::Text(footer)],
    });
    p.text.push(Op::SetTextMatrix {
        matrix: TextMatrix::Translate(Pt(w - MARGIN - rw), Pt(y)),
    });
    p.text.push(Op::ShowText {
        items: vec![TextItem::Text(l.running.clone())],
    });
    let mut ops = p.gfx;
    ops.push(Op::SaveGraphicsState);
    ops.push(Op::SetFillColor { col: rgb(0.0) });
    ops.push(Op::StartTextSection);
    ops.extend(p.text);
    ops.push(Op::EndTextSection);
    ops.push(Op::UseXobject {
        id: XObjectId(TOTAL.into()),
        transform: XObjectTransform {
            translate_x: Some(Pt(MARGIN + fw)),
            translate_y: Some(Pt(y)),
            ..XObjectTransform::default()
        },
    });
    ops.push(Op::RestoreGraphicsState);
    let (pw, ph) = l.paper.size();
    PdfPage::new(pw, ph, ops)
}

/// The form every footer draws the number of pages with, once a document of `pages` pages
/// is finished: a part of one page showing the number at the origin, black, in the
/// footers' face and size (`Writer::form` turns its page into the form), and the box it
/// is drawn within.
pub fn total_form(l: &Layout, pages: usize) -> (PdfDocument, [f32; 4]) {
    let total = pages.to_string();
    let width = l.regular.width(&total, FOOT);
    let ops = vec![
        Op::SetFillColor { col: rgb(0.0) },
        Op::StartTextSection,
        Op::SetFont {
            font: PdfFontHandle::External(l.regular.id.clone()),
            size: Pt(FOOT),
        },
        Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Pt(0.0), Pt(0.0)),
        },
        Op::ShowText {
            items: vec![TextItem::Text(total)],
        },
        Op::EndTextSection,
    ];
    let (pw, ph) = l.paper.size();
    // Below the baseline by more than any descender, above it by more than any ascender.
    let bbox = [-1.0, -FOOT / 2.0, width + 1.0, FOOT * 1.5];
    (document(l, vec![PdfPage::new(pw, ph, ops)]), bbox)
}

/// A part: `pages` in a document of their own, with the fonts.
fn document(l: &Layout, pages: Vec<PdfPage>) -> PdfDocument {
    let mut doc = PdfDocument::new(&l.title);
    for f in [&l.regular, &l.bold] {
        doc.resources
            .fonts
            .map
            .insert(f.id.clone(), PdfFont::new(f.parsed.clone()));
    }
    doc.with_pages(pages);
    doc
}

/// The parts of a finished document whose pages were kept (see `Layout::into_parts`).
pub struct Parts {
    layout: Layout,
    pages: std::vec::IntoIter<Page>,
    done: usize,
    per: usize,
}

impl Parts {
    pub(crate) fn new(layout: Layout, pages: std::vec::IntoIter<Page>, per: usize) -> Parts {
        Parts {
            layout,
            pages,
            done: 0,
            per: per.max(1),
        }
    }
}

impl Iterator for Parts {
    type Item = PdfDocument;

    fn next(&mut self) -> Option<PdfDocument> {
        let mut pages = Vec::with_capacity(self.per);
        while pages.len() < self.per {
            let Some(p) = self.pages.next() else { break };
            self.done += 1;
            pages.push(footed(&self.layout, p, self.done));
        }
        if pages.is_empty() {
            return None;
        }
        Some(document(&self.layout, pages))
    }
}

/// Parts converted out of order (by worker threads) handed on in order: a part waits here
/// until those before it are handed on. The workers take parts in order, so what waits
/// is what the others finished while one converted an earlier part: a part or two of
/// similar length, as the channel feeding the workers is bounded.
pub struct InOrder<F> {
    put: F,
    next: usize,
    waiting: BTreeMap<usize, lopdf::Document>,
    /// Why a part could not be handed on: later parts are dropped.
    failed: Option<ReportError>,
}

impl<F: FnMut(lopdf::Document) -> Result<(), ReportError>> InOrder<F> {
    /// Hands parts on to `put`, part 0 first.
    pub fn new(put: F) -> InOrder<F> {
        InOrder {
            put,
            next: 0,
            waiting: BTreeMap::new(),
            failed: None,
        }
    }

    /// Takes part `i`, and hands on every part now next in order. False once a part could
    /// not be handed on.
    pub fn take(&mut self, i: usize, part: lopdf::Document) -> bool {
        if self.failed.is_some() {
            return false;
        }
        self.waiting.insert(i, part);
        while let Some(p) = self.waiting.remove(&self.next) {
            if let Err(e) = (self.put)(p) {
                self.failed = Some(e);
                self.waiting.clear();
                return false;
            }
            self.next += 1;
        }
        true
    }

    /// How many parts were handed on: fails if one could not be, or if parts are left
    /// waiting for one that never came.
    pub fn finish(self) -> Result<usize, ReportError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if let Some(i) = self.waiting.keys().next() {
            return Err(ReportError::Pdf(format!(
                "part {} of the document was never made, part {} was",
                self.next + 1,
                i + 1
            )));
        }
        Ok(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty document standing for part `i`.
    fn part(i: u32) -> lopdf::Document {
        let mut d = lopdf::Document::new();
        d.max_id = i;
        d
    }

    #[test]
    fn parts_finished_out_of_order_are_handed_on_in_order() {
        let mut got = Vec::new();
        let mut order = InOrder::new(|d: lopdf::Document| {
            got.push(d.max_id);
            Ok(())
        });
        for i in [2, 0, 3, 1, 4] {
            assert!(order.take(i as usize, part(i)));
        }
        assert_eq!(order.finish().expect("all made"), 5);
        assert_eq!(got, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_part_never_made_or_not_written_fails() {
        let mut order = InOrder::new(|_| Ok(()));
        assert!(order.take(0, part(0)));
        assert!(order.take(2, part(2)));
        assert!(order.finish().is_err(), "part 1 never came");

        let mut order = InOrder::new(|d: lopdf::Document| {
            if d.max_id == 1 {
                Err(ReportError::Pdf("the disk is full".into()))
            } else {
                Ok(())
            }
        });
        assert!(order.take(0, part(0)));
        assert!(!order.take(1, part(1)));
        assert!(!order.take(2, part(2)));
        assert!(
            order
                .finish()
                .is_err_and(|e| e.to_string().contains("full"))
        );
    }
}
