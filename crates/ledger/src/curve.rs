//! The field and point arithmetic of rule 4's tables (`comb`): edwards25519 points in
//! extended coordinates, tables in affine Niels form, on fiat-crypto's formally verified
//! field arithmetic.
//!
//! curve25519-dalek keeps its field elements and its affine Niels points private, so a table
//! of its public points costs each addition a conversion to projective Niels (one
//! multiplication) and projective Niels' Z (one more): 9 field multiplications where a table
//! of affine points needs 7 (docs/performance.md). Only verification uses this: public data,
//! nothing constant-time. The formulas are the complete ones of Hisil, Wong, Carter and
//! Dawson for a = −1 (add-2008-hwcd-3, madd-2008-hwcd-3, dbl-2008-hwcd), which hold for every
//! pair of points of the curve, small-order ones included; the tests compare every result
//! with curve25519-dalek's.

use std::sync::OnceLock;

use fiat_crypto::curve25519_64::{
    fiat_25519_add, fiat_25519_carry, fiat_25519_carry_mul, fiat_25519_carry_square,
    fiat_25519_from_bytes, fiat_25519_loose_field_element as Loose, fiat_25519_relax,
    fiat_25519_sub, fiat_25519_tight_field_element as Tight, fiat_25519_to_bytes,
};

/// An element of GF(2^255 − 19), reduced to fiat-crypto's tight bounds.
#[derive(Clone, Copy)]
struct Fe(Tight);

/// A sum or difference of two [`Fe`]s: fit to multiply, not to add to again.
#[derive(Clone, Copy)]
struct Lo(Loose);

impl Lo {
    #[inline(always)]
    fn mul(&self, other: &Lo) -> Fe {
        tight(|out| fiat_25519_carry_mul(out, &self.0, &other.0))
    }

    #[inline(always)]
    fn carry(&self) -> Fe {
        tight(|out| fiat_25519_carry(out, &self.0))
    }
}

/// fiat-crypto's functions write their result through a reference; these return it.
#[inline(always)]
fn tight(f: impl FnOnce(&mut Tight)) -> Fe {
    let mut out = Tight([0; 5]);
    f(&mut out);
    Fe(out)
}

#[inline(always)]
fn loose(f: impl FnOnce(&mut Loose)) -> Lo {
    let mut out = Loose([0; 5]);
    f(&mut out);
    Lo(out)
}

impl Fe {
    const ZERO: Fe = Fe(Tight([0; 5]));
    const ONE: Fe = Fe(Tight([1, 0, 0, 0, 0]));

    fn small(n: u64) -> Fe {
        Fe(Tight([n, 0, 0, 0, 0]))
    }

    /// The element whose encoding is `bytes`, the top bit ignored (as curve25519-dalek reads
    /// a y coordinate).
    fn from_bytes(bytes: &[u8; 32]) -> Fe {
        let mut b = *bytes;
        b[31] &= 0x7f;
        tight(|out| fiat_25519_from_bytes(out, &b))
    }

    /// The canonical encoding: the integer in [0, p), little-endian.
    fn to_bytes(self) -> [u8; 32] {
        let mut out = [0; 32];
        fiat_25519_to_bytes(&mut out, &self.0);
        out
    }

    #[inline(always)]
    fn relax(&self) -> Lo {
        loose(|out| fiat_25519_relax(out, &self.0))
    }

    #[inline(always)]
    fn add(&self, other: &Fe) -> Lo {
        loose(|out| fiat_25519_add(out, &self.0, &other.0))
    }

    #[inline(always)]
    fn sub(&self, other: &Fe) -> Lo {
        loose(|out| fiat_25519_sub(out, &self.0, &other.0))
    }

    #[inline(always)]
    fn mul(&self, other: &Fe) -> Fe {
        self.relax().mul(&other.relax())
    }

    fn square(&self) -> Fe {
        tight(|out| fiat_25519_carry_square(out, &self.relax().0))
    }

