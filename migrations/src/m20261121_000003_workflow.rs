//! Version 3: what lives beside the chain but is not the chain.
//!
//! - `pending_entries`: acts signed by their author and waiting for a witness (a waste sent to
//!   the awaiting-witness queue). They are not in the ledger until witnessed; a row whose
//!   entry id is already in `entries` is done and not listed.
//! - `patients`: the identifying record behind a patient commitment. The chain holds only the
//!   HMAC commitment, so erasing a row here never breaks verification.
//! - `bootstrap_tokens`: the hash of the one-time token with which the first admin sets a
//!   password on a freshly initialized ledger.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum PendingEntries {
    Table,
    LedgerId,
    EntryId,
    Kind,
    Author,
    Container,
    CreatedAt,
    Body,
    Signatures,
}

#[derive(Iden)]
enum Patients {
    Table,
    LedgerId,
    PatientRef,
    Mrn,
    Name,
    Address,
    BirthDate,
    CreatedAt,
}

#[derive(Iden)]
enum BootstrapTokens {
    Table,
    LedgerId,
    TokenHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PendingEntries::Table)
                .col(ColumnDef::new(PendingEntries::LedgerId).uuid().not_null())
                .col(ColumnDef::new(PendingEntries::EntryId).uuid().not_null())
                .col(ColumnDef::new(PendingEntries::Kind).integer().not_null())
                .col(
                    ColumnDef::new(PendingEntries::Author)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PendingEntries::Container)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PendingEntries::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(PendingEntries::Body).binary().not_null())
                .col(ColumnDef::new(PendingEntries::Signatures).text().not_null())
                .primary_key(
                    Index::create()
                        .col(PendingEntries::LedgerId)
                        .col(PendingEntries::EntryId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Patients::Table)
                .col(ColumnDef::new(Patients::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(Patients::PatientRef)
                        .string_len(80)
                        .not_null(),
                )
                .col(ColumnDef::new(Patients::Mrn).string_len(200).not_null())
                .col(ColumnDef::new(Patients::Name).string_len(200).not_null())
                .col(ColumnDef::new(Patients::Address).string_len(400).not_null())
                .col(
                    ColumnDef::new(Patients::BirthDate)
                        .string_len(10)
                        .not_null(),
                )
                .col(ColumnDef::new(Patients::CreatedAt).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Patients::LedgerId)
                        .col(Patients::PatientRef),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BootstrapTokens::Table)
                .col(
                    ColumnDef::new(BootstrapTokens::LedgerId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(BootstrapTokens::TokenHash)
                        .binary()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BootstrapTokens::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "custody migrations are never reverted".into(),
        ))
    }
}
