//! The contract every [`ServiceStore`] backend keeps, as one suite (feature `test-util`): the
//! service's tests run it on SQLite always and on PostgreSQL, a real server they start, in the
//! test command.
//!
//! ```no_run
//! # async fn f(dir: &std::path::Path) {
//! use lit_session_server::store::{sqlite::SqliteStore, testing, StoreSettings};
//! let settings = testing::fast_sqlite(dir.join("contract.sqlite"));
//! let StoreSettings::Sqlite(options) = &settings else { unreachable!() };
//! let store = SqliteStore::open(options).unwrap();
//! testing::check_service_store(&store, &settings).await;
//! # }
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::postgres::PgOptions;
use super::sqlite::SqliteOptions;
use super::{AuthSigId, Exported, JobLease, KeyChange, KeyRow, KeyState, SaveOutcome, ServiceStore, StoreSettings};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{AuditEntry, ChainCheck, ChainVerifier, Outcome};
use crate::auth::AuthMethod;
use crate::endpoint::Endpoint;
use crate::ratelimit::Rate;
use crate::signing::Timestamp;
use crate::signing::{AuthUse, Format};

/// SQLite settings with mint-lock bounds short enough for the suite (a 1 s wait, a 2.5 s lease).
pub fn fast_sqlite(path: impl Into<PathBuf>) -> StoreSettings {
    StoreSettings::Sqlite(SqliteOptions {
        busy_timeout: Duration::from_millis(250),
        mint_lock_wait: Duration::from_secs(1),
        mint_sign_timeout: Duration::from_secs(2),
        ..SqliteOptions::new(path)
    })
}

/// PostgreSQL settings with mint-lock bounds short enough for the suite (a 1 s wait; an
/// abandoned lock's transaction is ended after 4 s idle).
pub fn fast_postgres(connection: impl Into<String>) -> StoreSettings {
    StoreSettings::Postgres(PgOptions {
        pool_size: 4,
        query_timeout: Duration::from_millis(500),
        mint_lock_wait: Duration::from_secs(1),
        mint_sign_timeout: Duration::from_secs(2),
        ..PgOptions::new(connection)
    })
}

/// How long the mint lock of a holder that died may keep others out, at most: SQLite's lease
/// (whole seconds), PostgreSQL's idle bound on the lock's transaction.
fn abandoned_lock_bound(settings: &StoreSettings) -> Duration {
    match settings {
        StoreSettings::Sqlite(o) => o.mint_lease() + Duration::from_secs(1),
        StoreSettings::Postgres(o) => o.mint_lock_hold() + Duration::from_secs(1),
    }
}

fn lock_wait(settings: &StoreSettings) -> Duration {
    match settings {
        StoreSettings::Sqlite(o) => o.mint_lock_wait,
        StoreSettings::Postgres(o) => o.mint_lock_wait,
    }
}

/// Runs the whole contract on `store`, empty and opened with `settings` (see [`fast_sqlite`],
/// [`fast_postgres`]): health, versioned AuthSig saves, the mint lock (exclusion, release, a
/// dead holder's lock running out), the rate-limit charge at its limit, the audit chain
/// (sealing, verification, paging, `audit_contains`), the audit upkeep (leases, checkpoints,
/// exports, pruning), the expiry of per-request rows, and the session-key table (insert once
/// per generation, compare-and-set changes, the maintenance lock).
pub async fn check_service_store(store: &dyn ServiceStore, settings: &StoreSettings) {
    store.health().await.expect("health");
    versioned_saves(store).await;
    mint_lock(store, settings).await;
    quota_and_chain(store).await;
    audit_upkeep(store).await;
    expiry(store).await;
    session_keys(store).await;
}

fn id(session_key: &str, grants: &str) -> AuthSigId {
    AuthSigId {
        signer: "5d467fe98ff120fe0c85f2217bc61732571b28ec".into(),
        session_key: session_key.into(),
        grants: grants.into(),
    }
}

