//! `custody verify` and `custody status`.

use std::io::IsTerminal;

use clap::Args;
use custody_ledger::PublicKey;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The registrant public key (hex) you trust; by default the database's genesis key.
    #[arg(long)]
    pub registrant_key: Option<PublicKey>,
    /// A checkpoint you hold (a file from `custody checkpoint`): the ledger must extend it.
    /// May be given several times.
    #[arg(long)]
    pub checkpoint: Vec<std::path::PathBuf>,
    /// A witness you trust: 'VKEY' (its cosignature/v1 verifier key) or 'VKEY URL' (then its
    /// newest cosigned checkpoint is fetched from it). The ledger must extend the newest
    /// checkpoint cosigned by --witness-quorum of them. May be given several times.
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// How many of the witnesses given must have cosigned [default: all of them].
    #[arg(long)]
    pub witness_quorum: Option<usize>,
}

pub async fn run(a: VerifyArgs) -> Outcome {
    let store = a.data.open_to_verify().await?;
    let ledger = a.data.ledger(&store).await?;
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "verifying {bar:40} {pos}/{len} entries ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut checkpoints = a
        .checkpoint
        .iter()
        .map(|p| crate::commands::proof::read_checkpoint(p, &ledger))
        .collect::<Result<Vec<_>, _>>()?;
    let (witnesses, quorum) = crate::witnessed::trusted(&a.witness, a.witness_quorum)?;
    let mut witnessed = None;
    if !witnesses.is_empty() {
        let files = a
            .checkpoint
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect::<Vec<_>>();
        let cosigned =
            crate::witnessed::cosigned(Some(&store), ledger, &witnesses, quorum, &files).await?;
        let Some((newest, n)) = cosigned.first() else {
            return Err(crate::witnessed::not_witnessed(quorum, witnesses.len()));
        };
        witnessed = Some((newest.checkpoint.size, *n));
        checkpoints.extend(cosigned.into_iter().map(|(c, _)| c));
    }
    let held = a.checkpoint.len();
    let result = store
        .verify_with(ledger, a.registrant_key, checkpoints, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish_and_clear();
    match result {
        Ok(s) => {
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
            Ok(())
        }
        Err(f) if matches!(f.reason, custody_ledger::Reason::MaterializedMismatch(_)) => {
            Err(Failure::Invalid(format!(
                "FAILED: the {} entries verify, but {} [{}]",
                f.seq,
                f.reason,
                f.reason.code()
            )))
        }
        Err(f) => Err(Failure::Invalid(format!(
            "FAILED: entry {} is bad: {} [{}]",
            f.seq,
            f.reason,
            f.reason.code()
        ))),
    }
}

pub async fn status(a: DataArgs) -> Outcome {
    let store = a.open(false).await?;
    let ledger = a.ledger(&store).await?;
    let head = store.head(ledger).await?;
    println!("ledger {ledger}");
    println!(
        "registrant {} ({}), key {}",
        head.registrant.name, head.registrant.dea, head.registrant_key
    );
    println!(
        "checkpoint vkey {}",
        custody_ledger::note::checkpoint_vkey(&ledger, &head.registrant_key)
    );
    println!(
        "{} entries, head {}, last at {}",
        head.entries, head.last_hash, head.last_timestamp
    );
    println!("on hand:");
    for r in store.on_hand(ledger).await? {
        println!(
            "  {} lot {} at {}: {} sealed, {} open holding {}, {} in all",
            r.product,
            r.lot,
            r.location,
            r.sealed_containers,
            r.open_containers,
            r.open_remaining,
            r.total
        );
    }
    Ok(())
}
