//! A data directory's first start — the database and its migrations, the registrant key,
//! genesis, the patient secret, the bootstrap token, the demo — made in `DATA/.first-start`
//! and moved into place only once complete, `custody.db` last. A crash at any moment leaves a
//! finished directory or one whose next start says what it found and finishes or redoes it:
//!
//! - SQLite (a new data directory): everything is made in the stage, so until the move
//!   nothing outside it exists; an unfinished stage is removed and the start made again (a
//!   bootstrap token printed by the cut-short start never worked; the new start prints one).
//! - PostgreSQL, or a ledger added to a database that holds others: only the key files are
//!   staged. If the database already holds the staged key's ledger, its genesis committed:
//!   the keys are moved into place and a new bootstrap token issued (the one printed, if it
//!   was, stops working). A demo cut short there is refused by name: nothing in a ledger is
//!   ever deleted, so it cannot be redone in that database.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use custody_ledger::LedgerId;
use custody_store::Store;

use crate::Failure;
use crate::config::DataArgs;
use crate::registrant::Keys;

pub const STAGE: &str = ".first-start";
/// Written once everything in the stage is complete; from then on a restart moves it into
/// place rather than starting again.
const COMPLETE: &str = "COMPLETE";
/// Written before the demo is recorded straight into a database (PostgreSQL).
const DEMO: &str = "DEMO";
const DATABASE: &str = "custody.db";

/// What a start found of an earlier, interrupted first start.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Nothing,
    /// Complete, and now moved into place.
    Finished,
    /// Cut short before anything was served; removed, to be made again.
    Removed,
    /// The database holds the ledger (its genesis committed) but the start did not finish:
    /// keys moved into place; a new bootstrap token is needed.
    NeedsToken(LedgerId),
}

/// A first start in the making.
pub struct Stage {
    data: DataArgs,
    staged: DataArgs,
    dir: PathBuf,
    /// The database is made inside the stage (a new SQLite directory).
    whole: bool,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

impl Stage {
    /// Starts a first start in `data` (whose database, for SQLite, does not exist yet; for
    /// PostgreSQL, whatever it holds). Anything left of an earlier one must have been dealt
    /// with by [`recover`].
    pub fn begin(data: &DataArgs) -> Result<Stage, Failure> {
        let whole = data.database_url.is_none();
        make_private_dir(&data.data)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&data.data, fs::Permissions::from_mode(0o700))?;
        let dir = data.data.join(STAGE);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        make_private_dir(&dir)?;
        let mut staged = data.clone();
        if whole {
            staged.data = dir.clone();
        }
        Ok(Stage {
            data: data.clone(),
            staged,
            dir,
            whole,
        })
    }

    /// Where the first start writes: the stage for a new SQLite directory (database and
    /// keys), else the real database.
    pub fn args(&self) -> &DataArgs {
        &self.staged
    }

    /// The key files of this start go to the stage, whatever the database.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.dir, self.data.registrant_passphrase_file.as_deref())
            .moving_to(&self.data.data)
    }

    /// The demo is about to be recorded into the real database: a restart that finds this
    /// start unfinished refuses the cut-short demo rather than serve it.
    pub fn mark_demo(&self) -> Result<(), Failure> {
        if !self.whole {
            fs::write(self.dir.join(DEMO), b"")?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Everything is made and the database closed: marks the stage complete and moves it
    /// into place.
    pub fn commit(self) -> Result<(), Failure> {
        for e in fs::read_dir(&self.dir)? {
            let p = e?.path();
            if p.is_file() {
                fs::File::open(&p)?.sync_all()?;
            }
        }
        fs::write(self.dir.join(COMPLETE), b"")?;
        fs::File::open(self.dir.join(COMPLETE))?.sync_all()?;
        sync_dir(&self.dir)?;
        move_into_place(&self.dir, &self.data.data)?;
        Ok(())
    }
}

/// Moves a complete stage's files into `data`: keys first, the database last, so that its
/// presence always means a finished start. Files already moved (a move cut short) are
/// skipped.
fn move_into_place(stage: &Path, data: &Path) -> anyhow::Result<()> {
    let mut names: Vec<String> = fs::read_dir(stage)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n != COMPLETE && n != DEMO)
        .collect();
    // The database's journal before the database; its shared-memory index is rebuilt.
    let rank = |n: &str| match n {
        DATABASE => 3,
        n if n == format!("{DATABASE}-wal") => 2,
        n if n == format!("{DATABASE}-shm") => 1,
        _ => 0,
    };
    names.sort_by_key(|n| rank(n));
    for n in names {
        let from = stage.join(&n);
        let to = data.join(&n);
        if n == format!("{DATABASE}-shm") {
            fs::remove_file(&from)?;
            continue;
        }
        if to.exists() {
            anyhow::bail!(
                "cannot finish the first start: {} exists already beside {}",
                to.display(),
                from.display()
            );
        }
        fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    }
    sync_dir(data)?;
    fs::remove_dir_all(stage)?;
    sync_dir(data)?;
    Ok(())
}

/// Before a command opens `data`: finishes or removes what an interrupted first start left,
/// and says so on standard error.
pub async fn recover(data: &DataArgs) -> Result<Found, Failure> {
    let stage = data.data.join(STAGE);
    if !stage.is_dir() {
        return Ok(Found::Nothing);
    }
    if stage.join(COMPLETE).exists() {
        move_into_place(&stage, &data.data)?;
        eprintln!(
            "finished an interrupted first start: its complete files are now in {}",
            data.data.display()
        );
        return Ok(Found::Finished);
    }
    if data.database_url.is_some() {
        // Did the ledger of a staged key reach the database?
        let keys = Keys::new(&stage, data.registrant_passphrase_file.as_deref());
        let store = Store::open(&data.url()).await?;
        let mut reached = None;
        for k in keys.files()? {
            for l in store.ledgers().await? {
                if store.head(l.ledger).await?.registrant_key == k.public {
                    reached = Some(l.ledger);
                }
            }
        }
        store.close().await.ok();
        if let Some(ledger) = reached {
            if stage.join(DEMO).exists() {
                return Err(Failure::Usage(format!(
                    "the demo clinic's first start was cut short while recording ledger {ledger} \
                     into this database, which now holds it unfinished; nothing in a ledger is \
                     deleted, so serve the demo from a new database (its key is left in {})",
                    stage.display()
                )));
            }
            move_into_place(&stage, &data.data)?;
            eprintln!(
                "finished an interrupted first start: ledger {ledger} was in the database, its key \
                 is now in {}; a new bootstrap token is issued",
                data.data.display()
            );
            return Ok(Found::NeedsToken(ledger));
        }
    }
    fs::remove_dir_all(&stage)?;
    eprintln!(
        "removed an unfinished first start from {} (it was cut short before anything was \
         served): starting again",
        data.data.display()
    );
    Ok(Found::Removed)
}

/// Whether `data` still needs its first start: for SQLite, no database file yet; for
/// PostgreSQL, a database that holds no ledger.
pub async fn needed(data: &DataArgs) -> Result<bool, Failure> {
    match &data.database_url {
        None => Ok(!data.data.join(DATABASE).exists()),
        Some(url) => {
            let store = Store::open(url).await?;
            let empty = store.ledgers().await?.is_empty();
            store.close().await.ok();
            Ok(empty)
        }
    }
}
