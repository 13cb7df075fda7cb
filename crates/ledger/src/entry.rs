//! Entries: the signed body, the chained envelope, the hash and the signature inputs.

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{Canonical, DecodeError, Reader, Writer};
use crate::payload::{Kind, Payload, Principal};
use crate::types::enums::Meaning;
use crate::types::ids::{EntryHash, EntryId, KeyId, LedgerId, PublicKey, Seq};
use crate::types::time::Timestamp;

/// Version byte that starts every entry encoding. A change to the encoding is a new version.
pub const FORMAT_VERSION: u8 = 1;
/// Format version 2 adds one kind, `report_issued`; an entry of that kind is a version 2
/// entry (version byte 2, `custody/v2/…` domains). Every other entry stays version 1, byte
/// for byte.
pub const FORMAT_VERSION_2: u8 = 2;
/// Domain separator of the entry hash.
pub const HASH_DOMAIN: &[u8] = b"custody/v1/entry\0";
/// Domain separator of every signature input.
pub const SIGNATURE_CONTEXT: &[u8] = b"custody/v1/signature\0";
/// Domain separators of version 2 entries.
pub const HASH_DOMAIN_V2: &[u8] = b"custody/v2/entry\0";
pub const SIGNATURE_CONTEXT_V2: &[u8] = b"custody/v2/signature\0";

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

impl Canonical for Signature {
    fn encode(&self, w: &mut Writer) {
        self.signer.encode(w);
        self.meaning.encode(w);
        self.key_id.encode(w);
        w.raw(&self.signature);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            signer: Principal::decode(r)?,
            meaning: Meaning::decode(r)?,
            key_id: KeyId::decode(r)?,
            signature: r.array("signature")?,
        })
    }
}

/// The bytes a signer signs: the context, the ledger, the kind, who signs with what meaning
/// and key, then the body. Binding all of these means a signature cannot be replayed in
/// another ledger, as another kind, as another signer or with another meaning.
pub fn signing_input(
    ledger: &LedgerId,
    signer: &Principal,
    meaning: Meaning,
    key_id: &KeyId,
    body: &Body,
) -> Vec<u8> {
    let mut w = Writer::new();
    w.raw(if body.kind().format_version() == FORMAT_VERSION_2 {
        SIGNATURE_CONTEXT_V2
    } else {
        SIGNATURE_CONTEXT
    });
    ledger.encode(&mut w);
    w.u16(body.kind().code());
    signer.encode(&mut w);
    meaning.encode(&mut w);
    key_id.encode(&mut w);
    body.encode(&mut w);
    w.into_bytes()
}

impl Signature {
    /// Signs `body` as `signer` with `meaning`.
    pub fn sign(
        ledger: &LedgerId,
        body: &Body,
        signer: Principal,
        meaning: Meaning,
        key: &SigningKey,
    ) -> Self {
        let key_id = PublicKey::from(key).key_id();
        let msg = signing_input(ledger, &signer, meaning, &key_id, body);
        Self {
            signer,
            meaning,
            key_id,
            signature: key.sign(&msg).to_bytes(),
        }
    }
}

/// A body with its signatures, not yet chained: what a client hands the store to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub ledger: LedgerId,
    pub body: Body,
    pub signatures: Vec<Signature>,
}

impl Draft {
    pub fn new(ledger: LedgerId, entry_id: EntryId, payload: impl Into<Payload>) -> Self {
        Self {
            ledger,
            body: Body {
                entry_id,
                payload: payload.into(),
            },
            signatures: Vec::new(),
        }
    }
    /// Adds a signature by `signer` with `meaning`.
    pub fn signed(mut self, signer: Principal, meaning: Meaning, key: &SigningKey) -> Self {
        let s = Signature::sign(&self.ledger, &self.body, signer, meaning, key);
        self.signatures.push(s);
        self
    }
    /// Names a signer who will sign, with the key they hold, without a signature: the draft
    /// of a dry run, which `State::apply` checks in full (who signs, in what role, with which
    /// key, and every rule of the payload) while nothing can verify it or append it.
    pub fn to_be_signed_by(mut self, signer: Principal, meaning: Meaning, key_id: KeyId) -> Self {
        self.signatures.push(Signature {
            signer,
            meaning,
            key_id,
            signature: [0; 64],
        });
        self
    }
    /// Places the draft in the chain.
    pub fn chain(self, seq: Seq, prev: EntryHash, timestamp: Timestamp) -> Entry {
        Entry {
            ledger: self.ledger,
            seq,
            prev,
            timestamp,
            body: self.body,
            signatures: self.signatures,
        }
    }
}

/// A chained entry: everything here is covered by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub ledger: LedgerId,
    pub seq: Seq,
    pub prev: EntryHash,
    pub timestamp: Timestamp,
    pub body: Body,
    pub signatures: Vec<Signature>,
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
    /// The signer's signing input for signature `i`.
    pub fn signing_input(&self, sig: &Signature) -> Vec<u8> {
        signing_input(
            &self.ledger,
            &sig.signer,
            sig.meaning,
            &sig.key_id,
            &self.body,
        )
    }
    /// The author, if the entry has one (the first `authored` signature).
    pub fn author(&self) -> Option<&Principal> {
        self.signatures
            .iter()
            .find(|s| s.meaning == Meaning::Authored)
            .map(|s| &s.signer)
    }
}

/// The entry hash of an already-encoded entry.
pub fn hash_encoded(bytes: &[u8]) -> EntryHash {
    let mut h = Sha256::new();
    // The first byte is the format version.
    h.update(if bytes.first() == Some(&FORMAT_VERSION_2) {
        HASH_DOMAIN_V2
    } else {
        HASH_DOMAIN
    });
    h.update(bytes);
    EntryHash::from_bytes(h.finalize().into())
}

/// The largest number of signatures an entry may carry.
pub const MAX_SIGNATURES: u8 = 8;

impl Canonical for Entry {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.kind().format_version());
        self.ledger.encode(w);
        self.seq.encode(w);
        self.prev.encode(w);
        self.timestamp.encode(w);
        self.body.encode(w);
        let n = u8::try_from(self.signatures.len()).expect("signature count is checked by rules");
        w.u8(n);
        for s in &self.signatures {
            s.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("format version")?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_2 {
            return Err(DecodeError::BadTag {
                what: "format version",
                tag: u16::from(version),
            });
        }
        let ledger = LedgerId::decode(r)?;
        let seq = Seq::decode(r)?;
        let prev = EntryHash::decode(r)?;
        let timestamp = Timestamp::decode(r)?;
        let body = Body::decode(r)?;
        // Each kind belongs to one version: a version 1 entry cannot be a report_issued,
        // and a version 2 byte cannot dress up a version 1 kind.
        if body.kind().format_version() != version {
            return Err(DecodeError::BadTag {
                what: "format version",
                tag: u16::from(version),
            });
        }
        let n = r.u8("signature count")?;
        if n > MAX_SIGNATURES {
            return Err(DecodeError::TooLong(u64::from(n)));
        }
        let mut signatures = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            signatures.push(Signature::decode(r)?);
        }
        Ok(Self {
            ledger,
            seq,
            prev,
            timestamp,
            body,
            signatures,
        })
    }
}
