//! The commands a person runs: demo, verify, export, import, verify-export, init, and their
//! errors.

use crate::*;

fn head_of(verify_out: &str) -> String {
    verify_out
        .trim()
        .rsplit(' ')
        .next()
        .expect("a head")
        .to_string()
}

#[test]
fn demo_then_verify_prints_ok_with_the_head() {
    let (_t, d) = demo_copy();
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ok: "), "{out}");
    let n: u64 = out["ok: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 200, "two months of a clinic: {n} entries");
    assert_eq!(head_of(&out).len(), 64);
}

#[test]
fn the_demo_is_a_working_clinic() {
    let (_t, d) = demo_copy();
    let o = custody(&["status", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for product in [
        "42023-0113-10",
        "42023-0115-05",
        "50458-0028-02",
        "70000-0100-30",
    ] {
        assert!(out.contains(product), "{product} on hand:\n{out}");
    }
    // The demo refuses to record a second clinic over the first.
    let o = custody(&["demo", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("new data directory"), "{}", stderr(&o));
}

#[test]
fn demo_is_deterministic_per_seed() {
    // Same seed: the same events (keys and entry ids are random, so compare the stock).
    let status = |seed: &str| {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("c");
        let o = custody(&["demo", "--data", d.to_str().unwrap(), "--seed", seed]);
        assert!(o.status.success(), "{}", stderr(&o));
        let history = demo_output(&stdout(&o))
            .1
            .expect("the demo prints its history");
        let s = stdout(&custody(&["status", "--data", d.to_str().unwrap()]));
        let entries = s
            .lines()
            .nth(2)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let stock: Vec<String> = s
            .lines()
            .skip_while(|l| *l != "on hand:")
            .map(String::from)
            .collect();
        (history, entries, stock)
    };
    // The calendar ends the day before the demo is recorded, so its weekends move with the
    // date: compare two runs made on the same day (again if midnight fell between them).
    let (a, b) = loop {
        let (a, b) = (status("3"), status("3"));
        if a.0 == b.0 {
            break (a, b);
        }
    };
    assert_eq!(a, b);
    assert_ne!(status("3"), status("4"));
}

#[test]
fn export_verify_export_and_import_keep_the_head() {
    let (t, d) = demo_copy();
    let file = t.path().join("ledger.jsonl");
    let o = custody(&[
        "export",
        "--data",
        d.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let head = head_of(&stdout(&custody(&[
        "verify",
        "--data",
        d.to_str().unwrap(),
    ])));

    let o = custody(&["verify-export", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("trusting the key in the file"));
    assert_eq!(head_of(&stdout(&o)), head);

    // Trusting the right key by name.
    let header = std::fs::read_to_string(&file).unwrap();
    let key = header.split("\"registrant_public_key\":\"").nth(1).unwrap()[..64].to_string();
    let o = custody(&[
        "verify-export",
        file.to_str().unwrap(),
        "--registrant-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("trusting the key in the file"));

    // Any other key is refused.
    let other = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let o = custody(&[
        "verify-export",
        file.to_str().unwrap(),
        "--registrant-key",
        other,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Import into a new directory reproduces the head.
    let d2 = t.path().join("restored");
    let o = custody(&[
        "import",
        "--data",
        d2.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        head_of(&stdout(&custody(&[
            "verify",
            "--data",
            d2.to_str().unwrap()
        ]))),
        head
    );

    // Not into a database that already holds a ledger.
    let o = custody(&[
        "import",
        "--data",
        d2.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A changed byte in an exported entry is caught, naming the entry.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let line = &mut lines[11]; // entry 10
    let pos = line.find("\"entry\":\"").unwrap() + 9 + 200;
    let flipped = if &line[pos..pos + 1] == "0" { "1" } else { "0" };
    line.replace_range(pos..pos + 1, flipped);
    let bad = t.path().join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let o = custody(&["verify-export", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("entry 10 "), "{}", stderr(&o));
}

#[test]
fn init_refuses_bad_registrant_details_with_a_clear_message() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("x");
    let o = custody(&[
        "init",
        "--data",
        d.to_str().unwrap(),
        "--name",
        "Clinic",
        "--address",
        "1 Road",
        "--dea",
        "AP5836728",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("check digit"), "{}", stderr(&o));
    assert!(!d.join("custody.db").exists(), "nothing written");

    let o = custody(&[
        "init",
        "--data",
        d.to_str().unwrap(),
        "--name",
        "Clinic",
        "--address",
        "1 Road",
        "--dea",
        "AP5836727",
        "--registrant-passphrase-file",
        t.path().join("passphrase").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("registrant.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(d.join("registrant.key")).unwrap();
    assert!(key.starts_with("custody registrant key v1\n"));
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(stdout(&o).starts_with("ok: 1 entries"), "{}", stdout(&o));
    // A second init on the same directory is refused.
    let o = custody(&[
        "init",
        "--data",
        d.to_str().unwrap(),
        "--name",
        "Clinic",
        "--address",
        "1 Road",
        "--dea",
        "AP5836727",
        "--registrant-passphrase-file",
        t.path().join("passphrase").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn verify_on_an_empty_directory_says_what_to_do() {
    let t = tempfile::tempdir().unwrap();
    let o = custody(&["verify", "--data", t.path().join("none").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("custody init"), "{}", stderr(&o));
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "init",
        "demo",
        "verify",
        "export",
        "import",
        "verify-export",
        "status",
        "bench",
    ] {
        let o = custody(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}");
        assert!(stdout(&o).contains("Usage:"), "{cmd}");
    }
}

#[test]
fn a_demo_killed_halfway_leaves_nothing_half_made_and_runs_again_whole() {
    use std::process::{Command, Stdio};
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("clinic");
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(["demo", "--data", d.to_str().unwrap(), "--seed", "11"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the demo has written a good part of its history (in its first start's
    // stage), then kill it outright.
    let wal = d.join(".first-start").join("custody.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        // Migrations alone write about 0.7 MB; each entry adds a few pages.
        if size > 2_000_000 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the demo ended ({status}) before it could be interrupted");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Nothing half-made is where a server would look for it.
    assert!(!d.join("custody.db").exists());
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Run again: what was cut short is removed, and the demo recorded whole.
    let o = custody(&["demo", "--data", d.to_str().unwrap(), "--seed", "11"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("removed an unfinished first start"),
        "{}",
        stderr(&o)
    );
    let recorded: u64 = stdout(&o)
        .split(", ")
        .find_map(|p| p.strip_suffix(" entries"))
        .expect("the demo says how many entries")
        .parse()
        .unwrap();
    let o = custody(&["verify", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("ok: {recorded} entries")),
        "{}",
        stdout(&o)
    );
    assert!(!d.join(".first-start").exists());
}

#[test]
fn the_data_directory_and_its_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("clinic");
    let o = custody(&[
        "init",
        "--data",
        d.to_str().unwrap(),
        "--name",
        "Clinic",
        "--address",
        "1 Road",
        "--dea",
        "AP5836727",
        "--registrant-passphrase-file",
        t.path().join("passphrase").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d), 0o700, "the data directory");
    for f in std::fs::read_dir(&d).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn a_command_whose_output_is_closed_ends_quietly() {
    let d = demo_template();
    // The pipe's reader is gone before custody writes: its first line meets a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(["status", "--data", d.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[test]
fn a_backup_made_while_the_server_writes_verifies_and_restores() {
    use reqwest::blocking::Client;
    let s = crate::harness::Server::demo();
    let c = Client::new();
    let nurse = s.login(&c, "nurse.chen");
    let vial = s.sealed_vial(&c, &nurse);
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("backup.db");
    // A writer keeps signing while the copy is made.
    let (head, out) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let r = c
                .post(s.api(&format!("/containers/{vial}/open")))
                .bearer_auth(&nurse)
                .json(&serde_json::json!({"password": s.password("nurse.chen")}))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        });
        let o = custody(&[
            "backup",
            "--data",
            s.data().to_str().unwrap(),
            "-o",
            copy.to_str().unwrap(),
        ]);
        writer.join().unwrap();
        (s.entries(&c, &nurse), o)
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("verified") && said.contains("backup "),
        "{said}"
    );
    let entries: u64 = said
        .split(" entries")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        entries == head || entries + 1 == head,
        "{entries} of {head}"
    );
    // Another backup to the same file is refused.
    let again = custody(&[
        "backup",
        "--data",
        s.data().to_str().unwrap(),
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    // Restored: the copy as the database of a new data directory, with the registrant key.
    let restored = t.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&copy, restored.join("custody.db")).unwrap();
    std::fs::copy(
        s.data().join("registrant.key"),
        restored.join("registrant.key"),
    )
    .unwrap();
    let o = custody(&["verify", "--data", restored.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custody(&["status", "--data", restored.to_str().unwrap()]);
    assert!(
        stdout(&o).contains(&format!("{entries} entries")),
        "{}",
        stdout(&o)
    );
}
