//! The clinic's time zone: how an instant of the ledger (always UTC) is read and typed by
//! people, and where a clinic's day begins and ends.
//!
//! Zones come from the IANA database bundled into the binary (jiff), so a zone name means
//! the same on every machine, with or without `/usr/share/zoneinfo`.

use custody_ledger::{Day, Timestamp};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// Why a zone name or a local time is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error(
        "{0:?} is not a time zone: give an IANA name such as America/Chicago, Europe/Berlin or UTC"
    )]
    Unknown(String),
    #[error("{0:?} is not a date and time: give it as YYYY-MM-DDTHH:MM")]
    NotATime(String),
    #[error(
        "{time} does not exist in {zone}: the clocks skipped from {before} to {after} that night. Enter a time before or after the change."
    )]
    Nonexistent {
        time: String,
        zone: String,
        before: String,
        after: String,
    },
    #[error("{0} lies outside the ledger's years (1970 to 9999)")]
    OutOfRange(String),
}

/// A time zone by its IANA name.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Zone {}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for Zone {
    type Err = ZoneError;
    fn from_str(s: &str) -> Result<Self, ZoneError> {
        Self::named(s)
    }
}

impl Zone {
    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone of an IANA name (`America/Chicago`, `UTC`), from the bundled database.
    pub fn named(name: &str) -> Result<Self, ZoneError> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("UTC") {
            return Ok(Self::utc());
        }
        let tz = TimeZone::get(name).map_err(|_| ZoneError::Unknown(name.to_string()))?;
        Ok(Self {
            name: tz.iana_name().unwrap_or(name).to_string(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone itself, for folds that need local hours (analytics).
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    fn zoned(&self, t: Timestamp) -> jiff::Zoned {
        // Every ledger timestamp (1970..9999) is within jiff's range.
        jiff::Timestamp::from_microsecond(t.micros())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
    }

    /// An instant as people read it here, to the minute, with the zone's abbreviation:
    /// `2026-11-29 09:14 CST`.
    pub fn show(&self, t: Timestamp) -> String {
        self.zoned(t).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// An instant as a `datetime-local` input holds it here: `2026-11-29T09:14`.
    pub fn input(&self, t: Timestamp) -> String {
        self.zoned(t).strftime("%Y-%m-%dT%H:%M").to_string()
    }

    /// The local day an instant falls on.
    pub fn day_of(&self, t: Timestamp) -> Day {
        let d = self.zoned(t).date();
        day(d).unwrap_or_else(|| t.date())
    }

    /// Today here.
    pub fn today(&self) -> Day {
        self.day_of(custody_store::clock::now())
    }

    /// The instant a local day begins (local midnight, or the first instant of the day
    /// when midnight itself is skipped by a clock change).
    pub fn start_of(&self, d: Day) -> Timestamp {
        let date = d.date();
        let civil = jiff::civil::Date::new(
            i16::try_from(date.year()).unwrap_or(9999),
            i8::try_from(u8::from(date.month())).unwrap_or(1),
            i8::try_from(date.day()).unwrap_or(1),
        );
        let start = civil
            .ok()
            .and_then(|c| {
                self.tz
                    .to_ambiguous_zoned(c.to_datetime(jiff::civil::Time::midnight()))
                    .compatible()
                    .ok()
            })
            .and_then(|z| Timestamp::from_micros(z.timestamp().as_microsecond()).ok());
        start.unwrap_or_else(|| d.start())
    }

    /// The instant of the start of the day after `d` here (the end of `d`, exclusive).
    pub fn end_of(&self, d: Day) -> Timestamp {
        match d.plus_days(1) {
            Some(next) => self.start_of(next),
            None => Timestamp::from_micros(Timestamp::MAX_MICROS).unwrap_or(Timestamp::EPOCH),
        }
    }

    /// A local time as typed (`YYYY-MM-DDTHH:MM`, seconds optional), as the instant it
    /// names here. A time the clocks skipped (spring forward) is refused; a time that
    /// happened twice (fall back) is the earlier of the two, and [`Zone::show`] of the
    /// result names which by its abbreviation (e.g. CDT, not CST).
    /// An RFC 3339 time with its own offset is taken as it says.
    pub fn parse_local(&self, s: &str) -> Result<Timestamp, ZoneError> {
        let s = s.trim();
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(t);
        }
        let dt: jiff::civil::DateTime =
            s.parse().map_err(|_| ZoneError::NotATime(s.to_string()))?;
        let amb = self.tz.to_ambiguous_zoned(dt);
        let shown = dt.strftime("%Y-%m-%d %H:%M").to_string();
        let z = match amb.offset() {
            AmbiguousOffset::Gap { before, .. } => {
                // Read with the offset before the change, the typed time lands just after it.
                let change = dt
                    .to_zoned(TimeZone::fixed(before))
                    .ok()
                    .and_then(|z| self.tz.preceding(z.timestamp()).next())
                    .map(|tr| tr.timestamp());
                let wall = |t: jiff::Timestamp| {
                    t.to_zoned(self.tz.clone()).strftime("%H:%M %Z").to_string()
                };
                return Err(ZoneError::Nonexistent {
                    time: shown,
                    zone: self.name.clone(),
                    before: change
                        .and_then(|t| t.checked_sub(jiff::SignedDuration::from_secs(60)).ok())
                        .map_or_else(|| "the old time".into(), wall),
                    after: change.map_or_else(|| "the new time".into(), wall),
                });
            }
            _ => amb
                .earlier()
                .map_err(|_| ZoneError::OutOfRange(shown.clone()))?,
        };
        Timestamp::from_micros(z.timestamp().as_microsecond())
            .map_err(|_| ZoneError::OutOfRange(shown))
    }
}

fn day(d: jiff::civil::Date) -> Option<Day> {
    let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?)
            .ok()?;
    Day::new(date).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> Zone {
        Zone::named("America/Chicago").unwrap()
    }

    #[test]
    fn unknown_zone_is_refused() {
        assert!(matches!(
            Zone::named("Mars/Olympus"),
            Err(ZoneError::Unknown(_))
        ));
    }

    #[test]
    fn local_time_is_the_right_instant_across_dst() {
        let z = chicago();
        // Winter: UTC-6; summer: UTC-5.
        assert_eq!(
            z.parse_local("2026-01-15T09:14").unwrap().to_string(),
            "2026-01-15T15:14:00Z"
        );
        assert_eq!(
            z.parse_local("2026-07-15T09:14").unwrap().to_string(),
            "2026-07-15T14:14:00Z"
        );
        let t = z.parse_local("2026-11-29T09:14").unwrap();
        assert_eq!(z.show(t), "2026-11-29 09:14 CST");
        assert_eq!(z.input(t), "2026-11-29T09:14");
    }

    #[test]
    fn the_gap_is_refused_and_the_fold_is_the_earlier() {
        let z = chicago();
        let err = z.parse_local("2026-03-08T02:30").unwrap_err();
        let said = err.to_string();
        assert!(said.contains("does not exist in America/Chicago"), "{said}");
        assert!(
            said.contains("01:59 CST") && said.contains("03:00 CDT"),
            "{said}"
        );
        let t = z.parse_local("2026-11-01T01:30").unwrap();
        assert_eq!(t.to_string(), "2026-11-01T06:30:00Z");
        assert_eq!(z.show(t), "2026-11-01 01:30 CDT");
    }

    #[test]
    fn a_day_is_local_midnight_to_local_midnight() {
        let z = chicago();
        let d: Day = "2026-11-29".parse().unwrap();
        assert_eq!(z.start_of(d).to_string(), "2026-11-29T06:00:00Z");
        assert_eq!(z.end_of(d).to_string(), "2026-11-30T06:00:00Z");
        let t: Timestamp = "2026-11-30T05:30:00Z".parse().unwrap();
        assert_eq!(z.day_of(t), d);
        assert_eq!(Zone::utc().start_of(d), d.start());
    }
}
