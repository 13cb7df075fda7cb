//! `custody backup`: a consistent copy of the SQLite database, made while the server goes on
//! writing, then opened and verified like the original, its head printed.

use std::path::PathBuf;

use clap::Args;
use custody_store::Store;

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The file to write the copy to (it must not exist yet).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub async fn run(a: BackupArgs) -> Outcome {
    if a.data
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        return Err(Failure::Usage(
            "this database is PostgreSQL: back it up with pg_dump (see docs/operations.md)".into(),
        ));
    }
    if a.output.exists() {
        return Err(Failure::Usage(format!(
            "{} exists already: name a new file",
            a.output.display()
        )));
    }
    let store = a.data.open(false).await?;
    store.backup_to(&a.output).await?;
    store.close().await.ok();
    // The copy answers for itself: every ledger in it verifies, and its head is what it holds.
    let copy = Store::open_file(&a.output).await?;
    for l in copy.ledgers().await? {
        match copy.verify(l.ledger, None, |_, _| {}).await? {
            Ok(s) => println!(
                "ledger {}: {} entries, head {}, verified",
                l.ledger, s.entries, s.head
            ),
            Err(f) => {
                return Err(Failure::Invalid(format!(
                    "the copy of ledger {} does not verify at entry {}: {}",
                    l.ledger, f.seq, f.reason
                )));
            }
        }
    }
    copy.close().await.ok();
    println!("backup {}", a.output.display());
    for k in a.data.keys().files()? {
        println!(
            "the registrant key {} is not in it: keep a copy of that file apart, as safely, and its passphrase apart from both",
            k.path.display()
        );
    }
    Ok(())
}
