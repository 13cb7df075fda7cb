//! A clinic from nothing, over real HTTP against the real binary: `custody serve` on an empty
//! data directory initializes it and prints a bootstrap token; the first admin signs up with
//! it and builds the clinic; a day of work follows; the auditor verifies, and the ledger
//! verifies offline from its HTTP export.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{As, Server, error};
use crate::*;

const ADMIN_PW: &str = "harbor lights at dusk";
const PHARM_PW: &str = "counting vials twice";
const NURSE_PW: &str = "bedside witness ready";
const NURSE2_PW: &str = "night shift on ward 4";
const AUDIT_PW: &str = "inspect every entry";
const PRESCRIBER: &str = r#"{"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}"#;

#[test]
fn from_an_empty_directory_to_a_verified_clinic_day() {
    let mut s = Server::fresh();
    assert!(s.bootstrap.is_some(), "a bootstrap token is printed");
    clinic_day(&s, &s);
    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_clinic_day_on_postgresql_through_two_servers() {
    let Some(mut a) = Server::fresh_on_postgres() else {
        crate::harness::skipped_without_postgres("the PostgreSQL clinic day");
        return;
    };
    // Both servers share the database and the registrant key's directory.
    assert!(a.bootstrap.is_some());
    let mut b = a.another();
    assert!(
        b.bootstrap.is_none(),
        "the second server finds the ledger initialized"
    );
    assert_eq!(a.ledger(), b.ledger());
    clinic_day(&a, &b);
    a.stop();
    b.stop();
    let url = a.database_url().unwrap();
    let o = custody(&[
        "verify",
        "--database-url",
        url,
        "--data",
        a.data().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The day, with admin and nurses on server `s` and pharmacist and auditor on server `t`.
fn clinic_day(s: &Server, t: &Server) {
    let c = Client::new();
    let first = s.bootstrap.clone().expect("a bootstrap token");
    // The printed token was lost: the operator issues a new one on the host; the old one
    // stops working.
    let mut args = vec!["bootstrap-token", "--data", s.data().to_str().unwrap()];
    if let Some(url) = s.database_url() {
        args.extend(["--database-url", url]);
    }
    let o = custody(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("bootstrap token "))
        .expect("a new token is printed")
        .to_string();
    assert_ne!(token, first);

    // The bootstrap token: wrong one refused; a weak password refused without using it up.
    let boot = |token: &str, pw: &str| {
        c.post(s.api("/bootstrap"))
            .json(&json!({"token": token, "username": "admin.grey", "printed_name": "Sam Grey", "password": pw}))
            .send()
            .unwrap()
    };
    error(
        boot("not-the-token", ADMIN_PW),
        StatusCode::UNAUTHORIZED,
        "bad_token",
    );
    error(
        boot(&token, "short"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    );
    error(
        boot(&first, ADMIN_PW),
        StatusCode::UNAUTHORIZED,
        "bad_token",
    );
    let r = boot(&token, ADMIN_PW);
    assert_eq!(r.status(), StatusCode::OK);
    // Once someone is enrolled, no new token is issued.
    let o = custody(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("enrolled already"), "{}", stderr(&o));
    assert_eq!(
        r.json::<Value>().unwrap()["signatures"][0]["meaning"],
        "registrant"
    );
    error(
        boot(&token, ADMIN_PW),
        StatusCode::UNAUTHORIZED,
        "bad_token",
    );

    // The admin builds the clinic.
    let admin = As::login(&c, s, "admin.grey", ADMIN_PW);
    admin.ok("/locations", json!({"password": ADMIN_PW, "location": "SAFE-1", "name": "Pharmacy safe", "kind": "safe"}));
    admin.ok("/locations", json!({"password": ADMIN_PW, "location": "CART-A", "name": "Infusion cart A", "kind": "cart"}));
    admin.ok(
        "/products",
        json!({"password": ADMIN_PW, "ndc": "42023-0113-10", "name": "Ketamine HCl 10 mg/mL, 20 mL vial",
               "form": "injection solution", "schedule": "III",
               "strength": {"type": "solution", "mg_per_ml": "10", "ml": "20"}}),
    );
    let bad_ndc = admin.post(
        "/products",
        json!({"password": ADMIN_PW, "ndc": "123", "name": "x", "form": "injection solution", "schedule": "III",
               "strength": {"type": "solution", "mg_per_ml": "10", "ml": "20"}}),
    );
    error(bad_ndc, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    for (u, name, role, pw) in [
        ("pharm.ito", "Ken Ito, PharmD", "pharmacist", PHARM_PW),
        ("nurse.ruiz", "Dana Ruiz, RN", "nurse", NURSE_PW),
        ("nurse.berg", "Ola Berg, RN", "nurse", NURSE2_PW),
        ("audit.kim", "Jae Kim", "auditor", AUDIT_PW),
    ] {
        admin.ok(
            "/users",
            json!({"password": ADMIN_PW, "username": u, "printed_name": name, "role": role, "initial_password": pw}),
        );
    }
    let users = admin.get("/users");
    assert_eq!(users.as_array().unwrap().len(), 5);

    // The pharmacist receives three vials into the safe, once the clinic has gone live with
    // its initial inventory (nothing on hand yet), witnessed by a nurse.
    let pharm = As::login(&c, t, "pharm.ito", PHARM_PW);
    pharm.ok(
        "/inventories",
        json!({"password": PHARM_PW, "occasion": "initial", "taken_at": "opening",
               "date": "2026-11-20", "lines": [],
               "witness": {"username": "nurse.ruiz", "password": NURSE_PW}}),
    );
    let rec = pharm.ok(
        "/receipts",
        json!({"password": PHARM_PW,
               "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
               "invoice": "INV-1001", "received_on": "2026-11-20", "product": "42023-0113-10", "lot": "KT2291",
               "expiry": crate::expiry("05-31"), "containers": 3, "location": "SAFE-1"}),
    );
    let vials: Vec<String> = rec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let (v1, v2) = (&vials[0], &vials[1]);

    // The nurse opens a vial, gives 35 mg, and wastes the rest before the pharmacist.
    let nurse = As::login(&c, s, "nurse.ruiz", NURSE_PW);
    let patient = nurse.ok(
        "/patients",
        json!({"mrn": "MRN-4711", "name": "Alex Moreno", "address": "3 Pine St", "date_of_birth": "1984-07-12"}),
    );
    let patient_ref = patient["patient_ref"].as_str().unwrap().to_string();
    nurse.ok(
        &format!("/containers/{v1}/open"),
        json!({"password": NURSE_PW}),
    );
    let dose = nurse.ok(
        &format!("/containers/{v1}/administer"),
        json!({"password": NURSE_PW, "patient": "MRN-4711", "dose_mg": "35", "route": "IV",
               "prescriber": serde_json::from_str::<Value>(PRESCRIBER).unwrap()}),
    );
    assert_eq!(dose["signatures"][0]["printed_name"], "Dana Ruiz, RN");
    let entry = nurse.get(&format!("/entries/{}", dose["seq"]));
    assert_eq!(
        entry["entry"]["body"]["patient"],
        patient_ref.as_str(),
        "only the commitment"
    );
    assert_eq!(
        entry["entry"]["body"]["amount"]["ul"], 3500,
        "35 mg of 10 mg/mL is 3.5 mL"
    );
    let waste = nurse.ok(
        &format!("/containers/{v1}/waste"),
        json!({"password": NURSE_PW, "reason": "remainder of single-patient vial",
               "witness": {"username": "pharm.ito", "password": PHARM_PW}}),
    );
    assert_eq!(waste["signatures"][1]["printed_name"], "Ken Ito, PharmD");
    assert_eq!(waste["signatures"][1]["meaning"], "witnessed");
    let c1 = nurse.get(&format!("/containers/{v1}"));
    assert_eq!(c1["remaining"], 0);
    assert_eq!(c1["status"], "empty");

    // Another vial: its waste goes to the queue, can't be witnessed by its author, and is
    // witnessed from the queue by the pharmacist.
    nurse.ok(
        &format!("/containers/{v2}/open"),
        json!({"password": NURSE_PW}),
    );
    nurse.ok(
        &format!("/containers/{v2}/administer"),
        json!({"password": NURSE_PW, "patient": "MRN-4711", "dose_mg": "20", "route": "IM",
               "prescriber": serde_json::from_str::<Value>(PRESCRIBER).unwrap()}),
    );
    let before = nurse.entries();
    let r = nurse.post(
        &format!("/containers/{v2}/waste"),
        json!({"password": NURSE_PW, "amount_mg": "180", "reason": "remainder"}),
    );
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let queued: Value = r.json().unwrap();
    assert_eq!(nurse.entries(), before, "not in the chain until witnessed");
    let list = pharm.get("/wastes/awaiting-witness");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["author_name"], "Dana Ruiz, RN");
    assert_eq!(list[0]["container"], v2.as_str());
    let id = queued["id"].as_str().unwrap();
    error(
        nurse.post(
            &format!("/wastes/awaiting-witness/{id}/witness"),
            json!({"password": NURSE_PW}),
        ),
        StatusCode::CONFLICT,
        "witness_is_author",
    );
    error(
        pharm.post(
            &format!("/wastes/awaiting-witness/{id}/witness"),
            json!({"password": "wrong password"}),
        ),
        StatusCode::UNAUTHORIZED,
        "wrong_password",
    );
    assert_eq!(nurse.entries(), before);
    let w = pharm.ok(
        &format!("/wastes/awaiting-witness/{id}/witness"),
        json!({"password": PHARM_PW}),
    );
    assert_eq!(w["signatures"][0]["printed_name"], "Dana Ruiz, RN");
    assert_eq!(w["signatures"][1]["printed_name"], "Ken Ito, PharmD");
    assert_eq!(nurse.entries(), before + 1);
    // Each signature states its own signing time (format version 3): the author's when she
    // queued it, the witness's later; the entry was recorded no earlier than either.
    let at = |v: &Value| -> custody_ledger::Timestamp { v.as_str().unwrap().parse().unwrap() };
    let (authored, witnessed) = (
        at(&w["signatures"][0]["signed_at"]),
        at(&w["signatures"][1]["signed_at"]),
    );
    assert!(authored < witnessed, "{w}");
    let e = pharm.get(&format!("/entries/{}", w["seq"]));
    let entry = &e["entry"];
    assert_eq!(entry["version"], 4, "{e}");
    assert_eq!(entry["sequencer"].as_str().unwrap().len(), 128, "{e}");
    assert_eq!(at(&entry["signatures"][0]["signed_at"]), authored);
    assert_eq!(at(&entry["signatures"][1]["signed_at"]), witnessed);
    assert!(at(&entry["timestamp"]) >= witnessed);
    assert!(
        pharm
            .get("/wastes/awaiting-witness")
            .as_array()
            .unwrap()
            .is_empty()
    );
    error(
        pharm.post(
            &format!("/wastes/awaiting-witness/{id}/witness"),
            json!({"password": PHARM_PW}),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // A queued waste larger than the vial is refused at once.
    error(
        nurse.post(
            &format!("/containers/{}/waste", vials[2]),
            json!({"password": NURSE_PW, "reason": "x"}),
        ),
        StatusCode::CONFLICT,
        "container_state",
    );

    // The count: one sealed vial in the safe, none open with anything in it.
    let count = pharm.ok(
        "/counts",
        json!({"password": PHARM_PW, "location": "SAFE-1", "product": "42023-0113-10", "blind": true, "counted_sealed": 1}),
    );
    assert_eq!(count["discrepancy"], false, "{count}");

    // A vial's whole history, and filtered entry lists.
    let h = nurse.get(&format!("/containers/{v1}/history"));
    let kinds: Vec<&str> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["receipt", "container_opened", "administered", "waste"]
    );
    let by_container = nurse.get(&format!("/entries?container={v1}"));
    assert_eq!(by_container["entries"].as_array().unwrap().len(), 3);
    let wastes = nurse.get("/entries?kind=waste&product=42023-0113-10");
    assert_eq!(wastes["entries"].as_array().unwrap().len(), 2);
    let by_witness = nurse.get("/entries?user=pharm.ito&kind=waste");
    assert_eq!(by_witness["entries"].as_array().unwrap().len(), 2);
    let future = nurse.get("/entries?from=2099-01-01");
    assert!(future["entries"].as_array().unwrap().is_empty());
    let r = c
        .get(s.api("/entries?from=yesterday"))
        .bearer_auth(&nurse.token)
        .send()
        .unwrap();
    error(r, StatusCode::BAD_REQUEST, "malformed");

    // People: a deactivated nurse can no longer sign in; a changed password replaces the old
    // one; an admin's reset gives a new key that signs.
    admin.ok(
        "/users/nurse.berg/deactivate",
        json!({"password": ADMIN_PW, "reason": "left the clinic"}),
    );
    error(
        c.post(s.api("/session"))
            .json(&json!({"username": "nurse.berg", "password": NURSE2_PW}))
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "user_inactive",
    );
    let new_nurse_pw = "a brand new bedside phrase";
    let r = nurse.post(
        "/me/password",
        json!({"password": NURSE_PW, "new_password": new_nurse_pw}),
    );
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    error(
        c.post(s.api("/session"))
            .json(&json!({"username": "nurse.ruiz", "password": NURSE_PW}))
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "wrong_password",
    );
    As::login(&c, s, "nurse.ruiz", new_nurse_pw);
    let reset = admin.ok(
        "/users/pharm.ito/reset",
        json!({"password": ADMIN_PW, "new_password": "temporary pharmacy phrase"}),
    );
    assert_eq!(reset["kind"], "key_rotated");
    error(
        pharm.post("/counts", json!({"password": PHARM_PW, "location": "SAFE-1", "product": "42023-0113-10", "counted_sealed": 1})),
        StatusCode::UNAUTHORIZED,
        "session_expired",
    );
    // A password an admin set must be changed before anything else.
    let pharm = As::login(&c, t, "pharm.ito", "temporary pharmacy phrase");
    error(
        pharm.post("/counts", json!({"password": "temporary pharmacy phrase", "location": "SAFE-1", "product": "42023-0113-10", "counted_sealed": 1})),
        StatusCode::FORBIDDEN,
        "password_change_required",
    );
    pharm.ok(
        "/me/password",
        json!({"password": "temporary pharmacy phrase", "new_password": "a pharmacy phrase of my own"}),
    );
    pharm.ok(
        "/counts",
        json!({"password": "a pharmacy phrase of my own", "location": "SAFE-1", "product": "42023-0113-10", "counted_sealed": 1}),
    );

    // Bad requests: each gets its documented status and code, and writes nothing.
    let v3 = &vials[2];
    let nurse = As::login(&c, s, "nurse.ruiz", new_nurse_pw);
    nurse.ok(
        &format!("/containers/{v3}/open"),
        json!({"password": new_nurse_pw}),
    );
    let before = nurse.entries();
    let given = |dose: Value| {
        json!({"password": new_nurse_pw, "patient": "MRN-1", "dose_mg": dose, "route": "IV",
               "prescriber": serde_json::from_str::<Value>(PRESCRIBER).unwrap()})
    };
    let cases: Vec<(String, Value, StatusCode, &str)> = vec![
        (
            format!("/containers/{v3}/administer"),
            given(json!(35)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            format!("/containers/{v3}/administer"),
            given(json!("-5")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            format!("/containers/{v3}/administer"),
            given(json!("0.0001")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            format!("/containers/{v3}/administer"),
            given(json!("250")),
            StatusCode::CONFLICT,
            "insufficient_stock",
        ),
        (
            "/containers/C999-1/administer".into(),
            given(json!("5")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/containers/not-an-id/administer".into(),
            given(json!("5")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            format!("/containers/{v3}/waste"),
            json!({"password": new_nurse_pw, "reason": "rest", "witness": {"username": "nurse.ruiz", "password": new_nurse_pw}}),
            StatusCode::CONFLICT,
            "witness_is_author",
        ),
        (
            format!("/containers/{v3}/waste"),
            json!({"password": new_nurse_pw, "reason": "rest", "witness": {"username": "nurse.berg", "password": NURSE2_PW}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inactive_signer",
        ),
        (
            format!("/containers/{v3}/waste"),
            json!({"password": new_nurse_pw, "reason": "rest", "witness": {"username": "pharm.ito", "password": "not it"}}),
            StatusCode::UNAUTHORIZED,
            "wrong_password",
        ),
        (
            "/transfers".into(),
            json!({"password": new_nurse_pw, "containers": [v3], "to": {"type": "location", "location": "CART-A"}}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (path, body, status, code) in cases {
        let r = nurse.post(&path, body);
        assert_eq!(r.status(), status, "{path}");
        let b: Value = r.json().unwrap();
        assert_eq!(b["code"], code, "{path}: {b}");
    }
    let r = c
        .post(format!(
            "{}/api/v1/ledgers/0192f000-0000-7000-8000-000000000000/containers/{v3}/open",
            s.url()
        ))
        .bearer_auth(&nurse.token)
        .json(&json!({"password": new_nurse_pw}))
        .send()
        .unwrap();
    error(r, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(nurse.entries(), before, "nothing written");
    assert!(
        pharm
            .get("/wastes/awaiting-witness")
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Patients: erasing the record leaves the chain as it was.
    let auditor = As::login(&c, t, "audit.kim", AUDIT_PW);
    assert_eq!(
        auditor.get(&format!("/patients/{patient_ref}"))["name"],
        "Alex Moreno"
    );
    let r = c
        .delete(s.api(&format!("/patients/{patient_ref}")))
        .bearer_auth(&admin.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(s.api(&format!("/patients/{patient_ref}")))
        .bearer_auth(&auditor.token)
        .send()
        .unwrap();
    error(r, StatusCode::NOT_FOUND, "not_found");

    // The auditor verifies, takes a checkpoint and a consistency proof.
    let v = auditor.ok("/verify", json!(null));
    assert_eq!(v["ok"], true, "{v}");
    let cp = auditor.ok("/checkpoints", json!(null));
    let size = cp["size"].as_u64().unwrap();
    assert_eq!(
        auditor.get(&format!("/checkpoints/{size}"))["note"],
        cp["note"]
    );
    let proof = auditor.get("/consistency?from=3");
    assert_eq!(proof["new_size"], size);
    assert_eq!(proof["new_root"], cp["root"]);

    // The export over HTTP verifies offline against the registrant key.
    let key = auditor.get("/head")["registrant_key"]
        .as_str()
        .unwrap()
        .to_string();
    let export = c
        .get(s.api("/export.jsonl"))
        .bearer_auth(&auditor.token)
        .send()
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let text = export.text().unwrap();
    assert_eq!(
        text.lines().count() as u64,
        size + 1,
        "header and every entry"
    );
    let file = s.data().parent().unwrap().join("ledger.jsonl");
    std::fs::write(&file, &text).unwrap();
    let o = custody(&[
        "verify-export",
        file.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // Metrics count requests by route and the entries appended by kind.
    let m = c
        .get(format!("{}/metrics", s.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.contains(r#"custody_entries_appended_total{kind="administered"} 2"#),
        "{m}"
    );
    assert!(m.contains(r#"route="/api/v1/ledgers/{ledger}/containers/{container}/administer""#));
    // How often its SQLite connections waited for another's write lock: a count, any value.
    assert!(
        m.lines()
            .any(|l| l.starts_with("custody_sqlite_lock_waits_total ")),
        "{m}"
    );
    // Metrics are per process: the auditor verified through `t`.
    let m = c
        .get(format!("{}/metrics", t.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.contains(r#"custody_verifications_total{result="ok"} 1"#),
        "{m}"
    );
}

#[test]
fn settings_come_from_flag_then_environment_then_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let settings = dir.path().join("custody.toml");
    // The file asks for a port that is taken by nobody valid (1); the flag overrides it.
    std::fs::write(
        &settings,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:1\"\ndemo = true\nidle_minutes = 5\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut s = Server::with_args(&data, &["--config", settings.to_str().unwrap()]);
    let listening = s.url().to_string();
    assert!(
        !listening.ends_with(":1"),
        "the flag wins over the file: {listening}"
    );
    s.stop();
    assert!(
        data.join("custody.db").exists(),
        "the file's data directory was used"
    );

    // The environment wins over the file.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(["serve", "--config", settings.to_str().unwrap()])
        .env("CUSTODY_LISTEN", "not an address")
        .env_remove("CUSTODY_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot listen on not an address"),
        "{}",
        stderr(&o)
    );

    // A misspelt setting is refused, naming it.
    std::fs::write(&settings, "listn = \"127.0.0.1:0\"\n").unwrap();
    let o = custody(&["serve", "--config", settings.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("listn"), "{}", stderr(&o));

    // An empty directory without registrant details is refused with what to do.
    let o = custody(&[
        "serve",
        "--data",
        dir.path().join("empty").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--registrant-name"), "{}", stderr(&o));
}
