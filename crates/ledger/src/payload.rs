//! What an entry says: one typed payload per kind, and the canonical encoding of each.
//! The field order here is the byte order in `docs/ledger-format.md`.

use serde::{Deserialize, Serialize};

use crate::encoding::{Canonical, DecodeError, Reader, Writer};
use crate::types::dea::DeaNumber;
use crate::types::enums::*;
use crate::types::ids::*;
use crate::types::ndc::Ndc;
use crate::types::quantity::{Micrograms, Microliters, Units};
use crate::types::text::Text;
use crate::types::time::{Day, Timestamp};

/// A registrant, supplier, reverse distributor or receiving registrant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub name: Text,
    pub address: Text,
    pub dea: DeaNumber,
}
impl Canonical for Party {
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.address.encode(w);
        self.dea.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: Text::decode(r)?,
            address: Text::decode(r)?,
            dea: DeaNumber::decode(r)?,
        })
    }
}

/// The practitioner who ordered a dose or a take-home supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescriber {
    pub name: Text,
    pub dea: DeaNumber,
}
impl Canonical for Prescriber {
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.dea.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: Text::decode(r)?,
            dea: DeaNumber::decode(r)?,
        })
    }
}

/// How much drug a product's container holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Strength {
    /// A solution: concentration per mL and the volume of one container. Tracked by volume.
    Solution {
        per_ml: Micrograms,
        volume: Microliters,
    },
    /// Countable units (devices, lozenges): drug per unit and units per container. Tracked by unit.
    Units { per_unit: Micrograms, units: Units },
}
impl Strength {
    /// What a full container holds, in the product's base unit (µL or units).
    pub fn capacity(&self) -> u64 {
        match self {
            Strength::Solution { volume, .. } => volume.get(),
            Strength::Units { units, .. } => u64::from(units.get()),
        }
    }
    /// Drug in `base` base units, if it is a whole number of micrograms.
    pub fn micrograms_in(&self, base: u64) -> Option<Micrograms> {
        match self {
            Strength::Solution { per_ml, .. } => {
                let scaled = u128::from(per_ml.get()) * u128::from(base);
                (scaled % 1000 == 0)
                    .then(|| u64::try_from(scaled / 1000).ok())
                    .flatten()
                    .map(Micrograms::new)
            }
            Strength::Units { per_unit, .. } => {
                per_unit.get().checked_mul(base).map(Micrograms::new)
            }
        }
    }
    /// One unit to a container (a Spravato device): used whole when opened, so it has
    /// no beyond-use period to count down.
    pub fn single_use(&self) -> bool {
        matches!(self, Strength::Units { units, .. } if units.get() == 1)
    }
    pub fn base_unit(&self) -> &'static str {
        match self {
            Strength::Solution { .. } => "µL",
            Strength::Units { .. } => "units",
        }
    }
}
impl Canonical for Strength {
    fn encode(&self, w: &mut Writer) {
        match self {
            Strength::Solution { per_ml, volume } => {
                w.u8(1);
                per_ml.encode(w);
                volume.encode(w);
            }
            Strength::Units { per_unit, units } => {
                w.u8(2);
                per_unit.encode(w);
                units.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("strength")? {
            1 => Ok(Strength::Solution {
                per_ml: Micrograms::decode(r)?,
                volume: Microliters::decode(r)?,
            }),
            2 => Ok(Strength::Units {
                per_unit: Micrograms::decode(r)?,
                units: Units::decode(r)?,
            }),
            tag => Err(DecodeError::BadTag {
                what: "strength",
                tag: u16::from(tag),
            }),
        }
    }
}

/// An amount drawn from or added to a container: the volume or units, and the drug they hold.
/// Both are stated so a reader never has to compute; the rules check they agree exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Amount {
    Volume { ul: Microliters, ug: Micrograms },
    Units { units: Units, ug: Micrograms },
}
impl Amount {
    /// In the container's base unit (µL or units).
    pub fn base(&self) -> u64 {
        match self {
            Amount::Volume { ul, .. } => ul.get(),
            Amount::Units { units, .. } => u64::from(units.get()),
        }
    }
    pub fn micrograms(&self) -> Micrograms {
        match self {
            Amount::Volume { ug, .. } | Amount::Units { ug, .. } => *ug,
        }
    }
    /// The amount holding exactly `ug` of a product of `strength`, if that is a whole number
    /// of µL or units.
    pub fn of_micrograms(strength: &Strength, ug: Micrograms) -> Option<Amount> {
        let base = match strength {
            Strength::Solution { per_ml, .. } => {
                let scaled = u128::from(ug.get()) * 1000;
                let per = u128::from(per_ml.get());
                (per != 0 && scaled % per == 0).then(|| u64::try_from(scaled / per).ok())??
            }
            Strength::Units { per_unit, .. } => {
                let per = per_unit.get();
                (per != 0 && ug.get().is_multiple_of(per)).then(|| ug.get() / per)?
            }
        };
        Self::of(strength, base).filter(|a| a.micrograms() == ug)
    }

