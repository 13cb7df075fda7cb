//! `custody report` and `custody verify-report`: signed PDF reports, and their check.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;
use custody_ledger::{ContainerId, Day, Ndc, PatientRef, PublicKey};
use custody_report::{ReportKind, Request};

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// audit, inventory, waste, loss, trace, dispensing, diversion or rems.
    pub kind: ReportKind,
    #[command(flatten)]
    pub data: DataArgs,
    /// First day of the period (YYYY-MM-DD, a day of --time-zone) [default: 30 days before --to].
    #[arg(long)]
    pub from: Option<Day>,
    /// Last day of the period, inclusive; an inventory is taken at its close [default: today].
    #[arg(long)]
    pub to: Option<Day>,
    /// The clinic's time zone (IANA name, e.g. America/Chicago): the period runs from local
    /// midnight to local midnight there, and the report's times are shown in it; the same
    /// CUSTODY_TIME_ZONE as `custody serve` [default: UTC].
    #[arg(long, env = "CUSTODY_TIME_ZONE", default_value = "UTC")]
    pub time_zone: custody_report::Zone,
    /// For `diversion`: the clinic's hours (HH:MM-HH:MM) outside which signatures count as
    /// off-hours; the same CUSTODY_CLINIC_HOURS as `custody serve` [default: 07:00-19:00].
    #[arg(long, env = "CUSTODY_CLINIC_HOURS")]
    pub clinic_hours: Option<custody_analytics::Hours>,
    /// Only this product (NDC).
    #[arg(long)]
    pub product: Option<Ndc>,
    /// The container to trace (for `trace`), e.g. C12-3.
    #[arg(long)]
    pub container: Option<ContainerId>,
    /// For `dispensing`: only this practitioner (part of the name or the DEA number).
    #[arg(long)]
    pub prescriber: Option<String>,
    /// For `dispensing`: only this patient (their MRN, as typed at the dose).
    #[arg(long)]
    pub patient: Option<String>,
    /// For `dispensing`: the patient-identifying record, naming each patient with their name
    /// and address from the patient register (21 CFR 1304.22(c)); needs --reason.
    #[arg(long)]
    pub identify_patients: bool,
    /// Why the patient-identifying record is made; recorded in its manifest and in its
    /// report_issued entry.
    #[arg(long)]
    pub reason: Option<String>,
    /// The paper: letter or a4 [default: letter for a registrant with a US address, a4
    /// otherwise].
    #[arg(long, env = "CUSTODY_PAPER")]
    pub paper: Option<custody_report::layout::Paper>,
    /// pdf (the signed report) or csv (one of its tables, see --table).
    #[arg(long, value_enum, default_value_t = Format::Pdf)]
    pub format: Format,
    /// With --format csv: which table of the report (audit: balances, counts,
    /// discrepancies, pending, activity; inventory: inventory, open; waste: waste, pending;
    /// loss: loss; trace: activity; dispensing: dispensing) [default: the kind's first].
    #[arg(long)]
    pub table: Option<String>,
    /// The file to write; a PDF's signature goes to FILE.sig beside it.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// What `custody report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Pdf,
    Csv,
}

