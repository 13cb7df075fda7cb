//! Version 12: patient-labelled product — a container labelled for one patient (a Spravato
//! device the specialty pharmacy sent for them), and the day it was labelled. Kept outside the
//! chain, like the rest of the patient register: it names a person's treatment, and the chain
//! keeps only the doses' commitments.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum PatientLabels {
    Table,
    LedgerId,
    Container,
    PatientRef,
    LabelledOn,
    LabelledBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PatientLabels::Table)
                .col(ColumnDef::new(PatientLabels::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(PatientLabels::Container)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PatientLabels::PatientRef)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PatientLabels::LabelledOn)
                        .string_len(10)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PatientLabels::LabelledBy)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PatientLabels::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(PatientLabels::LedgerId)
                        .col(PatientLabels::Container),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PatientLabels::Table).to_owned())
            .await
    }
}