async fn versioned_saves(store: &dyn ServiceStore) {
    let key = id(&"ab".repeat(32), "");
    let save = |text: &'static str, expected| store.save_auth_sig(&key, text, Some(100), expected);
    assert_eq!(store.load_auth_sig(&key).await.unwrap(), None);
    assert_eq!(save("{\"v\":1}", None).await.unwrap(), SaveOutcome::Saved(1));
    // A writer that expected no row finds one, and a writer that read version 1 finds version 2:
    // what is stored is kept.
    assert_eq!(save("{\"v\":\"late\"}", None).await.unwrap(), SaveOutcome::Conflict(1));
    assert_eq!(save("{\"v\":2}", Some(1)).await.unwrap(), SaveOutcome::Saved(2));
    assert_eq!(save("{\"v\":\"stale\"}", Some(1)).await.unwrap(), SaveOutcome::Conflict(2));
    let row = store.load_auth_sig(&key).await.unwrap().expect("the saved row");
    assert_eq!((row.auth_sig.as_str(), row.expires_at, row.version), ("{\"v\":2}", Some(100), 2));
    assert!(!row.written_by.is_empty());
    // Rows are per (signer, session key, grant set): each grant set has its own, versioned on
    // its own.
    assert_eq!(store.load_auth_sig(&id(&"cd".repeat(32), "")).await.unwrap(), None);
    let (one, two) = (id(&"ab".repeat(32), &"01".repeat(32)), id(&"ab".repeat(32), &"02".repeat(32)));
    assert_eq!(store.load_auth_sig(&one).await.unwrap(), None);
    assert_eq!(store.save_auth_sig(&one, "{\"g\":1}", None, None).await.unwrap(), SaveOutcome::Saved(1));
    assert_eq!(store.save_auth_sig(&two, "{\"g\":2}", None, None).await.unwrap(), SaveOutcome::Saved(1));
    assert_eq!(store.load_auth_sig(&one).await.unwrap().expect("grant set one").auth_sig, "{\"g\":1}");
    assert_eq!(store.load_auth_sig(&two).await.unwrap().expect("grant set two").auth_sig, "{\"g\":2}");
    assert_eq!(store.load_auth_sig(&key).await.unwrap().expect("the covering row").version, 2);
    store.remove_auth_sig(&one).await.unwrap();
    assert_eq!(store.load_auth_sig(&one).await.unwrap(), None);
    assert!(store.load_auth_sig(&two).await.unwrap().is_some() && store.load_auth_sig(&key).await.unwrap().is_some());
    // Removing all of a session key's rows leaves other session keys' rows.
    let other = id(&"cd".repeat(32), &"02".repeat(32));
    assert_eq!(store.save_auth_sig(&other, "{}", None, None).await.unwrap(), SaveOutcome::Saved(1));
    store.remove_auth_sigs(&key.signer, &key.session_key).await.unwrap();
    assert_eq!((store.load_auth_sig(&two).await.unwrap(), store.load_auth_sig(&key).await.unwrap()), (None, None));
    assert!(store.load_auth_sig(&other).await.unwrap().is_some());
    store.remove_auth_sig(&other).await.unwrap();
    assert_eq!(save("{\"v\":3}", Some(2)).await.unwrap(), SaveOutcome::Conflict(0));
    store.remove_auth_sig(&key).await.unwrap();
}

