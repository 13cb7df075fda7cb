//! The manifest a report carries inside its PDF (an embedded file, `manifest.json`), signed
//! by the registrant key, and the detached signature over the PDF's exact bytes.
//!
//! The embedded file is `{"manifest": "<the manifest's JSON, as a string>", "signature":
//! "<base64>"}`: the signature covers `custody/v1/report-manifest\0` followed by exactly
//! those manifest bytes, so no re-serialization can change what was signed.
//!
//! The detached `FILE.pdf.sig` is the raw 64-byte Ed25519 signature over the PDF's bytes,
//! with no prefix, so standard tools can check it too
//! (`openssl pkeyutl -verify -pubin -inkey registrant.pem -rawin -in FILE.pdf -sigfile FILE.pdf.sig`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use custody_ledger::{LedgerId, PublicKey, Timestamp};
use ed25519_dalek::{Signer, SigningKey};
use lopdf::{Dictionary, Object, Stream};
use serde::{Deserialize, Serialize};

use crate::ReportError;
use crate::request::Request;

pub const FORMAT: &str = "custody-report-manifest";
/// The version written: 2 carries the cosigned checkpoints (`cosigned`); 3 names the
/// certificate of the embedded PDF signature (`report_certificate`).
pub const VERSION: u32 = 3;
/// The versions read.
pub const VERSIONS: [u32; 3] = [1, 2, 3];
const CONTEXT: &[u8] = b"custody/v1/report-manifest\0";
const FILE_NAME: &str = "manifest.json";

/// What a report says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub ledger: LedgerId,
    pub registrant: String,
    pub dea: String,
    pub request: Request,
    pub generated_at: Timestamp,
    /// Who asked for it (user id and printed name, or "custody report" from the CLI).
    pub requested_by: String,
    /// The checkpoint the report was built at: the registrant's signed note.
    pub checkpoint: String,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
    /// The key that signs the manifest, the checkpoint and the PDF.
    pub registrant_key: PublicKey,
    /// How many entries the report lists, and SHA-256 digests (hex) of the listed entries'
    /// seq and hash, of the totals it states, and of both together.
    pub entries: u64,
    pub entries_digest: String,
    pub totals_digest: String,
    pub data_digest: String,
    /// Version 2: the checkpoints witnesses had cosigned when the report was issued, newest
    /// first (each witness's newest, of at most `checkpoint_size` entries, signed by
    /// `registrant_key`), each with a consistency proof to the report's checkpoint. Empty when
    /// none had: no witnesses were configured, or none had answered. Absent in version 1.
    #[serde(default)]
    pub cosigned: Vec<CosignedCheckpoint>,
    /// Version 3: the SHA-256 (hex) of the certificate of the report-signing key whose
    /// signature the PDF embeds (see [`crate::pades`]): the registrant key certifies that
    /// certificate by signing this manifest. Absent in versions 1 and 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_certificate: Option<String>,
}

/// A cosigned checkpoint a report carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedCheckpoint {
    /// The registrant's signed note with the witnesses' cosignature lines (C2SP signed note).
    pub note: String,
    /// The consistency proof (RFC 9162 §2.1.4, hashes in hex) from it to the report's
    /// checkpoint: empty when both are of the same size.
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Embedded {
    manifest: String,
    signature: String,
}

fn manifest_message(manifest_json: &str) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    m.extend_from_slice(manifest_json.as_bytes());
    m
}

/// The signed manifest, as embedded.
pub fn seal(manifest: &Manifest, key: &SigningKey) -> Result<String, ReportError> {
    let json = serde_json::to_string(manifest).map_err(|e| ReportError::Pdf(e.to_string()))?;
    let signature = key.sign(&manifest_message(&json));
    serde_json::to_string(&Embedded {
        manifest: json,
        signature: B64.encode(signature.to_bytes()),
    })
    .map_err(|e| ReportError::Pdf(e.to_string()))
}

