//! Property tests of the chain: random valid histories always verify, and any single changed
//! byte in a stored ledger is caught at the entry it was changed in.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::OnceLock;

use custody_ledger::entry::hash_encoded;
use custody_ledger::inventory::on_hand;
use custody_ledger::state::{DoseState, default_beyond_use};
use custody_ledger::vectors::SignWhenMade;
use custody_ledger::vectors::{
    self, Builder, KETAMINE_10, KETAMINE_100, LOZENGE, SPRAVATO, seeded_key,
};
use custody_ledger::verify::{Verifier, verify_entries};
use custody_ledger::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::sample::Index;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
/// 2026-03-02T09:00:00Z
const START: i64 = 1_772_442_000_000_000;
const PRODUCTS: [&str; 4] = [KETAMINE_10, KETAMINE_100, SPRAVATO, LOZENGE];
const LOCATIONS: [&str; 2] = ["SAFE-1", "CART-A"];
const WORKERS: &[Role] = &[Role::Pharmacist, Role::Nurse];
const PHARMACIST: &[Role] = &[Role::Pharmacist];
/// How many operations `History::step` chooses from.
const OPS: u32 = 19;

fn trusted() -> PublicKey {
    PublicKey::from(&seeded_key("registrant"))
}
fn uid(s: &str) -> UserId {
    s.parse().expect("valid user id")
}
fn loc(s: &str) -> LocationId {
    s.parse().expect("valid location")
}
fn ndc(s: &str) -> Ndc {
    s.parse().expect("valid NDC")
}
fn pick<T: Clone>(xs: &[T], r: u32) -> Option<T> {
    if xs.is_empty() {
        None
    } else {
        Some(xs[r as usize % xs.len()].clone())
    }
}

/// The registrant, five users, two locations, four products and one receipt of each.
fn prefix() -> &'static (Vec<Entry>, State, i64) {
    static PREFIX: OnceLock<(Vec<Entry>, State, i64)> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let ledger = LedgerId::from_bytes([0x42; 16]);
        let mut h = History {
            b: Builder::new(ledger, START),
            keys: BTreeMap::new(),
            fresh: 0,
            kinds: BTreeSet::new(),
        };
        let k = seeded_key;
        let reg = Principal::Registrant;
        let d =
            h.b.draft(Genesis {
                registrant: vectors::registrant_party(),
                registrant_key: trusted(),
            })
            .signed_when_made(reg.clone(), Meaning::Registrant, &k("registrant"));
        h.push(d, HOUR);
        for (i, (name, role)) in [
            ("ada", Role::Admin),
            ("phil", Role::Pharmacist),
            ("nina", Role::Nurse),
            ("noah", Role::Nurse),
            ("audrey", Role::Auditor),
        ]
        .into_iter()
        .enumerate()
        {
            let d = h.b.draft(UserEnrolled {
                user: uid(name),
                printed_name: name.parse().expect("valid"),
                role,
                public_key: PublicKey::from(&k(name)),
            });
            let d = if i == 0 {
                d.signed_when_made(reg.clone(), Meaning::Registrant, &k("registrant"))
            } else {
                d.signed_when_made(Principal::User(uid("ada")), Meaning::Authored, &k("ada"))
            };
            let d =
                d.signed_when_made(Principal::User(uid(name)), Meaning::KeyPossession, &k(name));
            h.push(d, HOUR);
        }
        for (code, kind) in [
            ("SAFE-1", LocationKind::Safe),
            ("CART-A", LocationKind::Cart),
        ] {
            let d = h
                .b
                .draft(LocationDefined {
                    location: loc(code),
                    name: code.parse().expect("valid"),
                    kind,
                })
                .signed_when_made(Principal::User(uid("ada")), Meaning::Authored, &k("ada"));
            h.push(d, HOUR);
        }
        for p in [
            vectors::ketamine_10(),
            vectors::ketamine_100(),
            vectors::spravato(),
            vectors::lozenge(),
        ] {
            let d = h.b.draft(p).signed_when_made(
                Principal::User(uid("ada")),
                Meaning::Authored,
                &k("ada"),
            );
            h.push(d, HOUR);
        }
        let b = h.b;
        (b.entries, b.state, b.now)
    })
}

/// A ledger being grown by random valid operations, with the keys its users hold now.
struct History {
    b: Builder,
    keys: BTreeMap<UserId, SigningKey>,
    fresh: u32,
    kinds: BTreeSet<Kind>,
}

impl History {
    fn new() -> Self {
        let (entries, state, now) = prefix();
        let mut b = Builder::new(entries[0].ledger, *now);
        b.entries = entries.clone();
        b.state = state.clone();
        let keys = ["ada", "phil", "nina", "noah", "audrey"]
            .into_iter()
            .map(|n| (uid(n), seeded_key(n)))
            .collect();
        let mut h = Self {
            b,
            keys,
            fresh: 0,
            kinds: BTreeSet::new(),
        };
        // Format version 4: the ledger goes live with its initial inventory (nothing on hand).
        let d = h.b.draft(Inventory {
            occasion: InventoryOccasion::Initial,
            taken_at: BusinessHours::Opening,
            date: h.today(),
            lines: Vec::new(),
        });
        let d = h.sign(d, &uid("phil"), Meaning::Authored);
        let d = h.sign(d, &uid("nina"), Meaning::Witnessed);
        h.push(d, 10 * MINUTE);
        for (i, product) in PRODUCTS.into_iter().enumerate() {
            h.receive(product, 2 + i as u32 % 2, "SAFE-1", uid("phil"));
        }
        h
    }

    fn today(&self) -> Day {
        self.b.today()
    }
    fn state(&self) -> &State {
        &self.b.state
    }

    /// Appends a generated entry, which must be valid.
    fn push(&mut self, d: Draft, advance: i64) {
        let kind = d.body.kind();
        if let Err(v) = self.b.push(d, advance) {
            panic!("the generator made an invalid {kind} entry: {v:?} ({v})");
        }
        self.kinds.insert(kind);
    }

