//! Free text that people write: names, addresses, reasons.

use std::fmt;
use std::str::FromStr;

use super::ids::{ParseError, serde_via_str};
use crate::encoding::{Canonical, DecodeError, Reader, Writer, bad};

/// Non-empty text of at most 1000 characters, trimmed, without control characters other
/// than line breaks (addresses have several lines).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 1000;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Text {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ParseError::new("text", s, "must not be empty"));
        }
        if t.chars().count() > Self::MAX_CHARS {
            return Err(ParseError::new("text", s, "longer than 1000 characters"));
        }
        if t.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ParseError::new("text", s, "contains control characters"));
        }
        Ok(Self(t.to_owned()))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
serde_via_str!(Text);

impl Canonical for Text {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let s = r.str("text")?;
        let v: Self = s.parse().map_err(bad("text"))?;
        if v.0 != s {
            return Err(DecodeError::NotCanonical("text is not trimmed"));
        }
        Ok(v)
    }
}

/// Builds `Text` from a literal in code and tests; panics on invalid text, so never use it on input.
#[macro_export]
macro_rules! text {
    ($s:expr) => {
        <$crate::Text as ::std::str::FromStr>::from_str($s).expect("literal text is valid")
    };
}
