//! How a SQLite connection waits while another holds the database's one write lock.
//!
//! SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries
//! (`sqliteDefaultBusyCallback`), while a commit here holds the lock for a fraction of a
//! millisecond. A server's writes meet each other all the time — a signed write's throttle
//! reservation beside another's append, two appends' groups — and each time the one that
//! waited slept on after the lock was free again: `strace` of a server under `custody bench
//! --http` counted about one such sleep a signed write, up to 20 ms each, added to that
//! write's time (docs/performance.md). This handler tries again after 50 µs, doubling to at
//! most 1 ms, and gives up after [`PATIENCE`] as the timeout did.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libsqlite3_sys::{SQLITE_OK, sqlite3_busy_handler};
use sea_orm::sqlx::sqlite::SqliteConnection;

/// How long a write waits for the lock before it fails as busy.
pub const PATIENCE: Duration = Duration::from_secs(60);
const FIRST: Duration = Duration::from_micros(50);
const LONGEST: Duration = Duration::from_millis(1);

/// Times a connection of this process found the lock held and waited: contention, for
/// `/metrics` and for the test that the handler is installed.
static WAITS: AtomicU64 = AtomicU64::new(0);

/// How many times a connection of this process has waited for another's write lock.
pub fn waits() -> u64 {
    WAITS.load(Ordering::Relaxed)
}

/// The pause before try `tries + 1`: 50 µs, doubling, at most 1 ms.
fn pause(tries: u32) -> Duration {
    FIRST.saturating_mul(1 << tries.min(5)).min(LONGEST)
}

/// The pauses before try `tries + 1`, added up (what was slept, at the least).
fn waited(tries: u32) -> Duration {
    let rising: Duration = (0..tries.min(5)).map(pause).sum();
    rising + LONGEST.saturating_mul(tries.saturating_sub(5))
}

/// SQLite calls this on the connection's own thread each time it finds the lock held;
/// `tries` counts the calls for this one statement. Nonzero means try again.
extern "C" fn wait(_: *mut c_void, tries: c_int) -> c_int {
    let tries = u32::try_from(tries).unwrap_or(0);
    if waited(tries) >= PATIENCE {
        return 0;
    }
    WAITS.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(pause(tries));
    1
}

/// Puts the handler on a new connection, in place of the busy timeout it opened with.
pub(crate) async fn install(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is a live connection, held locked for this call; `wait` touches no
    // connection and keeps no pointer, so it may run on any thread SQLite calls it from.
    let rc = unsafe {
        sqlite3_busy_handler(
            handle.as_raw_handle().as_ptr(),
            Some(wait),
            std::ptr::null_mut(),
        )
    };
    if rc == SQLITE_OK {
        Ok(())
    } else {
        Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the busy handler (code {rc})").into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_start_short_double_and_stay_at_a_millisecond() {
        let us: Vec<u128> = (0..8).map(|t| pause(t).as_micros()).collect();
        assert_eq!(us, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(waited(0), Duration::ZERO);
        assert_eq!(waited(3), Duration::from_micros(350));
        assert_eq!(waited(7), Duration::from_micros(1550 + 2000));
    }

    #[test]
    fn a_writer_waits_a_minute_as_the_busy_timeout_did_then_gives_up() {
        let last = (0..u32::MAX)
            .find(|&t| waited(t) >= PATIENCE)
            .expect("the pauses add up to the patience");
        assert!(waited(last - 1) < PATIENCE);
        assert!(waited(last) <= PATIENCE + LONGEST);
        assert_eq!(
            wait(std::ptr::null_mut(), c_int::try_from(last).unwrap()),
            0
        );
        assert_eq!(wait(std::ptr::null_mut(), c_int::MAX), 0);
    }
}
