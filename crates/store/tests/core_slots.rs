//! The host's cores shared out for key derivations (`CoreSlots`): a slot held by one taker
//! — another thread, another process — is held for all, a taker that finds none waits for
//! the one whose holder started first, and a slot comes free when its holder lets go or dies.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use custody_store::CoreSlots;

/// How long a wait for something the test caused may take before it counts as never.
const NEVER: Duration = Duration::from_secs(60);

#[test]
fn a_slot_is_held_for_every_other_taker_until_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let slots = CoreSlots::open(&dir.path().join("key-derivations"), 2).unwrap();
    let a = slots.try_take().unwrap().expect("a first slot");
    let b = slots.try_take().unwrap().expect("a second slot");
    assert_ne!(a.index(), b.index(), "two takers, two slots");
    assert!(
        slots.try_take().unwrap().is_none(),
        "no third slot on two cores"
    );
    drop(a);
    let c = slots.try_take().unwrap().expect("the slot let go");
    assert_ne!(c.index(), b.index());
}

#[test]
fn the_directory_is_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("key-derivations");
    CoreSlots::open(&at, 3).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&at), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&at)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["queue", "slot-0", "slot-1", "slot-2"]);
    for n in &names {
        assert_eq!(mode(&at.join(n)), 0o600, "{n}");
    }
}

#[test]
fn each_running_kernel_has_slots_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("key-derivations");
    let slots = CoreSlots::of_this_host(&at, 2).unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(slots.dir(), at.join(boot.trim()));
    assert!(slots.dir().join("slot-1").exists());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&at), 0o700);
    assert_eq!(mode(slots.dir()), 0o700);
    // Another process of this host finds the same slots.
    let again = CoreSlots::of_this_host(&at, 2).unwrap();
    let _a = slots.try_take().unwrap().unwrap();
    let _b = again.try_take().unwrap().unwrap();
    assert!(slots.try_take().unwrap().is_none());
}

/// Another process holds every slot (util-linux `flock`, as a second `custody serve` would):
/// nothing is free until it exits, and then its slots are.
#[test]
fn slots_held_by_another_process_are_free_once_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("key-derivations");
    let slots = CoreSlots::open(&at, 2).unwrap();
    let mut holder = Command::new("flock")
        .arg(at.join("slot-0"))
        .arg("flock")
        .arg(at.join("slot-1"))
        .args(["sh", "-c", "echo held; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux flock runs");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    assert!(
        slots.try_take().unwrap().is_none(),
        "every slot is held by the other process"
    );
    // It ends (its standard input closed) and lets go of both.
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let a = slots.try_take().unwrap().expect("a slot once it is gone");
    let b = slots.try_take().unwrap().expect("the other too");
    assert_ne!(a.index(), b.index());
}

/// With every slot held, a taker waits for the one whose holder started first — the next to
/// come free — and gets it when it does, while the other is still held.
#[test]
fn a_taker_waits_for_the_first_started_slot() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("key-derivations");
    let slots = CoreSlots::open(&at, 2).unwrap();
    let first = slots.try_take().unwrap().unwrap();
    // The second holder starts strictly later.
    let t = std::time::SystemTime::now();
    while std::time::SystemTime::now().duration_since(t).unwrap() < Duration::from_micros(2) {
        std::hint::spin_loop();
    }
    let second = slots.try_take().unwrap().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let slots = slots.clone();
        std::thread::spawn(move || tx.send(slots.take().unwrap().index()).unwrap())
    };
    // The kernel lists the waiter's lock request (`->`) under the file it waits for.
    let inode = |i: usize| {
        std::fs::metadata(at.join(format!("slot-{i}")))
            .unwrap()
            .ino()
    };
    let waits_on = wait_for_blocked_flock(&[inode(first.index()), inode(second.index())]);
    assert_eq!(
        waits_on,
        inode(first.index()),
        "it waits for the slot taken first"
    );
    drop(first);
    let got = rx.recv_timeout(NEVER).expect("the waiter gets a slot");
    assert_ne!(got, second.index(), "the other slot is still held");
    waiter.join().unwrap();
    drop(second);
}

/// The inode of the file on which a lock request is waiting (`/proc/locks`'s `->` lines),
/// among `inodes`; polled until one appears.
fn wait_for_blocked_flock(inodes: &[u64]) -> u64 {
    let until = Instant::now() + NEVER;
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        for line in locks.lines().filter(|l| l.contains("->")) {
            // "12: -> FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF"
            let blocked = line
                .split_whitespace()
                .filter(|f| f.matches(':').count() == 2)
                .filter_map(|f| f.rsplit(':').next()?.parse::<u64>().ok())
                .find(|i| inodes.contains(i));
            if let Some(i) = blocked {
                return i;
            }
        }
        assert!(Instant::now() < until, "no waiter appeared in /proc/locks");
        std::thread::yield_now();
    }
}
