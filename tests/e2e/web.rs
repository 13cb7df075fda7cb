//! The web pages over real HTTP (the browser suite in `tests/browser` drives them in
//! chromium): sign-in, the dashboard, sign-out, CSRF, security headers.

use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::http::Server;

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookie(r: &reqwest::blocking::Response) -> String {
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
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
    let session = cookie(&r);
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
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

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
