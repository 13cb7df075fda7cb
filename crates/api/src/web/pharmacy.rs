//! The pharmacist's stock pages: receiving an invoice of several lines (all recorded or
//! none), the blind count, and resolving a count's discrepancy with a witnessed adjustment.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use custody_ledger::*;

use custody_clinic::Permission;
use custody_clinic::acts::{Adjust, Ceremony, CountStock, Origin, ReceiptLine, ReceiveInvoice};

use super::choices::{
    MAX_LINES, container_options_where, default_location, location_options, product_options,
    remember_location, witness_at_screen,
};
use super::forms::{
    Errors, Field, FormBuilder, FormView, Posted, Signer, Submitted, act_page, all, ceremony,
    sentence, status_of,
};
use super::kit::{OrRefuse, Page, PageError, SignedIn, allow};
use super::words::{discrepancy_lines, said, tally_said, today, zone};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

// ---- receiving ----

async fn receive_form(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    place: &str,
) -> ApiResult<FormView> {
    let products = product_options(state, auth.ledger).await?;
    let locations = location_options(state, auth.ledger).await?;
    let n = p.lines(1, MAX_LINES).max(2);
    let mut b = FormBuilder::new(auth.csrf(), "/ui/receive", "Review and sign…", p, e)
        .section("The invoice")
        .field(Field::text("supplier_name", "Supplier"))
        .field(Field::text("supplier_address", "Supplier's address"))
        .field(
            Field::text("supplier_dea", "Supplier's DEA number")
                .check("dea")
                .hint("Checked as you type: two letters, seven digits, the last a check digit."),
        )
        .field(Field::text("invoice", "Invoice number"))
        .field(Field::date("received_on", "Received on").value(today(zone(state)).to_string()));
    for i in 1..=n {
        b = b
            .stock_line(i, &products)
            .field(
                Field::number(&format!("containers_{i}"), &format!("Containers, line {i}"))
                    .optional()
                    .hint("Vials, devices or bottles."),
            )
            .field(
                Field::select(
                    &format!("location_{i}"),
                    &format!("Put in, line {i}"),
                    locations.clone(),
                )
                .value(place),
            );
    }
    Ok(b.more_lines(n).build())
}

async fn receive_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    receive_page_at(state, auth, p, e, "", status).await
}

/// The receiving page; empty location choices start at `place`.
async fn receive_page_at(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    place: &str,
    status: StatusCode,
) -> Page {
    let place = match place {
        "" => default_location(state, auth, &axum::http::HeaderMap::new())
            .await
            .or_refuse(auth)?,
        l => l.to_string(),
    };
    let f = receive_form(state, auth, p, e, &place)
        .await
        .or_refuse(auth)?;
    Ok(act_page(
        auth,
        "Receive stock",
        "One invoice, as many lines as it has: each line becomes a receipt in the ledger and its containers get ids to label them with.",
        None,
        vec![(String::new(), f)],
        status,
    ))
}

async fn receive_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::Pharmacy)?;
    let place = default_location(&state, &auth, &headers)
        .await
        .or_refuse(&auth)?;
    receive_page_at(
        &state,
        &auth,
        &Posted::default(),
        &Errors::default(),
        &place,
        StatusCode::OK,
    )
    .await
}

struct Line {
    product: ProductDefined,
    lot: Lot,
    expiry: Day,
    containers: u32,
    location: LocationId,
}

