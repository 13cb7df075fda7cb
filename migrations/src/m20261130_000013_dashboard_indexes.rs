//! Version 13: two indexes so that the dashboard's reads do not grow with the ledger (issue 18,
//! P5). Containers by status: what is on hand (the live ones, sealed or open) is found
//! without reading every container ever received (emptied and destroyed ones keep their
//! rows). Entries by kind and time: the first dispense after a PMP file's period (its next
//! deadline) is one read, not a decoding of every dispense ever recorded.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Containers {
    Table,
    LedgerId,
    Status,
}

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
        m.create_index(
            Index::create()
                .name("containers_live")
                .table(Containers::Table)
                .col(Containers::LedgerId)
                .col(Containers::Status)
                .to_owned(),
        )
        .await?;
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

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("entries_kind_time")
                .table(Entries::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("containers_live")
                .table(Containers::Table)
                .to_owned(),
        )
        .await
    }
}
