//! The pharmacist's stock pages: receiving an invoice of several lines, the blind count, and
//! resolving a count's discrepancy with a witnessed adjustment. Shared pieces for the pages
//! that name containers (their choice lists, the lines of items, a witness at the screen)
//! live here too.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use custody_ledger::*;
use custody_store::{ContainerInfo, EntryFilter};

use super::forms::{
    Errors, Field, FormBuilder, FormView, Posted, Signer, Submitted, act_page, all, ceremony, done,
    done_many, sign, status_of,
};
use super::pages::{SignedIn, allow, refuse};
use super::stock::{left, quantity, said};
use crate::auth::Auth;
use crate::ceremony::{WitnessBody, amount_of, everything_in};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::containers::{AdjustRequest, record_adjustment};
use crate::routes::receiving::{
    CountRequest, PartyBody, ReceiptRequest, record_count, record_receipt,
};
use crate::state::AppState;

pub const PHARMACIST: &[Role] = &[Role::Pharmacist];
const COUNTERS: &[Role] = &[Role::Pharmacist, Role::Nurse];
/// Lines a form of several lines starts with, and the most it takes.
pub const MIN_LINES: usize = 3;
pub const MAX_LINES: usize = 30;

/// Today in UTC, the day the ledger dates entries by.
pub fn today() -> Day {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc()).date()
}

pub async fn product_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .products(ledger)
        .await?
        .into_iter()
        .map(|p| (p.ndc.to_string(), format!("{} ({})", p.name, p.ndc)))
        .collect())
}

pub async fn location_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .locations(ledger)
        .await?
        .into_iter()
        .map(|l| {
            (
                l.location.to_string(),
                format!("{} ({})", l.name, l.location),
            )
        })
        .collect())
}

/// The containers held now, as choices: id, product, lot, where, state, what is left.
pub async fn container_options(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    Ok(state
        .store
        .containers(ledger, true)
        .await?
        .into_iter()
        .map(|c| {
            (
                c.id.to_string(),
                format!(
                    "{} — {} lot {}, {}, {}, {}",
                    c.id,
                    c.product.name,
                    c.lot,
                    c.location,
                    c.status,
                    left(&c) + " left"
                ),
            )
        })
        .collect())
}

/// One line naming a container and, perhaps, an amount of it.
pub struct Item {
    pub container: ContainerInfo,
    /// As typed, in mg; `None` means the whole container (or all that is left).
    pub amount_mg: Option<String>,
    pub amount: Amount,
}

impl Item {
    pub fn said(&self) -> String {
        let whole = self.amount_mg.is_none() && self.container.status == "sealed";
        format!(
            "{} of {} from container {}{}",
            said(&self.amount),
            self.container.product.name,
            self.container.id,
            if whole { " (sealed, whole)" } else { "" }
        )
    }
}

/// The lines `container_N` / `amount_N` that name a container; each error beside its field.
pub async fn items(
    state: &AppState,
    ledger: LedgerId,
    p: &Posted,
    e: &mut Errors,
    with_amounts: bool,
) -> Vec<Item> {
    let mut out = Vec::new();
    for i in 1..=p.lines(MIN_LINES, MAX_LINES) {
        let cf = format!("container_{i}");
        let af = format!("amount_{i}");
        let c = p.get(&cf);
        let mg = if with_amounts { p.get(&af) } else { "" };
        if c.is_empty() {
            if !mg.is_empty() {
                e.add(&cf, "Choose the container this amount comes from.");
            }
            continue;
        }
        let Some(info) = (match c.parse::<ContainerId>() {
            Ok(id) => state.store.container(ledger, &id).await.ok().flatten(),
            Err(_) => None,
        }) else {
            e.add(&cf, format!("There is no container {c} here."));
            continue;
        };
        if out.iter().any(|x: &Item| x.container.id == info.id) {
            e.add(&cf, format!("Container {c} is named twice."));
            continue;
        }
        let amount = if mg.is_empty() {
            everything_in(state, ledger, &info.id).await
        } else {
            amount_of(state, ledger, &info.id, mg).await
        };
        match amount {
            Ok(amount) => out.push(Item {
                container: info,
                amount_mg: (!mg.is_empty()).then(|| mg.to_string()),
                amount,
            }),
            Err(err) => e.add(
                if mg.is_empty() { &cf } else { &af },
                super::forms::sentence(&err.message),
            ),
        }
    }
    if out.is_empty() && e.is_empty() {
        e.add("container_1", "Name at least one container.");
    }
    out
}

