//! The crash suite: `kill -9` at moments spread over what the binary is doing, then a restart
//! that must finish the job.
//!
//! - The first start (database, migrations, registrant key, genesis, patient secret, bootstrap
//!   token; or the demo clinic), killed 20 times at moments spread over an uninterrupted
//!   start's length: every restart comes up, prints a bootstrap token that works (or serves
//!   the whole demo), and the ledger verifies.
//! - Concurrent signed writes, killed 20 times after a varying number of acknowledgments
//!   with more in flight: after a restart every acknowledged entry is there with the hash it
//!   was acknowledged with, and the ledger verifies.
//!
//! Each prints its trials and failures. The pauses before a kill are the fault being
//! injected (when to pull the plug), never a wait for something to happen.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::{custody, say, stderr, stdout};

const TRIALS: u32 = 20;

const REGISTRANT: [&str; 6] = [
    "--registrant-name",
    "Lakeside Ketamine Clinic",
    "--registrant-address",
    "12 Harbor Road\\nPortland, ME 04101",
    "--registrant-dea",
    "BL1234563",
];

fn serve_args<'a>(data: &'a str, pass: &'a str, demo: bool) -> Vec<&'a str> {
    let mut a = vec!["--data", data, "--registrant-passphrase-file", pass];
    if demo {
        a.push("--demo");
    } else {
        a.extend(REGISTRANT);
    }
    a
}

