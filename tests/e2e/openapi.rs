//! The OpenAPI document against the answers seen: the demo clinic served by the real binary,
//! its document fetched from `/api/openapi.json`, and every operation in it sent the
//! requests that provoke what it documents and the usual mistakes — no session, each role,
//! a body sent as `application/json-patch+json`, malformed JSON, an unknown field, a body
//! over 64 KiB, a bad `Idempotency-Key`, a bad query parameter, a ledger id that is not one,
//! a ledger that is not this one, a container (user, entry, …) that is not there — plus a
//! valid request where one is cheap (every read; a dry run of a signed act whose body the
//! document's own schema can make). Every status answered must be listed for that operation
//! in the document, and none may be a 5xx.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::Server;

/// One of each role of the demo clinic.
const ROLES: [&str; 4] = ["admin", "pharm.rivera", "nurse.chen", "auditor.diaz"];

/// Operations anyone may call, without a session.
const OPEN: [&str; 6] = [
    "GET /healthz",
    "GET /readyz",
    "GET /api/v1/ledgers",
    "GET /api/v1/ledgers/{ledger}/checkpoint",
    "POST /api/v1/ledgers/{ledger}/session",
    "POST /api/v1/ledgers/{ledger}/bootstrap",
];

/// An operation of the document.
struct Op {
    method: Method,
    path: String,
    spec: Value,
}

impl Op {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn documented(&self) -> BTreeSet<u16> {
        self.spec["responses"]
            .as_object()
            .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default()
    }

    fn params(&self, place: &str) -> Vec<&Value> {
        self.spec["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == place).collect())
            .unwrap_or_default()
    }

    fn body_schema(&self) -> Option<&Value> {
        let s = &self.spec["requestBody"]["content"]["application/json"]["schema"];
        (!s.is_null()).then_some(s)
    }

    fn takes_idempotency_key(&self) -> bool {
        self.params("header")
            .iter()
            .any(|p| p["name"] == "Idempotency-Key")
    }
}

/// Every operation in the document; deletions come last (a patient erased is not there to
/// read), signing out last of all.
fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, spec) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            ops.push(Op {
                method,
                path: path.clone(),
                spec: spec.clone(),
            });
        }
    }
    ops.sort_by_key(|o| match (&o.method, o.path.ends_with("/session")) {
        (&Method::DELETE, true) => 2,
        (&Method::DELETE, false) => 1,
        _ => 0,
    });
    ops
}

/// `#/components/schemas/X` of the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The least value `schema` allows: its required properties only, strings `"x"`, numbers
/// their minimum or 1, the first of an enum or of a `oneOf`, and `dry_run: true` wherever a
/// request offers a dry run (so a request that passes every check records nothing).
fn sample(doc: &Value, schema: &Value) -> Value {
    let s = resolve(doc, schema);
    if let Some(e) = s["enum"].as_array().and_then(|e| e.first()) {
        return e.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = s[key]
            .as_array()
            .and_then(|alts| alts.iter().find(|a| resolve(doc, a)["type"] != "null"))
        {
            return sample(doc, first);
        }
    }
    if let Some(parts) = s["allOf"].as_array() {
        let mut all = serde_json::Map::new();
        for p in parts {
            if let Value::Object(m) = sample(doc, p) {
                all.extend(m);
            }
        }
        return Value::Object(all);
    }
    let ty = match &s["type"] {
        Value::Array(ts) => ts
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or_default(),
        t => t.clone(),
    };
    match ty.as_str().unwrap_or("object") {
        "string" => json!("x"),
        "integer" | "number" => json!(s["minimum"].as_u64().unwrap_or(1)),
        "boolean" => json!(false),
        "array" => json!([]),
        "null" => Value::Null,
        _ => {
            let mut m = serde_json::Map::new();
            let required: Vec<&str> = s["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                m.insert(name.to_string(), sample(doc, &s["properties"][name]));
            }
            if s["properties"]["dry_run"].is_object() {
                m.insert("dry_run".into(), json!(true));
            }
            Value::Object(m)
        }
    }
}

