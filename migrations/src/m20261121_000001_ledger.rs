//! Version 1: ledgers with their head, entries, and the state materialized from them
//! (users, credentials, products, locations, containers, discrepancies).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Ledgers {
    Table,
    Id,
    RegistrantName,
    RegistrantAddress,
    RegistrantDea,
    RegistrantKey,
    GenesisKey,
    PatientSecret,
    UsersEnrolled,
    NextSeq,
    LastHash,
    LastTimestamp,
}

#[derive(Iden)]
enum Entries {
    Table,
    LedgerId,
    Seq,
    EntryId,
    Kind,
    RecordedAt,
    PrevHash,
    EntryHash,
    Subtrees,
    Body,
}

#[derive(Iden)]
enum Checkpoints {
    Table,
    LedgerId,
    Size,
    IssuedAt,
    Root,
    Note,
}

#[derive(Iden)]
enum Users {
    Table,
    LedgerId,
    UserId,
    PrintedName,
    Role,
    Active,
    PublicKey,
    KeyId,
}

#[derive(Iden)]
enum Credentials {
    Table,
    LedgerId,
    UserId,
    KeyId,
    SealedKey,
}

#[derive(Iden)]
enum Products {
    Table,
    LedgerId,
    Ndc,
    Name,
    Definition,
}

#[derive(Iden)]
enum Locations {
    Table,
    LedgerId,
    LocationId,
    Name,
    Kind,
}

#[derive(Iden)]
enum Containers {
    Table,
    LedgerId,
    ContainerId,
    ReceiptSeq,
    Idx,
    Ndc,
    Lot,
    Expiry,
    Location,
    Status,
    BeyondUse,
    Capacity,
    Remaining,
}

