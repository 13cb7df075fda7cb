//! The ledger as a C2SP tlog-tiles log, checked with an implementation that is not ours
//! (`tlog_tiles`, from cloudflare/azul): it reads our tiles, authenticates them against our
//! checkpoint's root, and recomputes that root; entry bundles hash to the level-0 tiles, and
//! the canonical entries behind them hash to their leaf data.

use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::harness::Server;

/// Reads tiles from a running server, as `tlog_tiles` asks for them.
struct Http<'a> {
    c: Client,
    base: String,
    token: Option<&'a str>,
}

impl Http<'_> {
    fn get(&self, path: &str) -> reqwest::blocking::Response {
        let r = self.c.get(format!("{}/{path}", self.base));
        match self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
        .send()
        .unwrap()
    }
}

/// The C2SP path of a tile as `tlog_tiles` names it (Go's layout: `tile/8/L/N`, `data` for
/// the entry bundles).
fn c2sp_path(t: &tlog_tiles::Tile) -> String {
    let go = t.path();
    let rest = go.strip_prefix("tile/8/").expect("height 8");
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

impl tlog_tiles::TileReader for Http<'_> {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let r = self.get(&c2sp_path(t));
                assert_eq!(r.status(), StatusCode::OK, "{}", c2sp_path(t));
                r.bytes().unwrap().to_vec()
            })
            .collect())
    }
    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

/// The entries of a bundle: big-endian uint16 length, then that many bytes.
fn split_bundle(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    out
}

#[test]
fn the_ledger_is_a_tlog_tiles_log_that_another_implementation_can_check() {
    let s = Server::demo_with(&["--checkpoint-every", "3600"]);
    let c = Client::new();
    let auditor = s.login(&c, "auditor.diaz");
    let http = Http {
        c: c.clone(),
        base: format!("{}/tlog/{}", s.url(), s.ledger()),
        token: Some(&auditor),
    };
    // The checkpoint the server issued at start, read by their parser.
    let r = http.get("checkpoint");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let note = r.text().unwrap();
    let body = note.split("\n\n").next().unwrap().to_string() + "\n";
    let cp = tlog_tiles::Checkpoint::from_bytes(body.as_bytes()).expect("their parser reads it");
    let size = cp.size();
    assert_eq!(cp.origin(), format!("custody.ledger/{}", s.ledger()));
    assert!(size > 256, "the demo spans more than one tile: {size}");

    // Their reader authenticates our tiles against the root and recomputes it.
    let reader = tlog_tiles::TileHashReader::new(size, *cp.hash(), &http);
    let root = tlog_tiles::tree_hash(size, &reader).expect("tiles authenticate");
    assert_eq!(root, *cp.hash());

    // Entry bundle 0 (full) and the level-0 tile: each leaf's data hashes to its tile hash;
    // the canonical entry bytes hash to that leaf data.
    let leaves = split_bundle(&http.get("tile/entries/000").bytes().unwrap());
    let hashes = http.get("tile/0/000").bytes().unwrap();
    let entries = split_bundle(&http.get("bundle/000").bytes().unwrap());
    assert_eq!(
        (leaves.len(), hashes.len(), entries.len()),
        (256, 256 * 32, 256)
    );
    for i in 0..256 {
        assert_eq!(leaves[i].len(), 32);
        assert_eq!(
            tlog_tiles::record_hash(&leaves[i]).0[..],
            hashes[i * 32..(i + 1) * 32]
        );
        assert_eq!(
            custody_ledger::entry::hash_encoded(&entries[i]).as_bytes()[..],
            leaves[i][..]
        );
    }
    // The partial tile a checkpoint of this size implies is served; a wider one is not yet.
    let w = size % 256;
    let last = size / 256;
    let partial = format!("tile/0/{last:03}.p/{w}");
    let r = http.get(&partial);
    assert_eq!(r.status(), StatusCode::OK, "{partial}");
    assert_eq!(r.bytes().unwrap().len() as u64, w * 32);
    assert!(
        http.get("tile/0/000").headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let r = http.get(&format!("tile/0/{last:03}.p/{}", w + 1));
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for bad in [
        "tile/0/0",
        "tile/00/000",
        "tile/0/x000/000",
        "tile/0/000.p/0",
        "tile/64/000",
    ] {
        assert_eq!(http.get(bad).status(), StatusCode::NOT_FOUND, "{bad}");
    }

    // Auditors and admins only: a nurse is refused, no session is refused.
    let nurse = s.login(&c, "nurse.chen");
    let as_nurse = Http {
        c: c.clone(),
        base: http.base.clone(),
        token: Some(&nurse),
    };
    assert_eq!(as_nurse.get("tile/0/000").status(), StatusCode::FORBIDDEN);
    let anonymous = Http {
        c: c.clone(),
        base: http.base.clone(),
        token: None,
    };
    assert_eq!(
        anonymous.get("checkpoint").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn with_public_tiles_anyone_may_mirror_the_ledger() {
    let s = Server::demo_with(&["--public-tiles"]);
    let http = Http {
        c: Client::new(),
        base: format!("{}/tlog/{}", s.url(), s.ledger()),
        token: None,
    };
    let r = http.get("tile/0/000");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    assert_eq!(http.get("bundle/000").status(), StatusCode::OK);
}
