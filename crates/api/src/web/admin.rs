//! The admin's pages: users (enroll, change a role, deactivate, reset a password), products
//! and storage locations; and the first admin's sign-up with the bootstrap token. Each act
//! is the same clinic command the JSON API calls.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use custody_ledger::*;

use custody_clinic::Permission;
use custody_clinic::acts::{Bootstrap, Ceremony, Enroll, Origin};
use custody_clinic::passwords;

use super::forms::{
    ActPage, Errors, Field, FormBuilder, FormView, Posted, Signer, Submitted, Table, act_page, all,
    ceremony, link, sentence, status_of,
};
use super::kit::{OrRefuse, Page, PageError, SignedIn, allow, render};
use super::words::strength_said;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

type Fields = Form<Vec<(String, String)>>;

// ---- users ----

fn enroll_form(auth: &Auth, p: &Posted, e: &Errors) -> FormView {
    FormBuilder::new(auth.csrf(), "/ui/users", "Review and sign…", p, e)
        .field(
            Field::text("username", "User name")
                .hint("Lower-case letters, digits, dots or dashes; it never changes."),
        )
        .field(Field::text("printed_name", "Printed name").hint("As it appears on signed records."))
        .field(Field::select("role", "Role", all(Role::ALL)).placeholder("Choose a role"))
        .field(
            Field::password("initial_password", "First password").hint(
                "12 or more characters. Hand it to the person; their key is sealed under it.",
            ),
        )
        .build()
}

async fn users_page(state: &AppState, auth: &Auth, form: FormView, status: StatusCode) -> Page {
    let users = state.store.users(auth.ledger).await.or_refuse(auth)?;
    let table = Table {
        caption: "Everyone who can sign in".into(),
        head: ["User", "Printed name", "Role", "Status"]
            .map(String::from)
            .to_vec(),
        rows: users
            .iter()
            .map(|u| {
                vec![
                    link(u.user.to_string(), format!("/ui/users/{}", u.user)),
                    u.printed_name.clone().into(),
                    u.role.to_string().into(),
                    if u.active { "active" } else { "deactivated" }.into(),
                ]
            })
            .collect(),
        empty: "No user yet.".into(),
    };
    Ok(act_page(
        auth,
        "Users",
        "Enroll a person, or choose one to change their role, deactivate them or reset their password.",
        Some(table),
        vec![("Enroll a user".into(), form)],
        status,
    ))
}

async fn users(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::ManageUsers)?;
    let form = enroll_form(&auth, &Posted::default(), &Errors::default());
    users_page(&state, &auth, form, StatusCode::OK).await
}

async fn enroll(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::ManageUsers)?;
    let mut e = Errors::default();
    let user: Option<UserId> = e.parse(p, "username", "Enter a user name.");
    let name: Option<Text> = e.parse(p, "printed_name", "Enter the person's printed name.");
    let role: Option<Role> = e.parse(p, "role", "Choose a role.");
    let (Some(user), Some(name), Some(role), true, false) =
        (user, name, role, e.is_empty(), p.editing())
    else {
        return users_page(&state, auth, enroll_form(auth, p, &e), status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, enrolled {name} as user {user}, a {role}, with a new signing key.",
            auth.printed_name
        ),
    )];
    let secrets = vec![(
        "initial_password".to_string(),
        format!("{name}'s first password, typed again"),
    )];
    let cmd = Enroll {
        user,
        printed_name: name,
        role,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(
            &["username", "printed_name", "role"],
            &[
                ("weak_password", "initial_password"),
                ("user_exists", "username"),
            ],
            &err,
        );
        users_page(&state, auth, enroll_form(auth, p, &e), err.status).await
    };
    let initial = p.secret("initial_password");
    let run = async |c: Ceremony, o: Origin| state.clinic.enroll(auth, cmd, &initial, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the enrollment",
        "/ui/users",
        secrets,
        signers,
        "/ui/users",
        back,
        run,
    )
    .await)
}

