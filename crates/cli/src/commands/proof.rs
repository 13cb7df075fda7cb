//! `custody checkpoint`, `custody prove`, `custody verify-proof`.

use std::path::PathBuf;

use clap::Args;
use custody_ledger::checkpoint::{SignedCheckpoint, origin};
use custody_ledger::proof::{ProofFile, Proven};
use custody_ledger::{LedgerId, PublicKey};
use custody_store::Store;

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Also write the signed note to this file.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["entry", "from_checkpoint"])))]
pub struct ProveArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Prove that this entry (its sequence number) is in the ledger.
    #[arg(long)]
    pub entry: Option<u64>,
    /// …against this checkpoint (default: a new checkpoint of the ledger as it stands).
    #[arg(long, requires = "entry")]
    pub checkpoint: Option<PathBuf>,
    /// Prove that the ledger now extends this older checkpoint.
    #[arg(long, conflicts_with = "entry")]
    pub from_checkpoint: Option<PathBuf>,
    /// …up to this newer checkpoint (default: a new checkpoint of the ledger as it stands).
    #[arg(long, requires = "from_checkpoint")]
    pub to_checkpoint: Option<PathBuf>,
    /// Where to write the proof (JSON); default standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyProofArgs {
    /// A proof written by `custody prove`.
    pub file: PathBuf,
    /// The registrant public key (hex) you trust; give it twice across a key rotation.
    #[arg(long, required = true)]
    pub registrant_key: Vec<PublicKey>,
}

/// Reads and parses a checkpoint file, and checks it names this ledger.
pub fn read_checkpoint(path: &PathBuf, ledger: &LedgerId) -> Result<SignedCheckpoint, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let c = SignedCheckpoint::parse(&text)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let want = origin(ledger);
    if c.checkpoint.origin != want {
        return Err(Failure::Usage(format!(
            "{} is a checkpoint of {}, not of this ledger ({want})",
            path.display(),
            c.checkpoint.origin
        )));
    }
    Ok(c)
}

/// A checkpoint larger than the ledger means entries were removed: a failed check (exit 1).
async fn shorter_than(store: &Store, ledger: LedgerId, size: u64) -> Outcome {
    let have = store.head(ledger).await?.entries;
    if size > have {
        return Err(Failure::Invalid(format!(
            "FAILED: the ledger holds {have} entries but the checkpoint covers {size}: entries were removed [shorter_than_checkpoint]"
        )));
    }
    Ok(())
}

async fn fresh_checkpoint(
    data: &DataArgs,
    store: &Store,
    ledger: LedgerId,
) -> Result<SignedCheckpoint, Failure> {
    let key = data.registrant_key(store, ledger).await?;
    store
        .issue_checkpoint(ledger, &key)
        .await
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn write_out(output: &Option<PathBuf>, text: &str) -> Outcome {
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", p.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

pub async fn checkpoint(a: CheckpointArgs) -> Outcome {
    let store = a.data.open(false).await?;
    let ledger = a.data.ledger(&store).await?;
    let c = fresh_checkpoint(&a.data, &store, ledger).await?;
    let note = c.to_note();
    if let Some(p) = &a.output {
        std::fs::write(p, &note)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", p.display())))?;
    }
    print!("{note}");
    Ok(())
}

pub async fn prove(a: ProveArgs) -> Outcome {
    let store = a.data.open(false).await?;
    let ledger = a.data.ledger(&store).await?;
    let proof = if let Some(seq) = a.entry {
        let cp = match &a.checkpoint {
            Some(p) => read_checkpoint(p, &ledger)?,
            None => fresh_checkpoint(&a.data, &store, ledger).await?,
        };
        let size = cp.checkpoint.size;
        shorter_than(&store, ledger, size).await?;
        let p = store
            .inclusion_proof(ledger, seq, size)
            .await
            .map_err(|e| Failure::Usage(e.to_string()))?;
        if p.root != cp.checkpoint.root {
            return Err(Failure::Invalid(format!(
                "FAILED: the ledger's first {size} entries do not hash to the checkpoint's root: the ledger does not extend that checkpoint"
            )));
        }
        let bytes = store
            .entry_bytes(
                ledger,
                custody_ledger::Seq::new(seq).map_err(|e| Failure::Usage(e.to_string()))?,
            )
            .await?;
        ProofFile::Inclusion {
            ledger,
            seq,
            entry_hash: p.entry_hash,
            entry: bytes.map(hex::encode),
            tree_size: size,
            root: p.root,
            path: p.path,
            checkpoint: cp.to_note(),
        }
    } else {
        let old_path = a
            .from_checkpoint
            .as_ref()
            .expect("clap requires one of the two");
        let old = read_checkpoint(old_path, &ledger)?;
        shorter_than(&store, ledger, old.checkpoint.size).await?;
        let new = match &a.to_checkpoint {
            Some(p) => read_checkpoint(p, &ledger)?,
            None => fresh_checkpoint(&a.data, &store, ledger).await?,
        };
        let p = store
            .consistency_proof(ledger, old.checkpoint.size, new.checkpoint.size)
            .await
            .map_err(|e| Failure::Usage(e.to_string()))?;
        if p.old_root != old.checkpoint.root || p.new_root != new.checkpoint.root {
            return Err(Failure::Invalid(
                "FAILED: the stored ledger does not hash to these checkpoints' roots: it does not extend them"
                    .into(),
            ));
        }
        ProofFile::Consistency {
            ledger,
            old_size: p.old_size,
            old_root: p.old_root,
            new_size: p.new_size,
            new_root: p.new_root,
            path: p.path,
            old_checkpoint: old.to_note(),
            new_checkpoint: new.to_note(),
        }
    };
    let json = serde_json::to_string_pretty(&proof)? + "\n";
    write_out(&a.output, &json)
}

pub fn verify_proof(a: VerifyProofArgs) -> Outcome {
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", a.file.display())))?;
    let proof: ProofFile = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{} is not a custody proof: {e}", a.file.display())))?;
    match proof.verify(&a.registrant_key) {
        Ok(Proven::Inclusion {
            seq,
            tree_size,
            entry,
        }) => {
            let kind = entry
                .map(|e| format!(" ({})", e.kind()))
                .unwrap_or_default();
            println!(
                "ok: entry {seq}{kind} is in the ledger of {tree_size} entries signed by the registrant"
            );
            Ok(())
        }
        Ok(Proven::Consistency { old_size, new_size }) => {
            println!(
                "ok: the ledger of {new_size} entries extends, unchanged, the ledger of {old_size} entries"
            );
            Ok(())
        }
        Err(e) => Err(Failure::Invalid(format!("FAILED: {e}"))),
    }
}
