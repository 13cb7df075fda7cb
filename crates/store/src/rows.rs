//! Conversions between database rows and the ledger's state types. A row that cannot be read
//! back into a valid value is reported as corrupt, never papered over.

use custody_ledger::state::{ContainerState, ContainerStatus, UserState};
use custody_ledger::{
    Canonical, ContainerId, Day, EntryHash, LocationDefined, LocationId, Lot, Ndc, ProductDefined,
    PublicKey, Seq, UserId,
};
use sea_orm::ActiveValue::Set;

use crate::entities::{containers, locations, products, users};
use crate::error::StoreError;

pub(crate) fn arr32(v: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::corrupt(format!("{what} is not 32 bytes")))
}

pub(crate) fn hash(v: &[u8], what: &str) -> Result<EntryHash, StoreError> {
    Ok(EntryHash::from_bytes(arr32(v, what)?))
}

pub(crate) fn public_key(v: &[u8], what: &str) -> Result<PublicKey, StoreError> {
    PublicKey::from_bytes(&arr32(v, what)?).map_err(StoreError::corrupt)
}

pub(crate) fn seq(v: i64) -> Result<Seq, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(|n| Seq::new(n).ok())
        .ok_or_else(|| StoreError::corrupt(format!("sequence number {v} out of range")))
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("quantities and sequence numbers are bounded by the ledger's rules")
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(StoreError::corrupt)
}

pub(crate) fn user_to_row(ledger: uuid::Uuid, id: &UserId, u: &UserState) -> users::ActiveModel {
    users::ActiveModel {
        ledger_id: Set(ledger),
        user_id: Set(id.to_string()),
        printed_name: Set(u.printed_name.to_string()),
        role: Set(u.role.to_string()),
        active: Set(u.active),
        public_key: Set(u.key.to_bytes().to_vec()),
        key_id: Set(u.key.key_id().to_string()),
    }
}

pub(crate) fn product_from_row(m: &products::Model) -> Result<ProductDefined, StoreError> {
    ProductDefined::from_canonical_bytes(&m.definition).map_err(StoreError::corrupt)
}

pub(crate) fn product_to_row(ledger: uuid::Uuid, p: &ProductDefined) -> products::ActiveModel {
    products::ActiveModel {
        ledger_id: Set(ledger),
        ndc: Set(p.ndc.digits().to_string()),
        name: Set(p.name.to_string()),
        definition: Set(p.to_canonical_bytes()),
    }
}

pub(crate) fn location_from_row(m: &locations::Model) -> Result<LocationDefined, StoreError> {
    Ok(LocationDefined {
        location: parse(&m.location_id)?,
        name: parse(&m.name)?,
        kind: parse(&m.kind)?,
    })
}

pub(crate) fn location_to_row(ledger: uuid::Uuid, l: &LocationDefined) -> locations::ActiveModel {
    locations::ActiveModel {
        ledger_id: Set(ledger),
        location_id: Set(l.location.to_string()),
        name: Set(l.name.to_string()),
        kind: Set(l.kind.to_string()),
    }
}

/// A container row: live (with its full state) or finished (with how it ended).
pub(crate) enum ContainerRow {
    Live(ContainerState),
    Finished(ContainerStatus),
}

pub(crate) fn ndc_from_digits(d: &str) -> Result<Ndc, StoreError> {
    if d.len() != 11 {
        return Err(StoreError::corrupt(format!("NDC {d:?} is not 11 digits")));
    }
    parse(d)
}

pub(crate) fn container_from_row(m: &containers::Model) -> Result<ContainerRow, StoreError> {
    let id: ContainerId = parse(&m.container_id)?;
    let day = |d: i32| Day::from_unix_days(d).map_err(StoreError::corrupt);
    let status = match (m.status.as_str(), m.beyond_use) {
        ("sealed", _) => ContainerStatus::Sealed,
        ("open", Some(b)) => ContainerStatus::Open {
            beyond_use: day(b)?,
        },
        ("empty", _) => return Ok(ContainerRow::Finished(ContainerStatus::Empty)),
        ("gone", _) => return Ok(ContainerRow::Finished(ContainerStatus::Gone)),
        (s, _) => return Err(StoreError::corrupt(format!("container status {s:?}"))),
    };
    let nonneg = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| StoreError::corrupt(format!("{what} of {id} is negative")))
    };
    Ok(ContainerRow::Live(ContainerState {
        id,
        product: ndc_from_digits(&m.ndc)?,
        lot: parse::<Lot>(&m.lot)?,
        expiry: day(m.expiry)?,
        location: parse::<LocationId>(&m.location)?,
        status,
        capacity: nonneg(m.capacity, "capacity")?,
        remaining: nonneg(m.remaining, "remaining")?,
    }))
}

/// Which of a live container row's columns an entry may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerChange {
    /// Its place or status (or it is new): every column an entry can change.
    Placed,
    /// Only its beyond-use date and what is left: a dose, a partial waste.
    Contents,
}

/// Where a container is and whether it is sealed or open: the columns of `containers` that
/// its indexes hold (`containers_stock`, `containers_live`).
pub(crate) fn container_place(c: &ContainerState) -> (&LocationId, &'static str) {
    (&c.location, c.status.name())
}

/// A container row written again: what an entry can change of it (its place, status,
/// beyond-use date and what is left), never what its receipt fixed. SQLite rewrites an
/// index's entry for every indexed column a statement assigns, changed or not, so that each
/// index costs the commit a page: a row whose place and status stayed is written without them
/// (two pages of the ≈ 10 an append's commit writes, for every dose).
pub(crate) fn container_upsert(change: ContainerChange) -> sea_orm::sea_query::OnConflict {
    let columns: &[containers::Column] = match change {
        ContainerChange::Placed => &[
            containers::Column::Location,
            containers::Column::Status,
            containers::Column::BeyondUse,
            containers::Column::Remaining,
        ],
        ContainerChange::Contents => {
            &[containers::Column::BeyondUse, containers::Column::Remaining]
        }
    };
    sea_orm::sea_query::OnConflict::columns([
        containers::Column::LedgerId,
        containers::Column::ContainerId,
    ])
    .update_columns(columns.iter().copied())
    .to_owned()
}

pub(crate) fn container_to_row(ledger: uuid::Uuid, c: &ContainerState) -> containers::ActiveModel {
    let (status, bud) = match c.status {
        ContainerStatus::Sealed => ("sealed", None),
        ContainerStatus::Open { beyond_use } => ("open", Some(beyond_use.unix_days())),
        ContainerStatus::Empty => ("empty", None),
        ContainerStatus::Gone => ("gone", None),
    };
    containers::ActiveModel {
        ledger_id: Set(ledger),
        container_id: Set(c.id.to_string()),
        receipt_seq: Set(to_i64(c.id.receipt().get())),
        idx: Set(i32::try_from(c.id.index()).unwrap_or(i32::MAX)),
        ndc: Set(c.product.digits().to_string()),
        lot: Set(c.lot.to_string()),
        expiry: Set(c.expiry.unix_days()),
        location: Set(c.location.to_string()),
        status: Set(status.to_string()),
        beyond_use: Set(bud),
        capacity: Set(to_i64(c.capacity)),
        remaining: Set(to_i64(c.remaining)),
    }
}
