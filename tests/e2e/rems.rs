//! The Spravato REMS on the patient register: a patient is enrolled (REMS patient id and
//! date) before the first Spravato treatment; a Spravato dose for a patient not enrolled is
//! refused before any password, by the dose route and by a treatment session alike, unless
//! the server is an inpatient setting (`--rems-check warn`).

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, error};

const SPRAVATO: &str = "50458-0028-02";
const KETAMINE_10: &str = "42023-0113-10";

fn session(mrn: &str, product: &str, mg: &str) -> Value {
    json!({"patient": mrn, "product": product, "dose_mg": mg, "dry_run": true,
           "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}})
}

#[test]
fn a_spravato_dose_needs_the_patient_enrolled_in_the_rems() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let before = s.entries(&c, &t);
    let dose = |body: Value| {
        c.post(s.api("/doses"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap()
    };
    // A patient registered but not enrolled: refused by name, before any password.
    let r = c
        .post(s.api("/patients"))
        .bearer_auth(&t)
        .json(
            &json!({"mrn": "MRN-7001", "name": "Noor Haddad", "address": "1 Pier St",
                      "date_of_birth": "1990-02-03"}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = dose(session("MRN-7001", SPRAVATO, "56"));
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "rems_not_enrolled", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("MRN-7001 is not enrolled"),
        "{e}"
    );
    // Ketamine for the same patient is not a REMS product.
    assert_eq!(
        dose(session("MRN-7001", KETAMINE_10, "35")).status(),
        StatusCode::OK
    );

    // An enrollment needs both its id and its date.
    let r = c
        .post(s.api("/patients"))
        .bearer_auth(&t)
        .json(
            &json!({"mrn": "MRN-7001", "name": "Noor Haddad", "address": "1 Pier St",
                      "date_of_birth": "1990-02-03", "rems_patient_id": "REMS-77"}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    // Enrolled: the same dose passes, and the register shows the enrollment.
    let r = c
        .post(s.api("/patients"))
        .bearer_auth(&t)
        .json(
            &json!({"mrn": "MRN-7001", "name": "Noor Haddad", "address": "1 Pier St",
                      "date_of_birth": "1990-02-03", "rems_patient_id": "REMS-77",
                      "rems_enrolled_on": "2026-11-02"}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = r.json().unwrap();
    assert_eq!(saved["rems_patient_id"], "REMS-77");
    assert_eq!(saved["rems_enrolled_on"], "2026-11-02");
    assert_eq!(
        dose(session("MRN-7001", SPRAVATO, "56")).status(),
        StatusCode::OK
    );

    // The dose route refuses too, for a patient not in the register at all.
    let device = {
        let list: Value = c
            .get(s.api("/containers"))
            .bearer_auth(&t)
            .send()
            .unwrap()
            .json()
            .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["product"] == SPRAVATO && x["status"] == "sealed")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = c
        .post(s.api(&format!("/containers/{device}/administer")))
        .bearer_auth(&t)
        .json(
            &json!({"patient": "MRN-7999", "dose_mg": "28", "route": "intranasal", "dry_run": true,
                      "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::CONFLICT, "rems_not_enrolled");
    assert_eq!(s.entries(&c, &t), before, "dry runs record nothing");
}

#[test]
fn an_inpatient_setting_is_warned_not_refused() {
    let s = Server::demo_with(&["--rems-check", "warn"]);
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let r = c
        .post(s.api("/doses"))
        .bearer_auth(&t)
        .json(&session("MRN-7999", SPRAVATO, "56"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A setting that is neither is refused at start.
    let o = crate::custody(&["serve", "--demo", "--rems-check", "sometimes"]);
    assert_eq!(o.status.code(), Some(2), "{}", crate::stderr(&o));
    assert!(
        crate::stderr(&o).contains("--rems-check"),
        "{}",
        crate::stderr(&o)
    );
}

fn rfc3339_at(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Sets one column of a REMS session's row in the SQLite file, as someone with the file
/// could.
fn tamper_rems_row(s: &Server, id: &str, set: &str) {
    let url = custody_store::sqlite_url(s.data());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sea_orm::ConnectionTrait;
            let c = sea_orm::Database::connect(url).await.unwrap();
            let n = c
                .execute_unprepared(&format!(
                    "UPDATE rems_sessions SET {set} WHERE session_id = '{id}'"
                ))
                .await
                .unwrap();
            assert_eq!(n.rows_affected(), 1);
            c.close().await.unwrap();
        });
}

#[test]
fn a_rems_session_is_monitored_two_hours_its_form_is_due_and_its_record_matches_the_chain() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let pw = s.password("nurse.chen");
    let post = |path: &str, body: Value| {
        c.post(s.api(path))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap()
    };
    let get = |path: &str| -> Value {
        let r = c.get(s.api(path)).bearer_auth(&t).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().unwrap()
    };
    // Not enrolled: the Spravato dose is refused.
    let patient = json!({"mrn": "MRN-7101", "name": "Ines Moreau", "address": "4 Quay Rd",
                         "date_of_birth": "1984-06-12"});
    assert_eq!(post("/patients", patient.clone()).status(), StatusCode::OK);
    let given = time::OffsetDateTime::now_utc() - time::Duration::minutes(125);
    let dose = json!({"patient": "MRN-7101", "product": SPRAVATO, "dose_mg": "84",
                          "password": pw, "given_at": rfc3339_at(given),
                          "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}});
    error(
        post("/doses", dose.clone()),
        StatusCode::CONFLICT,
        "rems_not_enrolled",
    );
    // Enrolled: 84 mg is three devices of one lot, given 125 minutes ago.
    let mut enrolled = patient.clone();
    enrolled["rems_patient_id"] = json!("REMS-7101");
    enrolled["rems_enrolled_on"] = json!("2026-10-01");
    assert_eq!(post("/patients", enrolled).status(), StatusCode::OK);
    let r = post("/doses", dose.clone());
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let answer: Value = r.json().unwrap();
    let doses: Vec<u64> = answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "administered")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(doses.len(), 3, "{answer}");

    // Open the session on those doses.
    let r = post(
        "/rems/sessions",
        json!({"patient": "MRN-7101", "doses": doses, "first_treatment": true,
               "setting": "Lakeside Clinic, outpatient"}),
    );
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let open: Value = r.json().unwrap();
    let id = open["id"].as_str().unwrap().to_string();
    assert_eq!(open["status"], "open");
    assert_eq!(open["dose_mg"], "84");
    assert_eq!(open["record_matches_chain"], Value::Null);
    let lots: std::collections::BTreeSet<&str> = open["doses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["lot"].as_str().unwrap())
        .collect();
    assert_eq!(lots.len(), 1, "one lot: {open}");
    // A dose belongs to one session only.
    error(
        post(
            "/rems/sessions",
            json!({"patient": "MRN-7101", "doses": [doses[0]]}),
        ),
        StatusCode::CONFLICT,
        "dose_in_other_session",
    );

    // Closing before the observations are in is refused, naming what is missing.
    let close = |body: Value| post(&format!("/rems/sessions/{id}/close"), body);
    let r = close(json!({"password": pw}));
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "rems_record_incomplete", "{e}");
    assert!(e["message"].as_str().unwrap().contains("bp_40_min"), "{e}");

    let r = post(
        &format!("/rems/sessions/{id}/observations"),
        json!({"bp_before": {"systolic": 128, "diastolic": 82},
               "bp_40_min": {"systolic": 142, "diastolic": 88},
               "bp_discharge": {"systolic": 130, "diastolic": 80},
               "pulse_oximetry": true, "sedation_resolved": true,
               "dissociation_resolved": true, "respiratory_depression_resolved": true,
               "concomitant": ["benzodiazepines"], "adverse_events": "mild nausea, resolved"}),
    );
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    // A blood pressure that is not one, and an unknown class, are refused by field.
    let r = post(
        &format!("/rems/sessions/{id}/observations"),
        json!({"bp_before": {"systolic": 80, "diastolic": 120}}),
    );
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().unwrap()["details"]["field"], "bp_before");
    let r = post(
        &format!("/rems/sessions/{id}/observations"),
        json!({"concomitant": ["antibiotics"]}),
    );
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // At 90 minutes: refused with the 30 minutes remaining, before any password.
    let before = s.entries(&c, &t);
    let at_90 = rfc3339_at(given + time::Duration::minutes(90));
    let r = close(json!({"discharged_at": at_90, "password": "not the password"}));
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "rems_monitoring_incomplete", "{e}");
    assert_eq!(e["details"]["minutes_remaining"], 30, "{e}");
    assert!(e["message"].as_str().unwrap().contains("30 minute"), "{e}");
    assert_eq!(s.entries(&c, &t), before);
    // At 125 minutes (now): the dry run, then the close.
    let r = close(json!({"dry_run": true}));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    assert_eq!(s.entries(&c, &t), before, "a dry run records nothing");
    let r = close(json!({"password": pw}));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let closed: Value = r.json().unwrap();
    assert_eq!(closed["kind"], "rems_session_closed");
    // Closed: no more observations; no second close.
    error(
        post(
            &format!("/rems/sessions/{id}/observations"),
            json!({"adverse_events": "none"}),
        ),
        StatusCode::CONFLICT,
        "rems_session_closed",
    );
    error(
        close(json!({"password": pw})),
        StatusCode::CONFLICT,
        "rems_session_exists",
    );

    // Its form is due within 7 days, and the record matches the chain.
    let v = get(&format!("/rems/sessions/{id}"));
    assert_eq!(v["status"], "form_due", "{v}");
    assert_eq!(v["record_matches_chain"], true, "{v}");
    assert_eq!(v["closed_by"], closed["seq"], "{v}");
    assert!(v["monitored_minutes"].as_i64().unwrap() >= 125, "{v}");
    assert_eq!(v["form_deadline"]["status"], "due", "{v}");
    let due = v["form_deadline"]["due"].as_str().unwrap().to_string();
    let discharged: time::OffsetDateTime = time::OffsetDateTime::parse(
        v["discharged_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let seventh = discharged.date() + time::Duration::days(7);
    assert_eq!(
        due,
        format!(
            "{:04}-{:02}-{:02}",
            seventh.year(),
            u8::from(seventh.month()),
            seventh.day()
        )
    );
    let due_list = get("/rems/sessions?status=form_due");
    assert!(
        due_list.as_array().unwrap().iter().any(|x| x["id"] == id),
        "{due_list}"
    );
    // An auditor reads it; an auditor cannot act.
    let auditor = s.login(&c, "auditor.diaz");
    let r = c
        .get(s.api(&format!("/rems/sessions/{id}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(s.api("/rems/sessions"))
        .bearer_auth(&auditor)
        .json(&json!({"patient": "MRN-7101"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Marking the form submitted clears it; a second time is refused.
    let today = time::OffsetDateTime::now_utc().date();
    let today = format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let form = |body: Value| post(&format!("/rems/sessions/{id}/form"), body);
    // The nurse's dashboard lists the form due, with its deadline; the session's page says
    // the record matches the chain. The form is marked submitted there, signed.
    let web = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = s.web_cookie("nurse.chen", &pw);
    let page = |path: &str| -> (StatusCode, String) {
        let r = web
            .get(format!("{}{path}", s.url()))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        (r.status(), r.text().unwrap())
    };
    let (_, dash) = page("/ui");
    assert!(
        dash.contains("Spravato REMS monitoring forms due"),
        "{dash}"
    );
    assert!(dash.contains(&format!("/ui/rems/{id}")), "{dash}");
    assert!(dash.contains(&due), "the deadline: {dash}");
    let (status, one) = page(&format!("/ui/rems/{id}"));
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(one.contains("matches the SHA-256 in the chain"), "{one}");
    let csrf = one
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let fields = vec![
        ("csrf", csrf.clone()),
        ("submitted_on", today.clone()),
        ("confirmation", "PMF-88231".to_string()),
    ];
    let send = |f: &[(&str, String)]| {
        web.post(format!("{}/ui/rems/{id}/form", s.url()))
            .header("cookie", &cookie)
            .form(f)
            .send()
            .unwrap()
    };
    let r = send(&fields);
    assert_eq!(r.status(), StatusCode::OK);
    let dialog = r.text().unwrap();
    assert!(dialog.contains("type=\"password\""), "{dialog}");
    let request_id = dialog
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let mut signed = fields.clone();
    signed.push(("request_id", request_id));
    signed.push(("confirm", "yes".into()));
    signed.push(("password", pw.clone()));
    let r = send(&signed);
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().unwrap());
    let (_, dash) = page("/ui");
    assert!(!dash.contains(&format!("/ui/rems/{id}")), "cleared: {dash}");
    error(
        form(json!({"submitted_on": today, "confirmation": "PMF-88231", "dry_run": true})),
        StatusCode::CONFLICT,
        "rems_form_already_submitted",
    );
    let due_list = get("/rems/sessions?status=form_due");
    assert!(
        !due_list.as_array().unwrap().iter().any(|x| x["id"] == id),
        "{due_list}"
    );
    let v = get(&format!("/rems/sessions/{id}"));
    assert_eq!(v["status"], "submitted");
    assert_eq!(v["form_confirmation"], "PMF-88231");
    assert_eq!(v["form_deadline"]["status"], "met");
    assert_eq!(v["record_matches_chain"], true);

    // The rems report: the session closed today, its form met, in the PDF and as CSV.
    let auditor_get = |path: &str| {
        let r = c.get(s.api(path)).bearer_auth(&auditor).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r
    };
    let pdf = auditor_get(&format!("/reports/rems.pdf?from={today}&to={today}"))
        .bytes()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rems.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let o = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs (Debian poppler-utils)");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Spravato REMS sessions"), "{text}");
    assert!(text.contains(&id), "{text}");
    assert!(text.contains("PMF-88231"), "{text}");
    let csv = auditor_get(&format!("/reports/rems.csv?from={today}&to={today}"))
        .text()
        .unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(row.contains(",met,") && row.contains("PMF-88231"), "{row}");
    assert!(
        row.contains(v["chain_record_sha256"].as_str().unwrap()),
        "{row}"
    );

    // The printable form data: the lot, the blood pressures, the minutes, the confirmation.
    let pdf = auditor_get(&format!("/rems/sessions/{id}/form.pdf"))
        .bytes()
        .unwrap();
    let path = dir.path().join("form.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let o = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs");
    let form_text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "Patient Monitoring Form data",
        "Ines Moreau",
        "REMS-7101",
        "84 mg (3 device(s))",
        "142/88 mmHg",
        "benzodiazepines",
        "PMF-88231",
        v["doses"][0]["lot"].as_str().unwrap(),
    ] {
        assert!(form_text.contains(want), "{want}: {form_text}");
    }
    assert!(form_text.contains("yes (entry"), "{form_text}");

    // Someone changes the blood pressure in the row: the chain's digest shows it.
    tamper_rems_row(&s, &id, "bp40_systolic = 120");
    let v = get(&format!("/rems/sessions/{id}"));
    assert_eq!(v["bp_40_min"]["systolic"], 120);
    assert_eq!(v["record_matches_chain"], false, "{v}");
    assert_ne!(v["record_sha256"], v["chain_record_sha256"]);
    let pdf = auditor_get(&format!("/rems/sessions/{id}/form.pdf"))
        .bytes()
        .unwrap();
    std::fs::write(&path, &pdf).unwrap();
    let o = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs");
    let form_text = String::from_utf8_lossy(&o.stdout);
    assert!(form_text.contains("NO: the record differs"), "{form_text}");

    // Bad input: unknown fields, an unknown session, an unknown status.
    let r = post(
        &format!("/rems/sessions/{id}/observations"),
        json!({"bp_before": {"systolic": 120, "diastolic": 80}, "heart_rate": 70}),
    );
    assert!(r.status().is_client_error());
    error(
        post("/rems/sessions/rems-999999/observations", json!({})),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    error(
        post(
            "/rems/sessions/rems-999999/form",
            json!({"submitted_on": today, "confirmation": "X", "dry_run": true}),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = c
        .get(s.api("/rems/sessions?status=lost"))
        .bearer_auth(&t)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn the_monitoring_minimum_is_a_setting() {
    let s = Server::demo_with(&["--rems-monitoring-minutes", "150"]);
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let pw = s.password("nurse.chen");
    let post = |path: &str, body: Value| {
        c.post(s.api(path))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap()
    };
    let r = post(
        "/patients",
        json!({"mrn": "MRN-7102", "name": "Sam Okafor", "address": "9 Hill St",
               "date_of_birth": "1979-01-30", "rems_patient_id": "REMS-7102",
               "rems_enrolled_on": "2026-10-01"}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let given = time::OffsetDateTime::now_utc() - time::Duration::minutes(125);
    let r = post(
        "/doses",
        json!({"patient": "MRN-7102", "product": SPRAVATO, "dose_mg": "56", "password": pw,
               "given_at": rfc3339_at(given),
               "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
    );
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    // Without naming the doses: the patient's Spravato doses of the last hours.
    let r = post(
        "/rems/sessions",
        json!({"patient": "MRN-7102", "setting": "Lakeside"}),
    );
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let v: Value = r.json().unwrap();
    assert_eq!(v["doses"].as_array().unwrap().len(), 2, "{v}");
    let id = v["id"].as_str().unwrap();
    let r = post(
        &format!("/rems/sessions/{id}/close"),
        json!({"dry_run": true}),
    );
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "rems_monitoring_incomplete", "{e}");
    assert_eq!(e["details"]["minimum_minutes"], 150, "{e}");
    let left = e["details"]["minutes_remaining"].as_i64().unwrap();
    assert!((24..=25).contains(&left), "{e}");
    // On the session's page: refused at Review, beside the discharge time, no password asked.
    let web = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = s.web_cookie("nurse.chen", &pw);
    let one = web
        .get(format!("{}/ui/rems/{id}", s.url()))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = one
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let r = web
        .post(format!("{}/ui/rems/{id}/close", s.url()))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("discharged_at", "")])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().unwrap();
    assert!(body.contains("minute(s) remain"), "{body}");
    assert!(!body.contains("type=\"password\""), "{body}");
}

#[test]
fn a_spravato_device_opened_and_not_given_is_flagged_and_wasted_to_disposal_never_back_on_hand() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let pw = s.password("nurse.chen");
    let list: Value = c
        .get(s.api("/containers"))
        .bearer_auth(&t)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let device = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["product"] == SPRAVATO && x["status"] == "sealed")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(s.api(&format!("/containers/{device}/open")))
        .bearer_auth(&t)
        .json(&json!({"password": pw}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let cookie = s.web_cookie("nurse.chen", &pw);
    let page = |path: &str| {
        c.get(format!("{}{path}", s.url()))
            .header("cookie", &cookie)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let dash = page("/ui");
    assert!(dash.contains("partly used or not given"), "{dash}");
    let one = page(&format!("/ui/containers/{device}"));
    assert!(
        one.contains("partial Spravato device"),
        "the reason offered: {one}"
    );
    // Wasted before a witness with that reason: it leaves stock.
    let r = c
        .post(s.api(&format!("/containers/{device}/waste")))
        .bearer_auth(&t)
        .json(&json!({"password": pw, "reason": custody_clinic::acts::PARTIAL_DEVICE_REASON,
                      "witness": {"username": "nurse.okafor", "password": s.password("nurse.okafor")}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let after: Value = c
        .get(s.api(&format!("/containers/{device}")))
        .bearer_auth(&t)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_ne!(after["status"], "open", "{after}");
    assert_ne!(after["status"], "sealed", "{after}");
    assert!(!page("/ui").contains("partly used or not given"));
}

#[test]
fn a_rems_session_closes_and_matches_its_digest_on_postgresql() {
    let Some(s) = Server::demo_on_postgres() else {
        crate::harness::skipped_without_postgres("REMS sessions on PostgreSQL");
        return;
    };
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let pw = s.password("nurse.chen");
    let post = |path: &str, body: Value| {
        let r = c
            .post(s.api(path))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json::<Value>().unwrap()
    };
    // MRN-100012 is one of the demo's two patients enrolled in the REMS.
    let given = time::OffsetDateTime::now_utc() - time::Duration::minutes(130);
    post(
        "/doses",
        json!({"patient": "MRN-100012", "product": SPRAVATO, "dose_mg": "56", "password": pw,
               "given_at": rfc3339_at(given),
               "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
    );
    let v = post(
        "/rems/sessions",
        json!({"patient": "MRN-100012", "setting": "Demo clinic", "first_treatment": false}),
    );
    let id = v["id"].as_str().unwrap().to_string();
    post(
        &format!("/rems/sessions/{id}/observations"),
        json!({"bp_before": {"systolic": 118, "diastolic": 76},
               "bp_40_min": {"systolic": 136, "diastolic": 84},
               "bp_discharge": {"systolic": 121, "diastolic": 78},
               "pulse_oximetry": true, "sedation_resolved": true,
               "dissociation_resolved": true, "respiratory_depression_resolved": true,
               "concomitant": ["sedative_hypnotics", "opioids"]}),
    );
    post(
        &format!("/rems/sessions/{id}/close"),
        json!({"password": pw}),
    );
    let r = c
        .get(s.api(&format!("/rems/sessions/{id}")))
        .bearer_auth(&t)
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "form_due", "{v}");
    assert_eq!(v["record_matches_chain"], true, "{v}");
    assert_eq!(v["concomitant"], json!(["opioids", "sedative_hypnotics"]));
}

/// Patient-labelled product: a Spravato device the pharmacy labelled for one patient is never
/// proposed or given to another (409 `labelled_for_another_patient`), and unused fourteen days
/// after its label it must leave stock: a dose from it is refused for anyone
/// (`patient_label_expired`) and the pharmacist's dashboard lists it to destroy or return —
/// all before any password. Bad labels are refused and record nothing.
#[test]
fn patient_labelled_devices_go_to_their_patient_and_leave_stock_after_fourteen_days() {
    let s = Server::demo();
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let nurse = s.login(&c, "nurse.chen");
    for (mrn, id) in [("MRN-8001", "REMS-8001"), ("MRN-8002", "REMS-8002")] {
        let r = c
            .post(s.api("/patients"))
            .bearer_auth(&pharm)
            .json(&json!({"mrn": mrn, "name": "A Patient", "address": "3 Elm St",
                "date_of_birth": "1985-05-05", "rems_patient_id": id, "rems_enrolled_on": "2026-11-02"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let sealed: Vec<String> = c
        .get(s.api("/containers"))
        .bearer_auth(&pharm)
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["product"] == SPRAVATO && x["status"] == "sealed")
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert!(sealed.len() >= 3, "{sealed:?}");
    let day = |offset: i64| {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let label = |token: &str, container: &str, body: Value| {
        c.put(s.api(&format!("/containers/{container}/patient-label")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
    };
    let before = s.entries(&c, &pharm);
    // Bad labels: a nurse, a day to come, an unknown container, an unknown field.
    error(
        label(
            &nurse,
            &sealed[0],
            json!({"patient": "MRN-8001", "labelled_on": day(0)}),
        ),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let r = label(
        &pharm,
        &sealed[0],
        json!({"patient": "MRN-8001", "labelled_on": day(1)}),
    );
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().unwrap()["details"]["field"],
        "labelled_on"
    );
    error(
        label(
            &pharm,
            "C9999-1",
            json!({"patient": "MRN-8001", "labelled_on": day(0)}),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = label(
        &pharm,
        &sealed[0],
        json!({"patient": "MRN-8001", "labelled_on": day(0), "colour": "red"}),
    );
    assert!(r.status().is_client_error(), "{}", r.status());

    // Labelled today for the first patient.
    let r = label(
        &pharm,
        &sealed[0],
        json!({"patient": "MRN-8001", "labelled_on": day(0)}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let l: Value = r.json().unwrap();
    assert_eq!(l["last_day"], day(14).as_str(), "{l}");
    assert_eq!(
        s.entries(&c, &pharm),
        before,
        "a label is not a ledger entry"
    );

    let dose = |mrn: &str, containers: &[&str]| {
        c.post(s.api("/doses"))
            .bearer_auth(&nurse)
            .json(
                &json!({"patient": mrn, "product": SPRAVATO, "dose_mg": "28", "dry_run": true,
                "containers": containers,
                "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
            )
            .send()
            .unwrap()
    };
    error(
        dose("MRN-8002", &[&sealed[0]]),
        StatusCode::CONFLICT,
        "labelled_for_another_patient",
    );
    // Proposed for the other patient: never the labelled device.
    let r = dose("MRN-8002", &[]);
    assert_eq!(r.status(), StatusCode::OK);
    let proposed: Value = r.json().unwrap();
    assert_ne!(proposed["containers"][0], sealed[0].as_str(), "{proposed}");
    // Its own patient gets it.
    assert_eq!(dose("MRN-8001", &[&sealed[0]]).status(), StatusCode::OK);

    // Labelled 15 days ago and still here: refused for its own patient too, and listed.
    let r = label(
        &pharm,
        &sealed[1],
        json!({"patient": "MRN-8001", "labelled_on": day(-15)}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    error(
        dose("MRN-8001", &[&sealed[1]]),
        StatusCode::CONFLICT,
        "patient_label_expired",
    );
    // Fourteen days ago is the last day it may be given.
    let r = label(
        &pharm,
        &sealed[2],
        json!({"patient": "MRN-8001", "labelled_on": day(-14)}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(dose("MRN-8001", &[&sealed[2]]).status(), StatusCode::OK);
    let page = |user: &str| {
        c.get(format!("{}/ui", s.url()))
            .header("cookie", s.web_cookie(user, &s.passwords[user]))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let dash = page("pharm.rivera");
    assert!(
        dash.contains("Patient-labelled product that must leave stock"),
        "{dash}"
    );
    let listed = dash
        .split("id=\"labels-expired\"")
        .nth(1)
        .and_then(|r| r.split("</section>").next())
        .unwrap_or_default();
    assert!(listed.contains(&sealed[1]), "{listed}");
    assert!(!listed.contains(&format!("{} (", sealed[2])), "{listed}");
    assert!(!page("nurse.chen").contains("labels-expired"));
    assert_eq!(
        s.entries(&c, &pharm),
        before,
        "dry runs and labels record nothing"
    );
}
