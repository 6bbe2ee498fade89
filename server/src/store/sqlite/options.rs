//! The SQLite store's options (`[store]` with `backend = "sqlite"`, the default), their defaults
//! and checks.

use std::path::PathBuf;
use std::time::Duration;

use crate::store::settings::{MintBounds, StoreSection, DEFAULT_MINT_LOCK_WAIT, DEFAULT_MINT_SIGN_TIMEOUT};

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed audit row survives a power loss (an fsync per commit).
    Full,
    /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on power loss.
    Normal,
}

/// Options of [`super::SqliteStore::open`]: `[store]` with `backend = "sqlite"` (the default).
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The file (`store.path`).
    pub path: PathBuf,
    /// Commit durability (`store.durability`).
    pub durability: Durability,
    /// How long a write waits for another process's lock.
    pub busy_timeout: Duration,
    /// Who writes (stored with AuthSigs; e.g. host and pid).
    pub writer: String,
    /// How long a waiter waits for another process's lease (`store.mint_lock_wait`).
    pub mint_lock_wait: Duration,
    /// Longest wallet signature under the mint lease (`store.mint_sign_timeout`).
    pub mint_sign_timeout: Duration,
}

impl SqliteOptions {
    /// The defaults for the file at `path`: full durability, a 5 s busy timeout, the mint
    /// lock's default bounds.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            writer: format!("pid-{}", std::process::id()),
            mint_lock_wait: DEFAULT_MINT_LOCK_WAIT,
            mint_sign_timeout: DEFAULT_MINT_SIGN_TIMEOUT,
        }
    }

    /// How long a mint lease lasts: the slowest signature allowed plus the reads and writes
    /// around it (each may wait the busy timeout), so it never runs out under a holder; a lease
    /// whose holder died frees the lock when it runs out.
    pub fn mint_lease(&self) -> Duration {
        self.mint_sign_timeout + 2 * self.busy_timeout
    }

    /// Checks the SQLite keys of `[store]`; a key of the other backend is refused.
    pub(in crate::store) fn from_section(section: &StoreSection, mint: MintBounds) -> Result<Self, String> {
        for (set, what) in [
            (section.postgres.is_some(), "postgres"),
            (section.password_file.is_some(), "password_file"),
            (section.pool_size.is_some(), "pool_size"),
            (section.query_timeout.is_some(), "query_timeout"),
            (section.connect_timeout.is_some(), "connect_timeout"),
            // The spool takes rows while PostgreSQL is unreachable; a SQLite file is local, and
            // a failing one fails the request.
            (section.audit_spool.is_some(), "audit_spool"),
        ] {
            if set {
                return Err(format!("store.{what} belongs to backend = \"postgres\""));
            }
        }
        let durability = match section.durability.as_deref() {
            None | Some("full") => Durability::Full,
            Some("normal") => Durability::Normal,
            Some(o) => return Err(format!("store.durability: {o:?} (full or normal)")),
        };
        let path = section.path.clone().ok_or("store.path is required")?;
        Ok(Self { durability, mint_lock_wait: mint.lock_wait, mint_sign_timeout: mint.sign_timeout, ..Self::new(path) })
    }
}
