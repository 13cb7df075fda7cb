//! The page after signing: what an act recorded, found by the form's request id, so that
//! reloading it shows the same entries and signs nothing (post/redirect/get). An act sent
//! again says it was already recorded, as which entries.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use custody_clinic::acts::{Outcome, received_containers};
use custody_ledger::*;
use serde::Deserialize;

use super::kit::{Me, OrRefuse, Page, SignedIn, render};
use super::words::{describe, names, tally_said, when, zone};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    me: Option<Me>,
    title: String,
    summary: String,
    details: Vec<String>,
    signatures: Vec<(String, String, String)>,
    next: String,
}

#[derive(Deserialize)]
struct DoneQuery {
    next: Option<String>,
    again: Option<String>,
}

async fn recorded(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
    SignedIn(auth): SignedIn,
) -> Page {
    let mut next = q
        .next
        .filter(|n| n.starts_with("/ui") && !n.starts_with("//"))
        .unwrap_or_else(|| "/ui".into());
    let outcome = state
        .clinic
        .outcome_of(&auth, &format!("web:{id}"))
        .await
        .or_refuse(&auth)?
        .ok_or_else(|| ApiError::not_found("nothing was recorded under this form's id"))
        .or_refuse(&auth)?;
    let names = names(&state, auth.ledger).await.or_refuse(&auth)?;
    let products = state.store.products(auth.ledger).await.unwrap_or_default();
    let again = q.again.is_some();
    let (title, summary, details, signatures) = match &outcome {
        Outcome::Recorded { entries, .. } => {
            let seqs: Vec<String> = entries.iter().map(|a| a.entry.seq.to_string()).collect();
            let which = match seqs.as_slice() {
                [one] => format!("entry {one}"),
                many => format!("entries {}", many.join(", ")),
            };
            let summary = if again {
                format!("Already recorded as {which} of the ledger: nothing was recorded again.")
            } else {
                format!("Recorded as {which} of the ledger.")
            };
            let mut details = Vec::new();
            let mut signatures = Vec::new();
            for a in entries {
                let e = &a.entry;
                details.push(format!("Entry {}: {}.", e.seq, describe(e, zone(&state))));
                match e.payload() {
                    Payload::Receipt(r) => {
                        let ids: Vec<String> = received_containers(e.seq, r.containers)
                            .iter()
                            .map(ToString::to_string)
                            .collect();
                        details.push(format!("Label the containers: {}.", ids.join(", ")));
                    }
                    Payload::Count(c) => {
                        let said = |t: &Tally| match products.iter().find(|p| p.ndc == c.product) {
                            Some(p) => tally_said(&p.strength, t.sealed, t.open),
                            None => {
                                format!("{} sealed and {} in open containers", t.sealed, t.open)
                            }
                        };
                        details.push(format!("You counted {}.", said(&c.counted)));
                        details.push(format!("The ledger expected {}.", said(&c.expected)));
                        if c.counted == c.expected {
                            details.push("They agree.".into());
                        } else {
                            details.push(
                                "They differ: this discrepancy stays open until an adjustment resolves it."
                                    .into(),
                            );
                            next = format!("/ui/adjust?count={}", e.seq);
                        }
                    }
                    _ => {}
                }
                for s in &e.signatures {
                    let who = match &s.signer {
                        Principal::User(u) => {
                            names.get(u).cloned().unwrap_or_else(|| u.to_string())
                        }
                        Principal::Registrant => "the registrant".into(),
                    };
                    signatures.push((
                        who,
                        s.meaning.to_string(),
                        when(zone(&state), e.signed_at(s)),
                    ));
                }
            }
            let has = |f: fn(&Payload) -> bool| entries.iter().any(|a| f(a.entry.payload()));
            // A treatment session: its dose is what it is about.
            let title = if has(|p| matches!(p, Payload::Administered(_))) {
                if has(|p| matches!(p, Payload::Waste(_))) {
                    "Dose recorded, the rest wasted"
                } else {
                    "Dose recorded"
                }
            } else {
                entries
                    .last()
                    .map_or("Recorded", |a| title_of(&a.entry, &auth.user))
            };
            let title = if again {
                format!("Already recorded: {title}")
            } else {
                title.to_string()
            };
            (title, summary, details, signatures)
        }
        Outcome::Queued { pending, .. } => (
            "Waste sent to the awaiting-witness queue".to_string(),
            format!(
                "Signed by you and waiting for a witness (container {}); it is not in the ledger until witnessed.",
                pending.container
            ),
            Vec::new(),
            Vec::new(),
        ),
        Outcome::WouldRecord(_) => (
            "Not recorded".to_string(),
            "Nothing was recorded.".into(),
            Vec::new(),
            Vec::new(),
        ),
    };
    Ok(render(
        &DonePage {
            me: Some((&auth).into()),
            title,
            summary,
            details,
            signatures,
            next,
        },
        StatusCode::OK,
    ))
}

/// The page's title: what the last entry of the act did, as the person who signed it says.
fn title_of(e: &Entry, me: &UserId) -> &'static str {
    let witnessed = e
        .signatures
        .iter()
        .any(|s| s.meaning == Meaning::Witnessed && s.signer == Principal::User(me.clone()));
    match e.payload() {
        Payload::ProductDefined(_) => "Product defined",
        Payload::LocationDefined(_) => "Location defined",
        Payload::UserEnrolled(_) => "User enrolled",
        Payload::RoleChanged(_) => "Role changed",
        Payload::UserDeactivated(_) => "User deactivated",
        Payload::KeyRotated(_) => "Password reset: a new key",
        Payload::Receipt(_) => "Stock received",
        Payload::ContainerOpened(_) => "Container opened",
        Payload::Administered(_) => "Dose recorded",
        Payload::Waste(_) if witnessed => "Waste witnessed",
        Payload::Waste(_) => "Waste recorded",
        Payload::Count(c) if c.counted == c.expected => "Count recorded: it agrees",
        Payload::Count(_) => "Count recorded: it differs from the ledger",
        Payload::Adjustment(_) => "Adjustment recorded",
        Payload::Dispensed(_) => "Dispensed",
        Payload::Transfer(_) => "Transferred",
        Payload::LossTheft(_) => "Loss reported",
        Payload::Destruction(_) => "Destruction recorded",
        Payload::Correction(_) => "Correction recorded",
        Payload::Inventory(_) => "Inventory recorded",
        Payload::LossReported(_) => "Loss report recorded",
        Payload::RemsSessionClosed(_) => "REMS session closed",
        Payload::RemsFormSubmitted(_) => "REMS form submitted",
        Payload::Genesis(_) | Payload::ReportIssued(_) | Payload::PmpReported(_) => "Recorded",
    }
}

pub fn router() -> axum::Router<AppState> {
    Router::new().route("/ui/recorded/{id}", get(recorded))
}
