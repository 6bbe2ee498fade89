//! Several server processes on one store: PostgreSQL (Debian's server, started here in a
//! temporary directory on a unix socket) or one SQLite file. One wallet signature across
//! replicas that share a session key, rate limits counted together, one audit chain; the
//! database stopped, hung and failed over under load.
//!
//! Skipped when PostgreSQL or SoftHSM2 is missing, unless `LIT_REQUIRE_PG=1` /
//! `LIT_REQUIRE_HSM=1` (as `scripts/test-all.sh` sets). Scenarios run one at a time.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::Postgres;
use common::tokens;
use common::*;
use lit_session_server::endpoint::Endpoint;
use lit_session_server::signing;
use lit_session_server::store::postgres::{self, PgOptions};
use lit_session_server::store::sqlite::{Durability, SqliteOptions};
use serde_json::{json, Value};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn pg_or_skip() -> Option<Postgres> {
    match Postgres::start_new() {
        Ok(pg) => Some(pg),
        Err(e) if std::env::var_os("LIT_REQUIRE_PG").is_some() => panic!("PostgreSQL required: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// Token labels this binary uses: SoftHSM2 lists the tokens it found when the process first
/// initialised it, so all are made up front, in one SoftHSM2 directory for the whole process.
const TOKENS: &[(&str, bool)] = &[
    ("shared-postgres", true),
    ("shared-sqlite", true),
    ("fleet-postgres", true),
    ("fleet-sqlite", true),
    ("replica0", false),
    ("replica1", false),
    ("replica2", false),
];

/// `(session key URI, wallet URI)` per token label, with the SoftHSM2 configuration path.
struct Tokens {
    conf: String,
    uris: std::collections::BTreeMap<&'static str, (String, String)>,
}

fn hsm_or_skip() -> Option<&'static Tokens> {
    static HSM: std::sync::OnceLock<Result<Tokens, String>> = std::sync::OnceLock::new();
    let made = HSM.get_or_init(|| {
        let labels: Vec<&str> = TOKENS.iter().map(|(label, _)| *label).collect();
        let hsm = tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &labels)?;
        hsm.activate();
        let made = hsm.tokens.clone();
        let mut uris = std::collections::BTreeMap::new();
        for ((label, wallet), token) in TOKENS.iter().zip(made) {
            let base = format!(
                "pkcs11:token={label}?module-path={}&pin-source=file:{}",
                hsm.library.display(),
                token.pin_file.display()
            );
            signing::pkcs11_generate_session_key(&base, "session").map_err(|e| e.to_string())?;
            if *wallet {
                signing::pkcs11_generate_wallet(&base, "wallet").map_err(|e| e.to_string())?;
            }
            let object = |o: &str| base.replacen(&format!("token={label}"), &format!("token={label};object={o}"), 1);
            uris.insert(*label, (object("session"), object("wallet")));
        }
        Ok(Tokens { conf: hsm.conf().display().to_string(), uris })
    });
    match made {
        Ok(t) => Some(t),
        Err(e) if std::env::var_os("LIT_REQUIRE_HSM").is_some() => panic!("SoftHSM2 required: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

const POLICY: &str = r#"
[clients.app]
[[clients.app.allow]]
signers = ["*"]
resources = ["lit-pkp://*", "lit-litaction://*"]
abilities = ["pkp-signing", "lit-action-execution"]
max_lifetime = "10m"
nodes = ["*"]

[clients.limited]
rate = { count = 40, per = "1h" }
[[clients.limited.allow]]
signers = ["*"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]

# Short sessions, so rotated keys can be destroyed within the test.
[clients.fleet]
endpoints = ["session-sigs", "keys"]
[[clients.fleet.allow]]
signers = ["*"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "4s"
nodes = ["*"]

[clients.ops]
endpoints = ["admin"]
"#;

/// Writes the shared files and one config per replica (`store` and `signer(i)` are TOML), then
/// starts the replicas.
fn start_replicas(
    dir: &Path,
    n: usize,
    server_extra: &str,
    store: &str,
    signer: &dyn Fn(usize) -> String,
    env: &[(&str, &str)],
) -> Vec<Server> {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    write_tokens(&dir.join("tokens"), &[("app", "t"), ("limited", "l"), ("fleet", "f"), ("ops", "o")]);
    (0..n)
        .map(|i| {
            let config = config_path(dir, i);
            let text = format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nhealth_interval = \"500ms\"\n{server_extra}\n\
                 [auth]\ntokens_file = \"{}\"\n[policy]\nfile = \"{}\"\n[store]\n{store}\n[signers.default]\n{}\n",
                dir.join("tokens").display(),
                dir.join("policy.toml").display(),
                signer(i)
            );
            std::fs::write(&config, text).unwrap();
            Server::start(&["--config", config.to_str().unwrap(), "--metrics-listen", "127.0.0.1:0"], dir, env).unwrap()
        })
        .collect()
}

/// One replica on `connection` with `query_timeout` and `connect_timeout` at 500 ms, ready, after
/// one mint (so its AuthSig is cached and a request needs only its audit row); and a client.
fn one_replica_after_a_mint(dir: &Path, connection: &str) -> (Vec<Server>, reqwest::blocking::Client) {
    let store = pg_store(connection, "query_timeout = \"500ms\"\nconnect_timeout = \"500ms\"\n");
    let servers = start_replicas(dir, 1, "", &store, &seeded(dir), &[]);
    let c = client();
    assert!(wait_until(Duration::from_secs(20), || ready(&c, &servers[0]) == 200), "{}", servers[0].log());
    let (status, first) = post(&c, &servers[0].url("/v1/session-sigs"), Some("t"), &nodes3());
    assert_eq!(status, 200, "{first}");
    (servers, c)
}

fn config_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("config-{i}.toml"))
}

fn pg_store(pg: &str, extra: &str) -> String {
    format!("backend = \"postgres\"\npostgres = \"{pg}\"\n{extra}")
}

struct Outcome {
    /// The HTTP status; 0 when the connection failed (a replica killed or gone).
    status: u16,
    body: Value,
    took: Duration,
    request_id: String,
    /// When the request was sent and its answer arrived (the node checks times against them).
    sent: signing::Timestamp,
    at: signing::Timestamp,
    /// Which of the bodies it sent ([`fire_sets`]; see [`verify_oks`]).
    set: usize,
}

/// `n` requests at once, round-robin over `urls`; every one gets a unique correlation id.
fn fire(urls: &[String], token: &str, body: &Value, n: usize, tag: &str) -> Vec<Outcome> {
    fire_sets(urls, token, std::slice::from_ref(body), n, tag)
}

/// [`fire`], request `i` sending `bodies[i % bodies.len()]`.
fn fire_sets(urls: &[String], token: &str, bodies: &[Value], n: usize, tag: &str) -> Vec<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let set = i % bodies.len();
                let (client, url, token, body) = (
                    client.clone(),
                    format!("{}/v1/session-sigs", urls[i % urls.len()]),
                    token.to_string(),
                    bodies[set].clone(),
                );
                let request_id = format!("{tag}-{i}");
                tokio::spawn(async move {
                    let started = Instant::now();
                    let sent = signing::Timestamp::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("x-correlation-id", &request_id)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap();
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    Outcome {
                        status,
                        body,
                        took: started.elapsed(),
                        request_id,
                        sent,
                        at: signing::Timestamp::now(),
                        set,
                    }
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
}

fn pkp_request() -> signing::ResourceAbilityRequest {
    signing::parse_request("lit-pkp", "0x1a2b", "pkp-signing", None).unwrap()
}

/// The second grant set's body ([`nodes3`] asks for the first): a Lit Action instead of a PKP.
fn nodes3_action() -> Value {
    let mut body = nodes3();
    body["resourceAbilityRequests"] =
        json!([{"resource": {"resource": "*", "resourcePrefix": "lit-litaction"}, "ability": "lit-action-execution"}]);
    body
}

/// Checks every 200 by the node's rules at the moment it arrived, for a resource its grant set covers (set 0: [`nodes3`]'s
/// PKP; set 1: [`nodes3_action`]'s Lit Action); returns the distinct wallet signatures they carry.
fn verify_oks<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> BTreeSet<String> {
    let requests =
        [pkp_request(), signing::parse_request("lit-litaction", "QmReplicas", "lit-action-execution", None).unwrap()];
    let mut wallet_sigs = BTreeSet::new();
    for o in outcomes.into_iter().filter(|o| o.status == 200) {
        let map = o.body["sessionSigs"].to_string();
        let request = &requests[o.set];
        let results =
            signing::verify_map(&map, None, std::slice::from_ref(request), o.at, false, signing::Generation::Datil)
                .unwrap();
        assert!(!results.is_empty() && results.iter().all(|r| r.valid), "an invalid 200: {results:?}");
        for sig in o.body["sessionSigs"].as_object().unwrap().values() {
            let message: Value = serde_json::from_str(sig["signedMessage"].as_str().unwrap()).unwrap();
            let capability = message["capabilities"].as_array().unwrap().last().unwrap();
            wallet_sigs.insert(capability["sig"].as_str().unwrap().to_string());
        }
    }
    wallet_sigs
}

fn count(outcomes: &[Outcome], status: u16) -> usize {
    outcomes.iter().filter(|o| o.status == status).count()
}

fn audit_verify_config(config: &Path) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn int(pg: &Postgres, sql: &str) -> i64 {
    pg.psql(sql).unwrap().parse().unwrap()
}

fn metric(server: &Server, line_prefix: &str) -> u64 {
    let m = client().get(format!("{}/metrics", server.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
    m.lines().find_map(|l| l.strip_prefix(line_prefix)).map_or(0, |n| n.trim().parse::<u64>().unwrap())
}

fn nodes3() -> Value {
    sigs_body(
        &["https://10.3.0.1:443", "https://10.3.0.2:443", "https://10.3.0.3:443"],
        &[("lit-pkp", "*", "pkp-signing")],
    )
}

/// Three replicas, one store, one SoftHSM2 token holding the shared session key and the
/// wallet, cold cache: 1,000 concurrent requests alternating two grant sets cause exactly two
/// wallet signatures, one per grant set (the AuthSig cache is keyed by grant set in memory and
/// in the store).
fn one_wallet_signature_across_three_replicas(
    store: &dyn Fn(&Path) -> String,
    backend: &str,
) -> (Vec<Server>, tempfile::TempDir) {
    let hsm = hsm_or_skip().expect("SoftHSM2");
    let (session, wallet) = hsm.uris[format!("shared-{backend}").as_str()].clone();
    let dir = tempfile::tempdir().unwrap();
    let store_toml = store(dir.path());
    let conf = hsm.conf.clone();
    let signer = |_| format!("session_key = \"{session}\"\nwallet = \"{wallet}\"\n");
    let started = Instant::now();
    let servers = start_replicas(dir.path(), 3, "", &store_toml, &signer, &[("SOFTHSM2_CONF", &conf)]);
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let load = Instant::now();
    let outcomes = fire_sets(&urls, "t", &[nodes3(), nodes3_action()], 1000, backend);
    let took = load.elapsed();
    let bad: Vec<String> =
        outcomes.iter().filter(|o| o.status != 200).take(3).map(|o| format!("{} {}", o.status, o.body)).collect();
    assert_eq!(count(&outcomes, 200), 1000, "{bad:?}");
    let wallet_sigs = verify_oks(&outcomes);
    assert_eq!(wallet_sigs.len(), 2, "every response carries its grant set's one wallet signature");
    for set in 0..2 {
        assert_eq!(verify_oks(outcomes.iter().filter(|o| o.set == set)).len(), 1, "grant set {set}");
    }
    let uses: Vec<&str> = outcomes.iter().map(|o| o.body["authSig"]["use"].as_str().unwrap()).collect();
    assert_eq!(uses.iter().filter(|u| **u == "signed").count(), 2);
    // The wallet's own count: two signatures across the three replicas.
    let signed: u64 = servers.iter().map(|s| metric(s, "litsigner_auth_sig_total{outcome=\"signed\"} ")).sum();
    assert_eq!(signed, 2);
    eprintln!(
        "{backend}: 3 replicas, 1000 concurrent requests over 2 grant sets in {:.2} s (p50 {:.0} ms, max {:.0} ms); \
         uses: signed 2, waited {}, reused {}; start-up to done {:.1} s",
        took.as_secs_f64(),
        percentile(&outcomes, 0.5),
        percentile(&outcomes, 1.0),
        uses.iter().filter(|u| **u == "waited").count(),
        uses.iter().filter(|u| **u == "reused").count(),
        started.elapsed().as_secs_f64()
    );

    // Rate limits are counted together: 40 per window across all replicas.
    let mut limited = nodes3();
    limited["nodeUrls"] = json!(["https://10.3.0.1:443"]);
    let outcomes_l = fire(&urls, "l", &limited, 90, "limited");
    assert_eq!(count(&outcomes_l, 200), 40, "the limit holds across replicas");
    assert_eq!(count(&outcomes_l, 429), 50);

    // Audit rows = responses; the chain verifies.
    let (code, out) = audit_verify_config(&config_path(dir.path(), 0));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 1090 rows"), "{out}");
    (servers, dir)
}

fn percentile(outcomes: &[Outcome], q: f64) -> f64 {
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.took.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms[((ms.len() as f64 - 1.0) * q).round() as usize]
}

/// The store's contract (`store::testing`, which SQLite's unit tests run too) on a real server.
#[test]
fn postgres_keeps_the_store_contract() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let settings = lit_session_server::store::testing::fast_postgres(pg.connection());
    rt.block_on(async {
        let store = lit_session_server::run::open_store(&settings).await.unwrap();
        lit_session_server::store::testing::check_service_store(&*store, &settings).await;

        // Group commit: concurrent appends share transactions (fewer distinct inserting
        // transaction ids than rows) and extend one intact chain, each answered with its row.
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                let mut entry = lit_session_server::store::testing::audit_entry(1);
                entry.request_id = format!("group-{i}");
                tokio::spawn(async move { store.append_audit(entry, None).await.unwrap() })
            })
            .collect();
        let mut appended = Vec::new();
        for t in tasks {
            appended.push(t.await.unwrap());
        }
        let rows = store.audit_rows(0, 1000).await.unwrap();
        // The contract suite pruned the chain's first rows: it is checked from the first kept one.
        let first = rows.first().expect("rows");
        let mut chain = lit_session_server::audit::ChainVerifier::after(first.seq - 1, &first.prev_hash);
        for row in &rows {
            chain.push(row).expect("an intact chain");
        }
        for a in &appended {
            assert!(rows.iter().any(|r| r.seq == a.seq && r.hash == a.hash), "row {} not as answered", a.seq);
        }

        // A mint lock given back ends its transaction and keeps its connection for the pool
        // (closing it would cost the next lock a new server process): the server process that
        // held each lock is still there, idle, once the lock is released.
        let id = lit_session_server::store::AuthSigId {
            signer: "11".repeat(20),
            session_key: "22".repeat(32),
            grants: String::new(),
        };
        // (The contract suite left a holder that died: it idles in its transaction meanwhile.)
        let holders = || -> BTreeSet<String> {
            let sql = "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction'";
            pg.psql(sql).unwrap().lines().map(str::to_string).collect()
        };
        for round in 0..5 {
            let before = holders();
            let guard = store.lock_for_mint(&id).await.unwrap();
            let new: Vec<String> = holders().difference(&before).cloned().collect();
            let [holder] = new.as_slice() else { panic!("round {round}: new lock holders {new:?}") };
            drop(guard);
            let released = Instant::now();
            while holders().contains(holder) {
                assert!(released.elapsed() < Duration::from_secs(10), "round {round}: the lock was not released");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let state = pg.psql(&format!("SELECT state FROM pg_stat_activity WHERE pid = {holder}")).unwrap();
            assert_eq!(state, "idle", "round {round}: the lock's connection (pid {holder}) was not kept");
        }
    });
    let transactions = int(&pg, "SELECT count(DISTINCT xmin::text) FROM audit WHERE request_id LIKE 'group-%'");
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE request_id LIKE 'group-%'"), 64);
    eprintln!("group commit: 64 concurrent appends in {transactions} transactions");
    assert!(transactions < 64, "no two rows shared a commit");
}

/// A database written by schema version 1 (made here from migration 0001 as it shipped) is
/// upgraded in place when a store opens it, and keeps its rows.
#[test]
fn postgres_upgrades_a_version_1_database_and_keeps_its_rows() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    pg.psql(include_str!("../migrations/postgres/0001_init.sql")).unwrap();
    pg.psql(lit_session_server::store::testing::V1_ROWS_SQL).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let settings = lit_session_server::store::testing::fast_postgres(pg.connection());
    rt.block_on(async {
        let store = lit_session_server::run::open_store(&settings).await.unwrap();
        lit_session_server::store::testing::check_v1_rows_kept(&*store).await;
    });
    assert_eq!(
        int(&pg, "SELECT max(version) FROM schema_version"),
        lit_session_server::store::postgres::SCHEMA_VERSION
    );
}

#[test]
fn postgres_three_replicas_one_token_cause_one_wallet_signature() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    if hsm_or_skip().is_none() {
        return;
    }
    let conn = pg.connection();
    let (servers, _dir) = one_wallet_signature_across_three_replicas(&|_| pg_store(&conn, ""), "postgres");
    for s in servers {
        assert!(s.stop().success());
    }
    // One row per grant set, each written once; the audit log names the two signatures.
    assert_eq!(pg.psql("SELECT count(*), count(DISTINCT grants), max(version) FROM auth_sigs").unwrap(), "2|2|1");
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE endpoint = 'session-sigs' AND decision = 'approved'"), 1040);
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE record LIKE '%\"authSig\":\"signed\"%'"), 2);
    assert_eq!(int(&pg, "SELECT sum(used) FROM quota WHERE client = 'limited'"), 40);
}

#[test]
fn sqlite_three_processes_on_one_file_cause_one_wallet_signature() {
    let _one = serial();
    if hsm_or_skip().is_none() {
        return;
    }
    let store = |dir: &Path| format!("path = \"{}\"\ndurability = \"normal\"\n", dir.join("store.sqlite").display());
    let (servers, _dir) = one_wallet_signature_across_three_replicas(&store, "sqlite");
    let path = servers[0].dir.join("store.sqlite");
    for s in servers {
        assert!(s.stop().success());
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let (rows, grants, version): (i64, i64, i64) = conn
        .query_row("SELECT count(*), count(DISTINCT grants), max(version) FROM auth_sigs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((rows, grants, version), (2, 2, 1));
}

#[test]
fn postgres_a_token_per_replica_gives_three_auth_sigs() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let Some(hsm) = hsm_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("wallet.key"), "5a".repeat(32));
    let keys: Vec<(String, String)> = (0..3).map(|i| hsm.uris[format!("replica{i}").as_str()].clone()).collect();
    let wallet = dir.path().join("wallet.key");
    let signer = |i: usize| format!("session_key = \"{}\"\nwallet_key_file = \"{}\"\n", keys[i].0, wallet.display());
    let conf = hsm.conf.clone();
    let servers =
        start_replicas(dir.path(), 3, "", &pg_store(&pg.connection(), ""), &signer, &[("SOFTHSM2_CONF", &conf)]);
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let outcomes = fire(&urls, "t", &nodes3(), 300, "per-token");
    assert_eq!(count(&outcomes, 200), 300);
    assert_eq!(verify_oks(&outcomes).len(), 3, "one AuthSig per session key");
    let session_keys: BTreeSet<&str> = outcomes.iter().map(|o| o.body["sessionKey"].as_str().unwrap()).collect();
    assert_eq!(session_keys.len(), 3);
    for s in servers {
        assert!(s.stop().success());
    }
    assert_eq!(pg.psql("SELECT count(*), max(version) FROM auth_sigs").unwrap(), "3|1");
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE record LIKE '%\"authSig\":\"signed\"%'"), 3);
}

#[test]
fn postgres_refuses_an_unknown_schema_with_a_clear_message() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    write_tokens(&dir.path().join("tokens"), &[("app", "t")]);
    let start = || {
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\ntokens_file = \"{}\"\n[policy]\nfile = \"{}\"\n\
                 [store]\n{}\n[signers.default]\nwallet = \"random\"\n",
                dir.path().join("tokens").display(),
                dir.path().join("policy.toml").display(),
                pg_store(&pg.connection(), "")
            ),
        )
        .unwrap();
        Server::start(&["--config", config.to_str().unwrap()], dir.path(), &[])
    };
    pg.psql("CREATE TABLE orders (id int)").unwrap();
    let err = start().err().expect("refused");
    assert!(err.contains("not a lit-session-server store"), "{err}");
    pg.psql("DROP TABLE orders").unwrap();
    let server = start().unwrap();
    assert!(server.stop().success());
    pg.psql("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')").unwrap();
    let err = start().err().expect("refused");
    let known = format!("schema version 99, newer than this build knows ({})", postgres::SCHEMA_VERSION);
    assert!(err.contains(&known), "{err}");

    // A password in the connection string is refused without being repeated.
    let config = dir.path().join("c.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("user=postgres", "user=postgres password=hunter2");
    std::fs::write(&config, text).unwrap();
    let err = Server::start(&["--config", config.to_str().unwrap()], dir.path(), &[]).err().expect("refused");
    assert!(err.contains("password_file") && !err.contains("hunter2"), "{err}");
}