    /// Signs as `u`, at a time the rules accept (version 3): when the entry is recorded, a
    /// few seconds before, anywhere in the window before it, or at its far end exactly
    /// `MAX_SIGNING_AGE_DAYS` before (an author who signed and waited, a queued witness).
    fn sign(&self, d: Draft, u: &UserId, meaning: Meaning) -> Draft {
        let key = &self.keys[u];
        let id = d.body.entry_id.as_uuid();
        let mut spread = [0u8; 8];
        spread.copy_from_slice(&id.as_bytes()[8..16]);
        let spread = u64::from_be_bytes(spread) ^ (meaning as u64).wrapping_mul(0x9e37_79b9);
        let window = custody_ledger::state::MAX_SIGNING_AGE_DAYS * 86_400 * 1_000_000;
        let lag = match spread % 4 {
            0 => 0,
            1 => window,
            2 => (spread >> 8) as i64 % (window + 1),
            _ => (spread >> 8) as i64 % 10_000_000,
        };
        let at = Timestamp::from_micros(self.b.now - lag).expect("in range");
        d.signed(Principal::User(u.clone()), meaning, key, at)
    }
    fn fresh_key(&mut self) -> SigningKey {
        self.fresh += 1;
        seeded_key(&format!("generated key {}", self.fresh))
    }

    /// Active users with one of `roles`, sorted, leaving out `not`.
    fn users(&self, roles: &[Role], not: &[&UserId]) -> Vec<UserId> {
        let mut v: Vec<UserId> = self
            .state()
            .users
            .iter()
            .filter(|(id, u)| u.active && roles.contains(&u.role) && !not.contains(id))
            .map(|(id, _)| id.clone())
            .collect();
        v.sort();
        v
    }
    /// Live containers that pass `f`, sorted by id.
    fn containers(&self, f: impl Fn(&ContainerState, &Strength) -> bool) -> Vec<ContainerState> {
        let mut v: Vec<ContainerState> = self
            .state()
            .containers
            .values()
            .filter(|c| f(c, &self.state().products[&c.product].strength))
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }
    fn strength(&self, c: &ContainerState) -> Strength {
        self.state().products[&c.product].strength
    }
    fn amount(&self, c: &ContainerState, base: u64) -> Amount {
        Amount::of(&self.strength(c), base).expect("the test products divide exactly")
    }

    fn receive(&mut self, product: &str, n: u32, location: &str, by: UserId) {
        let d = self.b.draft(Receipt {
            supplier: vectors::supplier_party(),
            invoice: format!("INV-{}", self.b.entries.len())
                .parse()
                .expect("valid"),
            received_on: self.today(),
            product: ndc(product),
            lot: format!("LOT{}", self.b.entries.len())
                .parse()
                .expect("valid"),
            expiry: "2027-06-30".parse().expect("valid"),
            containers: n,
            location: loc(location),
        });
        let d = self.sign(d, &by, Meaning::Authored);
        self.push(d, 10 * MINUTE);
    }

