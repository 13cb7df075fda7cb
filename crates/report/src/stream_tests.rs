//! A report laid out from its rows' file — drawn once and handed on in parts as they are
//! finished — is the document laid out with every page kept (how reports were made
//! before): the same parts, op for op, every listed row once and in order; and the parts,
//! converted on worker threads and written one by one (`writer`), with the form their
//! footers draw the number of pages with, make one signed PDF with every page in order.

use custody_ledger::{EntryHash, Kind, PublicKey, Timestamp, vectors};
use printpdf::{Op, PdfDocument, TextItem};

use crate::layout::Sink;
use crate::manifest::{self, Manifest};
use crate::model::{Collector, LogRow};
use crate::render::{self, LogWidths, Rows};
use crate::request::{ReportKind, Request};
use crate::spill::Spill;
use crate::{Extras, ReportData};

const PER: usize = 20;

fn request() -> Request {
    Request {
        kind: ReportKind::Audit,
        from: "2000-01-01".parse().expect("day"),
        to: "2099-12-31".parse().expect("day"),
        product: None,
        container: None,
        prescriber: None,
        patient: None,
        time_zone: None,
        hours: None,
        identified: false,
        reason: None,
    }
}

fn manifest(d: &ReportData) -> Manifest {
    let key = vectors::seeded_key("registrant");
    Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        ledger: vectors::build()[0].ledger,
        registrant: d.registrant.name.to_string(),
        dea: d.registrant.dea.to_string(),
        request: d.request.clone(),
        generated_at: Timestamp::from_micros(1_800_000_000_000_000).expect("time"),
        requested_by: "a test".into(),
        checkpoint: "a checkpoint\nof two lines".into(),
        checkpoint_size: 12,
        checkpoint_root: "00".repeat(32),
        registrant_key: PublicKey::from(&key),
        entries: d.listed,
        entries_digest: hex::encode(d.entries_digest),
        totals_digest: hex::encode(d.totals_digest),
        data_digest: hex::encode(d.data_digest()),
        cosigned: Vec::new(),
        report_certificate: None,
    }
}

/// The vector ledger folded for an audit report, its rows in a file.
fn folded() -> (ReportData, Spill) {
    let mut c = Collector::spilling(request()).expect("a temporary file");
    for e in vectors::build() {
        c.push(&e, e.hash()).expect("the vector ledger folds");
    }
    let (data, spill) = c.finish_spilled().expect("folded");
    (data, spill.expect("spilled"))
}

/// The row markers ("streamed row N") in the order the parts show them.
fn markers(parts: &[PdfDocument]) -> Vec<u64> {
    let mut out = Vec::new();
    for op in parts.iter().flat_map(|d| &d.pages).flat_map(|p| &p.ops) {
        let Op::ShowText { items } = op else { continue };
        for item in items {
            if let TextItem::Text(t) = item
                && let Some(rest) = t.strip_prefix("streamed row ")
                && let Some(n) = rest.split(';').next().and_then(|n| n.parse().ok())
            {
                out.push(n);
            }
        }
    }
    out
}

/// Enough rows for several parts, some wrapping onto two lines: `streamed row N`.
fn pad(spill: &mut Spill, n: u64) {
    for i in 0..n {
        let detail = if i % 7 == 0 {
            format!(
                "streamed row {i}; {}",
                "a long detail that wraps ".repeat(12)
            )
        } else {
            format!("streamed row {i}")
        };
        spill
            .push(&LogRow {
                seq: 1_000 + i,
                hash: EntryHash::ZERO,
                at: Timestamp::from_micros(1_800_000_000_000_000 + i as i64).expect("time"),
                kind: Kind::Count,
                product: None,
                container: Some(format!("C{}-{}", 1_000 + i, i % 20)),
                ug: None,
                quantity: None,
                detail,
                reason: None,
                patient: None,
                prescriber: None,
                signatures: Vec::new(),
            })
            .expect("written");
    }
}

