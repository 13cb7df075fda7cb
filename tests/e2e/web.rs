//! The web pages over real HTTP (the browser suite in `tests/browser` drives them in
//! chromium): sign-in, the dashboard, sign-out, CSRF, security headers, and the forms'
//! refusals: errors beside their fields, nothing written, role limits.

use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::harness::session_cookie;
use crate::http::Server;

pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn sign_in_see_the_dashboard_sign_out() {
    let mut s = Server::start();
    let c = client();
    // Not signed in: the pages send you to sign in.
    let r = c.get(format!("{}/ui", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui/login");
    let r = c.get(format!("{}/ui/login", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let page = r.text().unwrap();
    assert!(page.contains("<label for=\"username\">") && page.contains("<label for=\"password\">"));
    assert!(!page.contains("<script>"), "no inline script");

    // A wrong password: the page says why and keeps the name typed.
    let r = c
        .post(format!("{}/ui/login", s.url()))
        .form(&[
            ("ledger", s.ledger()),
            ("username", "nurse.chen"),
            ("password", "nope nope nope"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = r.text().unwrap();
    assert!(page.contains("user name or password is wrong"), "{page}");
    assert!(page.contains("value=\"nurse.chen\""), "{page}");

    let pw = s.password("pharm.rivera");
    let r = c
        .post(format!("{}/ui/login", s.url()))
        .form(&[
            ("ledger", s.ledger()),
            ("username", "pharm.rivera"),
            ("password", pw.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let session = session_cookie(&r);
    let r = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().unwrap();
    for must in [
        "Dashboard",
        "On hand",
        "Open containers",
        "Wastes awaiting a witness",
        "Dana Rivera, PharmD",
        "Riverside Ketamine Clinic",
    ] {
        assert!(page.contains(must), "the dashboard shows {must:?}");
    }
    let csrf = csrf_of(&page);

    // Sign-out needs this session's form token.
    let r = c
        .post(format!("{}/ui/logout", s.url()))
        .header("cookie", &session)
        .form(&[("csrf", "forged")])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a forged form did nothing");
    let r = c
        .post(format!("{}/ui/logout", s.url()))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session ended");
    s.stop();
}

pub(crate) fn page(c: &Client, s: &Server, session: &str, path: &str) -> (StatusCode, String) {
    let r = c
        .get(format!("{}{path}", s.url()))
        .header("cookie", session)
        .send()
        .unwrap();
    (r.status(), r.text().unwrap())
}

fn post(
    c: &Client,
    s: &Server,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = c
        .post(format!("{}{path}", s.url()))
        .header("cookie", session)
        .form(form)
        .send()
        .unwrap();
    (r.status(), r.text().unwrap())
}

/// Posts a signed form: it answers with a redirect to what was recorded (post/redirect/get),
/// which is followed; the status of the post and the page it leads to.
fn signed(
    c: &Client,
    s: &Server,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = c
        .post(format!("{}{path}", s.url()))
        .header("cookie", session)
        .form(form)
        .send()
        .unwrap();
    let status = r.status();
    if status != StatusCode::SEE_OTHER {
        return (status, r.text().unwrap());
    }
    let to = r.headers()["location"].to_str().unwrap().to_string();
    (status, page(c, s, session, &to).1)
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
}

#[test]
fn forms_refuse_bad_input_beside_the_field_and_write_nothing() {
    let mut s = Server::start();
    let c = client();
    let api = Client::new();
    let token = s.login(&api, "auditor.diaz");
    let pharm_pw = s.password("pharm.rivera");
    let pharm = s.web_cookie("pharm.rivera", &pharm_pw);
    let (status, form) = page(&c, &s, &pharm, "/ui/receive");
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains("data-check=\"dea\""),
        "the DEA field is checked as typed"
    );
    let csrf = csrf_of(&form);
    let before = s.entries(&api, &token);
    let (expiry_1, expiry_2) = (crate::expiry("01-31"), crate::expiry("02-28"));
    let invoice = |dea: &'static str| {
        vec![
            ("supplier_name", "McKesson Medical-Surgical"),
            ("supplier_address", "9954 Mayland Drive, Richmond VA 23233"),
            ("supplier_dea", dea),
            ("invoice", "INV-9"),
            ("received_on", "2026-11-20"),
            ("product_1", "42023-0113-10"),
            ("lot_1", "WEB1"),
            ("expiry_1", expiry_1.as_str()),
            ("containers_1", "2"),
            ("location_1", "SAFE-1"),
            ("product_2", "42023-0113-10"),
            ("lot_2", "WEB2"),
            ("expiry_2", expiry_2.as_str()),
            ("containers_2", "1"),
            ("location_2", "SAFE-1"),
        ]
    };

    // A DEA number whose check digit is wrong: refused beside its field, the rest kept.
    let mut f = invoice("RM4827160");
    f.push(("csrf", &csrf));
    let (status, body) = post(&c, &s, &pharm, "/ui/receive", &f);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let err = body
        .split("id=\"supplier_dea-err\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(err.contains("check digit does not match"), "{err}");
    assert!(
        body.contains("value=\"INV-9\"") && body.contains("value=\"WEB2\""),
        "what was typed is kept"
    );
    assert_eq!(s.entries(&api, &token), before, "nothing was written");

    // An invoice whose third line cannot be recorded (a location that is not here), sent
    // signed as it stands: all three lines or none — none, and nothing half-written.
    let mut f = invoice("RM4827169");
    let expiry_3 = crate::expiry("03-31");
    f.extend([
        ("product_3", "42023-0113-10"),
        ("lot_3", "WEB3"),
        ("expiry_3", expiry_3.as_str()),
        ("containers_3", "1"),
        ("location_3", "CART-9"),
        ("csrf", &csrf),
        ("confirm", "yes"),
        ("password", &pharm_pw),
    ]);
    let (status, body) = post(&c, &s, &pharm, "/ui/receive", &f);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("CART-9"),
        "the refusal names the location: {body}"
    );
    assert_eq!(
        s.entries(&api, &token),
        before,
        "no line of the invoice was recorded"
    );

    // A good invoice is reviewed (nothing written yet), then signed; a wrong password
    // writes nothing and says why.
    let mut f = invoice("RM4827169");
    f.push(("csrf", &csrf));
    let (status, body) = post(&c, &s, &pharm, "/ui/receive", &f);
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("2 × Ketamine HCl injection 10 mg/mL") && body.contains("lot WEB2"),
        "{body}"
    );
    assert_eq!(s.entries(&api, &token), before, "review writes nothing");
    f.push(("confirm", "yes"));
    let mut wrong = f.clone();
    wrong.push(("password", "not my password at all"));
    let (status, body) = post(&c, &s, &pharm, "/ui/receive", &wrong);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The dialog names the account whose password was wrong and what is left of its tries.
    assert!(
        body.contains("password for pharm.rivera is wrong") && body.contains("attempts left"),
        "{body}"
    );
    assert_eq!(
        s.entries(&api, &token),
        before,
        "a wrong signature writes nothing"
    );
    // A forged form token does nothing.
    let mut forged: Vec<(&str, &str)> = f.iter().filter(|(k, _)| *k != "csrf").copied().collect();
    forged.push(("csrf", "forged"));
    forged.push(("password", &pharm_pw));
    let (status, _) = post(&c, &s, &pharm, "/ui/receive", &forged);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.entries(&api, &token), before);
    f.push(("password", &pharm_pw));
    let r = c
        .post(format!("{}/ui/receive", s.url()))
        .header("cookie", &pharm)
        .form(&f)
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "signed: post/redirect/get"
    );
    let done = r.headers()["location"].to_str().unwrap().to_string();
    let (status, body) = page(&c, &s, &pharm, &done);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Stock received"), "{body}");
    assert_eq!(s.entries(&api, &token), before + 2, "one receipt per line");

    // A nurse gets neither receiving nor the admin's pages, by link or by post.
    let nurse = s.web_cookie("nurse.chen", &s.password("nurse.chen"));
    let (_, dash) = page(&c, &s, &nurse, "/ui");
    assert!(!dash.contains("href=\"/ui/receive\"") && !dash.contains("href=\"/ui/users\""));
    assert!(
        dash.contains("data-idle-seconds=\"900\""),
        "pages know when the session ends"
    );
    for path in [
        "/ui/receive",
        "/ui/users",
        "/ui/products",
        "/ui/locations",
        "/ui/reports",
        "/ui/verify",
        "/ui/adjust",
        "/ui/loss",
    ] {
        let (status, body) = page(&c, &s, &nurse, path);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("may not do this"), "{path}: {body}");
    }
    let nurse_csrf = csrf_of(&dash);
    let mut f = invoice("RM4827169");
    f.extend([("csrf", nurse_csrf.as_str()), ("confirm", "yes")]);
    let nurse_pw = s.password("nurse.chen");
    f.push(("password", &nurse_pw));
    let (status, _) = post(&c, &s, &nurse, "/ui/receive", &f);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.entries(&api, &token), before + 2);

    // The admin resets the nurse's password: a weak one is refused beside its field; the
    // reset ends the nurse's session and the new password signs in.
    let admin_pw = s.password("admin");
    let admin = s.web_cookie("admin", &admin_pw);
    let (status, body) = page(&c, &s, &admin, "/ui/users/nurse.chen");
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&body);
    let (status, body) = post(
        &c,
        &s,
        &admin,
        "/ui/users/nurse.chen/reset",
        &[("csrf", &csrf), ("new_password", "short")],
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"new_password-err\">"), "{body}");
    let fresh = "lagoon-pepper-citadel-93";
    let (status, body) = post(
        &c,
        &s,
        &admin,
        "/ui/users/nurse.chen/reset",
        &[("csrf", &csrf), ("new_password", fresh)],
    );
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("The new password, typed again"), "{body}");
    assert!(
        !body.contains(fresh),
        "the new password is not carried in the page"
    );
    let (status, body) = signed(
        &c,
        &s,
        &admin,
        "/ui/users/nurse.chen/reset",
        &[
            ("csrf", &csrf),
            ("confirm", "yes"),
            ("new_password", fresh),
            ("password", &admin_pw),
        ],
    );
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(body.contains("Password reset"), "{body}");
    let r = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", &nurse)
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the nurse's session ended"
    );
    assert_eq!(r.headers()["location"], "/ui/login?ended=1");
    let (_, login) = page(&c, &s, "", "/ui/login?ended=1");
    assert!(
        login.contains("ended by a password reset") && !login.contains("without activity"),
        "a session ended by a reset is not called idle: {login}"
    );
    let (_, login) = page(&c, &s, "", "/ui/login?ended=idle");
    assert!(
        login.contains("signed out after 15 minutes without activity"),
        "{login}"
    );
    s.web_cookie("nurse.chen", fresh);

    // The admin deactivates a nurse: a reason is needed; then they cannot sign in.
    let (status, body) = post(
        &c,
        &s,
        &admin,
        "/ui/users/nurse.okafor/deactivate",
        &[("csrf", &csrf), ("deactivate_reason", "")],
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("id=\"deactivate_reason-err\">Say why."),
        "{body}"
    );
    let (status, body) = signed(
        &c,
        &s,
        &admin,
        "/ui/users/nurse.okafor/deactivate",
        &[
            ("csrf", &csrf),
            ("deactivate_reason", "left the clinic"),
            ("confirm", "yes"),
            ("password", &admin_pw),
        ],
    );
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(body.contains("User deactivated"), "{body}");
    let r = c
        .post(format!("{}/ui/login", s.url()))
        .form(&[
            ("ledger", s.ledger()),
            ("username", "nurse.okafor"),
            ("password", s.password("nurse.okafor").as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a deactivated user cannot sign in"
    );

    // Everyone may follow any container, held or long gone.
    let auditor = s.web_cookie("auditor.diaz", &s.password("auditor.diaz"));
    let (_, held) = page(&c, &s, &auditor, "/ui/containers");
    let (_, every) = page(&c, &s, &auditor, "/ui/containers?all=1");
    let rows = |p: &str| p.matches("<tr data-search=").count();
    assert!(
        rows(&every) > rows(&held) && rows(&held) > 0,
        "{} > {}",
        rows(&every),
        rows(&held)
    );

    // The dose form offers the patient register, and the signature names the patient.
    let pharm_token = s.login(&api, "pharm.rivera");
    let r = api
        .post(format!("{}/api/v1/ledgers/{}/patients", s.url(), s.ledger()))
        .bearer_auth(&pharm_token)
        .json(&serde_json::json!({
            "mrn": "MRN-77", "name": "Ada Park", "address": "4 Elm St", "date_of_birth": "1971-04-02"
        }))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let vial = s.sealed_vial(&api, &pharm_token);
    let r = api
        .post(format!(
            "{}/api/v1/ledgers/{}/containers/{vial}/open",
            s.url(),
            s.ledger()
        ))
        .bearer_auth(&pharm_token)
        .json(&serde_json::json!({"password": pharm_pw, "opened_at": "2026-11-20T00:00:00Z"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let (_, body) = page(&c, &s, &pharm, &format!("/ui/containers/{vial}"));
    assert!(
        body.contains("<option value=\"MRN-77\">Ada Park, born 1971-04-02</option>"),
        "{body}"
    );
    let review = |mrn: &'static str| {
        post(
            &c,
            &s,
            &pharm,
            &format!("/ui/containers/{vial}/administer"),
            &[
                ("csrf", csrf_of(&body).as_str()),
                ("patient", mrn),
                ("prescriber", "Dr. Amelia Park"),
                ("prescriber_dea", "AP5836727"),
                ("dose_mg", "35"),
                ("route", "IV"),
                ("given_at", "2026-11-21T09:30"),
                ("late_reason", "charted from the paper record"),
            ],
        )
    };
    let (status, signing) = review("MRN-77");
    assert_eq!(status, StatusCode::OK, "{signing}");
    assert!(
        signing.contains("to patient MRN-77 (Ada Park, born 1971-04-02)"),
        "{signing}"
    );
    let (_, signing) = review("MRN-78");
    assert!(
        signing.contains("to patient MRN-78 (not in the patient register)"),
        "{signing}"
    );

    // The API takes the time a dose was given; a time that is not one is refused.
    let r = api
        .post(format!(
            "{}/api/v1/ledgers/{}/containers/{vial}/administer",
            s.url(),
            s.ledger()
        ))
        .bearer_auth(&pharm_token)
        .json(&serde_json::json!({
            "password": pharm_pw, "patient": "MRN-1", "dose_mg": "5", "route": "IV",
            "prescriber": {"name": "Dr. Amelia Park", "dea": "AP5836727"},
            "given_at": "yesterday at noon"
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: serde_json::Value = r.json().unwrap();
    assert!(
        e["message"].as_str().unwrap().starts_with("given_at:"),
        "{e}"
    );
    s.stop();
}

/// The value of the hidden field `name` in a page.
fn hidden_of(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        .to_string()
}

#[test]
fn a_signed_dose_sent_again_records_nothing_and_says_which_entry_it_is() {
    let s = Server::start();
    let c = client();
    let api = Client::new();
    let token = s.login(&api, "nurse.chen");
    let pw = s.password("nurse.chen");
    let nurse = s.web_cookie("nurse.chen", &pw);
    let vial = s.sealed_vial(&api, &token);
    let r = api
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"password": pw}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let (_, form) = page(&c, &s, &nurse, &format!("/ui/containers/{vial}"));
    let request_id = hidden_of(&form, "request_id");
    let fields = |dose: &'static str| {
        vec![
            ("csrf", csrf_of(&form)),
            ("request_id", request_id.clone()),
            ("patient", "MRN-4711".to_string()),
            ("prescriber", "Dr. Amelia Park".to_string()),
            ("prescriber_dea", "AP5836727".to_string()),
            ("dose_mg", dose.to_string()),
            ("route", "IV".to_string()),
            ("given_at", crate::now_minute()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    let send = |form: &[(&str, String)]| {
        c.post(format!("{}/ui/containers/{vial}/administer", s.url()))
            .header("cookie", &nurse)
            .form(form)
            .send()
            .unwrap()
    };
    let before = s.entries(&api, &token);

    // Refused at Review, beside the dose, with no password asked: more than the vial holds.
    let r = send(&as_refs(&fields("250")));
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().unwrap();
    assert!(
        body.contains("id=\"dose-err\""),
        "the refusal beside the dose: {body}"
    );
    assert!(
        !body.contains("type=\"password\""),
        "no password asked: {body}"
    );

    // Review, then sign: post/redirect/get to the page of what was recorded.
    let r = send(&as_refs(&fields("35")));
    assert_eq!(r.status(), StatusCode::OK);
    let dialog = r.text().unwrap();
    assert!(dialog.contains("type=\"password\""));
    assert_eq!(hidden_of(&dialog, "request_id"), request_id);
    let mut signed = fields("35");
    signed.push(("confirm", "yes".into()));
    signed.push(("password", pw.clone()));
    let r = send(&signed);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        done.starts_with(&format!("/ui/recorded/{request_id}")),
        "{done}"
    );
    assert_eq!(s.entries(&api, &token), before + 1);
    let seq = before; // entries are numbered from 0
    let (status, shown) = page(&c, &s, &nurse, &done);
    assert_eq!(status, StatusCode::OK);
    assert!(
        shown.contains(&format!("Recorded as entry {seq} of the ledger.")),
        "{shown}"
    );

    // Reload: the same page, nothing signed.
    let (_, shown) = page(&c, &s, &nurse, &done);
    assert!(shown.contains(&format!("entry {seq}")));
    // Back and resubmit the dialog (password and all): nothing recorded again, and it says so.
    let r = send(&signed);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let again = r.headers()["location"].to_str().unwrap().to_string();
    let (_, shown) = page(&c, &s, &nurse, &again);
    assert!(
        shown.contains(&format!("Already recorded as entry {seq} of the ledger")),
        "{shown}"
    );
    // Back to the form and Review again: it says the dose is recorded, asks nothing.
    let r = send(&as_refs(&fields("35")));
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.entries(&api, &token), before + 1, "one dose, one entry");
}

/// The error shown beside `field`, empty when there is none.
fn error_beside(page: &str, field: &str) -> String {
    page.split(&format!("id=\"{field}-err\">"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn refusals_of_the_ledger_show_at_review_beside_their_field_before_any_password() {
    let s = Server::start();
    let c = client();
    let api = Client::new();
    let nurse_pw = s.password("nurse.chen");
    let pharm_pw = s.password("pharm.rivera");
    let nurse = s.web_cookie("nurse.chen", &nurse_pw);
    let pharm = s.web_cookie("pharm.rivera", &pharm_pw);
    let token = s.login(&api, "pharm.rivera");
    let before = s.entries(&api, &token);
    let held: serde_json::Value = api
        .get(s.api("/containers"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let held = held.as_array().unwrap();
    let sealed = |ndc: &str| {
        held.iter()
            .rev()
            .find(|x| x["product"] == ndc && x["status"] == "sealed")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (device, bottle, vial) = (
        sealed("50458-0028-02"),
        sealed("70000-0100-30"),
        s.sealed_vial(&api, &token),
    );
    for c_id in [&device, &vial] {
        let r = api
            .post(s.api(&format!("/containers/{c_id}/open")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"password": pharm_pw}))
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }
    let before = before + 2;
    let no_password = |body: &str| !body.contains("type=\"password\"");

    // 84 mg from one 28 mg Spravato device: beside the dose.
    let (_, page_) = page(&c, &s, &nurse, &format!("/ui/containers/{device}"));
    let now = crate::now_minute();
    let (status, body) = post(
        &c,
        &s,
        &nurse,
        &format!("/ui/containers/{device}/administer"),
        &[
            ("csrf", &csrf_of(&page_)),
            // A patient enrolled in the Spravato REMS.
            ("patient", "MRN-100011"),
            ("prescriber", "Dr. Amelia Park"),
            ("prescriber_dea", "AP5836727"),
            ("dose_mg", "84"),
            ("route", "intranasal"),
            ("given_at", &now),
        ],
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("id=\"dose-err\""), "{body}");
    assert!(no_password(&body), "{body}");

    // The nurse as her own witness: beside the witness.
    let (_, page_) = page(&c, &s, &nurse, &format!("/ui/containers/{vial}"));
    let (status, body) = post(
        &c,
        &s,
        &nurse,
        &format!("/ui/containers/{vial}/waste"),
        &[
            ("csrf", &csrf_of(&page_)),
            ("reason", "remainder"),
            ("witness", "nurse.chen"),
        ],
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("id=\"witness-err\""), "{body}");
    assert!(no_password(&body), "{body}");

    // Part of a sealed bottle dispensed: beside that line's container.
    let (_, form) = page(&c, &s, &pharm, "/ui/dispense");
    let (status, body) = post(
        &c,
        &s,
        &pharm,
        "/ui/dispense",
        &[
            ("csrf", &csrf_of(&form)),
            ("patient", "MRN-4711"),
            ("prescriber", "Dr. Amelia Park"),
            ("prescriber_dea", "AP5836727"),
            ("container_1", &bottle),
            ("amount_1", "200"),
        ],
    );
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(!error_beside(&body, "container_1").is_empty(), "{body}");
    assert!(no_password(&body), "{body}");

    // An adjustment resolving a count of the 10 mg/mL vials, naming the Spravato device:
    // beside the container.
    let counts: serde_json::Value = api
        .get(s.api("/entries?kind=count&limit=1000"))
        .bearer_auth(&token)
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
        .to_string();
    let (_, form) = page(&c, &s, &pharm, "/ui/adjust");
    let (status, body) = post(
        &c,
        &s,
        &pharm,
        "/ui/adjust",
        &[
            ("csrf", &csrf_of(&form)),
            ("count", &count),
            ("container", &device),
            ("reason", "count discrepancy"),
            ("direction", "decrease"),
            ("amount_mg", "28"),
            ("note", "missing"),
            ("witness", "nurse.chen"),
        ],
    );
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(!error_beside(&body, "container").is_empty(), "{body}");
    assert!(no_password(&body), "{body}");

    assert_eq!(s.entries(&api, &token), before, "nothing recorded");
}

/// The `<select id="{id}">` of a page: its options as (value, text, selected).
fn options_of(page: &str, id: &str) -> Vec<(String, String, bool)> {
    let select = page
        .split(&format!("<select id=\"{id}\""))
        .nth(1)
        .and_then(|r| r.split("</select>").next())
        .unwrap_or_default();
    select
        .split("<option value=\"")
        .skip(1)
        .map(|o| {
            let (value, rest) = o.split_once('"').unwrap_or_default();
            let (attrs, text) = rest.split_once('>').unwrap_or_default();
            let text = text.split('<').next().unwrap_or_default();
            (
                value.to_string(),
                text.to_string(),
                attrs.contains("selected"),
            )
        })
        .collect()
}

/// A cell of a containers row, by its column label.
fn cell<'a>(row: &'a str, label: &str) -> &'a str {
    row.split(&format!("data-label=\"{label}\""))
        .nth(1)
        .and_then(|r| r.split_once('>'))
        .map(|(_, r)| r.split("</td>").next().unwrap_or_default())
        .unwrap_or_default()
}

#[test]
fn containers_are_grouped_by_product_open_first_then_by_expiry_and_searchable() {
    let s = Server::demo();
    let c = client();
    let pw = s.password("nurse.chen");
    let nurse = s.web_cookie("nurse.chen", &pw);
    // The nurse opens the last container of a product of several: it comes first.
    let (_, before) = page(&c, &s, &nurse, "/ui/containers");
    let ids = |g: &str| -> Vec<String> {
        g.split("<a href=\"/ui/containers/")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .map(str::to_string)
            .collect()
    };
    let last = before
        .split("<section class=\"group\"")
        .skip(1)
        .map(ids)
        .find(|g| g.len() >= 2)
        .and_then(|g| g.last().cloned())
        .expect("a group of several containers");
    let (status, _) = signed(
        &c,
        &s,
        &nurse,
        &format!("/ui/containers/{last}/open"),
        &[
            ("csrf", &csrf_of(&before)),
            ("confirm", "yes"),
            ("password", &pw),
        ],
    );
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, body) = page(&c, &s, &nurse, "/ui/containers");
    assert_eq!(status, StatusCode::OK);
    let groups: Vec<&str> = body.split("<section class=\"group\"").skip(1).collect();
    assert!(
        groups.iter().any(|g| ids(g).first() == Some(&last)),
        "the opened {last} is first of its product"
    );
    assert!(groups.len() >= 2, "a group per product: {body}");
    let mut headings = Vec::new();
    let mut opened = 0;
    let mut all_rows = 0;
    for g in &groups {
        let heading = g
            .split("<h2>")
            .nth(1)
            .and_then(|h| h.split(" <span").next())
            .unwrap()
            .to_string();
        assert!(!headings.contains(&heading), "{heading} is one group");
        let rows: Vec<&str> = g.split("<tr data-search=\"").skip(1).collect();
        all_rows += rows.len();
        let mut seen_sealed = false;
        let mut last_expiry = String::new();
        for r in &rows {
            assert!(
                r.to_lowercase().starts_with(&heading.to_lowercase())
                    || r.contains(&heading.to_lowercase()),
                "a row of {heading} is of its product: {r}"
            );
            let status = cell(r, "Status");
            assert!(
                status.contains(">open<") || status.contains(">sealed<"),
                "the status in words: {status}"
            );
            if status.contains(">open<") {
                assert!(!seen_sealed, "in {heading}, open containers come first");
                opened += 1;
            } else {
                seen_sealed = true;
                let expiry = cell(r, "Expires").to_string();
                assert!(expiry >= last_expiry, "in {heading}, sealed by expiry");
                last_expiry = expiry;
            }
            assert!(cell(r, "Container").contains("class=\"id\"") || r.contains("class=\"id\""));
        }
        headings.push(heading);
    }
    assert!(opened > 0, "the demo holds open containers");

    // ?q= filters by id, product, lot or location, without a script.
    let first = groups[0]
        .split("/ui/containers/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let (_, found) = page(&c, &s, &nurse, &format!("/ui/containers?q={first}"));
    let rows: Vec<&str> = found.split("<tr data-search=\"").skip(1).collect();
    assert!(
        !rows.is_empty() && rows.len() < all_rows,
        "{first}: {found}"
    );
    assert!(rows.iter().all(|r| r.contains(&first.to_lowercase())));
    let (_, found) = page(&c, &s, &nurse, "/ui/containers?q=no-such-thing");
    assert!(found.contains("No container matches"), "{found}");
    assert!(!found.contains("<tr data-search="));
}

#[test]
fn enrolment_preselects_no_role_and_refuses_it_left_blank() {
    let s = Server::demo();
    let c = client();
    let admin = s.web_cookie("admin", &s.password("admin"));
    let (_, form) = page(&c, &s, &admin, "/ui/users");
    let roles = options_of(&form, "role");
    assert_eq!(roles.first().map(|r| r.1.as_str()), Some("Choose a role"));
    assert_eq!(
        roles
            .iter()
            .filter(|r| r.2)
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        vec![""],
        "no role is preselected: {roles:?}"
    );
    let (status, body) = post(
        &c,
        &s,
        &admin,
        "/ui/users",
        &[
            ("csrf", &csrf_of(&form)),
            ("username", "new.person"),
            ("printed_name", "New Person"),
            ("role", ""),
            ("initial_password", "ember-quartz-harbor-19"),
        ],
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_beside(&body, "role"), "Choose a role.");
}

#[test]
fn receiving_and_counting_start_at_a_safe_then_where_last_counted() {
    let s = Server::demo();
    let c = client();
    let pw = s.password("pharm.rivera");
    let pharm = s.web_cookie("pharm.rivera", &pw);
    let chosen = |page: &str, id: &str| {
        options_of(page, id)
            .into_iter()
            .filter(|o| o.2)
            .map(|o| o.0)
            .collect::<Vec<_>>()
    };
    let (_, receive) = page(&c, &s, &pharm, "/ui/receive");
    assert_eq!(chosen(&receive, "location_1"), vec!["SAFE-1"]);
    let (_, count) = page(&c, &s, &pharm, "/ui/count");
    assert_eq!(chosen(&count, "location"), vec!["SAFE-1"]);

    // A count signed at the cart: the next count starts there, for this person.
    let r = c
        .post(format!("{}/ui/count", s.url()))
        .header("cookie", &pharm)
        .form(&[
            ("csrf", csrf_of(&count).as_str()),
            ("location", "CART-A"),
            ("product", "42023-0113-10"),
            ("counted_sealed", "0"),
            ("counted_open", "0"),
            ("confirm", "yes"),
            ("password", &pw),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let remembered = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("custody_location="))
        .and_then(|v| v.split(';').next())
        .expect("the location is remembered")
        .to_string();
    let both = format!("{pharm}; {remembered}");
    let (_, count) = page(&c, &s, &both, "/ui/count");
    assert_eq!(chosen(&count, "location"), vec!["CART-A"]);
    // Someone else at the same browser starts at the safe.
    let nurse = s.web_cookie("nurse.chen", &s.password("nurse.chen"));
    let (_, count) = page(&c, &s, &format!("{nurse}; {remembered}"), "/ui/count");
    assert_eq!(chosen(&count, "location"), vec!["SAFE-1"]);
}

#[test]
fn resolving_a_count_offers_only_containers_of_its_product_and_location() {
    let s = Server::demo();
    let c = client();
    let pw = s.password("pharm.rivera");
    let pharm = s.web_cookie("pharm.rivera", &pw);
    let (_, count) = page(&c, &s, &pharm, "/ui/count");
    let (status, recorded) = signed(
        &c,
        &s,
        &pharm,
        "/ui/count",
        &[
            ("csrf", &csrf_of(&count)),
            ("location", "SAFE-1"),
            ("product", "42023-0113-10"),
            ("counted_sealed", "999"),
            ("counted_open", "0"),
            ("confirm", "yes"),
            ("password", &pw),
        ],
    );
    assert_eq!(status, StatusCode::SEE_OTHER, "{recorded}");
    let seq = recorded
        .split("/ui/adjust?count=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the count found a difference to resolve")
        .to_string();
    let (_, any) = page(&c, &s, &pharm, "/ui/adjust");
    let every = options_of(&any, "container");
    assert!(
        every.iter().all(|o| !o.2 || o.0.is_empty()),
        "none preselected: {every:?}"
    );
    let (_, form) = page(&c, &s, &pharm, &format!("/ui/adjust?count={seq}"));
    let offered: Vec<_> = options_of(&form, "container")
        .into_iter()
        .filter(|o| !o.0.is_empty())
        .collect();
    assert!(!offered.is_empty(), "{form}");
    assert!(
        offered.len() < every.len() - 1,
        "only some containers: {offered:?}"
    );
    let product = |text: &str| {
        text.split(" — ")
            .nth(1)
            .and_then(|t| t.split(" lot ").next())
            .unwrap_or_default()
            .to_string()
    };
    for o in &offered {
        assert_eq!(product(&o.1), product(&offered[0].1), "{o:?}");
        assert!(o.1.contains(", SAFE-1,"), "{o:?}");
        assert_eq!(o.2, offered.len() == 1, "{o:?}");
    }
    assert!(offered[0].1.contains("10 mg/mL"), "{offered:?}");
}

/// Refusals the pages once made with copies of the ledger's rules come from the ledger's own
/// rules in the dry run, in its words, beside the field they concern and before any
/// password: no containers on an invoice's second line, a container named twice, a witness
/// who was deactivated.
#[test]
fn the_ledgers_own_rules_refuse_at_review_beside_the_field() {
    let s = Server::start();
    let c = client();
    let api = Client::new();
    let pharm_pw = s.password("pharm.rivera");
    let nurse_pw = s.password("nurse.chen");
    let pharm = s.web_cookie("pharm.rivera", &pharm_pw);
    let nurse = s.web_cookie("nurse.chen", &nurse_pw);
    let token = s.login(&api, "pharm.rivera");
    let no_password = |body: &str| !body.contains("type=\"password\"");

    // An open vial for the nurse's waste, then a colleague leaves.
    let vial = s.sealed_vial(&api, &token);
    let r = api
        .post(s.api(&format!("/containers/{vial}/open")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"password": pharm_pw}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let admin = s.login(&api, "admin");
    let r = api
        .post(s.api("/users/nurse.okafor/deactivate"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"password": s.password("admin"), "reason": "left the clinic"}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let before = s.entries(&api, &token);

    // No containers on the invoice's second line: beside that line's count.
    let (_, form) = page(&c, &s, &pharm, "/ui/receive");
    let expiry = crate::expiry("01-31");
    let (status, body) = post(
        &c,
        &s,
        &pharm,
        "/ui/receive",
        &[
            ("csrf", &csrf_of(&form)),
            ("supplier_name", "McKesson Medical-Surgical"),
            ("supplier_address", "9954 Mayland Drive, Richmond VA 23233"),
            ("supplier_dea", "RM4827169"),
            ("invoice", "INV-ZERO"),
            ("received_on", &crate::now_minute()[..10]),
            ("product_1", "42023-0113-10"),
            ("lot_1", "Z1"),
            ("expiry_1", &expiry),
            ("containers_1", "2"),
            ("location_1", "SAFE-1"),
            ("product_2", "42023-0113-10"),
            ("lot_2", "Z2"),
            ("expiry_2", &expiry),
            ("containers_2", "0"),
            ("location_2", "SAFE-1"),
        ],
    );
    assert!(status.is_client_error(), "{status}: {body}");
    assert_eq!(
        error_beside(&body, "containers_2"),
        "The number of containers must be more than zero",
        "{body}"
    );
    assert!(error_beside(&body, "containers_1").is_empty(), "{body}");
    assert!(no_password(&body), "{body}");

    // One container named on two lines of a transfer: beside the second.
    let held: serde_json::Value = api
        .get(s.api("/containers"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let sealed = held
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "sealed" && x["location"] == "SAFE-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, form) = page(&c, &s, &pharm, "/ui/transfer");
    let (status, body) = post(
        &c,
        &s,
        &pharm,
        "/ui/transfer",
        &[
            ("csrf", &csrf_of(&form)),
            ("container_1", &sealed),
            ("container_2", &sealed),
            ("to", "location"),
            ("to_location", "CART-A"),
        ],
    );
    assert!(status.is_client_error(), "{status}: {body}");
    assert_eq!(
        error_beside(&body, "container_2"),
        format!("Container {sealed} is listed twice"),
        "{body}"
    );
    assert!(error_beside(&body, "container_1").is_empty(), "{body}");
    assert!(no_password(&body), "{body}");

    // A deactivated colleague as witness: beside the witness.
    let (_, form) = page(&c, &s, &nurse, &format!("/ui/containers/{vial}"));
    let (status, body) = post(
        &c,
        &s,
        &nurse,
        &format!("/ui/containers/{vial}/waste"),
        &[
            ("csrf", &csrf_of(&form)),
            ("reason", "remainder"),
            ("witness", "nurse.okafor"),
        ],
    );
    assert!(status.is_client_error(), "{status}: {body}");
    assert_eq!(
        error_beside(&body, "witness"),
        "Nurse.okafor is deactivated and can no longer sign",
        "{body}"
    );
    assert!(no_password(&body), "{body}");

    assert_eq!(s.entries(&api, &token), before, "nothing recorded");
}

/// The loss page offers the open discrepancies a loss can explain: one in the wrong direction
/// is refused at review beside that field, before any password; one that fits is recorded in
/// the entry (`explains_count`) and reduces what the count left open.
#[test]
fn a_loss_reported_on_the_web_names_the_count_it_explains() {
    let s = Server::demo();
    let c = client();
    let api = Client::new();
    let pw = s.password("pharm.rivera");
    let pharm = s.web_cookie("pharm.rivera", &pw);
    let token = s.login(&api, "pharm.rivera");
    let count = |sealed: &str| -> String {
        let (_, form) = page(&c, &s, &pharm, "/ui/count");
        let (status, recorded) = signed(
            &c,
            &s,
            &pharm,
            "/ui/count",
            &[
                ("csrf", &csrf_of(&form)),
                ("location", "SAFE-1"),
                ("product", "42023-0113-10"),
                ("counted_sealed", sealed),
                ("counted_open", "0"),
                ("confirm", "yes"),
                ("password", &pw),
            ],
        );
        assert_eq!(status, StatusCode::SEE_OTHER, "{recorded}");
        recorded
            .split("/ui/adjust?count=")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("the count found a difference")
            .to_string()
    };
    // More found than held: an overage, which no loss explains.
    let over = count("999");
    let (_, form) = page(&c, &s, &pharm, "/ui/loss");
    let counts = options_of(&form, "explains_count");
    assert!(counts.iter().any(|o| o.0 == over), "{counts:?}");
    assert!(
        counts[0].0.is_empty(),
        "none is the first choice: {counts:?}"
    );
    let vial = options_of(&form, "container_1")
        .into_iter()
        .find(|o| o.1.contains(", SAFE-1,") && o.1.contains("10 mg/mL") && o.1.contains("sealed"))
        .unwrap_or_else(|| panic!("a sealed vial in the safe: {form}"))
        .0;
    let before = s.entries(&api, &token);
    let loss = |explains: &str, sign: bool| {
        let (_, form) = page(&c, &s, &pharm, "/ui/loss");
        let mut f = vec![
            ("csrf", csrf_of(&form)),
            ("loss_type", "employee pilferage".to_string()),
            ("discovered_on", crate::now_minute()[..10].to_string()),
            ("description", "vial missing at the count".to_string()),
            ("explains_count", explains.to_string()),
            ("container_1", vial.clone()),
            ("amount_1", String::new()),
        ];
        if sign {
            f.extend([("confirm", "yes".to_string()), ("password", pw.clone())]);
        }
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        signed(&c, &s, &pharm, "/ui/loss", &f)
    };
    let (status, review) = loss(&over, false);
    assert!(status.is_client_error(), "{status}: {review}");
    let said = error_beside(&review, "explains_count");
    assert!(!said.is_empty(), "refused beside the count: {review}");
    assert!(!review.contains("name=\"password\""), "before any password");
    assert_eq!(s.entries(&api, &token), before);

    // Nothing found: a shortage, which the missing vial explains in part.
    let short = count("0");
    let (status, done) = loss(&short, true);
    assert_eq!(status, StatusCode::SEE_OTHER, "{done}");
    let seq = s.entries(&api, &token) - 1;
    let e: serde_json::Value = api
        .get(s.api(&format!("/entries/{seq}")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(e["entry"]["body"]["kind"], "loss_theft", "{e}");
    assert_eq!(
        e["entry"]["body"]["explains_count"].to_string(),
        short,
        "{e}"
    );
}
