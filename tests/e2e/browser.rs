//! The web UI in a real browser: runs `tests/browser/run.mjs` (playwright-core driving
//! Debian's chromium, axe-core on every page) against a real `custody serve --demo`.
//! Without node, chromium or the npm packages (`npm ci --prefix tests/browser`), it says the
//! browser suite was skipped; `.ci/run` installs them, so CI always runs it.

use std::path::Path;
use std::process::Command;

use crate::http::Server;

#[test]
fn the_web_ui_in_chromium() {
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
    let mut s = Server::start();
    // Two sealed 10 mg/mL vials of the demo's last receipt of them.
    let api = reqwest::blocking::Client::new();
    let token = s.login(&api, "auditor.diaz");
    let vial = s.sealed_vial(&api, &token);
    let (stem, n) = vial.rsplit_once('-').unwrap();
    let vial2 = format!("{stem}-{}", n.parse::<u32>().unwrap() - 1);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots");
    let o = Command::new("node")
        .arg(root.join("run.mjs"))
        .env("CUSTODY_URL", s.url())
        .env("CUSTODY_USER", "pharm.rivera")
        .env("CUSTODY_PASSWORD", s.password("pharm.rivera"))
        .env("CUSTODY_WITNESS", "nurse.chen")
        .env("CUSTODY_WITNESS_PASSWORD", s.password("nurse.chen"))
        .env("CUSTODY_VIAL", &vial)
        .env("CUSTODY_VIAL2", &vial2)
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
    for shot in [
        "01-sign-in",
        "02-sign-in-refused",
        "03-dashboard",
        "05-dose-form",
        "06-dose-sign",
        "09-waste-sign",
        "12-queue",
    ] {
        assert!(
            shots.join(format!("{shot}.png")).exists(),
            "{shot}.png was saved"
        );
    }
    // What the browser signed is in the ledger, and it verifies.
    let entries: serde_json::Value = api
        .get(format!(
            "{}/api/v1/ledgers/{}/entries?container={vial}",
            s.url(),
            s.ledger()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let kinds: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["container_opened", "administered", "waste"],
        "{entries}"
    );
    let data = s.stop();
    let o = crate::custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
}
