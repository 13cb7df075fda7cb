//! The DEA inventory pages: taking an inventory (21 CFR 1304.11) — blind, as a count is: the
//! lines list what the ledger holds by product, lot, location and open container, never how
//! much — signed by the taker and a witness at the same screen; and recording a loss's
//! written notice to the DEA and its Form 106.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use custody_clinic::Permission;
use custody_clinic::acts::{
    Ceremony, InventoryCount, OpenCount, Origin, ReportLoss, TakeInventory,
};
use custody_ledger::state::ContainerStatus;
use custody_ledger::*;

use super::choices::{MAX_LINES, location_options, product_options, witness_at_screen};
use super::forms::{
    Errors, Field, FormBuilder, FormView, Posted, Signer, Submitted, act_page, ceremony, sentence,
    status_of,
};
use super::kit::{OrRefuse, Page, PageError, SignedIn, allow};
use super::words::{today, zone};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::state::AppState;

const OCCASIONS: [(&str, &str); 3] = [
    ("initial", "initial (going live)"),
    ("biennial", "biennial"),
    ("other", "other"),
];
const TAKEN_AT: [(&str, &str); 2] = [
    ("opening", "at the opening of business"),
    ("close", "at the close of business"),
];

fn options(xs: &[(&str, &str)]) -> Vec<(String, String)> {
    xs.iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect()
}

/// What the ledger holds, as lines without figures: one per product, lot, expiry and
/// location for its sealed containers, one per open container.
async fn blind_lines(state: &AppState, auth: &Auth) -> ApiResult<Posted> {
    let mut p = Posted::default();
    let mut sealed: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    let mut open = Vec::new();
    for c in state.clinic.containers(auth, true).await? {
        match c.status {
            ContainerStatus::Sealed => {
                sealed.insert((
                    c.product.ndc.to_string(),
                    c.lot.to_string(),
                    c.expiry.to_string(),
                    c.location.to_string(),
                ));
            }
            ContainerStatus::Open { .. } => open.push(c),
            _ => {}
        }
    }
    let mut i = 0;
    for (product, lot, expiry, location) in sealed {
        i += 1;
        p.set(&format!("product_{i}"), product);
        p.set(&format!("lot_{i}"), lot);
        p.set(&format!("expiry_{i}"), expiry);
        p.set(&format!("location_{i}"), location);
    }
    for c in open {
        i += 1;
        p.set(&format!("product_{i}"), c.product.ndc.to_string());
        p.set(&format!("lot_{i}"), c.lot.to_string());
        p.set(&format!("expiry_{i}"), c.expiry.to_string());
        p.set(&format!("location_{i}"), c.location.to_string());
        p.set(&format!("sealed_{i}"), "0");
        p.set(&format!("open_container_{i}"), c.id.to_string());
    }
    Ok(p)
}

async fn inventory_form(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
) -> ApiResult<FormView> {
    let products = product_options(state, auth.ledger).await?;
    let locations = location_options(state, auth.ledger).await?;
    let n = p.lines(1, MAX_LINES).max(2);
    let mut b = FormBuilder::new(auth.csrf(), "/ui/inventory", "Review and sign…", p, e)
        .section("The inventory")
        .field(Field::select("occasion", "Occasion", options(&OCCASIONS)))
        .field(Field::select("taken_at", "Taken", options(&TAKEN_AT)))
        .field(Field::date("date", "Date").value(today(zone(state)).to_string()));
    for i in 1..=n {
        b = b
            .stock_line(i, &products)
            .field(
                Field::select(
                    &format!("location_{i}"),
                    &format!("Location, line {i}"),
                    locations.clone(),
                )
                .optional(),
            )
            .field(
                Field::number(
                    &format!("sealed_{i}"),
                    &format!("Sealed containers, line {i}"),
                )
                .optional()
                .hint("Counted exactly."),
            )
            .field(
                Field::text(
                    &format!("open_container_{i}"),
                    &format!("Open container, line {i}"),
                )
                .optional()
                .hint("Its id; empty in an initial inventory, which brings it in."),
            )
            .field(
                Field::decimal(
                    &format!("open_{i}"),
                    &format!("What it holds (mL, or units), line {i}"),
                )
                .optional(),
            )
            .field(
                Field::select(
                    &format!("estimated_{i}"),
                    &format!("Measured or estimated, line {i}"),
                    options(&[("no", "measured"), ("yes", "estimated")]),
                )
                .optional()
                .hint("Estimates: Schedule III–V, not a container over 1,000 units."),
            )
            .field(
                Field::date(&format!("beyond_use_{i}"), &format!("Beyond use, line {i}"))
                    .optional()
                    .hint("An initial inventory's open container."),
            );
    }
    Ok(b.more_lines(n)
        .section("Witness")
        .field(
            Field::text("witness", "Witness (user name)")
                .hint("A colleague who signs at this screen with their own password."),
        )
        .build())
}