async fn mint_lock(store: &dyn ServiceStore, settings: &StoreSettings) {
    let wait = lock_wait(settings);
    let abandoned = abandoned_lock_bound(settings);
    assert!(wait >= Duration::from_millis(500) && wait < abandoned, "settings unfit for the suite: {settings:?}");
    let (k, dead) = (id("k", ""), id("dead", ""));
    let held = store.lock_for_mint(&k).await.expect("the first holder");
    // Another key, or another grant set of the same key, is not held up.
    for other in [id("k2", ""), id("k", "01")] {
        drop(tokio::time::timeout(wait, store.lock_for_mint(&other)).await.expect("no wait").expect("another row"));
    }
    // The same key waits for the holder and gets the lock once it is released.
    let started = Instant::now();
    let release = async {
        tokio::time::sleep(wait / 3).await;
        drop(held);
    };
    let (second, ()) = tokio::join!(store.lock_for_mint(&k), release);
    drop(second.expect("the waiter gets the lock once it is released"));
    assert!(started.elapsed() >= wait / 3, "the waiter did not wait for the holder");

    // A holder that died never releases: others wait and give up while its lock lasts, and
    // get it once the lock runs out.
    std::mem::forget(store.lock_for_mint(&dead).await.expect("the holder that dies"));
    let started = Instant::now();
    let refused = store.lock_for_mint(&dead).await.map(drop);
    assert!(refused.is_err(), "a live lock was taken over");
    let taken = loop {
        match store.lock_for_mint(&dead).await {
            Ok(guard) => {
                drop(guard);
                break started.elapsed();
            }
            Err(e) if started.elapsed() > abandoned + wait => panic!("a dead holder's lock never ran out: {e}"),
            Err(_) => {}
        }
    };
    assert!(taken >= wait, "taken after {taken:?}");
}

/// A contract row (approved, session-sigs), the `n`th.
pub fn audit_entry(n: i64) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: format!("2026-01-01T00:00:{n:02}.000Z"),
        request_id: format!("contract-{n}"),
        client: "client".into(),
        auth: AuthMethod::Bearer,
        endpoint: Endpoint::SessionSigs,
        decision: Outcome::Approved,
        rule: Some("allow[0]".into()),
        reasons: vec![],
        signer: Some("default".into()),
        session_key: Some("ab".repeat(32)),
        resources: vec!["lit-pkp://*=pkp-signing".into()],
        node_count: 3,
        expiration: Some("2026-01-01T00:10:00.000Z".into()),
        auth_sig: Some(AuthUse::Reused),
        status: 200,
        format: Some(Format::V7),
        max_price: None,
    }
}

