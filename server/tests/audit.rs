//! The audit log against a database writer: a real server signs checkpoints as it writes rows;
//! then a row is edited in the SQLite file and every later hash recomputed, as anyone with
//! write access to the database can. `audit verify` with the checkpoint key names the edited
//! row; without the key (the control) the chain alone passes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use lit_session_server::audit::chain_hash;

/// Client `app` may read `GET /v1/keys` (each call is one audit row).
const KEYS_POLICY: &str = r#"
[clients.app]
endpoints = ["keys"]
[[clients.app.allow]]
signers = ["*"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]
"#;

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Rewrites row `seq`'s client, then every hash from it on, as a database writer can.
fn edit_and_rechain(store: &Path, seq: i64) {
    let db = rusqlite::Connection::open(store).unwrap();
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT seq, record FROM audit WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev: String = db.query_row("SELECT hash FROM audit WHERE seq = ?1", [seq - 1], |r| r.get(0)).unwrap();
    for (s, record) in rows {
        let record = if s == seq {
            let mut v: serde_json::Value = serde_json::from_str(&record).unwrap();
            v["client"] = "mallory".into();
            serde_json::to_string(&v).unwrap()
        } else {
            record
        };
        let hash = chain_hash(&prev, &record);
        db.execute(
            "UPDATE audit SET record = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            rusqlite::params![record, prev, hash, s],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn an_edited_and_rechained_row_is_named_by_its_checkpoint_and_passes_the_plain_chain() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("audit.seed");
    write_private(&seed, "a1".repeat(32).as_bytes());
    let audit = format!(
        "[audit]\ncheckpoint_key_seed_file = \"{}\"\ncheckpoint_rows = 10\ncheckpoint_interval = \"1h\"\n",
        seed.display()
    );
    let server = configured(dir.path(), KEYS_POLICY, &[("app", "t")], &audit);
    let config = dir.path().join("config.toml");
    let c = client();
    let mut public = String::new();
    for _ in 0..30 {
        let (status, body) = get(&c, &server.url("/v1/keys"), Some("t"));
        assert_eq!(status, 200, "{body}");
        public = body["auditKey"]["publicKey"].as_str().unwrap().to_string();
        assert_eq!(body["auditKey"]["backend"], "memory");
    }
    // The CLI prints the same key, from the same configuration.
    let (code, out) = cli(&["--config", config.to_str().unwrap(), "audit", "key"]);
    assert_eq!((code, out.trim()), (0, public.as_str()));
    // The writer signs rows 1..30 within a few intervals.
    let store = dir.path().join("store.sqlite");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, out) = cli(&["audit", "verify", "--store", store.to_str().unwrap(), "--public-key", &public]);
            out.contains("the last ends at 30")
        }),
        "no checkpoint over row 30"
    );
    server.stop();
    let (code, out) = cli(&["audit", "verify", "--store", store.to_str().unwrap(), "--public-key", &public]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 30 rows") && out.contains("3 signatures verified"), "{out}");

    edit_and_rechain(&store, 14);

    // The control: the chain alone is intact after the edit.
    let (code, out) = audit_verify(&store);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 30 rows") && out.contains("3 not checked"), "{out}");
    // With the key (given, or from the configuration): the exact row.
    let (code, out) = cli(&["audit", "verify", "--store", store.to_str().unwrap(), "--public-key", &public]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at seq 14: the row's hash is not the one checkpoint 11..20 signed"), "{out}");
    let (code, out) = cli(&["--config", config.to_str().unwrap(), "audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at seq 14"), "{out}");
    // Another key's signatures are not accepted.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let (code, out) = cli(&["audit", "verify", "--store", store.to_str().unwrap(), "--public-key", other]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at seq 1: checkpoint 1..10") && out.contains("not a trusted audit key"), "{out}");
}

/// The feed from the command line: every row with its hashes, each checkpoint after its last
/// row, resumable from a file; and the remembered checkpoint makes the next verify incremental.
#[test]
fn the_feed_and_incremental_verify_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("audit.seed");
    write_private(&seed, "a2".repeat(32).as_bytes());
    let state = dir.path().join("verified.json");
    let audit = format!(
        "[audit]\ncheckpoint_key_seed_file = \"{}\"\ncheckpoint_rows = 5\ncheckpoint_interval = \"1h\"\n\
         verify_state = \"{}\"\n",
        seed.display(),
        state.display()
    );
    let server = configured(dir.path(), KEYS_POLICY, &[("app", "t")], &audit);
    let config = dir.path().join("config.toml");
    let config = config.to_str().unwrap();
    let c = client();
    for _ in 0..12 {
        assert_eq!(get(&c, &server.url("/v1/keys"), Some("t")).0, 200);
    }
    server.stop();
    // Full checkpoints of 5 rows; rows 11..12 wait for their interval, or for this.
    let (code, out) = cli(&["--config", config, "audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}");
    let feed = dir.path().join("feed.jsonl");
    let (code, out) = cli(&["--config", config, "audit", "tail", "--output", feed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&feed).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["seq"].as_i64().map_or_else(|| format!("cp{}", v["checkpoint"]["last_seq"]), |s| s.to_string())
        })
        .collect();
    assert_eq!(kinds, ["1", "2", "3", "4", "5", "cp5", "6", "7", "8", "9", "10", "cp10", "11", "12", "cp12"]);

    let (code, out) = cli(&["--config", config, "audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 12 rows") && out.contains("from row 1"), "{out}");
    assert!(out.contains("3 signatures verified"), "{out}");
    // The next run starts after the remembered checkpoint.
    let (code, out) = cli(&["--config", config, "audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 0 rows") && out.contains("after the trusted checkpoint ending at 12"), "{out}");
    // Cut back to row 7 with the checkpoint over 6..10 removed: a shorter log that chains,
    // caught only because the verifier remembers the checkpoint it saw.
    let db = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    db.execute_batch("DELETE FROM audit WHERE seq > 7; DELETE FROM audit_checkpoints WHERE last_seq > 5;").unwrap();
    let (code, out) = cli(&["--config", config, "audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at seq 12: the trusted checkpoint ending at 12 is not in the database"), "{out}");
    let (code, out) = cli(&["--config", config, "audit", "verify", "--full"]);
    assert_eq!(code, 0, "{out}");
    // The feed resumed from its file sees the rewrite.
    let (code, out) = cli(&["--config", config, "audit", "tail", "--output", feed.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("head went back from 12 to 7"), "{out}");
}

/// `audit tail --follow` beside a running server: rows arrive in the file as they are committed,
/// with no gap; SIGTERM ends it cleanly; started again it resumes after the file's last row.
#[test]
fn the_feed_follows_rows_as_they_are_committed_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let server = configured(dir.path(), KEYS_POLICY, &[("app", "t")], "");
    let config = dir.path().join("config.toml");
    let feed = dir.path().join("feed.jsonl");
    let follow = || {
        Command::new(BIN)
            .args(["--config", config.to_str().unwrap(), "audit", "tail", "--follow", "--poll-ms", "50"])
            .args(["--output", feed.to_str().unwrap()])
            .spawn()
            .unwrap()
    };
    let seqs = || -> Vec<i64> {
        std::fs::read_to_string(&feed)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_i64())
            .collect()
    };
    let c = client();
    assert_eq!(get(&c, &server.url("/v1/keys"), Some("t")).0, 200);
    let mut tail = follow();
    assert!(wait_until(Duration::from_secs(10), || seqs() == [1]), "{:?}", seqs());
    for n in 2..=4 {
        assert_eq!(get(&c, &server.url("/v1/keys"), Some("t")).0, 200);
        assert!(wait_until(Duration::from_secs(10), || seqs().len() == n), "row {n} not streamed: {:?}", seqs());
    }
    Command::new("kill").args(["-TERM", &tail.id().to_string()]).status().unwrap();
    assert!(tail.wait().unwrap().success());
    for _ in 0..2 {
        assert_eq!(get(&c, &server.url("/v1/keys"), Some("t")).0, 200);
    }
    let mut tail = follow();
    assert!(wait_until(Duration::from_secs(10), || seqs().len() == 6), "{:?}", seqs());
    Command::new("kill").args(["-TERM", &tail.id().to_string()]).status().unwrap();
    assert!(tail.wait().unwrap().success());
    assert_eq!(seqs(), [1, 2, 3, 4, 5, 6], "resumed after row 4, nothing twice");
    drop(server);
}
