//! Stock leaving: take-home dispensing, transfers, losses and destruction, each a form of
//! container lines reviewed and then signed, through the clinic's own commands.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use custody_ledger::*;

use custody_clinic::Permission;
use custody_clinic::acts::{Ceremony, Destroy, Dispense, Lose, Origin};

use super::choices::{
    Item, container_options, item_fields, items, location_options, patient_said, witness_at_screen,
};
use super::forms::{
    Errors, Field, FormBuilder, FormView, Posted, Signer, Submitted, act_page, all, ceremony,
    status_of,
};
use super::kit::{OrRefuse, Page, SignedIn, allow};
use super::words::{today, zone};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Which act a page records: its path, title and lead.
#[derive(Clone, Copy)]
enum Act {
    Dispense,
    Transfer,
    Loss,
    Destruction,
}

impl Act {
    fn path(self) -> &'static str {
        match self {
            Act::Dispense => "/ui/dispense",
            Act::Transfer => "/ui/transfer",
            Act::Loss => "/ui/loss",
            Act::Destruction => "/ui/destruction",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Act::Dispense => "Dispense take-home",
            Act::Transfer => "Transfer",
            Act::Loss => "Report a loss or theft",
            Act::Destruction => "Record a destruction",
        }
    }
    fn lead(self) -> &'static str {
        match self {
            Act::Dispense => {
                "Sealed containers handed over whole, or an amount from an open one, for a patient to take home."
            }
            Act::Transfer => {
                "Whole containers to another location here, or out to another DEA registrant."
            }
            Act::Loss => {
                "The facts DEA Form 106 asks for. Leave an amount empty for everything the container holds."
            }
            Act::Destruction => {
                "Destroyed here (DEA Form 41) or handed to a reverse distributor, before two witnesses who sign at this screen."
            }
        }
    }
}

async fn form(
    state: &AppState,
    auth: &Auth,
    act: Act,
    p: &Posted,
    e: &Errors,
) -> ApiResult<FormView> {
    let options = container_options(state, auth.ledger).await?;
    let b = FormBuilder::new(auth.csrf(), act.path(), "Review and sign…", p, e);
    let b = match act {
        Act::Dispense => {
            let b = b
                .section("Patient and prescriber")
                .field(Field::text("patient", "Patient (MRN)"))
                .field(Field::text("prescriber", "Prescriber"))
                .field(Field::text("prescriber_dea", "Prescriber's DEA number").check("dea"));
            item_fields(
                b,
                p,
                &options,
                Some("Empty: the whole sealed container, or all an open one holds."),
            )
        }
        Act::Transfer => {
            let b = b
                .section("To")
                .field(Field::select(
                    "to",
                    "Destination",
                    vec![
                        ("location".into(), "another location here".into()),
                        ("registrant".into(), "another DEA registrant".into()),
                    ],
                ))
                .field(
                    Field::select(
                        "to_location",
                        "Location",
                        location_options(state, auth.ledger).await?,
                    )
                    .optional(),
                )
                .field(Field::text("to_name", "Registrant's name").optional())
                .field(Field::text("to_address", "Registrant's address").optional())
                .field(
                    Field::text("to_dea", "Registrant's DEA number")
                        .optional()
                        .check("dea"),
                );
            item_fields(b, p, &options, None)
        }
        Act::Loss => {
            let b = b
                .section("What happened")
                .field(Field::select("loss_type", "Type", all(LossType::ALL)))
                .field(
                    Field::date("discovered_on", "Discovered on")
                        .value(today(zone(state)).to_string()),
                )
                .field(Field::text("police_report", "Police report number").optional())
                .field(Field::textarea("description", "Description"))
                .field(
                    Field::select("explains_count", "Explains the count", {
                        let open = state.clinic.open_discrepancies(auth).await?;
                        let mut o = super::pharmacy::discrepancy_options(state, &open);
                        o.insert(0, (String::new(), "— none: not found by a count".into()));
                        o
                    })
                    .optional(),
                );
            item_fields(
                b,
                p,
                &options,
                Some("Empty: everything the container holds."),
            )
        }
        Act::Destruction => {
            let b = b
                .section("How")
                .field(Field::select(
                    "method",
                    "Method",
                    vec![
                        ("on_site".into(), "destroyed here".into()),
                        (
                            "reverse_distributor".into(),
                            "handed to a reverse distributor".into(),
                        ),
                    ],
                ))
                .field(
                    Field::text("how", "How it was destroyed")
                        .optional()
                        .hint("For destruction here, e.g. chemical digestion (Rx Destroyer)."),
                )
                .field(Field::text("place", "Where").optional())
                .field(Field::text("distributor_name", "Reverse distributor").optional())
                .field(
                    Field::text("distributor_address", "Reverse distributor's address").optional(),
                )
                .field(
                    Field::text("distributor_dea", "Reverse distributor's DEA number")
                        .optional()
                        .check("dea"),
                )
                .field(Field::date("date", "Date").value(today(zone(state)).to_string()));
            let b = item_fields(
                b,
                p,
                &options,
                Some("Empty: everything the container holds."),
            );
            b.section("Witnesses")
                .field(Field::text("witness_1", "First witness (user name)"))
                .field(Field::text("witness_2", "Second witness (user name)"))
        }
    };
    Ok(b.build())
}