async fn receive_post(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Receipt))?;
    let mut e = Errors::default();
    let supplier: Option<Text> = e.parse(p, "supplier_name", "Enter the supplier's name.");
    let address: Option<Text> = e.parse(p, "supplier_address", "Enter the supplier's address.");
    let dea: Option<DeaNumber> = e.parse(p, "supplier_dea", "Enter the supplier's DEA number.");
    let invoice: Option<Text> = e.parse(p, "invoice", "Enter the invoice number.");
    let received_on: Option<Day> = e.parse(p, "received_on", "Enter the day it arrived.");
    let products = state.store.products(auth.ledger).await.or_refuse(auth)?;
    let mut lines = Vec::new();
    for i in 1..=p.lines(1, MAX_LINES) {
        let f = |n: &str| format!("{n}_{i}");
        let used = ["product", "lot", "expiry", "containers"]
            .iter()
            .any(|n| !p.get(&f(n)).is_empty());
        if !used {
            continue;
        }
        let ndc: Option<Ndc> = e.parse(p, &f("product"), "Choose the product.");
        let product = ndc.and_then(|n| products.iter().find(|x| x.ndc == n).cloned());
        if ndc.is_some() && product.is_none() {
            e.add(
                &f("product"),
                "That product is not defined here: an admin defines it first.",
            );
        }
        let lot: Option<Lot> = e.parse(p, &f("lot"), "Enter the lot number.");
        let expiry: Option<Day> = e.parse(p, &f("expiry"), "Enter the expiry date.");
        let containers: Option<u32> = e.parse(p, &f("containers"), "Enter how many containers.");
        let location: Option<LocationId> = e.parse(p, &f("location"), "Choose where it goes.");
        if let (Some(product), Some(lot), Some(expiry), Some(containers), Some(location)) =
            (product, lot, expiry, containers, location)
        {
            lines.push(Line {
                product,
                lot,
                expiry,
                containers,
                location,
            });
        }
    }
    if lines.is_empty() && e.is_empty() {
        e.add("product_1", "Fill in at least one line.");
    }
    let (Some(supplier), Some(address), Some(dea), Some(invoice), Some(received_on), true, false) = (
        supplier,
        address,
        dea,
        invoice,
        received_on,
        e.is_empty(),
        p.editing(),
    ) else {
        return receive_page(&state, auth, p, &e, status_of(p)).await;
    };
    let what: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} × {} lot {} (expires {}) into {}",
                l.containers, l.product.name, l.lot, l.expiry, l.location
            )
        })
        .collect();
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, received on {received_on} from {supplier} (DEA {dea}), invoice {invoice}: {}.",
            auth.printed_name,
            what.join("; ")
        ),
    )];
    let cmd = ReceiveInvoice {
        supplier: Party {
            name: supplier,
            address,
            dea,
        },
        invoice,
        received_on,
        lines: lines
            .iter()
            .map(|l| ReceiptLine {
                product: l.product.ndc,
                lot: l.lot.clone(),
                expiry: l.expiry,
                containers: l.containers,
                location: l.location.clone(),
            })
            .collect(),
    };
    let back = async |err: ApiError| {
        let mut e = Errors::for_lines(p);
        e.refusal(
            &["supplier_dea", "invoice", "received_on"],
            RECEIPT_FIELDS,
            &err,
        );
        receive_page(&state, auth, p, &e, err.status).await
    };
    let place = lines
        .last()
        .map(|l| l.location.to_string())
        .unwrap_or_default();
    let run = async |c: Ceremony, o: Origin| state.clinic.receive(auth, cmd, c, &o).await;
    let answer = ceremony(
        &sub,
        "Sign the receipt",
        "/ui/receive",
        Vec::new(),
        signers,
        "/ui/containers",
        back,
        run,
    )
    .await;
    Ok(remember_location(&state, auth, &place, answer))
}

/// Where a refusal of the receipt form goes.
const RECEIPT_FIELDS: &[(&str, &str)] = &[
    ("unknown_product", "product_#"),
    ("unknown_location", "location_#"),
    ("zero_quantity", "containers_#"),
];

// ---- counting ----

async fn count_form(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    place: &str,
) -> ApiResult<FormView> {
    Ok(
        FormBuilder::new(auth.csrf(), "/ui/count", "Review and sign…", p, e)
            .field(
                Field::select(
                    "location",
                    "Location",
                    location_options(state, auth.ledger).await?,
                )
                .value(place),
            )
            .field(Field::select(
                "product",
                "Product",
                product_options(state, auth.ledger).await?,
            ))
            .field(Field::number("counted_sealed", "Sealed containers found"))
            .field(
                Field::decimal(
                    "counted_open",
                    "What the open containers hold (mL, or units)",
                )
                .value("0")
                .hint("Read each open vial's volume and add them up."),
            )
            .build(),
    )
}

async fn count_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    count_page_at(state, auth, p, e, &axum::http::HeaderMap::new(), status).await
}

/// The count page; the location starts where this person last recorded, else at a safe.
async fn count_page_at(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    headers: &HeaderMap,
    status: StatusCode,
) -> Page {
    let place = default_location(state, auth, headers)
        .await
        .or_refuse(auth)?;
    let f = count_form(state, auth, p, e, &place)
        .await
        .or_refuse(auth)?;
    Ok(act_page(
        auth,
        "Count",
        "A blind count: count what is there; what the ledger expects is shown only after you sign.",
        None,
        vec![(String::new(), f)],
        status,
    ))
}

async fn count_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::Author(Kind::Count))?;
    count_page_at(
        &state,
        &auth,
        &Posted::default(),
        &Errors::default(),
        &headers,
        StatusCode::OK,
    )
    .await
}

