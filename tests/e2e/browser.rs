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
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots");
    let o = Command::new("node")
        .arg(root.join("run.mjs"))
        .env("CUSTODY_URL", s.url())
        .env("CUSTODY_USER", "pharm.rivera")
        .env("CUSTODY_PASSWORD", s.password("pharm.rivera"))
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
    for shot in ["01-sign-in", "02-sign-in-refused", "03-dashboard"] {
        assert!(
            shots.join(format!("{shot}.png")).exists(),
            "{shot}.png was saved"
        );
    }
    s.stop();
}
