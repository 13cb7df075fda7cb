//! # custody-report
//!
//! Signed PDF reports of a custody ledger that an auditor can read, trust and verify
//! offline: audit, inventory (21 CFR 1304.11), waste and destruction log, loss and theft
//! (DEA Form 106 data), container trace, dispensing log.
//!
//! A report is built at a checkpoint the registrant signs at that moment. Its numbers are a
//! fold of the ledger's entries up to that checkpoint (`model`), the same fold an auditor's
//! `verify-report --export` re-runs over an export. The PDF carries a manifest signed by the
//! registrant key (ledger, period, kind, checkpoint, digests of the listed entries and of the
//! totals) as an embedded file, and a detached Ed25519 signature over its exact bytes.

mod content;
pub mod deadlines;
pub mod file;
pub mod layout;
pub mod manifest;
pub mod model;
pub mod pades;
pub mod parts;
pub mod pmp;
pub mod render;
pub mod request;
pub mod sheet;
pub mod spill;
#[cfg(test)]
mod stream_tests;
pub mod tables;
pub mod words;
pub mod writer;
pub mod zone;

use std::io::BufRead;

use custody_ledger::checkpoint::{SignedCheckpoint, origin};
use custody_ledger::{Canonical, Entry, LedgerId, PublicKey, Seq, Timestamp};
use custody_store::{Store, StoreError};

use ed25519_dalek::SigningKey;
use sha2::Digest;

pub use file::ReportFile;
pub use manifest::{CosignedCheckpoint, Manifest};
pub use model::ReportData;
pub use render::{Extras, PendingWaste};
pub use request::{ReportKind, Request};
pub use zone::{Zone, ZoneError};

/// Why a report could not be made or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the ledger cannot be read as a report: {0}")]
    Ledger(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("{0}")]
    Manifest(String),
    #[error("{0}")]
    Signature(String),
    #[error("the report's checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("a cosigned checkpoint the report carries does not hold: {0}")]
    Cosigned(String),
    #[error("the export does not support this report: {0}")]
    Export(String),
    #[error("the report does not match the ledger: {0}")]
    Mismatch(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the report's rows could not be kept in a temporary file while it was laid out: {0}")]
    Spill(String),
}

impl ReportError {
    /// Whether the report (or the export) failed verification, rather than being unusable.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            ReportError::Signature(_)
                | ReportError::Checkpoint(_)
                | ReportError::Cosigned(_)
                | ReportError::Export(_)
                | ReportError::Mismatch(_)
        )
    }
}

/// Patient names and queued wastes, read beside the chain.
pub async fn extras(
    store: &Store,
    ledger: custody_ledger::LedgerId,
) -> Result<Extras, custody_store::StoreError> {
    let mut e = Extras::default();
    for p in store.pending_entries(ledger).await? {
        let author = store.user(ledger, &p.author).await?.map_or_else(
            || p.author.to_string(),
            |u| format!("{} ({})", u.printed_name, p.author),
        );
        let amount = match &p.draft.body.payload {
            custody_ledger::Payload::Waste(w) => w.amount.micrograms().to_string(),
            _ => String::new(),
        };
        e.pending.push(PendingWaste {
            queued_at: p.queued_at.to_string(),
            author,
            container: p.container.clone(),
            amount,
        });
    }
    for r in store.patients(ledger).await? {
        e.addresses.insert(r.patient, r.address);
        e.patients.insert(r.patient, r.name);
    }
    Ok(e)
}

/// Pages turned into PDF objects at a time.
const PART_PAGES: usize = 120;
/// Entries read from the store at a time.
const PAGE: u64 = 2000;

/// A report, ready to hand out.
#[derive(Debug)]
pub struct Built {
    /// The PDF, in a temporary file: a large ledger's report is not held in memory.
    pub pdf: ReportFile,
    /// The detached Ed25519 signature over `pdf` (the `.sig` file).
    pub signature: [u8; 64],
    pub manifest: Manifest,
    pub pages: usize,
    /// The `report_issued` entry that records it.
    pub recorded_as: u64,
}

fn text(s: &str) -> Result<custody_ledger::Text, ReportError> {
    s.parse()
        .map_err(|e: custody_ledger::types::ids::ParseError| ReportError::Invalid(e.to_string()))
}

