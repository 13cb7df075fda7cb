//! The `custody` binary: set up a ledger, fill a demo clinic, verify, export and import.
//!
//! Exit codes: 0 success; 1 verification found a bad entry; 2 the command line or its input
//! is wrong; 3 anything else failed (database, files).

mod commands;
mod config;
mod first_start;
mod passphrase;
mod registrant;
mod witnessed;
mod witnessing;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::DataArgs;

#[derive(Parser, Debug)]
#[command(
    name = "custody",
    version,
    about = "Controlled-substance inventory and compliance ledger",
    long_about = "custody keeps every receipt, dose, waste, transfer, count and adjustment of \
                  DEA-scheduled drugs in a hash-chained, Ed25519-signed, append-only ledger.\n\n\
                  Exit codes: 0 success; 1 verification found a bad entry; 2 the command line or \
                  its input is wrong; 3 anything else failed (database, files)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a ledger: database, migrations, registrant key, genesis entry.
    Init(commands::init::InitArgs),
    /// Record a realistic ketamine clinic (deterministic per seed) in a new data directory.
    Demo(commands::demo::DemoArgs),
    /// Verify the whole ledger as stored; names the first bad entry and why.
    Verify(commands::verify::VerifyArgs),
    /// Write the ledger as JSONL (header line, then one entry per line).
    Export(commands::export::ExportArgs),
    /// Load a JSONL export into a new or empty data directory.
    Import(commands::export::ImportArgs),
    /// Verify a JSONL export offline, trusting only the registrant key given.
    VerifyExport(commands::export::VerifyExportArgs),
    /// Sign and record a checkpoint (size and Merkle root) with the registrant key; prints it.
    Checkpoint(commands::proof::CheckpointArgs),
    /// Print an inclusion proof (`--entry`) or a consistency proof (`--from-checkpoint`), as JSON.
    Prove(commands::proof::ProveArgs),
    /// Check a proof offline, given the registrant public key.
    VerifyProof(commands::proof::VerifyProofArgs),
    /// Write a signed PDF report (and its .sig): audit, inventory, waste, loss, trace, dispensing.
    Report(commands::report::ReportArgs),
    /// Write the ASAP file of a state's prescription monitoring program for a period, and
    /// record it in the ledger.
    Pmp(commands::pmp::PmpArgs),
    /// Check a report's signatures and checkpoint, and (with --export) rebuild it from the ledger.
    VerifyReport(commands::report::VerifyReportArgs),
    /// Serve the HTTP API (and, with --demo on an empty directory, the demo clinic).
    Serve(commands::serve::ServeArgs),
    /// Show the ledger's head and what is on hand.
    Status(DataArgs),
    /// Write a consistent copy of the SQLite database while the server runs; verify it.
    Backup(commands::backup::BackupArgs),
    /// Issue a new one-time bootstrap token for the first admin, while no one is enrolled.
    BootstrapToken(DataArgs),
    /// Measure append and verification rates (see docs/performance.md).
    Bench(commands::bench::BenchArgs),
    /// An independent witness of other ledgers' checkpoints (C2SP tlog-witness): init, serve.
    Witness(commands::witness::WitnessArgs),
}

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub enum Failure {
    /// Verification found a bad entry (exit 1).
    Invalid(String),
    /// The user's input is wrong (exit 2).
    Usage(String),
    /// Something else failed (exit 3).
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.into())
    }
}

pub type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    // Everything custody creates — the data directory, the database and its journal files,
    // keys, exports — is its owner's alone: directories 0700, files 0600.
    // SAFETY: umask only sets this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    // A command whose output is closed (`custody status | head -1`) ends quietly, as other
    // Unix tools do, instead of panicking on the broken pipe. The server keeps ignoring
    // SIGPIPE: a client hanging up must not end it.
    let serving = matches!(cli.command, Command::Serve(_))
        || matches!(
            &cli.command,
            Command::Witness(w) if matches!(w.command, commands::witness::WitnessCommand::Serve(_))
        );
    if !serving {
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The server logs JSON lines (one per request, with its request id) at info; the other
    // commands speak to a person and log only warnings. CUSTODY_LOG overrides the level.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODY_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if serving {
            "info,sqlx=warn,sea_orm=warn"
        } else {
            "warn"
        })
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if serving {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    // Commands run one step at a time: one thread keeps memory compact (fewer allocator
    // arenas) and costs nothing in speed. The server uses every core.
    let rt = if serving {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Init(a) => commands::init::run(a).await,
            Command::Demo(a) => commands::demo::run(a).await,
            Command::Verify(a) => commands::verify::run(a).await,
            Command::Export(a) => commands::export::export(a).await,
            Command::Import(a) => commands::export::import(a).await,
            Command::VerifyExport(a) => commands::export::verify_export(a).await,
            Command::Status(a) => commands::verify::status(a).await,
            Command::Backup(a) => commands::backup::run(a).await,
            Command::BootstrapToken(a) => commands::init::new_bootstrap_token(a).await,
            Command::Serve(a) => commands::serve::run(a).await,
            Command::Report(a) => commands::report::report(a).await,
            Command::VerifyReport(a) => commands::report::verify_report(a).await,
            Command::Pmp(a) => commands::pmp::pmp(a).await,
            Command::Checkpoint(a) => commands::proof::checkpoint(a).await,
            Command::Prove(a) => commands::proof::prove(a).await,
            Command::VerifyProof(a) => commands::proof::verify_proof(a),
            Command::Bench(a) => commands::bench::run(a).await,
            Command::Witness(a) => commands::witness::run(a).await,
        }
    });
    if std::env::var_os("CUSTODY_REPORT_PEAK_MEMORY").is_some() {
        // For `custody bench`: this process's own peak resident memory (a parent cannot
        // measure it: a forked child briefly counts the parent's pages as its own).
        if let Ok(status) = std::fs::read_to_string("/proc/self/status")
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            eprintln!("peak memory {}", line["VmHWM:".len()..].trim());
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}
