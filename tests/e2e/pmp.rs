//! State PMP files (ASAP 4.2B for Florida) from the real binary, over the command line and
//! over HTTP, read back by a parser of the test's own: every segment's field count, the
//! TP and TT segment counts, the control number in TH02 and TT01; a zero report for a day
//! without dispenses; a dispense voided after a file reported it comes back as DSP01 02 (and one whose prescription changed as DSP01 01) in
//! the next file; a missing NPI is refused with its field named, before anything is written;
//! the dashboard names the next file owed and its deadline once a state has one.

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, error};
use crate::*;

/// ASAP 4.2B field counts as the file must have them (docs/pmp.md).
const FIELDS_42B: [(&str, usize); 10] = [
    ("TH", 9),
    ("IS", 3),
    ("PHA", 13),
    ("PAT", 23),
    ("DSP", 25),
    ("PRE", 10),
    ("CDI", 5),
    ("AIR", 11),
    ("TP", 1),
    ("TT", 2),
];

/// The file's segments, each its id and fields: the terminator is TH09, the character
/// after TH's ninth `*`, and TH ends with it written twice.
fn segments(file: &str) -> Vec<(String, Vec<String>)> {
    let th_end = file
        .char_indices()
        .filter(|(_, c)| *c == '*')
        .nth(8)
        .map(|(i, _)| i + 1)
        .expect("TH has 9 fields");
    let t = file[th_end..].chars().next().unwrap();
    assert_eq!(
        file[th_end + 1..].chars().next(),
        Some(t),
        "TH ends with TH09 twice"
    );
    let th: Vec<String> = file[..=th_end].split('*').map(String::from).collect();
    let mut out = vec![(th[0].clone(), th[1..].to_vec())];
    let rest = &file[th_end + 2..];
    assert!(rest.ends_with(t), "the last segment is terminated");
    for seg in rest[..rest.len() - 1].split(t) {
        let mut parts = seg.split('*').map(String::from);
        let id = parts.next().unwrap();
        out.push((id, parts.collect()));
    }
    out
}

/// Checks the file's structure; returns its segments.
fn check(file: &str) -> Vec<(String, Vec<String>)> {
    let segs = segments(file);
    for (id, fields) in &segs {
        let want = FIELDS_42B
            .iter()
            .find(|(s, _)| s == id)
            .unwrap_or_else(|| panic!("{id} is not an ASAP segment"))
            .1;
        assert_eq!(fields.len(), want, "{id} has {want} fields: {fields:?}");
    }
    let ids: Vec<&str> = segs.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(&ids[..3], ["TH", "IS", "PHA"]);
    assert_eq!(&ids[ids.len() - 2..], ["TP", "TT"]);
    let (th, tt, tp) = (&segs[0].1, &segs[segs.len() - 1].1, &segs[segs.len() - 2].1);
    assert_eq!(th[0], "4.2B", "TH01");
    assert!(!th[1].is_empty(), "TH02 is the control number");
    assert_eq!(tt[0], th[1], "TT01 repeats TH02");
    assert_eq!(tt[1], segs.len().to_string(), "TT02 counts TH through TT");
    assert_eq!(
        tp[0],
        (segs.len() - 3).to_string(),
        "TP01 counts PHA through TP"
    );
    segs
}

fn of<'a>(segs: &'a [(String, Vec<String>)], id: &str) -> Vec<&'a Vec<String>> {
    segs.iter()
        .filter(|(i, _)| i == id)
        .map(|(_, f)| f)
        .collect()
}

fn compact(day: &str) -> String {
    day.replace('-', "")
}

