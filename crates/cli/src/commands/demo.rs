//! `custody demo`: a realistic ketamine clinic, deterministic per seed — users of every role,
//! ketamine 10 mg/mL × 20 mL and 100 mg/mL × 5 mL vials, Spravato 28 mg devices and take-home
//! lozenges; two months of receipts, IV infusions near 0.5 mg/kg with the rest of each vial
//! wasted before a witness, Spravato sessions, take-home dispensing, weekly counts, and a count
//! that finds a vial missing with the adjustment that resolves it.
//!
//! Four nurses share the infusion days. Three go round their colleagues for witnesses; the
//! fourth, Kai Brandt, is the pattern diversion analytics exist to show a reviewer: each of
//! his infusions opens a second vial that is "contaminated" and wasted whole, every waste
//! is left to the end of the shift (after 19:00, outside the clinic's hours) and witnessed
//! by the same colleague. The analytics test asserts that he, and only he, reaches "review".
//!
//! The calendar follows the real date: the two months end the day before the demo is recorded
//! (see [`calendar`]), and every lot received in them expires two years after that day, so
//! whatever anyone does with the demo's stock today (open, dose, waste, count) meets no expiry
//! or beyond-use date, whenever it runs. The first and last days are printed (`history FIRST
//! to LAST`) for reports over the period.
//!
//! Every entry goes through the store's append path with real signatures; users' private keys
//! are sealed under the passwords printed at the end.

use std::collections::{BTreeMap, HashMap, VecDeque};

use clap::Args;
use custody_ledger::vectors::{self, KETAMINE_10, KETAMINE_100, LOZENGE, SPRAVATO};
use custody_ledger::*;
use custody_store::{Store, keystore};
use ed25519_dalek::SigningKey;

use crate::commands::init::{create_ledger, entry_id_at};
use crate::config::DataArgs;
use crate::first_start::{self, Stage};
use crate::registrant::{Keys, NewPassphrase};
use crate::{Failure, Outcome};
use custody_store::clock::now;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed of the clinic's patients, weights, doses and schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The demo's patients (MRN-100001 on): ten IV, two Spravato (11 and 12).
const PATIENTS: [(&str, &str); 12] = [
    ("Jordan Lee", "1984-03-12"),
    ("Avery Brooks", "1979-07-02"),
    ("Morgan Patel", "1991-11-23"),
    ("Riley Nguyen", "1968-01-30"),
    ("Casey Alvarez", "1988-05-17"),
    ("Taylor Kim", "1995-09-08"),
    ("Jamie Okoro", "1973-12-19"),
    ("Quinn Larsen", "1982-04-04"),
    ("Drew Fischer", "1999-02-14"),
    ("Robin Castillo", "1966-10-27"),
    ("Sasha Ivanova", "1987-06-21"),
    ("Elliot Moreau", "1976-08-11"),
];

/// The demo clinic's NPI and NCPDP number and its prescriber's NPI (valid check digits;
/// not real providers').
pub const DEMO_NPI: &str = "1234567893";
pub const DEMO_NCPDP: &str = "1473625";
pub const DEMO_PRESCRIBER_NPI: &str = "1943872014";

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 1_440 * MINUTE;
/// The days of history: two months.
const DAYS: i64 = 61;
/// Lots received in the demo expire this many days after the day it is recorded.
const SHELF_LIFE_DAYS: i64 = 730;

/// The demo's first and last days when it is recorded on `today`: the [`DAYS`] days before
/// it, so the history ends yesterday and what happens today comes after it.
pub fn calendar(today: Day) -> (Day, Day) {
    (
        today.plus_days(-DAYS).expect("dates in range"),
        today.plus_days(-1).expect("dates in range"),
    )
}

/// Monday = 0 … Sunday = 6 (1970-01-01, day 0, was a Thursday).
fn weekday(d: Day) -> i64 {
    (i64::from(d.unix_days()) + 3).rem_euclid(7)
}

/// SplitMix64: a small, well-known generator, so a seed gives the same clinic everywhere.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A demo user.
struct Person {
    id: &'static str,
    name: &'static str,
    role: Role,
}