    fn neg(&self) -> Fe {
        Fe::ZERO.sub(self).carry()
    }

    fn is_negative(&self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    fn equals(&self, other: &Fe) -> bool {
        self.to_bytes() == other.to_bytes()
    }

    /// self^e for the integer whose little-endian bytes are `e`, by square and multiply.
    /// Used for inversions (one a batch) and the constants, never per addition.
    fn pow(&self, e: &[u8; 32]) -> Fe {
        let mut acc = Fe::ONE;
        for i in (0..256).rev() {
            acc = acc.square();
            if (e[i / 8] >> (i % 8)) & 1 == 1 {
                acc = acc.mul(self);
            }
        }
        acc
    }

    /// self^(2^k).
    fn pow2k(&self, k: u32) -> Fe {
        let mut x = *self;
        for _ in 0..k {
            x = x.square();
        }
        x
    }

    /// 1/self (0 for 0): self^(p − 2), by the addition chain curve25519-dalek uses (254
    /// squarings, 11 multiplications), since a batch's compression takes one.
    fn invert(&self) -> Fe {
        let t0 = self.square(); // 2
        let t1 = t0.pow2k(2); // 8
        let t2 = self.mul(&t1); // 9
        let t3 = t0.mul(&t2); // 11
        let t4 = t3.square(); // 22
        let t5 = t2.mul(&t4); // 2^5 − 1
        let t7 = t5.pow2k(5).mul(&t5); // 2^10 − 1
        let t9 = t7.pow2k(10).mul(&t7); // 2^20 − 1
        let t11 = t9.pow2k(20).mul(&t9); // 2^40 − 1
        let t13 = t11.pow2k(10).mul(&t7); // 2^50 − 1
        let t15 = t13.pow2k(50).mul(&t13); // 2^100 − 1
        let t17 = t15.pow2k(100).mul(&t15); // 2^200 − 1
        let t19 = t17.pow2k(50).mul(&t13); // 2^250 − 1
        t19.pow2k(5).mul(&t3) // 2^255 − 21 = p − 2
    }
}

/// The curve's constants: d = −121665/121666, 2d, and √−1.
struct Constants {
    d: Fe,
    d2: Fe,
    sqrt_m1: Fe,
}

fn constants() -> &'static Constants {
    static C: OnceLock<Constants> = OnceLock::new();
    C.get_or_init(|| {
        let d = Fe::small(121665).neg().mul(&Fe::small(121666).invert());
        // √−1 = 2^((p − 1)/4), (p − 1)/4 = 2^253 − 5.
        let mut e = [0xff; 32];
        e[0] = 0xfb;
        e[31] = 0x1f;
        Constants {
            d,
            d2: d.add(&d).carry(),
            sqrt_m1: Fe::small(2).pow(&e),
        }
    })
}

/// A point in extended coordinates: x = X/Z, y = Y/Z, x·y = T/Z.
#[derive(Clone, Copy)]
pub(crate) struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

/// A point as a table keeps it: (y + x, y − x, 2d·x·y), Z = 1.
#[derive(Clone, Copy)]
pub(crate) struct Niels {
    y_plus_x: Fe,
    y_minus_x: Fe,
    xy2d: Fe,
}

impl Point {
    pub(crate) const IDENTITY: Point = Point {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
        t: Fe::ZERO,
    };

    /// The point a 32-byte encoding names, as curve25519-dalek decompresses it (y read
    /// modulo p, x the root whose parity the top bit gives); `None` when no point has that y.
    pub(crate) fn decompress(bytes: &[u8; 32]) -> Option<Point> {
        let c = constants();
        let y = Fe::from_bytes(bytes);
        let yy = y.square();
        let u = yy.sub(&Fe::ONE).carry();
        let v = c.d.mul(&yy).add(&Fe::ONE).carry();
        // x = u·v³·(u·v⁷)^((p − 5)/8), then × √−1 if that squares to −u/v.
        let v3 = v.square().mul(&v);
        let v7 = v3.square().mul(&v);
        let mut e = [0xff; 32];
        e[0] = 0xfd;
        e[31] = 0x0f;
        let mut x = u.mul(&v3).mul(&u.mul(&v7).pow(&e));
        let check = v.mul(&x.square());
        if !check.equals(&u) {
            if !check.equals(&u.neg()) {
                return None;
            }
            x = x.mul(&c.sqrt_m1);
        }
        if x.is_negative() {
            x = x.neg();
        }
        if bytes[31] >> 7 == 1 {
            x = x.neg();
        }
        Some(Point {
            x,
            y,
            z: Fe::ONE,
            t: x.mul(&y),
        })
    }