/// Checks the request's own consistency.
fn check(req: &Request) -> Result<(), ReportError> {
    if let Some(name) = &req.time_zone {
        crate::Zone::named(name).map_err(|e| ReportError::Invalid(e.to_string()))?;
    }
    if req.from > req.to {
        return Err(ReportError::Invalid(format!(
            "the period starts ({}) after it ends ({})",
            req.from, req.to
        )));
    }
    if let Some(h) = &req.hours {
        h.parse::<custody_analytics::Hours>()
            .map_err(ReportError::Invalid)?;
    }
    if req.identified && req.kind != ReportKind::Dispensing {
        return Err(ReportError::Invalid(
            "only the dispensing record names patients with their addresses".into(),
        ));
    }
    if req.identified && req.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ReportError::Invalid(
            "a patient-identifying record needs a stated reason (e.g. \"DEA inspection 2026-11-30, Inv. Smith\")".into(),
        ));
    }
    if req.kind == ReportKind::Trace && req.container.is_none() {
        return Err(ReportError::Invalid(
            "a container trace needs the container (e.g. C12-3)".into(),
        ));
    }
    Ok(())
}

/// Folds the ledger's first `size` entries from the store, keeping the rows it lists.
async fn collect(
    store: &Store,
    ledger: LedgerId,
    req: &Request,
    size: u64,
) -> Result<ReportData, ReportError> {
    let (data, _, state) = fold(store, ledger, size, model::Collector::new(req.clone()))
        .await?
        .finish_all()?;
    store.adopt_state(ledger, state).await;
    Ok(data)
}

/// Folds the ledger's first `size` entries from the store, the rows it lists written to a
/// file (a PDF report reads them twice, a buffer at a time).
async fn collect_spilled(
    store: &Store,
    ledger: LedgerId,
    req: &Request,
    size: u64,
) -> Result<(ReportData, spill::Spill), ReportError> {
    let c = fold(
        store,
        ledger,
        size,
        model::Collector::spilling(req.clone())?,
    )
    .await?;
    let (data, rows, state) = c.finish_all()?;
    let rows = rows.ok_or_else(|| ReportError::Spill("the fold kept its rows".into()))?;
    store.adopt_state(ledger, state).await;
    Ok((data, rows))
}

/// Feeds the ledger's first `size` entries from the store to `c`, a page at a time. Pages are
/// read here while a thread of the blocking pool folds the one before (SQLite reads on a
/// thread of its own meanwhile): the fold is the slower of the two, and no longer waits for
/// each page to be read. At most three pages are held: one read, one queued, one folded.
async fn fold(
    store: &Store,
    ledger: LedgerId,
    size: u64,
    c: model::Collector,
) -> Result<model::Collector, ReportError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<custody_store::sessions::StoredEntry>>(1);
    let folding = tokio::task::spawn_blocking(move || {
        let mut c = c;
        while let Some(page) = rx.blocking_recv() {
            for row in &page {
                let e = Entry::from_canonical_bytes(&row.bytes)
                    .map_err(|e| ReportError::Ledger(format!("entry {}: {e}", row.seq)))?;
                c.push(&e, row.hash)?;
            }
        }
        Ok::<_, ReportError>(c)
    });
    let reading = async {
        let mut after: Option<Seq> = None;
        let mut read = 0u64;
        while read < size {
            let page = store
                .entries_page(ledger, after, PAGE.min(size - read), None)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(Seq::new(last.seq).map_err(|e| ReportError::Ledger(e.to_string()))?);
            read += page.len() as u64;
            // The fold stopped: what it returns says why.
            if tx.send(page).await.is_err() {
                break;
            }
        }
        Ok::<_, ReportError>(())
    }
    .await;
    drop(tx);
    let folded = folding
        .await
        .map_err(|e| ReportError::Ledger(format!("the fold of the ledger stopped: {e}")))?;
    // The fold's own refusal first: reading stops when the fold does.
    let c = folded?;
    reading?;
    Ok(c)
}

