//! # custody-store
//!
//! Persistence for custody ledgers with sea-orm: SQLite by default, PostgreSQL for scale, from
//! one build, chosen by the database URL.
//!
//! - An append is one transaction: lock the ledger's head row (an IMMEDIATE transaction on
//!   SQLite, `SELECT … FOR UPDATE` on PostgreSQL), load the rows the entry touches, apply the
//!   ledger's rules to them, check the signatures, insert the entry with `seq` as primary key,
//!   write the touched rows and the head back, commit. Gapless under any number of writers.
//! - Verification reads the stored bytes and checks every stored column against them.
//! - Export writes JSONL; import replays it into an empty database through the same rules.

pub mod append;
pub mod busy;
pub mod chain;
pub mod clock;
pub mod core_slots;
pub mod cosignatures;
pub mod entities;
pub mod error;
pub mod export;
pub mod keystore;
pub mod labels;
mod materialized;
pub mod patient_secret;
pub mod pmp;
pub mod queries;
pub mod reads;
pub mod rems;
pub mod requests;
mod rows;
pub mod scratch;
pub mod sessions;
pub mod tiles;
pub mod tree;
pub mod verify;
pub mod workflow;

use std::path::Path;
use std::time::Duration;

use custody_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

pub use append::Appended;
pub use chain::ChainShape;
pub use core_slots::{CoreSlot, CoreSlots};
pub use error::StoreError;
pub use labels::PatientLabel;
pub use pmp::{Prescription, RegistrantIds};
pub use queries::{HeadInfo, LedgerInfo};
pub use reads::{ContainerInfo, EntryFilter, EntryPage};
pub use rems::{BloodPressure, CONCOMITANT_CLASSES, RemsRecord};
pub use requests::{AttemptRow, PriorOutcome, PriorRequest, RequestRecord};
pub use workflow::{PatientRecord, PendingEntry, RemsEnrollment};

/// A connection pool to one custody database, migrated to the current schema.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Connections whose commits do not wait for the disk: password attempts only
    /// (`requests.rs`). See [`Durability::Carried`].
    attempts: DatabaseConnection,
    cache: append::Cache,
    /// The registrant keys that seal appended entries (format version 3), by ledger.
    sequencers: append::Sequencers,
    /// Whether appends keep the Merkle tree (always, but for the benchmark's comparison).
    maintain_tree: bool,
    /// Whether drafts of format versions 1 and 2 may be appended (only for the benchmark's
    /// comparison with the append of those versions).
    legacy_drafts: bool,
}

/// The SQLite database URL for a data directory.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("custody.db").display())
}

/// How much of a SQLite database a serving process reads through a memory map.
const MMAP_BYTES: u64 = 256 << 20;

/// A PostgreSQL connection idle this long is pinged before it is used again.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// What a store is opened for, which decides how it reads SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A command that reads through the ledger once (a report, verification, an export):
    /// pages through each connection's own small cache, so the process holds no more of the
    /// file than that cache however long the ledger.
    Scans,
    /// A server answering the same screens again and again: pages through a memory map, so
    /// a page missing from a connection's cache is no system call and no copy, and a long
    /// ledger's screens cost what a short one's do (issue 18, P5). Mapped pages are the
    /// operating system's file cache, shared and reclaimable, but they count in the
    /// process's resident memory as they are read.
    Serving,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, true, Reads::Scans).await
    }

    /// As [`Store::open`], for a server: SQLite is read through a memory map (see `Reads`).
    pub async fn open_serving(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, true, Reads::Serving).await
    }

    /// As [`Store::open`], but never repairs what it finds: verification reads the database
    /// as it is (a discrepancy's resolution reset by hand is then reported, not put back).
    /// Migrations still run: a schema behind this binary cannot be read.
    pub async fn open_to_verify(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, false, Reads::Scans).await
    }

    async fn open_with(url: &str, repair: bool, reads: Reads) -> Result<Self, StoreError> {
        let db = Database::connect(connect_options(url, reads, Durability::Synced)).await?;
        let attempts = Database::connect(connect_options(url, reads, Durability::Carried)).await?;
        // Discrepancies learn which adjustment resolved them in version 4; a ledger older
        // than that has it filled in once, from its adjustments.
        let backfill = Migrator::get_pending_migrations(&db)
            .await?
            .iter()
            .any(|m| m.name() == "m20261129_000004_requests");
        Migrator::up(&db, None).await?;
        let store = Self {
            db,
            attempts,
            cache: append::Cache::default(),
            sequencers: append::Sequencers::default(),
            maintain_tree: true,
            legacy_drafts: false,
        };
        if backfill || (repair && store.any_open_discrepancy().await?) {
            store.backfill_resolutions().await?;
        }
        Ok(store)
    }

    /// For `custody bench` only: appends without keeping the Merkle tree, to measure its cost.
    /// A ledger written so cannot serve proofs or checkpoints.
    #[doc(hidden)]
    pub fn bench_without_tree(mut self) -> Self {
        self.maintain_tree = false;
        self
    }

    /// For `custody bench` only: appends drafts of format versions 1 and 2 as they were
    /// appended before version 3 (no signing times, no sequencer signature), to measure what
    /// version 3 costs. Never for a ledger people work in: such entries are not sealed to
    /// their place in the chain.
    #[doc(hidden)]
    pub fn bench_legacy_drafts(mut self) -> Self {
        self.legacy_drafts = true;
        self
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Whether the schema is at the newest migration.
    pub async fn migrations_current(&self) -> Result<bool, StoreError> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.is_empty())
    }

    /// The connections for password attempts ([`Durability::Carried`]).
    pub(crate) fn attempts_connection(&self) -> &DatabaseConnection {
        &self.attempts
    }

    pub async fn close(self) -> Result<(), StoreError> {
        self.attempts.close().await?;
        self.db.close().await?;
        Ok(())
    }
}

