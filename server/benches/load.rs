//! Load benchmark: the service over HTTP against the in-process session-manager call, measured
//! in the same run, for 1 and 30 nodes per request, with an in-memory session key on the SQLite
//! store, the same on PostgreSQL with 1 and 3 replicas (when Debian's PostgreSQL server is
//! installed; started here in a temporary directory at PostgreSQL's default durability: fsync,
//! synchronous_commit and full_page_writes on), the audit log's append ceiling (rows/s with 1
//! and 3 writers, each a store of its own as a replica has), and (when SoftHSM2 is installed) a
//! SoftHSM2 session key.
//!
//! `cargo bench -p lit-session-server --bench load [-- --requests N --concurrency C]`
//!
//! With `-- --only postgres` (or `sqlite`, `softhsm`): that part alone; `-- --pg-core 0` pins
//! PostgreSQL with the servers instead. `LIT_BENCH_SERVER=path`
//! runs another build of the service under the same load client (before/after).
//!
//! With `-- --checkpoints`: only the throughput with audit checkpoints off and on (SQLite, 30
//! nodes, over HTTP), the cost of the default checkpoint settings.
//!
//! The server runs as its own process pinned to core 0 (`taskset`, when present) and this load
//! client pins itself to core 1, so the two do not share a core; PostgreSQL is pinned to core 1
//! too, so its place does not change from run to run. Prints, for each case, the
//! latency of one request at a time (p50/p99, in-process and over HTTP, and what HTTP adds)
//! and the throughput with several in flight (req/s both ways, their ratio, HTTP p50/p99).
//! Each figure is the better of two interleaved rounds, since other processes may share the
//! machine.

mod support;
use support::{arg, ServerProcess};

#[path = "../tests/common/hsm_tokens.rs"]
mod hsm_tokens;
use hsm_tokens::tokens;

#[path = "../tests/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lit_session_server::audit::{AuditEntry, Outcome};
use lit_session_server::auth::AuthMethod;
use lit_session_server::endpoint::Endpoint;
use lit_session_server::signing::{self, AuthUse, Format, Profile, ProfileSpec, SessionKeySpec, WalletSpec};
use lit_session_server::store::postgres::{PgOptions, PgStore};
use lit_session_server::store::sqlite::{Durability, SqliteOptions, SqliteStore};
use lit_session_server::store::ServiceStore;