#[test]
fn a_streamed_report_is_the_kept_report_part_for_part_with_every_row_in_order() {
    let (data, mut spill) = folded();
    let listed = spill.len();
    assert!(listed > 0, "the vector ledger's entries are listed");
    let n = 3000u64;
    pad(&mut spill, n);
    let m = manifest(&data);
    let e = Extras::default();

    // As before: every page kept, then cut into parts.
    let mut kept = render::layout(&data, &e, Sink::Keep).expect("fonts");
    let widths = LogWidths::of(&kept, &mut spill).expect("read");
    let mut rows = Rows {
        spill: &mut spill,
        widths: &widths,
    };
    render::render(&mut kept, &data, &m, &e, &mut rows).expect("laid out");
    let total = kept.page_count();
    let before: Vec<PdfDocument> = kept.into_parts(PER).collect();
    assert!(before.len() >= 4, "{total} pages: several parts");

    // Drawn part by part.
    let parts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = std::sync::Arc::clone(&parts);
    let sink = Sink::stream(
        PER,
        Box::new(move |doc| {
            into.lock().expect("not poisoned").push(doc);
            Ok(())
        }),
    );
    let mut drawn = render::layout(&data, &e, sink).expect("fonts");
    render::render(&mut drawn, &data, &m, &e, &mut rows).expect("drawn");
    assert_eq!(drawn.finish().expect("drawn"), total);
    let after = std::mem::take(&mut *parts.lock().expect("not poisoned"));

    assert_eq!(after.len(), before.len());
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_eq!(a.pages.len(), b.pages.len(), "part {i}");
        assert!(
            a.pages == b.pages,
            "part {i} differs from the kept document's"
        );
    }
    assert_eq!(markers(&after), (0..n).collect::<Vec<_>>());
}

/// Each object the cross-reference table lists, and where: (number, offset).
fn xref(pdf: &[u8]) -> Vec<(usize, usize)> {
    // The table and the trailer are ASCII; what comes before need not be.
    let tail = pdf
        .windows(10)
        .rposition(|w| w == b"startxref\n")
        .expect("a startxref");
    let start: usize = std::str::from_utf8(&pdf[tail + 10..])
        .ok()
        .and_then(|t| t.lines().next())
        .and_then(|n| n.parse().ok())
        .expect("an offset");
    let table = std::str::from_utf8(&pdf[start..]).expect("ASCII");
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("xref"));
    let mut out = Vec::new();
    while let Some(head) = lines.next() {
        if head == "trailer" {
            break;
        }
        let (first, count) = head.split_once(' ').expect("a subsection");
        let first: usize = first.parse().expect("a number");
        for k in 0..count.parse::<usize>().expect("a count") {
            let entry = lines.next().expect("an entry");
            if entry.ends_with("n ") {
                out.push((first + k, entry[..10].parse().expect("an offset")));
            }
        }
    }
    out
}

