//! The clinic's regulatory clocks, as pure date arithmetic: the biennial inventory (21 CFR
//! 1304.11(c): within two years of the previous inventory) and a loss's two deadlines (21 CFR
//! 1301.76(b): written notice to the DEA Field Division within one business day of discovery;
//! DEA Form 106 within 45 days). Days are the clinic's days: callers pass "today" in the
//! clinic's time zone. Business days are Monday to Friday except US federal holidays (as
//! observed: one falling on a Saturday is kept on the Friday before, on a Sunday the Monday
//! after).

use custody_ledger::Day;
use time::{Date, Month, Weekday};

/// The biennial inventory shows on the dashboard from this many days before it is due.
pub const BIENNIAL_WARNING_DAYS: i64 = 60;
/// DEA Form 106 is due this many days after the loss was discovered.
pub const FORM_106_DAYS: i64 = 45;

/// Days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: Day, to: Day) -> i64 {
    i64::from(to.unix_days()) - i64::from(from.unix_days())
}

/// The `n`th `weekday` of `month` (1-based).
fn nth(year: i32, month: Month, weekday: Weekday, n: u8) -> Option<Date> {
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let offset =
        (7 + weekday.number_days_from_monday() - first.weekday().number_days_from_monday()) % 7;
    Date::from_calendar_date(year, month, 1 + offset + 7 * (n - 1)).ok()
}

/// The last `weekday` of `month`.
fn last(year: i32, month: Month, weekday: Weekday) -> Option<Date> {
    let fifth = nth(year, month, weekday, 5);
    fifth.or_else(|| nth(year, month, weekday, 4))
}

/// A fixed-date holiday as observed: Saturday → Friday before, Sunday → Monday after.
fn observed(year: i32, month: Month, day: u8) -> Option<Date> {
    let d = Date::from_calendar_date(year, month, day).ok()?;
    Some(match d.weekday() {
        Weekday::Saturday => d.previous_day()?,
        Weekday::Sunday => d.next_day()?,
        _ => d,
    })
}

/// The US federal holidays (5 U.S.C. 6103) observed in `year`.
pub fn federal_holidays(year: i32) -> Vec<Date> {
    [
        observed(year, Month::January, 1),
        nth(year, Month::January, Weekday::Monday, 3),
        nth(year, Month::February, Weekday::Monday, 3),
        last(year, Month::May, Weekday::Monday),
        if year >= 2021 {
            observed(year, Month::June, 19)
        } else {
            None
        },
        observed(year, Month::July, 4),
        nth(year, Month::September, Weekday::Monday, 1),
        nth(year, Month::October, Weekday::Monday, 2),
        observed(year, Month::November, 11),
        nth(year, Month::November, Weekday::Thursday, 4),
        observed(year, Month::December, 25),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Monday to Friday, and not a federal holiday (New Year's Day of the next year can be
/// observed on 31 December).
pub fn is_business_day(d: Day) -> bool {
    let date = d.date();
    if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
        return false;
    }
    let y = date.year();
    !(federal_holidays(y).contains(&date) || federal_holidays(y + 1).contains(&date))
}

/// The first business day after `d`.
pub fn next_business_day(d: Day) -> Day {
    let mut n = d;
    // A run of non-business days is at most four long (a holiday next to a weekend); the
    // bound only keeps the loop finite at the end of the calendar.
    for _ in 0..14 {
        match n.plus_days(1) {
            Some(next) => n = next,
            None => return n,
        }
        if is_business_day(n) {
            return n;
        }
    }
    n
}

/// When a loss's two reports are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossDeadlines {
    /// Written notice to the DEA Field Division: one business day after discovery.
    pub notice_due: Day,
    /// DEA Form 106: 45 days after discovery.
    pub form_106_due: Day,
}

impl LossDeadlines {
    pub fn of(discovered_on: Day) -> Self {
        Self {
            notice_due: next_business_day(discovered_on),
            form_106_due: discovered_on
                .plus_days(FORM_106_DAYS)
                .unwrap_or(discovered_on),
        }
    }
}

/// Where one deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineStatus {
    /// Not done; due in `days_left` days (0: today).
    Due { due: Day, days_left: i64 },
    /// Not done and past its day.
    Overdue { due: Day, days_over: i64 },
    /// Done on `on`, by the day it was due.
    Met { due: Day, on: Day },
    /// Done on `on`, after the day it was due.
    Late { due: Day, on: Day },
}