/// A replica whose session key and wallet come from seed files (cheap; no token needed).
fn seeded(dir: &Path) -> impl Fn(usize) -> String {
    write_private(&dir.join("session.seed"), "61".repeat(32));
    write_private(&dir.join("wallet.key"), "62".repeat(32));
    let (s, w) = (dir.join("session.seed"), dir.join("wallet.key"));
    move |_| format!("session_key_seed_file = \"{}\"\nwallet_key_file = \"{}\"\n", s.display(), w.display())
}

fn ready(c: &reqwest::blocking::Client, s: &Server) -> u16 {
    get(c, &s.url("/readyz"), None).0
}

/// The replicas a load reaches; a test takes one out of it before it kills that replica, as a
/// load balancer drains a backend.
type Targets = Arc<Mutex<Vec<String>>>;

fn targets(urls: &[String]) -> Targets {
    Arc::new(Mutex::new(urls.to_vec()))
}

/// Continuous requests with bearer `token` from `threads` clients, round-robin over `urls` as
/// they are at each request, until `stop`; every outcome with its time (status 0: the
/// connection failed).
fn steady_load(
    urls: Targets,
    token: &'static str,
    body: Value,
    threads: usize,
    stop: Arc<AtomicBool>,
    tag: &'static str,
) -> Vec<std::thread::JoinHandle<Vec<(Instant, Outcome)>>> {
    (0..threads)
        .map(|t| {
            let (urls, body, stop) = (urls.clone(), body.clone(), stop.clone());
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let mut out = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let request_id = format!("{tag}-{t}-{i}");
                    let url = {
                        let urls = urls.lock().unwrap();
                        format!("{}/v1/session-sigs", urls[i % urls.len()])
                    };
                    i += 1;
                    let started = Instant::now();
                    let sent = signing::Timestamp::now();
                    let r = c.post(&url).bearer_auth(token).header("x-correlation-id", &request_id).json(&body).send();
                    let (status, body) = match r {
                        Ok(r) => (r.status().as_u16(), r.json().unwrap_or(Value::Null)),
                        Err(e) => (0, Value::String(format!("{url}: {e}"))),
                    };
                    let at = signing::Timestamp::now();
                    out.push((
                        started,
                        Outcome { status, body, took: started.elapsed(), request_id, sent, at, set: 0 },
                    ));
                    std::thread::sleep(Duration::from_millis(5));
                }
                out
            })
        })
        .collect()
}

