//! # custody-witness
//!
//! A witness for custody ledgers, per [C2SP tlog-witness](https://c2sp.org/tlog-witness):
//! a log (a custody server) sends it each new checkpoint with a consistency proof from the
//! last one the witness cosigned; the witness checks the log's signature and the proof,
//! records the new checkpoint and answers with its timestamped Ed25519 cosignature
//! ([C2SP tlog-cosignature](https://c2sp.org/tlog-cosignature), `cosignature/v1`). A ledger
//! later rewritten cannot get a cosignature for its new history from a witness that saw the
//! old one, and a reader holding a cosigned checkpoint knows that someone other than the
//! clinic saw it.
//!
//! The witness learns only each log's origin, tree size and root hash (and the log's
//! signature on them); never an entry.
//!
//! - [`protocol`]: the request and answer formats, for the logs' side too;
//! - [`Witness`]: the checks and the record, one SQLite file;
//! - [`router`]: `POST /add-checkpoint` and `GET /<origin hash>/checkpoint`, for axum.
//!
//! Verifier keys and cosignature lines are read and checked with
//! [`custody_ledger::note`], which an auditor's verifier uses alone.

pub mod protocol;
mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use custody_ledger::PublicKey;
use custody_ledger::merkle::{empty_root, verify_consistency};
use custody_ledger::note::{ALG_ED25519, Cosignature, Note, NoteError, Vkey};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use crate::protocol::{
    ADD_CHECKPOINT_PATH, AddCheckpoint, FormatError, SIZE_CONTENT_TYPE, add_checkpoint_body,
    parse_cosignatures, parse_size_body,
};
pub use crate::store::{DB_FILE, Held};

/// Why a checkpoint is not cosigned, with the HTTP status tlog-witness gives each.
#[derive(Debug, Error)]
pub enum WitnessError {
    /// 400: the request is malformed, or its old size is above the checkpoint's size.
    #[error("{0}")]
    BadRequest(String),
    /// 403: no trusted key of the log signed the checkpoint, or a signature by one fails.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the witness does not witness this origin.
    #[error("the witness does not witness the log {0}")]
    UnknownOrigin(String),
    /// 409: the old size is not the size the witness holds (`held`).
    #[error("the witness holds a checkpoint of size {held}, not the old size given")]
    Conflict { held: u64 },
    /// 422: the checkpoint is not consistent with what the witness holds.
    #[error("{0}")]
    Inconsistent(String),
    /// The witness's configuration is wrong (a log key that is not a checkpoint key…).
    #[error("{0}")]
    Config(String),
    #[error("the witness's database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("the witness's database holds something it never wrote: {0}")]
    Corrupt(String),
}

impl WitnessError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            WitnessError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WitnessError::Forbidden(_) => StatusCode::FORBIDDEN,
            WitnessError::UnknownOrigin(_) => StatusCode::NOT_FOUND,
            WitnessError::Conflict { .. } => StatusCode::CONFLICT,
            WitnessError::Inconsistent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WitnessError::Config(_) | WitnessError::Database(_) | WitnessError::Corrupt(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl From<FormatError> for WitnessError {
    fn from(e: FormatError) -> Self {
        WitnessError::BadRequest(e.to_string())
    }
}

/// The current time as POSIX seconds (at least 1: a cosignature's time is never zero).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .max(1)
}

/// A witness: its name and key, the logs it witnesses (origin → their checkpoint keys), and
/// what it holds for each.
#[derive(Debug)]
pub struct Witness {
    name: String,
    key: SigningKey,
    vkey: Vkey,
    logs: BTreeMap<String, Vec<Vkey>>,
    store: store::Store,
}

impl Witness {
    /// Opens (creating if needed) the witness's database in `dir`, to witness the logs whose
    /// checkpoint keys are `logs` (vkeys of signature type 0x01 named after their origin;
    /// several for one origin across a key rotation).
    pub async fn open(
        dir: &Path,
        name: &str,
        key: SigningKey,
        logs: Vec<Vkey>,
    ) -> Result<Self, WitnessError> {
        let vkey = Vkey::cosignature_v1(name, PublicKey::from(&key))
            .map_err(|e| WitnessError::Config(e.to_string()))?;
        let mut by_origin: BTreeMap<String, Vec<Vkey>> = BTreeMap::new();
        for l in logs {
            if l.algorithm() != ALG_ED25519 {
                return Err(WitnessError::Config(format!(
                    "{l} is not a checkpoint key (signature type 0x01)"
                )));
            }
            by_origin.entry(l.name().to_string()).or_default().push(l);
        }
        Ok(Witness {
            name: name.to_string(),
            key,
            vkey,
            logs: by_origin,
            store: store::Store::open(dir).await?,
        })
    }

    /// The witness's verifier key (`cosignature/v1`, signature type 0x04).
    pub fn vkey(&self) -> &Vkey {
        &self.vkey
    }

    /// The origins witnessed.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// What the witness holds for `origin`.
    pub async fn held(&self, origin: &str) -> Result<Option<Held>, WitnessError> {
        store::Store::held(self.store.connection(), origin).await
    }

    /// The newest checkpoint cosigned for the log whose origin hashes (SHA-256, lowercase
    /// hex) to `origin_hash`, with the log's signature and the cosignature.
    pub async fn latest(&self, origin_hash: &str) -> Result<Option<String>, WitnessError> {
        let Some(origin) = self
            .logs
            .keys()
            .find(|o| hex::encode(Sha256::digest(o.as_bytes())) == origin_hash)
        else {
            return Ok(None);
        };
        self.store.note(origin).await
    }