/// The cosigned checkpoints a report at checkpoint `cp` carries: those the store keeps
/// (`Store::carried_cosigned`) that `key`, the key signing the report, signed, each with a
/// consistency proof to `cp`. (Right after a registrant key rotation, until a checkpoint the
/// new key signed is cosigned, there is none: a reader of the report knows only its key.)
async fn carried(
    store: &Store,
    ledger: LedgerId,
    cp: &SignedCheckpoint,
    key: &PublicKey,
) -> Result<Vec<CosignedCheckpoint>, ReportError> {
    let want = origin(&ledger);
    let mut out = Vec::new();
    for c in store.carried_cosigned(ledger, cp.checkpoint.size).await? {
        if c.signed.verify(&want, key).is_err() {
            continue;
        }
        let size = c.signed.checkpoint.size;
        let proof = if size == cp.checkpoint.size {
            Vec::new()
        } else {
            store
                .consistency_proof(ledger, size, cp.checkpoint.size)
                .await?
                .path
        };
        out.push(CosignedCheckpoint {
            note: c.note(),
            proof: proof.iter().map(hex::encode).collect(),
        });
    }
    Ok(out)
}

/// Checks a cosigned checkpoint a report carries, without its cosignatures (which need the
/// witnesses' keys): a checkpoint of the report's ledger signed by `key`, of at most the
/// report's size, that the report's checkpoint `cp` extends (its proof verifies). Returns it.
pub fn check_cosigned(
    c: &CosignedCheckpoint,
    m: &Manifest,
    key: &PublicKey,
    cp: &SignedCheckpoint,
) -> Result<SignedCheckpoint, ReportError> {
    let bad = ReportError::Cosigned;
    let signed = SignedCheckpoint::parse(&c.note).map_err(|e| bad(e.to_string()))?;
    signed.verify(&origin(&m.ledger), key).map_err(|e| {
        bad(format!(
            "the checkpoint of {} entries: {e}",
            signed.checkpoint.size
        ))
    })?;
    let size = signed.checkpoint.size;
    if size > cp.checkpoint.size {
        return Err(bad(format!(
            "the checkpoint of {size} entries covers more than the {} the report covers",
            cp.checkpoint.size
        )));
    }
    let proof = c
        .proof
        .iter()
        .map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b).map(|()| b)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(format!(
                "the proof of the checkpoint of {size} entries is malformed: {e}"
            ))
        })?;
    custody_ledger::merkle::verify_consistency(
        size,
        &signed.checkpoint.root,
        cp.checkpoint.size,
        &cp.checkpoint.root,
        &proof,
    )
    .map_err(|e| {
        bad(format!(
            "the report's ledger of {} entries does not extend the checkpoint of {size} entries: {e}",
            cp.checkpoint.size
        ))
    })?;
    Ok(signed)
}

