//! Argon2's working memory (19 MiB at the default cost), kept from one derivation to the
//! next. Allocating it afresh for each, as `hash_password_into` does, zeroes it and faults
//! every page in again: a tenth of a signed write's CPU on the server (issue 18, P3). What a
//! derivation leaves there would yield its key, so it is wiped before it is kept.
//!
//! The memory asks the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)`, which
//! Linux's usual `madvise` setting grants only to those who ask). Argon2id reads a block from
//! anywhere in memory already written for each block it writes: with 4 KiB pages nearly every
//! one of those reads misses the TLB and walks the page tables; 2 MiB pages cover 19 MiB
//! with ten entries. Measured on the project machine, Argon2id alone on both cores: 140
//! keys a second against 126 (issue 18, docs/performance.md). Where the kernel offers no
//! huge pages the advice changes nothing.

use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{LazyLock, Mutex};

use argon2::Block;
use zeroize::Zeroize;

use super::KeyError;

/// A huge page on x86-64 and on ARM64 with 4 KiB base pages.
const HUGE_PAGE: usize = 2 << 20;

// Blocks laid end to end, as Argon2 addresses them: 1 KiB each, aligned well within a page.
const _: () = assert!(size_of::<Block>() == 1024 && HUGE_PAGE.is_multiple_of(align_of::<Block>()));

/// At most one buffer per core is kept: the server derives at most one key per core at once.
pub(super) static KEPT: Mutex<Vec<Memory>> = Mutex::new(Vec::new());
/// Asked once: the answer reads the process's CPU affinity and cgroup limits.
static CORES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

/// Argon2 blocks in memory of our own: starting on a huge page's boundary and ending on one,
/// so every page of it can be a huge one.
pub(super) struct Memory {
    blocks: NonNull<Block>,
    len: usize,
    layout: Layout,
}

// SAFETY: `Memory` owns its allocation alone, as a `Vec<Block>` would; `Block` is plain data.
unsafe impl Send for Memory {}

impl Memory {
    fn new(len: usize) -> Result<Memory, KeyError> {
        let too_much = || KeyError::Malformed("not enough memory for its Argon2 cost");
        let size = len
            .checked_mul(size_of::<Block>())
            .and_then(|s| s.checked_next_multiple_of(HUGE_PAGE))
            .filter(|s| *s > 0)
            .ok_or_else(too_much)?;
        let layout = Layout::from_size_align(size, HUGE_PAGE).map_err(|_| too_much())?;
        // SAFETY: the layout's size is not zero (checked above).
        let blocks = NonNull::new(unsafe { std::alloc::alloc(layout) }.cast::<Block>())
            .ok_or_else(too_much)?;
        // Asked before any page of it is touched, so that each page is a huge one from its
        // first use on. Refused (a kernel without transparent huge pages), the memory is
        // simply made of small pages.
        // SAFETY: the range is our allocation, whose start is page-aligned.
        let _ = unsafe { libc::madvise(blocks.as_ptr().cast(), size, libc::MADV_HUGEPAGE) };
        // SAFETY: `size` bytes from `blocks` are ours; all zeros is a valid `Block`.
        unsafe { blocks.as_ptr().cast::<u8>().write_bytes(0, size) };
        Ok(Memory {
            blocks,
            len,
            layout,
        })
    }
}

impl Deref for Memory {
    type Target = [Block];
    fn deref(&self) -> &[Block] {
        // SAFETY: `len` initialised blocks from `blocks`, owned by `self`.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr(), self.len) }
    }
}

impl DerefMut for Memory {
    fn deref_mut(&mut self) -> &mut [Block] {
        // SAFETY: as in `deref`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len) }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `Memory::new` with this layout, freed only here.
        unsafe { std::alloc::dealloc(self.blocks.as_ptr().cast(), self.layout) }
    }
}

/// Kept memory of `blocks` blocks, or new memory. Of the kept, the one given back last: its
/// wipe has just written it, so more of it is still in the processor's caches (one
/// derivation at a time after a burst: ≈ 4 % faster than taking the one kept longest).
pub(super) fn take(blocks: usize) -> Result<Memory, KeyError> {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = kept.iter().rposition(|m| m.len() == blocks) {
        return Ok(kept.remove(i));
    }
    drop(kept);
    Memory::new(blocks)
}

/// Wipes `memory` and keeps it; when as many are kept as there are cores, the one kept
/// longest goes (freed after the lock is let go), so memory of a cost no longer derived with
/// gives way.
pub(super) fn give_back(mut memory: Memory) {
    memory.iter_mut().for_each(Zeroize::zeroize);
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let gone = (kept.len() >= *CORES).then(|| kept.remove(0));
    kept.push(memory);
    drop(kept);
    drop(gone);
}
