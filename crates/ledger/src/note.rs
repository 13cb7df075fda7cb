//! C2SP signed notes beyond custody's own checkpoints: verifier keys (`vkey`s), notes with
//! any signature lines, and witness cosignatures (`cosignature/v1`, Ed25519).
//!
//! - [C2SP signed-note](https://c2sp.org/signed-note): a vkey is
//!   `<name>+hex(key ID)+base64(signature type ‖ public key)`; the key ID is
//!   `SHA-256(name ‖ 0x0A ‖ signature type ‖ public key)[:4]`. The registrant's checkpoint
//!   key is signature type `0x01` (plain Ed25519), named after the ledger's origin
//!   (`custody.ledger/<uuid>`).
//! - [C2SP tlog-cosignature](https://c2sp.org/tlog-cosignature): a witness's Ed25519
//!   cosignature is signature type `0x04`; the signature line's bytes are
//!   `key ID ‖ timestamp (u64, big-endian) ‖ Ed25519 signature`, and the signed message is
//!   `cosignature/v1\ntime <timestamp>\n` followed by the whole note body of the checkpoint.
//!
//! Pure: the caller brings the time.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::checkpoint::{Checkpoint, origin};
use crate::merkle::Hash;
use crate::types::ids::{LedgerId, PublicKey};

/// Signature type of plain Ed25519 note signatures (the registrant's checkpoint key).
pub const ALG_ED25519: u8 = 0x01;
/// Signature type of timestamped Ed25519 checkpoint cosignatures (`cosignature/v1`).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The most signature lines a note may carry (as the Go and Rust implementations allow).
pub const MAX_SIGNATURES: usize = 100;
/// The longest note accepted.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Why a vkey, a note or a cosignature is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    #[error("the verifier key is malformed: {0}")]
    MalformedKey(String),
    #[error("the verifier key's signature type is {found:#04x}, not {expected:#04x}")]
    WrongAlgorithm { expected: u8, found: u8 },
    #[error("the note is malformed: {0}")]
    MalformedNote(String),
    #[error("the cosignature is malformed: {0}")]
    MalformedCosignature(String),
    #[error("the cosignature is by {found}, not by the witness key {expected}")]
    WrongKey { expected: String, found: String },
    #[error("the cosignature does not verify with the witness key {0}")]
    BadSignature(String),
}

fn bad_key(s: impl Into<String>) -> NoteError {
    NoteError::MalformedKey(s.into())
}

fn bad_note(s: impl Into<String>) -> NoteError {
    NoteError::MalformedNote(s.into())
}

fn bad_cosig(s: impl Into<String>) -> NoteError {
    NoteError::MalformedCosignature(s.into())
}

/// Whether `name` may name a key: not empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

