//! Audit upkeep under steady load: does the database level off with export and retention, is
//! every row kept somewhere, and what does incremental verification save.
//!
//! `cargo bench -p lit-session-server --bench audit_upkeep [-- --minutes 10 --rate 20]`
//!
//! Starts the service (SQLite, `durability = "normal"`, an in-memory checkpoint key from a seed
//! file, default checkpoint settings, `export_interval = "30s"`, `retention = "2m"`) and sends
//! `--rate` session-sig requests a second (30 nodes each) for `--minutes`. Every 30 s it prints
//! the store's size on disk (file + WAL), the rows and checkpoints in the database and the
//! archive's segments and bytes. Then, with the service stopped, it checks that every sequence
//! number from 1 to the last is in the database or in exactly one archived segment, prints the
//! row counts of the other tables (none may grow with the requests), runs
//! `audit verify --archive DIR --full` over the whole run, and times it against
//! `audit verify --archive DIR --since` the last checkpoint written a minute before the end.
//! One run, printed as measured; other processes may share the machine.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lit_session_server::audit::segment::Segment;
use lit_session_server::audit_jobs::export::list_segments;

mod support;
use support::{arg, private, BIN};

fn write_config(dir: &std::path::Path, token: &str) -> std::path::PathBuf {
    private(&dir.join("audit.seed"), &"5a".repeat(32));
    let store = format!("path = \"{}\"\ndurability = \"normal\"", dir.join("store.sqlite").display());
    let audit = format!(
        "[audit]\ncheckpoint_key_seed_file = \"{}\"\narchive_dir = \"{}\"\nexport_interval = \"30s\"\n\
         retention = \"2m\"\n",
        dir.join("audit.seed").display(),
        dir.join("archive").display(),
    );
    support::write_config(dir, "session_key = \"memory\"\nwallet = \"random\"", token, &store, &audit)
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

struct Sample {
    db_bytes: u64,
    rows: i64,
    first: Option<i64>,
    last: Option<i64>,
    checkpoints: i64,
    segments: usize,
    archive_bytes: u64,
}

fn sample(dir: &std::path::Path) -> Sample {
    let db = dir.join("store.sqlite");
    let db_bytes = size(&db) + size(&dir.join("store.sqlite-wal"));
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let (rows, first, last) = conn
        .query_row("SELECT count(*), min(seq), max(seq) FROM audit", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    let checkpoints = conn.query_row("SELECT count(*) FROM audit_checkpoints", [], |r| r.get(0)).unwrap();
    let segments = list_segments(&dir.join("archive")).unwrap_or_default();
    let archive_bytes = segments.iter().map(|(_, _, p)| size(p)).sum();
    Sample { db_bytes, rows, first, last, checkpoints, segments: segments.len(), archive_bytes }
}

fn verify(config: &std::path::Path, archive: &std::path::Path, extra: &[&str]) -> (Duration, bool, String) {
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "audit", "verify", "--archive", archive.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (took, out.status.success(), text.trim().replace('\n', " / "))
}

fn main() {
    let minutes: u64 = arg("--minutes", 10);
    let rate: u64 = arg("--rate", 20);
    let token = "bench-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), token);
    let (server, base) = support::start(&config, &[], None);
    println!(
        "{minutes} min at {rate} req/s (30 nodes each); checkpoints every 1000 rows or 10 s, export every 30 s, \
         retention 2 min"
    );
    println!(" time | db+wal kB | rows in db (seq range)  | checkpoints | segments | archive kB | requests ok");

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let run = Duration::from_secs(minutes * 60);
    let started = Instant::now();
    // (elapsed, last seq committed by then): to find the checkpoint a minute before the end.
    let load = {
        let (ok, failed) = (ok.clone(), failed.clone());
        let url = format!("{base}/v1/session-sigs");
        let nodes: Vec<String> = (0..30).map(|i| format!("https://10.2.0.{}:443", i + 1)).collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "nodeUrls": nodes,
            "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}],
            "nonce": "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
        }))
        .unwrap();
        rt.spawn(async move {
            let client = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut inflight = Vec::new();
            while started.elapsed() < run {
                tick.tick().await;
                let (c, url, body, ok, failed) =
                    (client.clone(), url.clone(), body.clone(), ok.clone(), failed.clone());
                inflight.push(tokio::spawn(async move {
                    let r = c.post(&url).bearer_auth(token).header("content-type", "application/json").body(body);
                    match r.send().await {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }));
                inflight.retain(|t| !t.is_finished());
            }
            for t in inflight {
                let _ = t.await;
            }
        })
    };
    let mut marks: Vec<(Duration, i64)> = Vec::new();
    let mut next = Duration::from_secs(30);
    while !load.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() >= next {
            let s = sample(dir.path());
            marks.push((started.elapsed(), s.last.unwrap_or(0)));
            let range = format!("{}..{}", s.first.unwrap_or(0), s.last.unwrap_or(0));
            println!(
                "{:>4}s | {:>8} | {:>6} ({:<14}) | {:>11} | {:>8} | {:>10} | {}",
                next.as_secs(),
                s.db_bytes / 1024,
                s.rows,
                range,
                s.checkpoints,
                s.segments,
                s.archive_bytes / 1024,
                ok.load(Ordering::Relaxed)
            );
            next += Duration::from_secs(30);
        }
    }
    rt.block_on(load).unwrap();
    drop(server);
    println!("requests: {} ok, {} failed", ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));

    // Every row is in the database or in exactly one segment.
    let archive = dir.path().join("archive");
    let s = sample(dir.path());
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let in_db: BTreeSet<i64> = conn
        .prepare("SELECT seq FROM audit")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut in_archive = BTreeSet::new();
    let mut duplicated = 0u64;
    for (_, _, path) in list_segments(&archive).unwrap() {
        let segment = Segment::decode(&std::fs::read(&path).unwrap()).unwrap();
        for row in segment.rows {
            if !in_archive.insert(row.seq) {
                duplicated += 1;
            }
        }
    }
    let last = s.last.unwrap_or(0);
    let missing = (1..=last).filter(|q| !in_db.contains(q) && !in_archive.contains(q)).count();
    let both = in_db.intersection(&in_archive).count();
    println!(
        "rows 1..{last}: {} in the archive ({} segments), {} in the database ({} of them also archived, not yet \
         pruned); missing {missing}, in two segments {duplicated}",
        in_archive.len(),
        s.segments,
        in_db.len(),
        both
    );

    // The other tables: none may grow with the number of requests.
    let mut counts = Vec::new();
    for table in ["auth_sigs", "quota", "mint_locks", "revocations", "audit_checkpoints", "audit_exports", "audit_jobs"]
    {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        counts.push(format!("{table} {n}"));
    }
    println!("rows in the other tables at the end: {}", counts.join(", "));

    let (full, full_ok, full_text) = verify(&config, &archive, &["--full"]);
    println!("audit verify --archive --full: {:.3} s, {}: {full_text}", full.as_secs_f64(), ok_word(full_ok));
    // The last checkpoint ending before the last minute's rows.
    let minute_ago = marks.iter().rev().find(|(t, _)| *t + Duration::from_secs(60) <= started.elapsed()).map(|m| m.1);
    let since = minute_ago.and_then(|upto| {
        conn.query_row(
            "SELECT last_seq, hash FROM audit_checkpoints WHERE last_seq <= ?1 ORDER BY last_seq DESC LIMIT 1",
            [upto],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .ok()
    });
    match since {
        Some((seq, hash)) => {
            let (inc, inc_ok, inc_text) = verify(&config, &archive, &["--since", &format!("{seq}:{hash}")]);
            println!(
                "audit verify --archive --since {seq}:… (rows after {seq}, the last minute): {:.3} s, {}: {inc_text}",
                inc.as_secs_f64(),
                ok_word(inc_ok)
            );
            println!("incremental / full: {:.1} %", 100.0 * inc.as_secs_f64() / full.as_secs_f64());
        }
        None => println!("no checkpoint a minute before the end (run longer)"),
    }
}

fn ok_word(ok: bool) -> &'static str {
    if ok {
        "passed"
    } else {
        "FAILED"
    }
}
