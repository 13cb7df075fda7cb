//! Bad input is refused with the right typed `Violation`, and a refused entry changes nothing
//! that matters: the next good entry is accepted at the same place and the ledger verifies.
//!
//! Every refusal is checked twice: by `State::apply` on a copy of the state (what the store
//! does), and by an auditor's `Verifier` fed the accepted prefix and then the bad entry, which
//! must name that entry and the same violation.

use custody_ledger::state::{author_roles, witnesses_needed};
use custody_ledger::vectors::SignWhenMade;
use custody_ledger::vectors::{
    self, Builder, KETAMINE_10, KETAMINE_100, LOZENGE, SPRAVATO, seeded_key,
};
use custody_ledger::verify::{Verifier, verify_entries};
use custody_ledger::*;

const HOUR: i64 = 3_600_000_000;
/// 2026-01-05T08:00:00Z
const START: i64 = 1_767_600_000_000_000;

fn ledger_id() -> LedgerId {
    LedgerId::from_bytes([
        0x01, 0x93, 0x5a, 0x2b, 0x00, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02,
    ])
}
fn other_ledger_id() -> LedgerId {
    LedgerId::from_bytes([
        0x01, 0x93, 0x5a, 0x2b, 0x00, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x03,
    ])
}
fn pk(name: &str) -> PublicKey {
    PublicKey::from(&seeded_key(name))
}
fn uid(name: &str) -> UserId {
    name.parse().expect("valid user id")
}
fn user(name: &str) -> Principal {
    Principal::User(uid(name))
}
fn c(s: &str) -> ContainerId {
    s.parse().expect("valid container id")
}
fn loc(s: &str) -> LocationId {
    s.parse().expect("valid location")
}
fn ndc(s: &str) -> Ndc {
    s.parse().expect("valid NDC")
}
fn seq(n: u64) -> Seq {
    Seq::new(n).expect("small")
}
fn patient() -> PatientRef {
    PatientRef::commit(&[7u8; 32], "MRN-0001")
}
/// `ul` µL of a solution of `per_ml` µg/mL, with the exact µg.
fn vol(ul: u64, per_ml: u64) -> Amount {
    Amount::Volume {
        ul: Microliters::new(ul),
        ug: Micrograms::new(per_ml * ul / 1000),
    }
}
/// `ul` µL of ketamine 10 mg/mL.
fn k10(ul: u64) -> Amount {
    vol(ul, 10_000)
}

/// Signs drafts as the users of the test clinic, with their enrolled keys.
trait Sign: Sized {
    fn by(self, name: &str) -> Self;
    fn witnessed_by(self, name: &str) -> Self;
}
impl Sign for Draft {
    fn by(self, name: &str) -> Self {
        self.signed_when_made(user(name), Meaning::Authored, &seeded_key(name))
    }
    fn witnessed_by(self, name: &str) -> Self {
        self.signed_when_made(user(name), Meaning::Witnessed, &seeded_key(name))
    }
}

/// `assert!(matches!(..))` that shows the violation when it is the wrong one.
macro_rules! assert_refused {
    ($v:expr, $p:pat $(if $g:expr)?) => {{
        let v = $v;
        assert!(matches!(v.clone(), $p $(if $g)?), "wrong violation: {v:?} ({v})");
        v
    }};
}

/// A clinic ledger with the first 18 entries of the vectors: genesis; ada (admin), phil
/// (pharmacist), nina and noah (nurses), audrey (auditor); SAFE-1 and CART-A; the four
/// products; receipts 12–15 (C12-1..3 ketamine 10 mg/mL, C13-1..4 ketamine 100 mg/mL,
/// C14-1..2 Spravato, C15-1..2 lozenge bottles) into SAFE-1; C12-1 moved to CART-A (16) and
/// opened there (17), holding 20 mL.
struct Clinic {
    b: Builder,
}

impl Clinic {
    /// The clinic recorded in format version 3 (it went live with those receipts), going on
    /// in version 4, as every entry is recorded now.
    fn new() -> Self {
        Self::build(false)
    }

    /// A clinic recorded in format version 4 from its genesis: people, places and products
    /// (entries 0–11), and no stock yet — it has not gone live.
    fn fresh() -> Self {
        let mut cl = Self::catalog(Builder::new(ledger_id(), START));
        assert_eq!(cl.b.entries.len(), 12);
        cl.b.version3 = false;
        cl
    }

    /// The clinic as it was recorded before version 3: version 1 entries (and version 2
    /// reports) from `draft`.
    fn legacy() -> Self {
        Self::build(true)
    }

    fn build(legacy: bool) -> Self {
        let mut b = Builder::new(ledger_id(), START);
        b.legacy = legacy;
        b.version3 = !legacy;
        let mut cl = Self::catalog(b);
        for (product, lot, n) in [
            (KETAMINE_10, "KT2301A", 3),
            (KETAMINE_100, "KH2302B", 4),
            (SPRAVATO, "SP2303C", 2),
            (LOZENGE, "LZ2304D", 2),
        ] {
            let d = cl.receipt(product, lot, n, "SAFE-1").by("phil");
            cl.accept(d);
        }
        let d = cl
            .draft(Transfer {
                containers: vec![c("C12-1")],
                to: TransferTo::Location {
                    location: loc("CART-A"),
                },
            })
            .by("phil");
        cl.accept(d);
        let d = cl.open("C12-1").by("nina");
        cl.accept(d);
        assert_eq!(cl.b.entries.len(), 18);
        cl.b.version3 = false;
        cl
    }

    /// Genesis, the people, the places and the products (entries 0–11).
    fn catalog(b: Builder) -> Self {
        let mut cl = Clinic { b };
        let reg = Principal::Registrant;
        let d = cl
            .draft(Genesis {
                registrant: vectors::registrant_party(),
                registrant_key: pk("registrant"),
            })
            .signed_when_made(reg.clone(), Meaning::Registrant, &seeded_key("registrant"));
        cl.accept(d);
        let d = cl
            .enroll("ada", "Ada Lovelace", Role::Admin)
            .signed_when_made(reg, Meaning::Registrant, &seeded_key("registrant"))
            .signed_when_made(user("ada"), Meaning::KeyPossession, &seeded_key("ada"));
        cl.accept(d);
        for (name, printed, role) in [
            ("phil", "Phil Hart, PharmD", Role::Pharmacist),
            ("nina", "Nina Ortiz, RN", Role::Nurse),
            ("noah", "Noah Kim, RN", Role::Nurse),
            ("audrey", "Audrey Stone", Role::Auditor),
        ] {
            let d = cl.enroll(name, printed, role).by("ada").signed_when_made(
                user(name),
                Meaning::KeyPossession,
                &seeded_key(name),
            );
            cl.accept(d);
        }
        for (code, name, kind) in [
            ("SAFE-1", "Pharmacy safe", LocationKind::Safe),
            ("CART-A", "Infusion suite cart A", LocationKind::Cart),
        ] {
            let d = cl
                .draft(LocationDefined {
                    location: loc(code),
                    name: name.parse().expect("valid"),
                    kind,
                })
                .by("ada");
            cl.accept(d);
        }
        for p in [
            vectors::ketamine_10(),
            vectors::ketamine_100(),
            vectors::spravato(),
            vectors::lozenge(),
        ] {
            let d = cl.draft(p).by("ada");
            cl.accept(d);
        }
        cl
    }

    fn draft(&self, p: impl Into<Payload>) -> Draft {
        self.b.draft(p)
    }
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.b.now).expect("in range")
    }
    fn today(&self) -> Day {
        self.b.today()
    }
    fn len(&self) -> u64 {
        self.b.entries.len() as u64
    }
    fn head_hash(&self) -> EntryHash {
        self.b.entries.last().map_or(EntryHash::ZERO, |e| e.hash())
    }
    fn state(&self) -> &State {
        &self.b.state
    }

    /// The draft placed where the next entry goes.
    fn chain(&self, d: Draft) -> Entry {
        self.b
            .seal(d.chain(seq(self.len()), self.head_hash(), self.now()))
    }

    /// Appends a good entry (the builder applies the rules to its state).
    fn accept(&mut self, d: Draft) -> Entry {
        match self.b.push(d, HOUR) {
            Ok(e) => e.clone(),
            Err(v) => panic!("a good entry was refused: {v:?} ({v})"),
        }
    }

    /// Places `d` next and returns why it is refused.
    fn refuse(&self, d: Draft) -> Violation {
        let e = self.chain(d);
        self.refuse_entry(&e)
    }

    /// Returns why `e`, offered after the accepted entries, is refused — by the rules on a copy
    /// of the state, and by a verifier at that same entry for the same reason.
    fn refuse_entry(&self, e: &Entry) -> Violation {
        let mut scratch = self.b.state.clone();
        let v = match scratch.apply(e) {
            Ok(_) => panic!(
                "entry {} ({}) was accepted; it must be refused",
                e.seq,
                e.kind()
            ),
            Err(v) => v,
        };
        // A store holding only the rows the entry references refuses it for the same reason.
        let mut part = self.b.state.subset(&custody_ledger::state::references(e));
        assert_eq!(
            part.apply(e).err(),
            Some(v.clone()),
            "the subset refuses it alike"
        );
        let mut verifier = Verifier::new(Some(pk("registrant")));
        for good in &self.b.entries {
            verifier.push(good).expect("the accepted prefix verifies");
        }
        let f = verifier.push(e).expect_err("the verifier refuses it too");
        assert_eq!(f.seq, self.len(), "the verifier names the refused entry");
        assert_eq!(f.reason, Reason::Rule(v.clone()), "for the same reason");
        v
    }

    /// The whole ledger verifies against the registrant key.
    fn verify(&self) {
        let s = verify_entries(&self.b.entries, Some(pk("registrant")))
            .unwrap_or_else(|f| panic!("the ledger must verify: {f}"));
        assert_eq!(s.entries, self.len());
        assert_eq!(s.head, self.head_hash());
    }

    // Drafts, unsigned.

    fn enroll(&self, name: &str, printed: &str, role: Role) -> Draft {
        self.draft(UserEnrolled {
            user: uid(name),
            printed_name: printed.parse().expect("valid"),
            role,
            public_key: pk(name),
        })
    }
    fn receipt(&self, product: &str, lot: &str, containers: u32, location: &str) -> Draft {
        self.draft(Receipt {
            supplier: vectors::supplier_party(),
            invoice: text!("INV-2026-0042"),
            received_on: self.today(),
            product: ndc(product),
            lot: lot.parse().expect("valid"),
            expiry: "2027-06-30".parse().expect("valid"),
            containers,
            location: loc(location),
        })
    }
    fn open(&self, container: &str) -> Draft {
        self.draft(ContainerOpened {
            container: c(container),
            beyond_use: self.today().plus_days(28).expect("in range"),
            opened_at: None,
        })
    }
    /// A dose given (and authored) by `by`.
    fn dose(&self, container: &str, amount: Amount, by: &str) -> Draft {
        self.draft(Administered {
            container: c(container),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount,
            route: Route::Iv,
            given_at: self.now(),
            given_by: uid(by),
            late_reason: None,
        })
        .by(by)
    }
    fn waste(&self, container: &str, amount: Amount) -> Draft {
        self.draft(Waste {
            container: c(container),
            amount,
            reason: text!("remainder of single-patient vial"),
        })
    }
    fn count(&self, location: &str, product: &str, expected: Tally, counted: Tally) -> Draft {
        self.draft(Count {
            location: loc(location),
            product: ndc(product),
            blind: false,
            expected,
            counted,
        })
    }
    fn adjust(
        &self,
        container: &str,
        resolves: Option<Seq>,
        reason: AdjustmentReason,
        direction: Direction,
        amount: Amount,
    ) -> Draft {
        self.draft(Adjustment {
            container: c(container),
            resolves,
            reason,
            direction,
            amount,
            note: text!("adjusted"),
        })
    }
    fn destroy(&self, items: Vec<ContainerAmount>) -> Draft {
        self.draft(Destruction {
            method: DestructionMethod::OnSite {
                method: text!("chemical digestion kit"),
                place: text!("pharmacy"),
            },
            date: self.today(),
            items,
        })
    }
}

