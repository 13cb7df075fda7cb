//! The witness's checks through its public functions, on a real SQLite file, and its
//! cosignatures and vkey checked with `signed_note` (cloudflare/azul), an independent
//! implementation of C2SP signed notes.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use custody_ledger::PublicKey;
use custody_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use custody_ledger::merkle::{self, Hash, Leaves};
use custody_ledger::note::{Cosignature, Note, Vkey, verify_cosignature_line};
use custody_ledger::vectors::seeded_key;
use ed25519_dalek::SigningKey;

use super::*;

const ORIGIN: &str = "custody.ledger/01935a2b-0000-7000-8000-000000000001";
const NAME: &str = "witness.example/w1";

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| merkle::leaf_hash(&(i as u64).to_be_bytes()))
        .collect()
}

struct Log {
    key: SigningKey,
    leaves: Vec<Hash>,
}

impl Log {
    fn new(key: &str) -> Log {
        Log {
            key: seeded_key(key),
            leaves: leaves(100),
        }
    }
    fn vkey(&self) -> Vkey {
        Vkey::ed25519(ORIGIN, PublicKey::from(&self.key)).unwrap()
    }
    fn checkpoint(&self, size: u64) -> SignedCheckpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: merkle::root(&mut Leaves(&self.leaves), size),
        }
        .sign(&self.key)
    }
    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 {
            return vec![];
        }
        merkle::consistency_proof(&mut Leaves(&self.leaves), old, new).unwrap()
    }
    fn request(&self, old: u64, new: u64) -> String {
        add_checkpoint_body(old, &self.proof(old, new), &self.checkpoint(new).to_note())
    }
}

async fn witness(dir: &Path, log: &Log) -> Witness {
    Witness::open(dir, NAME, seeded_key("witness"), vec![log.vkey()])
        .await
        .unwrap()
}

fn status(r: Result<String, WitnessError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    }
}

/// A `signed_note` verifier of `cosignature/v1` signatures: the key ID from `signed_note`'s
/// own function, the message as the spec writes it.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureV1 {
    fn new(name: &str, key: &PublicKey) -> Self {
        let mut k = vec![0x04];
        k.extend_from_slice(&key.to_bytes());
        CosignatureV1 {
            name: name.into(),
            id: signed_note::key_id(name, &k),
            key: *key.verifying_key(),
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

#[tokio::test]
async fn the_first_checkpoint_is_cosigned_and_signed_note_verifies_the_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = witness(dir.path(), &log).await;
    let cp = log.checkpoint(10);
    let line = w
        .add_checkpoint(log.request(0, 10).as_bytes())
        .await
        .unwrap();
    // Ours: one line, checked against the witness vkey.
    assert!(line.starts_with(&format!("\u{2014} {NAME} ")));
    assert_eq!(line.matches('\n').count(), 1);
    let ts = verify_cosignature_line(&line, &cp.checkpoint, w.vkey()).unwrap();
    assert!(ts > 1_700_000_000);
    assert_eq!(parse_cosignatures(&line).unwrap().len(), 1);

    // signed_note's: the checkpoint with the cosignature appended, verified with the log's
    // vkey (signed_note's own Ed25519 verifier) and the witness's key.
    let cosigned = format!("{}{line}", cp.to_note());
    let note = signed_note::Note::from_bytes(cosigned.as_bytes()).unwrap();
    let log_verifier = signed_note::StandardVerifier::new(&log.vkey().to_string()).unwrap();
    let witness_verifier = CosignatureV1::new(NAME, w.vkey().public_key());
    let (verified, unverified) = note
        .verify(&signed_note::VerifierList::new(vec![
            Box::new(log_verifier),
            Box::new(witness_verifier),
        ]))
        .unwrap();
    assert_eq!((verified.len(), unverified.len()), (2, 0));
    // A cosignature moved to another checkpoint fails signed_note's check.
    let other = format!("{}{line}", log.checkpoint(11).to_note());
    let note = signed_note::Note::from_bytes(other.as_bytes()).unwrap();
    assert!(matches!(
        note.verify(&signed_note::VerifierList::new(vec![Box::new(
            CosignatureV1::new(NAME, w.vkey().public_key())
        )])),
        Err(signed_note::NoteError::InvalidSignature { .. })
    ));
    // The body is a checkpoint for tlog_tiles too.
    let parsed = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!((parsed.origin(), parsed.size()), (ORIGIN, 11));
}

#[tokio::test]
async fn the_store_hands_out_connections_without_a_ping() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(dir.path()).await.unwrap();
    let pool = store.connection().get_sqlite_connection_pool();
    assert!(!pool.options().get_test_before_acquire());
}

