//! The registrant key file: the key that signs genesis, checkpoints and reports, sealed at rest
//! under a passphrase (Argon2id + XChaCha20-Poly1305, the same format as users' keys) in a file
//! only its owner can read.
//!
//! The passphrase comes from `CUSTODY_REGISTRANT_PASSPHRASE`; failing that, from
//! `registrant.pass` beside the key, which `init` writes (mode 0600) when no passphrase was
//! given so that a fresh install works at once. Operators move it to a secret store
//! (docs/operations.md).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_ledger::PublicKey;
use custody_store::keystore;
use ed25519_dalek::SigningKey;

pub const KEY_FILE: &str = "registrant.key";
pub const PASS_FILE: &str = "registrant.pass";
pub const PASS_ENV: &str = "CUSTODY_REGISTRANT_PASSPHRASE";

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Makes a new registrant key and writes it sealed. Returns the key and whether a passphrase
/// file was written.
pub fn create(dir: &Path) -> anyhow::Result<(SigningKey, bool)> {
    let key = keystore::generate()?;
    let wrote_pass = save(dir, &key)?;
    Ok((key, wrote_pass))
}

/// Writes `key` sealed into `dir` (for `create`, and for benchmarks that bring their own
/// key). Returns whether a passphrase file was written.
pub fn save(dir: &Path, key: &SigningKey) -> anyhow::Result<bool> {
    let (pass, wrote_pass) = match std::env::var(PASS_ENV) {
        Ok(p) if !p.is_empty() => (p, false),
        _ => {
            let p = hex::encode(keystore::random::<24>()?);
            write_private(&dir.join(PASS_FILE), p.as_bytes())?;
            (p, true)
        }
    };
    let sealed = keystore::seal(key, &pass, keystore::Cost::default())?;
    let mut text = b"custody registrant key v1\n".to_vec();
    text.extend_from_slice(PublicKey::from(key).to_string().as_bytes());
    text.push(b'\n');
    text.extend_from_slice(hex::encode(sealed).as_bytes());
    text.push(b'\n');
    write_private(&key_path(dir), &text)?;
    Ok(wrote_pass)
}

/// Opens the registrant key of `dir`.
pub fn load(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = key_path(dir);
    let meta =
        fs::metadata(&path).with_context(|| format!("no registrant key at {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text = fs::read_to_string(&path)?;
    let mut lines = text.lines();
    if lines.next() != Some("custody registrant key v1") {
        bail!("{} is not a custody registrant key file", path.display());
    }
    let public: PublicKey = lines
        .next()
        .context("registrant key file lacks its public key")?
        .parse()?;
    let sealed = hex::decode(
        lines
            .next()
            .context("registrant key file lacks its sealed key")?,
    )?;
    let pass = match std::env::var(PASS_ENV) {
        Ok(p) if !p.is_empty() => p,
        _ => fs::read_to_string(dir.join(PASS_FILE))
            .map(|s| s.trim().to_owned())
            .with_context(|| {
                format!("set {PASS_ENV}: no passphrase for the registrant key was found")
            })?,
    };
    keystore::unseal(&sealed, &pass, &public.key_id())
        .with_context(|| format!("cannot open {}", path.display()))
}