    /// The amount of `base` base units of a product of `strength`, if exact.
    pub fn of(strength: &Strength, base: u64) -> Option<Amount> {
        let ug = strength.micrograms_in(base)?;
        Some(match strength {
            Strength::Solution { .. } => Amount::Volume {
                ul: Microliters::new(base),
                ug,
            },
            Strength::Units { .. } => Amount::Units {
                units: Units::new(u32::try_from(base).ok()?),
                ug,
            },
        })
    }
}
impl Canonical for Amount {
    fn encode(&self, w: &mut Writer) {
        match self {
            Amount::Volume { ul, ug } => {
                w.u8(1);
                ul.encode(w);
                ug.encode(w);
            }
            Amount::Units { units, ug } => {
                w.u8(2);
                units.encode(w);
                ug.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("amount")? {
            1 => Ok(Amount::Volume {
                ul: Microliters::decode(r)?,
                ug: Micrograms::decode(r)?,
            }),
            2 => Ok(Amount::Units {
                units: Units::decode(r)?,
                ug: Micrograms::decode(r)?,
            }),
            tag => Err(DecodeError::BadTag {
                what: "amount",
                tag: u16::from(tag),
            }),
        }
    }
}

/// Part or all of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerAmount {
    pub container: ContainerId,
    pub amount: Amount,
}
impl Canonical for ContainerAmount {
    fn encode(&self, w: &mut Writer) {
        self.container.encode(w);
        self.amount.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            container: ContainerId::decode(r)?,
            amount: Amount::decode(r)?,
        })
    }
}

/// Whose key a rotation replaces, or who signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "user", rename_all = "snake_case")]
pub enum Principal {
    Registrant,
    User(UserId),
}
impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Registrant => f.write_str("the registrant"),
            Principal::User(u) => write!(f, "user {u}"),
        }
    }
}
impl Canonical for Principal {
    fn encode(&self, w: &mut Writer) {
        match self {
            Principal::Registrant => w.u8(0),
            Principal::User(u) => {
                w.u8(1);
                u.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("principal")? {
            0 => Ok(Principal::Registrant),
            1 => Ok(Principal::User(UserId::decode(r)?)),
            tag => Err(DecodeError::BadTag {
                what: "principal",
                tag: u16::from(tag),
            }),
        }
    }
}

/// Declares the kinds: the payload enum, the kind codes and their names.
macro_rules! kinds {
    ($($v:ident($t:ident) = $code:literal, $name:literal;)+) => {
        /// The kind of an entry; its code is part of every hash and signature input.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($v,)+ }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$v,)+];
            pub fn code(self) -> u16 {
                match self { $(Kind::$v => $code,)+ }
            }
            pub fn from_code(c: u16) -> Option<Kind> {
                match c { $($code => Some(Kind::$v),)+ _ => None }
            }
            /// The snake_case name used in JSON, the API and the docs.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$v => $name,)+ }
            }
        }
        impl std::fmt::Display for Kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl std::str::FromStr for Kind {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                $(if s == $name { return Ok(Kind::$v); })+
                Err(ParseError::new("entry kind", s, "not a known kind"))
            }
        }
        serde_via_str!(Kind);

        /// What an entry says.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Payload { $($v($t),)+ }

        impl Payload {
            pub fn kind(&self) -> Kind {
                match self { $(Payload::$v(_) => Kind::$v,)+ }
            }
        }
        impl Canonical for Payload {
            fn encode(&self, w: &mut Writer) {
                w.u16(self.kind().code());
                match self { $(Payload::$v(p) => p.encode(w),)+ }
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let code = r.u16("kind")?;
                match code {
                    $($code => Ok(Payload::$v($t::decode(r)?)),)+
                    _ => Err(DecodeError::BadTag { what: "kind", tag: code }),
                }
            }
        }
        $(impl From<$t> for Payload {
            fn from(p: $t) -> Payload { Payload::$v(p) }
        })+
    };
}

