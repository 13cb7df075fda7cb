//! What every signed act's pages share: the fields a form posted (any names, numbered lines),
//! field descriptions one template draws, errors kept beside their fields in the API's
//! words, the signature dialog that states what each signer signs, and the page after.
//!
//! Every act goes in two steps to the same URL: the form is checked — its fields parsed, then
//! the act run by the clinic as a dry run, so every refusal the ledger's rules can make is
//! shown beside its field before any password — and, when it is good, answered with the
//! signature dialog carrying the fields back hidden; the dialog posts them again with
//! `confirm=yes` and the passwords, and only then is anything signed. "Change something"
//! posts them with `edit=1` and gets the form back as typed. Each form carries a request id:
//! the act it signs is recorded once however often the dialog is sent (reload, back and
//! resubmit), and the answer is a redirect to the page of what was recorded.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use axum::response::{IntoResponse, Redirect};
use custody_clinic::ClinicResult;
use custody_clinic::acts::{Ceremony, Origin, Outcome};

use super::kit::{Me, PageError, SignedIn, check_csrf, render};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

/// The fields a form posted, by name; values trimmed of surrounding space.
#[derive(Debug, Default, Clone)]
pub struct Posted(BTreeMap<String, String>);

impl From<Vec<(String, String)>> for Posted {
    fn from(v: Vec<(String, String)>) -> Self {
        Posted(v.into_iter().collect())
    }
}

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// A secret exactly as typed (passwords may begin or end with a space).
    pub fn secret(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn csrf(&self) -> &str {
        self.get("csrf")
    }

    /// The signature dialog was answered.
    pub fn confirmed(&self) -> bool {
        self.get("confirm") == "yes" && !self.editing()
    }

    /// The person asked for the form back, to change something.
    pub fn editing(&self) -> bool {
        self.get("edit") == "1" || !self.get("add_line").is_empty()
    }

    /// The form's request id (made now if the form had none): the same id again records
    /// nothing twice.
    pub fn request_id(&mut self) -> String {
        let id = self.get("request_id");
        if !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return id.to_string();
        }
        let id = uuid::Uuid::now_v7().to_string();
        self.set("request_id", id.clone());
        id
    }

    /// What the signature dialog carries back: everything but the form token, the step
    /// markers and passwords.
    pub fn hidden(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, v)| {
                !v.is_empty()
                    && !matches!(k.as_str(), "csrf" | "confirm" | "edit" | "add_line")
                    && !k.contains("password")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// How many numbered lines (`name_1`, `name_2`, …) the form shows: at least `min` and
    /// the last one used, more when "Add a line" asked, at most `max`.
    pub fn lines(&self, min: usize, max: usize) -> usize {
        let used = self
            .0
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .filter_map(|(k, _)| {
                k.rsplit_once('_')
                    .and_then(|(_, n)| n.parse::<usize>().ok())
            })
            .max()
            .unwrap_or(0);
        let asked = self.get("add_line").parse::<usize>().unwrap_or(0);
        used.max(asked).max(min).min(max)
    }
}

/// A form posted by the signed-in person, its CSRF token already checked: every act's POST.
pub struct Submitted {
    pub auth: Auth,
    pub posted: Posted,
    /// The client's address, for the sign-in throttle the passwords go through.
    pub client: String,
}

impl axum::extract::FromRequest<AppState> for Submitted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let SignedIn(auth) = SignedIn::from_request_parts(&mut parts, state).await?;
        let Ok(Client(client)) = Client::from_request_parts(&mut parts, state).await;
        let req = axum::extract::Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|e| PageError::of(&auth, ApiError::bad_request(e.body_text())))
            .map_err(IntoResponse::into_response)?;
        let posted = Posted::from(fields);
        check_csrf(&auth, posted.csrf()).map_err(IntoResponse::into_response)?;
        Ok(Submitted {
            auth,
            posted,
            client,
        })
    }
}

