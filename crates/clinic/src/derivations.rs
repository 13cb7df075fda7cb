//! The threads that derive keys (Argon2id, 19 MiB each): one per core, each taking the next
//! derivation queued the moment it finishes one.
//!
//! More derivations at once than cores only evict each other from the caches and make every
//! signature slower. Before, a semaphore let one task per core hand its derivation to tokio's
//! blocking pool; between two derivations the permit passed through the async workers, which
//! share the same cores and are often busy, so a core could idle while a derivation waited
//! (issue 18, P3).

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use custody_store::CoreSlots;

use crate::error::{ClinicError, ClinicResult};

type Job = Box<dyn FnOnce() + Send>;

/// The queue of derivations and the threads that run them.
pub(crate) struct Derivations {
    queue: Sender<Job>,
}

impl Derivations {
    /// `threads` threads, ending once the queue is dropped.
    pub(crate) fn new(threads: usize) -> Derivations {
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = jobs.clone();
            // A thread that cannot start leaves the others; with none, `run` says so.
            let _ = std::thread::Builder::new()
                .name(format!("custody-kdf-{i}"))
                .spawn(move || work(&jobs));
        }
        Derivations { queue }
    }

    /// Runs `f` on a derivation thread, in its turn, holding one of `cores`' slots (the
    /// host's cores, shared with the other processes of the same data directory) if given.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        cores: Option<CoreSlots>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ClinicResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A slot that cannot be had (the directory gone, say) costs only the sharing:
            // the derivation still runs, within this process's own limit.
            let slot = cores.map(|c| c.take()).transpose().unwrap_or_else(|e| {
                tracing::warn!("key derivation without a shared core slot: {e}");
                None
            });
            let derived = f();
            // The core is free before its caller goes on.
            drop(slot);
            let _ = answer.send(derived);
        });
        self.queue
            .send(job)
            .map_err(|_| ClinicError::internal("no key-derivation thread is running"))?;
        answered
            .await
            .map_err(|_| ClinicError::internal("a key derivation failed"))
    }
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else { return };
        // A derivation that panics fails alone (its caller hears so); the thread goes on.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn derivations_run_on_the_threads_of_their_own_and_a_panic_fails_alone() {
        let d = Derivations::new(2);
        let mut names = Vec::new();
        for _ in 0..8 {
            let name = d
                .run(None, || std::thread::current().name().map(str::to_owned))
                .await
                .unwrap();
            names.push(name.unwrap_or_default());
        }
        assert!(
            names
                .iter()
                .all(|n| n == "custody-kdf-0" || n == "custody-kdf-1"),
            "{names:?}"
        );
        // A derivation that panics is an error for its caller alone; the thread goes on.
        let single = Derivations::new(1);
        let failed = single
            .run(None, || -> u32 { panic!("a broken derivation") })
            .await;
        assert!(matches!(failed, Err(ClinicError::Internal(_))));
        assert_eq!(single.run(None, || 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_derivation_holds_a_slot_of_the_hosts_cores_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let slots = CoreSlots::open(dir.path(), 1).unwrap();
        let d = Derivations::new(1);
        let probe = slots.clone();
        let free_inside = d
            .run(Some(slots.clone()), move || {
                probe.try_take().unwrap().is_some()
            })
            .await
            .unwrap();
        assert!(!free_inside, "the one slot is held by the derivation");
        assert!(slots.try_take().unwrap().is_some(), "and let go after");
    }
}