async fn quota_and_chain(store: &dyn ServiceStore) {
    assert!(store.audit_rows(0, 10).await.unwrap().is_empty(), "the suite needs an empty store");
    let now: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
    let rate = Rate { count: 2, per_secs: 60 };
    let charge = rate.charge("client", now);
    let mut appended = Vec::new();
    for n in 1..=3 {
        appended.push(store.append_audit(audit_entry(n), Some(charge.clone())).await.expect("append"));
    }
    // At the limit the row is written as the rate-limit denial, and nothing is charged.
    assert_eq!(appended.iter().map(|a| (a.seq, a.charged)).collect::<Vec<_>>(), [(1, true), (2, true), (3, false)]);
    assert_eq!(store.quota_used(&charge).await.unwrap(), 2);
    appended.push(store.append_audit(audit_entry(4), None).await.unwrap());
    // The next window counts from zero, and the old one goes.
    let next = rate.charge("client", now.saturating_add(time::Duration::seconds(60)));
    appended.push(store.append_audit(audit_entry(5), Some(next.clone())).await.unwrap());
    assert!(appended[4].charged);
    assert_eq!((store.quota_used(&next).await.unwrap(), store.quota_used(&charge).await.unwrap()), (1, 0));
    // A probe row is never kept.
    store.audit_probe().await.expect("audit probe");

    let rows = store.audit_rows(0, 100).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let mut chain = ChainVerifier::default();
    for (row, a) in rows.iter().zip(&appended) {
        chain.push(row).expect("an intact chain");
        assert_eq!(row.hash, a.hash);
    }
    let last = appended[4].hash.clone();
    assert_eq!(chain.finish(), ChainCheck::Intact { rows: 5, head: last });
    let denied: AuditEntry = serde_json::from_str(&rows[2].record).unwrap();
    assert_eq!((denied.decision, denied.rule.as_deref(), denied.status), (Outcome::Denied, Some("rate-limit"), 429));
    assert_eq!((denied.session_key, denied.auth_sig), (None, None));
    assert_eq!(store.audit_rows(2, 2).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
    let first = audit_entry(1);
    assert!(store.audit_contains(&first.request_id, &first.at).await.unwrap());
    assert!(!store.audit_contains(&first.request_id, &audit_entry(2).at).await.unwrap());
    assert!(!store.audit_contains("contract-9", &first.at).await.unwrap());
}

async fn session_keys(store: &dyn ServiceStore) {
    let row = |generation: i64| KeyRow {
        family: "contract".into(),
        generation,
        label: format!("contract-g{generation}"),
        key_id: format!("{generation:02x}").repeat(16),
        public_key: "ab".repeat(32),
        state: KeyState::Generated,
        created_at: 1_000 * generation,
        activates_at: 1_000 * generation + 500,
        retired_at: None,
        destroy_after: None,
        destroyed_at: None,
        rotate_requested_at: None,
        revoked: false,
        written_by: String::new(),
    };
    assert!(store.session_keys("contract").await.unwrap().is_empty());
    assert!(store.insert_session_key(&row(2)).await.unwrap());
    assert!(store.insert_session_key(&row(1)).await.unwrap());
    // A generation is published once: a second writer of generation 2 finds it taken.
    let mut late = row(2);
    late.key_id = "ff".repeat(16);
    assert!(!store.insert_session_key(&late).await.unwrap());
    let rows = store.session_keys("contract").await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.generation, r.key_id.as_str())).collect::<Vec<_>>(),
        [(1, "01".repeat(16).as_str()), (2, "02".repeat(16).as_str())]
    );
    assert!(!rows[0].written_by.is_empty());
    assert_eq!(KeyRow { written_by: String::new(), ..rows[0].clone() }, row(1));
    assert!(store.session_keys("other").await.unwrap().is_empty());

    // Changes are compared-and-set on the state; unset fields keep their values.
    let activate = KeyChange { state: Some(KeyState::Active), ..KeyChange::default() };
    assert!(store.update_session_key("contract", 1, KeyState::Generated, &activate).await.unwrap());
    assert!(!store.update_session_key("contract", 1, KeyState::Generated, &activate).await.unwrap());
    assert!(!store.update_session_key("contract", 9, KeyState::Generated, &activate).await.unwrap());
    let retire = KeyChange {
        state: Some(KeyState::Retired),
        retired_at: Some(7_000),
        destroy_after: Some(9_000),
        rotate_requested_at: Some(6_000),
        revoked: Some(true),
        ..KeyChange::default()
    };
    assert!(store.update_session_key("contract", 1, KeyState::Active, &retire).await.unwrap());
    let later = KeyChange { destroy_after: Some(9_500), ..KeyChange::default() };
    assert!(store.update_session_key("contract", 1, KeyState::Retired, &later).await.unwrap());
    let one = store.session_keys("contract").await.unwrap().remove(0);
    assert_eq!(
        (one.state, one.activates_at, one.retired_at, one.destroy_after, one.rotate_requested_at, one.revoked),
        (KeyState::Retired, 1_500, Some(7_000), Some(9_500), Some(6_000), true)
    );

    // The expiry of the AuthSigs stored for a session key, across signers and grant sets: a
    // retired key is destroyed only after the last of them.
    let key = "cd".repeat(32);
    let by = |signer: &str, session_key: &str, grants: &str| AuthSigId {
        signer: signer.repeat(20),
        session_key: session_key.into(),
        grants: grants.into(),
    };
    assert_eq!(store.auth_sigs_expire_by(&key).await.unwrap(), None);
    store.save_auth_sig(&by("5d", &key, ""), "{}", Some(100), None).await.unwrap();
    store.save_auth_sig(&by("6d", &key, ""), "{}", Some(300), None).await.unwrap();
    store.save_auth_sig(&by("7d", &"ef".repeat(32), ""), "{}", Some(900), None).await.unwrap();
    assert_eq!(store.auth_sigs_expire_by(&key).await.unwrap(), Some(300));
    // A grant set's entry (its own `grants` column) counts for its key.
    store.save_auth_sig(&by("5d", &key, &"01".repeat(32)), "{}", Some(400), None).await.unwrap();
    assert_eq!(store.auth_sigs_expire_by(&key).await.unwrap(), Some(400));
    // Another key's grant set does not.
    store.save_auth_sig(&by("5d", &"ef".repeat(32), &"02".repeat(32)), "{}", Some(950), None).await.unwrap();
    assert_eq!(store.auth_sigs_expire_by(&key).await.unwrap(), Some(400));

    // One maintainer at a time: a try finds the lock held, a waiter gets it once it is free.
    let held = store.lock_session_keys("contract", None).await.unwrap().expect("a free lock");
    assert!(store.lock_session_keys("contract", None).await.unwrap().is_none(), "the lock was taken twice");
    assert!(store.lock_session_keys("other", None).await.unwrap().is_some(), "families do not share a lock");
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(held);
    };
    let (waited, ()) = tokio::join!(store.lock_session_keys("contract", Some(Duration::from_secs(5))), release);
    assert!(waited.unwrap().is_some(), "the waiter gets the lock once it is released");
    assert!(
        store.lock_session_keys("contract", Some(Duration::from_millis(300))).await.unwrap().is_some(),
        "a dropped lock is free"
    );
}

