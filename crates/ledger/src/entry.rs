//! Entries: the signed body, the chained envelope, the hash and the signature inputs.
//!
//! Four format versions share one chain. Version 1 is every kind as first released;
//! version 2 is the `report_issued` kind of that time; version 3 adds each signer's signing
//! time to their signature and a sequencer signature by the registrant key over the entry's
//! place and time in the chain; version 4 (every entry recorded from now on) keeps version 3's
//! structure and adds kinds 20–24 and a few payload fields (inventories, loss reports, REMS
//! sessions and forms, PMP reports; late-charting reasons, what a loss explains, a report's
//! file format and reason). `docs/ledger-format.md` specifies all four.

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{Canonical, DecodeError, Reader, Writer};
use crate::payload::{Kind, Payload, Principal};
use crate::types::enums::Meaning;
use crate::types::ids::{EntryHash, EntryId, KeyId, LedgerId, PublicKey, Seq};
use crate::types::time::Timestamp;

/// Version byte of a version 1 entry. A change to the encoding is a new version.
pub const FORMAT_VERSION: u8 = 1;
/// Format version 2 added one kind, `report_issued`; an entry of that kind recorded before
/// version 3 is a version 2 entry (version byte 2, `custody/v2/…` domains).
pub const FORMAT_VERSION_2: u8 = 2;
/// Format version 3: every kind, with signing times and a sequencer signature.
pub const FORMAT_VERSION_3: u8 = 3;
/// Domain separator of the entry hash.
pub const HASH_DOMAIN: &[u8] = b"custody/v1/entry\0";
/// Domain separator of every signature input.
pub const SIGNATURE_CONTEXT: &[u8] = b"custody/v1/signature\0";
/// Domain separators of version 2 entries.
pub const HASH_DOMAIN_V2: &[u8] = b"custody/v2/entry\0";
pub const SIGNATURE_CONTEXT_V2: &[u8] = b"custody/v2/signature\0";
/// Domain separators of version 3 entries.
pub const HASH_DOMAIN_V3: &[u8] = b"custody/v3/entry\0";
pub const SIGNATURE_CONTEXT_V3: &[u8] = b"custody/v3/signature\0";
/// Domain separator of the sequencer's signing input (version 3).
pub const SEQUENCER_CONTEXT: &[u8] = b"custody/v3/sequencer\0";
/// Format version 4: version 3's structure, kinds 20–24 and the payload fields of §4.2.
pub const FORMAT_VERSION_4: u8 = 4;
/// Domain separators of version 4 entries.
pub const HASH_DOMAIN_V4: &[u8] = b"custody/v4/entry\0";
pub const SIGNATURE_CONTEXT_V4: &[u8] = b"custody/v4/signature\0";
pub const SEQUENCER_CONTEXT_V4: &[u8] = b"custody/v4/sequencer\0";

/// An entry's format version: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FormatVersion {
    /// Kinds 1–18 as first released: signatures over the body only.
    V1,
    /// `report_issued` as first released.
    V2,
    /// Kinds 1–19: signing times inside each signature, and a sequencer signature.
    V3,
    /// Every kind (1–24), with version 3's structure and the payload fields version 4 added.
    V4,
}

impl FormatVersion {
    /// The version every entry recorded from now on has.
    pub const CURRENT: FormatVersion = FormatVersion::V4;