#[test]
fn the_demos_take_home_dispenses_make_a_florida_file_that_reads_back_and_a_quiet_day_a_zero_report()
{
    let (_t, d) = demo_copy();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fl.txt");
    let (from, to) = demo_period();
    let o = custody(&[
        "pmp",
        "--state",
        "FL",
        "--from",
        from,
        "--to",
        to,
        "--data",
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("2 dispensing record(s)"),
        "{}",
        stdout(&o)
    );
    let file = std::fs::read_to_string(&out).unwrap();
    let segs = check(&file);
    let pha = &of(&segs, "PHA")[0];
    assert_eq!(
        (pha[0].as_str(), pha[1].as_str(), pha[2].as_str()),
        ("1234567893", "1473625", "BR1234563"),
        "PHA01 NPI, PHA02 NCPDP, PHA03 DEA"
    );
    assert_eq!(
        (pha[6].as_str(), pha[7].as_str(), pha[8].as_str()),
        ("Springfield", "IL", "62701")
    );
    let dsp = of(&segs, "DSP");
    assert_eq!(dsp.len(), 2, "the demo's two take-home dispenses");
    for x in &dsp {
        assert_eq!(x[0], "00", "DSP01 new");
        assert!(x[1].starts_with("RX-"), "DSP02 the Rx number");
        assert!(x[2] < x[4], "DSP03 written before DSP05 filled");
        assert!(
            compact(from) <= x[4] && x[4] <= compact(to),
            "DSP05 in the period"
        );
        assert_eq!(x[7], "70000010030", "DSP08 the troches' NDC, 11 digits");
        assert_eq!(
            (x[8].as_str(), x[9].as_str(), x[10].as_str()),
            ("30", "30", "01"),
            "30 troches (each), 30 days"
        );
    }
    for p in of(&segs, "PAT") {
        assert_eq!(p[6], "Patel", "PAT07 last name of the demo's patient 3");
        assert_eq!(p[7], "Morgan");
        assert_eq!(
            (p[13].as_str(), p[14].as_str(), p[15].as_str()),
            ("Duluth", "MN", "55802")
        );
        assert_eq!(p[17], "19911123", "PAT18 birth date");
        assert_eq!(p[18], "M", "PAT19 sex");
    }
    for p in of(&segs, "PRE") {
        assert_eq!(
            (p[0].as_str(), p[1].as_str()),
            ("1943872014", "AP5836727"),
            "PRE01 NPI, PRE02 DEA"
        );
        assert_eq!((p[4].as_str(), p[5].as_str()), ("Park", "Amelia"));
    }

    // The history's first day had no take-home dispense: a zero report.
    let zero = dir.path().join("zero.txt");
    let o = custody(&[
        "pmp",
        "--state",
        "FL",
        "--from",
        from,
        "--to",
        from,
        "--data",
        d.to_str().unwrap(),
        "-o",
        zero.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("zero report"), "{}", stdout(&o));
    let segs = check(&std::fs::read_to_string(&zero).unwrap());
    let ids: Vec<&str> = segs.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        ids,
        [
            "TH", "IS", "PHA", "PAT", "DSP", "PRE", "CDI", "AIR", "TP", "TT"
        ]
    );
    let pat = &of(&segs, "PAT")[0];
    assert_eq!((pat[6].as_str(), pat[7].as_str()), ("REPORT", "ZERO"));
    assert_eq!(
        of(&segs, "DSP")[0][4],
        compact(from),
        "DSP05 the day reported"
    );
    assert_eq!(of(&segs, "TP")[0][0], "7");

    // Minnesota wants no zero reports: nothing to write for that day.
    let o = custody(&[
        "pmp",
        "--state",
        "MN",
        "--from",
        from,
        "--to",
        from,
        "--data",
        d.to_str().unwrap(),
        "-o",
        zero.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("needs no zero reports"),
        "{}",
        stderr(&o)
    );
}

/// `YYYY-MM-DD` as a date.
fn day(s: &str) -> time::Date {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

fn today() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[test]
fn over_http_a_voided_dispense_is_dsp01_02_and_a_revised_prescription_dsp01_01_in_the_next_file_and_a_missing_npi_is_refused_by_name()
 {
    let mut s = Server::demo();
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let nurse = s.login(&c, "nurse.chen");
    let (from, to) = demo_period();
    let get = |token: &str, st: &str, from: &str, to: &str| {
        c.get(s.api(&format!("/pmp/{st}?from={from}&to={to}")))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    error(
        get(&nurse, "FL", from, to),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    error(
        get(&pharm, "ZZ", from, to),
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // The dashboard names no state before a file is issued (none is configured) …
    let cookie = s.web_cookie("pharm.rivera", &s.passwords["pharm.rivera"]);
    let dashboard = || {
        c.get(format!("{}/ui", s.url()))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert!(!dashboard().contains("State PMP reports"));

    // The period's file reports both take-home dispenses.
    let r = get(&pharm, "FL", from, to);
    assert_eq!(r.status(), StatusCode::OK);
    let control = r.headers()["x-custody-pmp-control-number"]
        .to_str()
        .unwrap()
        .to_string();
    let recorded: u64 = r.headers()["x-custody-recorded-as"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let segs = check(&r.text().unwrap());
    assert_eq!(segs[0].1[1], control);
    let first_rx = of(&segs, "DSP")[0][1].clone();
    let second = of(&segs, "DSP")[1].clone();
    let e: Value = c
        .get(s.api(&format!("/entries/{recorded}")))
        .bearer_auth(&pharm)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(e["entry"]["body"]["kind"], "pmp_reported", "{e}");
    assert_eq!(e["entry"]["body"]["control_number"], control.as_str());
    assert_eq!(e["entry"]["body"]["records"], 2);
    // … and once Florida has one, the next: Florida wants a file every day (zero reports),
    // so the day after the period's, due the next business day.
    let next = day(to).next_day().unwrap();
    let due = match next.weekday() {
        time::Weekday::Friday => next + time::Duration::days(3),
        time::Weekday::Saturday => next + time::Duration::days(2),
        _ => next.next_day().unwrap(),
    };
    let line = format!("FL (Florida E-FORCSE): the file for {next} is due by {due}");
    let page = dashboard();
    assert!(
        page.contains(&line),
        "no `{line}` in the dashboard:\n{page}"
    );

    // The first dispense was wrong: a correction names it.
    let dispensed: Value = c
        .get(s.api("/entries?kind=dispensed&limit=10"))
        .bearer_auth(&pharm)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let seq = dispensed["entries"][0]["seq"].as_u64().unwrap();
    let r = c
        .post(s.api("/corrections"))
        .bearer_auth(&pharm)
        .json(
            &json!({"password": s.passwords["pharm.rivera"], "corrects": seq,
            "reason": "dispensed to the wrong patient; bottle returned unopened"}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());

    // The next file (today's) voids it: DSP01 02, the same Rx number.
    let today = today();
    let r = get(&pharm, "FL", &today, &today);
    assert_eq!(r.status(), StatusCode::OK);
    let segs = check(&r.text().unwrap());
    let dsp = of(&segs, "DSP");
    assert_eq!(dsp.len(), 1, "{dsp:?}");
    assert_eq!(
        (dsp[0][0].as_str(), dsp[0][1].as_str()),
        ("02", first_rx.as_str())
    );

    // The second dispense's prescription was for 28 days, not 30: kept, and the next file
    // revises it (DSP01 01, the same Rx number, the new days' supply in DSP10).
    let second_seq = dispensed["entries"][1]["seq"].as_u64().unwrap();
    let written = &second[2];
    let r = c
        .put(s.api(&format!("/dispenses/{second_seq}/prescription")))
        .bearer_auth(&pharm)
        .json(
            &json!({"rx_number": second[1], "refills_authorized": second[3].parse::<u32>().unwrap(),
            "written_on": format!("{}-{}-{}", &written[..4], &written[4..6], &written[6..8]),
            "days_supply": 28}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let r = get(&pharm, "FL", &today, &today);
    assert_eq!(r.status(), StatusCode::OK);
    let segs = check(&r.text().unwrap());
    let dsp = of(&segs, "DSP");
    let revised: Vec<_> = dsp.iter().filter(|d| d[0] == "01").collect();
    assert_eq!(revised.len(), 1, "{dsp:?}");
    assert_eq!(revised[0][1], second[1], "{dsp:?}");
    assert_eq!(revised[0][9], "28", "DSP10 days' supply: {dsp:?}");
    assert_ne!(second[9], "28", "it was not 28 before: {second:?}");

    // Without the registrant's NPI, Florida's file is refused, naming PHA01; nothing recorded.
    let r = c
        .put(s.api("/registrant/identifiers"))
        .bearer_auth(&pharm)
        .json(&json!({"ncpdp": "1473625"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = s.entries(&c, &pharm);
    let r = get(&pharm, "FL", from, to);
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().unwrap();
    assert_eq!(b["code"], "invalid_value", "{b}");
    assert_eq!(b["details"]["field"], "PHA01", "{b}");
    assert!(b["message"].as_str().unwrap().contains("NPI"), "{b}");
    assert_eq!(s.entries(&c, &pharm), before, "nothing recorded");
    // A wrong check digit is refused too.
    let r = c
        .put(s.api("/registrant/identifiers"))
        .bearer_auth(&pharm)
        .json(&json!({"npi": "1234567890"}))
        .send()
        .unwrap();
    error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    let data = s.stop();
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