/// The item lines of a form: a container choice and, when asked, an amount.
pub fn item_fields<'a>(
    mut b: FormBuilder<'a>,
    p: &Posted,
    options: &[(String, String)],
    amount_hint: Option<&str>,
) -> FormBuilder<'a> {
    let n = p.lines(MIN_LINES, MAX_LINES);
    for i in 1..=n {
        b = b.line(&format!("Container {i}")).field(
            Field::select(
                &format!("container_{i}"),
                &format!("Container {i}"),
                options.to_vec(),
            )
            .optional(),
        );
        if let Some(h) = amount_hint {
            b = b.field(
                Field::decimal(&format!("amount_{i}"), &format!("Amount {i} (mg)"))
                    .optional()
                    .hint(h),
            );
        }
    }
    b.more_lines(n)
}

/// The colleague named in `field` who signs at this screen: active, and not the author.
pub async fn witness_at_screen(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &mut Errors,
    field: &str,
) -> Option<custody_store::sessions::UserInfo> {
    let name = p.get(field);
    if name.is_empty() {
        e.add(field, "Name the colleague who witnesses.");
        return None;
    }
    let info = match name.parse::<UserId>() {
        Ok(u) => state.store.user(auth.ledger, &u).await.ok().flatten(),
        Err(_) => None,
    };
    match info.filter(|i| i.active) {
        Some(i) if i.user == auth.user => {
            e.add(field, "You cannot witness your own act: ask a colleague.");
            None
        }
        Some(i) if !custody_ledger::state::WITNESS_ROLES.contains(&i.role) => {
            e.add(field, format!("A {} may not witness.", i.role));
            None
        }
        Some(i) => Some(i),
        None => {
            e.add(field, format!("No active user {name:?} in this clinic."));
            None
        }
    }
}

// ---- receiving ----

async fn receive_form(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
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
        .field(Field::date("received_on", "Received on").value(today().to_string()));
    for i in 1..=n {
        b = b
            .line(&format!("Line {i}"))
            .field(
                Field::select(
                    &format!("product_{i}"),
                    &format!("Product, line {i}"),
                    products.clone(),
                )
                .optional(),
            )
            .field(Field::text(&format!("lot_{i}"), &format!("Lot, line {i}")).optional())
            .field(Field::date(&format!("expiry_{i}"), &format!("Expiry, line {i}")).optional())
            .field(
                Field::number(&format!("containers_{i}"), &format!("Containers, line {i}"))
                    .optional()
                    .hint("Vials, devices or bottles."),
            )
            .field(Field::select(
                &format!("location_{i}"),
                &format!("Put in, line {i}"),
                locations.clone(),
            ));
    }
    Ok(b.more_lines(n).build())
}

