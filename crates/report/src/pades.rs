//! The report's embedded PDF signature (ISO 32000 `/Sig`, PAdES B-B, `ETSI.CAdES.detached`):
//! the signature a reader's own PDF software shows, besides the signed manifest and the
//! detached `.sig` (which are Ed25519, the registrant key's own algorithm).
//!
//! PDF readers do not validate Ed25519 yet (poppler 22's `pdfsig` refuses it), so the
//! embedded signature is ECDSA P-256 by a *report-signing key* derived from the registrant
//! key (HKDF-SHA-256 over its secret, with a label of its own): no second secret exists at
//! rest, and whoever holds the registrant key holds this one. Its certificate is self-issued
//! and deterministic (the same for every report of a registrant key); the registrant key
//! certifies it by naming its SHA-256 fingerprint in the signed manifest
//! (`report_certificate`), and the report's verification page prints the fingerprint.
//!
//! The signature covers the whole file but its own `/Contents` (one `/ByteRange` of two
//! parts): the PDF is written with placeholders ([`write_field`]), then the digest of the exact
//! bytes is signed and written into the placeholder ([`fill`] in memory, [`fill_file`] in a
//! report's temporary file, read a chunk at a time).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier, SignerInfo,
    SignerInfos,
};
use der::asn1::{Any, GeneralizedTime, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use spki::{
    AlgorithmIdentifierOwned, DecodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoOwned,
};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::ReportError;

/// The HKDF label of the report-signing key.
const KEY_LABEL: &[u8] = b"custody/v1/report-signing-key/p256";
/// Bytes reserved for the CMS signature (written as twice as many hex digits).
const CONTENTS_BYTES: usize = 4096;
/// The `/ByteRange` placeholder: wide enough for any offset, rewritten in place.
const RANGE_PLACEHOLDER: [i64; 4] = [0, 1_111_111_111, 2_222_222_222, 3_333_333_333];

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-aa-signingCertificateV2 (RFC 5035), which PAdES B-B requires.
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// ESSCertIDv2 with the default hash (SHA-256) left out, as DER wants a default omitted.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

/// SigningCertificateV2 without policies.
#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The report-signing key and its certificate.
pub struct ReportSigner {
    key: SigningKey,
    certificate: Certificate,
    certificate_der: Vec<u8>,
}

fn pdf_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Pdf(format!("the embedded signature: {e}"))
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_SHA256,
        parameters: None,
    }
}

/// RFC 4514 escaping of an attribute value, so a registrant's name parses as one value.
fn escape(value: &str) -> String {
    let mut out = String::new();
    let last = value.chars().count().saturating_sub(1);
    for (i, ch) in value.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(ch, '#' | ' '))
            || (i == last && ch == ' ');
        if special {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn name(registrant: &str, dea: &str) -> Result<Name, ReportError> {
    // X.520 bounds a common name at 64 characters: a longer name is shortened for the
    // certificate only; the report prints it whole.
    let cn: String = format!("{registrant} (DEA {dea}) report signing")
        .chars()
        .take(64)
        .collect();
    let o: String = registrant.chars().take(64).collect();
    format!("CN={},O={}", escape(&cn), escape(&o))
        .parse()
        .map_err(pdf_err)
}

/// The certificate's profile: self-issued, for signing documents only.
struct SelfIssued(Name);

impl BuilderProfile for SelfIssued {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }
    fn get_subject(&self) -> Name {
        self.0.clone()
    }
    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let ext = |oid, critical, der: Vec<u8>| -> x509_cert::builder::Result<Extension> {
            Ok(Extension {
                extn_id: oid,
                critical,
                extn_value: OctetString::new(der)?,
            })
        };
        use der::oid::AssociatedOid;
        Ok(vec![
            ext(
                BasicConstraints::OID,
                true,
                BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                }
                .to_der()?,
            )?,
            ext(
                KeyUsage::OID,
                true,
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation).to_der()?,
            )?,
        ])
    }
}

