//! `custody serve`: the HTTP API on a ledger's database.
//!
//! Settings come from a flag, else its `CUSTODY_*` environment variable, else the TOML file
//! named by `--config` (or `CUSTODY_CONFIG`), else the default shown in `--help`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use custody_api::state::Cidr;
use custody_api::{ApiConfig, AppState};
use custody_clinic::{Clinic, RegistrantKeys, Settings as ClinicSettings};
use custody_ledger::{DeaNumber, LedgerId, Party, Text};
use custody_store::CoreSlots;
use serde::Deserialize;

use crate::config::DataArgs;
use crate::first_start::{self, Found, Stage};
use crate::registrant::{self, NewPassphrase};
use crate::witnessing::{Peer, Witnessing};
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML file of settings (the same names as the flags, with underscores).
    #[arg(long, env = "CUSTODY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: the SQLite database and the registrant key [default: ./custody-data].
    #[arg(long, env = "CUSTODY_DATA")]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); default SQLite in the data directory.
    #[arg(long, env = "CUSTODY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// File holding the registrant key's passphrase (when CUSTODY_REGISTRANT_PASSPHRASE is
    /// not set); at the first start a passphrase is generated into it if it does not exist.
    #[arg(long, env = "CUSTODY_REGISTRANT_PASSPHRASE_FILE")]
    pub registrant_passphrase_file: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the address is printed)
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "CUSTODY_LISTEN")]
    pub listen: Option<String>,
    /// On an empty data directory, record the demo clinic and print its sign-ins.
    #[arg(long, env = "CUSTODY_DEMO")]
    pub demo: bool,
    /// Seed of the demo clinic [default: 1].
    #[arg(long, env = "CUSTODY_SEED")]
    pub seed: Option<u64>,
    /// To initialize an empty data directory: the registrant's name as registered with the DEA.
    #[arg(long, env = "CUSTODY_REGISTRANT_NAME")]
    pub registrant_name: Option<String>,
    /// To initialize: the registrant's registered address (\n between lines).
    #[arg(long, env = "CUSTODY_REGISTRANT_ADDRESS")]
    pub registrant_address: Option<String>,
    /// To initialize: the registrant's DEA registration number.
    #[arg(long, env = "CUSTODY_REGISTRANT_DEA")]
    pub registrant_dea: Option<String>,
    /// Mark the session cookie Secure (set this when served behind TLS).
    #[arg(long, env = "CUSTODY_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Minutes a session may sit unused [default: 15].
    #[arg(long, env = "CUSTODY_IDLE_MINUTES")]
    pub idle_minutes: Option<u64>,
    /// Hours a session lasts at most [default: 12].
    #[arg(long, env = "CUSTODY_SESSION_HOURS")]
    pub session_hours: Option<u64>,
    /// Wrong passwords an account may have before each further attempt waits (30 s, doubling
    /// with each one, at most 15 minutes) [default: 5].
    #[arg(long, env = "CUSTODY_MAX_FAILED_LOGINS")]
    pub max_failed_logins: Option<u32>,
    /// Wrong passwords one client address may send in 15 minutes [default: 100].
    #[arg(long, env = "CUSTODY_ADDRESS_LIMIT")]
    pub address_limit: Option<u32>,
    /// A witness to send every checkpoint to: 'VKEY URL' (its cosignature/v1 verifier key, a
    /// space, its address); repeatable, or comma-separated in the environment.
    #[arg(long = "witness", env = "CUSTODY_WITNESS", value_delimiter = ',')]
    pub witness: Vec<String>,
    /// How many witnesses must cosign a checkpoint; fewer is logged as a warning
    /// [default: all of them].
    #[arg(long, env = "CUSTODY_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,
    /// Serve the ledger's tlog tiles and bundles (/tlog/…) to anyone, not only to signed-in
    /// auditors and admins.
    #[arg(long, env = "CUSTODY_PUBLIC_TILES")]
    pub public_tiles: bool,
    /// Seconds between checkpoints: one is signed when a ledger has grown and this much time
    /// has passed, and once more at shutdown [default: 60].
    #[arg(long, env = "CUSTODY_CHECKPOINT_EVERY")]
    pub checkpoint_every: Option<u64>,
    /// A reverse proxy (address or CIDR range) whose X-Forwarded-For names the client;
    /// repeatable, or comma-separated in the environment.
    #[arg(
        long = "trusted-proxy",
        env = "CUSTODY_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<String>,
    /// The clinic's time zone, an IANA name such as America/Chicago: web pages show and take
    /// times in it and report periods are its days (the ledger and the JSON API stay UTC)
    /// [default: UTC].
    #[arg(long, env = "CUSTODY_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// A Spravato dose for a patient not enrolled in the REMS: `refuse` (outpatient settings)
    /// or `warn` (inpatient settings, which the REMS exempts: allowed and logged)
    /// [default: refuse].
    #[arg(long, env = "CUSTODY_REMS_CHECK")]
    pub rems_check: Option<String>,
    /// Minutes from the first Spravato device before a REMS monitoring session may close
    /// [default: 120, the REMS minimum].
    #[arg(long, env = "CUSTODY_REMS_MONITORING_MINUTES")]
    pub rems_monitoring_minutes: Option<u32>,
    /// Hours after a dose was given beyond which charting it needs a reason (`late_reason`),
    /// recorded in its entry [default: 24].
    #[arg(long, env = "CUSTODY_LATE_CHARTING_HOURS")]
    pub late_charting_hours: Option<u64>,
    /// The clinic's opening hours, HH:MM-HH:MM in its time zone: diversion analytics count
    /// signatures outside them [default: 07:00-19:00].
    #[arg(long, env = "CUSTODY_CLINIC_HOURS")]
    pub clinic_hours: Option<String>,
    /// The paper reports are laid out on: letter or a4 [default: letter for a registrant
    /// with a US address, a4 otherwise].
    #[arg(long, env = "CUSTODY_PAPER")]
    pub paper: Option<String>,
    /// A TOML file of state PMP profiles over the shipped ones (docs/pmp.md): a state it
    /// names is replaced whole, a new one added.
    #[arg(long, env = "CUSTODY_PMP_PROFILES")]
    pub pmp_profiles: Option<PathBuf>,
    /// A state whose PMP the clinic reports to (two letters; repeat or comma-separate): the
    /// dashboard shows its next deadline.
    #[arg(long = "pmp-state", env = "CUSTODY_PMP_STATES", value_delimiter = ',')]
    pub pmp_state: Vec<String>,
}

