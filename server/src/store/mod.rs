//! The service's store: AuthSigs (versioned), the hash-chained audit log, rate-limit counters
//! and mint locks, behind one async trait with two backends: the embedded SQLite file (one
//! host, the default) and PostgreSQL (several replicas on several hosts).
//!
//! The session manager's own cache trait ([`crate::signing::AuthSigStore`]) is synchronous;
//! [`auth_sig_cache`] gives it a view of any backend's AuthSig table and mint lock.

pub mod pool;
pub mod postgres;
pub mod settings;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::audit::{AuditEntry, AuditRow};
use crate::signing::{self, AuthSig, AuthSigKey, AuthSigStore, AuthStoreError, MintLock};

pub use settings::{StoreSection, StoreSettings, DEFAULT_MINT_LOCK_WAIT, DEFAULT_MINT_SIGN_TIMEOUT};

/// A store failure. Messages name the database and the operation, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, read or written.
    #[error("store {op}: {message}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What failed.
        message: String,
    },
    /// The database could not be reached or did not answer in time (down, hung, failing
    /// over): everything that needs the store waits for it to come back.
    #[error("store {op}: {message}")]
    Unreachable {
        /// The operation.
        op: &'static str,
        /// What failed.
        message: String,
    },
    /// The database is not one this build can use (unknown schema version, foreign tables).
    #[error("{0}")]
    Schema(String),
    /// The store's own settings cannot be used (a connection string or password file).
    #[error("{0}")]
    Settings(String),
}

/// A PostgreSQL error as one line: the server's message and code when it sent one.
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => signing::error_chain(e),
    }
}

/// A held mint lock; dropping it releases the lock (it may do I/O: drop it off the runtime).
pub type MintGuard = Box<dyn Send>;

/// An AuthSig row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuthSig {
    /// The AuthSig JSON.
    pub auth_sig: String,
    /// Its SIWE expiration (unix seconds), if known.
    pub expires_at: Option<i64>,
    /// The row version (1 for the first write).
    pub version: i64,
    /// Which process wrote it.
    pub written_by: String,
}

/// The outcome of a versioned AuthSig write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written; the new version.
    Saved(i64),
    /// Someone else wrote first; the version now stored (0 if the row is gone).
    Conflict(i64),
}

/// A rate-limit charge made together with an audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCharge {
    /// The client.
    pub client: String,
    /// The rule the limit belongs to.
    pub rule: String,
    /// The window's start (unix seconds).
    pub window_start: i64,
    /// Requests allowed per window.
    pub limit: u64,
}

/// The outcome of [`ServiceStore::append_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The row's sequence number.
    pub seq: i64,
    /// The row's hash.
    pub hash: String,
    /// False when the charge found the limit used up: the row was written as a rate-limit
    /// denial instead, and nothing may be handed out.
    pub charged: bool,
}