fn collect(handles: Vec<std::thread::JoinHandle<Vec<(Instant, Outcome)>>>) -> Vec<(Instant, Outcome)> {
    let mut all: Vec<(Instant, Outcome)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_by_key(|(t, _)| *t);
    all
}

#[test]
fn postgres_hung_database_bounds_latency_and_recovers() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = seeded(dir.path());
    let store = pg_store(
        &pg.connection(),
        "pool_size = 4\nquery_timeout = \"500ms\"\nconnect_timeout = \"500ms\"\nmint_lock_wait = \"1s\"\n",
    );
    let servers = start_replicas(dir.path(), 1, "", &store, &signer, &[]);
    let s = &servers[0];
    let c = client();
    assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    let body = nodes3();
    let (status, first) = post(&c, &s.url("/v1/session-sigs"), Some("t"), &body);
    assert_eq!((status, first["authSig"]["use"].as_str()), (200, Some("signed")), "{first}");

    pg.freeze(true);
    let frozen = Instant::now();
    // More requests than the pool has connections, at once: each ends within the bound.
    let outcomes = fire(std::slice::from_ref(&s.base), "t", &body, 40, "hung");
    let mut wider = body.clone();
    wider["resourceAbilityRequests"] =
        json!([{"resource": {"resource": "*", "resourcePrefix": "lit-litaction"}, "ability": "lit-action-execution"}]);
    let new_auth = fire(std::slice::from_ref(&s.base), "t", &wider, 4, "hung-new");
    let worst = outcomes.iter().chain(&new_auth).map(|o| o.took).max().unwrap();
    for o in outcomes.iter().chain(&new_auth) {
        assert_eq!((o.status, problem_type(&o.body).as_str()), (503, "store-unavailable"), "{}", o.body);
    }
    let quick = outcomes.iter().chain(&new_auth).filter(|o| o.took < Duration::from_millis(2000)).count();
    eprintln!(
        "hung database: 44 requests, slowest answer {} ms, {quick} within 2 s (query_timeout 500 ms)",
        worst.as_millis()
    );
    // The audit batch that was sent when the database stopped may have committed: its
    // requests wait for the outcome for the resolver's bound (ten query timeouts, at least
    // 5 s), then fail as unknown. Every other request: one store operation's 500 ms and the
    // check whether the database answers at all (a new connection, connect_timeout 500 ms);
    // after it every store call fails at once.
    assert!(worst < Duration::from_millis(6500), "latency not bounded: {worst:?}");
    assert!(quick >= 30, "{quick} of 44 answered within 2 s");
    assert!(wait_until(Duration::from_secs(5), || ready(&c, s) == 503));
    eprintln!("hung database: /readyz false after {} ms", frozen.elapsed().as_millis());
    assert_eq!(get(&c, &s.url("/livez"), None).0, 200);

    pg.freeze(false);
    let thawed = Instant::now();
    assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    let (status, again) = post(&c, &s.url("/v1/session-sigs"), Some("t"), &wider);
    assert_eq!(status, 200, "{again}");
    eprintln!("hung database: green {} ms after SIGCONT", thawed.elapsed().as_millis());
    // Every request during the stall failed, and none left a row: the batch in flight was
    // refused when the database resumed past its deadline.
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE request_id LIKE 'hung%'"), 0);
    let (code, out) = audit_verify_config(&config_path(dir.path(), 0));
    assert_eq!(code, 0, "{out}");
    for s in servers {
        assert!(s.stop().success());
    }
}