/// Builds, signs and returns report `req` of `ledger`, at a checkpoint issued now with the
/// registrant key `key`.
pub async fn build(
    store: &Store,
    ledger: LedgerId,
    req: &Request,
    requested_by: &str,
    key: &SigningKey,
    extras: Extras,
) -> Result<Built, ReportError> {
    check(req)?;
    let cp = store.issue_checkpoint(ledger, key).await?;
    let cosigned = carried(store, ledger, &cp, &PublicKey::from(key)).await?;
    let (data, mut rows) = collect_spilled(store, ledger, req, cp.checkpoint.size).await?;
    let data_digest = data.data_digest();
    let now = time::OffsetDateTime::now_utc();
    let generated_at = Timestamp::from_datetime(now);
    let report_signer = pades::ReportSigner::derive(
        key,
        &data.registrant.name.to_string(),
        &data.registrant.dea.to_string(),
    )?;
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        ledger,
        registrant: data.registrant.name.to_string(),
        dea: data.registrant.dea.to_string(),
        request: req.clone(),
        generated_at,
        requested_by: requested_by.to_string(),
        checkpoint: cp.to_note(),
        checkpoint_size: cp.checkpoint.size,
        checkpoint_root: hex::encode(cp.checkpoint.root),
        registrant_key: PublicKey::from(key),
        entries: data.listed,
        entries_digest: hex::encode(data.entries_digest),
        totals_digest: hex::encode(data.totals_digest),
        data_digest: hex::encode(data_digest),
        cosigned,
        report_certificate: Some(report_signer.fingerprint()),
    };
    let sealed = manifest::seal(&manifest, key)?;
    let subject = format!(
        "{} {} to {}",
        req.kind, manifest.request.from, manifest.request.to
    );
    let created =
        printpdf::OffsetDateTime::from_unix_timestamp(generated_at.micros() / 1_000_000).ok();
    let author = manifest.registrant.clone();
    let about = subject.clone();
    let label = move |doc: &mut printpdf::PdfDocument| {
        let info = &mut doc.metadata.info;
        info.author = author.clone();
        info.creator = "custody".into();
        info.producer = "custody (printpdf)".into();
        info.subject = about.clone();
        if let Some(t) = created {
            info.creation_date = t;
            info.modification_date = t;
            info.metadata_date = t;
        }
    };
    // Laid out once from the rows' file, each part turned into PDF objects as soon as it is
    // finished: memory holds a few parts, not the report. The footers' number of pages is
    // a form written once the last page is (`parts::TOTAL`). A layout of the fonts alone
    // measures the log's widest cells and draws that number.
    let fonts = render::layout(&data, &extras, layout::Sink::Keep)?;
    let widths = render::LogWidths::of(&fonts, &mut rows)?;
    let mut listed = render::Rows {
        spill: &mut rows,
        widths: &widths,
    };
    // Written part by part as the parts are made, to a temporary file: memory holds a few
    // parts, never the whole document's objects nor its bytes.
    let mut w = writer::Writer::new(file::create()?)?;
    let field = w.reserve();
    w.annotate_first_page(field);
    let total = w.reserve();
    w.name_on_every_page(parts::TOTAL, total);
    let pages = draw(
        PART_PAGES,
        label,
        |part| w.part(part),
        |sink| {
            let mut l = render::layout(&data, &extras, sink)?;
            render::render(&mut l, &data, &manifest, &extras, &mut listed)?;
            l.finish()
        },
    )?;
    let (form, bbox) = total_part(&fonts, pages);
    w.form(total, form, bbox)?;
    drop(rows);
    drop(data);
    let sig = pades::write_field(
        &mut w,
        field,
        &manifest.registrant,
        &format!(
            "custody {subject}, checkpoint of {} entries",
            manifest.checkpoint_size
        ),
        now,
    )?;
    manifest::embed(&mut w, &sealed, &manifest.data_digest)?;
    let mut pdf = file::finish(w.finish()?)?;
    pades::fill_file(&mut pdf, sig, &report_signer)?;
    let signature = manifest::sign_file(&pdf, key)?;
    let recorded_as = record_issued(
        store,
        ledger,
        req,
        req.kind.name(),
        manifest.checkpoint_size,
        data_digest,
        requested_by,
        custody_ledger::ReportFormat::Pdf,
        key,
    )
    .await?;
    Ok(Built {
        pdf,
        signature,
        manifest,
        pages,
        recorded_as,
    })
}

/// Draws a document in parts of `per` pages: `lay_out` lays it out with the sink it is
/// given, which hands each finished part (labelled by `label`) to worker threads that turn
/// it into PDF objects and compress them, one thread per core, while the layout goes on.
/// Each part goes to `put` as soon as it and those before it are made, in order. Returns
/// the number of pages.
fn draw(
    per: usize,
    label: impl Fn(&mut printpdf::PdfDocument) + Send + 'static,
    put: impl FnMut(lopdf::Document) -> Result<(), ReportError> + Send,
    lay_out: impl FnOnce(layout::Sink) -> Result<usize, ReportError>,
) -> Result<usize, ReportError> {
    let workers = std::thread::available_parallelism().map_or(1, |c| c.get());
    // One part waits while the workers each convert one and the layout fills the next.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, printpdf::PdfDocument)>(1);
    // Held by the workers only: should they all stop, the layout's next hand-off fails
    // instead of waiting for ever.
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let order = std::sync::Mutex::new(parts::InOrder::new(put));
    let drawn = std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = std::sync::Arc::clone(&rx);
            let order = &order;
            scope.spawn(move || {
                loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((i, doc)) = next else { break };
                    let part = converted(doc, i);
                    let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
                    // A part that cannot be written stops the workers, and so the layout.
                    if !order.take(i, part) {
                        break;
                    }
                }
            });
        }
        drop(rx);
        let mut next = 0usize;
        let handoff: parts::Handoff = Box::new(move |mut doc| {
            label(&mut doc);
            tx.send((next, doc))
                .map_err(|_| ReportError::Pdf("the threads making the PDF stopped".into()))?;
            next += 1;
            Ok(())
        });
        // The sink (and with it the sender) is dropped when the layout is finished: the
        // workers then end once the parts left are converted.
        lay_out(layout::Sink::stream(per, handoff))
    });
    // Why the writing stopped comes first: the layout only saw the workers stop.
    let written = order
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .finish()?;
    let pages = drawn?;
    let n = pages.div_ceil(per.max(1));
    if written != n {
        return Err(ReportError::Pdf(format!(
            "{written} of the report's {n} parts were made"
        )));
    }
    Ok(pages)
}

