//! Version 13: an index of containers by status, so that what is on hand (the live ones,
//! sealed or open) is found without reading every container ever received. Emptied and
//! destroyed containers keep their rows, so without it `GET …/on-hand` and the dashboard grew
//! with the ledger (issue 18, P5).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Containers {
    Table,
    LedgerId,
    Status,
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
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("containers_live")
                .table(Containers::Table)
                .to_owned(),
        )
        .await
    }
}