/// The status of a form shown again: 200 when asked for ("Change something", "Add a
/// line"), 422 when refused.
pub fn status_of(p: &Posted) -> StatusCode {
    if p.editing() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Errors by field name, in the words of the type that refused the value.
#[derive(Debug, Default)]
pub struct Errors(BTreeMap<String, String>, bool, Option<Posted>);

/// The most lines a refusal is looked for in.
const MAX_LINES_NAMED: usize = 30;

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Which numbered line a refusal is about: the one whose container (or, for a product or
    /// location field, whose product or location) the message names; else the first.
    /// The line a refusal is about: for a zero refused, the line whose `base` is zero; else
    /// the last line whose container (or `base`) the message names.
    fn line_named(&self, base: &str, e: &ApiError) -> Option<usize> {
        let posted = self.2.as_ref()?;
        let value = |f: &str, i: usize| posted.get(&format!("{f}_{i}")).trim().to_string();
        let mut lines = (1..=MAX_LINES_NAMED).rev();
        if e.code == "zero_quantity" {
            return lines.find(|i| {
                let v = value(base, *i);
                v.contains('0') && v.chars().all(|c| c == '0' || c == '.')
            });
        }
        let key = if base == "amount" { "container" } else { base };
        lines.find(|i| {
            let v = value(key, *i);
            !v.is_empty() && e.message.contains(&v)
        })
    }

    /// Errors for a form of numbered lines (`container_1`, …): a refusal about one line is
    /// then placed beside that line.
    pub fn for_lines(posted: &Posted) -> Self {
        Errors(BTreeMap::new(), false, Some(posted.clone()))
    }

    /// Whether the form needs a new request id (its old one recorded another act).
    pub fn fresh_request(&self) -> bool {
        self.1
    }

    pub fn of(&self, field: &str) -> Option<String> {
        self.0.get(field).cloned()
    }

    /// The field parsed as `T`, or its error noted beside it.
    pub fn parse<T: FromStr>(&mut self, p: &Posted, field: &str, missing: &str) -> Option<T>
    where
        T::Err: Display,
    {
        self.parse_with(p, field, missing, str::parse)
    }

    /// The field parsed by `parse` (a decimal of thousandths, a time), or its error noted
    /// beside it; `missing` when it is empty.
    pub fn parse_with<T, E: Display>(
        &mut self,
        p: &Posted,
        field: &str,
        missing: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        let v = p.get(field);
        if v.is_empty() {
            self.add(field, missing);
            return None;
        }
        parse(v)
            .map_err(|e| self.add(field, sentence(&e.to_string())))
            .ok()
    }

    /// The field's text, or `missing` noted beside it when it is empty.
    pub fn text(&mut self, p: &Posted, field: &str, missing: &str) -> Option<String> {
        let v = p.get(field);
        if v.is_empty() {
            self.add(field, missing);
            None
        } else {
            Some(v.to_string())
        }
    }

    /// An error from a service: beside the field it names (`"field: why"`) when there is
    /// one, else for the whole form.
    pub fn place(&mut self, fields: &[&str], e: &ApiError) -> Option<String> {
        if let Some((name, why)) = e.message.split_once(": ")
            && let Some(f) = fields.iter().find(|f| **f == name)
        {
            self.add(f, sentence(why));
            return None;
        }
        Some(e.message.clone())
    }

    /// A refusal from the clinic (a field's value, or a ledger rule found by the dry run):
    /// beside the field it names, or that `by_code` gives for its code, else for the form.
    pub fn refusal(
        &mut self,
        fields: &[&str],
        by_code: &[(&str, &str)],
        e: &ApiError,
    ) -> Option<String> {
        if let Some(f) = e.details.get("field").and_then(|f| f.as_str())
            && let Some(f) = fields.iter().find(|x| **x == f)
        {
            let why = e
                .message
                .split_once(": ")
                .map_or(e.message.as_str(), |(_, w)| w);
            self.add(f, sentence(why));
            return None;
        }
        if e.code == "idempotency_key_reused" {
            // This form already signed an act; what was changed is a new one.
            self.1 = true;
            let top = "This form already recorded an act. What you changed makes a new one: review it and sign again.";
            self.add("", top);
            return Some(top.into());
        }
        if let Some((_, f)) = by_code.iter().find(|(c, _)| *c == e.code) {
            // `name_#`: the line the refusal is about, else the first; `name_?`: that line,
            // else the whole form.
            let f = if let Some(base) = f.strip_suffix("_#") {
                Some(format!("{base}_{}", self.line_named(base, e).unwrap_or(1)))
            } else if let Some(base) = f.strip_suffix("_?") {
                self.line_named(base, e).map(|i| format!("{base}_{i}"))
            } else {
                Some(f.to_string())
            };
            if let Some(f) = f {
                self.add(&f, sentence(&e.message));
                return None;
            }
        }
        let top = self.place(fields, e);
        if let Some(t) = &top {
            self.add("", sentence(t));
        }
        top
    }
}

/// A message as a sentence: capital first letter.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One input as the form template draws it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub label: String,
    /// text, date, datetime-local, number, password, select or textarea.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub hint: String,
    pub error: Option<String>,
    pub required: bool,
    /// `inputmode` for touch keyboards ("decimal", "numeric"), or empty.
    pub inputmode: &'static str,
    /// A check the script runs as the person types ("dea", "ndc"), or empty.
    pub check: &'static str,
    pub autocomplete: &'static str,
    /// A select's first, empty choice ("Choose a role"): nothing is preselected, and
    /// leaving it is refused like an empty field.
    pub placeholder: String,
}