struct Stats {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn stats(mut lat: Vec<Duration>, wall: Duration) -> Stats {
    lat.sort();
    let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    Stats { rate: lat.len() as f64 / wall.as_secs_f64(), p50_ms: pick(0.5), p99_ms: pick(0.99) }
}

fn pin_self(core: usize) {
    let _ = Command::new("taskset").args(["-p", "-c", &core.to_string(), &std::process::id().to_string()]).output();
}

/// Pins the PostgreSQL server (its postmaster and the processes it has started; the backends it
/// starts later inherit it) to `core`, so where the scheduler puts the database does not change
/// from one run to the next. Every process named `postgres` is taken: the bench's own cluster
/// is the only one it expects on the machine.
fn pin_postgres(core: usize) -> bool {
    let Ok(out) = Command::new("pgrep").args(["-x", "postgres"]).output() else { return false };
    let pids = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let pinned = pids.iter().filter(|pid| {
        Command::new("taskset")
            .args(["-a", "-p", "-c", &core.to_string(), pid.as_str()])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    pinned.count() > 0
}

fn nodes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("https://10.2.{}.{}:443", i / 250, i % 250 + 1)).collect()
}

fn body(n: usize) -> serde_json::Value {
    serde_json::json!({
        "nodeUrls": nodes(n),
        "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}],
        "nonce": "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
    })
}

async fn in_process(spec: &ProfileSpec, n: usize, requests: usize, concurrency: usize) -> Stats {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { durability: Durability::Normal, ..SqliteOptions::new(dir.path().join("s.sqlite")) };
    let store: Arc<dyn ServiceStore> = Arc::new(SqliteStore::open(&options).unwrap());
    let cache = lit_session_server::store::auth_sig_store(store);
    let signer = Arc::new(Profile::open(spec, cache, std::time::Duration::from_secs(60)).unwrap());
    let input = support::mint_input(&nodes(n), "*");
    signer.mint(&input).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (signer, input) = (signer.clone(), input.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..requests / concurrency {
                let t = Instant::now();
                signer.mint(&input).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    stats(lat, started.elapsed())
}

/// Answers other than 200 since the last table row (printed with it): a store that fails
/// requests under load shows it instead of stopping the bench.
static NON_200: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Requests spread round-robin over the replicas `bases`.
async fn over_http(bases: &[String], token: &str, n: usize, requests: usize, concurrency: usize) -> Stats {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let urls: Vec<String> = bases.iter().map(|b| format!("{b}/v1/session-sigs")).collect();
    let body = Arc::new(serde_json::to_vec(&body(n)).unwrap());
    let send = |c: reqwest::Client, url: String, body: Arc<Vec<u8>>, token: String| async move {
        let r = c
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            NON_200.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        r.bytes().await.unwrap();
    };
    for i in 0..concurrency * 2 {
        send(client.clone(), urls[i % urls.len()].clone(), body.clone(), token.to_string()).await;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (c, urls, body, token) = (client.clone(), urls.clone(), body.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in 0..requests / concurrency {
                let t = Instant::now();
                send(c.clone(), urls[(task + i) % urls.len()].clone(), body.clone(), token.clone()).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    stats(lat, started.elapsed())
}

fn start(config: &std::path::Path, env: &[(&str, String)]) -> (ServerProcess, String) {
    support::start(config, env, Some(0))
}

fn write_config(dir: &std::path::Path, signer_toml: &str, token: &str, durability: &str) -> std::path::PathBuf {
    let store = format!("path = \"{}\"\ndurability = \"{durability}\"", dir.join("store.sqlite").display());
    support::write_config(dir, signer_toml, token, &store, "")
}

/// What a table row showed, for the summary against the targets.
struct Shown {
    label: String,
    nodes: usize,
    added_p50_ms: f64,
    http_rate: f64,
    http_p99_ms: f64,
}

/// The table rows so far.
static SHOWN: std::sync::Mutex<Vec<Shown>> = std::sync::Mutex::new(Vec::new());

fn row(label: &str, n: usize, lat: (&Stats, &Stats), load: (&Stats, &Stats)) {
    SHOWN.lock().unwrap().push(Shown {
        label: label.to_string(),
        nodes: n,
        added_p50_ms: lat.1.p50_ms - lat.0.p50_ms,
        http_rate: load.1.rate,
        http_p99_ms: load.1.p99_ms,
    });
    println!(
        "{label:<12} {n:>3} | {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>+7.3} | {:>7.0} {:>7.0} {:>6.1} % {:>7.3} {:>7.3} | {:>6.1} %{}",
        lat.0.p50_ms,
        lat.0.p99_ms,
        lat.1.p50_ms,
        lat.1.p99_ms,
        lat.1.p50_ms - lat.0.p50_ms,
        load.0.rate,
        load.1.rate,
        100.0 * load.1.rate / load.0.rate,
        load.1.p50_ms,
        load.1.p99_ms,
        // The one-core bound: one in-process call after another.
        100.0 * load.1.rate * lat.0.p50_ms / 1e3,
        match NON_200.swap(0, std::sync::atomic::Ordering::Relaxed) {
            0 => String::new(),
            n => format!("  ({n} answers not 200)"),
        },
    );
}

/// An approved session-sigs row, as the service writes one.
fn audit_entry(writer: usize, n: u64) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: signing::Timestamp::now().to_string(),
        request_id: format!("bench-{writer}-{n}"),
        client: "bench".into(),
        auth: AuthMethod::Bearer,
        endpoint: Endpoint::SessionSigs,
        decision: Outcome::Approved,
        rule: Some("allow[0]".into()),
        reasons: vec![],
        signer: Some("default".into()),
        session_key: Some("ab".repeat(32)),
        resources: vec!["lit-pkp://*=pkp-signing".into()],
        node_count: 30,
        expiration: Some("2030-01-01T00:10:00.000Z".into()),
        auth_sig: Some(AuthUse::Reused),
        status: 200,
        format: Some(Format::V7),
        max_price: None,
    }
}

/// The audit append ceiling: `writers` stores (each opened on its own, as replicas are), each
/// with `in_flight` appends at a time, for `run`. Returns rows/s over all writers.
async fn audit_ceiling(writers: &[Arc<dyn ServiceStore>], in_flight: usize, run: Duration) -> f64 {
    let started = Instant::now();
    let deadline = started + run;
    let mut tasks = Vec::new();
    for (w, store) in writers.iter().enumerate() {
        for t in 0..in_flight {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    store.append_audit(audit_entry(w, (t as u64) << 32 | n), None).await.unwrap();
                    n += 1;
                }
                n
            }));
        }
    }
    let mut rows = 0;
    for t in tasks {
        rows += t.await.unwrap();
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// The disk's flush time where the databases live: one 8 kB write and `fdatasync`, p50 of 100
/// (what every durable commit waits for at least once).
fn flush_ms() -> f64 {
    use std::io::{Seek, Write};
    let mut file = tempfile::tempfile().unwrap();
    let page = [0x5a_u8; 8192];
    let mut lat = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(&page).unwrap();
        file.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    stats(lat, Duration::from_secs(1)).p50_ms
}

/// The better of two runs (other processes share the machine): lower p50, higher rate.
fn best(a: Stats, b: Stats) -> Stats {
    Stats { rate: a.rate.max(b.rate), p50_ms: a.p50_ms.min(b.p50_ms), p99_ms: a.p99_ms.min(b.p99_ms) }
}

/// Latency (one request at a time) and throughput (`concurrency` in flight), in-process and
/// over HTTP, interleaved over `rounds` so both see the same machine.
fn measure(
    rt: &tokio::runtime::Runtime,
    spec: &ProfileSpec,
    bases: &[String],
    token: &str,
    n: usize,
    requests: usize,
    concurrency: usize,
) -> ((Stats, Stats), (Stats, Stats)) {
    let lat_requests = (requests / 4).max(50);
    let mut out: Option<((Stats, Stats), (Stats, Stats))> = None;
    for _ in 0..2 {
        let li = rt.block_on(in_process(spec, n, lat_requests, 1));
        let lh = rt.block_on(over_http(bases, token, n, lat_requests, 1));
        let ti = rt.block_on(in_process(spec, n, requests, concurrency));
        let th = rt.block_on(over_http(bases, token, n, requests, concurrency));
        out = Some(match out {
            None => ((li, lh), (ti, th)),
            Some(((a, b), (c, d))) => ((best(a, li), best(b, lh)), (best(c, ti), best(d, th))),
        });
    }
    out.unwrap_or_else(|| unreachable!())
}

/// The PostgreSQL figures the service's targets name, from the table above: what HTTP adds at
/// one request at a time, 3 replicas' throughput against 1's (the same core for both), and the
/// p99 with several in flight against SQLite's.
fn summary(concurrency: usize) {
    let shown = SHOWN.lock().unwrap();
    let find = |label: &str, n: usize| shown.iter().find(|s| s.label == label && s.nodes == n);
    let (Some(_), Some(_)) = (find("postgres x1", 30), find("postgres x3", 30)) else { return };
    println!("postgres against its targets:");
    for n in [1, 30] {
        if let Some(one) = find("postgres x1", n) {
            println!("  x1, {n:>2} nodes: HTTP added p50 {:+.3} ms (target at 30 nodes: <= +0.8 ms)", one.added_p50_ms);
        }
    }
    for n in [1, 30] {
        if let (Some(one), Some(three)) = (find("postgres x1", n), find("postgres x3", n)) {
            println!(
                "  {n:>2} nodes, {concurrency} in flight: 3 replicas {:.0} req/s, 1 replica {:.0} req/s, 3/1 = {:.2} \
                 (target >= 1)",
                three.http_rate,
                one.http_rate,
                three.http_rate / one.http_rate
            );
        }
    }
    for label in ["postgres x1", "postgres x3"] {
        for n in [1, 30] {
            for sqlite in ["sqlite/normal", "sqlite/full"] {
                if let (Some(pg), Some(lite)) = (find(label, n), find(sqlite, n)) {
                    println!(
                        "  {label}, {n:>2} nodes, {concurrency} in flight: p99 {:.3} ms = {:.2} x {sqlite}'s (target <= 2)",
                        pg.http_p99_ms,
                        pg.http_p99_ms / lite.http_p99_ms
                    );
                }
            }
        }
    }
}

/// `--checkpoints`: the service's throughput with audit checkpoints off and on (default
/// checkpoint settings, an in-memory checkpoint key), SQLite, 30 nodes, over HTTP; rounds
/// interleaved, the better of three each.
fn checkpoints_on_off(rt: &tokio::runtime::Runtime, token: &str, requests: usize, concurrency: usize) {
    let off_dir = tempfile::tempdir().unwrap();
    let on_dir = tempfile::tempdir().unwrap();
    let signer = "session_key = \"memory\"\nwallet = \"random\"";
    let off = write_config(off_dir.path(), signer, token, "normal");
    let seed = on_dir.path().join("audit.seed");
    support::private(&seed, &"5a".repeat(32));
    let store = format!("path = \"{}\"\ndurability = \"normal\"", on_dir.path().join("store.sqlite").display());
    let audit = format!("[audit]\ncheckpoint_key_seed_file = \"{}\"\n", seed.display());
    let on = support::write_config(on_dir.path(), signer, token, &store, &audit);
    let (off_server, off_base) = start(&off, &[]);
    let (on_server, on_base) = start(&on, &[]);
    let mut best_off: Option<Stats> = None;
    let mut best_on: Option<Stats> = None;
    for _ in 0..3 {
        let a = rt.block_on(over_http(std::slice::from_ref(&off_base), token, 30, requests, concurrency));
        best_off = Some(match best_off {
            None => a,
            Some(b) => best(a, b),
        });
        let a = rt.block_on(over_http(std::slice::from_ref(&on_base), token, 30, requests, concurrency));
        best_on = Some(match best_on {
            None => a,
            Some(b) => best(a, b),
        });
    }
    let (off_s, on_s) = (best_off.unwrap_or_else(|| unreachable!()), best_on.unwrap_or_else(|| unreachable!()));
    let checkpoints: i64 = rusqlite::Connection::open(on_dir.path().join("store.sqlite"))
        .and_then(|c| c.query_row("SELECT count(*) FROM audit_checkpoints", [], |r| r.get(0)))
        .unwrap_or(-1);
    println!("{requests} requests x 3 rounds each, {concurrency} in flight, 30 nodes, SQLite, over HTTP");
    println!("checkpoints | req/s    p50 ms   p99 ms");
    println!("off         | {:>6.0}  {:>7.3}  {:>7.3}", off_s.rate, off_s.p50_ms, off_s.p99_ms);
    println!(
        "on          | {:>6.0}  {:>7.3}  {:>7.3}   ({checkpoints} checkpoints written)",
        on_s.rate, on_s.p50_ms, on_s.p99_ms
    );
    println!("on / off    | {:>6.1} %", 100.0 * on_s.rate / off_s.rate);
    drop((off_server, on_server));
}

fn main() {
    let requests = arg("--requests", 2000);
    let concurrency = arg("--concurrency", 8);
    pin_self(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let token = "bench-token-0123456789abcdef";
    if std::env::args().any(|a| a == "--checkpoints") {
        checkpoints_on_off(&rt, token, requests, concurrency);
        return;
    }
    println!("{requests} requests, {concurrency} in flight; server on core 0, load client on core 1");
    println!("durability: sqlite/normal = WAL, synchronous=NORMAL; sqlite/full = WAL, synchronous=FULL (the default: an fsync per commit)");
    let pg = postgres::Postgres::start_durable();
    let pg_core = arg("--pg-core", 1);
    if pg.is_ok() && pin_postgres(pg_core) {
        let with = if pg_core == 1 { "the load client" } else { "the server" };
        println!("PostgreSQL pinned to core {pg_core} (with {with})");
    }
    if let Ok(pg) = &pg {
        let show = |name: &str| pg.psql(&format!("SHOW {name}")).unwrap_or_else(|e| format!("? ({e})"));
        println!(
            "durability: {}, unix socket: fsync={}, synchronous_commit={}, full_page_writes={}, wal_sync_method={} \
             (its defaults: a commit waits for its WAL flush)",
            pg.psql("SELECT version()").unwrap_or_default().split(" on ").next().unwrap_or("?"),
            show("fsync"),
            show("synchronous_commit"),
            show("full_page_writes"),
            show("wal_sync_method")
        );
    }
    println!(
        "disk: one 8 kB write + fdatasync in the temporary directory (the databases' disk): p50 {:.3} ms",
        flush_ms()
    );
    println!("                     | one at a time (ms): in-process      HTTP     added | {concurrency} in flight: req/s in-process, HTTP, ratio; HTTP p50, p99 ms");
    println!("store        nodes   |   p50     p99     p50     p99     p50   |  in-proc   HTTP   HTTP/in    p50     p99 | HTTP / (1 / in-process p50)");

    let memory = ProfileSpec {
        name: "default".into(),
        session_key: SessionKeySpec::Memory,
        wallet: WalletSpec::Random,
        auth_sig_lifetime: time::Duration::hours(24),
        expiry_margin: time::Duration::minutes(5),
    };
    let ceiling_run = Duration::from_millis(arg("--ceiling-ms", 3000) as u64);
    let in_flight = 16;
    let mut ceilings = Vec::new();
    let only: String = arg("--only", String::new());
    let part = |name: &str| only.is_empty() || only == name;
    let sqlite_parts: &[(&str, Durability)] =
        if part("sqlite") { &[("normal", Durability::Normal), ("full", Durability::Full)] } else { &[] };
    for &(name, durability) in sqlite_parts {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "session_key = \"memory\"\nwallet = \"random\"", token, name);
        let (server, base) = start(&config, &[]);
        for n in [1, 30] {
            let ((li, lh), (ti, th)) =
                measure(&rt, &memory, std::slice::from_ref(&base), token, n, requests, concurrency);
            row(&format!("sqlite/{name}"), n, (&li, &lh), (&ti, &th));
        }
        drop(server);
        // The append ceiling of the same file, 1 and 3 writers (printed after the table).
        for writers in [1, 3] {
            let options = SqliteOptions { durability, ..SqliteOptions::new(dir.path().join("store.sqlite")) };
            let stores: Vec<Arc<dyn ServiceStore>> =
                (0..writers).map(|_| Arc::new(SqliteStore::open(&options).unwrap()) as Arc<dyn ServiceStore>).collect();
            let rate = rt.block_on(audit_ceiling(&stores, in_flight, ceiling_run));
            ceilings.push((format!("sqlite/{name}"), writers, rate));
        }
    }

    // The same on PostgreSQL at its default durability (unix socket; every commit waits for its
    // WAL flush), 1 and 3 replicas; the replicas share a seeded session key and wallet.
    match &pg {
        _ if !part("postgres") => {}
        Err(e) => println!("postgres   (skipped: {e})"),
        Ok(pg) => {
            for writers in [1, 3] {
                let stores: Vec<Arc<dyn ServiceStore>> = rt.block_on(async {
                    let mut out: Vec<Arc<dyn ServiceStore>> = Vec::new();
                    for _ in 0..writers {
                        out.push(Arc::new(PgStore::open(&PgOptions::new(pg.connection())).await.unwrap()));
                    }
                    out
                });
                let rate = rt.block_on(audit_ceiling(&stores, in_flight, ceiling_run));
                ceilings.push(("postgres".to_string(), writers, rate));
            }
            let pdir = tempfile::tempdir().unwrap();
            let secret = |name: &str, hex: &str| {
                use std::os::unix::fs::PermissionsExt;
                let p = pdir.path().join(name);
                std::fs::write(&p, hex).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
                p
            };
            let (seed, wallet) = (secret("session.seed", &"71".repeat(32)), secret("wallet.key", &"72".repeat(32)));
            let signer =
                format!("session_key_seed_file = \"{}\"\nwallet_key_file = \"{}\"", seed.display(), wallet.display());
            let store = format!("backend = \"postgres\"\npostgres = \"{}\"", pg.connection());
            let spec = ProfileSpec {
                session_key: SessionKeySpec::SeedFile(seed.clone()),
                wallet: WalletSpec::KeyFile(wallet.clone()),
                ..memory.clone()
            };
            for replicas in [1, 3] {
                let mut servers = Vec::new();
                let mut bases = Vec::new();
                for i in 0..replicas {
                    let sub = pdir.path().join(format!("x{replicas}-{i}"));
                    std::fs::create_dir_all(&sub).unwrap();
                    let config = support::write_config(&sub, &signer, token, &store, "");
                    let (server, base) = start(&config, &[]);
                    servers.push(server);
                    bases.push(base);
                }
                let label = format!("postgres x{replicas}");
                for n in [1, 30] {
                    let ((li, lh), (ti, th)) = measure(&rt, &spec, &bases, token, n, requests, concurrency);
                    row(&label, n, (&li, &lh), (&ti, &th));
                }
                drop(servers);
            }
        }
    }
    drop(pg);
    for (label, writers, rate) in &ceilings {
        println!("audit append ceiling  {label:<12} {writers} writer(s) x {in_flight} in flight: {rate:>7.0} rows/s");
    }
    summary(concurrency);
    if !part("softhsm") {
        return;
    }

    let Ok(hsm) = tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &["bench"]) else {
        println!("softhsm    (skipped: SoftHSM2 not installed)");
        return;
    };
    hsm.activate();
    let tok = hsm.main();
    let uri = format!(
        "pkcs11:token=bench;object=session?module-path={}&pin-source=file:{}",
        hsm.library.display(),
        tok.pin_file.display()
    );
    signing::pkcs11_generate_session_key(&uri.replacen(";object=session", "", 1), "session").unwrap();
    let hdir = tempfile::tempdir().unwrap();
    let config = write_config(hdir.path(), &format!("session_key = \"{uri}\"\nwallet = \"random\""), token, "normal");
    let (server, base) = start(&config, &[("SOFTHSM2_CONF", hsm.conf().display().to_string())]);
    let base = [base];
    // The URI names its key (object=): nothing rotates.
    let rotation = signing::KeyRotation::Process;
    let session_key = SessionKeySpec::Pkcs11 { uri, label_prefix: None, rotate_after: None, rotation };
    let spec = ProfileSpec { session_key, ..memory };
    let hsm_requests = (requests / 4).max(concurrency * 10);
    for n in [1, 30] {
        let ((li, lh), (ti, th)) = measure(&rt, &spec, &base, token, n, hsm_requests, concurrency);
        row("softhsm", n, (&li, &lh), (&ti, &th));
    }
    drop(server);
}