fn tally(sealed: u32, open: u64) -> Tally {
    Tally { sealed, open }
}

// ---------------------------------------------------------------------------------------------
// Parsing at the edge.

#[test]
fn malformed_ndc_strings_are_parse_errors() {
    for good in [
        "42023-0113-10",
        "0409-2051-05",
        "42023-115-10",
        "42023011310",
    ] {
        assert!(good.parse::<Ndc>().is_ok(), "{good}");
    }
    for bad in [
        "",
        "42023-0113-1X",
        "4202-30113-10",
        "42023-0113",
        "4202301131",
        "420230113100",
        "42023--0113-10",
        "42023-0113-100",
        "NDC 42023-0113-10",
    ] {
        let e = bad.parse::<Ndc>().expect_err(bad);
        assert_eq!(e.what, "NDC", "{bad}");
    }
}

#[test]
fn malformed_dea_numbers_are_parse_errors() {
    // AP5836727: 5+3+7 + 2·(8+6+2) = 47, check digit 7.
    assert_eq!(
        "ap5836727".parse::<DeaNumber>().expect("valid").as_str(),
        "AP5836727"
    );
    for bad in [
        "",
        "AP5836728",  // wrong check digit
        "AP583672",   // too short
        "AP58367270", // too long
        "1P5836727",  // starts with a digit
        "A-5836727",  // second character not a letter or 9
        "AP58367X7",  // a letter among the digits
        "AP 5836727", // a space
        "ÄP5836727",  // not ASCII
    ] {
        let e = bad.parse::<DeaNumber>().expect_err(bad);
        assert_eq!(e.what, "DEA number", "{bad}");
    }
}

#[test]
fn malformed_ndc_and_dea_numbers_are_refused_in_json_and_in_stored_bytes() {
    // JSON, as a client would send it: the good payload round-trips; one bad field refuses it.
    let good = serde_json::to_value(Payload::from(vectors::ketamine_10())).expect("json");
    assert_eq!(
        serde_json::from_value::<Payload>(good.clone()).expect("round trip"),
        Payload::from(vectors::ketamine_10())
    );
    let mut bad = good;
    bad["ndc"] = "42023-0113-1X".into();
    assert!(serde_json::from_value::<Payload>(bad).is_err());

    let dose = Payload::from(Administered {
        container: c("C12-1"),
        patient: patient(),
        prescriber: vectors::prescriber(),
        amount: k10(1_000),
        route: Route::Iv,
        given_at: Timestamp::from_micros(START).expect("in range"),
        given_by: uid("nina"),
        late_reason: None,
    });
    let good = serde_json::to_value(&dose).expect("json");
    assert_eq!(
        serde_json::from_value::<Payload>(good.clone()).expect("round trip"),
        dose
    );
    let mut bad = good;
    bad["prescriber"]["dea"] = "AP5836728".into();
    assert!(serde_json::from_value::<Payload>(bad).is_err());

    // Stored bytes: a bad NDC or DEA number inside an entry is undecodable, and the verifier
    // names that entry.
    let cl = Clinic::new();
    let entries = &cl.b.entries;
    let cases: [(usize, &[u8], &str); 2] = [
        (0, b"BR1234563", "DEA number"), // the registrant's DEA number in genesis
        (8, b"42023011310", "NDC"),      // ketamine 10 mg/mL's definition
    ];
    for (i, needle, what) in cases {
        let mut bytes = entries[i].to_canonical_bytes();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the value is in the entry's bytes");
        bytes[at + needle.len() - 1] = b'X';
        match Entry::from_canonical_bytes(&bytes) {
            Err(DecodeError::BadValue { what: w, .. }) => assert_eq!(w, what),
            other => panic!("expected a bad {what}, got {other:?}"),
        }
        let mut v = Verifier::new(Some(pk("registrant")));
        for e in &entries[..i] {
            v.push_bytes(&e.to_canonical_bytes(), Some(&e.hash()))
                .expect("earlier entries verify");
        }
        let f = v.push_bytes(&bytes, None).expect_err("refused");
        assert_eq!(f.seq, i as u64);
        assert!(
            matches!(f.reason, Reason::Undecodable(DecodeError::BadValue { .. })),
            "{f}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities.

#[test]
fn zero_quantities_are_refused() {
    let mut cl = Clinic::new();

    // A dose of nothing.
    let v = cl.refuse(cl.dose("C12-1", k10(0), "nina"));
    assert_refused!(v, Violation::ZeroQuantity(_));
    // A waste of nothing.
    let d = cl.waste("C12-1", k10(0)).by("nina").witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::ZeroQuantity(_));
    // A receipt of no containers.
    let d = cl.receipt(KETAMINE_10, "KT2309Z", 0, "SAFE-1").by("phil");
    assert_refused!(cl.refuse(d), Violation::ZeroQuantity(_));
    // Products that hold nothing.
    let zero_products = [
        Strength::Solution {
            per_ml: Micrograms::ZERO,
            volume: Microliters::new(10_000),
        },
        Strength::Solution {
            per_ml: Micrograms::new(50_000),
            volume: Microliters::ZERO,
        },
        Strength::Units {
            per_unit: Micrograms::ZERO,
            units: Units::new(30),
        },
        Strength::Units {
            per_unit: Micrograms::new(100_000),
            units: Units::new(0),
        },
    ];
    for strength in zero_products {
        let d = cl
            .draft(ProductDefined {
                ndc: ndc("11111-2222-33"),
                name: text!("Ketamine HCl 50 mg/mL"),
                form: FinishedForm::InjectionSolution,
                schedule: Schedule::IIIN,
                strength,
            })
            .by("ada");
        assert_refused!(cl.refuse(d), Violation::ZeroQuantity(_));
    }

    // Nothing changed: the vial still holds 20 mL and a real dose is taken from it.
    assert_eq!(cl.state().containers[&c("C12-1")].remaining, 20_000);
    cl.accept(cl.dose("C12-1", k10(2_500), "nina"));
    assert_eq!(cl.state().containers[&c("C12-1")].remaining, 17_500);
    cl.verify();
}

#[test]
fn unknown_products_locations_and_containers_are_refused() {
    let mut cl = Clinic::new();
    let d = cl.receipt("99999-9999-99", "XX1", 2, "SAFE-1").by("phil");
    assert_refused!(cl.refuse(d), Violation::UnknownProduct(p) if p == ndc("99999-9999-99"));
    let d = cl.receipt(KETAMINE_10, "KT2309Z", 2, "VAULT-9").by("phil");
    assert_refused!(cl.refuse(d), Violation::UnknownLocation(l) if l == "VAULT-9");
    let d = cl
        .draft(Transfer {
            containers: vec![c("C12-2")],
            to: TransferTo::Location {
                location: loc("VAULT-9"),
            },
        })
        .by("phil");
    assert_refused!(cl.refuse(d), Violation::UnknownLocation(l) if l == "VAULT-9");
    let d = cl
        .count("SAFE-1", "99999-9999-99", tally(0, 0), tally(0, 0))
        .by("nina");
    assert_refused!(cl.refuse(d), Violation::UnknownProduct(_));
    let d = cl
        .count("VAULT-9", KETAMINE_10, tally(0, 0), tally(0, 0))
        .by("nina");
    assert_refused!(cl.refuse(d), Violation::UnknownLocation(_));

    // Receipt 12 brought three vials: there is no C12-4, and no receipt 99.
    assert_refused!(
        cl.refuse(cl.open("C12-4").by("nina")),
        Violation::UnknownContainer(x) if x == c("C12-4")
    );
    assert_refused!(
        cl.refuse(cl.dose("C99-1", k10(1_000), "nina")),
        Violation::UnknownContainer(x) if x == c("C99-1")
    );
    let d = cl.waste("C7-1", k10(1_000)).by("nina").witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::UnknownContainer(x) if x == c("C7-1"));

    // The same receipt with a known product and place is fine, and its vials exist.
    let e = cl.accept(cl.receipt(KETAMINE_10, "KT2309Z", 2, "CART-A").by("phil"));
    let new = ContainerId::new(e.seq, 2).expect("valid");
    assert_eq!(cl.state().containers[&new].status, ContainerStatus::Sealed);
    cl.verify();
}

#[test]
fn a_dose_larger_than_what_remains_is_refused_and_exactly_what_remains_is_accepted() {
    let mut cl = Clinic::new();
    // 20 mL in the vial: 20.001 mL is too much.
    let v = assert_refused!(
        cl.refuse(cl.dose("C12-1", k10(20_001), "nina")),
        Violation::InsufficientStock { container, .. } if container == c("C12-1")
    );
    assert!(v.is_conflict());
    cl.accept(cl.dose("C12-1", k10(12_500), "nina"));
    assert_refused!(
        cl.refuse(cl.dose("C12-1", k10(7_501), "noah")),
        Violation::InsufficientStock { container, .. } if container == c("C12-1")
    );
    // What is left, exactly, is given; the vial is then empty.
    cl.accept(cl.dose("C12-1", k10(7_500), "noah"));
    assert!(!cl.state().containers.contains_key(&c("C12-1")));
    assert_eq!(
        cl.state().finished.get(&c("C12-1")),
        Some(&ContainerStatus::Empty)
    );
    cl.verify();
}

#[test]
fn draws_from_an_emptied_container_are_refused() {
    let mut cl = Clinic::new();
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("noah");
    cl.accept(d);
    assert_refused!(
        cl.refuse(cl.dose("C12-1", k10(1), "nina")),
        Violation::ContainerEmpty(x) if x == c("C12-1")
    );
    let d = cl.waste("C12-1", k10(1)).by("nina").witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::ContainerEmpty(_));
    assert_refused!(
        cl.refuse(cl.open("C12-1").by("nina")),
        Violation::ContainerEmpty(_)
    );
    let d = cl.destroy(vec![ContainerAmount {
        container: c("C12-1"),
        amount: k10(1),
    }]);
    let d = d.by("phil").witnessed_by("nina").witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::ContainerEmpty(_));
    // Its sibling is still there to open.
    cl.accept(cl.open("C12-2").by("nina"));
    cl.verify();
}

#[test]
fn amounts_must_agree_with_the_concentration() {
    let mut cl = Clinic::new();
    // 1 mL of 10 mg/mL is 10 mg, not 9.999 mg nor 100 mg.
    for ug in [9_999, 10_001, 100_000, 0] {
        let amount = Amount::Volume {
            ul: Microliters::new(1_000),
            ug: Micrograms::new(ug),
        };
        assert_refused!(
            cl.refuse(cl.dose("C12-1", amount, "nina")),
            Violation::AmountMismatch(_)
        );
    }
    // A solution is measured by volume, not in units.
    let units = Amount::Units {
        units: Units::new(1),
        ug: Micrograms::new(10_000),
    };
    assert_refused!(
        cl.refuse(cl.dose("C12-1", units, "nina")),
        Violation::AmountMismatch(_)
    );
    // A device is measured in units, not by volume.
    cl.accept(cl.open("C14-1").by("noah"));
    let d = cl
        .draft(Administered {
            container: c("C14-1"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: vol(1_000, 28_000),
            route: Route::Intranasal,
            given_at: cl.now(),
            given_by: uid("noah"),
            late_reason: None,
        })
        .by("noah");
    assert_refused!(cl.refuse(d), Violation::AmountMismatch(_));
    // A waste that misstates the drug is refused the same way.
    let wrong = Amount::Volume {
        ul: Microliters::new(20_000),
        ug: Micrograms::new(200_001),
    };
    let d = cl.waste("C12-1", wrong).by("nina").witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::AmountMismatch(_));

    cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    assert_eq!(cl.state().containers[&c("C12-1")].remaining, 19_000);
    cl.verify();
}