const PEOPLE: &[Person] = &[
    Person {
        id: "admin",
        name: "Alex Morgan",
        role: Role::Admin,
    },
    Person {
        id: "pharm.rivera",
        name: "Dana Rivera, PharmD",
        role: Role::Pharmacist,
    },
    Person {
        id: "nurse.chen",
        name: "Mei Chen, RN",
        role: Role::Nurse,
    },
    Person {
        id: "nurse.okafor",
        name: "Ike Okafor, RN",
        role: Role::Nurse,
    },
    Person {
        id: "auditor.diaz",
        name: "Sam Diaz",
        role: Role::Auditor,
    },
];

/// The demo's diverting nurse, and the one colleague who witnesses all his wastes.
pub const DIVERTER: &str = "nurse.brandt";
const DIVERTERS_WITNESS: &str = "nurse.okafor";
/// The nurses who share the infusion days, in turn.
const NURSES: [&str; 4] = ["nurse.chen", "nurse.okafor", "nurse.santos", DIVERTER];
/// Who witnesses the other nurses' wastes: each nurse goes round the others of this list in
/// turn, one place on with each waste, so no colleague is anyone's habitual witness.
const WITNESSES: [&str; 5] = [
    "nurse.chen",
    "nurse.okafor",
    "nurse.santos",
    "pharm.rivera",
    DIVERTER,
];

/// Two nurses who join once the first stock is in (enrolled after the receipts, so the
/// first entries keep their places).
const JOINERS: &[Person] = &[
    Person {
        id: "nurse.santos",
        name: "Rosa Santos, RN",
        role: Role::Nurse,
    },
    Person {
        id: "nurse.brandt",
        name: "Kai Brandt, RN",
        role: Role::Nurse,
    },
];

struct Demo {
    store: Store,
    ledger: LedgerId,
    now: i64,
    keys: HashMap<&'static str, SigningKey>,
    registrant: SigningKey,
    secret: [u8; 32],
    /// The expiry of every lot received.
    expiry: Day,
    /// Sealed containers by (product, location), oldest first.
    sealed: BTreeMap<(String, String), VecDeque<ContainerId>>,
    entries: u64,
    /// The diverting nurse's wastes, left to the end of the shift: (container, µL).
    deferred: Vec<(ContainerId, u64)>,
}

fn who(id: &str) -> Principal {
    Principal::User(id.parse().expect("demo user ids are valid"))
}

impl Demo {
    fn at(&self) -> Timestamp {
        Timestamp::from_micros(self.now).expect("demo times are in range")
    }

    fn today(&self) -> Day {
        self.at().date()
    }

