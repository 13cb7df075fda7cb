//! What the server knows of its witnesses' answers: a refusal (a split view, a rollback) stays
//! on the admins' dashboard until that witness cosigns a later checkpoint of the ledger.

use std::collections::BTreeMap;

use custody_ledger::{LedgerId, Timestamp};

use crate::Clinic;
use crate::error::ClinicResult;
use crate::policy::Permission;
use crate::session::Session;

/// A witness's refusal not resolved yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessAlert {
    pub ledger: LedgerId,
    /// The witness's key name.
    pub witness: String,
    /// The checkpoint size it refused.
    pub size: u64,
    /// Why, in words (the witness's answer).
    pub message: String,
    pub at: Timestamp,
}

/// Refusals by ledger and witness.
pub(crate) type Alerts = BTreeMap<(LedgerId, String), WitnessAlert>;

impl Clinic {
    /// Records a witness's refusal (it replaces an earlier one of the same witness).
    pub fn witness_refused(&self, alert: WitnessAlert) {
        tracing::error!(
            ledger = %alert.ledger,
            witness = %alert.witness,
            size = alert.size,
            "a witness refused the checkpoint: {}",
            alert.message
        );
        self.witness_alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((alert.ledger, alert.witness.clone()), alert);
    }

    /// A witness cosigned a checkpoint of `ledger`: its earlier refusal is resolved.
    pub fn witness_cosigned(&self, ledger: LedgerId, witness: &str) {
        self.witness_alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(ledger, witness.to_string()));
    }

    /// The unresolved refusals of the session's ledger, for admins.
    pub fn witness_alerts(&self, s: &Session) -> ClinicResult<Vec<WitnessAlert>> {
        s.require(s.ledger, Permission::ManageUsers)?;
        Ok(self
            .witness_alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|a| a.ledger == s.ledger)
            .cloned()
            .collect())
    }
}
