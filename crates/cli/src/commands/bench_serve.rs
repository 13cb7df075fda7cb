//! What the HTTP benchmarks share: `custody serve` child processes (this very binary), the
//! demo clinic's writers signed in, and the signed-write load — `POST …/counts`, each a full
//! signing ceremony — that concurrent clients put on one server or several.
//! `custody bench --http` drives one server on SQLite; `custody bench --postgres` several on
//! one PostgreSQL database.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Failure;

/// The demo clinic's users who may record a count: the benches' writers, one account each.
/// An account opens one key at a time (`Clinic::turn`), so clients sharing one wait for each
/// other as no two people do; every name here must be a demo user.
pub(crate) const WRITERS: [&str; 5] = [
    "nurse.chen",
    "nurse.okafor",
    "pharm.rivera",
    "nurse.santos",
    "nurse.brandt",
];

/// How long a stopped server may take to finish its requests and its last checkpoint.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `custody serve`; dropping it kills the process.
pub(crate) struct ServeChild {
    child: std::process::Child,
    pub url: String,
    pub ledger: String,
    /// The sign-ins a server recording the demo prints (none from a server that found the
    /// ledger already there).
    pub passwords: HashMap<String, String>,
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        // After `stop` the process is gone and this does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeChild {
    /// Starts `custody serve ARGS --listen 127.0.0.1:0` (its warnings to `log`) and waits for
    /// it to print its address, which it does once it listens.
    pub(crate) fn start(args: &[OsString], log: &Path) -> Result<Self, Failure> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("CUSTODY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| Failure::Other(anyhow::anyhow!("no stdout from the server")))?;
        let mut s = ServeChild {
            child,
            url: String::new(),
            ledger: String::new(),
            passwords: HashMap::new(),
        };
        let mut lines = BufReader::new(out).lines();
        for line in lines.by_ref() {
            let line = line?;
            let words: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with("  ") && words.len() == 3 {
                s.passwords.insert(words[0].into(), words[2].into());
            } else if let Some(l) = line.strip_prefix("ledger ") {
                s.ledger = l.into();
            } else if let Some(u) = line.strip_prefix("listening on ") {
                s.url = u.into();
                break;
            }
        }
        if s.url.is_empty() {
            let logged = std::fs::read_to_string(log).unwrap_or_default();
            return Err(Failure::Other(anyhow::anyhow!(
                "the server did not start:\n{}",
                logged.trim_end()
            )));
        }
        // Whatever it prints later must not meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(s)
    }

    /// CPU time the server's threads have used so far (Linux: the sum of each thread's
    /// `schedstat`, in nanoseconds); none where `/proc` does not tell.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut ns = 0u64;
        for t in tasks.flatten() {
            let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(ns))
    }

    /// The URL of `path` in the served ledger's API.
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}/api/v1/ledgers/{}{path}", self.url, self.ledger)
    }

    /// Stops the server as an operator would (SIGTERM: it finishes its requests and signs a
    /// last checkpoint) and checks that it ended cleanly.
    pub(crate) fn stop(mut self) -> Result<(), Failure> {
        let pid = i32::try_from(self.child.id())
            .map_err(|_| Failure::Other(anyhow::anyhow!("a process id out of range")))?;
        // SAFETY: signals our own child, which has not been waited for (so the id is its).
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(Failure::Other(anyhow::anyhow!(
                    "the server at {} ended with {status} on SIGTERM",
                    self.url
                )));
            }
            if Instant::now() > deadline {
                return Err(Failure::Other(anyhow::anyhow!(
                    "the server at {} did not stop within {} s of SIGTERM",
                    self.url,
                    STOP_TIMEOUT.as_secs()
                )));
            }
            // A process's end cannot be awaited with a timeout from std: look again shortly.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A signed-in writer: the bearer token and the password each signature needs.
#[derive(Clone)]
pub(crate) struct Writer {
    pub token: String,
    pub password: String,
}

/// Signs in the demo's [`WRITERS`], with the passwords `server` printed as it recorded the
/// demo.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    server: &ServeChild,
) -> Result<Vec<Writer>, Failure> {
    let mut writers = Vec::new();
    for u in WRITERS {
        let pw = server.passwords.get(u).ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "the server printed no password for the demo user {u}"
            ))
        })?;
        let r: serde_json::Value = http
            .post(server.api("/session"))
            .json(&json!({"username": u, "password": pw}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = r["token"].as_str().unwrap_or_default().to_string();
        writers.push(Writer {
            token,
            password: pw.clone(),
        });
    }
    Ok(writers)
}

/// What a write phase achieved.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// Answered 2xx: recorded and durable.
    pub acknowledged: u64,
    /// Refused, failed or unanswered.
    pub refused: u64,
    pub seconds: f64,
}

impl Writes {
    /// Adds another phase's writes and time to these.
    pub(crate) fn add(&mut self, other: &Writes) {
        self.acknowledged += other.acknowledged;
        self.refused += other.refused;
        self.seconds += other.seconds;
    }

    pub(crate) fn rate(&self) -> f64 {
        self.acknowledged as f64 / self.seconds
    }
}

/// One client per `(counts URL, writer)`, each sending a blind count of the demo's
/// ketamine at SAFE-1 as soon as its last one is answered, for `d`.
pub(crate) async fn signed_writes(
    http: &reqwest::Client,
    clients: Vec<(String, Writer)>,
    d: Duration,
) -> Writes {
    let acknowledged = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (url, w) in clients {
        let http = http.clone();
        let (acknowledged, refused, stop) = (acknowledged.clone(), refused.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(&url)
                    .bearer_auth(&w.token)
                    .json(&json!({"password": w.password, "location": "SAFE-1",
                                  "product": "42023-0115-05", "blind": true, "counted_sealed": 0}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        acknowledged.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // The phase's length, not a wait for anything to happen.
    tokio::time::sleep(d).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    Writes {
        acknowledged: acknowledged.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Latencies of `GET url` from `readers` clients, each sending one request every `period`
/// (offset evenly), counted from when each request was due — so a server that stalls is never
/// hidden by clients that wait for it — until `until` resolves. Sorted; failures left out.
pub(crate) async fn paced_reads(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    readers: u32,
    period: Duration,
    until: impl std::future::Future<Output = ()>,
) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let begin = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for i in 0..readers {
        let (http, url, token, stop) = (
            http.clone(),
            url.to_string(),
            token.to_string(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut due = begin + period * i / readers;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep_until(due).await;
                let ok = match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(due.elapsed());
                }
                due += period;
            }
            lat
        }));
    }
    until.await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    all.sort();
    all
}

/// The `p` quantile (0 to 1) of `sorted`.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
