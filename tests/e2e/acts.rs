//! The clinic's acts over real HTTP against the real binary: refusals the ledger's rules can
//! make come back from a dry run before any password; a signed request repeated with its
//! `Idempotency-Key` records nothing twice; wrong passwords slow the account that typed
//! them, not the clinic behind the same address.

use std::time::Instant;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, error};

const SPRAVATO: &str = "50458-0028-02";
const LOZENGE: &str = "70000-0100-30";
const KETAMINE_10: &str = "42023-0113-10";

/// A held container of `ndc` in the state named (`sealed` or `open`).
fn container(s: &Server, c: &Client, token: &str, ndc: &str, status: &str) -> String {
    let list: Value = c
        .get(s.api("/containers"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|x| x["product"] == ndc && x["status"] == status)
        .unwrap_or_else(|| panic!("a {status} container of {ndc}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn dose(mg: &str, password: &str, dry_run: bool) -> Value {
    json!({"password": password, "patient": "MRN-4711", "dose_mg": mg, "route": "IV",
           "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"},
           "dry_run": dry_run})
}

#[test]
fn refusals_come_from_a_dry_run_before_any_password_and_write_nothing() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let pharm = s.login(&c, "pharm.rivera");
    let before = s.entries(&c, &pharm);

    // A dose larger than what the vial holds (opened first, for real).
    let vial = s.sealed_vial(&c, &nurse);
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": s.password("nurse.chen")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = before + 1;
    let post = |path: String, token: &str, body: Value| {
        c.post(s.api(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
    };
    // No password at all: the rules answer first.
    error(
        post(
            format!("/containers/{vial}/administer"),
            &nurse,
            dose("250", "", true),
        ),
        StatusCode::CONFLICT,
        "insufficient_stock",
    );
    // 84 mg from one 28 mg Spravato device (opened: a dry run of the opening passes).
    let device = container(&s, &c, &nurse, SPRAVATO, "sealed");
    // For a patient enrolled in the Spravato REMS (the demo's MRN-100011).
    let mut spravato = dose("84", "", true);
    spravato["patient"] = json!("MRN-100011");
    error(
        post(format!("/containers/{device}/administer"), &nurse, spravato),
        StatusCode::CONFLICT,
        "container_state",
    );
    // A partial dispense from a sealed bottle of troches.
    let bottle = container(&s, &c, &pharm, LOZENGE, "sealed");
    let r = post(
        "/dispenses".into(),
        &pharm,
        json!({"dry_run": true, "patient": "MRN-4711",
               "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"},
               "from_open": [{"container": bottle, "amount_mg": "200"}]}),
    );
    let e: Value = r.json().unwrap();
    assert!(e["code"] == "container_state", "{e}");
    // An adjustment resolving a count of another product (the demo's count is of the
    // 10 mg/mL vials; this names a Spravato device).
    let counts: Value = c
        .get(s.api("/entries?kind=count&limit=1000"))
        .bearer_auth(&pharm)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let count = counts["entries"].as_array().unwrap().last().unwrap()["seq"].clone();
    let r = post(
        format!("/containers/{device}/adjust"),
        &pharm,
        json!({"dry_run": true, "reason": "count discrepancy", "direction": "decrease",
               "amount_mg": "28", "resolves": count, "note": "missing",
               "witness": {"username": "nurse.chen"}}),
    );
    let e: Value = r.json().unwrap();
    assert!(
        e["code"] == "rule_violation" || e["code"] == "unknown_discrepancy",
        "{e}"
    );
    // Witness = author: refused by the ledger's rule, in the dry run.
    error(
        post(
            format!("/containers/{vial}/waste"),
            &nurse,
            json!({"dry_run": true, "reason": "remainder",
                   "witness": {"username": "nurse.chen"}}),
        ),
        StatusCode::CONFLICT,
        "witness_is_author",
    );
    // A dry run the rules accept says what would be recorded, and records nothing.
    let r = post(
        format!("/containers/{vial}/administer"),
        &nurse,
        dose("35", "", true),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["dry_run"], true);
    assert_eq!(would["entries"][0]["kind"], "administered", "{would}");
    assert_eq!(
        would["entries"][0]["amount"]["ul"], 3500,
        "35 mg of 10 mg/mL is 3.5 mL: {would}"
    );
    assert_eq!(s.entries(&c, &pharm), before, "dry runs write nothing");
}

#[test]
fn the_same_idempotency_key_records_once_and_answers_the_same() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let vial = s.sealed_vial(&c, &nurse);
    let pw = s.password("nurse.chen");
    c.post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": pw}))
        .send()
        .unwrap();
    let before = s.entries(&c, &nurse);
    let send = |key: &str, body: &Value| {
        c.post(s.api(&format!("/containers/{vial}/administer")))
            .bearer_auth(&nurse)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .unwrap()
    };
    let body = dose("35", &pw, false);
    let first = send("dose-0001", &body);
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().unwrap();
    let again = send("dose-0001", &body);
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().unwrap();
    assert_eq!(again, first, "the first answer, again");
    assert_eq!(s.entries(&c, &nurse), before + 1, "one entry for one dose");
    // The same key with another request is refused, and writes nothing.
    error(
        send("dose-0001", &dose("40", &pw, false)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // A bad key is refused.
    error(send("", &body), StatusCode::BAD_REQUEST, "malformed");
    assert_eq!(s.entries(&c, &nurse), before + 1);
    // Another key is another dose.
    assert_eq!(send("dose-0002", &body).status(), StatusCode::OK);
    assert_eq!(s.entries(&c, &nurse), before + 2);
}

#[test]
fn wrong_passwords_slow_the_account_not_the_clinic() {
    let s = Server::demo();
    let c = Client::new();
    let chen = s.login(&c, "nurse.chen");
    let vial = s.sealed_vial(&c, &chen);
    let open = |token: &str, password: &str| {
        c.post(s.api(&format!("/containers/{vial}/open")))
            .bearer_auth(token)
            .json(&json!({"password": password}))
            .send()
            .unwrap()
    };
    // Six wrong signature passwords by one nurse.
    let mut last = Value::Null;
    for i in 0..6 {
        let r = open(&chen, "a wrong password");
        let status = r.status();
        last = r.json().unwrap();
        if i < 5 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{last}");
            assert_eq!(last["details"]["attempts_left"], 4 - i, "{last}");
            assert!(
                last["message"]
                    .as_str()
                    .unwrap()
                    .contains("password for nurse.chen is wrong"),
                "{last}"
            );
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{last}");
        }
    }
    assert_eq!(last["code"], "too_many_attempts");
    assert!(last["details"]["retry_at"].is_string(), "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("nurse.chen"),
        "{last}"
    );
    // Her right password must wait too.
    assert_eq!(
        open(&chen, &s.password("nurse.chen")).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else at the same address signs in and signs.
    let okafor = s.login(&c, "nurse.okafor");
    let _pharm = s.login(&c, "pharm.rivera");
    let _auditor = s.login(&c, "auditor.diaz");
    assert_eq!(
        open(&okafor, &s.password("nurse.okafor")).status(),
        StatusCode::OK
    );
}

#[test]
fn two_hundred_concurrent_wrong_passwords_get_at_most_the_limit_checked() {
    let s = Server::demo();
    let c = Client::new();
    let url = s.api("/session");
    let mut checked = 0;
    let mut refused = 0;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let (c, url) = (c.clone(), url.clone());
                scope.spawn(move || {
                    c.post(url)
                        .json(&json!({"username": "pharm.rivera", "password": "guess guess guess"}))
                        .send()
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for h in handles {
            match h.join().unwrap() {
                StatusCode::UNAUTHORIZED => checked += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
    });
    println!("200 concurrent wrong passwords: {checked} checked, {refused} refused");
    assert!(checked <= 5, "{checked} checked");
    assert_eq!(checked + refused, 200);
}

#[test]
fn an_unknown_user_costs_what_a_wrong_password_costs() {
    // Limits raised so that every attempt reaches the key derivation.
    let s = Server::demo_with(&["--max-failed-logins", "1000", "--address-limit", "1000"]);
    let c = Client::new();
    let once = |user: &str| {
        let t = Instant::now();
        let r = c
            .post(s.api("/session"))
            .json(&json!({"username": user, "password": "not the password"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        t.elapsed().as_micros()
    };
    // Warm up (the decoy key is made on first use), then alternate the two so that whatever
    // else the machine does weighs on both alike.
    once("no.such.user");
    once("nurse.chen");
    let (mut unknown, mut wrong, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        let (u, w) = (once("no.such.user"), once("nurse.chen"));
        unknown.push(u);
        wrong.push(w);
        // Each pair is timed back to back, under the same load: their ratio cancels it.
        ratios.push(u as f64 / w as f64);
    }
    unknown.sort();
    wrong.sort();
    ratios.sort_by(f64::total_cmp);
    let (unknown, wrong, ratio) = (unknown[25], wrong[25], ratios[25]);
    println!(
        "sign-in medians of 50: unknown user {unknown} µs, wrong password {wrong} µs; median ratio of pairs {ratio:.3}"
    );
    assert!((0.9..=1.1).contains(&ratio), "unknown/wrong = {ratio:.3}");
}

#[test]
fn a_dry_run_of_an_opening_says_what_would_be_recorded() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let vial = container(&s, &c, &nurse, KETAMINE_10, "sealed");
    let before = s.entries(&c, &nurse);
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"dry_run": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["entries"][0]["kind"], "container_opened", "{would}");
    assert_eq!(would["entries"][0]["container"], vial.as_str(), "{would}");
    assert_eq!(s.entries(&c, &nurse), before, "nothing recorded");
    assert_eq!(
        container(&s, &c, &nurse, KETAMINE_10, "sealed"),
        vial,
        "still sealed"
    );
}

#[test]
fn on_postgresql_two_server_processes_share_one_count_of_wrong_passwords() {
    let Some(a) = Server::demo_on_postgres() else {
        crate::harness::skipped_without_postgres("the shared password count");
        return;
    };
    let b = a.another();
    let c = Client::new();
    let wrong = |s: &Server| {
        c.post(s.api("/session"))
            .json(&json!({"username": "nurse.chen", "password": "not the password"}))
            .send()
            .unwrap()
    };
    // Five wrong passwords, spread over two processes: the account's count is one.
    for (i, s) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let r = wrong(s);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let e: Value = r.json().unwrap();
        assert_eq!(e["details"]["attempts_left"], 4 - i as u64, "{e}");
    }
    // The sixth waits, on either process, even with the right password.
    error(
        wrong(&b),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    let r = c
        .post(a.api("/session"))
        .json(&json!({"username": "nurse.chen", "password": a.password("nurse.chen")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // A colleague signs in on both.
    a.login(&c, "nurse.okafor");
    b.login(&c, "nurse.okafor");
}

#[test]
fn one_account_however_its_name_is_typed() {
    let s = Server::demo();
    let c = Client::new();
    for (i, name) in [
        "nurse.chen",
        "Nurse.Chen",
        " nurse.chen",
        "NURSE.CHEN",
        "nurse.chen\t",
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .post(s.api("/session"))
            .json(&json!({"username": name, "password": "not the password"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name:?}");
        let e: Value = r.json().unwrap();
        assert_eq!(e["details"]["attempts_left"], 4 - i as u64, "{name:?}: {e}");
        assert_eq!(e["details"]["account"], "nurse.chen", "{e}");
    }
    error(
        c.post(s.api("/session"))
            .json(&json!({"username": "Nurse.CHEN", "password": "not the password"}))
            .send()
            .unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
}

#[test]
fn a_dry_run_of_a_blind_count_does_not_say_what_is_expected() {
    let s = Server::demo();
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(&pharm)
        .json(
            &json!({"dry_run": true, "location": "SAFE-1", "product": KETAMINE_10,
                      "blind": true, "counted_sealed": 1}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["entries"][0]["kind"], "count", "{would}");
    assert!(would["entries"][0].get("expected").is_none(), "{would}");
    assert_eq!(would["entries"][0]["counted"]["sealed"], 1, "{would}");
}

#[test]
fn the_longest_idempotency_key_is_kept_on_every_database() {
    let run = |s: &Server| {
        let c = Client::new();
        let pharm = s.login(&c, "pharm.rivera");
        let key = "k".repeat(200);
        let send = || {
            c.post(s.api("/locations"))
                .bearer_auth(&pharm)
                .header("Idempotency-Key", &key)
                .json(
                    &json!({"location": "CART-7", "name": "Infusion cart 7", "kind": "cart",
                              "password": s.password("pharm.rivera")}),
                )
                .send()
                .unwrap()
        };
        // A pharmacist may not define locations: 403 before anything; an admin may.
        assert_eq!(send().status(), StatusCode::FORBIDDEN);
        let admin = s.login(&c, "admin");
        let send = || {
            c.post(s.api("/locations"))
                .bearer_auth(&admin)
                .header("Idempotency-Key", &key)
                .json(
                    &json!({"location": "CART-7", "name": "Infusion cart 7", "kind": "cart",
                              "password": s.password("admin")}),
                )
                .send()
                .unwrap()
        };
        let first: Value = send().json().unwrap();
        assert_eq!(first["kind"], "location_defined", "{first}");
        let again: Value = send().json().unwrap();
        assert_eq!(again, first);
    };
    run(&Server::demo());
    match Server::demo_on_postgres() {
        Some(s) => run(&s),
        None => crate::harness::skipped_without_postgres("the long key on PostgreSQL"),
    }
}

#[test]
fn an_entry_says_its_own_kind_and_a_location_keeps_its_own() {
    let s = Server::demo();
    let c = Client::new();
    let auditor = s.login(&c, "auditor.diaz");
    let page: Value = c
        .get(s.api("/entries?kind=location_defined&limit=10"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let seq = page["entries"][0]["seq"].as_u64().unwrap();
    assert_eq!(
        page["entries"][0]["entry"]["body"]["kind"], "location_defined",
        "{page}"
    );
    let one: Value = c
        .get(s.api(&format!("/entries/{seq}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["entry"]["body"]["kind"], "location_defined", "{one}");
    assert_eq!(one["entry"]["body"]["location_kind"], "safe", "{one}");
}

#[test]
fn a_misspelt_field_is_refused_by_name_and_only_json_is_json() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let vial = s.sealed_vial(&c, &nurse);
    let before = s.entries(&c, &nurse);
    // "witnes" would have sent the waste to the queue had it been ignored.
    let r = c
        .post(s.api(&format!("/containers/{vial}/waste")))
        .bearer_auth(&nurse)
        .json(
            &json!({"password": s.password("nurse.chen"), "reason": "remainder",
                      "witnes": {"username": "pharm.rivera", "password": "x"}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "unknown_field", "{e}");
    assert_eq!(e["details"]["field"], "witnes", "{e}");
    assert!(e["message"].as_str().unwrap().contains("witnes"), "{e}");
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .header("content-type", "application/json-patch+json")
        .body(json!({"password": s.password("nurse.chen")}).to_string())
        .send()
        .unwrap();
    error(r, StatusCode::BAD_REQUEST, "malformed");
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"dry_run": true}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a charset is fine");
    assert_eq!(s.entries(&c, &nurse), before, "nothing written");
}

#[test]
fn a_page_size_outside_the_documented_range_is_refused() {
    let s = Server::demo();
    let c = Client::new();
    let auditor = s.login(&c, "auditor.diaz");
    for limit in ["0", "1001", "9223372036854775808"] {
        let r = c
            .get(s.api(&format!("/entries?limit={limit}")))
            .bearer_auth(&auditor)
            .send()
            .unwrap();
        error(r, StatusCode::BAD_REQUEST, "malformed");
    }
    let r = c
        .get(s.api("/entries?limit=1000"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
