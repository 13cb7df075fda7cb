//! A treatment session: a dose worked out (in mg, or in mg/kg from the patient's weight, in
//! exact integers), given from the container custody proposes or one the person picks —
//! opened first when it is sealed — and, when asked, the rest of the vial wasted before a
//! witness. Spravato takes the devices of one lot, each opened and given. Whatever it takes,
//! it is one ceremony: the giver's one password signs every entry, the witness's signs the
//! waste, and the entries are appended all or nothing.

use custody_ledger::*;
use custody_store::ContainerInfo;

use super::stock::{beyond_use_from, today};
use super::{Ceremony, Origin, Outcome, Planned, fingerprint};
use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::session::Session;

/// How the dose was ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoseOrder {
    /// So many mg.
    Mg(Micrograms),
    /// So many mg per kg of the patient's weight (the µg here are per kg).
    PerKg { per_kg: Micrograms, weight: Grams },
}

/// A dose worked out from the patient's weight, exactly, and what it came to in a measurable
/// amount of the product (a whole µL, a whole unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByWeight {
    pub per_kg: Micrograms,
    pub weight: Grams,
    /// mg/kg × kg, exactly, in nanograms.
    pub exact_ng: u128,
    /// What is given: the exact dose, or the nearest measurable amount when it is not one.
    pub amount: Amount,
    pub rounded: bool,
}

/// `35_200_000` ng → `"35.2"` (mg).
fn millionths(ng: u128) -> String {
    let whole = ng / 1_000_000;
    let frac = ng % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

/// The amount as people say it: "35.2 mg = 3.52 mL", "84 mg = 3 units".
pub fn mg_and_base(a: &Amount) -> String {
    match a {
        Amount::Volume { ul, ug } => format!("{ug} = {ul}"),
        Amount::Units { units, ug } => format!("{ug} = {units}"),
    }
}

impl ByWeight {
    /// The arithmetic and the result, the rounding stated: "0.5 mg/kg × 70.4 kg = 35.2 mg
    /// = 3.52 mL, exact".
    pub fn said(&self) -> String {
        let head = format!(
            "{} mg/kg × {} = {} mg",
            custody_ledger::types::quantity::thousandths(self.per_kg.get()),
            self.weight,
            millionths(self.exact_ng)
        );
        if self.rounded {
            let step = match self.amount {
                Amount::Volume { .. } => "0.001 mL",
                Amount::Units { .. } => "whole unit",
            };
            format!(
                "{head}, rounded to the nearest {step}: {}",
                mg_and_base(&self.amount)
            )
        } else {
            let base = match &self.amount {
                Amount::Volume { ul, .. } => ul.to_string(),
                Amount::Units { units, .. } => units.to_string(),
            };
            format!("{head} = {base}, exact")
        }
    }
}

/// Works out `per_kg` × `weight` for `strength` in integers: the exact dose in nanograms,
/// then the nearest whole µL (or unit), half up, and the µg that holds. The rounding is
/// reported, never silent; a dose that rounds to nothing, or to an amount that is not a
/// whole number of µg, is refused.
pub fn dose_by_weight(
    per_kg: Micrograms,
    weight: Grams,
    strength: &Strength,
) -> Result<ByWeight, String> {
    // µg/kg × g = ng.
    let exact_ng = u128::from(per_kg.get()) * u128::from(weight.get());
    // ng per base unit: a µL of a solution holds per_ml ng; a unit holds per_unit × 1000.
    let per_base = match strength {
        Strength::Solution { per_ml, .. } => u128::from(per_ml.get()),
        Strength::Units { per_unit, .. } => u128::from(per_unit.get()) * 1000,
    };
    if per_base == 0 {
        return Err("the product's strength is zero".into());
    }
    let base = (exact_ng + per_base / 2) / per_base;
    if base == 0 {
        return Err(format!(
            "{} mg is less than the smallest amount of this product that can be measured",
            millionths(exact_ng)
        ));
    }
    let base = u64::try_from(base).map_err(|_| "the dose is too large".to_string())?;
    let amount = Amount::of(strength, base)
        .ok_or_else(|| "the dose is not a whole number of µg of this product".to_string())?;
    Ok(ByWeight {
        per_kg,
        weight,
        exact_ng,
        rounded: u128::from(base) * per_base != exact_ng,
        amount,
    })
}

/// The rest of the vial, wasted before a witness in the same ceremony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasteTheRest {
    pub reason: Text,
    pub witness: UserId,
    /// The amount Review showed (the dialog carries it back): none, everything left after
    /// the dose.
    pub amount: Option<Micrograms>,
}

