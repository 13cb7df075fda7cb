//! `custody bench --postgres URL --servers 3` (issue 18, P6), run as an operator runs it: the
//! real binary makes a scratch database on the machine's PostgreSQL, starts its own servers
//! on it, and must report the write rates of one process and of three, a chain checked
//! gapless and verified, and leave no database behind (skipped without `DATABASE_URL`); and
//! `custody bench --scale` (P5), which needs no server but its own.

use crate::{custody, stderr, stdout};

/// The rate printed on the line that starts with `prefix` (`… 41.3 /s …`).
fn rate(out: &str, prefix: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in:\n{out}"));
    let before = line
        .split(" /s")
        .next()
        .and_then(|s| s.split_whitespace().last())
        .unwrap_or_default();
    before
        .parse()
        .unwrap_or_else(|_| panic!("no rate in `{line}`"))
}

#[test]
fn the_postgres_bench_compares_three_servers_with_one_and_proves_one_gapless_chain() {
    let Some(admin) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        crate::harness::skipped_without_postgres("the PostgreSQL scale-out bench");
        return;
    };
    let o = custody(&[
        "bench",
        "--postgres",
        &admin,
        "--servers",
        "3",
        "--seconds",
        "1",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));

    // The two figures, each from writes that were acknowledged, and their ratio beside the aim.
    assert!(
        rate(&out, "P6 signed writes (HTTP), 1 process ") > 0.0,
        "{out}"
    );
    assert!(
        rate(&out, "P6 signed writes (HTTP), 3 processes") > 0.0,
        "{out}"
    );
    let ratio = out
        .lines()
        .find(|l| l.starts_with("P6 3 processes ÷ 1 process: "))
        .unwrap_or_else(|| panic!("no ratio in:\n{out}"));
    assert!(ratio.contains("(aim ≥ 1.0×)"), "{ratio}");

    // After the servers stopped: one gapless chain holding every acknowledged write, and an
    // auditor's verification of the whole database.
    assert!(
        out.lines()
            .any(|l| l.starts_with("3 servers stopped cleanly")),
        "{out}"
    );
    let chain = out
        .lines()
        .find(|l| l.starts_with("chain: "))
        .unwrap_or_else(|| panic!("no chain line in:\n{out}"));
    assert!(chain.ends_with("— gapless"), "{chain}");
    assert!(chain.contains("one chain, no fork"), "{chain}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("writes acknowledged: ") && l.contains("all in the chain")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("custody verify: ok: ")),
        "{out}"
    );

    // The scratch database is gone.
    let name = out
        .lines()
        .find_map(|l| l.strip_prefix("scratch database "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no scratch database named in:\n{out}"));
    assert!(name.starts_with("custody_bench_"), "{name}");
    assert!(out.lines().any(|l| l == format!("dropped {name}")), "{out}");
    let url = custody_store::scratch::with_database(&admin, name);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gone = rt.block_on(sea_orm::Database::connect(url.as_str()));
    assert!(gone.is_err(), "{name} is still there");
}

#[test]
fn the_postgres_bench_refuses_a_url_that_is_not_postgresql_and_fewer_than_two_servers() {
    let o = custody(&["bench", "--postgres", "sqlite://x.db", "--seconds", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("PostgreSQL URL"), "{}", stderr(&o));
    let o = custody(&[
        "bench",
        "--postgres",
        "postgres://nobody@127.0.0.1:1/none",
        "--servers",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("at least 2"), "{}", stderr(&o));
}

/// `custody bench --scale` (issue 18, P5): it builds a short and a long ledger, serves each,
/// and must time the pharmacist's on-hand and dashboard on both and compare them with the aim.
/// (Whether the aim is met is the bench's figure, not this test's: timings belong there.)
#[test]
fn the_scale_bench_times_on_hand_and_the_dashboard_on_a_short_and_a_long_ledger() {
    let o = custody(&["bench", "--scale", "--million-entries", "4000"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for n in ["1000", "4000"] {
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{n} entries: GET …/on-hand median"))
            })
            .unwrap_or_else(|| panic!("no timings for {n} entries in:\n{out}"));
        assert!(line.contains("dashboard GET /ui median"), "{line}");
    }
    for what in ["GET …/on-hand", "dashboard"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("P5 {what} at 4000 entries ÷ at 1000: ")))
            .unwrap_or_else(|| panic!("no P5 ratio for {what} in:\n{out}"));
        assert!(line.contains("(aim ≤ 1.2×)"), "{line}");
    }
}

/// `custody bench --http`: the Argon2id ceiling and the signed writes, measured alternately
/// (each round printed), then their totals' ratio, then the reads; nothing refused.
#[test]
fn the_http_bench_alternates_the_ceiling_with_the_signed_writes_and_compares_their_totals() {
    let o = custody(&["bench", "--http", "--seconds", "1"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for round in [
        "  round 1: argon2id ceiling ",
        "  round 2: argon2id ceiling ",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(round))
            .unwrap_or_else(|| panic!("no `{round}…` in:\n{out}"));
        assert!(line.contains(", signed writes "), "{line}");
    }
    assert!(rate(&out, "signed writes (HTTP)") > 0.0, "{out}");
    let writes = out
        .lines()
        .find(|l| l.starts_with("signed writes (HTTP)"))
        .unwrap_or_default();
    assert!(writes.contains("% of the ceiling (0 refused)"), "{writes}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("argon2id ceiling") && l.contains("key openings/s")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("GET /head")), "{out}");
}

/// `custody bench` (issue 18, P1) counts the pages a commit writes to SQLite's log — an
/// append's, a plain insert's, and those of the plain insert it makes as wide as an append —
/// so that the ratio can be read against what the disk must write.
#[test]
fn the_append_bench_counts_the_pages_each_commit_writes() {
    let o = custody(&["bench", "--appends", "20", "--verify", "100"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let line = out
        .lines()
        .find(|l| l.starts_with("P1 pages a commit writes: "))
        .unwrap_or_else(|| panic!("no pages line in:\n{out}"));
    let pages = |after: &str| -> f64 {
        line.split(after)
            .nth(1)
            .and_then(|s| s.split([',', ':', ';']).next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pages after `{after}` in `{line}`"))
    };
    let (append, plain, wide) = (
        pages("append "),
        pages("plain insert "),
        pages("plain insert+commit writing "),
    );
    // A plain insert writes its table's page and its key's; an append writes besides them
    // the entry's indexes, the head's row and the rows it changes.
    assert!((1.5..=3.0).contains(&plain), "{line}");
    assert!(append >= plain + 3.0, "{line}");
    assert!((wide - append).abs() <= 1.0, "{line}");
    assert!(
        line.contains("so the pages alone hold the ratio to "),
        "{line}"
    );
}
