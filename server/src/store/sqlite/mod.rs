//! The embedded store: one SQLite file (bundled SQLite), WAL journal, versioned schema with
//! embedded migrations. Several processes on one host may share the file: writes take
//! `BEGIN IMMEDIATE` and wait up to the busy timeout.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::keys::{KeyChange, KeyRow, KeyState};
use super::{Appended, AuthSigId, MintGuard, QuotaCharge, SaveOutcome, ServiceStore, StoreError, StoredAuthSig};
use crate::audit::{AuditEntry, AuditRow};
use crate::signing;

mod chain;
mod keys;
mod options;
mod upkeep;

use chain::append;
pub use options::{Durability, SqliteOptions};

/// Migrations, in order, each with the version its file is numbered by. Numbers are reserved per
/// change and may land out of order, so a store records each version it applied and gets the
/// ones it lacks (see [`super::pending_migrations`]).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_auth_sig_grants.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_session_keys.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_audit_checkpoints.sql")),
];

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = super::newest_migration(MIGRATIONS);

/// The SQLite store. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    writer: String,
    mint_lease: Duration,
    mint_wait: Duration,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// A SQLite error as a store error: another process holding the write lock past the busy
/// timeout is this request's wait ([`StoreError::Busy`]); anything else is the file failing.
fn unavailable(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Busy { op, message: format!("{e} (another process held the write lock)") }
        }
        _ => StoreError::Unavailable { op, message: e.to_string() },
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl SqliteStore {
    /// Opens (creating if missing) the store file, applying migrations. Refuses a file whose
    /// schema is newer than this build, or that holds tables of something else.
    pub fn open(options: &SqliteOptions) -> Result<Self, StoreError> {
        let path = options.path.as_path();
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable { op: "open", message: format!("{}: {e}", path.display()) })?;
        conn.busy_timeout(options.busy_timeout).map_err(unavailable("open"))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(unavailable("open"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable {
                op: "open",
                message: format!("{}: cannot use the WAL journal (got {mode})", path.display()),
            });
        }
        let sync = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"))
            .map_err(unavailable("open"))?;
        migrate(&conn, path)?;
        let inner = Inner {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            writer: options.writer.clone(),
            mint_lease: options.mint_lease(),
            mint_wait: options.mint_lock_wait,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut this.lock()))
            .await
            .map_err(|e| StoreError::Unavailable { op: "task", message: e.to_string() })?
    }

    /// Takes the lease row `key` for `lease`: once (`wait: None`), or retrying until `wait` has
    /// passed. `None`: another holder has it. A lease runs out by itself, so a holder that died
    /// frees it then.
    async fn take_lease(
        &self,
        op: &'static str,
        key: String,
        lease: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<Lease>, StoreError> {
        let holder = format!("{}-{}", self.inner.writer, signing::random_hex(4));
        let deadline = tokio::time::Instant::now() + wait.unwrap_or_default();
        let lease_secs = lease.as_secs().max(1) as i64;
        loop {
            let (k, h) = (key.clone(), holder.clone());
            let taken = self
                .run(move |conn| {
                    let now = now_secs();
                    conn.execute(
                        "INSERT INTO mint_locks (key, holder, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE mint_locks.expires_at < ?4 OR mint_locks.holder = excluded.holder",
                        params![k, h, now + lease_secs, now],
                    )
                    .map(|n| n > 0)
                    .map_err(unavailable(op))
                })
                .await?;
            if taken {
                return Ok(Some(Lease { inner: self.inner.clone(), key, holder }));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let has_version: bool = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(unavailable("migrate"))?
        > 0;
    let applied: Vec<i64> = if has_version {
        let mut stmt = conn.prepare("SELECT version FROM schema_version").map_err(unavailable("migrate"))?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).map_err(unavailable("migrate"))?;
        rows.collect::<Result<_, _>>().map_err(unavailable("migrate"))?
    } else {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type='table'", [], |r| r.get(0))
            .map_err(unavailable("migrate"))?;
        if tables > 0 {
            return Err(StoreError::Schema(format!(
                "{} is not a lit-session-server store (it has tables but no schema_version); \
                 point store.path at a new file",
                path.display()
            )));
        }
        Vec::new()
    };
    let current = applied.iter().copied().max().unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "{} has schema version {current}, newer than this build knows ({SCHEMA_VERSION}); \
             run a lit-session-server at least as new as the one that wrote it",
            path.display()
        )));
    }
    for (version, sql) in super::pending_migrations(MIGRATIONS, &applied) {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(unavailable("migrate"))?;
        // Another process may have applied it while this one waited for the lock.
        let has_table: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(unavailable("migrate"))?
            > 0;
        let done: i64 = if has_table {
            conn.query_row("SELECT count(*) FROM schema_version WHERE version = ?1", params![version], |r| r.get(0))
                .map_err(unavailable("migrate"))?
        } else {
            0
        };
        if done > 0 {
            conn.execute_batch("COMMIT").map_err(unavailable("migrate"))?;
            continue;
        }
        let applied = conn.execute_batch(sql).and_then(|_| {
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                params![version, signing::Timestamp::now().to_string()],
            )
        });
        match applied {
            Ok(_) => conn.execute_batch("COMMIT").map_err(unavailable("migrate"))?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Schema(format!("{}: migration {version} failed: {e}", path.display())));
            }
        }
    }
    Ok(())
}

fn load_row(conn: &Connection, id: &AuthSigId) -> Result<Option<StoredAuthSig>, rusqlite::Error> {
    conn.query_row(
        "SELECT auth_sig, expires_at, version, written_by FROM auth_sigs
         WHERE signer = ?1 AND session_key = ?2 AND grants = ?3",
        params![id.signer, id.session_key, id.grants],
        |r| Ok(StoredAuthSig { auth_sig: r.get(0)?, expires_at: r.get(1)?, version: r.get(2)?, written_by: r.get(3)? }),
    )
    .optional()
}

