//! Checkpoints that issue themselves: `custody serve` signs one when a ledger has grown (at
//! start, every `--checkpoint-every` seconds, and at shutdown), and hands out the newest as a
//! signed note to anyone.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::Server;

fn head_size(s: &Server, c: &Client, token: &str) -> u64 {
    let h: Value = c
        .get(s.api("/head"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    h["entries"].as_u64().unwrap_or_else(|| panic!("{h}"))
}

/// The newest checkpoint's size, as the public note says (`None` before the first).
fn note_size(s: &Server, c: &Client) -> Option<u64> {
    let r = c.get(s.api("/checkpoint")).send().unwrap();
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let note = r.text().unwrap();
    let mut lines = note.lines();
    assert_eq!(
        lines.next(),
        Some(format!("custody.ledger/{}", s.ledger()).as_str()),
        "{note}"
    );
    let size = lines.next().unwrap().parse().unwrap();
    assert!(note.contains("\n\n\u{2014} custody.ledger/"), "{note}");
    Some(size)
}

/// Polls (a pause between polls, bounded) until the public checkpoint covers `size`.
fn wait_for_checkpoint(s: &Server, c: &Client, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while note_size(s, c) < Some(size) {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of size {size} was issued"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_server_signs_checkpoints_by_itself_and_hands_out_the_newest() {
    let mut s = Server::demo_with(&["--checkpoint-every", "1"]);
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    // At start: the demo's whole history.
    let size = head_size(&s, &c, &pharm);
    wait_for_checkpoint(&s, &c, size);
    assert_eq!(note_size(&s, &c), Some(size));

    // A count recorded: within a second or so, a checkpoint covers it.
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(&pharm)
        .json(
            &json!({"password": s.password("pharm.rivera"), "location": "SAFE-1",
                      "product": "42023-0113-10", "blind": true, "counted_sealed": 1}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    wait_for_checkpoint(&s, &c, size + 1);

    // No session is needed, and an unknown ledger is 404.
    let r = c
        .get(format!(
            "{}/api/v1/ledgers/01935a2b-0000-7000-8000-000000000009/checkpoint",
            s.url()
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop();
}

#[test]
fn what_was_recorded_before_a_shutdown_is_checkpointed_at_shutdown() {
    // A timer that would not tick again during the test: only the start and the shutdown
    // issue checkpoints.
    let mut s = Server::demo_with(&["--checkpoint-every", "86400"]);
    let c = Client::new();
    let pharm = s.login(&c, "pharm.rivera");
    let size = head_size(&s, &c, &pharm);
    wait_for_checkpoint(&s, &c, size);
    let r = c
        .post(s.api("/counts"))
        .bearer_auth(&pharm)
        .json(
            &json!({"password": s.password("pharm.rivera"), "location": "SAFE-1",
                      "product": "42023-0113-10", "blind": true, "counted_sealed": 1}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(note_size(&s, &c), Some(size), "the timer has not ticked");
    let data = s.stop();
    // Read from the database the stopped server left.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let newest = rt.block_on(async {
        let store = custody_store::Store::open(&custody_store::sqlite_url(&data))
            .await
            .unwrap();
        let l = store.ledgers().await.unwrap()[0].ledger;
        let c = store.checkpoints(l, 1).await.unwrap();
        store.close().await.unwrap();
        c[0].checkpoint.size
    });
    assert_eq!(
        newest,
        size + 1,
        "the shutdown signed the last entry's checkpoint"
    );
}

#[test]
fn a_checkpoint_interval_of_nothing_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let o = crate::custody(&[
        "serve",
        "--data",
        t.path().to_str().unwrap(),
        "--demo",
        "--checkpoint-every",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // The setting's own refusal, not clap's for a flag it does not know.
    assert!(
        crate::stderr(&o).contains("--checkpoint-every must be at least 1 second"),
        "{}",
        crate::stderr(&o)
    );
}
