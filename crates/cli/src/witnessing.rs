//! `custody serve --witness 'VKEY URL'`: after each checkpoint, the server sends it with a
//! consistency proof to every witness (C2SP tlog-witness `add-checkpoint`), retries from the
//! size a 409 names, and keeps the cosignatures. A refusal — a split view, a rollback — is
//! logged at error level, counted in `/metrics` and shown to admins until that witness cosigns
//! a later checkpoint. A witness that cannot be reached is logged and tried again next round.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use custody_api::metrics::Metrics;
use custody_clinic::{Clinic, WitnessAlert};
use custody_ledger::LedgerId;
use custody_ledger::checkpoint::SignedCheckpoint;
use custody_ledger::note::{Vkey, verify_cosignature_line};
use custody_store::cosignatures::Cosignature;

/// A witness the server sends its checkpoints to.
#[derive(Debug, Clone)]
pub struct Peer {
    pub vkey: Vkey,
    /// Its URL prefix (`add-checkpoint` is appended).
    pub url: String,
}

impl FromStr for Peer {
    type Err = String;

    /// `VKEY URL`: a witness as `verify --witness` names one, whose address is required.
    fn from_str(s: &str) -> Result<Self, String> {
        let t: crate::witnessed::Trusted = s.parse()?;
        let url = t.url.ok_or_else(|| {
            format!(
                "--witness takes 'VKEY URL' (the witness's verifier key, a space, its address): {s:?}"
            )
        })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--witness: {url} is not an http(s) URL"));
        }
        Ok(Peer { vkey: t.vkey, url })
    }
}

/// How one witness answered.
enum Answer {
    Cosigned,
    Refused(String),
    Unreachable(String),
}

/// Sends checkpoints to the witnesses.
#[derive(Clone)]
pub struct Witnessing {
    clinic: Clinic,
    peers: Arc<Vec<Peer>>,
    quorum: usize,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
}

impl Witnessing {
    pub fn new(
        clinic: Clinic,
        peers: Vec<Peer>,
        quorum: usize,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Witnessing {
            clinic,
            peers: Arc::new(peers),
            quorum,
            metrics,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// Sends the newest checkpoint of every ledger to each witness that has not cosigned it.
    pub async fn round(&self) {
        if self.peers.is_empty() {
            return;
        }
        let ledgers = match self.clinic.store.ledgers().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot list ledgers for the witnesses: {e}");
                return;
            }
        };
        for l in ledgers {
            let newest = match self.clinic.store.checkpoints(l.ledger, 1).await {
                Ok(c) => c.into_iter().next(),
                Err(e) => {
                    tracing::error!(ledger = %l.ledger, "cannot read checkpoints: {e}");
                    continue;
                }
            };
            let Some(signed) = newest else { continue };
            // Few witnesses, each with a timeout: one after another.
            let mut cosigned = 0;
            for p in self.peers.iter() {
                if matches!(self.send(l.ledger, p, &signed).await, Answer::Cosigned) {
                    cosigned += 1;
                }
            }
            if cosigned < self.quorum {
                tracing::warn!(
                    ledger = %l.ledger,
                    size = signed.checkpoint.size,
                    "the newest checkpoint is cosigned by {cosigned} witness(es) this round, fewer than the quorum of {}",
                    self.quorum
                );
            }
        }
    }

    /// Sends `signed` to `peer` unless it cosigned it already.
    async fn send(&self, ledger: LedgerId, peer: &Peer, signed: &SignedCheckpoint) -> Answer {
        let name = peer.vkey.name().to_string();
        let store = &self.clinic.store;
        let cp = &signed.checkpoint;
        match store.cosignatures_of(ledger, cp.size, &cp.root).await {
            Ok(c) if c.iter().any(|c| c.witness == name) => return Answer::Cosigned,
            Ok(_) => {}
            Err(e) => return Answer::Unreachable(e.to_string()),
        }
        let mut old = match store.witness_size(ledger, &name).await {
            Ok(s) => s.min(cp.size),
            Err(e) => return Answer::Unreachable(e.to_string()),
        };
        let note = signed.to_note();
        let answer = 'tries: {
            for _ in 0..3 {
                let proof = if old == 0 || old == cp.size {
                    Vec::new()
                } else {
                    match store.consistency_proof(ledger, old, cp.size).await {
                        Ok(p) => p.path,
                        Err(e) => {
                            break 'tries Answer::Refused(format!(
                                "the witness holds size {old}, which this ledger cannot prove it extends ({e}): entries were lost or rewritten"
                            ));
                        }
                    }
                };
                let body = custody_witness::add_checkpoint_body(old, &proof, &note);
                let r = match self
                    .http
                    .post(format!("{}/add-checkpoint", peer.url))
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(e) => break 'tries Answer::Unreachable(e.to_string()),
                };
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                match status {
                    200 => break 'tries self.keep(ledger, peer, signed, &text).await,
                    409 => match custody_witness::parse_size_body(&text) {
                        Ok(held) if held > cp.size => {
                            break 'tries Answer::Refused(format!(
                                "the witness holds size {held}, more than this ledger's newest checkpoint ({}): the database was rolled back",
                                cp.size
                            ));
                        }
                        Ok(held) => old = held,
                        Err(e) => break 'tries Answer::Refused(format!("409 with {e}")),
                    },
                    _ => {
                        break 'tries Answer::Refused(format!(
                            "{status}: {}",
                            text.trim().chars().take(300).collect::<String>()
                        ));
                    }
                }
            }
            Answer::Refused("the witness kept naming another size".into())
        };
        match &answer {
            Answer::Cosigned => {
                self.metrics.witness_answered(&name, true);
                self.clinic.witness_cosigned(ledger, &name);
            }
            Answer::Refused(why) => {
                self.metrics.witness_answered(&name, false);
                self.clinic.witness_refused(WitnessAlert {
                    ledger,
                    witness: name.clone(),
                    size: cp.size,
                    message: why.clone(),
                    at: custody_store::clock::now(),
                });
            }
            Answer::Unreachable(why) => {
                tracing::warn!(%ledger, witness = %name, "the witness could not be reached: {why}");
            }
        }
        answer
    }

    /// Checks and keeps the cosignature in a witness's 200.
    async fn keep(
        &self,
        ledger: LedgerId,
        peer: &Peer,
        signed: &SignedCheckpoint,
        text: &str,
    ) -> Answer {
        let line = text
            .lines()
            .find(|l| {
                l.strip_prefix("\u{2014} ")
                    .and_then(|r| r.split(' ').next())
                    .is_some_and(|n| n == peer.vkey.name())
            })
            .map(str::to_string);
        let Some(line) = line else {
            return Answer::Refused(format!(
                "the witness answered 200 without a cosignature by {}",
                peer.vkey.name()
            ));
        };
        if let Err(e) = verify_cosignature_line(&line, &signed.checkpoint, &peer.vkey) {
            return Answer::Refused(format!("its cosignature does not verify: {e}"));
        }
        let c = Cosignature {
            size: signed.checkpoint.size,
            root: signed.checkpoint.root,
            witness: peer.vkey.name().to_string(),
            line,
        };
        match self
            .clinic
            .store
            .save_cosignature(ledger, &c, custody_store::clock::now_micros())
            .await
        {
            Ok(()) => Answer::Cosigned,
            Err(e) => Answer::Unreachable(format!("cannot keep the cosignature: {e}")),
        }
    }
}