/// Adds the signed manifest to the document as an embedded file (and its digest to the
/// document information), and fixes the file identifier; to be called once the pages are
/// written, before [`crate::writer::Writer::finish`].
pub fn embed<W: std::io::Write>(
    w: &mut crate::writer::Writer<W>,
    sealed: &str,
    data_digest: &str,
) -> Result<(), ReportError> {
    let mut params = Dictionary::new();
    params.set("Size", Object::Integer(sealed.len() as i64));
    let mut ef_dict = Dictionary::new();
    ef_dict.set("Type", Object::Name(b"EmbeddedFile".to_vec()));
    ef_dict.set("Subtype", Object::Name(b"application/json".to_vec()));
    ef_dict.set("Params", Object::Dictionary(params));
    let mut file = Stream::new(ef_dict, sealed.as_bytes().to_vec());
    // A file that does not compress stays as it is.
    let _ = file.compress();
    let ef_id = w.add(Object::Stream(file))?;
    let mut ef = Dictionary::new();
    ef.set("F", Object::Reference(ef_id));
    ef.set("UF", Object::Reference(ef_id));
    let mut spec = Dictionary::new();
    spec.set("Type", Object::Name(b"Filespec".to_vec()));
    spec.set("F", Object::string_literal(FILE_NAME));
    spec.set("UF", Object::string_literal(FILE_NAME));
    spec.set(
        "Desc",
        Object::string_literal("custody report manifest, signed by the registrant"),
    );
    spec.set("AFRelationship", Object::Name(b"Data".to_vec()));
    spec.set("EF", Object::Dictionary(ef));
    let spec_id = w.add(Object::Dictionary(spec))?;
    let mut tree = Dictionary::new();
    tree.set(
        "Names",
        Object::Array(vec![
            Object::string_literal(FILE_NAME),
            Object::Reference(spec_id),
        ]),
    );
    let mut names = Dictionary::new();
    names.set("EmbeddedFiles", Object::Dictionary(tree));
    let catalog = w.catalog_mut();
    catalog.set("Names", Object::Dictionary(names));
    catalog.set("AF", Object::Array(vec![Object::Reference(spec_id)]));
    let info = w.info_mut();
    info.set(
        "CustodyManifest",
        Object::string_literal("embedded file manifest.json"),
    );
    info.set("CustodyDataDigest", Object::string_literal(data_digest));
    // printpdf always writes these empty; they make readers think the file is PDF/X.
    info.remove(b"GTS_PDFXVersion");
    info.remove(b"Identifier");
    let id = Object::String(
        data_digest.as_bytes()[..32.min(data_digest.len())].to_vec(),
        lopdf::StringFormat::Hexadecimal,
    );
    w.set_id(Object::Array(vec![id.clone(), id]));
    Ok(())
}

/// The detached signature over a report file's bytes: plain Ed25519 (RFC 8032, as
/// `key.sign(bytes)` makes and `openssl pkeyutl -rawin` checks), its bytes fed a chunk at a
/// time rather than held. Ed25519 hashes the message twice (for the nonce, then for the
/// challenge), so the file is read twice.
pub fn sign_file(pdf: &crate::file::ReportFile, key: &SigningKey) -> Result<[u8; 64], ReportError> {
    use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign_byupdate};
    let expanded = ExpandedSecretKey::from(key.as_bytes());
    // The hash update cannot return our error: it is kept here and reported instead.
    let failed = std::cell::RefCell::new(None);
    let signed = raw_sign_byupdate::<sha2::Sha512, _>(
        &expanded,
        |h| {
            pdf.for_each_chunk(0, pdf.len(), |c| sha2::Digest::update(h, c))
                .map_err(|e| {
                    *failed.borrow_mut() = Some(e);
                    ed25519_dalek::SignatureError::new()
                })
        },
        &key.verifying_key(),
    );
    match (signed, failed.into_inner()) {
        (Ok(sig), None) => Ok(sig.to_bytes()),
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(ReportError::Pdf(format!("the detached signature: {e}"))),
    }
}