/// The service store. Every method is bounded in time by the backend's timeouts.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// The backend's name (`sqlite`, `postgres`), for metrics and readiness.
    fn backend(&self) -> &'static str;

    /// Where the data lives, for messages (a path or a host list; never a password).
    fn location(&self) -> String;

    /// Reads and takes the write lock once: can this store serve a request now?
    async fn health(&self) -> Result<(), StoreError>;

    /// Inserts a probe row into the audit table and rolls it back: does an append work now?
    async fn audit_probe(&self) -> Result<(), StoreError>;

    /// The AuthSig row for (signer, session key), both lowercase hex.
    async fn load_auth_sig(&self, signer: &str, session_key: &str) -> Result<Option<StoredAuthSig>, StoreError>;

    /// Writes the AuthSig if the stored version is `expected_version` (`None`: no row yet).
    async fn save_auth_sig(
        &self,
        signer: &str,
        session_key: &str,
        auth_sig: &str,
        expires_at: Option<i64>,
        expected_version: Option<i64>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes the AuthSig row for (signer, session key), if any.
    async fn remove_auth_sig(&self, signer: &str, session_key: &str) -> Result<(), StoreError>;

    /// Takes the mint lock for (signer, session key): one holder at a time across every process
    /// sharing the store, waiting up to the backend's configured bound. A lock whose holder
    /// died is released (PostgreSQL: with its session; SQLite: when its lease runs out).
    async fn lock_for_mint(&self, signer: &str, session_key: &str) -> Result<MintGuard, StoreError>;

    /// How much of the window's limit is used.
    async fn quota_used(&self, client: &str, rule: &str, window_start: i64) -> Result<u64, StoreError>;

    /// Appends `entry` to the audit chain (setting its `seq`), charging `charge` in the same
    /// transaction. When the charge finds the limit used up, the entry is written as a
    /// rate-limit denial and [`Appended::charged`] is false. Fails closed: an error means no row.
    async fn append_audit(&self, entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, StoreError>;

    /// Whether an audit row with this request id and time exists (flushing a spool twice).
    async fn audit_contains(&self, request_id: &str, at: &str) -> Result<bool, StoreError>;

    /// Audit rows with `seq > after`, in order, at most `limit`.
    async fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
}

/// The session manager's synchronous view of a store's AuthSig table and mint lock. The
/// manager calls it off the runtime (on the blocking pool), where it waits for the async store.
///
/// Writes are versioned: a save replaces only the version this view last read for the key (the
/// manager reads again under the mint lock before it signs), so an AuthSig another replica
/// wrote in between is never overwritten; such a save fails instead.
pub fn auth_sig_cache(store: Arc<dyn ServiceStore>, runtime: tokio::runtime::Handle) -> Arc<dyn AuthSigStore> {
    Arc::new(StoreAuthSigs { store, runtime, versions: Mutex::new(HashMap::new()) })
}

struct StoreAuthSigs {
    store: Arc<dyn ServiceStore>,
    runtime: tokio::runtime::Handle,
    // The version last read per (signer, session key).
    versions: Mutex<HashMap<(String, String), Option<i64>>>,
}

impl StoreAuthSigs {
    fn failure(&self, e: impl std::fmt::Display) -> AuthStoreError {
        signing::store_failure(&self.store.location(), &e.to_string())
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Option<i64>>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AuthSigStore for StoreAuthSigs {
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        let (signer, session_key) = signing::auth_sig_key_columns(key);
        let row =
            self.runtime.block_on(self.store.load_auth_sig(&signer, &session_key)).map_err(|e| self.failure(e))?;
        self.versions().insert((signer, session_key), row.as_ref().map(|r| r.version));
        match row {
            None => Ok(None),
            Some(row) => signing::parse_auth_sig(&row.auth_sig)
                .map(Some)
                .map_err(|reason| signing::corrupt_entry(&format!("auth_sigs/{}", key.name()), &reason)),
        }
    }

    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        let (signer, session_key) = signing::auth_sig_key_columns(key);
        let text = serde_json::to_string(auth_sig).map_err(|e| self.failure(e))?;
        let expires = signing::auth_sig_expiration(auth_sig).map(|t| (t.unix_millis() / 1000) as i64);
        let id = (signer, session_key);
        let expected = self.versions().get(&id).copied().flatten();
        let outcome = self
            .runtime
            .block_on(self.store.save_auth_sig(&id.0, &id.1, &text, expires, expected))
            .map_err(|e| self.failure(e))?;
        match outcome {
            SaveOutcome::Saved(version) => {
                self.versions().insert(id, Some(version));
                Ok(())
            }
            SaveOutcome::Conflict(version) => {
                self.versions().remove(&id);
                Err(self.failure(format!(
                    "another process saved AuthSig version {version} for this key meanwhile; it is kept and \
                     this one is not used"
                )))
            }
        }
    }

    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        let (signer, session_key) = signing::auth_sig_key_columns(key);
        self.runtime.block_on(self.store.remove_auth_sig(&signer, &session_key)).map_err(|e| self.failure(e))?;
        self.versions().remove(&(signer, session_key));
        Ok(())
    }

    fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<MintLock>, AuthStoreError> {
        let (signer, session_key) = signing::auth_sig_key_columns(key);
        let guard =
            self.runtime.block_on(self.store.lock_for_mint(&signer, &session_key)).map_err(|e| self.failure(e))?;
        Ok(Some(MintLock::new(guard)))
    }
}
