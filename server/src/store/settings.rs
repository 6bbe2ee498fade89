//! `[store]`: the section as the configuration file writes it, and what it resolves to.
//!
//! The section is one flat table for both backends (serde's `deny_unknown_fields` is unreliable
//! on internally tagged enums), and each backend checks its own keys and owns its defaults
//! ([`super::sqlite::SqliteOptions`], [`super::postgres::PgOptions`]): the configuration only
//! holds the section, and `run` opens what it resolves to.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::postgres::PgOptions;
use super::sqlite::SqliteOptions;
use crate::duration;

/// Default of `store.mint_sign_timeout`: room for a custody callback or an HSM that recovers.
pub const DEFAULT_MINT_SIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// Default of `store.mint_lock_wait`.
pub const DEFAULT_MINT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// `[store]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` (default: one file, one host) or `postgres` (replicas on several hosts).
    #[serde(default)]
    pub backend: Option<String>,
    /// The SQLite file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// SQLite: `full` (default: fsync per commit) or `normal`.
    #[serde(default)]
    pub durability: Option<String>,
    /// PostgreSQL: the connection string (libpq key/value or URL form) without a password,
    /// e.g. `host=db-a,db-b port=5432,5432 user=litsigner dbname=litsigner
    /// target_session_attrs=read-write`.
    #[serde(default)]
    pub postgres: Option<String>,
    /// PostgreSQL: a file holding the password (a secret file).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL: connections per process (default 16).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// PostgreSQL: longest time for one store operation (default 2s).
    #[serde(default)]
    pub query_timeout: Option<String>,
    /// PostgreSQL: longest time to connect to one host (default 2s).
    #[serde(default)]
    pub connect_timeout: Option<String>,
    /// Longest wait for another process minting the same AuthSig (default 10s).
    #[serde(default)]
    pub mint_lock_wait: Option<String>,
    /// Longest time the wallet may take to sign a new AuthSig while the mint lock is held
    /// (default 60s). The lock is kept at least this long; an AuthSig signed more slowly is
    /// not used (the lock may have passed to another process meanwhile).
    #[serde(default)]
    pub mint_sign_timeout: Option<String>,
    /// A local file for the audit rows of requests answered from memory while the database is
    /// away (opt-in; without it such requests fail with 503 store-unavailable).
    #[serde(default)]
    pub audit_spool: Option<PathBuf>,
}

/// Which store, resolved.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// The embedded SQLite file.
    Sqlite(SqliteOptions),
    /// PostgreSQL.
    Postgres(PgOptions),
}

impl StoreSettings {
    /// Longest wallet signature under the mint lock.
    pub fn mint_sign_timeout(&self) -> Duration {
        match self {
            Self::Sqlite(o) => o.mint_sign_timeout,
            Self::Postgres(o) => o.mint_sign_timeout,
        }
    }
}

/// The mint lock's bounds, which both backends take.
pub(super) struct MintBounds {
    pub lock_wait: Duration,
    pub sign_timeout: Duration,
}

impl StoreSection {
    /// Validates the section for its backend; a message names the key (`store.…`).
    pub fn settings(&self) -> Result<StoreSettings, String> {
        let mint = MintBounds {
            lock_wait: self.duration(&self.mint_lock_wait, DEFAULT_MINT_LOCK_WAIT, "mint_lock_wait")?,
            sign_timeout: self.duration(&self.mint_sign_timeout, DEFAULT_MINT_SIGN_TIMEOUT, "mint_sign_timeout")?,
        };
        match self.backend.as_deref() {
            None | Some("sqlite") => SqliteOptions::from_section(self, mint).map(StoreSettings::Sqlite),
            Some("postgres") => PgOptions::from_section(self, mint).map(StoreSettings::Postgres),
            Some(o) => Err(format!("store.backend: {o:?} (sqlite or postgres)")),
        }
    }

    /// The duration of key `store.<key>`, or `default` when it is not set.
    pub(super) fn duration(&self, value: &Option<String>, default: Duration, key: &str) -> Result<Duration, String> {
        duration::setting_or(value.as_deref(), default, &format!("store.{key}"))
    }
}
