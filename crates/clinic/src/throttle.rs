//! Wrong passwords, counted in the database per account and per client address, so every
//! server process on one database shares the counts and a restart forgets nothing.
//!
//! An attempt is reserved before the key derivation — counted as a failure at once, in one
//! transaction — and given back when the password was right. So however many attempts
//! arrive together, from however many server processes, at most the free ones are checked;
//! the rest are refused without a key derivation. Within one process an account's checks
//! take turns (`Clinic::turn`), so a burst of correct signatures by one person is never
//! counted as a burst of guesses. After the free attempts, each further attempt must wait, the wait doubling
//! with each wrong password: the guesser is slowed, while nobody can lock an account (or,
//! through one shared address, a whole clinic) for long.

use custody_ledger::Timestamp;
use custody_store::clock::now_micros;
use custody_store::{AttemptRow, Store};

use crate::error::{ClinicError, ClinicResult};
use crate::settings::Settings;

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A reserved attempt: the failures counted with it, to say how many are left.
pub(crate) struct Reserved {
    pub failures: u32,
}

/// The wait after `failures` wrong passwords.
fn delay(s: &Settings, failures: u32) -> i64 {
    if failures < s.free_attempts {
        return 0;
    }
    let doublings = (failures - s.free_attempts).min(20);
    micros(s.first_delay)
        .saturating_mul(1i64 << doublings)
        .min(micros(s.max_delay))
}

/// When the attempt after `failures` wrong passwords counted at `now` is allowed: 0 while
/// attempts are free. Never `now` itself: another process's attempt that read its clock a
/// moment earlier, and reaches the database a moment later, would find "allowed from now"
/// still ahead of it and be refused as if it had to wait.
fn allowed_at(s: &Settings, failures: u32, now: i64) -> i64 {
    match delay(s, failures) {
        0 => 0,
        d => now.saturating_add(d),
    }
}

/// Reserves one attempt for `account` (and, at sign-in, `address`), or says when the next is
/// allowed.
pub(crate) async fn reserve(
    store: &Store,
    s: &Settings,
    account: &str,
    subject: &str,
    address: Option<&str>,
) -> ClinicResult<Reserved> {
    reserve_at(store, s, account, subject, address, now_micros()).await
}

/// As [`reserve`], at `now` (as this process's clock read it).
async fn reserve_at(
    store: &Store,
    s: &Settings,
    account: &str,
    subject: &str,
    address: Option<&str>,
    now: i64,
) -> ClinicResult<Reserved> {
    let window = micros(s.window);
    // Now and then, forget what no longer counts.
    if now % 64 == 0 {
        store.prune_attempts(now - window, now).await?;
    }
    if let Some(address) = address {
        reserve_address(store, s, address, now).await?;
    }
    // The usual case, an account with nothing counted: its first attempt is counted with one
    // statement. Any row there (failures, or another attempt under way) takes the
    // transaction below, which counts attempts one after another.
    let first = AttemptRow {
        failures: 1,
        window_start: now,
        next_at: allowed_at(s, 1, now),
    };
    if store.first_attempt(account, first).await? {
        return Ok(Reserved { failures: 1 });
    }
    let by_account = store
        .with_attempts(account, |row| {
            let row = row.filter(|r| r.window_start > now - window || r.next_at > now);
            match row {
                Some(r) if r.next_at > now => (Some(r), Err(r.next_at)),
                Some(r) => {
                    let failures = r.failures + 1;
                    let next_at = allowed_at(s, failures, now);
                    (
                        Some(AttemptRow {
                            failures,
                            window_start: r.window_start,
                            next_at,
                        }),
                        Ok(failures),
                    )
                }
                None => (
                    Some(AttemptRow {
                        failures: 1,
                        window_start: now,
                        next_at: allowed_at(s, 1, now),
                    }),
                    Ok(1),
                ),
            }
        })
        .await?;
    match by_account {
        Ok(failures) => Ok(Reserved { failures }),
        Err(at) => {
            // The address's reservation is given back: this attempt checked nothing.
            if let Some(address) = address {
                give_back(store, &format!("address:{address}")).await?;
            }
            Err(ClinicError::Throttled {
                subject: subject.to_string(),
                retry_at: Timestamp::from_micros(at).unwrap_or(Timestamp::EPOCH),
            })
        }
    }
}

