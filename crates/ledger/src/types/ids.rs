//! Identifiers: ledger, sequence number, hashes, keys, users, locations, lots, containers.
//! Each parses from text once, at the edge, and cannot hold an invalid value.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::encoding::{Canonical, DecodeError, Reader, Writer, bad};

/// Why a piece of text is not a valid identifier or value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} {input:?} is invalid: {reason}")]
pub struct ParseError {
    pub what: &'static str,
    pub input: String,
    pub reason: &'static str,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: &'static str) -> Self {
        let input: String = input.chars().take(80).collect();
        Self {
            what,
            input,
            reason,
        }
    }
}

/// Serializes a type through its `Display` / `FromStr`, so JSON shows the same text people read.
macro_rules! serde_via_str {
    ($t:ty) => {
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_via_str;

/// One ledger per DEA registration. A UUID chosen at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerId(uuid::Uuid);

impl LedgerId {
    pub fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(b))
    }
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}
impl fmt::Display for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}
impl FromStr for LedgerId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ParseError::new("ledger id", s, "expected a UUID"))
    }
}
serde_via_str!(LedgerId);
impl Canonical for LedgerId {
    fn encode(&self, w: &mut Writer) {
        w.raw(self.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(r.array("ledger id")?))
    }
}

/// Public id of one entry (UUIDv7), signed with the body so a signature names one act only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(uuid::Uuid);

impl EntryId {
    pub fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
    /// When the body was made: the UUIDv7's time (none for an id of another version).
    pub fn made_at(&self) -> Option<crate::types::time::Timestamp> {
        let ts = self
            .0
            .get_timestamp()
            .filter(|_| self.0.get_version_num() == 7)?;
        let (secs, nanos) = ts.to_unix();
        let micros = i64::try_from(secs).ok()?.checked_mul(1_000_000)? + i64::from(nanos / 1000);
        crate::types::time::Timestamp::from_micros(micros).ok()
    }
}
impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}
impl FromStr for EntryId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ParseError::new("entry id", s, "expected a UUID"))
    }
}
serde_via_str!(EntryId);
impl Canonical for EntryId {
    fn encode(&self, w: &mut Writer) {
        w.raw(self.0.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(uuid::Uuid::from_bytes(r.array("entry id")?)))
    }
}

/// Position of an entry in its ledger: 0, 1, 2 … without gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    pub const GENESIS: Seq = Seq(0);
    /// The largest sequence number: one that fits a signed 64-bit database column.
    pub const MAX: u64 = i64::MAX as u64;

    pub fn new(n: u64) -> Result<Self, ParseError> {
        if n > Self::MAX {
            return Err(ParseError::new(
                "sequence number",
                &n.to_string(),
                "too large",
            ));
        }
        Ok(Self(n))
    }
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}
impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl FromStr for Seq {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let n: u64 = s
            .parse()
            .map_err(|_| ParseError::new("sequence number", s, "expected a whole number"))?;
        Self::new(n)
    }
}
impl Canonical for Seq {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::new(r.u64("sequence number")?).map_err(bad("sequence number"))
    }
}

/// SHA-256 of an entry's canonical encoding (see `Entry::hash`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// What the genesis entry names as its previous hash.
    pub const ZERO: EntryHash = EntryHash([0; 32]);
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}
impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({})", self.to_hex())
    }
}
impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl FromStr for EntryHash {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| ParseError::new("entry hash", s, "expected 64 hex digits"))?;
        Ok(Self(out))
    }
}
serde_via_str!(EntryHash);
impl Canonical for EntryHash {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.array("hash")?))
    }
}

/// An Ed25519 public key that is a valid curve point and not of small order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self, ParseError> {
        let hexed = hex::encode(b);
        let key = VerifyingKey::from_bytes(b)
            .map_err(|_| ParseError::new("public key", &hexed, "not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(ParseError::new(
                "public key",
                &hexed,
                "a weak (small-order) key",
            ));
        }
        Ok(Self(key))
    }
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The key's id: the first 16 bytes of SHA-256("custody/v1/key-id" ‖ 0x00 ‖ key).
    pub fn key_id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"custody/v1/key-id\0");
        h.update(self.0.as_bytes());
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }
}
impl From<&ed25519_dalek::SigningKey> for PublicKey {
    fn from(k: &ed25519_dalek::SigningKey) -> Self {
        Self(k.verifying_key())
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self)
    }
}
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}
impl FromStr for PublicKey {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b)
            .map_err(|_| ParseError::new("public key", s, "expected 64 hex digits"))?;
        Self::from_bytes(&b)
    }
}
serde_via_str!(PublicKey);
impl Canonical for PublicKey {
    fn encode(&self, w: &mut Writer) {
        w.raw(self.0.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_bytes(&r.array("public key")?).map_err(bad("public key"))
    }
}

/// Short, stable name of a public key (see `PublicKey::key_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl FromStr for KeyId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut b = [0u8; 16];
        hex::decode_to_slice(s, &mut b)
            .map_err(|_| ParseError::new("key id", s, "expected 32 hex digits"))?;
        Ok(Self(b))
    }
}
serde_via_str!(KeyId);
impl Canonical for KeyId {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.array("key id")?))
    }
}

