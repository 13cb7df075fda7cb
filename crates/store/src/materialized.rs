//! Comparing the materialized tables with the ledger. Appends read these rows as the ledger's
//! state (see `append.rs`: what is loaded before `State::apply`), and pages and reports show
//! them, so a row changed in the database would be believed. Verification folds the entries
//! through the ledger's own `State::apply` (in `Verifier`) and compares every row of:
//!
//! - `ledgers` (the head row): `registrant_name`, `registrant_address`, `registrant_dea`,
//!   `registrant_key`, `genesis_key`, `users_enrolled`, `next_seq`, `last_hash`,
//!   `last_timestamp`;
//! - `users`: `printed_name`, `role`, `active`, `public_key`, `key_id`;
//! - `products`: `name`, `definition` (decoded, field by field: `ndc`, `name`, `form`,
//!   `schedule`, `strength`);
//! - `locations`: `name`, `kind`;
//! - `containers`: `receipt_seq`, `idx`, `ndc`, `lot`, `expiry`, `location`, `status`,
//!   `beyond_use`, `capacity`, `remaining` — of live containers from the folded state at the
//!   end, of finished (empty or gone) ones as they last stood, compared page by page as they
//!   finish (the ledger's state keeps only how a container ended; `Touched::finished` gives
//!   the rest), so memory stays that of the fold;
//! - `discrepancies`: `location`, `ndc`, `resolved_seq` (the first adjustment that names the
//!   count, as the append path records it).
//!
//! A row the ledger gives that the table lacks, and a row the table holds that the ledger does
//! not give, are differences too. The first difference is reported as
//! `Reason::MaterializedMismatch` (code `materialized_mismatch`), after the whole chain
//! verified: a bad entry outranks a bad row.
//!
//! Left out, because the entries do not determine them: `ledgers.patient_secret` (a secret
//! made on first use, kept wrapped under the registrant key), `credentials` (users' private
//! keys sealed under their passwords), `checkpoints` (notes the registrant signed; checked
//! against the chain by `verify --checkpoint`), `sessions`, `requests` (request ids and what
//! they recorded), `attempts` (password throttling), `patients` (the erasable register behind
//! the commitments), `pending_entries` (acts awaiting a witness, not in the ledger yet) and
//! `bootstrap_tokens`. The `entries` table itself is checked column by column in `verify.rs`.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

use custody_ledger::state::{ContainerState, ContainerStatus, State, Touched};
use custody_ledger::{
    Canonical, ContainerId, Day, Entry, Ndc, Payload, ProductDefined, PublicKey, RowDifference,
    RowMismatch, Seq,
};
use futures_util::{Stream, TryStreamExt};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::{containers, discrepancies, ledgers, locations, products, users};
use crate::error::StoreError;
use crate::rows;

/// How many container ids one query of finished containers names.
const IDS_PER_QUERY: usize = 500;

/// What verification gathers beside the fold: the genesis key, which adjustment resolved each
/// count, and the containers finished since the last page (compared at the end of each page).
pub(crate) struct Fold {
    lid: uuid::Uuid,
    genesis_key: Option<PublicKey>,
    resolved: HashMap<Seq, Seq>,
    finished: Vec<ContainerState>,
    first: Option<RowMismatch>,
}

impl Fold {
    pub(crate) fn new(lid: uuid::Uuid) -> Self {
        Self {
            lid,
            genesis_key: None,
            resolved: HashMap::new(),
            finished: Vec::new(),
            first: None,
        }
    }

    /// Takes note of one accepted entry and what it changed.
    pub(crate) fn entry(&mut self, e: &Entry, touched: &Touched) {
        match e.payload() {
            Payload::Genesis(g) => self.genesis_key = Some(g.registrant_key),
            Payload::Adjustment(a) => {
                if let Some(count) = a.resolves {
                    self.resolved.entry(count).or_insert(e.seq);
                }
            }
            _ => {}
        }
        if self.first.is_none() {
            self.finished.extend(touched.finished.iter().cloned());
        }
    }

