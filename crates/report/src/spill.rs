//! The rows a report lists, kept in a temporary file between the fold and the layout.
//!
//! A PDF report reads its rows twice (once for the log's widest cells, then to lay them
//! out), and its header pages need the whole fold before the first row is placed. Holding
//! the rows in memory cost ≈ 700 bytes each (70 MB at 100,000 entries, growing with the
//! ledger); folding the ledger again for each pass would double the fold. So the fold
//! writes each listed row here as it goes (≈ 300 bytes), and each pass reads them back in
//! order through a buffer.
//! The file is unnamed (removed by the system when it is closed, even on a crash) and only
//! this process reads it. Patients appear in it as their keyed commitments, as in the chain.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use custody_ledger::{EntryHash, Kind, Ndc, PatientRef, Timestamp};

use crate::ReportError;
use crate::model::{LogRow, SignatureLine};

/// Rows written in order, then read back in order as many times as needed.
pub struct Spill {
    file: Option<BufWriter<File>>,
    read: Option<File>,
    rows: u64,
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spill({} rows)", self.rows)
    }
}

fn io(e: std::io::Error) -> ReportError {
    ReportError::Spill(e.to_string())
}

fn bad(what: &str) -> ReportError {
    ReportError::Spill(format!("a row read back is malformed ({what})"))
}

impl Spill {
    pub fn new() -> Result<Spill, ReportError> {
        Ok(Spill {
            file: Some(BufWriter::with_capacity(
                1 << 16,
                tempfile::tempfile().map_err(io)?,
            )),
            read: None,
            rows: 0,
        })
    }

    /// Rows written.
    pub fn len(&self) -> u64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends `row` (only before the first read).
    pub fn push(&mut self, row: &LogRow) -> Result<(), ReportError> {
        let Some(w) = self.file.as_mut() else {
            return Err(ReportError::Spill(
                "a row was added after the rows were read".into(),
            ));
        };
        let mut b = Vec::with_capacity(256);
        encode(row, &mut b);
        w.write_all(&(b.len() as u32).to_le_bytes()).map_err(io)?;
        w.write_all(&b).map_err(io)?;
        self.rows += 1;
        Ok(())
    }

    /// Calls `f` with every row, in the order written.
    pub fn each(&mut self, f: &mut dyn FnMut(LogRow)) -> Result<(), ReportError> {
        if let Some(w) = self.file.take() {
            self.read = Some(w.into_inner().map_err(|e| io(e.into_error()))?);
        }
        let Some(file) = self.read.as_mut() else {
            return Ok(());
        };
        file.rewind().map_err(io)?;
        let mut r = BufReader::with_capacity(1 << 16, &*file);
        let mut buf = Vec::new();
        for _ in 0..self.rows {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).map_err(io)?;
            buf.resize(u32::from_le_bytes(len) as usize, 0);
            r.read_exact(&mut buf).map_err(io)?;
            f(decode(&buf)?);
        }
        Ok(())
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str(b, s);
        }
    }
}

fn encode(r: &LogRow, b: &mut Vec<u8>) {
    b.extend_from_slice(&r.seq.to_le_bytes());
    b.extend_from_slice(r.hash.as_bytes());
    b.extend_from_slice(&r.at.micros().to_le_bytes());
    b.extend_from_slice(&r.kind.code().to_le_bytes());
    match &r.product {
        None => b.push(0),
        Some(n) => {
            b.push(1);
            b.extend_from_slice(n.digits().as_bytes());
        }
    }
    put_opt_str(b, r.container.as_deref());
    match r.ug {
        None => b.push(0),
        Some(u) => {
            b.push(1);
            b.extend_from_slice(&u.to_le_bytes());
        }
    }
    put_opt_str(b, r.quantity.as_deref());
    put_str(b, &r.detail);
    put_opt_str(b, r.reason.as_deref());
    match &r.patient {
        None => b.push(0),
        Some(p) => {
            b.push(1);
            b.extend_from_slice(p.as_bytes());
        }
    }
    put_opt_str(b, r.prescriber.as_deref());
    b.extend_from_slice(&(r.signatures.len() as u32).to_le_bytes());
    for s in &r.signatures {
        put_str(b, &s.name);
        put_str(b, &s.meaning);
        b.extend_from_slice(&s.at.micros().to_le_bytes());
    }
}

