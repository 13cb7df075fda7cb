//! Peer comparison: a robust z-score of each person's figure among the people of the same
//! role, and the tier their figures add up to. The rules are stated here and in
//! docs/analytics.md; the thresholds are [`crate::Thresholds`], fixed from the literature,
//! not fitted to any clinic.

use serde::Serialize;

/// How far a figure sits above its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Below the elevated threshold, or no score (too few peers or events).
    None,
    /// z ≥ `elevated` (2.0).
    Elevated,
    /// z ≥ `high` (3.5), with at least `min_events` events behind the figure.
    High,
}

/// A person's tier: what a reviewer should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    None,
    /// One high signal, or two or more elevated ones: keep an eye on it.
    Watch,
    /// Two or more high signals: independent lines of evidence; look at the entries.
    Review,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::Watch => "watch",
            Tier::Review => "review",
        }
    }
    /// The tier of a person whose signals reached these levels.
    pub fn of(levels: impl IntoIterator<Item = Level>) -> Tier {
        let (mut high, mut elevated) = (0, 0);
        for l in levels {
            match l {
                Level::High => {
                    high += 1;
                    elevated += 1;
                }
                Level::Elevated => elevated += 1,
                Level::None => {}
            }
        }
        if high >= 2 {
            Tier::Review
        } else if high == 1 || elevated >= 2 {
            Tier::Watch
        } else {
            Tier::None
        }
    }
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Elevated => "elevated",
            Level::High => "high",
        }
    }
}

/// Which spread a z-score was divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// 1.4826 × MAD (the median absolute deviation, scaled to a normal σ).
    Mad,
    /// MAD = 0 (more than half the peers share one value): 1.2533 × the mean absolute
    /// deviation from the median (Iglewicz & Hoaglin's fallback; also scaled to σ).
    MeanAd,
    /// Every peer has the same figure: nobody stands out, every z is 0.
    NoSpread,
    /// Fewer peers with a figure than `min_peers`: no z-score.
    TooFewPeers,
}

/// The peers' band for one signal and role: what the z-scores were measured against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub role: custody_ledger::Role,
    pub signal: crate::Signal,
    /// People of the role with a figure for this signal.
    pub peers: usize,
    pub median: Option<f64>,
    /// The σ-scaled spread used (1.4826·MAD or 1.2533·MeanAD).
    pub spread: Option<f64>,
    pub scale: Scale,
}

impl Band {
    /// The band's upper edge a figure stays below to be "none": median + elevated × spread.
    pub fn upper(&self, elevated: f64) -> Option<f64> {
        Some(self.median? + elevated * self.spread.unwrap_or(0.0))
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Median, spread and rule of `values` (one per peer); `None` spread with too few peers.
pub fn spread(values: &[f64], min_peers: usize) -> (Option<f64>, Option<f64>, Scale) {
    if values.is_empty() || values.len() < min_peers {
        return (None, None, Scale::TooFewPeers);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = median(&v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = median(&dev);
    if mad > 0.0 {
        return (Some(m), Some(1.4826 * mad), Scale::Mad);
    }
    let mean_ad = dev.iter().sum::<f64>() / dev.len() as f64;
    if mean_ad > 0.0 {
        (Some(m), Some(1.2533 * mean_ad), Scale::MeanAd)
    } else {
        (Some(m), None, Scale::NoSpread)
    }
}

/// The z-score of `x` against a band: (x − median) / spread; 0 when peers have no spread.
pub fn z(x: f64, band: &Band) -> Option<f64> {
    let m = band.median?;
    match band.scale {
        Scale::Mad | Scale::MeanAd => band.spread.map(|s| (x - m) / s),
        Scale::NoSpread => Some(0.0),
        Scale::TooFewPeers => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_z_uses_the_mad_and_falls_back_to_the_mean_deviation() {
        // 1, 2, 3, 4, 100: median 3, deviations 0 1 1 2 97 → MAD 1.
        let (m, s, scale) = spread(&[1.0, 2.0, 3.0, 4.0, 100.0], 3);
        assert_eq!((m, scale), (Some(3.0), Scale::Mad));
        assert!((s.unwrap() - 1.4826).abs() < 1e-12);
        // 0, 0, 0, 4: median 0, MAD 0 → mean deviation 1 → spread 1.2533.
        let (m, s, scale) = spread(&[0.0, 0.0, 0.0, 4.0], 3);
        assert_eq!((m, scale), (Some(0.0), Scale::MeanAd));
        assert!((s.unwrap() - 1.2533).abs() < 1e-12);
        assert_eq!(spread(&[2.0, 2.0, 2.0], 3).2, Scale::NoSpread);
        assert_eq!(spread(&[1.0, 9.0], 3).2, Scale::TooFewPeers);
    }

    #[test]
    fn tiers_need_two_high_signals_for_review() {
        use Level::*;
        assert_eq!(Tier::of([High, High, None]), Tier::Review);
        assert_eq!(Tier::of([High, None]), Tier::Watch);
        assert_eq!(Tier::of([Elevated, Elevated]), Tier::Watch);
        assert_eq!(Tier::of([Elevated, None, None]), Tier::None);
    }
}