#[derive(Iden)]
enum Discrepancies {
    Table,
    LedgerId,
    CountSeq,
    Location,
    Ndc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Ledgers::Table)
                .col(ColumnDef::new(Ledgers::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Ledgers::RegistrantName).text().not_null())
                .col(ColumnDef::new(Ledgers::RegistrantAddress).text().not_null())
                .col(
                    ColumnDef::new(Ledgers::RegistrantDea)
                        .string_len(9)
                        .not_null(),
                )
                .col(ColumnDef::new(Ledgers::RegistrantKey).binary().not_null())
                .col(ColumnDef::new(Ledgers::GenesisKey).binary().not_null())
                .col(ColumnDef::new(Ledgers::PatientSecret).binary().not_null())
                .col(
                    ColumnDef::new(Ledgers::UsersEnrolled)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Ledgers::NextSeq).big_integer().not_null())
                .col(ColumnDef::new(Ledgers::LastHash).binary().not_null())
                .col(
                    ColumnDef::new(Ledgers::LastTimestamp)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Entries::Table)
                .col(ColumnDef::new(Entries::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Entries::Seq).big_integer().not_null())
                .col(ColumnDef::new(Entries::EntryId).uuid().not_null())
                .col(ColumnDef::new(Entries::Kind).integer().not_null())
                .col(ColumnDef::new(Entries::RecordedAt).big_integer().not_null())
                .col(ColumnDef::new(Entries::PrevHash).binary().not_null())
                .col(ColumnDef::new(Entries::EntryHash).binary().not_null())
                // The Merkle tree's perfect subtrees that this entry's leaf completes, levels
                // 1 up, 32 bytes each: proofs read O(log n) of them.
                .col(ColumnDef::new(Entries::Subtrees).binary().not_null())
                .col(ColumnDef::new(Entries::Body).binary().not_null())
                .primary_key(Index::create().col(Entries::LedgerId).col(Entries::Seq))
                .foreign_key(
                    ForeignKey::create()
                        .from(Entries::Table, Entries::LedgerId)
                        .to(Ledgers::Table, Ledgers::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("entries_entry_id")
                .table(Entries::Table)
                .col(Entries::EntryId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("entries_kind")
                .table(Entries::Table)
                .col(Entries::LedgerId)
                .col(Entries::Kind)
                .col(Entries::Seq)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(ColumnDef::new(Users::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Users::UserId).string_len(32).not_null())
                .col(ColumnDef::new(Users::PrintedName).text().not_null())
                .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                .col(ColumnDef::new(Users::Active).boolean().not_null())
                .col(ColumnDef::new(Users::PublicKey).binary().not_null())
                .col(ColumnDef::new(Users::KeyId).string_len(32).not_null())
                .primary_key(Index::create().col(Users::LedgerId).col(Users::UserId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("users_public_key")
                .table(Users::Table)
                .col(Users::LedgerId)
                .col(Users::PublicKey)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Credentials::Table)
                .col(ColumnDef::new(Credentials::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(Credentials::UserId)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Credentials::KeyId).string_len(32).not_null())
                .col(ColumnDef::new(Credentials::SealedKey).binary().not_null())
                .primary_key(
                    Index::create()
                        .col(Credentials::LedgerId)
                        .col(Credentials::UserId)
                        .col(Credentials::KeyId),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Products::Table)
                .col(ColumnDef::new(Products::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Products::Ndc).string_len(11).not_null())
                .col(ColumnDef::new(Products::Name).text().not_null())
                .col(ColumnDef::new(Products::Definition).binary().not_null())
                .primary_key(Index::create().col(Products::LedgerId).col(Products::Ndc))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Locations::Table)
                .col(ColumnDef::new(Locations::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(Locations::LocationId)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Locations::Name).text().not_null())
                .col(ColumnDef::new(Locations::Kind).string_len(16).not_null())
                .primary_key(
                    Index::create()
                        .col(Locations::LedgerId)
                        .col(Locations::LocationId),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Containers::Table)
                .col(ColumnDef::new(Containers::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(Containers::ContainerId)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Containers::ReceiptSeq)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Containers::Idx).integer().not_null())
                .col(ColumnDef::new(Containers::Ndc).string_len(11).not_null())
                .col(ColumnDef::new(Containers::Lot).string_len(32).not_null())
                .col(ColumnDef::new(Containers::Expiry).integer().not_null())
                .col(
                    ColumnDef::new(Containers::Location)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Containers::Status).string_len(8).not_null())
                .col(ColumnDef::new(Containers::BeyondUse).integer().null())
                .col(
                    ColumnDef::new(Containers::Capacity)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Containers::Remaining)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Containers::LedgerId)
                        .col(Containers::ContainerId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("containers_stock")
                .table(Containers::Table)
                .col(Containers::LedgerId)
                .col(Containers::Location)
                .col(Containers::Ndc)
                .col(Containers::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Discrepancies::Table)
                .col(ColumnDef::new(Discrepancies::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(Discrepancies::CountSeq)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Discrepancies::Location)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Discrepancies::Ndc).string_len(11).not_null())
                .primary_key(
                    Index::create()
                        .col(Discrepancies::LedgerId)
                        .col(Discrepancies::CountSeq),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Checkpoints::Table)
                .col(ColumnDef::new(Checkpoints::LedgerId).uuid().not_null())
                .col(ColumnDef::new(Checkpoints::Size).big_integer().not_null())
                .col(
                    ColumnDef::new(Checkpoints::IssuedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Checkpoints::Root).binary().not_null())
                .col(ColumnDef::new(Checkpoints::Note).text().not_null())
                .primary_key(
                    Index::create()
                        .col(Checkpoints::LedgerId)
                        .col(Checkpoints::Size)
                        .col(Checkpoints::IssuedAt),
                )
                .to_owned(),
        )
        .await?;

        // The chain guard: an entry row goes in only if it extends its ledger's head, and the
        // head moves with it — in the same statement, whatever the writer.
        match m.get_database_backend() {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                m.get_connection()
                    .execute_unprepared(
                        r#"
CREATE FUNCTION custody_entries_chain() RETURNS trigger AS $$
BEGIN
    UPDATE ledgers
       SET next_seq = NEW.seq + 1, last_hash = NEW.entry_hash, last_timestamp = NEW.recorded_at
     WHERE id = NEW.ledger_id AND next_seq = NEW.seq AND last_hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custody: entry does not extend the head of its ledger';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER entries_chain BEFORE INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION custody_entries_chain();
"#,
                    )
                    .await?;
            }
            _ => {
                m.get_connection()
                    .execute_unprepared(
                        r#"
CREATE TRIGGER entries_chain BEFORE INSERT ON entries
BEGIN
    SELECT RAISE(ABORT, 'custody: entry does not extend the head of its ledger')
     WHERE NOT EXISTS (SELECT 1 FROM ledgers
                        WHERE id = NEW.ledger_id AND next_seq = NEW.seq
                          AND last_hash = NEW.prev_hash);
    UPDATE ledgers
       SET next_seq = NEW.seq + 1, last_hash = NEW.entry_hash, last_timestamp = NEW.recorded_at
     WHERE id = NEW.ledger_id;
END;
"#,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // The schema holds a ledger that must never be dropped by a tool.
        Err(DbErr::Migration(
            "custody migrations are never reverted: a ledger is kept, not dropped".into(),
        ))
    }
}
