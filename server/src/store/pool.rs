//! A small connection pool for the PostgreSQL store.
//!
//! What it guarantees, which a general pool leaves to its user: a connection whose operation
//! failed or was cut off by a timeout is closed, never handed out again (its state is unknown:
//! a statement may still be queued on it, or the server behind it may be hung or demoted); the
//! number of connections is bounded by a semaphore whose permits are released however an
//! operation ends, so a hung database cannot exhaust the pool; and each host of a multi-host
//! configuration is tried in turn with its own time bound, so a hung first host does not keep
//! the client from a promoted standby listed after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::StoreError;

/// A bounded set of connections to the first writable host of `config`.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    // One single-host configuration per host, in the order given.
    hosts: Vec<Config>,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("hosts", &self.inner.hosts.len()).finish_non_exhaustive()
    }
}

/// The hosts of a configuration as text (`/run/pg:5432`, `db-a:5432`), for messages.
pub fn describe_hosts(config: &Config) -> Vec<String> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect()
}

/// Splits a multi-host configuration into one configuration per host, keeping the settings
/// this service uses. Target session attributes default to read-write: the store writes.
fn split_hosts(config: &Config) -> Vec<Config> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let mut c = Config::new();
            match host {
                Host::Tcp(name) => c.host(name),
                Host::Unix(path) => c.host_path(path),
            };
            c.port(ports.get(i).or(ports.first()).copied().unwrap_or(5432));
            if let Some(u) = config.get_user() {
                c.user(u);
            }
            if let Some(p) = config.get_password() {
                c.password(p);
            }
            if let Some(d) = config.get_dbname() {
                c.dbname(d);
            }
            if let Some(o) = config.get_options() {
                c.options(o);
            }
            if let Some(a) = config.get_application_name() {
                c.application_name(a);
            }
            if let Some(t) = config.get_connect_timeout() {
                c.connect_timeout(*t);
            }
            c.keepalives(config.get_keepalives());
            c.keepalives_idle(config.get_keepalives_idle());
            c.ssl_mode(config.get_ssl_mode());
            c.channel_binding(config.get_channel_binding());
            c.target_session_attrs(match config.get_target_session_attrs() {
                TargetSessionAttrs::Any => TargetSessionAttrs::ReadWrite,
                other => other,
            });
            c
        })
        .collect()
}

impl Pool {
    /// A pool of at most `size` connections. Nothing is connected until first use.
    pub fn new(config: &Config, size: usize, connect_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                hosts: split_hosts(config),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(size.max(1))),
                connect_timeout,
            }),
        }
    }

    /// A connection: an idle one that is still open, or a new one to the first host that
    /// accepts writes. Waits for a free slot; callers bound the whole call with their timeout.
    pub async fn get(&self) -> Result<Pooled, StoreError> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unreachable { op: "pool", message: "the pool is closed".into() })?;
        loop {
            let next = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some(c) if !c.client.is_closed() => {
                    return Ok(Pooled { connection: Some(c), pool: self.inner.clone(), keep: false, _permit: permit })
                }
                Some(_) => continue,
                None => break,
            }
        }
        let client = self.connect().await?;
        let backend = self.identify(&client).await?;
        let connection = Connection { client, backend, prepared: HashMap::new() };
        Ok(Pooled { connection: Some(connection), pool: self.inner.clone(), keep: false, _permit: permit })
    }

    /// The server process behind a new connection, within the connect timeout.
    async fn identify(&self, client: &Client) -> Result<Backend, StoreError> {
        let query = client.query_typed_one(
            "SELECT pg_backend_pid(), (extract(epoch FROM backend_start) * 1000000)::bigint
             FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            &[],
        );
        match tokio::time::timeout(self.inner.connect_timeout, query).await {
            Ok(Ok(row)) => Ok(Backend { pid: row.get(0), started_us: row.get(1) }),
            Ok(Err(e)) => Err(StoreError::Unreachable { op: "connect", message: super::pg_message(&e) }),
            Err(_) => Err(StoreError::Unreachable {
                op: "connect",
                message: format!("no answer within {} ms", self.inner.connect_timeout.as_millis()),
            }),
        }
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let mut failures = Vec::new();
        for host in &self.inner.hosts {
            let name = describe_hosts(host).join(",");
            match tokio::time::timeout(self.inner.connect_timeout, host.connect(NoTls)).await {
                Ok(Ok((client, connection))) => {
                    // The connection task ends when the socket does; errors show on the client.
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    return Ok(client);
                }
                Ok(Err(e)) => failures.push(format!("{name}: {}", super::pg_message(&e))),
                Err(_) => {
                    failures.push(format!("{name}: no answer within {} ms", self.inner.connect_timeout.as_millis()))
                }
            }
        }
        Err(StoreError::Unreachable { op: "connect", message: failures.join("; ") })
    }

    /// Whether the database answers at all: a new connection (outside the pool, so a full pool
    /// does not count) and `SELECT 1`, each bounded by the connect timeout. It waits on no row
    /// or advisory lock, so a database that is only busy answers; a down, hung or unreachable
    /// one does not.
    pub async fn answers(&self) -> bool {
        let Ok(client) = self.connect().await else { return false };
        matches!(tokio::time::timeout(self.inner.connect_timeout, client.simple_query("SELECT 1")).await, Ok(Ok(_)))
    }

    /// Closes the idle connections (e.g. after the database failed over).
    pub fn clear(&self) {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The server process behind a connection: its pid and start time (pids are reused), so that
/// another connection can tell whether it is still there, or end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    /// `pg_backend_pid()`.
    pub pid: i32,
    /// `backend_start`, in microseconds since the Unix epoch.
    pub started_us: i64,
}

/// A connection, the server process behind it and the statements prepared on it.
struct Connection {
    client: Client,
    backend: Backend,
    prepared: HashMap<&'static str, Statement>,
}

/// A connection taken from the pool. It goes back only if [`Pooled::keep`] was called after a
/// successful operation; otherwise (an error, a timeout that dropped the operation) it is closed.
pub struct Pooled {
    connection: Option<Connection>,
    pool: Arc<Inner>,
    keep: bool,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    fn connection(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("a pooled connection is present until it is dropped")
    }

    /// The client.
    pub fn client(&mut self) -> &mut Client {
        &mut self.connection().client
    }

    /// The server process behind it.
    pub fn backend(&mut self) -> Backend {
        self.connection().backend
    }

    /// `sql` as a statement prepared on this connection, with these parameter types: prepared
    /// (one round trip) the first time, then kept with the connection, so a frequent
    /// statement is not parsed and planned anew each time.
    pub async fn prepared(&mut self, sql: &'static str, types: &[Type]) -> Result<Statement, tokio_postgres::Error> {
        let c = self.connection();
        if let Some(s) = c.prepared.get(sql) {
            return Ok(s.clone());
        }
        let statement = c.client.prepare_typed(sql, types).await?;
        c.prepared.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Marks the connection healthy: it returns to the pool when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.connection.take() {
            if self.keep && !c.client.is_closed() {
                self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
            }
        }
    }
}
