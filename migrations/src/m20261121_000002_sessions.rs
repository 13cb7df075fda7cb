//! Version 2: sign-in sessions. Only a hash of each session token is kept, so a copy of the
//! database does not let anyone act as a signed-in user.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Sessions {
    Table,
    TokenHash,
    LedgerId,
    UserId,
    CreatedAt,
    LastSeen,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(
                    ColumnDef::new(Sessions::TokenHash)
                        .binary()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Sessions::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Sessions::UserId).string_len(32).not_null())
                .col(ColumnDef::new(Sessions::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Sessions::LastSeen).big_integer().not_null())
                .col(ColumnDef::new(Sessions::ExpiresAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("sessions_user")
                .table(Sessions::Table)
                .col(Sessions::LedgerId)
                .col(Sessions::UserId)
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
