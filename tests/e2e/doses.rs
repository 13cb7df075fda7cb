//! Treatment sessions over real HTTP (`POST …/doses`): a dose and the waste of the rest in
//! one ceremony, appended all or nothing; a dose per kg worked out exactly, its rounding
//! stated; Spravato as the devices of one lot; refusals from a dry run before any password;
//! a repeated request recorded once.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, error};

const KETAMINE_10: &str = "42023-0113-10";
const SPRAVATO: &str = "50458-0028-02";

fn dose(
    s: &Server,
    c: &Client,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> reqwest::blocking::Response {
    let mut r = c.post(s.api("/doses")).bearer_auth(token).json(&body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().unwrap()
}

fn prescriber() -> Value {
    json!({"name": "Dr. Amelia Park, MD", "dea": "AP5836727"})
}

fn kinds(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_dose_and_the_waste_of_the_rest_are_one_act_all_or_nothing() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    // A sealed vial, named: the demo's open vials would be proposed first.
    let vial = s.sealed_vial(&c, &t);
    let before = s.entries(&c, &t);
    let body = |witness_password: &str, dry_run: bool| {
        json!({
            "password": s.password("nurse.chen"),
            "patient": "MRN-100001",
            "product": KETAMINE_10,
            "containers": [vial],
            "dose_mg": "35",
            "prescriber": prescriber(),
            "waste_rest": {"reason": "remainder of single-patient vial",
                           "witness": {"username": "nurse.okafor", "password": witness_password}},
            "dry_run": dry_run,
        })
    };
    // Review: what would be recorded, no password checked, nothing written.
    let r = dose(&s, &c, &t, None, body("", true));
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(kinds(&v), ["container_opened", "administered", "waste"]);
    assert_eq!(v["entries"][2]["amount"]["ug"], 165_000, "{v}");
    assert_eq!(v["dose"], "35 mg = 3.5 mL");
    assert_eq!(s.entries(&c, &t), before);

    // The witness's password is wrong: nothing of the act is recorded.
    let r = dose(
        &s,
        &c,
        &t,
        Some("session-1"),
        body("not the password", false),
    );
    error(r, StatusCode::UNAUTHORIZED, "wrong_password");
    assert_eq!(s.entries(&c, &t), before);

    // Signed: three entries, in order, the waste witnessed.
    let r = dose(
        &s,
        &c,
        &t,
        Some("session-2"),
        body(&s.password("nurse.okafor"), false),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let first: Value = r.json().unwrap();
    assert_eq!(kinds(&first), ["container_opened", "administered", "waste"]);
    let seqs: Vec<u64> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [before, before + 1, before + 2]);
    assert_eq!(
        first["entries"][2]["signatures"].as_array().unwrap().len(),
        2
    );
    assert_eq!(s.entries(&c, &t), before + 3);

    // The same request again (a retry): the same entries, nothing recorded twice.
    let r = dose(
        &s,
        &c,
        &t,
        Some("session-2"),
        body(&s.password("nurse.okafor"), false),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().unwrap();
    assert_eq!(again["entries"], first["entries"]);
    assert_eq!(again["containers"], first["containers"]);
    assert_eq!(s.entries(&c, &t), before + 3);
    // The same key with another request: refused.
    let mut other = body(&s.password("nurse.okafor"), false);
    other["dose_mg"] = json!("30");
    error(
        dose(&s, &c, &t, Some("session-2"), other),
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_eq!(s.entries(&c, &t), before + 3);
}

#[test]
fn a_dose_per_kg_is_worked_out_exactly_and_its_rounding_is_stated() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let vial = s.sealed_vial(&c, &t);
    let by_weight = |per_kg: &str, kg: &str| -> Value {
        let r = dose(
            &s,
            &c,
            &t,
            None,
            json!({"patient": "MRN-100002", "product": KETAMINE_10, "containers": [vial], "dose_mg_per_kg": per_kg,
                   "weight_kg": kg, "prescriber": prescriber(), "dry_run": true}),
        );
        assert_eq!(r.status(), StatusCode::OK);
        r.json().unwrap()
    };
    let v = by_weight("0.5", "70.4");
    assert_eq!(
        v["worked_out"],
        "0.5 mg/kg × 70.4 kg = 35.2 mg = 3.52 mL, exact"
    );
    assert_eq!(v["entries"][1]["amount"]["ug"], 35_200);
    assert_eq!(v["entries"][1]["amount"]["ul"], 3_520);
    let v = by_weight("0.333", "70.4");
    assert_eq!(
        v["worked_out"],
        "0.333 mg/kg × 70.4 kg = 23.4432 mg, rounded to the nearest 0.001 mL: 23.44 mg = 2.344 mL"
    );
    assert_eq!(v["entries"][1]["amount"]["ul"], 2_344);

    // A dose in mg and per kg at once, or per kg without a weight: refused by name.
    for body in [
        json!({"patient": "MRN-100002", "product": KETAMINE_10, "dose_mg": "35", "dose_mg_per_kg": "0.5",
               "weight_kg": "70", "prescriber": prescriber(), "dry_run": true}),
        json!({"patient": "MRN-100002", "product": KETAMINE_10, "dose_mg_per_kg": "0.5",
               "prescriber": prescriber(), "dry_run": true}),
        json!({"patient": "MRN-100002", "product": KETAMINE_10, "dose_mg_per_kg": "0.5", "weight_kg": "-70",
               "prescriber": prescriber(), "dry_run": true}),
    ] {
        let r = dose(&s, &c, &t, None, body);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[test]
fn spravato_is_the_devices_of_one_lot_opened_and_given_in_one_act() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let before = s.entries(&c, &t);
    let spravato = |mg: &str, extra: Value| {
        let mut b = json!({"password": s.password("nurse.chen"), "patient": "MRN-100011",
                           "product": SPRAVATO, "dose_mg": mg, "prescriber": prescriber()});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        dose(&s, &c, &t, None, b)
    };
    let r = spravato("84", json!({}));
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().unwrap();
    assert_eq!(
        kinds(&v),
        [
            "container_opened",
            "administered",
            "container_opened",
            "administered",
            "container_opened",
            "administered"
        ]
    );
    assert_eq!(
        v["route"], "intranasal",
        "the route follows the product's form"
    );
    assert_eq!(v["dose"], "84 mg = 3 units");
    let devices: Vec<&str> = v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(devices.len(), 3);
    // One receipt is one lot: the devices share it.
    let receipt = |id: &str| id.split('-').next().unwrap().to_string();
    assert!(
        devices.iter().all(|d| receipt(d) == receipt(devices[0])),
        "{devices:?}"
    );
    // Single-use: opened with no beyond-use period (the day it was opened).
    let opened: Value = c
        .get(s.api(&format!("/entries/{before}")))
        .bearer_auth(&t)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let day = &opened["entry"]["timestamp"].as_str().unwrap()[..10];
    assert_eq!(opened["entry"]["body"]["beyond_use"], day, "{opened}");
    assert_eq!(s.entries(&c, &t), before + 6);

    // Not a whole number of devices, or a waste of what a device leaves: refused, nothing
    // recorded.
    error(
        spravato("70", json!({})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    let waste = json!({"waste_rest": {"reason": "rest", "witness": {"username": "nurse.okafor", "password": s.password("nurse.okafor")}}});
    error(
        spravato("56", waste),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    assert_eq!(s.entries(&c, &t), before + 6);
}

#[test]
fn a_dose_the_vial_cannot_hold_is_refused_before_the_password() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "nurse.chen");
    let before = s.entries(&c, &t);
    // 250 mg from a 200 mg vial: the proposal finds no vial holding it, and the dry run says
    // why, with no password given.
    let r = dose(
        &s,
        &c,
        &t,
        None,
        json!({"patient": "MRN-100001", "product": KETAMINE_10, "dose_mg": "250",
               "prescriber": prescriber(), "dry_run": true}),
    );
    error(r, StatusCode::CONFLICT, "insufficient_stock");
    // An auditor may not give doses.
    let a = s.login(&c, "auditor.diaz");
    let r = dose(
        &s,
        &c,
        &a,
        None,
        json!({"patient": "MRN-100001", "product": KETAMINE_10, "dose_mg": "35",
               "prescriber": prescriber(), "dry_run": true}),
    );
    error(r, StatusCode::FORBIDDEN, "forbidden");
    // Unknown fields are refused.
    let r = dose(
        &s,
        &c,
        &t,
        None,
        json!({"patient": "MRN-100001", "product": KETAMINE_10, "dose_mg": "35",
               "prescriber": prescriber(), "dry_run": true, "vial": "C1-1"}),
    );
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.entries(&c, &t), before);
}
