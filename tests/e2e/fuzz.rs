//! The fuzz suite: schemathesis (PyPI, pinned in `.ci/run`) generates requests from the
//! OpenAPI document the real binary serves, on the demo clinic, signed in as its pharmacist,
//! and checks every answer: no 5xx (`not_a_server_error`), every status listed for its
//! operation (`status_code_conformance`), the content type and the body as documented
//! (`content_type_conformance`, `response_schema_conformance`). It is bounded by
//! [`MAX_EXAMPLES`] cases per operation and phase and one worker (a few thousand requests in
//! all, about 40 s), and killed past [`DEADLINE`]. It prints how many operations it tested,
//! how many requests it sent (by status, from its HAR report) and what failed.
//!
//! Without schemathesis it says the fuzz suite was skipped; under `CI=true` that is a failure
//! (`.ci/run` installs it). Run it alone: `cargo test -p custody-cli --test e2e fuzz --
//! --nocapture`; `CUSTODY_FUZZ_SEED` and `CUSTODY_FUZZ_EXAMPLES` change the seed (7) and the
//! cases per operation.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;

use crate::harness::Server;

/// Cases per operation and phase (schemathesis's `--max-examples`).
const MAX_EXAMPLES: &str = "50";

/// How long the whole run may take before it is killed.
const DEADLINE: Duration = Duration::from_secs(180);

/// The checks run against every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Whether schemathesis is on the PATH; its version.
fn schemathesis() -> Option<String> {
    let o = Command::new("schemathesis")
        .arg("--version")
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let Some(version) = schemathesis() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but schemathesis is not installed: .ci/run installs it"
        );
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(b"note: schemathesis is not installed: the fuzz suite was skipped\n");
        return;
    };
    let s = Server::demo();
    let c = Client::new();
    let token = s.login(&c, "pharm.rivera");

    // Every operation on this ledger (a random ledger id only ever meets a 403 or a 404).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!("[parameters]\n\"path.ledger\" = \"{}\"\n", s.ledger()),
    )
    .unwrap();
    let har = dir.path().join("requests.har");
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let seed = std::env::var("CUSTODY_FUZZ_SEED").unwrap_or_else(|_| "7".into());
    let examples =
        std::env::var("CUSTODY_FUZZ_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_string());

    let started = Instant::now();
    let mut child = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/api/openapi.json", s.url()))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples])
        .args(["--workers", "1"])
        .args(["--seed", &seed])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Signing out would end the session the rest is sent with.
        .args(["--exclude-operation-id", "logout"])
        .args(["--report", "har", "--report-har-path"])
        .arg(&har)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("schemathesis starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(DEADLINE) {
        Ok(status) => status.expect("schemathesis ends"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "schemathesis ran past {DEADLINE:?} and was killed:\n{}",
                std::fs::read_to_string(&stdout).unwrap_or_default()
            );
        }
    };
    let took = started.elapsed();
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();

    let (requests, by_status) = requests(&har);
    crate::say(&format!(
        "fuzz: {version}, seed {seed}, {examples} examples: {}; {requests} requests {by_status:?}; exit {:?} in {:.0} s",
        summary(&out),
        status.code(),
        took.as_secs_f64()
    ));
    assert!(
        status.success(),
        "schemathesis found failures:\n{out}\n{err}"
    );
    assert!(
        requests > 1000,
        "the fuzz sent few requests: {requests}\n{out}"
    );
    assert!(
        by_status.keys().all(|s| *s < 500),
        "a 5xx: {by_status:?}\n{out}"
    );
}

/// The requests of a HAR report: how many, and how many of each status.
fn requests(har: &std::path::Path) -> (usize, BTreeMap<u64, usize>) {
    let Ok(text) = std::fs::read_to_string(har) else {
        return (0, BTreeMap::new());
    };
    let har: Value = serde_json::from_str(&text).unwrap_or_default();
    let entries = har["log"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut by_status = BTreeMap::new();
    for e in &entries {
        if let Some(s) = e["response"]["status"].as_u64() {
            *by_status.entry(s).or_insert(0) += 1;
        }
    }
    (entries.len(), by_status)
}

/// Schemathesis's closing summary in one line: operations tested, test cases and failures.
fn summary(out: &str) -> String {
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let after = |label: &str, n: usize| -> Vec<String> {
        lines
            .iter()
            .position(|l| *l == label)
            .map(|i| {
                lines[i + 1..]
                    .iter()
                    .take(n)
                    .filter(|l| !l.is_empty())
                    .map(|l| l.to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut parts = vec![];
    parts.extend(
        after("API Operations:", 2)
            .into_iter()
            .map(|l| format!("operations {l}")),
    );
    parts.extend(
        after("Test cases:", 1)
            .into_iter()
            .map(|l| format!("test cases {l}")),
    );
    parts.extend(
        after("Failures:", 1)
            .into_iter()
            .map(|l| format!("failures {l}")),
    );
    parts.join(", ")
}