kinds! {
    Genesis(Genesis) = 1, "genesis";
    UserEnrolled(UserEnrolled) = 2, "user_enrolled";
    RoleChanged(RoleChanged) = 3, "role_changed";
    UserDeactivated(UserDeactivated) = 4, "user_deactivated";
    KeyRotated(KeyRotated) = 5, "key_rotated";
    ProductDefined(ProductDefined) = 6, "product_defined";
    LocationDefined(LocationDefined) = 7, "location_defined";
    Receipt(Receipt) = 8, "receipt";
    ContainerOpened(ContainerOpened) = 9, "container_opened";
    Administered(Administered) = 10, "administered";
    Dispensed(Dispensed) = 11, "dispensed";
    Waste(Waste) = 12, "waste";
    Transfer(Transfer) = 13, "transfer";
    Count(Count) = 14, "count";
    Adjustment(Adjustment) = 15, "adjustment";
    LossTheft(LossTheft) = 16, "loss_theft";
    Destruction(Destruction) = 17, "destruction";
    Correction(Correction) = 18, "correction";
    ReportIssued(ReportIssued) = 19, "report_issued";
    Inventory(Inventory) = 20, "inventory";
    LossReported(LossReported) = 21, "loss_reported";
    RemsSessionClosed(RemsSessionClosed) = 22, "rems_session_closed";
    RemsFormSubmitted(RemsFormSubmitted) = 23, "rems_form_submitted";
    PmpReported(PmpReported) = 24, "pmp_reported";
}

/// Declares a payload struct and its canonical encoding: fields in declaration order.
macro_rules! payload {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $f:ident : $t:ty => $enc:expr, $dec:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name { $($(#[$fdoc])* pub $f: $t,)* }
        impl Canonical for $name {
            #[allow(clippy::redundant_closure_call)]
            fn encode(&self, w: &mut Writer) {
                $(($enc)(w, &self.$f);)*
            }
            #[allow(clippy::redundant_closure_call)]
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self { $($f: ($dec)(r)?,)* })
            }
        }
    };
}

fn enc<T: Canonical>(w: &mut Writer, v: &T) {
    v.encode(w)
}
fn dec<T: Canonical>(r: &mut Reader<'_>) -> Result<T, DecodeError> {
    T::decode(r)
}
fn enc_opt<T: Canonical>(w: &mut Writer, v: &Option<T>) {
    w.option(v.as_ref(), |w, x| x.encode(w))
}
fn dec_opt<T: Canonical>(r: &mut Reader<'_>) -> Result<Option<T>, DecodeError> {
    r.option("option", T::decode)
}
fn enc_list<T: Canonical>(w: &mut Writer, v: &[T]) {
    w.list(v, |w, x| x.encode(w))
}
fn dec_list<T: Canonical>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    r.list("list", T::decode)
}
fn enc_bool(w: &mut Writer, v: &bool) {
    w.bool(*v)
}
fn dec_bool(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    r.bool("flag")
}
fn enc_u32(w: &mut Writer, v: &u32) {
    w.u32(*v)
}
fn dec_u32(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    r.u32("count")
}
/// A field format version 4 added: written only in entries of version 4 and later.
fn enc_v4<T: Canonical>(w: &mut Writer, v: &T) {
    if w.version() >= 4 {
        v.encode(w)
    }
}
/// A field format version 4 added: read only in entries of version 4 and later, its default
/// (none, or the one value older entries meant) in older ones.
fn dec_v4<T: Canonical + Default>(r: &mut Reader<'_>) -> Result<T, DecodeError> {
    if r.version() >= 4 {
        T::decode(r)
    } else {
        Ok(T::default())
    }
}
fn enc_opt_v4<T: Canonical>(w: &mut Writer, v: &Option<T>) {
    if w.version() >= 4 {
        enc_opt(w, v)
    }
}
fn dec_opt_v4<T: Canonical>(r: &mut Reader<'_>) -> Result<Option<T>, DecodeError> {
    if r.version() >= 4 {
        dec_opt(r)
    } else {
        Ok(None)
    }
}
fn enc_u64(w: &mut Writer, v: &u64) {
    w.u64(*v)
}
fn dec_u64(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    r.u64("quantity")
}