/// The key ID of `key` of signature type `alg` under `name`:
/// `SHA-256(name ‖ 0x0A ‖ alg ‖ key)[:4]`.
pub fn key_id(name: &str, alg: u8, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, alg]);
    h.update(key.to_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A verifier key: a name, a signature type and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vkey {
    name: String,
    alg: u8,
    key: PublicKey,
}

impl Vkey {
    /// A plain Ed25519 note key (signature type `0x01`), e.g. a log's checkpoint key.
    pub fn ed25519(name: &str, key: PublicKey) -> Result<Self, NoteError> {
        Self::new(name, ALG_ED25519, key)
    }

    /// A witness's `cosignature/v1` key (signature type `0x04`).
    pub fn cosignature_v1(name: &str, key: PublicKey) -> Result<Self, NoteError> {
        Self::new(name, ALG_COSIGNATURE_V1, key)
    }

    fn new(name: &str, alg: u8, key: PublicKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(bad_key(format!("{name:?} is not a valid key name")));
        }
        Ok(Vkey {
            name: name.to_string(),
            alg,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type byte.
    pub fn algorithm(&self) -> u8 {
        self.alg
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The 4-byte key ID signature lines by this key carry.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.alg, &self.key)
    }

    /// Parses `<name>+<hex key ID>+<base64(type ‖ key)>` of an Ed25519 key of type `0x01` or
    /// `0x04`, checking the key ID.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let (name, rest) = text
            .split_once('+')
            .ok_or_else(|| bad_key("expected NAME+KEYID+KEY"))?;
        let (id_hex, key64) = rest
            .split_once('+')
            .ok_or_else(|| bad_key("expected NAME+KEYID+KEY"))?;
        if !is_valid_key_name(name) {
            return Err(bad_key(format!("{name:?} is not a valid key name")));
        }
        let mut id = [0u8; 4];
        if id_hex.len() != 8 || hex::decode_to_slice(id_hex, &mut id).is_err() {
            return Err(bad_key("the key ID is not 8 hex digits"));
        }
        let raw = B64
            .decode(key64)
            .map_err(|_| bad_key("the key is not base64"))?;
        let (&alg, key) = raw
            .split_first()
            .ok_or_else(|| bad_key("the key is empty"))?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(bad_key(format!(
                "signature type {alg:#04x} is not Ed25519 (0x01) or cosignature/v1 (0x04)"
            )));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad_key("an Ed25519 key is 32 bytes"))?;
        let key = PublicKey::from_bytes(&key).map_err(|e| bad_key(e.to_string()))?;
        let v = Vkey {
            name: name.to_string(),
            alg,
            key,
        };
        if v.key_id() != id {
            return Err(bad_key("the key ID does not match the name and key"));
        }
        Ok(v)
    }

    /// Parses a vkey and checks its signature type.
    pub fn parse_as(text: &str, alg: u8) -> Result<Self, NoteError> {
        let v = Self::parse(text)?;
        if v.alg != alg {
            return Err(NoteError::WrongAlgorithm {
                expected: alg,
                found: v.alg,
            });
        }
        Ok(v)
    }
}

impl fmt::Display for Vkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.alg);
        raw.extend_from_slice(&self.key.to_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(raw)
        )
    }
}

/// The registrant's checkpoint key as a C2SP vkey: named after the ledger's origin,
/// signature type `0x01` (`custody.ledger/<uuid>+<key ID>+<base64(0x01 ‖ key)>`).
pub fn checkpoint_vkey(ledger: &LedgerId, key: &PublicKey) -> Vkey {
    Vkey {
        name: origin(ledger),
        alg: ALG_ED25519,
        key: *key,
    }
}

/// One signature line of a note: `— <name> base64(key ID ‖ signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteLine {
    pub name: String,
    pub key_id: [u8; 4],
    /// The bytes after the key ID (for `cosignature/v1`: timestamp ‖ signature).
    pub signature: Vec<u8>,
}

impl NoteLine {
    /// Parses one line, without its newline.
    pub fn parse(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| bad_note("a signature line does not start with an em dash"))?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or_else(|| bad_note("a signature line lacks its key name"))?;
        if !is_valid_key_name(name) {
            return Err(bad_note(format!("{name:?} is not a valid key name")));
        }
        let blob = B64
            .decode(blob)
            .map_err(|_| bad_note("a signature is not base64"))?;
        if blob.len() < 5 {
            return Err(bad_note("a signature is shorter than 5 bytes"));
        }
        Ok(NoteLine {
            name: name.to_string(),
            key_id: [blob[0], blob[1], blob[2], blob[3]],
            signature: blob[4..].to_vec(),
        })
    }

    /// The line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// A signed note: its body (text up to and including its last newline, what is signed) and
/// its signature lines, of any type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub body: String,
    pub signatures: Vec<NoteLine>,
}

