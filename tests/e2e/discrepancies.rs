//! `GET …/discrepancies?status=`: what counts found that differs from the ledger, oldest
//! first, with their age — the open ones by default, the resolved ones with the adjustment
//! that resolved them.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, error};

#[test]
fn discrepancies_are_listed_by_status_with_their_age() {
    let s = Server::demo();
    let c = Client::new();
    let t = s.login(&c, "pharm.rivera");
    let list = |q: &str| -> Value {
        let r = c
            .get(s.api(&format!("/discrepancies{q}")))
            .bearer_auth(&t)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        r.json().unwrap()
    };
    // The demo's month-end count found a vial missing, and an adjustment resolved it.
    assert_eq!(list(""), json!([]));
    let resolved = list("?status=resolved");
    let resolved = resolved.as_array().unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(
        resolved[0]["resolved_by"].as_u64().unwrap() > resolved[0]["count_seq"].as_u64().unwrap()
    );
    assert_eq!(
        resolved[0]["expected_sealed"].as_u64().unwrap(),
        resolved[0]["counted_sealed"].as_u64().unwrap() + 1
    );
    assert!(resolved[0]["age_days"].as_i64().unwrap() >= 1);

    // A count that differs now: open, of age 0, until an adjustment resolves it.
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(&t)
        .json(
            &json!({"password": s.password("pharm.rivera"), "location": "SAFE-1",
                      "product": "42023-0115-05", "blind": true,
                      "counted_sealed": 999, "counted_open": 0}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let open = list("?status=open");
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["counted_sealed"], 999);
    assert_eq!(open[0]["age_days"], 0);
    assert_eq!(open[0]["resolved_by"], Value::Null);
    assert_eq!(
        open[0]["product_name"],
        "Ketamine HCl injection 100 mg/mL, 5 mL vial"
    );
    assert_eq!(list("?status=all").as_array().unwrap().len(), 2);

    // A status that is none of these: 400, by name.
    let r = c
        .get(s.api("/discrepancies?status=closed"))
        .bearer_auth(&t)
        .send()
        .unwrap();
    error(r, StatusCode::BAD_REQUEST, "malformed");
    // Not signed in: 401.
    let r = c.get(s.api("/discrepancies")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
