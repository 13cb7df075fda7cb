//! Going live and the DEA inventories (21 CFR 1304.11), discrepancies that close, loss
//! deadlines that are kept, and doses charted late — over real HTTP against the real binary,
//! with the reports read back by poppler.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{As, Server};
use crate::*;

const ADMIN_PW: &str = "harbor lights at dusk";
const PHARM_PW: &str = "counting vials twice";
const NURSE_PW: &str = "bedside witness ready";
const AUDIT_PW: &str = "inspect every entry";
const KETAMINE: &str = "42023-0113-10";

/// A new clinic from an empty directory: the first admin, a safe, ketamine 10 mg/mL × 20 mL,
/// a pharmacist, a nurse and an auditor. Nothing received yet.
fn new_clinic() -> Server {
    let s = Server::fresh();
    let c = Client::new();
    let token = s.bootstrap.clone().expect("a bootstrap token");
    let r = c
        .post(s.api("/bootstrap"))
        .json(&json!({"token": token, "username": "admin.grey", "printed_name": "Sam Grey", "password": ADMIN_PW}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let admin = As::login(&c, &s, "admin.grey", ADMIN_PW);
    admin.ok("/locations", json!({"password": ADMIN_PW, "location": "SAFE-1", "name": "Pharmacy safe", "kind": "safe"}));
    admin.ok(
        "/products",
        json!({"password": ADMIN_PW, "ndc": KETAMINE, "name": "Ketamine HCl 10 mg/mL, 20 mL vial",
               "form": "injection solution", "schedule": "III",
               "strength": {"type": "solution", "mg_per_ml": "10", "ml": "20"}}),
    );
    for (u, name, role, pw) in [
        ("pharm.ito", "Ken Ito, PharmD", "pharmacist", PHARM_PW),
        ("nurse.ruiz", "Dana Ruiz, RN", "nurse", NURSE_PW),
        ("audit.kim", "Jae Kim", "auditor", AUDIT_PW),
    ] {
        admin.ok(
            "/users",
            json!({"password": ADMIN_PW, "username": u, "printed_name": name, "role": role, "initial_password": pw}),
        );
    }
    s
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The initial inventory: `sealed` sealed vials and one open vial holding `open_ul` µL
/// (estimated), taken at the opening of business by the pharmacist, witnessed by the nurse.
fn initial_inventory(sealed: u32, open_ul: u64) -> Value {
    json!({"password": PHARM_PW, "occasion": "initial", "taken_at": "opening", "date": today(),
           "lines": [{"product": KETAMINE, "lot": "KT2291", "expiry": crate::expiry("05-31"),
                      "location": "SAFE-1", "sealed": sealed,
                      "open": [{"remaining": open_ul, "estimated": true}]}],
           "witness": {"username": "nurse.ruiz", "password": NURSE_PW}})
}

fn receipt() -> Value {
    json!({"password": PHARM_PW,
           "supplier": {"name": "Midwest Pharmaceutical Distributors", "address": "900 Commerce Drive", "dea": "PM7654329"},
           "invoice": "INV-1001", "received_on": today(), "product": KETAMINE, "lot": "KT2300",
           "expiry": crate::expiry("06-30"), "containers": 2, "location": "SAFE-1"})
}

fn text_of(pdf: &[u8], dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    let o = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs (Debian poppler-utils)");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn a_clinic_goes_live_with_an_initial_inventory_of_what_is_on_its_shelves() {
    let mut s = new_clinic();
    let c = Client::new();
    let pharm = As::login(&c, &s, "pharm.ito", PHARM_PW);

    // Before the initial inventory, a receipt is refused, dry run or not, with a sentence.
    for dry in [true, false] {
        let mut body = receipt();
        body["dry_run"] = json!(dry);
        let r = pharm.post("/receipts", body);
        assert!(r.status().is_client_error(), "{}", r.status());
        let e: Value = r.json().unwrap();
        assert_eq!(e["code"], "no_initial_inventory", "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("initial inventory"),
            "{e}"
        );
    }
    // The dashboard tells the pharmacist what to do.
    let page = c
        .get(format!("{}/ui", s.url()))
        .header("cookie", s.web_cookie("pharm.ito", PHARM_PW))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("initial inventory"), "{page}");

    // The inventory's dry run names what it would record, before any password.
    let mut dry = initial_inventory(3, 7500);
    dry["dry_run"] = json!(true);
    dry["password"] = json!("");
    dry["witness"]["password"] = json!("");
    let would = pharm.ok("/inventories", dry);
    assert_eq!(would["dry_run"], true);
    assert_eq!(would["entries"][0]["kind"], "inventory");
    assert_eq!(would["entries"][0]["occasion"], "initial", "{would}");
    // A witness who is the taker is refused before any password.
    let mut me = initial_inventory(3, 7500);
    me["dry_run"] = json!(true);
    me["witness"]["username"] = json!("pharm.ito");
    let r = pharm.post("/inventories", me);
    assert!(r.status().is_client_error());
    assert_eq!(r.json::<Value>().unwrap()["code"], "witness_is_author");

    let inv = pharm.ok("/inventories", initial_inventory(3, 7500));
    assert_eq!(inv["kind"], "inventory");
    assert_eq!(inv["signatures"][0]["printed_name"], "Ken Ito, PharmD");
    assert_eq!(inv["signatures"][1]["meaning"], "witnessed");
    assert_eq!(inv["signatures"][1]["printed_name"], "Dana Ruiz, RN");
    let seq = inv["seq"].as_u64().unwrap();

    // A second initial inventory is refused.
    let r = pharm.post("/inventories", initial_inventory(3, 7500));
    assert!(r.status().is_client_error());
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "initial_inventory_exists", "{e}");
    assert_eq!(e["details"]["field"], "occasion", "{e}");

    // Its vials are on hand: 3 sealed, 1 open holding 7.5 mL.
    let on_hand = pharm.get("/on-hand");
    let row = &on_hand.as_array().unwrap()[0];
    assert_eq!(row["sealed_containers"], 3, "{on_hand}");
    assert_eq!(row["open_containers"], 1, "{on_hand}");
    assert_eq!(row["open_remaining"], 7500, "{on_hand}");
    assert_eq!(row["total_ug"], 3 * 200_000 + 75_000, "{on_hand}");
    // … and usable: a dose from the open vial, one of the sealed ones opened.
    let open = format!("C{seq}-4");
    let nurse = As::login(&c, &s, "nurse.ruiz", NURSE_PW);
    nurse.ok(
        "/patients",
        json!({"mrn": "MRN-4711", "name": "Alex Moreno", "address": "3 Pine St", "date_of_birth": "1984-07-12"}),
    );
    let dose = nurse.ok(
        &format!("/containers/{open}/administer"),
        json!({"password": NURSE_PW, "patient": "MRN-4711", "dose_mg": "35", "route": "IV",
               "prescriber": {"name": "Dr. Amelia Park, MD", "dea": "AP5836727"}}),
    );
    assert_eq!(dose["kind"], "administered");
    nurse.ok(
        &format!("/containers/C{seq}-1/open"),
        json!({"password": NURSE_PW}),
    );
    // Receipts are accepted now.
    pharm.ok("/receipts", receipt());

    // The inventory report says what the inventory was and who signed it, and verifies.
    let auditor = As::login(&c, &s, "audit.kim", AUDIT_PW);
    let q = format!("from={}&to={}", today(), today());
    let pdf = auditor.bytes(&format!("/reports/inventory.pdf?{q}"));
    let sig = auditor.bytes(&format!("/reports/inventory.pdf.sig?{q}"));
    let dir = tempfile::tempdir().unwrap();
    let text = text_of(&pdf, dir.path(), "inventory.pdf");
    std::fs::write(dir.path().join("inventory.pdf.sig"), sig).unwrap();
    assert!(text.contains("initial"), "{text}");
    assert!(text.contains("opening of business"), "{text}");
    assert!(text.contains("Ken Ito, PharmD"), "{text}");
    assert!(text.contains("Dana Ruiz, RN"), "{text}");
    assert!(text.contains("estimated"), "{text}");
    let key = auditor.get("/head")["registrant_key"]
        .as_str()
        .unwrap()
        .to_string();
    let o = custody(&[
        "verify-report",
        dir.path().join("inventory.pdf").to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_discrepancy_closes_when_entries_account_for_exactly_what_the_count_found() {
    let s = new_clinic();
    let c = Client::new();
    let pharm = As::login(&c, &s, "pharm.ito", PHARM_PW);
    // One sealed vial and one open vial holding 15 mL.
    let inv = pharm.ok("/inventories", initial_inventory(1, 15_000));
    let open = format!("C{}-2", inv["seq"]);
    let count = |open_ul: u64| {
        let r = pharm.ok(
            "/counts",
            json!({"password": PHARM_PW, "location": "SAFE-1", "product": KETAMINE,
                   "blind": true, "counted_sealed": 1, "counted_open": open_ul}),
        );
        assert_eq!(r["discrepancy"], true, "{r}");
        r["seq"].as_u64().unwrap()
    };
    let adjust = |count: u64, mg: &str, dry: bool| {
        pharm.post(
            &format!("/containers/{open}/adjust"),
            json!({"password": PHARM_PW, "reason": "count discrepancy", "direction": "decrease",
                   "amount_mg": mg, "resolves": count, "note": "evaporation and overfill",
                   "witness": {"username": "nurse.ruiz", "password": NURSE_PW}, "dry_run": dry}),
        )
    };
    let open_list = || -> Vec<u64> {
        pharm
            .get("/discrepancies?status=open")
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["count_seq"].as_u64().unwrap())
            .collect()
    };

    // 14.8 mL found where 15 mL are expected: 0.2 mL short.
    let first = count(14_800);
    assert_eq!(open_list(), [first]);
    // 0.3 mL (3 mg) would overshoot: refused, in the dry run too, naming the amount.
    for dry in [true, false] {
        let r = adjust(first, "3", dry);
        assert!(r.status().is_client_error());
        let e: Value = r.json().unwrap();
        assert_eq!(e["code"], "adjustment_exceeds_discrepancy", "{e}");
        assert_eq!(e["details"]["field"], "amount_mg", "{e}");
    }
    // 0.2 mL (2 mg) closes it.
    let r = adjust(first, "2", false);
    assert_eq!(r.status(), StatusCode::OK);
    let closing = r.json::<Value>().unwrap()["seq"].as_u64().unwrap();
    assert!(open_list().is_empty());
    let closed = pharm.get("/discrepancies?status=resolved");
    assert_eq!(closed[0]["count_seq"], first, "{closed}");
    assert_eq!(closed[0]["resolved_by"], closing, "{closed}");
    // A second adjustment naming it is refused.
    let r = adjust(first, "1", false);
    assert!(r.status().is_client_error());
    let e: Value = r.json().unwrap();
    assert_eq!(e["code"], "discrepancy_closed", "{e}");
    assert_eq!(e["details"]["field"], "resolves", "{e}");

    // Another count finds 0.5 mL more missing; a loss naming the count closes it.
    let second = count(14_300);
    assert_eq!(open_list(), [second]);
    pharm.ok(
        "/losses",
        json!({"password": PHARM_PW, "loss_type": "employee pilferage", "discovered_on": today(),
               "items": [{"container": open, "amount_mg": "5"}],
               "description": "0.5 mL missing from the open vial at the shift count",
               "explains_count": second}),
    );
    assert!(open_list().is_empty());
}

#[test]
fn a_loss_discovered_on_a_friday_is_due_on_monday_and_recording_both_reports_clears_it() {
    let s = new_clinic();
    let c = Client::new();
    let pharm = As::login(&c, &s, "pharm.ito", PHARM_PW);
    let inv = pharm.ok("/inventories", initial_inventory(2, 10_000));
    let vial = format!("C{}-1", inv["seq"]);
    // Friday 27 November 2026 (the day after Thanksgiving is not a federal holiday).
    let loss = pharm.ok(
        "/losses",
        json!({"password": PHARM_PW, "loss_type": "night break-in", "discovered_on": "2026-11-27",
               "police_report": "CPD-2026-118842", "items": [{"container": vial}],
               "description": "safe forced overnight; one sealed vial gone"}),
    );
    let seq = loss["seq"].as_u64().unwrap();
    let losses = pharm.get("/losses");
    let l = &losses[0];
    assert_eq!(l["seq"], seq);
    assert_eq!(l["notice"]["due"], "2026-11-30", "{l}");
    assert_eq!(l["form_106"]["due"], "2027-01-11", "{l}");
    assert!(
        ["due", "overdue"].contains(&l["notice"]["status"].as_str().unwrap()),
        "{l}"
    );
    // The pharmacist's dashboard shows what is due and when.
    let cookie = s.web_cookie("pharm.ito", PHARM_PW);
    let dash = |cookie: &str| {
        c.get(format!("{}/ui", s.url()))
            .header("cookie", cookie)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let page = dash(&cookie);
    assert!(page.contains("2026-11-30"), "{page}");
    assert!(page.contains("2027-01-11"), "{page}");

    // Notice before discovery is refused; then both reports are recorded, once (sent the day
    // after discovery, a Saturday: in time).
    let report = |notice_on: &str| {
        pharm.post(
            &format!("/losses/{seq}/reported"),
            json!({"password": PHARM_PW, "notice_on": notice_on, "form_106": "F106-2026-00417",
                   "form_106_on": "2026-11-28"}),
        )
    };
    let r = report("2026-11-26");
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = report("2026-11-28");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().unwrap_or_default()
    );
    assert_eq!(r.json::<Value>().unwrap()["kind"], "loss_reported");
    let r = report("2026-11-28");
    assert!(r.status().is_client_error());
    assert_eq!(r.json::<Value>().unwrap()["code"], "loss_already_reported");
    let l = &pharm.get("/losses")[0];
    assert_eq!(l["notice"]["status"], "met", "{l}");
    assert_eq!(l["form_106"]["status"], "met", "{l}");
    assert_eq!(l["form_106_number"], "F106-2026-00417", "{l}");
    let page = dash(&cookie);
    assert!(!page.contains("2027-01-11"), "{page}");
    // The loss report shows the event's status.
    let auditor = As::login(&c, &s, "audit.kim", AUDIT_PW);
    let pdf = auditor.bytes(&format!("/reports/loss.pdf?from=2026-11-01&to={}", today()));
    let dir = tempfile::tempdir().unwrap();
    let text = text_of(&pdf, dir.path(), "loss.pdf");
    assert!(text.contains("F106-2026-00417"), "{text}");
    assert!(text.contains("2026-11-30"), "{text}");
    assert!(text.contains("2026-11-28"), "{text}");
}

#[test]
fn a_dose_before_its_vial_was_opened_is_refused_and_one_charted_late_needs_a_reason() {
    let s = Server::demo();
    let c = Client::new();
    let nurse = As::login(&c, &s, "nurse.chen", &s.password("nurse.chen"));
    let prescriber = json!({"name": "Dr. Amelia Park, MD", "dea": "AP5836727"});
    // A vial opened now: a dose an hour before is refused, beside the time given.
    let vial = s.sealed_vial(&c, &nurse.token);
    nurse.ok(
        &format!("/containers/{vial}/open"),
        json!({"password": nurse_pw(&s)}),
    );
    let hour_ago = rfc3339(-3600);
    for dry in [true, false] {
        let r = nurse.post(
            &format!("/containers/{vial}/administer"),
            json!({"password": nurse_pw(&s), "patient": "MRN-100001", "dose_mg": "35", "route": "IV",
                   "prescriber": prescriber, "given_at": hour_ago, "dry_run": dry}),
        );
        assert!(r.status().is_client_error());
        let e: Value = r.json().unwrap();
        assert_eq!(e["code"], "given_before_opened", "{e}");
        assert_eq!(e["details"]["field"], "given_at", "{e}");
    }
    // The demo's vial opened days ago and kept: a dose 30 hours ago from it needs a reason.
    let old = demo_open_vial(&nurse, &vial);
    let late = rfc3339(-30 * 3600);
    let dose = |reason: Option<&str>| {
        let mut b = json!({"password": nurse_pw(&s), "patient": "MRN-100001", "dose_mg": "10", "route": "IM",
                           "prescriber": prescriber, "given_at": late});
        if let Some(r) = reason {
            b["late_reason"] = json!(r);
        }
        nurse.post(&format!("/containers/{old}/administer"), b)
    };
    let r = dose(None);
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().unwrap();
    assert_eq!(e["details"]["field"], "late_reason", "{e}");
    assert!(e["message"].as_str().unwrap().contains("30 hours"), "{e}");
    let reason = "charted after the downtime of the EHR";
    let r = dose(Some(reason));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let entries = nurse.get("/entries?kind=administered&limit=1000");
    let last = entries["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["entry"]["body"]["late_reason"], reason, "{last}");

    // The audit report shows the reason.
    let auditor = As::login(&c, &s, "auditor.diaz", &s.password("auditor.diaz"));
    let pdf = auditor.bytes(&format!(
        "/reports/audit.pdf?from={}&to={}",
        day_offset(-2),
        today()
    ));
    let dir = tempfile::tempdir().unwrap();
    let text = text_of(&pdf, dir.path(), "audit.pdf");
    // (A table cell may wrap between words.)
    assert!(text.contains("late:"), "{text}");
    assert!(text.contains("EHR"), "{text}");
}

fn nurse_pw(s: &Server) -> String {
    s.password("nurse.chen")
}

/// The demo's open 10 mg/mL vial, kept after a dose days ago (within its beyond-use date).
fn demo_open_vial(a: &As, not: &str) -> String {
    let list = a.get("/containers");
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "open" && c["product"] == KETAMINE && c["id"] != not)
        .unwrap_or_else(|| panic!("the demo keeps an open ketamine vial: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rfc3339(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn day_offset(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
