//! Sessions and signers' keys.
//!
//! Sign-in checks the password by opening the user's sealed private key (Argon2id +
//! XChaCha20-Poly1305): there is no separate password hash to drift from the key. A session is
//! an opaque random token, handed to the client once and stored only as its SHA-256, with an
//! idle and an absolute timeout. Every signature needs the signer's password, which opens
//! their key for that one act; wrong passwords go through the throttle (`throttle`), and an
//! unknown user name costs the same key derivation as a wrong password, so names cannot be
//! told apart by timing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use custody_ledger::{KeyId, LedgerId, Role, Timestamp, UserId};
use custody_store::keystore::{self, KeyError};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::{self, Permission};
use crate::throttle;

/// The signed-in person of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub ledger: LedgerId,
    pub user: UserId,
    pub printed_name: String,
    pub role: Role,
    /// How long the session lasts without a request (pages warn before it ends).
    pub idle_seconds: u64,
    /// The key the ledger says this person holds, as read with the session.
    key_id: KeyId,
    token_hash: [u8; 32],
    /// An admin set this person's password: they must change it before anything else.
    password_change_required: bool,
}

impl Session {
    /// The SHA-256 of the session's token: what the store keeps, and what a form token
    /// (CSRF) is derived from.
    pub fn token_hash(&self) -> &[u8; 32] {
        &self.token_hash
    }

    /// The key the ledger said this person held when the request began: the key their
    /// signature must name (the ledger's rules check it again when the entry is appended).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Whether this person may do `what` in their own ledger.
    pub fn may(&self, what: Permission) -> bool {
        policy::allows(self.role, what)
    }

    /// Whether this person must change their password before doing anything else: an
    /// admin set it (a reset), and only their own change lifts this. Until then they may
    /// only change their password and sign out.
    pub fn password_change_required(&self) -> bool {
        self.password_change_required
    }

    /// Refuses unless the session is for `ledger`, the person has no password change
    /// pending and may do `what`.
    pub fn require(&self, ledger: LedgerId, what: Permission) -> ClinicResult<()> {
        if self.password_change_required && self.ledger == ledger {
            return Err(ClinicError::PasswordChangeRequired);
        }
        self.require_pending_change(ledger, what)
    }

    /// As [`Session::require`], but allowed while a password change is pending: only for
    /// changing one's own password.
    pub fn require_pending_change(&self, ledger: LedgerId, what: Permission) -> ClinicResult<()> {
        if self.ledger != ledger {
            return Err(ClinicError::Forbidden(
                "your session is for another ledger: sign in to this one".into(),
            ));
        }
        if !self.may(what) {
            return Err(ClinicError::Forbidden(policy::refusal(self.role)));
        }
        Ok(())
    }
}

/// A session just opened: the token goes to the client once.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub session: Session,
    pub expires_at: Timestamp,
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn ended() -> ClinicError {
    ClinicError::Unauthenticated {
        code: "session_expired",
        message: "your session has ended (signed out or timed out): sign in again".into(),
    }
}

fn inactive() -> ClinicError {
    ClinicError::Unauthenticated {
        code: "user_inactive",
        message: "this account is no longer active".into(),
    }
}

impl Clinic {
    /// The session a token names, if it is live; using it keeps it alive.
    pub async fn session(&self, token: &str) -> ClinicResult<Session> {
        let hash = token_hash(token);
        let idle = i64::try_from(self.settings.idle_timeout.as_micros()).unwrap_or(i64::MAX);
        let now = custody_store::clock::now_micros();
        let known = self.last_use(&hash);
        let live = self
            .store
            .touch_session(hash, now, idle, known)
            .await?
            .ok_or_else(ended)?;
        self.used(&hash, now);
        let user = live.user.filter(|u| u.active).ok_or_else(inactive)?;
        let (s, password_change_required) = (live.session, live.password_change_required);
        Ok(Session {
            ledger: s.ledger,
            user: s.user,
            printed_name: user.printed_name,
            role: user.role,
            idle_seconds: self.settings.idle_timeout.as_secs(),
            key_id: user.key_id.parse().map_err(ClinicError::internal)?,
            token_hash: hash,
            password_change_required,
        })
    }

