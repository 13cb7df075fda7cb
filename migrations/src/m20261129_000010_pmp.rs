//! Version 10: what state PMP reporting (ASAP) needs beyond the chain — the registrant's NPI
//! and NCPDP number, each prescriber's NPI (by DEA number), a take-home dispense's
//! prescription (number, date written, refills, days' supply), and the patient's sex on the
//! patient register. None of it is ledger evidence; the files issued are (`pmp_reported`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Patients {
    Table,
    Sex,
}

#[derive(Iden)]
enum RegistrantIdentifiers {
    Table,
    LedgerId,
    Npi,
    Ncpdp,
    UpdatedAt,
}

#[derive(Iden)]
enum Prescribers {
    Table,
    LedgerId,
    Dea,
    Npi,
    UpdatedAt,
}

#[derive(Iden)]
enum Prescriptions {
    Table,
    LedgerId,
    Seq,
    RxNumber,
    WrittenOn,
    RefillsAuthorized,
    DaysSupply,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .add_column(ColumnDef::new(Patients::Sex).string_len(1).null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RegistrantIdentifiers::Table)
                .col(
                    ColumnDef::new(RegistrantIdentifiers::LedgerId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(RegistrantIdentifiers::Npi)
                        .string_len(10)
                        .null(),
                )
                .col(
                    ColumnDef::new(RegistrantIdentifiers::Ncpdp)
                        .string_len(7)
                        .null(),
                )
                .col(
                    ColumnDef::new(RegistrantIdentifiers::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Prescribers::Table)
                .col(ColumnDef::new(Prescribers::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Prescribers::Dea).string_len(9).not_null())
                .col(ColumnDef::new(Prescribers::Npi).string_len(10).not_null())
                .col(
                    ColumnDef::new(Prescribers::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Prescribers::LedgerId)
                        .col(Prescribers::Dea),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Prescriptions::Table)
                .col(ColumnDef::new(Prescriptions::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Prescriptions::Seq).big_integer().not_null())
                .col(
                    ColumnDef::new(Prescriptions::RxNumber)
                        .string_len(25)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Prescriptions::WrittenOn)
                        .string_len(10)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Prescriptions::RefillsAuthorized)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Prescriptions::DaysSupply)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Prescriptions::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Prescriptions::LedgerId)
                        .col(Prescriptions::Seq),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Prescriptions::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Prescribers::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(RegistrantIdentifiers::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Patients::Table)
                .drop_column(Patients::Sex)
                .to_owned(),
        )
        .await
    }
}
