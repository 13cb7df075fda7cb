//! `custody verify --witness 'VKEY [URL]' --witness-quorum K`: the ledger must extend the
//! newest checkpoint that K of the given witnesses cosigned. Candidates are every checkpoint
//! the database keeps with the cosignatures kept beside it, each `--checkpoint` file given,
//! and, for a witness named with its URL, the newest checkpoint that witness cosigned (its
//! monitoring endpoint), which no one who writes the database can hold back.

use std::collections::{BTreeMap, BTreeSet};

use custody_ledger::LedgerId;
use custody_ledger::checkpoint::{SignedCheckpoint, origin};
use custody_ledger::note::{ALG_COSIGNATURE_V1, Vkey, verify_cosignature_line};
use custody_store::Store;
use sha2::Digest;

use crate::Failure;

/// A witness whose cosignatures the verifier trusts, and where to ask it, if given.
#[derive(Debug, Clone)]
pub struct Trusted {
    pub vkey: Vkey,
    pub url: Option<String>,
}

impl std::str::FromStr for Trusted {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split_whitespace();
        let vkey = parts
            .next()
            .ok_or_else(|| "--witness takes 'VKEY' or 'VKEY URL'".to_string())?;
        let vkey = Vkey::parse(vkey).map_err(|e| format!("--witness: {e}"))?;
        if vkey.algorithm() != ALG_COSIGNATURE_V1 {
            return Err(format!(
                "--witness: {} is not a cosignature/v1 witness key",
                vkey.name()
            ));
        }
        let url = parts.next().map(|u| u.trim_end_matches('/').to_string());
        if parts.next().is_some() {
            return Err(format!("--witness takes 'VKEY' or 'VKEY URL': {s:?}"));
        }
        Ok(Trusted { vkey, url })
    }
}

/// Parses `--witness` values and checks `--witness-quorum` (default: all of them).
pub fn trusted(values: &[String], quorum: Option<usize>) -> Result<(Vec<Trusted>, usize), Failure> {
    let witnesses = values
        .iter()
        .map(|w| w.parse::<Trusted>().map_err(Failure::Usage))
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        return Err(Failure::Usage(format!(
            "--witness-quorum {quorum} is more than the {} witness(es) given",
            witnesses.len()
        )));
    }
    Ok((witnesses, quorum))
}

/// The failure when no checkpoint has `quorum` cosignatures.
pub fn not_witnessed(quorum: usize, of: usize) -> Failure {
    Failure::Invalid(format!(
        "FAILED: no checkpoint of this ledger is cosigned by {quorum} of the {of} witness(es) given [not_witnessed]"
    ))
}

/// Why no checkpoint that a file carries (an export's checkpoint lines, a report's manifest)
/// has `quorum` cosignatures of `witnesses`: none carried, or the newest one's cosignatures,
/// witness by witness. `what` names the file ("the export", "the report").
pub fn not_carried(
    what: &str,
    carried: &[String],
    none: &str,
    witnesses: &[Trusted],
    quorum: usize,
) -> Failure {
    let newest = carried
        .iter()
        .filter_map(|n| SignedCheckpoint::parse(n).ok().map(|c| (n, c)))
        .max_by_key(|(_, c)| c.checkpoint.size);
    let Some((note, c)) = newest else {
        return Failure::Invalid(format!(
            "FAILED: {what} carries no cosigned checkpoint: {none}; it cannot be checked against witnesses [not_witnessed]"
        ));
    };
    let mut by = Vec::new();
    let mut why = Vec::new();
    for w in witnesses {
        let name = w.vkey.name();
        let lines: Vec<&str> = note
            .lines()
            .filter(|l| {
                l.strip_prefix("\u{2014} ")
                    .and_then(|r| r.split(' ').next())
                    .is_some_and(|n| n == name)
            })
            .collect();
        let checked: Vec<_> = lines
            .iter()
            .map(|l| verify_cosignature_line(l, &c.checkpoint, &w.vkey))
            .collect();
        if checked.iter().any(Result::is_ok) {
            by.push(name.to_string());
        } else if let Some(Err(e)) = checked.into_iter().next() {
            why.push(format!("{name}'s cosignature does not verify ({e})"));
        } else {
            why.push(format!("{name} did not cosign it"));
        }
    }
    let by = if by.is_empty() {
        "none of them".to_string()
    } else {
        format!("{} ({})", by.len(), by.join(", "))
    };
    Failure::Invalid(format!(
        "FAILED: no checkpoint {what} carries is cosigned by {quorum} of the {} witness(es) given: the newest, of {} entries, is cosigned by {by}; {} [not_witnessed]",
        witnesses.len(),
        c.checkpoint.size,
        why.join("; ")
    ))
}

