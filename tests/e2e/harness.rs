//! One server harness for every end-to-end test that talks to `custody serve` over HTTP: the
//! real binary as a child process, listening on a free port of 127.0.0.1.
//!
//! - [`Server::demo`]: a private copy of the demo clinic ([`crate::demo`]), with its users'
//!   passwords;
//! - [`Server::fresh`]: an empty data directory that the binary initializes as a new clinic,
//!   with the one-time bootstrap token it prints;
//! - [`Server::demo_on_postgres`], [`Server::fresh_on_postgres`]: the same on a new
//!   PostgreSQL database, when `DATABASE_URL` names a server (`None` otherwise), and
//!   [`Server::another`]: a second process sharing its data directory and database;
//! - [`Server::restart`]: stop (SIGTERM, which must end it cleanly) and start again on the same
//!   data directory and database; [`Server::kill`]: `kill -9` (a restart follows);
//! - [`Server::with_args`]: `custody serve` with the caller's own arguments (settings tests).
//!
//! A server is ready once it has printed `listening on http://ADDR` (after binding the
//! socket) and then answered `GET /readyz` with 200: by then it is serving requests and has
//! set up its graceful shutdown, so a SIGTERM right away ends it cleanly. No test sleeps in
//! the hope that a server is up: the only pause is between two polls of `/readyz`. A thread
//! keeps reading the server's standard output, so later lines never meet a closed pipe; its
//! standard error goes to a log file that a failure to start quotes. Dropping a server kills
//! it, so a failed test leaves none behind.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use custody_store::scratch::{DroppedWhenGone, ScratchDatabase};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// How long a server may take to print its address: recording the demo into PostgreSQL
/// in a debug build takes a while.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// The registrant of a fresh clinic.
const REGISTRANT: [&str; 6] = [
    "--registrant-name",
    "Lakeside Ketamine Clinic",
    "--registrant-address",
    "12 Harbor Road\\nPortland, ME 04101",
    "--registrant-dea",
    "BL1234563",
];

/// Where a fresh clinic's registrant passphrase is generated: beside the data directory, not
/// in it, as an operator would keep it.
fn passphrase_file(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("registrant-passphrase")
        .to_str()
        .unwrap()
        .to_string()
}

/// The registrant's details and the passphrase file, for `custody serve`.
fn registrant_args(pass: &str) -> Vec<&str> {
    let mut a = REGISTRANT.to_vec();
    a.extend(["--registrant-passphrase-file", pass]);
    a
}

pub struct Server {
    child: Child,
    url: String,
    ledger: String,
    /// Sign-in names and passwords: the demo's, and any a test adds (a user it enrolled).
    pub passwords: HashMap<String, String>,
    /// The one-time token a freshly initialized server prints (`None` when it served a
    /// ledger that was already there).
    pub bootstrap: Option<String>,
    /// `serve`'s arguments but the address, to start again with.
    args: Vec<String>,
    data: PathBuf,
    /// The PostgreSQL database it serves (shared with `another`), dropped after the last
    /// server on it stops.
    database: Option<Arc<PgDatabase>>,
    /// The server's standard error, one file per start.
    logs: tempfile::TempDir,
    starts: u32,
    /// Ended by [`Server::kill`]: nothing to terminate.
    killed: bool,
    /// The temporary directory holding `data`, for servers that own it.
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// `custody serve` on a private copy of the demo clinic.
    pub fn demo() -> Server {
        Server::demo_with(&[])
    }

    /// The demo clinic served with `extra` settings (`--idle-minutes 0`, say).
    pub fn demo_with(extra: &[&str]) -> Server {
        let (dir, data) = crate::demo_copy();
        let mut s = Server::launch(Some(dir), data, None, extra);
        s.passwords = crate::demo().passwords.clone();
        s
    }

    /// The name `web.rs` starts the demo clinic by.
    pub fn start() -> Server {
        Server::demo()
    }

