//! The registrant key files: the keys that sign genesis, checkpoints and reports, sealed at
//! rest under a passphrase (Argon2id + XChaCha20-Poly1305, the same format as users' keys) in
//! files only their owner can read. A data directory holds one per ledger it keeps the key
//! of: `registrant.key` for its first ledger, `registrant-LEDGER.key` for any added to the same
//! database later; each file names its public key, by which it is matched to its ledger.
//!
//! The passphrase is never kept in the database, and beside the key only when asked for. It
//! comes from, in order:
//!
//! 1. `CUSTODY_REGISTRANT_PASSPHRASE`;
//! 2. the file named by `--registrant-passphrase-file` (a new key with no passphrase yet
//!    generates one into that file);
//! 3. systemd's credentials directory (`$CREDENTIALS_DIRECTORY/custody-registrant-passphrase`,
//!    from `LoadCredential=` or `LoadCredentialEncrypted=`);
//! 4. `registrant.pass` beside the keys: written only for the demo clinic, and found there
//!    with a warning (docs/operations.md says how to move it).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_ledger::{LedgerId, PublicKey};
use custody_store::keystore;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

pub use crate::passphrase::Source;
use crate::passphrase::{Sources, generate_into, read_private, write_private};

pub const KEY_FILE: &str = "registrant.key";
pub const PASS_FILE: &str = "registrant.pass";
pub const PASS_ENV: &str = "CUSTODY_REGISTRANT_PASSPHRASE";
/// The credential's name under systemd's `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL: &str = "custody-registrant-passphrase";

/// Where a data directory's registrant keys are and how their passphrase is found.
#[derive(Debug, Clone)]
pub struct Keys {
    pub dir: PathBuf,
    /// `--registrant-passphrase-file`.
    pub pass_file: Option<PathBuf>,
    /// Where the files end up (a first start writes them in its stage): new keys are named
    /// after what is there.
    pub destination: PathBuf,
}

/// How a new key's passphrase is to be found or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewPassphrase {
    /// From the usual sources; a file named by `--registrant-passphrase-file` that does not
    /// exist yet is generated.
    Given,
    /// The demo clinic: generated into `registrant.pass` beside the key when no other
    /// source gives one.
    BesideForDemo,
}

/// A registrant key file found in a data directory.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub path: PathBuf,
    pub public: PublicKey,
}

impl Keys {
    pub fn new(dir: &Path, pass_file: Option<&Path>) -> Self {
        Keys {
            dir: dir.to_path_buf(),
            pass_file: pass_file.map(Path::to_path_buf),
            destination: dir.to_path_buf(),
        }
    }

    /// Keys written in `self.dir` that will be moved to `destination`.
    pub fn moving_to(mut self, destination: &Path) -> Self {
        self.destination = destination.to_path_buf();
        self
    }

    pub fn beside(&self) -> PathBuf {
        self.dir.join(PASS_FILE)
    }