    /// The version an entry of `kind` had before version 3: 2 for `report_issued`, 1 for the
    /// rest.
    pub fn legacy(kind: Kind) -> Self {
        if kind.format_version() == FORMAT_VERSION_2 {
            FormatVersion::V2
        } else {
            FormatVersion::V1
        }
    }
    pub fn byte(self) -> u8 {
        match self {
            FormatVersion::V1 => FORMAT_VERSION,
            FormatVersion::V2 => FORMAT_VERSION_2,
            FormatVersion::V3 => FORMAT_VERSION_3,
            FormatVersion::V4 => FORMAT_VERSION_4,
        }
    }
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            FORMAT_VERSION => Some(FormatVersion::V1),
            FORMAT_VERSION_2 => Some(FormatVersion::V2),
            FORMAT_VERSION_3 => Some(FormatVersion::V3),
            FORMAT_VERSION_4 => Some(FormatVersion::V4),
            _ => None,
        }
    }
    /// Whether an entry of this version may be of `kind`: version 4 holds every kind,
    /// version 3 the kinds of versions 1 and 2, versions 1 and 2 only the kinds they were
    /// released with.
    pub fn admits(self, kind: Kind) -> bool {
        match self {
            FormatVersion::V4 => true,
            FormatVersion::V3 => kind.format_version() <= FORMAT_VERSION_2,
            _ => self == Self::legacy(kind),
        }
    }
    /// Whether signatures carry their signing time and the entry a sequencer signature.
    pub fn is_sequenced(self) -> bool {
        self >= FormatVersion::V3
    }
    /// Domain separator of the sequencer's signing input (versions 3 and 4).
    pub fn sequencer_context(self) -> &'static [u8] {
        match self {
            FormatVersion::V4 => SEQUENCER_CONTEXT_V4,
            _ => SEQUENCER_CONTEXT,
        }
    }
    pub fn hash_domain(self) -> &'static [u8] {
        match self {
            FormatVersion::V1 => HASH_DOMAIN,
            FormatVersion::V2 => HASH_DOMAIN_V2,
            FormatVersion::V3 => HASH_DOMAIN_V3,
            FormatVersion::V4 => HASH_DOMAIN_V4,
        }
    }
    pub fn signature_context(self) -> &'static [u8] {
        match self {
            FormatVersion::V1 => SIGNATURE_CONTEXT,
            FormatVersion::V2 => SIGNATURE_CONTEXT_V2,
            FormatVersion::V3 => SIGNATURE_CONTEXT_V3,
            FormatVersion::V4 => SIGNATURE_CONTEXT_V4,
        }
    }
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.byte())
    }
}

impl Serialize for FormatVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.byte())
    }
}
impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = u8::deserialize(d)?;
        Self::from_byte(b).ok_or_else(|| serde::de::Error::custom(format!("no format version {b}")))
    }
}

/// What signers sign: the entry's public id and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub entry_id: EntryId,
    #[serde(flatten)]
    pub payload: Payload,
}
impl Body {
    pub fn kind(&self) -> Kind {
        self.payload.kind()
    }
}
impl Canonical for Body {
    fn encode(&self, w: &mut Writer) {
        self.entry_id.encode(w);
        self.payload.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            entry_id: EntryId::decode(r)?,
            payload: Payload::decode(r)?,
        })
    }
}

/// One signature on an entry, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub signer: Principal,
    pub meaning: Meaning,
    pub key_id: KeyId,
    /// When the signer signed (21 CFR 11.50(a)(2)), by the clock of the server their key
    /// signed on: inside the signing input of a version 3 signature, and absent (none) from a
    /// version 1 or 2 one, whose signing time is its entry's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<Timestamp>,
    #[serde(with = "sig_hex")]
    pub signature: [u8; 64],
}

mod sig_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

mod opt_sig_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<[u8; 64]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 64]>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let mut out = [0u8; 64];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Some(out))
    }
}