#[test]
fn draws_from_a_sealed_container_are_refused() {
    let mut cl = Clinic::new();
    let sealed = |v: &Violation| {
        matches!(v, Violation::ContainerState { container, status, .. }
            if *container == c("C12-2") && status == "sealed")
    };
    let v = cl.refuse(cl.dose("C12-2", k10(1_000), "nina"));
    assert!(sealed(&v), "{v:?}");
    let d = cl
        .waste("C12-2", k10(1_000))
        .by("nina")
        .witnessed_by("noah");
    let v = cl.refuse(d);
    assert!(sealed(&v), "{v:?}");
    let d = cl
        .draft(Dispensed {
            patient: patient(),
            prescriber: vectors::prescriber(),
            sealed: vec![],
            from_open: vec![ContainerAmount {
                container: c("C12-2"),
                amount: k10(1_000),
            }],
        })
        .by("phil");
    let v = cl.refuse(d);
    assert!(sealed(&v), "{v:?}");
    // Part of a sealed vial cannot be destroyed either: it leaves whole or is opened first.
    let d = cl
        .destroy(vec![ContainerAmount {
            container: c("C12-2"),
            amount: k10(1_000),
        }])
        .by("phil")
        .witnessed_by("nina")
        .witnessed_by("noah");
    let v = cl.refuse(d);
    assert!(sealed(&v), "{v:?}");
    // An open vial cannot be opened again.
    assert_refused!(
        cl.refuse(cl.open("C12-1").by("nina")),
        Violation::ContainerState { container, .. } if container == c("C12-1")
    );

    cl.accept(cl.open("C12-2").by("nina"));
    cl.accept(cl.dose("C12-2", k10(1_000), "nina"));
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// Signers, witnesses, roles.

#[test]
fn waste_needs_a_witness_who_is_not_the_author() {
    let mut cl = Clinic::new();
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("nina");
    let v = assert_refused!(cl.refuse(d), Violation::WitnessIsAuthor(u) if u == uid("nina"));
    assert!(v.is_conflict());
    let d = cl.waste("C12-1", k10(20_000)).by("nina");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    // Two witnesses where one is needed.
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("noah")
        .witnessed_by("phil");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    // The witness's signature must come after the author's, meaning "witnessed".
    let d = cl
        .waste("C12-1", k10(20_000))
        .witnessed_by("noah")
        .by("nina");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    // An auditor may not witness.
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("audrey");
    assert_refused!(
        cl.refuse(d),
        Violation::RoleNotAllowed { user, role: Role::Auditor, kind: Kind::Waste, action: "witness" }
            if user == uid("audrey")
    );

    cl.accept(
        cl.waste("C12-1", k10(20_000))
            .by("nina")
            .witnessed_by("noah"),
    );
    cl.verify();
}

/// A waste queued for a witness is checked for everything but the witness it still awaits:
/// the container, the amount, the author, and any witness signature it already carries.
#[test]
fn an_entry_awaiting_its_witness_is_checked_for_everything_else() {
    let mut cl = Clinic::new();
    let awaiting = |cl: &Clinic, d: Draft| cl.b.state.clone().apply_awaiting_witness(&cl.chain(d));
    // Signed by its author alone: the complete rules want a witness, this mode waits for one.
    let alone = cl.waste("C12-1", k10(20_000)).by("nina");
    assert_refused!(cl.refuse(alone.clone()), Violation::SignatureShape(_));
    assert!(awaiting(&cl, alone).is_ok());
    // Everything else is still checked: more than the vial holds, nothing at all, an author
    // who may not waste, a second witness too many, the author as witness.
    let d = cl.waste("C12-1", k10(900_000)).by("nina");
    assert!(matches!(
        awaiting(&cl, d),
        Err(Violation::InsufficientStock { .. })
    ));
    let d = cl.waste("C12-1", k10(0)).by("nina");
    assert!(matches!(awaiting(&cl, d), Err(Violation::ZeroQuantity(_))));
    let d = cl.waste("C12-1", k10(20_000)).by("audrey");
    assert!(matches!(
        awaiting(&cl, d),
        Err(Violation::RoleNotAllowed { .. })
    ));
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("noah")
        .witnessed_by("phil");
    assert!(matches!(
        awaiting(&cl, d),
        Err(Violation::SignatureShape(_))
    ));
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("nina");
    assert!(matches!(
        awaiting(&cl, d),
        Err(Violation::WitnessIsAuthor(_))
    ));
    // A destruction with one of its two witnesses is awaiting the other.
    let whole = vec![ContainerAmount {
        container: c("C13-1"),
        amount: vol(5_000, 100_000),
    }];
    let d = cl.destroy(whole).by("phil").witnessed_by("nina");
    assert!(awaiting(&cl, d).is_ok());
    // The complete entry goes in as ever.
    cl.accept(
        cl.waste("C12-1", k10(20_000))
            .by("nina")
            .witnessed_by("noah"),
    );
    cl.verify();
}

#[test]
fn destruction_needs_two_different_witnesses() {
    let mut cl = Clinic::new();
    let whole = || {
        vec![ContainerAmount {
            container: c("C13-1"),
            amount: vol(5_000, 100_000),
        }]
    };
    let d = cl
        .destroy(whole())
        .by("phil")
        .witnessed_by("nina")
        .witnessed_by("nina");
    let v = assert_refused!(cl.refuse(d), Violation::DuplicateWitness(u) if u == uid("nina"));
    assert!(v.is_conflict());
    let d = cl.destroy(whole()).by("phil").witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    let d = cl
        .destroy(whole())
        .by("phil")
        .witnessed_by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::WitnessIsAuthor(_));

    cl.accept(
        cl.destroy(whole())
            .by("phil")
            .witnessed_by("nina")
            .witnessed_by("noah"),
    );
    assert_eq!(
        cl.state().finished.get(&c("C13-1")),
        Some(&ContainerStatus::Empty)
    );
    cl.verify();
}

#[test]
fn unknown_inactive_and_wrong_key_signers_are_refused() {
    let mut cl = Clinic::new();

    // Someone never enrolled, as author or as witness.
    assert_refused!(
        cl.refuse(cl.open("C12-2").by("zed")),
        Violation::UnknownSigner(p) if p == user("zed")
    );
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("zed");
    assert_refused!(cl.refuse(d), Violation::UnknownSigner(p) if p == user("zed"));

    // Nina signing with Noah's key.
    let d = cl
        .open("C12-2")
        .signed_when_made(user("nina"), Meaning::Authored, &seeded_key("noah"));
    assert_refused!(
        cl.refuse(d),
        Violation::WrongKey { signer, key_id } if signer == user("nina") && key_id == pk("noah").key_id()
    );

    // After Noah rotates his key, his old key is no longer his.
    let d = cl
        .draft(KeyRotated {
            subject: user("noah"),
            new_key: pk("noah-2"),
            reason: text!("new device"),
        })
        .by("noah")
        .signed_when_made(user("noah"), Meaning::KeyPossession, &seeded_key("noah-2"));
    cl.accept(d);
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("noah");
    assert_refused!(
        cl.refuse(d),
        Violation::WrongKey { signer, key_id } if signer == user("noah") && key_id == pk("noah").key_id()
    );
    assert_refused!(
        cl.refuse(cl.open("C12-2").by("noah")),
        Violation::WrongKey { .. }
    );
    let d =
        cl.open("C12-2")
            .signed_when_made(user("noah"), Meaning::Authored, &seeded_key("noah-2"));
    cl.accept(d);

    // The registrant's key is not an admin's signature.
    let d = cl
        .draft(RoleChanged {
            user: uid("nina"),
            role: Role::Pharmacist,
            reason: text!("licensed"),
        })
        .signed_when_made(
            Principal::Registrant,
            Meaning::Authored,
            &seeded_key("registrant"),
        );
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));

    // Once Nina is deactivated she can neither author nor witness.
    let d = cl
        .draft(UserDeactivated {
            user: uid("nina"),
            reason: text!("left the clinic"),
        })
        .by("ada");
    cl.accept(d);
    assert_refused!(
        cl.refuse(cl.open("C12-3").by("nina")),
        Violation::InactiveSigner(u) if u == uid("nina")
    );
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::InactiveSigner(u) if u == uid("nina"));
    // Nor be named as the one who gave a dose.
    let d = cl
        .draft(Administered {
            container: c("C12-1"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: k10(1_000),
            route: Route::Iv,
            given_at: cl.now(),
            given_by: uid("nina"),
            late_reason: None,
        })
        .by("phil");
    assert_refused!(cl.refuse(d), Violation::UserInactive(u) if u == uid("nina"));

    let d = cl.waste("C12-1", k10(20_000)).by("phil").signed_when_made(
        user("noah"),
        Meaning::Witnessed,
        &seeded_key("noah-2"),
    );
    cl.accept(d);
    cl.verify();
}

#[test]
fn roles_limit_what_each_user_may_author() {
    let mut cl = Clinic::new();

    // A nurse may not receive stock.
    let d = cl.receipt(KETAMINE_10, "KT2309Z", 1, "SAFE-1").by("nina");
    assert_refused!(
        cl.refuse(d),
        Violation::RoleNotAllowed { user, role: Role::Nurse, kind: Kind::Receipt, action: "author" }
            if user == uid("nina")
    );
    // An admin is not a pharmacist, and a pharmacist not an admin.
    let d = cl.receipt(KETAMINE_10, "KT2309Z", 1, "SAFE-1").by("ada");
    assert_refused!(
        cl.refuse(d),
        Violation::RoleNotAllowed {
            role: Role::Admin,
            kind: Kind::Receipt,
            ..
        }
    );
    let d = cl
        .draft(LocationDefined {
            location: loc("CAB-2"),
            name: text!("Cabinet 2"),
            kind: LocationKind::Cabinet,
        })
        .by("phil");
    assert_refused!(
        cl.refuse(d),
        Violation::RoleNotAllowed {
            role: Role::Pharmacist,
            kind: Kind::LocationDefined,
            ..
        }
    );

    // An auditor may author nothing (but rotating their own key).
    let one = |container: &str, amount: Amount| {
        vec![ContainerAmount {
            container: c(container),
            amount,
        }]
    };
    let payloads: Vec<Payload> = vec![
        UserEnrolled {
            user: uid("olga"),
            printed_name: text!("Olga Berg, RN"),
            role: Role::Nurse,
            public_key: pk("olga"),
        }
        .into(),
        RoleChanged {
            user: uid("nina"),
            role: Role::Pharmacist,
            reason: text!("licensed"),
        }
        .into(),
        UserDeactivated {
            user: uid("noah"),
            reason: text!("left"),
        }
        .into(),
        ProductDefined {
            ndc: ndc("11111-2222-33"),
            name: text!("Ketamine HCl 50 mg/mL, 10 mL vial"),
            form: FinishedForm::InjectionSolution,
            schedule: Schedule::IIIN,
            strength: Strength::Solution {
                per_ml: Micrograms::new(50_000),
                volume: Microliters::new(10_000),
            },
        }
        .into(),
        LocationDefined {
            location: loc("CAB-2"),
            name: text!("Cabinet 2"),
            kind: LocationKind::Cabinet,
        }
        .into(),
        cl.receipt(KETAMINE_10, "KT2309Z", 1, "SAFE-1").body.payload,
        cl.open("C12-2").body.payload,
        Administered {
            container: c("C12-1"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: k10(1_000),
            route: Route::Iv,
            given_at: cl.now(),
            given_by: uid("nina"),
            late_reason: None,
        }
        .into(),
        Dispensed {
            patient: patient(),
            prescriber: vectors::prescriber(),
            sealed: vec![c("C15-1")],
            from_open: vec![],
        }
        .into(),
        cl.waste("C12-1", k10(20_000)).body.payload,
        Transfer {
            containers: vec![c("C12-2")],
            to: TransferTo::Location {
                location: loc("CART-A"),
            },
        }
        .into(),
        cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0))
            .body
            .payload,
        cl.adjust(
            "C12-1",
            None,
            AdjustmentReason::Overfill,
            Direction::Increase,
            k10(300),
        )
        .body
        .payload,
        LossTheft {
            loss_type: LossType::EmployeePilferage,
            discovered_on: cl.today(),
            police_report: None,
            items: one("C13-1", vol(5_000, 100_000)),
            description: text!("vial missing"),
            explains_count: None,
        }
        .into(),
        cl.destroy(one("C13-2", vol(5_000, 100_000))).body.payload,
        Correction {
            corrects: seq(17),
            reason: text!("wrong beyond-use date"),
        }
        .into(),
        cl.inventory(InventoryOccasion::Biennial, vec![])
            .body
            .payload,
        LossReported {
            loss: seq(3),
            notice_on: cl.today(),
            form_106: text!("F106"),
            form_106_on: cl.today(),
        }
        .into(),
        cl.session("S-1", vec![seq(3)], cl.now()).body.payload,
        RemsFormSubmitted {
            session: text!("S-1"),
            submitted_on: cl.today(),
            confirmation: text!("PMF-1"),
        }
        .into(),
    ];
    let mut covered = Vec::new();
    for p in payloads {
        let kind = p.kind();
        let mut d = cl.draft(p).by("audrey");
        if kind == Kind::UserEnrolled {
            d = d.signed_when_made(user("olga"), Meaning::KeyPossession, &seeded_key("olga"));
        }
        for w in ["nina", "noah"].iter().take(witnesses_needed(kind)) {
            d = d.witnessed_by(w);
        }
        let v = cl.refuse(d);
        assert!(
            matches!(&v, Violation::RoleNotAllowed { user, role: Role::Auditor, kind: k, action: "author" }
                if *user == uid("audrey") && *k == kind),
            "{kind}: {v:?}"
        );
        covered.push(kind);
    }
    for k in Kind::ALL {
        // Genesis, report_issued and pmp_reported are the registrant key's alone (tested on
        // their own).
        if !matches!(k, Kind::Genesis | Kind::ReportIssued | Kind::PmpReported)
            && !author_roles(*k).contains(&Role::Auditor)
        {
            assert!(covered.contains(k), "no auditor-authored {k} was tried");
        }
    }
    // Not even another person's key rotation.
    let d = cl
        .draft(KeyRotated {
            subject: user("nina"),
            new_key: pk("nina-2"),
            reason: text!("new device"),
        })
        .by("audrey")
        .signed_when_made(user("nina"), Meaning::KeyPossession, &seeded_key("nina-2"));
    assert_refused!(
        cl.refuse(d),
        Violation::RoleNotAllowed { user, role: Role::Auditor, kind: Kind::KeyRotated, .. }
            if user == uid("audrey")
    );
    // Their own, yes.
    let d = cl
        .draft(KeyRotated {
            subject: user("audrey"),
            new_key: pk("audrey-2"),
            reason: text!("new device"),
        })
        .by("audrey")
        .signed_when_made(
            user("audrey"),
            Meaning::KeyPossession,
            &seeded_key("audrey-2"),
        );
    cl.accept(d);

    // Once Nina is a pharmacist, she may receive stock.
    let d = cl
        .draft(RoleChanged {
            user: uid("nina"),
            role: Role::Pharmacist,
            reason: text!("licensed as pharmacist"),
        })
        .by("ada");
    cl.accept(d);
    cl.accept(cl.receipt(KETAMINE_10, "KT2309Z", 1, "SAFE-1").by("nina"));
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// Counts and adjustments.

