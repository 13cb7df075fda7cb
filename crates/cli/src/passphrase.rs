//! Where a sealed key's passphrase comes from, for the registrant's key and a witness's alike:
//! an environment variable, a file named on the command line (generated there for a new key
//! when it does not exist), or systemd's credentials directory; and the private files keys and
//! generated passphrases are written to (created new, mode 0600, synced).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_store::keystore;
use zeroize::Zeroizing;

/// Where a passphrase came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment(&'static str),
    File(PathBuf),
    Credential(PathBuf),
    /// `registrant.pass` beside the keys (the demo's).
    Beside(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Environment(var) => f.write_str(var),
            Source::File(p) | Source::Credential(p) | Source::Beside(p) => {
                write!(f, "{}", p.display())
            }
        }
    }
}

/// The sources of one key's passphrase, in the order they are tried.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// The environment variable.
    pub env: &'static str,
    /// The file named by the command's `--…passphrase-file`.
    pub file: Option<&'a Path>,
    /// The credential's name under `$CREDENTIALS_DIRECTORY`.
    pub credential: &'static str,
    /// Whose key, for messages: "the registrant key".
    pub whose: &'static str,
}

impl Sources<'_> {
    /// Whether the environment gives one.
    pub fn env_set(&self) -> bool {
        std::env::var(self.env).is_ok_and(|p| !p.is_empty())
    }

    /// The passphrase from the first source that has one, if any does.
    pub fn find(&self) -> anyhow::Result<Option<(Zeroizing<String>, Source)>> {
        if let Ok(p) = std::env::var(self.env)
            && !p.is_empty()
        {
            return Ok(Some((Zeroizing::new(p), Source::Environment(self.env))));
        }
        if let Some(f) = self.file {
            return Ok(Some((self.read(f)?, Source::File(f.to_path_buf()))));
        }
        if let Some(creds) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let p = Path::new(&creds).join(self.credential);
            if p.exists() {
                return Ok(Some((self.read(&p)?, Source::Credential(p))));
            }
        }
        Ok(None)
    }

    /// Why none was found, and where to put one.
    pub fn missing(&self, file_flag: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "no passphrase for {}: set {}, name a file with {file_flag}, or give systemd the credential {}",
            self.whose,
            self.env,
            self.credential
        )
    }

    /// Reads a passphrase file (its final line end is not part of it).
    pub fn read(&self, path: &Path) -> anyhow::Result<Zeroizing<String>> {
        let text = Zeroizing::new(
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let pass = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned());
        if pass.is_empty() {
            bail!(
                "{} is empty: it must hold {}'s passphrase",
                path.display(),
                self.whose
            );
        }
        Ok(pass)
    }
}

/// A new random passphrase, written to `path` (which must not exist yet).
pub fn generate_into(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let p = Zeroizing::new(hex::encode(keystore::random::<24>()?));
    write_private(path, format!("{}\n", p.as_str()).as_bytes())?;
    Ok(p)
}

/// Creates `path` (refusing an existing file) with mode 0600, writes `bytes` and syncs it.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
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

/// Reads a key file only its owner can read: refused, naming the fix, when group or others
/// can; `missing` is the sentence for a file that is not there.
pub fn read_private(path: &Path, missing: impl FnOnce() -> String) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .with_context(missing)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