impl Signature {
    /// Writes the signature as an entry of `version` holds it: with its signing time in
    /// version 3. (A version 3 signature whose time is unstated is refused by the rules,
    /// `State::apply`, before it can be stored; it is written as time 0 only so that encoding
    /// cannot fail.)
    pub fn encode_in(&self, version: FormatVersion, w: &mut Writer) {
        self.signer.encode(w);
        self.meaning.encode(w);
        self.key_id.encode(w);
        if version.is_sequenced() {
            self.signed_at.unwrap_or(Timestamp::EPOCH).encode(w);
        }
        w.raw(&self.signature);
    }
    /// Reads a signature of an entry of `version`.
    pub fn decode_in(version: FormatVersion, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let signer = Principal::decode(r)?;
        let meaning = Meaning::decode(r)?;
        let key_id = KeyId::decode(r)?;
        let signed_at = if version.is_sequenced() {
            Some(Timestamp::decode(r)?)
        } else {
            None
        };
        Ok(Self {
            signer,
            meaning,
            key_id,
            signed_at,
            signature: r.array("signature")?,
        })
    }
}

/// The bytes a signer signs: the context (which names the format version), the ledger, the
/// kind, who signs with what meaning and key, in version 3 when they sign, then the body.
/// Binding all of these means a signature cannot be replayed in another ledger, as another
/// kind, as another signer, with another meaning or (version 3) at another time.
pub fn signing_input(
    ledger: &LedgerId,
    version: FormatVersion,
    sig: &Signature,
    body: &Body,
) -> Vec<u8> {
    let mut w = Writer::for_version(version.byte());
    w.raw(version.signature_context());
    ledger.encode(&mut w);
    w.u16(body.kind().code());
    sig.signer.encode(&mut w);
    sig.meaning.encode(&mut w);
    sig.key_id.encode(&mut w);
    if version.is_sequenced() {
        sig.signed_at.unwrap_or(Timestamp::EPOCH).encode(&mut w);
    }
    body.encode(&mut w);
    w.into_bytes()
}

impl Signature {
    /// Signs `body`, in an entry of `version`, as `signer` with `meaning`, at `signed_at`
    /// (kept only in version 3).
    pub fn sign(
        ledger: &LedgerId,
        version: FormatVersion,
        body: &Body,
        signer: Principal,
        meaning: Meaning,
        key: &SigningKey,
        signed_at: Timestamp,
    ) -> Self {
        let mut s = Self {
            signer,
            meaning,
            key_id: PublicKey::from(key).key_id(),
            signed_at: version.is_sequenced().then_some(signed_at),
            signature: [0; 64],
        };
        s.signature = key
            .sign(&signing_input(ledger, version, &s, body))
            .to_bytes();
        s
    }
}

/// A body with its signatures, not yet chained: what a client hands the store to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub ledger: LedgerId,
    /// The format version the entry will have (its signatures sign it).
    pub version: FormatVersion,
    pub body: Body,
    pub signatures: Vec<Signature>,
}