/// A report written part by part, the parts converted on worker threads and written as
/// they come in order, is one signed PDF: every object where the cross-reference table
/// says, every page once and in order under one page tree, the signature field on page 1,
/// the signature covering the whole file, the manifest embedded.
#[test]
fn a_report_written_part_by_part_is_one_signed_pdf_with_every_page_in_order() {
    let (data, mut spill) = folded();
    let n = 3000u64;
    pad(&mut spill, n);
    let m = manifest(&data);
    let e = Extras::default();
    let fonts = render::layout(&data, &e, Sink::Keep).expect("fonts");
    let widths = LogWidths::of(&fonts, &mut spill).expect("read");
    let mut rows = Rows {
        spill: &mut spill,
        widths: &widths,
    };

    let mut w = crate::writer::Writer::new(Vec::new()).expect("a header");
    let field = w.reserve();
    w.annotate_first_page(field);
    let form = w.reserve();
    w.name_on_every_page(crate::parts::TOTAL, form);
    let total = crate::draw(
        PER,
        |_| {},
        |part| w.part(part),
        |sink| {
            let mut l = render::layout(&data, &e, sink)?;
            render::render(&mut l, &data, &m, &e, &mut rows)?;
            l.finish()
        },
    )
    .expect("drawn");
    assert!(total >= 4 * PER, "{total} pages: several parts");
    let (part, bbox) = crate::total_part(&fonts, total);
    w.form(form, part, bbox)
        .expect("the form of the number of pages");
    let key = vectors::seeded_key("registrant");
    let signer = crate::pades::ReportSigner::derive(&key, "Lakeside", "AB1234563").expect("key");
    crate::pades::write_field(
        &mut w,
        field,
        "Lakeside",
        "a test",
        time::OffsetDateTime::UNIX_EPOCH,
    )
    .expect("field");
    let sealed = manifest::seal(&m, &key).expect("sealed");
    manifest::embed(&mut w, &sealed, &m.data_digest).expect("embedded");
    let mut pdf = w.finish().expect("finished");
    crate::pades::fill(&mut pdf, &signer).expect("signed");

    // Every object listed is where the table says, and every object is listed.
    let listed = xref(&pdf);
    for (id, at) in &listed {
        assert!(
            pdf[*at..].starts_with(format!("{id} 0 obj\n").as_bytes()),
            "object {id} is not at {at}"
        );
    }
    let objects = String::from_utf8_lossy(&pdf).matches(" 0 obj\n").count();
    assert_eq!(listed.len(), objects);

    assert_eq!(
        crate::pades::check(&pdf)
            .expect("the signature holds")
            .certificate_sha256,
        signer.fingerprint()
    );
    let (back, _, _) = manifest::extract(&pdf).expect("the manifest");
    assert_eq!(back, m);

    let doc = lopdf::Document::load_mem(&pdf).expect("a PDF");
    let pages: Vec<lopdf::ObjectId> = doc.get_pages().into_values().collect();
    assert_eq!(pages.len(), total);
    let root = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(lopdf::Object::as_reference)
        .expect("a page tree");
    for p in &pages {
        let parent = doc
            .get_dictionary(*p)
            .and_then(|d| d.get(b"Parent"))
            .and_then(lopdf::Object::as_reference);
        assert_eq!(parent.ok(), Some(root));
    }
    // Every page names the one form of the number of pages, which shows it.
    for p in &pages {
        assert_eq!(
            crate::writer::form_named(&doc, *p, crate::parts::TOTAL.as_bytes()),
            Some(form)
        );
    }
    let shown = doc
        .get_object(form)
        .and_then(lopdf::Object::as_stream)
        .expect("the form");
    assert_eq!(
        shown
            .dict
            .get(b"Subtype")
            .and_then(lopdf::Object::as_name)
            .ok(),
        Some(&b"Form"[..])
    );
    let shows = lopdf::content::Content::decode(&shown.decompressed_content().expect("inflated"))
        .expect("operations")
        .operations
        .iter()
        .filter(|o| o.operator == "Tj")
        .count();
    assert_eq!(shows, 1);
    let annots = doc
        .get_dictionary(pages[0])
        .and_then(|d| d.get(b"Annots"))
        .and_then(lopdf::Object::as_array)
        .expect("page 1's annotations");
    assert!(annots.contains(&lopdf::Object::Reference(field)));

    // The pages' own text, in order, where poppler can read it.
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("streamed.pdf");
    std::fs::write(&path, &pdf).expect("written");
    let Ok(o) = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let footers: Vec<usize> = text
        .lines()
        .filter_map(|l| l.strip_prefix("page "))
        .filter_map(|l| l.strip_suffix(&format!(" of {total}")))
        .filter_map(|k| k.parse().ok())
        .collect();
    assert_eq!(footers, (1..=total).collect::<Vec<_>>());
    let rows: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("streamed row "))
        .filter_map(|l| l.split(';').next()?.trim().parse().ok())
        .collect();
    assert_eq!(rows, (0..n).collect::<Vec<_>>());
}
