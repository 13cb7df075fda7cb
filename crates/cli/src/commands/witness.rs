//! `custody witness init` and `custody witness serve`: an independent witness of custody
//! ledgers (C2SP tlog-witness), meant for another machine — the medical director's, a
//! parent organisation's, a peer clinic's. It keeps its own Ed25519 key, sealed at rest like
//! the registrant key, and one SQLite file of what it holds per ledger.
//!
//! The passphrase comes from `CUSTODY_WITNESS_PASSPHRASE`, the file named by
//! `--passphrase-file` (`init` generates one into it when the file does not exist yet), or
//! systemd's credential `custody-witness-passphrase`; never from beside the key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use custody_ledger::PublicKey;
use custody_ledger::note::{Vkey, is_valid_key_name};
use custody_store::keystore;
use custody_witness::Witness;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::passphrase::{Sources, generate_into, read_private, write_private};
use crate::{Failure, Outcome};

pub const KEY_FILE: &str = "witness.key";
pub const PASS_ENV: &str = "CUSTODY_WITNESS_PASSPHRASE";
pub const CREDENTIAL: &str = "custody-witness-passphrase";
const HEADER: &str = "custody witness key v1";

#[derive(Args, Debug)]
pub struct WitnessArgs {
    #[command(subcommand)]
    pub command: WitnessCommand,
}

#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Make the witness's key (sealed under a passphrase) and print its vkey.
    Init(InitArgs),
    /// Witness the logs named by --log: POST /add-checkpoint (C2SP tlog-witness).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The witness's directory: its key (witness.key) and what it holds (witness.db).
    #[arg(long, env = "CUSTODY_WITNESS_DATA")]
    pub data: PathBuf,
    /// File holding the witness key's passphrase (when CUSTODY_WITNESS_PASSPHRASE is not
    /// set); `init` generates one into it when it does not exist.
    #[arg(long, env = "CUSTODY_WITNESS_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The witness's name, a schema-less URL (e.g. witness.example.org/director).
    #[arg(long)]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "CUSTODY_WITNESS_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// A log to witness, by its checkpoint vkey (`custody status` prints it:
    /// custody.ledger/<uuid>+<id>+<key>). Repeat for several logs, or for both keys of one
    /// across a registrant key rotation.
    #[arg(long = "log", required = true)]
    pub logs: Vec<String>,
}

impl KeyArgs {
    fn key_path(&self) -> PathBuf {
        self.data.join(KEY_FILE)
    }

    fn sources(&self) -> Sources<'_> {
        Sources {
            env: PASS_ENV,
            file: self.passphrase_file.as_deref(),
            credential: CREDENTIAL,
            whose: "the witness key",
        }
    }

    /// The passphrase from the first source that has one.
    fn passphrase(&self) -> anyhow::Result<Zeroizing<String>> {
        let sources = self.sources();
        match sources.find()? {
            Some((p, _)) => Ok(p),
            None => Err(sources.missing("--passphrase-file")),
        }
    }

    /// The passphrase for a new key: generated into --passphrase-file when it names a file
    /// that does not exist and the environment gives none.
    fn new_passphrase(&self) -> anyhow::Result<Zeroizing<String>> {
        match &self.passphrase_file {
            Some(f) if !self.sources().env_set() && !f.exists() => {
                let p = generate_into(f)?;
                eprintln!(
                    "the witness key's passphrase was generated into {}",
                    f.display()
                );
                Ok(p)
            }
            _ => self.passphrase(),
        }
    }

    /// Opens the witness key: its name and the key.
    fn open(&self) -> anyhow::Result<(String, SigningKey)> {
        let path = self.key_path();
        let text = read_private(&path, || {
            format!(
                "no witness key at {} (run `custody witness init`)",
                path.display()
            )
        })?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            bail!("{} is not a custody witness key file", path.display());
        }
        let mut next = |what: &str| {
            lines
                .next()
                .with_context(|| format!("{} lacks its {what}", path.display()))
        };
        let name = next("name")?.to_string();
        let public: PublicKey = next("public key")?.parse()?;
        let sealed = hex::decode(next("sealed key")?)?;
        let pass = self.passphrase()?;
        let key = keystore::unseal(&sealed, &pass, &public.key_id())
            .with_context(|| format!("cannot open {} with the passphrase given", path.display()))?;
        Ok((name, key))
    }
}

pub async fn run(a: WitnessArgs) -> Outcome {
    match a.command {
        WitnessCommand::Init(a) => init(a),
        WitnessCommand::Serve(a) => serve(a).await,
    }
}

fn init(a: InitArgs) -> Outcome {
    if !is_valid_key_name(&a.name) {
        return Err(Failure::Usage(format!(
            "{:?} cannot name a key: no spaces or `+` (a schema-less URL such as witness.example.org/director)",
            a.name
        )));
    }
    let path = a.key.key_path();
    if path.exists() {
        return Err(Failure::Usage(format!(
            "{} already holds a witness key",
            path.display()
        )));
    }
    // Check the passphrase can be had before anything is written.
    if a.key.passphrase_file.is_none() {
        a.key
            .passphrase()
            .map_err(|e| Failure::Usage(format!("{e:#}")))?;
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&a.key.data)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", a.key.data.display())))?;
    fs::set_permissions(&a.key.data, fs::Permissions::from_mode(0o700))?;
    let key = keystore::generate()?;
    let public = PublicKey::from(&key);
    let vkey = Vkey::cosignature_v1(&a.name, public).map_err(|e| Failure::Usage(e.to_string()))?;
    let pass = a.key.new_passphrase()?;
    let sealed = keystore::seal(&key, &pass, keystore::Cost::default())?;
    let text = format!("{HEADER}\n{}\n{public}\n{}\n", a.name, hex::encode(sealed));
    write_private(&path, text.as_bytes())?;
    eprintln!(
        "witness key written to {} (sealed under its passphrase)",
        path.display()
    );
    println!("{vkey}");
    Ok(())
}

async fn serve(a: ServeArgs) -> Outcome {
    let mut logs = Vec::new();
    for l in &a.logs {
        logs.push(custody_witness::parse_log_vkey(l).map_err(|e| {
            Failure::Usage(format!(
                "--log {l}: {e} (give the checkpoint vkey `custody status` prints)"
            ))
        })?);
    }
    let (name, key) = a.key.open().map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let witness = Witness::open(&a.key.data, &name, key, logs).await?;
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| Failure::Usage(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    println!("witness {}", witness.vkey());
    for o in witness.origins() {
        println!("log {o}");
    }
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    let witness = Arc::new(witness);
    custody_witness::serve(
        listener,
        witness.clone(),
        crate::commands::serve::shutdown(),
    )
    .await?;
    if let Ok(w) = Arc::try_unwrap(witness) {
        w.close().await?;
    }
    Ok(())
}
