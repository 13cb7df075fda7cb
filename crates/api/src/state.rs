//! What every handler shares: the store, the registrant key, settings, the login throttle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custody_store::Store;
use ed25519_dalek::SigningKey;

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout: Duration,
    /// Mark the session cookie `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// Failed sign-ins allowed per account and per client address in `throttle_window`.
    pub max_failed_logins: u32,
    pub throttle_window: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            max_failed_logins: 5,
            throttle_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts failed sign-ins per key (an account, a client address) in a sliding window.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Whether `key` has used up its attempts.
    pub fn blocked(&self, key: &str, max: u32, window: Duration) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .is_some_and(|(n, since)| *n >= max && since.elapsed() < window)
    }
    pub fn fail(&self, key: &str, window: Duration) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Windows that have passed count for nothing: forget them, so the map holds only
        // the keys failing now, not every address that ever failed.
        map.retain(|_, (_, since)| since.elapsed() < window);
        map.entry(key.to_string()).or_insert((0, Instant::now())).0 += 1;
    }
    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The registrant key, for checkpoints; `None` when the server was started without it.
    pub registrant: Option<Arc<SigningKey>>,
    pub config: Arc<ApiConfig>,
    pub throttle: Arc<Throttle>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Key derivations (Argon2id, 19 MiB each) run at most one per core: more at once only
    /// evict each other from the caches and make every signature slower.
    pub kdf: Arc<tokio::sync::Semaphore>,
    /// The detached signature of the last report each user downloaded, per parameters.
    pub signatures: Arc<Mutex<HashMap<String, [u8; 64]>>>,
    /// The last full verification's result, as the dashboard shows it.
    pub last_verification: Arc<Mutex<Option<String>>>,
}

/// One permit per core, for `AppState::kdf`.
pub fn kdf_permits() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ))
}

impl AppState {
    /// Runs a key derivation (sealing or opening a key) off the async threads, one per core.
    pub async fn derive<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> crate::error::ApiResult<T> {
        let _permit = self
            .kdf
            .acquire()
            .await
            .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| crate::error::ApiError::internal(e.to_string()))
    }
}
