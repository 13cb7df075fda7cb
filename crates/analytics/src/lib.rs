//! # custody-analytics
//!
//! Diversion analytics over a custody ledger, and the charts that show them. Pure: entries
//! in, figures out — no I/O, no async, no database types, so the same fold serves the JSON
//! route, the web page and the signed `diversion` report, and an auditor can re-run it.
//!
//! Why a crate of its own, between the ledger and the report: the report crate draws the
//! `diversion` report and the clinic serves `GET …/analytics`; both sit above the report in
//! the crate direction (`cli → api → clinic → report → store → ledger`), and the analytics
//! need nothing but the ledger. A crate that depends on `custody-ledger` alone keeps the
//! fold pure by construction (it cannot reach the store) and lets both use it.
//!
//! - [`signals`]: the fold — per person and period, the figures behind each signal, each
//!   with the seqs of the entries it comes from;
//! - [`peers`]: robust z-scores against peers of the same role (median and MAD) and tiers;
//! - [`series`]: on hand over time per product, doses by hour of day, a container's timeline;
//! - [`chart`]: the four charts as a small display list, written out as SVG here and drawn
//!   as PDF vector graphics by the report crate from the same list.
//!
//! Quantities are exact integers (µg, µL, units) and ratios exact fractions of them; a
//! ratio is shown as a decimal rounded from the fraction. Z-scores are `f64`: they are
//! statistics about people, not quantities of a drug.

pub mod chart;
pub mod peers;
pub mod series;
pub mod signals;

pub use peers::{Band, Level, Scale, Tier};
pub use signals::{Analytics, Analyzer, Figure, Hours, Params, Person, Signal, Thresholds};

/// `num / den` as a decimal with `places` digits, rounded half up, from exact integers.
pub fn decimal(num: u64, den: u64, places: u32) -> String {
    if den == 0 {
        return "—".into();
    }
    let scale = 10u128.pow(places);
    let scaled = (u128::from(num) * scale * 2 + u128::from(den)) / (u128::from(den) * 2);
    let whole = scaled / scale;
    if places == 0 {
        return whole.to_string();
    }
    let frac = scaled % scale;
    format!("{whole}.{frac:0width$}", width = places as usize)
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimals_round_half_up_from_exact_fractions() {
        assert_eq!(decimal(1, 3, 3), "0.333");
        assert_eq!(decimal(2, 3, 3), "0.667");
        assert_eq!(decimal(1, 8, 2), "0.13");
        assert_eq!(decimal(10, 4, 0), "3");
        assert_eq!(decimal(7, 0, 2), "—");
        assert_eq!(decimal(u64::MAX, 1, 3), format!("{}.000", u64::MAX));
    }
}