    /// An active user of `ledger`, or why the session cannot go on.
    async fn active_user(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> ClinicResult<custody_store::sessions::UserInfo> {
        self.store
            .user(ledger, user)
            .await?
            .filter(|u| u.active)
            .ok_or_else(inactive)
    }

    /// The last use of a session this process has seen.
    fn last_use(&self, hash: &[u8; 32]) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(hash).copied()
    }

    /// Records a use of a session (forgetting, now and then, sessions idle past any timeout).
    fn used(&self, hash: &[u8; 32], now: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            let idle = i64::try_from(self.settings.idle_timeout.as_micros()).unwrap_or(i64::MAX);
            seen.retain(|_, t| now - *t <= idle);
        }
        seen.insert(*hash, now);
    }

    /// Checks the password (by opening the user's key) and opens a session.
    pub async fn sign_in(
        &self,
        ledger: LedgerId,
        username: &str,
        password: &str,
        client: &str,
    ) -> ClinicResult<SignedIn> {
        let user = self
            .open_key_named(ledger, username, password, client, true)
            .await?
            .0;
        let info = self.active_user(ledger, &user).await?;
        let password_change_required = self.store.password_change_required(ledger, &user).await?;
        let token = B64URL.encode(keystore::random::<32>().map_err(ClinicError::internal)?);
        let now = custody_store::clock::now_micros();
        let expires = now.saturating_add(
            i64::try_from(self.settings.absolute_timeout.as_micros()).unwrap_or(i64::MAX),
        );
        let hash = token_hash(&token);
        self.store
            .create_session(hash, ledger, &user, now, expires)
            .await?;
        Ok(SignedIn {
            token,
            session: Session {
                ledger,
                user,
                printed_name: info.printed_name,
                role: info.role,
                idle_seconds: self.settings.idle_timeout.as_secs(),
                key_id: info.key_id.parse().map_err(ClinicError::internal)?,
                token_hash: hash,
                password_change_required,
            },
            expires_at: Timestamp::from_micros(expires.min(Timestamp::MAX_MICROS))
                .unwrap_or(Timestamp::EPOCH),
        })
    }

    /// Ends a session.
    pub async fn sign_out(&self, s: &Session) -> ClinicResult<()> {
        self.store.delete_session(s.token_hash).await?;
        Ok(())
    }

    /// Opens `user`'s private key with `password`: the signing ceremony.
    pub async fn open_key(
        &self,
        ledger: LedgerId,
        user: &UserId,
        password: &str,
        client: &str,
    ) -> ClinicResult<SigningKey> {
        self.open_key_named(ledger, user.as_str(), password, client, false)
            .await
            .map(|(_, k)| k)
    }

    /// Opens the key of the user named `username`. A name that is no user costs the same key
    /// derivation and gets the same answer as a wrong password.
    async fn open_key_named(
        &self,
        ledger: LedgerId,
        username: &str,
        password: &str,
        client: &str,
        signing_in: bool,
    ) -> ClinicResult<(UserId, SigningKey)> {
        // One account, however its name is typed ("Nurse.Chen ", "nurse.chen"); every name
        // that can be no one's shares one count.
        let user: Option<UserId> = username.parse().ok();
        let shown: String = match &user {
            Some(u) => u.to_string(),
            None => username.trim().chars().take(64).collect(),
        };
        let account = match &user {
            Some(u) => format!("account:{ledger}:{u}"),
            None => format!("account:{ledger}:(not a user name)"),
        };
        let turn = self.turn(&account);
        let _turn = turn.lock().await;
        // The per-address limit guards sign-in (names sprayed from one place); a signature
        // is asked of a session already signed in, and only its account's count applies.
        let address = signing_in.then_some(client);
        let reserved =
            throttle::reserve(&self.store, &self.settings, &account, &shown, address).await?;
        let sealed = match &user {
            Some(u) => self.store.current_sealed_key(ledger, u).await?,
            None => None,
        };
        let (key_id, sealed, real) = match sealed {
            Some((id, s)) => (id, s, true),
            None => {
                let (id, s) = self.decoy().await?;
                (id, s, false)
            }
        };
        let password = zeroize::Zeroizing::new(password.to_string());
        let opened = self
            .derive(move || keystore::unseal(&sealed, &password, &key_id))
            .await?;
        match (opened, user) {
            (Ok(k), Some(u)) if real => {
                throttle::succeeded(&self.store, &account, address).await?;
                Ok((u, k))
            }
            (Ok(_), _) | (Err(KeyError::WrongPassword), _) => Err(ClinicError::WrongPassword {
                user: shown,
                left: throttle::left(&self.settings, reserved.failures),
                signing_in,
            }),
            (Err(e), _) => Err(ClinicError::internal(e)),
        }
    }

    /// Makes the decoy key now, so that the first unknown name after a start costs no more
    /// than a wrong password; and starts folding each ledger's whole history into the
    /// store's cached state, in the background (the server listens meanwhile), which every
    /// act's dry run and the dashboard read first: the first person after a restart does not
    /// wait for it (≈ 6 s at 1,000,000 entries). The folds go on when the returned
    /// [`Warming`] is dropped; awaiting it waits for them.
    pub async fn warm_up(&self) -> ClinicResult<Warming> {
        self.open_patient_secrets().await?;
        let folds = self
            .registrants
            .ledgers()
            .map(|&ledger| {
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.catch_up(ledger).await {
                        // The first act or read folds for itself, as before.
                        tracing::warn!("ledger {ledger} not folded ahead: {e}");
                    }
                })
            })
            .collect();
        self.decoy().await?;
        Ok(Warming { folds })
    }

    /// A sealed key no one can open, for user names that are no user: opening it costs what
    /// opening a real one costs.
    async fn decoy(&self) -> ClinicResult<(custody_ledger::KeyId, Vec<u8>)> {
        let made = self
            .decoy
            .get_or_try_init(|| async {
                let made = self
                    .derive(|| {
                        let key = keystore::generate()?;
                        let pass = hex::encode(keystore::random::<32>()?);
                        let sealed = keystore::seal(&key, &pass, keystore::Cost::default())?;
                        let id = custody_ledger::PublicKey::from(&key).key_id();
                        Ok::<_, KeyError>((id, sealed))
                    })
                    .await?
                    .map_err(ClinicError::internal)?;
                Ok::<_, ClinicError>(made)
            })
            .await?;
        Ok(made.clone())
    }
}

