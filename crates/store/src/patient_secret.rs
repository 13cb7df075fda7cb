//! The patient-commitment secret of a ledger, kept in the database only wrapped under a key
//! derived from the registrant's private key: a copy of the database alone cannot compute the
//! commitment of a guessed medical record number. Whoever holds the registrant key (the
//! server, `custody report`) opens it.
//!
//! Stored form (`ledgers.patient_secret`, version 1): `b"custody-patient-secret\x01"`, the
//! wrapping key's id (16), nonce (24), ciphertext of the 32-byte secret (32 + 16 tag);
//! XChaCha20-Poly1305 under SHA-256(`"custody patient secret wrapping v1"` ‖ registrant
//! seed), the ledger id as associated data. An empty column means no secret yet (made on first
//! use); 32 bytes is the clear secret of a database from before version 1, wrapped in place
//! the first time its registrant key opens it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use custody_ledger::{LedgerId, PublicKey};
use ed25519_dalek::SigningKey;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::Digest;
use zeroize::Zeroizing;

use crate::entities::ledgers;
use crate::keystore::{self, KeyError};
use crate::{Store, StoreError};

const MAGIC: &[u8] = b"custody-patient-secret\x01";

fn wrapping_key(registrant: &SigningKey) -> Zeroizing<[u8; 32]> {
    let mut h = sha2::Sha256::new();
    h.update(b"custody patient secret wrapping v1");
    h.update(registrant.to_bytes());
    Zeroizing::new(h.finalize().into())
}

/// Wraps `secret` for `ledger` under `registrant`.
pub fn wrap(
    secret: &[u8; 32],
    registrant: &SigningKey,
    ledger: LedgerId,
) -> Result<Vec<u8>, KeyError> {
    let nonce = keystore::random::<24>()?;
    let cipher = XChaCha20Poly1305::new_from_slice(wrapping_key(registrant).as_ref())
        .map_err(|_| KeyError::Malformed("key length"))?;
    let ct = cipher
        .encrypt(
            &XNonce::try_from(&nonce[..]).map_err(|_| KeyError::Malformed("nonce length"))?,
            Payload {
                msg: secret,
                aad: ledger.as_uuid().as_bytes(),
            },
        )
        .map_err(|_| KeyError::Malformed("encryption failed"))?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(PublicKey::from(registrant).key_id().as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a wrapped secret of `ledger` with `registrant`.
pub fn unwrap(
    stored: &[u8],
    registrant: &SigningKey,
    ledger: LedgerId,
) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let rest = stored
        .strip_prefix(MAGIC)
        .filter(|r| r.len() == 16 + 24 + 48)
        .ok_or_else(|| StoreError::corrupt("the patient secret's stored form is malformed"))?;
    if rest[..16] != PublicKey::from(registrant).key_id().as_bytes()[..] {
        return Err(StoreError::corrupt(
            "the patient secret is wrapped under another registrant key than the one given",
        ));
    }
    let cipher = XChaCha20Poly1305::new_from_slice(wrapping_key(registrant).as_ref())
        .map_err(|_| KeyError::Malformed("key length"))?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::try_from(&rest[16..40])
                    .map_err(|_| KeyError::Malformed("nonce length"))?,
                Payload {
                    msg: &rest[40..],
                    aad: ledger.as_uuid().as_bytes(),
                },
            )
            .map_err(|_| StoreError::corrupt("the patient secret does not open"))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&plain);
    Ok(out)
}

impl Store {
    /// The ledger's patient secret, opened with its registrant key. Makes one on first use
    /// and wraps a clear one left by an older version, each by a conditional update (so two
    /// processes starting together agree on one).
    pub async fn patient_secret(
        &self,
        ledger: LedgerId,
        registrant: &SigningKey,
    ) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        for _ in 0..3 {
            let stored = self.stored_patient_secret(ledger).await?;
            let (secret, wrapped) = match stored.len() {
                0 => {
                    let s = Zeroizing::new(keystore::random::<32>()?);
                    let w = wrap(&s, registrant, ledger)?;
                    (s, w)
                }
                32 => {
                    let mut s = Zeroizing::new([0u8; 32]);
                    s.copy_from_slice(&stored);
                    let w = wrap(&s, registrant, ledger)?;
                    (s, w)
                }
                _ => return unwrap(&stored, registrant, ledger),
            };
            let changed = ledgers::Entity::update_many()
                .col_expr(ledgers::Column::PatientSecret, wrapped.into())
                .filter(ledgers::Column::Id.eq(ledger.as_uuid()))
                .filter(ledgers::Column::PatientSecret.eq(stored))
                .exec(self.connection())
                .await?;
            if changed.rows_affected == 1 {
                return Ok(secret);
            }
        }
        Err(StoreError::corrupt(
            "the patient secret kept changing while it was being set",
        ))
    }

    /// The column as stored (wrapped, empty, or a clear secret from an older version).
    pub async fn stored_patient_secret(&self, ledger: LedgerId) -> Result<Vec<u8>, StoreError> {
        Ok(ledgers::Entity::find_by_id(ledger.as_uuid())
            .one(self.connection())
            .await?
            .ok_or(StoreError::UnknownLedger(ledger))?
            .patient_secret)
    }
}
