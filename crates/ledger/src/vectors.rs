//! The deterministic test-vector ledger printed in `docs/ledger-format.md`: every kind, built
//! from fixed seeds, so an independent implementation can check its encoder, hasher and
//! verifier byte for byte. Also the seed of the property tests' histories.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::encoding::Canonical;
use crate::entry::{Draft, Entry};
use crate::payload::*;
use crate::state::State;
use crate::text;
use crate::types::enums::*;
use crate::types::ids::*;
use crate::types::quantity::{Micrograms, Microliters, Units};
use crate::types::time::{Day, Timestamp};

/// A key made from a name: SHA-256("custody test vector key: " ‖ name) as the Ed25519 seed.
pub fn seeded_key(name: &str) -> SigningKey {
    let mut h = Sha256::new();
    h.update(b"custody test vector key: ");
    h.update(name.as_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}

/// Entry id `n` of the vectors: a UUIDv7 whose time is `ms` and whose random bits come from
/// SHA-256("custody test vector entry id" ‖ n).
pub fn seeded_entry_id(n: u64, ms: u64) -> EntryId {
    let mut h = Sha256::new();
    h.update(b"custody test vector entry id");
    h.update(n.to_be_bytes());
    let d = h.finalize();
    let mut r = [0u8; 10];
    r.copy_from_slice(&d[..10]);
    EntryId::from_uuid(uuid::Builder::from_unix_timestamp_millis(ms, &r).into_uuid())
}

/// The names and keys used in the vectors.
pub const NAMES: &[&str] = &[
    "registrant",
    "registrant-2",
    "registrant-3",
    "ada",
    "phil",
    "nina",
    "nina-2",
    "noah",
    "audrey",
];

/// Builds a ledger entry by entry, applying each to a `State` so the builder refuses to make
/// an invalid vector.
pub struct Builder {
    pub ledger: LedgerId,
    pub entries: Vec<Entry>,
    pub state: State,
    /// Microseconds since the epoch of the next entry.
    pub now: i64,
    /// Drafts in the format version their kind had before version 3 (the first 35 vectors),
    /// rather than version 3.
    pub legacy: bool,
    /// Drafts in format version 3 (vectors 35–39) rather than the current version 4.
    pub version3: bool,
    /// The registrant keys that seal version 3 entries: the one whose public key is in force
    /// before an entry seals it (`State::sequencer_key`).
    pub sequencers: Vec<SigningKey>,
}

impl Builder {
    /// A builder of version 3 entries, sealed by whichever of the vectors' registrant keys
    /// (`registrant`, `registrant-2`, `registrant-3`) is in force.
    pub fn new(ledger: LedgerId, start_micros: i64) -> Self {
        Self {
            ledger,
            entries: Vec::new(),
            state: State::new(),
            now: start_micros,
            legacy: false,
            version3: false,
            sequencers: ["registrant", "registrant-2", "registrant-3"]
                .into_iter()
                .map(seeded_key)
                .collect(),
        }
    }

    /// The next entry's time.
    pub fn at(&self) -> Timestamp {
        Timestamp::from_micros(self.now).expect("in range")
    }

    /// A draft for the next entry, its body made now.
    pub fn draft(&self, payload: impl Into<Payload>) -> Draft {
        self.draft_made_at(payload, self.at())
    }

    /// A draft for the next entry whose body was made at `made` (its entry id's time).
    pub fn draft_made_at(&self, payload: impl Into<Payload>, made: Timestamp) -> Draft {
        let n = self.entries.len() as u64;
        let id = seeded_entry_id(n, (made.micros() / 1000) as u64);
        if self.legacy {
            Draft::legacy(self.ledger, id, payload)
        } else if self.version3 {
            Draft::v3(self.ledger, id, payload)
        } else {
            Draft::new(self.ledger, id, payload)
        }
    }

    /// The entry `d` would be next: chained at the next seq and time and, in version 3,
    /// sealed by the registrant key in force (left unsealed if the builder holds none).
    pub fn place(&self, d: Draft) -> Entry {
        let seq = Seq::new(self.entries.len() as u64).expect("small");
        let prev = self.entries.last().map_or(EntryHash::ZERO, |e| e.hash());
        let e = d.chain(seq, prev, self.at());
        self.seal(e)
    }

    /// `e` sealed by the registrant key in force before it, if the builder holds it.
    pub fn seal(&self, e: Entry) -> Entry {
        let Ok(public) = self.state.sequencer_key(&e) else {
            return e;
        };
        match self
            .sequencers
            .iter()
            .find(|k| PublicKey::from(*k) == public)
        {
            Some(k) => e.sealed(k),
            None => e,
        }
    }

    /// Chains a signed draft, checks it against the rules, and moves the clock on.
    pub fn push(&mut self, d: Draft, advance_micros: i64) -> Result<&Entry, crate::Violation> {
        let e = self.place(d);
        self.state.apply(&e)?;
        self.entries.push(e);
        self.now += advance_micros;
        Ok(self.entries.last().expect("just pushed"))
    }

    pub fn today(&self) -> Day {
        self.at().date()
    }
}

fn user(s: &str) -> Principal {
    Principal::User(s.parse().expect("valid user id"))
}

pub fn registrant_party() -> Party {
    Party {
        name: text!("Riverside Ketamine Clinic"),
        address: text!("12 River Road\nSpringfield, IL 62701"),
        dea: "BR1234563".parse().expect("valid"),
    }
}
pub fn supplier_party() -> Party {
    Party {
        name: text!("Midwest Pharmaceutical Distributors"),
        address: text!("900 Commerce Drive\nIndianapolis, IN 46204"),
        dea: "PM7654329".parse().expect("valid"),
    }
}
pub fn reverse_distributor() -> Party {
    Party {
        name: text!("Returns Logistics Inc."),
        address: text!("45 Harbor Way\nMemphis, TN 38103"),
        dea: "RD1111119".parse().expect("valid"),
    }
}
pub fn other_clinic() -> Party {
    Party {
        name: text!("Lakeside Behavioral Health"),
        address: text!("7 Lake Street\nPeoria, IL 61602"),
        dea: "BK2222228".parse().expect("valid"),
    }
}
pub fn prescriber() -> Prescriber {
    Prescriber {
        name: text!("Dr. Amelia Park, MD"),
        dea: "AP5836727".parse().expect("valid"),
    }
}
pub const KETAMINE_10: &str = "42023-0113-10";
pub const KETAMINE_100: &str = "42023-0115-05";
pub const SPRAVATO: &str = "50458-0028-02";
pub const LOZENGE: &str = "70000-0100-30";

pub fn ketamine_10() -> ProductDefined {
    ProductDefined {
        ndc: KETAMINE_10.parse().expect("valid"),
        name: text!("Ketamine HCl injection 10 mg/mL, 20 mL vial"),
        form: FinishedForm::InjectionSolution,
        schedule: Schedule::IIIN,
        strength: Strength::Solution {
            per_ml: Micrograms::new(10_000),
            volume: Microliters::new(20_000),
        },
    }
}
pub fn ketamine_100() -> ProductDefined {
    ProductDefined {
        ndc: KETAMINE_100.parse().expect("valid"),
        name: text!("Ketamine HCl injection 100 mg/mL, 5 mL vial"),
        form: FinishedForm::InjectionSolution,
        schedule: Schedule::IIIN,
        strength: Strength::Solution {
            per_ml: Micrograms::new(100_000),
            volume: Microliters::new(5_000),
        },
    }
}
pub fn spravato() -> ProductDefined {
    ProductDefined {
        ndc: SPRAVATO.parse().expect("valid"),
        name: text!("Spravato (esketamine) 28 mg nasal spray device"),
        form: FinishedForm::NasalSpray,
        schedule: Schedule::IIIN,
        strength: Strength::Units {
            per_unit: Micrograms::new(28_000),
            units: Units::new(1),
        },
    }
}
pub fn lozenge() -> ProductDefined {
    ProductDefined {
        ndc: LOZENGE.parse().expect("valid"),
        name: text!("Ketamine HCl 100 mg troche, bottle of 30"),
        form: FinishedForm::Lozenge,
        schedule: Schedule::IIIN,
        strength: Strength::Units {
            per_unit: Micrograms::new(100_000),
            units: Units::new(30),
        },
    }
}

fn vol(ml_thousandths: u64, per_ml: u64) -> Amount {
    Amount::Volume {
        ul: Microliters::new(ml_thousandths),
        ug: Micrograms::new(per_ml * ml_thousandths / 1000),
    }
}

/// The vector ledger: 50 entries, every kind at least once. Entries 0–34 are the version 1
/// and 2 vectors (34 a version 2 entry), unchanged since first published; 35–39 are version 3;
/// 40–49 are version 4 (an inventory, a discrepancy closed by an adjustment and a loss, a loss
/// reported, a late-charted Spravato dose, its REMS session and form, a PMP report, a CSV
/// report).
pub fn build() -> Vec<Entry> {
    let hour = 3_600_000_000;
    let k = |n: &str| seeded_key(n);
    let ledger = LedgerId::from_uuid(uuid::Uuid::from_bytes([
        0x01, 0x93, 0x5a, 0x2b, 0x00, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01,
    ]));
    // 2026-01-05T08:00:00Z
    let mut b = Builder::new(ledger, 1_767_600_000_000_000);
    // Entries 0–34 are the version 1 and 2 vectors, byte for byte as first published.
    b.legacy = true;
    let pk = |n: &str| PublicKey::from(&seeded_key(n));
    let uid = |s: &str| -> UserId { s.parse().expect("valid") };
    let c = |s: &str| -> ContainerId { s.parse().expect("valid") };
    let patient = PatientRef::commit(&[7u8; 32], "MRN-0001");
    let reg = Principal::Registrant;

    macro_rules! push {
        ($d:expr) => {
            b.push($d, hour).expect("vector entries are valid")
        };
    }
    let d = b
        .draft(Genesis {
            registrant: registrant_party(),
            registrant_key: pk("registrant"),
        })
        .signed(reg.clone(), Meaning::Registrant, &k("registrant"), b.at());
    push!(d);
    let enroll = |b: &Builder, name: &str, printed: &str, role: Role| {
        b.draft(UserEnrolled {
            user: uid(name),
            printed_name: printed.parse().expect("valid"),
            role,
            public_key: pk(name),
        })
    };
    let d = enroll(&b, "ada", "Ada Lovelace", Role::Admin)
        .signed(reg.clone(), Meaning::Registrant, &k("registrant"), b.at())
        .signed(user("ada"), Meaning::KeyPossession, &k("ada"), b.at());
    push!(d);
    for (name, printed, role) in [
        ("phil", "Phil Hart, PharmD", Role::Pharmacist),
        ("nina", "Nina Ortiz, RN", Role::Nurse),
        ("noah", "Noah Kim, RN", Role::Nurse),
        ("audrey", "Audrey Stone", Role::Auditor),
    ] {
        let d = enroll(&b, name, printed, role)
            .signed(user("ada"), Meaning::Authored, &k("ada"), b.at())
            .signed(user(name), Meaning::KeyPossession, &k(name), b.at());
        push!(d);
    }
    for (code, name, kind) in [
        ("SAFE-1", "Pharmacy safe", LocationKind::Safe),
        ("CART-A", "Infusion suite cart A", LocationKind::Cart),
    ] {
        let d = b
            .draft(LocationDefined {
                location: code.parse().expect("valid"),
                name: name.parse().expect("valid"),
                kind,
            })
            .signed(user("ada"), Meaning::Authored, &k("ada"), b.at());
        push!(d);
    }
    for p in [ketamine_10(), ketamine_100(), spravato(), lozenge()] {
        let d = b
            .draft(p)
            .signed(user("ada"), Meaning::Authored, &k("ada"), b.at());
        push!(d);
    }
    // 12..=15: receipts.
    let receive = |b: &Builder, ndc: &str, lot: &str, n: u32| {
        b.draft(Receipt {
            supplier: supplier_party(),
            invoice: text!("INV-2026-0042"),
            received_on: b.today(),
            product: ndc.parse().expect("valid"),
            lot: lot.parse().expect("valid"),
            expiry: "2027-06-30".parse().expect("valid"),
            containers: n,
            location: "SAFE-1".parse().expect("valid"),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at())
    };
    push!(receive(&b, KETAMINE_10, "KT2301A", 3));
    push!(receive(&b, KETAMINE_100, "KH2302B", 4));
    push!(receive(&b, SPRAVATO, "SP2303C", 2));
    push!(receive(&b, LOZENGE, "LZ2304D", 2));
    // 16: C12-1 to the cart; 17: opened.
    let d = b
        .draft(Transfer {
            containers: vec![c("C12-1")],
            to: TransferTo::Location {
                location: "CART-A".parse().expect("valid"),
            },
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at());
    push!(d);
    let d = b
        .draft(ContainerOpened {
            container: c("C12-1"),
            beyond_use: b.today().plus_days(28).expect("in range"),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina"), b.at());
    push!(d);
    // 18: a 35 mg IV dose (3.5 mL).
    let given_at = Timestamp::from_micros(b.now - hour / 2).expect("in range");
    let d = b
        .draft(Administered {
            container: c("C12-1"),
            patient,
            prescriber: prescriber(),
            amount: vol(3_500, 10_000),
            route: Route::Iv,
            given_at,
            given_by: uid("nina"),
            late_reason: None,
        })
        .signed(user("nina"), Meaning::Authored, &k("nina"), b.at());
    push!(d);
    // 19: overfill recorded, witnessed.
    let d = b
        .draft(Adjustment {
            container: c("C12-1"),
            resolves: None,
            reason: AdjustmentReason::Overfill,
            direction: Direction::Increase,
            amount: vol(300, 10_000),
            note: text!("vial held 0.3 mL beyond its label"),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at())
        .signed(user("nina"), Meaning::Witnessed, &k("nina"), b.at());
    push!(d);
    // 20: the rest wasted (20 − 3.5 + 0.3 = 16.8 mL).
    let d = b
        .draft(Waste {
            container: c("C12-1"),
            amount: vol(16_800, 10_000),
            reason: text!("remainder of single-patient vial"),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina"), b.at())
        .signed(user("noah"), Meaning::Witnessed, &k("noah"), b.at());
    push!(d);
    // 21–22: a Spravato device opened and given.
    let d = b
        .draft(ContainerOpened {
            container: c("C14-1"),
            beyond_use: b.today(),
        })
        .signed(user("noah"), Meaning::Authored, &k("noah"), b.at());
    push!(d);
    let given_at = Timestamp::from_micros(b.now).expect("in range");
    let d = b
        .draft(Administered {
            container: c("C14-1"),
            patient,
            prescriber: prescriber(),
            amount: Amount::Units {
                units: Units::new(1),
                ug: Micrograms::new(28_000),
            },
            route: Route::Intranasal,
            given_at,
            given_by: uid("noah"),
            late_reason: None,
        })
        .signed(user("noah"), Meaning::Authored, &k("noah"), b.at());
    push!(d);
    // 23: take-home lozenges: one sealed bottle.
    let d = b
        .draft(Dispensed {
            patient,
            prescriber: prescriber(),
            sealed: vec![c("C15-1")],
            from_open: vec![],
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at());
    push!(d);
    // 24: a count in the safe finds one 10 mg/mL vial missing; 25: resolved.
    let d = b
        .draft(Count {
            location: "SAFE-1".parse().expect("valid"),
            product: KETAMINE_10.parse().expect("valid"),
            blind: true,
            expected: Tally { sealed: 2, open: 0 },
            counted: Tally { sealed: 1, open: 0 },
        })
        .signed(user("noah"), Meaning::Authored, &k("noah"), b.at());
    push!(d);
    let d = b
        .draft(Adjustment {
            container: c("C12-3"),
            resolves: Some(Seq::new(24).expect("small")),
            reason: AdjustmentReason::CountDiscrepancy,
            direction: Direction::Decrease,
            amount: vol(20_000, 10_000),
            note: text!("vial not found; reported to the registrant"),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at())
        .signed(user("noah"), Meaning::Witnessed, &k("noah"), b.at());
    push!(d);
    // 26: a vial lost in transit to the satellite clinic.
    let d = b
        .draft(LossTheft {
            loss_type: LossType::LostInTransit,
            discovered_on: b.today(),
            police_report: Some(text!("SPD-26-00117")),
            items: vec![ContainerAmount {
                container: c("C13-4"),
                amount: vol(5_000, 100_000),
            }],
            description: text!("sealed vial missing from courier tote"),
            explains_count: None,
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at());
    push!(d);
    // 27: a vial returned to the reverse distributor, two witnesses.
    let d = b
        .draft(Destruction {
            method: DestructionMethod::ReverseDistributor {
                distributor: reverse_distributor(),
            },
            date: b.today(),
            items: vec![ContainerAmount {
                container: c("C13-3"),
                amount: vol(5_000, 100_000),
            }],
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at())
        .signed(user("nina"), Meaning::Witnessed, &k("nina"), b.at())
        .signed(user("noah"), Meaning::Witnessed, &k("noah"), b.at());
    push!(d);
    // 28: a vial transferred out to another registrant.
    let d = b
        .draft(Transfer {
            containers: vec![c("C13-2")],
            to: TransferTo::Registrant {
                registrant: other_clinic(),
            },
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at());
    push!(d);
    // 29: Noah becomes a pharmacist.
    let d = b
        .draft(RoleChanged {
            user: uid("noah"),
            role: Role::Pharmacist,
            reason: text!("licensed as pharmacist"),
        })
        .signed(user("ada"), Meaning::Authored, &k("ada"), b.at());
    push!(d);
    // 30: Nina rotates her key.
    let d = b
        .draft(KeyRotated {
            subject: user("nina"),
            new_key: pk("nina-2"),
            reason: text!("new device"),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina"), b.at())
        .signed(user("nina"), Meaning::KeyPossession, &k("nina-2"), b.at());
    push!(d);
    // 31: a correction of entry 18's documentation.
    let d = b
        .draft(Correction {
            corrects: Seq::new(18).expect("small"),
            reason: text!("dose was given over 40 minutes, not 30; amount is right"),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), b.at());
    push!(d);
    // 32: the auditor's engagement ends.
    let d = b
        .draft(UserDeactivated {
            user: uid("audrey"),
            reason: text!("audit engagement ended"),
        })
        .signed(user("ada"), Meaning::Authored, &k("ada"), b.at());
    push!(d);
    // 33: the registrant key is rotated.
    let d = b
        .draft(KeyRotated {
            subject: Principal::Registrant,
            new_key: pk("registrant-2"),
            reason: text!("annual key rotation"),
        })
        .signed(reg.clone(), Meaning::Registrant, &k("registrant"), b.at())
        .signed(
            reg.clone(),
            Meaning::KeyPossession,
            &k("registrant-2"),
            b.at(),
        );
    push!(d);
    // 34 (format version 2): an audit report of the first two days was issued, built at a
    // checkpoint of the 34 entries before it, signed by the new registrant key.
    let d = b
        .draft(ReportIssued {
            report: text!("audit"),
            from: "2026-01-05".parse().expect("valid"),
            to: "2026-01-06".parse().expect("valid"),
            checkpoint_size: 34,
            data_digest: EntryHash::from_bytes(sha2::Sha256::digest(b"vector report data").into()),
            requested_by: text!("Ada Admin (ada), admin"),
            format: crate::ReportFormat::Pdf,
            reason: None,
        })
        .signed(reg.clone(), Meaning::Registrant, &k("registrant-2"), b.at());
    push!(d);

    // 35–39: format version 3, recorded after the upgrade: each signature states when it was
    // signed, and the registrant key in force seals each entry's place and time.
    b.legacy = false;
    b.version3 = true;
    let minute = 60_000_000;
    let before =
        |b: &Builder, micros: i64| Timestamp::from_micros(b.now - micros).expect("in range");
    // 35: Nina opens C12-2 in the safe; she signed 90 seconds before it was recorded.
    let signed = before(&b, 90_000_000);
    let d = b
        .draft_made_at(
            ContainerOpened {
                container: c("C12-2"),
                beyond_use: b.today().plus_days(28).expect("in range"),
            },
            signed,
        )
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), signed);
    push!(d);
    // 36: a waste Nina signed and queued; Noah witnessed it 26 hours later, and it was
    // recorded two seconds after his signature.
    let authored = b.at();
    let d = b
        .draft_made_at(
            Waste {
                container: c("C12-2"),
                amount: vol(2_000, 10_000),
                reason: text!("drawn up for a dose that was cancelled"),
            },
            authored,
        )
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), authored);
    b.now += 26 * hour;
    let witnessed = before(&b, 2_000_000);
    let d = d.signed(user("noah"), Meaning::Witnessed, &k("noah"), witnessed);
    push!(d);
    // 37: a report issued in version 3, signed and sealed by the registrant's current key.
    let signed = before(&b, 5_000_000);
    let d = b
        .draft_made_at(
            ReportIssued {
                report: text!("waste"),
                from: "2026-01-05".parse().expect("valid"),
                to: "2026-01-07".parse().expect("valid"),
                checkpoint_size: 37,
                data_digest: EntryHash::from_bytes(
                    sha2::Sha256::digest(b"vector waste report data").into(),
                ),
                requested_by: text!("Phil Hart, PharmD (phil), pharmacist"),
                format: crate::ReportFormat::Pdf,
                reason: None,
            },
            signed,
        )
        .signed(reg.clone(), Meaning::Registrant, &k("registrant-2"), signed);
    push!(d);
    // 38: the registrant key rotates again; the old key (registrant-2) seals the rotation.
    let signed = before(&b, minute);
    let d = b
        .draft_made_at(
            KeyRotated {
                subject: Principal::Registrant,
                new_key: pk("registrant-3"),
                reason: text!("key moved to a hardware token"),
            },
            signed,
        )
        .signed(reg.clone(), Meaning::Registrant, &k("registrant-2"), signed)
        .signed(reg, Meaning::KeyPossession, &k("registrant-3"), signed);
    push!(d);
    // 39: a correction, sealed by the new key (registrant-3).
    let signed = b.at();
    let d = b
        .draft_made_at(
            Correction {
                corrects: Seq::new(36).expect("small"),
                reason: text!("the cancelled dose was for the 14:00 infusion"),
            },
            signed,
        )
        .signed(user("phil"), Meaning::Authored, &k("phil"), signed);
    push!(d);

    // 40–49: format version 4. The ledger went live before version 4 (its receipts), so its
    // inventories now are biennial.
    b.version3 = false;
    let at = |b: &Builder| b.at();
    // 40: the biennial inventory at close of business finds C12-2 half a millilitre short.
    let line = |ndc: &str, lot: &str, sealed: u32, open: Vec<OpenContainer>| InventoryLine {
        product: ndc.parse().expect("valid"),
        lot: lot.parse().expect("valid"),
        expiry: "2027-06-30".parse().expect("valid"),
        location: "SAFE-1".parse().expect("valid"),
        sealed,
        open,
    };
    let d = b
        .draft(Inventory {
            occasion: InventoryOccasion::Biennial,
            taken_at: BusinessHours::Close,
            date: b.today(),
            lines: vec![
                line(
                    KETAMINE_10,
                    "KT2301A",
                    0,
                    vec![OpenContainer {
                        container: Some(c("C12-2")),
                        amount: vol(17_500, 10_000),
                        estimated: false,
                        beyond_use: None,
                    }],
                ),
                line(KETAMINE_100, "KH2302B", 1, vec![]),
                line(SPRAVATO, "SP2303C", 1, vec![]),
                line(LOZENGE, "LZ2304D", 1, vec![]),
            ],
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), at(&b))
        .signed(user("nina"), Meaning::Witnessed, &k("nina-2"), at(&b));
    push!(d);
    let inventory = Seq::new(40).expect("small");
    // 41: an adjustment explains 0.3 mL of it (a drop lost drawing up), witnessed.
    let d = b
        .draft(Adjustment {
            container: c("C12-2"),
            resolves: Some(inventory),
            reason: AdjustmentReason::CountDiscrepancy,
            direction: Direction::Decrease,
            amount: vol(300, 10_000),
            note: text!("drop lost drawing up on the 7th"),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), at(&b))
        .signed(user("noah"), Meaning::Witnessed, &k("noah"), at(&b));
    push!(d);
    // 42: a loss explains the rest (0.2 mL) and closes the discrepancy.
    let d = b
        .draft(LossTheft {
            loss_type: LossType::Other,
            discovered_on: b.today(),
            police_report: None,
            items: vec![ContainerAmount {
                container: c("C12-2"),
                amount: vol(200, 10_000),
            }],
            description: text!("vial cracked at the septum; contents seeped"),
            explains_count: Some(inventory),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), at(&b));
    push!(d);
    // 43: the loss in transit of entry 26 reported to the DEA.
    let d = b
        .draft(LossReported {
            loss: Seq::new(26).expect("small"),
            notice_on: "2026-01-06".parse().expect("valid"),
            form_106: text!("F106-2026-000417"),
            form_106_on: b.today(),
        })
        .signed(user("phil"), Meaning::Authored, &k("phil"), at(&b));
    push!(d);
    // 44–45: a Spravato device opened and given, charted late with a reason.
    let started = b.at();
    let d = b
        .draft(ContainerOpened {
            container: c("C14-2"),
            beyond_use: b.today(),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), at(&b));
    b.push(d, 60_000_000).expect("vector entries are valid");
    let d = b
        .draft(Administered {
            container: c("C14-2"),
            patient,
            prescriber: prescriber(),
            amount: Amount::Units {
                units: Units::new(1),
                ug: Micrograms::new(28_000),
            },
            route: Route::Intranasal,
            given_at: started,
            given_by: uid("nina"),
            late_reason: Some(text!("charted after the patient's discharge")),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), at(&b));
    b.push(d, 2 * hour).expect("vector entries are valid");
    // 46: the REMS session closed after two hours' monitoring; 47: its form submitted.
    let d = b
        .draft(RemsSessionClosed {
            session: text!("RS-2026-0001"),
            patient,
            doses: vec![Seq::new(45).expect("small")],
            started_at: started,
            discharged_at: b.at(),
            record_sha256: EntryHash::from_bytes(
                sha2::Sha256::digest(b"vector REMS session record").into(),
            ),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), at(&b));
    push!(d);
    let d = b
        .draft(RemsFormSubmitted {
            session: text!("RS-2026-0001"),
            submitted_on: b.today(),
            confirmation: text!("PMF-0042917"),
        })
        .signed(user("nina"), Meaning::Authored, &k("nina-2"), at(&b));
    push!(d);
    // 48: a PMP file sent to Minnesota, signed by the registrant key.
    let d = b
        .draft(PmpReported {
            state: text!("MN"),
            from: "2026-01-05".parse().expect("valid"),
            to: "2026-01-06".parse().expect("valid"),
            asap_version: text!("4.2B"),
            control_number: text!("000000048"),
            records: 1,
            file_sha256: EntryHash::from_bytes(sha2::Sha256::digest(b"vector ASAP file").into()),
        })
        .signed(
            Principal::Registrant,
            Meaning::Registrant,
            &k("registrant-3"),
            at(&b),
        );
    push!(d);
    // 49: a CSV report issued, with its reason.
    let d = b
        .draft(ReportIssued {
            report: text!("dispensing"),
            from: "2026-01-05".parse().expect("valid"),
            to: "2026-01-07".parse().expect("valid"),
            checkpoint_size: 49,
            data_digest: EntryHash::from_bytes(
                sha2::Sha256::digest(b"vector dispensing report data").into(),
            ),
            requested_by: text!("Phil Hart, PharmD (phil), pharmacist"),
            format: ReportFormat::Csv,
            reason: Some(text!("DEA diversion investigator's request of 2026-01-08")),
        })
        .signed(
            Principal::Registrant,
            Meaning::Registrant,
            &k("registrant-3"),
            at(&b),
        );
    push!(d);
    b.entries
}

/// How many of the vector ledger's entries are the version 1 and 2 vectors (0–34); the rest
/// are version 3.
pub const LEGACY_VECTORS: usize = 35;

/// The vectors as Markdown, exactly as `docs/ledger-format.md` prints them.
pub fn render_markdown(entries: &[Entry]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    out.push_str("#### Keys\n\n| name | Ed25519 seed (hex) | public key (hex) | key id |\n|---|---|---|---|\n");
    for n in NAMES {
        let sk = seeded_key(n);
        let pk = PublicKey::from(&sk);
        let _ = writeln!(
            out,
            "| {n} | `{}` | `{pk}` | `{}` |",
            hex::encode(sk.to_bytes()),
            pk.key_id()
        );
    }
    out.push('\n');
    let mut state = State::new();
    for e in entries {
        let bytes = e.to_canonical_bytes();
        if e.version.is_sequenced() {
            let _ = writeln!(
                out,
                "#### Entry {} — `{}` (version {})\n",
                e.seq,
                e.kind(),
                e.version
            );
        } else {
            let _ = writeln!(out, "#### Entry {} — `{}`\n", e.seq, e.kind());
        }
        let _ = writeln!(out, "- hash: `{}`", e.hash());
        for (i, s) in e.signatures.iter().enumerate() {
            let input = e.signing_input(s);
            let when = match s.signed_at {
                Some(t) => format!(
                    ", signed at {t} (`{}`)",
                    hex::encode(t.micros().to_be_bytes())
                ),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "- signature {i}: {} ({}), key id `{}`{when}, SHA-256 of signing input `{}`\n  `{}`",
                s.signer,
                s.meaning,
                s.key_id,
                hex::encode(Sha256::digest(&input)),
                hex::encode(s.signature)
            );
        }
        if let (Some(sig), Ok(key)) = (e.sequencer, state.sequencer_key(e)) {
            let name = NAMES
                .iter()
                .find(|n| PublicKey::from(&seeded_key(n)) == key)
                .map_or_else(|| "?".to_string(), |n| n.to_string());
            let _ = writeln!(
                out,
                "- sequencer: the registrant key in force, {name} (key id `{}`); SHA-256 of the contents `{}`; SHA-256 of sequencer input `{}`\n  `{}`",
                key.key_id(),
                hex::encode(e.contents_digest()),
                hex::encode(Sha256::digest(e.sequencer_input())),
                hex::encode(sig)
            );
        }
        let _ = writeln!(out, "\n```text\n{}\n```\n", wrap_hex(&bytes));
        if state.apply(e).is_err() {
            // Rendering never refuses; the vector tests check that the ledger verifies.
            state = State::new();
        }
    }
    let legacy = entries.len().min(LEGACY_VECTORS);
    render_tree(&entries[..legacy], &mut out);
    if entries.len() > legacy {
        render_whole_tree(entries, legacy as u64, &mut out);
    }
    out
}

/// The root of the whole vector ledger, its consistency with the version 1 and 2 prefix, and
/// its checkpoint signed by the registrant's key after the second rotation (`registrant-3`).
fn render_whole_tree(entries: &[Entry], prefix: u64, out: &mut String) {
    use crate::merkle::{self, Leaves};
    use std::fmt::Write;
    let leaves: Vec<merkle::Hash> = entries
        .iter()
        .map(|e| merkle::leaf_hash(e.hash().as_bytes()))
        .collect();
    let n = leaves.len() as u64;
    let root = merkle::root(&mut Leaves(&leaves), n);
    let _ = writeln!(
        out,
        "#### Merkle tree of the whole ledger\n\nRoot at size {n}: `{}`\n\nConsistency proof from size {prefix} to size {n}:\n",
        hex::encode(root)
    );
    let p = merkle::consistency_proof(&mut Leaves(&leaves), prefix, n).expect("in range");
    for h in &p {
        let _ = writeln!(out, "- `{}`", hex::encode(h));
    }
    let cp = crate::checkpoint::Checkpoint {
        origin: crate::checkpoint::origin(&entries[0].ledger),
        size: n,
        root,
    }
    .sign(&seeded_key("registrant-3"));
    let _ = writeln!(
        out,
        "\nThe checkpoint of size {n}, signed by the registrant's current key (`registrant-3`, after the rotation in entry 38):\n\n```text\n{}```\n",
        cp.to_note()
    );
}

/// The Merkle tree, proof and checkpoint vectors of the vector ledger.
fn render_tree(entries: &[Entry], out: &mut String) {
    use crate::merkle::{self, Leaves};
    use std::fmt::Write;
    let leaves: Vec<merkle::Hash> = entries
        .iter()
        .map(|e| merkle::leaf_hash(e.hash().as_bytes()))
        .collect();
    let n = leaves.len() as u64;
    out.push_str("#### Merkle tree\n\n| size | root |\n|---|---|\n");
    for size in [1u64, 2, 3, 4, 8, 16, 18, 19, 20, n] {
        let r = merkle::root(&mut Leaves(&leaves), size);
        let _ = writeln!(out, "| {size} | `{}` |", hex::encode(r));
    }
    let _ = writeln!(
        out,
        "\nLeaf hash of entry 18: `{}`\n\nInclusion proof of entry 18 in the tree of {n}:\n",
        hex::encode(leaves[18])
    );
    let p = merkle::inclusion_proof(&mut Leaves(&leaves), 18, n).expect("in range");
    for h in &p {
        let _ = writeln!(out, "- `{}`", hex::encode(h));
    }
    let _ = writeln!(out, "\nConsistency proof from size 20 to size {n}:\n");
    let p = merkle::consistency_proof(&mut Leaves(&leaves), 20, n).expect("in range");
    for h in &p {
        let _ = writeln!(out, "- `{}`", hex::encode(h));
    }
    let cp = crate::checkpoint::Checkpoint {
        origin: crate::checkpoint::origin(&entries[0].ledger),
        size: n,
        root: merkle::root(&mut Leaves(&leaves), n),
    }
    .sign(&seeded_key("registrant-2"));
    let _ = writeln!(
        out,
        "\n#### Checkpoint\n\nThe checkpoint of size {n}, signed by the registrant's current key (`registrant-2`, after the rotation in entry 33):\n\n```text\n{}```\n",
        cp.to_note()
    );
}

fn wrap_hex(b: &[u8]) -> String {
    b.chunks(32).map(hex::encode).collect::<Vec<_>>().join("\n")
}

/// Signing at the time a draft's body was made (its entry id's time): how the vectors and the
/// tests sign, where a signer signs as the body is made. A witness who signs later states
/// their own time with `Draft::signed`.
pub trait SignWhenMade: Sized {
    fn signed_when_made(self, signer: Principal, meaning: Meaning, key: &SigningKey) -> Self;
}

impl SignWhenMade for Draft {
    fn signed_when_made(self, signer: Principal, meaning: Meaning, key: &SigningKey) -> Self {
        let at = self.body.entry_id.made_at().unwrap_or(Timestamp::EPOCH);
        self.signed(signer, meaning, key, at)
    }
}
