//! Verification from disk: streams the stored entries in pages, checks every stored column
//! against the entry's own bytes, and feeds the bytes to the ledger's verifier. Reads only
//! what is on disk — no cache — and holds one page in memory at a time. Then compares the
//! materialized tables with the state the entries fold to (`materialized.rs`). All of it is
//! read in one transaction, so appends made meanwhile are not half seen. Signatures are
//! checked on worker threads (`Verifier::parallel`), one fewer than the cores: the reading
//! thread checks a batch itself whenever they are all busy.

use custody_ledger::checkpoint::SignedCheckpoint;
use custody_ledger::{Failure, LedgerId, PublicKey, Reason, Summary, Verifier};
use sea_orm::{
    AccessMode, ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, IsolationLevel,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::Store;

/// How many threads check signatures beside the reading thread: one fewer than the cores
/// (at least one), since the reading thread takes a batch whenever they are all busy.
pub fn signature_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}
use crate::entities::entries;
use crate::error::StoreError;
use crate::materialized::Fold;
use crate::rows;

/// How many entries one page reads.
pub const PAGE: u64 = 2000;

impl Store {
    /// A read-only transaction in which the head row and every entry and table are one
    /// snapshot (SQLite's read transaction is one; PostgreSQL's needs REPEATABLE READ).
    pub(crate) async fn begin_snapshot(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(match self.backend() {
            DbBackend::Postgres => {
                self.connection()
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            _ => self.connection().begin().await?,
        })
    }

    /// Verifies a ledger as stored. `Ok(Err(failure))` names the first bad entry; `Err` is a
    /// database fault. `progress(done, total)` is called after each page.
    pub async fn verify(
        &self,
        ledger: LedgerId,
        trusted: Option<PublicKey>,
        progress: impl FnMut(u64, u64),
    ) -> Result<Result<Summary, Failure>, StoreError> {
        self.verify_with(ledger, trusted, Vec::new(), progress)
            .await
    }

    /// Verifies a ledger as stored, and that it extends each of `checkpoints` (which the
    /// auditor holds from earlier): this catches a removed or rewritten tail.
    pub async fn verify_with(
        &self,
        ledger: LedgerId,
        trusted: Option<PublicKey>,
        checkpoints: Vec<SignedCheckpoint>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Result<Summary, Failure>, StoreError> {
        // One snapshot for the head, the entries and the tables (SQLite's read transaction
        // is one; PostgreSQL's needs REPEATABLE READ).
        let txn = self.begin_snapshot().await?;
        let head = self.head_in(&txn, ledger).await?;
        // Signatures are most of verification's cost: they are checked on every core while
        // this thread reads, decodes and applies the rules in order (and checks a batch
        // itself whenever the workers are all busy). `CUSTODY_VERIFY_THREADS` sets how many
        // workers (0: every signature on this thread, as before; for comparisons in
        // `custody bench`).
        let threads = std::env::var("CUSTODY_VERIFY_THREADS")
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or_else(signature_workers);
        let mut v = Verifier::new(trusted).with_checkpoints(checkpoints);
        if threads > 0 {
            v = v.parallel(threads);
        }
        let mut fold = Fold::new(ledger.as_uuid());
        let mut next: i64 = 0;
        loop {
            let page = entries::Entity::find()
                .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(entries::Column::Seq.gte(next))
                .order_by_asc(entries::Column::Seq)
                .limit(PAGE)
                .all(&txn)
                .await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                match check_row(&mut v, ledger, row) {
                    Ok(e) => fold.entry(&e, v.touched()),
                    Err(f) => return Ok(Err(f)),
                }
            }
            fold.page(&txn).await?;
            next = page.last().map_or(next, |r| r.seq.saturating_add(1));
            progress(v.entries(), head.entries);
        }
        let found = v.entries();
        let (summary, state) = match v.finish_with_state() {
            Ok(s) => s,
            Err(f) => return Ok(Err(f)),
        };
        if found != head.entries || summary.head != head.last_hash {
            return Ok(Err(Failure {
                seq: found,
                reason: Reason::Truncated {
                    expected: head.entries,
                    found,
                },
            }));
        }
        if let Some(m) = fold.finish(&txn, &state).await? {
            return Ok(Err(Failure {
                seq: found,
                reason: Reason::MaterializedMismatch(Box::new(m)),
            }));
        }
        txn.commit().await?;
        Ok(Ok(summary))
    }
}

fn check_row(
    v: &mut Verifier,
    ledger: LedgerId,
    row: &entries::Model,
) -> Result<custody_ledger::Entry, Failure> {
    let seq = v.entries();
    let fail = |field| Failure {
        seq,
        reason: Reason::FieldMismatch { field },
    };
    let Ok(stored_hash) = rows::hash(&row.entry_hash, "entry hash") else {
        return Err(v.first_failure(fail("entry hash")));
    };
    let e = v.push_bytes(&row.body, Some(&stored_hash))?;
    let field = column_mismatch(ledger, row, &e)
        .or_else(|| (row.subtrees != v.completed().concat()).then_some("Merkle subtrees column"));
    if let Some(field) = field {
        return Err(v.first_failure(fail(field)));
    }
    Ok(e)
}

/// The first stored column that disagrees with the entry's own (verified) bytes.
fn column_mismatch(
    ledger: LedgerId,
    row: &entries::Model,
    e: &custody_ledger::Entry,
) -> Option<&'static str> {
    if row.seq != rows::to_i64(e.seq.get()) {
        return Some("sequence number");
    }
    if row.ledger_id != ledger.as_uuid() || e.ledger != ledger {
        return Some("ledger id");
    }
    if row.entry_id != e.body.entry_id.as_uuid() {
        return Some("entry id");
    }
    if row.kind != i32::from(e.kind().code()) {
        return Some("kind");
    }
    if row.recorded_at != e.timestamp.micros() {
        return Some("timestamp");
    }
    if row.prev_hash != e.prev.as_bytes() {
        return Some("previous hash");
    }
    None
}
