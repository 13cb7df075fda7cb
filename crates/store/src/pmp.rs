//! What state PMP reporting needs beside the chain: the registrant's NPI and NCPDP number,
//! each prescriber's NPI (keyed by DEA number), and each take-home dispense's prescription
//! (number, date written, refills authorized, days' supply), keyed by the dispense's
//! sequence number. Registers, not evidence: a change here after a file was issued makes
//! the next file carry a revision (`updated_at`).

use custody_ledger::{Day, DeaNumber, LedgerId, Seq, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Store;
use crate::error::StoreError;

pub mod registrant_identifiers {
    use sea_orm::entity::prelude::*;

    /// The registrant's NPI and NCPDP number (one row per ledger).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registrant_identifiers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        pub npi: Option<String>,
        pub ncpdp: Option<String>,
        pub updated_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod prescribers {
    use sea_orm::entity::prelude::*;

    /// A prescriber's NPI, by the DEA number entries name them with.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "prescribers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dea: String,
        pub npi: String,
        pub updated_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod prescriptions {
    use sea_orm::entity::prelude::*;

    /// The prescription a take-home dispense (entry `seq`) filled.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "prescriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub rx_number: String,
        pub written_on: String,
        pub refills_authorized: i32,
        pub days_supply: i32,
        pub updated_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// The registrant's identifiers a PMP asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrantIds {
    /// National Provider Identifier (10 digits).
    pub npi: Option<String>,
    /// NCPDP (formerly NABP) provider id (7 digits).
    pub ncpdp: Option<String>,
}

/// The prescription behind a take-home dispense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prescription {
    /// The dispense entry it belongs to.
    pub seq: Seq,
    pub rx_number: String,
    pub written_on: Day,
    pub refills_authorized: u32,
    pub days_supply: u32,
    /// When it was last written here.
    pub updated_at: Timestamp,
}

fn nonneg(v: i32) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(StoreError::corrupt)
}

fn small(v: u32) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(StoreError::corrupt)
}

impl Store {
    pub async fn registrant_ids(&self, ledger: LedgerId) -> Result<RegistrantIds, StoreError> {
        Ok(registrant_identifiers::Entity::find_by_id(ledger.as_uuid())
            .one(self.connection())
            .await?
            .map(|m| RegistrantIds {
                npi: m.npi,
                ncpdp: m.ncpdp,
            })
            .unwrap_or_default())
    }

    pub async fn save_registrant_ids(
        &self,
        ledger: LedgerId,
        ids: &RegistrantIds,
    ) -> Result<(), StoreError> {
        registrant_identifiers::Entity::insert(registrant_identifiers::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            npi: Set(ids.npi.clone()),
            ncpdp: Set(ids.ncpdp.clone()),
            updated_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::column(registrant_identifiers::Column::LedgerId)
                .update_columns([
                    registrant_identifiers::Column::Npi,
                    registrant_identifiers::Column::Ncpdp,
                    registrant_identifiers::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// The NPI kept for the prescriber with DEA number `dea`.
    pub async fn prescriber_npi(
        &self,
        ledger: LedgerId,
        dea: &DeaNumber,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            prescribers::Entity::find_by_id((ledger.as_uuid(), dea.to_string()))
                .one(self.connection())
                .await?
                .map(|m| m.npi),
        )
    }

    pub async fn save_prescriber_npi(
        &self,
        ledger: LedgerId,
        dea: &DeaNumber,
        npi: &str,
    ) -> Result<(), StoreError> {
        prescribers::Entity::insert(prescribers::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            dea: Set(dea.to_string()),
            npi: Set(npi.to_string()),
            updated_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::columns([prescribers::Column::LedgerId, prescribers::Column::Dea])
                .update_columns([prescribers::Column::Npi, prescribers::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// Keeps (or replaces) the prescription of the dispense `p.seq`; `updated_at` is now.
    pub async fn save_prescription(
        &self,
        ledger: LedgerId,
        p: &Prescription,
    ) -> Result<(), StoreError> {
        let seq = i64::try_from(p.seq.get()).map_err(StoreError::corrupt)?;
        prescriptions::Entity::insert(prescriptions::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            seq: Set(seq),
            rx_number: Set(p.rx_number.clone()),
            written_on: Set(p.written_on.to_string()),
            refills_authorized: Set(small(p.refills_authorized)?),
            days_supply: Set(small(p.days_supply)?),
            updated_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::columns([prescriptions::Column::LedgerId, prescriptions::Column::Seq])
                .update_columns([
                    prescriptions::Column::RxNumber,
                    prescriptions::Column::WrittenOn,
                    prescriptions::Column::RefillsAuthorized,
                    prescriptions::Column::DaysSupply,
                    prescriptions::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// Every prescription kept for this ledger's dispenses.
    pub async fn prescriptions(&self, ledger: LedgerId) -> Result<Vec<Prescription>, StoreError> {
        prescriptions::Entity::find()
            .filter(prescriptions::Column::LedgerId.eq(ledger.as_uuid()))
            .all(self.connection())
            .await?
            .into_iter()
            .map(|m| {
                Ok(Prescription {
                    seq: Seq::new(u64::try_from(m.seq).map_err(StoreError::corrupt)?)
                        .map_err(StoreError::corrupt)?,
                    rx_number: m.rx_number,
                    written_on: m.written_on.parse().map_err(StoreError::corrupt)?,
                    refills_authorized: nonneg(m.refills_authorized)?,
                    days_supply: nonneg(m.days_supply)?,
                    updated_at: Timestamp::from_micros(m.updated_at)
                        .map_err(StoreError::corrupt)?,
                })
            })
            .collect()
    }
}