payload!(
    /// Entry 0: who the registrant is and the key that signs for it.
    Genesis {
        registrant: Party => enc, dec;
        registrant_key: PublicKey => enc, dec;
    }
);
payload!(
    /// A person joins the ledger with a role and a key they made.
    UserEnrolled {
        user: UserId => enc, dec;
        printed_name: Text => enc, dec;
        role: Role => enc, dec;
        public_key: PublicKey => enc, dec;
    }
);
payload!(
    RoleChanged {
        user: UserId => enc, dec;
        role: Role => enc, dec;
        reason: Text => enc, dec;
    }
);
payload!(
    UserDeactivated {
        user: UserId => enc, dec;
        reason: Text => enc, dec;
    }
);
payload!(
    /// A user's or the registrant's key is replaced; the new key signs to prove possession.
    KeyRotated {
        subject: Principal => enc, dec;
        new_key: PublicKey => enc, dec;
        reason: Text => enc, dec;
    }
);
payload!(
    ProductDefined {
        ndc: Ndc => enc, dec;
        name: Text => enc, dec;
        form: FinishedForm => enc, dec;
        schedule: Schedule => enc, dec;
        strength: Strength => enc, dec;
    }
);
payload!(
    LocationDefined {
        location: LocationId => enc, dec;
        name: Text => enc, dec;
        kind: LocationKind => enc, dec;
    }
);
payload!(
    /// Stock arrives against an invoice (DEA Form 222 / CSOS order for schedule II, invoice for III–V).
    /// Creates containers `C<seq>-1` … `C<seq>-<containers>`, sealed, at `location`.
    Receipt {
        supplier: Party => enc, dec;
        invoice: Text => enc, dec;
        received_on: Day => enc, dec;
        product: Ndc => enc, dec;
        lot: Lot => enc, dec;
        expiry: Day => enc, dec;
        containers: u32 => enc_u32, dec_u32;
        location: LocationId => enc, dec;
    }
);
payload!(
    /// A container is punctured or unsealed; it may be drawn from until `beyond_use`.
    ContainerOpened {
        container: ContainerId => enc, dec;
        beyond_use: Day => enc, dec;
    }
);
payload!(
    /// A dose given to a patient from an open container.
    Administered {
        container: ContainerId => enc, dec;
        patient: PatientRef => enc, dec;
        prescriber: Prescriber => enc, dec;
        amount: Amount => enc, dec;
        route: Route => enc, dec;
        given_at: Timestamp => enc, dec;
        given_by: UserId => enc, dec;
        /// Version 4: why the dose was charted late (the clinic asks past its threshold).
        #[serde(default)]
        late_reason: Option<Text> => enc_opt_v4, dec_opt_v4;
    }
);
payload!(
    /// Take-home supply: whole sealed containers and/or units from open ones.
    Dispensed {
        patient: PatientRef => enc, dec;
        prescriber: Prescriber => enc, dec;
        sealed: Vec<ContainerId> => enc_list, dec_list;
        from_open: Vec<ContainerAmount> => enc_list, dec_list;
    }
);
payload!(
    /// What is left in an open container, discarded; signed by author and a different witness.
    Waste {
        container: ContainerId => enc, dec;
        amount: Amount => enc, dec;
        reason: Text => enc, dec;
    }
);
payload!(
    /// Containers move to another location, or out to another registrant.
    Transfer {
        containers: Vec<ContainerId> => enc_list, dec_list;
        to: TransferTo => enc, dec;
    }
);
payload!(
    /// Sealed containers counted, and what remains in open ones (base units), for one product
    /// at one location. `expected` must equal what the ledger holds; a different `counted` is a
    /// discrepancy that an adjustment resolves.
    Count {
        location: LocationId => enc, dec;
        product: Ndc => enc, dec;
        blind: bool => enc_bool, dec_bool;
        expected: Tally => enc, dec;
        counted: Tally => enc, dec;
    }
);
payload!(
    /// A witnessed change to what a container holds: resolves a discrepancy or records overfill.
    Adjustment {
        container: ContainerId => enc, dec;
        resolves: Option<Seq> => enc_opt, dec_opt;
        reason: AdjustmentReason => enc, dec;
        direction: Direction => enc, dec;
        amount: Amount => enc, dec;
        note: Text => enc, dec;
    }
);
payload!(
    /// DEA Form 106: theft or significant loss.
    LossTheft {
        loss_type: LossType => enc, dec;
        discovered_on: Day => enc, dec;
        police_report: Option<Text> => enc_opt, dec_opt;
        items: Vec<ContainerAmount> => enc_list, dec_list;
        description: Text => enc, dec;
        /// Version 4: the count or inventory whose shortage this loss explains.
        #[serde(default)]
        explains_count: Option<Seq> => enc_opt_v4, dec_opt_v4;
    }
);
payload!(
    /// DEA Form 41: destruction on site, or return to a reverse distributor; two witnesses.
    Destruction {
        method: DestructionMethod => enc, dec;
        date: Day => enc, dec;
        items: Vec<ContainerAmount> => enc_list, dec_list;
    }
);
payload!(
    /// Names an earlier entry that was wrong and says why. The original stays; stock moves
    /// only through the entries that move stock.
    Correction {
        corrects: Seq => enc, dec;
        reason: Text => enc, dec;
    }
);