async fn inventory_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    let f = inventory_form(state, auth, p, e).await.or_refuse(auth)?;
    Ok(act_page(
        auth,
        "Take an inventory",
        "Count what is there, line by line: sealed containers exactly, open ones measured or estimated. What the ledger expects is not shown; a later inventory that differs opens a discrepancy. You and a witness sign it.",
        None,
        vec![(String::new(), f)],
        status,
    ))
}

async fn inventory_get(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::Author(Kind::Inventory))?;
    let p = blind_lines(&state, &auth).await.or_refuse(&auth)?;
    inventory_page(&state, &auth, &p, &Errors::default(), StatusCode::OK).await
}

/// Where a refusal of the inventory form goes.
const INVENTORY_FIELDS: &[(&str, &str)] = &[
    ("initial_inventory_exists", "occasion"),
    ("no_initial_inventory", "occasion"),
    ("estimate_not_allowed", "estimated_1"),
    ("unknown_product", "product_1"),
    ("unknown_location", "location_1"),
    ("unknown_container", "open_container_1"),
    ("witness_is_author", "witness"),
    ("role_not_allowed", "witness"),
    ("inactive_signer", "witness"),
    ("unknown_signer", "witness"),
];

async fn inventory_post(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Inventory))?;
    let mut e = Errors::default();
    let occasion: Option<InventoryOccasion> = e.parse(p, "occasion", "Choose the occasion.");
    let taken_at: Option<BusinessHours> = e.parse(p, "taken_at", "Choose opening or close.");
    let date: Option<Day> = e.parse(p, "date", "Enter the day it was taken.");
    let products = state.store.products(auth.ledger).await.or_refuse(auth)?;
    let mut lines: Vec<InventoryCount> = Vec::new();
    let mut said = Vec::new();
    for i in 1..=p.lines(1, MAX_LINES) {
        let f = |n: &str| format!("{n}_{i}");
        let used = ["sealed", "open"].iter().any(|n| !p.get(&f(n)).is_empty());
        if !used {
            continue;
        }
        let ndc: Option<Ndc> = e.parse(p, &f("product"), "Choose the product.");
        let product = ndc.and_then(|n| products.iter().find(|x| x.ndc == n).cloned());
        let lot: Option<Lot> = e.parse(p, &f("lot"), "Enter the lot number.");
        let expiry: Option<Day> = e.parse(p, &f("expiry"), "Enter the expiry date.");
        let location: Option<LocationId> = e.parse(p, &f("location"), "Choose the location.");
        let sealed: Option<u32> = if p.get(&f("sealed")).is_empty() {
            Some(0)
        } else {
            e.parse(p, &f("sealed"), "Enter how many sealed containers.")
        };
        let container: Option<ContainerId> = match p.get(&f("open_container")) {
            "" => None,
            _ => e.parse(p, &f("open_container"), "Enter the container's id."),
        };
        let open = match (p.get(&f("open")), &product) {
            ("", _) | (_, None) => None,
            (v, Some(pr)) => match pr.strength {
                Strength::Solution { .. } => match Microliters::parse_thousandths(v) {
                    Ok(ul) => Some(ul.get()),
                    Err(err) => {
                        e.add(&f("open"), sentence(&err.to_string()));
                        None
                    }
                },
                Strength::Units { .. } => match v.parse::<u64>() {
                    Ok(u) => Some(u),
                    Err(_) => {
                        e.add(&f("open"), "Units are whole numbers.");
                        None
                    }
                },
            },
        };
        let beyond_use: Option<Day> = match p.get(&f("beyond_use")) {
            "" => None,
            _ => e.parse(p, &f("beyond_use"), "Enter the beyond-use date."),
        };
        let estimated = p.get(&f("estimated")) == "yes";
        if let (Some(product), Some(lot), Some(expiry), Some(location), Some(sealed)) =
            (product, lot, expiry, location, sealed)
        {
            let open: Vec<OpenCount> = open
                .map(|remaining| OpenCount {
                    container,
                    remaining,
                    estimated,
                    beyond_use,
                })
                .into_iter()
                .collect();
            said.push(format!(
                "{} lot {} at {location}: {sealed} sealed{}",
                product.name,
                lot,
                open.first()
                    .map(|o| format!(
                        ", one open holding {} {} ({})",
                        p.get(&f("open")),
                        if matches!(product.strength, Strength::Solution { .. }) {
                            "mL"
                        } else {
                            "units"
                        },
                        if o.estimated { "estimated" } else { "measured" }
                    ))
                    .unwrap_or_default()
            ));
            lines.push(InventoryCount {
                product: product.ndc,
                lot,
                expiry,
                location,
                sealed,
                open,
            });
        }
    }
    let witness = witness_at_screen(&state, auth, p, &mut e, "witness").await;
    let (Some(occasion), Some(taken_at), Some(date), Some(w), true, false) =
        (occasion, taken_at, date, witness, e.is_empty(), p.editing())
    else {
        return inventory_page(&state, auth, p, &e, status_of(p)).await;
    };
    let listed = if said.is_empty() {
        "nothing on hand".to_string()
    } else {
        said.join("; ")
    };
    let hours = if p.get("taken_at") == "opening" {
        "opening"
    } else {
        "close"
    };
    let what = format!(
        "the {} inventory at the {hours} of business on {date}: {listed}",
        p.get("occasion")
    );
    let signers = vec![
        Signer::me(
            auth,
            "authored",
            format!("I, {}, took {what}.", auth.printed_name),
        ),
        Signer::witness(
            &w.printed_name,
            "witness_password",
            format!("I, {}, witnessed {what}.", w.printed_name),
        ),
    ];
    let cmd = TakeInventory {
        occasion,
        taken_at,
        date,
        lines,
        witness: w.user.clone(),
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(&["occasion", "date", "witness"], INVENTORY_FIELDS, &err);
        inventory_page(&state, auth, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.take_inventory(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the inventory",
        "/ui/inventory",
        Vec::new(),
        signers,
        "/ui",
        back,
        run,
    )
    .await)
}

