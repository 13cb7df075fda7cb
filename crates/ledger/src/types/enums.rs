//! Closed sets: schedules, roles, routes, forms and the reasons and types that forms ask for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::ParseError;
use crate::encoding::{Canonical, DecodeError, Reader, Writer};

/// Declares an enum encoded as one tag byte, shown and parsed by a fixed name.
macro_rules! tagged {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $v:ident = $tag:literal, $text:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $v,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];
            pub fn tag(self) -> u8 {
                match self { $($name::$v => $tag,)+ }
            }
            pub fn from_tag(tag: u8) -> Option<Self> {
                match tag { $($tag => Some($name::$v),)+ _ => None }
            }
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $text,)+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($text) { return Ok($name::$v); })+
                Err(ParseError::new($what, s, concat!("expected one of: ", $($text, " "),+)))
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Canonical for $name {
            fn encode(&self, w: &mut Writer) {
                w.u8(self.tag());
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let tag = r.u8($what)?;
                Self::from_tag(tag).ok_or(DecodeError::BadTag { what: $what, tag: u16::from(tag) })
            }
        }
    };
}

tagged!(
    /// DEA controlled-substance schedules (N: non-narcotic).
    Schedule, "schedule" {
        II = 1, "II";
        IIN = 2, "IIN";
        III = 3, "III";
        IIIN = 4, "IIIN";
        IV = 5, "IV";
        V = 6, "V";
    }
);

tagged!(
    /// What a user may do in one ledger.
    Role, "role" {
        Admin = 1, "admin";
        Pharmacist = 2, "pharmacist";
        Nurse = 3, "nurse";
        Auditor = 4, "auditor";
    }
);

tagged!(
    /// How a dose entered the patient.
    Route, "route" {
        Iv = 1, "IV";
        Im = 2, "IM";
        Intranasal = 3, "intranasal";
        Oral = 4, "oral";
        Sublingual = 5, "sublingual";
    }
);

tagged!(
    /// The finished dosage form, as on an inventory record.
    FinishedForm, "finished form" {
        InjectionSolution = 1, "injection solution";
        NasalSpray = 2, "nasal spray";
        Lozenge = 3, "lozenge";
        Tablet = 4, "tablet";
        Capsule = 5, "capsule";
        OralSolution = 6, "oral solution";
    }
);

impl FinishedForm {
    /// The routes a dose of this form can take, the usual one first: what a dose form
    /// offers, and the route it starts at (an injection is not a nasal spray's default).
    pub fn routes(self) -> &'static [Route] {
        match self {
            FinishedForm::InjectionSolution => &[Route::Iv, Route::Im],
            FinishedForm::NasalSpray => &[Route::Intranasal],
            FinishedForm::Lozenge => &[Route::Sublingual, Route::Oral],
            FinishedForm::Tablet | FinishedForm::Capsule | FinishedForm::OralSolution => {
                &[Route::Oral, Route::Sublingual]
            }
        }
    }
    /// The route a dose of this form usually takes.
    pub fn default_route(self) -> Route {
        self.routes()[0]
    }
}

tagged!(
    /// Kinds of storage location.
    LocationKind, "location kind" {
        Safe = 1, "safe";
        Cabinet = 2, "cabinet";
        Cart = 3, "cart";
        Refrigerator = 4, "refrigerator";
        Other = 5, "other";
    }
);

tagged!(
    /// What a signature means, as shown with it on screen and paper.
    Meaning, "signature meaning" {
        /// The signer did and records the act.
        Authored = 1, "authored";
        /// The signer saw the act (a waste, an adjustment, a destruction).
        Witnessed = 2, "witnessed";
        /// The registrant key attests (genesis, registrant key rotation, first enrollment).
        Registrant = 3, "registrant";
        /// The holder of a new key proves they hold it (enrollment, key rotation).
        KeyPossession = 4, "key possession";
    }
);

tagged!(
    /// Why an adjustment changes what a container holds.
    AdjustmentReason, "adjustment reason" {
        /// Vials hold more than the label: drawing beyond it is recorded, never silent.
        Overfill = 1, "overfill";
        /// A count found a different amount.
        CountDiscrepancy = 2, "count discrepancy";
        Breakage = 3, "breakage";
        Spill = 4, "spill";
        Other = 5, "other";
    }
);

tagged!(
    /// Whether an adjustment adds to or takes from a container.
    Direction, "direction" {
        Increase = 1, "increase";
        Decrease = 2, "decrease";
    }
);

tagged!(
    /// DEA Form 106 type of loss.
    LossType, "type of loss" {
        NightBreakIn = 1, "night break-in";
        ArmedRobbery = 2, "armed robbery";
        EmployeePilferage = 3, "employee pilferage";
        CustomerTheft = 4, "customer theft";
        LostInTransit = 5, "lost in transit";
        Other = 6, "other";
    }
);

tagged!(
    /// Why an inventory was taken (21 CFR 1304.11): on going live, every two years, or
    /// another time (a change of registrant, a new schedule).
    InventoryOccasion, "inventory occasion" {
        Initial = 1, "initial";
        Biennial = 2, "biennial";
        Other = 3, "other";
    }
);

tagged!(
    /// When in the day an inventory was taken, as the record must say.
    BusinessHours, "time of inventory" {
        Opening = 1, "opening";
        Close = 2, "close";
    }
);

impl BusinessHours {
    /// As the inventory record says it.
    pub fn describe(self) -> &'static str {
        match self {
            BusinessHours::Opening => "opening of business",
            BusinessHours::Close => "close of business",
        }
    }
}

tagged!(
    /// The file format of an issued report.
    ReportFormat, "report format" {
        Pdf = 1, "pdf";
        Csv = 2, "csv";
    }
);

impl Default for ReportFormat {
    /// Reports issued before format version 4 were PDFs.
    fn default() -> Self {
        ReportFormat::Pdf
    }
}
