//! The doses the rules remember: every dose given, by its entry, kept as small as the one rule
//! that reads them (a REMS session names its doses) allows, so that the state of a long ledger
//! does not grow by a hash-map slot of patient, product and time for every dose.

use super::DoseState;
use crate::types::ids::Seq;
use crate::types::ndc::Ndc;

/// Every dose given, by entry. A nasal-spray dose keeps what a REMS session checks (its
/// patient, product and time); any other dose keeps only its product, which is all a session
/// that names it is refused with. Both lists are in entry order: a ledger's doses arrive in
/// that order, so an insertion is a push and a look-up a binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doses {
    sprays: Vec<(Seq, DoseState)>,
    others: Vec<(Seq, Ndc)>,
}

/// A dose as the rules remember it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dose<'a> {
    /// A nasal-spray dose: a REMS session may name it.
    Spray(&'a DoseState),
    /// A dose of another form, of this product.
    Other(Ndc),
}

/// Puts `(seq, x)` in its place in `list`, ordered by seq; a seq already there is replaced.
fn put<T>(list: &mut Vec<(Seq, T)>, seq: Seq, x: T) {
    match list.last() {
        Some((last, _)) if *last >= seq => match list.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(i) => list[i].1 = x,
            Err(i) => list.insert(i, (seq, x)),
        },
        _ => list.push((seq, x)),
    }
}

fn find<T>(list: &[(Seq, T)], seq: Seq) -> Option<&T> {
    list.binary_search_by_key(&seq, |(s, _)| *s)
        .ok()
        .map(|i| &list[i].1)
}

impl Doses {
    /// Remembers the dose of entry `seq`; `spray` says whether its product is a nasal spray.
    pub fn insert(&mut self, seq: Seq, dose: DoseState, spray: bool) {
        if spray {
            put(&mut self.sprays, seq, dose);
        } else {
            put(&mut self.others, seq, dose.product);
        }
    }

    /// The dose entry `seq` gave, if it gave one.
    pub fn get(&self, seq: Seq) -> Option<Dose<'_>> {
        if let Some(d) = find(&self.sprays, seq) {
            return Some(Dose::Spray(d));
        }
        find(&self.others, seq).map(|p| Dose::Other(*p))
    }

    /// The nasal-spray doses, in entry order.
    pub fn sprays(&self) -> impl Iterator<Item = (Seq, &DoseState)> {
        self.sprays.iter().map(|(s, d)| (*s, d))
    }

    /// How many doses are remembered.
    pub fn len(&self) -> usize {
        self.sprays.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the dose of entry `seq` from `from`, if it gave one; returns its product.
    pub fn copy_from(&mut self, from: &Doses, seq: Seq) -> Option<Ndc> {
        match from.get(seq)? {
            Dose::Spray(d) => {
                put(&mut self.sprays, seq, *d);
                Some(d.product)
            }
            Dose::Other(p) => {
                put(&mut self.others, seq, p);
                Some(p)
            }
        }
    }

    /// Takes in every dose of `other`.
    pub fn extend(&mut self, other: Doses) {
        for (s, d) in other.sprays {
            put(&mut self.sprays, s, d);
        }
        for (s, p) in other.others {
            put(&mut self.others, s, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ids::PatientRef;
    use crate::types::time::Timestamp;

    fn s(n: u64) -> Seq {
        Seq::new(n).expect("a seq")
    }

    fn dose(product: &str, patient: u8) -> DoseState {
        DoseState {
            patient: PatientRef::from_bytes([patient; 32]),
            product: product.parse().expect("an NDC"),
            given_at: Timestamp::from_micros(1_000).expect("a time"),
        }
    }

    #[test]
    fn doses_are_found_by_entry_whatever_order_they_arrive_in() {
        let mut d = Doses::default();
        let spray = dose("50458-0028-02", 1);
        let vial = dose("0409-2051-05", 2);
        d.insert(s(10), spray, true);
        d.insert(s(12), vial, false);
        // An earlier dose, as a part folded back in brings it.
        d.insert(s(4), vial, false);
        d.insert(s(7), spray, true);
        assert_eq!(d.get(s(10)), Some(Dose::Spray(&spray)));
        assert_eq!(d.get(s(7)), Some(Dose::Spray(&spray)));
        assert_eq!(d.get(s(12)), Some(Dose::Other(vial.product)));
        assert_eq!(d.get(s(4)), Some(Dose::Other(vial.product)));
        assert_eq!(d.get(s(5)), None);
        assert_eq!(d.len(), 4);
        let seqs: Vec<u64> = d.sprays().map(|(s, _)| s.get()).collect();
        assert_eq!(seqs, [7, 10]);

        // Copying and taking back keep one record per entry.
        let mut part = Doses::default();
        assert_eq!(part.copy_from(&d, s(12)), Some(vial.product));
        assert_eq!(part.copy_from(&d, s(5)), None);
        part.insert(s(13), spray, true);
        d.extend(part);
        assert_eq!(d.len(), 5);
        assert_eq!(d.get(s(13)), Some(Dose::Spray(&spray)));
    }
}