async fn receive_page(
    state: &AppState,
    auth: &Auth,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Response {
    match receive_form(state, auth, p, e).await {
        Ok(f) => act_page(
            auth,
            "Receive stock",
            "One invoice, as many lines as it has: each line becomes a receipt in the ledger and its containers get ids to label them with.",
            None,
            vec![(String::new(), f)],
            status,
        ),
        Err(err) => refuse(auth, err),
    }
}

async fn receive_get(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Response {
    if let Some(r) = allow(&auth, PHARMACIST) {
        return r;
    }
    receive_page(
        &state,
        &auth,
        &Posted::default(),
        &Errors::default(),
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

async fn receive_post(
    State(state): State<AppState>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, PHARMACIST) {
        return r;
    }
    let mut e = Errors::default();
    let supplier: Option<Text> = e.parse(&p, "supplier_name", "Enter the supplier's name.");
    let address: Option<Text> = e.parse(&p, "supplier_address", "Enter the supplier's address.");
    let dea: Option<DeaNumber> = e.parse(&p, "supplier_dea", "Enter the supplier's DEA number.");
    let invoice: Option<Text> = e.parse(&p, "invoice", "Enter the invoice number.");
    let received_on: Option<Day> = e.parse(&p, "received_on", "Enter the day it arrived.");
    let products = match state.store.products(auth.ledger).await {
        Ok(ps) => ps,
        Err(err) => return refuse(&auth, err.into()),
    };
    let mut lines = Vec::new();
    for i in 1..=p.lines(1, MAX_LINES) {
        let f = |n: &str| format!("{n}_{i}");
        let used = ["product", "lot", "expiry", "containers"]
            .iter()
            .any(|n| !p.get(&f(n)).is_empty());
        if !used {
            continue;
        }
        let ndc: Option<Ndc> = e.parse(&p, &f("product"), "Choose the product.");
        let product = ndc.and_then(|n| products.iter().find(|x| x.ndc == n).cloned());
        if ndc.is_some() && product.is_none() {
            e.add(
                &f("product"),
                "That product is not defined here: an admin defines it first.",
            );
        }
        let lot: Option<Lot> = e.parse(&p, &f("lot"), "Enter the lot number.");
        let expiry: Option<Day> = e.parse(&p, &f("expiry"), "Enter the expiry date.");
        let containers: Option<u32> = e.parse(&p, &f("containers"), "Enter how many containers.");
        if containers == Some(0) {
            e.add(&f("containers"), "At least one container.");
        }
        let location: Option<LocationId> = e.parse(&p, &f("location"), "Choose where it goes.");
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
        return receive_page(&state, &auth, &p, &e, status_of(&p)).await;
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
        &auth,
        "authored",
        format!(
            "I, {}, received on {received_on} from {supplier} (DEA {dea}), invoice {invoice}: {}.",
            auth.printed_name,
            what.join("; ")
        ),
    )];
    if !p.confirmed() {
        return sign(&auth, "Sign the receipt", "/ui/receive", &p, signers, None);
    }
    let mut recorded = Vec::new();
    let mut details = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let req = ReceiptRequest {
            password: p.secret("password"),
            supplier: PartyBody {
                name: supplier.to_string(),
                address: address.to_string(),
                dea: dea.to_string(),
            },
            invoice: invoice.to_string(),
            received_on: received_on.to_string(),
            product: l.product.ndc.to_string(),
            lot: l.lot.to_string(),
            expiry: l.expiry.to_string(),
            containers: l.containers,
            location: l.location.to_string(),
        };
        match record_receipt(&state, auth.ledger, &auth, &client, &req).await {
            Ok(r) => {
                details.push(format!(
                    "{} lot {}: containers {}",
                    l.product.name,
                    l.lot,
                    r.containers.join(", ")
                ));
                recorded.push(r.recorded);
            }
            Err(err) if recorded.is_empty() => {
                return sign(
                    &auth,
                    "Sign the receipt",
                    "/ui/receive",
                    &p,
                    signers,
                    Some(err),
                );
            }
            Err(err) => {
                details.push(format!(
                    "Line {} and those after it were NOT recorded: {} Receive them again.",
                    i + 1,
                    err.message
                ));
                break;
            }
        }
    }
    done_many(
        &auth,
        "Stock received",
        &recorded,
        details,
        "/ui/containers",
    )
}

// ---- counting ----

async fn count_form(state: &AppState, auth: &Auth, p: &Posted, e: &Errors) -> ApiResult<FormView> {
    Ok(
        FormBuilder::new(auth.csrf(), "/ui/count", "Review and sign…", p, e)
            .field(Field::select(
                "location",
                "Location",
                location_options(state, auth.ledger).await?,
            ))
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
) -> Response {
    match count_form(state, auth, p, e).await {
        Ok(f) => act_page(
            auth,
            "Count",
            "A blind count: count what is there; what the ledger expects is shown only after you sign.",
            None,
            vec![(String::new(), f)],
            status,
        ),
        Err(err) => refuse(auth, err),
    }
}

async fn count_get(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Response {
    if let Some(r) = allow(&auth, COUNTERS) {
        return r;
    }
    count_page(
        &state,
        &auth,
        &Posted::default(),
        &Errors::default(),
        StatusCode::OK,
    )
    .await
}

fn tally_said(strength: &Strength, sealed: u32, open: u64) -> String {
    format!(
        "{sealed} sealed and {} in open containers",
        quantity(strength, open)
    )
}

async fn count_post(
    State(state): State<AppState>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, COUNTERS) {
        return r;
    }
    let mut e = Errors::default();
    let location: Option<LocationId> = e.parse(&p, "location", "Choose the location.");
    let ndc: Option<Ndc> = e.parse(&p, "product", "Choose the product.");
    let sealed: Option<u32> = e.parse(
        &p,
        "counted_sealed",
        "Enter how many sealed containers you found (0 if none).",
    );
    let product = match ndc {
        Some(n) => match state.store.products(auth.ledger).await {
            Ok(ps) => ps.into_iter().find(|x| x.ndc == n),
            Err(err) => return refuse(&auth, err.into()),
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
                        e.add("counted_open", super::forms::sentence(&err.to_string()));
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
        return count_page(&state, &auth, &p, &e, status_of(&p)).await;
    };
    let counted = tally_said(&product.strength, sealed, open);
    let signers = vec![Signer::me(
        &auth,
        "authored",
        format!(
            "I, {}, counted {} at {location}: {counted}. I was not shown what the ledger expects.",
            auth.printed_name, product.name
        ),
    )];
    let req = CountRequest {
        password: p.secret("password"),
        location: location.to_string(),
        product: product.ndc.to_string(),
        blind: true,
        counted_sealed: sealed,
        counted_open: open,
    };
    let run = async || record_count(&state, auth.ledger, &auth, &client, &req).await;
    match ceremony(
        &auth,
        "Sign the count",
        "/ui/count",
        &p,
        Vec::new(),
        signers,
        run,
    )
    .await
    {
        Ok(r) => {
            let expected = tally_said(&product.strength, r.expected_sealed, r.expected_open);
            let mut details = vec![
                format!("You counted {counted}."),
                format!("The ledger expected {expected}."),
            ];
            let next = if r.discrepancy {
                details.push(
                    "They differ: this discrepancy stays open until an adjustment resolves it."
                        .into(),
                );
                format!("/ui/adjust?count={}", r.recorded.seq)
            } else {
                details.push("They agree.".into());
                "/ui".into()
            };
            let title = if r.discrepancy {
                "Count recorded: it differs from the ledger"
            } else {
                "Count recorded: it agrees"
            };
            done(&auth, title, &r.recorded, details, &next)
        }
        Err(page) => page,
    }
}

// ---- discrepancies ----

/// A count that found other than the ledger expected, and no adjustment has resolved yet.
pub struct OpenDiscrepancy {
    pub seq: u64,
    pub count: Count,
    pub at: Timestamp,
}

pub async fn open_discrepancies(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<OpenDiscrepancy>> {
    let mut counts = Vec::new();
    let mut resolved = std::collections::BTreeSet::new();
    for kind in [Kind::Count, Kind::Adjustment] {
        let filter = EntryFilter {
            kind: Some(kind),
            ..Default::default()
        };
        let mut after = None;
        loop {
            let page = state
                .store
                .entries_filtered(ledger, after, 1000, &filter)
                .await?;
            for r in &page.entries {
                let entry = Entry::from_canonical_bytes(&r.bytes).map_err(|err| {
                    ApiError::internal(format!("stored entry {} cannot be read: {err}", r.seq))
                })?;
                match entry.body.payload {
                    Payload::Count(c) if c.counted != c.expected => counts.push(OpenDiscrepancy {
                        seq: r.seq,
                        count: c,
                        at: entry.timestamp,
                    }),
                    Payload::Adjustment(a) => {
                        if let Some(s) = a.resolves {
                            resolved.insert(s.get());
                        }
                    }
                    _ => {}
                }
            }
            match page.next {
                Some(n) => {
                    after = Some(Seq::new(n).map_err(|err| ApiError::internal(err.to_string()))?)
                }
                None => break,
            }
        }
    }
    counts.retain(|c| !resolved.contains(&c.seq));
    Ok(counts)
}

/// The open discrepancies as sentences, each with the page that resolves it.
pub async fn discrepancy_lines(
    state: &AppState,
    ledger: LedgerId,
) -> ApiResult<Vec<(String, String)>> {
    let products = state.store.products(ledger).await?;
    Ok(open_discrepancies(state, ledger)
        .await?
        .into_iter()
        .map(|d| {
            let product = products.iter().find(|p| p.ndc == d.count.product);
            let tally = |t: &Tally| match product {
                Some(p) => tally_said(&p.strength, t.sealed, t.open),
                None => format!("{} sealed and {} in open containers", t.sealed, t.open),
            };
            (
                format!(
                    "Count {} of {} at {} on {}: counted {}, the ledger expected {}",
                    d.seq,
                    product.map_or_else(|| d.count.product.to_string(), |p| p.name.to_string()),
                    d.count.location,
                    d.at.date(),
                    tally(&d.count.counted),
                    tally(&d.count.expected)
                ),
                format!("/ui/adjust?count={}", d.seq),
            )
        })
        .collect())
}

async fn adjust_form(state: &AppState, auth: &Auth, p: &Posted, e: &Errors) -> ApiResult<FormView> {
    let discrepancies = open_discrepancies(state, auth.ledger).await?;
    let mut counts: Vec<(String, String)> = discrepancies
        .iter()
        .map(|d| {
            (
                d.seq.to_string(),
                format!("count {} at {} on {}", d.seq, d.count.location, d.at.date()),
            )
        })
        .collect();
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
    Ok(
        FormBuilder::new(auth.csrf(), "/ui/adjust", "Review and sign…", p, e)
            .section("What to adjust")
            .field(Field::select("count", "Resolves", counts).optional())
            .field(Field::select(
                "container",
                "Container",
                container_options(state, auth.ledger).await?,
            ))
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
) -> Response {
    let lead = match discrepancy_lines(state, auth.ledger).await {
        Ok(ds) if ds.is_empty() => "No count discrepancy is open.".to_string(),
        Ok(ds) => ds
            .into_iter()
            .map(|(text, _)| format!("{text}."))
            .collect::<Vec<_>>()
            .join(" "),
        Err(err) => return refuse(auth, err),
    };
    match adjust_form(state, auth, p, e).await {
        Ok(f) => act_page(
            auth,
            "Adjust a container",
            &lead,
            None,
            vec![(String::new(), f)],
            status,
        ),
        Err(err) => refuse(auth, err),
    }
}

#[derive(serde::Deserialize)]
struct AdjustQuery {
    count: Option<String>,
}

async fn adjust_get(
    State(state): State<AppState>,
    Query(q): Query<AdjustQuery>,
    SignedIn(auth): SignedIn,
) -> Response {
    if let Some(r) = allow(&auth, PHARMACIST) {
        return r;
    }
    let mut p = Posted::default();
    if let Some(c) = q.count {
        p.set("count", c);
    }
    adjust_page(&state, &auth, &p, &Errors::default(), StatusCode::OK).await
}

async fn adjust_post(
    State(state): State<AppState>,
    Submitted {
        auth,
        posted: p,
        client,
    }: Submitted,
) -> Response {
    if let Some(r) = allow(&auth, PHARMACIST) {
        return r;
    }
    let mut e = Errors::default();
    let count: Option<u64> = if p.get("count").is_empty() {
        None
    } else {
        e.parse(&p, "count", "")
    };
    let reason: Option<AdjustmentReason> = e.parse(&p, "reason", "Choose a reason.");
    let direction: Option<Direction> = e.parse(&p, "direction", "Choose increase or decrease.");
    let note: Option<Text> = e.parse(&p, "note", "Say what was found.");
    let container = match p.get("container").parse::<ContainerId>() {
        Ok(id) => state.store.container(auth.ledger, &id).await.ok().flatten(),
        Err(_) => None,
    };
    if container.is_none() {
        e.add("container", "Choose the container.");
    }
    let amount = match &container {
        Some(c) if !p.get("amount_mg").is_empty() => {
            match amount_of(&state, auth.ledger, &c.id, p.get("amount_mg")).await {
                Ok(a) => Some(a),
                Err(err) => {
                    e.add("amount_mg", super::forms::sentence(&err.message));
                    None
                }
            }
        }
        _ => {
            e.text(&p, "amount_mg", "Enter the amount in mg.");
            None
        }
    };
    let witness = witness_at_screen(&state, &auth, &p, &mut e, "witness").await;
    if reason == Some(AdjustmentReason::CountDiscrepancy) && count.is_none() {
        e.add(
            "count",
            "A count-discrepancy adjustment names the count it resolves.",
        );
    }
    let (Some(reason), Some(direction), Some(note), Some(c), Some(amount), Some(w), true, false) = (
        reason,
        direction,
        note,
        container,
        amount,
        witness,
        e.is_empty(),
        p.editing(),
    ) else {
        return adjust_page(&state, &auth, &p, &e, status_of(&p)).await;
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
            &auth,
            "authored",
            format!("I, {}, recorded {what}.", auth.printed_name),
        ),
        Signer::witness(
            &w.printed_name,
            "witness_password",
            format!("I, {}, witnessed {what}.", w.printed_name),
        ),
    ];
    let req = AdjustRequest {
        password: p.secret("password"),
        reason: reason.to_string(),
        direction: direction.to_string(),
        amount_mg: p.get("amount_mg").to_string(),
        resolves: count,
        note: note.to_string(),
        witness: WitnessBody {
            username: w.user.to_string(),
            password: p.secret("witness_password"),
        },
    };
    match ceremony(
        &auth,
        "Sign the adjustment",
        "/ui/adjust",
        &p,
        Vec::new(),
        signers,
        async || {
            record_adjustment(&state, auth.ledger, &c.id.to_string(), &auth, &client, &req).await
        },
    )
    .await
    {
        Ok(r) => done(&auth, "Adjustment recorded", &r, Vec::new(), "/ui"),
        Err(page) => page,
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/receive", get(receive_get).post(receive_post))
        .route("/ui/count", get(count_get).post(count_post))
        .route("/ui/adjust", get(adjust_get).post(adjust_post))
}
