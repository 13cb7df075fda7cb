//! The canonical byte encoding (format version 1): the one way each value is written, and a
//! strict reader that refuses anything that is not exactly that way.
//!
//! Integers are fixed-width big-endian; strings and byte strings carry a `u32` length;
//! options a `0x00`/`0x01` tag; lists a `u32` count; enums a `u8` tag. `docs/ledger-format.md`
//! is the specification; this module is its only implementation.

use thiserror::Error;

/// Why bytes could not be read as a canonical value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("the encoding ends early, inside {0}")]
    Truncated(&'static str),
    #[error("{0} bytes follow the end of the encoding")]
    TrailingBytes(usize),
    #[error("tag {tag} is not a valid {what}")]
    BadTag { what: &'static str, tag: u16 },
    #[error("{what} is invalid: {reason}")]
    BadValue { what: &'static str, reason: String },
    #[error("the encoding is not canonical: {0}")]
    NotCanonical(&'static str),
    #[error("a list of {0} items is longer than this format allows")]
    TooLong(u64),
}

/// The largest list or string the format accepts; keeps a hostile input from asking for
/// gigabytes before its bytes are checked.
pub const MAX_LEN: u32 = 1 << 20;

/// The format version whose payloads a `Writer` or `Reader` handles when none is named: the
/// current one. A payload field added in a later version is written and read only in entries
/// of that version (`docs/ledger-format.md` §4.2).
pub const CURRENT_PAYLOAD_VERSION: u8 = 4;

/// Appends canonical bytes.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    version: u8,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            version: CURRENT_PAYLOAD_VERSION,
        }
    }
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    /// A writer of payloads as entries of format `version` hold them.
    pub fn for_version(version: u8) -> Self {
        Self {
            buf: Vec::new(),
            version,
        }
    }
    /// The format version whose payload fields are written.
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Writes what follows as an entry of format `version` holds it.
    pub fn set_version(&mut self, version: u8) {
        self.version = version;
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub fn bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).expect("values are bounded far below 4 GiB");
        self.u32(len);
        self.raw(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
    pub fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        let len = u32::try_from(items.len()).expect("lists are bounded far below 4 GiB");
        self.u32(len);
        for item in items {
            f(self, item);
        }
    }
}

/// Reads canonical bytes, refusing anything non-canonical.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    version: u8,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            version: CURRENT_PAYLOAD_VERSION,
        }
    }
    /// The format version whose payload fields are read.
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Reads what follows as an entry of format `version` holds it (the entry's first byte).
    pub fn set_version(&mut self, version: u8) {
        self.version = version;
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
    pub fn raw(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated(what))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.raw(N, what)?);
        Ok(out)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag {
                what,
                tag: u16::from(tag),
            }),
        }
    }
    fn len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let len = self.u32(what)?;
        if len > MAX_LEN {
            return Err(DecodeError::TooLong(u64::from(len)));
        }
        Ok(len as usize)
    }
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.len(what)?;
        self.raw(len, what)
    }
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| DecodeError::BadValue {
            what,
            reason: "not UTF-8".into(),
        })
    }
    pub fn option<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.bool(what)? {
            Ok(Some(f(self)?))
        } else {
            Ok(None)
        }
    }
    pub fn list<T>(
        &mut self,
        what: &'static str,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.len(what)?;
        // Each item takes at least one byte, so a count beyond what is left is a lie.
        if len > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated(what));
        }
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(f(self)?);
        }
        Ok(out)
    }
}

/// A value with one canonical encoding.
pub trait Canonical: Sized {
    fn encode(&self, w: &mut Writer);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }
    /// Decodes exactly one value: trailing bytes are an error.
    fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// Maps a domain parse error into a decode error, so decoding builds values only through their
/// validating constructors.
pub(crate) fn bad<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> DecodeError {
    move |e| DecodeError::BadValue {
        what,
        reason: e.to_string(),
    }
}
