//! Fixed-base tables for rule 4 of the strict check (`strict`): the point [S]B − [k]A from
//! tables of multiples of B and of A, made once, instead of 255 doublings a signature.
//!
//! A ledger's signatures come from a few keys — the sequencer's on every entry, each user's
//! on many — so a key that keeps signing earns a table of its multiples: for every position
//! `j` of a scalar written in signed radix 2^w, the points d·2^(w·j)·A for d = 1 … 2^(w−1).
//! [k]A is then one addition for each nonzero digit of k (≈ 43 for w = 6) and no doubling,
//! ≈ 2.5 times faster than curve25519-dalek's double-base multiplication (docs/performance.md).
//! The tables hold affine points (`curve`), so that an addition takes 7 field
//! multiplications instead of the 9 of adding curve25519-dalek's public points.
//!
//! Verification works on public data only (keys, messages, signatures), so the tables are
//! indexed by the digits directly: nothing here is constant-time, nor needs to be. The
//! point is the same group element the double-base multiplication gives — the same integers
//! times the same points — so the check decides exactly as before;
//! `tables_give_the_double_base_product` compares the two on scalars of every shape and on
//! keys of mixed order, and `strict`'s tests run every case through both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::VerifyingKey;

use crate::curve::{self, Niels, Point};

/// The base point's window: 33 rows of 128 points (≈ 500 KiB, made once a process).
const BASE_WINDOW: u32 = 8;
/// A key's window: 44 rows of 32 points (≈ 165 KiB, ≈ 0.3 ms to make).
const KEY_WINDOW: u32 = 6;
/// A key earns its table on its 16th signature: by then the table has cost what the
/// multiplications it replaces will save by the 32nd.
const BUILD_AFTER: u32 = 16;
/// At most this many keys' tables are kept (≈ 5 MiB), so memory stays bounded however many
/// keys a ledger holds; a key beyond them is multiplied as before.
const MAX_TABLES: usize = 32;
/// Keys counted toward a table before the counts start over.
const MAX_COUNTED: usize = 4096;

/// Multiples of one point, by position and digit, for scalars in signed radix 2^w.
pub(crate) struct Comb {
    window: u32,
    /// Row `j` holds d·2^(w·j)·P for d = 1 … 2^(w−1), one row after another.
    points: Vec<Niels>,
}

impl Comb {
    /// Rows enough for any 256-bit integer, and a last one for the final carry.
    const fn rows(window: u32) -> usize {
        256usize.div_ceil(window as usize) + 1
    }

    pub(crate) fn new(point: &Point, window: u32) -> Comb {
        let half = 1usize << (window - 1);
        let rows = Comb::rows(window);
        let mut points = Vec::with_capacity(rows * half);
        let mut base = *point;
        for _ in 0..rows {
            let mut multiple = base;
            for _ in 0..half {
                points.push(multiple);
                multiple = multiple.add(&base);
            }
            for _ in 0..window {
                base = base.double();
            }
        }
        Comb {
            window,
            points: curve::to_niels(&points),
        }
    }

    /// The table of `a`, a point of curve25519-dalek's: read from its canonical encoding, and
    /// `None` should that not give `a` back.
    fn of(a: &EdwardsPoint, window: u32) -> Option<Comb> {
        let encoded = a.compress().to_bytes();
        let point = Point::decompress(&encoded)?;
        (curve::compress_all(&[point]).first() == Some(&encoded)).then(|| Comb::new(&point, window))
    }

    /// The terms of [n]P, or of −[n]P when `subtract`, for the integer whose little-endian
    /// bytes are `n`: a multiple from the table for each nonzero digit, and whether to
    /// subtract it.
    fn terms<'a>(
        &'a self,
        n: &'a [u8; 32],
        subtract: bool,
    ) -> impl Iterator<Item = (&'a Niels, bool)> + 'a {
        let half = 1usize << (self.window - 1);
        digits(n, self.window)
            .enumerate()
            .filter(|&(_, digit)| digit != 0)
            .map(move |(row, digit)| {
                let multiple = &self.points[row * half + digit.unsigned_abs() as usize - 1];
                (multiple, (digit < 0) != subtract)
            })
    }
}