/// Rows as a version 1 store holds them (the service of that version wrote an entry for one
/// grant set under `<session key>-<digest>`), inserted by [`V1_ROWS_SQL`] into a database made
/// by migration 0001 alone; [`check_v1_rows_kept`] checks that the store opened on it has
/// upgraded them in place.
pub const V1_ROWS_SQL: &str = "
INSERT INTO auth_sigs (signer, session_key, auth_sig, expires_at, version, written_by, written_at) VALUES
  ('5d467fe98ff120fe0c85f2217bc61732571b28ec',
   'abababababababababababababababababababababababababababababababab', '{\"covering\":1}', 100, 3, 'v1', 1),
  ('5d467fe98ff120fe0c85f2217bc61732571b28ec',
   'abababababababababababababababababababababababababababababababab-0101010101010101010101010101010101010101010101010101010101010101',
   '{\"grants\":1}', 200, 1, 'v1', 2);
INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash) VALUES
  (1, '2026-01-01T00:00:00.000Z', 'v1-row', 'client', 'session-sigs', 'approved', 'allow[0]', '{}', 'p', 'h');
INSERT INTO quota (client, rule, window_start, used) VALUES ('client', 'rate', 60, 7);
INSERT INTO schema_version (version, applied_at) VALUES (1, 'v1');
";

/// See [`V1_ROWS_SQL`]: the rows are all there, each AuthSig under its grant set, and a new
/// grant set of the same session key is a row of its own.
pub async fn check_v1_rows_kept(store: &dyn ServiceStore) {
    let key = "ab".repeat(32);
    let covering = store.load_auth_sig(&id(&key, "")).await.unwrap().expect("the covering row");
    assert_eq!((covering.auth_sig.as_str(), covering.expires_at, covering.version), ("{\"covering\":1}", Some(100), 3));
    let granted = store.load_auth_sig(&id(&key, &"01".repeat(32))).await.unwrap().expect("the grant set's row");
    assert_eq!((granted.auth_sig.as_str(), granted.expires_at, granted.version), ("{\"grants\":1}", Some(200), 1));
    assert_eq!(granted.written_by, "v1");
    let third = id(&key, &"02".repeat(32));
    assert_eq!(store.save_auth_sig(&third, "{}", None, None).await.unwrap(), SaveOutcome::Saved(1));
    let rows = store.audit_rows(0, 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.seq, r.hash.as_str())).collect::<Vec<_>>(), [(1, "h")]);
    assert!(store.audit_contains("v1-row", "2026-01-01T00:00:00.000Z").await.unwrap());
    let charge = crate::ratelimit::QuotaCharge {
        client: "client".into(),
        rule: "rate".into(),
        window_start: 60,
        limit: 10,
        per_secs: 60,
    };
    assert_eq!(store.quota_used(&charge).await.unwrap(), 7);
}