/// The form with which every footer of a finished document of `pages` pages draws that
/// number (`parts::TOTAL`), in the fonts of `l`, as PDF objects, and the box it is drawn
/// within (for `Writer::form`).
fn total_part(l: &layout::Layout, pages: usize) -> (lopdf::Document, [f32; 4]) {
    let (doc, bbox) = parts::total_form(l, pages);
    // Numbered after the parts, so that its fonts' subset tag is its own.
    (converted(doc, pages.div_ceil(PART_PAGES)), bbox)
}

/// A plain PDF of `layout`: not signed and not recorded, for a printable sheet of data kept
/// outside the chain (a REMS session's Patient Monitoring Form data, whose integrity the
/// chain's digest of the record shows instead).
pub fn plain_pdf(layout: layout::Layout, subject: &str) -> Result<Vec<u8>, ReportError> {
    let mut w = writer::Writer::new(Vec::new())?;
    let total = w.reserve();
    w.name_on_every_page(parts::TOTAL, total);
    let (form, bbox) = total_part(&layout, layout.page_count());
    for (i, mut doc) in layout.into_parts(PART_PAGES).enumerate() {
        doc.metadata.info.creator = "custody".into();
        doc.metadata.info.producer = "custody (printpdf)".into();
        doc.metadata.info.subject = subject.to_string();
        w.part(converted(doc, i))?;
    }
    w.form(total, form, bbox)?;
    w.finish()
}

/// Issuing a report is itself recorded: which, for what period, at which checkpoint, the
/// digest of what it states (a PDF's data digest; a CSV file's SHA-256), and who asked —
/// signed by the registrant key. Returns the entry's seq.
#[allow(clippy::too_many_arguments)]
async fn record_issued(
    store: &Store,
    ledger: LedgerId,
    req: &Request,
    report: &str,
    checkpoint_size: u64,
    digest: [u8; 32],
    requested_by: &str,
    format: custody_ledger::ReportFormat,
    key: &SigningKey,
) -> Result<u64, ReportError> {
    // A patient-identifying record states why it was made, in the entry's own field
    // (format version 4).
    let reason = match (&req.reason, req.identified) {
        (Some(r), true) => Some(text(r.trim())?),
        _ => None,
    };
    let now = custody_store::clock::now();
    let issued = custody_ledger::Draft::new(
        ledger,
        custody_ledger::EntryId::from_uuid(uuid::Uuid::now_v7()),
        custody_ledger::ReportIssued {
            report: text(report)?,
            from: req.from,
            to: req.to,
            checkpoint_size,
            data_digest: custody_ledger::EntryHash::from_bytes(digest),
            requested_by: text(requested_by)?,
            format,
            reason,
        },
    )
    .signed(
        custody_ledger::Principal::Registrant,
        custody_ledger::Meaning::Registrant,
        key,
        now,
    );
    let recorded = store.append(issued).await?;
    Ok(recorded.entry.seq.get())
}

/// A report table as a CSV file, ready to hand out.
#[derive(Debug, Clone)]
pub struct BuiltCsv {
    pub csv: Vec<u8>,
    /// The table it holds (`tables::names`).
    pub table: &'static str,
    /// SHA-256 of `csv`'s exact bytes, as its `report_issued` entry records it.
    pub sha256: [u8; 32],
    pub rows: usize,
    /// The size of the checkpoint it was built at.
    pub checkpoint_size: u64,
    /// The `report_issued` entry that records it.
    pub recorded_as: u64,
}

