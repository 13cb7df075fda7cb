//! The analytics of a small constructed ledger against figures computed by hand.
//!
//! Three nurses, 2026-03-02 (UTC; clinic hours 08:00-18:00):
//! - nina: opens C13-1 09:00, gives 5 mL (50 mg) at 09:10 recorded 09:20, wastes 15 mL
//!   (150 mg) at 09:40, noah witnessing at once. Ratio 150/50 = 3.000; opening to waste 40 min.
//! - noah: opens C13-2 10:00, gives 10 mL (100 mg) at 10:00 recorded 11:30 (late, 90 min),
//!   wastes 10 mL (100 mg) at 11:40, nina witnessing at 12:00 from the queue (20 min).
//!   Ratio 1.000; opening to waste 100 min; queue 1 of 1; delay 20 min; late 1 of 1.
//! - nell: opens C13-3 19:00, gives 2 mL (20 mg) at 19:05 recorded 19:10, wastes 18 mL
//!   (180 mg) at 19:30, nina witnessing at once. Ratio 9.000; opening to waste 30 min; every
//!   one of nell's 3 signatures outside hours; nina 1 of her 5.
//! - A correction at 20:00 by phil names noah's dose; a count by phil finds one vial missing.

use custody_analytics::{Analytics, Analyzer, Hours, Level, Params, Signal, Thresholds, Tier};
use custody_ledger::vectors::{self, Builder, KETAMINE_10, seeded_key};
use custody_ledger::*;

const MIN: i64 = 60_000_000;
/// 2026-03-02T00:00:00Z
const DAY0: i64 = 1_772_409_600_000_000;

fn t(h: i64, m: i64) -> Timestamp {
    Timestamp::from_micros(DAY0 + (h * 60 + m) * MIN).unwrap()
}

fn user(s: &str) -> Principal {
    Principal::User(s.parse().unwrap())
}

struct L {
    b: Builder,
}

impl L {
    /// Records `payload` at `at`, authored by `author` at `authored`, witnessed by
    /// `witness` at `at`.
    fn rec(
        &mut self,
        payload: impl Into<Payload>,
        author: &str,
        authored: Timestamp,
        witness: Option<&str>,
        at: Timestamp,
    ) -> u64 {
        self.b.now = at.micros();
        let mut d = self.b.draft_made_at(payload, authored).signed(
            user(author),
            Meaning::Authored,
            &seeded_key(author),
            authored,
        );
        if let Some(w) = witness {
            d = d.signed(user(w), Meaning::Witnessed, &seeded_key(w), at);
        }
        self.b.push(d, 0).expect("valid entry").seq.get()
    }
}