async fn page(
    state: &AppState,
    auth: &Auth,
    act: Act,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    let f = form(state, auth, act, p, e).await.or_refuse(auth)?;
    Ok(act_page(
        auth,
        act.title(),
        act.lead(),
        None,
        vec![(String::new(), f)],
        status,
    ))
}

async fn show(state: AppState, auth: Auth, act: Act) -> Page {
    allow(&auth, Permission::Pharmacy)?;
    page(
        &state,
        &auth,
        act,
        &Posted::default(),
        &Errors::default(),
        StatusCode::OK,
    )
    .await
}

fn listed(items: &[Item]) -> String {
    items.iter().map(Item::said).collect::<Vec<_>>().join("; ")
}

/// Where a refusal of these forms goes: the ledger's codes, beside their fields.
const FIELDS: &[(&str, &str)] = &[
    ("insufficient_stock", "amount_#"),
    ("amount_mismatch", "amount_#"),
    ("zero_quantity", "amount_#"),
    ("container_state", "container_#"),
    ("container_empty", "container_#"),
    ("unknown_container", "container_#"),
    ("expired", "container_#"),
    // A container listed twice: beside its second line (other rules: the whole form).
    ("rule_violation", "container_?"),
    ("unknown_location", "to_location"),
    ("witness_is_author", "witness_#"),
    ("duplicate_witness", "witness_2"),
    ("role_not_allowed", "witness_#"),
    ("inactive_signer", "witness_#"),
    ("unknown_discrepancy", "explains_count"),
    ("discrepancy_direction", "explains_count"),
    ("discrepancy_closed", "explains_count"),
    ("adjustment_exceeds_discrepancy", "explains_count"),
];

const NAMED: &[&str] = &[
    "patient",
    "prescriber",
    "prescriber_dea",
    "amount_mg",
    "container",
    "witness",
];

