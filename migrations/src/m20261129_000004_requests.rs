//! Version 4: what makes signing safe to repeat and password guessing costly.
//!
//! - `requests`: each signed act's request id (a form's hidden id, an API `Idempotency-Key`)
//!   with a fingerprint of what it asked and what it recorded (entry seqs, or the queued
//!   entry's id). Written in the same transaction as the entries, so an act repeated after a
//!   reload, a retry or a lost acknowledgement finds its first outcome and records nothing.
//! - `attempts`: failed-password counts per account and per client address, shared by every
//!   server process on one database; an attempt is reserved here before the key derivation.
//! - `discrepancies.resolved_seq`: the adjustment that resolved a count's discrepancy, so the
//!   open ones are an indexed query (filled in for existing ledgers by the store on the first
//!   open after this migration).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Requests {
    Table,
    LedgerId,
    RequestKey,
    UserId,
    Fingerprint,
    Seqs,
    Pending,
    CreatedAt,
}

#[derive(Iden)]
enum Attempts {
    Table,
    Key,
    Failures,
    WindowStart,
    NextAt,
}

#[derive(Iden)]
enum Discrepancies {
    Table,
    LedgerId,
    ResolvedSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Requests::Table)
                .col(ColumnDef::new(Requests::LedgerId).uuid().not_null())
                .col(
                    // "api:" or "web:" and up to 200 characters.
                    ColumnDef::new(Requests::RequestKey)
                        .string_len(210)
                        .not_null(),
                )
                .col(ColumnDef::new(Requests::UserId).string_len(32).not_null())
                .col(ColumnDef::new(Requests::Fingerprint).binary().not_null())
                .col(ColumnDef::new(Requests::Seqs).text().not_null())
                .col(ColumnDef::new(Requests::Pending).uuid().null())
                .col(ColumnDef::new(Requests::CreatedAt).big_integer().not_null())
                // A request id is the signer's own: two people (or two clients) choosing the
                // same one never meet.
                .primary_key(
                    Index::create()
                        .col(Requests::LedgerId)
                        .col(Requests::UserId)
                        .col(Requests::RequestKey),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Attempts::Table)
                .col(
                    ColumnDef::new(Attempts::Key)
                        .string_len(300)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Attempts::Failures).big_integer().not_null())
                .col(
                    ColumnDef::new(Attempts::WindowStart)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Attempts::NextAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("attempts_window")
                .table(Attempts::Table)
                .col(Attempts::WindowStart)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Discrepancies::Table)
                .add_column(
                    ColumnDef::new(Discrepancies::ResolvedSeq)
                        .big_integer()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("discrepancies_open")
                .table(Discrepancies::Table)
                .col(Discrepancies::LedgerId)
                .col(Discrepancies::ResolvedSeq)
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
