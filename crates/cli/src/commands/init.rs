//! `custody init`: database, migrations, registrant key, genesis.

use clap::Args;
use custody_ledger::{
    DeaNumber, Draft, EntryId, Genesis, LedgerId, Meaning, Party, Principal, PublicKey, Text,
    Timestamp,
};
use custody_store::Store;
use custody_store::clock::now;
use ed25519_dalek::SigningKey;
use sha2::Digest;

use std::path::PathBuf;

use crate::config::DataArgs;
use crate::first_start::{self, Found, Stage};
use crate::registrant::{Keys, NewPassphrase};
use crate::{Failure, Outcome};

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Registrant's name as on its DEA registration.
    #[arg(long)]
    pub name: Text,
    /// Registrant's registered address (use \n between lines).
    #[arg(long)]
    pub address: Text,
    /// Registrant's DEA registration number (two letters, seven digits).
    #[arg(long)]
    pub dea: DeaNumber,
}

/// Creates a registrant key among `keys`, records genesis at `at` and wraps a new patient
/// secret under the key. Returns the ledger, its key, and where a generated passphrase was
/// written (if one was).
pub async fn create_ledger(
    keys: &Keys,
    how: NewPassphrase,
    store: &Store,
    party: Party,
    at: Timestamp,
) -> Result<(LedgerId, SigningKey, Option<PathBuf>), Failure> {
    let ledger = LedgerId::from_uuid(uuid::Uuid::now_v7());
    let (key, wrote_pass) = keys.create(ledger, how)?;
    let id = entry_id_at(at);
    let genesis = Genesis {
        registrant: party,
        registrant_key: PublicKey::from(&key),
    };
    // The key seals what the store appends, genesis first (format version 3).
    store.add_sequencer(ledger, std::sync::Arc::new(key.clone()));
    let d = Draft::new(ledger, id, genesis).signed(
        Principal::Registrant,
        Meaning::Registrant,
        &key,
        at,
    );
    store.append_at(d, at).await?;
    store.patient_secret(ledger, &key).await?;
    Ok((ledger, key, wrote_pass))
}

/// Makes the ledger's one-time bootstrap token and keeps only its hash.
pub async fn bootstrap_token(store: &Store, ledger: LedgerId) -> Result<String, Failure> {
    let raw = custody_store::keystore::random::<32>()?;
    let token = hex::encode(raw);
    let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    store.save_bootstrap_token(ledger, hash).await?;
    Ok(token)
}

/// `custody bootstrap-token`: a new one-time token for the first admin, while no one is
/// enrolled (the token printed at the first start was lost, or that start was cut short
/// before it was printed). The operator runs it on the host; the old token stops working.
pub async fn new_bootstrap_token(a: crate::config::DataArgs) -> crate::Outcome {
    let store = a.open(false).await?;
    let ledger = a.ledger(&store).await?;
    if !store.users(ledger).await?.is_empty() {
        return Err(Failure::Usage(
            "someone is enrolled already: the first admin signs up once; an admin enrolls everyone else".into(),
        ));
    }
    let token = bootstrap_token(&store, ledger).await?;
    println!("ledger {ledger}");
    println!("bootstrap token {token}");
    Ok(())
}

/// A UUIDv7 entry id made at `at` (its random part from the operating system).
pub fn entry_id_at(at: Timestamp) -> EntryId {
    let mut r = [0u8; 10];
    getrandom::fill(&mut r).expect("the operating system's random source works");
    let ms = u64::try_from(at.micros() / 1000).unwrap_or(0);
    EntryId::from_uuid(uuid::Builder::from_unix_timestamp_millis(ms, &r).into_uuid())
}

pub async fn run(a: InitArgs) -> Outcome {
    let found = first_start::recover(&a.data).await?;
    if let Found::NeedsToken(ledger) = found {
        let store = a.data.open(false).await?;
        let token = bootstrap_token(&store, ledger).await?;
        println!("initialized ledger {ledger}");
        println!("bootstrap token {token}");
        return Ok(());
    }
    if a.data.database_url.is_none() && !first_start::needed(&a.data).await? {
        return Err(Failure::Usage(format!(
            "{} is initialized already: use a new data directory (or add a ledger to a \
             PostgreSQL database with --database-url)",
            a.data.data.display()
        )));
    }
    let party = Party {
        name: a.name,
        address: a.address,
        dea: a.dea,
    };
    a.data
        .keys()
        .can_seal_new(NewPassphrase::Given)
        .map_err(Failure::Usage)?;
    let stage = Stage::begin(&a.data)?;
    let store = stage.args().open(true).await?;
    let others = store.ledgers().await?.len();
    let (ledger, key, wrote_pass) =
        create_ledger(&stage.keys(), NewPassphrase::Given, &store, party, now()).await?;
    let token = bootstrap_token(&store, ledger).await?;
    store.close().await?;
    // Printed before the move: a start cut short after it is made again with a new token.
    let public = PublicKey::from(&key);
    if others > 0 {
        println!("added ledger {ledger} to a database holding {others} other(s)");
    }
    println!("initialized ledger {ledger}");
    println!("bootstrap token {token}");
    println!("registrant key {public} (key id {})", public.key_id());
    stage.commit()?;
    let file = a.data.keys().file_of(&public)?.map(|k| k.path);
    if let Some(f) = file {
        println!("registrant key file {} (mode 0600, sealed)", f.display());
    }
    if let Some(p) = wrote_pass {
        println!(
            "its passphrase was generated into {}: keep it apart from the data directory's backups",
            p.display()
        );
    }
    Ok(())
}