async fn count_post(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Count))?;
    let mut e = Errors::default();
    let location: Option<LocationId> = e.parse(p, "location", "Choose the location.");
    let ndc: Option<Ndc> = e.parse(p, "product", "Choose the product.");
    let sealed: Option<u32> = e.parse(
        p,
        "counted_sealed",
        "Enter how many sealed containers you found (0 if none).",
    );
    let product = match ndc {
        Some(n) => match state.store.products(auth.ledger).await {
            Ok(ps) => ps.into_iter().find(|x| x.ndc == n),
            Err(err) => return Err(PageError::of(auth, err)),
        },
        None => None,
    };
    let open: Option<u64> = match &product {
        Some(pr) => {
            let v = if p.get("counted_open").is_empty() {
                "0"
            } else {
                p.get("counted_open")
            };
            match pr.strength {
                Strength::Solution { .. } => match Microliters::parse_thousandths(v) {
                    Ok(ul) => Some(ul.get()),
                    Err(err) => {
                        e.add("counted_open", sentence(&err.to_string()));
                        None
                    }
                },
                Strength::Units { .. } => match v.parse::<u64>() {
                    Ok(u) => Some(u),
                    Err(_) => {
                        e.add("counted_open", "Units are whole numbers.");
                        None
                    }
                },
            }
        }
        None => None,
    };
    let (Some(location), Some(product), Some(sealed), Some(open), true, false) =
        (location, product, sealed, open, e.is_empty(), p.editing())
    else {
        return count_page(&state, auth, p, &e, status_of(p)).await;
    };
    let place = location.to_string();
    let counted = tally_said(&product.strength, sealed, open);
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, counted {} at {location}: {counted}. I was not shown what the ledger expects.",
            auth.printed_name, product.name
        ),
    )];
    let cmd = CountStock {
        location,
        product: product.ndc,
        blind: true,
        counted: Tally { sealed, open },
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(
            &["location", "product", "counted_sealed", "counted_open"],
            &[],
            &err,
        );
        count_page(&state, auth, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.count(auth, cmd, c, &o).await;
    let answer = ceremony(
        &sub,
        "Sign the count",
        "/ui/count",
        Vec::new(),
        signers,
        "/ui",
        back,
        run,
    )
    .await;
    Ok(remember_location(&state, auth, &place, answer))
}

// ---- discrepancies ----

/// The open discrepancies as choices: the count (or inventory) that found each, where and
/// when.
pub(super) fn discrepancy_options(
    state: &AppState,
    discrepancies: &[custody_clinic::reads::OpenDiscrepancy],
) -> Vec<(String, String)> {
    discrepancies
        .iter()
        .map(|d| {
            (
                d.seq.to_string(),
                format!(
                    "{} {} at {} on {}",
                    d.found_by,
                    d.seq,
                    d.location,
                    zone(state).day_of(d.at)
                ),
            )
        })
        .collect()
}

async fn adjust_form(state: &AppState, auth: &Auth, p: &Posted, e: &Errors) -> ApiResult<FormView> {
    let discrepancies = state.clinic.open_discrepancies(auth).await?;
    let mut counts = discrepancy_options(state, &discrepancies);
    counts.insert(
        0,
        (
            String::new(),
            "— none: overfill, breakage, spill or other".into(),
        ),
    );
    let reason = if p.get("count").is_empty() {
        ""
    } else {
        "count discrepancy"
    };
    // Resolving a count: only containers of the count's product at its location; none is
    // chosen for the person unless exactly one fits.
    let counted = discrepancies
        .iter()
        .find(|d| d.seq.to_string() == p.get("count"))
        .map(|d| (d.ndc, d.location.clone()));
    let containers = container_options_where(state, auth.ledger, |c| match &counted {
        Some((ndc, at)) => c.product.ndc == *ndc && c.location == *at,
        None => true,
    })
    .await?;
    let only = match containers.as_slice() {
        [(id, _)] if counted.is_some() => id.clone(),
        _ => String::new(),
    };
    Ok(
        FormBuilder::new(auth.csrf(), "/ui/adjust", "Review and sign…", p, e)
            .section("What to adjust")
            .field(Field::select("count", "Resolves", counts).optional())
            .field(
                Field::select("container", "Container", containers)
                    .placeholder("Choose a container")
                    .value(only)
                    .hint(if counted.is_some() {
                        "Those of the count's product where it was counted."
                    } else {
                        ""
                    }),
            )
            .field(Field::select("reason", "Reason", all(AdjustmentReason::ALL)).value(reason))
            .field(Field::select("direction", "Direction", all(Direction::ALL)).value("decrease"))
            .field(Field::decimal("amount_mg", "Amount (mg)"))
            .field(Field::textarea("note", "Note").hint("What was found and why it differs."))
            .section("Witness")
            .field(
                Field::text("witness", "Witness (user name)")
                    .hint("A colleague who signs at this screen with their own password."),
            )
            .build(),
    )
}

async fn adjust_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    let lead = match discrepancy_lines(state, auth).await {
        Ok(ds) if ds.is_empty() => "No count discrepancy is open.".to_string(),
        Ok(ds) => ds
            .into_iter()
            .map(|(text, _)| format!("{text}."))
            .collect::<Vec<_>>()
            .join(" "),
        Err(err) => return Err(PageError::of(auth, err)),
    };
    let f = adjust_form(state, auth, p, e).await.or_refuse(auth)?;
    Ok(act_page(
        auth,
        "Adjust a container",
        &lead,
        None,
        vec![(String::new(), f)],
        status,
    ))
}

