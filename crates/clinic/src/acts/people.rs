//! People: the first admin (bootstrap token), enrolling users, roles, deactivation, password
//! changes, key rotation and an admin's reset. A user's private key exists only sealed under
//! their password: a password change re-seals it; a reset makes a new key (a key-rotation
//! entry signed by the admin) and never reads the old one.

use custody_ledger::*;
use custody_store::{Appended, keystore};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::{Ceremony, Origin, Outcome, Planned, entry_id};
use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::passwords;
use crate::policy::Permission;
use crate::session::Session;

/// Enroll a user with a new key sealed under their first password.
#[derive(Debug, Clone)]
pub struct Enroll {
    pub user: UserId,
    pub printed_name: Text,
    pub role: Role,
}

/// The first admin, signed up with the one-time bootstrap token.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub token: String,
    pub user: UserId,
    pub printed_name: Text,
}

/// The reason a reset's key rotation states.
const RESET_REASON: &str = "password reset by an admin";

impl Clinic {
    /// Makes a new key and seals it under `password`, off the async threads.
    async fn new_sealed_key(&self, password: &str) -> ClinicResult<(SigningKey, Vec<u8>)> {
        let password = zeroize::Zeroizing::new(password.to_string());
        self.derive(move || {
            let key = keystore::generate()?;
            let sealed = keystore::seal(&key, &password, keystore::Cost::default())?;
            Ok::<_, keystore::KeyError>((key, sealed))
        })
        .await?
        .map_err(ClinicError::internal)
    }

    /// Dry-runs an entry that brings in `user`'s new key `key`: the rules want that key's own
    /// signature too, so it is named beside the author's, like it.
    async fn dry_run_with_new_key(
        &self,
        s: &Session,
        planned: Planned,
        user: &UserId,
        key: PublicKey,
    ) -> ClinicResult<Vec<Draft>> {
        let mut drafts = self.unsigned(s, std::slice::from_ref(&planned)).await?;
        for d in &mut drafts {
            d.signatures.push(Signature {
                signer: Principal::User(user.clone()),
                meaning: Meaning::KeyPossession,
                key_id: key.key_id(),
                signed_at: Some(super::signing_time()),
                signature: [0; 64],
            });
        }
        self.store.dry_run(&drafts).await?;
        Ok(drafts)
    }

    /// Records `payload(new public key)` signed by `signer` and by the new key itself.
    async fn with_new_key<P: Into<Payload>>(
        &self,
        ledger: LedgerId,
        user: &UserId,
        password: &str,
        payload: impl FnOnce(PublicKey) -> P,
        (signer, meaning, signer_key): (Principal, Meaning, &SigningKey),
        request: Option<&custody_store::RequestRecord>,
    ) -> ClinicResult<Appended> {
        let (key, sealed) = self.new_sealed_key(password).await?;
        let public = PublicKey::from(&key);
        let d = Draft::new(ledger, entry_id(), payload(public))
            .signed(signer, meaning, signer_key, super::signing_time())
            .signed(
                Principal::User(user.clone()),
                Meaning::KeyPossession,
                &key,
                super::signing_time(),
            );
        self.store
            .save_sealed_key(ledger, user, public.key_id(), sealed)
            .await?;
        let mut a = self.store.append_all(vec![d], request).await?;
        a.pop()
            .ok_or_else(|| ClinicError::internal("the append recorded nothing"))
    }

    /// Enrolls a user; their first password seals their new key. A dry run checks the
    /// password rules and the ledger's (a user name taken, a role) with a key made for it.
    pub async fn enroll(
        &self,
        s: &Session,
        cmd: Enroll,
        initial_password: &str,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        s.require(s.ledger, Permission::Author(Kind::UserEnrolled))?;
        let fp = super::fingerprint(s, &cmd);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        passwords::check(cmd.user.as_str(), initial_password)?;
        let trial = keystore::generate().map_err(ClinicError::internal)?;
        let enrolled = |public_key| UserEnrolled {
            user: cmd.user.clone(),
            printed_name: cmd.printed_name.clone(),
            role: cmd.role,
            public_key,
        };
        let trial_key = PublicKey::from(&trial);
        let planned = Planned::new(enrolled(trial_key));
        let drafts = self
            .dry_run_with_new_key(s, planned, &cmd.user, trial_key)
            .await?;
        let Ceremony::Sign { password, .. } = ceremony else {
            return Ok(Outcome::WouldRecord(drafts));
        };
        let admin = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let author = (Principal::User(s.user.clone()), Meaning::Authored, &admin);
        let request = Self::request_record(s, origin, fp);
        let a = match self
            .with_new_key(
                s.ledger,
                &cmd.user,
                initial_password,
                enrolled,
                author,
                request.as_ref(),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return self.repeated_or(s, origin, &fp, e).await,
        };
        Ok(Outcome::Recorded {
            entries: vec![a],
            repeated: false,
        })
    }

