//! One's own password (issue 14): every user changes it on a page of their own, and a
//! password an admin set (a reset) must be changed at the next sign-in — in the web pages,
//! which send every page to the change, and in the API, which answers 403
//! `password_change_required` to all but signing out and changing the password. The demand
//! is kept in the database: a restart does not lift it, only the user's own change does.

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::harness::{Server, error, session_cookie, skipped_without_postgres};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the sign-in form: the status and the session cookie, if any.
fn web_sign_in(c: &Client, s: &Server, user: &str, password: &str) -> (StatusCode, String) {
    let r = s.post_sign_in(c, user, password);
    let status = r.status();
    let session = if status == StatusCode::SEE_OTHER {
        session_cookie(&r)
    } else {
        String::new()
    };
    (status, session)
}

fn get(c: &Client, s: &Server, session: &str, path: &str) -> Response {
    c.get(format!("{}{path}", s.url()))
        .header("cookie", session)
        .send()
        .unwrap()
}

fn post(c: &Client, s: &Server, session: &str, path: &str, form: &[(&str, &str)]) -> Response {
    c.post(format!("{}{path}", s.url()))
        .header("cookie", session)
        .form(form)
        .send()
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
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

/// Signs in over the API: the answer's body.
fn api_sign_in(c: &Client, s: &Server, user: &str, password: &str) -> (StatusCode, Value) {
    let r = c
        .post(s.api("/session"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .unwrap();
    (r.status(), r.json().unwrap_or(Value::Null))
}

/// Changes the password on the page: the answer to the post.
fn change(
    c: &Client,
    s: &Server,
    session: &str,
    current: &str,
    new: &str,
    again: &str,
) -> Response {
    let page = get(c, s, session, "/ui/password").text().unwrap();
    let csrf = csrf_of(&page);
    post(
        c,
        s,
        session,
        "/ui/password",
        &[
            ("csrf", &csrf),
            ("password", current),
            ("new_password", new),
            ("new_password_again", again),
        ],
    )
}

#[test]
fn a_nurse_changes_her_own_password_on_its_page() {
    let s = Server::demo();
    let c = client();
    let old = s.password("nurse.chen");
    let (_, nurse) = web_sign_in(&c, &s, "nurse.chen", &old);

    // Every page links to it.
    let dash = get(&c, &s, &nurse, "/ui").text().unwrap();
    assert!(dash.contains("href=\"/ui/password\""), "{dash}");
    let r = get(&c, &s, &nurse, "/ui/password");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().unwrap();
    for field in ["password", "new_password", "new_password_again"] {
        assert!(page.contains(&format!("<label for=\"{field}\">")), "{page}");
    }
    assert!(page.contains("autocomplete=\"current-password\""), "{page}");

    // A forged form changes nothing.
    let new = "harbor-lantern-quietly-48";
    let r = post(
        &c,
        &s,
        &nurse,
        "/ui/password",
        &[
            ("csrf", "forged"),
            ("password", &old),
            ("new_password", new),
            ("new_password_again", new),
        ],
    );
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Refusals beside their fields; nothing changed.
    let r = change(&c, &s, &nurse, "not my password at all", new, new);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().unwrap();
    assert!(
        error_beside(&body, "password").contains("password for nurse.chen is wrong"),
        "{body}"
    );
    assert!(error_beside(&body, "new_password").is_empty(), "{body}");
    assert!(!body.contains(new), "a password typed is not written back");

    let r = change(&c, &s, &nurse, &old, "short", "short");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().unwrap();
    assert!(
        error_beside(&body, "new_password").contains("at least 12 characters"),
        "{body}"
    );

    let r = change(&c, &s, &nurse, &old, new, "harbor-lantern-quietly-49");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().unwrap();
    assert!(
        error_beside(&body, "new_password_again").contains("differ"),
        "{body}"
    );
    assert!(error_beside(&body, "new_password").is_empty(), "{body}");

    assert_eq!(
        web_sign_in(&c, &s, "nurse.chen", new).0,
        StatusCode::UNAUTHORIZED,
        "nothing was changed"
    );
    assert_eq!(
        web_sign_in(&c, &s, "nurse.chen", &old).0,
        StatusCode::SEE_OTHER
    );

    // The change: post, redirect, a page that says so.
    let r = change(&c, &s, &nurse, &old, new, new);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let r = get(&c, &s, &nurse, &to);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().unwrap().contains("Your password was changed"));

    assert_eq!(
        web_sign_in(&c, &s, "nurse.chen", &old).0,
        StatusCode::UNAUTHORIZED,
        "the old password no longer signs in"
    );
    let (status, _) = web_sign_in(&c, &s, "nurse.chen", new);
    assert_eq!(status, StatusCode::SEE_OTHER, "the new one does");
    let (status, _) = api_sign_in(&c, &s, "nurse.chen", new);
    assert_eq!(status, StatusCode::OK);
}

/// An admin resets nurse.chen's password over the API; the nurse must change it at the next
/// sign-in, web and API, and the demand outlives a restart until the change.
fn a_reset_demands_a_change(mut s: Server) {
    let c = client();
    let admin = s.login(&c, "admin");
    let given = "temporary-ward-phrase-51";
    let r = c
        .post(s.api("/users/nurse.chen/reset"))
        .bearer_auth(&admin)
        .json(&json!({"password": s.password("admin"), "new_password": given}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());

    // The API: signing in succeeds and says so; everything else but signing out and the
    // change answers 403.
    let (status, body) = api_sign_in(&c, &s, "nurse.chen", given);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["password_change_required"], true, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    for path in ["/entries", "/containers", "/users"] {
        error(
            c.get(s.api(path)).bearer_auth(&token).send().unwrap(),
            StatusCode::FORBIDDEN,
            "password_change_required",
        );
    }
    error(
        c.post(s.api("/me/key"))
            .bearer_auth(&token)
            .json(&json!({"password": given, "reason": "yearly rotation"}))
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "password_change_required",
    );
    let r = c
        .delete(s.api("/session"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "signing out is allowed");

    // The web: every page goes to the change.
    let (status, nurse) = web_sign_in(&c, &s, "nurse.chen", given);
    assert_eq!(status, StatusCode::SEE_OTHER);
    for path in [
        "/ui",
        "/ui/containers",
        "/ui/wastes",
        "/ui/entries",
        "/ui/password/changed",
    ] {
        let r = get(&c, &s, &nurse, path);
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/ui/password", "{path}");
    }
    let page = get(&c, &s, &nurse, "/ui/password").text().unwrap();
    assert!(page.contains("An admin set your password"), "{page}");
    assert!(!page.contains("href=\"/ui/containers\""), "{page}");

    // A restart keeps the demand.
    s.restart();
    let (status, body) = api_sign_in(&c, &s, "nurse.chen", given);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["password_change_required"], true, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    error(
        c.get(s.api("/entries")).bearer_auth(&token).send().unwrap(),
        StatusCode::FORBIDDEN,
        "password_change_required",
    );

    // A wrong current password or a weak one lifts nothing.
    let r = c
        .post(s.api("/me/password"))
        .bearer_auth(&token)
        .json(&json!({"password": "not it, not it", "new_password": "my-own-ward-phrase-77"}))
        .send()
        .unwrap();
    error(r, StatusCode::UNAUTHORIZED, "wrong_password");
    let r = c
        .post(s.api("/me/password"))
        .bearer_auth(&token)
        .json(&json!({"password": given, "new_password": "short"}))
        .send()
        .unwrap();
    error(r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password");

    // The change on the page lifts it: every page and the API answer again.
    let (_, nurse) = web_sign_in(&c, &s, "nurse.chen", given);
    let own = "my-own-ward-phrase-77";
    let r = change(&c, &s, &nurse, given, own, own);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui/password/changed");
    let r = get(&c, &s, &nurse, "/ui");
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(s.api("/entries")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the API session goes on too");

    // And stays lifted after a restart.
    s.restart();
    let (status, body) = api_sign_in(&c, &s, "nurse.chen", own);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["password_change_required"], false, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let r = c.get(s.api("/entries")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, nurse) = web_sign_in(&c, &s, "nurse.chen", own);
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(get(&c, &s, &nurse, "/ui").status(), StatusCode::OK);
}

#[test]
fn an_admins_reset_must_be_changed_at_the_next_sign_in() {
    a_reset_demands_a_change(Server::demo());
}

#[test]
fn an_admins_reset_must_be_changed_at_the_next_sign_in_on_postgres() {
    match Server::demo_on_postgres() {
        Some(s) => a_reset_demands_a_change(s),
        None => skipped_without_postgres("the forced password change on PostgreSQL"),
    }
}
