//! Checkpoints: the registrant's signed statement of a ledger's size and Merkle root, in the
//! C2SP `tlog-checkpoint` signed-note format, so standard transparency-log tools can read them.
//!
//! ```text
//! custody.ledger/01935a2b-0000-7000-8000-000000000001
//! 34
//! 5CysvqPnAhr8...base64 root...=
//!
//! — custody.ledger/01935a2b-0000-7000-8000-000000000001 AbCd...base64(key hash ‖ signature)...
//! ```
//!
//! The note body is the origin line, the tree size in decimal and the root in standard
//! base64, each ending in a newline. Each signature line is an em dash, a space, the key name,
//! a space and base64 of the 4-byte key hash followed by the 64-byte Ed25519 signature of the
//! body. The key hash is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key).
//! During a registrant key rotation a checkpoint may carry two signatures (old and new key).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::merkle::Hash;
use crate::types::ids::{LedgerId, PublicKey};

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    #[error("the checkpoint is for {found}, not this ledger ({expected})")]
    WrongOrigin { expected: String, found: String },
    #[error("no signature on the checkpoint verifies with the registrant key {0}")]
    NotSigned(String),
}

fn malformed(s: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(s.into())
}

/// A ledger's size and root at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hash: [u8; 4],
    pub signature: [u8; 64],
}

/// A checkpoint with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signatures: Vec<NoteSignature>,
}

/// The origin line of a ledger's checkpoints (also the registrant key's name in them).
pub fn origin(ledger: &LedgerId) -> String {
    format!("custody.ledger/{ledger}")
}

/// The note key hash of `key` under `name`.
pub fn key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key.to_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Checkpoint {
    /// The note body: what is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Signs the body with `key`, named as the origin.
    pub fn sign(self, key: &SigningKey) -> SignedCheckpoint {
        let mut s = SignedCheckpoint {
            checkpoint: self,
            signatures: Vec::new(),
        };
        s.add_signature(key);
        s
    }
}

impl SignedCheckpoint {
    /// Adds a signature by `key` (e.g. the new key during a rotation).
    pub fn add_signature(&mut self, key: &SigningKey) {
        let name = self.checkpoint.origin.clone();
        let public = PublicKey::from(key);
        let sig = key.sign(self.checkpoint.body().as_bytes()).to_bytes();
        self.signatures.push(NoteSignature {
            key_hash: key_hash(&name, &public),
            name,
            signature: sig,
        });
    }

    /// The signed note, as text.
    pub fn to_note(&self) -> String {
        let mut s = self.checkpoint.body();
        s.push('\n');
        for sig in &self.signatures {
            let mut blob = Vec::with_capacity(68);
            blob.extend_from_slice(&sig.key_hash);
            blob.extend_from_slice(&sig.signature);
            s.push_str(&format!("\u{2014} {} {}\n", sig.name, B64.encode(blob)));
        }
        s
    }