/// The TOML settings file: every field optional, unknown names refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data: Option<PathBuf>,
    pub database_url: Option<String>,
    pub registrant_passphrase_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub demo: Option<bool>,
    pub seed: Option<u64>,
    pub registrant_name: Option<String>,
    pub registrant_address: Option<String>,
    pub registrant_dea: Option<String>,
    pub secure_cookies: Option<bool>,
    pub idle_minutes: Option<u64>,
    pub session_hours: Option<u64>,
    pub max_failed_logins: Option<u32>,
    pub address_limit: Option<u32>,
    pub trusted_proxy: Option<Vec<String>>,
    pub checkpoint_every: Option<u64>,
    pub public_tiles: Option<bool>,
    pub witness: Option<Vec<String>>,
    pub witness_quorum: Option<usize>,
    pub time_zone: Option<String>,
    pub rems_check: Option<String>,
    pub rems_monitoring_minutes: Option<u32>,
    pub late_charting_hours: Option<u64>,
    pub clinic_hours: Option<String>,
    pub paper: Option<String>,
    pub pmp_profiles: Option<PathBuf>,
    pub pmp_state: Option<Vec<String>>,
}

impl FileSettings {
    fn read(path: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            Failure::Usage(format!(
                "{} is not a valid settings file: {e}",
                path.display()
            ))
        })
    }
}