    /// `custody serve` on an empty directory with the registrant's details: the binary
    /// initializes a new clinic (no one enrolled yet) and prints the bootstrap token.
    pub fn fresh() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("clinic");
        let pass = passphrase_file(&dir);
        let s = Server::launch(Some(dir), data, None, &registrant_args(&pass));
        assert!(
            s.bootstrap.is_some(),
            "a new clinic prints a bootstrap token"
        );
        s
    }

    /// The demo clinic recorded by `custody serve --demo` into a new PostgreSQL database
    /// (the registrant key in a new directory), or `None` without `DATABASE_URL`.
    pub fn demo_on_postgres() -> Option<Server> {
        let db = postgres_database()?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("keys");
        let s = Server::launch(Some(dir), data, Some(db), &["--demo"]);
        assert!(!s.passwords.is_empty(), "the demo prints its sign-ins");
        Some(s)
    }

    /// A new clinic initialized in a new PostgreSQL database, or `None` without
    /// `DATABASE_URL`.
    pub fn fresh_on_postgres() -> Option<Server> {
        let db = postgres_database()?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("keys");
        let pass = passphrase_file(&dir);
        let s = Server::launch(Some(dir), data, Some(db), &registrant_args(&pass));
        assert!(
            s.bootstrap.is_some(),
            "a new clinic prints a bootstrap token"
        );
        Some(s)
    }

    /// A second server process on this one's data directory and database, with the same
    /// settings: it finds the ledger there and serves it (no bootstrap token, no demo
    /// recorded again); it knows the same sign-ins.
    pub fn another(&self) -> Server {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut s = Server::spawn(None, self.data.clone(), self.database.clone(), args);
        s.passwords = self.passwords.clone();
        s
    }

    /// `custody serve` with exactly `args` (and a free port), for a server that finds its
    /// data directory itself (`--config FILE`); `data` is where it is expected to be.
    pub fn with_args(data: &Path, args: &[&str]) -> Server {
        Server::spawn(None, data.to_path_buf(), None, args.to_vec())
    }

    /// `custody serve --data DATA [--database-url URL] EXTRA…`.
    fn launch(
        dir: Option<tempfile::TempDir>,
        data: PathBuf,
        database: Option<Arc<PgDatabase>>,
        extra: &[&str],
    ) -> Server {
        let data_arg = data.to_str().unwrap().to_string();
        let mut args = vec!["--data", data_arg.as_str()];
        if let Some(db) = &database {
            args.extend(["--database-url", db.url()]);
        }
        args.extend(extra);
        Server::spawn(dir, data, database.clone(), args)
    }

    fn spawn(
        dir: Option<tempfile::TempDir>,
        data: PathBuf,
        database: Option<Arc<PgDatabase>>,
        args: Vec<&str>,
    ) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let (child, printed) = run(&args, &log_file(&logs, 0));
        let mut s = Server {
            child,
            url: String::new(),
            ledger: String::new(),
            passwords: HashMap::new(),
            bootstrap: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            data,
            database,
            logs,
            starts: 0,
            killed: false,
            _dir: dir,
        };
        s.take(printed);
        s
    }

    /// Stops the server (SIGTERM, a graceful shutdown that must succeed) and starts it again
    /// on the same data directory and database. It may listen on another port: [`url`]
    /// gives the new address. Sign-ins are kept; the bootstrap token is what the new process
    /// printed (none, once the ledger exists).
    ///
    /// [`url`]: Server::url
    pub fn restart(&mut self) {
        self.terminate();
        self.starts += 1;
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let (child, printed) = run(&args, &log_file(&self.logs, self.starts));
        self.child = child;
        self.take(printed);
    }

    /// Reads what a just-started server printed up to its address.
    fn take(&mut self, printed: Printed) {
        let lines = match printed {
            Ok(lines) => lines,
            Err(lines) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the server did not start (custody serve {}):\n{}",
                    self.args.join(" "),
                    lines.join("\n")
                );
            }
        };
        let out = lines.join("\n");
        let (passwords, _) = crate::demo_output(&out);
        self.passwords.extend(passwords);
        self.bootstrap = None;
        for line in &lines {
            if let Some(b) = line.strip_prefix("bootstrap token ") {
                self.bootstrap = Some(b.to_string());
            } else if let Some(l) = line.strip_prefix("ledger ") {
                self.ledger = l.to_string();
            } else if let Some(u) = line.strip_prefix("listening on ") {
                self.url = u.to_string();
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn ledger(&self) -> &str {
        &self.ledger
    }
    /// The data directory (for PostgreSQL, the registrant key's).
    pub fn data(&self) -> &Path {
        &self.data
    }
    /// The PostgreSQL database served, if it is one.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url())
    }
    /// `user`'s password (from [`Server::passwords`]).
    pub fn password(&self, user: &str) -> String {
        self.passwords
            .get(user)
            .unwrap_or_else(|| panic!("no password known for {user}"))
            .clone()
    }

    /// What the current start logged to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_file(&self.logs, self.starts)).unwrap_or_default()
    }

    /// The URL of `path` in the ledger's API.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1/ledgers/{}{path}", self.url, self.ledger)
    }

    /// Signs `user` in with their known password; the bearer token.
    pub fn login(&self, c: &Client, user: &str) -> String {
        let r = c
            .post(self.api("/session"))
            .json(&json!({"username": user, "password": self.password(user)}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{user} signs in");
        r.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A sealed 10 mg/mL vial: the last one of the demo's last receipt of that product (the
    /// demo takes vials from the front of each receipt).
    pub fn sealed_vial(&self, c: &Client, token: &str) -> String {
        let page: Value = c
            .get(self.api("/entries?kind=receipt&limit=1000"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let receipt = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["entry"]["body"]["product"] == "42023-0113-10")
            .unwrap()
            .clone();
        format!(
            "C{}-{}",
            receipt["seq"], receipt["entry"]["body"]["containers"]
        )
    }

    /// How many entries the ledger holds.
    pub fn entries(&self, c: &Client, token: &str) -> u64 {
        let h: Value = c
            .get(self.api("/head"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        h["entries"].as_u64().unwrap()
    }

    /// Stops the server with SIGTERM, which must end it cleanly; the data directory.
    pub fn stop(&mut self) -> PathBuf {
        self.terminate();
        self.data.clone()
    }

    /// `kill -9`: the server ends at once, mid-request; [`Server::restart`] starts it again.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.killed = true;
    }

    fn terminate(&mut self) {
        if std::mem::take(&mut self.killed) {
            return;
        }
        let status = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {}", self.child.id());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the server exits cleanly on SIGTERM: {status}"
        );
    }
}

impl Server {
    /// Posts the web sign-in form (no browser) with `c`: the answer as it comes.
    pub fn post_sign_in(&self, c: &Client, user: &str, password: &str) -> Response {
        c.post(format!("{}/ui/login", self.url()))
            .form(&[
                ("ledger", self.ledger()),
                ("username", user),
                ("password", password),
            ])
            .send()
            .expect("the sign-in form answers")
    }

    /// Signs in through the web sign-in form (no browser) and returns the session cookie.
    pub fn web_cookie(&self, user: &str, password: &str) -> String {
        let c = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let r = self.post_sign_in(&c, user, password);
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{user} signs in");
        session_cookie(&r)
    }
}

/// The `name=value` of the cookie an answer sets.
pub fn session_cookie(r: &Response) -> String {
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave a server behind (after stop, this does nothing).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a server printed up to and with `listening on …`, or, if it ended (or took too
/// long) first, what it printed and logged.
type Printed = Result<Vec<String>, Vec<String>>;

fn log_file(dir: &tempfile::TempDir, start: u32) -> PathBuf {
    dir.path().join(format!("serve-{start}.log"))
}

/// Starts `custody serve ARGS --listen 127.0.0.1:0` and waits until it prints its address.
fn run(args: &[&str], log: &Path) -> (Child, Printed) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("CUSTODY_DATABASE_URL")
        .env_remove("CUSTODY_DATA")
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // After the address nobody listens; the thread still drains the pipe.
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let url = line.strip_prefix("listening on ").map(String::from);
                lines.push(line);
                if let Some(url) = url {
                    match ready(&url, &mut child, deadline) {
                        Ok(()) => return (child, Ok(lines)),
                        Err(e) => {
                            lines.push(format!("({e}; its log follows)"));
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                // Ended, or still silent at the deadline.
                lines.push(format!("({e}; its log follows)"));
                break;
            }
        }
    }
    // What it said on its way.
    let _ = child.kill();
    let _ = child.wait();
    lines.extend(
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(String::from),
    );
    (child, Err(lines))
}

/// Polls `URL/readyz` until it answers 200, the server ends, or `deadline` passes.
fn ready(url: &str, child: &mut Child, deadline: Instant) -> Result<(), String> {
    let c = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    loop {
        match c.get(format!("{url}/readyz")).send() {
            Ok(r) if r.status() == StatusCode::OK => return Ok(()),
            Ok(r) => {
                if Instant::now() > deadline {
                    return Err(format!("/readyz still answers {}", r.status()));
                }
            }
            Err(e) => {
                if Instant::now() > deadline {
                    return Err(format!("/readyz: {e}"));
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("the server ended: {status}"));
        }
        // Not ready yet (migrations pending, say): ask again shortly.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A signed-in person over the API: signs in with a password and sends JSON with the bearer
/// token (the e2e tests that build a clinic step by step).
pub struct As<'a> {
    c: &'a Client,
    s: &'a Server,
    pub token: String,
}

impl<'a> As<'a> {
    pub fn login(c: &'a Client, s: &'a Server, user: &str, password: &str) -> As<'a> {
        let r = c
            .post(s.api("/session"))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{user} signs in");
        let token = r.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        As { c, s, token }
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.c
            .post(self.s.api(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .unwrap()
    }

    /// POSTs and asserts success; the answer's JSON (null if none).
    pub fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body);
        let status = r.status();
        let text = r.text().unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn get_ok(&self, path: &str) -> Response {
        let r = self
            .c
            .get(self.s.api(path))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r
    }

    /// GETs and asserts 200; the answer's JSON.
    pub fn get(&self, path: &str) -> Value {
        self.get_ok(path).json().unwrap()
    }

    /// GETs and asserts 200; the answer's bytes.
    pub fn bytes(&self, path: &str) -> Vec<u8> {
        self.get_ok(path).bytes().unwrap().to_vec()
    }

    /// How many entries the ledger holds.
    pub fn entries(&self) -> u64 {
        self.get("/head")["entries"].as_u64().unwrap()
    }
}

/// A refusal: `status`, the stable `code`, and a sentence.
pub fn error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().unwrap().len() > 10, "{body}");
}

/// A PostgreSQL database made for one test. It is dropped, with whatever is still connected
/// to it, once nothing holds it, so that test runs do not pile databases up on the
/// machine's server.
pub struct PgDatabase(DroppedWhenGone);

impl PgDatabase {
    pub fn url(&self) -> &str {
        self.0.url()
    }
}

/// A fresh PostgreSQL database for this test, when `DATABASE_URL` names a server.
pub fn postgres_database() -> Option<Arc<PgDatabase>> {
    let admin = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt
        .block_on(ScratchDatabase::create_for(&admin, "e2e"))
        .expect("create a test database on DATABASE_URL's server");
    Some(Arc::new(PgDatabase(db.dropped_when_gone())))
}

/// Says on standard error that a PostgreSQL test was skipped, naming it.
pub fn skipped_without_postgres(what: &str) {
    use std::io::Write;
    let _ = std::io::stderr()
        .write_all(format!("note: DATABASE_URL is not set: {what} was skipped\n").as_bytes());
}

#[test]
fn a_restarted_server_serves_the_same_ledger_to_the_same_sign_ins() {
    let mut s = Server::demo();
    let c = Client::new();
    let auditor = s.login(&c, "auditor.diaz");
    let before = s.entries(&c, &auditor);
    let ledger = s.ledger().to_string();
    s.restart();
    assert_eq!(s.ledger(), ledger);
    assert!(s.bootstrap.is_none(), "nothing to initialize on a restart");
    let auditor = s.login(&c, "auditor.diaz");
    assert_eq!(s.entries(&c, &auditor), before);
    assert_eq!(
        c.get(format!("{}/readyz", s.url()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let data = s.stop();
    let o = crate::custody(&["verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
}
