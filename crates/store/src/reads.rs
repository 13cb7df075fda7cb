//! Reads for people and reports: containers, users, products, locations, entries by filter,
//! and one container's whole history.

use std::collections::BTreeSet;

use custody_ledger::state::{ContainerStatus, references};
use custody_ledger::{
    Canonical, ContainerId, Day, Entry, Kind, LedgerId, LocationDefined, LocationId, Lot, Ndc,
    ProductDefined, Seq, Timestamp, UserId,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Store;
use crate::entities::{containers, discrepancies, entries, locations, products, users};
use crate::error::StoreError;
use crate::rows;
use crate::sessions::{StoredEntry, UserInfo};

/// Rows read at most for one filtered page; the cursor carries on from there.
const SCAN_LIMIT: u64 = 20_000;
const SCAN_BATCH: u64 = 500;

/// A container as people ask about it.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: ContainerId,
    pub product: ProductDefined,
    pub lot: Lot,
    pub expiry: Day,
    pub location: LocationId,
    /// Sealed, open (with its beyond-use date), empty or gone.
    pub status: ContainerStatus,
    /// What a full container holds and what is left, in µL or units.
    pub capacity: u64,
    pub remaining: u64,
}

/// Which entries to list. Kind and time are matched in the database; product, container and
/// user by reading each entry.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub kind: Option<Kind>,
    pub product: Option<Ndc>,
    pub container: Option<ContainerId>,
    pub user: Option<UserId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl EntryFilter {
    fn needs_body(&self) -> bool {
        self.product.is_some() || self.container.is_some() || self.user.is_some()
    }
}

/// A page of entries and where the next one starts.
#[derive(Debug)]
pub struct EntryPage {
    pub entries: Vec<StoredEntry>,
    /// The cursor for the next page; `None` at the end of the ledger.
    pub next: Option<u64>,
}

impl Store {
    fn container_info(
        &self,
        m: &containers::Model,
        product: ProductDefined,
    ) -> Result<ContainerInfo, StoreError> {
        let day = |d: i32| Day::from_unix_days(d).map_err(StoreError::corrupt);
        let nonneg = |v: i64| u64::try_from(v).map_err(StoreError::corrupt);
        let status = match rows::container_from_row(m)? {
            rows::ContainerRow::Live(c) => c.status,
            rows::ContainerRow::Finished(st) => st,
        };
        Ok(ContainerInfo {
            id: m.container_id.parse().map_err(StoreError::corrupt)?,
            product,
            lot: m.lot.parse().map_err(StoreError::corrupt)?,
            expiry: day(m.expiry)?,
            location: m.location.parse().map_err(StoreError::corrupt)?,
            status,
            capacity: nonneg(m.capacity)?,
            remaining: nonneg(m.remaining)?,
        })
    }