fn user_forms(auth: &Auth, user: &str, p: &Posted, e: &Errors) -> Vec<(String, FormView)> {
    let base = format!("/ui/users/{user}");
    vec![
        (
            "Change the role".into(),
            FormBuilder::new(
                auth.csrf(),
                &format!("{base}/role"),
                "Review and sign…",
                p,
                e,
            )
            .field(Field::select("role", "New role", all(Role::ALL)).placeholder("Choose a role"))
            .field(Field::text("role_reason", "Reason"))
            .build(),
        ),
        (
            "Deactivate".into(),
            FormBuilder::new(
                auth.csrf(),
                &format!("{base}/deactivate"),
                "Review and sign…",
                p,
                e,
            )
            .field(
                Field::text("deactivate_reason", "Reason")
                    .hint("They can no longer sign in or sign; what they signed stays."),
            )
            .build(),
        ),
        (
            "Reset the password".into(),
            FormBuilder::new(
                auth.csrf(),
                &format!("{base}/reset"),
                "Review and sign…",
                p,
                e,
            )
            .field(Field::password("new_password", "New password").hint(
                "A new key is made and sealed under it; the old key is retired, never opened.",
            ))
            .build(),
        ),
    ]
}

async fn user_page(
    state: &AppState,
    auth: &Auth,
    user: &str,
    p: &Posted,
    e: &Errors,
    status: StatusCode,
) -> Page {
    let info = match user.parse::<UserId>() {
        Ok(u) => state.store.user(auth.ledger, &u).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(info) = info else {
        return Err(PageError::of(
            auth,
            ApiError::not_found(format!("no user {user:?} in this clinic")),
        ));
    };
    let lead = format!(
        "{} · {} · {} · key {}",
        info.printed_name,
        info.role,
        if info.active { "active" } else { "deactivated" },
        info.key_id
    );
    let forms = if info.active {
        user_forms(auth, user, p, e)
    } else {
        Vec::new()
    };
    Ok(act_page(
        auth,
        &format!("User {}", info.user),
        &lead,
        None,
        forms,
        status,
    ))
}

async fn user(
    State(state): State<AppState>,
    Path(user): Path<String>,
    SignedIn(auth): SignedIn,
) -> Page {
    allow(&auth, Permission::ManageUsers)?;
    user_page(
        &state,
        &auth,
        &user,
        &Posted::default(),
        &Errors::default(),
        StatusCode::OK,
    )
    .await
}

/// Name of `user` as signed records show it.
async fn printed(state: &AppState, auth: &Auth, user: &str) -> Option<String> {
    let u = user.parse::<UserId>().ok()?;
    state
        .store
        .user(auth.ledger, &u)
        .await
        .ok()
        .flatten()
        .map(|i| i.printed_name)
}

async fn role(State(state): State<AppState>, Path(user): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::RoleChanged))?;
    let mut e = Errors::default();
    let role: Option<Role> = e.parse(p, "role", "Choose a role.");
    let reason: Option<Text> = e.parse(p, "role_reason", "Say why the role changes.");
    let name = printed(&state, auth, &user)
        .await
        .unwrap_or_else(|| user.clone());
    let subject = state.clinic.known_user(auth, &user).await.or_refuse(auth)?;
    let (Some(role), Some(reason), false) = (role, reason, p.editing()) else {
        return user_page(&state, auth, &user, p, &e, status_of(p)).await;
    };
    let action = format!("/ui/users/{user}/role");
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, made {name} ({user}) a {role}: {reason}.",
            auth.printed_name
        ),
    )];
    let payload = RoleChanged {
        user: subject,
        role,
        reason,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(&["role", "role_reason"], &[], &err);
        user_page(&state, auth, &user, p, &e, err.status).await
    };
    let next = format!("/ui/users/{user}");
    let run = async |c: Ceremony, o: Origin| state.clinic.record_one(auth, payload, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the role change",
        &action,
        Vec::new(),
        signers,
        &next,
        back,
        run,
    )
    .await)
}

async fn deactivate(
    State(state): State<AppState>,
    Path(user): Path<String>,
    sub: Submitted,
) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Author(Kind::UserDeactivated))?;
    let mut e = Errors::default();
    let reason: Option<Text> = e.parse(p, "deactivate_reason", "Say why.");
    let name = printed(&state, auth, &user)
        .await
        .unwrap_or_else(|| user.clone());
    let subject = state.clinic.known_user(auth, &user).await.or_refuse(auth)?;
    let (Some(reason), false) = (reason, p.editing()) else {
        return user_page(&state, auth, &user, p, &e, status_of(p)).await;
    };
    let action = format!("/ui/users/{user}/deactivate");
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, deactivated {name} ({user}): {reason}.",
            auth.printed_name
        ),
    )];
    let payload = UserDeactivated {
        user: subject,
        reason,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(&["deactivate_reason"], &[], &err);
        user_page(&state, auth, &user, p, &e, err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.deactivate(auth, payload, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the deactivation",
        &action,
        Vec::new(),
        signers,
        "/ui/users",
        back,
        run,
    )
    .await)
}