/// A dose given in a treatment session.
#[derive(Debug, Clone)]
pub struct GiveDose {
    /// The patient's MRN; only a keyed commitment of it enters the ledger.
    pub patient: String,
    pub product: Ndc,
    pub dose: DoseOrder,
    /// The containers to give from; none: custody proposes them.
    pub containers: Vec<ContainerId>,
    pub prescriber: Prescriber,
    /// Default: the usual route of the product's form.
    pub route: Option<Route>,
    /// Default: now.
    pub given_at: Option<Timestamp>,
    pub waste: Option<WasteTheRest>,
}

/// One container of a session: opened first when sealed, then given from.
#[derive(Debug, Clone)]
pub struct Step {
    pub container: ContainerInfo,
    /// The beyond-use date it gets when it is opened in this session.
    pub opens: Option<Day>,
    pub given: Amount,
}

/// What a session will record, worked out before any password.
#[derive(Debug, Clone)]
pub struct DosePlan {
    pub product: ProductDefined,
    pub by_weight: Option<ByWeight>,
    /// The whole dose.
    pub dose: Amount,
    pub route: Route,
    pub given_at: Timestamp,
    pub patient: PatientRef,
    pub prescriber: Prescriber,
    pub steps: Vec<Step>,
    /// The waste of the rest: the container and how much.
    pub waste: Option<(ContainerId, Amount)>,
}

impl DosePlan {
    /// The entries, in order: for each container its opening (when sealed) and its dose;
    /// then the waste, witnessed.
    fn planned(&self, s: &Session, waste: Option<&WasteTheRest>) -> Vec<Planned> {
        let mut out = Vec::new();
        for step in &self.steps {
            if let Some(beyond_use) = step.opens {
                out.push(Planned::new(ContainerOpened {
                    container: step.container.id,
                    beyond_use,
                    // Opened at the bedside for this dose: when the dose was given, which a
                    // late-charted dose states (the ledger refuses a dose before its opening).
                    opened_at: Some(self.given_at),
                }));
            }
            out.push(Planned::new(Administered {
                container: step.container.id,
                patient: self.patient,
                prescriber: self.prescriber.clone(),
                amount: step.given,
                route: self.route,
                given_at: self.given_at,
                given_by: s.user.clone(),
                late_reason: None,
            }));
        }
        if let (Some((c, amount)), Some(w)) = (&self.waste, waste) {
            out.push(
                Planned::new(Waste {
                    container: *c,
                    amount: *amount,
                    reason: w.reason.clone(),
                })
                .witnessed_by([w.witness.clone()]),
            );
        }
        out
    }
}

/// Whether a container can be given from on `today`: live, not past its lot's expiry or its
/// beyond-use date, and holding something.
pub fn usable(c: &ContainerInfo, today: Day) -> bool {
    c.expiry >= today
        && match c.status {
            ContainerStatus::Sealed => true,
            ContainerStatus::Open { beyond_use } => beyond_use >= today && c.remaining > 0,
            _ => false,
        }
}

/// The devices of a single-use product to give `n` of: from one lot at one location, the
/// lot that expires first; open devices before sealed ones.
fn propose_devices(mut cs: Vec<ContainerInfo>, n: usize) -> Option<Vec<ContainerInfo>> {
    cs.sort_by(|a, b| {
        let open = |c: &ContainerInfo| !matches!(c.status, ContainerStatus::Open { .. });
        (a.expiry, a.lot.as_str(), a.location.as_str(), open(a), a.id).cmp(&(
            b.expiry,
            b.lot.as_str(),
            b.location.as_str(),
            open(b),
            b.id,
        ))
    });
    let mut i = 0;
    while i < cs.len() {
        let same: Vec<ContainerInfo> = cs[i..]
            .iter()
            .take_while(|c| c.lot == cs[i].lot && c.location == cs[i].location)
            .cloned()
            .collect();
        if same.len() >= n {
            return Some(same.into_iter().take(n).collect());
        }
        i += same.len().max(1);
    }
    None
}

