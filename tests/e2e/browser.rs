//! The web UI in a real browser: runs `tests/browser/run.mjs` (playwright-core driving
//! Debian's chromium, axe-core on every page) against a freshly initialized `custody serve`,
//! through the clinic's whole story, then checks the ledger it left and the report the
//! auditor downloaded. Without node, chromium or the npm packages (`npm ci --prefix
//! tests/browser`), it says the browser suite was skipped; `.ci/run` installs them, so CI
//! always runs it.

use std::path::Path;
use std::process::Command;

use crate::harness::Server;

/// The folder of the browser scripts, if chromium, node and the npm packages are there;
/// otherwise none, and the suite says it was skipped.
fn browser_scripts() -> Option<std::path::PathBuf> {
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
        return None;
    }
    Some(root)
}

#[test]
fn the_clinic_story_in_chromium() {
    let Some(root) = browser_scripts() else {
        return;
    };
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

/// The nurse's day on the demo clinic (`tests/browser/day.mjs`): a ketamine dose with the
/// rest wasted before a witness, Spravato 84 mg, and a dose by weight, each counted in
/// clicks, fields and passwords against the targets; then the entries they left.
#[test]
fn a_nurses_day_in_chromium_takes_few_clicks() {
    let Some(root) = browser_scripts() else {
        return;
    };
    let mut s = Server::demo_with(&["--time-zone", "America/Chicago"]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("day-shots");
    let _ = std::fs::remove_dir_all(&shots);
    let started = time::OffsetDateTime::now_utc();
    let o = Command::new("node")
        .arg(root.join("day.mjs"))
        .env("CUSTODY_URL", s.url())
        .env("CUSTODY_NURSE", "nurse.chen")
        .env("CUSTODY_NURSE_PASSWORD", &s.passwords["nurse.chen"])
        .env("CUSTODY_WITNESS", "nurse.okafor")
        .env("CUSTODY_WITNESS_PASSWORD", &s.passwords["nurse.okafor"])
        .env("CUSTODY_PHARMACIST", "pharm.rivera")
        .env("CUSTODY_PHARMACIST_PASSWORD", &s.passwords["pharm.rivera"])
        .env("CUSTODY_SHOTS", &shots)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the nurse's day failed:\n{out}\n{err}");
    assert!(out.contains("day: ok"), "{out}");
    assert!(out.contains("refusals at review:"), "{out}");
    for line in out
        .lines()
        .filter(|l| l.starts_with("task ") || l.starts_with("refusals "))
    {
        crate::say(line);
    }
    crate::say(&format!("screenshots: {}", shots.display()));
    for w in [390, 768, 1280] {
        assert!(shots.join(format!("session-{w}.png")).exists());
    }

    // The first session is entries in a row: the vial opened where custody proposed a sealed
    // one (the demo keeps an open vial, proposed first), the dose, the waste with its
    // witness; the dose's time, typed in Chicago, is the right instant.
    let seqs: Vec<u64> = out
        .lines()
        .find_map(|l| l.strip_prefix("entries "))
        .unwrap()
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(seqs.len() == 2 || seqs.len() == 3, "{seqs:?}");
    let api = reqwest::blocking::Client::new();
    let bearer = s.login(&api, "auditor.diaz");
    let entry = |seq: u64| -> serde_json::Value {
        api.get(format!(
            "{}/api/v1/ledgers/{}/entries/{seq}",
            s.url(),
            s.ledger()
        ))
        .bearer_auth(&bearer)
        .send()
        .unwrap()
        .json()
        .unwrap()
    };
    let kinds: Vec<String> = seqs
        .iter()
        .map(|q| {
            entry(*q)["entry"]["body"]["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let kinds = if kinds.len() == 3 {
        assert_eq!(kinds[0], "container_opened");
        &kinds[1..]
    } else {
        &kinds[..]
    };
    assert_eq!(kinds, ["administered", "waste"]);
    let dose = entry(seqs[seqs.len() - 2]);
    assert_eq!(dose["entry"]["body"]["amount"]["ug"], 35_000);
    let given = time::OffsetDateTime::parse(
        dose["entry"]["body"]["given_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    // The form offered now, to the minute, in Chicago: the ledger holds that UTC instant.
    assert!(
        (given - started).whole_minutes().abs() <= 2,
        "typed in Chicago, given at {given} (the test began at {started})"
    );
    let waste = entry(seqs[seqs.len() - 1]);
    // The rest, exactly: the vial given from is empty after it (a fresh 200 mg vial leaves
    // 165 mg; the demo's open vial what it held less the 35 mg).
    assert_eq!(
        waste["entry"]["body"]["container"],
        dose["entry"]["body"]["container"]
    );
    assert!(waste["entry"]["body"]["amount"]["ug"].as_u64().unwrap() > 0);
    let vial: serde_json::Value = api
        .get(format!(
            "{}/api/v1/ledgers/{}/containers/{}",
            s.url(),
            s.ledger(),
            waste["entry"]["body"]["container"].as_str().unwrap()
        ))
        .bearer_auth(&bearer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(vial["remaining"], 0, "{vial}");
    assert_eq!(waste["entry"]["signatures"].as_array().unwrap().len(), 2);

    // After them: Spravato (three devices, each opened and given) and the dose by weight.
    let head: serde_json::Value = api
        .get(format!("{}/api/v1/ledgers/{}/head", s.url(), s.ledger()))
        .bearer_auth(&bearer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let last = head["entries"].as_u64().unwrap() - 1;
    let tail: Vec<serde_json::Value> = (seqs[seqs.len() - 1] + 1..=last).map(entry).collect();
    let kinds: Vec<&str> = tail
        .iter()
        .map(|e| e["entry"]["body"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.iter().filter(|k| **k == "administered").count() == 4,
        "three devices and one dose by weight: {kinds:?}"
    );
    let spravato: Vec<&serde_json::Value> = tail
        .iter()
        .filter(|e| e["entry"]["body"]["route"] == "intranasal")
        .collect();
    assert_eq!(spravato.len(), 3);
    assert!(
        spravato
            .iter()
            .all(|e| e["entry"]["body"]["amount"]["ug"] == 28_000)
    );
    // The last dose (the refusals after it recorded only an opening and a count).
    let by_weight = tail
        .iter()
        .rfind(|e| e["entry"]["body"]["kind"] == "administered")
        .unwrap();
    assert_eq!(by_weight["entry"]["body"]["amount"]["ug"], 35_200);
    assert_eq!(by_weight["entry"]["body"]["amount"]["ul"], 3_520);

    let data = s.stop();
    let o = crate::custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
}

/// The analytics page (`tests/browser/analytics.mjs`) on the demo clinic: every chart is
/// there, labelled by its title and described by its sentence, with its numbers in a table;
/// axe finds nothing serious; the demo's diverting nurse is the one person at review.
#[test]
fn the_analytics_page_in_chromium_has_labelled_charts() {
    let Some(root) = browser_scripts() else {
        return;
    };
    let s = Server::demo();
    let (from, to) = crate::demo_period();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analytics-shots");
    let o = Command::new("node")
        .arg(root.join("analytics.mjs"))
        .env("CUSTODY_URL", s.url())
        .env("CUSTODY_USER", "auditor.diaz")
        .env("CUSTODY_PASSWORD", s.password("auditor.diaz"))
        .env("CUSTODY_FROM", from)
        .env("CUSTODY_TO", to)
        .env("CUSTODY_CONTAINER", "C12-1")
        .env("CUSTODY_SHOTS", &shots)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "the analytics page failed:\n{out}\n{err}"
    );
    assert!(out.contains("analytics: ok"), "{out}");
    assert!(out.contains("review nurse.brandt\n"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("chart ")).count(),
        7,
        "{out}"
    );
    assert!(shots.join("analytics.png").exists());
}
