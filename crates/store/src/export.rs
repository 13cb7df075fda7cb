//! JSONL export and import.
//!
//! Line 1 is a header: `{"format":"custody-export","version":2,"ledger":…,
//! "registrant_public_key":…,"entries":N,"head":…}` (the registrant key is the one named by
//! genesis: the auditor's trust anchor). Version 2 then carries the cosigned checkpoints, one
//! per line, `{"checkpoint":"<signed note with its cosignature lines>"}` (none when no witness
//! had cosigned one), newest first, each covering a prefix of the entries. Each following
//! line is one entry: `{"seq":N,"hash":"<hex>","entry":"<hex of the canonical bytes>"}` — all
//! that verification needs. Version 1 files (no checkpoint lines, unknown keys ignored) are
//! still read; version 2 refuses unknown keys. Import replays the lines through the same
//! append path as live entries, into an empty database, and so reproduces the same head hash.

use std::io::{BufRead, Write};

use custody_ledger::checkpoint::{SignedCheckpoint, origin};
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
/// The version written: 2, which carries the cosigned checkpoints.
pub const VERSION: u32 = 2;
/// The versions read.
pub const VERSIONS: [u32; 2] = [1, 2];
/// The most checkpoint lines a file may carry.
pub const MAX_CHECKPOINT_LINES: usize = crate::cosignatures::MAX_CARRIED;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub ledger: LedgerId,
    pub registrant_public_key: PublicKey,
    pub entries: u64,
    pub head: EntryHash,
}

/// The header as version 2 reads it: no key but these.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read for its refusals; the fields are taken from `Header`
struct StrictHeader {
    format: String,
    version: u32,
    ledger: LedgerId,
    registrant_public_key: PublicKey,
    entries: u64,
    head: EntryHash,
}

/// A line after the header of a version 2 file: an entry line (`seq`, `hash`, `entry`) or a
/// checkpoint line (`checkpoint` alone); any other key is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictLine {
    seq: Option<u64>,
    hash: Option<EntryHash>,
    entry: Option<String>,
    checkpoint: Option<String>,
}

/// A checkpoint line (version 2): a checkpoint of the ledger with the witnesses'
/// cosignatures of it, as one C2SP signed note.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointLine {
    pub checkpoint: String,
}

/// A checkpoint a file carries, as read.
#[derive(Debug, Clone)]
pub struct Carried {
    /// Its line in the file (from 1).
    pub line: u64,
    /// The signed note, with its cosignature lines.
    pub note: String,
    pub signed: SignedCheckpoint,
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

    /// The checkpoint lines of an export of the first `upto` entries: the cosigned
    /// checkpoints that cover a prefix of them (`Store::carried_cosigned`), newest first.
    pub async fn export_checkpoint_lines(
        &self,
        ledger: LedgerId,
        upto: u64,
    ) -> Result<Vec<CheckpointLine>, StoreError> {
        Ok(self
            .carried_cosigned(ledger, upto)
            .await?
            .iter()
            .map(|c| CheckpointLine {
                checkpoint: c.note(),
            })
            .collect())
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
        for line in self.export_checkpoint_lines(ledger, header.entries).await? {
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
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
            Some(Err(e)) => return Err(import_err(e, 2)),
            _ => {
                return Err(StoreError::Import {
                    line: 1,
                    reason: "the file has no header".into(),
                });
            }
        };
        let mut carried = Vec::new();
        let mut verifier = None;
        // The line of entry 0: after the header and the checkpoint lines.
        let mut first = 2;
        for item in lines {
            let item = item.map_err(|e| import_err(e, first))?;
            let (entry, hash) = match item {
                Item::Entry(e, h) => (e, h),
                Item::Checkpoint(c) => {
                    carried.push(c.signed);
                    first += 1;
                    continue;
                }
                Item::Header(_) => unreachable!("only the first line is a header"),
            };
            // The checkpoints come before the entries: the ledger must extend each.
            let v = verifier.get_or_insert_with(|| {
                Verifier::new(Some(header.registrant_public_key))
                    .with_checkpoints(std::mem::take(&mut carried))
            });
            if v.entries() == 0 {
                check_ledger(&header, &entry).map_err(|e| import_err(e, first))?;
            }
            v.push(&entry).map_err(|f| StoreError::Import {
                line: f.seq + first,
                reason: format!("{f} [{}]", f.reason.code()),
            })?;
            self.import_entry(entry, hash).await?;
        }
        let v = verifier.unwrap_or_else(|| {
            Verifier::new(Some(header.registrant_public_key)).with_checkpoints(carried)
        });
        let s = v.finish().map_err(|f| StoreError::Import {
            line: f.seq + first,
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
                line: s.entries + first - 1,
                reason: format!("{e} [{}]", e.code()),
            });
        }
        Ok(s)
    }
}