/// Builds table `table` (the kind's first when `None`) of report `req` as CSV, from one fold
/// of the ledger at a checkpoint issued now, and records it (with the file's SHA-256) in a
/// `report_issued` entry signed by the registrant key `key`.
pub async fn build_csv(
    store: &Store,
    ledger: LedgerId,
    req: &Request,
    table: Option<&str>,
    requested_by: &str,
    key: &SigningKey,
    extras: Extras,
) -> Result<BuiltCsv, ReportError> {
    check(req)?;
    let name = tables::pick(req.kind, table).map_err(ReportError::Invalid)?;
    let cp = store.issue_checkpoint(ledger, key).await?;
    let data = collect(store, ledger, req, cp.checkpoint.size).await?;
    let t = tables::table(&data, &extras, name);
    let rows = t.rows.len();
    drop(data);
    let csv = sheet::write(&t).map_err(|e| ReportError::Pdf(e.to_string()))?;
    let sha256: [u8; 32] = sha2::Sha256::digest(&csv).into();
    let recorded_as = record_issued(
        store,
        ledger,
        req,
        &format!("{}/{name}", req.kind),
        cp.checkpoint.size,
        sha256,
        requested_by,
        custody_ledger::ReportFormat::Csv,
        key,
    )
    .await?;
    Ok(BuiltCsv {
        csv,
        table: name,
        sha256,
        rows,
        checkpoint_size: cp.checkpoint.size,
        recorded_as,
    })
}

/// What `verify` found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// Whether the key was given by the caller (else the manifest's own key was used).
    pub key_trusted: bool,
    pub detached_checked: bool,
    /// The embedded PDF signature, checked (reports of manifest version 3 on).
    pub embedded: Option<pades::Embedded>,
    /// Entries of the export, when one was given.
    pub export_entries: Option<u64>,
}

/// Verifies a report: the manifest's signature, the detached signature (if given), the
/// checkpoint, the cosigned checkpoints it carries (`check_cosigned`; their cosignatures are
/// the caller's to count, with the witnesses' keys), and, with an export of the ledger as it is now, that the ledger extends the
/// checkpoint and that the report rebuilt from the export states the same entries and
/// totals. `export` is opened twice (verification, then the rebuild).
pub fn verify(
    pdf: &[u8],
    detached: Option<&[u8]>,
    key: Option<PublicKey>,
    export: Option<&dyn Fn() -> std::io::Result<Box<dyn BufRead>>>,
) -> Result<Verified, ReportError> {
    let (m, json, msig) = manifest::extract(pdf)?;
    if m.format != manifest::FORMAT || !manifest::VERSIONS.contains(&m.version) {
        return Err(ReportError::Manifest(format!(
            "the manifest is {} version {}, not {} version 1 or {}",
            m.format,
            m.version,
            manifest::FORMAT,
            manifest::VERSION
        )));
    }
    if m.version < 2 && !m.cosigned.is_empty() {
        return Err(ReportError::Manifest(
            "a version 1 manifest carries no cosigned checkpoint".into(),
        ));
    }
    let trusted = key.is_some();
    let key = key.unwrap_or(m.registrant_key);
    if key != m.registrant_key {
        return Err(ReportError::Signature(format!(
            "the report names registrant key {}, not the key given ({key})",
            m.registrant_key
        )));
    }
    manifest::check_manifest(&json, &msig, &key)?;
    let embedded = match &m.report_certificate {
        Some(named) => {
            let e = pades::check(pdf)?;
            if &e.certificate_sha256 != named {
                return Err(ReportError::Signature(format!(
                    "the embedded PDF signature is by certificate {}, not the {named} the signed manifest names",
                    e.certificate_sha256
                )));
            }
            Some(e)
        }
        None if m.version >= 3 => {
            return Err(ReportError::Manifest(
                "a version 3 manifest names the certificate of the embedded signature".into(),
            ));
        }
        None => None,
    };
    if let Some(sig) = detached {
        manifest::check_pdf(pdf, sig, &key)?;
    }
    let cp = SignedCheckpoint::parse(&m.checkpoint)
        .map_err(|e| ReportError::Checkpoint(e.to_string()))?;
    cp.verify(&origin(&m.ledger), &key)
        .map_err(|e| ReportError::Checkpoint(e.to_string()))?;
    if cp.checkpoint.size != m.checkpoint_size
        || hex::encode(cp.checkpoint.root) != m.checkpoint_root
    {
        return Err(ReportError::Checkpoint(
            "the manifest's checkpoint size or root differs from its signed note".into(),
        ));
    }
    let mut held = vec![cp.clone()];
    for c in &m.cosigned {
        held.push(check_cosigned(c, &m, &key, &cp)?);
    }
    let mut export_entries = None;
    if let Some(open) = export {
        let input = open().map_err(|e| ReportError::Export(e.to_string()))?;
        let (header, summary) = custody_store::export::verify_export(input, None, held, |_| {})
            .map_err(|e| ReportError::Export(e.to_string()))?;
        if header.ledger != m.ledger {
            return Err(ReportError::Export(format!(
                "the export is of ledger {}, the report of {}",
                header.ledger, m.ledger
            )));
        }
        export_entries = Some(summary.entries);
        // Rebuild the report from the export's first entries and compare.
        let input = open().map_err(|e| ReportError::Export(e.to_string()))?;
        let mut c = model::Collector::new(m.request.clone());
        let mut n = 0u64;
        for item in custody_store::export::read_export(input) {
            if n >= m.checkpoint_size {
                break;
            }
            match item.map_err(|e| ReportError::Export(e.to_string()))? {
                custody_store::export::Item::Header(_)
                | custody_store::export::Item::Checkpoint(_) => {}
                custody_store::export::Item::Entry(e, h) => {
                    c.push(&e, h)?;
                    n += 1;
                }
            }
        }
        let data = c.finish()?;
        if hex::encode(data.entries_digest) != m.entries_digest || data.listed != m.entries {
            return Err(ReportError::Mismatch(format!(
                "the ledger's entries for this report ({}) are not the {} the report lists",
                data.listed, m.entries
            )));
        }
        if hex::encode(data.totals_digest) != m.totals_digest {
            return Err(ReportError::Mismatch(
                "the totals rebuilt from the ledger differ from the report's".into(),
            ));
        }
        if hex::encode(data.data_digest()) != m.data_digest {
            return Err(ReportError::Mismatch(
                "the report's data digest differs from the ledger's".into(),
            ));
        }
    }
    Ok(Verified {
        manifest: m,
        key_trusted: trusted,
        detached_checked: detached.is_some(),
        embedded,
        export_entries,
    })
}