impl Field {
    fn new(name: &str, label: &str, kind: &'static str) -> Self {
        Field {
            name: name.into(),
            label: label.into(),
            kind,
            value: String::new(),
            options: Vec::new(),
            hint: String::new(),
            error: None,
            required: true,
            inputmode: "",
            check: "",
            autocomplete: "off",
            placeholder: String::new(),
        }
    }
    pub fn text(name: &str, label: &str) -> Self {
        Self::new(name, label, "text")
    }
    pub fn date(name: &str, label: &str) -> Self {
        Self::new(name, label, "date")
    }
    pub fn number(name: &str, label: &str) -> Self {
        let mut f = Self::new(name, label, "text");
        f.inputmode = "numeric";
        f
    }
    /// A decimal amount (mg, mL): typed as text, so nothing rounds it.
    pub fn decimal(name: &str, label: &str) -> Self {
        let mut f = Self::new(name, label, "text");
        f.inputmode = "decimal";
        f
    }
    pub fn password(name: &str, label: &str) -> Self {
        let mut f = Self::new(name, label, "password");
        f.autocomplete = "new-password";
        f
    }
    pub fn textarea(name: &str, label: &str) -> Self {
        Self::new(name, label, "textarea")
    }
    pub fn select(name: &str, label: &str, options: Vec<(String, String)>) -> Self {
        let mut f = Self::new(name, label, "select");
        f.options = options;
        f
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = h.into();
        self
    }
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    pub fn check(mut self, c: &'static str) -> Self {
        self.check = c;
        self
    }
    /// A select with no choice made until the person makes one.
    pub fn placeholder(mut self, p: impl Into<String>) -> Self {
        self.placeholder = p.into();
        self
    }
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }
}

/// Options from a closed set (its names are both value and label).
pub fn all<T: Display>(xs: &[T]) -> Vec<(String, String)> {
    xs.iter().map(|x| (x.to_string(), x.to_string())).collect()
}

/// A group of fields under a legend.
#[derive(Debug, Clone)]
pub struct Section {
    pub legend: String,
    pub fields: Vec<Field>,
    /// One line of several (an invoice line, a container): its fields side by side.
    pub row: bool,
}

/// A form as the template draws it.
#[derive(Debug, Clone)]
pub struct FormView {
    pub action: String,
    pub csrf: String,
    /// The act's request id: sent twice, the act is recorded once.
    pub request_id: String,
    pub submit: String,
    pub error: Option<String>,
    pub sections: Vec<Section>,
    /// "Add a line" for forms of numbered lines: how many lines the form then shows.
    pub more_lines: Option<usize>,
}

/// The request id a form carries: the one it was sent with, unless that one recorded a
/// different act; else a new one.
pub fn request_id_for(posted: &Posted, errors: &Errors) -> String {
    let mut p = posted.clone();
    if errors.fresh_request() {
        p.set("request_id", "");
    }
    p.request_id()
}

/// Builds a form from field descriptions, filling each with what was posted and its error.
pub struct FormBuilder<'a> {
    posted: &'a Posted,
    errors: &'a Errors,
    view: FormView,
}

impl<'a> FormBuilder<'a> {
    pub fn new(
        csrf: String,
        action: &str,
        submit: &str,
        posted: &'a Posted,
        errors: &'a Errors,
    ) -> Self {
        FormBuilder {
            posted,
            errors,
            view: FormView {
                action: action.into(),
                csrf,
                request_id: request_id_for(posted, errors),
                submit: submit.into(),
                error: None,
                sections: Vec::new(),
                more_lines: None,
            },
        }
    }

