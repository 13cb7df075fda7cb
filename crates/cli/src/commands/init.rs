//! `custody init`: database, migrations, registrant key, genesis.

use clap::Args;
use custody_ledger::{
    DeaNumber, Draft, EntryId, Genesis, LedgerId, Meaning, Party, Principal, PublicKey, Text,
    Timestamp,
};
use custody_store::Store;
use ed25519_dalek::SigningKey;
use sha2::Digest;

use crate::config::DataArgs;
use crate::registrant;
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

/// Creates the registrant key in the data directory and records genesis at `at`.
pub async fn create_ledger(
    data: &DataArgs,
    store: &Store,
    party: Party,
    at: Timestamp,
) -> Result<(LedgerId, SigningKey, bool), Failure> {
    if registrant::key_path(&data.data).exists() {
        return Err(Failure::Usage(format!(
            "{} already holds a registrant key: this data directory is initialized",
            data.data.display()
        )));
    }
    std::fs::create_dir_all(&data.data)?;
    let (key, wrote_pass) = registrant::create(&data.data)?;
    let ledger = LedgerId::from_uuid(uuid::Uuid::now_v7());
    let id = entry_id_at(at);
    let genesis = Genesis {
        registrant: party,
        registrant_key: PublicKey::from(&key),
    };
    let d =
        Draft::new(ledger, id, genesis).signed(Principal::Registrant, Meaning::Registrant, &key);
    store.append_at(d, at).await?;
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

pub fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

pub async fn run(a: InitArgs) -> Outcome {
    let store = a.data.open(true).await?;
    if !store.ledgers().await?.is_empty() && a.data.ledger.is_none() {
        return Err(Failure::Usage(
            "this database already holds a ledger: use a new data directory or database".into(),
        ));
    }
    let party = Party {
        name: a.name,
        address: a.address,
        dea: a.dea,
    };
    let (ledger, key, wrote_pass) = create_ledger(&a.data, &store, party, now()).await?;
    let token = bootstrap_token(&store, ledger).await?;
    let public = PublicKey::from(&key);
    println!("initialized ledger {ledger}");
    println!("bootstrap token {token}");
    println!("registrant key {public} (key id {})", public.key_id());
    println!(
        "registrant key file {} (mode 0600, sealed)",
        registrant::key_path(&a.data.data).display()
    );
    if wrote_pass {
        println!(
            "its passphrase is in {}: move it to your secret store and set {} instead",
            a.data.data.join(registrant::PASS_FILE).display(),
            registrant::PASS_ENV
        );
    }
    Ok(())
}
