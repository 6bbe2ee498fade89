//! The PostgreSQL store, for replicas on several hosts: the same tables as SQLite, a versioned
//! schema with embedded migrations, a bounded pool, and a time bound on every operation.
//!
//! - A multi-host connection string (`host=db-a,db-b target_session_attrs=read-write`) finds
//!   the writable server after a failover without a proxy; each host is tried in turn.
//! - Minting a new AuthSig takes `pg_advisory_xact_lock` for (signer, session key) in a
//!   transaction held until the AuthSig is saved; a replica that waited reads it afterwards.
//! - Audit appends are committed in groups: the rows that arrive while a batch commits form the
//!   next batch, one transaction in one round trip, in which the `audit_append` function charges
//!   each row's rate limit (`INSERT … ON CONFLICT … WHERE used < limit`), locks the chain head
//!   row (`SELECT … FOR UPDATE`), seals the rows onto it and inserts them with the new head. It
//!   commits asynchronously, so the head's lock is released before the WAL flush, and a flush
//!   statement pipelined after COMMIT waits for the WAL (and a synchronous standby) before the
//!   batch is answered: replicas' flushes overlap. A batch whose answer is lost is resolved
//!   (its server process ended, then its rows found and flushed, or not found) before anyone
//!   is answered.
//! - A timeout is busy (503 store-busy, that request alone) while the database still answers a
//!   new connection; only a database that does not, or a failed connection, is unreachable.
//! - Every operation has a deadline; a connection whose operation failed or ran out of time is
//!   closed, so a hung server can neither hang requests nor keep the pool's connections.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use super::keys::{KeyChange, KeyRow, KeyState};
use super::pool::{describe_hosts, Pool};
use super::{
    pg_message, Appended, AuthSigId, MintGuard, QuotaCharge, SaveOutcome, ServiceStore, StoreError, StoredAuthSig,
};
use crate::audit::{AuditEntry, AuditRow};
use crate::signing;

mod chain;
mod failure;
mod group;
mod keys;
mod lock;
mod migrate;
mod options;
mod upkeep;

use failure::db_error;
use group::{appender, Pending};
pub use options::{parse_connection, PgOptions};

/// Migrations, in order, each with the version its file is numbered by (reserved per change,
/// landing out of order: a store gets each one it lacks, see [`super::pending_migrations`]).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/postgres/0002_auth_sig_grants.sql")),
    (3, include_str!("../../../migrations/postgres/0003_session_keys.sql")),
    (4, include_str!("../../../migrations/postgres/0004_audit_checkpoints.sql")),
    (5, include_str!("../../../migrations/postgres/0005_audit_append.sql")),
];

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = super::newest_migration(MIGRATIONS);

// Advisory lock keys are 64-bit; these namespaces keep ours apart from other users of the
// database (hashtextextended of a prefixed text).
const MIGRATION_LOCK: &str = "lit-session-server/migrate";
const MINT_LOCK_PREFIX: &str = "lit-session-server/";
const KEY_LOCK_PREFIX: &str = "lit-session-server/";

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    location: String,
    query_timeout: Duration,
    mint_lock_wait: Duration,
    mint_lock_hold: Duration,
    commit_resolve: Duration,
    writer: String,
    // Until when operations fail at once: set when the database did not answer (connection
    // level: refused, closed, hung, read-only), so requests queued behind one another do not
    // each wait out a full timeout. The first operation after it tries the database again. A
    // busy database (a request that waited too long for a connection or a lock) never sets it.
    fail_fast_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    // The last liveness check (when, whether the database answered), shared by the requests
    // that time out together so they cost one check.
    liveness: tokio::sync::Mutex<Option<(tokio::time::Instant, bool)>>,
    // Audit rows waiting for the appender (group commit).
    appends: tokio::sync::mpsc::UnboundedSender<Pending>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.inner.location).finish_non_exhaustive()
    }
}