fn ledger() -> (Vec<Entry>, [u64; 12]) {
    let ledger = LedgerId::from_uuid(uuid_like());
    let mut b = Builder::new(ledger, DAY0 - 86_400_000_000);
    let reg = Principal::Registrant;
    let pk = |n: &str| PublicKey::from(&seeded_key(n));
    let d = b
        .draft(Genesis {
            registrant: vectors::registrant_party(),
            registrant_key: pk("registrant"),
        })
        .signed(
            reg.clone(),
            Meaning::Registrant,
            &seeded_key("registrant"),
            b.at(),
        );
    b.push(d, MIN).unwrap();
    let enroll = |b: &Builder, name: &str, role: Role| {
        b.draft(UserEnrolled {
            user: name.parse().unwrap(),
            printed_name: name.parse().unwrap(),
            role,
            public_key: pk(name),
        })
    };
    let d = enroll(&b, "ada", Role::Admin)
        .signed(
            reg.clone(),
            Meaning::Registrant,
            &seeded_key("registrant"),
            b.at(),
        )
        .signed(
            user("ada"),
            Meaning::KeyPossession,
            &seeded_key("ada"),
            b.at(),
        );
    b.push(d, MIN).unwrap();
    for (n, r) in [
        ("phil", Role::Pharmacist),
        ("nina", Role::Nurse),
        ("noah", Role::Nurse),
        ("nell", Role::Nurse),
    ] {
        let d = enroll(&b, n, r)
            .signed(user("ada"), Meaning::Authored, &seeded_key("ada"), b.at())
            .signed(user(n), Meaning::KeyPossession, &seeded_key(n), b.at());
        b.push(d, MIN).unwrap();
    }
    let d = b
        .draft(LocationDefined {
            location: "SAFE-1".parse().unwrap(),
            name: "Safe".parse().unwrap(),
            kind: LocationKind::Safe,
        })
        .signed(user("ada"), Meaning::Authored, &seeded_key("ada"), b.at());
    b.push(d, MIN).unwrap();
    let d = b.draft(vectors::ketamine_10()).signed(
        user("ada"),
        Meaning::Authored,
        &seeded_key("ada"),
        b.at(),
    );
    b.push(d, MIN).unwrap();
    // Format version 4: the ledger goes live with its initial inventory (nothing on hand).
    let d = b
        .draft(Inventory {
            occasion: InventoryOccasion::Initial,
            taken_at: BusinessHours::Opening,
            date: b.today(),
            lines: Vec::new(),
        })
        .signed(user("phil"), Meaning::Authored, &seeded_key("phil"), b.at())
        .signed(
            user("nina"),
            Meaning::Witnessed,
            &seeded_key("nina"),
            b.at(),
        );
    b.push(d, MIN).unwrap();
    let mut l = L { b };
    let receipt = Receipt {
        supplier: vectors::supplier_party(),
        invoice: "INV-1".parse().unwrap(),
        received_on: t(7, 0).date(),
        product: KETAMINE_10.parse().unwrap(),
        lot: "L1".parse().unwrap(),
        expiry: "2027-06-30".parse().unwrap(),
        containers: 4,
        location: "SAFE-1".parse().unwrap(),
    };
    let r = l.rec(receipt, "phil", t(7, 0), None, t(7, 0));
    let c = |i: u32| ContainerId::new(Seq::new(r).unwrap(), i).unwrap();
    let ml = |m: u64| Amount::Volume {
        ul: Microliters::new(m * 1000),
        ug: Micrograms::new(m * 10_000),
    };
    let open = |c: ContainerId| ContainerOpened {
        container: c,
        beyond_use: t(0, 0).date(),
        opened_at: None,
    };
    let dose = |c: ContainerId, m: u64, by: &str, at: Timestamp| Administered {
        container: c,
        patient: PatientRef::commit(&[1; 32], "MRN-1"),
        prescriber: vectors::prescriber(),
        amount: ml(m),
        route: Route::Iv,
        given_at: at,
        given_by: by.parse().unwrap(),
        late_reason: None,
    };
    let waste = |c: ContainerId, m: u64| Waste {
        container: c,
        amount: ml(m),
        reason: "rest of the vial".parse().unwrap(),
    };
    let s = [
        l.rec(open(c(1)), "nina", t(9, 0), None, t(9, 0)),
        l.rec(
            dose(c(1), 5, "nina", t(9, 10)),
            "nina",
            t(9, 20),
            None,
            t(9, 20),
        ),
        l.rec(waste(c(1), 15), "nina", t(9, 40), Some("noah"), t(9, 40)),
        l.rec(open(c(2)), "noah", t(10, 0), None, t(10, 0)),
        l.rec(
            dose(c(2), 10, "noah", t(10, 0)),
            "noah",
            t(11, 30),
            None,
            t(11, 30),
        ),
        l.rec(waste(c(2), 10), "noah", t(11, 40), Some("nina"), t(12, 0)),
        l.rec(open(c(3)), "nell", t(19, 0), None, t(19, 0)),
        l.rec(
            dose(c(3), 2, "nell", t(19, 5)),
            "nell",
            t(19, 10),
            None,
            t(19, 10),
        ),
        l.rec(waste(c(3), 18), "nell", t(19, 30), Some("nina"), t(19, 30)),
        0,
        0,
        0,
    ];
    let mut s = s;
    s[9] = l.rec(
        Correction {
            corrects: Seq::new(s[4]).unwrap(),
            reason: "wrong time".parse().unwrap(),
        },
        "phil",
        t(20, 0),
        None,
        t(20, 0),
    );
    let tally = Tally { sealed: 1, open: 0 };
    s[10] = l.rec(
        Count {
            location: "SAFE-1".parse().unwrap(),
            product: KETAMINE_10.parse().unwrap(),
            blind: true,
            expected: tally,
            counted: Tally { sealed: 0, open: 0 },
        },
        "phil",
        t(20, 10),
        None,
        t(20, 10),
    );
    s[11] = r;
    (l.b.entries, s)
}