/// Declares a string identifier type with a character rule and a length range.
macro_rules! code_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:literal, $max:literal, $normalize:expr, $ok:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let normalize: fn(&str) -> String = $normalize;
                let ok: fn(char, usize) -> bool = $ok;
                let v = normalize(s.trim());
                let n = v.chars().count();
                if !($min..=$max).contains(&n) {
                    return Err(ParseError::new($what, s, concat!("must be ", $min, " to ", $max, " characters")));
                }
                if !v.chars().enumerate().all(|(i, c)| ok(c, i)) {
                    return Err(ParseError::new($what, s, $rule));
                }
                Ok(Self(v))
            }
        }
        serde_via_str!($name);
        impl Canonical for $name {
            fn encode(&self, w: &mut Writer) {
                w.str(&self.0);
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let s = r.str($what)?;
                let v: Self = s.parse().map_err(bad($what))?;
                if v.0 != s {
                    return Err(DecodeError::NotCanonical(concat!($what, " is not in normal form")));
                }
                Ok(v)
            }
        }
    };
}

code_id!(
    /// A user's sign-in name, fixed at enrollment: lower-case letters, digits, `.`, `_`, `-`.
    UserId, "user id", 2, 32,
    |s| s.to_ascii_lowercase(),
    |c, i| c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))),
    "use letters, digits, '.', '_' or '-', starting with a letter"
);
code_id!(
    /// A storage location's code, such as `SAFE-1` or `CART-B`.
    LocationId, "location", 1, 32,
    |s| s.to_ascii_uppercase(),
    |c, _| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_'),
    "use letters, digits, '-' or '_'"
);
code_id!(
    /// A manufacturer's lot number as printed on the carton.
    Lot, "lot number", 1, 32,
    |s| s.to_ascii_uppercase(),
    |c, _| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '/'),
    "use letters, digits, '-', '.' or '/'"
);

/// One physical container (vial, device, bottle). Its id comes from the receipt that brought it
/// in: the receipt's sequence number and the container's place in that receipt (1-based),
/// written `C<seq>-<n>` — e.g. `C12-3`. Nobody chooses it, so nobody can reuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId {
    receipt: Seq,
    index: u32,
}

impl ContainerId {
    pub fn new(receipt: Seq, index: u32) -> Result<Self, ParseError> {
        if index == 0 {
            return Err(ParseError::new(
                "container id",
                &format!("C{receipt}-0"),
                "container numbers start at 1",
            ));
        }
        Ok(Self { receipt, index })
    }
    pub fn receipt(&self) -> Seq {
        self.receipt
    }
    pub fn index(&self) -> u32 {
        self.index
    }
}
impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{}-{}", self.receipt, self.index)
    }
}
impl FromStr for ContainerId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = || {
            ParseError::new(
                "container id",
                s,
                "expected C<receipt>-<number>, e.g. C12-3",
            )
        };
        let rest = s.trim().strip_prefix(['C', 'c']).ok_or_else(err)?;
        let (a, b) = rest.split_once('-').ok_or_else(err)?;
        let digits =
            |x: &str| !x.is_empty() && x.len() <= 19 && x.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(err());
        }
        let seq: Seq = a.parse().map_err(|_| err())?;
        let index: u32 = b.parse().map_err(|_| err())?;
        Self::new(seq, index)
    }
}
serde_via_str!(ContainerId);
impl Canonical for ContainerId {
    fn encode(&self, w: &mut Writer) {
        self.receipt.encode(w);
        w.u32(self.index);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let receipt = Seq::decode(r)?;
        let index = r.u32("container index")?;
        Self::new(receipt, index).map_err(bad("container id"))
    }
}

/// A keyed commitment to a patient: HMAC-SHA-256 of the patient reference under a per-ledger
/// secret. The chain holds only this; the identifying record lives outside it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatientRef([u8; 32]);

impl PatientRef {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The commitment to `reference` (an MRN, say) under the ledger's patient secret.
    pub fn commit(secret: &[u8; 32], reference: &str) -> Self {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        mac.update(b"custody/v1/patient\0");
        mac.update(reference.trim().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        Self(out)
    }
    /// What a screen or report shows: never the commitment in full.
    pub fn masked(&self) -> String {
        format!("P-{}", &hex::encode(&self.0[..4]))
    }
}
impl fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PatientRef({})", self.masked())
    }
}
impl fmt::Display for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl FromStr for PatientRef {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b)
            .map_err(|_| ParseError::new("patient commitment", s, "expected 64 hex digits"))?;
        Ok(Self(b))
    }
}
serde_via_str!(PatientRef);
impl Canonical for PatientRef {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.array("patient commitment")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_round_trip_and_reject_junk() {
        let c: ContainerId = "C12-3".parse().unwrap();
        assert_eq!(c.to_string(), "C12-3");
        assert_eq!(c.receipt().get(), 12);
        for bad in [
            "",
            "C",
            "C12",
            "C12-0",
            "12-3",
            "C-3",
            "C1-x",
            "C99999999999999999999-1",
        ] {
            assert!(bad.parse::<ContainerId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_are_lower_case_and_start_with_a_letter() {
        assert_eq!(
            "  Nurse.Kim ".parse::<UserId>().unwrap().as_str(),
            "nurse.kim"
        );
        for bad in ["", "a", "1abc", "ab cd", "a@b", &"x".repeat(33)] {
            assert!(bad.parse::<UserId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn non_canonical_user_id_bytes_are_refused() {
        let mut w = Writer::new();
        w.str("Nurse");
        let bytes = w.into_bytes();
        assert!(matches!(
            UserId::from_canonical_bytes(&bytes),
            Err(DecodeError::NotCanonical(_))
        ));
    }

    #[test]
    fn weak_public_keys_are_refused() {
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_bytes(&identity).is_err());
    }
}
