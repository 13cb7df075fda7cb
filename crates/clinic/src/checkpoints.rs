//! Checkpoints the server issues by itself: for every ledger whose registrant key it holds,
//! a signed checkpoint whenever the ledger has grown since its newest one (the caller runs
//! this on a timer and once more at shutdown), so tamper evidence does not wait for someone
//! to remember a procedure.

use custody_ledger::LedgerId;
use custody_ledger::checkpoint::SignedCheckpoint;

use crate::Clinic;
use crate::error::ClinicResult;

impl Clinic {
    /// Issues a checkpoint of each ledger that has grown since its newest one; returns those
    /// issued. A ledger that fails is logged and skipped: the others still get theirs.
    pub async fn issue_due_checkpoints(&self) -> Vec<(LedgerId, SignedCheckpoint)> {
        let mut issued = Vec::new();
        let ledgers: Vec<LedgerId> = self.registrants.ledgers().copied().collect();
        for ledger in ledgers {
            match self.issue_if_grown(ledger).await {
                Ok(Some(c)) => {
                    tracing::info!(%ledger, size = c.checkpoint.size, "checkpoint issued");
                    issued.push((ledger, c));
                }
                Ok(None) => {}
                Err(e) => tracing::error!(%ledger, "could not issue a checkpoint: {e}"),
            }
        }
        issued
    }

    async fn issue_if_grown(&self, ledger: LedgerId) -> ClinicResult<Option<SignedCheckpoint>> {
        let head = self.store.head(ledger).await?;
        let newest = self.store.checkpoints(ledger, 1).await?;
        if newest
            .first()
            .is_some_and(|c| c.checkpoint.size >= head.entries)
        {
            return Ok(None);
        }
        let key = self.registrant(ledger, "signs checkpoints")?;
        Ok(Some(self.store.issue_checkpoint(ledger, &key).await?))
    }

    /// The newest checkpoint of `ledger` as a signed note, the registrant's signature followed
    /// by every witness's cosignature of it, if one was issued.
    pub async fn newest_checkpoint(&self, ledger: LedgerId) -> ClinicResult<Option<String>> {
        Ok(self
            .store
            .newest_cosigned_note(ledger)
            .await?
            .map(|(signed, cosignatures)| {
                let mut note = signed.to_note();
                for c in cosignatures {
                    note.push_str(&c.line);
                    note.push('\n');
                }
                note
            }))
    }
}