/// Busy is not down: another session holds the audit chain's head row for 3 s (as a long
/// append would) under `query_timeout = "500ms"`. Each request that needs an audit row fails
/// alone with 503 store-busy and leaves no row; `/readyz` stays 200 throughout; once the lock
/// is released the next request is 200 at once (no fail-fast window was opened).
#[test]
fn postgres_a_held_lock_is_busy_not_down() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (servers, c) = one_replica_after_a_mint(dir.path(), &pg.connection());
    let s = &servers[0];

    let (outcomes, readiness, after) = std::thread::scope(|scope| {
        let holder = scope
            .spawn(|| pg.psql("BEGIN; SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE; SELECT pg_sleep(3); COMMIT;"));
        std::thread::sleep(Duration::from_millis(300));
        let polls = scope.spawn(|| {
            let c = client();
            let until = Instant::now() + Duration::from_millis(2200);
            let mut seen = Vec::new();
            while Instant::now() < until {
                seen.push(ready(&c, s));
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        let outcomes = fire(std::slice::from_ref(&s.base), "t", &nodes3(), 20, "busy");
        let readiness = polls.join().unwrap();
        holder.join().unwrap().unwrap();
        let after = post(&c, &s.url("/v1/session-sigs"), Some("t"), &nodes3());
        (outcomes, readiness, after)
    });
    for o in &outcomes {
        assert_eq!((o.status, problem_type(&o.body).as_str()), (503, "store-busy"), "{}", o.body);
        assert!(o.took < Duration::from_millis(1500), "{:?}", o.took);
    }
    assert!(readiness.len() > 10 && readiness.iter().all(|r| *r == 200), "readiness flipped: {readiness:?}");
    assert_eq!(after.0, 200, "{}", after.1);
    assert_eq!(int(&pg, "SELECT count(*) FROM audit WHERE request_id LIKE 'busy-%'"), 0);
    assert_eq!(metric(s, "litsigner_audit_failures_total "), 0);
    for s in servers {
        assert!(s.stop().success());
    }
}

/// The audit never lies: a batch held between sent and durable (the synchronous standby frozen,
/// so the flush after the primary's COMMIT waits for it past `query_timeout`) is resolved before
/// the answer. The requests whose rows were held get their 200 once the standby is back (their
/// rows committed and on the standby); the head's lock is not held across the wait, so batches
/// after the first commit too and are resolved the same way; a request whose row never
/// committed gets 503 and leaves no row. Audit rows and answers match one to one, and the chain
/// verifies.
#[test]
fn postgres_a_held_commit_is_resolved_before_the_answer() {
    let _one = serial();
    let Some(primary) = pg_or_skip() else { return };
    let standby = primary.synchronous_standby().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (servers, _) = one_replica_after_a_mint(dir.path(), &primary.connection());
    let s = &servers[0];

    standby.freeze(true);
    let outcomes = std::thread::scope(|scope| {
        let load = scope.spawn(|| fire(std::slice::from_ref(&s.base), "t", &nodes3(), 8, "held"));
        std::thread::sleep(Duration::from_millis(1500));
        standby.freeze(false);
        load.join().unwrap()
    });
    let rows: BTreeSet<String> = primary
        .psql("SELECT request_id FROM audit WHERE request_id LIKE 'held-%' AND record LIKE '%\"status\":200%'")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let any_row = int(&primary, "SELECT count(*) FROM audit WHERE request_id LIKE 'held-%'");
    let oks: BTreeSet<String> = outcomes.iter().filter(|o| o.status == 200).map(|o| o.request_id.clone()).collect();
    for o in outcomes.iter().filter(|o| o.status != 200) {
        assert_eq!(o.status, 503, "{}", o.body);
    }
    assert_eq!(rows, oks, "audit rows with status 200 and 200 answers differ");
    assert_eq!(any_row as usize, oks.len(), "a failed request left a row");
    // The held COMMIT was answered after the standby came back, by its resolution.
    let slowest = outcomes.iter().filter(|o| o.status == 200).map(|o| o.took).max();
    assert!(slowest.is_some_and(|t| t >= Duration::from_millis(1000)), "no COMMIT was held: {slowest:?}");
    assert!(s.log().contains("it committed, the request is answered"), "{}", s.log());
    eprintln!(
        "held COMMIT: {} answers 200 (slowest {} ms), {} answers 503, audit rows {}",
        oks.len(),
        slowest.unwrap_or_default().as_millis(),
        outcomes.len() - oks.len(),
        any_row
    );
    let (code, out) = audit_verify_config(&config_path(dir.path(), 0));
    assert_eq!(code, 0, "{out}");
    for s in servers {
        assert!(s.stop().success());
    }
    drop(standby);
}

/// The audit never lies when the batch's own server process stalls: the service's backends
/// are stopped (SIGSTOP) for 1.5 s while requests arrive, so their batches go unanswered past
/// `query_timeout`. The resolver, on a new connection, ends each stalled backend (as a role
/// that is not a superuser: a role may end its own sessions) and, once it is gone, finds the
/// batch's rows or none: here none, so those requests get 503 store-busy. Audit rows and
/// answers match one to one, and the chain verifies. Then, with the role's EXECUTE on
/// `audit_append` revoked, the replica is not ready (its audit probe says why), and is again
/// once it is granted back.
#[test]
fn postgres_a_stalled_backend_is_ended_and_its_batch_resolved() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    pg.psql("CREATE ROLE signer LOGIN NOSUPERUSER").unwrap();
    pg.psql("CREATE DATABASE signer OWNER signer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connection = pg.connection().replace("user=postgres dbname=postgres", "user=signer dbname=signer");
    let (servers, c) = one_replica_after_a_mint(dir.path(), &connection);
    let s = &servers[0];

    let backends: Vec<String> = pg
        .psql("SELECT pid FROM pg_stat_activity WHERE usename = 'signer'")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!backends.is_empty());
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill").arg(sig).args(&backends).status().unwrap().success());
    };
    signal("-STOP");
    let outcomes = std::thread::scope(|scope| {
        let load = scope.spawn(|| fire(std::slice::from_ref(&s.base), "t", &nodes3(), 8, "stalled"));
        std::thread::sleep(Duration::from_millis(1500));
        signal("-CONT");
        load.join().unwrap()
    });
    // The audit table is in the role's own database.
    let ids = |sql: &str| -> BTreeSet<String> {
        pg.psql_in("signer", sql).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    };
    let rows = ids("SELECT request_id FROM audit WHERE request_id LIKE 'stalled-%' AND record LIKE '%\"status\":200%'");
    let any_row = ids("SELECT request_id FROM audit WHERE request_id LIKE 'stalled-%'").len();
    let oks: BTreeSet<String> = outcomes.iter().filter(|o| o.status == 200).map(|o| o.request_id.clone()).collect();
    for o in outcomes.iter().filter(|o| o.status != 200) {
        assert_eq!((o.status, problem_type(&o.body).as_str()), (503, "store-busy"), "{}", o.body);
    }
    assert_eq!(rows, oks, "audit rows with status 200 and 200 answers differ");
    assert_eq!(any_row, oks.len(), "a failed request left a row");
    let log = s.log();
    // The stalled backend received its end while stopped and died as it resumed, before its
    // batch ran (left alone, it would have sealed it: within its deadline's margin).
    assert!(log.contains("it was rolled back, the request fails"), "no stalled batch was ended: {log}");
    assert!(oks.len() < outcomes.len());
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    eprintln!(
        "stalled backend: {} answers 200, {} answers 503 (slowest {} ms), audit rows {any_row}",
        oks.len(),
        outcomes.len() - oks.len(),
        slowest.as_millis()
    );
    let (code, out) = audit_verify_config(&config_path(dir.path(), 0));
    assert_eq!(code, 0, "{out}");

    // The owner may lose EXECUTE too (an operator tightening grants): no append could work.
    // The same for the flush's function.
    let readiness = |want: u16| wait_until(Duration::from_secs(10), || ready(&c, s) == want);
    for (function, from) in
        [("audit_append", "PUBLIC, signer"), ("pg_logical_emit_message(boolean, text, text)", "PUBLIC")]
    {
        pg.psql_in("signer", &format!("REVOKE EXECUTE ON FUNCTION {function} FROM {from}")).unwrap();
        assert!(readiness(503), "still ready without EXECUTE on {function}: {}", s.log());
        let name = function.split('(').next().unwrap_or(function);
        assert!(s.log().contains(&format!("may not EXECUTE {name}")), "{}", s.log());
        pg.psql_in("signer", &format!("GRANT EXECUTE ON FUNCTION {function} TO signer")).unwrap();
        assert!(readiness(200), "not ready again after the grant on {function}: {}", s.log());
    }
    for s in servers {
        assert!(s.stop().success());
    }
}

