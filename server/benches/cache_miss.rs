//! A mint whose AuthSig is not cached, through the service's store, one call at a time: the
//! session manager reads the store (miss), takes the store's mint lock, reads again, the wallet
//! signs, the manager saves and gives the lock back (five store steps), then signs for one node.
//! Each call asks for another PKP, so each is a new grant set and a miss; a repeated request
//! (a hit in the manager's memory, no store step) is the control.
//!
//! `cargo bench -p lit-session-server --bench cache_miss [-- --calls N]`; LABEL names the row
//! (to compare builds of two commits in one run). SQLite at `synchronous=NORMAL`; PostgreSQL
//! (when Debian's server is installed) as a throwaway cluster with its fsync off, so the
//! figures are the store's round trips rather than the disk's flushes.

#[allow(dead_code)] // the load bench's helpers
mod support;
use support::arg;

#[path = "../tests/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lit_session_server::signing::{MintInput, Profile, ProfileSpec, SessionKeySpec, WalletSpec};
use lit_session_server::store::postgres::{PgOptions, PgStore};
use lit_session_server::store::sqlite::{Durability, SqliteOptions, SqliteStore};
use lit_session_server::store::ServiceStore;

fn input(pkp: &str) -> MintInput {
    support::mint_input(&["https://10.2.0.1:443".to_string()], pkp)
}

fn quantiles(mut lat: Vec<Duration>) -> (f64, f64, f64) {
    lat.sort();
    let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    let mean = lat.iter().sum::<Duration>().as_secs_f64() * 1e6 / lat.len() as f64;
    (pick(0.5), pick(0.9), mean)
}

/// (misses, hits): per-call latencies, one call at a time.
async fn run(store: Arc<dyn ServiceStore>, calls: usize, round: usize) -> (Vec<Duration>, Vec<Duration>) {
    let spec = ProfileSpec {
        name: "default".into(),
        session_key: SessionKeySpec::Memory,
        wallet: WalletSpec::Random,
        auth_sig_lifetime: time::Duration::hours(24),
        expiry_margin: time::Duration::minutes(5),
    };
    let cache = lit_session_server::store::auth_sig_store(store);
    let profile = Arc::new(Profile::open(&spec, cache, Duration::from_secs(60)).unwrap());
    let same = input("*");
    profile.mint(&same).await.unwrap();
    let (mut misses, mut hits) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        let fresh = input(&format!("{:056x}{round:04x}{i:04x}", 0xb0u8));
        let t = Instant::now();
        profile.mint(&fresh).await.unwrap();
        misses.push(t.elapsed());
        let t = Instant::now();
        profile.mint(&same).await.unwrap();
        hits.push(t.elapsed());
    }
    (misses, hits)
}

fn main() {
    let calls = arg("--calls", 300);
    let label = std::env::var("LABEL").unwrap_or_else(|_| "this build".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pg = postgres::Postgres::start_new().ok();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for round in 0..2 {
        let path = dir.path().join(format!("s{round}.sqlite"));
        let options = SqliteOptions { durability: Durability::Normal, ..SqliteOptions::new(path) };
        let sqlite: Arc<dyn ServiceStore> = Arc::new(SqliteStore::open(&options).unwrap());
        rows.push(("sqlite/normal", rt.block_on(run(sqlite, calls, round))));
        if let Some(pg) = &pg {
            let store: Arc<dyn ServiceStore> =
                Arc::new(rt.block_on(PgStore::open(&PgOptions::new(pg.connection()))).unwrap());
            rows.push(("postgres", rt.block_on(run(store, calls, round))));
        }
    }
    // The better of the two rounds per store (other processes share the machine).
    for store in ["sqlite/normal", "postgres"] {
        let best = rows
            .iter()
            .filter(|(s, _)| *s == store)
            .map(|(_, (m, h))| (quantiles(m.clone()), quantiles(h.clone())))
            .min_by(|a, b| a.0 .0.total_cmp(&b.0 .0));
        if let Some(((m50, m90, mmean), (h50, h90, _))) = best {
            println!(
                "| {label} | {store} | {calls} | {m50:.0} | {m90:.0} | {mmean:.0} | {h50:.0} | {h90:.0} | {:.0} |",
                m50 - h50
            );
        }
    }
}
