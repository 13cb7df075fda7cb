//! Version 14: the index of entries by kind and time (version 13) dropped (issue 18, P1).
//! Every index costs each append's commit a page of its own, and this one served one question
//! (the first entry of a kind from a time, for the dashboard's PMP deadline), which entries by
//! kind and sequence number answer as well: an entry's time never goes back along the chain
//! (the ledger's rule), so the first sequence number at or after a time is found by a binary
//! search of the chain's own key, and the first entry of the kind from there is one read down
//! `entries_kind` (`Store::first_of_kind_from`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Entries {
    Table,
    LedgerId,
    Kind,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("entries_kind_time")
                .table(Entries::Table)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("entries_kind_time")
                .table(Entries::Table)
                .col(Entries::LedgerId)
                .col(Entries::Kind)
                .col(Entries::RecordedAt)
                .to_owned(),
        )
        .await
    }
}
