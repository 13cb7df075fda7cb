//! The API over real HTTP against the real binary: the demo clinic served on a free port
//! (see [`crate::harness`]).

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

// `web.rs` starts its servers by this name.
pub use crate::harness::Server;
use crate::harness::error;
use crate::*;

#[test]
fn a_clinic_day_over_http() {
    let mut s = Server::demo();
    let c = Client::new();
    assert_eq!(
        c.get(format!("{}/healthz", s.url()))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok"
    );
    assert_eq!(
        c.get(format!("{}/readyz", s.url()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let openapi: Value = c
        .get(format!("{}/api/openapi.json", s.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(openapi["paths"]["/api/v1/ledgers/{ledger}/containers/{container}/waste"].is_object());
    assert_eq!(
        c.get(format!("{}/api/docs", s.url()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Not signed in, wrong password, wrong role.
    error(
        c.get(s.api("/head")).send().unwrap(),
        StatusCode::UNAUTHORIZED,
        "not_signed_in",
    );
    let wrong = c
        .post(s.api("/session"))
        .json(&json!({"username": "nurse.chen", "password": "not the password"}))
        .send()
        .unwrap();
    error(wrong, StatusCode::UNAUTHORIZED, "wrong_password");
    let nurse = s.login(&c, "nurse.chen");
    let pharmacist = s.login(&c, "pharm.rivera");
    let auditor = s.login(&c, "auditor.diaz");
    error(
        c.post(s.api("/verify")).bearer_auth(&nurse).send().unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let v: Value = c
        .post(s.api("/verify"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");

    // A sealed 10 mg/mL vial: the last one of the last receipt of that product.
    let vial = s.sealed_vial(&c, &nurse);

    let nurse_pw = s.passwords["nurse.chen"].clone();
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": nurse_pw}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let opened: Value = r.json().unwrap();
    assert_eq!(opened["kind"], "container_opened");
    let r = c
        .post(s.api("/containers/C99999-1/open"))
        .bearer_auth(&nurse)
        .json(&json!({"password": nurse_pw}))
        .send()
        .unwrap();
    error(r, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(opened["signatures"][0]["printed_name"], "Mei Chen, RN");
    assert_eq!(opened["signatures"][0]["meaning"], "authored");

    // A signature needs the signer's own password, in the request.
    let r = c
        .post(s.api(&format!("/containers/{vial}/administer")))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": "guess", "patient": "MRN-4711", "dose_mg": "35", "route": "IV",
                      "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::UNAUTHORIZED, "wrong_password");
    let before = s.entries(&c, &nurse);
    let r = c
        .post(s.api(&format!("/containers/{vial}/administer")))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": nurse_pw, "patient": "MRN-4711", "dose_mg": "35", "route": "IV",
                      "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.entries(&c, &nurse), before + 1);

    // Bad requests: each refused with its code, nothing written.
    let before = s.entries(&c, &nurse);
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "-5", "route": "IV",
                "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "0", "route": "IV",
                "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "zero_quantity",
        ),
        (
            json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "5", "route": "IV",
                "prescriber": {"name": "Dr. Park", "dea": "AP5836728"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "500", "route": "IV",
                "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}),
            StatusCode::CONFLICT,
            "insufficient_stock",
        ),
        (
            json!({"password": nurse_pw, "dose_mg": "5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
    ];
    for (body, status, code) in cases {
        let r = c
            .post(s.api(&format!("/containers/{vial}/administer")))
            .bearer_auth(&nurse)
            .json(&body)
            .send()
            .unwrap();
        error(r, status, code);
    }
    let r = c
        .post(s.api(&format!("/containers/{vial}/administer")))
        .bearer_auth(&nurse)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    error(r, StatusCode::BAD_REQUEST, "malformed");
    let r = c
        .post(s.api("/containers/C99999-1/administer"))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "5", "route": "IV",
                      "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::NOT_FOUND, "not_found");
    // (Its own connection: the server answers before reading such a body and closes it.)
    let r = Client::new()
        .post(s.api(&format!("/containers/{vial}/administer")))
        .bearer_auth(&nurse)
        .header("content-type", "application/json")
        .body(vec![b' '; 200_000])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Witness = author: the ledger's rule refuses it at append.
    let r = c
        .post(s.api(&format!("/containers/{vial}/waste")))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": nurse_pw, "amount_mg": "165", "reason": "remainder",
                      "witness": {"username": "nurse.chen", "password": nurse_pw}}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::CONFLICT, "witness_is_author");
    assert_eq!(s.entries(&c, &nurse), before, "nothing written");

    // The rest wasted before a pharmacist, who signs in the same request.
    let r = c
        .post(s.api(&format!("/containers/{vial}/waste")))
        .bearer_auth(&nurse)
        .json(&json!({"password": nurse_pw, "amount_mg": "165", "reason": "remainder of single-patient vial",
                      "witness": {"username": "pharm.rivera", "password": s.passwords["pharm.rivera"]}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let w: Value = r.json().unwrap();
    assert_eq!(w["signatures"][1]["printed_name"], "Dana Rivera, PharmD");
    assert_eq!(w["signatures"][1]["meaning"], "witnessed");
    let r = c
        .post(s.api(&format!("/containers/{vial}/administer")))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": nurse_pw, "patient": "MRN-1", "dose_mg": "1", "route": "IV",
                      "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap();
    error(r, StatusCode::CONFLICT, "container_empty");

    // An auditor writes nothing; a checkpoint and an entry with its proof.
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&auditor)
        .json(&json!({"password": s.passwords["auditor.diaz"]}))
        .send()
        .unwrap();
    error(r, StatusCode::FORBIDDEN, "forbidden");
    let cp: Value = c
        .post(s.api("/checkpoints"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .contains("\u{2014} custody.ledger/"),
        "{cp}"
    );
    let one: Value = c
        .get(s.api("/entries/5"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["seq"], 5);
    assert!(!one["proof"].as_array().unwrap().is_empty());
    error(
        c.get(s.api("/entries/999999"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Sign out: the token is dead.
    assert_eq!(
        c.delete(s.api("/session"))
            .bearer_auth(&pharmacist)
            .send()
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    error(
        c.get(s.api("/head"))
            .bearer_auth(&pharmacist)
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "session_expired",
    );

    // The ledger verifies offline afterwards.
    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn failed_sign_ins_are_throttled() {
    let mut s = Server::demo();
    let c = Client::new();
    for _ in 0..5 {
        let r = c
            .post(s.api("/session"))
            .json(&json!({"username": "auditor.diaz", "password": "wrong password!"}))
            .send()
            .unwrap();
        error(r, StatusCode::UNAUTHORIZED, "wrong_password");
    }
    // Now even the right password waits.
    let r = c
        .post(s.api("/session"))
        .json(&json!({"username": "auditor.diaz", "password": s.passwords["auditor.diaz"]}))
        .send()
        .unwrap();
    error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    // The attempts are committed without waiting for the disk, but a killed server loses
    // none of them: the wait holds after `kill -9` and a restart.
    s.kill();
    s.restart();
    let r = c
        .post(s.api("/session"))
        .json(&json!({"username": "auditor.diaz", "password": s.passwords["auditor.diaz"]}))
        .send()
        .unwrap();
    error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    s.stop();
}

#[test]
fn sixty_four_concurrent_doses_from_one_vial_give_exactly_what_was_there() {
    let mut s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let pw = s.passwords["nurse.chen"].clone();
    // 10 mg/mL × 20 mL = 200 mg; 64 nurses ask for 5 mg each at once: 40 can be given.
    let vial = s.sealed_vial(&c, &nurse);
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": pw}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = s.entries(&c, &nurse);
    let url = s.api(&format!("/containers/{vial}/administer"));
    let results: Vec<(StatusCode, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let (url, nurse, pw) = (url.clone(), nurse.clone(), pw.clone());
                scope.spawn(move || {
                    let r = Client::new()
                        .post(url)
                        .bearer_auth(nurse)
                        .json(&json!({"password": pw, "patient": format!("MRN-{i}"), "dose_mg": "5",
                                      "route": "IV", "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}))
                        .send()
                        .unwrap();
                    let status = r.status();
                    let body: Value = r.json().unwrap();
                    (status, body["code"].as_str().unwrap_or("").to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let given = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(given, 40, "{results:?}");
    for (status, code) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert!(
            code == "insufficient_stock" || code == "container_empty",
            "{code}"
        );
    }
    assert_eq!(
        s.entries(&c, &nurse),
        before + 40,
        "gapless: one entry per dose given"
    );
    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn two_servers_on_one_postgresql_database_never_fork_the_chain() {
    // The first server records the demo into PostgreSQL; the second shares the database and
    // the registrant key directory.
    let Some(mut a) = Server::demo_on_postgres() else {
        crate::harness::skipped_without_postgres("the two-server PostgreSQL test");
        return;
    };
    // The second server found the demo already recorded: the same sign-ins.
    let mut b = a.another();
    assert_eq!(a.ledger(), b.ledger());
    let c = Client::new();
    let nurse_a = a.login(&c, "nurse.chen");
    let nurse_b = b.login(&c, "nurse.okafor");
    let vial = a.sealed_vial(&c, &nurse_a);
    let r = c
        .post(a.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse_a)
        .json(&json!({"password": a.passwords["nurse.chen"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = a.entries(&c, &nurse_a);
    // 32 requests through each server, 5 mg each, from a 200 mg vial.
    let jobs: Vec<(String, String, String)> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                (
                    a.api(&format!("/containers/{vial}/administer")),
                    nurse_a.clone(),
                    a.passwords["nurse.chen"].clone(),
                )
            } else {
                (
                    b.api(&format!("/containers/{vial}/administer")),
                    nurse_b.clone(),
                    b.passwords["nurse.okafor"].clone(),
                )
            }
        })
        .collect();
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let hs: Vec<_> = jobs
            .into_iter()
            .enumerate()
            .map(|(i, (url, token, pw))| {
                scope.spawn(move || {
                    let r = Client::new()
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"password": pw, "patient": format!("MRN-{i}"), "dose_mg": "5",
                                      "route": "IV", "prescriber": {"name": "Dr. Park", "dea": "AP5836727"}}))
                        .send()
                        .unwrap();
                    let status = r.status();
                    if status.is_server_error() || status == StatusCode::UNPROCESSABLE_ENTITY {
                        eprintln!("{status}: {}", r.text().unwrap_or_default());
                    }
                    status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let given = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(given, 40, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(b.entries(&c, &nurse_b), before + 40);
    let auditor = a.login(&c, "auditor.diaz");
    let v: Value = c
        .post(a.api("/verify"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], before + 40);
    a.stop();
    b.stop();
}

#[test]
fn every_endpoint_for_every_role_allowed_ones_succeed_the_rest_are_403_and_write_nothing() {
    const ALL: &[&str] = &["admin", "pharmacist", "nurse", "auditor"];
    let mut s = Server::demo();
    let c = Client::new();
    let roles = [
        ("admin", "admin"),
        ("pharm.rivera", "pharmacist"),
        ("nurse.chen", "nurse"),
        ("auditor.diaz", "auditor"),
    ];
    let tokens: Vec<String> = roles.iter().map(|(u, _)| s.login(&c, u)).collect();
    // Fresh sealed vials, one for each opening below.
    let pharm = &tokens[1];
    let r = c
        .post(s.api("/receipts"))
        .bearer_auth(pharm)
        .json(&json!({"password": s.passwords["pharm.rivera"],
            "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
            "invoice": "INV-77", "received_on": "2026-11-01", "product": "42023-113-10", "lot": "KT77",
            "expiry": crate::expiry("06-30"), "containers": 4, "location": "SAFE-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let received: Value = r.json().unwrap();
    let mut vials: Vec<String> = received["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(vials.len(), 4);
    // More sealed vials for the acts that take one whole (dispense, transfer, loss,
    // destruction), and one open vial to waste and adjust from.
    let more: Value = c
        .post(s.api("/receipts"))
        .bearer_auth(pharm)
        .json(&json!({"password": s.passwords["pharm.rivera"],
            "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
            "invoice": "INV-79", "received_on": "2026-11-01", "product": "42023-113-10", "lot": "KT79",
            "expiry": crate::expiry("06-30"), "containers": 8, "location": "SAFE-1"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut whole: Vec<String> = more["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let open = whole.pop().unwrap();
    // Two losses, for the two roles that record their notice and Form 106.
    let mut losses: Vec<u64> = (0..2)
        .map(|_| {
            let vial = whole.pop().unwrap();
            let r = c
                .post(s.api("/losses"))
                .bearer_auth(pharm)
                .json(
                    &json!({"password": s.passwords["pharm.rivera"], "loss_type": "lost in transit",
                    "discovered_on": "2026-11-02", "items": [{"container": vial}],
                    "description": "vial not found at the count"}),
                )
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().unwrap()["seq"].as_u64().unwrap()
        })
        .collect();
    let r = c
        .post(s.api(&format!("/containers/{open}/open")))
        .bearer_auth(pharm)
        .json(&json!({"password": s.passwords["pharm.rivera"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Wastes queued by a second nurse, for the pharmacist and the first nurse to witness.
    let okafor = s.login(&c, "nurse.okafor");
    let mut pending: Vec<String> = (0..2)
        .map(|_| {
            let r = c
                .post(s.api(&format!("/containers/{open}/waste")))
                .bearer_auth(&okafor)
                .json(&json!({"password": s.passwords["nurse.okafor"], "amount_mg": "1", "reason": "drawn, not given"}))
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            r.json::<Value>().unwrap()["id"].as_str().unwrap().to_string()
        })
        .collect();
    // People for the admin's acts on users.
    let admin = &tokens[0];
    for u in ["temp.a", "temp.b", "temp.c"] {
        let r = c
            .post(s.api("/users"))
            .bearer_auth(admin)
            .json(&json!({"password": s.passwords["admin"], "username": u, "printed_name": "Temp Person",
                "role": "nurse", "initial_password": "a long enough passphrase"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let patient: Value = c
        .post(s.api("/patients"))
        .bearer_auth(pharm)
        .json(&json!({"mrn": "MRN-9001", "name": "Pat Example", "address": "1 Main St", "date_of_birth": "1980-02-29"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let patient = patient["patient_ref"].as_str().unwrap().to_string();
    // Spravato doses given three hours ago to an enrolled patient, for REMS sessions: one
    // closed (its form marked in a dry run), one open and complete (closed in a dry run, its
    // observations recorded), and one dose per role allowed to open a session.
    let nurse = &tokens[2];
    let ask = |path: &str, body: Value| -> Value {
        let r = c
            .post(s.api(path))
            .bearer_auth(nurse)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}: {}", r.text().unwrap());
        r.json().unwrap()
    };
    ask(
        "/patients",
        json!({"mrn": "MRN-9101", "name": "Rem Example", "address": "3 Main St",
               "date_of_birth": "1982-03-04", "rems_patient_id": "REMS-9101",
               "rems_enrolled_on": "2026-10-01"}),
    );
    let r = c
        .post(s.api("/receipts"))
        .bearer_auth(pharm)
        .json(&json!({"password": s.passwords["pharm.rivera"],
            "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
            "invoice": "INV-91", "received_on": "2026-11-01", "product": "50458-0028-02", "lot": "SP91",
            "expiry": crate::expiry("06-30"), "containers": 5, "location": "SAFE-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let three_hours_ago = (time::OffsetDateTime::now_utc() - time::Duration::hours(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let spravato_doses: Vec<u64> = (0..5)
        .map(|_| {
            let a = ask(
                "/doses",
                json!({"password": s.passwords["nurse.chen"], "patient": "MRN-9101",
                       "product": "50458-0028-02", "dose_mg": "28", "given_at": three_hours_ago,
                       "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
            );
            a["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == "administered")
                .unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let complete = json!({"bp_before": {"systolic": 120, "diastolic": 80},
        "bp_40_min": {"systolic": 130, "diastolic": 85}, "bp_discharge": {"systolic": 122, "diastolic": 80},
        "pulse_oximetry": true, "sedation_resolved": true, "dissociation_resolved": true,
        "respiratory_depression_resolved": true, "setting": "Demo clinic"});
    let mut rems_ids = Vec::new();
    for d in &spravato_doses[..2] {
        let v = ask(
            "/rems/sessions",
            json!({"patient": "MRN-9101", "doses": [d]}),
        );
        let id = v["id"].as_str().unwrap().to_string();
        ask(
            &format!("/rems/sessions/{id}/observations"),
            complete.clone(),
        );
        rems_ids.push(id);
    }
    ask(
        &format!("/rems/sessions/{}/close", rems_ids[0]),
        json!({"password": s.passwords["nurse.chen"]}),
    );
    let closed_rems = rems_ids[0].clone();
    let open_rems = rems_ids[1].clone();
    let openers: std::collections::HashMap<&str, u64> = ["admin", "pharm.rivera", "nurse.chen"]
        .into_iter()
        .zip(spravato_doses[2..].iter().copied())
        .collect();
    let pw = s.passwords.clone();

    type Body = Box<dyn Fn(&str, &str, usize) -> Value>;
    // (method, path (with {vial} filled per call), body, roles allowed)
    let endpoints: Vec<(&str, &str, Body, &[&str])> = vec![
        (
            "GET",
            "/head",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "nurse", "auditor"],
        ),
        (
            "GET",
            "/on-hand",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "nurse", "auditor"],
        ),
        (
            "GET",
            "/entries?limit=5",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "nurse", "auditor"],
        ),
        (
            "GET",
            "/entries/3",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "nurse", "auditor"],
        ),
        (
            "GET",
            "/checkpoints",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "nurse", "auditor"],
        ),
        (
            "POST",
            "/verify",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "auditor"],
        ),
        (
            "POST",
            "/checkpoints",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "auditor"],
        ),
        (
            "POST",
            "/counts",
            Box::new(
                |_, pw, _| json!({"password": pw, "location": "CART-A", "product": "42023-0115-05", "counted_sealed": 0}),
            ),
            &["pharmacist", "nurse"],
        ),
        (
            "POST",
            "/receipts",
            Box::new(|_, pw, _| {
                json!({"password": pw,
            "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
            "invoice": "INV-78", "received_on": "2026-11-01", "product": "50458-0028-02", "lot": "SP78",
            "expiry": crate::expiry("06-30"), "containers": 1, "location": "SAFE-1"})
            }),
            &["pharmacist"],
        ),
        (
            "POST",
            "/users",
            Box::new(|_, pw, i| {
                json!({"password": pw, "username": format!("temp.nurse{i}"),
            "printed_name": "Temp Nurse, RN", "role": "nurse", "initial_password": "a long enough passphrase"})
            }),
            &["admin"],
        ),
        (
            "POST",
            "/containers/{vial}/open",
            Box::new(|_, pw, _| json!({"password": pw})),
            &["pharmacist", "nurse"],
        ),
        ("GET", "/containers", Box::new(|_, _, _| json!(null)), ALL),
        (
            "GET",
            "/containers/{open}",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/containers/{open}/history",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        ("GET", "/products", Box::new(|_, _, _| json!(null)), ALL),
        ("GET", "/locations", Box::new(|_, _, _| json!(null)), ALL),
        ("GET", "/users", Box::new(|_, _, _| json!(null)), ALL),
        (
            "GET",
            "/wastes/awaiting-witness",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/consistency?from=1",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/entries?container={open}&kind=waste",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/patients/{patient}",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/reports/inventory.pdf",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "auditor"],
        ),
        (
            "GET",
            "/analytics",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "auditor"],
        ),
        (
            "GET",
            "/export.jsonl",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist", "auditor"],
        ),
        (
            "GET",
            "/pmp/FL?from=2026-01-01&to=2026-01-01",
            Box::new(|_, _, _| json!(null)),
            &["admin", "pharmacist"],
        ),
        (
            "PUT",
            "/containers/{open}/patient-label",
            Box::new(
                |_, _, _| json!({"patient": "MRN-77", "labelled_on": crate::now_minute()[..10].to_string()}),
            ),
            &["pharmacist"],
        ),
        ("GET", "/losses", Box::new(|_, _, _| json!(null)), ALL),
        (
            "GET",
            "/discrepancies?status=open",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "POST",
            "/losses/{loss}/reported",
            Box::new(|_, pw, _| {
                json!({"password": pw, "notice_on": "2026-11-03", "form_106": "F106-2026-00099",
                    "form_106_on": "2026-11-10"})
            }),
            &["admin", "pharmacist"],
        ),
        (
            "POST",
            "/inventories",
            {
                let pw = pw.clone();
                Box::new(move |_, me, _| {
                    json!({"password": me, "occasion": "other", "taken_at": "close",
                        "date": crate::now_minute()[..10].to_string(),
                        "lines": [{"product": "42023-0115-05", "lot": "KT-X", "expiry": crate::expiry("06-30"),
                                   "location": "CART-A", "sealed": 1, "open": []}],
                        "witness": {"username": "nurse.okafor", "password": pw["nurse.okafor"]}})
                })
            },
            &["admin", "pharmacist"],
        ),
        (
            "GET",
            "/registrant/identifiers",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "PUT",
            "/registrant/identifiers",
            Box::new(|_, _, _| json!({"npi": "1234567893", "ncpdp": "1473625"})),
            &["admin", "pharmacist"],
        ),
        (
            "PUT",
            "/prescribers/AP5836727",
            Box::new(|_, _, _| json!({"npi": "1943872014"})),
            &["admin", "pharmacist"],
        ),
        (
            "POST",
            "/products",
            Box::new(|_, pw, i| {
                json!({"password": pw, "ndc": format!("99999-{i:04}-01"), "name": "Ketamine HCl 50 mg/mL",
                    "form": "injection solution", "schedule": "III",
                    "strength": {"type": "solution", "mg_per_ml": "50", "ml": "10"}})
            }),
            &["admin"],
        ),
        (
            "POST",
            "/locations",
            Box::new(
                |_, pw, i| json!({"password": pw, "location": format!("ROOM-{i}"), "name": "Procedure room", "kind": "cabinet"}),
            ),
            &["admin"],
        ),
        (
            "POST",
            "/dispenses",
            Box::new(|_, pw, _| {
                json!({"password": pw, "patient": "MRN-77", "prescriber": {"name": "Dr. Park", "dea": "AP5836727"},
                    "sealed": ["{whole}"]})
            }),
            &["pharmacist"],
        ),
        (
            "POST",
            "/transfers",
            Box::new(
                |_, pw, _| json!({"password": pw, "containers": ["{whole}"], "to": {"type": "location", "location": "CART-A"}}),
            ),
            &["pharmacist"],
        ),
        (
            "POST",
            "/losses",
            Box::new(|_, pw, _| {
                json!({"password": pw, "loss_type": "employee pilferage", "discovered_on": "2026-11-20",
                    "items": [{"container": "{whole}"}], "description": "vial missing at count"})
            }),
            &["pharmacist"],
        ),
        (
            "POST",
            "/destructions",
            {
                let pw = pw.clone();
                Box::new(move |_, me, _| {
                    json!({"password": me, "method": {"type": "on_site", "method": "chemical digestion", "place": "pharmacy"},
                        "date": "2026-11-20", "items": [{"container": "{whole}"}],
                        "witnesses": [{"username": "nurse.chen", "password": pw["nurse.chen"]},
                                      {"username": "nurse.okafor", "password": pw["nurse.okafor"]}]})
                })
            },
            &["pharmacist"],
        ),
        (
            "POST",
            "/containers/{open}/adjust",
            {
                let pw = pw.clone();
                Box::new(move |_, me, _| {
                    json!({"password": me, "reason": "spill", "direction": "decrease", "amount_mg": "1",
                        "note": "drop lost drawing up", "witness": {"username": "nurse.chen", "password": pw["nurse.chen"]}})
                })
            },
            &["pharmacist"],
        ),
        (
            "POST",
            "/containers/{open}/waste",
            Box::new(
                |_, pw, _| json!({"password": pw, "amount_mg": "1", "reason": "drawn, not given"}),
            ),
            &["pharmacist", "nurse"],
        ),
        (
            "POST",
            "/wastes/awaiting-witness/{pending}/witness",
            Box::new(|_, pw, _| json!({"password": pw})),
            &["pharmacist", "nurse"],
        ),
        (
            "POST",
            "/corrections",
            Box::new(
                |_, pw, _| json!({"password": pw, "corrects": 5, "reason": "wrong lot typed; see count"}),
            ),
            &["admin", "pharmacist"],
        ),
        (
            "GET",
            "/rems/sessions",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/rems/sessions?status=form_due",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/rems/sessions/{closed_rems}",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "GET",
            "/rems/sessions/{closed_rems}/form.pdf",
            Box::new(|_, _, _| json!(null)),
            ALL,
        ),
        (
            "POST",
            "/rems/sessions",
            Box::new(
                move |u, _, _| json!({"patient": "MRN-9101", "doses": [openers.get(u).copied().unwrap_or(1)]}),
            ),
            &["admin", "pharmacist", "nurse"],
        ),
        (
            "POST",
            "/rems/sessions/{open_rems}/observations",
            Box::new(|_, _, _| json!({"adverse_events": "none"})),
            &["admin", "pharmacist", "nurse"],
        ),
        (
            "POST",
            "/rems/sessions/{open_rems}/close",
            Box::new(|_, _, _| json!({"dry_run": true})),
            &["admin", "pharmacist", "nurse"],
        ),
        (
            "POST",
            "/rems/sessions/{closed_rems}/form",
            Box::new(
                |_, _, _| json!({"dry_run": true, "submitted_on": crate::today_utc(), "confirmation": "PMF-1"}),
            ),
            &["admin", "pharmacist", "nurse"],
        ),
        (
            "POST",
            "/patients",
            Box::new(
                |_, _, i| json!({"mrn": format!("MRN-{i}"), "name": "A Patient", "address": "2 Main St", "date_of_birth": "1970-01-01"}),
            ),
            &["admin", "pharmacist", "nurse"],
        ),
        (
            "POST",
            "/users/temp.a/role",
            Box::new(
                |_, pw, _| json!({"password": pw, "role": "auditor", "reason": "moved to compliance"}),
            ),
            &["admin"],
        ),
        (
            "POST",
            "/users/temp.b/deactivate",
            Box::new(|_, pw, _| json!({"password": pw, "reason": "left the clinic"})),
            &["admin"],
        ),
        (
            "POST",
            "/users/temp.c/reset",
            Box::new(|_, pw, _| json!({"password": pw, "new_password": "another long passphrase"})),
            &["admin"],
        ),
        (
            "DELETE",
            "/patients/{patient}",
            Box::new(|_, _, _| json!(null)),
            &["admin"],
        ),
        (
            "POST",
            "/me/key",
            Box::new(|_, pw, _| json!({"password": pw, "reason": "yearly rotation"})),
            ALL,
        ),
        (
            "POST",
            "/me/password",
            // The last endpoint: nothing signs after it.
            Box::new(
                |_, pw, _| json!({"password": pw, "new_password": "a completely new passphrase"}),
            ),
            ALL,
        ),
    ];
    let mut n = 0;
    for (method, path, body, allowed) in &endpoints {
        for ((user, role), token) in roles.iter().zip(&tokens) {
            n += 1;
            let ok = allowed.contains(role);
            let mut path = path
                .replace("{open}", &open)
                .replace("{patient}", &patient)
                .replace("{open_rems}", &open_rems)
                .replace("{closed_rems}", &closed_rems);
            if path.contains("{vial}") {
                let vial = if ok {
                    vials.pop().unwrap()
                } else {
                    vials[0].clone()
                };
                path = path.replace("{vial}", &vial);
            }
            if path.contains("{loss}") {
                // A refused role is refused before the loss is looked up.
                let loss = if ok { losses.remove(0) } else { 1 };
                path = path.replace("{loss}", &loss.to_string());
            }
            if path.contains("{pending}") {
                // A refused role is refused before the id is looked up.
                let id = if ok {
                    pending.remove(0)
                } else {
                    "0192f000-0000-7000-8000-000000000000".to_string()
                };
                path = path.replace("{pending}", &id);
            }
            let url = s.api(&path);
            let before = s.entries(&c, &tokens[3]);
            let queued_before = c
                .get(s.api("/wastes/awaiting-witness"))
                .bearer_auth(&tokens[3])
                .send()
                .unwrap()
                .json::<Value>()
                .unwrap()
                .as_array()
                .unwrap()
                .len();
            let req = match *method {
                "GET" => c.get(&url),
                "DELETE" => c.delete(&url),
                "PUT" => c.put(&url),
                _ => c.post(&url),
            };
            let mut b = body(user, &s.passwords[*user], n);
            if b.to_string().contains("{whole}") {
                let v = if ok {
                    whole.pop().unwrap()
                } else {
                    whole[0].clone()
                };
                b = serde_json::from_str(&b.to_string().replace("{whole}", &v)).unwrap();
            }
            let req = if b.is_null() { req } else { req.json(&b) };
            let r = req.bearer_auth(token).send().unwrap();
            if ok {
                assert!(
                    r.status().is_success(),
                    "{method} {url} as {role}: {} {}",
                    r.status(),
                    r.text().unwrap()
                );
            } else {
                error(r, StatusCode::FORBIDDEN, "forbidden");
                let after = s.entries(&c, &tokens[3]);
                assert_eq!(after, before, "{method} {url} as {role} wrote nothing");
                let queued = c
                    .get(s.api("/wastes/awaiting-witness"))
                    .bearer_auth(&tokens[3])
                    .send()
                    .unwrap()
                    .json::<Value>()
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len();
                assert_eq!(
                    queued, queued_before,
                    "{method} {url} as {role} queued nothing"
                );
            }
        }
    }
    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_admin_enrolls_a_nurse_who_signs_in_and_counts() {
    let mut s = Server::demo();
    let c = Client::new();
    let admin = s.login(&c, "admin");
    let enroll = |pw: &str| {
        c.post(s.api("/users"))
            .bearer_auth(&admin)
            .json(
                &json!({"password": s.passwords["admin"], "username": "nurse.lee",
                          "printed_name": "Jo Lee, RN", "role": "nurse", "initial_password": pw}),
            )
            .send()
            .unwrap()
    };
    let before = s.entries(&c, &admin);
    for weak in [
        "short",
        "password1234",
        "nurse.lee-is-me",
        "aaaaaaaaaaaaaaaa",
    ] {
        error(
            enroll(weak),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        );
    }
    assert_eq!(s.entries(&c, &admin), before, "nothing written");
    let r = enroll("a long enough passphrase");
    assert_eq!(r.status(), StatusCode::OK);
    let rec: Value = r.json().unwrap();
    assert_eq!(rec["kind"], "user_enrolled");
    assert_eq!(rec["signatures"][0]["meaning"], "authored");
    assert_eq!(rec["signatures"][1]["meaning"], "key possession");
    error(
        enroll("a long enough passphrase"),
        StatusCode::CONFLICT,
        "user_exists",
    );

    s.passwords
        .insert("nurse.lee".into(), "a long enough passphrase".into());
    let lee = s.login(&c, "nurse.lee");
    // A blind count of the 100 mg/mL vials in the safe: the demo's month-end count left 4.
    let count = |sealed: u32| {
        c.post(s.api("/counts"))
            .bearer_auth(&lee)
            .json(
                &json!({"password": "a long enough passphrase", "location": "SAFE-1",
                          "product": "42023-0115-05", "blind": true, "counted_sealed": sealed}),
            )
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    };
    let ok = count(4);
    assert_eq!(ok["expected_sealed"], 4, "{ok}");
    assert_eq!(ok["discrepancy"], false);
    let short = count(3);
    assert_eq!(short["discrepancy"], true, "{short}");
    assert_eq!(short["signatures"][0]["printed_name"], "Jo Lee, RN");
    s.stop();
}

/// Moves every session's stored last-use mark `secs` into the past, as the clock would have
/// (the server's own memory of uses is untouched).
fn age_sessions(s: &Server, secs: i64) {
    let url = custody_store::sqlite_url(s.data());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sea_orm::ConnectionTrait;
            let c = sea_orm::Database::connect(url).await.unwrap();
            c.execute_unprepared(&format!(
                "UPDATE sessions SET last_seen = last_seen - {}",
                secs * 1_000_000
            ))
            .await
            .unwrap();
        });
}

#[test]
fn an_idle_session_expires() {
    let mut s = Server::demo_with(&["--idle-minutes", "1"]);
    let c = Client::new();
    // Used 40 s ago, though the stored mark (written at most so often) is older still: the
    // idle time runs from the last request, so it goes on.
    let nurse = s.login(&c, "nurse.chen");
    let r = c.get(s.api("/head")).bearer_auth(&nurse).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    age_sessions(&s, 70);
    let r = c.get(s.api("/head")).bearer_auth(&nurse).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "idle for a moment, not 70 s");
    // Not used for two minutes: it has ended.
    let pharm = s.login(&c, "pharm.rivera");
    age_sessions(&s, 120);
    let r = c.get(s.api("/head")).bearer_auth(&pharm).send().unwrap();
    error(r, StatusCode::UNAUTHORIZED, "session_expired");
    s.stop();
}

#[test]
fn a_timeout_of_nothing_is_refused_at_start() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("x");
    for (flag, word) in [("--idle-minutes", "idle"), ("--session-hours", "lasting")] {
        let o = custody(&["serve", "--data", d.to_str().unwrap(), flag, "0"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(flag) && stderr(&o).contains(word),
            "{}",
            stderr(&o)
        );
    }
    assert!(!d.join("custody.db").exists(), "nothing written");
}

#[test]
fn auditors_download_signed_reports_that_verify_and_nurses_cannot() {
    let mut s = Server::demo();
    let c = Client::new();
    let auditor = s.login(&c, "auditor.diaz");
    let nurse = s.login(&c, "nurse.chen");
    // The demo's whole history.
    let (from, to) = demo_period();
    let q = format!("?from={from}&to={to}");
    let r = c
        .get(s.api(&format!("/reports/audit.pdf{q}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    // Streamed from the report's file, the body still states its length up front, and the
    // header carries the detached signature as before.
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let header_sig = r.headers()["x-custody-signature"].clone();
    let pdf = r.bytes().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf.len(), length);
    let sig = c
        .get(s.api(&format!("/reports/audit.pdf.sig{q}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(
        header_sig.to_str().unwrap(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sig)
    );
    let key = c
        .get(s.api("/head"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["registrant_key"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.pdf");
    std::fs::write(&file, &pdf).unwrap();
    std::fs::write(dir.path().join("audit.pdf.sig"), &sig).unwrap();
    let o = custody(&[
        "verify-report",
        file.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("detached signature verifies"));
    // Issuing it was recorded in the ledger, signed by the registrant, naming who asked.
    let issued: Value = c
        .get(s.api("/entries?kind=report_issued"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let body = &issued["entries"][0]["entry"]["body"];
    assert_eq!(body["report"], "audit", "{issued}");
    assert!(
        body["requested_by"].as_str().unwrap().contains("Sam Diaz"),
        "{issued}"
    );
    assert_eq!(
        issued["entries"][0]["entry"]["signatures"][0]["meaning"],
        "registrant"
    );

    // A nurse may not; a report that does not exist, a bad date, a trace without a container.
    error(
        c.get(s.api(&format!("/reports/audit.pdf{q}")))
            .bearer_auth(&nurse)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    error(
        c.get(s.api("/reports/weekly.pdf"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    error(
        c.get(s.api("/reports/audit.pdf?from=yesterday"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    error(
        c.get(s.api("/reports/trace.pdf"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    error(
        c.get(s.api("/reports/loss.pdf.sig"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    s.stop();
}
