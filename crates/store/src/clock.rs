//! The server's clock, read in the ledger's units: every "now" the crates above ask for (a
//! signing time, a register row's update, a throttle's window) is read here, once.

use custody_ledger::Timestamp;

/// Now, by this machine's clock.
pub fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

/// Now, in µs since the epoch.
pub fn now_micros() -> i64 {
    now().micros()
}
