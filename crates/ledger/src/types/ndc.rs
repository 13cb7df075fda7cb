//! National Drug Code: accepted in any of the FDA's 10-digit layouts or as 11 digits, kept in
//! the 11-digit 5-4-2 form that billing and DEA reports use.

use std::fmt;
use std::str::FromStr;

use super::ids::{ParseError, serde_via_str};
use crate::encoding::{Canonical, DecodeError, Reader, Writer, bad};

/// An NDC in 5-4-2 form (`12345-6789-01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ndc([u8; 11]);

impl Ndc {
    /// The 11 digits without dashes.
    pub fn digits(&self) -> &str {
        std::str::from_utf8(&self.0).expect("NDC digits are ASCII")
    }
}

impl FromStr for Ndc {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let parts: Vec<&str> = t.split('-').collect();
        if !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ParseError::new(
                "NDC",
                s,
                "expected digits in 4-4-2, 5-3-2, 5-4-1 or 5-4-2 form, or 11 digits",
            ));
        }
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        let (labeler, product, package) = match lens.as_slice() {
            [11] => (&t[0..5], &t[5..9], &t[9..11]),
            [4, 4, 2] | [5, 3, 2] | [5, 4, 1] | [5, 4, 2] => (parts[0], parts[1], parts[2]),
            [10] => {
                return Err(ParseError::new(
                    "NDC",
                    s,
                    "10 digits without dashes are ambiguous: write them with dashes (4-4-2, 5-3-2 or 5-4-1)",
                ));
            }
            _ => {
                return Err(ParseError::new(
                    "NDC",
                    s,
                    "expected 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits, or 11 digits",
                ));
            }
        };
        let normal = format!("{labeler:0>5}{product:0>4}{package:0>2}");
        let mut out = [0u8; 11];
        out.copy_from_slice(normal.as_bytes());
        Ok(Self(out))
    }
}

impl fmt::Display for Ndc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}-{}", &d[0..5], &d[5..9], &d[9..11])
    }
}
serde_via_str!(Ndc);

impl Canonical for Ndc {
    /// Eleven ASCII digits, no dashes.
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b: [u8; 11] = r.array("NDC")?;
        let s = std::str::from_utf8(&b).map_err(bad("NDC"))?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DecodeError::BadValue {
                what: "NDC",
                reason: "not 11 digits".into(),
            });
        }
        Ok(Self(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_normalises_to_5_4_2() {
        let cases = [
            ("0409-2051-05", "00409-2051-05"),
            ("42023-115-10", "42023-0115-10"),
            ("50458-028-02", "50458-0028-02"),
            ("12345-6789-1", "12345-6789-01"),
            ("12345-6789-01", "12345-6789-01"),
            ("12345678901", "12345-6789-01"),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Ndc>().unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn malformed_ndcs_are_refused() {
        for bad in [
            "",
            "1234-567-89",
            "123456789",
            "1234567890",
            "12345-6789-012",
            "abcde-fghi-jk",
            "12345--6789",
            "123456-789-01",
            "1234-5678-9",
        ] {
            assert!(bad.parse::<Ndc>().is_err(), "{bad}");
        }
    }
}