pub async fn report(a: ReportArgs) -> Outcome {
    let store = a.data.open(false).await?;
    let ledger = a.data.ledger(&store).await?;
    let key = a.data.registrant_key(&store, ledger).await?;
    let patient = match &a.patient {
        Some(mrn) => Some(PatientRef::commit(
            &*store.patient_secret(ledger, &key).await?,
            mrn.trim(),
        )),
        None => None,
    };
    let (from, to) = Request::period(a.from, a.to, a.time_zone.today());
    let req = Request {
        kind: a.kind,
        from,
        to,
        product: a.product,
        container: a.container,
        prescriber: a.prescriber.clone(),
        patient,
        time_zone: Request::zone_name(&a.time_zone),
        hours: (a.kind == ReportKind::Diversion)
            .then(|| a.clinic_hours.unwrap_or_default().to_string()),
        identified: a.identify_patients,
        reason: a.reason.clone(),
    };
    let mut extras = custody_report::extras(&store, ledger).await?;
    extras.paper = a.paper;
    if a.format == Format::Csv {
        let built = custody_report::build_csv(
            &store,
            ledger,
            &req,
            a.table.as_deref(),
            "custody report (command line)",
            &key,
            extras,
        )
        .await
        .map_err(|e| match e {
            custody_report::ReportError::Invalid(m) => Failure::Usage(m),
            e => Failure::Other(e.into()),
        })?;
        std::fs::write(&a.output, &built.csv)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", a.output.display())))?;
        println!(
            "{} report, table {}: {} rows, at checkpoint {}",
            a.kind, built.table, built.rows, built.checkpoint_size
        );
        println!("wrote {}", a.output.display());
        println!("sha256 {}", hex::encode(built.sha256));
        println!(
            "recorded in the ledger as entry {} (report_issued)",
            built.recorded_as
        );
        return Ok(());
    }
    if a.table.is_some() {
        return Err(Failure::Usage(
            "--table is for --format csv: a PDF holds every table".into(),
        ));
    }
    let built = custody_report::build(
        &store,
        ledger,
        &req,
        "custody report (command line)",
        &key,
        extras,
    )
    .await
    .map_err(|e| match e {
        custody_report::ReportError::Invalid(m) => Failure::Usage(m),
        e => Failure::Other(e.into()),
    })?;
    // Copied from the report's temporary file, created as `std::fs::write` would.
    built
        .pdf
        .save(&a.output)
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", a.output.display())))?;
    let sig = sig_path(&a.output);
    std::fs::write(&sig, built.signature)?;
    println!(
        "{} report: {} pages, {} entries listed, at checkpoint {}",
        a.kind, built.pages, built.manifest.entries, built.manifest.checkpoint_size
    );
    println!("wrote {} and {}", a.output.display(), sig.display());
    println!(
        "recorded in the ledger as entry {} (report_issued)",
        built.recorded_as
    );
    Ok(())
}