#[test]
fn a_count_must_state_what_the_ledger_holds() {
    let mut cl = Clinic::new();
    // SAFE-1 holds C12-2 and C12-3 sealed; CART-A holds C12-1 open with 20 mL.
    for (location, expected) in [
        ("SAFE-1", tally(3, 0)),
        ("SAFE-1", tally(1, 0)),
        ("SAFE-1", tally(2, 1)),
        ("CART-A", tally(0, 19_999)),
        ("CART-A", tally(1, 0)),
    ] {
        let d = cl
            .count(location, KETAMINE_10, expected, expected)
            .by("nina");
        let v = assert_refused!(
            cl.refuse(d),
            Violation::CountMismatch { product, location: l, .. }
                if product == ndc(KETAMINE_10) && l == location
        );
        assert!(v.is_conflict());
    }
    cl.accept(
        cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0))
            .by("nina"),
    );
    cl.accept(
        cl.count("CART-A", KETAMINE_10, tally(0, 20_000), tally(0, 20_000))
            .by("nina"),
    );
    assert!(cl.state().discrepancies.is_empty());
    cl.verify();
}

#[test]
fn adjustments_resolve_only_real_discrepancies() {
    let mut cl = Clinic::new();
    let resolve = |cl: &Clinic, n: u64| {
        cl.adjust(
            "C12-3",
            Some(seq(n)),
            AdjustmentReason::CountDiscrepancy,
            Direction::Decrease,
            k10(20_000),
        )
        .by("phil")
        .witnessed_by("noah")
    };
    // Entry 17 is an opening, not a count; 999 does not exist yet.
    assert_refused!(
        cl.refuse(resolve(&cl, 17)),
        Violation::UnknownDiscrepancy(s) if s == seq(17)
    );
    assert_refused!(
        cl.refuse(resolve(&cl, 999)),
        Violation::UnknownDiscrepancy(s) if s == seq(999)
    );
    // A count that found what the ledger holds has nothing to resolve.
    let clean = cl
        .accept(
            cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0))
                .by("noah"),
        )
        .seq;
    assert_refused!(
        cl.refuse(resolve(&cl, clean.get())),
        Violation::UnknownDiscrepancy(s) if s == clean
    );
    // A count-discrepancy adjustment must name a count.
    let d = cl
        .adjust(
            "C12-3",
            None,
            AdjustmentReason::CountDiscrepancy,
            Direction::Decrease,
            k10(20_000),
        )
        .by("phil")
        .witnessed_by("noah");
    assert_refused!(cl.refuse(d), Violation::Rule(_));
    // One vial missing: that count is resolved.
    let short = cl
        .accept(
            cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(1, 0))
                .by("noah"),
        )
        .seq;
    assert!(cl.state().discrepancies_of(short).next().is_some());
    cl.accept(resolve(&cl, short.get()));
    assert_eq!(
        cl.state().tally(&loc("SAFE-1"), &ndc(KETAMINE_10)),
        tally(1, 0)
    );
    cl.verify();
}

#[test]
fn overfill_only_adds_and_only_overfill_or_a_count_adds() {
    let mut cl = Clinic::new();
    let d = cl
        .adjust(
            "C12-1",
            None,
            AdjustmentReason::Overfill,
            Direction::Decrease,
            k10(300),
        )
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::Rule(_));
    for reason in [
        AdjustmentReason::Breakage,
        AdjustmentReason::Spill,
        AdjustmentReason::Other,
    ] {
        let d = cl
            .adjust("C12-1", None, reason, Direction::Increase, k10(300))
            .by("phil")
            .witnessed_by("nina");
        assert_refused!(cl.refuse(d), Violation::Rule(_));
    }
    // Overfill of a sealed vial cannot be known.
    let d = cl
        .adjust(
            "C12-2",
            None,
            AdjustmentReason::Overfill,
            Direction::Increase,
            k10(300),
        )
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::ContainerState { .. });
    // An adjustment is witnessed.
    let d = cl
        .adjust(
            "C12-1",
            None,
            AdjustmentReason::Overfill,
            Direction::Increase,
            k10(300),
        )
        .by("phil");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));

    let d = cl
        .adjust(
            "C12-1",
            None,
            AdjustmentReason::Overfill,
            Direction::Increase,
            k10(300),
        )
        .by("phil")
        .witnessed_by("nina");
    cl.accept(d);
    assert_eq!(cl.state().containers[&c("C12-1")].remaining, 20_300);
    // The overfill can be given: 20.3 mL, not a drop more.
    assert_refused!(
        cl.refuse(cl.dose("C12-1", k10(20_301), "nina")),
        Violation::InsufficientStock { .. }
    );
    cl.accept(cl.dose("C12-1", k10(20_300), "nina"));
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// The chain.

#[test]
fn the_chain_refuses_time_going_backwards_and_a_second_genesis() {
    let mut cl = Clinic::new();
    let last = cl.b.entries.last().expect("entries").timestamp;
    let earlier = Timestamp::from_micros(last.micros() - 1).expect("in range");
    // The body is made (its UUIDv7 entry id stamped) at that earlier time too: only the
    // chain's clock is wrong.
    let mut d = cl.open("C12-2");
    d.body.entry_id = vectors::seeded_entry_id(cl.len(), (earlier.micros() / 1000) as u64);
    let e = d.by("nina").chain(seq(cl.len()), cl.head_hash(), earlier);
    assert_refused!(
        cl.refuse_entry(&e),
        Violation::TimeWentBackwards { previous, this } if previous == last && this == earlier
    );

    let d = cl
        .draft(Genesis {
            registrant: vectors::registrant_party(),
            registrant_key: pk("registrant"),
        })
        .signed_when_made(
            Principal::Registrant,
            Meaning::Registrant,
            &seeded_key("registrant"),
        );
    assert_refused!(cl.refuse(d), Violation::GenesisNotFirst);

    // Out of place, out of ledger, off the chain.
    let gap = cl
        .open("C12-2")
        .by("nina")
        .chain(seq(cl.len() + 1), cl.head_hash(), cl.now());
    assert_refused!(
        cl.refuse_entry(&gap),
        Violation::SeqGap { expected, found } if expected == seq(cl.len()) && found == seq(cl.len() + 1)
    );
    let broken = cl
        .open("C12-2")
        .by("nina")
        .chain(seq(cl.len()), EntryHash::ZERO, cl.now());
    assert_refused!(cl.refuse_entry(&broken), Violation::BrokenLink { .. });
    let mut d = cl.open("C12-2");
    d.ledger = other_ledger_id();
    let d = d.by("nina");
    assert_refused!(cl.refuse(d), Violation::WrongLedger { .. });

    // Nothing but a genesis starts a ledger.
    let first = cl.b.entries[1].clone();
    let e = Draft {
        ledger: first.ledger,
        version: first.version,
        body: first.body.clone(),
        signatures: first.signatures.clone(),
    }
    .chain(Seq::GENESIS, EntryHash::ZERO, first.timestamp);
    assert_eq!(
        State::new().apply(&e).map(|_| ()),
        Err(Violation::MissingGenesis)
    );

    // The same time as the entry before is not going backwards.
    cl.b.now = last.micros();
    cl.accept(cl.open("C12-2").by("nina"));
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// Signatures: `State::apply` checks who signed with which key; the verifier checks the
// signatures themselves.

#[test]
fn a_signature_made_in_another_ledger_is_refused_by_the_verifier() {
    let mut cl = Clinic::new();
    let at = cl.len();
    // Nina signs the opening as an entry of another ledger; it is then offered to this one.
    let mut d = cl.open("C12-2");
    d.ledger = other_ledger_id();
    let mut d = d.by("nina");
    d.ledger = ledger_id();
    // The rules alone cannot tell: signer, role and key id are all right.
    let e = cl.chain(d.clone());
    cl.state().clone().apply(&e).expect("the rules accept it");
    // The builder (rules only) accepts it, and good entries follow it.
    cl.accept(d);
    cl.accept(cl.dose("C12-1", k10(1_000), "noah"));
    cl.accept(
        cl.count("SAFE-1", KETAMINE_10, tally(1, 20_000), tally(1, 20_000))
            .by("noah"),
    );
    let f = verify_entries(&cl.b.entries, Some(pk("registrant"))).expect_err("refused");
    assert_eq!(f.seq, at);
    assert!(
        matches!(&f.reason, Reason::BadSignature { index: 0, .. }),
        "{f}"
    );
    // The same entry signed for this ledger verifies.
    let mut good = Clinic::new();
    good.accept(good.open("C12-2").by("nina"));
    good.verify();
}

#[test]
fn a_signature_reused_as_another_kind_meaning_or_entry_is_refused_by_the_verifier() {
    let cl = Clinic::new();
    let at = cl.len();
    let refused_by_verifier = |e: &Entry, index: usize| {
        cl.state().clone().apply(e).expect("the rules accept it");
        let mut all = cl.b.entries.clone();
        all.push(e.clone());
        let f = verify_entries(&all, Some(pk("registrant"))).expect_err("refused");
        assert_eq!(f.seq, at, "{f}");
        assert!(
            matches!(&f.reason, Reason::BadSignature { index: i, .. } if *i == index),
            "{f}"
        );
    };

    // Nina's signature on an opening, moved onto a count with the same entry id.
    let opening = cl.open("C12-2").by("nina");
    let mut count = cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0));
    assert_eq!(count.body.entry_id, opening.body.entry_id);
    count.signatures = opening.signatures.clone();
    refused_by_verifier(&cl.chain(count), 0);

    // A witness's signature relabelled as the author's, and the author's as the witness's.
    let waste = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("noah");
    let mut swapped = waste.clone();
    let (mut a, mut w) = (waste.signatures[0].clone(), waste.signatures[1].clone());
    a.meaning = Meaning::Witnessed;
    w.meaning = Meaning::Authored;
    swapped.signatures = vec![w, a];
    refused_by_verifier(&cl.chain(swapped), 0);

    // The same act signed once, replayed as a second entry with its own id.
    let mut cl = cl;
    let first = cl.accept(
        cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0))
            .by("noah"),
    );
    let mut replay = cl.count("SAFE-1", KETAMINE_10, tally(2, 0), tally(2, 0));
    assert_ne!(replay.body.entry_id, first.body.entry_id);
    replay.signatures = first.signatures.clone();
    let e = cl.chain(replay);
    cl.state().clone().apply(&e).expect("the rules accept it");
    let mut all = cl.b.entries.clone();
    all.push(e);
    let f = verify_entries(&all, Some(pk("registrant"))).expect_err("refused");
    assert_eq!(f.seq, at + 1);
    assert!(
        matches!(f.reason, Reason::BadSignature { index: 0, .. }),
        "{f}"
    );

    // The untouched entries verify.
    cl.accept(
        cl.waste("C12-1", k10(20_000))
            .by("nina")
            .witnessed_by("noah"),
    );
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// A refused entry changes nothing.

