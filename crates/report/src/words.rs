//! How amounts and strengths are said, the one way for the web pages (which re-export these)
//! and the reports (PDF and CSV): "14.8 mL", "3 units", "10 mg/mL, 20 mL per container",
//! "18 sealed and 2 mL in open containers". It lives here, below the API, so that a report
//! and a page can never say the same amount two ways.

use custody_ledger::*;

/// An amount in a product's base unit as people read it, in the ledger's own words:
/// "14.8 mL", "1 unit", "3 units".
pub fn quantity(strength: &Strength, base: u64) -> String {
    match strength {
        Strength::Solution { .. } => Microliters::new(base).to_string(),
        Strength::Units { .. } => match u32::try_from(base) {
            Ok(n) => Units::new(n).to_string(),
            Err(_) => format!("{base} units"),
        },
    }
}

/// The base unit's name: "mL" for a solution, "units" otherwise (a CSV column's unit).
pub fn unit(strength: &Strength) -> &'static str {
    match strength {
        Strength::Solution { .. } => "mL",
        Strength::Units { .. } => "units",
    }
}

/// An amount in the base unit as a bare number of `unit`: "14.8" (mL, exact to the µL) or
/// "3" (units), for a CSV cell.
pub fn number(strength: &Strength, base: u64) -> String {
    match strength {
        Strength::Solution { .. } => types::quantity::thousandths(base),
        Strength::Units { .. } => base.to_string(),
    }
}

/// Micrograms as milligrams, exact: "35", "12.5".
pub fn milligrams(ug: u64) -> String {
    types::quantity::thousandths(ug)
}

/// A product's strength in the ledger's own words: "10 mg/mL, 20 mL per container", "28 mg
/// per unit, 1 unit per container".
pub fn strength_said(s: &Strength) -> String {
    match s {
        Strength::Solution { per_ml, volume } => format!("{per_ml}/mL, {volume} per container"),
        Strength::Units { per_unit, units } => {
            format!("{per_unit} per unit, {units} per container")
        }
    }
}

/// A product's concentration: "10 mg/mL", "28 mg per unit".
pub fn concentration(s: &Strength) -> String {
    match s {
        Strength::Solution { per_ml, .. } => format!("{per_ml}/mL"),
        Strength::Units { per_unit, .. } => format!("{per_unit} per unit"),
    }
}

/// The amount as people say it: "35 mg (3.5 mL)".
pub fn said(a: &Amount) -> String {
    match a {
        Amount::Volume { ul, ug } => format!("{ug} ({ul})"),
        Amount::Units { units, ug } => format!("{ug} ({units})"),
    }
}

/// A count's tally: sealed containers and what the open ones hold, "18 sealed and 20 mL in
/// open containers".
pub fn tally_said(strength: &Strength, sealed: u32, open: u64) -> String {
    format!(
        "{sealed} sealed and {} in open containers",
        quantity(strength, open)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vial() -> Strength {
        Strength::Solution {
            per_ml: Micrograms::new(10_000),
            volume: Microliters::new(20_000),
        }
    }

    /// A count of open stock reads in mL, never in µL ("20000 open").
    #[test]
    fn tallies_are_said_in_the_products_unit() {
        assert_eq!(
            tally_said(&vial(), 18, 20_000),
            "18 sealed and 20 mL in open containers"
        );
        assert_eq!(number(&vial(), 14_800), "14.8");
        assert_eq!(quantity(&vial(), 14_800), "14.8 mL");
    }
}
