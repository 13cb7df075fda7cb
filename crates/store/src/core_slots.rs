//! The host's cores, shared out for key derivations between the processes that use one data
//! directory.
//!
//! A key derivation (Argon2id, 19 MiB) is worth running only on a core of its own: a process
//! already runs at most one per core, but three `custody serve` processes on one host would
//! run three per core between them, and the host then derives fewer keys a second than one
//! process does (issue 18, P6: five at once on two cores derive ≈ 10 % fewer). So a derivation
//! also takes one of the host's slots, one per core: an advisory lock (`flock`) on one of the
//! files `slot-0` … `slot-{n-1}` of a directory (one per running kernel). The kernel lets go
//! of a lock when its holder closes the file or dies, `kill -9` included, so no slot is ever
//! lost.
//!
//! A derivation that finds every slot taken queues on the file `queue`: the one at its head
//! waits for the slot whose holder started first (each holder writes when it started into
//! its slot), which is the next to come free since every derivation costs the same. The
//! others wait for the queue, not for a slot, so a freed slot never waits for someone
//! blocked on another.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The slots of one directory: as many as `cores`.
#[derive(Debug, Clone)]
pub struct CoreSlots {
    dir: PathBuf,
    cores: usize,
}

/// A slot held: dropping it (closing its file) frees it.
#[derive(Debug)]
pub struct CoreSlot {
    index: usize,
    _file: File,
}

impl CoreSlot {
    /// Which slot: `slot-{index}`.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl CoreSlots {
    /// This host's slots in `dir`: a directory of their own per running kernel, named by its
    /// boot id, so that every process of one host (containers too: they share its kernel and
    /// cores) shares them, while hosts that mount one data directory from a network volume
    /// never throttle each other.
    pub fn of_this_host(dir: &Path, cores: usize) -> io::Result<CoreSlots> {
        owners_directory(dir)?;
        CoreSlots::open(&dir.join(boot_id()?), cores)
    }

    /// The slots of `dir` (made 0700, its files 0600, if missing), one per core of `cores`.
    pub fn open(dir: &Path, cores: usize) -> io::Result<CoreSlots> {
        owners_directory(dir)?;
        let slots = CoreSlots {
            dir: dir.to_path_buf(),
            cores: cores.max(1),
        };
        // Every file made now, so a fault shows at start, not at the first signature.
        for i in 0..slots.cores {
            slots.file(&format!("slot-{i}"))?;
        }
        slots.file("queue")?;
        Ok(slots)
    }

    /// Where the slots are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A free slot, or `None` when every one is held.
    pub fn try_take(&self) -> io::Result<Option<CoreSlot>> {
        // Starting from a different slot each time spreads the tries.
        let start = usize::try_from(crate::clock::now_micros()).unwrap_or(0) % self.cores;
        for k in 0..self.cores {
            let index = (start + k) % self.cores;
            let file = self.file(&format!("slot-{index}"))?;
            match file.try_lock() {
                Ok(()) => return Ok(Some(held(index, file)?)),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        Ok(None)
    }

    /// A slot, waiting for one if every one is held (a blocking call: for a thread of its
    /// own, such as tokio's blocking pool).
    pub fn take(&self) -> io::Result<CoreSlot> {
        if let Some(slot) = self.try_take()? {
            return Ok(slot);
        }
        let queue = self.file("queue")?;
        queue.lock()?;
        // A slot may have come free while this waited for the queue.
        if let Some(slot) = self.try_take()? {
            return Ok(slot);
        }
        let index = self.first_started()?;
        let file = self.file(&format!("slot-{index}"))?;
        file.lock()?;
        // The queue is let go only now: the next in it waits for another slot.
        let slot = held(index, file);
        drop(queue);
        slot
    }

    /// The slot whose holder started first (the next to come free). A holder that has not
    /// written its start yet is read as its slot's last holder, or as none: a wrong guess,
    /// made only in that instant, costs a wait for the other slot.
    fn first_started(&self) -> io::Result<usize> {
        let mut first = (0, i64::MAX);
        for i in 0..self.cores {
            let mut at = [0u8; 8];
            let file = self.file(&format!("slot-{i}"))?;
            let n = file.read_at(&mut at, 0)?;
            let started = if n == 8 { i64::from_be_bytes(at) } else { 0 };
            if started < first.1 {
                first = (i, started);
            }
        }
        Ok(first.0)
    }

    /// Each take opens its own file: a lock belongs to the open file, so two threads of one
    /// process sharing one would both hold it.
    fn file(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(name))
    }
}

/// Makes `dir` (and what it is in) if missing, and the owner's alone.
fn owners_directory(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// The running kernel's boot id (a UUID), as a directory name.
fn boot_id() -> io::Result<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?;
    let id = id.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel's boot id is no UUID: {id:?}"),
        ));
    }
    Ok(id.to_string())
}

/// Marks `file`'s slot as started now, for those who wait for the first to come free.
fn held(index: usize, file: File) -> io::Result<CoreSlot> {
    file.write_at(&crate::clock::now_micros().to_be_bytes(), 0)?;
    Ok(CoreSlot { index, _file: file })
}