    /// Records `payload` signed by `author` (and witnesses), `minutes` after the last entry.
    async fn record(
        &mut self,
        minutes: i64,
        payload: impl Into<Payload>,
        author: &'static str,
        witnesses: &[&'static str],
    ) -> Result<Entry, Failure> {
        self.now += minutes * MINUTE;
        let at = self.at();
        // Back-dated: the author made and signed the entry half a minute before it was
        // recorded; a witness signs as it is recorded.
        let authored = Timestamp::from_micros(self.now - MINUTE / 2).expect("in range");
        let mut d = Draft::new(self.ledger, entry_id_at(authored), payload).signed(
            who(author),
            Meaning::Authored,
            &self.keys[author],
            authored,
        );
        for w in witnesses {
            d = d.signed(who(w), Meaning::Witnessed, &self.keys[w], at);
        }
        let a = self.store.append_at(d, at).await?;
        self.entries += 1;
        Ok(a.entry)
    }

    async fn enroll(&mut self, p: &Person, password: &str) -> Result<(), Failure> {
        let key = keystore::generate()?;
        let public = PublicKey::from(&key);
        let body = UserEnrolled {
            user: p.id.parse().expect("valid"),
            printed_name: p.name.parse().expect("valid"),
            role: p.role,
            public_key: public,
        };
        self.now += 2 * MINUTE;
        let at = self.at();
        let mut d = Draft::new(self.ledger, entry_id_at(at), body);
        d = if self.keys.is_empty() {
            d.signed(
                Principal::Registrant,
                Meaning::Registrant,
                &self.registrant,
                at,
            )
        } else {
            d.signed(who("admin"), Meaning::Authored, &self.keys["admin"], at)
        };
        d = d.signed(who(p.id), Meaning::KeyPossession, &key, at);
        self.store.append_at(d, at).await?;
        self.entries += 1;
        let sealed = keystore::seal(&key, password, keystore::Cost::default())?;
        self.store
            .save_sealed_key(
                self.ledger,
                &p.id.parse().expect("valid"),
                public.key_id(),
                sealed,
            )
            .await?;
        self.keys.insert(p.id, key);
        Ok(())
    }

    async fn receive(
        &mut self,
        ndc: &str,
        lot: &str,
        n: u32,
        invoice: &str,
    ) -> Result<(), Failure> {
        let today = self.today();
        let r = Receipt {
            supplier: vectors::supplier_party(),
            invoice: invoice.parse().expect("valid"),
            received_on: today,
            product: ndc.parse().expect("valid"),
            lot: lot.parse().expect("valid"),
            expiry: self.expiry,
            containers: n,
            location: "SAFE-1".parse().expect("valid"),
        };
        let e = self.record(7, r, "pharm.rivera", &[]).await?;
        let q = self
            .sealed
            .entry((ndc.to_string(), "SAFE-1".to_string()))
            .or_default();
        for i in 1..=n {
            q.push_back(ContainerId::new(e.seq, i).expect("index from 1"));
        }
        Ok(())
    }

    /// Takes the oldest sealed container of `ndc` at `location`, receiving or moving stock
    /// first if there is none.
    async fn take_sealed(&mut self, ndc: &str, location: &str) -> Result<ContainerId, Failure> {
        let key = (ndc.to_string(), location.to_string());
        if self.sealed.get(&key).is_none_or(|q| q.is_empty()) {
            let safe = (ndc.to_string(), "SAFE-1".to_string());
            // Reorder before the safe runs low, as a clinic would.
            if self.sealed.get(&safe).is_none_or(|q| q.len() < 6) {
                let lot = format!("RE{}", self.entries);
                self.receive(ndc, &lot, 20, &format!("INV-{}", self.entries))
                    .await?;
            }
            if location != "SAFE-1" {
                let q = self.sealed.get_mut(&safe).expect("just received");
                let moved: Vec<ContainerId> = (0..2).filter_map(|_| q.pop_front()).collect();
                let t = Transfer {
                    containers: moved.clone(),
                    to: TransferTo::Location {
                        location: location.parse().expect("valid"),
                    },
                };
                self.record(3, t, "pharm.rivera", &[]).await?;
                self.sealed.entry(key.clone()).or_default().extend(moved);
            }
        }
        Ok(self
            .sealed
            .get_mut(&key)
            .and_then(|q| q.pop_front())
            .expect("stock is there now"))
    }

    async fn open(
        &mut self,
        c: ContainerId,
        by: &'static str,
        bud_days: i64,
    ) -> Result<(), Failure> {
        let bud = self.today().plus_days(bud_days).expect("in range");
        self.record(
            2,
            ContainerOpened {
                container: c,
                beyond_use: bud,
                opened_at: None,
            },
            by,
            &[],
        )
        .await?;
        Ok(())
    }

    fn patient(&self, n: u64) -> PatientRef {
        PatientRef::commit(&self.secret, &format!("MRN-{:06}", 100_000 + n))
    }

    /// One IV infusion: a fresh 10 mg/mL vial from the cart, the dose, the rest wasted.
    async fn infusion(
        &mut self,
        patient: u64,
        kg: u64,
        nurse: &'static str,
        witness: &'static str,
    ) -> Result<(), Failure> {
        let c = self.take_sealed(KETAMINE_10, "CART-A").await?;
        self.open(c, nurse, 0).await?;
        // 0.5 mg/kg, to the nearest mg; 10 mg/mL means 100 µL per mg.
        let mg = kg.div_ceil(2);
        let dose = Amount::Volume {
            ul: Microliters::new(mg * 100),
            ug: Micrograms::new(mg * 1000),
        };
        let given_at = Timestamp::from_micros(self.now + 45 * MINUTE).expect("in range");
        let a = Administered {
            container: c,
            patient: self.patient(patient),
            prescriber: vectors::prescriber(),
            amount: dose,
            route: Route::Iv,
            given_at,
            given_by: nurse.parse().expect("valid"),
            late_reason: None,
        };
        self.record(50, a, nurse, &[]).await?;
        // Each nurse has their own pace from the dose to the waste (a few minutes apart),
        // as people do: the peers' band of "opening to waste" has a width whatever the
        // calendar, so a figure far outside it stands out by its distance, not by how many
        // peers happen to share one value.
        let pace = match nurse {
            "nurse.okafor" => 4,
            "nurse.santos" => 8,
            _ => 0,
        };
        self.now += pace * MINUTE;
        let rest = 20_000 - mg * 100;
        let w = Waste {
            container: c,
            amount: Amount::Volume {
                ul: Microliters::new(rest),
                ug: Micrograms::new(rest * 10),
            },
            reason: "remainder of single-patient vial after infusion"
                .parse()
                .expect("valid"),
        };
        self.record(5, w, nurse, &[witness]).await?;
        Ok(())
    }

    /// The diverting nurse's infusion: the dose as charted, the rest of the vial and a
    /// second, "contaminated" vial kept back to be wasted at the end of the shift.
    async fn diverted_infusion(&mut self, patient: u64, kg: u64) -> Result<(), Failure> {
        let nurse = DIVERTER;
        let c = self.take_sealed(KETAMINE_10, "CART-A").await?;
        self.open(c, nurse, 0).await?;
        let mg = kg.div_ceil(2);
        let given_at = Timestamp::from_micros(self.now + 45 * MINUTE).expect("in range");
        let a = Administered {
            container: c,
            patient: self.patient(patient),
            prescriber: vectors::prescriber(),
            amount: Amount::Volume {
                ul: Microliters::new(mg * 100),
                ug: Micrograms::new(mg * 1000),
            },
            route: Route::Iv,
            given_at,
            given_by: nurse.parse().expect("valid"),
            late_reason: None,
        };
        self.record(50, a, nurse, &[]).await?;
        self.deferred.push((c, 20_000 - mg * 100));
        let spare = self.take_sealed(KETAMINE_10, "CART-A").await?;
        self.open(spare, nurse, 0).await?;
        self.deferred.push((spare, 20_000));
        Ok(())
    }

    /// The end of the diverting nurse's shift: every waste kept back, after 19:00, with the
    /// same witness.
    async fn end_of_shift(&mut self, day_start: i64) -> Result<(), Failure> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        self.now = self.now.max(day_start + (19 * 60 + 5) * MINUTE);
        for (c, ul) in std::mem::take(&mut self.deferred) {
            let w = Waste {
                container: c,
                amount: Amount::Volume {
                    ul: Microliters::new(ul),
                    ug: Micrograms::new(ul * 10),
                },
                reason: if ul == 20_000 {
                    "drawn up, syringe contaminated before use"
                } else {
                    "remainder of single-patient vial after infusion"
                }
                .parse()
                .expect("valid"),
            };
            self.record(6, w, DIVERTER, &[DIVERTERS_WITNESS]).await?;
        }
        Ok(())
    }