/// 600 cold requests (no AuthSig yet) at once over 3 replicas with `query_timeout = "500ms"`
/// on a healthy database while the machine is busy (four threads spinning on its cores, as a
/// parallel compile would): every answer is 200, and the audit holds exactly one status-200
/// row per 200 answer. Prints the counts. A measurement of this machine's state, so it runs on
/// its own: `cargo test --release -p lit-session-server --test replicas -- --ignored cold`.
#[test]
#[ignore = "a measurement on a deliberately busy machine; run on its own"]
fn postgres_600_cold_requests_on_a_busy_machine_all_answer_200() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = seeded(dir.path());
    let store = pg_store(&pg.connection(), "query_timeout = \"500ms\"\n");
    let servers = start_replicas(dir.path(), 3, "", &store, &signer, &[]);
    let c = client();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    }
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let busy = Arc::new(AtomicBool::new(true));
    let burners: Vec<_> = (0..4)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while busy.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let started = Instant::now();
    let outcomes = fire(&urls, "t", &nodes3(), 600, "cold");
    let took = started.elapsed();
    busy.store(false, Ordering::Relaxed);
    for b in burners {
        b.join().unwrap();
    }
    let mut by_status = std::collections::BTreeMap::new();
    for o in &outcomes {
        *by_status.entry((o.status, problem_type(&o.body))).or_insert(0) += 1;
    }
    let oks = count(&outcomes, 200);
    let rows = int(&pg, "SELECT count(*) FROM audit WHERE request_id LIKE 'cold-%' AND record LIKE '%\"status\":200%'");
    let signed = int(&pg, "SELECT count(*) FROM audit WHERE record LIKE '%\"authSig\":\"signed\"%'");
    eprintln!(
        "600 cold requests, 3 replicas, query_timeout 500 ms, 4 spinning threads: {:.2} s (p50 {:.0} ms, max {:.0} \
         ms); answers {by_status:?}; audit rows with status 200: {rows}; wallet signatures: {signed}",
        took.as_secs_f64(),
        percentile(&outcomes, 0.5),
        percentile(&outcomes, 1.0)
    );
    assert_eq!(oks, 600, "answers other than 200: {by_status:?}");
    assert_eq!(rows as usize, oks, "audit rows with status 200 differ from 200 answers");
    assert_eq!(verify_oks(&outcomes).len(), 1);
    for s in servers {
        assert!(s.stop().success());
    }
}

#[test]
fn postgres_failover_to_a_synchronous_standby_loses_no_acknowledged_row() {
    let _one = serial();
    let Some(primary) = pg_or_skip() else { return };
    let standby = primary.synchronous_standby().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signer = seeded(dir.path());
    let connection = format!(
        "host={},{} port=5432,5432 user=postgres dbname=postgres target_session_attrs=read-write",
        primary.socket.display(),
        standby.socket.display()
    );
    let store = pg_store(&connection, "query_timeout = \"1s\"\nconnect_timeout = \"1s\"\n");
    let servers = start_replicas(dir.path(), 2, "", &store, &signer, &[]);
    let c = client();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    }
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(targets(&urls), "t", nodes3(), 4, stop.clone(), "fo");
    std::thread::sleep(Duration::from_millis(1500));

    let crashed = Instant::now();
    primary.stop("immediate").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    standby.promote().unwrap();
    let promoted = Instant::now();
    // Issuance of a new AuthSig on the new primary.
    let mut wider = nodes3();
    wider["resourceAbilityRequests"] =
        json!([{"resource": {"resource": "*", "resourcePrefix": "lit-litaction"}, "ability": "lit-action-execution"}]);
    assert!(
        wait_until(Duration::from_secs(20), || post(&c, &servers[0].url("/v1/session-sigs"), Some("t"), &wider).0
            == 200),
        "{}",
        servers[0].log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let all = collect(load);

    let first_after = all.iter().find(|(t, o)| *t >= promoted && o.status == 200).map(|(t, o)| *t + o.took);
    let resumed = first_after.expect("issuance resumed").duration_since(promoted);
    let last_before = all.iter().filter(|(t, o)| *t < crashed && o.status == 200).count();
    let (oks, failed): (Vec<Outcome>, Vec<Outcome>) = all.into_iter().map(|(_, o)| o).partition(|o| o.status == 200);
    for o in &failed {
        // A request that timed out while the database came back (the promoted standby, the
        // restarted server) answers at the check: busy, not down. Either way 503, nothing handed out.
        let kind = problem_type(&o.body);
        assert!(o.status == 503 && (kind == "store-unavailable" || kind == "store-busy"), "{}", o.body);
    }
    // The one AuthSig of the steady load, and at most two more: the manager keeps one AuthSig
    // per key, and the wider request above replaced it on one replica.
    assert!(verify_oks(&oks).len() <= 3);
    eprintln!(
        "failover: {} OK before the crash, {} answers 503 during it, {} OK in all; issuance resumed {} ms after \
         promotion ({} ms after the crash)",
        last_before,
        failed.len(),
        oks.len(),
        resumed.as_millis(),
        (promoted + resumed).duration_since(crashed).as_millis()
    );
    assert!(resumed < Duration::from_secs(10), "resumed after {resumed:?}");

    // Every acknowledged 200 has its audit row on the promoted server; the chain is intact.
    let ids: BTreeSet<String> = standby
        .psql("SELECT request_id FROM audit WHERE decision = 'approved'")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let lost: Vec<&str> = oks.iter().map(|o| o.request_id.as_str()).filter(|id| !ids.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not on the promoted server: {lost:?}");
    let (code, out) = audit_verify_config(&config_path(dir.path(), 0));
    assert_eq!(code, 0, "{out}");
    for s in servers {
        assert!(s.stop().success());
    }
}

#[test]
fn postgres_stopped_under_load_memory_reuse_goes_on_and_recovers_without_restart() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = seeded(dir.path());
    let mut servers = Vec::new();
    for i in 0..2 {
        // Each replica its own spool file (and its own directory for the config).
        let sub = dir.path().join(format!("r{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let store = pg_store(
            &pg.connection(),
            &format!(
                "query_timeout = \"500ms\"\nconnect_timeout = \"500ms\"\naudit_spool = \"{}\"\n",
                sub.join("audit-spool.jsonl").display()
            ),
        );
        servers.extend(start_replicas(&sub, 1, "", &store, &signer, &[]));
    }
    let c = client();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    }
    // Each replica holds the AuthSig in memory.
    let mut approved = 0;
    for s in &servers {
        let (status, v) = post(&c, &s.url("/v1/session-sigs"), Some("t"), &nodes3());
        assert_eq!(status, 200, "{v}");
        approved += 1;
    }
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(targets(&urls), "t", nodes3(), 4, stop.clone(), "down");
    std::thread::sleep(Duration::from_millis(800));

    pg.stop("fast").unwrap();
    let stopped = Instant::now();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(5), || ready(&c, s) == 503));
    }
    let not_ready = stopped.elapsed();
    for s in &servers {
        assert_eq!(get(&c, &s.url("/livez"), None).0, 200);
    }
    // What needs the store fails: a new AuthSig, a rate-limit charge.
    let mut wider = nodes3();
    wider["resourceAbilityRequests"] =
        json!([{"resource": {"resource": "*", "resourcePrefix": "lit-litaction"}, "ability": "lit-action-execution"}]);
    let (status, p) = post(&c, &servers[0].url("/v1/session-sigs"), Some("t"), &wider);
    assert_eq!((status, problem_type(&p).as_str()), (503, "store-unavailable"), "{p}");
    let mut one_node = nodes3();
    one_node["nodeUrls"] = json!(["https://10.3.0.1:443"]);
    let (status, p) = post(&c, &servers[1].url("/v1/session-sigs"), Some("l"), &one_node);
    assert_eq!((status, problem_type(&p).as_str()), (503, "store-unavailable"), "{p}");
    std::thread::sleep(Duration::from_millis(1500));

    pg.start().unwrap();
    let started = Instant::now();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    }
    let green = started.elapsed();
    let (status, v) = post(&c, &servers[0].url("/v1/session-sigs"), Some("t"), &wider);
    assert_eq!((status, v["authSig"]["use"].as_str()), (200, Some("signed")), "{v}");
    approved += 1;
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let all = collect(load);
    let window = |t: Instant, o: &Outcome| t >= stopped + not_ready && t + o.took <= started;
    let during = all.iter().filter(|(t, o)| window(*t, o)).count();
    let during_ok = all.iter().filter(|(t, o)| window(*t, o) && o.status == 200).count();
    let (oks, failed): (Vec<Outcome>, Vec<Outcome>) = all.into_iter().map(|(_, o)| o).partition(|o| o.status == 200);
    for o in &failed {
        // A request that timed out while the database came back (the promoted standby, the
        // restarted server) answers at the check: busy, not down. Either way 503, nothing handed out.
        let kind = problem_type(&o.body);
        assert!(o.status == 503 && (kind == "store-unavailable" || kind == "store-busy"), "{}", o.body);
    }
    assert!(during_ok > 10, "reuse from memory went on while it was down");
    // One AuthSig, and one more after the wider request replaced it on replica 0 (the manager
    // keeps one AuthSig per key).
    assert!(verify_oks(&oks).len() <= 2);
    approved += oks.len();
    eprintln!(
        "database down: /readyz false {} ms after the stop; {} answers while it was down ({} of them 200 from \
         memory, spooled), {} 503; green {} ms after the start",
        not_ready.as_millis(),
        during,
        during_ok,
        failed.len(),
        green.as_millis()
    );

    // Every 200 is in the chain once the spools are flushed; the chain verifies.
    assert!(wait_until(Duration::from_secs(10), || {
        int(&pg, "SELECT count(*) FROM audit WHERE endpoint = 'session-sigs' AND decision = 'approved'")
            == approved as i64
    }));
    let ids: BTreeSet<String> = pg.psql("SELECT request_id FROM audit").unwrap().lines().map(str::to_string).collect();
    assert!(oks.iter().all(|o| ids.contains(&o.request_id)), "a 200 without its audit row");
    for s in &servers {
        assert!(
            !s.dir.join("audit-spool.jsonl").exists()
                || std::fs::metadata(s.dir.join("audit-spool.jsonl")).unwrap().len() == 0
        );
    }
    let (code, out) = audit_verify_config(&config_path(&dir.path().join("r0"), 0));
    assert_eq!(code, 0, "{out}");
    for s in servers {
        assert!(s.stop().success());
    }
}

