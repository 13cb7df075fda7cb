//! End-to-end tests of the real `custody` binary on real SQLite files.
//! (All in one test binary, for link time.)

mod browser;
mod cli;
mod clinic;
mod http;
mod proofs;
mod reports;
mod tamper;
mod web;

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

/// A demo clinic made once per test run; tests copy it and never change this one.
pub fn demo_template() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("clinic");
        let o = custody(&["demo", "--data", d.to_str().unwrap(), "--seed", "7"]);
        assert!(o.status.success(), "demo failed: {}", stderr(&o));
        (t, d)
    })
    .1
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
