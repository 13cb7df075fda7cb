//! A finished report's PDF, kept in an unnamed temporary file rather than in memory: a
//! report's bytes grow with the ledger (about 136 bytes an entry), so holding them would
//! make the memory a report needs grow with it. The file is made by `tempfile::tempfile()`
//! (mode 0600 in TMPDIR, unlinked at once), so a report is never left behind, whatever
//! happens to the process. This module owns reading it back: in chunks (to digest or sign
//! it), copied to a writer or a path, handed on as a `std::fs::File`, or whole for small
//! uses and tests.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::ReportError;

/// Bytes read at a time when a report file is read back.
pub const CHUNK: usize = 64 * 1024;

fn io_err(what: &str) -> impl Fn(std::io::Error) -> ReportError + '_ {
    move |e| ReportError::Pdf(format!("the report's temporary file ({what}): {e}"))
}

/// A new unnamed temporary file for a report, buffered for writing.
pub fn create() -> Result<BufWriter<File>, ReportError> {
    let f = tempfile::tempfile().map_err(io_err("creating it"))?;
    Ok(BufWriter::with_capacity(CHUNK, f))
}

/// The file `create` made, once everything is written to it.
pub fn finish(out: BufWriter<File>) -> Result<ReportFile, ReportError> {
    let file = out
        .into_inner()
        .map_err(|e| io_err("writing it")(e.into_error()))?;
    let len = file.metadata().map_err(io_err("its length"))?.len();
    Ok(ReportFile { file, len })
}

/// A report's PDF in its temporary file, and its length.
#[derive(Debug)]
pub struct ReportFile {
    file: File,
    len: u64,
}

impl ReportFile {
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (a finished report never is).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` over the file's bytes from `at` (a signature into its placeholder).
    pub(crate) fn write_at(&mut self, at: u64, bytes: &[u8]) -> Result<(), ReportError> {
        self.file
            .seek(SeekFrom::Start(at))
            .map_err(io_err("seeking"))?;
        self.file.write_all(bytes).map_err(io_err("writing it"))
    }

    /// Feeds bytes `from..to` of the file to `each`, a chunk at a time.
    pub fn for_each_chunk(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), ReportError> {
        if from > to || to > self.len {
            return Err(ReportError::Pdf(format!(
                "bytes {from}..{to} of a report file of {} bytes",
                self.len
            )));
        }
        let mut f = &self.file;
        f.seek(SeekFrom::Start(from)).map_err(io_err("seeking"))?;
        let mut buf = vec![0u8; CHUNK];
        let mut left = to - from;
        while left > 0 {
            let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
            f.read_exact(&mut buf[..n]).map_err(io_err("reading it"))?;
            each(&buf[..n]);
            left -= n as u64;
        }
        Ok(())
    }

    /// Bytes `from..to` of the file (a small region: the signature dictionary).
    pub fn read_range(&self, from: u64, to: u64) -> Result<Vec<u8>, ReportError> {
        let mut out = Vec::new();
        self.for_each_chunk(from, to, |c| out.extend_from_slice(c))?;
        Ok(out)
    }

    /// The whole file in memory: for tests and small reports only.
    pub fn bytes(&self) -> Result<Vec<u8>, ReportError> {
        self.read_range(0, self.len)
    }

    /// Copies the file to `out`.
    pub fn copy_to(&self, out: &mut impl Write) -> Result<(), ReportError> {
        let bad =
            |e: std::io::Error| ReportError::Pdf(format!("the report could not be copied: {e}"));
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0)).map_err(bad)?;
        std::io::copy(&mut f.take(self.len), out).map_err(bad)?;
        out.flush().map_err(bad)
    }

    /// Writes the file to `path` as `std::fs::write` would (created or truncated, with the
    /// process's default mode).
    pub fn save(&self, path: &Path) -> Result<(), ReportError> {
        let bad = |e: std::io::Error| {
            ReportError::Pdf(format!(
                "the report could not be written to {}: {e}",
                path.display()
            ))
        };
        let mut out = BufWriter::with_capacity(CHUNK, File::create(path).map_err(bad)?);
        self.copy_to(&mut out)
    }

    /// The file, positioned at its start, to be read to its end (an HTTP body, say).
    pub fn into_file(self) -> Result<File, ReportError> {
        let mut f = self.file;
        f.seek(SeekFrom::Start(0)).map_err(io_err("seeking"))?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> ReportFile {
        let mut w = create().unwrap();
        w.write_all(bytes).unwrap();
        finish(w).unwrap()
    }

    #[test]
    fn reads_back_in_chunks_ranges_and_whole() {
        let bytes: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let f = file_of(&bytes);
        assert_eq!(f.len(), bytes.len() as u64);
        assert_eq!(f.bytes().unwrap(), bytes);
        assert_eq!(f.read_range(5, 70_000).unwrap(), bytes[5..70_000]);
        let mut chunks = 0;
        let mut seen = Vec::new();
        f.for_each_chunk(0, f.len(), |c| {
            chunks += 1;
            seen.extend_from_slice(c);
        })
        .unwrap();
        assert_eq!((chunks, seen == bytes), (4, true));
        let mut copied = Vec::new();
        f.copy_to(&mut copied).unwrap();
        assert_eq!(copied, bytes);
        assert!(f.read_range(0, f.len() + 1).is_err());
        let mut read = Vec::new();
        f.into_file().unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, bytes);
    }
}