    /// One operation chosen by `op`, its target and details by `a` and `r`; skipped when
    /// nothing or nobody can do it.
    fn step(&mut self, op: u8, a: u32, r: u32) -> bool {
        let advance = i64::from(r % 4) * 20 * MINUTE;
        let is_open = |c: &ContainerState| matches!(c.status, ContainerStatus::Open { .. });
        // Open, and neither expired nor past its beyond-use date today.
        let today = self.today();
        let usable = |c: &ContainerState| {
            matches!(c.status, ContainerStatus::Open { beyond_use } if beyond_use >= today)
                && c.expiry >= today
        };
        match u32::from(op) % OPS {
            // Receive 1–4 containers of one product.
            0 => {
                let Some(by) = pick(&self.users(PHARMACIST, &[]), a) else {
                    return false;
                };
                let product = PRODUCTS[a as usize % 4];
                let location = LOCATIONS[(r / 4) as usize % 2];
                self.receive(product, 1 + r % 4, location, by);
            }
            // Open a sealed container.
            1 => {
                let sealed = self.containers(|c, _| c.status == ContainerStatus::Sealed);
                let (Some(c), Some(by)) = (pick(&sealed, a), pick(&self.users(WORKERS, &[]), r))
                else {
                    return false;
                };
                let d = self.b.draft(ContainerOpened {
                    container: c.id,
                    beyond_use: default_beyond_use(self.today(), c.expiry),
                    opened_at: None,
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // A dose of anything from 1 µL (or unit) to all that remains.
            2 | 3 => {
                let open = self.containers(|c, _| usable(c));
                let (Some(c), Some(by)) = (pick(&open, a), pick(&self.users(WORKERS, &[]), r))
                else {
                    return false;
                };
                let base = 1 + u64::from(r) % c.remaining;
                let route = match (self.strength(&c), c.product.to_string().as_str()) {
                    (Strength::Solution { .. }, _) if r.is_multiple_of(2) => Route::Iv,
                    (Strength::Solution { .. }, _) => Route::Im,
                    (_, SPRAVATO) => Route::Intranasal,
                    _ => Route::Sublingual,
                };
                // Not before the container was opened (format version 4).
                let given_at = Timestamp::from_micros(self.b.now - i64::from(a % 90) * MINUTE)
                    .expect("in range")
                    .max(self.state().opened_at(&c.id).unwrap_or(Timestamp::EPOCH));
                let d = self.b.draft(Administered {
                    container: c.id,
                    patient: PatientRef::commit(&[9; 32], &format!("MRN-{}", a % 7)),
                    prescriber: vectors::prescriber(),
                    amount: self.amount(&c, base),
                    route,
                    given_at,
                    given_by: by.clone(),
                    late_reason: None,
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // Waste what remains, witnessed.
            4 => {
                let open = self.containers(|c, _| is_open(c));
                let Some(c) = pick(&open, a) else {
                    return false;
                };
                let Some(by) = pick(&self.users(WORKERS, &[]), r) else {
                    return false;
                };
                let Some(witness) = pick(&self.users(WORKERS, &[&by]), r / 7) else {
                    return false;
                };
                let d = self.b.draft(Waste {
                    container: c.id,
                    amount: self.amount(&c, c.remaining),
                    reason: text!("end of beyond-use period"),
                });
                let d = self.sign(d, &by, Meaning::Authored);
                let d = self.sign(d, &witness, Meaning::Witnessed);
                self.push(d, advance);
            }
            // Move 1–3 containers to the other location, or out to another registrant.
            5 => {
                let live = self.containers(|_, _| true);
                let (Some(first), Some(by)) =
                    (pick(&live, a), pick(&self.users(PHARMACIST, &[]), r))
                else {
                    return false;
                };
                let here: Vec<ContainerId> = live
                    .iter()
                    .filter(|c| c.location == first.location && c.id >= first.id)
                    .map(|c| c.id)
                    .take(1 + r as usize % 3)
                    .collect();
                let to = if r.is_multiple_of(5) {
                    TransferTo::Registrant {
                        registrant: vectors::other_clinic(),
                    }
                } else {
                    let other = LOCATIONS
                        .into_iter()
                        .find(|l| *l != first.location.as_str())
                        .expect("two locations");
                    TransferTo::Location {
                        location: loc(other),
                    }
                };
                let d = self.b.draft(Transfer {
                    containers: here,
                    to,
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // Count one product at one location; sometimes the count differs, and sometimes a
            // pharmacist then resolves it with a witnessed adjustment.
            6 => {
                let Some(by) = pick(&self.users(WORKERS, &[]), r) else {
                    return false;
                };
                let location = loc(LOCATIONS[a as usize % 2]);
                let product = ndc(PRODUCTS[(a / 2) as usize % 4]);
                let expected = self.state().tally(&location, &product);
                let mut counted = expected;
                if r.is_multiple_of(3) {
                    counted.sealed = if expected.sealed > 0 {
                        expected.sealed - 1
                    } else {
                        1
                    };
                }
                let d = self.b.draft(Count {
                    location: location.clone(),
                    product,
                    blind: r.is_multiple_of(2),
                    expected,
                    counted,
                });
                let count_seq = Seq::new(self.b.entries.len() as u64).expect("small");
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
                if counted == expected || (r / 3) % 2 == 1 {
                    return true;
                }
                let here = self.containers(|c, _| c.location == location && c.product == product);
                let Some(c) = pick(&here, a / 8) else {
                    return true;
                };
                let Some(ph) = pick(&self.users(PHARMACIST, &[]), a / 3) else {
                    return true;
                };
                let Some(witness) = pick(&self.users(WORKERS, &[&ph]), r / 5) else {
                    return true;
                };
                // In the discrepancy's direction, and no more than remains of it (version 4).
                let Some(left) = self
                    .state()
                    .discrepancies_of(count_seq)
                    .next()
                    .map(|(_, d)| (d.direction, d.remaining))
                else {
                    return true;
                };
                let (direction, base) = match (left, c.status) {
                    ((_, 0), _) => return true,
                    ((Direction::Decrease, left), ContainerStatus::Sealed) => {
                        if c.remaining > left {
                            return true;
                        }
                        (Direction::Decrease, c.remaining)
                    }
                    ((Direction::Decrease, left), _) => (
                        Direction::Decrease,
                        1 + u64::from(r / 12) % c.remaining.min(left),
                    ),
                    ((Direction::Increase, _), ContainerStatus::Sealed) => return true,
                    ((Direction::Increase, left), _) => {
                        (Direction::Increase, 1 + u64::from(r / 12) % left.min(100))
                    }
                };
                let d = self.b.draft(Adjustment {
                    container: c.id,
                    resolves: Some(count_seq),
                    reason: AdjustmentReason::CountDiscrepancy,
                    direction,
                    amount: self.amount(&c, base),
                    note: text!("recounted"),
                });
                let d = self.sign(d, &ph, Meaning::Authored);
                let d = self.sign(d, &witness, Meaning::Witnessed);
                self.push(d, advance);
            }
            // Take-home supply: a sealed bottle or device, or units from an open one.
            7 => {
                let Some(by) = pick(&self.users(PHARMACIST, &[]), r) else {
                    return false;
                };
                let units = |s: &Strength| matches!(s, Strength::Units { .. });
                let sealed =
                    self.containers(|c, s| units(s) && c.status == ContainerStatus::Sealed);
                let open = self.containers(|c, s| units(s) && usable(c));
                let (sealed, from_open) = match (pick(&sealed, a), pick(&open, a)) {
                    (Some(c), _) if r.is_multiple_of(2) || open.is_empty() => (vec![c.id], vec![]),
                    (_, Some(c)) => {
                        let base = 1 + u64::from(r / 2) % c.remaining;
                        let item = ContainerAmount {
                            container: c.id,
                            amount: self.amount(&c, base),
                        };
                        (vec![], vec![item])
                    }
                    _ => return false,
                };
                let d = self.b.draft(Dispensed {
                    patient: PatientRef::commit(&[9; 32], &format!("MRN-{}", r % 7)),
                    prescriber: vectors::prescriber(),
                    sealed,
                    from_open,
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // A non-admin's role changes.
            8 => {
                let Some(admin) = pick(&self.users(&[Role::Admin], &[]), 0) else {
                    return false;
                };
                let others = [Role::Pharmacist, Role::Nurse, Role::Auditor];
                let Some(who) = pick(&self.users(&others, &[]), a) else {
                    return false;
                };
                let current = self.state().users[&who].role;
                let roles: Vec<Role> = others.into_iter().filter(|x| *x != current).collect();
                let d = self.b.draft(RoleChanged {
                    user: who,
                    role: pick(&roles, r).expect("two other roles"),
                    reason: text!("new duties"),
                });
                let d = self.sign(d, &admin, Meaning::Authored);
                self.push(d, advance);
            }
            // Someone's key is rotated, by themselves or by the admin.
            9 => {
                let Some(who) = pick(&self.users(Role::ALL, &[]), a) else {
                    return false;
                };
                let by = if r.is_multiple_of(2) {
                    who.clone()
                } else {
                    pick(&self.users(&[Role::Admin], &[]), 0).expect("the admin stays")
                };
                let new = self.fresh_key();
                let d = self.b.draft(KeyRotated {
                    subject: Principal::User(who.clone()),
                    new_key: PublicKey::from(&new),
                    reason: text!("new device"),
                });
                let d = self.sign(d, &by, Meaning::Authored);
                let d =
                    d.signed_when_made(Principal::User(who.clone()), Meaning::KeyPossession, &new);
                self.push(d, advance);
                self.keys.insert(who, new);
            }
            // Overfill found in an open vial.
            10 => {
                let open =
                    self.containers(|c, s| is_open(c) && matches!(s, Strength::Solution { .. }));
                let Some(c) = pick(&open, a) else {
                    return false;
                };
                let Some(ph) = pick(&self.users(PHARMACIST, &[]), r) else {
                    return false;
                };
                let Some(witness) = pick(&self.users(WORKERS, &[&ph]), a / 3) else {
                    return false;
                };
                let d = self.b.draft(Adjustment {
                    container: c.id,
                    resolves: None,
                    reason: AdjustmentReason::Overfill,
                    direction: Direction::Increase,
                    amount: self.amount(&c, 1 + u64::from(r) % 500),
                    note: text!("overfill"),
                });
                let d = self.sign(d, &ph, Meaning::Authored);
                let d = self.sign(d, &witness, Meaning::Witnessed);
                self.push(d, advance);
            }
            // A new colleague is enrolled.
            11 => {
                let Some(admin) = pick(&self.users(&[Role::Admin], &[]), 0) else {
                    return false;
                };
                let user = uid(&format!("temp{}", self.b.entries.len()));
                let role = [Role::Pharmacist, Role::Nurse, Role::Auditor][r as usize % 3];
                let key = self.fresh_key();
                let d = self.b.draft(UserEnrolled {
                    user: user.clone(),
                    printed_name: text!("Temporary Staff"),
                    role,
                    public_key: PublicKey::from(&key),
                });
                let d = self.sign(d, &admin, Meaning::Authored);
                let d =
                    d.signed_when_made(Principal::User(user.clone()), Meaning::KeyPossession, &key);
                self.push(d, advance);
                self.keys.insert(user, key);
            }
            // A colleague leaves (while enough others remain).
            12 => {
                let others = [Role::Pharmacist, Role::Nurse, Role::Auditor];
                let staff = self.users(&others, &[]);
                if staff.len() <= 3 {
                    return false;
                }
                let admin = pick(&self.users(&[Role::Admin], &[]), 0).expect("the admin stays");
                let d = self.b.draft(UserDeactivated {
                    user: pick(&staff, a).expect("not empty"),
                    reason: text!("left the clinic"),
                });
                let d = self.sign(d, &admin, Meaning::Authored);
                self.push(d, advance);
            }
            // A container destroyed (two witnesses) or lost: whole if sealed, any part if open.
            13 => {
                let live = self.containers(|_, _| true);
                let (Some(c), Some(ph)) = (pick(&live, a), pick(&self.users(PHARMACIST, &[]), r))
                else {
                    return false;
                };
                let base = if c.status == ContainerStatus::Sealed {
                    c.remaining
                } else {
                    1 + u64::from(r) % c.remaining
                };
                let items = vec![ContainerAmount {
                    container: c.id,
                    amount: self.amount(&c, base),
                }];
                if a.is_multiple_of(2) {
                    let w1 = pick(&self.users(WORKERS, &[&ph]), r / 3);
                    let w2 = w1
                        .as_ref()
                        .and_then(|w1| pick(&self.users(WORKERS, &[&ph, w1]), r / 5));
                    let (Some(w1), Some(w2)) = (w1, w2) else {
                        return false;
                    };
                    let d = self.b.draft(Destruction {
                        method: DestructionMethod::ReverseDistributor {
                            distributor: vectors::reverse_distributor(),
                        },
                        date: self.today(),
                        items,
                    });
                    let d = self.sign(d, &ph, Meaning::Authored);
                    let d = self.sign(d, &w1, Meaning::Witnessed);
                    let d = self.sign(d, &w2, Meaning::Witnessed);
                    self.push(d, advance);
                } else {
                    let d = self.b.draft(LossTheft {
                        loss_type: LossType::Other,
                        discovered_on: self.today(),
                        police_report: None,
                        items,
                        description: text!("not found at count"),
                        explains_count: None,
                    });
                    let d = self.sign(d, &ph, Meaning::Authored);
                    self.push(d, advance);
                }
            }
            // An inventory of one product at one place (format version 4): what the ledger
            // holds, lot by lot, sometimes with an open container measured short.
            15 => {
                let location = loc(LOCATIONS[a as usize % 2]);
                let product = ndc(PRODUCTS[(a / 2) as usize % 4]);
                let here = self.containers(|c, _| c.location == location && c.product == product);
                let (Some(ph), Some(first)) = (pick(&self.users(PHARMACIST, &[]), r), here.first())
                else {
                    return false;
                };
                let Some(witness) = pick(&self.users(WORKERS, &[&ph]), r / 5) else {
                    return false;
                };
                let mut lines: BTreeMap<String, InventoryLine> = BTreeMap::new();
                let mut short = r.is_multiple_of(3);
                for c in &here {
                    let line = lines.entry(c.lot.to_string()).or_insert(InventoryLine {
                        product,
                        lot: c.lot.clone(),
                        expiry: first.expiry,
                        location: location.clone(),
                        sealed: 0,
                        open: Vec::new(),
                    });
                    if c.status == ContainerStatus::Sealed {
                        line.sealed += 1;
                    } else {
                        let measured = if short && c.remaining > 1 {
                            short = false;
                            c.remaining - 1
                        } else {
                            c.remaining
                        };
                        line.open.push(OpenContainer {
                            container: Some(c.id),
                            amount: self.amount(c, measured),
                            estimated: false,
                            beyond_use: None,
                        });
                    }
                }
                let d = self.b.draft(Inventory {
                    occasion: if a.is_multiple_of(2) {
                        InventoryOccasion::Biennial
                    } else {
                        InventoryOccasion::Other
                    },
                    taken_at: BusinessHours::Close,
                    date: self.today(),
                    lines: lines.into_values().collect(),
                });
                let d = self.sign(d, &ph, Meaning::Authored);
                let d = self.sign(d, &witness, Meaning::Witnessed);
                self.push(d, advance);
            }
            // A loss not yet reported is reported to the DEA.
            16 => {
                let losses: Vec<(Seq, Day)> = self
                    .state()
                    .unreported_losses()
                    .map(|(s, l)| (*s, l.discovered_on))
                    .collect();
                let (Some((loss, discovered)), Some(by)) =
                    (pick(&losses, a), pick(&self.users(PHARMACIST, &[]), r))
                else {
                    return false;
                };
                let d = self.b.draft(LossReported {
                    loss,
                    notice_on: discovered,
                    form_106: format!("F106-{}", loss).parse().expect("valid"),
                    form_106_on: self.today(),
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // A REMS session closed over a patient's Spravato doses not in a session yet.
            17 => {
                let spray = ndc(SPRAVATO);
                let doses: Vec<(Seq, DoseState)> = self
                    .state()
                    .facts
                    .doses
                    .sprays()
                    .filter(|(s, d)| {
                        d.product == spray && self.state().session_of_dose(*s).is_none()
                    })
                    .map(|(s, d)| (s, *d))
                    .collect();
                let (Some((_, one)), Some(by)) =
                    (pick(&doses, a), pick(&self.users(WORKERS, &[]), r))
                else {
                    return false;
                };
                let mine: Vec<(Seq, DoseState)> = doses
                    .into_iter()
                    .filter(|(_, d)| d.patient == one.patient)
                    .collect();
                let started = mine.iter().map(|(_, d)| d.given_at).min().expect("one");
                let d = self.b.draft(RemsSessionClosed {
                    session: format!("RS-{}", self.b.entries.len())
                        .parse()
                        .expect("valid"),
                    patient: one.patient,
                    doses: mine.iter().map(|(s, _)| *s).collect(),
                    started_at: started,
                    discharged_at: Timestamp::from_micros(self.b.now)
                        .expect("in range")
                        .max(started),
                    record_sha256: EntryHash::from_bytes([a as u8; 32]),
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
            // A closed session's form submitted, or a PMP file sent.
            18 => {
                let open_forms: Vec<String> = self
                    .state()
                    .rems_sessions()
                    .iter()
                    .filter(|(_, s)| s.form_submitted_by.is_none())
                    .map(|(id, _)| id.clone())
                    .collect();
                if let (Some(session), Some(by)) =
                    (pick(&open_forms, a), pick(&self.users(WORKERS, &[]), r))
                    && a.is_multiple_of(2)
                {
                    let d = self.b.draft(RemsFormSubmitted {
                        session: session.parse().expect("valid"),
                        submitted_on: self.today(),
                        confirmation: format!("PMF-{r}").parse().expect("valid"),
                    });
                    let d = self.sign(d, &by, Meaning::Authored);
                    self.push(d, advance);
                } else {
                    let today = self.today();
                    let d = self.b.draft(PmpReported {
                        state: text!("MN"),
                        from: today.plus_days(-i64::from(r % 7)).unwrap_or(today),
                        to: today,
                        asap_version: text!("4.2B"),
                        control_number: format!("{r:09}").parse().expect("valid"),
                        records: r % 40,
                        file_sha256: EntryHash::from_bytes([r as u8; 32]),
                    });
                    let d = d.signed_when_made(
                        Principal::Registrant,
                        Meaning::Registrant,
                        &seeded_key("registrant"),
                    );
                    self.push(d, advance);
                }
            }
            // A report issued, signed by the registrant key (a version 2 entry).
            _ if a.is_multiple_of(3) => {
                let n = self.b.entries.len() as u64;
                let today = self.today();
                let d = self.b.draft(ReportIssued {
                    report: text!("audit"),
                    from: today.plus_days(-i64::from(r % 60)).unwrap_or(today),
                    to: today,
                    checkpoint_size: u64::from(r) % (n + 1),
                    data_digest: EntryHash::from_bytes([r as u8; 32]),
                    requested_by: text!("an auditor"),
                    format: custody_ledger::ReportFormat::Pdf,
                    reason: None,
                });
                let d = d.signed_when_made(
                    Principal::Registrant,
                    Meaning::Registrant,
                    &seeded_key("registrant"),
                );
                self.push(d, advance);
            }
            // A correction of any earlier entry.
            _ => {
                let Some(by) = pick(&self.users(&[Role::Admin, Role::Pharmacist], &[]), a) else {
                    return false;
                };
                let n = self.b.entries.len() as u64;
                let d = self.b.draft(Correction {
                    corrects: Seq::new(u64::from(r) % n).expect("small"),
                    reason: text!("documentation corrected"),
                });
                let d = self.sign(d, &by, Meaning::Authored);
                self.push(d, advance);
            }
        }
        true
    }

    /// Checks the history as an auditor would: decoded, and from stored bytes and hashes.
    fn check(&self) -> Result<(), TestCaseError> {
        let entries = &self.b.entries;
        let summary = verify_entries(entries, Some(trusted()))
            .map_err(|f| TestCaseError::fail(format!("a valid history failed: {f}")))?;
        prop_assert_eq!(summary.entries, entries.len() as u64);
        prop_assert_eq!(summary.head, entries.last().expect("entries").hash());

        let mut v = Verifier::new(Some(trusted()));
        for e in entries {
            let bytes = e.to_canonical_bytes();
            let decoded = v
                .push_bytes(&bytes, Some(&e.hash()))
                .map_err(|f| TestCaseError::fail(format!("stored bytes failed: {f}")))?;
            prop_assert_eq!(&decoded, e);
        }
        // The verifier folds the same inventory the rules built.
        prop_assert_eq!(on_hand(v.state()), on_hand(self.state()));
        // A store that loads only the rows each entry references reaches the same state.
        let mut full = State::new();
        for e in entries {
            let mut part = full.subset(&custody_ledger::state::references(e));
            let (_, touched) = part.apply(e).map_err(|x| {
                TestCaseError::fail(format!("the subset refused entry {}: {x}", e.seq))
            })?;
            full.absorb(part, &touched);
        }
        prop_assert_eq!(&full, v.state());
        v.finish()
            .map_err(|f| TestCaseError::fail(format!("stored bytes failed: {f}")))?;
        Ok(())
    }
}

fn ops() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_valid_histories_verify(ops in ops()) {
        let mut h = History::new();
        for (op, a, r) in ops {
            h.step(op, a, r);
        }
        h.check()?;
    }
}

/// A fixed stream of pseudo-random numbers, for fixed histories.
fn numbers(seed: u64) -> impl FnMut() -> u32 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 32) as u32
    }
}

/// The generator is not quietly skipping everything: a long fixed run reaches every kind a
/// history can grow by, and the result verifies.
#[test]
fn the_generator_reaches_every_operation() {
    let mut h = History::new();
    let mut next = numbers(0x9e37_79b9_7f4a_7c15);
    let mut done = 0;
    for i in 0..600u32 {
        if h.step((i % OPS) as u8, next(), next()) {
            done += 1;
        }
    }
    assert!(done > 300, "only {done} of 600 operations were possible");
    for k in Kind::ALL {
        if !matches!(
            k,
            Kind::Genesis | Kind::ProductDefined | Kind::LocationDefined
        ) {
            assert!(h.kinds.contains(k), "the generator never made a {k} entry");
        }
    }
    h.check().expect("the history verifies");
}

// ---------------------------------------------------------------------------------------------
// Tampering with stored bytes.

/// Where the encoding puts the chain fields (see docs/ledger-format.md): version, ledger id,
/// sequence number, previous hash, timestamp — then the signed body and the signatures.
const SEQ: Range<usize> = 17..25;
const PREV: Range<usize> = 25..57;
const TIMESTAMP: Range<usize> = 57..65;

struct Stored {
    entries: Vec<Entry>,
    bytes: Vec<Vec<u8>>,
    hashes: Vec<EntryHash>,
}

impl Stored {
    fn of(entries: Vec<Entry>) -> Self {
        let bytes = entries.iter().map(|e| e.to_canonical_bytes()).collect();
        let hashes = entries.iter().map(|e| e.hash()).collect();
        Self {
            entries,
            bytes,
            hashes,
        }
    }
}

/// The vector ledger (every kind of entry), as a store keeps it.
fn stored() -> &'static Stored {
    static STORED: OnceLock<Stored> = OnceLock::new();
    STORED.get_or_init(|| Stored::of(vectors::build()))
}

/// Feeds stored entries to a verifier as an auditor's tool would.
fn verify_stored(bytes: &[Vec<u8>], hashes: &[EntryHash]) -> Result<Summary, Box<Failure>> {
    let trusted = PublicKey::from(&seeded_key("registrant"));
    verify_with(Verifier::new(Some(trusted)), bytes, hashes)
}

/// The same with signatures checked on `threads` workers, `batch` at a time.
fn verify_parallel(
    bytes: &[Vec<u8>],
    hashes: &[EntryHash],
    threads: usize,
    batch: usize,
) -> Result<Summary, Box<Failure>> {
    let trusted = PublicKey::from(&seeded_key("registrant"));
    let v = Verifier::new(Some(trusted)).parallel_in_batches(threads, batch);
    verify_with(v, bytes, hashes)
}

fn verify_with(
    mut v: Verifier,
    bytes: &[Vec<u8>],
    hashes: &[EntryHash],
) -> Result<Summary, Box<Failure>> {
    for (b, h) in bytes.iter().zip(hashes) {
        v.push_bytes(b, Some(h)).map_err(Box::new)?;
    }
    v.finish().map_err(Box::new)
}

#[test]
fn the_stored_vectors_verify_and_the_chain_fields_are_where_the_tests_expect() {
    let s = stored();
    let summary = verify_stored(&s.bytes, &s.hashes).expect("the vectors verify");
    assert_eq!(summary.entries, s.entries.len() as u64);
    for (e, b) in s.entries.iter().zip(&s.bytes) {
        assert_eq!(b[0], e.version.byte());
        assert_eq!(&b[1..17], e.ledger.as_bytes());
        assert_eq!(b[SEQ].to_vec(), e.seq.to_canonical_bytes());
        assert_eq!(b[PREV].to_vec(), e.prev.to_canonical_bytes());
        assert_eq!(b[TIMESTAMP].to_vec(), e.timestamp.to_canonical_bytes());
    }
}

/// The stored ledger with byte `pos` of entry `i` xored with `x`.
fn flipped(i: usize, pos: usize, x: u8) -> Vec<Vec<u8>> {
    let mut bytes = stored().bytes.clone();
    bytes[i][pos] ^= x;
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The store kept each entry's hash: any changed byte is caught at that entry, as
    /// undecodable, not canonical, or not matching its stored hash.
    #[test]
    fn any_changed_byte_is_caught_at_that_entry(entry in any::<Index>(), at in any::<Index>(), x in 1u8..=255) {
        let s = stored();
        let i = entry.index(s.entries.len());
        let pos = at.index(s.bytes[i].len());
        let bytes = flipped(i, pos, x);
        let f = verify_stored(&bytes, &s.hashes).expect_err("a changed byte is caught");
        prop_assert_eq!(f.seq, i as u64, "byte {} of entry {}: {}", pos, i, f);
        prop_assert!(
            matches!(
                f.reason,
                Reason::HashMismatch { .. } | Reason::Undecodable(_) | Reason::NotCanonical
            ),
            "byte {} of entry {}: {}", pos, i, f
        );
    }

    /// The attacker also rewrote the changed entry's stored hash. Everything signers sign (the
    /// body, under a context naming the ledger, kind, signer, meaning and key) and the chain
    /// fields the rules check (sequence number, previous hash) are still caught at that entry.
    /// In a version 1 or 2 entry the timestamp is neither signed nor linked from behind: a
    /// changed timestamp that still runs forward is caught by the next entry's link — and, on
    /// the last entry, only by a head hash the auditor already holds. In a version 3 entry the
    /// sequencer signs it: every byte is caught at that entry.
    #[test]
    fn a_changed_byte_with_a_rewritten_hash_is_caught_at_that_entry_or_its_link(entry in any::<Index>(), at in any::<Index>(), x in 1u8..=255) {
        let s = stored();
        let n = s.entries.len();
        let i = entry.index(n);
        let pos = at.index(s.bytes[i].len());
        let bytes = flipped(i, pos, x);
        let mut hashes = s.hashes.clone();
        hashes[i] = hash_encoded(&bytes[i]);
        match verify_stored(&bytes, &hashes) {
            Err(f) if f.seq == i as u64 => {}
            Err(f) if f.seq == i as u64 + 1 => {
                prop_assert!(TIMESTAMP.contains(&pos), "byte {} of entry {} caught only at the next: {}", pos, i, f);
                prop_assert!(!s.entries[i].version.is_sequenced(), "version 3 entry {} re-timed, caught only at the next: {}", i, f);
                prop_assert_eq!(
                    f.reason,
                    Reason::Rule(Violation::BrokenLink { expected: hashes[i], found: s.hashes[i] })
                );
            }
            Err(f) => {
                return Err(TestCaseError::fail(format!(
                    "byte {pos} of entry {i} caught at entry {}: {f}",
                    f.seq
                )));
            }
            Ok(summary) => {
                prop_assert!(
                    i == n - 1 && TIMESTAMP.contains(&pos) && !s.entries[i].version.is_sequenced(),
                    "byte {} of entry {} was not caught", pos, i
                );
                prop_assert_ne!(summary.head, s.hashes[n - 1]);
            }
        }
    }
}

/// The signed parts are caught at the entry itself even when its hash is rewritten: each
/// byte of one entry with several signatures (a destruction with two witnesses), one by one.
#[test]
fn every_signed_byte_of_an_entry_is_caught_at_that_entry() {
    let s = stored();
    let i = s
        .entries
        .iter()
        .position(|e| e.kind() == Kind::Destruction)
        .expect("the vectors have a destruction");
    assert!(i + 1 < s.entries.len());
    for pos in 0..s.bytes[i].len() {
        let bytes = flipped(i, pos, 0x01);
        let mut hashes = s.hashes.clone();
        hashes[i] = hash_encoded(&bytes[i]);
        let f = verify_stored(&bytes, &hashes).expect_err("caught");
        if TIMESTAMP.contains(&pos) {
            assert!(
                f.seq == i as u64 || f.seq == i as u64 + 1,
                "byte {pos}: {f}"
            );
        } else {
            assert_eq!(f.seq, i as u64, "byte {pos}: {f}");
        }
    }
}

/// In version 3 the sequencer signs the entry's place and time: with its hash rewritten, every
/// byte of a version 3 entry (a witnessed waste of the vectors) is caught at that entry, the
/// timestamp's and the sequence number's by the sequencer signature where no rule catches them.
#[test]
fn every_byte_of_a_version_3_entry_is_caught_at_that_entry() {
    let s = stored();
    let i = s
        .entries
        .iter()
        .position(|e| e.version.is_sequenced() && e.kind() == Kind::Waste)
        .expect("the vectors have a version 3 waste");
    assert!(i + 1 < s.entries.len());
    let mut by_sequencer = BTreeSet::new();
    for pos in 0..s.bytes[i].len() {
        let bytes = flipped(i, pos, 0x01);
        let mut hashes = s.hashes.clone();
        hashes[i] = hash_encoded(&bytes[i]);
        let f = verify_stored(&bytes, &hashes).expect_err("caught");
        assert_eq!(f.seq, i as u64, "byte {pos}: {f}");
        if matches!(f.reason, Reason::BadSequencerSignature { .. }) {
            by_sequencer.insert(pos);
        }
    }
    // The low bytes of the timestamp move it a little, later: only the sequencer sees that.
    for pos in [TIMESTAMP.end - 1, TIMESTAMP.end - 2, TIMESTAMP.end - 3] {
        if stored().bytes[i][pos] & 0x01 == 0 {
            assert!(by_sequencer.contains(&pos), "timestamp byte {pos}");
        }
    }
    let last = s.bytes[i].len() - 1;
    assert!(
        by_sequencer.contains(&last),
        "the sequencer signature's own last byte"
    );
}

// ---------------------------------------------------------------------------------------------
// The first entry that fails is the one named, even when later entries fail too.

/// A history whose entry `i` carries a signature made for another ledger — the rules accept it,
/// only the signature check refuses it — followed by more valid entries.
fn forged() -> &'static (Stored, usize) {
    static FORGED: OnceLock<(Stored, usize)> = OnceLock::new();
    FORGED.get_or_init(|| forged_after(20))
}

/// A history as `forged`'s, with the forged entry after `steps` operations.
fn forged_after(steps: u32) -> (Stored, usize) {
    {
        let mut h = History::new();
        let mut next = numbers(7);
        for i in 0..steps {
            h.step((i % OPS) as u8, next(), next());
        }
        let c = h
            .containers(|c, _| c.status == ContainerStatus::Sealed)
            .first()
            .cloned()
            .expect("a sealed container");
        let mut d = h.b.draft(ContainerOpened {
            container: c.id,
            beyond_use: default_beyond_use(h.today(), c.expiry),
            opened_at: None,
        });
        d.ledger = LedgerId::from_bytes([0x43; 16]);
        let mut d = h.sign(d, &uid("nina"), Meaning::Authored);
        d.ledger = h.b.ledger;
        let i = h.b.entries.len();
        h.push(d, 10 * MINUTE);
        for i in 0..40u32 {
            h.step((i % OPS) as u8, next(), next());
        }
        (Stored::of(h.b.entries), i)
    }
}

fn is_forged_signature(f: &Failure, i: usize) -> bool {
    f.seq == i as u64 && matches!(f.reason, Reason::BadSignature { index: 0, .. })
}

#[test]
fn a_forged_signature_is_named_at_its_entry() {
    let (s, i) = forged();
    assert!(s.entries.len() > i + 10);
    let f = verify_stored(&s.bytes, &s.hashes).expect_err("refused");
    assert!(is_forged_signature(&f, *i), "{f}");
    let f = verify_entries(&s.entries, Some(trusted())).expect_err("refused");
    assert!(is_forged_signature(&f, *i), "{f}");
    let f = verify_parallel(&s.bytes, &s.hashes, 2, 256).expect_err("refused");
    assert!(is_forged_signature(&f, *i), "{f}");
}

/// How many signature checks the entries before `i` make (each signature, and a version 3
/// entry's sequencer signature): the forged signature's place in the stream of checks.
fn checks_before(s: &Stored, i: usize) -> usize {
    s.entries[..i]
        .iter()
        .map(|e| e.signatures.len() + usize::from(e.version.byte() >= 3))
        .sum()
}

/// Signatures checked in parallel: a forged signature is found at whatever place it holds in
/// its batch (first, last, between), by one worker or several or by the reading thread (which
/// checks a batch itself whenever the workers are all busy; with none, every batch), and it is
/// still the entry named.
#[test]
fn a_forged_signature_is_found_at_every_place_in_a_parallel_batch() {
    const BATCH: usize = 5;
    let mut places = BTreeSet::new();
    for steps in 20..60 {
        let (s, i) = forged_after(steps);
        let place = checks_before(&s, i) % BATCH;
        if !places.insert(place) {
            continue;
        }
        for threads in [0, 1, 2, 3] {
            let f = verify_parallel(&s.bytes, &s.hashes, threads, BATCH).expect_err("refused");
            assert!(
                is_forged_signature(&f, i),
                "place {place}, {threads} threads: {f}"
            );
        }
        if places.len() == BATCH {
            break;
        }
    }
    assert_eq!(
        places.len(),
        BATCH,
        "the forged signature took every place: {places:?}"
    );
    let s = stored();
    for threads in [0, 2] {
        let summary =
            verify_parallel(&s.bytes, &s.hashes, threads, BATCH).expect("the vectors verify");
        assert_eq!(summary.entries, s.entries.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A later entry broken in any byte — with or without its stored hash rewritten — does not
    /// hide the earlier forged signature: the verifier names the first entry that fails.
    #[test]
    fn a_later_broken_entry_does_not_hide_an_earlier_bad_signature(
        entry in any::<Index>(), at in any::<Index>(), x in 1u8..=255, rewrite in any::<bool>()
    ) {
        let (s, i) = forged();
        let j = i + 1 + entry.index(s.entries.len() - i - 1);
        let pos = at.index(s.bytes[j].len());
        let mut bytes = s.bytes.clone();
        bytes[j][pos] ^= x;
        let mut hashes = s.hashes.clone();
        if rewrite {
            hashes[j] = hash_encoded(&bytes[j]);
        }
        let f = verify_stored(&bytes, &hashes).expect_err("refused");
        prop_assert!(is_forged_signature(&f, *i), "byte {} of entry {}: {}", pos, j, f);
        let f = verify_parallel(&bytes, &hashes, 2, 4).expect_err("refused");
        prop_assert!(is_forged_signature(&f, *i), "in parallel, byte {} of entry {}: {}", pos, j, f);
    }
}

/// The same for a later genesis naming a registrant key the auditor does not trust.
#[test]
fn a_later_untrusted_genesis_does_not_hide_an_earlier_bad_signature() {
    let (s, i) = forged();
    let last = s.entries.last().expect("entries");
    let rogue = seeded_key("rogue registrant");
    let genesis = Draft::new(
        last.ledger,
        vectors::seeded_entry_id(
            s.entries.len() as u64,
            (last.timestamp.micros() / 1000) as u64,
        ),
        Genesis {
            registrant: vectors::registrant_party(),
            registrant_key: PublicKey::from(&rogue),
        },
    )
    .signed_when_made(Principal::Registrant, Meaning::Registrant, &rogue)
    .chain(
        Seq::new(s.entries.len() as u64).expect("small"),
        last.hash(),
        last.timestamp,
    );
    let mut entries = s.entries.clone();
    entries.push(genesis);
    let f = verify_entries(&entries, Some(trusted())).expect_err("refused");
    assert!(is_forged_signature(&f, *i), "{f}");
}
