//! What every signed act shares: fresh entry ids, field parsing with a clear 422, and the
//! response that shows each signature as people read it (21 CFR 11.50).

use custody_ledger::{Draft, EntryId, LedgerId, Meaning, Payload, Principal, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Auth, open_key};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A signature as shown to people: who, when, meaning.
#[derive(Debug, Serialize, ToSchema)]
pub struct Manifestation {
    pub user: String,
    pub printed_name: String,
    pub meaning: String,
    pub signed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub seq: u64,
    pub hash: String,
    pub kind: String,
    pub signatures: Vec<Manifestation>,
}

pub async fn recorded(
    state: &AppState,
    ledger: LedgerId,
    a: custody_store::Appended,
) -> ApiResult<Recorded> {
    let mut signatures = Vec::new();
    for s in &a.entry.signatures {
        let (user, printed_name) = match &s.signer {
            Principal::User(u) => {
                let name = state
                    .store
                    .user(ledger, u)
                    .await?
                    .map(|i| i.printed_name)
                    .unwrap_or_default();
                (u.to_string(), name)
            }
            Principal::Registrant => ("registrant".into(), "the registrant".into()),
        };
        signatures.push(Manifestation {
            user,
            printed_name,
            meaning: s.meaning.to_string(),
            signed_at: a.entry.timestamp.to_string(),
        });
    }
    Ok(Recorded {
        seq: a.entry.seq.get(),
        hash: a.hash.to_string(),
        kind: a.entry.kind().to_string(),
        signatures,
    })
}

pub fn entry_id() -> EntryId {
    EntryId::from_uuid(uuid::Uuid::now_v7())
}

pub fn parse<T: std::str::FromStr>(what: &str, s: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// The signing ceremony: opens the signed-in user's key with `password` (and each witness's
/// with theirs), signs `payload` as author and witnesses, records it, and returns it as people
/// read it. Whether the signers may do this, and whether a witness differs from the author,
/// is the ledger's rule, checked when the entry is appended.
pub async fn sign_and_record(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    password: &str,
    witnesses: &[(UserId, &str)],
    payload: impl Into<Payload>,
) -> ApiResult<Recorded> {
    let key = open_key(state, ledger, &auth.user, password, client).await?;
    let mut d = Draft::new(ledger, entry_id(), payload).signed(
        Principal::User(auth.user.clone()),
        Meaning::Authored,
        &key,
    );
    for (w, pw) in witnesses {
        let wkey = open_key(state, ledger, w, pw, client).await?;
        d = d.signed(Principal::User(w.clone()), Meaning::Witnessed, &wkey);
    }
    let a = state.store.append(d).await?;
    recorded(state, ledger, a).await
}