/// The container to give `base` (µL or units) from: an open one holding enough, the one
/// whose beyond-use date comes first; else a sealed one holding enough, the one that expires
/// first; else the open one, or the sealed one, that comes first (the rules then say why it
/// will not do).
fn propose_one(cs: Vec<ContainerInfo>, base: u64) -> Option<ContainerInfo> {
    let bud = |c: &ContainerInfo| match c.status {
        ContainerStatus::Open { beyond_use } => Some(beyond_use),
        _ => None,
    };
    let open_enough = cs
        .iter()
        .filter(|c| bud(c).is_some() && c.remaining >= base)
        .min_by_key(|c| (bud(c), c.expiry, c.id));
    let sealed_enough = cs
        .iter()
        .filter(|c| c.status == ContainerStatus::Sealed && c.capacity >= base)
        .min_by_key(|c| (c.expiry, c.id));
    let any_open = cs
        .iter()
        .filter(|c| bud(c).is_some())
        .min_by_key(|c| (bud(c), c.id));
    let any_sealed = cs
        .iter()
        .filter(|c| c.status == ContainerStatus::Sealed)
        .min_by_key(|c| (c.expiry, c.id));
    open_enough
        .or(sealed_enough)
        .or(any_open)
        .or(any_sealed)
        .cloned()
}

impl Clinic {
    /// The containers a dose of `product` would be given from, as custody proposes them.
    async fn proposal(
        &self,
        s: &Session,
        product: &ProductDefined,
        dose: &Amount,
        allowed: &(dyn Fn(&ContainerInfo) -> bool + Sync),
    ) -> ClinicResult<Vec<ContainerInfo>> {
        let day = today();
        let cs: Vec<ContainerInfo> = self
            .store
            .containers(s.ledger, true)
            .await?
            .into_iter()
            .filter(|c| c.product.ndc == product.ndc && usable(c, day) && allowed(c))
            .collect();
        let none = || {
            ClinicError::invalid(
                "container",
                format!("no container of {} is on hand to give from", product.name),
            )
        };
        if product.strength.single_use() {
            let n = usize::try_from(dose.base()).map_err(ClinicError::internal)?;
            return propose_devices(cs, n).ok_or_else(|| {
                ClinicError::invalid(
                    "container",
                    format!(
                        "no lot of {} has {n} devices on hand at one location",
                        product.name
                    ),
                )
            });
        }
        propose_one(cs, dose.base())
            .map(|c| vec![c])
            .ok_or_else(none)
    }

    /// The dose `cmd` orders, worked out for its product.
    fn dose_of(
        product: &ProductDefined,
        order: DoseOrder,
    ) -> ClinicResult<(Amount, Option<ByWeight>)> {
        match order {
            DoseOrder::Mg(ug) => {
                if ug.is_zero() {
                    return Err(ClinicError::Refused(Violation::ZeroQuantity("the dose")));
                }
                let a = Amount::of_micrograms(&product.strength, ug).ok_or_else(|| {
                    ClinicError::invalid(
                        "dose_mg",
                        match product.strength {
                            Strength::Units { per_unit, .. } => format!(
                                "{ug} is not a whole number of {per_unit} units of {}",
                                product.name
                            ),
                            Strength::Solution { .. } => {
                                format!("{ug} of {} is not a whole number of µL", product.name)
                            }
                        },
                    )
                })?;
                Ok((a, None))
            }
            DoseOrder::PerKg { per_kg, weight } => {
                if per_kg.is_zero() {
                    return Err(ClinicError::invalid("dose_mg", "the dose per kg is zero"));
                }
                if weight.is_zero() {
                    return Err(ClinicError::invalid("weight_kg", "the weight is zero"));
                }
                let w = dose_by_weight(per_kg, weight, &product.strength)
                    .map_err(|m| ClinicError::invalid("dose_mg", m))?;
                Ok((w.amount, Some(w)))
            }
        }
    }

