//! Signatures that strict verification (section 5.6 of docs/ledger-format.md) refuses but
//! Ed25519 batch verification accepts: the verifier must refuse them, as append and import
//! do. Each is made with the signer's real key, so only the encoding of `R` is crafted.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use custody_ledger::vectors::SignWhenMade;
use custody_ledger::vectors::{self, Builder, seeded_key};
use custody_ledger::verify::verify_entries;
use custody_ledger::*;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha512};

/// 2026-03-02T09:00:00Z
const START: i64 = 1_772_442_000_000_000;

/// The identity point encoded canonically: y = 1.
const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};
/// The identity with y = 1 + p (p = 2²⁵⁵ − 19), which still fits in 255 bits.
const IDENTITY_Y_PLUS_P: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};
/// The identity with the sign bit set: "−0".
const IDENTITY_MINUS_ZERO: [u8; 32] = {
    let mut b = IDENTITY;
    b[31] = 0x80;
    b
};
/// The point of order 2, (0, −1).
const ORDER_2: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xec;
    b[31] = 0x7f;
    b
};

fn registrant() -> SigningKey {
    seeded_key("registrant")
}

/// A one-entry ledger: genesis, signed by the registrant.
fn genesis() -> Entry {
    let mut b = Builder::new(LedgerId::from_bytes([0x42; 16]), START);
    let d = b
        .draft(Genesis {
            registrant: vectors::registrant_party(),
            registrant_key: PublicKey::from(&registrant()),
        })
        .signed_when_made(Principal::Registrant, Meaning::Registrant, &registrant());
    b.push(d, 0).expect("a valid genesis").clone()
}

/// k = SHA-512(R ‖ A ‖ M) mod ℓ, with R as encoded.
fn challenge(r: &[u8; 32], key: &SigningKey, message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(key.verifying_key().as_bytes());
    h.update(message);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// Replaces genesis's signature by `R ‖ S` with `S = r + k·a`, where `r` is the discrete log
/// of `R` minus any small-order part: a signature for which `[S]B = R + [k]A` holds up to
/// that small-order part.
fn with_signature(mut e: Entry, r_bytes: [u8; 32], r: Scalar) -> Entry {
    let key = registrant();
    let message = e.signing_input(&e.signatures[0]);
    let s = r + challenge(&r_bytes, &key, &message) * key.to_scalar();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_bytes);
    sig[32..].copy_from_slice(s.as_bytes());
    e.signatures[0].signature = sig;
    e
}

fn strict_and_batch(e: &Entry) -> (bool, bool) {
    let key = registrant().verifying_key();
    let message = e.signing_input(&e.signatures[0]);
    let sig = ed25519_dalek::Signature::from_bytes(&e.signatures[0].signature);
    (
        key.verify_strict(&message, &sig).is_ok(),
        ed25519_dalek::verify_batch(&[message.as_slice()], &[sig], &[key]).is_ok(),
    )
}

fn assert_refused(e: &Entry) {
    let f = verify_entries([e], Some(PublicKey::from(&registrant())))
        .expect_err("a signature strict verification refuses");
    assert_eq!(f.seq, 0);
    assert_eq!(f.reason.code(), "bad_signature", "{f}");
    assert!(
        matches!(f.reason, Reason::BadSignature { index: 0, .. }),
        "{f}"
    );
    // The check append and import make refuses it too.
    let (checks, _) = State::new().apply(e).expect("the rules hold");
    assert!(checks.iter().all(|c| !c.verify()));
}

#[test]
fn the_untouched_genesis_verifies() {
    let e = genesis();
    assert_eq!(strict_and_batch(&e), (true, true));
    verify_entries([&e], Some(PublicKey::from(&registrant()))).expect("valid");
}

#[test]
fn a_signature_whose_r_is_the_identity_is_refused_in_each_of_its_encodings() {
    for (name, r) in [
        ("canonical", IDENTITY),
        ("y + p", IDENTITY_Y_PLUS_P),
        ("-0", IDENTITY_MINUS_ZERO),
    ] {
        assert!(
            CompressedEdwardsY(r)
                .decompress()
                .is_some_and(|p| p.is_small_order()),
            "{name} decodes to a small-order point"
        );
        // R = identity, S = k·a: [S]B = R + [k]A holds exactly.
        let e = with_signature(genesis(), r, Scalar::ZERO);
        assert_eq!(
            strict_and_batch(&e),
            (false, true),
            "{name}: strict refuses what a batch accepts"
        );
        assert_refused(&e);
    }
}

#[test]
fn a_signature_whose_r_has_a_small_order_part_is_refused_even_when_the_batch_accepts_it() {
    // R' = [r]B + T with T of order 2: the batch equation, with its coefficient z derived
    // from the signatures themselves, loses T whenever z is even. Find such an r.
    let t = CompressedEdwardsY(ORDER_2)
        .decompress()
        .expect("a curve point");
    assert!(t.is_small_order());
    let e = (1u64..200)
        .map(|i| {
            let r = Scalar::from(i) * Scalar::from(0x9e37_79b9_7f4a_7c15u64);
            let point = ED25519_BASEPOINT_TABLE * &r + t;
            with_signature(genesis(), point.compress().to_bytes(), r)
        })
        .find(|e| strict_and_batch(e) == (false, true))
        .expect("a batch accepts about every second one");
    assert_refused(&e);
}