    pub fn section(mut self, legend: &str) -> Self {
        self.view.sections.push(Section {
            legend: legend.into(),
            fields: Vec::new(),
            row: false,
        });
        self
    }

    /// Line `i` of a stock form (a receipt, an inventory): its product, lot and expiry, each
    /// optional so that a line left blank is no line.
    pub fn stock_line(self, i: usize, products: &[(String, String)]) -> Self {
        self.line(&format!("Line {i}"))
            .field(
                Field::select(
                    &format!("product_{i}"),
                    &format!("Product, line {i}"),
                    products.to_vec(),
                )
                .optional(),
            )
            .field(Field::text(&format!("lot_{i}"), &format!("Lot, line {i}")).optional())
            .field(Field::date(&format!("expiry_{i}"), &format!("Expiry, line {i}")).optional())
    }

    /// A section drawn as one line of fields side by side.
    pub fn line(mut self, legend: &str) -> Self {
        self = self.section(legend);
        if let Some(s) = self.view.sections.last_mut() {
            s.row = true;
        }
        self
    }

    pub fn field(mut self, mut f: Field) -> Self {
        let posted = self.posted.get(&f.name);
        // A password typed is never written back into a page.
        if !posted.is_empty() && f.kind != "password" {
            f.value = posted.to_string();
        }
        f.error = self.errors.of(&f.name);
        if self.view.sections.is_empty() {
            self = self.section("");
        }
        if let Some(s) = self.view.sections.last_mut() {
            s.fields.push(f);
        }
        self
    }

    pub fn more_lines(mut self, lines: usize) -> Self {
        self.view.more_lines = Some(lines + 1);
        self
    }

    pub fn build(mut self) -> FormView {
        // An error of the whole act (not of one field) stands above the form.
        self.view.error = self.errors.of("");
        self.view
    }
}

/// A page holding one form, with an optional table of what there is already.
#[derive(Template)]
#[template(path = "act.html")]
pub struct ActPage {
    pub me: Option<Me>,
    pub title: String,
    pub lead: String,
    pub table: Option<Table>,
    /// Forms under their headings (an empty heading draws none).
    pub forms: Vec<(String, FormView)>,
}

/// A plain table: headers and rows of cells; a cell may link.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub empty: String,
}

impl Table {
    /// The label of column `i`, which a narrow screen shows beside each cell.
    pub fn label<I: std::borrow::Borrow<usize>>(&self, i: I) -> &str {
        self.head.get(*i.borrow()).map_or("", String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub href: String,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text,
            href: String::new(),
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        text.to_string().into()
    }
}

pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        href: href.into(),
    }
}

pub fn act_page(
    auth: &Auth,
    title: &str,
    lead: &str,
    table: Option<Table>,
    forms: Vec<(String, FormView)>,
    status: StatusCode,
) -> Response {
    render(
        &ActPage {
            me: Some(auth.into()),
            title: title.into(),
            lead: lead.into(),
            table,
            forms,
        },
        status,
    )
}

/// One person's signature in the dialog: what it means, the sentence they sign, and the
/// password field it takes.
#[derive(Clone)]
pub struct Signer {
    pub meaning: String,
    pub statement: String,
    pub printed_name: String,
    pub field: String,
}

impl Signer {
    /// The signed-in person, authoring (or, with `meaning`, witnessing).
    pub fn me(auth: &Auth, meaning: &str, statement: String) -> Self {
        Signer {
            meaning: meaning.into(),
            statement,
            printed_name: auth.printed_name.clone(),
            field: "password".into(),
        }
    }

    /// A second person at the same screen, signing with their own password.
    pub fn witness(printed_name: &str, field: &str, statement: String) -> Self {
        Signer {
            meaning: "witnessed".into(),
            statement,
            printed_name: printed_name.into(),
            field: field.into(),
        }
    }
}

/// The signature dialog: what each signer signs, their password fields, and the reviewed
/// fields carried back hidden. A modal `<dialog>` (the script makes it one) over the page it
/// was asked from — the reviewed form itself where the page draws one (`DosePage`), else
/// alone (`SignPage`). Esc or "Change something" goes back to the form as typed.
pub struct Dialog {
    pub csrf: String,
    pub title: String,
    pub error: Option<String>,
    pub action: String,
    pub hidden: Vec<(String, String)>,
    /// Secrets typed again here rather than carried in the page (a new user's first
    /// password): field and label.
    pub secrets: Vec<(String, String)>,
    pub signers: Vec<Signer>,
    /// Drawn over the reviewed form: Esc closes the dialog and leaves the form to change.
    pub over_form: bool,
}

