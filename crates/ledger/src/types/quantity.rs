//! Exact quantities: integers in the smallest unit. No floating point, ever.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ids::ParseError;
use crate::encoding::{Canonical, DecodeError, Reader, Writer};

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $unit:literal, $big:literal, $what:literal, $big_what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const ZERO: $name = $name(0);
            pub const fn new(v: u64) -> Self {
                Self(v)
            }
            pub const fn get(self) -> u64 {
                self.0
            }
            pub fn checked_add(self, o: Self) -> Option<Self> {
                self.0.checked_add(o.0).map(Self)
            }
            pub fn checked_sub(self, o: Self) -> Option<Self> {
                self.0.checked_sub(o.0).map(Self)
            }
            pub fn is_zero(self) -> bool {
                self.0 == 0
            }
            /// Parses a decimal amount in the larger unit ("12.5" mg → 12 500 µg) exactly;
            /// more than three decimals is an error, never a rounding.
            pub fn parse_thousandths(s: &str) -> Result<Self, ParseError> {
                parse_thousandths(s, $big_what).map(Self)
            }
        }
        impl fmt::Display for $name {
            /// Shown in the larger unit with exact decimals: `12.5 mg`, `0.001 mL`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", thousandths(self.0), $big)
            }
        }
        impl FromStr for $name {
            type Err = ParseError;
            /// Accepts `12500` (in the small unit) or `12.5 mg` / `12.5mg` (in the large one).
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let t = s.trim();
                if let Some(n) = t.strip_suffix($big) {
                    return Self::parse_thousandths(n.trim());
                }
                let n = t.strip_suffix($unit).unwrap_or(t).trim();
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::new($what, s, concat!("expected a whole number of ", $unit, " or a decimal number of ", $big)));
                }
                n.parse().map(Self).map_err(|_| ParseError::new($what, s, "too large"))
            }
        }
        impl Canonical for $name {
            fn encode(&self, w: &mut Writer) {
                w.u64(self.0);
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self(r.u64($what)?))
            }
        }
    };
}

quantity!(
    /// Mass of drug, in micrograms.
    Micrograms, "µg", "mg", "amount (µg)", "amount (mg)"
);
quantity!(
    /// A patient's body weight, in grams (typed in kg): what a dose by weight is worked
    /// out from. It is never recorded in an entry.
    Grams, "g", "kg", "weight (g)", "weight (kg)"
);
quantity!(
    /// Volume, in microlitres.
    Microliters, "µL", "mL", "volume (µL)", "volume (mL)"
);

/// Countable units: devices, lozenges, tablets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Units(u32);

impl Units {
    pub const fn new(v: u32) -> Self {
        Self(v)
    }
    pub const fn get(self) -> u32 {
        self.0
    }
}
impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} unit{}", self.0, if self.0 == 1 { "" } else { "s" })
    }
}
impl Canonical for Units {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.u32("units")?))
    }
}

/// `12500` → `"12.5"`, `3` → `"0.003"`, `7000` → `"7"`.
pub fn thousandths(v: u64) -> String {
    let whole = v / 1000;
    let frac = v % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:03}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

fn parse_thousandths(s: &str, what: &'static str) -> Result<u64, ParseError> {
    let bad = |r| ParseError::new(what, s, r);
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if w.is_empty() && f.is_empty() {
        return Err(bad("expected a number"));
    }
    if s.trim_start().starts_with('-') {
        return Err(bad(
            "an amount cannot be negative: give how much, such as 12.5",
        ));
    }
    if !w.bytes().all(|b| b.is_ascii_digit()) || !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "expected a number such as 12.5, with a point for decimals",
        ));
    }
    if f.len() > 3 {
        return Err(bad(
            "more than three decimals: that is finer than the smallest unit",
        ));
    }
    let whole: u64 = if w.is_empty() {
        0
    } else {
        w.parse().map_err(|_| bad("too large"))?
    };
    let frac: u64 = if f.is_empty() {
        0
    } else {
        format!("{f:0<3}").parse().map_err(|_| bad("too large"))?
    };
    whole
        .checked_mul(1000)
        .and_then(|x| x.checked_add(frac))
        .ok_or_else(|| bad("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_parse_exactly() {
        assert_eq!("12.5 mg".parse::<Micrograms>().unwrap().get(), 12_500);
        assert_eq!("0.001mg".parse::<Micrograms>().unwrap().get(), 1);
        assert_eq!("250".parse::<Micrograms>().unwrap().get(), 250);
        assert_eq!("2.5 mL".parse::<Microliters>().unwrap().get(), 2_500);
        for bad in ["", "-5", "1.0001 mg", "1e3", "abc", "1,5 mg", ". mg"] {
            assert!(bad.parse::<Micrograms>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refused_amount_is_named_in_the_unit_it_was_typed_in() {
        let e = Micrograms::parse_thousandths("-5").unwrap_err();
        assert_eq!(e.what, "amount (mg)");
        assert!(e.reason.contains("cannot be negative"), "{e}");
        let e = Microliters::parse_thousandths("1,5").unwrap_err();
        assert_eq!(e.what, "volume (mL)");
        assert!(e.reason.contains("a point for decimals"), "{e}");
        // Typed in the small unit, named in it.
        assert_eq!("x".parse::<Micrograms>().unwrap_err().what, "amount (µg)");
    }

    #[test]
    fn amounts_display_without_rounding() {
        assert_eq!(Micrograms::new(12_500).to_string(), "12.5 mg");
        assert_eq!(Micrograms::new(3).to_string(), "0.003 mg");
        assert_eq!(Microliters::new(20_000).to_string(), "20 mL");
    }
}