async fn reset(State(state): State<AppState>, Path(user): Path<String>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::ManageUsers)?;
    let subject = state.clinic.known_user(auth, &user).await.or_refuse(auth)?;
    let mut e = Errors::default();
    if !p.confirmed()
        && let Err(err) = passwords::check(&user, &p.secret("new_password"))
    {
        e.add("new_password", sentence(&err.to_string()));
    }
    if !e.is_empty() || p.editing() {
        return user_page(&state, auth, &user, p, &e, status_of(p)).await;
    }
    let name = printed(&state, auth, &user)
        .await
        .unwrap_or_else(|| user.clone());
    let action = format!("/ui/users/{user}/reset");
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, gave {name} ({user}) a new signing key sealed under a new password; their old key signs nothing more.",
            auth.printed_name
        ),
    )];
    let secrets = vec![(
        "new_password".to_string(),
        "The new password, typed again".to_string(),
    )];
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(&[], &[("weak_password", "new_password")], &err);
        user_page(&state, auth, &user, p, &e, err.status).await
    };
    let new_password = p.secret("new_password");
    let next = format!("/ui/users/{user}");
    let run = async |c: Ceremony, o: Origin| {
        state
            .clinic
            .reset(auth, &subject, &new_password, c, &o)
            .await
    };
    Ok(ceremony(
        &sub,
        "Sign the reset",
        &action,
        secrets,
        signers,
        &next,
        back,
        run,
    )
    .await)
}

// ---- products ----

fn product_form(auth: &Auth, p: &Posted, e: &Errors) -> FormView {
    FormBuilder::new(auth.csrf(), "/ui/products", "Review and sign…", p, e)
        .section("The product")
        .field(
            Field::text("ndc", "NDC")
                .check("ndc")
                .hint("As on the package: 4-4-2, 5-3-2 or 5-4-1 digits, or 11 digits."),
        )
        .field(Field::text("name", "Name").hint("e.g. Ketamine HCl 50 mg/mL, 10 mL vial"))
        .field(Field::select("form", "Form", all(FinishedForm::ALL)))
        .field(Field::select("schedule", "DEA schedule", all(Schedule::ALL)).value("III"))
        .section("Strength")
        .field(Field::select(
            "strength",
            "Measured as",
            vec![
                ("solution".into(), "a solution (mg per mL)".into()),
                ("units".into(), "countable units (mg per unit)".into()),
            ],
        ))
        .field(
            Field::decimal("mg_per_ml", "mg per mL")
                .optional()
                .hint("For a solution."),
        )
        .field(
            Field::decimal("ml", "mL per container")
                .optional()
                .hint("For a solution."),
        )
        .field(
            Field::decimal("mg_per_unit", "mg per unit")
                .optional()
                .hint("For units."),
        )
        .field(
            Field::number("units", "Units per container")
                .optional()
                .hint("For units."),
        )
        .build()
}

async fn products_page(state: &AppState, auth: &Auth, form: FormView, status: StatusCode) -> Page {
    let products = state.store.products(auth.ledger).await.or_refuse(auth)?;
    let table = Table {
        caption: "Products this clinic holds".into(),
        head: ["NDC", "Name", "Form", "Schedule", "Strength"]
            .map(String::from)
            .to_vec(),
        rows: products
            .iter()
            .map(|p| {
                vec![
                    p.ndc.to_string().into(),
                    p.name.to_string().into(),
                    p.form.to_string().into(),
                    p.schedule.to_string().into(),
                    strength_said(&p.strength).into(),
                ]
            })
            .collect(),
        empty: "No product yet.".into(),
    };
    Ok(act_page(
        auth,
        "Products",
        "",
        Some(table),
        vec![("Define a product".into(), form)],
        status,
    ))
}

async fn products(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::Catalog)?;
    let form = product_form(&auth, &Posted::default(), &Errors::default());
    products_page(&state, &auth, form, StatusCode::OK).await
}