#[test]
fn a_refused_entry_changes_nothing_and_the_next_good_entry_takes_its_place() {
    let mut cl = Clinic::new();
    let head = cl.state().head;
    let before = cl.state().clone();

    // A dispense whose first bottle is fine and whose second container is open: refused after
    // the rules have already taken the first bottle out of the copy they worked on.
    let d = cl
        .draft(Dispensed {
            patient: patient(),
            prescriber: vectors::prescriber(),
            sealed: vec![c("C15-1"), c("C12-1")],
            from_open: vec![],
        })
        .by("phil");
    assert_refused!(
        cl.refuse(d),
        Violation::ContainerState { container, .. } if container == c("C12-1")
    );
    // And a handful of others.
    assert_refused!(
        cl.refuse(cl.dose("C12-1", k10(20_001), "nina")),
        Violation::InsufficientStock { .. }
    );
    let d = cl
        .waste("C12-1", k10(20_000))
        .by("nina")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::WitnessIsAuthor(_));
    let d = cl.receipt(KETAMINE_10, "KT2309Z", 1, "SAFE-1").by("nina");
    assert_refused!(cl.refuse(d), Violation::RoleNotAllowed { .. });

    // The state the store or verifier holds is as it was: the bottle is still sealed on the
    // shelf, the head has not moved, nothing was added or taken.
    let s = cl.state();
    assert_eq!(s.head, head);
    assert_eq!(s.containers, before.containers);
    assert_eq!(s.finished, before.finished);
    assert_eq!(s.users, before.users);
    assert_eq!(s.discrepancies, before.discrepancies);
    assert_eq!(s.containers[&c("C15-1")].status, ContainerStatus::Sealed);

    // The next good entry takes the refused one's place: same sequence number, linked to the
    // same previous hash.
    let e = cl.accept(
        cl.draft(Dispensed {
            patient: patient(),
            prescriber: vectors::prescriber(),
            sealed: vec![c("C15-1")],
            from_open: vec![],
        })
        .by("phil"),
    );
    assert_eq!(e.seq, head.expect("head").next_seq);
    assert_eq!(e.prev, head.expect("head").last_hash);
    assert_eq!(
        cl.state().finished.get(&c("C15-1")),
        Some(&ContainerStatus::Gone)
    );
    cl.accept(cl.dose("C12-1", k10(20_000), "nina"));
    cl.verify();
}

fn report(from: &str, to: &str, size: u64) -> ReportIssued {
    ReportIssued {
        report: text!("audit"),
        from: from.parse().expect("valid"),
        to: to.parse().expect("valid"),
        checkpoint_size: size,
        data_digest: EntryHash::from_bytes([9; 32]),
        requested_by: text!("Audrey Stone (audrey), auditor"),
        format: custody_ledger::ReportFormat::Pdf,
        reason: None,
    }
}

#[test]
fn a_report_issued_is_the_registrant_keys_alone_and_a_version_2_entry() {
    let mut cl = Clinic::legacy();
    let n = cl.len();
    let reg = |d: Draft| {
        d.signed_when_made(
            Principal::Registrant,
            Meaning::Registrant,
            &seeded_key("registrant"),
        )
    };
    // Not by a user, even an admin; not with another meaning.
    assert_refused!(
        cl.refuse(cl.draft(report("2026-01-01", "2026-01-31", n)).by("ada")),
        Violation::SignatureShape(_)
    );
    let d = cl
        .draft(report("2026-01-01", "2026-01-31", n))
        .signed_when_made(
            Principal::Registrant,
            Meaning::Authored,
            &seeded_key("registrant"),
        );
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    // A period that ends before it starts; a checkpoint beyond the ledger.
    assert_refused!(
        cl.refuse(reg(cl.draft(report("2026-02-01", "2026-01-31", n)))),
        Violation::Rule(_)
    );
    assert_refused!(
        cl.refuse(reg(cl.draft(report("2026-01-01", "2026-01-31", n + 1)))),
        Violation::Rule(_)
    );
    let e = cl.accept(reg(cl.draft(report("2026-01-01", "2026-01-31", n))));
    // Its bytes start with version 2 and hash under the version 2 domain; dressed as
    // version 1 it does not decode, nor does a version 1 kind dressed as version 2.
    let bytes = e.to_canonical_bytes();
    assert_eq!(bytes[0], 2);
    assert_eq!(Entry::from_canonical_bytes(&bytes).expect("decodes"), e);
    let mut v1 = bytes.clone();
    v1[0] = 1;
    assert!(Entry::from_canonical_bytes(&v1).is_err());
    let earlier = cl.b.entries[3].to_canonical_bytes();
    assert_eq!(earlier[0], 1, "other entries stay version 1");
    let mut v2 = earlier.clone();
    v2[0] = 2;
    assert!(Entry::from_canonical_bytes(&v2).is_err());
    assert_ne!(
        custody_ledger::entry::hash_encoded(&v1),
        custody_ledger::entry::hash_encoded(&bytes),
        "the version byte picks the hash domain"
    );

    // Recorded now, a report is a version 4 entry like every other kind, and its bytes do not
    // read as a version 1 or 2 entry.
    let mut cl = Clinic::new();
    let n = cl.len();
    let e = cl.accept(reg(cl.draft(report("2026-01-01", "2026-01-31", n))));
    let bytes = e.to_canonical_bytes();
    assert_eq!(bytes[0], 4);
    assert_eq!(Entry::from_canonical_bytes(&bytes).expect("decodes"), e);
    for old in [1, 2] {
        let mut b = bytes.clone();
        b[0] = old;
        assert!(
            Entry::from_canonical_bytes(&b).is_err(),
            "read as version {old}"
        );
    }
    assert_eq!(cl.b.entries[3].to_canonical_bytes()[0], 3);
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// Format version 3: signing times, the sequencer signature, and the order of versions.

const DAY: i64 = 24 * HOUR;
const WINDOW: i64 = custody_ledger::state::MAX_SIGNING_AGE_DAYS * DAY;

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).expect("in range")
}

impl Clinic {
    /// `e`, which the rules accept, refused by the verifier after the accepted entries: why.
    fn refused_by_the_verifier(&self, e: &Entry) -> Reason {
        self.state()
            .clone()
            .apply(e)
            .unwrap_or_else(|v| panic!("the rules must accept entry {}: {v}", e.seq));
        let mut all = self.b.entries.clone();
        all.push(e.clone());
        let f = verify_entries(&all, Some(pk("registrant"))).expect_err("the verifier refuses it");
        assert_eq!(f.seq, self.len(), "the verifier names the entry: {f}");
        f.reason
    }
}

#[test]
fn a_signature_is_signed_no_later_than_its_entry_and_within_the_window_before_it() {
    let mut cl = Clinic::new();
    let now = cl.now().micros();
    let nina =
        |d: Draft, t: i64| d.signed(user("nina"), Meaning::Authored, &seeded_key("nina"), at(t));

    // A microsecond after the entry's time is too late; a microsecond beyond the window before
    // it is too early.
    let v = cl.refuse(nina(cl.open("C12-2"), now + 1));
    let v = assert_refused!(v, Violation::SignedAfterEntry { signed_at, recorded, .. }
        if signed_at == at(now + 1) && recorded == at(now));
    assert_eq!(v.code(), "signed_after_entry");
    let v = cl.refuse(nina(cl.open("C12-2"), now - WINDOW - 1));
    let v = assert_refused!(v, Violation::SignedTooEarly { signer, .. } if signer == user("nina"));
    assert_eq!(v.code(), "signed_too_early");

    // A witness who signs after the entry's time is named, not the author.
    let waste = cl.waste("C12-1", k10(1_000)).by("nina").signed(
        user("noah"),
        Meaning::Witnessed,
        &seeded_key("noah"),
        at(now + 1),
    );
    assert_refused!(cl.refuse(waste), Violation::SignedAfterEntry { signer, .. } if signer == user("noah"));

    // Both ends of the window are inside it: an author who signed 30 days before, a witness at
    // the entry's very time.
    let e = cl.accept(
        cl.waste("C12-1", k10(1_000))
            .signed(
                user("nina"),
                Meaning::Authored,
                &seeded_key("nina"),
                at(now - WINDOW),
            )
            .signed(
                user("noah"),
                Meaning::Witnessed,
                &seeded_key("noah"),
                at(now),
            ),
    );
    assert_eq!(e.signatures[0].signed_at, Some(at(now - WINDOW)));
    assert_eq!(e.signed_at(&e.signatures[1]), at(now));

    // The time is inside what the signer signed: changed afterwards, within the window, the
    // rules cannot tell but the signature no longer verifies.
    let mut d = nina(cl.open("C12-2"), cl.now().micros() - 60_000_000);
    d.signatures[0].signed_at = Some(at(cl.now().micros() - 120_000_000));
    let e = cl.chain(d);
    assert!(
        matches!(
            cl.refused_by_the_verifier(&e),
            Reason::BadSignature { index: 0, .. }
        ),
        "a moved signing time"
    );
    cl.verify();
}

#[test]
fn only_version_3_carries_signing_times_and_a_sequencer_signature() {
    // A version 3 signature without its time.
    let cl = Clinic::new();
    let mut d = cl.open("C12-2").by("nina");
    d.signatures[0].signed_at = None;
    assert_refused!(cl.refuse(d), Violation::SignatureShape(m) if m.contains("when it was signed"));

    // A version 1 signature with a time, a version 1 entry with a sequencer signature.
    let cl = Clinic::legacy();
    let mut d = cl.open("C12-2").by("nina");
    assert_eq!(d.version, FormatVersion::V1);
    d.signatures[0].signed_at = Some(cl.now());
    assert_refused!(cl.refuse(d), Violation::SignatureShape(m) if m.contains("no signing time"));
    let mut e = cl.chain(cl.open("C12-2").by("nina"));
    e.sequencer = Some([7; 64]);
    assert_refused!(cl.refuse_entry(&e), Violation::SignatureShape(m) if m.contains("no sequencer"));

    // A version 3 entry's bytes end with the 64 bytes of its sequencer signature; without them
    // it does not decode.
    let cl = Clinic::new();
    let e = cl.chain(cl.open("C12-2").by("nina"));
    let bytes = e.to_canonical_bytes();
    assert_eq!(
        &bytes[bytes.len() - 64..],
        &e.sequencer.expect("sealed")[..]
    );
    assert!(matches!(
        Entry::from_canonical_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated(_))
    ));
}