    /// A Spravato session: 56 or 84 mg, one device at a time.
    async fn spravato(
        &mut self,
        patient: u64,
        devices: u32,
        nurse: &'static str,
    ) -> Result<(), Failure> {
        for _ in 0..devices {
            let c = self.take_sealed(SPRAVATO, "SAFE-1").await?;
            self.open(c, nurse, 0).await?;
            let a = Administered {
                container: c,
                patient: self.patient(patient),
                prescriber: vectors::prescriber(),
                amount: Amount::Units {
                    units: Units::new(1),
                    ug: Micrograms::new(28_000),
                },
                route: Route::Intranasal,
                given_at: Timestamp::from_micros(self.now + 4 * MINUTE).expect("in range"),
                given_by: nurse.parse().expect("valid"),
                late_reason: None,
            };
            self.record(5, a, nurse, &[]).await?;
        }
        Ok(())
    }

    /// The initial inventory: four sealed 10 mg/mL vials of an older lot in the safe, taken
    /// by the pharmacist at the opening of business, witnessed by a nurse. Used first.
    async fn initial_inventory(&mut self, lot: &str) -> Result<(), Failure> {
        let inv = Inventory {
            occasion: InventoryOccasion::Initial,
            taken_at: BusinessHours::Opening,
            date: self.today(),
            lines: vec![InventoryLine {
                product: KETAMINE_10.parse().expect("valid"),
                lot: lot.parse().expect("valid"),
                expiry: self.expiry,
                location: "SAFE-1".parse().expect("valid"),
                sealed: 4,
                open: vec![],
            }],
        };
        let e = self
            .record(20, inv, "pharm.rivera", &["nurse.chen"])
            .await?;
        let q = self
            .sealed
            .entry((KETAMINE_10.to_string(), "SAFE-1".to_string()))
            .or_default();
        for i in (1..=4).rev() {
            q.push_front(ContainerId::new(e.seq, i).expect("index from 1"));
        }
        Ok(())
    }