impl ReportSigner {
    /// The report-signing key of a registrant key, and its certificate naming the registrant.
    pub fn derive(
        registrant_key: &ed25519_dalek::SigningKey,
        registrant: &str,
        dea: &str,
    ) -> Result<ReportSigner, ReportError> {
        let hk = hkdf::Hkdf::<Sha256>::new(None, registrant_key.as_bytes());
        let mut key = None;
        // A 32-byte string is a valid P-256 scalar but for a chance of about 2^-32.
        for counter in 0u8..=255 {
            let mut okm = [0u8; 32];
            hk.expand_multi_info(&[KEY_LABEL, &[counter]], &mut okm)
                .map_err(pdf_err)?;
            if let Ok(k) = SigningKey::from_slice(&okm) {
                key = Some(k);
                break;
            }
        }
        let key = key.ok_or_else(|| pdf_err("no report-signing key"))?;
        let public = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(pdf_err)?;
        let public_der = public.to_der().map_err(pdf_err)?;
        // The serial: positive, from the public key, so the certificate is the same every time.
        let mut serial = vec![0x01];
        serial.extend_from_slice(&Sha256::digest(&public_der)[..15]);
        let validity = Validity::new(
            Time::GeneralTime(GeneralizedTime::from_date_time(
                der::DateTime::new(2020, 1, 1, 0, 0, 0).map_err(pdf_err)?,
            )),
            // RFC 5280 §4.1.2.5: no well-defined expiration; the ledger retires keys.
            Time::GeneralTime(GeneralizedTime::from_date_time(
                der::DateTime::new(9999, 12, 31, 23, 59, 59).map_err(pdf_err)?,
            )),
        );
        let builder = CertificateBuilder::new(
            SelfIssued(name(registrant, dea)?),
            SerialNumber::new(&serial).map_err(pdf_err)?,
            validity,
            public,
        )
        .map_err(pdf_err)?;
        let certificate = builder.build::<_, DerSignature>(&key).map_err(pdf_err)?;
        let certificate_der = certificate.to_der().map_err(pdf_err)?;
        Ok(ReportSigner {
            key,
            certificate,
            certificate_der,
        })
    }

    /// The certificate's SHA-256 fingerprint, lowercase hex (what the manifest names).
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.certificate_der))
    }

    /// The CMS SignedData (DER) over a message digest: content type, message digest and
    /// signing certificate as signed attributes (no signing time: PAdES puts it in `/M`).
    fn cms(&self, digest: &[u8]) -> Result<Vec<u8>, ReportError> {
        let attr = |oid, value: Any| -> Result<Attribute, ReportError> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(pdf_err)?,
            })
        };
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(Sha256::digest(&self.certificate_der).to_vec())
                    .map_err(pdf_err)?,
            }],
        };
        let signed: SignedAttributes = SetOfVec::try_from(vec![
            attr(
                OID_CONTENT_TYPE,
                Any::encode_from(&OID_DATA).map_err(pdf_err)?,
            )?,
            attr(
                OID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest.to_vec()).map_err(pdf_err)?)
                    .map_err(pdf_err)?,
            )?,
            attr(
                OID_SIGNING_CERTIFICATE_V2,
                Any::encode_from(&ess).map_err(pdf_err)?,
            )?,
        ])
        .map_err(pdf_err)?;
        // RFC 5652 §5.4: the signature is over the attributes' DER as a SET OF.
        let sig: DerSignature = self.key.sign(&signed.to_der().map_err(pdf_err)?);
        let tbs = &self.certificate.tbs_certificate();
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: sha256_alg(),
            signed_attrs: Some(signed),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            signature: OctetString::new(sig.as_bytes().to_vec()).map_err(pdf_err)?,
            unsigned_attrs: None,
        };
        let data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(pdf_err)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: OID_DATA,
                econtent: None,
            },
            certificates: Some(
                vec![CertificateChoices::Certificate(self.certificate.clone())]
                    .try_into()
                    .map_err(pdf_err)?,
            ),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer]).map_err(pdf_err)?,
        };
        ContentInfo {
            content_type: OID_SIGNED_DATA,
            content: Any::encode_from(&data).map_err(pdf_err)?,
        }
        .to_der()
        .map_err(pdf_err)
    }
}

