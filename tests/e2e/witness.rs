//! `custody witness` as its own process over real HTTP (C2SP tlog-witness): a real ledger's
//! checkpoints (`custody checkpoint`, `custody prove`) cosigned, every refusal with the
//! spec's status, the state kept across a restart, and concurrent submissions from one old
//! size advancing it once. Cosignatures and vkeys are checked with `signed_note`
//! (cloudflare/azul), an independent implementation of C2SP signed notes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use custody_ledger::PublicKey;
use custody_ledger::checkpoint::Checkpoint;
use custody_ledger::merkle::{self, Hash, Leaves};
use custody_ledger::note::{Vkey, verify_cosignature_line};
use ed25519_dalek::SigningKey;
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

use crate::*;

const NAME: &str = "director.example.org/witness";

/// A demo ledger with what a misbehaving log would have: its registrant key in clear, and
/// its leaves to sign any prefix (or a fork) of it.
struct Log {
    t: tempfile::TempDir,
    d: PathBuf,
    origin: String,
    vkey: String,
    key: SigningKey,
    leaves: Vec<Hash>,
}

impl Log {
    fn new() -> Log {
        let (t, d) = demo_copy();
        let o = custody(&["status", "--data", d.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let vkey = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("checkpoint vkey "))
            .unwrap_or_else(|| panic!("status prints the checkpoint vkey: {}", stdout(&o)))
            .to_string();
        let origin = vkey.split('+').next().unwrap().to_string();
        assert!(origin.starts_with("custody.ledger/"));
        // The registrant key, opened as the demo keeps it (its passphrase beside it).
        let text = std::fs::read_to_string(d.join("registrant.key")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let public: PublicKey = lines[1].parse().unwrap();
        let pass = std::fs::read_to_string(d.join("registrant.pass")).unwrap();
        let key = custody_store::keystore::unseal(
            &hex::decode(lines[2]).unwrap(),
            pass.trim_end(),
            &public.key_id(),
        )
        .unwrap();
        // The leaves: the entry hashes of an export.
        let file = t.path().join("ledger.jsonl");
        let o = custody(&[
            "export",
            "--data",
            d.to_str().unwrap(),
            "-o",
            file.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let leaves = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                merkle::leaf_hash(&hex::decode(v["hash"].as_str().unwrap()).unwrap())
            })
            .collect();
        Log {
            t,
            d,
            origin,
            vkey,
            key,
            leaves,
        }
    }

    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    fn root(&self, size: u64) -> Hash {
        merkle::root(&mut Leaves(&self.leaves), size)
    }

    /// A checkpoint of the first `size` entries signed with `key`, as a note.
    fn signed(&self, size: u64, root: Hash, key: &SigningKey) -> String {
        Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        }
        .sign(key)
        .to_note()
    }

    fn checkpoint(&self, size: u64) -> String {
        self.signed(size, self.root(size), &self.key)
    }

    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        merkle::consistency_proof(&mut Leaves(&self.leaves), old, new).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.t.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// `custody witness serve` as a child process.
pub(crate) struct WitnessServer {
    child: Child,
    pub(crate) url: String,
    args: Vec<String>,
    log: PathBuf,
}

impl WitnessServer {
    pub(crate) fn start(args: Vec<String>, log: PathBuf) -> WitnessServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
            .args(["witness", "serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env_remove("CUSTODY_WITNESS_PASSPHRASE")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("listening on ") {
                        break u.to_string();
                    }
                }
                Err(e) => panic!(
                    "the witness did not start ({e}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        };
        let s = WitnessServer {
            child,
            url,
            args,
            log,
        };
        // Ready once it answers (the socket was bound before the address was printed).
        let r = Client::new()
            .get(format!("{}/{}/checkpoint", s.url, "00"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404);
        s
    }

    fn post(&self, body: &str) -> (u16, Option<String>, String) {
        let r = Client::new()
            .post(format!("{}/add-checkpoint", self.url))
            .body(body.to_string())
            .send()
            .unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), ct, r.text().unwrap())
    }

    /// SIGTERM, which must end it cleanly, then the same arguments again.
    pub(crate) fn restart(&mut self) {
        let status = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the witness exits cleanly on SIGTERM: {status}"
        );
        let log = self.log.with_extension("2.log");
        *self = WitnessServer::start(self.args.clone(), log);
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `custody witness init` of a witness named `name` in `dir/stem` (its passphrase generated
/// into `dir/stem-passphrase`), started witnessing the log of `log_vkey`. Returns the
/// witness and its vkey.
pub(crate) fn start_witness(
    dir: &Path,
    stem: &str,
    name: &str,
    log_vkey: &str,
) -> (WitnessServer, String) {
    let wdir = dir.join(stem);
    let pass = dir.join(format!("{stem}-passphrase"));
    let o = custody(&[
        "witness",
        "init",
        "--data",
        wdir.to_str().unwrap(),
        "--name",
        name,
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vkey = stdout(&o).trim().to_string();
    let args = vec![
        "--data".to_string(),
        wdir.to_str().unwrap().to_string(),
        "--passphrase-file".to_string(),
        pass.to_str().unwrap().to_string(),
        "--log".to_string(),
        log_vkey.to_string(),
    ];
    let w = WitnessServer::start(args, dir.join(format!("{stem}.log")));
    (w, vkey)
}

/// The witness of `log`, in its directory.
fn witness_for(log: &Log) -> (WitnessServer, String) {
    start_witness(log.t.path(), "witness", NAME, &log.vkey)
}

fn body(old: u64, proof: &[Hash], note: &str) -> String {
    custody_witness::add_checkpoint_body(old, proof, note)
}

/// A `signed_note` verifier of `cosignature/v1`: the key ID from `signed_note`'s function,
/// the message as tlog-cosignature writes it.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureV1 {
    /// From the vkey's text, read here by hand (signed_note 0.2 knows only type 0x01).
    fn from_vkey(vkey: &str) -> Self {
        let parts: Vec<&str> = vkey.splitn(3, '+').collect();
        let raw = B64.decode(parts[2]).unwrap();
        assert_eq!(raw[0], 0x04, "a cosignature/v1 vkey");
        let id = signed_note::key_id(parts[0], &raw);
        assert_eq!(format!("{id:08x}"), parts[1], "the vkey's key ID");
        CosignatureV1 {
            name: parts[0].to_string(),
            id,
            key: ed25519_dalek::VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap(),
        }
    }
}

impl signed_note::Verifier for CosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 72 {
            return false;
        }
        let ts = u64::from_be_bytes(sig[..8].try_into().unwrap());
        let mut m = format!("cosignature/v1\ntime {ts}\n").into_bytes();
        m.extend_from_slice(msg);
        let s = ed25519_dalek::Signature::from_bytes(sig[8..].try_into().unwrap());
        ts > 0 && self.key.verify_strict(&m, &s).is_ok()
    }
}

/// Checks the cosignature `answer` on `note` with signed_note (the log's signature with its
/// own verifier, the cosignature with the witness vkey) and with the ledger crate.
fn check_cosigned(note: &str, answer: &str, log_vkey: &str, witness_vkey: &str) {
    let cosigned = format!("{note}{answer}");
    let n = signed_note::Note::from_bytes(cosigned.as_bytes()).unwrap();
    let (verified, unverified) = n
        .verify(&signed_note::VerifierList::new(vec![
            Box::new(signed_note::StandardVerifier::new(log_vkey).unwrap()),
            Box::new(CosignatureV1::from_vkey(witness_vkey)),
        ]))
        .unwrap_or_else(|e| panic!("signed_note refuses {cosigned:?}: {e}"));
    assert_eq!((verified.len(), unverified.len()), (2, 0));
    let cp = custody_ledger::checkpoint::SignedCheckpoint::parse(note).unwrap();
    let w = Vkey::parse(witness_vkey).unwrap();
    let ts = verify_cosignature_line(answer, &cp.checkpoint, &w).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts <= now && ts + 300 > now, "{ts} vs {now}");
}

#[test]
fn a_witness_cosigns_a_real_ledger_and_refuses_every_inconsistent_checkpoint() {
    let log = Log::new();
    let (mut w, wvkey) = witness_for(&log);
    // The witness's directory and key are its owner's alone; the passphrase is not there.
    let wdir = log.t.path().join("witness");
    assert_eq!(
        std::fs::metadata(&wdir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let key_mode = std::fs::metadata(wdir.join("witness.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let pass = std::fs::read_to_string(log.t.path().join("witness-passphrase")).unwrap();
    for f in std::fs::read_dir(&wdir).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(pass.trim().len())
                .any(|x| x == pass.trim().as_bytes())
        );
    }
    // Its vkey: signed_note computes the same key ID (and knows no algorithm 0x04 by name).
    assert!(wvkey.starts_with(&format!("{NAME}+")));
    assert!(matches!(
        signed_note::StandardVerifier::new(&wvkey),
        Err(signed_note::VerifierError::Alg)
    ));
    CosignatureV1::from_vkey(&wvkey);

    // The ledger as it stood at 200 entries, and as it stands: `custody checkpoint` signs the
    // latter and `custody prove` gives the consistency proof between them.
    let n = log.size();
    assert!(n > 220, "{n}");
    let old_note = log.checkpoint(200);
    let old_file = log.file("old.txt", &old_note);
    let new_file = log.t.path().join("new.txt");
    let d = log.d.to_str().unwrap();
    let o = custody(&["checkpoint", "--data", d, "-o", new_file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let new_note = std::fs::read_to_string(&new_file).unwrap();
    assert_eq!(new_note, log.checkpoint(n), "the leaves are the ledger's");
    let o = custody(&[
        "prove",
        "--data",
        d,
        "--from-checkpoint",
        old_file.to_str().unwrap(),
        "--to-checkpoint",
        new_file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let proof: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let path: Vec<Hash> = proof["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    assert_eq!(path, log.proof(200, n));

    // The first checkpoint, from old size 0: cosigned.
    let (s, _, answer) = w.post(&body(0, &[], &old_note));
    assert_eq!(s, 200, "{answer}");
    check_cosigned(&old_note, &answer, &log.vkey, &wvkey);

    // Old size 0 again: 409, the size held as text/x.tlog.size.
    let (s, ct, text) = w.post(&body(0, &[], &new_note));
    assert_eq!(
        (s, ct.as_deref(), text.as_str()),
        (409, Some("text/x.tlog.size"), "200\n")
    );
    assert_eq!(custody_witness::parse_size_body(&text).unwrap(), 200);
    // A bad proof: 422.
    let mut bad = path.clone();
    bad[0][31] ^= 1;
    assert_eq!(w.post(&body(200, &bad, &new_note)).0, 422);
    assert_eq!(w.post(&body(200, &path[1..], &new_note)).0, 422);
    // Signed by a key the witness does not know, same origin: 403.
    let stranger = custody_ledger::vectors::seeded_key("not the registrant");
    let strange = log.signed(n, log.root(n), &stranger);
    assert_eq!(w.post(&body(200, &path, &strange)).0, 403);
    // Another ledger's origin: 404.
    let other = Checkpoint {
        origin: "custody.ledger/01935a2b-0000-7000-8000-0000000000ff".into(),
        size: 1,
        root: [1; 32],
    }
    .sign(&log.key)
    .to_note();
    assert_eq!(w.post(&body(0, &[], &other)).0, 404);
    // Malformed: 400.
    assert_eq!(w.post("old 200\nnot a hash\n\n").0, 400);
    assert_eq!(w.post(&format!("old 0200\n\n{new_note}")).0, 400);

    // The real proof: cosigned.
    let (s, _, answer) = w.post(&body(200, &path, &new_note));
    assert_eq!(s, 200, "{answer}");
    check_cosigned(&new_note, &answer, &log.vkey, &wvkey);

    // Rollbacks are never cosigned: the old checkpoint from the size held (old size above
    // the checkpoint's: 400), or from its own size (409); the same size with another root
    // (a rewritten ledger, signed by the registrant key): 422.
    assert_eq!(w.post(&body(n, &[], &old_note)).0, 400);
    assert_eq!(
        w.post(&body(200, &[], &old_note)).1.as_deref(),
        Some("text/x.tlog.size")
    );
    let mut fork_leaves = log.leaves.clone();
    fork_leaves[(n - 1) as usize] = merkle::leaf_hash(b"a rewritten last entry");
    let fork_root = merkle::root(&mut Leaves(&fork_leaves), n);
    let fork = log.signed(n, fork_root, &log.key);
    let (s, _, text) = w.post(&body(n, &[], &fork));
    assert_eq!(s, 422, "{text}");
    // …nor a longer rewrite with a proof from the rewritten tree.
    fork_leaves.push(merkle::leaf_hash(b"one more"));
    let longer = Checkpoint {
        origin: log.origin.clone(),
        size: n + 1,
        root: merkle::root(&mut Leaves(&fork_leaves), n + 1),
    }
    .sign(&log.key)
    .to_note();
    let fork_proof = merkle::consistency_proof(&mut Leaves(&fork_leaves), n, n + 1).unwrap();
    assert_eq!(w.post(&body(n, &fork_proof, &longer)).0, 422);

    // Restarted, it holds what it held and keeps refusing.
    w.restart();
    assert_eq!(w.post(&body(n, &[], &fork)).0, 422);
    let (s, _, text) = w.post(&body(0, &[], &new_note));
    assert_eq!((s, text.as_str()), (409, format!("{n}\n").as_str()));
    let (s, _, answer) = w.post(&body(n, &[], &new_note));
    assert_eq!(s, 200);
    check_cosigned(&new_note, &answer, &log.vkey, &wvkey);
    // A monitor reads the newest cosigned checkpoint by the origin's hash.
    let hash = hex::encode(Sha256::digest(log.origin.as_bytes()));
    let r = Client::new()
        .get(format!("{}/{hash}/checkpoint", w.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let held = r.text().unwrap();
    assert!(held.starts_with(&new_note), "{held}");
    check_cosigned(&new_note, &held[new_note.len()..], &log.vkey, &wvkey);
}

#[test]
fn concurrent_adds_from_one_old_size_advance_the_witness_exactly_once() {
    let log = Log::new();
    let (w, _) = witness_for(&log);
    assert_eq!(w.post(&body(0, &[], &log.checkpoint(200))).0, 200);
    let bodies: Vec<(u64, String)> = (201..=216)
        .map(|n| (n, body(200, &log.proof(200, n), &log.checkpoint(n))))
        .collect();
    let barrier = std::sync::Barrier::new(bodies.len());
    let results: Vec<(u64, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|(n, b)| {
                let (w, barrier) = (&w, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (status, _, text) = w.post(b);
                    (*n, status, text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<u64> = results.iter().filter(|r| r.1 == 200).map(|r| r.0).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for (_, status, text) in &results {
        if *status != 200 {
            assert_eq!((*status, text.clone()), (409, format!("{}\n", won[0])));
        }
    }
    // What it holds is the winner's: from there, it goes on.
    let next = won[0] + 1;
    let (s, _, _) = w.post(&body(
        won[0],
        &log.proof(won[0], next),
        &log.checkpoint(next),
    ));
    assert_eq!(s, 200);
}
