//! `custody export`, `custody import`, `custody verify-export`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::PathBuf;

use clap::Args;
use custody_ledger::PublicKey;
use custody_store::export::{ExportError, read_carried, verify_export as verify_file};

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the JSONL export.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// A JSONL export written by `custody export`.
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct VerifyExportArgs {
    /// A JSONL export written by `custody export`.
    pub file: PathBuf,
    /// The registrant public key (hex) you trust. Without it, the key in the file is trusted
    /// and the output says so.
    #[arg(long)]
    pub registrant_key: Option<PublicKey>,
    /// A checkpoint you hold: the exported ledger must extend it. May be given several times.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// A witness you trust: 'VKEY' or 'VKEY URL' (then its newest cosigned checkpoint is
    /// fetched from it). The exported ledger must extend the newest checkpoint cosigned by
    /// --witness-quorum of them (among the cosigned checkpoints the export carries, the files
    /// given and what the witnesses hold).
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// How many of the witnesses given must have cosigned [default: all of them].
    #[arg(long)]
    pub witness_quorum: Option<usize>,
}

pub async fn export(a: ExportArgs) -> Outcome {
    let store = a.data.open(false).await?;
    let ledger = a.data.ledger(&store).await?;
    let f = File::create(&a.output)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", a.output.display())))?;
    let mut w = BufWriter::new(f);
    let n = store.export(ledger, &mut w).await?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    println!(
        "exported {n} entries of ledger {ledger} to {}",
        a.output.display()
    );
    Ok(())
}

pub async fn import(a: ImportArgs) -> Outcome {
    let f = File::open(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot open {}: {e}", a.file.display())))?;
    let store = a.data.open(true).await?;
    match store.import(BufReader::new(f)).await {
        Ok(s) => {
            println!(
                "imported {} entries of ledger {}, head {}",
                s.entries, s.ledger, s.head
            );
            Ok(())
        }
        Err(e @ custody_store::StoreError::NotEmpty) => Err(Failure::Usage(e.to_string())),
        Err(e @ custody_store::StoreError::Import { .. }) => Err(Failure::Invalid(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub async fn verify_export(a: VerifyExportArgs) -> Outcome {
    let f = File::open(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot open {}: {e}", a.file.display())))?;
    let mut checkpoints = Vec::new();
    for p in &a.checkpoint {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", p.display())))?;
        checkpoints.push(
            custody_ledger::checkpoint::SignedCheckpoint::parse(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))?,
        );
    }
    if !checkpoints.is_empty() {
        // Name a checkpoint of another ledger as the input mistake it is.
        let mut first = String::new();
        BufReader::new(File::open(&a.file)?).read_line(&mut first)?;
        if let Ok(h) = serde_json::from_str::<custody_store::export::Header>(&first) {
            let want = custody_ledger::checkpoint::origin(&h.ledger);
            if let Some(c) = checkpoints.iter().find(|c| c.checkpoint.origin != want) {
                return Err(Failure::Usage(format!(
                    "a checkpoint given is of {}, not of this ledger ({want})",
                    c.checkpoint.origin
                )));
            }
        }
    }
    let held = checkpoints.len();
    let (witnesses, quorum) = crate::witnessed::trusted(&a.witness, a.witness_quorum)?;
    let mut witnessed = None;
    if !witnesses.is_empty() {
        // The cosigned checkpoints the file carries (its first lines), the files given, and
        // what each witness named with its address holds.
        let (header, carried) = read_carried(BufReader::new(File::open(&a.file)?))
            .map_err(|e| Failure::Invalid(format!("FAILED: {e} [{}]", e.code())))?;
        let carried: Vec<String> = carried.into_iter().map(|c| c.note).collect();
        let mut notes = a
            .checkpoint
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect::<Vec<_>>();
        notes.extend(carried.iter().cloned());
        let cosigned =
            crate::witnessed::cosigned(None, header.ledger, &witnesses, quorum, &notes).await?;
        let Some((newest, n)) = cosigned.first() else {
            return Err(if witnesses.iter().any(|w| w.url.is_some()) || held > 0 {
                crate::witnessed::not_witnessed(quorum, witnesses.len())
            } else {
                crate::witnessed::not_carried(
                    "the export",
                    &carried,
                    if header.version < 2 {
                        "it is a version 1 export, made before exports carried them"
                    } else {
                        "it was exported before any witness had cosigned a checkpoint of this ledger, or its checkpoint line was removed"
                    },
                    &witnesses,
                    quorum,
                )
            });
        };
        witnessed = Some((newest.checkpoint.size, *n));
        checkpoints.extend(cosigned.into_iter().map(|(c, _)| c));
    }
    match verify_file(BufReader::new(f), a.registrant_key, checkpoints, |_| {}) {
        Ok((header, s)) => {
            if a.registrant_key.is_none() {
                println!(
                    "note: no --registrant-key given; trusting the key in the file, {}",
                    header.registrant_public_key
                );
            }
            println!("ok: {} entries, head {}", s.entries, s.head);
            if let Some((size, n)) = witnessed {
                println!(
                    "it extends the checkpoint of {size} entries cosigned by {n} of the {} witness(es) given",
                    witnesses.len()
                );
            }
            if held > 0 {
                println!("it extends the {held} checkpoint(s) given");
            }
            if witnessed.is_none()
                && let Ok((_, carried)) = read_carried(BufReader::new(File::open(&a.file)?))
                && let Some(c) = carried.iter().map(|c| c.signed.checkpoint.size).max()
            {
                println!(
                    "it extends the cosigned checkpoint of {c} entries it carries (give --witness VKEY to check who cosigned it)"
                );
            }
            Ok(())
        }
        Err(ExportError::Io(e)) => Err(e.into()),
        Err(ExportError::Failed(f)) => Err(Failure::Invalid(format!(
            "FAILED: entry {} is bad: {} [{}]",
            f.seq,
            f.reason,
            f.reason.code()
        ))),
        Err(e) => Err(Failure::Invalid(format!("FAILED: {e} [{}]", e.code()))),
    }
}
