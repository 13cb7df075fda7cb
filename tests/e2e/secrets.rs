//! Secrets kept apart from the data: the registrant passphrase comes from the environment, a
//! named file or systemd's credentials, and is written beside the key only for the demo; the
//! patient secret is stored only wrapped under the registrant key; one database holds several
//! ledgers, each with its own key, all served by one server.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Server, postgres_database, skipped_without_postgres};
use crate::{stderr, stdout};

/// `custody ARGS` with exactly the environment given (beyond PATH and HOME).
fn custody_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custody"));
    c.args(args)
        .env_remove("CUSTODY_DATABASE_URL")
        .env_remove("CUSTODY_DATA")
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE")
        .env_remove("CUSTODY_REGISTRANT_PASSPHRASE_FILE")
        .env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("custody runs")
}

fn init(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let d = data.to_str().unwrap();
    let mut args = vec![
        "init",
        "--data",
        d,
        "--name",
        "Lakeside Ketamine Clinic",
        "--address",
        "12 Harbor Road",
        "--dea",
        "BL1234563",
    ];
    args.extend(extra);
    custody_env(&args, env)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_registrant_passphrase_is_kept_apart_from_the_data() {
    let t = tempfile::tempdir().unwrap();

    // No passphrase anywhere: refused before anything is written, saying where to put one.
    let d = t.path().join("none");
    let o = init(&d, &[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("CUSTODY_REGISTRANT_PASSPHRASE")
            && stderr(&o).contains("--registrant-passphrase-file"),
        "{}",
        stderr(&o)
    );
    assert!(!d.exists(), "nothing was written");

    // From the environment: nothing is written beside the key; the key opens with it, and
    // from systemd's credentials directory too; without either it does not.
    let d = t.path().join("env");
    let pass = "correct horse battery staple registrant";
    let o = init(&d, &[], &[("CUSTODY_REGISTRANT_PASSPHRASE", pass)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("registrant.key").exists());
    assert!(!d.join("registrant.pass").exists());
    let checkpoint =
        |env: &[(&str, &str)]| custody_env(&["checkpoint", "--data", d.to_str().unwrap()], env);
    let o = checkpoint(&[("CUSTODY_REGISTRANT_PASSPHRASE", pass)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = checkpoint(&[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no passphrase"), "{}", stderr(&o));
    let creds = t.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(
        creds.join("custody-registrant-passphrase"),
        format!("{pass}\n"),
    )
    .unwrap();
    let o = checkpoint(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A named file that does not exist yet: a passphrase is generated into it (0600), outside
    // the data directory, and opens the key.
    let d = t.path().join("file");
    let f = t.path().join("secrets").join("registrant-passphrase");
    std::fs::create_dir(f.parent().unwrap()).unwrap();
    let o = init(
        &d,
        &["--registrant-passphrase-file", f.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("generated into"), "{}", stdout(&o));
    assert_eq!(mode(&f), 0o600);
    assert!(std::fs::read_to_string(&f).unwrap().trim().len() >= 32);
    assert!(!d.join("registrant.pass").exists());
    let o = custody_env(
        &[
            "checkpoint",
            "--data",
            d.to_str().unwrap(),
            "--registrant-passphrase-file",
            f.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    assert_eq!(mode(&d), 0o700);
}

#[test]
fn serve_warns_of_a_passphrase_kept_beside_the_key() {
    let s = Server::demo();
    assert!(s.data().join("registrant.pass").exists(), "the demo's own");
    assert!(
        s.log()
            .contains("holds the registrant key's passphrase beside the key"),
        "{}",
        s.log()
    );
}

#[test]
fn the_database_holds_the_patient_secret_only_wrapped() {
    // A dose recorded by a running server, then the database file read as anyone with a copy
    // of it would.
    let s = Server::demo();
    let url = custody_store::sqlite_url(s.data());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt.block_on(async {
        let store = custody_store::Store::open(&url).await.unwrap();
        let l = store.ledgers().await.unwrap()[0].ledger;
        let v = store.stored_patient_secret(l).await.unwrap();
        store.close().await.unwrap();
        v
    });
    assert!(
        stored.starts_with(b"custody-patient-secret\x01"),
        "the column holds the wrapped form"
    );
    assert_eq!(stored.len(), 23 + 16 + 24 + 48);
}

#[test]
fn one_postgresql_database_holds_two_ledgers_and_one_server_serves_both() {
    let Some(db) = postgres_database() else {
        skipped_without_postgres("two ledgers in one PostgreSQL database");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("keys");
    let pass = t.path().join("passphrase");
    let common = [
        "--database-url",
        db.url(),
        "--registrant-passphrase-file",
        pass.to_str().unwrap(),
    ];
    let o = init(&d, &common, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&o);
    let o = custody_env(
        &[
            &[
                "init",
                "--data",
                d.to_str().unwrap(),
                "--name",
                "Harbor Ketamine Annex",
                "--address",
                "14 Harbor Road",
                "--dea",
                "BH7654329",
            ][..],
            &common[..],
        ]
        .concat(),
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let second = stdout(&o);
    assert!(
        second.contains("added ledger") && second.contains("holding 1 other"),
        "{second}"
    );
    let field = |out: &str, prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap()
            .to_string()
    };
    let (a, b) = (
        field(&first, "initialized ledger "),
        field(&second, "initialized ledger "),
    );
    let (ta, tb) = (
        field(&first, "bootstrap token "),
        field(&second, "bootstrap token "),
    );
    assert!(d.join("registrant.key").exists());
    assert!(d.join(format!("registrant-{b}.key")).exists());

    let s = Server::with_args(
        &d,
        &[&["--data", d.to_str().unwrap()][..], &common[..]].concat(),
    );
    let c = Client::new();
    let listed: Value = c
        .get(format!("{}/api/v1/ledgers", s.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ledger"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&b.as_str()),
        "{listed}"
    );
    let boot = |ledger: &str, token: &str| {
        c.post(format!("{}/api/v1/ledgers/{ledger}/bootstrap", s.url()))
            .json(
                &json!({"token": token, "username": "admin.grey", "printed_name": "Sam Grey",
                          "password": "a long enough admin passphrase"}),
            )
            .send()
            .unwrap()
    };
    // Each ledger's token is its own; each first enrollment is signed by its own registrant
    // key, which the server holds for both.
    crate::harness::error(boot(&b, &ta), StatusCode::UNAUTHORIZED, "bad_token");
    assert_eq!(boot(&a, &ta).status(), StatusCode::OK);
    assert_eq!(boot(&b, &tb).status(), StatusCode::OK);
    // The sign-in page offers both clinics.
    let page = c
        .get(format!("{}/ui/login", s.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Lakeside Ketamine Clinic") && page.contains("Harbor Ketamine Annex"),
        "{page}"
    );
    assert!(
        page.contains(r#"<select id="ledger" name="ledger">"#),
        "{page}"
    );
    // Each verifies, named by --ledger.
    for l in [&a, &b] {
        let o = custody_env(
            &[
                "verify",
                "--data",
                d.to_str().unwrap(),
                "--database-url",
                db.url(),
                "--ledger",
                l,
            ],
            &[],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