    /// Works out what a session will record: the dose, the containers (proposed or chosen),
    /// which of them are opened, and the rest to waste. Nothing is checked against the
    /// ledger's rules here; `give_dose` does that (a dry run) before any password.
    pub async fn plan_dose(&self, s: &Session, cmd: &GiveDose) -> ClinicResult<DosePlan> {
        if cmd.patient.trim().is_empty() {
            return Err(ClinicError::invalid(
                "patient",
                "a patient reference is needed",
            ));
        }
        let product = self
            .store
            .products(s.ledger)
            .await?
            .into_iter()
            .find(|p| p.ndc == cmd.product)
            .ok_or_else(|| {
                ClinicError::invalid(
                    "product",
                    format!("product {} is not defined in this ledger", cmd.product),
                )
            })?;
        self.check_rems(s, &product, &cmd.patient).await?;
        let (dose, by_weight) = Self::dose_of(&product, cmd.dose)?;
        let single = product.strength.single_use();
        let labels = self.patient_labels(s).await?;
        let patient = self.patient_ref(s, &cmd.patient).await?;
        let containers = if cmd.containers.is_empty() {
            // Never proposed: what is labelled for someone else, or waited too long.
            let ok = |c: &ContainerInfo| self.check_label(&labels, &c.id, &patient).is_ok();
            self.proposal(s, &product, &dose, &ok).await?
        } else {
            let mut cs = Vec::with_capacity(cmd.containers.len());
            for id in &cmd.containers {
                let c = self
                    .store
                    .container(s.ledger, id)
                    .await?
                    .ok_or_else(|| super::unknown_container(id))?;
                if c.product.ndc != product.ndc {
                    return Err(ClinicError::invalid(
                        "container",
                        format!(
                            "container {id} holds {}, not {}",
                            c.product.name, product.name
                        ),
                    ));
                }
                self.check_label(&labels, id, &patient)?;
                cs.push(c);
            }
            cs
        };
        let wanted = if single {
            usize::try_from(dose.base()).map_err(ClinicError::internal)?
        } else {
            1
        };
        if containers.len() != wanted {
            return Err(ClinicError::invalid(
                "container",
                if single {
                    format!(
                        "a dose of {} takes {wanted} device(s); {} chosen",
                        dose.micrograms(),
                        containers.len()
                    )
                } else {
                    "a dose is given from one container".to_string()
                },
            ));
        }
        let day = today();
        let mut steps = Vec::with_capacity(containers.len());
        for c in containers {
            let opens = (c.status == ContainerStatus::Sealed).then(|| beyond_use_from(day, &c));
            let given = if single {
                Amount::of(&product.strength, 1)
                    .ok_or_else(|| ClinicError::internal("a device's amount cannot be stated"))?
            } else {
                dose
            };
            steps.push(Step {
                container: c,
                opens,
                given,
            });
        }
        let waste = match &cmd.waste {
            None => None,
            Some(_) if single => {
                return Err(ClinicError::invalid(
                    "waste",
                    "a device is used whole: nothing is left in it to waste",
                ));
            }
            Some(w) => {
                let c = &steps[0].container;
                let held = if c.status == ContainerStatus::Sealed {
                    c.capacity
                } else {
                    c.remaining
                };
                let amount = match w.amount {
                    Some(ug) => self.amount_of(s, &c.id, ug, "waste_mg").await?,
                    None => {
                        let rest = held.saturating_sub(dose.base());
                        if rest == 0 {
                            return Err(ClinicError::invalid(
                                "waste",
                                format!("nothing is left in container {} after the dose", c.id),
                            ));
                        }
                        Amount::of(&product.strength, rest).ok_or_else(|| {
                            ClinicError::internal("the amount left cannot be stated")
                        })?
                    }
                };
                Some((c.id, amount))
            }
        };
        Ok(DosePlan {
            route: cmd.route.unwrap_or(product.form.default_route()),
            given_at: cmd.given_at.unwrap_or_else(custody_store::clock::now),
            patient: self.commit_patient(s.ledger, &cmd.patient).await?,
            prescriber: cmd.prescriber.clone(),
            product,
            by_weight,
            dose,
            steps,
            waste,
        })
    }