/// Settings after flag > environment > file > default.
#[derive(Debug)]
pub struct Settings {
    pub data: DataArgs,
    pub listen: String,
    pub demo: bool,
    pub seed: u64,
    pub registrant: Option<Party>,
    pub api: ApiConfig,
    pub clinic: ClinicSettings,
    /// Between two checkpoints of a grown ledger.
    pub checkpoint_every: std::time::Duration,
    /// The witnesses checkpoints go to, and how many must cosign.
    pub witnesses: Vec<Peer>,
    pub witness_quorum: usize,
}

impl ServeArgs {
    pub fn resolve(self) -> Result<Settings, Failure> {
        let f = match &self.config {
            Some(p) => FileSettings::read(p)?,
            None => FileSettings::default(),
        };
        let name = self.registrant_name.or(f.registrant_name);
        let address = self.registrant_address.or(f.registrant_address);
        let dea = self.registrant_dea.or(f.registrant_dea);
        let registrant = match (name, address, dea) {
            (None, None, None) => None,
            (Some(n), Some(a), Some(d)) => Some(Party {
                name: n
                    .parse::<Text>()
                    .map_err(|e| Failure::Usage(format!("registrant name: {e}")))?,
                address: a
                    .replace("\\n", "\n")
                    .parse::<Text>()
                    .map_err(|e| Failure::Usage(format!("registrant address: {e}")))?,
                dea: d
                    .parse::<DeaNumber>()
                    .map_err(|e| Failure::Usage(format!("registrant DEA number: {e}")))?,
            }),
            _ => {
                return Err(Failure::Usage(
                    "give all three of --registrant-name, --registrant-address and --registrant-dea"
                        .into(),
                ));
            }
        };
        let defaults = ClinicSettings::default();
        // A timeout of nothing would end every session as it began.
        let idle_minutes = self.idle_minutes.or(f.idle_minutes);
        let session_hours = self.session_hours.or(f.session_hours);
        if idle_minutes == Some(0) {
            return Err(Failure::Usage(
                "--idle-minutes must be at least 1: a session idle for no time at all could never be used".into(),
            ));
        }
        if session_hours == Some(0) {
            return Err(Failure::Usage(
                "--session-hours must be at least 1: a session lasting no time at all could never be used".into(),
            ));
        }
        let witness_args = if self.witness.is_empty() {
            f.witness.unwrap_or_default()
        } else {
            self.witness
        };
        let witnesses = witness_args
            .iter()
            .filter(|w| !w.trim().is_empty())
            .map(|w| w.parse::<Peer>().map_err(Failure::Usage))
            .collect::<Result<Vec<_>, _>>()?;
        let witness_quorum = self
            .witness_quorum
            .or(f.witness_quorum)
            .unwrap_or(witnesses.len());
        if witness_quorum > witnesses.len() {
            return Err(Failure::Usage(format!(
                "--witness-quorum {witness_quorum} is more than the {} witness(es) given",
                witnesses.len()
            )));
        }
        let checkpoint_every = self.checkpoint_every.or(f.checkpoint_every).unwrap_or(60);
        if checkpoint_every == 0 {
            return Err(Failure::Usage(
                "--checkpoint-every must be at least 1 second".into(),
            ));
        }
        let proxies = if self.trusted_proxy.is_empty() {
            f.trusted_proxy.unwrap_or_default()
        } else {
            self.trusted_proxy
        };
        let trusted_proxies = proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.parse::<Cidr>()
                    .map_err(|e| Failure::Usage(format!("--trusted-proxy: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let time_zone = match self.time_zone.or(f.time_zone) {
            Some(name) => custody_report::Zone::named(&name)
                .map_err(|e| Failure::Usage(format!("--time-zone: {e}")))?,
            None => custody_report::Zone::utc(),
        };
        let rems_check = match self.rems_check.or(f.rems_check) {
            Some(c) => c
                .parse()
                .map_err(|e| Failure::Usage(format!("--rems-check: {e}")))?,
            None => defaults.rems_check,
        };
        let hours = match self.clinic_hours.or(f.clinic_hours) {
            Some(h) => h
                .parse()
                .map_err(|e| Failure::Usage(format!("--clinic-hours: {e}")))?,
            None => defaults.hours,
        };
        let paper = self
            .paper
            .or(f.paper)
            .map(|p| {
                p.parse()
                    .map_err(|e| Failure::Usage(format!("--paper: {e}")))
            })
            .transpose()?;
        let pmp_profiles = match self.pmp_profiles.or(f.pmp_profiles) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Failure::Usage(format!("--pmp-profiles {}: {e}", path.display()))
                })?;
                custody_report::pmp::Profiles::with_override(&text).map_err(|e| {
                    Failure::Usage(format!("--pmp-profiles {}: {e}", path.display()))
                })?
            }
            None => defaults.pmp_profiles.clone(),
        };
        let pmp_states: Vec<String> = if self.pmp_state.is_empty() {
            f.pmp_state.unwrap_or_default()
        } else {
            self.pmp_state
        };
        let mut pmp_states: Vec<String> = pmp_states
            .iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        for st in &pmp_states {
            pmp_profiles
                .get(st)
                .map_err(|e| Failure::Usage(format!("--pmp-state: {e}")))?;
        }
        pmp_states.dedup();
        let minutes = |m: u64| std::time::Duration::from_secs(m.saturating_mul(60));
        Ok(Settings {
            data: DataArgs {
                data: self
                    .data
                    .or(f.data)
                    .unwrap_or_else(|| PathBuf::from("./custody-data")),
                database_url: self.database_url.or(f.database_url),
                ledger: None,
                registrant_passphrase_file: self
                    .registrant_passphrase_file
                    .or(f.registrant_passphrase_file),
            },
            listen: self
                .listen
                .or(f.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            demo: self.demo || f.demo.unwrap_or(false),
            seed: self.seed.or(f.seed).unwrap_or(1),
            registrant,
            api: ApiConfig {
                secure_cookies: self.secure_cookies || f.secure_cookies.unwrap_or(false),
                trusted_proxies,
                public_tiles: self.public_tiles || f.public_tiles.unwrap_or(false),
            },
            checkpoint_every: std::time::Duration::from_secs(checkpoint_every),
            witnesses,
            witness_quorum,
            clinic: ClinicSettings {
                idle_timeout: idle_minutes.map_or(defaults.idle_timeout, minutes),
                absolute_timeout: session_hours
                    .map_or(defaults.absolute_timeout, |h| minutes(h.saturating_mul(60))),
                free_attempts: self
                    .max_failed_logins
                    .or(f.max_failed_logins)
                    .unwrap_or(defaults.free_attempts),
                address_limit: self
                    .address_limit
                    .or(f.address_limit)
                    .unwrap_or(defaults.address_limit),
                time_zone,
                rems_check,
                rems_monitoring_minutes: self
                    .rems_monitoring_minutes
                    .or(f.rems_monitoring_minutes)
                    .unwrap_or(defaults.rems_monitoring_minutes),
                late_charting: self
                    .late_charting_hours
                    .or(f.late_charting_hours)
                    .map_or(defaults.late_charting, |h| minutes(h.saturating_mul(60))),
                hours,
                paper,
                pmp_profiles,
                pmp_states,
                ..defaults
            },
        })
    }
}