fn uuid_like() -> uuid::Uuid {
    uuid::Uuid::from_bytes([
        0x01, 0x93, 0x5a, 0x2b, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x42,
    ])
}

fn analyse(entries: &[Entry], container: Option<ContainerId>) -> Analytics {
    let mut a = Analyzer::new(Params {
        from: t(0, 0),
        to: t(24, 0),
        tz: jiff::tz::TimeZone::UTC,
        hours: "08:00-18:00".parse().unwrap(),
        thresholds: Thresholds::default(),
        container,
    });
    for e in entries {
        a.push(e).unwrap();
    }
    a.finish()
}

#[test]
fn figures_match_the_hand_computed_values() {
    let (entries, s) = ledger();
    let a = analyse(&entries, None);
    let person = |n: &str| a.people.iter().find(|p| p.user.as_str() == n).unwrap();
    let fig = |n: &str, sig: Signal| person(n).figure(sig).unwrap().clone();

    // Wasted ÷ administered, exact µg.
    let r = fig("nina", Signal::WasteRatio);
    assert_eq!((r.numerator, r.denominator), (150_000, 50_000));
    assert_eq!(r.value.as_deref(), Some("3.000"));
    assert_eq!(r.seqs, vec![s[1], s[2]]);
    assert_eq!(
        fig("noah", Signal::WasteRatio).value.as_deref(),
        Some("1.000")
    );
    assert_eq!(
        fig("nell", Signal::WasteRatio).value.as_deref(),
        Some("9.000")
    );

    // Opening to waste: 40, 100, 30 minutes.
    assert_eq!(
        fig("nina", Signal::OpenToWaste).value.as_deref(),
        Some("40.0 min")
    );
    assert_eq!(
        fig("noah", Signal::OpenToWaste).value.as_deref(),
        Some("100.0 min")
    );
    assert_eq!(
        fig("nell", Signal::OpenToWaste).value.as_deref(),
        Some("30.0 min")
    );

    // noah's waste waited 20 minutes for nina: from the queue.
    let q = fig("noah", Signal::QueueShare);
    assert_eq!(
        (q.numerator, q.denominator, q.seqs.clone()),
        (1, 1, vec![s[5]])
    );
    assert_eq!(
        fig("noah", Signal::WitnessDelay).value.as_deref(),
        Some("20.0 min")
    );
    assert_eq!(fig("nina", Signal::QueueShare).numerator, 0);

    // noah's dose was recorded 90 minutes after it was given.
    let late = fig("noah", Signal::LateCharting);
    assert_eq!(
        (late.numerator, late.denominator, late.seqs.clone()),
        (1, 1, vec![s[4]])
    );
    assert_eq!(fig("nina", Signal::LateCharting).numerator, 0);

    // phil's correction names noah's dose: 1 of noah's 3 entries.
    let c = fig("noah", Signal::Corrections);
    assert_eq!(
        (c.numerator, c.denominator, c.seqs.clone()),
        (1, 3, vec![s[9]])
    );

    // phil's count found a vial missing.
    let d = fig("phil", Signal::DiscrepantCounts);
    assert_eq!(
        (d.numerator, d.denominator, d.seqs.clone()),
        (1, 1, vec![s[10]])
    );

    // Outside 08:00-18:00: all 3 of nell's signatures; nina's witnessing at 19:30 (1 of her
    // 3 authored + 2 witnessed = 5 signatures).
    let o = fig("nell", Signal::OffHours);
    assert_eq!((o.numerator, o.denominator), (3, 3));
    assert_eq!(o.value.as_deref(), Some("100.0%"));
    let o = fig("nina", Signal::OffHours);
    assert_eq!(
        (o.numerator, o.denominator, o.seqs.clone()),
        (1, 5, vec![s[8]])
    );

    // Each nurse's wastes had one witness.
    let p = fig("nina", Signal::WitnessPair);
    assert_eq!(
        (p.numerator, p.denominator, p.note.as_deref()),
        (1, 1, Some("noah"))
    );

    // Peers: waste ratios 3, 1, 9 → median 3, deviations 0 2 6 → MAD 2, spread 2.9652;
    // nell's z = (9 − 3) / 2.9652 = 2.02 (elevated; three events are needed for high).
    let band = a.band(Role::Nurse, Signal::WasteRatio).unwrap();
    assert_eq!(band.median, Some(3.0));
    assert!((band.spread.unwrap() - 2.9652).abs() < 1e-9);
    let z = fig("nell", Signal::WasteRatio).z.unwrap();
    assert!((z - 6.0 / 2.9652).abs() < 1e-9, "{z}");
    assert_eq!(fig("nell", Signal::WasteRatio).level, Level::Elevated);
    // Off hours: 1/5, 0/3 (noah), 3/3 → median 0.2, deviations 0 0.2 0.8 → MAD 0.2.
    let z = fig("nell", Signal::OffHours).z.unwrap();
    assert!((z - 0.8 / (1.4826 * 0.2)).abs() < 1e-9, "{z}");
    // A lone pharmacist has no peers: no z-score, no tier.
    assert_eq!(fig("phil", Signal::DiscrepantCounts).z, None);
    assert_eq!(person("phil").tier, Tier::None);
    // nell: two elevated signals (waste ratio, off hours) → watch, not review.
    assert_eq!(person("nell").tier, Tier::Watch);

    // Doses by hour of given_at: 09, 10, 19.
    let hours: Vec<u64> = a.doses_by_hour.iter().map(|h| h.0).collect();
    assert_eq!(
        (hours[9], hours[10], hours[19], hours.iter().sum::<u64>()),
        (1, 1, 1, 3)
    );

    // On hand of the 10 mg/mL vials: 4 × 20 mL received at 07:00, then 15 → 0, 10 → 0,
    // 18 → 0 as each vial was used up: 80, 75, 60, 50, 40, 38, 20 mL.
    let oh = &a.on_hand[0];
    let held: Vec<u64> = oh.points.iter().map(|p| p.1).collect();
    assert_eq!(
        held,
        vec![80_000, 75_000, 60_000, 50_000, 40_000, 38_000, 20_000]
    );
}