/// `first`: the line of entry 0.
fn import_err(e: ExportError, first: u64) -> StoreError {
    let code = e.code();
    match e {
        ExportError::Malformed { line, reason } => StoreError::Import {
            line,
            reason: format!("{reason} [{code}]"),
        },
        ExportError::Failed(f) => StoreError::Import {
            line: f.seq + first,
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
    /// A cosigned checkpoint (version 2), before the entries.
    Checkpoint(Carried),
    Entry(Entry, EntryHash),
}

/// Reads a checkpoint line's note: a checkpoint of the header's ledger.
fn carried(n: u64, note: String, header: &Header) -> Result<Carried, ExportError> {
    let signed = SignedCheckpoint::parse(&note)
        .map_err(|e| malformed(n, format!("the checkpoint line: {e}")))?;
    let want = origin(&header.ledger);
    if signed.checkpoint.origin != want {
        return Err(malformed(
            n,
            format!(
                "the checkpoint line is of {}, not of the header's ledger ({want})",
                signed.checkpoint.origin
            ),
        ));
    }
    Ok(Carried {
        line: n,
        note,
        signed,
    })
}

/// An entry line or a checkpoint line of a version 2 file.
fn strict_line(n: u64, l: &str) -> Result<Result<Line, String>, ExportError> {
    let s: StrictLine = serde_json::from_str(l).map_err(|e| malformed(n, e))?;
    match s {
        StrictLine {
            seq: None,
            hash: None,
            entry: None,
            checkpoint: Some(c),
        } => Ok(Err(c)),
        StrictLine {
            checkpoint: Some(_),
            ..
        } => Err(malformed(
            n,
            "a line holds a checkpoint and entry fields: a checkpoint line holds `checkpoint` alone",
        )),
        StrictLine {
            seq: Some(seq),
            hash: Some(hash),
            entry: Some(entry),
            checkpoint: None,
        } => Ok(Ok(Line { seq, hash, entry })),
        StrictLine { seq, hash, .. } => Err(malformed(
            n,
            format!(
                "missing field `{}`",
                if seq.is_none() {
                    "seq"
                } else if hash.is_none() {
                    "hash"
                } else {
                    "entry"
                }
            ),
        )),
    }
}

/// Parses an export line by line (constant memory).
pub fn read_export(input: impl BufRead) -> impl Iterator<Item = Result<Item, ExportError>> {
    let mut n: u64 = 0;
    let mut header: Option<Header> = None;
    let mut entries_begun = false;
    let mut checkpoints = 0usize;
    input.lines().map(move |l| {
        n += 1;
        let l = l?;
        if n == 1 {
            let h: Header = serde_json::from_str(&l).map_err(|e| malformed(1, e))?;
            if h.format != FORMAT || !VERSIONS.contains(&h.version) {
                return Err(malformed(
                    1,
                    format!("not a {FORMAT} file of version 1 or {VERSION}"),
                ));
            }
            if h.version >= 2 {
                serde_json::from_str::<StrictHeader>(&l).map_err(|e| malformed(1, e))?;
            }
            header = Some(h.clone());
            return Ok(Item::Header(h));
        }
        let Some(h) = &header else {
            return Err(malformed(n, "the file has no header"));
        };
        let line: Line = if h.version >= 2 {
            match strict_line(n, &l)? {
                Ok(line) => line,
                Err(note) => {
                    if entries_begun {
                        return Err(malformed(
                            n,
                            "a checkpoint line after an entry line: checkpoints come right after the header",
                        ));
                    }
                    checkpoints += 1;
                    if checkpoints > MAX_CHECKPOINT_LINES {
                        return Err(malformed(
                            n,
                            format!("more than {MAX_CHECKPOINT_LINES} checkpoint lines"),
                        ));
                    }
                    return Ok(Item::Checkpoint(carried(n, note, h)?));
                }
            }
        } else {
            serde_json::from_str(&l).map_err(|e| malformed(n, e))?
        };
        entries_begun = true;
        let entry_no = n - 2 - checkpoints as u64;
        let bytes = hex::decode(&line.entry).map_err(|e| malformed(n, e))?;
        let entry = Entry::from_canonical_bytes(&bytes).map_err(|e| {
            ExportError::Failed(Failure {
                seq: entry_no,
                reason: Reason::Undecodable(e),
            })
        })?;
        let computed = custody_ledger::entry::hash_encoded(&bytes);
        if computed != line.hash {
            return Err(ExportError::Failed(Failure {
                seq: entry_no,
                reason: Reason::HashMismatch {
                    stored: line.hash,
                    computed,
                },
            }));
        }
        if entry.seq.get() != line.seq {
            return Err(ExportError::Failed(Failure {
                seq: entry_no,
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
    // The ledger must extend the checkpoints given and every checkpoint the file carries.
    let mut held = checkpoints;
    let mut verifier = None;
    for item in lines {
        match item? {
            Item::Entry(e, _) => {
                let v = verifier.get_or_insert_with(|| {
                    Verifier::new(Some(header.registrant_public_key))
                        .with_checkpoints(std::mem::take(&mut held))
                });
                if v.entries() == 0 {
                    check_ledger(&header, &e)?;
                }
                v.push(&e).map_err(ExportError::Failed)?;
                if v.entries().is_multiple_of(4096) {
                    progress(v.entries());
                }
            }
            Item::Checkpoint(c) => held.push(c.signed),
            Item::Header(_) => unreachable!("only the first line is a header"),
        }
    }
    let v = verifier.unwrap_or_else(|| {
        Verifier::new(Some(header.registrant_public_key)).with_checkpoints(held)
    });
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

/// Reads the header and the checkpoint lines of an export (they come first), and no further.
pub fn read_carried(input: impl BufRead) -> Result<(Header, Vec<Carried>), ExportError> {
    let mut lines = read_export(input);
    let header = match lines.next() {
        Some(Ok(Item::Header(h))) => h,
        Some(Err(e)) => return Err(e),
        _ => return Err(malformed(1, "the file has no header")),
    };
    let mut carried = Vec::new();
    for item in lines {
        match item? {
            Item::Checkpoint(c) => carried.push(c),
            _ => break,
        }
    }
    Ok((header, carried))
}
