//! Version 5: witnesses' cosignatures of the registrant's checkpoints (C2SP tlog-cosignature),
//! as each witness returned them: the checkpoint they sign (size and root), the witness's key
//! name, and the whole signature line, appended to the checkpoint when it is handed out.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Cosignatures {
    Table,
    LedgerId,
    Size,
    Root,
    Witness,
    Line,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Cosignatures::Table)
                .col(ColumnDef::new(Cosignatures::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Cosignatures::Size).big_integer().not_null())
                .col(ColumnDef::new(Cosignatures::Root).binary().not_null())
                .col(
                    ColumnDef::new(Cosignatures::Witness)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(Cosignatures::Line).text().not_null())
                .col(
                    ColumnDef::new(Cosignatures::ReceivedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Cosignatures::LedgerId)
                        .col(Cosignatures::Size)
                        .col(Cosignatures::Witness),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Cosignatures::Table).to_owned())
            .await
    }
}
