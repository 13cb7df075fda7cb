//! The wire format of C2SP tlog-witness `add-checkpoint`, both sides: what a log sends
//! ([`AddCheckpoint::to_body`]) and a witness reads ([`AddCheckpoint::parse`]), and the
//! answers: cosignature lines on 200 ([`parse_cosignatures`]), the witness's size on 409
//! ([`parse_size_body`], content type [`SIZE_CONTENT_TYPE`]). Pure: no I/O.
//!
//! ```text
//! old 200
//! <base64 consistency proof hash>
//! …
//!
//! custody.ledger/<uuid>
//! 1180
//! <base64 root>
//!
//! — custody.ledger/<uuid> <base64 key ID ‖ signature>
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use custody_ledger::merkle::Hash;
use custody_ledger::note::{Cosignature, parse_decimal};
use thiserror::Error;

/// The path of the submission endpoint, under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";
/// The content type of a 409 answer: the witness's tree size in decimal and a newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body a witness reads (a note is at most 64 KiB).
pub const MAX_REQUEST_BYTES: usize = 80 * 1024;

/// Why a request or an answer is not in the protocol's form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error("the request is malformed: {0}")]
    Request(String),
    #[error("the witness's answer is malformed: {0}")]
    Answer(String),
}

fn bad(s: impl Into<String>) -> FormatError {
    FormatError::Request(s.into())
}

/// An `add-checkpoint` request: the size of the checkpoint the witness is believed to hold,
/// a consistency proof from it, and the new checkpoint (a signed note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint as a signed note (body, blank line, signature lines).
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body: `old <size>`, one base64 hash per line, an empty line, the note.
    pub fn to_body(&self) -> String {
        add_checkpoint_body(self.old_size, &self.proof, &self.checkpoint)
    }

    /// Reads a request body. Checks the form only (at most 63 proof lines of 32-byte
    /// hashes, every line ending in a newline); the note is read by the witness.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!("longer than {MAX_REQUEST_BYTES} bytes")));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or_else(|| bad("no old size line"))?;
        let old = first
            .strip_prefix("old ")
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let old_size = parse_decimal(old)
            .ok_or_else(|| bad(format!("old size {old:?} is not a decimal number")))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let hash: Hash = B64
                .decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("a consistency proof line is not base64 of 32 bytes"))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(bad("no checkpoint after the empty line"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_string(),
        })
    }
}

/// The body of an `add-checkpoint` request for `checkpoint` (a signed note, as
/// `SignedCheckpoint::to_note` writes it), from `old_size` (what the witness holds; 0 the
/// first time) with the consistency proof `proof` (empty when `old_size` is 0 or equal to
/// the checkpoint's size).
pub fn add_checkpoint_body(old_size: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut s = format!("old {old_size}\n");
    for h in proof {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint);
    s
}

/// The body of a 409 answer: the size the witness holds, in decimal, and a newline.
pub fn size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Reads the body of a 409 answer (content type `text/x.tlog.size`): the size the witness
/// holds for the log, to make the request again from.
pub fn parse_size_body(body: &str) -> Result<u64, FormatError> {
    body.strip_suffix('\n')
        .and_then(parse_decimal)
        .ok_or_else(|| FormatError::Answer(format!("{body:?} is not a decimal size and a newline")))
}

/// Reads the body of a 200 answer: one or more note signature lines, each ending in a
/// newline. Lines that are not `cosignature/v1` (another algorithm) are left out; check the
/// ones kept with [`Cosignature::verify`] against the witness vkeys you trust.
pub fn parse_cosignatures(body: &str) -> Result<Vec<Cosignature>, FormatError> {
    let answer = |s: String| FormatError::Answer(s);
    let lines = body
        .strip_suffix('\n')
        .ok_or_else(|| answer("it does not end with a newline".into()))?;
    let mut out = Vec::new();
    for line in lines.split('\n') {
        let l = custody_ledger::note::NoteLine::parse(line).map_err(|e| answer(e.to_string()))?;
        if let Ok(c) = Cosignature::from_note_line(&l) {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn the_spec_example_request_parses_and_prints_back() {
        let body = format!(
            "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n{NOTE}"
        );
        let r = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(r.checkpoint, NOTE);
        assert_eq!(r.to_body(), body);
        let first = AddCheckpoint::parse(format!("old 0\n\n{NOTE}").as_bytes()).unwrap();
        assert_eq!((first.old_size, first.proof.len()), (0, 0));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let h = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
        let many = h.repeat(64);
        for bad in [
            String::new(),
            "old 0".into(),
            "old 0\n".into(),
            format!("old 0\n{NOTE}"),
            format!("old 01\n\n{NOTE}"),
            format!("old -1\n\n{NOTE}"),
            format!("old  1\n\n{NOTE}"),
            format!("Old 1\n\n{NOTE}"),
            format!("old 1\nnot base64\n\n{NOTE}"),
            format!("old 1\nAAAA\n\n{NOTE}"),
            format!("old 1\n{many}\n{NOTE}"),
            "old 1\n\n".into(),
            format!("old 18446744073709551616\n\n{NOTE}"),
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(AddCheckpoint::parse(b"old 1\n\n\xff\n").is_err());
        // 63 proof lines are allowed.
        let most = format!("old 1\n{}\n{NOTE}", h.repeat(63));
        assert_eq!(
            AddCheckpoint::parse(most.as_bytes()).unwrap().proof.len(),
            63
        );
    }

    #[test]
    fn size_bodies_round_trip_and_bad_ones_are_refused() {
        assert_eq!(size_body(1180), "1180\n");
        assert_eq!(parse_size_body("1180\n").unwrap(), 1180);
        assert_eq!(parse_size_body("0\n").unwrap(), 0);
        for bad in ["", "1180", "01\n", "x\n", "1 \n", "1\n\n"] {
            assert!(parse_size_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cosignature_answers_are_read_and_other_algorithms_left_out() {
        let spec_answer = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n";
        let c = parse_cosignatures(spec_answer).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "witness.example/w1");
        let ml_dsa_like = format!(
            "\u{2014} witness.example/w2 {}\n",
            B64.encode([7u8; 4 + 8 + 2420])
        );
        let both = format!("{spec_answer}{ml_dsa_like}");
        assert_eq!(parse_cosignatures(&both).unwrap().len(), 1);
        for bad in ["", "\u{2014} w AAAAAAA=", "- w AAAAAAA=\n"] {
            assert!(parse_cosignatures(bad).is_err(), "{bad:?}");
        }
    }
}
