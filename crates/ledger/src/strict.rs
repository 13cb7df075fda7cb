//! Strict Ed25519 verification (docs/ledger-format.md section 5.6): exactly what
//! ed25519-dalek's `verify_strict` accepts, without decompressing `R`.
//!
//! `verify_strict` decompresses `R` only to refuse a point of small order. Rule 4 of 5.6
//! compares the bytes of `R` with a compressed point, and compression only ever writes the
//! canonical encoding of a point: so whatever `R` passes rule 4 is the canonical encoding of
//! a point, and that point is of small order exactly when `R` is one of the eight canonical
//! encodings of the points of small order. Comparing 32 bytes with those eight replaces a
//! square root in the field: ≈ 15 % of a check, and strict checks are most of the time of
//! verifying a ledger and much of appending to it (docs/performance.md).
//! `strict_verification_is_verify_strict` checks the two agree, signature for signature.
//! Rule 4's point comes from tables of multiples once a key signs often (`comb`).

use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

use crate::comb::{self, Rule4};

/// The canonical encodings of the eight points of small order.
fn small_order() -> &'static [[u8; 32]; 8] {
    static ENCODED: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    ENCODED.get_or_init(|| EIGHT_TORSION.map(|p| p.compress().to_bytes()))
}

/// Whether `signature` is `key`'s strict Ed25519 signature of `message`.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    candidate(key, message, signature).is_some_and(|(point, r)| point.compress() == r)
}

/// Which of `signatures` (key, message, signature) verify, each as [`verify`] decides it,
/// the points of rule 4 compressed together: compressing a point takes a field inversion,
/// and one inversion serves a whole batch (≈ 12 % of a check).
pub fn verify_each<'a>(
    signatures: impl IntoIterator<Item = (&'a VerifyingKey, &'a [u8], &'a [u8; 64])>,
) -> Vec<bool> {
    let mut points = Vec::new();
    let wanted: Vec<Option<[u8; 32]>> = signatures
        .into_iter()
        .map(|(key, message, signature)| {
            let (point, r) = candidate(key, message, signature)?;
            points.push(point);
            Some(r)
        })
        .collect();
    let mut compressed = Rule4::compress_all(&points).into_iter();
    wanted
        .into_iter()
        .map(|r| r.is_some_and(|r| compressed.next().is_some_and(|p| p == r)))
        .collect()
}

/// Rules 1 to 3 of `signature`, and, if they hold, rule 4's point [S]B − [k]A (its
/// compression must be `R`'s bytes) with `R`'s bytes.
fn candidate(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Option<(Rule4, [u8; 32])> {
    let table = comb::table(key);
    candidate_by(
        key,
        message,
        signature,
        table.is_some(),
        |a, k, s| match &table {
            Some(table) => Rule4::Table(comb::with_table(table, k, s)),
            None => Rule4::Dalek(EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &-a, s)),
        },
    )
}

