//! # custody-clinic
//!
//! The clinic's acts and what people read, between the store and the two faces (the JSON
//! routes and the web pages of `custody-api`), with no HTTP in it:
//!
//! - `Clinic`: the store, the registrant keys (`keys`), the key-derivation threads
//!   (`derivations`), settings;
//! - `session`: sign-in, sessions, opening a signer's key through the throttle (`throttle`);
//! - `policy`: every role question, in one file;
//! - `acts`: one typed command per act, each with a dry run that applies the ledger's own
//!   rules before any password, idempotent by request id, all-or-nothing when it records
//!   several entries;
//! - `reads`: the dashboard, open discrepancies, the awaiting-witness queue, containers.

pub mod acts;
mod checkpoints;
mod derivations;
pub use custody_report::deadlines;
pub mod error;
mod keys;
pub mod passwords;
pub mod policy;
pub mod reads;
pub mod session;
pub mod settings;
mod throttle;
mod witnessing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use custody_store::Store;

pub use error::{ClinicError, ClinicResult};
pub use keys::RegistrantKeys;
pub use policy::Permission;
pub use session::{Session, SignedIn, Warming};
pub use settings::{RemsCheck, Settings};
pub use witnessing::WitnessAlert;

/// The clinic: everything an act needs besides what the person typed.
#[derive(Clone)]
pub struct Clinic {
    pub store: Store,
    /// The registrant key of each ledger this process holds it for: checkpoints, reports,
    /// the first enrollment, patient commitments.
    registrants: RegistrantKeys,
    pub settings: Arc<Settings>,
    /// Key derivations (Argon2id, 19 MiB each) run on threads of their own, one per core.
    derivations: Arc<derivations::Derivations>,
    /// The host's cores, shared with the other processes of the same data directory: each
    /// derivation also takes one of its slots (`Clinic::sharing_cores`).
    cores: Option<custody_store::CoreSlots>,
    decoy: Arc<tokio::sync::OnceCell<(custody_ledger::KeyId, Vec<u8>)>>,
    /// One password check at a time per account in this process: a burst of correct
    /// signatures then never looks like a burst of guesses (see `throttle`).
    turns: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The last full verification's result, as the dashboard shows it.
    pub last_verification: Arc<Mutex<Option<String>>>,
    /// The detached signature of the last report each person downloaded, per parameters.
    signatures: Arc<Mutex<HashMap<String, [u8; 64]>>>,
    /// When this process last saw each session used (the database's mark lags behind).
    seen: Arc<Mutex<HashMap<[u8; 32], i64>>>,
    /// Witnesses' refusals not resolved yet.
    witness_alerts: Arc<Mutex<witnessing::Alerts>>,
}

impl Clinic {
    pub fn new(store: Store, registrants: RegistrantKeys, settings: Settings) -> Self {
        // The registrant key seals every entry appended (format version 3).
        registrants.give_to(&store);
        Clinic {
            store,
            registrants,
            settings: Arc::new(settings),
            derivations: Arc::new(derivations::Derivations::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            cores: None,
            decoy: Arc::default(),
            turns: Arc::default(),
            last_verification: Arc::default(),
            signatures: Arc::default(),
            seen: Arc::default(),
            witness_alerts: Arc::default(),
        }
    }

    /// The turn of `account` for a password check; accounts no one is checking are forgotten.
    pub(crate) fn turn(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, t| Arc::strong_count(t) > 1);
        map.entry(account.to_string()).or_default().clone()
    }

    /// Key derivations also take one of `slots`, the host's cores shared between every
    /// process of one data directory, so that several processes on one host run no more
    /// derivations at once than it has cores.
    pub fn sharing_cores(mut self, slots: custody_store::CoreSlots) -> Self {
        self.cores = Some(slots);
        self
    }

    /// Runs a key derivation (sealing or opening a key) off the async threads, one per core
    /// (of the host, when its cores are shared).
    pub async fn derive<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ClinicResult<T> {
        self.derivations.run(self.cores.clone(), f).await
    }
}
