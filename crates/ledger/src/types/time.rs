//! Time as the ledger stores it: UTC microseconds for instants, days since 1970-01-01 for dates.

use std::fmt;
use std::str::FromStr;

use time::{Date, OffsetDateTime, format_description::well_known::Rfc3339};

use super::ids::{ParseError, serde_via_str};
use crate::encoding::{Canonical, DecodeError, Reader, Writer, bad};

/// An instant in UTC with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest instant: 1970-01-01T00:00:00Z.
    pub const MIN_MICROS: i64 = 0;
    /// The latest instant: 9999-12-31T23:59:59.999999Z.
    pub const MAX_MICROS: i64 = 253_402_300_799_999_999;
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);

    pub fn from_micros(us: i64) -> Result<Self, ParseError> {
        if !(Self::MIN_MICROS..=Self::MAX_MICROS).contains(&us) {
            return Err(ParseError::new(
                "timestamp",
                &us.to_string(),
                "must lie between 1970 and 9999",
            ));
        }
        Ok(Self(us))
    }
    /// The instant `t`, held to the ledger's range (a clock before 1970 is a broken clock;
    /// the append path then keeps the last entry's time).
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let us = (t.unix_timestamp_nanos() / 1000)
            .clamp(i128::from(Self::MIN_MICROS), i128::from(Self::MAX_MICROS));
        Self(us as i64)
    }
    pub fn micros(self) -> i64 {
        self.0
    }
    pub fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .expect("checked at construction")
    }
    pub fn date(self) -> Day {
        Day(self.datetime().date())
    }
}
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.datetime().format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}
impl FromStr for Timestamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| {
            ParseError::new(
                "timestamp",
                s,
                "expected RFC 3339, e.g. 2026-03-01T14:05:00Z",
            )
        })?;
        Self::from_micros((t.unix_timestamp_nanos() / 1000) as i64)
    }
}
serde_via_str!(Timestamp);
impl Canonical for Timestamp {
    fn encode(&self, w: &mut Writer) {
        w.i64(self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_micros(r.i64("timestamp")?).map_err(bad("timestamp"))
    }
}

/// A calendar date (expiry, beyond-use, received, discovered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(Date);

impl Day {
    /// The date `d`, if it lies between 1900-01-01 and 9999-12-31.
    pub fn new(d: Date) -> Result<Self, ParseError> {
        Self::from_unix_days(d.to_julian_day() - UNIX_EPOCH_JULIAN)
    }
    pub fn date(self) -> Date {
        self.0
    }
    /// Days since 1970-01-01.
    pub fn unix_days(self) -> i32 {
        self.0.to_julian_day() - UNIX_EPOCH_JULIAN
    }
    /// Days since 1970-01-01 of 1900-01-01 and of 9999-12-31: the range of dates.
    pub const MIN_UNIX_DAYS: i32 = -25_567;
    pub const MAX_UNIX_DAYS: i32 = 2_932_896;

    pub fn from_unix_days(d: i32) -> Result<Self, ParseError> {
        if !(Self::MIN_UNIX_DAYS..=Self::MAX_UNIX_DAYS).contains(&d) {
            return Err(ParseError::new(
                "date",
                &d.to_string(),
                "must lie between 1900 and 9999",
            ));
        }
        d.checked_add(UNIX_EPOCH_JULIAN)
            .and_then(|j| Date::from_julian_day(j).ok())
            .map(Self)
            .ok_or_else(|| ParseError::new("date", &d.to_string(), "out of range"))
    }
    /// Midnight UTC at the start of this day (clamped to the range of timestamps).
    pub fn start(self) -> Timestamp {
        let micros = i64::from(self.unix_days()) * 86_400_000_000;
        Timestamp(micros.clamp(Timestamp::MIN_MICROS, Timestamp::MAX_MICROS))
    }
    pub fn plus_days(self, n: i64) -> Option<Self> {
        self.0
            .checked_add(time::Duration::days(n))
            .and_then(|d| Self::new(d).ok())
    }
}
const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}
impl FromStr for Day {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = Date::parse(s.trim(), &fmt)
            .map(Self)
            .map_err(|_| ParseError::new("date", s, "expected YYYY-MM-DD"))?;
        Self::from_unix_days(d.unix_days())
    }
}
serde_via_str!(Day);
impl Canonical for Day {
    fn encode(&self, w: &mut Writer) {
        w.i32(self.unix_days());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_unix_days(r.i32("date")?).map_err(bad("date"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        let d: Day = "2026-03-01".parse().unwrap();
        assert_eq!(Day::from_unix_days(d.unix_days()).unwrap(), d);
        assert_eq!("1970-01-01".parse::<Day>().unwrap().unix_days(), 0);
        assert!("2026-02-30".parse::<Day>().is_err());
        assert!("1899-12-31".parse::<Day>().is_err());
        assert_eq!(
            "1900-01-01".parse::<Day>().unwrap().unix_days(),
            Day::MIN_UNIX_DAYS
        );
        assert_eq!(
            "9999-12-31".parse::<Day>().unwrap().unix_days(),
            Day::MAX_UNIX_DAYS
        );
    }

    #[test]
    fn timestamps_outside_the_range_are_refused_and_all_others_display() {
        assert!(Timestamp::from_micros(-1).is_err());
        assert!(Timestamp::from_micros(Timestamp::MAX_MICROS + 1).is_err());
        let last = Timestamp::from_micros(Timestamp::MAX_MICROS).unwrap();
        assert_eq!(last.to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(
            Timestamp::from_micros(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
    }
}