fn save_row(
    conn: &mut Connection,
    writer: &str,
    id: &AuthSigId,
    auth_sig: &str,
    expires_at: Option<i64>,
    expected: Option<i64>,
) -> Result<SaveOutcome, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: Option<i64> = tx
        .query_row(
            "SELECT version FROM auth_sigs WHERE signer = ?1 AND session_key = ?2 AND grants = ?3",
            params![id.signer, id.session_key, id.grants],
            |r| r.get(0),
        )
        .optional()?;
    if current != expected {
        return Ok(SaveOutcome::Conflict(current.unwrap_or(0)));
    }
    let version = current.unwrap_or(0) + 1;
    tx.execute(
        "INSERT INTO auth_sigs (signer, session_key, grants, auth_sig, expires_at, version, written_by, written_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (signer, session_key, grants) DO UPDATE SET auth_sig = excluded.auth_sig,
           expires_at = excluded.expires_at, version = excluded.version, written_by = excluded.written_by,
           written_at = excluded.written_at",
        params![id.signer, id.session_key, id.grants, auth_sig, expires_at, version, writer, now_secs()],
    )?;
    tx.commit()?;
    Ok(SaveOutcome::Saved(version))
}

#[async_trait]
impl ServiceStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map_err(unavailable("health"))?;
            // Taking the write lock is what an audit append needs.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable("health"))?;
            tx.rollback().map_err(unavailable("health"))
        })
        .await
    }

    async fn audit_probe(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            let tx =
                conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable("audit probe"))?;
            tx.execute(
                "INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
                 VALUES (-1, '', 'probe', 'probe', 'probe', 'probe', NULL, '', '', '')",
                [],
            )
            .map_err(unavailable("audit probe"))?;
            tx.rollback().map_err(unavailable("audit probe"))
        })
        .await
    }

    async fn load_auth_sig(&self, id: &AuthSigId) -> Result<Option<StoredAuthSig>, StoreError> {
        let id = id.clone();
        self.run(move |conn| load_row(conn, &id).map_err(unavailable("load auth sig"))).await
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
        self.run(move |conn| {
            save_row(conn, &writer, &id, &auth_sig, expires_at, expected_version).map_err(unavailable("save auth sig"))
        })
        .await
    }

    async fn remove_auth_sig(&self, id: &AuthSigId) -> Result<(), StoreError> {
        let id = id.clone();
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM auth_sigs WHERE signer = ?1 AND session_key = ?2 AND grants = ?3",
                params![id.signer, id.session_key, id.grants],
            )
            .map(|_| ())
            .map_err(unavailable("remove auth sig"))
        })
        .await
    }

    async fn remove_auth_sigs(&self, signer: &str, session_key: &str) -> Result<(), StoreError> {
        let (signer, session_key) = (signer.to_string(), session_key.to_string());
        self.run(move |conn| {
            conn.execute("DELETE FROM auth_sigs WHERE signer = ?1 AND session_key = ?2", params![signer, session_key])
                .map(|_| ())
                .map_err(unavailable("remove auth sig"))
        })
        .await
    }

    async fn lock_for_mint(&self, id: &AuthSigId) -> Result<MintGuard, StoreError> {
        // A lease row, taken under SQLite's write lock (BEGIN IMMEDIATE of the insert): the
        // write lock itself is not held while the wallet signs, so audit appends go on.
        let key = id.lock_name();
        let wait = self.inner.mint_wait;
        match self.take_lease("mint lock", key, self.inner.mint_lease, Some(wait)).await? {
            Some(lease) => Ok(Box::new(lease)),
            None => Err(StoreError::Busy {
                op: "mint lock",
                message: format!("another process held it for more than {} ms", wait.as_millis()),
            }),
        }
    }

    async fn quota_used(&self, charge: &QuotaCharge) -> Result<u64, StoreError> {
        let (c, r, window_start) = (charge.client.clone(), charge.rule.clone(), charge.window_start);
        self.run(move |conn| {
            conn.query_row(
                "SELECT used FROM quota WHERE client = ?1 AND rule = ?2 AND window_start = ?3",
                params![c, r, window_start],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|u| u.unwrap_or(0).max(0) as u64)
            .map_err(unavailable("quota"))
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, StoreError> {
        self.run(move |conn| append(conn, entry, charge).map_err(unavailable("audit append"))).await
    }

    async fn audit_contains(&self, request_id: &str, at: &str) -> Result<bool, StoreError> {
        let (r, a) = (request_id.to_string(), at.to_string());
        self.run(move |conn| {
            conn.query_row("SELECT count(*) FROM audit WHERE request_id = ?1 AND at = ?2", params![r, a], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(unavailable("audit read"))
        })
        .await
    }

    async fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare("SELECT seq, record, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(unavailable("audit read"))?;
            let rows = stmt
                .query_map(params![after, limit as i64], |r| {
                    Ok(AuditRow { seq: r.get(0)?, record: r.get(1)?, prev_hash: r.get(2)?, hash: r.get(3)? })
                })
                .map_err(unavailable("audit read"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable("audit read"))
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

/// A held mint lease; dropping it deletes the row (if this holder still has it).
struct Lease {
    inner: Arc<Inner>,
    key: String,
    holder: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A failed delete leaves the lease to run out.
        let _ = self
            .inner
            .lock()
            .execute("DELETE FROM mint_locks WHERE key = ?1 AND holder = ?2", params![self.key, self.holder]);
    }
}

#[cfg(test)]
mod tests;