/// A wallet that takes `delay` to sign (a slow custody service, an HSM recovering) and counts
/// its signatures.
struct SlowWallet {
    inner: lit_session_signer::wallet::MemoryWallet,
    delay: Duration,
    signed: Arc<std::sync::atomic::AtomicUsize>,
}

impl lit_session_signer::wallet::WalletSigner for SlowWallet {
    fn address(&self) -> lit_session_signer::eth::EthAddress {
        self.inner.address()
    }
    fn sign_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<lit_session_signer::eth::RecoverableSignature, lit_session_signer::wallet::WalletError> {
        std::thread::sleep(self.delay);
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.inner.sign_digest(digest)
    }
}

/// Two replicas (each its own store connection, as two processes have) with one session key
/// and a wallet slower than the old lock bounds (PostgreSQL: 5 × query_timeout idle in the
/// lock's transaction; SQLite: a lease of mint_lock_wait): still one wallet signature.
fn slow_wallet_one_signature(store: lit_session_server::store::StoreSettings) {
    use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
    use lit_session_signer::manager::{
        AuthSigUse, AuthSource, ManagerConfig, SessionKeyPolicy, SessionManager, SessionSigsOptions, StoreFailures,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let signed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let replica = |signed: Arc<std::sync::atomic::AtomicUsize>| {
        let opened = rt.block_on(lit_session_server::run::open_store(&store)).unwrap();
        let cache = lit_session_server::store::auth_sig_store(opened);
        let keys = MemoryKeyStore::new();
        let id = keys.import_seed("session", zeroize::Zeroizing::new([0x68; 32])).unwrap();
        let wallet = SlowWallet {
            inner: lit_session_signer::wallet::MemoryWallet::from_bytes(&[0x79; 32]).unwrap(),
            delay: Duration::from_millis(4000),
            signed,
        };
        let keys: Arc<dyn SessionKeyStore> = Arc::new(keys);
        let config = ManagerConfig { store_failures: StoreFailures::Fail, ..ManagerConfig::default() };
        Arc::new(
            SessionManager::new_async(keys, SessionKeyPolicy::Fixed(id), AuthSource::wallet(wallet), cache)
                .with_config(config),
        )
    };
    let (a, b) = (replica(signed.clone()), replica(signed.clone()));
    let nodes = vec!["https://127.0.0.1:7470".parse().unwrap()];
    let requests = vec![pkp_request()];
    let options = SessionSigsOptions::new("0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
    let describe = |r: Result<lit_session_signer::manager::SessionSigsReport, _>| match r {
        Ok(report) => match report.auth_sig {
            AuthSigUse::Signed { .. } => "signed".to_string(),
            AuthSigUse::Reused { .. } => "reused".to_string(),
        },
        Err(e) => format!("error: {e:?}"),
    };
    let (first, second) = rt.block_on(async {
        let first = {
            let (a, nodes, requests, options) = (a.clone(), nodes.clone(), requests.clone(), options.clone());
            tokio::spawn(async move { a.session_sigs_report(&nodes, &requests, &options).await })
        };
        // B asks while A's wallet is signing under the lock, late enough that a lock bounded
        // as before (PostgreSQL: idle 1 s; SQLite: a 2 s lease, whole seconds) has already
        // passed to B within B's own wait.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let second = b.session_sigs_report(&nodes, &requests, &options).await;
        (describe(first.await.unwrap()), describe(second))
    });
    assert_eq!(signed.load(Ordering::SeqCst), 1, "A: {first}, B: {second}");
    assert_eq!(first, "signed");
    // B waited for A's AuthSig, or gave up waiting (mint_lock_wait) without signing.
    assert!(second == "reused" || second.contains("mint lock"), "{second}");
    let again = describe(rt.block_on(b.session_sigs_report(&nodes, &requests, &options)));
    assert_eq!((again.as_str(), signed.load(Ordering::SeqCst)), ("reused", 1));
}

#[test]
fn postgres_a_slow_wallet_keeps_the_mint_lock_one_signature() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    slow_wallet_one_signature(lit_session_server::store::StoreSettings::Postgres(PgOptions {
        pool_size: 4,
        // The old bound: the lock's transaction ended after 5 × 200 ms idle.
        query_timeout: Duration::from_millis(200),
        mint_lock_wait: Duration::from_secs(10),
        mint_sign_timeout: Duration::from_secs(10),
        ..PgOptions::new(pg.connection())
    }));
}

#[test]
fn sqlite_a_slow_wallet_keeps_the_mint_lease_one_signature() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    slow_wallet_one_signature(lit_session_server::store::StoreSettings::Sqlite(SqliteOptions {
        durability: Durability::Normal,
        // The old lease was this wait, shorter than the signature: the second replica took the
        // lease when it ran out (at most 3 s after A took it), before its own wait did (3.5 s),
        // and signed again.
        mint_lock_wait: Duration::from_secs(2),
        mint_sign_timeout: Duration::from_secs(10),
        ..SqliteOptions::new(dir.path().join("store.sqlite"))
    }));
}

// ---- session keys rotated across the fleet -----------------------------------------------

/// How a fleet-rotation scenario's replicas rotate: a key's turn, the overlap before a new key
/// takes over, the health interval (how often each replica reads the published keys).
const TURN: &str = "3s";
const OVERLAP: &str = "1s";
const HEALTH: Duration = Duration::from_millis(500);
/// After a key's start every answer carries it or a newer one, and before it none does, give or
/// take this (a health interval, and scheduling on a busy 2-core machine).
const SWITCH_WINDOW: i128 = 700;

/// The family's rows as `GET /v1/keys` shows them, by generation.
fn family(c: &reqwest::blocking::Client, s: &Server) -> (i64, Vec<Value>) {
    let (status, keys) = get(c, &s.url("/v1/keys"), Some("f"));
    assert_eq!(status, 200, "{keys}");
    let rotation = &keys["signers"][0]["rotation"];
    (rotation["current"].as_i64().unwrap_or(0), rotation["keys"].as_array().cloned().unwrap_or_default())
}

fn millis(t: signing::Timestamp) -> i128 {
    t.unix_millis()
}

fn ms_of(v: &Value) -> i128 {
    v.as_str().map_or(i128::MAX, |t| millis(signing::parse_time(t).unwrap()))
}