    /// self + other (complete: any two points of the curve).
    pub(crate) fn add(&self, other: &Point) -> Point {
        let c = constants();
        let a = self.y.sub(&self.x).mul(&other.y.sub(&other.x));
        let b = self.y.add(&self.x).mul(&other.y.add(&other.x));
        let cc = self.t.mul(&c.d2).mul(&other.t);
        let d = self.z.mul(&other.z);
        let d = d.add(&d).carry();
        Point::finish(&b.sub(&a), &d.sub(&cc), &d.add(&cc), &b.add(&a))
    }

    /// 2·self (dbl-2008-hwcd with a = −1; for making tables only).
    pub(crate) fn double(&self) -> Point {
        let a = self.x.square();
        let b = self.y.square();
        let zz = self.z.square();
        let c = zz.add(&zz).carry();
        let e = self.x.add(&self.y).carry().square().sub(&a).carry().sub(&b);
        let d = a.neg();
        let g = d.add(&b).carry();
        let f = g.sub(&c);
        let h = d.sub(&b);
        let g = g.relax();
        Point {
            x: e.mul(&f),
            y: g.mul(&h),
            t: e.mul(&h),
            z: f.mul(&g),
        }
    }

    /// self + other, or self − other when `subtract` (7 multiplications).
    #[inline]
    pub(crate) fn add_niels(&self, other: &Niels, subtract: bool) -> Point {
        let (plus, minus) = if subtract {
            (&other.y_minus_x, &other.y_plus_x)
        } else {
            (&other.y_plus_x, &other.y_minus_x)
        };
        let a = self.y.sub(&self.x).mul(&minus.relax());
        let b = self.y.add(&self.x).mul(&plus.relax());
        let cc = self.t.mul(&other.xy2d);
        let d = self.z.add(&self.z).carry();
        let (f, g) = if subtract {
            (d.add(&cc), d.sub(&cc))
        } else {
            (d.sub(&cc), d.add(&cc))
        };
        Point::finish(&b.sub(&a), &f, &g, &b.add(&a))
    }

    /// X3 = E·F, Y3 = G·H, T3 = E·H, Z3 = F·G.
    #[inline]
    fn finish(e: &Lo, f: &Lo, g: &Lo, h: &Lo) -> Point {
        Point {
            x: e.mul(f),
            y: g.mul(h),
            t: e.mul(h),
            z: f.mul(g),
        }
    }
}

/// `points` in affine Niels form, with one field inversion for them all.
pub(crate) fn to_niels(points: &[Point]) -> Vec<Niels> {
    let d2 = constants().d2;
    affine_all(points)
        .map(|(x, y)| Niels {
            y_plus_x: y.add(&x).carry(),
            y_minus_x: y.sub(&x).carry(),
            xy2d: x.mul(&y).mul(&d2),
        })
        .collect()
}

/// The canonical encodings of `points`, with one field inversion for them all.
pub(crate) fn compress_all(points: &[Point]) -> Vec<[u8; 32]> {
    affine_all(points)
        .map(|(x, y)| {
            let mut bytes = y.to_bytes();
            bytes[31] ^= u8::from(x.is_negative()) << 7;
            bytes
        })
        .collect()
}

