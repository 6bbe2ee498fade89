//! The PostgreSQL store's options (`[store]` with `backend = "postgres"`), their defaults and
//! checks, and the connection string rule (no password, no TLS request this build cannot
//! honour).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::Config;

use crate::store::settings::{MintBounds, StoreSection, DEFAULT_MINT_LOCK_WAIT, DEFAULT_MINT_SIGN_TIMEOUT};

/// Options of [`PgStore::open`]: `[store]` with `backend = "postgres"`.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The connection string, libpq key/value or URL form, without a password
    /// (`store.postgres`).
    pub connection: String,
    /// A file holding the password, if the server asks for one (`store.password_file`, a
    /// secret file, read when the store opens).
    pub password_file: Option<PathBuf>,
    /// Connections at most (`store.pool_size`).
    pub pool_size: usize,
    /// Longest time for one store operation (queries, waiting for a pooled connection;
    /// `store.query_timeout`).
    pub query_timeout: Duration,
    /// Longest time to connect to one host (`store.connect_timeout`).
    pub connect_timeout: Duration,
    /// Longest wait for another replica's mint lock (`store.mint_lock_wait`).
    pub mint_lock_wait: Duration,
    /// Longest wallet signature while the mint lock is held: the lock's transaction may idle
    /// that long (plus the store reads and writes around it) without being ended
    /// (`store.mint_sign_timeout`).
    pub mint_sign_timeout: Duration,
    /// Who writes (stored with AuthSigs).
    pub writer: String,
}

impl PgOptions {
    /// Defaults around a connection string: 16 connections, 2 s per operation, 2 s per host
    /// connect, the mint lock's default bounds.
    pub fn new(connection: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            password_file: None,
            pool_size: 16,
            query_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            mint_lock_wait: DEFAULT_MINT_LOCK_WAIT,
            mint_sign_timeout: DEFAULT_MINT_SIGN_TIMEOUT,
            writer: format!("pid-{}", std::process::id()),
        }
    }

    /// How long an audit append whose answer went missing waits for its outcome (its server
    /// process ended and its rows looked for, on another connection) before failing as
    /// unknown: ten query timeouts, at least 5 s (a database stalled for longer leaves the
    /// outcome unknown; a batch it reaches after half this bound is refused).
    pub fn commit_resolve_bound(&self) -> Duration {
        (10 * self.query_timeout).max(Duration::from_secs(5))
    }

    /// How long a mint lock's transaction may idle before the server ends it (and so frees the
    /// lock of a holder that died): the wait, the signature and the store calls around it.
    pub fn mint_lock_hold(&self) -> Duration {
        self.mint_lock_wait + self.mint_sign_timeout + 2 * self.query_timeout
    }

    /// Checks the PostgreSQL keys of `[store]`; a key of the other backend is refused. The
    /// connection string is parsed here, and a message never repeats it (it may hold a secret
    /// by mistake).
    pub(in crate::store) fn from_section(section: &StoreSection, mint: MintBounds) -> Result<Self, String> {
        if section.path.is_some() || section.durability.is_some() {
            return Err("store.path and store.durability belong to backend = \"sqlite\"".into());
        }
        let connection = section.postgres.clone().ok_or("store.postgres (the connection string) is required")?;
        parse_connection(&connection).map_err(|e| format!("store.postgres: {e}"))?;
        let defaults = Self::new(connection);
        Ok(Self {
            password_file: section.password_file.clone(),
            pool_size: section.pool_size.unwrap_or(defaults.pool_size).clamp(1, 1024),
            query_timeout: section.duration(&section.query_timeout, defaults.query_timeout, "query_timeout")?,
            connect_timeout: section.duration(&section.connect_timeout, defaults.connect_timeout, "connect_timeout")?,
            mint_lock_wait: mint.lock_wait,
            mint_sign_timeout: mint.sign_timeout,
            ..defaults
        })
    }
}

/// Parses and checks a connection string: a password in it is refused (it belongs in a secret
/// file), as is TLS (`sslmode=require`), which this build does not offer.
pub fn parse_connection(text: &str) -> Result<Config, String> {
    let config = Config::from_str(text).map_err(|e| format!("cannot parse the connection string: {e}"))?;
    if config.get_password().is_some() {
        return Err("the connection string holds a password; put it in store.password_file instead".into());
    }
    if config.get_hosts().is_empty() {
        return Err("the connection string names no host (host=… or postgresql://host/…)".into());
    }
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err("sslmode=require: TLS to PostgreSQL is not built in; use a unix socket, a private network \
                    or a TLS tunnel"
            .into());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pool::describe_hosts;

    #[test]
    fn connection_strings_without_secrets_or_tls() {
        let c = parse_connection("host=/tmp/a,/tmp/b port=5432,5433 user=u dbname=d target_session_attrs=read-write")
            .unwrap();
        assert_eq!(describe_hosts(&c), ["/tmp/a:5432", "/tmp/b:5433"]);
        let err = parse_connection("postgresql://u:hunter2@db/x").unwrap_err();
        assert!(err.contains("password_file") && !err.contains("hunter2"), "{err}");
        assert!(parse_connection("host=db password=x").unwrap_err().contains("password_file"));
        assert!(parse_connection("host=db sslmode=require").unwrap_err().contains("TLS"));
        assert!(parse_connection("dbname=x").unwrap_err().contains("no host"));
    }
}
