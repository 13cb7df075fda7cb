//! Version 7: a patient's enrollment in the Spravato REMS (the REMS patient id and the date),
//! kept on the patient register beside the identifying record — outside the chain, like the
//! rest of the register, and erased with it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Patients {
    Table,
    RemsPatientId,
    RemsEnrolledOn,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .add_column(
                    ColumnDef::new(Patients::RemsPatientId)
                        .string_len(64)
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .add_column(
                    ColumnDef::new(Patients::RemsEnrolledOn)
                        .string_len(10)
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .drop_column(Patients::RemsEnrolledOn)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .drop_column(Patients::RemsPatientId)
                .to_owned(),
        )
        .await
    }
}