#[derive(serde::Deserialize)]
struct AdjustQuery {
    count: Option<String>,
}

async fn adjust_get(
    State(state): State<AppState>,
    Query(q): Query<AdjustQuery>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::Pharmacy)?;
    let mut p = Posted::default();
    if let Some(c) = q.count {
        p.set("count", c);
    }
    adjust_page(&state, &auth, &p, &Errors::default(), StatusCode::OK).await
}

/// Where a refusal of the adjustment form goes.
const ADJUST_FIELDS: &[(&str, &str)] = &[
    ("insufficient_stock", "amount_mg"),
    ("amount_mismatch", "amount_mg"),
    ("zero_quantity", "amount_mg"),
    ("container_state", "container"),
    ("container_empty", "container"),
    ("unknown_discrepancy", "count"),
    ("adjustment_exceeds_discrepancy", "amount_mg"),
    ("discrepancy_closed", "count"),
    ("discrepancy_direction", "direction"),
    ("witness_is_author", "witness"),
    ("role_not_allowed", "witness"),
    ("inactive_signer", "witness"),
    ("unknown_signer", "witness"),
];

async fn adjust_post(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::Adjustment))?;
    let mut e = Errors::default();
    let count: Option<Seq> = if p.get("count").is_empty() {
        None
    } else {
        e.parse(p, "count", "")
    };
    let reason: Option<AdjustmentReason> = e.parse(p, "reason", "Choose a reason.");
    let direction: Option<Direction> = e.parse(p, "direction", "Choose increase or decrease.");
    let note: Option<Text> = e.parse(p, "note", "Say what was found.");
    let container = match p.get("container").parse::<ContainerId>() {
        Ok(id) => state.store.container(auth.ledger, &id).await.ok().flatten(),
        Err(_) => None,
    };
    if container.is_none() {
        e.add("container", "Choose the container.");
    }
    let mg = e.parse_with(
        p,
        "amount_mg",
        "Enter the amount in mg.",
        Micrograms::parse_thousandths,
    );
    let witness = witness_at_screen(&state, auth, p, &mut e, "witness").await;
    let (Some(reason), Some(direction), Some(note), Some(c), Some(mg), Some(w), true, false) = (
        reason,
        direction,
        note,
        container,
        mg,
        witness,
        e.is_empty(),
        p.editing(),
    ) else {
        return adjust_page(&state, auth, p, &e, status_of(p)).await;
    };
    let amount = match state.clinic.amount_of(auth, &c.id, mg, "amount_mg").await {
        Ok(a) => a,
        Err(err) => {
            let err: ApiError = err.into();
            let mut e = Errors::default();
            e.refusal(&["amount_mg"], ADJUST_FIELDS, &err);
            return adjust_page(&state, auth, p, &e, err.status).await;
        }
    };
    let what = format!(
        "a {direction} of {} in container {} ({} lot {}), {reason}{}: {note}",
        said(&amount),
        c.id,
        c.product.name,
        c.lot,
        count
            .map(|s| format!(", resolving count {s}"))
            .unwrap_or_default()
    );
    let signers = vec![
        Signer::me(
            auth,
            "authored",
            format!("I, {}, recorded {what}.", auth.printed_name),
        ),
        Signer::witness(
            &w.printed_name,
            "witness_password",
            format!("I, {}, witnessed {what}.", w.printed_name),
        ),
    ];
    let cmd = Adjust {
        container: c.id,
        resolves: count,
        reason,
        direction,
        amount: mg,
        note,
        witness: w.user.clone(),
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        // The adjustment's own rules, beside the field each is about.
        let field = if err.message.contains("but container") {
            "container"
        } else if err.message.contains("adds to a container") {
            "direction"
        } else {
            "count"
        };
        let by_code = [ADJUST_FIELDS, &[("rule_violation", field)]].concat();
        e.refusal(
            &["amount_mg", "container", "count", "witness"],
            &by_code,
            &err,
        );
        adjust_page(&state, auth, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.adjust(auth, cmd, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the adjustment",
        "/ui/adjust",
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
        .route("/ui/receive", get(receive_get).post(receive_post))
        .route("/ui/count", get(count_get).post(count_post))
        .route("/ui/adjust", get(adjust_get).post(adjust_post))
}