payload!(
    /// A signed report was issued (format version 2): which report, for what period, at
    /// which checkpoint, the SHA-256 of the data it states, and who asked for it. Signed by
    /// the registrant key, which signs the report itself.
    ReportIssued {
        report: Text => enc, dec;
        from: Day => enc, dec;
        to: Day => enc, dec;
        checkpoint_size: u64 => enc_u64, dec_u64;
        data_digest: EntryHash => enc, dec;
        requested_by: Text => enc, dec;
        /// Version 4: the file's format (a PDF before version 4).
        #[serde(default)]
        format: ReportFormat => enc_v4, dec_v4;
        /// Version 4: why it was asked for (the clinic requires it of patient-identifying
        /// reports).
        #[serde(default)]
        reason: Option<Text> => enc_opt_v4, dec_opt_v4;
    }
);

payload!(
    /// Version 4: a physical inventory (21 CFR 1304.11) — the initial one on going live, the
    /// biennial one, or another. Sealed containers counted exactly; open ones measured, or
    /// estimated where the rules allow. An initial inventory brings in its containers:
    /// `C<seq>-1`… in line order, each line's sealed ones first, then its open ones. Signed
    /// by its author and a different witness.
    Inventory {
        occasion: InventoryOccasion => enc, dec;
        taken_at: BusinessHours => enc, dec;
        date: Day => enc, dec;
        lines: Vec<InventoryLine> => enc_list, dec_list;
    }
);
payload!(
    /// One product, lot and location of an inventory.
    InventoryLine {
        product: Ndc => enc, dec;
        lot: Lot => enc, dec;
        expiry: Day => enc, dec;
        location: LocationId => enc, dec;
        /// Sealed containers, counted exactly.
        sealed: u32 => enc_u32, dec_u32;
        open: Vec<OpenContainer> => enc_list, dec_list;
    }
);
payload!(
    /// An open container in an inventory: what remains in it.
    OpenContainer {
        /// None in an initial inventory (a container it brings in); the open container
        /// measured in a later one.
        container: Option<ContainerId> => enc_opt, dec_opt;
        /// What remains, in the product's base unit.
        amount: Amount => enc, dec;
        /// An estimate rather than an exact measure (schedule III–V, containers of at most
        /// 1,000 units).
        estimated: bool => enc_bool, dec_bool;
        /// Initial inventory: the container's beyond-use date.
        beyond_use: Option<Day> => enc_opt, dec_opt;
    }
);
payload!(
    /// Version 4: a `loss_theft` reported to the DEA — the written notice to the Field
    /// Division and the Form 106 submission.
    LossReported {
        loss: Seq => enc, dec;
        notice_on: Day => enc, dec;
        form_106: Text => enc, dec;
        form_106_on: Day => enc, dec;
    }
);
payload!(
    /// Version 4: a Spravato REMS monitoring session closed: the patient's doses, from the
    /// first device to discharge, and the digest of the session record kept outside the chain.
    RemsSessionClosed {
        session: Text => enc, dec;
        patient: PatientRef => enc, dec;
        doses: Vec<Seq> => enc_list, dec_list;
        started_at: Timestamp => enc, dec;
        discharged_at: Timestamp => enc, dec;
        record_sha256: EntryHash => enc, dec;
    }
);
payload!(
    /// Version 4: the REMS patient monitoring form of a closed session was submitted.
    RemsFormSubmitted {
        session: Text => enc, dec;
        submitted_on: Day => enc, dec;
        confirmation: Text => enc, dec;
    }
);
payload!(
    /// Version 4: a prescription monitoring program file (ASAP) was sent to a state. Signed by
    /// the registrant key, like `report_issued`.
    PmpReported {
        state: Text => enc, dec;
        from: Day => enc, dec;
        to: Day => enc, dec;
        asap_version: Text => enc, dec;
        control_number: Text => enc, dec;
        /// DSP records in the file (0 for a zero report).
        records: u32 => enc_u32, dec_u32;
        file_sha256: EntryHash => enc, dec;
    }
);

