//! Where a ledger lives: the data directory (SQLite file, registrant key) and, optionally,
//! a PostgreSQL database URL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use custody_ledger::LedgerId;
use custody_store::{Store, StoreError};
use ed25519_dalek::SigningKey;

use crate::registrant::Keys;

use crate::Failure;

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Data directory: holds custody.db (SQLite) and the registrant key.
    #[arg(long, env = "CUSTODY_DATA", default_value = "./custody-data")]
    pub data: PathBuf,
    /// Database URL (postgres://… for PostgreSQL); defaults to SQLite in the data directory.
    #[arg(long, env = "CUSTODY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Which ledger, when the database holds several (its UUID).
    #[arg(long, env = "CUSTODY_LEDGER")]
    pub ledger: Option<LedgerId>,
    /// File holding the registrant key's passphrase (when CUSTODY_REGISTRANT_PASSPHRASE is
    /// not set); a new key with no passphrase yet generates one into it.
    #[arg(long, env = "CUSTODY_REGISTRANT_PASSPHRASE_FILE")]
    pub registrant_passphrase_file: Option<PathBuf>,
}

impl DataArgs {
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| custody_store::sqlite_url(&self.data))
    }

    /// Opens the database; for SQLite the directory must already exist unless `create`.
    pub async fn open(&self, create: bool) -> Result<Store, Failure> {
        self.ready(create)?;
        Ok(Store::open(&self.url()).await?)
    }

    /// Opens the database to serve it (`custody serve`): as [`DataArgs::open`], reading
    /// SQLite through a memory map ([`Store::open_serving`]).
    pub async fn open_to_serve(&self) -> Result<Store, Failure> {
        self.ready(false)?;
        Ok(Store::open_serving(&self.url()).await?)
    }

    /// For SQLite: makes the data directory (0700) if `create`, else refuses one that holds
    /// no database.
    fn ready(&self, create: bool) -> Result<(), Failure> {
        if self.database_url.is_none() {
            if create {
                std::fs::create_dir_all(&self.data).map_err(|e| {
                    Failure::Other(anyhow::anyhow!(
                        "cannot create data directory {}: {e}",
                        self.data.display()
                    ))
                })?;
                // The owner's alone, whoever made it first.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&self.data, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| {
                        Failure::Other(anyhow::anyhow!(
                            "cannot restrict data directory {}: {e}",
                            self.data.display()
                        ))
                    })?;
            } else if !self.data.join("custody.db").exists() {
                return Err(Failure::Usage(format!(
                    "{} holds no custody database: run `custody init --data {}` or `custody demo --data {}` first",
                    self.data.display(),
                    self.data.display(),
                    self.data.display()
                )));
            }
        }
        Ok(())
    }

    /// Opens the database to verify it: as [`DataArgs::open`], but nothing found is repaired.
    pub async fn open_to_verify(&self) -> Result<Store, Failure> {
        if self.database_url.is_none() && !self.data.join("custody.db").exists() {
            // The same refusal as `open` gives, naming what to run first.
            return self.open(false).await;
        }
        Ok(Store::open_to_verify(&self.url()).await?)
    }

    /// The registrant key files of the data directory and their passphrase's sources.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.data, self.registrant_passphrase_file.as_deref())
    }

    /// Opens `ledger`'s registrant key (the key file whose public key the ledger names), and
    /// gives it to `store` to seal what it appends.
    pub async fn registrant_key(
        &self,
        store: &Store,
        ledger: LedgerId,
    ) -> Result<SigningKey, Failure> {
        let head = store.head(ledger).await?;
        let key = self.keys().load(&head.registrant_key)?;
        store.add_sequencer(ledger, Arc::new(key.clone()));
        Ok(key)
    }

    /// The registrant key of every ledger of the database whose key file this directory
    /// holds (each given to `store` to seal what it appends); the ledgers whose key it lacks,
    /// and why.
    pub async fn registrant_keys(
        &self,
        store: &Store,
    ) -> Result<(HashMap<LedgerId, Arc<SigningKey>>, Vec<(LedgerId, String)>), Failure> {
        let keys = self.keys();
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for l in store.ledgers().await? {
            let head = store.head(l.ledger).await?;
            match keys.load(&head.registrant_key) {
                Ok(k) => {
                    let k = Arc::new(k);
                    store.add_sequencer(l.ledger, k.clone());
                    found.insert(l.ledger, k);
                }
                Err(e) => missing.push((l.ledger, format!("{e:#}"))),
            }
        }
        Ok((found, missing))
    }

    pub async fn ledger(&self, store: &Store) -> Result<LedgerId, Failure> {
        store
            .resolve_ledger(self.ledger)
            .await
            .map_err(|e| match e {
                StoreError::NoLedger
                | StoreError::SeveralLedgers(_)
                | StoreError::UnknownLedger(_) => Failure::Usage(e.to_string()),
                e => Failure::Other(e.into()),
            })
    }
}