/// The first start of an empty data directory (or database): the demo clinic, or a new
/// ledger for the registrant with its one-time bootstrap token, made by [`first_start`] so
/// that a crash at any moment leaves nothing a restart cannot finish.
async fn first_start(s: &Settings) -> Outcome {
    if !s.demo && s.registrant.is_none() {
        return Err(Failure::Usage(format!(
            "{} holds no ledger: give --registrant-name, --registrant-address and \
             --registrant-dea to initialize it, or --demo for the demo clinic",
            s.data.data.display()
        )));
    }
    if !s.demo {
        s.data
            .keys()
            .can_seal_new(NewPassphrase::Given)
            .map_err(Failure::Usage)?;
    }
    let stage = Stage::begin(&s.data)?;
    let store = stage.args().open(true).await?;
    if s.demo {
        stage.mark_demo()?;
        crate::commands::demo::record(&stage.keys(), &store, s.seed).await?;
    } else if let Some(party) = s.registrant.clone() {
        let (ledger, _key, wrote_pass) = crate::commands::init::create_ledger(
            &stage.keys(),
            NewPassphrase::Given,
            &store,
            party,
            custody_store::clock::now(),
        )
        .await?;
        let token = crate::commands::init::bootstrap_token(&store, ledger).await?;
        // Printed before the move: a start cut short after this is made again, and prints a
        // new token.
        print_bootstrap(ledger, &token);
        if let Some(p) = wrote_pass {
            eprintln!(
                "the registrant key's passphrase was generated into {}: keep it apart from the data directory's backups",
                p.display()
            );
        }
    }
    store.close().await?;
    stage.commit()?;
    Ok(())
}