impl Kind {
    /// The first format version whose entries may be of this kind: 2 for `report_issued`,
    /// which version 2 added; 4 for the kinds version 4 added; 1 for every other kind.
    pub fn format_version(self) -> u8 {
        match self {
            Kind::ReportIssued => 2,
            Kind::Inventory
            | Kind::LossReported
            | Kind::RemsSessionClosed
            | Kind::RemsFormSubmitted
            | Kind::PmpReported => 4,
            _ => 1,
        }
    }
}

impl Payload {
    /// The first format version that can hold this payload: its kind's, or 4 where it uses a
    /// field version 4 added (an older entry has no bytes for it).
    pub fn format_version(&self) -> u8 {
        let uses_v4_fields = match self {
            Payload::Administered(p) => p.late_reason.is_some(),
            Payload::LossTheft(p) => p.explains_count.is_some(),
            Payload::ReportIssued(p) => p.format != ReportFormat::Pdf || p.reason.is_some(),
            _ => false,
        };
        if uses_v4_fields {
            4
        } else {
            self.kind().format_version()
        }
    }
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransferTo {
    Location { location: LocationId },
    Registrant { registrant: Party },
}
impl Canonical for TransferTo {
    fn encode(&self, w: &mut Writer) {
        match self {
            TransferTo::Location { location } => {
                w.u8(1);
                location.encode(w);
            }
            TransferTo::Registrant { registrant } => {
                w.u8(2);
                registrant.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("transfer destination")? {
            1 => Ok(TransferTo::Location {
                location: LocationId::decode(r)?,
            }),
            2 => Ok(TransferTo::Registrant {
                registrant: Party::decode(r)?,
            }),
            tag => Err(DecodeError::BadTag {
                what: "transfer destination",
                tag: u16::from(tag),
            }),
        }
    }
}

/// How controlled substances left the registrant for destruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DestructionMethod {
    OnSite { method: Text, place: Text },
    ReverseDistributor { distributor: Party },
}
impl Canonical for DestructionMethod {
    fn encode(&self, w: &mut Writer) {
        match self {
            DestructionMethod::OnSite { method, place } => {
                w.u8(1);
                method.encode(w);
                place.encode(w);
            }
            DestructionMethod::ReverseDistributor { distributor } => {
                w.u8(2);
                distributor.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("destruction method")? {
            1 => Ok(DestructionMethod::OnSite {
                method: Text::decode(r)?,
                place: Text::decode(r)?,
            }),
            2 => Ok(DestructionMethod::ReverseDistributor {
                distributor: Party::decode(r)?,
            }),
            tag => Err(DecodeError::BadTag {
                what: "destruction method",
                tag: u16::from(tag),
            }),
        }
    }
}

payload!(
    /// One side of a count: sealed containers, and the sum of what open ones hold (base units).
    Tally {
        sealed: u32 => enc_u32, dec_u32;
        open: u64 => enc_u64, dec_u64;
    }
);
impl Copy for Tally {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_from_micrograms_are_exact_or_nothing() {
        let ten = Strength::Solution {
            per_ml: Micrograms::new(10_000),
            volume: Microliters::new(20_000),
        };
        assert_eq!(
            Amount::of_micrograms(&ten, Micrograms::new(35_000)),
            Some(Amount::Volume {
                ul: Microliters::new(3_500),
                ug: Micrograms::new(35_000)
            })
        );
        // 1 µg of 10 mg/mL is 0.1 µL: not a whole µL.
        assert_eq!(Amount::of_micrograms(&ten, Micrograms::new(1)), None);
        let device = Strength::Units {
            per_unit: Micrograms::new(28_000),
            units: Units::new(1),
        };
        assert_eq!(
            Amount::of_micrograms(&device, Micrograms::new(56_000)),
            Some(Amount::Units {
                units: Units::new(2),
                ug: Micrograms::new(56_000)
            })
        );
        assert_eq!(
            Amount::of_micrograms(&device, Micrograms::new(30_000)),
            None
        );
    }
}