/// A PDF date, `D:YYYYMMDDHHmmSS+00'00'`, of a UTC time.
fn pdf_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}+00'00'",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The signature dictionary, with the placeholders [`fill`] replaces once the file is
/// written.
pub fn signature(signer_name: &str, reason: &str, at: time::OffsetDateTime) -> Dictionary {
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set(
        "ByteRange",
        Object::Array(
            RANGE_PLACEHOLDER
                .iter()
                .map(|&n| Object::Integer(n))
                .collect(),
        ),
    );
    sig.set(
        "Contents",
        Object::String(vec![0; CONTENTS_BYTES], StringFormat::Hexadecimal),
    );
    sig.set("M", Object::string_literal(pdf_date(at)));
    sig.set("Name", Object::string_literal(signer_name));
    sig.set("Reason", Object::string_literal(reason));
    sig
}

/// The signature field: an invisible widget on page `first` whose value is signature `sig`.
pub fn field(sig: ObjectId, first: ObjectId) -> Dictionary {
    let mut field = Dictionary::new();
    field.set("Type", Object::Name(b"Annot".to_vec()));
    field.set("Subtype", Object::Name(b"Widget".to_vec()));
    field.set("FT", Object::Name(b"Sig".to_vec()));
    field.set("T", Object::string_literal("custody report signature"));
    field.set("V", Object::Reference(sig));
    field.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    // Print and Locked: the field is part of the page and cannot be changed.
    field.set("F", Object::Integer(132));
    field.set("P", Object::Reference(first));
    field
}

/// The form that holds signature field `field`.
pub fn form(field: ObjectId) -> Dictionary {
    let mut form = Dictionary::new();
    form.set("Fields", Object::Array(vec![Object::Reference(field)]));
    // SignaturesExist and AppendOnly.
    form.set("SigFlags", Object::Integer(3));
    form
}

