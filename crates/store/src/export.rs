//! JSONL export and import.
//!
//! Line 1 is a header: `{"format":"custody-export","version":1,"ledger":…,
//! "registrant_public_key":…,"entries":N,"head":…}` (the registrant key is the one named by
//! genesis: the auditor's trust anchor). Each following line is one entry:
//! `{"seq":N,"hash":"<hex>","entry":"<hex of the canonical bytes>"}` — all that verification
//! needs. Import replays the lines through the same append path as live entries, into an
//! empty database, and so reproduces the same head hash.

use std::io::{BufRead, Write};

use custody_ledger::{
    Canonical, Entry, EntryHash, Failure, LedgerId, PublicKey, Reason, Summary, Verifier,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::entities::entries;
use crate::error::StoreError;
use crate::rows;

pub const FORMAT: &str = "custody-export";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub ledger: LedgerId,
    pub registrant_public_key: PublicKey,
    pub entries: u64,
    pub head: EntryHash,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub seq: u64,
    pub hash: EntryHash,
    /// Hex of the entry's canonical bytes.
    pub entry: String,
}

/// Why an export file is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    #[error("the file's header names registrant key {found}, not the trusted key {trusted}")]
    UntrustedKey {
        trusted: Box<PublicKey>,
        found: Box<PublicKey>,
    },
    #[error("{0}")]
    Failed(Failure),
    #[error(
        "the header promises {promised} entries ending at {head}, but the file has {found} ending at {found_head}"
    )]
    HeaderMismatch {
        promised: u64,
        head: EntryHash,
        found: u64,
        found_head: EntryHash,
    },
    #[error("the file's header names ledger {header}, but its entries are of ledger {found}")]
    LedgerMismatch { header: LedgerId, found: LedgerId },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl ExportError {
    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Malformed { .. } => "malformed_export",
            ExportError::UntrustedKey { .. } => "untrusted_registrant",
            ExportError::Failed(f) => f.reason.code(),
            ExportError::HeaderMismatch { .. } => "header_mismatch",
            ExportError::LedgerMismatch { .. } => "header_ledger_mismatch",
            ExportError::Io(_) => "io_error",
        }
    }
}

/// The header must name the ledger its entries are of. Only the first entry is compared: the
/// ledger's rules hold every later entry to the first one's ledger (`wrong_ledger`).
fn check_ledger(header: &Header, first: &Entry) -> Result<(), ExportError> {
    if first.ledger != header.ledger {
        return Err(ExportError::LedgerMismatch {
            header: header.ledger,
            found: first.ledger,
        });
    }
    Ok(())
}

fn malformed(line: u64, reason: impl std::fmt::Display) -> ExportError {
    ExportError::Malformed {
        line,
        reason: reason.to_string(),
    }
}

impl Store {
    /// The header of an export of the ledger as it stands: the lines that follow are exactly
    /// its first `entries` entries, even while others append.
    pub async fn export_header(&self, ledger: LedgerId) -> Result<Header, StoreError> {
        let head = self.head(ledger).await?;
        Ok(Header {
            format: FORMAT.into(),
            version: VERSION,
            ledger,
            registrant_public_key: head.genesis_key,
            entries: head.entries,
            head: head.last_hash,
        })
    }

    /// Export lines for entries `from..upto`, at most one page of them.
    pub async fn export_lines(
        &self,
        ledger: LedgerId,
        from: u64,
        upto: u64,
    ) -> Result<Vec<Line>, StoreError> {
        entries::Entity::find()
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(entries::Column::Seq.gte(rows::to_i64(from)))
            .filter(entries::Column::Seq.lt(rows::to_i64(upto)))
            .order_by_asc(entries::Column::Seq)
            .limit(crate::verify::PAGE)
            .all(self.connection())
            .await?
            .iter()
            .map(|row| {
                Ok(Line {
                    seq: rows::seq(row.seq)?.get(),
                    hash: rows::hash(&row.entry_hash, "entry hash")?,
                    entry: hex::encode(&row.body),
                })
            })
            .collect()
    }

