//! Patient-labelled product: a container the pharmacy labelled for one patient (a Spravato
//! device sent for them), and the day. Outside the chain, like the rest of the patient
//! register; the clinic refuses a dose from it for anyone else, and from the fifteenth day
//! unused for anyone at all (it must leave stock, to destruction or a reverse distributor).

use custody_ledger::{ContainerId, Day, LedgerId, PatientRef};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Store;
use crate::error::StoreError;

pub mod patient_labels {
    use sea_orm::entity::prelude::*;

    /// A container labelled for a patient (see the module comment).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "patient_labels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub container: String,
        pub patient_ref: String,
        /// YYYY-MM-DD, a day of the clinic's time zone.
        pub labelled_on: String,
        pub labelled_by: String,
        pub updated_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// A container labelled for a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientLabel {
    pub container: ContainerId,
    pub patient: PatientRef,
    pub labelled_on: Day,
    /// The user who recorded the label.
    pub labelled_by: String,
}

fn of_model(m: patient_labels::Model) -> Result<PatientLabel, StoreError> {
    Ok(PatientLabel {
        container: m.container.parse().map_err(StoreError::corrupt)?,
        patient: m.patient_ref.parse().map_err(StoreError::corrupt)?,
        labelled_on: m.labelled_on.parse().map_err(StoreError::corrupt)?,
        labelled_by: m.labelled_by,
    })
}

impl Store {
    /// Keeps (or replaces) a container's patient label.
    pub async fn save_patient_label(
        &self,
        ledger: LedgerId,
        l: &PatientLabel,
    ) -> Result<(), StoreError> {
        use patient_labels::Column as C;
        patient_labels::Entity::insert(patient_labels::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            container: Set(l.container.to_string()),
            patient_ref: Set(l.patient.to_string()),
            labelled_on: Set(l.labelled_on.to_string()),
            labelled_by: Set(l.labelled_by.clone()),
            updated_at: Set(crate::clock::now_micros()),
        })
        .on_conflict(
            OnConflict::columns([C::LedgerId, C::Container])
                .update_columns([C::PatientRef, C::LabelledOn, C::LabelledBy, C::UpdatedAt])
                .to_owned(),
        )
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// Every patient label of this ledger.
    pub async fn patient_labels(&self, ledger: LedgerId) -> Result<Vec<PatientLabel>, StoreError> {
        patient_labels::Entity::find()
            .filter(patient_labels::Column::LedgerId.eq(ledger.as_uuid()))
            .all(self.connection())
            .await?
            .into_iter()
            .map(of_model)
            .collect()
    }
}