    /// The ledger a bootstrap token was issued for, among the database's ledgers (a page
    /// that serves several asks no one to pick).
    pub async fn ledger_of_bootstrap_token(&self, token: &str) -> ClinicResult<Option<LedgerId>> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        for l in self.store.ledgers().await? {
            if self.store.bootstrap_token_matches(l.ledger, hash).await? {
                return Ok(Some(l.ledger));
            }
        }
        Ok(None)
    }

    /// The first admin signs up with the bootstrap token; the registrant key signs. A dry
    /// run checks the token, the password rules and the ledger's (no one enrolled yet) with a
    /// key made for it; a request id seen before answers with the first enrollment.
    pub async fn bootstrap(
        &self,
        ledger: LedgerId,
        cmd: Bootstrap,
        password: &str,
        dry_run: bool,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let fp = super::fingerprint_of(ledger, &cmd.user, &cmd);
        if let Some(o) = self.prior_of(ledger, &cmd.user, origin, &fp).await? {
            return Ok(o);
        }
        let hash: [u8; 32] = Sha256::digest(cmd.token.as_bytes()).into();
        if !self.store.bootstrap_token_matches(ledger, hash).await? {
            return Err(ClinicError::Unauthenticated {
                code: "bad_token",
                message: "that bootstrap token is wrong or was already used".into(),
            });
        }
        passwords::check(cmd.user.as_str(), password)?;
        let registrant = self.registrant(ledger, "signs the first enrollment")?;
        let first = |public_key| UserEnrolled {
            user: cmd.user.clone(),
            printed_name: cmd.printed_name.clone(),
            role: Role::Admin,
            public_key,
        };
        // The ledger lets the registrant enroll only the first user: a second bootstrap fails.
        let trial = PublicKey::from(&keystore::generate().map_err(ClinicError::internal)?);
        let mut trial_draft = Draft::new(ledger, entry_id(), first(trial)).to_be_signed_by(
            Principal::Registrant,
            Meaning::Registrant,
            PublicKey::from(&*registrant).key_id(),
            super::signing_time(),
        );
        trial_draft.signatures.push(Signature {
            signer: Principal::User(cmd.user.clone()),
            meaning: Meaning::KeyPossession,
            key_id: trial.key_id(),
            signed_at: Some(super::signing_time()),
            signature: [0; 64],
        });
        self.store
            .dry_run(std::slice::from_ref(&trial_draft))
            .await?;
        if dry_run {
            return Ok(Outcome::WouldRecord(vec![trial_draft]));
        }
        let signer = (Principal::Registrant, Meaning::Registrant, &*registrant);
        let request = Self::request_record_of(&cmd.user, origin, fp);
        let a = match self
            .with_new_key(ledger, &cmd.user, password, first, signer, request.as_ref())
            .await
        {
            Ok(a) => a,
            Err(e) => {
                return self.repeated_or_of(ledger, &cmd.user, origin, &fp, e).await;
            }
        };
        self.store.take_bootstrap_token(ledger, hash).await?;
        Ok(Outcome::Recorded {
            entries: vec![a],
            repeated: false,
        })
    }

    /// A user of this ledger, or not found.
    pub async fn known_user(&self, s: &Session, user: &str) -> ClinicResult<UserId> {
        let u: UserId = user
            .parse()
            .map_err(|_| ClinicError::not_found(format!("no user {user:?} in this ledger")))?;
        self.store
            .user(s.ledger, &u)
            .await?
            .ok_or_else(|| ClinicError::not_found(format!("no user {u} in this ledger")))?;
        Ok(u)
    }

    /// Deactivates a user and ends their sessions.
    pub async fn deactivate(
        &self,
        s: &Session,
        cmd: UserDeactivated,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let user = cmd.user.clone();
        let o = self
            .record(s, &cmd, vec![Planned::new(cmd.clone())], ceremony, origin)
            .await?;
        if !o.entries().is_empty() {
            self.store.delete_sessions_of(s.ledger, &user).await?;
        }
        Ok(o)
    }

    /// An admin sets a new password for `user`: a new key, signed in by the admin; the
    /// user's sessions end.
    pub async fn reset(
        &self,
        s: &Session,
        user: &UserId,
        new_password: &str,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        s.require(s.ledger, Permission::ManageUsers)?;
        let fp = super::fingerprint(s, &("reset", user));
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        passwords::check(user.as_str(), new_password)?;
        // The rules see the rotation with a key made for the dry run (the user active, the
        // admin allowed), signed by no one yet.
        let trial = PublicKey::from(&keystore::generate().map_err(ClinicError::internal)?);
        let rotated = KeyRotated {
            subject: Principal::User(user.clone()),
            new_key: trial,
            reason: RESET_REASON
                .parse()
                .map_err(|e: types::ids::ParseError| ClinicError::internal(e))?,
        };
        let drafts = self
            .dry_run_with_new_key(s, Planned::new(rotated), user, trial)
            .await?;
        let Ceremony::Sign { password, .. } = ceremony else {
            return Ok(Outcome::WouldRecord(drafts));
        };
        let admin = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let request = Self::request_record(s, origin, fp);
        let a = match self
            .rotate(
                s.ledger,
                user,
                (&s.user, &admin),
                new_password,
                RESET_REASON,
                request.as_ref(),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return self.repeated_or(s, origin, &fp, e).await,
        };
        self.store.delete_sessions_of(s.ledger, user).await?;
        // A password someone else knows: its owner must replace it at their next sign-in.
        self.store
            .require_password_change(s.ledger, user, custody_store::clock::now_micros())
            .await?;
        Ok(Outcome::Recorded {
            entries: vec![a],
            repeated: false,
        })
    }

    async fn rotate(
        &self,
        ledger: LedgerId,
        user: &UserId,
        (author, author_key): (&UserId, &SigningKey),
        password: &str,
        reason: &str,
        request: Option<&custody_store::RequestRecord>,
    ) -> ClinicResult<Appended> {
        let reason: Text = reason
            .parse()
            .map_err(|e: types::ids::ParseError| ClinicError::invalid("reason", e.to_string()))?;
        let rotated = |new_key| KeyRotated {
            subject: Principal::User(user.clone()),
            new_key,
            reason,
        };
        let signer = (
            Principal::User(author.clone()),
            Meaning::Authored,
            author_key,
        );
        self.with_new_key(ledger, user, password, rotated, signer, request)
            .await
    }

    /// The signed-in person changes their own password: their key is sealed again. This is
    /// what lifts a password change an admin's reset demanded, so it is allowed while one is
    /// pending. A wrong current password counts against the throttle like any signature.
    pub async fn change_password(
        &self,
        s: &Session,
        password: &str,
        new_password: &str,
        origin: &Origin,
    ) -> ClinicResult<()> {
        s.require_pending_change(s.ledger, Permission::Read)?;
        passwords::check(s.user.as_str(), new_password)?;
        let key = self
            .open_key(s.ledger, &s.user, password, &origin.client)
            .await?;
        let new = zeroize::Zeroizing::new(new_password.to_string());
        let key_id = PublicKey::from(&key).key_id();
        let sealed = self
            .derive(move || keystore::seal(&key, &new, keystore::Cost::default()))
            .await?
            .map_err(ClinicError::internal)?;
        self.store
            .save_sealed_key(s.ledger, &s.user, key_id, sealed)
            .await?;
        self.store.clear_password_change(s.ledger, &s.user).await?;
        Ok(())
    }

    /// The signed-in person rotates their own key (it stays sealed under their password). A
    /// dry run checks the ledger's rules with a key made for it, before the password.
    pub async fn rotate_own_key(
        &self,
        s: &Session,
        reason: &Text,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        s.require(s.ledger, Permission::Author(Kind::KeyRotated))?;
        let fp = super::fingerprint(s, &("rotate", reason));
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        let trial = PublicKey::from(&keystore::generate().map_err(ClinicError::internal)?);
        let rotated = KeyRotated {
            subject: Principal::User(s.user.clone()),
            new_key: trial,
            reason: reason.clone(),
        };
        let drafts = self
            .dry_run_with_new_key(s, Planned::new(rotated), &s.user, trial)
            .await?;
        let Ceremony::Sign { password, .. } = ceremony else {
            return Ok(Outcome::WouldRecord(drafts));
        };
        let old = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let request = Self::request_record(s, origin, fp);
        match self
            .rotate(
                s.ledger,
                &s.user,
                (&s.user, &old),
                &password,
                reason.as_str(),
                request.as_ref(),
            )
            .await
        {
            Ok(a) => Ok(Outcome::Recorded {
                entries: vec![a],
                repeated: false,
            }),
            Err(e) => self.repeated_or(s, origin, &fp, e).await,
        }
    }
}
