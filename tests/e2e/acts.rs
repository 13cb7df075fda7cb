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
    // 84 mg from one 28 mg Spravato device, opened first (for real): the amount is what
    // the rules refuse.
    let device = container(&s, &c, &nurse, SPRAVATO, "sealed");
    let r = post(
        format!("/containers/{device}/open"),
        &nurse,
        json!({"password": s.password("nurse.chen")}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let before = before + 1;
    // For a patient enrolled in the Spravato REMS (the demo's MRN-100011).
    let mut spravato = dose("84", "", true);
    spravato["patient"] = json!("MRN-100011");
    error(
        post(format!("/containers/{device}/administer"), &nurse, spravato),
        StatusCode::CONFLICT,
        "insufficient_stock",
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
    // An adjustment resolving a count of another product (the demo's discrepancy is a count
    // of the 100 mg/mL vials; this names a Spravato device).
    let counts: Value = c
        .get(s.api("/entries?kind=count&limit=1000"))
        .bearer_auth(&pharm)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let count = counts["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"]["body"]["counted"] != e["entry"]["body"]["expected"])
        .expect("the demo has a count that found a difference")["seq"]
        .clone();
    let r = post(
        format!("/containers/{device}/adjust"),
        &pharm,
        json!({"dry_run": true, "reason": "count discrepancy", "direction": "decrease",
               "amount_mg": "28", "resolves": count, "note": "missing",
               "witness": {"username": "nurse.chen"}}),
    );
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "rule_violation", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&format!("count {count} was")),
        "the count and the container do not match: {e}"
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
    let pharm = s.login(&c, "pharm.rivera");
    let _auditor = s.login(&c, "auditor.diaz");
    assert_eq!(
        open(&okafor, &s.password("nurse.okafor")).status(),
        StatusCode::OK
    );
    // The pharmacist signs an act of her own too: she opens another vial.
    let other = container(&s, &c, &pharm, KETAMINE_10, "sealed");
    assert_ne!(other, vial);
    let r = c
        .post(s.api(&format!("/containers/{other}/open")))
        .bearer_auth(&pharm)
        .json(&json!({"password": s.password("pharm.rivera")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
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
    for i in 0..50 {
        // Each goes first in half of the pairs: what one request leaves behind for the next
        // (a freed key-derivation buffer, a pooled connection) weighs on both alike.
        let (u, w) = if i % 2 == 0 {
            let u = once("no.such.user");
            (u, once("nurse.chen"))
        } else {
            let w = once("nurse.chen");
            (once("no.such.user"), w)
        };
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
    // The leak this guards against, a name that is no one's answered without a key
    // derivation, shows as a ratio near 0.15 (5 ms against 28 ms in the test build). Alone
    // the ratio is 0.99–1.01; beside two busy cores 0.96–1.03; CI, running other tests' key
    // derivations beside it on 2 cores, once measured 1.105. The band allows that and still
    // catches the leak, or a second derivation for one side (2.0).
    assert!((0.8..=1.25).contains(&ratio), "unknown/wrong = {ratio:.3}");
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

/// One person signing on two server processes at once (two devices behind a load balancer),
/// with the right password every time: no signature is refused as if wrong passwords had
/// started a wait. Each process reads its clock before its attempt reaches the database, so
/// an attempt may read it a moment before the other process's reservation is written (with
/// `wrk`, two clients a process for 10 s, 27 of 1,142 such signatures were refused with
/// `too_many_attempts` before `throttle::allowed_at`).
#[test]
fn on_postgresql_one_account_signing_on_two_processes_at_once_is_never_throttled() {
    let Some(a) = Server::demo_on_postgres() else {
        crate::harness::skipped_without_postgres("one account signing on two processes");
        return;
    };
    let b = a.another();
    let token = a.login(&Client::new(), "nurse.chen");
    let password = a.password("nurse.chen");
    let count = json!({"password": password, "location": "SAFE-1", "product": KETAMINE_10,
                       "blind": true, "counted_sealed": 0});
    // Two clients on each process: each process takes the account's attempts in turn, the two
    // processes side by side.
    let refused: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|s| {
                let (token, count) = (&token, &count);
                scope.spawn(move || {
                    let c = Client::new();
                    (0..25)
                        .filter_map(|_| {
                            let r = c
                                .post(s.api("/counts"))
                                .bearer_auth(token)
                                .json(count)
                                .send()
                                .unwrap();
                            (!r.status().is_success()).then(|| r.text().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        refused.is_empty(),
        "{} of 100 refused: {refused:?}",
        refused.len()
    );
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

/// A key rotation of one's own and an admin's password reset, like every signed act: a dry
/// run that checks the rules before any password and records nothing, and an
/// `Idempotency-Key` that records one entry however often the request is sent.
#[test]
fn a_key_rotation_and_a_reset_take_a_dry_run_and_an_idempotency_key() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let admin = s.login(&c, "admin");
    let before = s.entries(&c, &admin);
    let send = |path: &str, token: &str, key: Option<&str>, body: Value| {
        let mut r = c.post(s.api(path)).bearer_auth(token).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().unwrap()
    };

    // Dry runs: no password, what would be recorded, nothing written.
    let r = send(
        "/me/key",
        &nurse,
        None,
        json!({"dry_run": true, "reason": "phone lost"}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["dry_run"], true, "{would}");
    assert_eq!(would["entries"][0]["kind"], "key_rotated", "{would}");
    let r = send(
        "/users/nurse.okafor/reset",
        &admin,
        None,
        json!({"dry_run": true, "new_password": "a brand new passphrase 7"}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["dry_run"], true, "{would}");
    assert_eq!(would["entries"][0]["kind"], "key_rotated", "{would}");
    // A reset's dry run still applies the rules: a weak password, an unknown user.
    error(
        send(
            "/users/nurse.okafor/reset",
            &admin,
            None,
            json!({"dry_run": true, "new_password": "short"}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    );
    assert_eq!(s.entries(&c, &admin), before, "dry runs write nothing");
    // Okafor's password is unchanged by the dry run.
    s.login(&c, "nurse.okafor");

    // The same key twice: one entry, the same answer; with another body, refused.
    let rotate = |reason: &str| json!({"password": s.password("nurse.chen"), "reason": reason});
    let first = send("/me/key", &nurse, Some("rotate-1"), rotate("phone lost"));
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().unwrap();
    assert_eq!(first["kind"], "key_rotated", "{first}");
    let again: Value = send("/me/key", &nurse, Some("rotate-1"), rotate("phone lost"))
        .json()
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(s.entries(&c, &admin), before + 1, "one rotation");
    error(
        send(
            "/me/key",
            &nurse,
            Some("rotate-1"),
            rotate("another reason"),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // Her key is sealed under the same password: she still signs.
    let vial = container(&s, &c, &nurse, KETAMINE_10, "sealed");
    let r = send(
        &format!("/containers/{vial}/open"),
        &nurse,
        None,
        json!({"password": s.password("nurse.chen")}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let before = before + 2;

    let reset =
        json!({"password": s.password("admin"), "new_password": "a brand new passphrase 7"});
    let first = send(
        "/users/nurse.okafor/reset",
        &admin,
        Some("reset-1"),
        reset.clone(),
    );
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().unwrap();
    let again: Value = send("/users/nurse.okafor/reset", &admin, Some("reset-1"), reset)
        .json()
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(s.entries(&c, &admin), before + 1, "one reset");
}

/// The first admin's sign-up with the bootstrap token: a dry run checks the token and the
/// rules and leaves the token usable; the same `Idempotency-Key` again answers with the
/// first enrollment instead of refusing the used token.
#[test]
fn the_bootstrap_takes_a_dry_run_and_an_idempotency_key() {
    let s = Server::fresh();
    let c = Client::new();
    let token = s.bootstrap.clone().expect("a bootstrap token");
    let password = "a long admin passphrase 42";
    let boot = |key: Option<&str>, token: &str, dry_run: bool| {
        let mut r = c.post(s.api("/bootstrap")).json(&json!({
            "token": token, "username": "admin.grey", "printed_name": "Sam Grey",
            "password": password, "dry_run": dry_run}));
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().unwrap()
    };
    // A dry run with a wrong token is refused as a signature would be.
    error(
        boot(None, "not-the-token", true),
        StatusCode::UNAUTHORIZED,
        "bad_token",
    );
    let r = boot(None, &token, true);
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["dry_run"], true, "{would}");
    assert_eq!(would["entries"][0]["kind"], "user_enrolled", "{would}");
    assert_eq!(would["entries"][0]["role"], "admin", "{would}");
    // No one is enrolled by it.
    let r = c
        .post(s.api("/session"))
        .json(&json!({"username": "admin.grey", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let first = boot(Some("boot-1"), &token, false);
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().unwrap();
    assert_eq!(first["signatures"][0]["meaning"], "registrant", "{first}");
    // Sent again (the answer was lost): the first enrollment, not a refusal of the used token.
    let again = boot(Some("boot-1"), &token, false);
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().unwrap(), first);
    // Without the key it is a new request, and the token is used.
    error(
        boot(None, &token, false),
        StatusCode::UNAUTHORIZED,
        "bad_token",
    );
    let r = c
        .post(s.api("/session"))
        .json(&json!({"username": "admin.grey", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let admin = r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.entries(&c, &admin),
        first["seq"].as_u64().unwrap() + 1,
        "one enrollment"
    );
}

/// A waste sent to the awaiting-witness queue when no one else could witness yet is still
/// checked by every rule but the missing witness, before the password.
#[test]
fn a_queued_waste_is_checked_before_the_password_with_no_one_to_witness_yet() {
    let s = Server::demo();
    let c = Client::new();
    let admin = s.login(&c, "admin");
    let nurse = s.login(&c, "nurse.chen");
    let vial = container(&s, &c, &nurse, KETAMINE_10, "sealed");
    let r = c
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&nurse)
        .json(&json!({"password": s.password("nurse.chen")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Everyone else who could witness leaves the clinic.
    for user in ["pharm.rivera", "nurse.okafor"] {
        let r = c
            .post(s.api(&format!("/users/{user}/deactivate")))
            .bearer_auth(&admin)
            .json(&json!({"password": s.password("admin"), "reason": "left the clinic"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    }
    let before = s.entries(&c, &nurse);
    let waste = |mg: &str| {
        c.post(s.api(&format!("/containers/{vial}/waste")))
            .bearer_auth(&nurse)
            .json(&json!({"dry_run": true, "reason": "remainder", "amount_mg": mg}))
            .send()
            .unwrap()
    };
    // More than the vial holds: refused by the rules, no password asked.
    error(waste("999"), StatusCode::CONFLICT, "insufficient_stock");
    error(
        waste("0"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "zero_quantity",
    );
    // What it holds: accepted, signed by its author alone, to wait for a witness.
    let r = waste("50");
    assert_eq!(r.status(), StatusCode::OK);
    let would: Value = r.json().unwrap();
    assert_eq!(would["entries"][0]["kind"], "waste", "{would}");
    assert_eq!(s.entries(&c, &nurse), before, "dry runs write nothing");
}

/// Behind a trusted reverse proxy the client's address comes from `X-Forwarded-For`: the
/// per-address limit (100 wrong passwords in 15 minutes) stops the 101st from one client,
/// while a colleague behind another address still signs in.
#[test]
fn a_trusted_proxy_names_the_client_and_the_address_limit_stops_the_101st_failure() {
    let s = Server::demo_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let c = Client::new();
    let sign_in = |from: &str, user: &str, password: &str| {
        c.post(s.api("/session"))
            .header("X-Forwarded-For", from)
            .json(&json!({"username": user, "password": password}))
            .send()
            .unwrap()
    };
    let started = Instant::now();
    // A hundred names sprayed from one client: each account fails once, the address 100 times.
    for i in 0..100 {
        let r = sign_in("203.0.113.7", &format!("guess.{i}"), "not the password");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    println!("100 wrong passwords in {:?}", started.elapsed());
    let r = sign_in("203.0.113.7", "guess.100", "not the password");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "too_many_attempts", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("203.0.113.7"),
        "the forwarded address is the one limited: {e}"
    );
    // Even a right password waits at that address…
    let r = sign_in("203.0.113.7", "pharm.rivera", &s.password("pharm.rivera"));
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // …while another account at another address signs in.
    let r = sign_in("198.51.100.4", "nurse.okafor", &s.password("nurse.okafor"));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
}

/// A peer that is not a trusted proxy cannot choose its address with `X-Forwarded-For`: the
/// limit counts the peer's own.
#[test]
fn an_untrusted_peer_cannot_choose_its_address() {
    let s = Server::demo_with(&["--address-limit", "3"]);
    let c = Client::new();
    let sign_in = |from: &str, user: &str, password: &str| {
        c.post(s.api("/session"))
            .header("X-Forwarded-For", from)
            .json(&json!({"username": user, "password": password}))
            .send()
            .unwrap()
    };
    for i in 0..3 {
        let r = sign_in(&format!("203.0.113.{i}"), "guess.me", "not the password");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = sign_in("198.51.100.4", "nurse.okafor", &s.password("nurse.okafor"));
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let e: Value = r.json().unwrap();
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("127.0.0.1"), "{e}");
    assert!(!message.contains("198.51.100.4"), "{e}");
}