async fn define_product(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Catalog)?;
    let mut e = Errors::default();
    let ndc: Option<Ndc> = e.parse(p, "ndc", "Enter the NDC.");
    let name: Option<Text> = e.parse(p, "name", "Enter the product's name.");
    let form: Option<FinishedForm> = e.parse(p, "form", "Choose a form.");
    let schedule: Option<Schedule> = e.parse(p, "schedule", "Choose a schedule.");
    let strength = if p.get("strength") == "units" {
        let per = e.parse_with(
            p,
            "mg_per_unit",
            "Enter the mg in one unit.",
            Micrograms::parse_thousandths,
        );
        let n: Option<u32> = e.parse(p, "units", "Enter how many units a container holds.");
        per.zip(n).map(|(per, n)| Strength::Units {
            per_unit: per,
            units: Units::new(n),
        })
    } else {
        let per = e.parse_with(
            p,
            "mg_per_ml",
            "Enter the mg in one mL.",
            Micrograms::parse_thousandths,
        );
        let ml = e.parse_with(
            p,
            "ml",
            "Enter the mL in one container.",
            Microliters::parse_thousandths,
        );
        per.zip(ml).map(|(per, ml)| Strength::Solution {
            per_ml: per,
            volume: ml,
        })
    };
    let (Some(ndc), Some(name), Some(form), Some(schedule), Some(strength), true, false) = (
        ndc,
        name,
        form,
        schedule,
        strength,
        e.is_empty(),
        p.editing(),
    ) else {
        return products_page(&state, auth, product_form(auth, p, &e), status_of(p)).await;
    };
    let shown = strength_said(&strength);
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, defined product {ndc}: {name}, {form}, schedule {schedule}, {shown}.",
            auth.printed_name
        ),
    )];
    let payload = ProductDefined {
        ndc,
        name,
        form,
        schedule,
        strength,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(&["ndc", "name"], &[("product_exists", "ndc")], &err);
        products_page(&state, auth, product_form(auth, p, &e), err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.record_one(auth, payload, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the product",
        "/ui/products",
        Vec::new(),
        signers,
        "/ui/products",
        back,
        run,
    )
    .await)
}

// ---- locations ----

fn location_form(auth: &Auth, p: &Posted, e: &Errors) -> FormView {
    FormBuilder::new(auth.csrf(), "/ui/locations", "Review and sign…", p, e)
        .field(Field::text("location", "Short id").hint("e.g. SAFE-1; letters, digits and dashes."))
        .field(Field::text("name", "Name").hint("e.g. Main safe, pharmacy"))
        .field(Field::select("kind", "Kind", all(LocationKind::ALL)))
        .build()
}

async fn locations_page(state: &AppState, auth: &Auth, form: FormView, status: StatusCode) -> Page {
    let locations = state.store.locations(auth.ledger).await.or_refuse(auth)?;
    let table = Table {
        caption: "Where stock is kept".into(),
        head: ["Id", "Name", "Kind"].map(String::from).to_vec(),
        rows: locations
            .iter()
            .map(|l| {
                vec![
                    l.location.to_string().into(),
                    l.name.to_string().into(),
                    l.kind.to_string().into(),
                ]
            })
            .collect(),
        empty: "No location yet.".into(),
    };
    Ok(act_page(
        auth,
        "Locations",
        "",
        Some(table),
        vec![("Define a location".into(), form)],
        status,
    ))
}

async fn locations(State(state): State<AppState>, SignedIn(auth): SignedIn) -> Page {
    allow(&auth, Permission::Catalog)?;
    let form = location_form(&auth, &Posted::default(), &Errors::default());
    locations_page(&state, &auth, form, StatusCode::OK).await
}

async fn define_location(State(state): State<AppState>, sub: Submitted) -> Page {
    let (auth, p) = (&sub.auth, &sub.posted);
    allow(auth, Permission::Catalog)?;
    let mut e = Errors::default();
    let location: Option<LocationId> = e.parse(p, "location", "Enter a short id.");
    let name: Option<Text> = e.parse(p, "name", "Enter the location's name.");
    let kind: Option<LocationKind> = e.parse(p, "kind", "Choose a kind.");
    let (Some(location), Some(name), Some(kind), true, false) =
        (location, name, kind, e.is_empty(), p.editing())
    else {
        return locations_page(&state, auth, location_form(auth, p, &e), status_of(p)).await;
    };
    let signers = vec![Signer::me(
        auth,
        "authored",
        format!(
            "I, {}, defined location {location}: {name}, a {kind}.",
            auth.printed_name
        ),
    )];
    let payload = LocationDefined {
        location,
        name,
        kind,
    };
    let back = async |err: ApiError| {
        let mut e = Errors::default();
        e.refusal(
            &["location", "name"],
            &[("location_exists", "location")],
            &err,
        );
        locations_page(&state, auth, location_form(auth, p, &e), err.status).await
    };
    let run = async |c: Ceremony, o: Origin| state.clinic.record_one(auth, payload, c, &o).await;
    Ok(ceremony(
        &sub,
        "Sign the location",
        "/ui/locations",
        Vec::new(),
        signers,
        "/ui/locations",
        back,
        run,
    )
    .await)
}

