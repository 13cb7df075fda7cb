//! Processes serving one data directory share the host's cores for key derivations
//! (docs/operations.md, "Several processes on one host"): a signature waits while another
//! process holds every core's slot, and goes on once it lets go.

use std::fs::{File, TryLockError};
use std::time::{Duration, Instant};

use custody_store::CoreSlots;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::json;

use crate::harness::Server;

#[test]
fn a_sign_in_waits_for_a_core_another_process_holds() {
    let s = Server::demo();
    // This test's process holds every slot of the server's host, as another `custody serve`
    // deriving on every core would.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = CoreSlots::of_this_host(&s.data().join("key-derivations"), cores).unwrap();
    let held: Vec<_> = (0..cores)
        .map(|_| {
            slots
                .try_take()
                .unwrap()
                .expect("a slot free while the server idles")
        })
        .collect();

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
    let queue = slots.dir().join("queue");
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

    // The other process lets go: the sign-in goes on.
    drop(held);
    let status = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the sign-in is answered once a core is free");
    assert_eq!(status, StatusCode::OK);
    signing_in.join().unwrap();
}