/// How many additions ahead of its turn a term is asked of memory. The tables do not fit in
/// a core's cache (the base point's alone is ≈ 500 KiB), and the terms follow the scalars'
/// digits, which no hardware prefetcher can guess: fetched when its turn comes, a term costs
/// a wait on memory each addition (≈ 20 % of a check on the fifteenth day's machine).
/// Two or three additions hide it; more gain nothing.
const AHEAD: usize = 3;

/// The sum of the terms, each added (or subtracted) in turn.
fn sum(terms: &[(&Niels, bool)]) -> Point {
    for (multiple, _) in terms.iter().take(AHEAD) {
        prefetch(multiple);
    }
    let mut acc = Point::IDENTITY;
    for (i, (multiple, subtract)) in terms.iter().enumerate() {
        if let Some((next, _)) = terms.get(i + AHEAD) {
            prefetch(next);
        }
        acc = acc.add_niels(multiple, *subtract);
    }
    acc
}

/// Asks the cache for the lines that hold `multiple` (a hint: the program reads nothing).
#[inline(always)]
fn prefetch(multiple: &Niels) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let first = std::ptr::from_ref(multiple).cast::<i8>();
        // SAFETY: `_mm_prefetch` is unsafe only for its `target_feature(enable = "sse")`,
        // and SSE is enabled here (the `cfg` above; it is part of x86-64's baseline). A
        // prefetch reads nothing into the program and cannot fault; the addresses are those
        // of a live reference, whose bytes span at most three cache lines.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(size_of::<Niels>() - 1));
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = multiple;
}

/// The digits of `n` in signed radix 2^w, least significant first, each in
/// [−2^(w−1), 2^(w−1)): Σ dⱼ·2^(w·j) = n. [`Comb::rows`] of them.
fn digits(n: &[u8; 32], window: u32) -> impl Iterator<Item = i32> + '_ {
    let width = window as usize;
    let half = 1i32 << (window - 1);
    let mask = (1u64 << window) - 1;
    // The integer as four 64-bit words and a zero one, so that any w bits are two words apart
    // at most.
    let mut words = [0u64; 5];
    for (w, chunk) in words.iter_mut().zip(n.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    let mut carry = 0i32;
    (0..Comb::rows(window)).map(move |row| {
        let i = row * width;
        let (word, shift) = (i / 64, i % 64);
        let mut bits = words.get(word).map_or(0, |w| w >> shift);
        if shift + width > 64 {
            bits |= words.get(word + 1).map_or(0, |w| w << (64 - shift));
        }
        // At most w bits: the mask keeps the digit below 2^w.
        let mut digit = (bits & mask) as i32 + carry;
        carry = 0;
        if digit >= half {
            digit -= 1 << window;
            carry = 1;
        }
        digit
    })
}

/// The base point's table, made on first use.
fn base() -> &'static Comb {
    static BASE: OnceLock<Comb> = OnceLock::new();
    BASE.get_or_init(|| {
        // A constant of the curve: `of` gives its table (every test that checks a signature
        // from tables would fail otherwise).
        Comb::of(&ED25519_BASEPOINT_POINT, BASE_WINDOW).expect("the base point is on the curve")
    })
}

/// The tables of the keys that sign often, and how often the others have signed.
#[derive(Default)]
struct KeyTables {
    tables: RwLock<HashMap<[u8; 32], Arc<Comb>>>,
    counted: Mutex<HashMap<[u8; 32], u32>>,
}

fn key_tables() -> &'static KeyTables {
    static TABLES: OnceLock<KeyTables> = OnceLock::new();
    TABLES.get_or_init(KeyTables::default)
}