impl DeadlineStatus {
    pub fn of(due: Day, done_on: Option<Day>, today: Day) -> Self {
        match done_on {
            Some(on) if on <= due => Self::Met { due, on },
            Some(on) => Self::Late { due, on },
            None => {
                let left = days_between(today, due);
                if left < 0 {
                    Self::Overdue {
                        due,
                        days_over: -left,
                    }
                } else {
                    Self::Due {
                        due,
                        days_left: left,
                    }
                }
            }
        }
    }
    pub fn due(self) -> Day {
        match self {
            Self::Due { due, .. }
            | Self::Overdue { due, .. }
            | Self::Met { due, .. }
            | Self::Late { due, .. } => due,
        }
    }
    pub fn is_open(self) -> bool {
        matches!(self, Self::Due { .. } | Self::Overdue { .. })
    }
    /// As a person reads it.
    pub fn describe(self) -> String {
        match self {
            Self::Due { due, days_left: 0 } => format!("due today ({due})"),
            Self::Due { due, days_left: 1 } => format!("due tomorrow ({due})"),
            Self::Due { due, days_left } => format!("due {due} (in {days_left} days)"),
            Self::Overdue { due, days_over } => {
                format!("OVERDUE: was due {due} ({days_over} day(s) ago)")
            }
            Self::Met { due, on } => format!("done {on} (due {due})"),
            Self::Late { due, on } => format!("done late {on} (was due {due})"),
        }
    }
}

/// The day two years after `d` (29 February → 28 February).
pub fn two_years_after(d: Day) -> Day {
    let date = d.date();
    let y = date.year() + 2;
    let moved = date
        .replace_year(y)
        .or_else(|_| Date::from_calendar_date(y, date.month(), 28));
    moved.ok().and_then(|m| Day::new(m).ok()).unwrap_or(d)
}

/// The biennial inventory clock, from the date of the last inventory (initial or biennial).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BiennialClock {
    pub last: Day,
    pub due: Day,
    /// Negative: overdue by that many days.
    pub days_left: i64,
}

impl BiennialClock {
    pub fn of(last: Day, today: Day) -> Self {
        let due = two_years_after(last);
        Self {
            last,
            due,
            days_left: days_between(today, due),
        }
    }
    /// Shown on the dashboard: from 60 days before it is due.
    pub fn shown(&self) -> bool {
        self.days_left <= BIENNIAL_WARNING_DAYS
    }
    pub fn overdue(&self) -> bool {
        self.days_left < 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn friday_notice_is_due_on_monday() {
        // 2026-11-27 is a Friday (the day after Thanksgiving, not a federal holiday).
        let d = LossDeadlines::of(day("2026-11-27"));
        assert_eq!(d.notice_due, day("2026-11-30"));
        assert_eq!(d.form_106_due, day("2027-01-11"));
    }

    #[test]
    fn weekday_notice_is_due_the_next_day() {
        assert_eq!(next_business_day(day("2026-11-24")), day("2026-11-25"));
    }

    #[test]
    fn holidays_are_not_business_days() {
        // Wednesday before Thanksgiving 2026 (26 Nov) → Friday.
        assert_eq!(next_business_day(day("2026-11-25")), day("2026-11-27"));
        // Friday before Labor Day 2026 (7 Sep) → Tuesday.
        assert_eq!(next_business_day(day("2026-09-04")), day("2026-09-08"));
        // Independence Day 2026 is a Saturday, observed Friday 3 July.
        assert!(!is_business_day(day("2026-07-03")));
        assert_eq!(next_business_day(day("2026-07-02")), day("2026-07-06"));
        // New Year's Day 2028 is a Saturday, observed Friday 31 December 2027.
        assert!(!is_business_day(day("2027-12-31")));
        // Christmas 2027 is a Saturday: observed Friday 24 December.
        assert!(!is_business_day(day("2027-12-24")));
        // MLK Day 2027: third Monday of January = 18 January.
        assert!(!is_business_day(day("2027-01-18")));
        // Memorial Day 2026: last Monday of May = 25 May.
        assert!(!is_business_day(day("2026-05-25")));
        assert!(is_business_day(day("2026-05-18")));
    }

    #[test]
    fn a_saturday_discovery_is_due_monday() {
        assert_eq!(next_business_day(day("2026-11-28")), day("2026-11-30"));
    }

    #[test]
    fn statuses() {
        let due = day("2026-11-30");
        assert_eq!(
            DeadlineStatus::of(due, None, day("2026-11-28")),
            DeadlineStatus::Due { due, days_left: 2 }
        );
        assert_eq!(
            DeadlineStatus::of(due, None, day("2026-12-02")),
            DeadlineStatus::Overdue { due, days_over: 2 }
        );
        assert_eq!(
            DeadlineStatus::of(due, Some(day("2026-11-30")), day("2026-12-02")),
            DeadlineStatus::Met {
                due,
                on: day("2026-11-30")
            }
        );
        assert!(!DeadlineStatus::of(due, Some(day("2026-12-01")), day("2026-12-02")).is_open());
        assert!(DeadlineStatus::of(due, None, day("2026-12-02")).is_open());
    }

    #[test]
    fn biennial_clock() {
        assert_eq!(two_years_after(day("2024-02-29")), day("2026-02-28"));
        let c = BiennialClock::of(day("2024-12-01"), day("2026-10-01"));
        assert_eq!(c.due, day("2026-12-01"));
        assert_eq!(c.days_left, 61);
        assert!(!c.shown());
        let c = BiennialClock::of(day("2024-12-01"), day("2026-10-02"));
        assert!(c.shown() && !c.overdue());
        let c = BiennialClock::of(day("2024-12-01"), day("2026-12-02"));
        assert!(c.overdue());
        assert_eq!(c.days_left, -1);
    }
}