/// Reserves one attempt of the client `address`, or says when it may try again.
async fn reserve_address(store: &Store, s: &Settings, address: &str, now: i64) -> ClinicResult<()> {
    let window = micros(s.window);
    let limit = s.address_limit;
    let by_address = store
        .with_attempts(&format!("address:{address}"), |row| {
            let row = row.filter(|r| r.window_start > now - window);
            match row {
                Some(r) if r.failures >= limit => (Some(r), Err(r.window_start + window)),
                Some(r) => (
                    Some(AttemptRow {
                        failures: r.failures + 1,
                        ..r
                    }),
                    Ok(()),
                ),
                None => (
                    Some(AttemptRow {
                        failures: 1,
                        window_start: now,
                        next_at: 0,
                    }),
                    Ok(()),
                ),
            }
        })
        .await?;
    if let Err(at) = by_address {
        return Err(ClinicError::Throttled {
            subject: format!("this address ({address})"),
            retry_at: Timestamp::from_micros(at).unwrap_or(Timestamp::EPOCH),
        });
    }
    Ok(())
}

/// The password was right: the account starts afresh and the address's attempt is given
/// back.
pub(crate) async fn succeeded(
    store: &Store,
    account: &str,
    address: Option<&str>,
) -> ClinicResult<()> {
    store.forget_attempts(account).await?;
    match address {
        Some(a) => give_back(store, &format!("address:{a}")).await,
        None => Ok(()),
    }
}

async fn give_back(store: &Store, key: &str) -> ClinicResult<()> {
    store
        .with_attempts(key, |row| match row {
            Some(r) if r.failures > 1 => (
                Some(AttemptRow {
                    failures: r.failures - 1,
                    ..r
                }),
                (),
            ),
            _ => (None, ()),
        })
        .await?;
    Ok(())
}

/// How many wrong passwords are left before a wait, after `failures`.
pub(crate) fn left(s: &Settings, failures: u32) -> u32 {
    s.free_attempts.saturating_sub(failures)
}

#[cfg(test)]
mod tests {
    use custody_ledger::Timestamp;
    use custody_store::Store;

    use super::reserve_at;
    use crate::error::ClinicError;
    use crate::settings::Settings;

    /// One account signing on two server processes of one database: the attempt whose process
    /// read the clock a moment earlier reaches the database a moment after the other's
    /// reservation. It is counted, not refused as if a wait were running; once the free
    /// attempts are used up, the wait holds whatever the clock of the attempt.
    #[tokio::test]
    async fn an_attempt_that_read_the_clock_before_anothers_reservation_is_counted_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = custody_store::sqlite_url(dir.path());
        let (a, b) = (
            Store::open(&url).await.unwrap(),
            Store::open(&url).await.unwrap(),
        );
        let s = Settings::default();
        let account = "account:ledger:nurse.chen";
        let reserve = |store: &Store, now: i64| {
            let (store, s) = (store.clone(), s.clone());
            async move { reserve_at(&store, &s, account, "nurse.chen", None, now).await }
        };
        let t = super::now_micros();
        let first = reserve(&a, t + 1_000).await.unwrap();
        assert_eq!(first.failures, 1);
        let second = reserve(&b, t).await.expect("counted, not refused");
        assert_eq!(second.failures, 2);
        for n in 3..=s.free_attempts {
            assert_eq!(reserve(&a, t + 2_000).await.unwrap().failures, n);
        }
        let wait_ends = t + 2_000 + i64::try_from(s.first_delay.as_micros()).unwrap();
        match reserve(&b, t).await {
            Err(ClinicError::Throttled { retry_at, .. }) => {
                assert_eq!(retry_at, Timestamp::from_micros(wait_ends).unwrap());
            }
            other => panic!(
                "the wait after the free attempts was not kept: {:?}",
                other.map(|r| r.failures)
            ),
        }
    }
}