#[test]
fn after_the_first_version_3_entry_every_entry_is_version_3() {
    // A ledger recorded before the upgrade goes on in version 3 …
    let mut cl = Clinic::legacy();
    cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    cl.b.legacy = false;
    cl.b.version3 = true;
    let e = cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    assert_eq!(e.version, FormatVersion::V3);
    cl.verify();
    // … and never back: neither a version 1 entry nor a version 2 report follows it.
    cl.b.legacy = true;
    let v = cl.refuse(cl.dose("C12-1", k10(1_000), "nina"));
    let v = assert_refused!(
        v,
        Violation::VersionDowngrade {
            previous: 3,
            this: 1
        }
    );
    assert_eq!(v.code(), "version_downgrade");
    let n = cl.len();
    let report = cl
        .draft(report("2026-01-01", "2026-01-31", n))
        .signed_when_made(
            Principal::Registrant,
            Meaning::Registrant,
            &seeded_key("registrant"),
        );
    assert_eq!(report.version, FormatVersion::V2);
    assert_refused!(
        cl.refuse(report),
        Violation::VersionDowngrade {
            previous: 3,
            this: 2
        }
    );
    cl.b.legacy = false;
    cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    cl.verify();
}

#[test]
fn the_sequencer_signature_binds_the_entrys_place_time_and_contents() {
    let mut cl = Clinic::new();
    let sequencer = |r: &Reason| matches!(r, Reason::BadSequencerSignature { .. });

    // Unsealed, or sealed by any key but the registrant's.
    let placed = cl
        .open("C12-2")
        .by("nina")
        .chain(seq(cl.len()), cl.head_hash(), cl.now());
    let r = cl.refused_by_the_verifier(&placed);
    assert!(sequencer(&r), "unsealed: {r}");
    assert_eq!(r.code(), "bad_sequencer_signature");
    let r = cl.refused_by_the_verifier(&placed.clone().sealed(&seeded_key("nina")));
    assert!(sequencer(&r), "sealed by a user: {r}");
    let good = placed.sealed(&seeded_key("registrant"));
    assert!(
        cl.state()
            .clone()
            .apply(&good)
            .expect("accepted")
            .0
            .iter()
            .all(|c| c.verify()),
        "sealed by the registrant key"
    );

    // Re-timed, renumbered or moved after it was sealed: every signer's signature still
    // verifies, the sequencer's does not.
    let mut later = good.clone();
    later.timestamp = at(good.timestamp.micros() + 1);
    assert!(sequencer(&cl.refused_by_the_verifier(&later)), "re-timed");
    let mut renumbered = cl
        .open("C12-2")
        .by("nina")
        .chain(seq(cl.len() + 1), cl.head_hash(), cl.now())
        .sealed(&seeded_key("registrant"));
    renumbered.seq = seq(cl.len());
    assert!(
        sequencer(&cl.refused_by_the_verifier(&renumbered)),
        "renumbered"
    );
    let mut moved = cl
        .open("C12-2")
        .by("nina")
        .chain(seq(cl.len()), cl.b.entries[3].hash(), cl.now())
        .sealed(&seeded_key("registrant"));
    moved.prev = cl.head_hash();
    assert!(sequencer(&cl.refused_by_the_verifier(&moved)), "moved");

    // Its contents: a witness's valid signature swapped for another's after sealing.
    let waste = cl.waste("C12-1", k10(1_000)).by("nina");
    let sealed = cl.chain(waste.clone().witnessed_by("noah"));
    let mut swapped = sealed.clone();
    swapped.signatures = cl.chain(waste.witnessed_by("phil")).signatures;
    assert!(
        sequencer(&cl.refused_by_the_verifier(&swapped)),
        "a witness swapped"
    );
    cl.accept(cl.open("C12-2").by("nina"));

    // A registrant key rotation is sealed by the key in force before it; the entries after it
    // by the new key.
    let rotation = cl
        .draft(KeyRotated {
            subject: Principal::Registrant,
            new_key: pk("registrant-2"),
            reason: text!("rotation"),
        })
        .signed_when_made(
            Principal::Registrant,
            Meaning::Registrant,
            &seeded_key("registrant"),
        )
        .signed_when_made(
            Principal::Registrant,
            Meaning::KeyPossession,
            &seeded_key("registrant-2"),
        );
    let placed = rotation
        .clone()
        .chain(seq(cl.len()), cl.head_hash(), cl.now());
    let r = cl.refused_by_the_verifier(&placed.sealed(&seeded_key("registrant-2")));
    assert!(sequencer(&r), "a rotation sealed by the new key: {r}");
    cl.accept(rotation);
    let next = cl
        .open("C12-3")
        .by("nina")
        .chain(seq(cl.len()), cl.head_hash(), cl.now());
    let r = cl.refused_by_the_verifier(&next.sealed(&seeded_key("registrant")));
    assert!(sequencer(&r), "sealed by the rotated-away key: {r}");
    cl.accept(cl.open("C12-3").by("nina"));
    cl.verify();
}

// ---------------------------------------------------------------------------------------------
// Format version 4: going live, inventories, discrepancies that close, loss reports, retired
// keys, doses before their container was opened, REMS sessions and forms, PMP reports.

impl Clinic {
    fn inventory(&self, occasion: InventoryOccasion, lines: Vec<InventoryLine>) -> Draft {
        self.draft(Inventory {
            occasion,
            taken_at: BusinessHours::Opening,
            date: self.today(),
            lines,
        })
    }
    fn line(&self, product: &str, lot: &str, location: &str, sealed: u32) -> InventoryLine {
        InventoryLine {
            product: ndc(product),
            lot: lot.parse().expect("valid"),
            expiry: "2027-06-30".parse().expect("valid"),
            location: loc(location),
            sealed,
            open: Vec::new(),
        }
    }
    fn loss(&self, items: Vec<ContainerAmount>, explains: Option<Seq>) -> Draft {
        self.draft(LossTheft {
            loss_type: LossType::Other,
            discovered_on: self.today(),
            police_report: None,
            items,
            description: text!("not found at the count"),
            explains_count: explains,
        })
    }
    fn loss_reported(&self, loss: Seq, notice_on: Day) -> Draft {
        self.draft(LossReported {
            loss,
            notice_on,
            form_106: text!("F106-2026-0001"),
            form_106_on: self.today(),
        })
    }
    fn session(&self, id: &str, doses: Vec<Seq>, started: Timestamp) -> Draft {
        self.draft(RemsSessionClosed {
            session: id.parse().expect("valid"),
            patient: patient(),
            doses,
            started_at: started,
            discharged_at: self.now(),
            record_sha256: EntryHash::from_bytes([5; 32]),
        })
    }
    fn spray(&self, container: &str) -> Draft {
        self.draft(Administered {
            container: c(container),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: Amount::Units {
                units: Units::new(1),
                ug: Micrograms::new(28_000),
            },
            route: Route::Intranasal,
            given_at: self.now(),
            given_by: uid("nina"),
            late_reason: None,
        })
        .by("nina")
    }
}

fn open_amount(amount: Amount, estimated: bool, container: Option<ContainerId>) -> OpenContainer {
    OpenContainer {
        container,
        amount,
        estimated,
        beyond_use: None,
    }
}

#[test]
fn a_version_4_ledger_goes_live_with_its_initial_inventory() {
    let mut cl = Clinic::fresh();
    assert!(!cl.state().has_gone_live());
    // Before going live: no receipt, no dispense.
    let v = cl.refuse(cl.receipt(KETAMINE_10, "KT2301A", 3, "SAFE-1").by("phil"));
    let v = assert_refused!(v, Violation::NoInitialInventory(Kind::Receipt));
    assert_eq!(v.code(), "no_initial_inventory");
    let d = cl
        .draft(Dispensed {
            patient: patient(),
            prescriber: vectors::prescriber(),
            sealed: vec![c("C12-1")],
            from_open: vec![],
        })
        .by("phil");
    assert_refused!(cl.refuse(d), Violation::NoInitialInventory(Kind::Dispensed));
    // An inventory needs its witness.
    let d = cl.inventory(InventoryOccasion::Initial, vec![]).by("phil");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    // Zero stock is an initial inventory.
    let inv = cl.accept(
        cl.inventory(InventoryOccasion::Initial, vec![])
            .by("phil")
            .witnessed_by("nina"),
    );
    assert!(cl.state().has_gone_live());
    assert_eq!(cl.state().initial_inventory(), Some(inv.seq));
    let last = cl.state().last_inventory().expect("taken");
    assert_eq!(
        (last.seq, last.occasion),
        (inv.seq, InventoryOccasion::Initial)
    );
    // Now stock is received.
    cl.accept(cl.receipt(KETAMINE_10, "KT2301A", 3, "SAFE-1").by("phil"));
    cl.verify();
}

#[test]
fn a_second_initial_inventory_or_one_after_stock_is_refused() {
    let mut cl = Clinic::fresh();
    cl.accept(
        cl.inventory(InventoryOccasion::Initial, vec![])
            .by("phil")
            .witnessed_by("nina"),
    );
    let d = cl
        .inventory(InventoryOccasion::Initial, vec![])
        .by("phil")
        .witnessed_by("nina");
    let v = assert_refused!(cl.refuse(d), Violation::InitialInventoryExists(_));
    assert_eq!(v.code(), "initial_inventory_exists");

    // A ledger that received stock before version 4 has gone live: no initial inventory.
    let mut cl = Clinic::new();
    assert!(cl.state().has_gone_live());
    let d = cl
        .inventory(InventoryOccasion::Initial, vec![])
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::InitialInventoryExists(_));
    // Its inventories are biennial (or other).
    let lines = vec![cl.line(KETAMINE_100, "KH2302B", "SAFE-1", 4)];
    cl.accept(
        cl.inventory(InventoryOccasion::Biennial, lines)
            .by("phil")
            .witnessed_by("nina"),
    );
    assert_eq!(cl.state().open_discrepancies().count(), 0);
    cl.verify();
}

#[test]
fn the_initial_inventory_brings_in_its_containers_sealed_and_open() {
    let mut cl = Clinic::fresh();
    let mut line = cl.line(KETAMINE_10, "KT2301A", "CART-A", 2);
    line.open = vec![OpenContainer {
        container: None,
        amount: k10(12_500),
        estimated: false,
        beyond_use: Some(cl.today().plus_days(10).expect("in range")),
    }];
    let devices = cl.line(SPRAVATO, "SP2303C", "SAFE-1", 3);
    let inv = cl.accept(
        cl.inventory(InventoryOccasion::Initial, vec![line, devices])
            .by("phil")
            .witnessed_by("nina"),
    );
    let id = |i| ContainerId::new(inv.seq, i).expect("from 1");
    let s = cl.state();
    for i in [1, 2] {
        let x = &s.containers[&id(i)];
        assert_eq!(x.status, ContainerStatus::Sealed);
        assert_eq!(x.remaining, 20_000);
        assert_eq!(x.location, loc("CART-A"));
        assert_eq!(x.lot.to_string(), "KT2301A");
    }
    let open = &s.containers[&id(3)];
    assert_eq!(
        open.status,
        ContainerStatus::Open {
            beyond_use: cl.today().plus_days(10).expect("in range")
        }
    );
    assert_eq!(open.remaining, 12_500);
    assert_eq!(s.opened_at(&id(3)), Some(inv.timestamp));
    for i in 4..=6 {
        assert_eq!(s.containers[&id(i)].product, ndc(SPRAVATO));
    }
    assert!(!s.containers.contains_key(&id(7)));
    // The open one is given from; more than it holds is refused.
    let over = cl.dose(&id(3).to_string(), k10(13_000), "nina");
    assert_refused!(cl.refuse(over), Violation::InsufficientStock { .. });
    cl.accept(cl.dose(&id(3).to_string(), k10(2_500), "nina"));
    // An initial inventory names no container already here.
    cl.verify();
    let cl = Clinic::fresh();
    let mut line = cl.line(KETAMINE_10, "KT2301A", "CART-A", 0);
    line.open = vec![open_amount(k10(1_000), false, Some(c("C12-1")))];
    let d = cl
        .inventory(InventoryOccasion::Initial, vec![line])
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::Rule(_));
}

