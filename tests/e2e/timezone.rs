//! The clinic's time zone (`custody serve --time-zone`): times typed in the web pages are the
//! clinic's local time and land in the ledger as the right UTC instant (across a clock
//! change), a time the clocks skipped is refused beside its field, the pages show local
//! times with the zone named, an unknown zone is refused at start, and a report's days are
//! the clinic's days.

use std::process::Command;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::http::Server;
use crate::*;

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn page(c: &Client, s: &Server, session: &str, path: &str) -> String {
    c.get(format!("{}{path}", s.url()))
        .header("cookie", session)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn hidden(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
}

/// The administered entries of `vial`, as the JSON API returns them (UTC).
fn doses(s: &Server, api: &Client, token: &str, vial: &str) -> Vec<Value> {
    let page: Value = api
        .get(s.api("/entries?kind=administered&limit=1000"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"]["body"]["container"] == vial)
        .cloned()
        .collect()
}

#[test]
fn times_typed_in_the_clinic_zone_land_as_the_right_utc_instant_and_show_local() {
    let s = Server::demo_with(&["--time-zone", "America/Chicago"]);
    let c = client();
    let api = Client::new();
    let token = s.login(&api, "nurse.chen");
    let pw = s.password("nurse.chen");
    let nurse = s.web_cookie("nurse.chen", &pw);
    let vial = s.sealed_vial(&api, &token);
    let r = api
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"password": pw, "opened_at": "2026-03-01T00:00:00Z"}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let path = format!("/ui/containers/{vial}");
    let form = page(&c, &s, &nurse, &path);
    assert!(
        form.contains("Time given (America/Chicago local time)"),
        "the form says the time is typed in the clinic's zone: {form}"
    );

    // Review, then sign, a dose given at `given_at` (local time, as typed).
    let dose = |given_at: &str, sign: bool| {
        let form = page(&c, &s, &nurse, &path);
        let mut fields = vec![
            ("csrf", hidden(&form, "csrf")),
            ("request_id", hidden(&form, "request_id")),
            ("patient", "MRN-4711".to_string()),
            ("prescriber", "Dr. Amelia Park".to_string()),
            ("prescriber_dea", "AP5836727".to_string()),
            ("dose_mg", "5".to_string()),
            ("route", "IV".to_string()),
            ("given_at", given_at.to_string()),
            ("late_reason", "charted from the paper record".to_string()),
        ];
        if sign {
            fields.push(("confirm", "yes".into()));
            fields.push(("password", pw.clone()));
        }
        let r = c
            .post(format!("{}{path}/administer", s.url()))
            .header("cookie", &nurse)
            .form(&fields)
            .send()
            .unwrap();
        (r.status(), r.text().unwrap())
    };

    // 02:30 on 2026-03-08 never happened in Chicago (02:00 CST became 03:00 CDT): refused
    // beside the field, nothing recorded, no password asked.
    let before = s.entries(&api, &token);
    let (status, body) = dose("2026-03-08T02:30", false);
    assert_ne!(status, StatusCode::OK, "{body}");
    let beside = body
        .split("id=\"given-err\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        beside.contains("2026-03-08 02:30 does not exist in America/Chicago")
            && beside.contains("01:59 CST")
            && beside.contains("03:00 CDT"),
        "the gap is refused beside the time given: {beside:?} in {body}"
    );
    assert!(!body.contains("type=\"password\""), "{body}");
    assert_eq!(s.entries(&api, &token), before);

    // Just after the change (CDT, UTC-5), and in winter (CST, UTC-6); the fold of
    // 2026-11-01 01:30 (it happened twice) is the earlier instant, 01:30 CDT.
    for (typed, utc, shown) in [
        (
            "2026-03-08T03:30",
            "2026-03-08T08:30:00Z",
            "2026-03-08 03:30 CDT",
        ),
        (
            "2026-03-08T01:30",
            "2026-03-08T07:30:00Z",
            "2026-03-08 01:30 CST",
        ),
        (
            "2026-11-01T01:30",
            "2026-11-01T06:30:00Z",
            "2026-11-01 01:30 CDT",
        ),
    ] {
        let (status, dialog) = dose(typed, false);
        assert_eq!(status, StatusCode::OK, "{dialog}");
        assert!(
            dialog.contains(&format!("at {shown} to patient")),
            "the statement signed names the local time and zone: {dialog}"
        );
        let (status, done) = dose(typed, true);
        assert_eq!(status, StatusCode::SEE_OTHER, "{done}");
        let given: Vec<String> = doses(&s, &api, &token, &vial)
            .iter()
            .map(|e| e["entry"]["body"]["given_at"].as_str().unwrap().to_string())
            .collect();
        assert!(
            given.contains(&utc.to_string()),
            "{typed} in Chicago is {utc} in the ledger (JSON stays UTC): {given:?}"
        );
    }

    // The pages show local times with the zone, never the ledger's raw ISO strings.
    let shown = page(&c, &s, &nurse, &path);
    for want in [
        "given by nurse.chen at 2026-03-08 03:30 CDT",
        "given by nurse.chen at 2026-03-08 01:30 CST",
        "given by nurse.chen at 2026-11-01 01:30 CDT",
    ] {
        assert!(shown.contains(want), "{want:?} in {shown}");
    }
    for e in doses(&s, &api, &token, &vial) {
        let raw = e["entry"]["timestamp"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        assert!(raw.ends_with('Z'), "the JSON API's times are UTC: {raw}");
        assert!(!shown.contains(&raw), "no raw {raw} on the page");
        assert!(!shown.contains(&raw[..16]), "no raw {raw} on the page");
    }
    assert!(
        shown.contains(" CST</td>") || shown.contains(" CDT</td>"),
        "the recorded times name the zone: {shown}"
    );
    let entries = page(
        &c,
        &s,
        &nurse,
        &format!("/ui/entries?kind=administered&container={vial}"),
    );
    assert!(
        entries.contains("2026-11-01 01:30 CDT"),
        "the entries page too: {entries}"
    );
    // Each signer's own signing time (format version 3) is shown beside them, in the zone.
    let signed = entries
        .find(", authored, signed ")
        .map(|i| &entries[i..(i + 60).min(entries.len())])
        .unwrap_or_else(|| panic!("the signing time beside the signer: {entries}"));
    assert!(
        signed.contains(" CST") || signed.contains(" CDT"),
        "{signed}"
    );
    // The reports page says whose days its period covers.
    let auditor = s.web_cookie("auditor.diaz", &s.password("auditor.diaz"));
    let reports = page(&c, &s, &auditor, "/ui/reports");
    assert!(
        reports.contains("the clinic's days in America/Chicago"),
        "{reports}"
    );
}

/// `custody serve` with `args` and `env` on an empty data directory must end at once (a
/// server that started would not) with exit 2; its stderr.
fn refused_at_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_custody"));
    cmd.args([
        "serve",
        "--data",
        d.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--demo",
    ])
    .args(args)
    .env_remove("CUSTODY_TIME_ZONE")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("custody serve {args:?} {env:?} started with an unknown time zone");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2), "{}", stderr(&o));
    stderr(&o)
}