    /// Handles an `add-checkpoint` request body: the cosignature line(s) to answer with, or
    /// why not (each error names its HTTP status). The checks, in the spec's order: the form
    /// (400), the origin (404), the log's signature (403), old size ≤ size (400), old size =
    /// the size held (409), the empty tree's root (422), the proof (422); then the new
    /// checkpoint is recorded, in the same transaction as the read, before the answer.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let req = AddCheckpoint::parse(body)?;
        let note =
            Note::parse(&req.checkpoint).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let cp = note
            .checkpoint()
            .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let keys = self
            .logs
            .get(&cp.origin)
            .ok_or_else(|| WitnessError::UnknownOrigin(cp.origin.clone()))?;
        // Signatures by unknown keys are ignored; one by a trusted key that fails makes the
        // note malformed (403), as does the lack of any by a trusted key.
        let mut verified = Vec::new();
        for k in keys {
            match note.verify_ed25519(k) {
                Some(true) => verified.push(k),
                Some(false) => {
                    return Err(WitnessError::Forbidden(format!(
                        "a signature by the log key {k} does not verify"
                    )));
                }
                None => {}
            }
        }
        if verified.is_empty() {
            return Err(WitnessError::Forbidden(format!(
                "no signature by a key of {} that the witness trusts",
                cp.origin
            )));
        }
        if req.old_size > cp.size {
            return Err(WitnessError::BadRequest(format!(
                "the old size {} is above the checkpoint's size {}",
                req.old_size, cp.size
            )));
        }
        let new = Held {
            size: cp.size,
            root: cp.root,
        };
        let txn = self.store.begin().await?;
        let held = store::Store::held(&txn, &cp.origin).await?;
        let held_size = held.as_ref().map_or(0, |h| h.size);
        if req.old_size != held_size {
            return Err(WitnessError::Conflict { held: held_size });
        }
        let refuse = |why: String| {
            // The log signed something inconsistent: evidence worth keeping in the logs.
            tracing::warn!(
                origin = %cp.origin,
                old_size = req.old_size,
                size = cp.size,
                "refused an inconsistent checkpoint: {why}"
            );
            WitnessError::Inconsistent(why)
        };
        if cp.size == 0 && cp.root != empty_root() {
            return Err(refuse(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }
        match &held {
            Some(h) if req.old_size > 0 => {
                verify_consistency(h.size, &h.root, cp.size, &cp.root, &req.proof).map_err(
                    |e| {
                        refuse(format!(
                            "the checkpoint is not consistent with the one of size {} the witness holds: {e}",
                            h.size
                        ))
                    },
                )?;
            }
            _ => {
                if !req.proof.is_empty() {
                    return Err(refuse(
                        "from old size 0 the consistency proof must be empty".into(),
                    ));
                }
            }
        }
        let ts = now();
        let cosig = Cosignature::sign(&self.name, &self.key, &note.body, ts)
            .map_err(|e| WitnessError::Config(e.to_string()))?;
        let line = cosig.to_line();
        // What a monitor gets: the body, the log signatures verified, the cosignature.
        let mut kept = note.body.clone();
        kept.push('\n');
        for l in &note.signatures {
            if verified
                .iter()
                .any(|k| k.name() == l.name && k.key_id() == l.key_id)
            {
                kept.push_str(&l.to_line());
            }
        }
        kept.push_str(&line);
        if !store::Store::swap(&txn, &cp.origin, held.as_ref(), &new, &kept, ts).await? {
            // Cannot happen inside the IMMEDIATE transaction; refuse rather than cosign.
            let now_held = store::Store::held(&txn, &cp.origin).await?;
            return Err(WitnessError::Conflict {
                held: now_held.map_or(0, |h| h.size),
            });
        }
        txn.commit().await?;
        tracing::info!(origin = %cp.origin, size = cp.size, "cosigned");
        Ok(line)
    }

    /// Closes the database.
    pub async fn close(self) -> Result<(), WitnessError> {
        self.store.close().await
    }
}

/// An answer: the status and a sentence (or, on 409, the size held, as `text/x.tlog.size`).
impl IntoResponse for WitnessError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            WitnessError::Conflict { held } => (
                status,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                protocol::size_body(held),
            )
                .into_response(),
            e => {
                if status.is_server_error() {
                    tracing::error!("{e}");
                }
                let text = if status.is_server_error() {
                    "the witness failed; see its logs\n".to_string()
                } else {
                    format!("{e}\n")
                };
                (
                    status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    text,
                )
                    .into_response()
            }
        }
    }
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    match w.add_checkpoint(&body).await {
        Ok(lines) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            lines,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn latest(State(w): State<Arc<Witness>>, UrlPath(origin_hash): UrlPath<String>) -> Response {
    match w.latest(&origin_hash).await {
        Ok(Some(note)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "the witness has cosigned no checkpoint of that log\n",
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The witness's HTTP interface (submission and monitoring prefix both `/`):
/// `POST /add-checkpoint` and `GET /<hex SHA-256 of the origin>/checkpoint`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route(ADD_CHECKPOINT_PATH, post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(latest))
        .layer(DefaultBodyLimit::max(protocol::MAX_REQUEST_BYTES))
        .with_state(witness)
}

/// Serves [`router`] on `listener` until `shutdown` resolves (requests in flight finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Reads a log's checkpoint vkey (signature type 0x01).
pub fn parse_log_vkey(text: &str) -> Result<Vkey, NoteError> {
    Vkey::parse_as(text, ALG_ED25519)
}

#[cfg(test)]
mod tests;
