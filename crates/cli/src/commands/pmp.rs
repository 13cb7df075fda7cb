//! `custody pmp`: the ASAP file of a state's prescription monitoring program for a period,
//! recorded in the ledger (`pmp_reported`) as the server's `GET …/pmp/{state}` does.

use std::path::PathBuf;

use clap::Args;
use custody_ledger::Day;
use custody_report::pmp::{self, PmpError, Profiles};

use crate::config::DataArgs;
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct PmpArgs {
    /// The state (two letters) whose profile the file follows, e.g. FL or OH.
    #[arg(long)]
    pub state: String,
    /// First day of the period (YYYY-MM-DD, a day of --time-zone).
    #[arg(long)]
    pub from: Day,
    /// Last day of the period, inclusive.
    #[arg(long)]
    pub to: Day,
    #[command(flatten)]
    pub data: DataArgs,
    /// The clinic's time zone (IANA name): the period's days are its days [default: UTC].
    #[arg(long, env = "CUSTODY_TIME_ZONE", default_value = "UTC")]
    pub time_zone: custody_report::Zone,
    /// A TOML file of state profiles over the shipped ones (as `custody serve --pmp-profiles`).
    #[arg(long, env = "CUSTODY_PMP_PROFILES")]
    pub pmp_profiles: Option<PathBuf>,
    /// The file to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub async fn pmp(a: PmpArgs) -> Outcome {
    let profiles = match &a.pmp_profiles {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--pmp-profiles {}: {e}", path.display())))?;
            Profiles::with_override(&text)
                .map_err(|e| Failure::Usage(format!("--pmp-profiles {}: {e}", path.display())))?
        }
        None => Profiles::shipped(),
    };
    let profile = profiles.get(&a.state).map_err(Failure::Usage)?;
    let store = a.data.open(false).await?;
    let ledger = a.data.ledger(&store).await?;
    let key = a.data.registrant_key(&store, ledger).await?;
    let file = pmp::build(&store, ledger, profile, a.from, a.to, &a.time_zone)
        .await
        .map_err(|e| match e {
            PmpError::Missing { .. } | PmpError::Invalid(_) => Failure::Usage(e.to_string()),
            e => Failure::Other(e.into()),
        })?;
    let recorded = pmp::record(&store, ledger, &file, &key)
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    std::fs::write(&a.output, &file.text)
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", a.output.display())))?;
    println!(
        "{} PMP file ({} {}), {} to {}: {} dispensing record(s){}, control number {}",
        file.state,
        profile.name,
        file.version,
        file.from,
        file.to,
        file.records,
        if file.records == 0 {
            " (a zero report)"
        } else {
            ""
        },
        file.control_number
    );
    println!(
        "wrote {} (SHA-256 {})",
        a.output.display(),
        hex::encode(file.sha256)
    );
    if let Some(seq) = recorded {
        println!("recorded in the ledger as entry {seq} (pmp_reported)");
    }
    Ok(())
}
