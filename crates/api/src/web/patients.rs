//! The patient register's page: the people doses and take-home supplies are for, by MRN,
//! so the dose form can offer them. Their names stay out of the ledger (it holds only a
//! keyed commitment of the MRN); keeping a record is not a signed act.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;

use super::forms::{Errors, Field, FormBuilder, FormView, Posted, Submitted, Table, act_page};
use super::kit::{OrRefuse, Page, SignedIn, allow};
use custody_clinic::Permission;
use custody_clinic::acts::Patient;
use custody_ledger::Day;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

fn form(auth: &Auth, p: &Posted, e: &Errors) -> FormView {
    FormBuilder::new(auth.csrf(), "/ui/patients", "Save", p, e)
        .field(
            Field::text("mrn", "MRN").hint("The medical record number staff type when charting."),
        )
        .field(Field::text("name", "Name"))
        .field(Field::text("address", "Address"))
        .field(Field::date("date_of_birth", "Date of birth"))
        .field(
            Field::text("sex", "Sex (F, M or U)")
                .optional()
                .hint("For state PMP reports of take-home dispensing."),
        )
        .section("Spravato REMS (before the first Spravato treatment)")
        .field(
            Field::text("rems_patient_id", "REMS patient id")
                .optional()
                .hint("From the patient's Spravato REMS enrollment form."),
        )
        .field(Field::date("rems_enrolled_on", "Enrolled on").optional())
        .build()
}

async fn page(
    state: &AppState,
    auth: &Auth,
    (p, e, error): (&Posted, &Errors, Option<String>),
    lead: &str,
    status: StatusCode,
) -> Page {
    let mut ps = state.store.patients(auth.ledger).await.or_refuse(auth)?;
    ps.sort_by(|a, b| a.mrn.cmp(&b.mrn));
    let table = Table {
        caption: "The patient register".into(),
        head: ["MRN", "Name", "Born", "Spravato REMS"]
            .map(String::from)
            .to_vec(),
        rows: ps
            .into_iter()
            .map(|p| {
                let rems = p.rems.as_ref().map_or_else(
                    || "not enrolled".to_string(),
                    |r| format!("{} since {}", r.patient_id, r.enrolled_on),
                );
                vec![
                    p.mrn.into(),
                    p.name.into(),
                    p.birth_date.into(),
                    rems.into(),
                ]
            })
            .collect(),
        empty: "No patient is registered yet.".into(),
    };
    let forms = if auth.may(Permission::KeepPatients) {
        let mut f = form(auth, p, e);
        f.error = error;
        vec![(
            "Register a patient, or correct one (same MRN)".to_string(),
            f,
        )]
    } else {
        Vec::new()
    };
    Ok(act_page(auth, "Patients", lead, Some(table), forms, status))
}

#[derive(Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<Saved>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::ReadPatients)?;
    let lead = match q.saved {
        Some(m) => format!("Saved {m}."),
        None => {
            "Names and addresses stay here; the ledger holds only a keyed commitment of the MRN."
                .into()
        }
    };
    let blank = (&Posted::default(), &Errors::default(), None);
    page(&state, &auth, blank, &lead, StatusCode::OK).await
}

async fn save(
    State(state): State<AppState>,
    Submitted {
        auth, posted: p, ..
    }: Submitted,
) -> Page {
    allow(&auth, Permission::KeepPatients)?;
    let mut e = Errors::default();
    let birth: Option<Day> = e.parse(&p, "date_of_birth", "Enter the date of birth.");
    let rems_id = p.get("rems_patient_id");
    let rems_on: Option<Day> = match p.get("rems_enrolled_on") {
        "" => None,
        _ => e.parse(&p, "rems_enrolled_on", "Enter the REMS enrollment date."),
    };
    let rems = match (rems_id.is_empty(), rems_on) {
        (true, None) => None,
        (false, Some(on)) => Some((rems_id.to_string(), on)),
        (false, None) => {
            e.add(
                "rems_enrolled_on",
                "Enter the date of the REMS enrollment too.",
            );
            None
        }
        (true, Some(_)) => {
            e.add("rems_patient_id", "Enter the REMS patient id too.");
            None
        }
    };
    let (Some(birth_date), true) = (birth, e.is_empty()) else {
        return page(
            &state,
            &auth,
            (&p, &e, None),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let patient = Patient {
        mrn: p.get("mrn").to_string(),
        name: p.get("name").to_string(),
        address: p.get("address").to_string(),
        birth_date,
        rems,
        sex: Some(p.get("sex").to_string()).filter(|s| !s.trim().is_empty()),
    };
    match state
        .clinic
        .save_patient(&auth, patient)
        .await
        .map_err(ApiError::from)
    {
        Ok(v) => {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("saved", &v.mrn);
            Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/ui/patients?{}", s.finish()))],
            )
                .into_response())
        }
        Err(err) => {
            let mut e = Errors::default();
            let general = e.refusal(
                &[
                    "mrn",
                    "name",
                    "address",
                    "date_of_birth",
                    "sex",
                    "rems_patient_id",
                ],
                &[],
                &err,
            );
            page(&state, &auth, (&p, &e, general), "", err.status).await
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/ui/patients", get(list).post(save))
}