impl KeyTables {
    /// `key`'s table, if it has one or has now earned one (never for a point of small order).
    fn get(&self, key: &[u8; 32], point: &EdwardsPoint) -> Option<Arc<Comb>> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(table) = tables.get(key) {
            return Some(Arc::clone(table));
        }
        let full = tables.len() >= MAX_TABLES;
        drop(tables);
        if full {
            return None;
        }
        {
            let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
            if counted.len() >= MAX_COUNTED && !counted.contains_key(key) {
                counted.clear();
            }
            let uses = counted.entry(*key).or_insert(0);
            *uses += 1;
            if *uses < BUILD_AFTER {
                return None;
            }
            counted.remove(key);
        }
        if point.is_small_order() {
            return None;
        }
        // Made outside the locks; two threads may both make one, and either is right.
        let table = Arc::new(Comb::of(point, KEY_WINDOW)?);
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if tables.len() >= MAX_TABLES {
            return Some(table);
        }
        Some(Arc::clone(tables.entry(*key).or_insert(table)))
    }
}

/// Rule 4's point, computed one way or the other.
pub(crate) enum Rule4 {
    /// By curve25519-dalek's double-base multiplication.
    Dalek(EdwardsPoint),
    /// From tables.
    Table(Point),
}

impl Rule4 {
    /// The point's canonical encoding.
    pub(crate) fn compress(&self) -> [u8; 32] {
        Rule4::compress_all(std::slice::from_ref(self))
            .pop()
            .unwrap_or_default()
    }

    /// The points' canonical encodings, in order, with one field inversion for each way.
    pub(crate) fn compress_all(points: &[Rule4]) -> Vec<[u8; 32]> {
        let (mut dalek, mut tables) = (Vec::new(), Vec::new());
        for p in points {
            match p {
                Rule4::Dalek(p) => dalek.push(*p),
                Rule4::Table(p) => tables.push(*p),
            }
        }
        // Each way's inversion only if it has points: curve25519-dalek inverts even for none.
        let dalek = if dalek.is_empty() {
            Vec::new()
        } else {
            EdwardsPoint::compress_batch_alloc(&dalek)
        };
        let mut dalek = dalek.into_iter();
        let mut tables = curve::compress_all(&tables).into_iter();
        points
            .iter()
            .filter_map(|p| match p {
                Rule4::Dalek(_) => dalek.next().map(|c| c.to_bytes()),
                Rule4::Table(_) => tables.next(),
            })
            .collect()
    }
}

/// `key`'s table, once the key has signed often (counting this signature). Only a key of
/// large order is given one, so that a check from a table needs no test of the key's order.
/// (The key, not its bytes and point apart, so that a table is only ever filed under the
/// encoding of its own point.)
pub(crate) fn table(key: &VerifyingKey) -> Option<Arc<Comb>> {
    key_tables().get(key.as_bytes(), &key.to_edwards())
}

/// [s]B − [k]A with `table` the table of A: the terms of both in one list, so that the first
/// of A's are fetched while the last of B's are added.
pub(crate) fn with_table(table: &Comb, k: &Scalar, s: &Scalar) -> Point {
    let mut terms = Vec::with_capacity(TERMS);
    terms.extend(base().terms(s.as_bytes(), false));
    terms.extend(table.terms(k.as_bytes(), true));
    sum(&terms)
}

/// At most this many terms in a check: one for each row of either table.
const TERMS: usize = Comb::rows(BASE_WINDOW) + Comb::rows(KEY_WINDOW);

/// Whether `key` has a table now, for tests that the checks take that path.
#[cfg(test)]
pub(crate) fn has_table(key: &VerifyingKey) -> bool {
    let tables = key_tables().tables.read();
    tables.is_ok_and(|t| t.contains_key(key.as_bytes()))
}