/// Reads a row back, field by field, as `encode` wrote it.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReportError> {
        if self.0.len() < n {
            return Err(bad("too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReportError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, ReportError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn time(&mut self) -> Result<Timestamp, ReportError> {
        Timestamp::from_micros(i64::from_le_bytes(self.array()?)).map_err(|_| bad("time"))
    }
    fn flag(&mut self) -> Result<bool, ReportError> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad("flag")),
        }
    }
    fn string(&mut self) -> Result<String, ReportError> {
        let n = u32::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("text"))
    }
    fn opt_string(&mut self) -> Result<Option<String>, ReportError> {
        if self.flag()? {
            Ok(Some(self.string()?))
        } else {
            Ok(None)
        }
    }
}

fn decode(b: &[u8]) -> Result<LogRow, ReportError> {
    let mut c = Cursor(b);
    let seq = c.u64()?;
    let hash = EntryHash::from_bytes(c.array()?);
    let at = c.time()?;
    let kind = Kind::from_code(u16::from_le_bytes(c.array()?)).ok_or_else(|| bad("kind"))?;
    let product = if c.flag()? {
        let digits: [u8; 11] = c.array()?;
        let digits = std::str::from_utf8(&digits).map_err(|_| bad("NDC"))?;
        Some(digits.parse::<Ndc>().map_err(|_| bad("NDC"))?)
    } else {
        None
    };
    let container = c.opt_string()?;
    let ug = if c.flag()? { Some(c.u64()?) } else { None };
    let quantity = c.opt_string()?;
    let detail = c.string()?;
    let reason = c.opt_string()?;
    let patient = if c.flag()? {
        Some(PatientRef::from_bytes(c.array()?))
    } else {
        None
    };
    let prescriber = c.opt_string()?;
    let n = u32::from_le_bytes(c.array()?);
    let mut signatures = Vec::with_capacity(n.min(16) as usize);
    for _ in 0..n {
        signatures.push(SignatureLine {
            name: c.string()?,
            meaning: c.string()?,
            at: c.time()?,
        });
    }
    if !c.0.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(LogRow {
        seq,
        hash,
        at,
        kind,
        product,
        container,
        ug,
        quantity,
        detail,
        reason,
        patient,
        prescriber,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, full: bool) -> LogRow {
        LogRow {
            seq,
            hash: EntryHash::from_bytes([seq as u8; 32]),
            at: Timestamp::from_micros(1_700_000_000_000_000 + seq as i64).expect("time"),
            kind: if full {
                Kind::Administered
            } else {
                Kind::Genesis
            },
            product: full.then(|| "12345-6789-01".parse().expect("ndc")),
            container: full.then(|| "C12-3, C12-4".to_string()),
            ug: full.then_some(35_000),
            quantity: full.then(|| "3.5 mL".to_string()),
            detail: format!("détail µg {seq}"),
            reason: full.then(|| "spilled".to_string()),
            patient: full.then(|| PatientRef::from_bytes([7; 32])),
            prescriber: full.then(|| "Dr. A (AB1234563)".to_string()),
            signatures: (0..if full { 2 } else { 0 })
                .map(|i| SignatureLine {
                    name: format!("Signer {i}"),
                    meaning: "witnessed".into(),
                    at: Timestamp::from_micros(1_700_000_000_000_000 + i).expect("time"),
                })
                .collect(),
        }
    }

    fn same(a: &LogRow, b: &LogRow) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    /// Every row comes back whole and in order, as often as it is read.
    #[test]
    fn rows_come_back_whole_in_order_on_every_read() {
        let mut s = Spill::new().expect("temp file");
        let rows: Vec<LogRow> = (0..5000).map(|i| row(i, i % 3 != 0)).collect();
        for r in &rows {
            s.push(r).expect("written");
        }
        assert_eq!(s.len(), 5000);
        for _ in 0..2 {
            let mut back = Vec::new();
            s.each(&mut |r| back.push(r)).expect("read");
            assert_eq!(back.len(), rows.len());
            assert!(rows.iter().zip(&back).all(|(a, b)| same(a, b)));
        }
        assert!(s.push(&rows[0]).is_err(), "no row after a read");
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        let mut b = Vec::new();
        encode(&row(1, true), &mut b);
        for cut in [0, 10, 60, b.len() - 1] {
            assert!(decode(&b[..cut]).is_err());
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}