    /// A multi-dose vial opened for an IM dose and kept (28-day beyond-use date).
    async fn kept_vial(&mut self, patient: u64, nurse: &'static str) -> Result<(), Failure> {
        let c = self.take_sealed(KETAMINE_10, "CART-A").await?;
        self.open(c, nurse, 28).await?;
        let a = Administered {
            container: c,
            patient: self.patient(patient),
            prescriber: vectors::prescriber(),
            amount: Amount::Volume {
                ul: Microliters::new(3_500),
                ug: Micrograms::new(35_000),
            },
            route: Route::Im,
            given_at: Timestamp::from_micros(self.now + 5 * MINUTE).expect("in range"),
            given_by: nurse.parse().expect("valid"),
            late_reason: None,
        };
        self.record(10, a, nurse, &[]).await?;
        Ok(())
    }

    async fn count(
        &mut self,
        location: &str,
        ndc: &str,
        by: &'static str,
        missing: u32,
    ) -> Result<Entry, Failure> {
        let loc: LocationId = location.parse().expect("valid");
        let product: Ndc = ndc.parse().expect("valid");
        let expected = self.store.tally(self.ledger, &loc, &product).await?;
        let counted = Tally {
            sealed: expected.sealed.saturating_sub(missing),
            open: expected.open,
        };
        let c = Count {
            location: loc,
            product,
            blind: true,
            expected,
            counted,
        };
        self.record(10, c, by, &[]).await
    }
}

pub async fn run(a: DemoArgs) -> Outcome {
    first_start::recover(&a.data).await?;
    if first_start::needed(&a.data).await? {
        // A new directory: made whole in the stage, moved into place once recorded.
        let stage = Stage::begin(&a.data)?;
        let store = stage.args().open(true).await?;
        stage.mark_demo()?;
        record(&stage.keys(), &store, a.seed).await?;
        store.close().await?;
        stage.commit()?;
    } else {
        // A directory `custody init` made, holding only genesis.
        let store = a.data.open(false).await?;
        record(&a.data.keys(), &store, a.seed).await?;
    }
    println!("check it: custody verify --data {}", a.data.data.display());
    Ok(())
}