    /// One container, if it is in this ledger.
    pub async fn container(
        &self,
        ledger: LedgerId,
        id: &ContainerId,
    ) -> Result<Option<ContainerInfo>, StoreError> {
        let Some(m) = containers::Entity::find_by_id((ledger.as_uuid(), id.to_string()))
            .one(self.connection())
            .await?
        else {
            return Ok(None);
        };
        let p = products::Entity::find_by_id((ledger.as_uuid(), m.ndc.clone()))
            .one(self.connection())
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("container {id} names no product")))?;
        self.container_info(&m, rows::product_from_row(&p)?)
            .map(Some)
    }

    /// Containers still held (sealed or open), or all of them.
    pub async fn containers(
        &self,
        ledger: LedgerId,
        held_only: bool,
    ) -> Result<Vec<ContainerInfo>, StoreError> {
        let products = self.products(ledger).await?;
        let mut q = containers::Entity::find()
            .filter(containers::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(containers::Column::ReceiptSeq)
            .order_by_asc(containers::Column::Idx);
        if held_only {
            q = q.filter(containers::Column::Status.is_in(["sealed", "open"]));
        }
        q.all(self.connection())
            .await?
            .iter()
            .map(|m| {
                let ndc = rows::ndc_from_digits(&m.ndc)?;
                let p = products
                    .iter()
                    .find(|p| p.ndc == ndc)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt(format!("no product {ndc}")))?;
                self.container_info(m, p)
            })
            .collect()
    }

    pub async fn products(&self, ledger: LedgerId) -> Result<Vec<ProductDefined>, StoreError> {
        products::Entity::find()
            .filter(products::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(products::Column::Name)
            .all(self.connection())
            .await?
            .iter()
            .map(rows::product_from_row)
            .collect()
    }

    pub async fn locations(&self, ledger: LedgerId) -> Result<Vec<LocationDefined>, StoreError> {
        locations::Entity::find()
            .filter(locations::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(locations::Column::LocationId)
            .all(self.connection())
            .await?
            .iter()
            .map(rows::location_from_row)
            .collect()
    }

    pub async fn users(&self, ledger: LedgerId) -> Result<Vec<UserInfo>, StoreError> {
        users::Entity::find()
            .filter(users::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(users::Column::UserId)
            .all(self.connection())
            .await?
            .into_iter()
            .map(crate::sessions::user_from_row)
            .collect()
    }

    /// Entries after `after` matching `filter`, oldest first. Reads at most a bounded number
    /// of rows per call; `next` says where to go on, even when this page came back short.
    pub async fn entries_filtered(
        &self,
        ledger: LedgerId,
        after: Option<Seq>,
        limit: u64,
        filter: &EntryFilter,
    ) -> Result<EntryPage, StoreError> {
        // Containers of the product, for entries that name only containers.
        let product_containers: BTreeSet<ContainerId> = match &filter.product {
            Some(ndc) => containers::Entity::find()
                .filter(containers::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(containers::Column::Ndc.eq(ndc.digits()))
                .all(self.connection())
                .await?
                .iter()
                .map(|m| m.container_id.parse().map_err(StoreError::corrupt))
                .collect::<Result<_, _>>()?,
            None => BTreeSet::new(),
        };
        let matches = |e: &Entry| {
            let r = references(e);
            filter
                .container
                .as_ref()
                .is_none_or(|c| r.containers.contains(c))
                && filter.user.as_ref().is_none_or(|u| r.users.contains(u))
                && filter.product.as_ref().is_none_or(|p| {
                    r.products.contains(p)
                        || r.stock_at.as_ref().is_some_and(|(_, n)| n == p)
                        || r.containers.iter().any(|c| product_containers.contains(c))
                })
        };
        let mut cursor = after.map(|s| s.get());
        let mut out = Vec::new();
        let mut scanned = 0u64;
        let batch = if filter.needs_body() {
            SCAN_BATCH
        } else {
            limit
        };
        loop {
            let mut q = entries::Entity::find()
                .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .order_by_asc(entries::Column::Seq)
                .limit(batch);
            if let Some(a) = cursor {
                q = q.filter(entries::Column::Seq.gt(rows::to_i64(a)));
            }
            if let Some(k) = filter.kind {
                q = q.filter(entries::Column::Kind.eq(i32::from(k.code())));
            }
            if let Some(f) = filter.from {
                q = q.filter(entries::Column::RecordedAt.gte(f.micros()));
            }
            if let Some(t) = filter.to {
                q = q.filter(entries::Column::RecordedAt.lt(t.micros()));
            }
            let rows_ = q.all(self.connection()).await?;
            let got = rows_.len() as u64;
            for m in rows_ {
                let seq = rows::seq(m.seq)?.get();
                cursor = Some(seq);
                scanned += 1;
                if filter.needs_body() {
                    let e = Entry::from_canonical_bytes(&m.body).map_err(StoreError::corrupt)?;
                    if !matches(&e) {
                        continue;
                    }
                }
                out.push(StoredEntry {
                    seq,
                    hash: rows::hash(&m.entry_hash, "entry hash")?,
                    bytes: m.body,
                });
                if out.len() as u64 == limit {
                    return Ok(EntryPage {
                        entries: out,
                        next: cursor,
                    });
                }
            }
            if got < batch {
                return Ok(EntryPage {
                    entries: out,
                    next: None,
                });
            }
            if scanned >= SCAN_LIMIT {
                return Ok(EntryPage {
                    entries: out,
                    next: cursor,
                });
            }
        }
    }

    /// When the first entry of `kind` recorded at or after `from` was recorded, if one was.
    /// An entry's time never goes back along the chain (the ledger's rule), so the first
    /// sequence number at or after `from` is found by a binary search of the entries' key
    /// (⌈log2 n⌉ reads of one row), and the first entry of `kind` from there is one read down
    /// `entries_kind`: one statement, no index of entries by time for every append to write
    /// (migration 14).
    pub async fn first_of_kind_from(
        &self,
        ledger: LedgerId,
        kind: Kind,
        from: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        // `probe` narrows [lo, hi) to the first sequence number whose time is not before
        // `from` (`next_seq` when none is); the entry at the middle always exists, since the
        // chain has no gaps below `next_seq`.
        const FIRST_OF_KIND_FROM: &str = "
WITH RECURSIVE probe(lo, hi) AS (
    SELECT CAST(0 AS BIGINT), next_seq FROM ledgers WHERE id = $1
  UNION ALL
    SELECT CASE WHEN e.recorded_at < $2 THEN e.seq + 1 ELSE probe.lo END,
           CASE WHEN e.recorded_at < $2 THEN probe.hi ELSE e.seq END
      FROM probe JOIN entries e ON e.ledger_id = $1 AND e.seq = (probe.lo + probe.hi) / 2
     WHERE probe.lo < probe.hi
)
SELECT recorded_at FROM entries
 WHERE ledger_id = $1 AND kind = $3
   AND seq >= (SELECT lo FROM probe WHERE lo >= hi)
 ORDER BY seq
 LIMIT 1";
        let row = self
            .connection()
            .query_one_raw(Statement::from_sql_and_values(
                self.backend(),
                FIRST_OF_KIND_FROM,
                [
                    ledger.as_uuid().into(),
                    from.micros().into(),
                    i32::from(kind.code()).into(),
                ],
            ))
            .await?;
        row.map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .map(Timestamp::from_micros)
            .transpose()
            .map_err(StoreError::corrupt)
    }

    /// Everything that happened to one container, from its receipt on (the receipt names
    /// its containers only by count, so it is put first by its sequence number).
    pub async fn container_history(
        &self,
        ledger: LedgerId,
        id: &ContainerId,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let start = after_of(id.receipt().get())?;
        let mut out = self
            .entries_filtered(ledger, start, 1, &EntryFilter::default())
            .await?
            .entries;
        let filter = EntryFilter {
            container: Some(*id),
            ..Default::default()
        };
        let mut after = Some(id.receipt());
        loop {
            let page = self.entries_filtered(ledger, after, 1000, &filter).await?;
            out.extend(page.entries);
            match page.next {
                Some(n) => after = Some(Seq::new(n).map_err(StoreError::corrupt)?),
                None => break,
            }
        }
        Ok(out)
    }
}

fn after_of(seq: u64) -> Result<Option<Seq>, StoreError> {
    seq.checked_sub(1)
        .map(Seq::new)
        .transpose()
        .map_err(StoreError::corrupt)
}

impl Store {
    /// The counts whose discrepancy no adjustment has resolved yet, oldest first: an indexed
    /// query of the materialized discrepancies.
    pub async fn open_discrepancies(&self, ledger: LedgerId) -> Result<Vec<Seq>, StoreError> {
        discrepancies::Entity::find()
            .filter(discrepancies::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(discrepancies::Column::ResolvedSeq.is_null())
            .order_by_asc(discrepancies::Column::CountSeq)
            .all(self.connection())
            .await?
            .iter()
            .map(|m| rows::seq(m.count_seq))
            .collect()
    }

    /// Every discrepancy a count found, oldest first, with the adjustment that resolved it
    /// (none while open); only the open ones with `open_only`.
    pub async fn discrepancies(
        &self,
        ledger: LedgerId,
        open_only: bool,
    ) -> Result<Vec<(Seq, Option<Seq>)>, StoreError> {
        let mut q = discrepancies::Entity::find()
            .filter(discrepancies::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(discrepancies::Column::CountSeq);
        if open_only {
            q = q.filter(discrepancies::Column::ResolvedSeq.is_null());
        }
        q.all(self.connection())
            .await?
            .iter()
            .map(|m| {
                Ok((
                    rows::seq(m.count_seq)?,
                    m.resolved_seq.map(rows::seq).transpose()?,
                ))
            })
            .collect()
    }

    /// Whether any ledger has a discrepancy marked open: a backfill of resolutions cut short
    /// would leave one so (the backfill then runs again; it only fills in what is missing).
    pub(crate) async fn any_open_discrepancy(&self) -> Result<bool, StoreError> {
        Ok(discrepancies::Entity::find()
            .filter(discrepancies::Column::ResolvedSeq.is_null())
            .one(self.connection())
            .await?
            .is_some())
    }

    /// Fills in which adjustment resolved each discrepancy, from the ledger's adjustments
    /// (for ledgers recorded before the store kept it; what is filled in already stays).
    pub async fn backfill_resolutions(&self) -> Result<(), StoreError> {
        let filter = EntryFilter {
            kind: Some(Kind::Adjustment),
            ..Default::default()
        };
        for l in self.ledgers().await? {
            let mut after = None;
            loop {
                let page = self
                    .entries_filtered(l.ledger, after, 1000, &filter)
                    .await?;
                for r in &page.entries {
                    let e = Entry::from_canonical_bytes(&r.bytes).map_err(StoreError::corrupt)?;
                    if let custody_ledger::Payload::Adjustment(a) = e.payload()
                        && let Some(count) = a.resolves
                    {
                        crate::append::resolve_discrepancy(
                            self.connection(),
                            l.ledger.as_uuid(),
                            count,
                            e.seq,
                        )
                        .await?;
                    }
                }
                match page.next {
                    Some(n) => after = Some(Seq::new(n).map_err(StoreError::corrupt)?),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

/// Doses read at most, newest first, to find a patient's last one.
const LAST_DOSE_SCAN: u64 = 5_000;

impl Store {
    /// The newest dose given to `patient`, among the last few thousand doses of the ledger
    /// (the index on kind and seq reads only doses): what a new dose for them offers again
    /// (prescriber, product).
    pub async fn last_dose_to(
        &self,
        ledger: LedgerId,
        patient: &custody_ledger::PatientRef,
    ) -> Result<Option<custody_ledger::Administered>, StoreError> {
        let mut before: Option<i64> = None;
        let mut read = 0u64;
        while read < LAST_DOSE_SCAN {
            let mut q = entries::Entity::find()
                .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
                .filter(entries::Column::Kind.eq(i32::from(Kind::Administered.code())))
                .order_by_desc(entries::Column::Seq)
                .limit(SCAN_BATCH);
            if let Some(b) = before {
                q = q.filter(entries::Column::Seq.lt(b));
            }
            let batch = q.all(self.connection()).await?;
            if batch.is_empty() {
                return Ok(None);
            }
            for m in &batch {
                read += 1;
                before = Some(m.seq);
                let e = Entry::from_canonical_bytes(&m.body).map_err(StoreError::corrupt)?;
                if let custody_ledger::Payload::Administered(a) = e.body.payload
                    && &a.patient == patient
                {
                    return Ok(Some(a));
                }
            }
        }
        Ok(None)
    }
}
