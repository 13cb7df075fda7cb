//! Version 11: the Spravato REMS session record — the clinical observations of one monitoring
//! session (vital signs, pulse oximetry, resolution of sedation, dissociation and respiratory
//! depression, adverse events, concomitant medicines, the clinician and setting) and the
//! monitoring form's submission. Kept outside the chain, since it is clinical data about a
//! person; its SHA-256 enters the chain when the session is closed (`rems_session_closed`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum RemsSessions {
    Table,
    LedgerId,
    SessionId,
    PatientRef,
    Doses,
    StartedAt,
    FirstTreatment,
    BpBeforeSystolic,
    BpBeforeDiastolic,
    #[iden = "bp40_systolic"]
    Bp40Systolic,
    #[iden = "bp40_diastolic"]
    Bp40Diastolic,
    BpDischargeSystolic,
    BpDischargeDiastolic,
    PulseOximetry,
    SedationResolved,
    DissociationResolved,
    RespiratoryDepressionResolved,
    AdverseEvents,
    Concomitant,
    Clinician,
    Setting,
    DischargedAt,
    ClosedSeq,
    FormSubmittedOn,
    FormConfirmation,
    OpenedBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let bp = |c: RemsSessions| ColumnDef::new(c).integer().null().to_owned();
        let flag = |c: RemsSessions| {
            ColumnDef::new(c)
                .boolean()
                .not_null()
                .default(false)
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(RemsSessions::Table)
                .col(ColumnDef::new(RemsSessions::LedgerId).uuid().not_null())
                .col(
                    ColumnDef::new(RemsSessions::SessionId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RemsSessions::PatientRef)
                        .string_len(128)
                        .not_null(),
                )
                .col(ColumnDef::new(RemsSessions::Doses).text().not_null())
                .col(
                    ColumnDef::new(RemsSessions::StartedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(flag(RemsSessions::FirstTreatment))
                .col(bp(RemsSessions::BpBeforeSystolic))
                .col(bp(RemsSessions::BpBeforeDiastolic))
                .col(bp(RemsSessions::Bp40Systolic))
                .col(bp(RemsSessions::Bp40Diastolic))
                .col(bp(RemsSessions::BpDischargeSystolic))
                .col(bp(RemsSessions::BpDischargeDiastolic))
                .col(flag(RemsSessions::PulseOximetry))
                .col(flag(RemsSessions::SedationResolved))
                .col(flag(RemsSessions::DissociationResolved))
                .col(flag(RemsSessions::RespiratoryDepressionResolved))
                .col(ColumnDef::new(RemsSessions::AdverseEvents).text().null())
                .col(
                    ColumnDef::new(RemsSessions::Concomitant)
                        .string_len(200)
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(RemsSessions::Clinician)
                        .string_len(200)
                        .null(),
                )
                .col(ColumnDef::new(RemsSessions::Setting).string_len(200).null())
                .col(
                    ColumnDef::new(RemsSessions::DischargedAt)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(RemsSessions::ClosedSeq).big_integer().null())
                .col(
                    ColumnDef::new(RemsSessions::FormSubmittedOn)
                        .string_len(10)
                        .null(),
                )
                .col(
                    ColumnDef::new(RemsSessions::FormConfirmation)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(RemsSessions::OpenedBy)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RemsSessions::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(RemsSessions::LedgerId)
                        .col(RemsSessions::SessionId),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RemsSessions::Table).to_owned())
            .await
    }
}