impl Note {
    /// Parses a signed note (C2SP signed-note): UTF-8 text without control characters
    /// other than newline, a blank line, then one or more signature lines, each ending in a
    /// newline.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(bad_note(format!("longer than {MAX_NOTE_BYTES} bytes")));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad_note("control characters"));
        }
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| bad_note("no blank line between the body and its signatures"))?;
        let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(bad_note("the note does not end with a newline"));
        }
        let signatures = sigs
            .trim_end_matches('\n')
            .split('\n')
            .map(NoteLine::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(bad_note(format!(
                "more than {MAX_SIGNATURES} signature lines"
            )));
        }
        Ok(Note {
            body: body.to_string(),
            signatures,
        })
    }

    /// The note as text.
    pub fn to_text(&self) -> String {
        let mut s = self.body.clone();
        s.push('\n');
        for l in &self.signatures {
            s.push_str(&l.to_line());
        }
        s
    }

    /// Reads the body as a C2SP checkpoint: origin, tree size (decimal, no leading zeros),
    /// root hash (base64 of 32 bytes), then any extension lines (kept in the body, and so
    /// in what is signed and cosigned).
    pub fn checkpoint(&self) -> Result<Checkpoint, NoteError> {
        let mut lines = self
            .body
            .strip_suffix('\n')
            .ok_or_else(|| bad_note("the body does not end with a newline"))?
            .split('\n');
        let origin = lines.next().unwrap_or_default().to_string();
        if origin.is_empty() {
            return Err(bad_note("empty origin line"));
        }
        let size_line = lines.next().ok_or_else(|| bad_note("no tree size line"))?;
        let size = parse_decimal(size_line)
            .ok_or_else(|| bad_note(format!("tree size {size_line:?} is not a decimal number")))?;
        let root_line = lines.next().ok_or_else(|| bad_note("no root hash line"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad_note("the root hash is not base64 of 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(bad_note("an empty extension line"));
        }
        Ok(Checkpoint { origin, size, root })
    }

    /// Whether a signature line by `key` (matched by name and key ID) verifies over the body
    /// with plain Ed25519 (strict). `None` if no line names the key.
    pub fn verify_ed25519(&self, key: &Vkey) -> Option<bool> {
        let id = key.key_id();
        let mut named = false;
        for l in &self.signatures {
            if l.name != key.name || l.key_id != id {
                continue;
            }
            named = true;
            let Ok(sig) = <[u8; 64]>::try_from(l.signature.as_slice()) else {
                continue;
            };
            let sig = ed25519_dalek::Signature::from_bytes(&sig);
            if key
                .key
                .verifying_key()
                .verify_strict(self.body.as_bytes(), &sig)
                .is_ok()
            {
                return Some(true);
            }
        }
        named.then_some(false)
    }

    /// The `cosignature/v1` lines of the note (76 bytes after the key ID is not checked:
    /// lines of other lengths are left out).
    pub fn cosignatures(&self) -> Vec<Cosignature> {
        self.signatures
            .iter()
            .filter_map(|l| Cosignature::from_note_line(l).ok())
            .collect()
    }
}

/// A decimal number as C2SP writes one: ASCII digits, no leading zero unless it is `0`.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// What a `cosignature/v1` signature signs: `cosignature/v1\ntime <timestamp>\n` and the
/// checkpoint's whole note body (with its final newline, without signature lines).
pub fn cosigned_message(body: &str, timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(body.as_bytes());
    m
}

/// A witness's timestamped Ed25519 cosignature of a checkpoint (C2SP tlog-cosignature,
/// `cosignature/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's key name.
    pub name: String,
    pub key_id: [u8; 4],
    /// POSIX seconds at which the witness signed.
    pub timestamp: u64,
    pub signature: [u8; 64],
}

impl Cosignature {
    /// Cosigns the note body `body` at `timestamp` (POSIX seconds, non-zero, below 2^63)
    /// with the witness key `key` named `name`.
    pub fn sign(
        name: &str,
        key: &SigningKey,
        body: &str,
        timestamp: u64,
    ) -> Result<Self, NoteError> {
        if timestamp == 0 || timestamp > i64::MAX as u64 {
            return Err(bad_cosig("the timestamp must be in 1 ..= 2^63 - 1"));
        }
        let v = Vkey::cosignature_v1(name, PublicKey::from(key))?;
        let sig = key.sign(&cosigned_message(body, timestamp)).to_bytes();
        Ok(Cosignature {
            name: name.to_string(),
            key_id: v.key_id(),
            timestamp,
            signature: sig,
        })
    }