/// Writes the signature field `field_id` (an invisible widget on page 1: reserved, and put
/// on the first page's `/Annots` before the first part), its signature dictionary with
/// placeholders, and the form that holds it. The bytes are signed by [`fill`] (or
/// [`fill_file`]) once written. Returns where the signature dictionary's object lies in the
/// output, so the placeholders are found there without reading the rest of the file.
pub fn write_field<W: std::io::Write>(
    w: &mut crate::writer::Writer<W>,
    field_id: ObjectId,
    signer_name: &str,
    reason: &str,
    at: time::OffsetDateTime,
) -> Result<std::ops::Range<u64>, ReportError> {
    let first = w
        .first_page()
        .ok_or_else(|| pdf_err("the report has no pages"))?;
    let start = w.position();
    let sig_id = w.add(Object::Dictionary(signature(signer_name, reason, at)))?;
    let end = w.position();
    w.put(field_id, Object::Dictionary(field(sig_id, first)))?;
    w.catalog_mut()
        .set("AcroForm", Object::Dictionary(form(field_id)));
    Ok(start..end)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Where a written file's placeholders lie, and the `/ByteRange` that replaces its own.
struct Placeholders {
    /// Offset of the `/ByteRange` placeholder, and what is written over it (as wide).
    range_at: u64,
    range: Vec<u8>,
    /// The `/Contents` hex string, `<` to `>` included: the bytes the signature leaves out.
    contents_at: u64,
    after: u64,
}

/// Finds the placeholders in `region`, bytes of a file of `len` bytes starting at offset
/// `base` (the whole file, or just the signature dictionary's object).
fn locate(region: &[u8], base: u64, len: u64) -> Result<Placeholders, ReportError> {
    let placeholder = format!(
        "[{} {} {} {}]",
        RANGE_PLACEHOLDER[0], RANGE_PLACEHOLDER[1], RANGE_PLACEHOLDER[2], RANGE_PLACEHOLDER[3]
    );
    let range_in = find(region, placeholder.as_bytes(), 0)
        .ok_or_else(|| pdf_err("no /ByteRange placeholder"))?;
    let mut zeros = vec![b'<'];
    zeros.extend(std::iter::repeat_n(b'0', CONTENTS_BYTES * 2));
    zeros.push(b'>');
    let contents_in =
        find(region, &zeros, range_in).ok_or_else(|| pdf_err("no /Contents placeholder"))?;
    let contents_at = base + contents_in as u64;
    let after = contents_at + zeros.len() as u64;
    let range = format!("[0 {contents_at} {after} {}]", len - after);
    if range.len() > placeholder.len() {
        return Err(pdf_err("the file is too large for its /ByteRange"));
    }
    Ok(Placeholders {
        range_at: base + range_in as u64,
        range: format!("{range:<width$}", width = placeholder.len()).into_bytes(),
        contents_at,
        after,
    })
}

/// The `/Contents` hex digits of the CMS signature over `digest` (written after its `<`;
/// the placeholder's zeros past them stay).
fn contents(signer: &ReportSigner, digest: &[u8]) -> Result<Vec<u8>, ReportError> {
    let cms = signer.cms(digest)?;
    if cms.len() > CONTENTS_BYTES {
        return Err(pdf_err("the signature does not fit its placeholder"));
    }
    Ok(hex::encode_upper(&cms).into_bytes())
}

/// Signs the written PDF in place: fixes `/ByteRange` to the file's two parts around
/// `/Contents`, and writes the CMS signature over them into `/Contents`.
pub fn fill(pdf: &mut [u8], signer: &ReportSigner) -> Result<(), ReportError> {
    let p = locate(pdf, 0, pdf.len() as u64)?;
    let at = |n: u64| usize::try_from(n).map_err(pdf_err);
    let (range_at, contents_at, after) = (at(p.range_at)?, at(p.contents_at)?, at(p.after)?);
    pdf[range_at..range_at + p.range.len()].copy_from_slice(&p.range);
    let mut h = Sha256::new();
    h.update(&pdf[..contents_at]);
    h.update(&pdf[after..]);
    let hex = contents(signer, &h.finalize())?;
    pdf[contents_at + 1..contents_at + 1 + hex.len()].copy_from_slice(&hex);
    Ok(())
}

/// Signs a written report file in place, as [`fill`] does a PDF in memory: the placeholders
/// are looked for in `sig` (the signature dictionary's bytes, as [`write_field`] returns
/// them), the two signed parts are digested a chunk at a time, and `/ByteRange` and
/// `/Contents` are written over their placeholders.
pub fn fill_file(
    file: &mut crate::file::ReportFile,
    sig: std::ops::Range<u64>,
    signer: &ReportSigner,
) -> Result<(), ReportError> {
    let region = file.read_range(sig.start, sig.end)?;
    let p = locate(&region, sig.start, file.len())?;
    // The /ByteRange is inside the signed bytes: written before they are digested.
    file.write_at(p.range_at, &p.range)?;
    let mut h = Sha256::new();
    file.for_each_chunk(0, p.contents_at, |c| h.update(c))?;
    file.for_each_chunk(p.after, file.len(), |c| h.update(c))?;
    let hex = contents(signer, &h.finalize())?;
    file.write_at(p.contents_at + 1, &hex)
}

/// What the embedded signature of a report says, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// SHA-256 of the signing certificate, hex.
    pub certificate_sha256: String,
}