/// The affine coordinates (x, y) of `points`, with one field inversion for them all.
fn affine_all(points: &[Point]) -> impl Iterator<Item = (Fe, Fe)> + '_ {
    let inverses = invert_all(points.iter().map(|p| p.z));
    points
        .iter()
        .zip(inverses)
        .map(|(p, zinv)| (p.x.mul(&zinv), p.y.mul(&zinv)))
}

/// The inverses of `zs` (Montgomery's trick: one inversion, three multiplications each).
/// No Z of a point is zero, so neither is any product.
/// None for none: an inversion is ≈ 265 multiplications.
fn invert_all(zs: impl Iterator<Item = Fe>) -> Vec<Fe> {
    let zs: Vec<Fe> = zs.collect();
    if zs.is_empty() {
        return Vec::new();
    }
    let mut prefix = Vec::with_capacity(zs.len());
    let mut acc = Fe::ONE;
    for z in &zs {
        prefix.push(acc);
        acc = acc.mul(z);
    }
    let mut inv = acc.invert();
    let mut out = vec![Fe::ZERO; zs.len()];
    for i in (0..zs.len()).rev() {
        out[i] = inv.mul(&prefix[i]);
        inv = inv.mul(&zs[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;

    fn points() -> Vec<EdwardsPoint> {
        let mut out: Vec<EdwardsPoint> = (1u64..40)
            .map(|i| ED25519_BASEPOINT_POINT * Scalar::from(i * 7919 + i * i))
            .collect();
        out.extend(EIGHT_TORSION);
        let mixed = out[3] + EIGHT_TORSION[1];
        out.push(mixed);
        out.push(out[5] + EIGHT_TORSION[4]);
        out
    }

    fn ours(p: &EdwardsPoint) -> Point {
        Point::decompress(&p.compress().to_bytes()).expect("a point")
    }

    fn same(p: &Point, q: &EdwardsPoint) -> bool {
        compress_all(&[*p])[0] == q.compress().to_bytes()
    }

    #[test]
    fn constants_are_the_curves() {
        let c = constants();
        assert!(c.sqrt_m1.square().equals(&Fe::ONE.neg()));
        assert!(c.d.mul(&Fe::small(121666)).equals(&Fe::small(121665).neg()));
        let mut p_minus_2 = [0xff; 32];
        p_minus_2[0] = 0xeb;
        p_minus_2[31] = 0x7f;
        for n in [1, 2, 121666, 123456789] {
            let x = Fe::small(n).square().square();
            assert!(x.mul(&x.invert()).equals(&Fe::ONE));
            assert!(x.invert().equals(&x.pow(&p_minus_2)));
        }
    }

    #[test]
    fn points_decompress_and_compress_as_dalek_does() {
        for p in points() {
            assert!(same(&ours(&p), &p));
        }
        // An encoding of no point: y = 2 (x² = 3/(4d + 1) is not a square).
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(
            Point::decompress(&two).is_some(),
            curve25519_dalek::edwards::CompressedEdwardsY(two)
                .decompress()
                .is_some()
        );
    }

    #[test]
    fn sums_and_doubles_are_dalek_s() {
        let all = points();
        for (i, p) in all.iter().enumerate() {
            let q = &all[(i * 5 + 2) % all.len()];
            let (op, oq) = (ours(p), ours(q));
            assert!(same(&op.add(&oq), &(p + q)));
            assert!(same(&op.add(&op), &(p + p)));
            assert!(same(&op.double(), &(p + p)));
            let n = &to_niels(&[oq])[0];
            assert!(same(&op.add_niels(n, false), &(p + q)));
            assert!(same(&op.add_niels(n, true), &(p - q)));
            assert!(same(&Point::IDENTITY.add_niels(n, true), &(-q)));
        }
    }

    #[test]
    fn batches_compress_as_one_by_one() {
        let all: Vec<Point> = points().iter().map(ours).collect();
        let one_by_one: Vec<[u8; 32]> = all.iter().map(|p| compress_all(&[*p])[0]).collect();
        assert_eq!(compress_all(&all), one_by_one);
        assert!(compress_all(&[]).is_empty());
    }
}