/// Three replicas on one store (`store_toml`; `settings` opens it from the test), one SoftHSM2
/// token (`fleet-<backend>`) holding the wallet and the key family, steady load: five rotations
/// on the schedule, one more asked of the replica that stops between making the key and
/// publishing it (killed there), and a revocation. Returns the scenario's numbers.
fn keys_rotate_across_the_fleet(
    backend: &'static str,
    dir: &Path,
    store_toml: &str,
    settings: lit_session_server::store::StoreSettings,
) -> String {
    use lit_session_signer::keystore::{Pkcs11KeyStore, SessionKeyStore};
    let hsm = hsm_or_skip().expect("SoftHSM2");
    let token = format!("fleet-{backend}");
    let (named, wallet) = hsm.uris[token.as_str()].clone();
    // The token without a key named: the profile's keys are the family's.
    let family_uri = named.replacen(";object=session", "", 1);
    let signer = |_| {
        format!(
            "session_key = \"{family_uri}\"\nsession_key_label_prefix = \"fleet\"\nsession_key_rotate_after = \
             \"{TURN}\"\nsession_key_overlap = \"{OVERLAP}\"\nwallet = \"{wallet}\"\nauth_sig_lifetime = \"8s\"\n\
             expiry_margin = \"1s\"\n"
        )
    };
    let conf = hsm.conf.clone();
    // start_replicas sets the health interval (HEALTH); settle = it + the request time limit.
    let server_extra = "request_timeout = \"5s\"";
    let env = [("SOFTHSM2_CONF", conf.as_str())];
    let mut servers = start_replicas(dir, 2, server_extra, store_toml, &signer, &env);
    // The third in a directory of its own (same store, same files): it stops for good in an
    // operator's rotation between making the key and publishing it.
    let sub = dir.join("r2");
    std::fs::create_dir_all(&sub).unwrap();
    let faulty = [("SOFTHSM2_CONF", conf.as_str()), ("LITSIGNER_TEST_FAULT", "pause-after-generate")];
    servers.extend(start_replicas(&sub, 1, server_extra, store_toml, &signer, &faulty));
    let c = client();
    for s in &servers {
        assert!(wait_until(Duration::from_secs(20), || ready(&c, s) == 200), "{}", s.log());
    }
    let (first, keys) = family(&c, &servers[0]);
    assert_eq!(first, 1, "the first replica made generation 1, the others use it: {keys:?}\n{}", servers[0].log());
    let started = Instant::now();
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let live = targets(&urls);
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(live.clone(), "f", nodes3(), 4, stop.clone(), backend);
    let wait_for_generation = |s: &Server, g: i64, limit: Duration| {
        assert!(wait_until(limit, || family(&c, s).0 >= g), "generation {g} never became current");
    };

    // Two turns on the schedule, then an operator's rotation on the replica that stops half-way.
    wait_for_generation(&servers[0], 3, Duration::from_secs(30));
    let rotate_url = servers[2].url("/v1/admin/rotate");
    let asked = std::thread::spawn(move || {
        let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        c.post(rotate_url).bearer_auth("o").json(&json!({})).send().map(|r| r.status().as_u16()).ok()
    });
    assert!(
        wait_until(Duration::from_secs(20), || servers[2].log().contains("test fault: paused after generating")),
        "{}",
        servers[2].log()
    );
    // Drained, then killed: the family's lock is held, the key is on the token, no row names it.
    live.lock().unwrap().retain(|u| *u != servers[2].base);
    std::thread::sleep(Duration::from_millis(500));
    let killed = servers.pop().unwrap();
    killed.signal("KILL");
    let paused_log = killed.log();
    drop(killed);
    let killed_at = Instant::now();
    assert_eq!(asked.join().unwrap(), None, "the operator's request died with its replica");
    let survivors: Vec<&Server> = servers.iter().collect();

    // The next maintainer finishes that rotation; three more turns on the schedule.
    wait_for_generation(survivors[0], 4, Duration::from_secs(30));
    let adopted_after = killed_at.elapsed();
    wait_for_generation(survivors[0], 7, Duration::from_secs(40));

    // Rotation is an admin endpoint: the load's client may not call it.
    let (status, p) = post(&c, &survivors[1].url("/v1/admin/rotate"), Some("f"), &json!({}));
    assert_eq!((status, problem_type(&p).as_str()), (403, "denied"), "{p}");
    // A revocation: the replica asked stops signing with the key at once, the other within
    // one health interval.
    let (status, revoked) = post(&c, &survivors[0].url("/v1/admin/rotate"), Some("o"), &json!({"revoke": true}));
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["revoked"], true);
    let (old, new) =
        (revoked["previous"]["generation"].as_i64().unwrap(), revoked["next"]["generation"].as_i64().unwrap());
    assert_eq!(
        (revoked["previous"]["state"].as_str(), revoked["next"]["state"].as_str()),
        (Some("retired"), Some("active"))
    );
    assert!(new == old + 1 && old >= 7, "{revoked}");
    let (status, now_signed) = post(&c, &survivors[0].url("/v1/session-sigs"), Some("f"), &nodes3());
    assert_eq!((status, &now_signed["sessionKey"]), (200, &revoked["next"]["publicKey"]), "{now_signed}");
    std::thread::sleep(HEALTH + Duration::from_millis(200));
    let (status, other) = post(&c, &survivors[1].url("/v1/session-sigs"), Some("f"), &nodes3());
    assert_eq!((status, &other["sessionKey"]), (200, &revoked["next"]["publicKey"]), "{other}");
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = collect(load).into_iter().map(|(_, o)| o).collect();
    let load_secs = started.elapsed().as_secs_f64();

    // Every key retired up to the revocation leaves the token once its last session and AuthSig
    // have expired (the schedule goes on meanwhile: later generations come and go).
    let current = new;
    let all_destroyed = || {
        let (_, keys) = family(&c, survivors[0]);
        keys.iter().filter(|k| k["generation"].as_i64() < Some(current)).all(|k| k["state"] == "destroyed")
    };
    let waiting = Instant::now();
    assert!(wait_until(Duration::from_secs(150), all_destroyed), "{}", survivors[0].log());
    let waited = waiting.elapsed();
    // A snapshot: the replicas stop, then the store and the token are read.
    for s in servers {
        assert!(s.stop().success());
    }
    let store = runtime().block_on(lit_session_server::run::open_store(&settings)).unwrap();
    let keys = runtime().block_on(store.session_keys("fleet")).unwrap();
    let held: Vec<(String, String)> =
        Pkcs11KeyStore::open(&lit_session_signer::pkcs11::Pkcs11Uri::parse(&family_uri).unwrap())
            .unwrap()
            .list()
            .unwrap()
            .into_iter()
            .filter(|k| k.label.starts_with("fleet-g"))
            .map(|k| (k.label, hex::encode(k.public_key.as_bytes())))
            .collect();
    let generation_of = |public: &Value| keys.iter().find(|k| public == k.public_key.as_str()).map(|k| k.generation);
    let last = keys.last().map_or(0, |k| k.generation);
    assert_eq!(keys.iter().map(|k| k.generation).collect::<Vec<_>>(), (1..=last).collect::<Vec<_>>());
    assert!(last >= current, "{keys:?}");

    // 0 failed requests (the killed replica was drained first), every answer valid by the
    // node's rules when it arrived.
    let failed: Vec<String> =
        outcomes.iter().filter(|o| o.status != 200).take(3).map(|o| format!("{} {}", o.status, o.body)).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let wallet_sigs = verify_oks(&outcomes);
    // One current key at any time, after each switch window: an answer carries the key current
    // when it was asked for or one that started while it was answered, never an older or a
    // later one.
    let starts: Vec<(i64, i128)> = keys.iter().map(|k| (k.generation, i128::from(k.activates_at))).collect();
    let current_at = |t: i128| starts.iter().filter(|(_, a)| *a <= t).map(|(g, _)| *g).max().unwrap_or(0);
    let mut per_key: std::collections::BTreeMap<i64, (usize, i128)> = Default::default();
    for o in &outcomes {
        let g = generation_of(&o.body["sessionKey"]).expect("an answer signed by a key of the family");
        let (lo, hi) = (current_at(millis(o.sent) - SWITCH_WINDOW), current_at(millis(o.at) + SWITCH_WINDOW));
        assert!(lo <= g && g <= hi, "{} answered with generation {g}, current then {lo}..{hi}", o.request_id);
        let expires = ms_of(&o.body["expiration"]).max(ms_of(&o.body["authSig"]["expiration"]));
        let e = per_key.entry(g).or_default();
        *e = (e.0 + 1, e.1.max(expires));
    }
    // ... and a retired key is destroyed only after its last session and AuthSig expired (the
    // node's 60 s grace included), and is gone from the token; the token holds no key of a
    // destroyed generation, and none that no row names but the one a stopping replica may have
    // been making.
    use lit_session_server::store::KeyState;
    for k in keys.iter().filter(|k| k.generation < current) {
        assert_eq!(k.state, KeyState::Destroyed, "{k:?}");
        assert!(!held.iter().any(|(_, p)| *p == k.public_key), "generation {} is still on the token", k.generation);
        if let Some((_, last_expiry)) = per_key.get(&k.generation) {
            let destroyed = i128::from(k.destroyed_at.unwrap());
            assert!(
                destroyed >= last_expiry + 60_000,
                "generation {} destroyed {} ms before its last session's expiry + 60 s",
                k.generation,
                last_expiry + 60_000 - destroyed
            );
        }
    }
    for (label, public) in &held {
        let named = keys.iter().find(|k| k.public_key == *public);
        assert!(
            named.is_some_and(|k| k.state != KeyState::Destroyed) || label == &format!("fleet-g{}", last + 1),
            "{label} is on the token without a live row"
        );
    }
    // One audit event per key and state change, recorded by one replica.
    let rows = runtime().block_on(store.audit_rows(0, 1_000_000)).unwrap();
    let events: Vec<lit_session_server::audit::AuditEntry> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.record).unwrap())
        .filter(|e: &lit_session_server::audit::AuditEntry| e.endpoint == Endpoint::SessionKey)
        .collect();
    let mut seen = BTreeSet::new();
    for e in &events {
        let key = (e.decision.as_str(), e.session_key.clone());
        assert!(seen.insert(key), "{} {:?} recorded twice", e.decision.as_str(), e.session_key);
    }
    // (Keys a maintainer swept as never published have no row and are not counted.)
    let of_a_row =
        |e: &&lit_session_server::audit::AuditEntry| keys.iter().any(|k| e.session_key.as_ref() == Some(&k.public_key));
    let count = |decision: &str| events.iter().filter(of_a_row).filter(|e| e.decision.as_str() == decision).count();
    let in_state = |states: &[KeyState]| keys.iter().filter(|k| states.contains(&k.state)).count();
    use KeyState::*;
    assert_eq!(
        (count("generated"), count("activated"), count("retired"), count("destroyed")),
        (keys.len(), in_state(&[Active, Retired, Destroyed]), in_state(&[Retired, Destroyed]), in_state(&[Destroyed])),
        "one event per key and state"
    );
    let adopted: Vec<&lit_session_server::audit::AuditEntry> =
        events.iter().filter(|e| e.reasons.iter().any(|r| r.starts_with("adopted"))).collect();
    assert_eq!(adopted.len(), 1, "the killed replica's key was adopted");
    assert!(paused_log.contains(&format!("fleet-g{}", adopted[0].reasons[0].split_whitespace().nth(1).unwrap())));
    let approved = rows
        .iter()
        .filter(|r| r.record.contains("\"endpoint\":\"session-sigs\"") && r.record.contains("\"status\":200"))
        .count();
    assert!(approved >= outcomes.len(), "every answer has its audit row");
    let generated: Vec<i64> = keys.iter().map(|k| k.generation).filter(|g| *g <= current).collect();
    let (code, out) = audit_verify_config(&config_path(dir, 0));
    assert_eq!(code, 0, "{out}");
    format!(
        "{backend}: 3 replicas, {} answers in {load_secs:.1} s, 0 failed, all valid; generations {generated:?} \
         ({} rotations: {} on schedule, 1 asked of the replica killed half-way and adopted {} ms after the kill, \
         1 revocation); {} wallet signatures; answers per generation {:?}; every retired key destroyed (waited \
         {:.0} s after the load for the last one); {out}",
        outcomes.len(),
        current - 1,
        current - 3,
        adopted_after.as_millis(),
        wallet_sigs.len(),
        per_key.iter().map(|(g, (n, _))| (*g, *n)).collect::<Vec<_>>(),
        waited.as_secs_f64(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Both stores at once: the scenarios wait most of their time for keys to expire.
#[test]
fn keys_rotate_across_three_replicas_on_postgres_and_on_one_sqlite_file() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    if hsm_or_skip().is_none() {
        return;
    }
    let (pg_dir, sqlite_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let conn = pg.connection();
    let pg_settings = lit_session_server::store::StoreSettings::Postgres(PgOptions::new(conn.clone()));
    let sqlite_file = sqlite_dir.path().join("store.sqlite");
    let sqlite_settings = lit_session_server::store::StoreSettings::Sqlite(SqliteOptions::new(&sqlite_file));
    let pg_store_toml = pg_store(&conn, "");
    let sqlite_store_toml =
        format!("path = \"{}\"\ndurability = \"normal\"\nmint_sign_timeout = \"5s\"\n", sqlite_file.display());
    std::thread::scope(|scope| {
        let on_pg =
            scope.spawn(|| keys_rotate_across_the_fleet("postgres", pg_dir.path(), &pg_store_toml, pg_settings));
        let on_sqlite = scope
            .spawn(|| keys_rotate_across_the_fleet("sqlite", sqlite_dir.path(), &sqlite_store_toml, sqlite_settings));
        for report in [on_pg.join(), on_sqlite.join()] {
            match report {
                Ok(r) => eprintln!("{r}"),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
    });
}

/// Export and retention with 3 replicas writing to PostgreSQL: one exporter at a time (the
/// store's lease), the one holding it killed (SIGKILL) in the middle of a run, its lease left to
/// run out, then `audit export` rerun: every acknowledged request's row is in the database or in
/// exactly one archived segment, and the archive and database verify as one signed chain.
#[test]
fn postgres_three_replicas_export_and_a_killed_exporter_lose_and_duplicate_no_row() {
    let _one = serial();
    let Some(pg) = pg_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    write_private(&dir.path().join("audit.seed"), "a7".repeat(32));
    let audit = format!(
        "[audit]\ncheckpoint_key_seed_file = \"{}\"\ncheckpoint_rows = 10\ncheckpoint_interval = \"200ms\"\n\
         archive_dir = \"{}\"\nexport_interval = \"100ms\"\nretention = \"20 rows\"\n",
        dir.path().join("audit.seed").display(),
        archive.display()
    );
    let signer = seeded(dir.path());
    let mut servers = start_replicas(dir.path(), 3, &audit, &pg_store(&pg.connection(), ""), &signer, &[]);
    let urls: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(targets(&urls), "t", nodes3(), 3, stop.clone(), "export");

    // Kill the replica that holds the export lease, while it holds it (mid-run).
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let killed = loop {
        assert!(Instant::now() < deadline, "no export run was seen");
        let holder = pg.psql("SELECT holder FROM audit_jobs WHERE job = 'export'").unwrap();
        let pid = holder.trim().strip_prefix("pid-").and_then(|r| r.split('-').next()).and_then(|p| p.parse().ok());
        if let Some(i) = pid.and_then(|p: u32| pids.iter().position(|q| *q == p)) {
            servers[i].signal("KILL");
            break i;
        }
    };
    let _ = servers[killed].child.wait();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let outcomes = collect(load);
    for (i, s) in servers.drain(..).enumerate() {
        if i != killed {
            assert!(s.stop().success());
        }
    }
    let acknowledged: BTreeSet<String> =
        outcomes.iter().filter(|(_, o)| o.status == 200).map(|(_, o)| o.request_id.clone()).collect();
    assert!(acknowledged.len() > 50, "{}", acknowledged.len());

    // The rerun: the dead holder's lease runs out, then one export finishes the job; a second
    // run has nothing to do.
    let config = config_path(dir.path(), 0);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(["--config", config.to_str().unwrap()]).args(args).output();
        let out = out.unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    // Its leases (checkpoint writer, exporter) run out; until then a run is refused as busy.
    let rerun = Instant::now();
    let deadline = rerun + Duration::from_secs(15);
    for (step, busy) in [("checkpoint", "another process"), ("export", "another exporter")] {
        loop {
            let (code, out) = cli(&["audit", step]);
            if code == 0 {
                break;
            }
            assert!(Instant::now() < deadline && out.contains(busy), "{out}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    eprintln!("the rerun waited {:.1} s for the dead replica's leases", rerun.elapsed().as_secs_f64());
    let (code, out) = cli(&["audit", "export"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("exported 0 segments") && out.contains("pruned 0 segments"), "{out}");

    // Every row once: the archive's segments do not overlap, and with the database they hold
    // every sequence number and every acknowledged request.
    let mut archived: Vec<(i64, String)> = Vec::new();
    let segments = lit_session_server::audit_jobs::export::list_segments(&archive).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    for (_, _, path) in &segments {
        let seg = lit_session_server::audit::segment::Segment::decode(&std::fs::read(path).unwrap()).unwrap();
        archived.extend(seg.rows.into_iter().map(|r| (r.seq, r.record)));
    }
    let seqs: BTreeSet<i64> = archived.iter().map(|r| r.0).collect();
    assert_eq!(seqs.len(), archived.len(), "a row in two segments");
    let in_db = pg.psql("SELECT seq || ' ' || (record::json->>'requestId') FROM audit ORDER BY seq").unwrap();
    let mut all: Vec<(i64, String)> = archived
        .iter()
        .map(|(seq, record)| {
            let v: Value = serde_json::from_str(record).unwrap();
            (*seq, v["requestId"].as_str().unwrap_or("").to_string())
        })
        .collect();
    for line in in_db.lines() {
        let (seq, id) = line.split_once(' ').unwrap();
        let seq: i64 = seq.parse().unwrap();
        if !seqs.contains(&seq) {
            all.push((seq, id.to_string()));
        }
    }
    all.sort();
    let head = int(&pg, "SELECT max(seq) FROM audit");
    assert_eq!(all.iter().map(|r| r.0).collect::<Vec<_>>(), (1..=head).collect::<Vec<_>>(), "a row lost");
    let ids: BTreeSet<String> = all.into_iter().map(|r| r.1).collect();
    let lost: Vec<&String> = acknowledged.difference(&ids).take(3).collect();
    assert!(lost.is_empty(), "acknowledged but in neither: {lost:?}");
    assert!(int(&pg, "SELECT count(*) FROM audit") < head, "nothing was pruned");

    let (code, out) = cli(&["audit", "verify", "--archive", archive.to_str().unwrap(), "--full"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("intact: {head} rows")), "{out}");
    eprintln!(
        "{head} rows, {} acknowledged, {} segments archived, replica {killed} killed",
        acknowledged.len(),
        segments.len()
    );
}