// ---- a loss's reports to the DEA ----

async fn reported_page(
    state: &AppState,
    auth: &Auth,
    seq: u64,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    let losses = state.clinic.losses(auth).await.or_refuse(auth)?;
    let Some(l) = losses.into_iter().find(|l| l.seq == seq) else {
        return Err(PageError::of(
            auth,
            ApiError::not_found(format!("no loss or theft recorded as entry {seq}")),
        ));
    };
    let action = format!("/ui/losses/{seq}/reported");
    let f = FormBuilder::new(auth.csrf(), &action, "Review and sign…", p, e)
        .section("Written notice to the DEA Field Division")
        .field(Field::date("notice_on", "Sent on").hint(format!(
            "Due {} (one business day after discovery).",
            l.deadlines.notice_due
        )))
        .section("DEA Form 106")
        .field(Field::text("form_106", "Submission number"))
        .field(Field::date("form_106_on", "Submitted on").hint(format!(
            "Due {} (45 days after discovery).",
            l.deadlines.form_106_due
        )))
        .build();
    let lead = format!(
        "Loss {seq} ({}, discovered {}): written notice {}; Form 106 {}.",
        l.loss.loss_type,
        l.loss.discovered_on,
        l.notice.describe(),
        l.form_106.describe()
    );
    Ok(act_page(
        auth,
        "Record a loss's reports to the DEA",
        &lead,
        None,
        vec![(String::new(), f)],
        status,
    ))
}

async fn reported_get(
    State(state): State<AppState>,
    Path(seq): Path<u64>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::Author(Kind::LossReported))?;
    reported_page(
        &state,
        &auth,
        seq,
        &Posted::default(),
        &Errors::default(),
        StatusCode::OK,
    )
    .await
}

const REPORTED_FIELDS: &[(&str, &str)] = &[("loss_already_reported", "form_106")];

async fn reported_post(
    State(state): State<AppState>,
    Path(seq): Path<u64>,
    sub: Submitted,
) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::LossReported))?;
    let mut e = Errors::default();
    let notice_on: Option<Day> = e.parse(p, "notice_on", "Enter the day the notice was sent.");
    let form_106: Option<Text> = e.parse(p, "form_106", "Enter the Form 106 submission number.");
    let form_106_on: Option<Day> = e.parse(p, "form_106_on", "Enter the day it was submitted.");
    let loss = Seq::new(seq).ok();
    let (Some(notice_on), Some(form_106), Some(form_106_on), Some(loss), true, false) = (
        notice_on,
        form_106,
        form_106_on,
        loss,
        e.is_empty(),
        p.editing(),
    ) else {
        return reported_page(&state, auth, seq, p, &e, status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, record that the written notice of loss {seq} went to the DEA Field Division on {notice_on} and DEA Form 106 {form_106} was submitted on {form_106_on}.",
            auth.printed_name
        ),
    )];
    let cmd = ReportLoss {
        loss,
        notice_on,
        form_106,
        form_106_on,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(
            &["notice_on", "form_106", "form_106_on"],
            REPORTED_FIELDS,
            &err,
        );
        reported_page(&state, auth, seq, p, &e, err.status).await
    };
    let action = format!("/ui/losses/{seq}/reported");
    let run = async |c: Ceremony, o: Origin| state.clinic.report_loss(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the loss's reports",
        &action,
        Vec::new(),
        signers,
        "/ui",
        back,
        run,
    )
    .await)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/inventory", get(inventory_get).post(inventory_post))
        .route(
            "/ui/losses/{seq}/reported",
            get(reported_get).post(reported_post),
        )
}