impl Draft {
    /// A draft of the current format version (4).
    pub fn new(ledger: LedgerId, entry_id: EntryId, payload: impl Into<Payload>) -> Self {
        Self::in_version(FormatVersion::CURRENT, ledger, entry_id, payload)
    }
    /// A draft in format version 3: for the test vectors and tests of ledgers recorded
    /// before version 4. The store appends version 4 drafts only.
    pub fn v3(ledger: LedgerId, entry_id: EntryId, payload: impl Into<Payload>) -> Self {
        Self::in_version(FormatVersion::V3, ledger, entry_id, payload)
    }
    /// A draft in the format version its kind had before version 3: for the test vectors and
    /// tests of old ledgers. The store appends version 3 drafts only.
    pub fn legacy(ledger: LedgerId, entry_id: EntryId, payload: impl Into<Payload>) -> Self {
        let payload = payload.into();
        Self::in_version(
            FormatVersion::legacy(payload.kind()),
            ledger,
            entry_id,
            payload,
        )
    }
    fn in_version(
        version: FormatVersion,
        ledger: LedgerId,
        entry_id: EntryId,
        payload: impl Into<Payload>,
    ) -> Self {
        Self {
            ledger,
            version,
            body: Body {
                entry_id,
                payload: payload.into(),
            },
            signatures: Vec::new(),
        }
    }
    /// Adds a signature by `signer` with `meaning`, made at `at` (the signer's signing time;
    /// a version 1 or 2 draft does not keep it).
    pub fn signed(
        mut self,
        signer: Principal,
        meaning: Meaning,
        key: &SigningKey,
        at: Timestamp,
    ) -> Self {
        let s = Signature::sign(
            &self.ledger,
            self.version,
            &self.body,
            signer,
            meaning,
            key,
            at,
        );
        self.signatures.push(s);
        self
    }
    /// Names a signer who will sign at `at`, with the key they hold, without a signature: the
    /// draft of a dry run, which `State::apply` checks in full (who signs, in what role, with
    /// which key, when, and every rule of the payload) while nothing can verify it or append
    /// it.
    pub fn to_be_signed_by(
        mut self,
        signer: Principal,
        meaning: Meaning,
        key_id: KeyId,
        at: Timestamp,
    ) -> Self {
        self.signatures.push(Signature {
            signer,
            meaning,
            key_id,
            signed_at: self.version.is_sequenced().then_some(at),
            signature: [0; 64],
        });
        self
    }
    /// The latest signing time among its signatures (none in versions 1 and 2).
    pub fn last_signed_at(&self) -> Option<Timestamp> {
        self.signatures.iter().filter_map(|s| s.signed_at).max()
    }
    /// Places the draft in the chain. A version 3 entry then needs its sequencer signature
    /// (`Entry::sealed`) before it can verify.
    pub fn chain(self, seq: Seq, prev: EntryHash, timestamp: Timestamp) -> Entry {
        Entry {
            version: self.version,
            ledger: self.ledger,
            seq,
            prev,
            timestamp,
            body: self.body,
            signatures: self.signatures,
            sequencer: None,
        }
    }
}

/// A chained entry: everything here is covered by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub version: FormatVersion,
    pub ledger: LedgerId,
    pub seq: Seq,
    pub prev: EntryHash,
    pub timestamp: Timestamp,
    pub body: Body,
    pub signatures: Vec<Signature>,
    /// Version 3: the registrant key's signature over the ledger, seq, prev, timestamp and
    /// the digest of the body with its signatures (`sequencer_input`). None in versions 1
    /// and 2, and in a version 3 entry not sealed yet (a dry run's).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_sig_hex")]
    pub sequencer: Option<[u8; 64]>,
}

/// The bytes the sequencer (the registrant key in force before the entry) signs: the context,
/// the ledger, the entry's place and time, and `contents`, the SHA-256 of the entry's body,
/// signature count and signatures as the entry encodes them.
pub fn sequencer_input(
    version: FormatVersion,
    ledger: &LedgerId,
    seq: Seq,
    prev: &EntryHash,
    timestamp: Timestamp,
    contents: &[u8; 32],
) -> Vec<u8> {
    let mut w = Writer::new();
    w.raw(version.sequencer_context());
    ledger.encode(&mut w);
    seq.encode(&mut w);
    prev.encode(&mut w);
    timestamp.encode(&mut w);
    w.raw(contents);
    w.into_bytes()
}