/// Which of `witnesses` (by position) cosigned the checkpoint `note`.
fn cosigners(note: &str, c: &SignedCheckpoint, witnesses: &[Trusted]) -> Vec<usize> {
    (0..witnesses.len())
        .filter(|&i| {
            note.lines()
                .any(|l| verify_cosignature_line(l, &c.checkpoint, &witnesses[i].vkey).is_ok())
        })
        .collect()
}

/// The newest checkpoint a witness cosigned, from its monitoring endpoint.
async fn ask(w: &Trusted, url: &str, ledger: &LedgerId) -> Result<Option<String>, Failure> {
    let hash = hex::encode(sha2::Sha256::digest(origin(ledger).as_bytes()));
    let r = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()?
        .get(format!("{url}/{hash}/checkpoint"))
        .send()
        .await
        .map_err(|e| Failure::Usage(format!("cannot reach witness {}: {e}", w.vkey.name())))?;
    match r.status().as_u16() {
        200 => Ok(Some(r.text().await?)),
        404 => Ok(None),
        s => Err(Failure::Usage(format!(
            "witness {} answered {s} for this ledger's checkpoint",
            w.vkey.name()
        ))),
    }
}

/// The checkpoints cosigned by at least `quorum` of `witnesses`, with how many cosigned
/// each, largest first; `files` are the `--checkpoint` notes given; `store`, the database's
/// checkpoints and cosignatures, when there is one (not for an export).
pub async fn cosigned(
    store: Option<&Store>,
    ledger: LedgerId,
    witnesses: &[Trusted],
    quorum: usize,
    files: &[String],
) -> Result<Vec<(SignedCheckpoint, usize)>, Failure> {
    let mut notes: Vec<String> = files.to_vec();
    if let Some(store) = store {
        notes.extend(stored_notes(store, ledger).await?);
    }
    for w in witnesses {
        if let Some(url) = &w.url
            && let Some(note) = ask(w, url, &ledger).await?
        {
            notes.push(note);
        }
    }
    Ok(gather(notes, ledger, witnesses, quorum))
}

/// Every checkpoint the database keeps, each with the cosignatures kept beside it.
async fn stored_notes(store: &Store, ledger: LedgerId) -> Result<Vec<String>, Failure> {
    let mut notes = Vec::new();
    for c in store.checkpoints(ledger, 100_000).await? {
        let mut note = c.to_note();
        for co in store
            .cosignatures_of(ledger, c.checkpoint.size, &c.checkpoint.root)
            .await?
        {
            note.push_str(&co.line);
            note.push('\n');
        }
        notes.push(note);
    }
    Ok(notes)
}

/// The checkpoints among `notes` cosigned by at least `quorum` of `witnesses`, largest first.
pub fn gather(
    notes: Vec<String>,
    ledger: LedgerId,
    witnesses: &[Trusted],
    quorum: usize,
) -> Vec<(SignedCheckpoint, usize)> {
    // One checkpoint may come from several places, each with some of its cosignatures (a
    // witness hands out its own): gathered by size and root.
    let want = origin(&ledger);
    let mut found: BTreeMap<(u64, [u8; 32]), (SignedCheckpoint, BTreeSet<usize>)> = BTreeMap::new();
    for note in notes {
        let Ok(c) = SignedCheckpoint::parse(&note) else {
            continue;
        };
        if c.checkpoint.origin != want {
            continue;
        }
        let who = cosigners(&note, &c, witnesses);
        found
            .entry((c.checkpoint.size, c.checkpoint.root))
            .or_insert_with(|| (c, BTreeSet::new()))
            .1
            .extend(who);
    }
    let mut out: Vec<(SignedCheckpoint, usize)> = found
        .into_values()
        .filter(|(_, who)| who.len() >= quorum)
        .map(|(c, who)| (c, who.len()))
        .collect();
    out.sort_by_key(|(c, _)| std::cmp::Reverse(c.checkpoint.size));
    out
}