/// An operation on a borrowed connection.
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl PgStore {
    /// Connects, checks the schema and applies missing migrations (one replica at a time).
    /// Refuses a database whose schema is newer than this build, or that holds other tables.
    pub async fn open(options: &PgOptions) -> Result<Self, StoreError> {
        let password = match &options.password_file {
            None => None,
            Some(path) => Some(zeroize::Zeroizing::new(
                signing::read_secret_text(path)
                    .map_err(|e| StoreError::Settings(format!("store.password_file: {e}")))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            )),
        };
        let mut config = parse_connection(&options.connection).map_err(StoreError::Settings)?;
        if let Some(p) = &password {
            config.password(p.as_bytes());
        }
        if config.get_application_name().is_none() {
            config.application_name("lit-session-server");
        }
        // Server-side bounds too, so a statement or transaction abandoned by a timed-out client
        // does not hold locks.
        let ms = options.query_timeout.as_millis().max(1);
        let bounds = format!("-c statement_timeout={ms} -c idle_in_transaction_session_timeout={}", ms * 5);
        let merged = match config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} {bounds}"),
            _ => bounds,
        };
        config.options(merged);
        let location = format!(
            "postgres {} db {}",
            describe_hosts(&config).join(","),
            config.get_dbname().or(config.get_user()).unwrap_or("(default)")
        );
        let pool = Pool::new(&config, options.pool_size, options.connect_timeout);
        let (appends, queue) = tokio::sync::mpsc::unbounded_channel();
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                location,
                query_timeout: options.query_timeout,
                mint_lock_wait: options.mint_lock_wait,
                mint_lock_hold: options.mint_lock_hold(),
                commit_resolve: options.commit_resolve_bound(),
                writer: options.writer.clone(),
                fail_fast_until: std::sync::Mutex::new(None),
                liveness: tokio::sync::Mutex::new(None),
                appends,
            }),
        };
        tokio::spawn(appender(Arc::downgrade(&store.inner), queue));
        // Migrations may take longer than one query; they get a generous bound of their own.
        let migrate_bound = options.query_timeout.max(Duration::from_secs(30));
        let location = store.inner.location.clone();
        match tokio::time::timeout(migrate_bound, store.migrate(&location)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(StoreError::Unreachable {
                    op: "migrate",
                    message: format!("{location}: no answer within {} s", migrate_bound.as_secs()),
                })
            }
        }
        Ok(store)
    }

    /// Runs `f` on a pooled connection within the query timeout. The connection returns to the
    /// pool only if `f` succeeded in time.
    async fn with<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut Client) -> BoxFut<'c, T>,
    {
        self.inner.fail_fast(op)?;
        let bound = self.inner.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let result = async {
            let mut conn = self.inner.connection(op, deadline).await?;
            match tokio::time::timeout_at(deadline, f(conn.client())).await {
                Ok(out) => {
                    let out = out?;
                    conn.keep();
                    Ok(out)
                }
                Err(_) => {
                    drop(conn);
                    Err(self.inner.timed_out(op, bound, "waited for the database").await)
                }
            }
        }
        .await;
        self.inner.record(result)
    }
}