/// [`candidate`], with [S]B − [k]A computed by `rule4` from A, k and S; `large` when A is
/// known not to be of small order (a key with a table).
fn candidate_by(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
    large: bool,
    rule4: impl FnOnce(&EdwardsPoint, &Scalar, &Scalar) -> Rule4,
) -> Option<(Rule4, [u8; 32])> {
    let (r, s) = signature.split_at(32);
    let r = <[u8; 32]>::try_from(r).ok()?;
    let s = <[u8; 32]>::try_from(s).ok()?;
    // Rule 1: S < ℓ.
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))?;
    // Rules 2 and 3: neither R nor A of small order (R's point, when rule 4 holds, is the
    // one its bytes encode canonically; see the module's comment).
    let a = key.to_edwards();
    if small_order().contains(&r) || (!large && a.is_small_order()) {
        return None;
    }
    // Rule 4: [S]B − [k]A, compressed, is R's bytes.
    let mut h = Sha512::new();
    h.update(r);
    h.update(key.as_bytes());
    h.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Some((rule4(&a, &k, &s), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use ed25519_dalek::{Signature, Signer, SigningKey};

    fn theirs(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    fn key(i: u32) -> SigningKey {
        SigningKey::from_bytes(&sha2::Sha256::digest(i.to_le_bytes()).into())
    }

    /// Signatures checked one by one, kept to be checked again all at once.
    #[derive(Default)]
    struct Cases(Vec<(VerifyingKey, Vec<u8>, [u8; 64], bool)>);

    impl Cases {
        /// Whether `signature` verifies: asserts that `verify` and `verify_strict` agree.
        fn same(&mut self, key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
            let ours = verify(key, message, signature);
            assert_eq!(
                ours,
                theirs(key, message, signature),
                "key {}, signature {}",
                hex::encode(key.as_bytes()),
                hex::encode(signature)
            );
            // Both ways of computing rule 4's point, whichever `verify` took.
            let by = |rule4: &dyn Fn(&EdwardsPoint, &Scalar, &Scalar) -> Rule4| {
                candidate_by(key, message, signature, false, rule4)
                    .is_some_and(|(point, r)| point.compress() == r)
            };
            let table = comb::table_of(&key.to_edwards());
            assert_eq!(
                by(&|_, k, s| Rule4::Table(comb::with_table(&table, k, s))),
                ours
            );
            assert_eq!(
                by(
                    &|a, k, s| Rule4::Dalek(EdwardsPoint::vartime_double_scalar_mul_basepoint(
                        k, &-a, s
                    ))
                ),
                ours
            );
            self.0.push((*key, message.to_vec(), *signature, ours));
            ours
        }

        /// `verify_each` over every case at once, in batches of several sizes, decides
        /// each as `verify` did.
        fn all_at_once(self) {
            let decided: Vec<bool> = self.0.iter().map(|c| c.3).collect();
            for size in [1, 3, 256, self.0.len()] {
                let mut each = Vec::new();
                for batch in self.0.chunks(size.max(1)) {
                    each.extend(verify_each(
                        batch.iter().map(|(k, m, s, _)| (k, m.as_slice(), s)),
                    ));
                }
                assert_eq!(each, decided, "batches of {size}");
            }
        }
    }

    /// ℓ, the order of the base point, little-endian.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// k = SHA-512(R ‖ A ‖ M) mod ℓ.
    fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
        let mut h = Sha512::new();
        h.update(r);
        h.update(a);
        h.update(message);
        Scalar::from_bytes_mod_order_wide(&h.finalize().into())
    }

    #[test]
    fn strict_verification_is_verify_strict() {
        let mut c = Cases::default();
        let mut accepted = 0;
        for i in 0..16u32 {
            let k = key(i);
            let message = format!("message {i}").repeat(i as usize);
            let good = k.sign(message.as_bytes()).to_bytes();
            let vk = k.verifying_key();
            assert!(c.same(&vk, message.as_bytes(), &good));
            accepted += 1;
            // Another message, another key.
            assert!(!c.same(&vk, b"another message", &good));
            assert!(!c.same(&key(i + 100).verifying_key(), message.as_bytes(), &good));
            // Every bit of the signature flipped.
            for bit in 0..512 {
                let mut bad = good;
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(!c.same(&vk, message.as_bytes(), &bad));
            }
            // S + ℓ: the same equation, S not reduced.
            let s: Option<Scalar> =
                Scalar::from_canonical_bytes(good[32..].try_into().expect("32 bytes")).into();
            let s = s.expect("canonical");
            let mut wide = good;
            assert_eq!(Scalar::from_bytes_mod_order(ELL), Scalar::ZERO);
            let (mut carry, l) = (0u16, ELL);
            for (j, byte) in wide[32..].iter_mut().enumerate() {
                let sum = u16::from(s.to_bytes()[j]) + u16::from(l[j]) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            assert!(!c.same(&vk, message.as_bytes(), &wide));
        }
        assert_eq!(accepted, 16);
        c.all_at_once();
    }

    /// An `R` of small order, in every encoding a decoder might take (canonical, y + p,
    /// −0), with `S` such that the cofactorless equation holds for a key of mixed order
    /// (`A = aB + T`): refused for `R` alone.
    #[test]
    fn an_r_of_small_order_is_refused_in_every_encoding() {
        let mut c = Cases::default();
        let secret = Scalar::from_bytes_mod_order([9u8; 32]);
        let mut refused = 0;
        for t in EIGHT_TORSION.iter().skip(1) {
            let point = ED25519_BASEPOINT_POINT * secret + t;
            let vk = VerifyingKey::from(point);
            let a = vk.to_bytes();
            // R = −[k]T makes [S]B = [k]A + R with S = k·a; k depends on R, so messages
            // are tried until one fits. [k]T is [k mod 8]T, as 8T is the identity.
            let multiples: Vec<EdwardsPoint> = (0..8u8).map(|m| t * Scalar::from(m)).collect();
            for r_point in EIGHT_TORSION.iter() {
                let r = r_point.compress().to_bytes();
                let fits = (0..512u32).find_map(|m| {
                    let message = format!("small order {m}");
                    let k = challenge(&r, &a, message.as_bytes());
                    let kt = multiples[usize::from(k.as_bytes()[0] % 8)];
                    (-kt == *r_point).then_some((message, k))
                });
                let Some((message, k)) = fits else { continue };
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&r);
                sig[32..].copy_from_slice((k * secret).as_bytes());
                // The equation holds: only the small-order check refuses it.
                assert_eq!(
                    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-point, &(k * secret))
                        .compress()
                        .to_bytes(),
                    r
                );
                assert!(!c.same(&vk, message.as_bytes(), &sig));
                refused += 1;
            }
        }
        assert!(
            refused >= 8,
            "{refused} signatures with an R of small order"
        );
        // The identity encoded as y + p and as −0, and points that are not on the curve.
        let k = key(1);
        let vk = k.verifying_key();
        let good = k.sign(b"m").to_bytes();
        let mut y_plus_p = [0xffu8; 32];
        y_plus_p[0] = 0xee;
        y_plus_p[31] = 0x7f;
        let mut minus_zero = [0u8; 32];
        minus_zero[0] = 1;
        minus_zero[31] = 0x80;
        for r in [y_plus_p, minus_zero, [0xffu8; 32], [2u8; 32]] {
            let mut sig = good;
            sig[..32].copy_from_slice(&r);
            assert!(!c.same(&vk, b"m", &sig));
        }
        c.all_at_once();
    }

    /// A key that keeps signing is checked from its table: `verify` files one for it by
    /// its sixteenth signature, and decides as `verify_strict` before and after.
    #[test]
    fn a_key_that_keeps_signing_is_checked_from_its_table() {
        let k = key(7_000);
        let vk = k.verifying_key();
        let mut c = Cases::default();
        assert!(!comb::has_table(&vk));
        for i in 0..40u32 {
            let message = format!("entry {i}");
            let good = k.sign(message.as_bytes()).to_bytes();
            assert!(c.same(&vk, message.as_bytes(), &good));
            let mut bad = good;
            bad[i as usize % 32] ^= 1 << (i % 8);
            assert!(!c.same(&vk, message.as_bytes(), &bad));
        }
        assert!(comb::has_table(&vk));
        c.all_at_once();
    }

    /// Signatures of no particular form: what they decide, they decide alike.
    #[test]
    fn random_signatures_are_refused_alike() {
        let mut c = Cases::default();
        let vk = key(3).verifying_key();
        for i in 0..2000u32 {
            let a = sha2::Sha512::digest(i.to_le_bytes());
            let mut sig = [0u8; 64];
            sig.copy_from_slice(&a);
            // Half of them with S reduced, so that more than the first rule is reached.
            if i % 2 == 0 {
                sig[63] &= 0x0f;
            }
            c.same(&vk, b"random", &sig);
        }
        c.all_at_once();
    }
}
