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