    /// Compares the rows of the containers finished since the last call (their rows no
    /// longer change); keeps the first difference.
    pub(crate) async fn page(&mut self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        let done = std::mem::take(&mut self.finished);
        if self.first.is_some() {
            return Ok(());
        }
        for chunk in done.chunks(IDS_PER_QUERY) {
            let ids: Vec<String> = chunk.iter().map(|c| c.id.to_string()).collect();
            let mut stored: HashMap<String, containers::Model> = containers::Entity::find()
                .filter(containers::Column::LedgerId.eq(self.lid))
                .filter(containers::Column::ContainerId.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|m| (m.container_id.clone(), m))
                .collect();
            for c in chunk {
                let key = c.id.to_string();
                let difference = match stored.remove(&key) {
                    None => Some(RowDifference::Missing),
                    Some(m) => container_difference(&m, c),
                };
                if let Some(difference) = difference {
                    self.first = Some(RowMismatch {
                        table: "containers",
                        key,
                        difference,
                    });
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// After the whole chain verified: the first materialized row that differs from the
    /// folded `state`, if any.
    pub(crate) async fn finish<C>(
        mut self,
        db: &C,
        state: &State,
    ) -> Result<Option<RowMismatch>, StoreError>
    where
        C: ConnectionTrait + sea_orm::StreamTrait,
    {
        self.page(db).await?;
        if let Some(m) = self.first.take() {
            return Ok(Some(m));
        }
        let lid = self.lid;
        if let Some(m) = self.head(db, state).await? {
            return Ok(Some(m));
        }

        let rows = users::Entity::find()
            .filter(users::Column::LedgerId.eq(lid))
            .order_by_asc(users::Column::UserId)
            .stream(db)
            .await?;
        let m = pass(
            rows,
            "users",
            &state.users,
            |m: &users::Model| m.user_id.parse().map_err(|_| m.user_id.clone()),
            |k| k.to_string(),
            |_| false,
            |m, u| {
                differ("printed_name", &m.printed_name, &u.printed_name.to_string())
                    .or_else(|| differ("role", &m.role, &u.role.to_string()))
                    .or_else(|| differ("active", &m.active, &u.active))
                    .or_else(|| {
                        differ(
                            "public_key",
                            &hex::encode(&m.public_key),
                            &u.key.to_string(),
                        )
                    })
                    .or_else(|| differ("key_id", &m.key_id, &u.key.key_id().to_string()))
            },
        )
        .await?;
        if m.is_some() {
            return Ok(m);
        }

        let rows = products::Entity::find()
            .filter(products::Column::LedgerId.eq(lid))
            .order_by_asc(products::Column::Ndc)
            .stream(db)
            .await?;
        let m = pass(
            rows,
            "products",
            &state.products,
            |m: &products::Model| rows::ndc_from_digits(&m.ndc).map_err(|_| m.ndc.clone()),
            |k: &Ndc| k.digits().to_string(),
            |_| false,
            |m, p| {
                differ("name", &m.name, &p.name.to_string())
                    .or_else(|| definition_difference(&m.definition, p))
            },
        )
        .await?;
        if m.is_some() {
            return Ok(m);
        }

        let rows = locations::Entity::find()
            .filter(locations::Column::LedgerId.eq(lid))
            .order_by_asc(locations::Column::LocationId)
            .stream(db)
            .await?;
        let m = pass(
            rows,
            "locations",
            &state.locations,
            |m: &locations::Model| m.location_id.parse().map_err(|_| m.location_id.clone()),
            |k| k.to_string(),
            |_| false,
            |m, l| {
                differ("name", &m.name, &l.name.to_string())
                    .or_else(|| differ("kind", &m.kind, &l.kind.to_string()))
            },
        )
        .await?;
        if m.is_some() {
            return Ok(m);
        }

        // Finished containers were compared as they finished; here they are only accounted
        // for (a row of one is neither extra nor missing).
        let rows = containers::Entity::find()
            .filter(containers::Column::LedgerId.eq(lid))
            .order_by_asc(containers::Column::ContainerId)
            .stream(db)
            .await?;
        let m = pass(
            rows,
            "containers",
            &state.containers,
            |m: &containers::Model| {
                m.container_id
                    .parse::<ContainerId>()
                    .map_err(|_| m.container_id.clone())
            },
            |k| k.to_string(),
            |k| state.finished.contains_key(k),
            container_difference,
        )
        .await?;
        if m.is_some() {
            return Ok(m);
        }

        // One row per count or inventory: its first discrepancy (by product and location).
        let mut expected: HashMap<Seq, (Option<Seq>, &custody_ledger::state::Discrepancy)> =
            HashMap::new();
        for (k, d) in &state.discrepancies {
            expected
                .entry(k.seq)
                .or_insert((self.resolved.get(&k.seq).copied(), d));
        }
        let rows = discrepancies::Entity::find()
            .filter(discrepancies::Column::LedgerId.eq(lid))
            .order_by_asc(discrepancies::Column::CountSeq)
            .stream(db)
            .await?;
        pass(
            rows,
            "discrepancies",
            &expected,
            |m: &discrepancies::Model| rows::seq(m.count_seq).map_err(|_| m.count_seq.to_string()),
            |k| k.to_string(),
            |_| false,
            |m, (resolved, d)| {
                differ("location", &m.location, &d.location.to_string())
                    .or_else(|| differ("ndc", &m.ndc, &d.product.digits().to_string()))
                    .or_else(|| {
                        differ(
                            "resolved_seq",
                            &Nullable(m.resolved_seq),
                            &Nullable(resolved.map(|s| rows::to_i64(s.get()))),
                        )
                    })
            },
        )
        .await
    }

    /// The ledger's head row: who the registrant is, how many enrolled, where the chain is.
    async fn head(
        &self,
        db: &impl ConnectionTrait,
        state: &State,
    ) -> Result<Option<RowMismatch>, StoreError> {
        let key = self.lid.to_string();
        let Some(h) = ledgers::Entity::find_by_id(self.lid).one(db).await? else {
            return Ok(Some(RowMismatch {
                table: "ledgers",
                key,
                difference: RowDifference::Missing,
            }));
        };
        let (Some(reg), Some(head)) = (&state.registrant, &state.head) else {
            return Err(StoreError::corrupt("a verified ledger has a registrant"));
        };
        let hexed = |k: Option<PublicKey>| k.map_or_else(|| "none".to_string(), |k| k.to_string());
        let d = differ(
            "registrant_name",
            &h.registrant_name,
            &reg.party.name.to_string(),
        )
        .or_else(|| {
            differ(
                "registrant_address",
                &h.registrant_address,
                &reg.party.address.to_string(),
            )
        })
        .or_else(|| {
            differ(
                "registrant_dea",
                &h.registrant_dea,
                &reg.party.dea.to_string(),
            )
        })
        .or_else(|| {
            differ(
                "registrant_key",
                &hex::encode(&h.registrant_key),
                &reg.key.to_string(),
            )
        })
        .or_else(|| {
            differ(
                "genesis_key",
                &hex::encode(&h.genesis_key),
                &hexed(self.genesis_key),
            )
        })
        .or_else(|| {
            differ(
                "users_enrolled",
                &h.users_enrolled,
                &rows::to_i64(state.users_enrolled),
            )
        })
        .or_else(|| differ("next_seq", &h.next_seq, &rows::to_i64(head.next_seq.get())))
        .or_else(|| {
            differ(
                "last_hash",
                &hex::encode(&h.last_hash),
                &head.last_hash.to_hex(),
            )
        })
        .or_else(|| {
            differ(
                "last_timestamp",
                &h.last_timestamp,
                &head.last_timestamp.micros(),
            )
        });
        Ok(d.map(|difference| RowMismatch {
            table: "ledgers",
            key,
            difference,
        }))
    }
}

/// One pass over a table's rows (as they stream): each row must be one the ledger gives (or
/// one accounted for `elsewhere`) and agree with it; then no row the ledger gives may be
/// missing (the smallest missing key is named).
#[allow(clippy::too_many_arguments)]
async fn pass<M, K, V>(
    rows: impl Stream<Item = Result<M, DbErr>>,
    table: &'static str,
    expected: &HashMap<K, V>,
    key: impl Fn(&M) -> Result<K, String>,
    show: impl Fn(&K) -> String,
    elsewhere: impl Fn(&K) -> bool,
    difference: impl Fn(&M, &V) -> Option<RowDifference>,
) -> Result<Option<RowMismatch>, StoreError>
where
    K: Eq + Hash + Ord,
{
    let mismatch = |key: String, difference| {
        Ok(Some(RowMismatch {
            table,
            key,
            difference,
        }))
    };
    let mut rows = std::pin::pin!(rows);
    let mut seen: HashSet<&K> = HashSet::new();
    while let Some(m) = rows.try_next().await? {
        let k = match key(&m) {
            Ok(k) => k,
            Err(shown) => return mismatch(shown, RowDifference::Extra),
        };
        match expected.get_key_value(&k) {
            Some((k, v)) => {
                if let Some(d) = difference(&m, v) {
                    return mismatch(show(k), d);
                }
                seen.insert(k);
            }
            None if elsewhere(&k) => {}
            None => return mismatch(show(&k), RowDifference::Extra),
        }
    }
    if seen.len() < expected.len()
        && let Some(k) = expected.keys().filter(|k| !seen.contains(k)).min()
    {
        return mismatch(show(k), RowDifference::Missing);
    }
    Ok(None)
}

/// `Some` when the stored value differs from the ledger's.
fn differ<T: PartialEq + Debug + ?Sized>(
    column: &'static str,
    stored: &T,
    ledger: &T,
) -> Option<RowDifference> {
    (stored != ledger).then(|| RowDifference::Column {
        column,
        stored: format!("{stored:?}"),
        ledger: format!("{ledger:?}"),
    })
}

/// A nullable column, shown as SQL shows it.
#[derive(PartialEq)]
struct Nullable<T>(Option<T>);
impl<T: Debug> Debug for Nullable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("NULL"),
        }
    }
}

/// A day column (days since 1970-01-01), shown as its date.
#[derive(PartialEq)]
struct DayColumn(i32);
impl Debug for DayColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Day::from_unix_days(self.0) {
            Ok(d) => write!(f, "{d} ({})", self.0),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

/// The first column of a container row that differs from the container's state.
fn container_difference(m: &containers::Model, c: &ContainerState) -> Option<RowDifference> {
    let (status, beyond_use) = match c.status {
        ContainerStatus::Open { beyond_use } => ("open", Some(DayColumn(beyond_use.unix_days()))),
        st => (st.name(), None),
    };
    let idx = i32::try_from(c.id.index()).unwrap_or(i32::MAX);
    differ(
        "receipt_seq",
        &m.receipt_seq,
        &rows::to_i64(c.id.receipt().get()),
    )
    .or_else(|| differ("idx", &m.idx, &idx))
    .or_else(|| differ("ndc", m.ndc.as_str(), c.product.digits()))
    .or_else(|| differ("lot", &m.lot, &c.lot.to_string()))
    .or_else(|| {
        differ(
            "expiry",
            &DayColumn(m.expiry),
            &DayColumn(c.expiry.unix_days()),
        )
    })
    .or_else(|| differ("location", &m.location, &c.location.to_string()))
    .or_else(|| differ("status", m.status.as_str(), status))
    .or_else(|| {
        differ(
            "beyond_use",
            &Nullable(m.beyond_use.map(DayColumn)),
            &Nullable(beyond_use),
        )
    })
    .or_else(|| differ("capacity", &m.capacity, &rows::to_i64(c.capacity)))
    .or_else(|| differ("remaining", &m.remaining, &rows::to_i64(c.remaining)))
}

/// The stored product definition against the ledger's, field by field.
fn definition_difference(stored: &[u8], p: &ProductDefined) -> Option<RowDifference> {
    if stored == p.to_canonical_bytes() {
        return None;
    }
    let Ok(s) = ProductDefined::from_canonical_bytes(stored) else {
        return Some(RowDifference::Column {
            column: "definition",
            stored: format!("{} undecodable bytes", stored.len()),
            ledger: format!("{p:?}"),
        });
    };
    differ("definition.ndc", &s.ndc, &p.ndc)
        .or_else(|| differ("definition.name", &s.name, &p.name))
        .or_else(|| differ("definition.form", &s.form, &p.form))
        .or_else(|| differ("definition.schedule", &s.schedule, &p.schedule))
        .or_else(|| differ("definition.strength", &s.strength, &p.strength))
        .or_else(|| {
            Some(RowDifference::Column {
                column: "definition",
                stored: hex::encode(stored),
                ledger: hex::encode(p.to_canonical_bytes()),
            })
        })
}
