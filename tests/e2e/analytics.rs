//! Diversion analytics over the real binary: `GET …/analytics` on the demo clinic finds its
//! diverting nurse (and no one else) at "review" under the documented thresholds; the
//! analytics page draws labelled SVG charts; the signed `diversion` report states the same
//! tiers and draws its charts into the PDF (rendered back with `pdftoppm`).

use std::process::Command;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::harness::{Server, error};
use crate::*;

/// The demo's diverting nurse (crates/cli/src/commands/demo.rs).
const DIVERTER: &str = "nurse.brandt";

fn analytics(s: &Server, c: &Client, token: &str, q: &str) -> reqwest::blocking::Response {
    c.get(s.api(&format!("/analytics{q}")))
        .bearer_auth(token)
        .send()
        .unwrap()
}

#[test]
fn the_demo_diverter_and_only_he_reaches_review() {
    let s = Server::demo();
    let c = Client::new();
    let (from, to) = demo_period();
    let t = s.login(&c, "pharm.rivera");
    let r = analytics(&s, &c, &t, &format!("?from={from}&to={to}"));
    assert_eq!(r.status(), StatusCode::OK);
    let a: Value = r.json().unwrap();

    // The thresholds are the documented ones (docs/analytics.md), not the demo's.
    let th = &a["thresholds"];
    assert_eq!(
        (
            th["high_z"].as_f64(),
            th["elevated_z"].as_f64(),
            th["min_events"].as_u64(),
            th["min_peers"].as_u64()
        ),
        (Some(3.5), Some(2.0), Some(3), Some(3)),
        "{th}"
    );
    let people = a["people"].as_array().unwrap();
    let review: Vec<&str> = people
        .iter()
        .filter(|p| p["tier"] == "review")
        .map(|p| p["user"].as_str().unwrap())
        .collect();
    assert_eq!(
        review,
        [DIVERTER],
        "{}",
        serde_json::to_string_pretty(&a["people"]).unwrap()
    );
    // Every nurse of the demo has figures; the four are compared with each other.
    let nurses = people.iter().filter(|p| p["role"] == "nurse").count();
    assert_eq!(nurses, 4);

    // What a reviewer sees: a high waste ratio and one witness for everything, each with
    // the entries behind it (his wastes, all after 19:00, also wait hours after opening).
    let brandt = people.iter().find(|p| p["user"] == DIVERTER).unwrap();
    let fig = |name: &str| -> &Value {
        brandt["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["signal"] == name)
            .unwrap()
    };
    for sig in ["waste_ratio", "witness_pair"] {
        assert_eq!(fig(sig)["level"], "high", "{sig}: {}", fig(sig));
        assert!(fig(sig)["z"].as_f64().unwrap() >= 3.5, "{sig}");
    }
    assert_eq!(fig("witness_pair")["note"], "nurse.okafor");
    assert_eq!(fig("witness_pair")["value"], "100.0%");
    // The ratio is exact µg over µg, and its entries are the wastes and doses it counts.
    let ratio = fig("waste_ratio");
    let (num, den) = (
        ratio["numerator"].as_u64().unwrap(),
        ratio["denominator"].as_u64().unwrap(),
    );
    assert!(num > 2 * den, "{ratio}");
    let entries: Vec<u64> = ratio["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(!entries.is_empty());
    let kinds: std::collections::BTreeSet<String> = entries
        .iter()
        .map(|seq| {
            let e: Value = c
                .get(s.api(&format!("/entries/{seq}")))
                .bearer_auth(&t)
                .send()
                .unwrap()
                .json()
                .unwrap();
            e["entry"]["body"]["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["administered", "waste"]
    );
    // The peer band the nurses were compared against.
    assert!(
        a["bands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["role"] == "nurse"
                && b["signal"] == "waste_ratio"
                && b["peers"] == 4
                && b["scale"] == "mad")
    );
    // Doses by hour and on hand per product are there for the charts.
    assert_eq!(a["doses_by_hour"].as_array().unwrap().len(), 24);
    assert!(!a["on_hand"].as_array().unwrap().is_empty());

    // An auditor and an admin read it too; a nurse may not see colleagues' figures.
    for who in ["auditor.diaz", "admin"] {
        let t = s.login(&c, who);
        assert_eq!(analytics(&s, &c, &t, "").status(), StatusCode::OK, "{who}");
    }
    let nurse = s.login(&c, "nurse.chen");
    error(
        analytics(&s, &c, &nurse, ""),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Bad input: a day that is not one, a period backwards, an unknown parameter.
    error(
        analytics(&s, &c, &t, "?from=yesterday"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    error(
        analytics(&s, &c, &t, &format!("?from={to}&to={from}")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    assert_eq!(
        analytics(&s, &c, &t, "?colour=red").status(),
        StatusCode::BAD_REQUEST
    );
    let r = c.get(s.api("/analytics")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_analytics_page_draws_labelled_charts() {
    let s = Server::demo();
    let c = crate::web::client();
    let (from, to) = demo_period();
    let session = s.web_cookie("auditor.diaz", &s.password("auditor.diaz"));
    let (status, html) = crate::web::page(
        &c,
        &s,
        &session,
        &format!("/ui/analytics?from={from}&to={to}&container=C12-1"),
    );
    assert_eq!(status, StatusCode::OK, "{html}");
    for id in [
        "chart-waste-ratio-nurse",
        "chart-doses-by-hour",
        "chart-on-hand-42023-0113-10",
        "chart-timeline-C12-1",
    ] {
        let at = html
            .find(&format!("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\""))
            .unwrap_or_else(|| panic!("{id} is drawn, labelled by its title and description"));
        let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
        assert!(svg.contains(&format!("<title id=\"{id}-title\">")), "{id}");
        assert!(svg.contains(&format!("<desc id=\"{id}-desc\">")), "{id}");
        assert!(
            svg.contains("<rect") || svg.contains("<polyline"),
            "{id} draws something"
        );
        assert!(
            html.contains(&format!("<figcaption id=\"{id}-caption\">")),
            "{id}"
        );
    }
    // The tiers table: the diverter at review.
    assert!(
        html.contains(&format!("data-user=\"{DIVERTER}\" data-tier=\"review\"")),
        "{html}"
    );
    assert_eq!(html.matches("data-tier=\"review\"").count(), 1);
    // A nurse is refused the page.
    let nurse = s.web_cookie("nurse.chen", &s.password("nurse.chen"));
    let (status, _) = crate::web::page(&c, &s, &nurse, "/ui/analytics");
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Pixels of a binary PPM (`P6`) that are clearly blue (the charts' bars, lines and band;
/// text is black or grey).
fn blue_pixels(ppm: &[u8]) -> usize {
    // Header: P6, width, height, max, each separated by whitespace.
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    ppm[i + 1..]
        .chunks_exact(3)
        .filter(|p| i32::from(p[2]) - i32::from(p[0]) > 60)
        .count()
}

#[test]
fn the_diversion_report_states_the_tiers_and_draws_its_charts() {
    if Command::new("pdftoppm").arg("-v").output().is_err() {
        say("note: poppler-utils is not installed: the diversion PDF test was skipped");
        return;
    }
    let (t, d) = demo_copy();
    let (from, to) = demo_period();
    let pdf = t.path().join("diversion.pdf");
    let o = custody(&[
        "report",
        "diversion",
        "--data",
        d.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--container",
        "C12-1",
        "-o",
        pdf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let txt = String::from_utf8(o.stdout).unwrap();
    // Each chart stays on one page with its heading: the page that shows a chart's title
    // as a heading also shows the chart's own title and the sentence below it.
    for page in txt.split('\x0c') {
        let lines: Vec<&str> = page
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(last) = lines.last() {
            for title in [
                "Waste ratio per nurse against the peer band",
                "Doses by hour of day",
                "Timeline of container C12-1",
            ] {
                assert_ne!(*last, title, "a chart heading alone at the foot of a page");
            }
        }
    }
    for must in [
        "Diversion analytics",
        "How to read this report",
        "People and tiers",
        "Waste ratio per nurse against the peer band",
        "Doses by hour of day",
        "Timeline of container C12-1",
        "Figures, z-scores and the entries behind them",
        "Peer bands",
    ] {
        assert!(txt.contains(must), "the report says {must:?}");
    }
    let review: Vec<&str> = txt
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == "review"))
        .filter(|l| l.contains(", RN (") || l.contains("PharmD (") || l.contains(" ("))
        .filter(|l| {
            l.contains("(nurse.")
                || l.contains("(pharm.")
                || l.contains("(admin")
                || l.contains("(auditor.")
        })
        .collect();
    assert_eq!(review.len(), 1, "{review:?}");
    assert!(
        review[0].contains("Kai Brandt, RN (nurse.brandt)"),
        "{review:?}"
    );

    // Rendered back: the page with the charts has them drawn (the bars, band and lines are
    // blue; a page of text has no blue at all). PNGs are kept to look at.
    let pages = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let pages: usize = String::from_utf8_lossy(&pages.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diversion-pages");
    std::fs::create_dir_all(&shots).unwrap();
    let mut charted = 0;
    for n in 1..=pages {
        let page_text = Command::new("pdftotext")
            .args([
                "-f",
                &n.to_string(),
                "-l",
                &n.to_string(),
                pdf.to_str().unwrap(),
                "-",
            ])
            .output()
            .unwrap();
        let page_text = String::from_utf8_lossy(&page_text.stdout).to_string();
        let o = Command::new("pdftoppm")
            .args([
                "-r",
                "50",
                "-f",
                &n.to_string(),
                "-l",
                &n.to_string(),
                "-singlefile",
                "-png",
            ])
            .arg(&pdf)
            .arg(shots.join(format!("diversion-{n}")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let o = Command::new("pdftoppm")
            .args([
                "-r",
                "50",
                "-f",
                &n.to_string(),
                "-l",
                &n.to_string(),
                "-singlefile",
            ])
            .arg(&pdf)
            .arg(t.path().join("page"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let blue = blue_pixels(&std::fs::read(t.path().join("page.ppm")).unwrap());
        if page_text.contains("Doses by hour of day")
            && page_text.contains("hour of day (clinic time)")
        {
            assert!(
                blue > 300,
                "page {n}: the doses chart is drawn ({blue} blue pixels)"
            );
            charted += 1;
        }
    }
    assert_eq!(charted, 1, "one page carries the doses-by-hour chart");
    let key = stdout(&custody(&["verify", "--data", d.to_str().unwrap()]));
    assert!(key.starts_with("ok"), "{key}");
}