/// Job leases, checkpoints, export records and pruning (after [`quota_and_chain`]'s 5 rows).
async fn audit_upkeep(store: &dyn ServiceStore) {
    let ttl = Duration::from_millis(700);
    let a = JobLease { job: "export".into(), holder: "a".into() };
    let b = JobLease { job: "export".into(), holder: "b".into() };
    assert!(store.take_job(&a, ttl).await.unwrap());
    assert!(!store.take_job(&b, ttl).await.unwrap(), "one holder at a time");
    assert!(store.take_job(&a, ttl).await.unwrap(), "the holder renews");
    assert!(store.take_job(&JobLease { job: "checkpoint".into(), holder: "b".into() }, ttl).await.unwrap());
    store.release_job(&b).await.unwrap();
    assert!(!store.take_job(&b, ttl).await.unwrap(), "releasing another's lease does nothing");
    store.release_job(&a).await.unwrap();
    assert!(store.take_job(&b, ttl).await.unwrap());
    // A holder that died: its lease runs out.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(store.take_job(&a, ttl).await.unwrap());
    let cp_lease = JobLease { job: "checkpoint".into(), holder: "b".into() };
    assert!(store.take_job(&cp_lease, Duration::from_secs(30)).await.unwrap());

    assert_eq!(store.audit_head().await.unwrap().map(|h| h.0), Some(5));
    assert_eq!(store.audit_first_seq().await.unwrap(), Some(1));
    let hashes = store.audit_hashes(0, 3).await.unwrap();
    assert_eq!(hashes.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(hashes[1].1, hashes[0].2, "prev_hash links");
    assert!(store.last_checkpoint().await.unwrap().is_none());
    let sign = |c: Checkpoint, rows: Vec<String>| c.sealed("00".repeat(32), &[0u8; 64], rows);
    let rows = |h: &[(i64, String, String)]| h.iter().map(|r| r.2.clone()).collect::<Vec<_>>();
    let first = sign(Checkpoint::next(None, 3, &rows(&hashes), "2026-01-01T00:00:00Z".into()), rows(&hashes));
    // Only the lease holder writes.
    let other = JobLease { job: "checkpoint".into(), holder: "x".into() };
    assert!(!store.add_checkpoint(&first, &other).await.unwrap());
    assert!(store.add_checkpoint(&first, &cp_lease).await.unwrap());
    assert!(!store.add_checkpoint(&first, &cp_lease).await.unwrap(), "the same range twice");
    let rest = store.audit_hashes(3, 10).await.unwrap();
    let second = sign(Checkpoint::next(Some(&first), 5, &rows(&rest), "2026-01-01T00:00:10Z".into()), rows(&rest));
    assert!(store.add_checkpoint(&second, &cp_lease).await.unwrap());
    assert_eq!(store.last_checkpoint().await.unwrap().as_ref(), Some(&second));
    assert_eq!(store.checkpoints(0, 10).await.unwrap(), [first.clone(), second.clone()]);
    assert_eq!(store.checkpoints(4, 10).await.unwrap(), std::slice::from_ref(&second));

    // Pruning: only recorded exports, only by the export lease holder, never the head.
    assert_eq!(store.prune_segment(1, 3, &a).await.unwrap(), 0, "not exported");
    let export = |c: &crate::audit::checkpoint::SignedCheckpoint| Exported {
        first_seq: c.checkpoint.first_seq,
        last_seq: c.checkpoint.last_seq,
        checkpoint_hash: c.hash.clone(),
        file: format!("f{}", c.checkpoint.last_seq),
        exported_at: "2026-01-01T00:01:00Z".into(),
    };
    assert!(!store.add_export(&export(&first), &other).await.unwrap());
    assert!(store.add_export(&export(&first), &a).await.unwrap());
    assert!(store.add_export(&export(&first), &a).await.unwrap(), "recording twice is a no-op");
    assert!(store.add_export(&export(&second), &a).await.unwrap());
    assert_eq!(store.last_export().await.unwrap(), Some(export(&second)));
    assert_eq!(store.exports(0, 10).await.unwrap(), [export(&first), export(&second)]);
    assert_eq!(store.prune_segment(1, 3, &other).await.unwrap(), 0, "not the lease holder");
    assert_eq!(store.prune_segment(4, 5, &a).await.unwrap(), 0, "the head stays");
    assert_eq!(store.prune_segment(1, 3, &a).await.unwrap(), 3);
    assert_eq!(store.audit_first_seq().await.unwrap(), Some(4));
    // The checkpoint the first remaining row links to stays.
    assert_eq!(store.checkpoints(0, 10).await.unwrap(), [first.clone(), second]);
    assert_eq!(store.audit_rows(0, 10).await.unwrap()[0].prev_hash, first.checkpoint.head_hash);
    store.release_job(&a).await.unwrap();
    store.release_job(&cp_lease).await.unwrap();
}

/// Per-request rows go once they run out: expired AuthSigs, ended rate-limit windows, dead mint
/// leases; live ones stay (after [`audit_upkeep`]).
async fn expiry(store: &dyn ServiceStore) {
    let (old, live, open) = (id(&"e1".repeat(32), ""), id(&"e2".repeat(32), ""), id(&"e3".repeat(32), ""));
    store.save_auth_sig(&old, "{}", Some(1_000), None).await.unwrap();
    store.save_auth_sig(&live, "{}", Some(4_000_000_000), None).await.unwrap();
    store.save_auth_sig(&open, "{}", None, None).await.unwrap();
    let rate = Rate { count: 5, per_secs: 60 };
    let (feb, mar): (Timestamp, Timestamp) =
        ("2026-02-01T00:00:00Z".parse().unwrap(), "2026-03-01T00:00:30Z".parse().unwrap());
    let (ended, current) = (rate.charge("x", feb), rate.charge("y", mar));
    store.append_audit(audit_entry(40), Some(ended.clone())).await.unwrap();
    store.append_audit(audit_entry(41), Some(current.clone())).await.unwrap();
    // A holder that died holding a mint lease (a row on SQLite, an advisory lock on PostgreSQL).
    let dies = AuthSigId { signer: "s".into(), session_key: "expiry".into(), grants: String::new() };
    std::mem::forget(store.lock_for_mint(&dies).await.expect("the holder that dies"));

    let now = (Timestamp::now().unix_millis() / 1000) as i64 + 10 * 86_400;
    let pruned = store.prune_expired(now, current.window_start).await.unwrap();
    // quota_and_chain's window (January) and x's (February) ended; y's is the current one.
    let dead_locks = u64::from(store.backend() == "sqlite");
    assert_eq!(pruned, super::Pruned { auth_sigs: 1, windows: 2, mint_locks: dead_locks });
    assert_eq!(store.load_auth_sig(&old).await.unwrap(), None);
    assert!(store.load_auth_sig(&live).await.unwrap().is_some());
    assert!(store.load_auth_sig(&open).await.unwrap().is_some(), "no expiry known: kept");
    assert_eq!((store.quota_used(&ended).await.unwrap(), store.quota_used(&current).await.unwrap()), (0, 1));
    assert_eq!(store.prune_expired(now, current.window_start).await.unwrap(), super::Pruned::default());
    for key in [old, live, open] {
        store.remove_auth_sig(&key).await.unwrap();
    }
}