async fn dispense(state: &AppState, sub: &Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    let act = Act::Dispense;
    let mut e = Errors::default();
    let patient = e.text(p, "patient", "Enter the patient's MRN.");
    let prescriber: Option<Text> = e.parse(p, "prescriber", "Enter the prescriber's name.");
    let dea: Option<DeaNumber> = e.parse(p, "prescriber_dea", "Enter the prescriber's DEA number.");
    let lines = items(state, auth, p, &mut e, true).await;
    let (Some(patient), Some(prescriber), Some(dea), true, false) =
        (patient, prescriber, dea, e.is_empty(), p.editing())
    else {
        return page(state, auth, act, p, &e, status_of(p)).await;
    };
    let named = patient_said(state, auth.ledger, &patient)
        .await
        .or_refuse(auth)?;
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, dispensed to patient {named} to take home, as prescribed by {prescriber} (DEA {dea}): {}.",
            auth.printed_name,
            listed(&lines)
        ),
    )];
    let (sealed, open): (Vec<&Item>, Vec<&Item>) = lines.iter().partition(|i| {
        i.amount_mg.is_none()
            && i.container.status == custody_ledger::state::ContainerStatus::Sealed
    });
    let cmd = Dispense {
        patient,
        prescriber: Prescriber {
            name: prescriber,
            dea,
        },
        sealed: sealed.iter().map(|i| i.container.id).collect(),
        from_open: open.iter().map(|i| i.item()).collect(),
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(NAMED, FIELDS, &err);
        page(state, auth, act, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.dispense(auth, cmd, c, &o).await;
    Ok(ceremony(
        sub,
        "Sign the dispense",
        act.path(),
        Vec::new(),
        signers,
        "/ui/containers",
        back,
        run,
    )
    .await)
}

async fn transfer(state: &AppState, sub: &Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    let act = Act::Transfer;
    let mut e = Errors::default();
    let lines = items(state, auth, p, &mut e, false).await;
    let to = if p.get("to") == "registrant" {
        let name: Option<Text> = e.parse(p, "to_name", "Enter the registrant's name.");
        let address: Option<Text> = e.parse(p, "to_address", "Enter the registrant's address.");
        let dea: Option<DeaNumber> = e.parse(p, "to_dea", "Enter the registrant's DEA number.");
        match (name, address, dea) {
            (Some(n), Some(a), Some(d)) => Some((
                format!("{n} (DEA {d}), {a}"),
                TransferTo::Registrant {
                    registrant: Party {
                        name: n,
                        address: a,
                        dea: d,
                    },
                },
            )),
            _ => None,
        }
    } else {
        let l: Option<LocationId> = e.parse(p, "to_location", "Choose the location.");
        l.map(|l| {
            (
                format!("location {l}"),
                TransferTo::Location { location: l },
            )
        })
    };
    let (Some((to_said, to)), true, false) = (to, e.is_empty(), p.editing()) else {
        return page(state, auth, act, p, &e, status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, transferred to {to_said}: {}.",
            auth.printed_name,
            listed(&lines)
        ),
    )];
    let payload = Transfer {
        containers: lines.iter().map(|i| i.container.id).collect(),
        to,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(NAMED, FIELDS, &err);
        page(state, auth, act, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.record_one(auth, payload, c, &o).await;
    Ok(ceremony(
        sub,
        "Sign the transfer",
        act.path(),
        Vec::new(),
        signers,
        "/ui/containers",
        back,
        run,
    )
    .await)
}

async fn loss(state: &AppState, sub: &Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    let act = Act::Loss;
    let mut e = Errors::default();
    let kind: Option<LossType> = e.parse(p, "loss_type", "Choose the type.");
    let discovered: Option<Day> = e.parse(p, "discovered_on", "Enter the day it was discovered.");
    let police: Option<Text> = if p.get("police_report").is_empty() {
        None
    } else {
        e.parse(p, "police_report", "")
    };
    let description: Option<Text> = e.parse(p, "description", "Describe what happened.");
    // A shortage a count found that this loss explains (it closes the discrepancy).
    let explains: Option<Seq> = if p.get("explains_count").is_empty() {
        None
    } else {
        e.parse(p, "explains_count", "Choose the count this loss explains.")
    };
    let lines = items(state, auth, p, &mut e, true).await;
    let (Some(kind), Some(discovered), Some(description), true, false) =
        (kind, discovered, description, e.is_empty(), p.editing())
    else {
        return page(state, auth, act, p, &e, status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, report a loss ({kind}) discovered on {discovered}{}: {}. {description}{}",
            auth.printed_name,
            police
                .as_ref()
                .map(|p| format!(", police report {p}"))
                .unwrap_or_default(),
            listed(&lines),
            explains
                .map(|c| format!(" It explains the shortage count {c} found."))
                .unwrap_or_default()
        ),
    )];
    let cmd = Lose {
        loss_type: kind,
        discovered_on: discovered,
        police_report: police,
        items: lines.iter().map(Item::item).collect(),
        description,
        explains_count: explains,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(NAMED, FIELDS, &err);
        page(state, auth, act, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.lose(auth, cmd, c, &o).await;
    Ok(ceremony(
        sub,
        "Sign the loss report",
        act.path(),
        Vec::new(),
        signers,
        "/ui",
        back,
        run,
    )
    .await)
}

async fn destruction(state: &AppState, sub: &Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    let act = Act::Destruction;
    let mut e = Errors::default();
    let method = if p.get("method") == "reverse_distributor" {
        let name: Option<Text> = e.parse(
            p,
            "distributor_name",
            "Enter the reverse distributor's name.",
        );
        let address: Option<Text> = e.parse(p, "distributor_address", "Enter their address.");
        let dea: Option<DeaNumber> = e.parse(p, "distributor_dea", "Enter their DEA number.");
        match (name, address, dea) {
            (Some(n), Some(a), Some(d)) => Some((
                format!("handed to {n} (DEA {d})"),
                DestructionMethod::ReverseDistributor {
                    distributor: Party {
                        name: n,
                        address: a,
                        dea: d,
                    },
                },
            )),
            _ => None,
        }
    } else {
        let how: Option<Text> = e.parse(p, "how", "Say how it was destroyed.");
        let place: Option<Text> = e.parse(p, "place", "Say where.");
        match (how, place) {
            (Some(h), Some(pl)) => Some((
                format!("destroyed by {h} at {pl}"),
                DestructionMethod::OnSite {
                    method: h,
                    place: pl,
                },
            )),
            _ => None,
        }
    };
    let date: Option<Day> = e.parse(p, "date", "Enter the date.");
    let lines = items(state, auth, p, &mut e, true).await;
    let w1 = witness_at_screen(state, auth, p, &mut e, "witness_1").await;
    let w2 = witness_at_screen(state, auth, p, &mut e, "witness_2").await;
    let (Some((how, method)), Some(date), Some(w1), Some(w2), true, false) =
        (method, date, w1, w2, e.is_empty(), p.editing())
    else {
        return page(state, auth, act, p, &e, status_of(p)).await;
    };
    let what = format!("the destruction on {date} of {}, {how}", listed(&lines));
    let signers = vec![
        Signer::me(
            auth,
            "authored",
            format!("I, {}, recorded {what}.", auth.printed_name),
        ),
        Signer::witness(
            &w1.printed_name,
            "witness_password_1",
            format!("I, {}, witnessed {what}.", w1.printed_name),
        ),
        Signer::witness(
            &w2.printed_name,
            "witness_password_2",
            format!("I, {}, witnessed {what}.", w2.printed_name),
        ),
    ];
    let cmd = Destroy {
        method,
        date,
        items: lines.iter().map(Item::item).collect(),
        witnesses: vec![w1.user.clone(), w2.user.clone()],
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(NAMED, FIELDS, &err);
        page(state, auth, act, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.destroy(auth, cmd, c, &o).await;
    Ok(ceremony(
        sub,
        "Sign the destruction",
        act.path(),
        Vec::new(),
        signers,
        "/ui",
        back,
        run,
    )
    .await)
}

async fn submit(state: AppState, act: Act, s: Submitted) -> Page {
    allow(&s.auth, Permission::Pharmacy)?;
    match act {
        Act::Dispense => dispense(&state, &s).await,
        Act::Transfer => transfer(&state, &s).await,
        Act::Loss => loss(&state, &s).await,
        Act::Destruction => destruction(&state, &s).await,
    }
}

pub fn router() -> Router<AppState> {
    let mut r = Router::new();
    for act in [Act::Dispense, Act::Transfer, Act::Loss, Act::Destruction] {
        r = r.route(
            act.path(),
            get(move |State(s): State<AppState>, SignedIn(a): SignedIn| show(s, a, act))
                .post(move |State(s): State<AppState>, f: Submitted| submit(s, act, f)),
        );
    }
    r
}