/// Reads the embedded manifest back: the manifest, its exact JSON and its signature.
pub fn extract(pdf: &[u8]) -> Result<(Manifest, String, [u8; 64]), ReportError> {
    let bad = |why: &str| ReportError::Manifest(why.to_string());
    let doc = lopdf::Document::load_mem(pdf)
        .map_err(|e| ReportError::Manifest(format!("not a readable PDF: {e}")))?;
    let catalog = doc.catalog().map_err(|_| bad("the PDF has no catalog"))?;
    let names = deref_dict(&doc, catalog.get(b"Names").ok())
        .ok_or_else(|| bad("the PDF holds no embedded manifest"))?;
    let tree = deref_dict(&doc, names.get(b"EmbeddedFiles").ok())
        .ok_or_else(|| bad("the PDF holds no embedded manifest"))?;
    let arr = tree
        .get(b"Names")
        .and_then(Object::as_array)
        .map_err(|_| bad("the PDF's embedded files cannot be read"))?;
    let mut spec = None;
    for pair in arr.chunks(2) {
        if let [name, s] = pair
            && name.as_str().is_ok_and(|n| n == FILE_NAME.as_bytes())
        {
            spec = deref_dict(&doc, Some(s));
        }
    }
    let spec = spec.ok_or_else(|| bad("the PDF holds no manifest.json"))?;
    let ef = deref_dict(&doc, spec.get(b"EF").ok()).ok_or_else(|| bad("malformed manifest"))?;
    let stream_ref = ef
        .get(b"F")
        .and_then(Object::as_reference)
        .map_err(|_| bad("malformed manifest"))?;
    let stream = doc
        .get_object(stream_ref)
        .and_then(Object::as_stream)
        .map_err(|_| bad("malformed manifest"))?;
    let bytes = stream
        .decompressed_content()
        .unwrap_or_else(|_| stream.content.clone());
    let embedded: Embedded = serde_json::from_slice(&bytes)
        .map_err(|e| ReportError::Manifest(format!("the manifest is not valid: {e}")))?;
    let manifest: Manifest = serde_json::from_str(&embedded.manifest)
        .map_err(|e| ReportError::Manifest(format!("the manifest is not valid: {e}")))?;
    let sig: [u8; 64] = B64
        .decode(&embedded.signature)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("the manifest's signature is malformed"))?;
    Ok((manifest, embedded.manifest, sig))
}

fn deref_dict<'a>(doc: &'a lopdf::Document, o: Option<&'a Object>) -> Option<&'a Dictionary> {
    match o? {
        Object::Dictionary(d) => Some(d),
        Object::Reference(r) => doc.get_object(*r).ok()?.as_dict().ok(),
        _ => None,
    }
}

/// Checks the manifest's signature with `key`.
pub fn check_manifest(json: &str, sig: &[u8; 64], key: &PublicKey) -> Result<(), ReportError> {
    key.verifying_key()
        .verify_strict(
        &manifest_message(json),
        &ed25519_dalek::Signature::from_bytes(sig),
    )
    .map_err(|_| {
        ReportError::Signature(
            "the manifest's signature does not match: the manifest was altered or signed by another key"
                .into(),
        )
    })
}

/// Checks the detached signature over the PDF's bytes with `key`.
pub fn check_pdf(pdf: &[u8], sig: &[u8], key: &PublicKey) -> Result<(), ReportError> {
    let sig: [u8; 64] = sig.try_into().map_err(|_| {
        ReportError::Signature(format!(
            "the signature file holds {} bytes, not the 64 of an Ed25519 signature",
            sig.len()
        ))
    })?;
    key.verifying_key()
        .verify_strict(pdf, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| {
            ReportError::Signature(
                "the PDF's signature does not match: the file was altered, or the signature is for another file or key"
                    .into(),
            )
        })
}

#[cfg(test)]
mod sign_file_tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_detached_signature_of_a_file_is_plain_ed25519_over_its_bytes() {
        let key = SigningKey::from_bytes(&[9; 32]);
        // Several read chunks and a part of one: each is fed to both hashes.
        let bytes: Vec<u8> = (0..3 * crate::file::CHUNK + 1234)
            .map(|i| (i % 253) as u8)
            .collect();
        let mut w = crate::file::create().unwrap();
        w.write_all(&bytes).unwrap();
        let file = crate::file::finish(w).unwrap();
        let sig = sign_file(&file, &key).unwrap();
        assert_eq!(sig, key.sign(&bytes).to_bytes());
        ed25519_dalek::Verifier::verify(
            &key.verifying_key(),
            &bytes,
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .unwrap();
    }
}