    /// Gives a dose in one ceremony (see the module comment). A dry run checks every entry
    /// against the ledger's rules, in order, before any password.
    pub async fn give_dose(
        &self,
        s: &Session,
        cmd: GiveDose,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<(Option<DosePlan>, Outcome)> {
        let patient = self.commit_patient(s.ledger, &cmd.patient).await?;
        // Recognised again by what it asks, the patient by commitment: a request row holds
        // no MRN.
        let what = (
            patient,
            cmd.product,
            cmd.dose,
            &cmd.containers,
            &cmd.prescriber,
            cmd.route,
            cmd.given_at,
            &cmd.waste,
        );
        // A repeated request answers with what it recorded (and no plan: planned now, it
        // could come out otherwise, the vial it emptied being empty).
        let fp = fingerprint(s, &what);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok((None, o));
        }
        let plan = self.plan_dose(s, &cmd).await?;
        let entries = plan.planned(s, cmd.waste.as_ref());
        let o = self.record(s, &what, entries, ceremony, origin).await?;
        // A twin that got there first is answered with its entries, like a repeat.
        Ok(((!o.repeated()).then_some(plan), o))
    }

    /// The patient's last dose (its prescriber and product are offered again).
    pub async fn last_dose(&self, s: &Session, mrn: &str) -> ClinicResult<Option<Administered>> {
        s.require(s.ledger, crate::policy::Permission::ReadPatients)?;
        let p = self.commit_patient(s.ledger, mrn).await?;
        Ok(self.store.last_dose_to(s.ledger, &p).await?)
    }

    /// Patients whose MRN or name holds `q` (any case), at most `limit`.
    pub async fn find_patients(
        &self,
        s: &Session,
        q: &str,
        limit: usize,
    ) -> ClinicResult<Vec<custody_store::PatientRecord>> {
        let q = q.trim().to_lowercase();
        let mut ps = self.patients(s).await?;
        ps.retain(|p| {
            q.is_empty() || p.mrn.to_lowercase().contains(&q) || p.name.to_lowercase().contains(&q)
        });
        ps.sort_by(|a, b| a.name.cmp(&b.name).then(a.mrn.cmp(&b.mrn)));
        ps.truncate(limit);
        Ok(ps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ketamine_10() -> Strength {
        Strength::Solution {
            per_ml: Micrograms::new(10_000),
            volume: Microliters::new(20_000),
        }
    }

    #[test]
    fn half_a_mg_per_kg_for_70_4_kg_is_35_2_mg_exactly() {
        let w = dose_by_weight(Micrograms::new(500), Grams::new(70_400), &ketamine_10()).unwrap();
        assert_eq!(w.exact_ng, 35_200_000);
        assert!(!w.rounded);
        assert_eq!(w.amount.micrograms(), Micrograms::new(35_200));
        assert_eq!(w.amount.base(), 3_520);
        assert_eq!(w.said(), "0.5 mg/kg × 70.4 kg = 35.2 mg = 3.52 mL, exact");
    }

    #[test]
    fn a_dose_that_is_not_measurable_is_rounded_and_says_so() {
        // 0.333 mg/kg × 70.4 kg = 23.4432 mg = 2.34432 mL: the nearest µL is 2.344 mL.
        let w = dose_by_weight(Micrograms::new(333), Grams::new(70_400), &ketamine_10()).unwrap();
        assert!(w.rounded);
        assert_eq!(w.amount.base(), 2_344);
        assert_eq!(w.amount.micrograms(), Micrograms::new(23_440));
        assert_eq!(
            w.said(),
            "0.333 mg/kg × 70.4 kg = 23.4432 mg, rounded to the nearest 0.001 mL: 23.44 mg = 2.344 mL"
        );
        // Half a µL rounds up: 0.005 mg/kg × 1 kg = 0.005 mg = 0.5 µL → 1 µL.
        let w = dose_by_weight(Micrograms::new(5), Grams::new(1_000), &ketamine_10()).unwrap();
        assert_eq!((w.amount.base(), w.rounded), (1, true));
    }

    #[test]
    fn too_little_to_measure_is_refused() {
        let e = dose_by_weight(Micrograms::new(1), Grams::new(1_000), &ketamine_10()).unwrap_err();
        assert!(e.contains("less than the smallest amount"), "{e}");
    }

    #[test]
    fn devices_come_from_one_lot_at_one_location() {
        let strength = Strength::Units {
            per_unit: Micrograms::new(28_000),
            units: Units::new(1),
        };
        let w = dose_by_weight(Micrograms::new(1_000), Grams::new(56_000), &strength).unwrap();
        assert_eq!((w.amount.base(), w.rounded), (2, false));
    }
}