    /// Reads a note signature line as a cosignature (76 bytes after the key ID).
    pub fn from_note_line(l: &NoteLine) -> Result<Self, NoteError> {
        if l.signature.len() != 8 + 64 {
            return Err(bad_cosig(format!(
                "{} bytes after the key ID, not 8 + 64",
                l.signature.len()
            )));
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&l.signature[..8]);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&l.signature[8..]);
        Ok(Cosignature {
            name: l.name.clone(),
            key_id: l.key_id,
            timestamp: u64::from_be_bytes(ts),
            signature: sig,
        })
    }

    /// Parses one signature line (`— <name> <base64>`, the final newline optional).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let l = NoteLine::parse(line).map_err(|e| bad_cosig(e.to_string()))?;
        Self::from_note_line(&l)
    }

    /// The signature line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut sig = Vec::with_capacity(72);
        sig.extend_from_slice(&self.timestamp.to_be_bytes());
        sig.extend_from_slice(&self.signature);
        NoteLine {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: sig,
        }
        .to_line()
    }

    /// Checks that `witness` (a `cosignature/v1` vkey) made this cosignature over the note
    /// body `body`. A timestamp of zero or at or above 2^63 is refused.
    pub fn verify(&self, body: &str, witness: &Vkey) -> Result<(), NoteError> {
        if witness.alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::WrongAlgorithm {
                expected: ALG_COSIGNATURE_V1,
                found: witness.alg,
            });
        }
        if self.name != witness.name || self.key_id != witness.key_id() {
            return Err(NoteError::WrongKey {
                expected: witness.to_string(),
                found: format!("{}+{}", self.name, hex::encode(self.key_id)),
            });
        }
        if self.timestamp == 0 || self.timestamp > i64::MAX as u64 {
            return Err(bad_cosig("the timestamp must be in 1 ..= 2^63 - 1"));
        }
        witness
            .key
            .verifying_key()
            .verify_strict(
                &cosigned_message(body, self.timestamp),
                &ed25519_dalek::Signature::from_bytes(&self.signature),
            )
            .map_err(|_| NoteError::BadSignature(witness.to_string()))
    }
}