/// A table of `a`'s multiples, for tests that take the table's path whatever the counts.
#[cfg(test)]
pub(crate) fn table_of(a: &EdwardsPoint) -> Comb {
    Comb::of(a, KEY_WINDOW).expect("a point of the curve")
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use sha2::{Digest, Sha512};

    /// ℓ − 1, the largest canonical scalar, little-endian.
    const ELL_MINUS_ONE: [u8; 32] = [
        0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn hashed(i: u32) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&Sha512::digest(i.to_le_bytes()).into())
    }

    /// Scalars of every shape a digit recoding can trip on: zero, one, ℓ − 1, powers of
    /// two at and around the windows' edges, runs of digits at the largest and smallest
    /// values (every carry), and hashed ones.
    fn scalars() -> Vec<Scalar> {
        let mut out = vec![
            Scalar::ZERO,
            Scalar::ONE,
            Scalar::from_bytes_mod_order(ELL_MINUS_ONE),
        ];
        for bit in [5u32, 6, 7, 8, 31, 32, 63, 64, 127, 128, 200, 251, 252] {
            let mut bytes = [0u8; 32];
            bytes[bit as usize / 8] |= 1 << (bit % 8);
            out.push(Scalar::from_bytes_mod_order(bytes));
        }
        for fill in [0x20u8, 0x7f, 0x80, 0xff, 0x55, 0xaa, 0x1f] {
            let mut bytes = [fill; 32];
            bytes[31] &= 0x0f;
            out.push(Scalar::from_bytes_mod_order(bytes));
        }
        out.extend((0..200).map(hashed));
        out
    }

    #[test]
    fn digits_add_up_to_the_integer() {
        for window in [4, KEY_WINDOW, 7, BASE_WINDOW] {
            for s in scalars() {
                let d: Vec<i32> = digits(s.as_bytes(), window).collect();
                let half = 1 << (window - 1);
                assert!(d.iter().all(|&x| (-half..half).contains(&x)), "{d:?}");
                // Σ dⱼ·2^(w·j) as a scalar, Horner's rule from the top.
                let radix = Scalar::from(1u64 << window);
                let sum = d.iter().rev().fold(Scalar::ZERO, |acc, &x| {
                    let digit = Scalar::from(x.unsigned_abs());
                    acc * radix + if x < 0 { -digit } else { digit }
                });
                assert_eq!(sum, s, "window {window}");
            }
        }
    }

    #[test]
    fn tables_give_the_double_base_product() {
        let ordinary = ED25519_BASEPOINT_POINT * hashed(7);
        // Keys of mixed order: a point of the prime-order group plus one of small order.
        let mut keys = vec![ordinary];
        keys.extend(EIGHT_TORSION.iter().skip(1).map(|t| ordinary + t));
        let all = scalars();
        for a in &keys {
            let table = table_of(a);
            for (i, k) in all.iter().enumerate() {
                let s = &all[(i * 7 + 3) % all.len()];
                assert_eq!(
                    Rule4::compress_all(&[Rule4::Table(with_table(&table, k, s))]),
                    [EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &-a, s)
                        .compress()
                        .to_bytes()],
                    "k {}, s {}",
                    hex::encode(k.as_bytes()),
                    hex::encode(s.as_bytes())
                );
            }
        }
    }

    #[test]
    fn a_key_earns_its_table_after_signing_often_and_tables_stay_bounded() {
        let tables = KeyTables::default();
        let point = ED25519_BASEPOINT_POINT * hashed(1);
        let key = point.compress().to_bytes();
        for _ in 1..BUILD_AFTER {
            assert!(tables.get(&key, &point).is_none());
        }
        assert!(tables.get(&key, &point).is_some());
        assert!(tables.get(&key, &point).is_some());
        for i in 0..(MAX_TABLES as u32 + 4) {
            let p = ED25519_BASEPOINT_POINT * hashed(100 + i);
            let k = p.compress().to_bytes();
            for _ in 0..BUILD_AFTER {
                tables.get(&k, &p);
            }
        }
        let kept = tables.tables.read().map(|t| t.len()).unwrap_or(0);
        assert_eq!(kept, MAX_TABLES);
        // A key of small order never has one: checks from tables skip the key's order test.
        let tables = KeyTables::default();
        for t in EIGHT_TORSION {
            let k = t.compress().to_bytes();
            for _ in 0..2 * BUILD_AFTER {
                assert!(tables.get(&k, &t).is_none());
            }
        }
    }
}
