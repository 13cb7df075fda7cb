//! Processes serving one data directory share the host's cores for key derivations
//! (docs/operations.md, "Several processes on one host"): a signature waits while another
//! process holds every core's slot, and goes on once it lets go.

use std::fs::{File, TryLockError};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::json;

use crate::harness::Server;

#[test]
fn a_sign_in_waits_for_a_core_another_process_holds() {
    let s = Server::demo();
    // This host's slots: a directory per running kernel.
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let at = s.data().join("key-derivations").join(boot.trim());
    let mut slots: Vec<PathBuf> = std::fs::read_dir(&at)
        .expect("custody serve made the directory of the host's core slots")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("slot-")
        })
        .collect();
    slots.sort();
    assert!(!slots.is_empty(), "one slot per core");

    // Another process (util-linux `flock`, as another `custody serve` would) holds every slot.
    let mut holder = Command::new("flock");
    holder.arg(&slots[0]);
    for slot in &slots[1..] {
        holder.arg("flock").arg(slot);
    }
    let mut holder = holder
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

    let (tx, rx) = std::sync::mpsc::channel();
    let (url, password) = (s.api("/session"), s.password("nurse.chen"));
    let signing_in = std::thread::spawn(move || {
        let r = Client::new()
            .post(url)
            .json(&json!({"username": "nurse.chen", "password": password}))
            .send()
            .unwrap();
        tx.send(r.status()).unwrap();
    });

    // The server queues for a slot: its waiter holds the queue file while it waits.
    let queue = at.join("queue");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        match File::open(&queue).unwrap().try_lock() {
            Err(TryLockError::WouldBlock) => break,
            Ok(()) => {}
            Err(TryLockError::Error(e)) => panic!("{e}"),
        }
        assert!(
            Instant::now() < until,
            "the server never queued for a core; its log:\n{}",
            s.log()
        );
        std::thread::yield_now();
    }
    assert!(
        rx.try_recv().is_err(),
        "no answer while every core is held elsewhere"
    );

    // The other process ends and lets go: the sign-in goes on.
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let status = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the sign-in is answered once a core is free");
    assert_eq!(status, StatusCode::OK);
    signing_in.join().unwrap();
}