/// Checks one cosignature line (as a witness's `add-checkpoint` answers it, or as it is
/// found in a cosigned checkpoint) against the witness vkey and the checkpoint; returns the
/// cosignature's timestamp.
pub fn verify_cosignature_line(
    line: &str,
    checkpoint: &Checkpoint,
    witness: &Vkey,
) -> Result<u64, NoteError> {
    let c = Cosignature::parse_line(line)?;
    c.verify(&checkpoint.body(), witness)?;
    Ok(c.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::seeded_key;

    // The example vkey of C2SP signed-note.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

    #[test]
    fn the_spec_example_vkey_parses_and_prints_back() {
        let v = Vkey::parse(SPEC_VKEY).unwrap();
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.algorithm(), ALG_ED25519);
        assert_eq!(v.to_string(), SPEC_VKEY);
    }

    #[test]
    fn vkeys_with_a_wrong_id_name_type_or_length_are_refused() {
        for bad in [
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo",
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ] {
            assert!(Vkey::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Vkey::parse_as(SPEC_VKEY, ALG_COSIGNATURE_V1),
            Err(NoteError::WrongAlgorithm { .. })
        ));
    }

    #[test]
    fn the_checkpoint_vkey_names_the_origin_and_its_id_is_the_checkpoint_key_hash() {
        let k = seeded_key("registrant");
        let pk = PublicKey::from(&k);
        let ledger: LedgerId = "01935a2b-0000-7000-8000-000000000001".parse().unwrap();
        let v = checkpoint_vkey(&ledger, &pk);
        let s = v.to_string();
        assert!(s.starts_with("custody.ledger/01935a2b-0000-7000-8000-000000000001+"));
        assert_eq!(
            v.key_id(),
            crate::checkpoint::key_hash(&origin(&ledger), &pk)
        );
        assert_eq!(Vkey::parse(&s).unwrap(), v);
        // A checkpoint signed by the registrant verifies through the vkey.
        let c = Checkpoint {
            origin: origin(&ledger),
            size: 3,
            root: [9; 32],
        }
        .sign(&k);
        let note = Note::parse(&c.to_note()).unwrap();
        assert_eq!(note.verify_ed25519(&v), Some(true));
        assert_eq!(note.checkpoint().unwrap(), c.checkpoint);
    }

    #[test]
    fn a_cosignature_line_has_the_spec_layout_and_verifies() {
        let w = seeded_key("witness");
        let v = Vkey::cosignature_v1("witness.example/w1", PublicKey::from(&w)).unwrap();
        let s = v.to_string();
        // 0x04 ‖ key: base64 of 33 bytes starting with 0x04 begins with "B".
        assert!(s.splitn(3, '+').nth(2).unwrap().starts_with('B'));
        let cp = Checkpoint {
            origin: "custody.ledger/test".into(),
            size: 20,
            root: [1; 32],
        };
        let c = Cosignature::sign("witness.example/w1", &w, &cp.body(), 1_679_315_147).unwrap();
        let line = c.to_line();
        assert!(line.starts_with("\u{2014} witness.example/w1 "));
        assert!(line.ends_with('\n'));
        let blob = B64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 4 + 8 + 64);
        assert_eq!(&blob[..4], &v.key_id());
        assert_eq!(&blob[4..12], &1_679_315_147u64.to_be_bytes());
        // The signature is over the message the spec gives.
        let msg = b"cosignature/v1\ntime 1679315147\ncustody.ledger/test\n20\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n";
        assert_eq!(cosigned_message(&cp.body(), 1_679_315_147), msg.to_vec());
        PublicKey::from(&w)
            .verifying_key()
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&c.signature))
            .unwrap();
        assert_eq!(
            verify_cosignature_line(&line, &cp, &v).unwrap(),
            1_679_315_147
        );

        // Another checkpoint, another key, a changed time, a plain Ed25519 vkey: refused.
        let other = Checkpoint {
            size: 21,
            ..cp.clone()
        };
        assert!(matches!(
            verify_cosignature_line(&line, &other, &v),
            Err(NoteError::BadSignature(_))
        ));
        let v2 =
            Vkey::cosignature_v1("witness.example/w1", PublicKey::from(&seeded_key("x"))).unwrap();
        assert!(matches!(
            verify_cosignature_line(&line, &cp, &v2),
            Err(NoteError::WrongKey { .. })
        ));
        let mut later = c.clone();
        later.timestamp += 1;
        assert!(later.verify(&cp.body(), &v).is_err());
        let plain = Vkey::ed25519("witness.example/w1", PublicKey::from(&w)).unwrap();
        assert!(matches!(
            verify_cosignature_line(&line, &cp, &plain),
            Err(NoteError::WrongAlgorithm { .. })
        ));
        assert!(Cosignature::sign("w", &w, &cp.body(), 0).is_err());
    }

    #[test]
    fn notes_with_any_signatures_parse_and_cosignatures_are_found_in_them() {
        let k = seeded_key("registrant");
        let w = seeded_key("witness");
        let cp = Checkpoint {
            origin: "custody.ledger/test".into(),
            size: 5,
            root: [2; 32],
        };
        let mut text = cp.clone().sign(&k).to_note();
        let c = Cosignature::sign("w.example", &w, &cp.body(), 1_700_000_000).unwrap();
        text.push_str(&c.to_line());
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.signatures.len(), 2);
        assert_eq!(note.cosignatures(), vec![c]);
        assert_eq!(note.to_text(), text);
        // The ledger's strict checkpoint parser still reads it (it skips the cosignature).
        crate::checkpoint::SignedCheckpoint::parse(&text).unwrap();
        for bad in [
            "",
            "a\n1\nAA==\n",
            "a\n1\nAA==\n\n\u{2014} x AAAAAAA=",
            "a\n1\nAA==\n\n- x AAAAAAA=\n",
            "a\n1\nAA==\n\n\u{2014} x+y AAAAAAA=\n",
            "a\n1\nAA==\n\n\u{2014} x AAAA\n",
            "a\r\n1\nAA==\n\n\u{2014} x AAAAAAA=\n",
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
        for bad_body in [
            "a\n01\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n",
            "a\n1\nAA==\n",
            "\n1\nAA==\n",
        ] {
            let n = Note {
                body: bad_body.into(),
                signatures: vec![],
            };
            assert!(n.checkpoint().is_err(), "{bad_body:?}");
        }
    }
}
