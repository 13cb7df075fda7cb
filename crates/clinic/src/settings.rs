//! The clinic's settings: session lifetimes, the password throttle, the time zone, the REMS
//! check, the late-charting threshold and the clinic's hours.

use std::time::Duration;

/// How sessions last and how wrong passwords are slowed down.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout: Duration,
    /// Wrong passwords an account may have before each further attempt must wait.
    pub free_attempts: u32,
    /// The first wait after the free attempts; each further wrong password doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Wrong passwords one client address may send in `window` (a clinic behind one
    /// address has many people: this is much higher than one account's).
    pub address_limit: u32,
    /// How long wrong passwords are remembered.
    pub window: Duration,
    /// The clinic's time zone: the web pages show and take times in it, and report periods
    /// are its days. The ledger itself stays UTC.
    pub time_zone: custody_report::Zone,
    /// A Spravato dose for a patient not enrolled in the REMS: refused (outpatient settings),
    /// or allowed and logged (inpatient settings, which the REMS exempts).
    pub rems_check: RemsCheck,
    /// The least time, in minutes from the first Spravato device, a REMS session monitors the
    /// patient before it may close (the REMS: at least two hours).
    pub rems_monitoring_minutes: u32,
    /// A dose charted more than this long after it was given needs a reason, recorded in its
    /// entry, so that late documentation shows rather than passes silently.
    pub late_charting: Duration,
    /// The clinic's opening hours: diversion analytics count signatures outside them.
    pub hours: custody_analytics::Hours,
    /// The paper reports are laid out on; `None`: Letter for a registrant with a US
    /// address, A4 otherwise.
    pub paper: Option<custody_report::layout::Paper>,
    /// State PMP profiles: the shipped ones, with the operator's file over them.
    pub pmp_profiles: custody_report::pmp::Profiles,
    /// The states whose PMP the clinic reports to (the dashboard shows their deadlines).
    pub pmp_states: Vec<String>,
}

/// What a Spravato dose for a patient not enrolled in the REMS gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemsCheck {
    #[default]
    Refuse,
    Warn,
}

impl std::str::FromStr for RemsCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "refuse" => Ok(RemsCheck::Refuse),
            "warn" => Ok(RemsCheck::Warn),
            other => Err(format!(
                "{other:?} is not a REMS check: give refuse (outpatient settings) or warn (inpatient settings, which the REMS exempts)"
            )),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            free_attempts: 5,
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
            address_limit: 100,
            window: Duration::from_secs(15 * 60),
            time_zone: custody_report::Zone::utc(),
            rems_check: RemsCheck::Refuse,
            rems_monitoring_minutes: 120,
            late_charting: Duration::from_secs(24 * 3600),
            hours: custody_analytics::Hours::default(),
            paper: None,
            pmp_profiles: custody_report::pmp::Profiles::shipped(),
            pmp_states: Vec::new(),
        }
    }
}
