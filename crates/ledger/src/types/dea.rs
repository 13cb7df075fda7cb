//! DEA registration numbers: two letters and seven digits whose last digit checks the others.

use std::fmt;
use std::str::FromStr;

use super::ids::{ParseError, serde_via_str};
use crate::encoding::{Canonical, DecodeError, Reader, Writer, bad};

/// A DEA number such as `AP5836727`. The first letter is the registrant type; the second is
/// the initial of the registrant's last name or business (or `9`); the check digit is the last
/// digit of (d1 + d3 + d5) + 2·(d2 + d4 + d6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeaNumber([u8; 9]);

impl DeaNumber {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("DEA numbers are ASCII")
    }
}

impl FromStr for DeaNumber {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim().to_ascii_uppercase();
        let b = t.as_bytes();
        if b.len() != 9 {
            return Err(ParseError::new(
                "DEA number",
                s,
                "expected two letters and seven digits",
            ));
        }
        if !b[0].is_ascii_uppercase() || !(b[1].is_ascii_uppercase() || b[1] == b'9') {
            return Err(ParseError::new(
                "DEA number",
                s,
                "must start with two letters",
            ));
        }
        if !b[2..].iter().all(|c| c.is_ascii_digit()) {
            return Err(ParseError::new(
                "DEA number",
                s,
                "expected seven digits after the letters",
            ));
        }
        let d: Vec<u32> = b[2..].iter().map(|c| u32::from(c - b'0')).collect();
        let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
        if check != d[6] {
            return Err(ParseError::new(
                "DEA number",
                s,
                "the check digit does not match: please re-read the number",
            ));
        }
        let mut out = [0u8; 9];
        out.copy_from_slice(b);
        Ok(Self(out))
    }
}

impl fmt::Display for DeaNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
serde_via_str!(DeaNumber);

impl Canonical for DeaNumber {
    /// Nine ASCII bytes.
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b: [u8; 9] = r.array("DEA number")?;
        let s = std::str::from_utf8(&b).map_err(bad("DEA number"))?;
        let v: Self = s.parse().map_err(bad("DEA number"))?;
        if v.0 != b {
            return Err(DecodeError::NotCanonical("DEA number is not upper case"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_is_enforced() {
        assert_eq!(
            "AP5836727".parse::<DeaNumber>().unwrap().as_str(),
            "AP5836727"
        );
        assert_eq!(
            "ap5836727".parse::<DeaNumber>().unwrap().as_str(),
            "AP5836727"
        );
        assert!("AP5836728".parse::<DeaNumber>().is_err());
    }

    #[test]
    fn shape_is_enforced() {
        for bad in [
            "",
            "A5836727",
            "AP583672",
            "AP58367270",
            "1P5836727",
            "AP583672X",
            "A-5836727",
        ] {
            assert!(bad.parse::<DeaNumber>().is_err(), "{bad}");
        }
    }
}