// ---- the first admin ----

fn bootstrap_form(p: &Posted, e: &Errors) -> FormView {
    FormBuilder::new(
        String::new(),
        "/ui/bootstrap",
        "Create the first admin",
        p,
        e,
    )
    .field(
        Field::password("token", "Bootstrap token")
            .hint("The line `custody serve` printed when it set up this clinic: bootstrap token …"),
    )
    .field(Field::text("username", "Your user name"))
    .field(
        Field::text("printed_name", "Your printed name").hint("As it appears on signed records."),
    )
    .field(
        Field::password("password", "Your password")
            .hint("12 or more characters, not your user name, not a common password."),
    )
    .field(Field::password("password_again", "Your password, again"))
    .build()
}

fn bootstrap_page(form: FormView, status: StatusCode) -> Response {
    render(
        &ActPage {
            me: None,
            title: "Set up the first admin".into(),
            lead: "The registrant's key signs this one enrollment; the token then stops working."
                .into(),
            table: None,
            forms: vec![(String::new(), form)],
        },
        status,
    )
}

async fn bootstrap_get() -> Response {
    bootstrap_page(
        bootstrap_form(&Posted::default(), &Errors::default()),
        StatusCode::OK,
    )
}

async fn bootstrap_post(
    State(state): State<AppState>,
    crate::extract::Client(client): crate::extract::Client,
    Form(p): Fields,
) -> Page {
    let p = Posted::from(p);
    // The token names its ledger; a wrong one is refused by the first ledger's check.
    let ledger = match state
        .clinic
        .ledger_of_bootstrap_token(p.get("token"))
        .await
        .map_err(ApiError::from)?
    {
        Some(l) => l,
        None => {
            state
                .store
                .ledgers()
                .await
                .map_err(ApiError::from)?
                .first()
                .ok_or_else(|| ApiError::not_found("this server holds no ledger yet"))?
                .ledger
        }
    };
    let mut e = Errors::default();
    e.text(&p, "token", "Enter the bootstrap token.");
    let user: Option<UserId> = e.parse(&p, "username", "Enter a user name.");
    e.parse::<Text>(&p, "printed_name", "Enter your printed name.");
    if p.secret("password") != p.secret("password_again") {
        e.add("password_again", "The two passwords differ.");
    }
    let name: Option<Text> = p.get("printed_name").parse().ok();
    if let Some(u) = &user
        && let Err(err) = passwords::check(u.as_str(), &p.secret("password"))
    {
        e.add("password", sentence(&err.to_string()));
    }
    let (Some(user), Some(printed_name), true) = (user, name, e.is_empty()) else {
        return Ok(bootstrap_page(
            bootstrap_form(&p, &e),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let cmd = Bootstrap {
        token: p.get("token").to_string(),
        user,
        printed_name,
    };
    match state
        .clinic
        .bootstrap(
            ledger,
            cmd,
            &p.secret("password"),
            false,
            &Origin {
                client,
                request_id: None,
            },
        )
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/ui/login?welcome=1")],
        )
            .into_response()),
        Err(err) => {
            let general = if err.code == "bad_token" {
                e.add("token", sentence(&err.message));
                None
            } else {
                e.place(&["username", "printed_name", "password"], &err)
            };
            let mut f = bootstrap_form(&p, &e);
            f.error = general;
            Ok(bootstrap_page(f, err.status))
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/users", get(users).post(enroll))
        .route("/ui/users/{user}", get(user))
        .route("/ui/users/{user}/role", axum::routing::post(role))
        .route(
            "/ui/users/{user}/deactivate",
            axum::routing::post(deactivate),
        )
        .route("/ui/users/{user}/reset", axum::routing::post(reset))
        .route("/ui/products", get(products).post(define_product))
        .route("/ui/locations", get(locations).post(define_location))
        .route("/ui/bootstrap", get(bootstrap_get).post(bootstrap_post))
}