/// Part `i` of a document as PDF objects: fonts subset, tagged as the part's own (parts are
/// written into one file), streams compressed.
fn converted(doc: printpdf::PdfDocument, i: usize) -> lopdf::Document {
    let opts = printpdf::PdfSaveOptions {
        optimize: true,
        subset_fonts: true,
        secure: true,
        image_optimization: None,
    };
    let (mut part, _) = content::to_lopdf(doc, &opts);
    retag_fonts(&mut part, i);
    compress(&mut part);
    part
}

/// Compresses every stream of `doc` that is not yet compressed, as `lopdf::Document::compress`
/// does but at zlib's default level: its best level took a quarter of a long report's time.
fn compress(doc: &mut lopdf::Document) {
    use std::io::Write;
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.get(b"Filter").is_ok() || !stream.allows_compression {
            continue;
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to memory cannot fail; a stream that could not be compressed stays as it is.
        let Ok(mut packed) = z.write_all(&stream.content).and_then(|()| z.finish()) else {
            continue;
        };
        // Kept until the report is saved: no spare capacity.
        packed.shrink_to_fit();
        if packed.len() + 19 < stream.content.len() {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(packed);
        }
    }
}

/// Each part embeds its own subset of the fonts; the PDF standard (ISO 32000-1 §9.6.4)
/// wants a different tag for each different subset, or a viewer that caches fonts by name
/// may draw one part's glyphs with another's. The tag `CUSTRG`/`CUSTBD` becomes `CU`, the
/// part's number in three letters, and the face's last letter (`G` regular, `D` bold).
fn retag_fonts(doc: &mut lopdf::Document, part: usize) {
    let letter = |n: usize| b'A' + (n % 26) as u8;
    let tag = [
        b'C',
        b'U',
        letter(part / 676),
        letter(part / 26),
        letter(part),
    ];
    for object in doc.objects.values_mut() {
        let lopdf::Object::Dictionary(d) = object else {
            continue;
        };
        for key in [&b"BaseFont"[..], &b"FontName"[..]] {
            if let Ok(lopdf::Object::Name(name)) = d.get_mut(key)
                && name.len() > 7
                && name.starts_with(b"CUST")
                && name[6] == b'+'
            {
                name[..5].copy_from_slice(&tag);
            }
        }
    }
}