#[test]
fn a_containers_timeline_lists_every_entry_naming_it() {
    let (entries, s) = ledger();
    let c = ContainerId::new(Seq::new(s[11]).unwrap(), 2).unwrap();
    let a = analyse(&entries, Some(c));
    let tl = a.timeline.unwrap();
    let seqs: Vec<u64> = tl.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![s[11], s[3], s[4], s[5]]);
    let left: Vec<u64> = tl.events.iter().map(|e| e.remaining).collect();
    assert_eq!(left, vec![20_000, 20_000, 10_000, 0]);
}

#[test]
fn hours_parse_and_wrap_overnight() {
    let h: Hours = "22:00-06:00".parse().unwrap();
    assert!(h.contains(23 * 60) && h.contains(60) && !h.contains(12 * 60));
    assert!("8-18".parse::<Hours>().is_err());
    assert!("08:00-08:00".parse::<Hours>().is_err());
}

#[test]
fn charts_carry_their_text_alternatives() {
    let (entries, _) = ledger();
    let a = analyse(&entries, None);
    let charts = custody_analytics::chart::all(&a, &jiff::tz::TimeZone::UTC);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"chart-waste-ratio-nurse"), "{ids:?}");
    assert!(ids.contains(&"chart-doses-by-hour"), "{ids:?}");
    for c in &charts {
        let svg = c.svg();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains(&format!("<title id=\"{}-title\">", c.id)));
        assert!(svg.contains("<desc"));
        assert!(!c.desc.is_empty() && !c.rows.is_empty(), "{}", c.id);
    }
    let band = charts
        .iter()
        .find(|c| c.id == "chart-waste-ratio-nurse")
        .unwrap();
    assert_eq!(band.rows.len(), 3);
}
