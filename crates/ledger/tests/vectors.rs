//! The vectors in docs/ledger-format.md are what this code produces, and they verify.
//! Run with `CUSTODY_BLESS=1` to rewrite the document's vector section after an intended change
//! (which must also bump the format version).

use custody_ledger::{Canonical, Entry, vectors, verify::verify_entries};

const BEGIN: &str = "<!-- vectors:begin -->\n";
const END: &str = "<!-- vectors:end -->";

#[test]
fn docs_vectors_match_the_code() {
    let entries = vectors::build();
    assert!(entries.len() >= 25);
    let rendered = vectors::render_markdown(&entries);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ledger-format.md");
    let doc = std::fs::read_to_string(path).expect("docs/ledger-format.md exists");
    let start = doc.find(BEGIN).expect("vectors:begin marker") + BEGIN.len();
    let end = doc.find(END).expect("vectors:end marker");
    if std::env::var_os("CUSTODY_BLESS").is_some() {
        let new = format!("{}{}{}", &doc[..start], rendered, &doc[end..]);
        std::fs::write(path, new).expect("write docs");
        return;
    }
    let printed = &doc[start..end];
    assert!(
        printed == rendered,
        "docs/ledger-format.md's vectors differ from what the code produces; \
         if the format changed on purpose, bump the version and re-run with CUSTODY_BLESS=1"
    );
}

#[test]
fn vectors_cover_every_kind_and_verify() {
    let entries = vectors::build();
    for k in custody_ledger::Kind::ALL {
        assert!(entries.iter().any(|e| e.kind() == *k), "no {k} entry");
    }
    let summary = verify_entries(&entries, None).expect("vectors verify");
    assert_eq!(summary.entries, entries.len() as u64);
    for e in &entries {
        let bytes = e.to_canonical_bytes();
        assert_eq!(&Entry::from_canonical_bytes(&bytes).unwrap(), e);
    }
}