    /// Writes the ledger as JSONL. Returns the number of entries written.
    pub async fn export(&self, ledger: LedgerId, out: &mut impl Write) -> Result<u64, StoreError> {
        let header = self.export_header(ledger).await?;
        serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        let mut next = 0;
        while next < header.entries {
            let page = self.export_lines(ledger, next, header.entries).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for line in &page {
                serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        Ok(next)
    }

    /// Imports an export into this (empty) database; returns the head it reaches.
    pub async fn import(&self, input: impl BufRead) -> Result<Summary, StoreError> {
        if !self.ledgers().await?.is_empty() {
            return Err(StoreError::NotEmpty);
        }
        let mut lines = read_export(input);
        let header = match lines.next() {
            Some(Ok(Item::Header(h))) => h,
            Some(Err(e)) => return Err(import_err(e)),
            _ => {
                return Err(StoreError::Import {
                    line: 1,
                    reason: "the file has no header".into(),
                });
            }
        };
        let mut v = Verifier::new(Some(header.registrant_public_key));
        for item in lines {
            let item = item.map_err(import_err)?;
            let (entry, hash) = match item {
                Item::Entry(e, h) => (e, h),
                Item::Header(_) => unreachable!("only the first line is a header"),
            };
            if v.entries() == 0 {
                check_ledger(&header, &entry).map_err(import_err)?;
            }
            v.push(&entry).map_err(|f| StoreError::Import {
                line: f.seq + 2,
                reason: format!("{f} [{}]", f.reason.code()),
            })?;
            self.import_entry(entry, hash).await?;
        }
        let s = v.finish().map_err(|f| StoreError::Import {
            line: f.seq + 2,
            reason: format!("{f} [{}]", f.reason.code()),
        })?;
        if s.entries != header.entries || s.head != header.head {
            let e = ExportError::HeaderMismatch {
                promised: header.entries,
                head: header.head,
                found: s.entries,
                found_head: s.head,
            };
            return Err(StoreError::Import {
                line: s.entries + 1,
                reason: format!("{e} [{}]", e.code()),
            });
        }
        Ok(s)
    }
}

fn import_err(e: ExportError) -> StoreError {
    let code = e.code();
    match e {
        ExportError::Malformed { line, reason } => StoreError::Import {
            line,
            reason: format!("{reason} [{code}]"),
        },
        ExportError::Failed(f) => StoreError::Import {
            line: f.seq + 2,
            reason: format!("{f} [{code}]"),
        },
        ExportError::LedgerMismatch { .. } => StoreError::Import {
            line: 1,
            reason: format!("{e} [{code}]"),
        },
        ExportError::Io(e) => StoreError::Io(e),
        other => StoreError::Import {
            line: 0,
            reason: format!("{other} [{code}]"),
        },
    }
}

/// One parsed line of an export.
pub enum Item {
    Header(Header),
    Entry(Entry, EntryHash),
}

/// Parses an export line by line (constant memory).
pub fn read_export(input: impl BufRead) -> impl Iterator<Item = Result<Item, ExportError>> {
    let mut n: u64 = 0;
    input.lines().map(move |l| {
        n += 1;
        let l = l?;
        if n == 1 {
            let h: Header = serde_json::from_str(&l).map_err(|e| malformed(1, e))?;
            if h.format != FORMAT || h.version != VERSION {
                return Err(malformed(
                    1,
                    format!("not a {FORMAT} version {VERSION} file"),
                ));
            }
            return Ok(Item::Header(h));
        }
        let line: Line = serde_json::from_str(&l).map_err(|e| malformed(n, e))?;
        let bytes = hex::decode(&line.entry).map_err(|e| malformed(n, e))?;
        let entry = Entry::from_canonical_bytes(&bytes).map_err(|e| {
            ExportError::Failed(Failure {
                seq: n - 2,
                reason: Reason::Undecodable(e),
            })
        })?;
        let computed = custody_ledger::entry::hash_encoded(&bytes);
        if computed != line.hash {
            return Err(ExportError::Failed(Failure {
                seq: n - 2,
                reason: Reason::HashMismatch {
                    stored: line.hash,
                    computed,
                },
            }));
        }
        if entry.seq.get() != line.seq {
            return Err(ExportError::Failed(Failure {
                seq: n - 2,
                reason: Reason::FieldMismatch {
                    field: "sequence number",
                },
            }));
        }
        Ok(Item::Entry(entry, line.hash))
    })
}

/// Verifies an export offline. `trusted`: the registrant key the auditor trusts; without one,
/// the key in the file's header is trusted (and the caller should say so).
pub fn verify_export(
    input: impl BufRead,
    trusted: Option<PublicKey>,
    checkpoints: Vec<custody_ledger::checkpoint::SignedCheckpoint>,
    mut progress: impl FnMut(u64),
) -> Result<(Header, Summary), ExportError> {
    let mut lines = read_export(input);
    let header = match lines.next() {
        Some(Ok(Item::Header(h))) => h,
        Some(Err(e)) => return Err(e),
        _ => return Err(malformed(1, "the file has no header")),
    };
    if let Some(t) = trusted
        && t != header.registrant_public_key
    {
        return Err(ExportError::UntrustedKey {
            trusted: Box::new(t),
            found: Box::new(header.registrant_public_key),
        });
    }
    let mut v = Verifier::new(Some(header.registrant_public_key)).with_checkpoints(checkpoints);
    for item in lines {
        match item? {
            Item::Entry(e, _) => {
                if v.entries() == 0 {
                    check_ledger(&header, &e)?;
                }
                v.push(&e).map_err(ExportError::Failed)?
            }
            Item::Header(_) => unreachable!("only the first line is a header"),
        }
        if v.entries().is_multiple_of(4096) {
            progress(v.entries());
        }
    }
    let s = v.finish().map_err(ExportError::Failed)?;
    if s.entries != header.entries || s.head != header.head {
        return Err(ExportError::HeaderMismatch {
            promised: header.entries,
            head: header.head,
            found: s.entries,
            found_head: s.head,
        });
    }
    Ok((header, s))
}
