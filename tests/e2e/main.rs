//! End-to-end tests of the real `custody` binary on real SQLite files.
//! (All in one test binary, for link time.)

mod acts;
mod analytics;
mod bench;
mod browser;
mod checkpoints;
mod cli;
mod clinic;
mod cores;
mod cosigned;
mod crash;
mod csv_reports;
mod discrepancies;
mod doses;
mod fuzz;
mod golive;
mod harness;
mod http;
mod openapi;
mod password;
mod pmp;
mod proofs;
mod rems;
mod reports;
mod secrets;
mod tamper;
mod tiles;
mod timezone;
mod verifier;
mod web;
mod witness;
mod witnessed;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Runs `custody` with `args`.
pub fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env_remove("CUSTODY_DATABASE_URL")
        .env_remove("CUSTODY_DATA")
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
        .output()
        .expect("custody runs")
}

/// A line on the test run's standard error that `cargo test` shows even when the test passes
/// (the suites' counts: `print!` output is captured).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The registrant public key (hex) of the clinic in `d`, as `custody status` prints it.
pub fn registrant_key(d: &Path) -> String {
    let o = custody(&["status", "--data", d.to_str().unwrap()]);
    stdout(&o)
        .lines()
        .find(|l| l.starts_with("registrant"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string()
}

/// Today in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// An expiry date two years ahead (`MM-DD` in the year after next), so stock the tests
/// receive stays usable whenever they run: doses are checked against the real date.
pub fn expiry(month_day: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    // Whole years since 1970, to the day or so: two years' margin makes that enough.
    format!("{}-{month_day}", 1970 + secs / 31_556_952 + 2)
}

/// The demo clinic made once per test run (`custody demo --seed 7`): its directory, the
/// sign-in passwords and the period of its history, as the command printed them.
pub struct Demo {
    pub dir: PathBuf,
    pub passwords: HashMap<String, String>,
    /// The first and last days of the demo's history (`YYYY-MM-DD`).
    pub period: (String, String),
    _tmp: tempfile::TempDir,
}

/// The demo clinic, made on first use; tests copy it and never change this one.
pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("clinic");
        let o = custody(&["demo", "--data", d.to_str().unwrap(), "--seed", "7"]);
        assert!(o.status.success(), "demo failed: {}", stderr(&o));
        let out = stdout(&o);
        let (passwords, period) = demo_output(&out);
        Demo {
            dir: d,
            passwords,
            period: period.unwrap_or_else(|| panic!("the demo prints its history: {out}")),
            _tmp: t,
        }
    })
}

/// What the demo prints (`custody demo`, or `custody serve --demo` on an empty directory):
/// its users' passwords (`  user role password`) and the period of its history
/// (`history FIRST to LAST …`).
pub fn demo_output(out: &str) -> (HashMap<String, String>, Option<(String, String)>) {
    let mut passwords = HashMap::new();
    let mut period = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  ") && words.len() == 3 {
            passwords.insert(words[0].to_string(), words[2].to_string());
        } else if let ["history", first, "to", last, ..] = words[..] {
            period = Some((first.to_string(), last.to_string()));
        }
    }
    (passwords, period)
}

/// The period the demo clinic's history covers, as `(from, to)` for reports: its first day
/// and the day before it was recorded. The demo's calendar is relative to the day it is
/// recorded (two months ending yesterday), so tests take the period from what the demo
/// printed rather than computing it again: a run that crosses midnight still gets the
/// demo's own days.
pub fn demo_period() -> (&'static str, &'static str) {
    let (from, to) = &demo().period;
    (from, to)
}

/// The directory of the demo clinic.
pub fn demo_template() -> &'static Path {
    &demo().dir
}

/// A private copy of the demo clinic.
pub fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path().join("clinic");
    std::fs::create_dir(&d).unwrap();
    for f in std::fs::read_dir(demo_template()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
    }
    (t, d)
}

/// Now, to the minute, as a `datetime-local` input holds it (UTC).
pub fn now_minute() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The registrant key of a data directory the demo made (its passphrase lies beside it): what
/// someone holding the key files and the passphrase has in hand.
pub fn registrant_signing_key(data: &Path) -> ed25519_dalek::SigningKey {
    let text = std::fs::read_to_string(data.join("registrant.key")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("custody registrant key v1"));
    let public: custody_ledger::PublicKey = lines.next().unwrap().parse().unwrap();
    let sealed = hex::decode(lines.next().unwrap()).unwrap();
    let pass = std::fs::read_to_string(data.join("registrant.pass")).unwrap();
    custody_store::keystore::unseal(&sealed, pass.trim_end(), &public.key_id()).unwrap()
}
