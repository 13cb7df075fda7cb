//! State PMP profiles: what each state's program wants of a file (ASAP version, terminator,
//! required fields, deadline, whether administration is reported, whether zero reports are
//! needed). A few ship with custody (`profiles.toml`); an operator's file replaces a state's
//! profile or adds one.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::asap::{Layout, SEGMENTS, Version};

const SHIPPED: &str = include_str!("profiles.toml");

/// A state's profile as the TOML says it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    asap_version: String,
    segment_terminator: String,
    #[serde(default = "yes")]
    production: bool,
    deadline_business_days: u32,
    report_administration: bool,
    zero_reports: bool,
    #[serde(default)]
    air: bool,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, usize>,
}

fn yes() -> bool {
    true
}

/// One state's program.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Two-letter state code.
    pub state: String,
    pub name: String,
    pub version: Version,
    pub terminator: char,
    pub production: bool,
    pub deadline_business_days: u32,
    pub report_administration: bool,
    pub zero_reports: bool,
    pub air: bool,
    /// Field ids (`PRE01`) that must not be empty.
    pub required: Vec<String>,
    pub layout: Layout,
}

impl Profile {
    fn from_raw(state: &str, r: Raw) -> Result<Profile, String> {
        let at = |m: String| format!("PMP profile {state}: {m}");
        if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(at(
                "a state is its two-letter code in capitals (e.g. FL)".into()
            ));
        }
        let version: Version = r.asap_version.parse().map_err(at)?;
        let mut chars = r.segment_terminator.chars();
        let terminator = match (chars.next(), chars.next()) {
            (Some(c), None) if c != '*' && !c.is_alphanumeric() && c != ' ' => c,
            _ => {
                return Err(at(format!(
                    "segment_terminator {:?} must be one character, not *, a letter, a digit or a space",
                    r.segment_terminator
                )));
            }
        };
        let mut layout = Layout::of(version);
        for (seg, n) in &r.fields {
            layout.set(seg, *n).map_err(at)?;
        }
        for f in &r.required {
            let seg = f.trim_end_matches(|c: char| c.is_ascii_digit());
            let pos: usize = f[seg.len()..].parse().unwrap_or(0);
            if !SEGMENTS.contains(&seg) || pos == 0 || pos > layout.count(seg) {
                return Err(at(format!(
                    "required field {f:?} is not a field of the {version} layout"
                )));
            }
        }
        Ok(Profile {
            state: state.to_string(),
            name: r.name,
            version,
            terminator,
            production: r.production,
            deadline_business_days: r.deadline_business_days,
            report_administration: r.report_administration,
            zero_reports: r.zero_reports,
            air: r.air,
            required: r.required,
            layout,
        })
    }
}

/// The profiles in force: the shipped ones, with an operator's file over them.
#[derive(Debug, Clone)]
pub struct Profiles {
    by_state: BTreeMap<String, Profile>,
}

fn read(text: &str, what: &str) -> Result<BTreeMap<String, Profile>, String> {
    let raw: BTreeMap<String, Raw> = toml::from_str(text).map_err(|e| format!("{what}: {e}"))?;
    raw.into_iter()
        .map(|(s, r)| Profile::from_raw(&s, r).map(|p| (s, p)))
        .collect()
}

impl Profiles {
    /// The profiles shipped with custody.
    pub fn shipped() -> Profiles {
        Profiles {
            by_state: read(SHIPPED, "the shipped PMP profiles")
                .expect("the shipped PMP profiles are valid (tested)"),
        }
    }

    /// The shipped profiles with `text` (an operator's TOML file) over them: a state it
    /// names is replaced whole.
    pub fn with_override(text: &str) -> Result<Profiles, String> {
        let mut p = Profiles::shipped();
        p.by_state.extend(read(text, "the PMP profiles file")?);
        Ok(p)
    }

    /// The profile of `state` (two letters, any case).
    pub fn get(&self, state: &str) -> Result<&Profile, String> {
        let s = state.trim().to_ascii_uppercase();
        self.by_state.get(&s).ok_or_else(|| {
            format!(
                "no PMP profile for state {:?}: profiles exist for {} (add one with --pmp-profiles)",
                state.trim(),
                self.by_state.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.by_state.values()
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles::shipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_are_valid_and_an_operator_file_replaces_a_state() {
        let p = Profiles::shipped();
        assert_eq!(p.get("oh").expect("OH").version, Version::V42A);
        assert_eq!(p.get("FL").expect("FL").version, Version::V42B);
        assert!(p.get("ZZ").is_err());
        let o = Profiles::with_override(
            "[FL]\nname = \"test\"\nasap_version = \"4.2A\"\nsegment_terminator = \"\\n\"\n\
             deadline_business_days = 3\nreport_administration = true\nzero_reports = false\n",
        )
        .expect("valid");
        let fl = o.get("FL").expect("FL");
        assert_eq!(
            (fl.version, fl.terminator, fl.zero_reports),
            (Version::V42A, '\n', false)
        );
        assert!(o.get("OH").is_ok());
        let bad = Profiles::with_override(
            "[FL]\nname = \"x\"\nasap_version = \"4.2B\"\nsegment_terminator = \"~\"\n\
             deadline_business_days = 1\nreport_administration = false\nzero_reports = true\n\
             required = [\"DSP99\"]\n",
        );
        assert!(bad.expect_err("refused").contains("DSP99"));
    }
}