#[derive(Template)]
#[template(path = "sign.html")]
pub struct SignPage {
    pub me: Option<Me>,
    pub d: Dialog,
}

/// What the signature dialog of an act holds, before it is drawn.
pub struct Signing<'a> {
    pub title: &'a str,
    pub action: &'a str,
    pub secrets: Vec<(String, String)>,
    pub signers: Vec<Signer>,
    /// Where "Continue" goes once it is recorded.
    pub next: &'a str,
}

impl Signing<'_> {
    fn dialog(
        &self,
        auth: &Auth,
        posted: &Posted,
        error: Option<String>,
        over_form: bool,
    ) -> Dialog {
        Dialog {
            csrf: auth.csrf(),
            title: self.title.into(),
            error,
            action: self.action.into(),
            hidden: posted.hidden(),
            secrets: self.secrets.clone(),
            signers: self.signers.clone(),
            over_form,
        }
    }
}

/// The signing step every act shares, its dialog drawn alone (see `ceremony_over`).
#[allow(clippy::too_many_arguments)]
pub async fn ceremony<R: IntoResponse>(
    sub: &Submitted,
    title: &str,
    action: &str,
    secrets: Vec<(String, String)>,
    signers: Vec<Signer>,
    next: &str,
    back: impl AsyncFnOnce(ApiError) -> R,
    run: impl AsyncFnOnce(Ceremony, Origin) -> ClinicResult<Outcome>,
) -> Response {
    let signing = Signing {
        title,
        action,
        secrets,
        signers,
        next,
    };
    let auth = &sub.auth;
    let show = async |d: Dialog, status: StatusCode| {
        render(
            &SignPage {
                me: Some(auth.into()),
                d,
            },
            status,
        )
    };
    ceremony_over(sub, signing, false, back, run, show).await
}

/// The signing step every act shares. Until the dialog is answered: the act as a dry run —
/// a refusal goes `back` to the form, beside its field — then the dialog, drawn by `show`
/// (over the reviewed form when `over_form`). Once answered: the act signed with the
/// passwords typed; a refusal (a wrong password, a rule broken since the review) shows the
/// dialog again saying why; what was recorded is shown by a redirect (post/redirect/get), so
/// reloading that page or going back never signs again.
pub async fn ceremony_over<R: IntoResponse>(
    sub: &Submitted,
    signing: Signing<'_>,
    over_form: bool,
    back: impl AsyncFnOnce(ApiError) -> R,
    run: impl AsyncFnOnce(Ceremony, Origin) -> ClinicResult<Outcome>,
    show: impl AsyncFnOnce(Dialog, StatusCode) -> Response,
) -> Response {
    let mut posted = sub.posted.clone();
    let id = posted.request_id();
    let origin = Origin {
        client: sub.client.clone(),
        request_id: Some(format!("web:{id}")),
    };
    let next = signing.next;
    let done = |again: bool| {
        let next = if next.starts_with("/ui") { next } else { "/ui" };
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        let again = if again { "&again=1" } else { "" };
        Redirect::to(&format!("/ui/recorded/{id}?{q}{again}")).into_response()
    };
    if !posted.confirmed() {
        return match run(Ceremony::DryRun, origin).await {
            // The form was sent again after it was signed: say what it recorded.
            Ok(o) if o.repeated() => done(true),
            Ok(_) => {
                show(
                    signing.dialog(&sub.auth, &posted, None, over_form),
                    StatusCode::OK,
                )
                .await
            }
            Err(e) => back(e.into()).await.into_response(),
        };
    }
    let witnesses = signing
        .signers
        .iter()
        .skip(1)
        .map(|s| posted.secret(&s.field))
        .collect();
    let c = Ceremony::with_witnesses(posted.secret("password"), witnesses);
    match run(c, origin).await {
        Ok(o) => done(o.repeated()),
        Err(e) => {
            let e: ApiError = e.into();
            let status = e.status;
            show(
                signing.dialog(&sub.auth, &posted, Some(e.message), over_form),
                status,
            )
            .await
        }
    }
}