fn print_bootstrap(ledger: LedgerId, token: &str) {
    println!("bootstrap token {token}");
    println!(
        "  the first admin signs up once with it: POST /api/v1/ledgers/{ledger}/bootstrap \
         {{\"token\", \"username\", \"printed_name\", \"password\"}}"
    );
}

pub async fn run(a: ServeArgs) -> Outcome {
    let s = a.resolve()?;
    let found = first_start::recover(&s.data).await?;
    if first_start::needed(&s.data).await? {
        first_start(&s).await?;
    }
    let store = s.data.open_to_serve().await?;
    if let Found::NeedsToken(ledger) = found {
        let token = crate::commands::init::bootstrap_token(&store, ledger).await?;
        print_bootstrap(ledger, &token);
    }
    let ledgers = store.ledgers().await?;
    let beside = s.data.keys().beside();
    if beside.exists() {
        tracing::warn!(
            "{} holds the registrant key's passphrase beside the key (fine for the demo clinic): \
             move it to {} or a file named by --registrant-passphrase-file outside the data directory",
            beside.display(),
            registrant::PASS_ENV
        );
    }
    let (keys, missing) = s.data.registrant_keys(&store).await?;
    for (ledger, why) in &missing {
        tracing::warn!(
            "serving ledger {ledger} without its registrant key, read only (the key seals every entry recorded: no entries, checkpoints, reports or patient references): {why}"
        );
    }
    let mut clinic = Clinic::new(store, RegistrantKeys::new(keys), s.clinic);
    // Every process serving from this data directory shares the host's cores for key
    // derivations (docs/operations.md).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match CoreSlots::of_this_host(&s.data.data.join("key-derivations"), cores) {
        Ok(slots) => clinic = clinic.sharing_cores(slots),
        Err(e) => tracing::warn!(
            "key derivations not shared with other processes of {}: {e}",
            s.data.data.display()
        ),
    }
    // The ledgers' folds go on in the background while the server listens.
    drop(clinic.warm_up().await?);
    let state = AppState::new(clinic.clone(), s.api);
    let witnessing = Witnessing::new(
        clinic.clone(),
        s.witnesses,
        s.witness_quorum,
        state.metrics.clone(),
    )?;
    let checkpointer = tokio::spawn(issue_checkpoints(
        clinic.clone(),
        witnessing.clone(),
        s.checkpoint_every,
    ));
    let listener = tokio::net::TcpListener::bind(&s.listen)
        .await
        .map_err(|e| Failure::Usage(format!("cannot listen on {}: {e}", s.listen)))?;
    let addr = listener.local_addr()?;
    for l in &ledgers {
        println!("ledger {}", l.ledger);
    }
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    custody_api::serve(listener, state, shutdown()).await?;
    // What was recorded since the last tick gets its checkpoint before the process ends.
    checkpointer.abort();
    clinic.issue_due_checkpoints().await;
    witnessing.round().await;
    Ok(())
}

/// Signs a checkpoint of each grown ledger every `every` (the first at once) and sends the
/// newest to the witnesses that have not cosigned it.
async fn issue_checkpoints(clinic: Clinic, witnessing: Witnessing, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        clinic.issue_due_checkpoints().await;
        witnessing.round().await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