impl Entry {
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }
    pub fn payload(&self) -> &Payload {
        &self.body.payload
    }
    /// SHA-256 over the hash domain and the whole canonical encoding, signatures included.
    pub fn hash(&self) -> EntryHash {
        hash_encoded(&self.to_canonical_bytes())
    }
    /// The signer's signing input for signature `sig`.
    pub fn signing_input(&self, sig: &Signature) -> Vec<u8> {
        signing_input(&self.ledger, self.version, sig, &self.body)
    }
    /// SHA-256 of the body, the signature count and the signatures, as encoded.
    pub fn contents_digest(&self) -> [u8; 32] {
        let mut w = Writer::for_version(self.version.byte());
        self.encode_contents(&mut w);
        Sha256::digest(w.into_bytes()).into()
    }
    /// What the sequencer signs (version 3).
    pub fn sequencer_input(&self) -> Vec<u8> {
        sequencer_input(
            self.version,
            &self.ledger,
            self.seq,
            &self.prev,
            self.timestamp,
            &self.contents_digest(),
        )
    }
    /// The entry with its sequencer signature by `key`, the registrant key in force before
    /// it (a version 1 or 2 entry has none and is returned as it is).
    pub fn sealed(mut self, key: &SigningKey) -> Self {
        if self.version.is_sequenced() {
            self.sequencer = Some(key.sign(&self.sequencer_input()).to_bytes());
        }
        self
    }
    /// When each signature was signed as people are shown it: its own signing time in
    /// version 3, the entry's timestamp in versions 1 and 2 (which kept none).
    pub fn signed_at(&self, sig: &Signature) -> Timestamp {
        sig.signed_at.unwrap_or(self.timestamp)
    }
    /// The author, if the entry has one (the first `authored` signature).
    pub fn author(&self) -> Option<&Principal> {
        self.signatures
            .iter()
            .find(|s| s.meaning == Meaning::Authored)
            .map(|s| &s.signer)
    }
    fn encode_contents(&self, w: &mut Writer) {
        self.body.encode(w);
        let n = u8::try_from(self.signatures.len()).expect("signature count is checked by rules");
        w.u8(n);
        for s in &self.signatures {
            s.encode_in(self.version, w);
        }
    }
}

/// The entry hash of an already-encoded entry: its domain is named by the version byte.
pub fn hash_encoded(bytes: &[u8]) -> EntryHash {
    let mut h = Sha256::new();
    let version = bytes
        .first()
        .and_then(|b| FormatVersion::from_byte(*b))
        .unwrap_or(FormatVersion::V1);
    h.update(version.hash_domain());
    h.update(bytes);
    EntryHash::from_bytes(h.finalize().into())
}

/// The largest number of signatures an entry may carry.
pub const MAX_SIGNATURES: u8 = 8;

impl Canonical for Entry {
    fn encode(&self, w: &mut Writer) {
        let outer = w.version();
        w.set_version(self.version.byte());
        w.u8(self.version.byte());
        self.ledger.encode(w);
        self.seq.encode(w);
        self.prev.encode(w);
        self.timestamp.encode(w);
        self.encode_contents(w);
        if self.version.is_sequenced() {
            // An unsealed entry (a dry run's) is written with a zero signature, which no key
            // verifies.
            w.raw(&self.sequencer.unwrap_or([0; 64]));
        }
        w.set_version(outer);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let byte = r.u8("format version")?;
        let bad_version = || DecodeError::BadTag {
            what: "format version",
            tag: u16::from(byte),
        };
        let version = FormatVersion::from_byte(byte).ok_or_else(bad_version)?;
        // The payload fields a version added are read only in entries of that version.
        let outer = r.version();
        r.set_version(byte);
        let ledger = LedgerId::decode(r)?;
        let seq = Seq::decode(r)?;
        let prev = EntryHash::decode(r)?;
        let timestamp = Timestamp::decode(r)?;
        let body = Body::decode(r)?;
        // Versions 1 and 2 each hold the kinds they were released with: a version 1 entry
        // cannot be a report_issued, and a version 2 byte cannot dress up a version 1 kind.
        // Version 3 holds kinds 1–19, version 4 every kind.
        if !version.admits(body.kind()) {
            return Err(bad_version());
        }
        let n = r.u8("signature count")?;
        if n > MAX_SIGNATURES {
            return Err(DecodeError::TooLong(u64::from(n)));
        }
        let mut signatures = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            signatures.push(Signature::decode_in(version, r)?);
        }
        let sequencer = if version.is_sequenced() {
            Some(r.array("sequencer signature")?)
        } else {
            None
        };
        r.set_version(outer);
        Ok(Self {
            version,
            ledger,
            seq,
            prev,
            timestamp,
            body,
            signatures,
            sequencer,
        })
    }
}
