//! The web UI in a real browser: runs `tests/browser/run.mjs` (playwright-core driving
//! Debian's chromium, axe-core on every page) against a freshly initialized `custody serve`,
//! through the clinic's whole story, then checks the ledger it left and the report the
//! auditor downloaded. Without node, chromium or the npm packages (`npm ci --prefix
//! tests/browser`), it says the browser suite was skipped; `.ci/run` installs them, so CI
//! always runs it.

use std::path::Path;
use std::process::Command;

use crate::harness::Server;

#[test]
fn the_clinic_story_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let ready = Path::new("/usr/bin/chromium").exists()
        && root.join("node_modules/playwright-core").exists()
        && root.join("node_modules/axe-core").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"note: chromium, node or tests/browser/node_modules is missing: the browser suite was skipped\n",
        );
        return;
    }
    let mut s = Server::fresh();
    let token = s
        .bootstrap
        .clone()
        .expect("a fresh server prints a bootstrap token");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots");
    let _ = std::fs::remove_dir_all(&shots);
    let o = Command::new("node")
        .arg(root.join("run.mjs"))
        .env("CUSTODY_URL", s.url())
        .env("CUSTODY_TOKEN", &token)
        .env("CUSTODY_SHOTS", &shots)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "the browser suite failed:\n{out}\n{err}"
    );
    assert!(out.contains("browser: ok"), "{out}");
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert!(pngs >= 30, "a screenshot of each page: {pngs}");

    // What the browser signed is in the ledger: for the first vial exactly one opening, one
    // dose (the refused signature wrote nothing) and one waste.
    let vials: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("vials "))
        .unwrap()
        .split_whitespace()
        .collect();
    let api = reqwest::blocking::Client::new();
    let session: serde_json::Value = api
        .post(format!("{}/api/v1/ledgers/{}/session", s.url(), s.ledger()))
        .json(&serde_json::json!({"username": "lee.diaz", "password": "granite-willow-ember-64"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let bearer = session["token"].as_str().unwrap();
    let kinds = |vial: &str| -> Vec<String> {
        let v: serde_json::Value = api
            .get(format!(
                "{}/api/v1/ledgers/{}/entries?container={vial}",
                s.url(),
                s.ledger()
            ))
            .bearer_auth(bearer)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entry"]["body"]["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(vials[0]),
        ["container_opened", "administered", "waste"]
    );
    assert_eq!(kinds(vials[1]), ["container_opened", "waste", "adjustment"]);

    // The audit report the auditor downloaded verifies against the registrant key the
    // ledger names, with the detached signature downloaded beside it.
    let head: serde_json::Value = api
        .get(format!("{}/api/v1/ledgers/{}/head", s.url(), s.ledger()))
        .bearer_auth(bearer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = head["registrant_key"].as_str().unwrap();
    let pdf = shots.join("audit.pdf");
    let o = crate::custody(&[
        "verify-report",
        pdf.to_str().unwrap(),
        "--registrant-key",
        key,
    ]);
    let text = crate::stdout(&o);
    assert!(o.status.success(), "{text}\n{}", crate::stderr(&o));
    assert!(text.starts_with("ok: audit report"), "{text}");
    assert!(
        text.contains("the PDF's detached signature verifies"),
        "{text}"
    );

    let data = s.stop();
    let o = crate::custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
}
