//! Version 6: the people who must change their password before they do anything else — those
//! whose password an admin set (a reset). A row is added by the reset and removed only by the
//! person's own password change, so the demand outlives restarts and sessions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum PasswordChanges {
    Table,
    LedgerId,
    UserId,
    RequiredSince,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PasswordChanges::Table)
                .col(ColumnDef::new(PasswordChanges::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(PasswordChanges::UserId)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PasswordChanges::RequiredSince)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(PasswordChanges::LedgerId)
                        .col(PasswordChanges::UserId),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasswordChanges::Table).to_owned())
            .await
    }
}