#[tokio::test]
async fn the_vkeys_key_ids_are_the_ones_signed_note_computes() {
    let w = seeded_key("witness");
    let v = Vkey::cosignature_v1(NAME, PublicKey::from(&w))
        .unwrap()
        .to_string();
    let parts: Vec<&str> = v.splitn(3, '+').collect();
    let raw = B64.decode(parts[2]).unwrap();
    assert_eq!(raw[0], 0x04);
    assert_eq!(&raw[1..], PublicKey::from(&w).to_bytes());
    assert_eq!(
        u32::from_str_radix(parts[1], 16).unwrap(),
        signed_note::key_id(NAME, &raw)
    );
    // signed_note checks the key ID of any vkey before its algorithm, which it does not
    // know for 0x04: an `Alg` refusal means the ID matched.
    assert!(matches!(
        signed_note::StandardVerifier::new(&v),
        Err(signed_note::VerifierError::Alg)
    ));
    // The log's checkpoint vkey (0x01) is a signed_note verifier key as it stands.
    let log = Log::new("log");
    let sv = signed_note::StandardVerifier::new(&log.vkey().to_string()).unwrap();
    use signed_note::Verifier as _;
    assert_eq!(sv.name(), ORIGIN);
    assert_eq!(
        sv.key_id().to_be_bytes(),
        custody_ledger::checkpoint::key_hash(ORIGIN, &PublicKey::from(&log.key))
    );
}

#[tokio::test]
async fn a_checkpoint_signed_by_signed_note_is_witnessed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = witness(dir.path(), &log).await;
    // The log's key as a signed_note signer key: PRIVATE+KEY+name+id+base64(0x01 ‖ seed).
    let mut public = vec![0x01];
    public.extend_from_slice(&PublicKey::from(&log.key).to_bytes());
    let mut private = vec![0x01];
    private.extend_from_slice(&log.key.to_bytes());
    let skey = format!(
        "PRIVATE+KEY+{ORIGIN}+{:08x}+{}",
        signed_note::key_id(ORIGIN, &public),
        B64.encode(private)
    );
    let signer = signed_note::StandardSigner::new(&skey).unwrap();
    let body = log.checkpoint(7).checkpoint.body();
    let mut note = signed_note::Note::new(body.as_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let text = String::from_utf8(note.to_bytes()).unwrap();
    assert_eq!(text, log.checkpoint(7).to_note());
    let req = add_checkpoint_body(0, &[], &text);
    assert_eq!(status(w.add_checkpoint(req.as_bytes()).await), 200);
}

#[tokio::test]
async fn each_refusal_has_the_spec_status_and_nothing_inconsistent_is_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = witness(dir.path(), &log).await;
    assert_eq!(
        status(w.add_checkpoint(log.request(0, 10).as_bytes()).await),
        200
    );
    // Malformed: 400.
    assert_eq!(status(w.add_checkpoint(b"old 10\n\nnot a note").await), 400);
    // Old size above the checkpoint's: 400.
    let r = add_checkpoint_body(12, &[], &log.checkpoint(11).to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 400);
    // Wrong old size: 409 with the size held.
    match w.add_checkpoint(log.request(5, 20).as_bytes()).await {
        Err(WitnessError::Conflict { held }) => assert_eq!(held, 10),
        other => panic!("{other:?}"),
    }
    // A bad proof: 422.
    let mut proof = log.proof(10, 20);
    proof[0][0] ^= 1;
    let r = add_checkpoint_body(10, &proof, &log.checkpoint(20).to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 422);
    // Another key, same origin: 403; a trusted key's signature that fails: 403.
    let stranger = Log::new("someone else");
    assert_eq!(
        status(w.add_checkpoint(stranger.request(10, 20).as_bytes()).await),
        403
    );
    let forged = log.checkpoint(20).to_note().replacen("\n20\n", "\n21\n", 1);
    let r = add_checkpoint_body(10, &log.proof(10, 21), &forged);
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 403);
    // Another origin: 404.
    let elsewhere = Checkpoint {
        origin: "custody.ledger/elsewhere".into(),
        size: 1,
        root: [0; 32],
    }
    .sign(&log.key);
    let r = add_checkpoint_body(0, &[], &elsewhere.to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 404);
    // Same size, another root: 422. Same size, same root: cosigned again.
    let fork = Checkpoint {
        origin: ORIGIN.into(),
        size: 10,
        root: [5; 32],
    }
    .sign(&log.key);
    let r = add_checkpoint_body(10, &[], &fork.to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 422);
    assert_eq!(
        status(w.add_checkpoint(log.request(10, 10).as_bytes()).await),
        200
    );
    // Old size 0 with a proof: 422 only if it matches what is held, else 409.
    let r = add_checkpoint_body(0, &[[1; 32]], &log.checkpoint(20).to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 409);
    // Nothing refused moved the witness.
    assert_eq!(w.held(ORIGIN).await.unwrap().unwrap().size, 10);
    // A consistent one does.
    assert_eq!(
        status(w.add_checkpoint(log.request(10, 20).as_bytes()).await),
        200
    );
    assert_eq!(w.held(ORIGIN).await.unwrap().unwrap().size, 20);
}

