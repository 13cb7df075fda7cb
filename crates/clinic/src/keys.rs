//! The registrant keys this process was given, one per ledger it holds the key of, and the
//! patient-commitment secret each opens (kept in the database only wrapped under it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use custody_ledger::{LedgerId, PatientRef};
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};

/// A ledger's patient secret, opened.
type Secret = Arc<Zeroizing<[u8; 32]>>;

/// Registrant keys by ledger, and the patient secrets opened with them.
#[derive(Clone, Default)]
pub struct RegistrantKeys {
    keys: Arc<HashMap<LedgerId, Arc<SigningKey>>>,
    secrets: Arc<Mutex<HashMap<LedgerId, Secret>>>,
}

impl RegistrantKeys {
    pub fn new(keys: HashMap<LedgerId, Arc<SigningKey>>) -> Self {
        RegistrantKeys {
            keys: Arc::new(keys),
            secrets: Arc::default(),
        }
    }

    /// The ledgers whose key this process holds.
    pub fn ledgers(&self) -> impl Iterator<Item = &LedgerId> {
        self.keys.keys()
    }

    /// Gives each key to `store`, which seals the entries it appends with it (format version
    /// 3: without the registrant key no entry can be recorded).
    pub fn give_to(&self, store: &custody_store::Store) {
        for (ledger, key) in self.keys.iter() {
            store.add_sequencer(*ledger, key.clone());
        }
    }
}

impl Clinic {
    /// `ledger`'s registrant key, needed to `purpose` (a sentence's end: "signs reports").
    pub fn registrant(&self, ledger: LedgerId, purpose: &str) -> ClinicResult<Arc<SigningKey>> {
        self.registrants.keys.get(&ledger).cloned().ok_or_else(|| {
            ClinicError::conflict(
                "no_registrant_key",
                format!(
                    "this server was started without the registrant key of ledger {ledger}, which {purpose}"
                ),
            )
        })
    }

    /// The secret under which `ledger`'s patient references are committed.
    pub async fn patient_secret(&self, ledger: LedgerId) -> ClinicResult<Secret> {
        if let Some(s) = self
            .registrants
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ledger)
        {
            return Ok(s.clone());
        }
        let key = self.registrant(
            ledger,
            "opens the secret patient references are committed under",
        )?;
        let secret = Arc::new(self.store.patient_secret(ledger, &key).await?);
        self.registrants
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ledger, secret.clone());
        Ok(secret)
    }

    /// The commitment entries of `ledger` carry for `mrn`.
    pub async fn commit_patient(&self, ledger: LedgerId, mrn: &str) -> ClinicResult<PatientRef> {
        let secret = self.patient_secret(ledger).await?;
        Ok(PatientRef::commit(&secret, mrn.trim()))
    }

    /// Opens (and on first use makes, or wraps) the patient secret of every ledger whose key
    /// this process holds, so the first dose does not wait for it.
    pub(crate) async fn open_patient_secrets(&self) -> ClinicResult<()> {
        let ledgers: Vec<LedgerId> = self.registrants.ledgers().copied().collect();
        for l in ledgers {
            self.patient_secret(l).await?;
        }
        Ok(())
    }
}