/// Records the demo clinic in `store` (a new database, or one holding only genesis) and
/// prints what it made and the users' sign-in names and passwords.
pub async fn record(keys: &Keys, store: &Store, seed: u64) -> Result<LedgerId, Failure> {
    let store = store.clone();
    let mut rng = Rng(seed);
    let recorded_on = now().date();
    let first = calendar(recorded_on).0.start().micros();
    let (ledger, registrant_key, start) = match store.ledgers().await?.as_slice() {
        [] => {
            let genesis = Timestamp::from_micros(first + 8 * 60 * MINUTE).expect("in range");
            let (l, k, _) = create_ledger(
                keys,
                NewPassphrase::BesideForDemo,
                &store,
                vectors::registrant_party(),
                genesis,
            )
            .await?;
            (l, k, first)
        }
        [one] => {
            let head = store.head(one.ledger).await?;
            if head.entries > 1 {
                return Err(Failure::Usage(format!(
                    "{} already holds a ledger with {} entries: the demo needs a new data directory",
                    keys.dir.display(),
                    head.entries
                )));
            }
            let k = keys.load(&head.registrant_key)?;
            store.add_sequencer(one.ledger, std::sync::Arc::new(k.clone()));
            // Nothing may come before genesis: after a recent `custody init` the history
            // starts the day after it (and then runs past today).
            let after_genesis = head.last_timestamp.micros().div_euclid(DAY) * DAY + DAY;
            (one.ledger, k, first.max(after_genesis))
        }
        _ => return Err(Failure::Usage("this database holds several ledgers".into())),
    };
    let secret = *store.patient_secret(ledger, &registrant_key).await?;
    let mut demo = Demo {
        store,
        ledger,
        now: start + 8 * 60 * MINUTE + 5 * MINUTE,
        keys: HashMap::new(),
        registrant: registrant_key,
        secret,
        expiry: recorded_on
            .plus_days(SHELF_LIFE_DAYS)
            .expect("dates in range"),
        sealed: BTreeMap::new(),
        entries: 1,
        deferred: Vec::new(),
    };

    // The patient register: the people behind the commitments the doses carry, so a nurse
    // finds them by MRN or name.
    for (n, (name, born)) in PATIENTS.iter().enumerate() {
        let n = n as u64 + 1;
        let record = custody_store::PatientRecord {
            patient: demo.patient(n),
            mrn: format!("MRN-{:06}", 100_000 + n),
            name: (*name).to_string(),
            address: format!("{} Lake Ave, Duluth MN 55802", 10 + n * 7),
            birth_date: (*born).to_string(),
            // For state PMP reports (ASAP PAT19).
            sex: Some(if n.is_multiple_of(2) { "F" } else { "M" }.to_string()),
            // The two Spravato patients are enrolled in the REMS.
            rems: (n >= 11).then(|| custody_store::RemsEnrollment {
                patient_id: format!("REMS-{:07}", 4_200_000 + n),
                enrolled_on: Timestamp::from_micros(start)
                    .expect("the demo starts in range")
                    .date(),
            }),
        };
        demo.store.save_patient(ledger, &record).await?;
    }
    // What state PMP files need beside the chain: the registrant's NPI and NCPDP number,
    // the prescriber's NPI (each prescription is kept with its dispense, below).
    demo.store
        .save_registrant_ids(
            ledger,
            &custody_store::RegistrantIds {
                npi: Some(DEMO_NPI.into()),
                ncpdp: Some(DEMO_NCPDP.into()),
            },
        )
        .await?;
    demo.store
        .save_prescriber_npi(ledger, &vectors::prescriber().dea, DEMO_PRESCRIBER_NPI)
        .await?;

    let mut passwords = Vec::new();
    for p in PEOPLE {
        let pw = format!(
            "{}-demo-{:04}",
            p.id.replace('.', "-"),
            rng.range(1000, 9999)
        );
        demo.enroll(p, &pw).await?;
        passwords.push((p, pw));
    }
    for (code, name, kind) in [
        ("SAFE-1", "Pharmacy safe", LocationKind::Safe),
        ("CART-A", "Infusion suite cart A", LocationKind::Cart),
    ] {
        let l = LocationDefined {
            location: code.parse().expect("valid"),
            name: name.parse().expect("valid"),
            kind,
        };
        demo.record(2, l, "admin", &[]).await?;
    }
    for p in [
        vectors::ketamine_10(),
        vectors::ketamine_100(),
        vectors::spravato(),
        vectors::lozenge(),
    ] {
        demo.record(2, p, "admin", &[]).await?;
    }
    // Lots and invoices named after the first day, as a supplier would.
    let first_day = demo.today();
    let (yy, mm) = (
        first_day.date().year() % 100,
        u8::from(first_day.date().month()),
    );
    // Going live: the initial inventory of what is on the shelves at the opening of business
    // on the first day (21 CFR 1304.11(b)), before anything is received.
    demo.initial_inventory(&format!("KT{yy:02}{mm:02}Z"))
        .await?;
    let [inv1, inv2, inv3] = [1, 2, 3].map(|n| format!("INV-{first_day}-{n}"));
    demo.receive(KETAMINE_10, &format!("KT{yy:02}{mm:02}A"), 20, &inv1)
        .await?;
    demo.receive(KETAMINE_100, &format!("KH{yy:02}{mm:02}B"), 5, &inv1)
        .await?;
    demo.receive(SPRAVATO, &format!("SP{yy:02}{mm:02}C"), 24, &inv2)
        .await?;
    demo.receive(LOZENGE, &format!("LZ{yy:02}{mm:02}D"), 4, &inv3)
        .await?;

    // Ten IV patients (weights 55–110 kg) start in the first four weeks: six infusions over
    // two to three weeks, then maintenance every two weeks. Two Spravato patients come twice
    // weekly for four weeks, then weekly.
    let iv: Vec<(u64, u64, i64)> = (1..=10)
        .map(|p| (p, rng.range(55, 110), rng.range(0, 27) as i64))
        .collect();
    for p in JOINERS {
        let pw = format!(
            "{}-demo-{:04}",
            p.id.replace('.', "-"),
            rng.range(1000, 9999)
        );
        demo.enroll(p, &pw).await?;
        passwords.push((p, pw));
    }
    // Each nurse's own turn through the colleagues who can witness for them.
    let mut turns: HashMap<&str, usize> = HashMap::new();
    // Take-home dispensing and the month-end count fall on the first working day on or
    // after their day of the history, wherever the weekends fall.
    let mut dispensing_days = [19, 44].into_iter().peekable();
    let mut month_end_count = Some(29);
    // A vial opened a few days before the end and kept within its beyond-use date.
    let mut kept_vial = Some(DAYS - 5);
    for day in 0..DAYS {
        let weekday = weekday(
            Timestamp::from_micros(start + day * DAY)
                .expect("in range")
                .date(),
        );
        if weekday >= 5 {
            continue;
        }
        // A busy day never runs into the next.
        demo.now = demo.now.max(start + day * DAY + 8 * 60 * MINUTE);
        let nurse = NURSES[(day % 4) as usize];
        if weekday == 0 {
            demo.count("SAFE-1", KETAMINE_10, "pharm.rivera", 0).await?;
        }
        for &(p, kg, s) in &iv {
            let d = day - s;
            let series = [0, 2, 4, 7, 9, 11];
            if series.contains(&d) || (d > 11 && (d - 11) % 14 == 0) {
                if nurse == DIVERTER {
                    demo.diverted_infusion(p, kg).await?;
                } else {
                    let turn = turns.entry(nurse).or_insert(0usize);
                    let others: Vec<&str> =
                        WITNESSES.iter().copied().filter(|w| *w != nurse).collect();
                    let witness = others[*turn % others.len()];
                    *turn += 1;
                    demo.infusion(p, kg, nurse, witness).await?;
                }
            }
        }
        for p in [11u64, 12] {
            let twice_weekly = day < 28 && (weekday == 1 || weekday == 4);
            let weekly = day >= 28 && weekday == 1;
            if twice_weekly || weekly {
                let devices = if p == 11 { 2 } else { 3 };
                demo.spravato(p, devices, nurse).await?;
            }
        }
        if dispensing_days.next_if(|&d| day >= d).is_some() {
            let bottle = demo.take_sealed(LOZENGE, "SAFE-1").await?;
            let d = Dispensed {
                patient: demo.patient(3),
                prescriber: vectors::prescriber(),
                sealed: vec![bottle],
                from_open: vec![],
            };
            let e = demo.record(15, d, "pharm.rivera", &[]).await?;
            // The prescription it filled, written the day before: 30 troches, 30 days.
            let filled = e.timestamp.date();
            demo.store
                .save_prescription(
                    ledger,
                    &custody_store::Prescription {
                        seq: e.seq,
                        rx_number: format!("RX-{}", 70_000 + e.seq.get()),
                        written_on: filled.plus_days(-1).unwrap_or(filled),
                        refills_authorized: 0,
                        days_supply: 30,
                        updated_at: e.timestamp,
                    },
                )
                .await?;
        }
        if kept_vial.take_if(|d| day >= *d).is_some() {
            demo.kept_vial(iv[0].0, nurse).await?;
        }
        if month_end_count.take_if(|d| day >= *d).is_some() {
            // The month-end blind count of the 100 mg/mL vials finds one missing.
            let count = demo
                .count("SAFE-1", KETAMINE_100, "nurse.okafor", 1)
                .await?;
            let key = (KETAMINE_100.to_string(), "SAFE-1".to_string());
            let lost = demo
                .sealed
                .get_mut(&key)
                .and_then(|q| q.pop_back())
                .expect("five vials were received");
            let adj = Adjustment {
                container: lost,
                resolves: Some(count.seq),
                reason: AdjustmentReason::CountDiscrepancy,
                direction: Direction::Decrease,
                amount: Amount::Volume {
                    ul: Microliters::new(5_000),
                    ug: Micrograms::new(500_000),
                },
                note: "vial found broken at the back of the safe; glass and liquid discarded, reported to the pharmacist in charge"
                    .parse()
                    .expect("valid"),
            };
            demo.record(40, adj, "pharm.rivera", &["nurse.okafor"])
                .await?;
        }
        demo.end_of_shift(start + day * DAY).await?;
    }
    let head = demo.store.head(ledger).await?;
    println!(
        "demo clinic recorded: ledger {ledger}, {} entries, head {}",
        head.entries, head.last_hash
    );
    let last_day = Timestamp::from_micros(start + (DAYS - 1) * DAY)
        .expect("in range")
        .date();
    println!(
        "history {first_day} to {last_day} ({DAYS} days; received lots expire {})",
        demo.expiry
    );
    println!(
        "registrant: {} ({})",
        head.registrant.name, head.registrant.dea
    );
    println!("sign-in names and passwords (demo only):");
    for (p, pw) in passwords {
        println!("  {:<14} {:<11} {}", p.id, p.role, pw);
    }
    Ok(ledger)
}