#[tokio::test]
async fn the_empty_tree_and_a_proof_from_zero_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = witness(dir.path(), &log).await;
    let zero_bad = Checkpoint {
        origin: ORIGIN.into(),
        size: 0,
        root: [1; 32],
    }
    .sign(&log.key);
    let r = add_checkpoint_body(0, &[], &zero_bad.to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 422);
    let r = add_checkpoint_body(0, &[[1; 32]], &log.checkpoint(3).to_note());
    assert_eq!(status(w.add_checkpoint(r.as_bytes()).await), 422);
    assert_eq!(
        status(w.add_checkpoint(log.request(0, 0).as_bytes()).await),
        200
    );
    assert_eq!(
        status(w.add_checkpoint(log.request(0, 3).as_bytes()).await),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_from_one_old_size_advance_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::new("log"));
    let w = Arc::new(witness(dir.path(), &log).await);
    assert_eq!(
        status(w.add_checkpoint(log.request(0, 10).as_bytes()).await),
        200
    );
    let mut tasks = Vec::new();
    for n in 11..=30u64 {
        let (w, log) = (w.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            (
                n,
                status(w.add_checkpoint(log.request(10, n).as_bytes()).await),
            )
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (n, s) = t.await.unwrap();
        assert!(s == 200 || s == 409, "{s}");
        if s == 200 {
            won.push(n);
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(w.held(ORIGIN).await.unwrap().unwrap().size, won[0]);
}

#[tokio::test]
async fn a_reopened_witness_holds_what_it_held_and_serves_it_to_monitors() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = witness(dir.path(), &log).await;
    let line = w
        .add_checkpoint(log.request(0, 10).as_bytes())
        .await
        .unwrap();
    w.close().await.unwrap();
    let w = witness(dir.path(), &log).await;
    match w.add_checkpoint(log.request(0, 5).as_bytes()).await {
        Err(WitnessError::Conflict { held }) => assert_eq!(held, 10),
        other => panic!("{other:?}"),
    }
    let hash = hex::encode(Sha256::digest(ORIGIN.as_bytes()));
    let note = w.latest(&hash).await.unwrap().unwrap();
    assert_eq!(note, format!("{}{line}", log.checkpoint(10).to_note()));
    let n = Note::parse(&note).unwrap();
    assert_eq!(n.cosignatures().len(), 1);
    assert_eq!(w.latest("00").await.unwrap(), None);
}

#[tokio::test]
async fn the_router_answers_409_with_the_size_as_text_x_tlog_size() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new("log");
    let w = Arc::new(witness(dir.path(), &log).await);
    let app = router(w.clone());
    let post = |body: String| {
        axum::http::Request::post(ADD_CHECKPOINT_PATH)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let r = app.clone().oneshot(post(log.request(0, 10))).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.clone().oneshot(post(log.request(3, 10))).await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()[header::CONTENT_TYPE], SIZE_CONTENT_TYPE);
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    assert_eq!(
        parse_size_body(std::str::from_utf8(&body).unwrap()).unwrap(),
        10
    );
    let big = "x".repeat(protocol::MAX_REQUEST_BYTES + 1);
    let r = app.clone().oneshot(post(big)).await.unwrap();
    assert!(r.status().is_client_error());
}

#[test]
fn cosignatures_round_trip_through_lines() {
    let w = seeded_key("witness");
    let body = "custody.ledger/x\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let c = Cosignature::sign(NAME, &w, body, 42).unwrap();
    assert_eq!(Cosignature::parse_line(&c.to_line()).unwrap(), c);
}