/// Checks a report's embedded signature: one signature dictionary whose `/ByteRange` covers
/// the whole file but its `/Contents`, a CMS SignedData whose message digest is the digest
/// of those bytes and whose signature over its signed attributes verifies with its
/// certificate's key.
pub fn check(pdf: &[u8]) -> Result<Embedded, ReportError> {
    let bad = |why: &str| ReportError::Signature(format!("the embedded PDF signature: {why}"));
    let doc = lopdf::Document::load_mem(pdf).map_err(|e| bad(&e.to_string()))?;
    let mut sigs = doc.objects.values().filter_map(|o| match o {
        Object::Dictionary(d)
            if d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Sig".as_slice()) =>
        {
            Some(d)
        }
        _ => None,
    });
    let sig = sigs.next().ok_or_else(|| bad("the file has none"))?;
    if sigs.next().is_some() {
        return Err(bad("the file has more than one"));
    }
    let range: Vec<usize> = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .map_err(|_| bad("no /ByteRange"))?
        .iter()
        .map(|o| o.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("a /ByteRange that is not four offsets"))?;
    let [0, a, b, c] = range[..] else {
        return Err(bad("a /ByteRange that does not start the file"));
    };
    if a >= b || b.checked_add(c) != Some(pdf.len()) {
        return Err(bad("its /ByteRange does not cover the whole file"));
    }
    // What lies between the two parts is exactly the /Contents hex string.
    let gap = &pdf[a..b];
    if gap.first() != Some(&b'<')
        || gap.last() != Some(&b'>')
        || !gap[1..gap.len() - 1].iter().all(u8::is_ascii_hexdigit)
    {
        return Err(bad("the bytes it leaves out are not its /Contents"));
    }
    let contents = match sig.get(b"Contents") {
        Ok(Object::String(s, _)) => s.as_slice(),
        _ => return Err(bad("no /Contents")),
    };
    let (info, rest) = ContentInfo::from_der_partial(contents).map_err(|e| bad(&e.to_string()))?;
    // The placeholder's unused end stays zero: nothing can hide there.
    if rest.iter().any(|&b| b != 0) {
        return Err(bad("its /Contents carries bytes after the signature"));
    }
    if info.content_type != OID_SIGNED_DATA {
        return Err(bad("its /Contents is not a CMS SignedData"));
    }
    let data = info
        .content
        .decode_as::<SignedData>()
        .map_err(|e: der::Error| bad(&e.to_string()))?;
    let cert = match data.certificates.as_ref().and_then(|c| c.0.iter().next()) {
        Some(CertificateChoices::Certificate(c)) => c.clone(),
        _ => return Err(bad("it carries no certificate")),
    };
    let signer = data
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| bad("it has no signer"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("it has no signed attributes"))?;
    let digest = attrs
        .iter()
        .find(|a| a.oid == OID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| bad("it states no message digest"))?;
    let mut h = Sha256::new();
    h.update(&pdf[..a]);
    h.update(&pdf[b..]);
    if digest.as_bytes() != h.finalize().as_slice() {
        return Err(bad("the file's bytes differ from the bytes signed"));
    }
    let spki_der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| bad(&e.to_string()))?;
    let key = VerifyingKey::from_public_key_der(&spki_der)
        .map_err(|_| bad("its certificate's key is not P-256"))?;
    let signature = DerSignature::try_from(signer.signature.as_bytes())
        .map_err(|_| bad("its signature is not an ECDSA signature"))?;
    key.verify(
        &attrs.to_der().map_err(|e| bad(&e.to_string()))?,
        &signature,
    )
    .map_err(|_| bad("its signature does not verify"))?;
    Ok(Embedded {
        certificate_sha256: hex::encode(Sha256::digest(
            cert.to_der().map_err(|e| bad(&e.to_string()))?,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ReportSigner {
        let k = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        ReportSigner::derive(&k, "Lakeside Ketamine Clinic, LLC", "AB1234563").unwrap()
    }

    #[test]
    fn the_report_key_and_certificate_are_the_same_every_time() {
        assert_eq!(signer().fingerprint(), signer().fingerprint());
        assert_eq!(signer().certificate_der, signer().certificate_der);
        let other = ReportSigner::derive(
            &ed25519_dalek::SigningKey::from_bytes(&[8; 32]),
            "Lakeside Ketamine Clinic, LLC",
            "AB1234563",
        )
        .unwrap();
        assert_ne!(other.fingerprint(), signer().fingerprint());
    }

    /// A one-page PDF written with its signature field and placeholders (its page holding
    /// `content` bytes, if any), unsigned; and where its signature dictionary lies.
    fn unsigned<W: std::io::Write>(out: W, content: usize) -> (W, std::ops::Range<u64>) {
        let mut lo = lopdf::Document::with_version("1.7");
        let pages = lo.new_object_id();
        let mut page = Dictionary::new();
        page.set("Type", Object::Name(b"Page".to_vec()));
        page.set("Parent", Object::Reference(pages));
        page.set(
            "MediaBox",
            Object::Array(vec![0.into(), 0.into(), 612.into(), 792.into()]),
        );
        if content > 0 {
            let content = lopdf::Stream::new(Dictionary::new(), vec![b' '; content]);
            page.set("Contents", Object::Reference(lo.add_object(content)));
        }
        let page = lo.add_object(page);
        let mut tree = Dictionary::new();
        tree.set("Type", Object::Name(b"Pages".to_vec()));
        tree.set("Kids", Object::Array(vec![Object::Reference(page)]));
        tree.set("Count", Object::Integer(1));
        lo.objects.insert(pages, Object::Dictionary(tree));
        let mut catalog = Dictionary::new();
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", Object::Reference(pages));
        let catalog = lo.add_object(catalog);
        lo.trailer.set("Root", Object::Reference(catalog));
        let mut w = crate::writer::Writer::new(out).unwrap();
        let field = w.reserve();
        w.annotate_first_page(field);
        w.part(lo).unwrap();
        let sig = write_field(
            &mut w,
            field,
            "Lakeside",
            "custody report",
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        (w.finish().unwrap(), sig)
    }

    fn signed_pdf() -> Vec<u8> {
        let (mut pdf, _) = unsigned(Vec::new(), 0);
        fill(&mut pdf, &signer()).unwrap();
        pdf
    }

    /// The unsigned PDF written to a report file, a page's worth of content over several
    /// read chunks so the digest spans them, and where its signature dictionary lies.
    fn unsigned_file() -> (crate::file::ReportFile, std::ops::Range<u64>) {
        let (out, sig) = unsigned(crate::file::create().unwrap(), 3 * crate::file::CHUNK);
        (crate::file::finish(out).unwrap(), sig)
    }

    #[test]
    fn a_file_signed_in_place_is_the_file_signed_in_memory() {
        let (mut file, sig) = unsigned_file();
        let mut in_memory = file.bytes().unwrap();
        fill(&mut in_memory, &signer()).unwrap();
        fill_file(&mut file, sig.clone(), &signer()).unwrap();
        let signed = file.bytes().unwrap();
        assert_eq!(signed.len() as u64, file.len());
        assert_eq!(
            check(&signed).unwrap().certificate_sha256,
            signer().fingerprint()
        );
        // ECDSA here is deterministic (RFC 6979): the same bytes signed give the same file.
        assert!(
            signed == in_memory,
            "signed in place differs from in memory"
        );
        // The placeholders are looked for in the signature dictionary only.
        let (mut other, sig) = unsigned_file();
        assert!(fill_file(&mut other, sig.start..sig.start + 100, &signer()).is_err());
    }

    #[test]
    fn a_signed_file_checks_and_any_changed_byte_does_not() {
        let pdf = signed_pdf();
        assert_eq!(
            check(&pdf).unwrap().certificate_sha256,
            signer().fingerprint()
        );
        // A byte of the page, of the signature itself, of its unused end, and of the end of
        // the file.
        let sig_at = find(&pdf, b"<3082", 0).unwrap();
        for at in [20, sig_at + 40, sig_at + 6000, pdf.len() - 3] {
            let mut bad = pdf.clone();
            bad[at] ^= 0x01;
            assert!(check(&bad).is_err(), "a change at {at} went unseen");
        }
        let mut longer = pdf.clone();
        longer.extend_from_slice(b"\n% appended\n");
        assert!(check(&longer).is_err());
    }
}