#[test]
fn estimates_are_refused_on_schedule_ii_and_on_containers_of_more_than_1000_units() {
    let mut cl = Clinic::fresh();
    let schedule_ii = "11111-2222-33";
    let big_bottle = "11111-2222-44";
    cl.accept(
        cl.draft(ProductDefined {
            ndc: ndc(schedule_ii),
            name: text!("Fentanyl citrate 50 mcg/mL, 2 mL"),
            form: FinishedForm::InjectionSolution,
            schedule: Schedule::II,
            strength: Strength::Solution {
                per_ml: Micrograms::new(50),
                volume: Microliters::new(2_000),
            },
        })
        .by("ada"),
    );
    cl.accept(
        cl.draft(ProductDefined {
            ndc: ndc(big_bottle),
            name: text!("Ketamine 10 mg tablets, bottle of 1,200"),
            form: FinishedForm::Tablet,
            schedule: Schedule::IIIN,
            strength: Strength::Units {
                per_unit: Micrograms::new(10_000),
                units: Units::new(1_200),
            },
        })
        .by("ada"),
    );
    let half = |p: &str, amount: Amount, estimated| {
        let mut l = cl.line(p, "LOT1", "SAFE-1", 0);
        l.open = vec![open_amount(amount, estimated, None)];
        l
    };
    let fentanyl = Amount::Volume {
        ul: Microliters::new(1_000),
        ug: Micrograms::new(50),
    };
    let tablets = Amount::Units {
        units: Units::new(600),
        ug: Micrograms::new(6_000_000),
    };
    for line in [
        half(schedule_ii, fentanyl, true),
        half(big_bottle, tablets, true),
    ] {
        let d = cl
            .inventory(InventoryOccasion::Initial, vec![line])
            .by("phil")
            .witnessed_by("nina");
        let v = assert_refused!(cl.refuse(d), Violation::EstimateNotAllowed(_));
        assert_eq!(v.code(), "estimate_not_allowed");
    }
    // Measured exactly, both are counted; a ketamine vial (schedule III) may be estimated.
    let lines = vec![
        half(schedule_ii, fentanyl, false),
        half(big_bottle, tablets, false),
        half(KETAMINE_10, k10(7_000), true),
    ];
    cl.accept(
        cl.inventory(InventoryOccasion::Initial, lines)
            .by("phil")
            .witnessed_by("nina"),
    );
    cl.verify();
}

/// The clinic with a biennial inventory that found 1 mL missing from C12-1 (CART-A) and one
/// sealed 100 mg/mL vial fewer in SAFE-1 than the ledger holds.
fn after_a_short_inventory() -> (Clinic, Seq) {
    let mut cl = Clinic::new();
    let mut cart = cl.line(KETAMINE_10, "KT2301A", "CART-A", 0);
    cart.open = vec![open_amount(k10(19_000), false, Some(c("C12-1")))];
    let safe = cl.line(KETAMINE_100, "KH2302B", "SAFE-1", 3);
    let inv = cl.accept(
        cl.inventory(InventoryOccasion::Biennial, vec![cart, safe])
            .by("phil")
            .witnessed_by("nina"),
    );
    (cl, inv.seq)
}

#[test]
fn a_biennial_inventory_opens_a_discrepancy_per_product_and_location() {
    let (cl, inv) = after_a_short_inventory();
    let open: Vec<_> = cl.state().open_discrepancies().collect();
    assert_eq!(open.len(), 2);
    let cart = cl
        .state()
        .discrepancies_of(inv)
        .find(|(k, _)| k.location == loc("CART-A"))
        .expect("CART-A");
    assert_eq!(cart.1.direction, Direction::Decrease);
    assert_eq!(cart.1.remaining, 1_000);
    let safe = cl
        .state()
        .discrepancies_of(inv)
        .find(|(k, _)| k.location == loc("SAFE-1"))
        .expect("SAFE-1");
    assert_eq!(
        (safe.0.product, safe.1.remaining),
        (ndc(KETAMINE_100), 5_000)
    );
    assert_eq!(cl.state().last_inventory().map(|i| i.seq), Some(inv));
    cl.verify();
}

#[test]
fn adjustments_close_discrepancies_in_their_direction_and_never_beyond() {
    let (mut cl, inv) = after_a_short_inventory();
    let adj = |cl: &Clinic, dir, ul| {
        cl.adjust(
            "C12-1",
            Some(inv),
            AdjustmentReason::CountDiscrepancy,
            dir,
            k10(ul),
        )
        .by("phil")
        .witnessed_by("nina")
    };
    // More than the 1 mL found missing.
    let v = cl.refuse(adj(&cl, Direction::Decrease, 1_500));
    let v = assert_refused!(v, Violation::AdjustmentExceedsDiscrepancy { .. });
    assert_eq!(v.code(), "adjustment_exceeds_discrepancy");
    // A shortage is not explained by adding.
    let v = cl.refuse(adj(&cl, Direction::Increase, 500));
    let v = assert_refused!(v, Violation::DiscrepancyDirection { .. });
    assert_eq!(v.code(), "discrepancy_direction");
    // Part, then the rest: closed by the second.
    let first = cl.accept(adj(&cl, Direction::Decrease, 600));
    let key = |cl: &Clinic| {
        cl.state()
            .discrepancies_of(inv)
            .find(|(k, _)| k.location == loc("CART-A"))
            .map(|(k, d)| (k.clone(), d.clone()))
            .expect("found")
    };
    assert_eq!(key(&cl).1.remaining, 400);
    assert!(key(&cl).1.is_open());
    let second = cl.accept(adj(&cl, Direction::Decrease, 400));
    let (_, d) = key(&cl);
    assert_eq!(d.reduced_by, vec![first.seq, second.seq]);
    assert_eq!(d.closed_by, Some(second.seq));
    assert_eq!(cl.state().open_discrepancies().count(), 1);
    assert_eq!(cl.state().closed_discrepancies().count(), 1);
    // Closed: naming it again is refused.
    let v = cl.refuse(adj(&cl, Direction::Decrease, 100));
    let v = assert_refused!(v, Violation::DiscrepancyClosed { .. });
    assert_eq!(v.code(), "discrepancy_closed");
    cl.verify();
}

#[test]
fn a_loss_that_explains_a_count_reduces_its_shortage() {
    let (mut cl, inv) = after_a_short_inventory();
    // The SAFE-1 shortage is one 5 mL vial: a loss of two cannot explain it.
    let two = vec![
        ContainerAmount {
            container: c("C13-1"),
            amount: vol(5_000, 100_000),
        },
        ContainerAmount {
            container: c("C13-2"),
            amount: vol(5_000, 100_000),
        },
    ];
    let v = cl.refuse(cl.loss(two, Some(inv)).by("phil"));
    assert_refused!(v, Violation::AdjustmentExceedsDiscrepancy { .. });
    // Naming something that found no discrepancy there.
    let one = vec![ContainerAmount {
        container: c("C13-1"),
        amount: vol(5_000, 100_000),
    }];
    let v = cl.refuse(cl.loss(one.clone(), Some(seq(3))).by("phil"));
    assert_refused!(v, Violation::UnknownDiscrepancy(_));
    let loss = cl.accept(cl.loss(one, Some(inv)).by("phil"));
    let (_, d) = cl
        .state()
        .discrepancies_of(inv)
        .find(|(k, _)| k.location == loc("SAFE-1"))
        .expect("found");
    assert_eq!(d.closed_by, Some(loss.seq));
    assert!(cl.state().losses()[&loss.seq].reported_by.is_none());
    cl.verify();
}

#[test]
fn a_correction_of_the_inventory_closes_all_its_discrepancies() {
    let (mut cl, inv) = after_a_short_inventory();
    let fix = cl.accept(
        cl.draft(Correction {
            corrects: inv,
            reason: text!("C12-1 was read at the wrong graduation"),
        })
        .by("phil"),
    );
    assert_eq!(cl.state().open_discrepancies().count(), 0);
    assert!(
        cl.state()
            .discrepancies_of(inv)
            .all(|(_, d)| d.closed_by == Some(fix.seq))
    );
    let d = cl
        .adjust(
            "C12-1",
            Some(inv),
            AdjustmentReason::CountDiscrepancy,
            Direction::Decrease,
            k10(100),
        )
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::DiscrepancyClosed { .. });
    cl.verify();
}

#[test]
fn older_adjustments_reduce_a_discrepancy_without_refusal() {
    // Recorded in version 3: an adjustment larger than the count's difference is accepted,
    // and what remains stops at zero.
    let mut cl = Clinic::new();
    cl.b.version3 = true;
    let count = cl.accept(
        cl.count("CART-A", KETAMINE_10, tally(0, 20_000), tally(0, 19_500))
            .by("nina"),
    );
    let adj = cl
        .adjust(
            "C12-1",
            Some(count.seq),
            AdjustmentReason::CountDiscrepancy,
            Direction::Decrease,
            k10(800),
        )
        .by("phil")
        .witnessed_by("nina");
    let a = cl.accept(adj);
    let (_, d) = cl
        .state()
        .discrepancies_of(count.seq)
        .next()
        .expect("found");
    assert_eq!((d.remaining, d.closed_by), (0, Some(a.seq)));
    cl.verify();
}

#[test]
fn a_loss_is_reported_once_and_not_before_it_was_discovered() {
    let mut cl = Clinic::new();
    let items = vec![ContainerAmount {
        container: c("C13-1"),
        amount: vol(5_000, 100_000),
    }];
    let loss = cl.accept(cl.loss(items, None).by("phil"));
    let v = cl.refuse(cl.loss_reported(seq(3), cl.today()).by("phil"));
    let v = assert_refused!(v, Violation::UnknownLoss(_));
    assert_eq!(v.code(), "unknown_loss");
    let early = cl.today().plus_days(-1).expect("in range");
    assert_refused!(
        cl.refuse(cl.loss_reported(loss.seq, early).by("phil")),
        Violation::Rule(_)
    );
    // A nurse does not report a loss.
    assert_refused!(
        cl.refuse(cl.loss_reported(loss.seq, cl.today()).by("nina")),
        Violation::RoleNotAllowed { .. }
    );
    assert_eq!(cl.state().unreported_losses().count(), 1);
    let r = cl.accept(cl.loss_reported(loss.seq, cl.today()).by("phil"));
    assert_eq!(cl.state().losses()[&loss.seq].reported_by, Some(r.seq));
    assert_eq!(cl.state().unreported_losses().count(), 0);
    let v = cl.refuse(cl.loss_reported(loss.seq, cl.today()).by("ada"));
    let v = assert_refused!(v, Violation::LossAlreadyReported { .. });
    assert_eq!(v.code(), "loss_already_reported");
    cl.verify();
}