fn sig_path(pdf: &std::path::Path) -> PathBuf {
    let mut s = pdf.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

#[derive(Args, Debug)]
pub struct VerifyReportArgs {
    /// The report.
    pub file: PathBuf,
    /// Its detached signature [default: FILE.sig, when it exists].
    #[arg(long)]
    pub sig: Option<PathBuf>,
    /// The registrant public key (hex) you trust. Without it, the key the report names is
    /// used and the output says so.
    #[arg(long)]
    pub registrant_key: Option<PublicKey>,
    /// An export of the ledger as it is now: it must extend the report's checkpoint, and the
    /// report rebuilt from it must list the same entries and totals.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// A witness you trust: 'VKEY' (its cosignature/v1 verifier key) or 'VKEY URL'. The
    /// report must carry a checkpoint cosigned by --witness-quorum of them, which its ledger
    /// extends; with --export, the exported ledger must also extend the newest checkpoint
    /// cosigned by --witness-quorum of them. May be given several times.
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// How many of the witnesses given must have cosigned [default: all of them].
    #[arg(long)]
    pub witness_quorum: Option<usize>,
}

pub async fn verify_report(a: VerifyReportArgs) -> Outcome {
    let (witnesses, quorum) = crate::witnessed::trusted(&a.witness, a.witness_quorum)?;
    let witnessed_export = (!a.witness.is_empty() && a.export.is_some()).then(|| {
        crate::commands::export::VerifyExportArgs {
            file: a.export.clone().unwrap_or_default(),
            registrant_key: a.registrant_key,
            checkpoint: Vec::new(),
            witness: a.witness.clone(),
            witness_quorum: a.witness_quorum,
        }
    });
    report_itself(a, &witnesses, quorum)?;
    match witnessed_export {
        // The export the report was rebuilt from, held to what the witnesses cosigned.
        Some(w) => crate::commands::export::verify_export(w).await,
        None => Ok(()),
    }
}

/// Which carried checkpoint `witnesses` cosigned (`quorum` of them): its size and how many.
/// `None` for a report made before reports carried them, checked with an export instead.
fn report_witnessed(
    m: &custody_report::Manifest,
    witnesses: &[crate::witnessed::Trusted],
    quorum: usize,
    with_export: bool,
) -> Result<Option<(u64, usize)>, Failure> {
    if m.version < 2 {
        if with_export {
            println!(
                "note: the report was issued before reports carried cosigned checkpoints (manifest version {}): only the export is held to the witnesses",
                m.version
            );
            return Ok(None);
        }
        return Err(Failure::Invalid(format!(
            "FAILED: the report carries no cosigned checkpoint: it was issued before reports carried them (manifest version {}); check it with --export and the witnesses' addresses instead [not_witnessed]",
            m.version
        )));
    }
    let notes: Vec<String> = m.cosigned.iter().map(|c| c.note.clone()).collect();
    let found = crate::witnessed::gather(notes.clone(), m.ledger, witnesses, quorum);
    match found.first() {
        Some((c, n)) => Ok(Some((c.checkpoint.size, *n))),
        None => Err(crate::witnessed::not_carried(
            "the report",
            &notes,
            "no witness had cosigned a checkpoint of this ledger when it was issued (it was issued without witnesses configured, or before any had answered)",
            witnesses,
            quorum,
        )),
    }
}

fn report_itself(
    a: VerifyReportArgs,
    witnesses: &[crate::witnessed::Trusted],
    quorum: usize,
) -> Outcome {
    let pdf = std::fs::read(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", a.file.display())))?;
    let sig_file = a.sig.clone().or_else(|| {
        let p = sig_path(&a.file);
        p.exists().then_some(p)
    });
    let sig = match &sig_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", p.display())))?,
        ),
        None => None,
    };
    if let Some(p) = &a.export
        && !p.exists()
    {
        return Err(Failure::Usage(format!("cannot read {}", p.display())));
    }
    let export = a.export.clone();
    let open = move || -> std::io::Result<Box<dyn BufRead>> {
        let p = export.clone().unwrap_or_default();
        Ok(Box::new(std::io::BufReader::new(std::fs::File::open(p)?)))
    };
    let r = custody_report::verify(
        &pdf,
        sig.as_deref(),
        a.registrant_key,
        a.export
            .as_ref()
            .map(|_| &open as &dyn Fn() -> std::io::Result<Box<dyn BufRead>>),
    );
    match r {
        Ok(v) => {
            let m = &v.manifest;
            // The cosigned checkpoints were checked against the report's checkpoint; count
            // who cosigned them before saying anything is ok.
            let witnessed = if witnesses.is_empty() {
                None
            } else {
                report_witnessed(m, witnesses, quorum, a.export.is_some())?
            };
            println!(
                "ok: {} report of ledger {} ({}), {} to {}, {} entries listed, at checkpoint {}",
                m.request.kind,
                m.ledger,
                m.registrant,
                m.request.from,
                m.request.to,
                m.entries,
                m.checkpoint_size
            );
            if let Some(e) = &v.embedded {
                println!(
                    "the embedded PDF signature verifies (PAdES, certificate SHA-256 {}, named by the signed manifest)",
                    e.certificate_sha256
                );
            }
            if v.detached_checked {
                println!("the PDF's detached signature verifies");
            } else {
                println!("no detached signature was checked (no .sig file)");
            }
            if !v.key_trusted {
                println!(
                    "note: no --registrant-key given: trusted the key the report names ({})",
                    m.registrant_key
                );
            }
            if let Some((size, n)) = witnessed {
                println!(
                    "its ledger of {} entries extends the checkpoint of {size} entries it carries, cosigned by {n} of the {} witness(es) given",
                    m.checkpoint_size,
                    witnesses.len()
                );
            } else if let Some(c) = m.cosigned.first()
                && let Ok(c) = custody_ledger::checkpoint::SignedCheckpoint::parse(&c.note)
            {
                println!(
                    "its ledger extends the cosigned checkpoint of {} entries it carries (give --witness VKEY to check who cosigned it)",
                    c.checkpoint.size
                );
            } else if m.version >= 2 && witnesses.is_empty() {
                println!(
                    "it carries no cosigned checkpoint: no witness had cosigned one when it was issued"
                );
            }
            if let Some(n) = v.export_entries {
                println!(
                    "the export ({n} entries) verifies, extends the checkpoint, and rebuilds the same report"
                );
            }
            Ok(())
        }
        Err(e) if e.is_verification_failure() => Err(Failure::Invalid(format!("FAILED: {e}"))),
        Err(custody_report::ReportError::Manifest(m)) => {
            Err(Failure::Invalid(format!("FAILED: {m}")))
        }
        Err(e) => Err(Failure::Other(e.into())),
    }
}