/// What a request carries.
enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// One request of a probe: what it tries, and what it sends.
struct Probe {
    what: String,
    token: Option<String>,
    url: String,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

/// A status and, for JSON, the body.
fn send(c: &Client, method: &Method, p: &Probe) -> (u16, Value) {
    let mut r = c.request(method.clone(), &p.url);
    if let Some(t) = &p.token {
        r = r.bearer_auth(t);
    }
    for (k, v) in &p.headers {
        r = r.header(*k, v);
    }
    r = match &p.body {
        Body::None => r,
        Body::Json(v) => r.json(v),
        Body::Raw(ct, bytes) => r.header("content-type", *ct).body(bytes.clone()),
    };
    let resp = r
        .send()
        .unwrap_or_else(|e| panic!("{method} {}: {e}", p.url));
    let status = resp.status().as_u16();
    let json = resp.json().unwrap_or(Value::Null);
    (status, json)
}

/// `template` with its path parameters replaced from `values`.
fn fill(s: &Server, template: &str, values: &BTreeMap<String, String>) -> String {
    let mut path = template.to_string();
    for (k, v) in values {
        path = path.replace(&format!("{{{k}}}"), v);
    }
    format!("{}{path}", s.url())
}

#[test]
fn every_status_answered_is_in_the_openapi_document() {
    let s = Server::demo();
    let c = Client::new();
    let doc: Value = c
        .get(format!("{}/api/openapi.json", s.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tokens: BTreeMap<&str, String> = ROLES.iter().map(|u| (*u, s.login(&c, u))).collect();
    let pharmacist = tokens["pharm.rivera"].clone();

    // What the path parameters name: something there, and something not.
    let vial = s.sealed_vial(&c, &pharmacist);
    let checkpoint: Value = c
        .post(s.api("/checkpoints"))
        .bearer_auth(&tokens["auditor.diaz"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let patient: Value = c
        .post(s.api("/patients"))
        .bearer_auth(&tokens["nurse.chen"])
        .json(&json!({"mrn": "MRN-OPENAPI-1", "name": "Pat Example",
                      "address": "1 Main St", "date_of_birth": "1980-01-02"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let queued: Value = c
        .get(s.api("/wastes/awaiting-witness"))
        .bearer_auth(&pharmacist)
        .send()
        .unwrap()
        .json()
        .unwrap();
    // A REMS session on a Spravato dose to a demo patient enrolled in the REMS.
    let dose: Value = c
        .post(s.api("/doses"))
        .bearer_auth(&tokens["nurse.chen"])
        .json(
            &json!({"patient": "MRN-100011", "product": "50458-0028-02", "dose_mg": "28",
                      "password": s.password("nurse.chen"),
                      "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let given = dose["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["kind"] == "administered"))
        .map(|e| e["seq"].clone())
        .unwrap_or_else(|| panic!("a Spravato dose: {dose}"));
    let session: Value = c
        .post(s.api("/rems/sessions"))
        .bearer_auth(&tokens["nurse.chen"])
        .json(&json!({"patient": "MRN-100011", "doses": [given], "setting": "Demo clinic"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let there: BTreeMap<String, String> = [
        ("ledger", s.ledger().to_string()),
        ("container", vial),
        ("seq", "1".into()),
        ("size", checkpoint["size"].to_string()),
        ("user", "nurse.chen".into()),
        (
            "patient_ref",
            patient["patient_ref"].as_str().unwrap().into(),
        ),
        (
            "id",
            queued[0]["id"]
                .as_str()
                .unwrap_or("01890000-0000-7000-8000-000000000000")
                .into(),
        ),
        ("file", "audit.pdf".into()),
        ("state", "FL".into()),
        ("dea", "AP5836727".into()),
        ("session", session["id"].as_str().unwrap().into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let not_there: BTreeMap<&str, &str> = [
        ("container", "C999999-1"),
        ("seq", "99999999"),
        ("size", "99999999"),
        ("user", "no.one"),
        ("patient_ref", "00"),
        ("id", "not-an-entry-id"),
        ("file", "nothing.pdf"),
        ("state", "ZZ"),
        ("dea", "ZZ0000000"),
        ("session", "rems-99999999"),
    ]
    .into_iter()
    .collect();

    let ops = operations(&doc);
    assert!(
        ops.len() >= 40,
        "the document lists the operations: {}",
        ops.len()
    );
    let mut failures = Vec::new();
    let mut requests = 0;
    for op in &ops {
        let name = op.name();
        let documented = op.documented();
        let open = OPEN.contains(&name.as_str());
        // Signing out ends the session it is sent with: each of its requests signs in anew.
        let signs_out = op.method == Method::DELETE && op.path.ends_with("/session");
        let token_of = |role: &str| {
            Some(if signs_out {
                s.login(&c, role)
            } else {
                tokens[role].clone()
            })
        };
        let query: String = op
            .params("query")
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| format!("{}=1", p["name"].as_str().unwrap()))
            .collect::<Vec<_>>()
            .join("&");
        let url = |values: &BTreeMap<String, String>, q: &str| {
            let base = fill(&s, &op.path, values);
            if q.is_empty() {
                base
            } else {
                format!("{base}?{q}")
            }
        };
        let valid_url = url(&there, &query);
        let body = op.body_schema().map(|schema| sample(&doc, schema));
        let json_body = || body.clone().map_or(Body::None, Body::Json);

        let mut probes: Vec<Probe> = Vec::new();
        // Without a session, then as each role.
        probes.push(Probe {
            what: "no session".into(),
            token: None,
            url: valid_url.clone(),
            body: json_body(),
            headers: vec![],
        });
        for role in ROLES {
            probes.push(Probe {
                what: format!("as {role}"),
                token: token_of(role),
                url: valid_url.clone(),
                body: json_body(),
                headers: vec![],
            });
        }
        let mut seen: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        let mut answered = |what: &str, status: u16, body: &Value| {
            seen.entry(status)
                .or_default()
                .push(format!("{what}: {}", body["code"].as_str().unwrap_or("")));
        };
        let mut by_role = BTreeMap::new();
        for p in probes.drain(..) {
            let (status, body) = send(&c, &op.method, &p);
            requests += 1;
            answered(&p.what, status, &body);
            if p.what == "no session" && !open && (status != 401 || body["code"] != "not_signed_in")
            {
                failures.push(format!(
                    "{name} without a session answered {status} {body}, not 401 not_signed_in"
                ));
            }
            by_role.insert(p.what.clone(), status);
        }
        // The role the rest is asked as: the first one let in.
        let allowed = ROLES
            .iter()
            .find(|r| by_role.get(&format!("as {r}")) != Some(&403))
            .copied()
            .unwrap_or("pharm.rivera");
        let token = || token_of(allowed);

        // A ledger id that is not one, and a ledger that is not this one.
        for (what, ledger) in [
            ("a ledger id that is not one", "not-a-ledger".to_string()),
            (
                "a ledger that is not this one",
                "01890000-0000-7000-8000-000000000000".to_string(),
            ),
        ] {
            if !op.path.contains("{ledger}") {
                continue;
            }
            let mut values = there.clone();
            values.insert("ledger".into(), ledger);
            probes.push(Probe {
                what: what.into(),
                token: token(),
                url: url(&values, &query),
                body: json_body(),
                headers: vec![],
            });
        }
        // Whatever else the path names, not there.
        for (param, value) in &not_there {
            if op.path.contains(&format!("{{{param}}}")) {
                let mut values = there.clone();
                values.insert(param.to_string(), value.to_string());
                probes.push(Probe {
                    what: format!("no such {param}"),
                    token: token(),
                    url: url(&values, &query),
                    body: json_body(),
                    headers: vec![],
                });
            }
        }
        // Each query parameter with a value it cannot take.
        for p in op.params("query") {
            let param = p["name"].as_str().unwrap();
            let bad = match resolve(&doc, &p["schema"])["type"].as_str() {
                Some("integer") => "minus-one",
                Some("boolean") => "maybe",
                _ => "%3F%3F",
            };
            let q: Vec<String> = op
                .params("query")
                .iter()
                .filter(|o| o["required"] == true && o["name"] != param)
                .map(|o| format!("{}=1", o["name"].as_str().unwrap()))
                .chain([format!("{param}={bad}")])
                .collect();
            probes.push(Probe {
                what: format!("a bad {param}"),
                token: token(),
                url: url(&there, &q.join("&")),
                body: json_body(),
                headers: vec![],
            });
        }
        if op.takes_idempotency_key() {
            probes.push(Probe {
                what: "a bad Idempotency-Key".into(),
                token: token(),
                url: valid_url.clone(),
                body: json_body(),
                headers: vec![("idempotency-key", "two words".into())],
            });
        }
        // The body's usual mistakes.
        if let Some(b) = &body {
            let mut unknown = b.clone();
            unknown["no_such_field"] = json!(1);
            let bodies = [
                (
                    "a JSON Patch body",
                    Body::Raw("application/json-patch+json", b.to_string().into_bytes()),
                ),
                (
                    "malformed JSON",
                    Body::Raw("application/json", b"{,".to_vec()),
                ),
                ("an unknown field", Body::Json(unknown)),
                (
                    "a body over 64 KiB",
                    Body::Raw(
                        "application/json",
                        format!("{{\"password\": \"{}\"}}", "x".repeat(70 * 1024)).into_bytes(),
                    ),
                ),
            ];
            for (what, body) in bodies {
                probes.push(Probe {
                    what: what.into(),
                    token: token(),
                    url: valid_url.clone(),
                    body,
                    headers: vec![],
                });
            }
        }
        for p in probes {
            let (status, body) = send(&c, &op.method, &p);
            requests += 1;
            answered(&p.what, status, &body);
            let expect = match p.what.as_str() {
                "a ledger id that is not one" if documented.contains(&404) => {
                    Some((404, "not_found"))
                }
                "a JSON Patch body" | "malformed JSON" => Some((400, "malformed")),
                "an unknown field" => Some((422, "unknown_field")),
                "a body over 64 KiB" => Some((413, "too_large")),
                "a bad Idempotency-Key" => Some((400, "malformed")),
                _ => None,
            };
            if let Some((want, code)) = expect
                && (status != want || body["code"] != code)
            {
                failures.push(format!(
                    "{name} with {}: answered {status} {body}, not {want} {code}",
                    p.what
                ));
            }
        }

        let statuses: BTreeSet<u16> = seen.keys().copied().collect();
        for (status, whats) in &seen {
            if *status >= 500 {
                failures.push(format!("{name} answered {status} to {whats:?}"));
            } else if !documented.contains(status) {
                failures.push(format!(
                    "{name} answered {status}, which its responses do not list {documented:?}, to {whats:?}"
                ));
            }
        }
        if op.method == Method::GET && !statuses.iter().any(|s| (200..300).contains(s)) {
            failures.push(format!("{name}: no role got an answer of 2xx: {seen:?}"));
        }
        println!(
            "{name}: answered {statuses:?}, documents {documented:?}{}",
            if documented.is_subset(&statuses) {
                String::new()
            } else {
                format!(
                    " (not provoked: {:?})",
                    documented.difference(&statuses).collect::<Vec<_>>()
                )
            }
        );
    }

    // What no operation answers to the probes above: a conflict and the throttle.
    let exists = c
        .post(s.api("/users"))
        .bearer_auth(&tokens["admin"])
        .json(
            &json!({"dry_run": true, "password": "", "username": "nurse.chen",
                      "printed_name": "Mei Chen, RN", "role": "nurse",
                      "initial_password": "violet-harbor-lantern-42"}),
        )
        .send()
        .unwrap();
    let enroll = ops
        .iter()
        .find(|o| o.method == Method::POST && o.path.ends_with("/users"))
        .expect("enrollment is documented");
    let status = exists.status().as_u16();
    if status != 409 || !enroll.documented().contains(&409) {
        failures.push(format!(
            "enrolling a user who exists: {status}, not a documented 409"
        ));
    }
    let login = ops
        .iter()
        .find(|o| o.method == Method::POST && o.path.ends_with("/session"))
        .expect("sign-in is documented");
    let mut last = 0;
    for _ in 0..8 {
        last = c
            .post(s.api("/session"))
            .json(&json!({"username": "no.such.person", "password": "not it at all"}))
            .send()
            .unwrap()
            .status()
            .as_u16();
        requests += 1;
        if last == 429 {
            break;
        }
    }
    if last != 429 || !login.documented().contains(&429) {
        failures.push(format!(
            "repeated wrong passwords: {last}, not a documented 429"
        ));
    }
    crate::say(&format!(
        "openapi: {} operations, {requests} requests, {} answers differing from the document",
        ops.len(),
        failures.len()
    ));
    assert!(
        failures.is_empty(),
        "{} answers differ from the document:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
