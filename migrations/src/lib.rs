//! custody's schema, as explicit versioned migrations: the only place a table changes.
//! The schema is audit evidence; a migration is never edited once released, only added to.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_ledger;
mod m20261121_000002_sessions;
mod m20261121_000003_workflow;
mod m20261129_000004_requests;
mod m20261129_000005_cosignatures;
mod m20261129_000006_password_changes;
mod m20261129_000007_rems;
mod m20261129_000010_pmp;
mod m20261130_000011_rems_sessions;
mod m20261130_000012_patient_labels;
mod m20261130_000013_dashboard_indexes;
mod m20261202_000014_one_index_of_kinds;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_ledger::Migration),
            Box::new(m20261121_000002_sessions::Migration),
            Box::new(m20261121_000003_workflow::Migration),
            Box::new(m20261129_000004_requests::Migration),
            Box::new(m20261129_000005_cosignatures::Migration),
            Box::new(m20261129_000006_password_changes::Migration),
            Box::new(m20261129_000007_rems::Migration),
            Box::new(m20261129_000010_pmp::Migration),
            Box::new(m20261130_000011_rems_sessions::Migration),
            Box::new(m20261130_000012_patient_labels::Migration),
            Box::new(m20261130_000013_dashboard_indexes::Migration),
            Box::new(m20261202_000014_one_index_of_kinds::Migration),
        ]
    }
}