/// The folds a [`Clinic::warm_up`] started.
#[derive(Debug)]
pub struct Warming {
    folds: Vec<tokio::task::JoinHandle<()>>,
}

impl Warming {
    /// Waits until every ledger's state is folded (or its fold failed, which was logged).
    pub async fn done(self) {
        for f in self.folds {
            let _ = f.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use custody_ledger::vectors;
    use custody_store::Store;

    use crate::{Clinic, RegistrantKeys, Settings};

    /// A start folds each ledger's history into its store's cached state in the background:
    /// once that is done, a first act or dashboard finds nothing left to fold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_start_folds_each_ledgers_history_ahead_of_the_first_request() {
        let dir = tempfile::tempdir().unwrap();
        let url = custody_store::sqlite_url(dir.path());
        let entries: Vec<_> = vectors::build().into_iter().take(16).collect();
        let ledger = entries[0].ledger;
        let importer = Store::open(&url).await.unwrap();
        for e in &entries {
            importer.import_entry(e.clone(), e.hash()).await.unwrap();
        }
        importer.close().await.unwrap();
        // As a server process starts: a store with nothing cached.
        let served = Store::open(&url).await.unwrap();
        let keys = HashMap::from([(ledger, Arc::new(vectors::seeded_key("registrant")))]);
        let clinic = Clinic::new(
            served.clone(),
            RegistrantKeys::new(keys),
            Settings::default(),
        );
        clinic.warm_up().await.unwrap().done().await;
        assert_eq!(
            served.catch_up(ledger).await.unwrap(),
            0,
            "folded at the start"
        );
        // Another process, which did not start so, still has the whole history to fold.
        let other = Store::open(&url).await.unwrap();
        assert_eq!(other.catch_up(ledger).await.unwrap(), 16);
    }
}