    /// The registrant passphrase's sources but the demo's file beside the keys.
    fn sources(&self) -> Sources<'_> {
        Sources {
            env: PASS_ENV,
            file: self.pass_file.as_deref(),
            credential: CREDENTIAL,
            whose: "the registrant key",
        }
    }

    /// The passphrase from the first source that has one.
    pub fn passphrase(&self) -> anyhow::Result<(Zeroizing<String>, Source)> {
        let sources = self.sources();
        if let Some(found) = sources.find()? {
            return Ok(found);
        }
        let beside = self.beside();
        if beside.exists() {
            return Ok((sources.read(&beside)?, Source::Beside(beside)));
        }
        Err(sources.missing("--registrant-passphrase-file"))
    }

    /// Whether a new key can get a passphrase (`how`), checked before anything is written:
    /// the refusal says where to put one.
    pub fn can_seal_new(&self, how: NewPassphrase) -> Result<(), String> {
        if how == NewPassphrase::BesideForDemo || self.pass_file.is_some() {
            return Ok(());
        }
        self.passphrase().map(|_| ()).map_err(|e| {
            format!(
                "{e:#}; custody writes it beside the key only for the demo (docs/operations.md)"
            )
        })
    }

    /// The passphrase for a new key: the usual sources, else generated into the file named by
    /// `--registrant-passphrase-file` or, for the demo, beside the key. Returns where it was
    /// written, if it was.
    fn new_passphrase(
        &self,
        how: NewPassphrase,
    ) -> anyhow::Result<(Zeroizing<String>, Option<PathBuf>)> {
        let env_set = self.sources().env_set();
        let target = match (&self.pass_file, how) {
            (Some(f), _) if !env_set && !f.exists() => Some(f.clone()),
            (None, NewPassphrase::BesideForDemo) if !env_set => match self.passphrase() {
                Ok(_) => None,
                Err(_) => Some(self.beside()),
            },
            _ => None,
        };
        match target {
            Some(path) => Ok((generate_into(&path)?, Some(path))),
            None => {
                let (p, _) = self.passphrase()?;
                Ok((p, None))
            }
        }
    }

    /// The file a new key of `ledger` goes to: `registrant.key` unless the directory holds
    /// one already (another ledger's in the same database).
    pub fn path_for_new(&self, ledger: LedgerId) -> PathBuf {
        let first = self.dir.join(KEY_FILE);
        if first.exists() || self.destination.join(KEY_FILE).exists() {
            self.dir.join(format!("registrant-{ledger}.key"))
        } else {
            first
        }
    }

    /// Makes a new registrant key for `ledger` and writes it sealed. Returns the key and
    /// where a generated passphrase was written, if one was.
    pub fn create(
        &self,
        ledger: LedgerId,
        how: NewPassphrase,
    ) -> anyhow::Result<(SigningKey, Option<PathBuf>)> {
        let key = keystore::generate()?;
        let written = self.save(&self.path_for_new(ledger), &key, how)?;
        Ok((key, written))
    }

    /// Writes `key` sealed at `path` (for `create`, and for benchmarks that bring their own
    /// key).
    pub fn save(
        &self,
        path: &Path,
        key: &SigningKey,
        how: NewPassphrase,
    ) -> anyhow::Result<Option<PathBuf>> {
        let (pass, written) = self.new_passphrase(how)?;
        let sealed = keystore::seal(key, &pass, keystore::Cost::default())?;
        let mut text = b"custody registrant key v1\n".to_vec();
        text.extend_from_slice(PublicKey::from(key).to_string().as_bytes());
        text.push(b'\n');
        text.extend_from_slice(hex::encode(sealed).as_bytes());
        text.push(b'\n');
        write_private(path, &text)?;
        Ok(written)
    }

    /// Every registrant key file of the directory, with its public key.
    pub fn files(&self) -> anyhow::Result<Vec<KeyFile>> {
        let mut found = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e).context(format!("cannot read {}", self.dir.display())),
        };
        for e in entries {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == KEY_FILE || (name.starts_with("registrant-") && name.ends_with(".key")) {
                let (public, _) = read_key_file(&e.path())?;
                found.push(KeyFile {
                    path: e.path(),
                    public,
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// The key file holding `public`, if the directory has it.
    pub fn file_of(&self, public: &PublicKey) -> anyhow::Result<Option<KeyFile>> {
        Ok(self.files()?.into_iter().find(|k| &k.public == public))
    }

    /// Opens the registrant key whose public key is `public`.
    pub fn load(&self, public: &PublicKey) -> anyhow::Result<SigningKey> {
        let file = self
            .file_of(public)?
            .with_context(|| format!("{} holds no registrant key {public}", self.dir.display()))?;
        self.open(&file.path)
    }

    /// Opens the key file at `path`.
    pub fn open(&self, path: &Path) -> anyhow::Result<SigningKey> {
        let text = read_private(path, || format!("no registrant key at {}", path.display()))?;
        let (public, sealed) = parse_key_file(path, &text)?;
        let (pass, source) = self.passphrase()?;
        keystore::unseal(&sealed, &pass, &public.key_id()).with_context(|| {
            format!(
                "cannot open {} with the passphrase from {source}",
                path.display()
            )
        })
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<(PublicKey, Vec<u8>)> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_key_file(path, &text)
}

fn parse_key_file(path: &Path, text: &str) -> anyhow::Result<(PublicKey, Vec<u8>)> {
    let mut lines = text.lines();
    if lines.next() != Some("custody registrant key v1") {
        bail!("{} is not a custody registrant key file", path.display());
    }
    let public: PublicKey = lines
        .next()
        .with_context(|| format!("{} lacks its public key", path.display()))?
        .parse()?;
    let sealed = hex::decode(
        lines
            .next()
            .with_context(|| format!("{} lacks its sealed key", path.display()))?,
    )?;
    Ok((public, sealed))
}