#[async_trait]
impl ServiceStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with("health", |c| {
            Box::pin(async move {
                let row = c.query_typed_one("SELECT pg_is_in_recovery()", &[]).await.map_err(db_error("health"))?;
                if row.get::<_, bool>(0) {
                    return Err(StoreError::Unreachable {
                        op: "health",
                        message: "connected to a standby (read-only)".into(),
                    });
                }
                Ok(())
            })
        })
        .await
    }

    async fn audit_probe(&self) -> Result<(), StoreError> {
        self.with("audit probe", |c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(db_error("audit probe"))?;
                tx.execute(
                    "INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
                     VALUES (-pg_backend_pid(), '', 'probe', 'probe', 'probe', 'probe', NULL, '', '', '')",
                    &[],
                )
                .await
                .map_err(db_error("audit probe"))?;
                // Appends call `audit_append` and flush with `pg_logical_emit_message`: a role
                // that may insert but not call one of them (EXECUTE revoked) cannot append.
                let may = tx
                    .query_typed_one(
                        "SELECT (SELECT coalesce(bool_and(has_function_privilege(p.oid, 'EXECUTE')), false)
                                 FROM pg_proc AS p
                                 WHERE p.proname = 'audit_append' AND pg_function_is_visible(p.oid)),
                                has_function_privilege('pg_logical_emit_message(boolean, text, text)', 'EXECUTE')",
                        &[],
                    )
                    .await
                    .map_err(db_error("audit probe"))?;
                tx.rollback().await.map_err(db_error("audit probe"))?;
                for (column, function) in [(0, "audit_append"), (1, "pg_logical_emit_message")] {
                    if !may.try_get::<_, bool>(column).map_err(db_error("audit probe"))? {
                        return Err(StoreError::Unavailable {
                            op: "audit probe",
                            message: format!(
                                "this role may not EXECUTE {function}: GRANT EXECUTE ON FUNCTION {function} TO it"
                            ),
                        });
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn load_auth_sig(&self, id: &AuthSigId) -> Result<Option<StoredAuthSig>, StoreError> {
        let id = id.clone();
        self.with("load auth sig", |c| {
            Box::pin(async move {
                let row = c
                    .query_typed_opt(
                        "SELECT auth_sig, expires_at, version, written_by FROM auth_sigs
                         WHERE signer = $1 AND session_key = $2 AND grants = $3",
                        &[(&id.signer, Type::TEXT), (&id.session_key, Type::TEXT), (&id.grants, Type::TEXT)],
                    )
                    .await
                    .map_err(db_error("load auth sig"))?;
                Ok(row.map(|r| StoredAuthSig {
                    auth_sig: r.get(0),
                    expires_at: r.get(1),
                    version: r.get(2),
                    written_by: r.get(3),
                }))
            })
        })
        .await
    }

    async fn save_auth_sig(
        &self,
        id: &AuthSigId,
        auth_sig: &str,
        expires_at: Option<i64>,
        expected_version: Option<i64>,
    ) -> Result<SaveOutcome, StoreError> {
        let (id, auth_sig) = (id.clone(), auth_sig.to_string());
        let writer = self.inner.writer.clone();
        self.with("save auth sig", move |c| {
            Box::pin(async move {
                let now = now_secs();
                let (signer, session_key, grants) = (&id.signer, &id.session_key, &id.grants);
                // Compare-and-set in one statement: insert when no row is expected, else replace
                // only the expected version. The row's columns are $1..$7 of both.
                let columns: [(&(dyn ToSql + Sync), Type); 7] = [
                    (signer, Type::TEXT),
                    (session_key, Type::TEXT),
                    (grants, Type::TEXT),
                    (&auth_sig, Type::TEXT),
                    (&expires_at, Type::INT8),
                    (&writer, Type::TEXT),
                    (&now, Type::INT8),
                ];
                let saved = match expected_version {
                    None => {
                        c.query_typed_opt(
                            "INSERT INTO auth_sigs (signer, session_key, grants, auth_sig, expires_at, version,
                                                    written_by, written_at)
                             VALUES ($1, $2, $3, $4, $5, 1, $6, $7)
                             ON CONFLICT (signer, session_key, grants) DO NOTHING RETURNING version",
                            &columns,
                        )
                        .await
                    }
                    Some(v) => {
                        let version: [(&(dyn ToSql + Sync), Type); 1] = [(&v, Type::INT8)];
                        c.query_typed_opt(
                            "UPDATE auth_sigs SET auth_sig = $4, expires_at = $5, version = version + 1,
                                                  written_by = $6, written_at = $7
                             WHERE signer = $1 AND session_key = $2 AND grants = $3 AND version = $8
                             RETURNING version",
                            &[&columns[..], &version[..]].concat(),
                        )
                        .await
                    }
                }
                .map_err(db_error("save auth sig"))?;
                if let Some(row) = saved {
                    return Ok(SaveOutcome::Saved(row.get(0)));
                }
                let current = c
                    .query_typed_opt(
                        "SELECT version FROM auth_sigs WHERE signer = $1 AND session_key = $2 AND grants = $3",
                        &[(signer, Type::TEXT), (session_key, Type::TEXT), (grants, Type::TEXT)],
                    )
                    .await
                    .map_err(db_error("save auth sig"))?;
                Ok(SaveOutcome::Conflict(current.map_or(0, |r| r.get(0))))
            })
        })
        .await
    }

    async fn remove_auth_sig(&self, id: &AuthSigId) -> Result<(), StoreError> {
        let id = id.clone();
        self.with("remove auth sig", |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM auth_sigs WHERE signer = $1 AND session_key = $2 AND grants = $3",
                    &[&id.signer, &id.session_key, &id.grants],
                )
                .await
                .map(drop)
                .map_err(db_error("remove auth sig"))
            })
        })
        .await
    }

    async fn remove_auth_sigs(&self, signer: &str, session_key: &str) -> Result<(), StoreError> {
        let (signer, session_key) = (signer.to_string(), session_key.to_string());
        self.with("remove auth sig", |c| {
            Box::pin(async move {
                c.execute("DELETE FROM auth_sigs WHERE signer = $1 AND session_key = $2", &[&signer, &session_key])
                    .await
                    .map(drop)
                    .map_err(db_error("remove auth sig"))
            })
        })
        .await
    }

    async fn lock_for_mint(&self, id: &AuthSigId) -> Result<MintGuard, StoreError> {
        const OP: &str = "mint lock";
        let key = format!("{MINT_LOCK_PREFIX}{}", id.lock_name());
        let wait = self.inner.mint_lock_wait;
        // The transaction idles while the wallet signs: the connection's idle bound (a few query
        // timeouts) would end the session and free the lock under a slow signature, so this
        // transaction's bound covers the wait, the signature and the store calls around it.
        match self.advisory_lock(OP, key, Some(wait), self.inner.mint_lock_hold).await? {
            Some(lock) => Ok(Box::new(lock)),
            None => Err(StoreError::Busy {
                op: OP,
                message: format!("another replica held it for more than {} ms", wait.as_millis()),
            }),
        }
    }

    async fn quota_used(&self, charge: &QuotaCharge) -> Result<u64, StoreError> {
        let (client, rule, window_start) = (charge.client.clone(), charge.rule.clone(), charge.window_start);
        self.with("quota", |c| {
            Box::pin(async move {
                let row = c
                    .query_typed_opt(
                        "SELECT used FROM quota WHERE client = $1 AND rule = $2 AND window_start = $3",
                        &[(&client, Type::TEXT), (&rule, Type::TEXT), (&window_start, Type::INT8)],
                    )
                    .await
                    .map_err(db_error("quota"))?;
                Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
            })
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, StoreError> {
        const OP: &str = "audit append";
        self.inner.fail_fast(OP)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Unavailable { op: OP, message: "the audit appender stopped".into() };
        self.inner.appends.send(Pending { entry, charge, reply }).map_err(|_| stopped())?;
        // Answered once the batch holding this row is durable, or known not to be.
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    async fn audit_contains(&self, request_id: &str, at: &str) -> Result<bool, StoreError> {
        let (r, a) = (request_id.to_string(), at.to_string());
        self.with("audit read", move |c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT count(*) FROM audit WHERE request_id = $1 AND at = $2", &[&r, &a])
                    .await
                    .map_err(db_error("audit read"))?;
                Ok(row.get::<_, i64>(0) > 0)
            })
        })
        .await
    }

    async fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let limit = limit as i64;
        self.with("audit read", move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT seq, record, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&after, &limit],
                    )
                    .await
                    .map_err(db_error("audit read"))?;
                Ok(rows
                    .iter()
                    .map(|r| AuditRow { seq: r.get(0), record: r.get(1), prev_hash: r.get(2), hash: r.get(3) })
                    .collect())
            })
        })
        .await
    }

    async fn auth_sigs_expire_by(&self, session_key: &str) -> Result<Option<i64>, StoreError> {
        keys::expire_by(self, session_key).await
    }

    async fn session_keys(&self, family: &str) -> Result<Vec<KeyRow>, StoreError> {
        keys::rows(self, family).await
    }

    async fn insert_session_key(&self, row: &KeyRow) -> Result<bool, StoreError> {
        keys::insert(self, row).await
    }

    async fn update_session_key(
        &self,
        family: &str,
        generation: i64,
        from: KeyState,
        change: &KeyChange,
    ) -> Result<bool, StoreError> {
        keys::update(self, family, generation, from, change).await
    }

    async fn lock_session_keys(&self, family: &str, wait: Option<Duration>) -> Result<Option<MintGuard>, StoreError> {
        keys::lock(self, family, wait).await
    }
}