pub mod bench;

/// When a connection's commit is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// Before the commit returns (SQLite `synchronous=FULL`; PostgreSQL's
    /// `synchronous_commit` as the server sets it): every entry, every table it changes,
    /// every request id.
    Synced,
    /// With the next synced commit, whichever connection makes it, or sooner (SQLite
    /// `synchronous=NORMAL` in WAL mode: at the next checkpoint; PostgreSQL
    /// `synchronous_commit=off`: within the WAL writer's delay, 200 ms by default). Both
    /// write one log in order, so a synced commit carries every commit before it to disk. A
    /// process that is killed loses nothing; a power cut, an operating system crash or (on
    /// PostgreSQL) a crash of the database server can lose the commits since the last synced
    /// one. For password attempts alone: a signed write reserves one before the key
    /// derivation and forgets it after, and those two commits each waited for the disk as
    /// long as the append's (issue 18, P3). What a loss costs: the attempts counted just
    /// before a power cut may count again or not at all; none of it is in the ledger.
    Carried,
}

/// How to connect to `url` for `reads`, with commits durable as `durability` says.
fn connect_options(url: &str, reads: Reads, durability: Durability) -> ConnectOptions {
    let mmap = match reads {
        Reads::Scans => 0,
        Reads::Serving => MMAP_BYTES,
    };
    let sqlite = url.starts_with("sqlite");
    let mut opt = ConnectOptions::new(url.to_owned());
    // sqlx pings every connection it hands out: on SQLite a round trip to the
    // connection's thread before each statement outside a transaction (issue 18, P3).
    // An embedded connection cannot be dropped by a server, so SQLite's are not pinged;
    // PostgreSQL's are only once idle long enough that the server, a proxy or a restart
    // may have closed them.
    if sqlite {
        opt.test_before_acquire(false);
    } else {
        opt.test_before_acquire_if_idle_for(PING_AFTER_IDLE);
    }
    let connections = match (durability, sqlite) {
        (Durability::Synced, true) => 4,
        (Durability::Synced, false) => 8,
        (Durability::Carried, _) => 2,
    };
    let synchronous = match durability {
        Durability::Synced => SqliteSynchronous::Full,
        Durability::Carried => SqliteSynchronous::Normal,
    };
    opt.sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(60))
        .max_connections(connections)
        .map_sqlx_sqlite_opts(move |o| {
            // WAL lets readers run beside the one writer; FULL makes every commit
            // durable before it is acknowledged (an acknowledged entry survives a crash),
            // NORMAL leaves it to the next FULL one (`Durability::Carried`).
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(60))
                .foreign_keys(true)
                .pragma("mmap_size", mmap.to_string())
        })
        // PostgreSQL's synced commits keep the server's own setting (a replicated cluster
        // may wait for its standbys too).
        .map_sqlx_postgres_opts(move |o| match durability {
            Durability::Synced => o,
            Durability::Carried => o.options([("synchronous_commit", "off")]),
        })
        // The busy timeout above covers a connection until this replaces it (busy.rs).
        .map_sqlx_sqlite_pool_opts(|o| {
            o.after_connect(|conn, _| Box::pin(async move { busy::install(conn).await }))
        });
    opt
}

impl Store {
    /// Writes a consistent copy of this SQLite database to `path` (`VACUUM INTO`: a snapshot
    /// taken in one read transaction, so appends may go on meanwhile). PostgreSQL's backups
    /// are its own tools' (see docs/operations.md).
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        if self.backend() != DbBackend::Sqlite {
            return Err(StoreError::Proof(
                "this database is PostgreSQL: back it up with pg_dump (see docs/operations.md)"
                    .into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::corrupt("the backup's path is not UTF-8"))?
            .replace('\'', "''");
        self.connection()
            .execute_unprepared(&format!("VACUUM INTO '{target}'"))
            .await?;
        Ok(())
    }

    /// Opens an SQLite database file (a backup) at `path`.
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        Self::open(&format!("sqlite://{}?mode=rw", path.display())).await
    }
}