#[test]
fn an_unknown_time_zone_is_refused_at_start() {
    // From the flag, the environment and the settings file alike.
    let said = refused_at_start(&["--time-zone", "Mars/Olympus_Mons"], &[]);
    assert!(
        said.contains("\"Mars/Olympus_Mons\" is not a time zone")
            && said.contains("America/Chicago"),
        "{said}"
    );
    let said = refused_at_start(&[], &[("CUSTODY_TIME_ZONE", "Central Time")]);
    assert!(
        said.contains("\"Central Time\" is not a time zone"),
        "{said}"
    );
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("custody.toml");
    std::fs::write(&file, "time_zone = \"America/Chicag\"\n").unwrap();
    let said = refused_at_start(&["--config", file.to_str().unwrap()], &[]);
    assert!(
        said.contains("\"America/Chicag\" is not a time zone"),
        "{said}"
    );
}

fn poppler() -> bool {
    Command::new("pdftotext").arg("-v").output().is_ok()
}

/// The entry numbers an audit report lists, from its text.
fn listed(pdf: &Path) -> Vec<u64> {
    let o = Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let txt = String::from_utf8(o.stdout).unwrap();
    txt.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let seq = w.next()?.parse::<u64>().ok()?;
            let day = w.next()?;
            (day.len() == 10 && day.as_bytes()[4] == b'-').then_some(seq)
        })
        .collect()
}

#[test]
fn a_report_period_is_the_clinic_days_local_midnight_to_local_midnight() {
    if !poppler() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"note: poppler-utils is not installed: the time zone report test was skipped\n",
        );
        return;
    }
    let (t, d) = demo_copy();
    let data = d.to_str().unwrap();
    // One entry recorded now (a report records itself: report_issued), at UTC time T.
    let first = t.path().join("first.pdf");
    let (n, now) = loop {
        let before = time::OffsetDateTime::now_utc();
        let o = custody(&[
            "report",
            "inventory",
            "--data",
            data,
            "-o",
            first.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let after = time::OffsetDateTime::now_utc();
        let n: u64 = stdout(&o)
            .split("recorded in the ledger as entry ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        // Half-day boundaries crossed while it ran: once more.
        if (before.date(), before.hour() < 12) == (after.date(), after.hour() < 12) {
            break (n, after);
        }
    };
    // A zone twelve hours off UTC in which entry n falls on another day than in UTC: at
    // UTC 03:00 it is 15:00 the day before in UTC-12; at UTC 15:00, 03:00 the day after in
    // UTC+12.
    let (zone, local) = if now.hour() < 12 {
        ("Etc/GMT+12", now.date().previous_day().unwrap())
    } else {
        ("Etc/GMT-12", now.date().next_day().unwrap())
    };
    let utc_day = now.date().to_string();
    let local_day = local.to_string();
    let audit = |day: &str, zone: Option<&str>, name: &str| {
        let out = t.path().join(name);
        let mut args = vec![
            "report",
            "audit",
            "--data",
            data,
            "--from",
            day,
            "--to",
            day,
            "-o",
            out.to_str().unwrap(),
        ];
        if let Some(z) = zone {
            args.extend(["--time-zone", z]);
        }
        let o = custody(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    };
    // The clinic's day holds the entry; the same day in UTC does not, nor does the clinic's
    // next (or previous) day, which covers the UTC day's other half.
    let in_local = audit(&local_day, Some(zone), "local.pdf");
    assert!(
        listed(&in_local).contains(&n),
        "entry {n} at {now} is on {local_day} in {zone}"
    );
    let o = Command::new("pdftotext")
        .args(["-layout", in_local.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let txt = String::from_utf8(o.stdout).unwrap();
    assert!(
        txt.contains(&format!("days in {zone}")),
        "the report states its zone: {txt}"
    );
    assert!(
        !listed(&audit(&local_day, None, "utc.pdf")).contains(&n),
        "entry {n} at {now} is not on {local_day} in UTC"
    );
    assert!(
        !listed(&audit(&utc_day, Some(zone), "other.pdf")).contains(&n),
        "entry {n} at {now} is not on {utc_day} in {zone}"
    );
}