/// `custody serve ARGS` until it prints its address (or ends); the time that took.
fn start(args: &[&str]) -> (Child, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
        .env_remove("CUSTODY_DATABASE_URL")
        .env_remove("CUSTODY_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    use std::io::BufRead;
    for line in std::io::BufReader::new(out).lines() {
        if line.unwrap_or_default().starts_with("listening on ") {
            break;
        }
    }
    (child, t.elapsed())
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn verify(data: &Path) -> u64 {
    let o = custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stdout(&o)["ok: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Kills the first start of a new clinic (or the demo) at `trials` moments spread over an
/// uninterrupted start, restarting each; returns the failures' descriptions.
fn first_start_trials(demo: bool, trials: u32) -> Vec<String> {
    // How long an uninterrupted first start takes, and what it makes.
    let t = tempfile::tempdir().unwrap();
    let (data, pass) = (t.path().join("clinic"), t.path().join("passphrase"));
    let (d, p) = (data.to_str().unwrap(), pass.to_str().unwrap());
    let (child, whole) = start(&serve_args(d, p, demo));
    kill(child);
    let reference = verify(&data);

    let mut failures = Vec::new();
    for i in 0..trials {
        let t = tempfile::tempdir().unwrap();
        let (data, pass) = (t.path().join("clinic"), t.path().join("passphrase"));
        let (d, p) = (data.to_str().unwrap(), pass.to_str().unwrap());
        let args = serve_args(d, p, demo);
        let printed = t.path().join("printed");
        let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
            .arg("serve")
            .args(&args)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
            .stdout(std::fs::File::create(&printed).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The fault: pull the plug at the i-th of `trials` moments of a whole start.
        std::thread::sleep(whole * i / trials);
        let _ = child.kill();
        let _ = child.wait();
        // A token printed before the kill is what the operator holds, unless the restart
        // prints a newer one.
        let before = std::fs::read_to_string(&printed)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("bootstrap token ").map(str::to_string));

        let s = Server::with_args(&data, &args);
        let problem = if demo {
            let n = verify_served(&s, &data);
            (n != reference)
                .then(|| format!("trial {i}: the demo served {n} entries, not {reference}"))
        } else {
            bootstrap_works(&s, s.bootstrap.clone().or(before))
                .err()
                .or_else(|| {
                    (verify_served(&s, &data) < 2)
                        .then(|| format!("trial {i}: no enrollment recorded"))
                })
        };
        if let Some(p) = problem {
            failures.push(format!(
                "trial {i} (killed at {:?}): {p}",
                whole * i / trials
            ));
        }
    }
    failures
}

fn verify_served(s: &Server, data: &Path) -> u64 {
    let c = Client::new();
    let r = c.get(format!("{}/readyz", s.url())).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    verify(data)
}

/// The last token printed (by the killed start or the restart) enrolls the first admin.
fn bootstrap_works(s: &Server, token: Option<String>) -> Result<(), String> {
    let token = token.ok_or("no bootstrap token was printed, before the kill or after it")?;
    let r = Client::new()
        .post(s.api("/bootstrap"))
        .json(
            &json!({"token": token, "username": "admin.grey", "printed_name": "Sam Grey",
                      "password": "a long enough admin passphrase"}),
        )
        .send()
        .map_err(|e| e.to_string())?;
    if r.status() == StatusCode::OK {
        Ok(())
    } else {
        Err(format!(
            "the bootstrap token was refused: {}",
            r.text().unwrap_or_default()
        ))
    }
}

#[test]
fn killing_the_first_start_at_any_moment_never_stops_a_restart() {
    let clinic = first_start_trials(false, TRIALS);
    let demo = first_start_trials(true, 6);
    say(&format!(
        "crash suite, first start: {TRIALS} trials (new clinic), 6 trials (demo), {} failures",
        clinic.len() + demo.len()
    ));
    assert!(
        clinic.is_empty() && demo.is_empty(),
        "{clinic:#?}\n{demo:#?}"
    );
}

#[test]
fn killing_the_server_under_signed_writes_loses_no_acknowledged_entry() {
    let mut failures = Vec::new();
    let mut acknowledged_total = 0;
    for trial in 0..TRIALS {
        let mut s = Server::demo();
        let c = Client::new();
        let tokens = [s.login(&c, "pharm.rivera"), s.login(&c, "nurse.okafor")];
        let (tx, rx) = mpsc::channel::<(u64, String)>();
        let writers: Vec<_> = tokens
            .iter()
            .zip(["pharm.rivera", "nurse.okafor"])
            .map(|(token, user)| {
                let (tx, token, url, pw) = (
                    tx.clone(),
                    token.clone(),
                    s.api("/counts"),
                    s.password(user),
                );
                std::thread::spawn(move || {
                    let c = Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    for n in 0.. {
                        let body = json!({"password": pw, "location": "SAFE-1",
                                          "product": "42023-0113-10", "blind": true,
                                          "counted_sealed": n % 7});
                        let Ok(r) = c.post(&url).bearer_auth(&token).json(&body).send() else {
                            return; // the server is gone
                        };
                        if r.status() != StatusCode::OK {
                            return;
                        }
                        let Ok(v) = r.json::<Value>() else { return };
                        let (Some(seq), Some(hash)) = (v["seq"].as_u64(), v["hash"].as_str())
                        else {
                            return;
                        };
                        if tx.send((seq, hash.to_string())).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // The fault: kill -9 after 1 to 5 acknowledgments, with more in flight.
        let mut acked = Vec::new();
        let wanted = 1 + (trial as usize % 5);
        while acked.len() < wanted {
            acked.push(
                rx.recv_timeout(Duration::from_secs(120))
                    .expect("writes are acknowledged"),
            );
        }
        s.kill();
        for w in writers {
            w.join().unwrap();
        }
        // Anything acknowledged meanwhile counts too.
        acked.extend(rx.try_iter());
        acknowledged_total += acked.len();

        s.restart();
        let c = Client::new();
        let token = s.login(&c, "auditor.diaz");
        for (seq, hash) in &acked {
            let r = c
                .get(s.api(&format!("/entries/{seq}")))
                .bearer_auth(&token)
                .send()
                .unwrap();
            let found = r.status() == StatusCode::OK
                && r.json::<Value>()
                    .map(|v| v["hash"] == hash.as_str())
                    .unwrap_or(false);
            if !found {
                failures.push(format!(
                    "trial {trial}: acknowledged entry {seq} ({hash}) is missing or changed"
                ));
            }
        }
        let data = s.stop();
        verify(&data);
    }
    say(&format!(
        "crash suite, signed writes: {TRIALS} trials, {acknowledged_total} acknowledged entries checked, {} failures",
        failures.len()
    ));
    assert!(failures.is_empty(), "{failures:#?}");
}