    /// Parses a signed note. Checks its form only; see `verify`.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > 64 * 1024 {
            return Err(malformed("longer than 64 KiB"));
        }
        let (body, sigs) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no blank line between the body and its signatures"))?;
        if body.chars().any(|c| c.is_control() && c != '\n') {
            return Err(malformed("control characters in the body"));
        }
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default().to_string();
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size_line = lines.next().ok_or_else(|| malformed("no tree size line"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(malformed(format!(
                "tree size {size_line:?} is not a decimal number"
            )));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| malformed("tree size out of range"))?;
        let root_line = lines.next().ok_or_else(|| malformed("no root hash line"))?;
        let root_bytes = B64
            .decode(root_line)
            .map_err(|_| malformed("the root hash is not base64"))?;
        let root: Hash = root_bytes
            .try_into()
            .map_err(|_| malformed("the root hash is not 32 bytes"))?;
        if lines.next().is_some() {
            // custody writes no extension lines.
            return Err(malformed("unexpected lines after the root hash"));
        }
        let checkpoint = Checkpoint { origin, size, root };
        if checkpoint.body().trim_end_matches('\n') != body {
            return Err(malformed("the body is not in canonical form"));
        }
        if !sigs.ends_with('\n') {
            return Err(malformed("the note does not end with a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs.trim_end_matches('\n').split('\n') {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| malformed("a signature line does not start with an em dash"))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| malformed("a signature line lacks its key name"))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| malformed("a signature is not base64"))?;
            if blob.len() != 68 {
                // Another algorithm's signature: not ours to check, but keep the note whole.
                continue;
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_hash: blob[..4].try_into().expect("4 bytes"),
                signature: blob[4..].try_into().expect("64 bytes"),
            });
        }
        if signatures.is_empty() {
            return Err(malformed("no Ed25519 signature"));
        }
        Ok(Self {
            checkpoint,
            signatures,
        })
    }

    /// Checks the origin and that `key` signed the body (strict Ed25519).
    pub fn verify(&self, expected_origin: &str, key: &PublicKey) -> Result<(), CheckpointError> {
        if self.checkpoint.origin != expected_origin {
            return Err(CheckpointError::WrongOrigin {
                expected: expected_origin.to_string(),
                found: self.checkpoint.origin.clone(),
            });
        }
        let body = self.checkpoint.body();
        let ok = self.signatures.iter().any(|s| {
            s.name == self.checkpoint.origin
                && s.key_hash == key_hash(&s.name, key)
                && key
                    .verifying_key()
                    .verify_strict(
                        body.as_bytes(),
                        &ed25519_dalek::Signature::from_bytes(&s.signature),
                    )
                    .is_ok()
        });
        if ok {
            Ok(())
        } else {
            Err(CheckpointError::NotSigned(key.to_string()))
        }
    }

    /// Checks the origin and that any of `keys` signed it; returns the key that did.
    pub fn verify_any<'k>(
        &self,
        expected_origin: &str,
        keys: impl IntoIterator<Item = &'k PublicKey>,
    ) -> Result<&'k PublicKey, CheckpointError> {
        let mut last = CheckpointError::NotSigned("(none given)".into());
        for k in keys {
            match self.verify(expected_origin, k) {
                Ok(()) => return Ok(k),
                Err(e @ CheckpointError::WrongOrigin { .. }) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::seeded_key;

    fn sample() -> (SignedCheckpoint, PublicKey) {
        let k = seeded_key("registrant");
        let c = Checkpoint {
            origin: "custody.ledger/test".into(),
            size: 34,
            root: [7; 32],
        };
        (c.sign(&k), PublicKey::from(&k))
    }

    #[test]
    fn a_note_round_trips_and_verifies() {
        let (s, pk) = sample();
        let text = s.to_note();
        assert!(text.starts_with("custody.ledger/test\n34\nBwcH"));
        assert!(text.contains("\n\n\u{2014} custody.ledger/test "));
        let back = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(back, s);
        back.verify("custody.ledger/test", &pk).unwrap();
    }

    #[test]
    fn bad_signatures_wrong_origins_and_malformed_notes_are_refused() {
        let (s, pk) = sample();
        let other = PublicKey::from(&seeded_key("someone else"));
        assert!(matches!(
            s.verify("custody.ledger/test", &other),
            Err(CheckpointError::NotSigned(_))
        ));
        assert!(matches!(
            s.verify("custody.ledger/other", &pk),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let text = s.to_note();
        // A changed size or root no longer matches the signature.
        let changed = text.replacen("\n34\n", "\n35\n", 1);
        let p = SignedCheckpoint::parse(&changed).unwrap();
        assert!(p.verify("custody.ledger/test", &pk).is_err());
        for bad in [
            "",
            "custody.ledger/test\n34\n",
            "custody.ledger/test\n034\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u{2014} x AAAA\n",
            "custody.ledger/test\nx\nBwcH\n\n\u{2014} x AAAA\n",
            "custody.ledger/test\n34\nnot base64\n\n\u{2014} x AAAA\n",
            "custody.ledger/test\n34\nBwcH\n\n\u{2014} x AAAA\n",
            &text.replace('\u{2014}', "-"),
            text.trim_end(),
        ] {
            assert!(SignedCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn two_signatures_during_a_rotation() {
        let (mut s, old) = sample();
        let new_key = seeded_key("registrant-2");
        s.add_signature(&new_key);
        let back = SignedCheckpoint::parse(&s.to_note()).unwrap();
        back.verify("custody.ledger/test", &old).unwrap();
        back.verify("custody.ledger/test", &PublicKey::from(&new_key))
            .unwrap();
    }
}