#[test]
fn a_retired_key_is_never_enrolled_or_rotated_in_again() {
    let mut cl = Clinic::new();
    let rotate = |cl: &Clinic, who: &str, new: &str| {
        cl.draft(KeyRotated {
            subject: user(who),
            new_key: pk(new),
            reason: text!("new device"),
        })
        .by(who)
        .signed_when_made(user(who), Meaning::KeyPossession, &seeded_key(new))
    };
    cl.accept(rotate(&cl, "nina", "nina-2"));
    assert!(cl.state().is_key_retired(&pk("nina")));
    assert_eq!(cl.state().retired_keys(), vec![pk("nina")]);
    // Noah may not take Nina's old key, nor a new user.
    let v = cl.refuse(rotate(&cl, "noah", "nina"));
    let v = assert_refused!(v, Violation::KeyRetired(_));
    assert_eq!(v.code(), "key_retired");
    let d = cl
        .draft(UserEnrolled {
            user: uid("nora"),
            printed_name: text!("Nora Quinn, RN"),
            role: Role::Nurse,
            public_key: pk("nina"),
        })
        .by("ada")
        .signed_when_made(user("nora"), Meaning::KeyPossession, &seeded_key("nina"));
    assert_refused!(cl.refuse(d), Violation::KeyRetired(_));
    // Nor Nina herself.
    cl.b.now += HOUR;
    let back = cl
        .draft(KeyRotated {
            subject: user("nina"),
            new_key: pk("nina"),
            reason: text!("old device found"),
        })
        .signed_when_made(user("nina"), Meaning::Authored, &seeded_key("nina-2"))
        .signed_when_made(user("nina"), Meaning::KeyPossession, &seeded_key("nina"));
    assert_refused!(cl.refuse(back), Violation::KeyRetired(_));
    // A key never held is fine.
    cl.accept(rotate(&cl, "noah", "noah-2"));
    cl.verify();
}

#[test]
fn a_dose_given_before_its_container_was_opened_is_refused() {
    let mut cl = Clinic::new();
    let opened = cl.accept(cl.open("C12-2").by("nina"));
    let dose_at = |cl: &Clinic, at: Timestamp| {
        cl.draft(Administered {
            container: c("C12-2"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: k10(1_000),
            route: Route::Iv,
            given_at: at,
            given_by: uid("nina"),
            late_reason: Some(text!("charted after the infusion")),
        })
        .by("nina")
    };
    // More than 5 minutes (the clock tolerance) before it was opened.
    let minute = 60_000_000;
    let before = Timestamp::from_micros(opened.timestamp.micros() - 5 * minute - 1).expect("ok");
    let v = cl.refuse(dose_at(&cl, before));
    let v = assert_refused!(v, Violation::GivenBeforeOpened { .. });
    assert_eq!(v.code(), "given_before_opened");
    // Within the tolerance: the same act opened the vial and charted the dose.
    let within = Timestamp::from_micros(opened.timestamp.micros() - 5 * minute).expect("ok");
    let e = cl.accept(dose_at(&cl, within));
    let Payload::Administered(a) = e.payload() else {
        panic!("a dose")
    };
    assert_eq!(
        a.late_reason.as_ref().map(|t| t.as_str()),
        Some("charted after the infusion")
    );
    cl.verify();
}

#[test]
fn a_container_opened_and_charted_late_states_when_it_was_opened() {
    let mut cl = Clinic::new();
    let hour = 3_600_000_000;
    let opened_at = |cl: &Clinic, micros: i64| {
        cl.draft(ContainerOpened {
            container: c("C12-2"),
            beyond_use: cl.today().plus_days(28).expect("in range"),
            opened_at: Some(Timestamp::from_micros(cl.now().micros() + micros).expect("ok")),
        })
        .by("nina")
    };
    // Not in the future; like a dose's time given, no lower bound.
    cl.refuse(opened_at(&cl, hour));
    // Opened two hours ago at the bedside, charted now: a dose given then is not "before".
    let at = cl.now().micros() - 2 * hour;
    let e = cl.accept(opened_at(&cl, -2 * hour));
    assert_eq!(e.version, FormatVersion::V4);
    let two_hours_ago = Timestamp::from_micros(at).expect("ok");
    cl.accept(
        cl.draft(Administered {
            container: c("C12-2"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: k10(1_000),
            route: Route::Iv,
            given_at: two_hours_ago,
            given_by: uid("nina"),
            late_reason: Some(text!("charted after the session")),
        })
        .by("nina"),
    );
    // Three hours ago is before the stated opening.
    let three_hours_ago = Timestamp::from_micros(at - hour).expect("ok");
    let v = cl.refuse(
        cl.draft(Administered {
            container: c("C12-2"),
            patient: patient(),
            prescriber: vectors::prescriber(),
            amount: k10(1_000),
            route: Route::Iv,
            given_at: three_hours_ago,
            given_by: uid("nina"),
            late_reason: Some(text!("charted after the session")),
        })
        .by("nina"),
    );
    assert_refused!(v, Violation::GivenBeforeOpened { .. });
    cl.verify();
}

#[test]
fn rems_sessions_close_once_over_nasal_spray_doses_of_their_patient() {
    let mut cl = Clinic::new();
    let started = cl.now();
    cl.accept(cl.open("C14-1").by("nina"));
    let d1 = cl.accept(cl.spray("C14-1"));
    cl.accept(cl.open("C14-2").by("nina"));
    let d2 = cl.accept(cl.spray("C14-2"));
    let iv = cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    // Not a nasal spray; not a dose; discharged before it started.
    let v = cl.refuse(cl.session("S-1", vec![d1.seq, iv.seq], started).by("nina"));
    let v = assert_refused!(v, Violation::Rule(_));
    assert!(v.to_string().contains("not a nasal spray"), "{v}");
    let v = cl.refuse(cl.session("S-1", vec![seq(3)], started).by("nina"));
    let v = assert_refused!(v, Violation::Rule(_));
    assert!(v.to_string().contains("is not a dose given"), "{v}");
    // A device's one dose empties it: the state forgets when it was opened (only a dose
    // from a container still open asks) but not the dose a session may name.
    assert!(!cl.state().containers.contains_key(&c("C14-1")));
    assert_eq!(cl.state().opened_at(&c("C14-1")), None);
    let late = Timestamp::from_micros(cl.now().micros() + HOUR).expect("ok");
    let v = cl.refuse(cl.session("S-1", vec![d1.seq], late).by("nina"));
    assert_refused!(v, Violation::Rule(_));
    let closed = cl.accept(cl.session("S-1", vec![d1.seq, d2.seq], started).by("nina"));
    assert_eq!(cl.state().rems_sessions()["S-1"].closed_by, closed.seq);
    assert_eq!(cl.state().session_of_dose(d2.seq), Some("S-1"));
    let v = cl.refuse(cl.session("S-2", vec![d2.seq], started).by("nina"));
    let v = assert_refused!(v, Violation::DoseInOtherSession { .. });
    assert_eq!(v.code(), "dose_in_other_session");
    let v = cl.refuse(cl.session("S-1", vec![d1.seq], started).by("nina"));
    let v = assert_refused!(v, Violation::RemsSessionExists(_));
    assert_eq!(v.code(), "rems_session_exists");
    // An auditor does not close a session.
    let d = cl.session("S-3", vec![iv.seq], started).by("audrey");
    assert_refused!(cl.refuse(d), Violation::RoleNotAllowed { .. });
    cl.verify();
}

#[test]
fn a_rems_form_is_submitted_once_for_a_closed_session() {
    let mut cl = Clinic::new();
    let started = cl.now();
    cl.accept(cl.open("C14-1").by("nina"));
    let d1 = cl.accept(cl.spray("C14-1"));
    let form = |cl: &Clinic, id: &str| {
        cl.draft(RemsFormSubmitted {
            session: id.parse().expect("valid"),
            submitted_on: cl.today(),
            confirmation: text!("PMF-889201"),
        })
        .by("nina")
    };
    let v = cl.refuse(form(&cl, "S-1"));
    let v = assert_refused!(v, Violation::UnknownRemsSession(_));
    assert_eq!(v.code(), "unknown_rems_session");
    cl.accept(cl.session("S-1", vec![d1.seq], started).by("nina"));
    let f = cl.accept(form(&cl, "S-1"));
    assert_eq!(
        cl.state().rems_sessions()["S-1"].form_submitted_by,
        Some(f.seq)
    );
    let v = cl.refuse(form(&cl, "S-1"));
    let v = assert_refused!(v, Violation::RemsFormAlreadySubmitted { .. });
    assert_eq!(v.code(), "rems_form_already_submitted");
    cl.verify();
}

#[test]
fn a_pmp_report_is_signed_by_the_registrant_for_a_period() {
    let mut cl = Clinic::new();
    let pmp = |cl: &Clinic, from: &str, to: &str| {
        cl.draft(PmpReported {
            state: text!("MN"),
            from: from.parse().expect("valid"),
            to: to.parse().expect("valid"),
            asap_version: text!("4.2B"),
            control_number: text!("000123"),
            records: 0,
            file_sha256: EntryHash::from_bytes([3; 32]),
        })
    };
    let reg = |d: Draft| {
        d.signed_when_made(
            Principal::Registrant,
            Meaning::Registrant,
            &seeded_key("registrant"),
        )
    };
    assert_refused!(
        cl.refuse(reg(pmp(&cl, "2026-01-05", "2026-01-04"))),
        Violation::Rule(_)
    );
    assert_refused!(
        cl.refuse(pmp(&cl, "2026-01-04", "2026-01-04").by("phil")),
        Violation::SignatureShape(_)
    );
    let e = cl.accept(reg(pmp(&cl, "2026-01-04", "2026-01-04")));
    assert_eq!(e.version, FormatVersion::V4);
    cl.verify();
}

#[test]
fn version_4_entries_follow_version_3_and_nothing_older_follows_them() {
    let mut cl = Clinic::new();
    let e = cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    assert_eq!(e.version, FormatVersion::V4);
    assert_eq!(e.to_canonical_bytes()[0], 4);
    cl.b.version3 = true;
    let v = cl.refuse(cl.dose("C12-1", k10(1_000), "nina"));
    assert_refused!(
        v,
        Violation::VersionDowngrade {
            previous: 4,
            this: 3
        }
    );
    cl.b.version3 = false;
    cl.accept(cl.dose("C12-1", k10(1_000), "nina"));
    cl.verify();

    // A version 3 entry holds neither a kind nor a field version 4 added.
    let mut cl = Clinic::new();
    cl.b.version3 = true;
    let mut dose = cl.dose("C12-1", k10(1_000), "nina");
    if let Payload::Administered(a) = &mut dose.body.payload {
        a.late_reason = Some(text!("late"));
    }
    assert_refused!(cl.refuse(dose), Violation::SignatureShape(_));
    let d = cl
        .inventory(InventoryOccasion::Biennial, vec![])
        .by("phil")
        .witnessed_by("nina");
    assert_refused!(cl.refuse(d), Violation::SignatureShape(_));
    let d = cl.dose("C12-1", k10(1_000), "nina");
    cl.accept(d);
    cl.verify();
}

#[test]
fn version_4_payload_fields_are_in_the_bytes_of_version_4_entries_only() {
    let cl = Clinic::new();
    let mut dose = cl.dose("C12-1", k10(1_000), "nina");
    if let Payload::Administered(a) = &mut dose.body.payload {
        a.late_reason = Some(text!("charted late"));
    }
    let e = cl.chain(dose);
    let bytes = e.to_canonical_bytes();
    let back = Entry::from_canonical_bytes(&bytes).expect("decodes");
    assert_eq!(back, e);
    assert!(bytes.windows(12).any(|w| w == b"charted late"));
    // The same payload without the reason, in version 3, is one byte (its absence) shorter
    // in the payload, and reads back with no reason.
    let mut plain = cl.dose("C12-1", k10(1_000), "nina");
    plain.version = FormatVersion::V3;
    let v3 = cl.chain(plain.clone());
    let v3_bytes = v3.to_canonical_bytes();
    let Payload::Administered(a) = Entry::from_canonical_bytes(&v3_bytes)
        .expect("decodes")
        .body
        .payload
    else {
        panic!("a dose")
    };
    assert_eq!(a.late_reason, None);
    plain.version = FormatVersion::V4;
    let v4_bytes = cl.chain(plain).to_canonical_bytes();
    assert_eq!(v4_bytes.len(), v3_bytes.len() + 1);
    // New kinds do not decode as version 3.
    let inv = cl.chain(
        cl.inventory(InventoryOccasion::Biennial, vec![])
            .by("phil")
            .witnessed_by("nina"),
    );
    let mut b = inv.to_canonical_bytes();
    b[0] = 3;
    assert!(Entry::from_canonical_bytes(&b).is_err());
}
