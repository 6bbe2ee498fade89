//! The PostgreSQL store, for replicas on several hosts: the same tables as SQLite, a versioned
//! schema with embedded migrations, a bounded pool, and a time bound on every operation.
//!
//! - A multi-host connection string (`host=db-a,db-b target_session_attrs=read-write`) finds
//!   the writable server after a failover without a proxy; each host is tried in turn.
//! - Minting a new AuthSig takes `pg_advisory_xact_lock` for (signer, session key) in a
//!   transaction held until the AuthSig is saved; a replica that waited reads it afterwards.
//! - Audit appends are committed in groups: the rows that arrive while a batch commits form the
//!   next batch, one transaction that charges each row's rate limit (`INSERT … ON CONFLICT …
//!   WHERE used < limit`), locks the chain head row (`SELECT … FOR UPDATE`) and inserts the rows
//!   with the new head, in two round trips and one WAL flush. A COMMIT whose answer is lost is
//!   resolved (the rows visible, or the transaction aborted) before anyone is answered.
//! - A timeout is busy (503 store-busy, that request alone) while the database still answers a
//!   new connection; only a database that does not, or a failed connection, is unreachable.
//! - Every operation has a deadline; a connection whose operation failed or ran out of time is
//!   closed, so a hung server can neither hang requests nor keep the pool's connections.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config};

use super::pool::{describe_hosts, Pool, Pooled};
use super::seal::Sealed;
use super::settings::{MintBounds, StoreSection, DEFAULT_MINT_LOCK_WAIT, DEFAULT_MINT_SIGN_TIMEOUT};
use super::{
    pg_message, Appended, AuthSigId, MintGuard, QuotaCharge, SaveOutcome, ServiceStore, StoreError, StoredAuthSig,
};
use crate::audit::{AuditEntry, AuditRow};
use crate::signing;

/// Migrations, in order; index + 1 is the schema version they produce.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_auth_sig_grants.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

// Advisory lock keys are 64-bit; these namespaces keep ours apart from other users of the
// database (hashtextextended of a prefixed text).
const MIGRATION_LOCK: &str = "lit-session-server/migrate";
const MINT_LOCK_PREFIX: &str = "lit-session-server/";

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

    /// How long an audit append whose COMMIT went unanswered waits for its outcome (the
    /// transaction's status, asked on another connection) before failing as unknown: ten query
    /// timeouts, at least 5 s (a database stalled for longer leaves the outcome unknown).
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
    pub(super) fn from_section(section: &StoreSection, mint: MintBounds) -> Result<Self, String> {
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

/// An audit row waiting for its batch, and where its outcome goes.
struct Pending {
    entry: AuditEntry,
    charge: Option<QuotaCharge>,
    reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// Rows at most in one audit batch.
const MAX_BATCH: usize = 256;

/// Group commit: the process's audit rows go to the database one batch at a time. The rows
/// that arrive while a batch commits form the next one, which is sealed onto the chain in one
/// transaction (one head lock, one insert, one WAL flush) and answered when it is durable. The
/// task ends when the store is dropped.
async fn appender(inner: std::sync::Weak<Inner>, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { break };
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| ((p.entry, p.charge), p.reply)).unzip();
        match inner.append_batch(items).await {
            Batch::Done(outcome) => answer(replies, outcome),
            // Its outcome is found on the side: the next batch does not wait for it (it reads
            // the head under the lock, after these rows if they committed, before them if not).
            Batch::Unknown { xid, rows } => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let outcome = match rows.last() {
                        Some(last) => inner.resolve_commit(&xid, last).await,
                        None => Ok(()),
                    };
                    answer(replies, outcome.map(|()| rows.iter().map(Sealed::appended).collect()));
                });
            }
        }
    }
}

/// What one batch came to.
enum Batch {
    /// Known: every row is durable, or none is.
    Done(Result<Vec<Appended>, StoreError>),
    /// COMMIT was sent and its answer is late or lost.
    Unknown { xid: String, rows: Vec<Sealed> },
}

fn answer(
    replies: Vec<tokio::sync::oneshot::Sender<Result<Appended, StoreError>>>,
    outcome: Result<Vec<Appended>, StoreError>,
) {
    match outcome {
        Ok(appended) => {
            for (reply, a) in replies.into_iter().zip(appended) {
                let _ = reply.send(Ok(a));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

// How long one liveness check's answer serves other requests that timed out.
const LIVENESS_REUSE: Duration = Duration::from_millis(250);

impl Inner {
    fn fail_fast(&self, op: &'static str) -> Result<(), StoreError> {
        let until = *self.fail_fast_until.lock().unwrap_or_else(|p| p.into_inner());
        match until {
            Some(t) if tokio::time::Instant::now() < t => Err(StoreError::Unreachable {
                op,
                message: "the database did not answer moments ago; not waiting for it again yet".into(),
            }),
            _ => Ok(()),
        }
    }

    fn record<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut until = self.fail_fast_until.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => *until = None,
            Err(StoreError::Unreachable { .. }) => {
                *until = Some(tokio::time::Instant::now() + self.query_timeout);
                // Idle connections may lead to the same dead or hung server.
                self.pool.clear();
            }
            Err(_) => {}
        }
        result
    }

    /// What an operation that ran out of time means: the database is busy (it still answers
    /// a trivial query on a new connection: every pooled connection in use, row or advisory
    /// locks, a queue of commits) or it is gone (no answer: hung, unreachable). `waited_for`
    /// says what the operation was waiting for.
    async fn timed_out(&self, op: &'static str, waited: Duration, waited_for: &str) -> StoreError {
        let answers = {
            let mut last = self.liveness.lock().await;
            match *last {
                Some((at, answered)) if at.elapsed() < LIVENESS_REUSE => answered,
                _ => {
                    let answered = self.pool.answers().await;
                    *last = Some((tokio::time::Instant::now(), answered));
                    answered
                }
            }
        };
        let ms = waited.as_millis();
        if answers {
            StoreError::Busy { op, message: format!("{waited_for} for more than {ms} ms; the database is up but busy") }
        } else {
            StoreError::Unreachable { op, message: format!("no answer within {ms} ms") }
        }
    }

    /// Appends a batch of rows in one transaction: BEGIN, every rate-limit charge and the chain
    /// head's lock in one round trip, the sealed rows and the new head in one statement sent
    /// with COMMIT. A failure before COMMIT leaves no row; a COMMIT whose answer is lost is
    /// resolved before anyone is answered.
    async fn append_batch(&self, items: Vec<(AuditEntry, Option<QuotaCharge>)>) -> Batch {
        const OP: &str = "audit append";
        if let Err(e) = self.fail_fast(OP) {
            return Batch::Done(Err(e));
        }
        let bound = self.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let mut conn = match self.connection(OP, deadline).await {
            Ok(c) => c,
            Err(e) => return Batch::Done(self.record(Err(e))),
        };
        // Up to COMMIT, a failure or a timeout leaves no row: the connection is closed, which
        // rolls the transaction back.
        let (rows, xid) = match tokio::time::timeout_at(deadline, stage(conn.client(), items)).await {
            Ok(Ok(staged)) => staged,
            Ok(Err(e)) => return Batch::Done(self.record(Err(e))),
            Err(_) => {
                drop(conn);
                return Batch::Done(self.record(Err(self.timed_out(OP, bound, "waited for the database").await)));
            }
        };
        let Some(last) = rows.last() else { return Batch::Done(Ok(Vec::new())) };
        let column = |f: fn(&Sealed) -> String| rows.iter().map(f).collect::<Vec<String>>();
        let seqs: Vec<i64> = rows.iter().map(|r| r.entry.seq).collect();
        let (at, request_id, client, endpoint, decision) = (
            column(|r| r.entry.at.clone()),
            column(|r| r.entry.request_id.clone()),
            column(|r| r.entry.client.clone()),
            column(|r| r.entry.endpoint.clone()),
            column(|r| r.entry.decision.clone()),
        );
        let rule: Vec<Option<String>> = rows.iter().map(|r| r.entry.rule.clone()).collect();
        let (record, prev_hash, hash) =
            (column(|r| r.record.clone()), column(|r| r.prev_hash.clone()), column(|r| r.hash.clone()));
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 12] = [
            (&seqs, Type::INT8_ARRAY),
            (&at, Type::TEXT_ARRAY),
            (&request_id, Type::TEXT_ARRAY),
            (&client, Type::TEXT_ARRAY),
            (&endpoint, Type::TEXT_ARRAY),
            (&decision, Type::TEXT_ARRAY),
            (&rule, Type::TEXT_ARRAY),
            (&record, Type::TEXT_ARRAY),
            (&prev_hash, Type::TEXT_ARRAY),
            (&hash, Type::TEXT_ARRAY),
            (&last.entry.seq, Type::INT8),
            (&last.hash, Type::TEXT),
        ];
        let c = conn.client();
        let insert = c.query_typed(
            "WITH appended AS (
                 INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::text[], $10::text[]))
             UPDATE audit_head SET seq = $11, hash = $12 WHERE id = 1",
            &params,
        );
        let commit = c.batch_execute("COMMIT");
        let outcome = match tokio::time::timeout_at(deadline, async { tokio::join!(insert, commit) }).await {
            Ok((Ok(_), Ok(()))) => {
                conn.keep();
                Some(self.record(Ok(())))
            }
            // The rows were refused: the COMMIT that followed rolled the transaction back.
            Ok((Err(e), _)) if e.as_db_error().is_some() => Some(self.record(Err(db_error(OP)(e)))),
            // The server answered COMMIT with an error: rolled back.
            Ok((Ok(_), Err(e))) if e.as_db_error().is_some() => Some(self.record(Err(db_error(OP)(e)))),
            // COMMIT was sent and its answer is late or lost: the rows may be committed. The
            // answer waits for the transaction's outcome, looked up on another connection.
            _ => None,
        };
        match outcome {
            Some(outcome) => Batch::Done(outcome.map(|()| rows.iter().map(Sealed::appended).collect())),
            None => {
                drop(conn);
                Batch::Unknown { xid, rows }
            }
        }
    }

    /// The outcome of an audit batch whose COMMIT went unanswered (a timeout, a lost
    /// connection), as another connection sees it: its last row visible → it committed and every
    /// wait the COMMIT makes (its WAL flush, a synchronous standby) is over, so the append
    /// succeeded (the row says the request was answered, so it is); the transaction aborted
    /// (`txid_status`) → it did not, and there is no row. Until one of the two holds (the
    /// backend is stalled, still waiting for a standby, or has not yet seen its client go, or
    /// the database is away) it asks again, for at most [`PgOptions::commit_resolve_bound`];
    /// after that the outcome is unknown and the append fails as unreachable, logged as such
    /// (the row may yet appear).
    async fn resolve_commit(&self, xid: &str, last: &Sealed) -> Result<(), StoreError> {
        const OP: &str = "audit append";
        let started = tokio::time::Instant::now();
        let give_up = started + self.commit_resolve;
        loop {
            let lookup = async {
                let mut conn = self.pool.get().await?;
                let found = conn
                    .client()
                    .query_typed_one(
                        "SELECT EXISTS (SELECT 1 FROM audit WHERE seq = $1 AND hash = $2),
                                CASE WHEN $3::text::bigint >= txid_snapshot_xmax(txid_current_snapshot()) THEN 'never'
                                     ELSE coalesce(txid_status($3::text::bigint), 'unknown') END",
                        &[(&last.entry.seq, Type::INT8), (&last.hash, Type::TEXT), (&xid, Type::TEXT)],
                    )
                    .await
                    .map_err(db_error(OP))?;
                conn.keep();
                Ok::<(bool, String), StoreError>((found.get(0), found.get(1)))
            };
            match tokio::time::timeout(self.query_timeout, lookup).await {
                Ok(Ok((true, _))) => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        seq = last.entry.seq,
                        "audit COMMIT unanswered in time; it committed, the request is answered"
                    );
                    return self.record(Ok(()));
                }
                // Aborted, or (after a failover) an id this server never gave out: no row.
                Ok(Ok((false, status))) if status == "aborted" || status == "never" => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        "audit COMMIT unanswered in time; it was rolled back, the request fails"
                    );
                    let e = self.timed_out(OP, self.query_timeout, "waited for the COMMIT").await;
                    return self.record(Err(e));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::error!(
                    request_id = %last.entry.request_id,
                    seq = last.entry.seq,
                    "audit COMMIT outcome unknown: the request fails, the row may yet appear"
                );
                return self.record(Err(StoreError::Unreachable {
                    op: OP,
                    message: format!(
                        "the COMMIT's outcome is still unknown after {} ms",
                        started.elapsed().as_millis()
                    ),
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A pooled connection within `deadline`.
    async fn connection(&self, op: &'static str, deadline: tokio::time::Instant) -> Result<Pooled, StoreError> {
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out(op, self.query_timeout, "waited for a free pooled connection").await),
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.inner.location).finish_non_exhaustive()
    }
}

fn db_error(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        let message = pg_message(&e);
        match e.as_db_error().map(|d| d.code().code()) {
            // No answer from the server (a closed connection, I/O), or the server going away or
            // refusing writes: connection exceptions (08), shutdown (57P01-57P03), a standby
            // (25006), no connection slots (53300).
            None => StoreError::Unreachable { op, message },
            Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "25006" || c == "53300" => {
                StoreError::Unreachable { op, message }
            }
            // The server answered that this statement waited too long or lost a race: the
            // statement timeout (57014, which also ends lock waits), a lock timeout (55P03),
            // a serialization failure or deadlock (40001, 40P01).
            Some("57014" | "55P03" | "40001" | "40P01") => StoreError::Busy { op, message },
            Some(_) => StoreError::Unavailable { op, message },
        }
    }
}

/// [`db_error`] for a lock wait that ran into its bound (55P03, or the statement timeout).
fn lock_wait_error(op: &'static str, wait: Duration) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| match e.as_db_error().map(|d| d.code().code()) {
        Some("55P03" | "57014") => {
            StoreError::Busy { op, message: format!("another replica held it for more than {} ms", wait.as_millis()) }
        }
        _ => db_error(op)(e),
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

    async fn migrate(&self, location: &str) -> Result<(), StoreError> {
        let mut conn = self.inner.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(db_error("migrate"))?;
        // Replicas starting together: one migrates, the others then see its result.
        tx.execute("SET LOCAL statement_timeout = 0", &[]).await.map_err(db_error("migrate"))?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&MIGRATION_LOCK])
            .await
            .map_err(db_error("migrate"))?;
        let has_version: bool = tx
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .await
            .map_err(db_error("migrate"))?
            .get(0);
        let current: i64 = if has_version {
            tx.query_one("SELECT coalesce(max(version), 0)::bigint FROM schema_version", &[])
                .await
                .map_err(db_error("migrate"))?
                .get(0)
        } else {
            let tables: i64 = tx
                .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])
                .await
                .map_err(db_error("migrate"))?
                .get(0);
            if tables > 0 {
                return Err(StoreError::Schema(format!(
                    "{location}: the schema holds {tables} tables but no schema_version: it is not a \
                     lit-session-server store; use an empty database (or schema) for it"
                )));
            }
            0
        };
        if current > SCHEMA_VERSION {
            return Err(StoreError::Schema(format!(
                "{location} has schema version {current}, newer than this build knows ({SCHEMA_VERSION}); \
                 run a lit-session-server at least as new as the one that wrote it"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i32 + 1;
            tx.batch_execute(sql).await.map_err(|e| {
                StoreError::Schema(format!("{location}: migration {version} failed: {}", pg_message(&e)))
            })?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                &[&version, &signing::Timestamp::now().to_string()],
            )
            .await
            .map_err(db_error("migrate"))?;
        }
        tx.commit().await.map_err(db_error("migrate"))?;
        conn.keep();
        Ok(())
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

/// A held advisory mint lock: the transaction on its own connection. Dropping it closes the
/// connection, which ends the transaction and so releases the lock (minting is rare).
struct AdvisoryLock {
    _conn: Pooled,
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
                let row = c.query_one("SELECT pg_is_in_recovery()", &[]).await.map_err(db_error("health"))?;
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
                tx.rollback().await.map_err(db_error("audit probe"))
            })
        })
        .await
    }

    async fn load_auth_sig(&self, id: &AuthSigId) -> Result<Option<StoredAuthSig>, StoreError> {
        let id = id.clone();
        self.with("load auth sig", |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT auth_sig, expires_at, version, written_by FROM auth_sigs
                         WHERE signer = $1 AND session_key = $2 AND grants = $3",
                        &[&id.signer, &id.session_key, &id.grants],
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
                // only the expected version.
                let saved = match expected_version {
                    None => {
                        c.query_opt(
                            "INSERT INTO auth_sigs (signer, session_key, grants, auth_sig, expires_at, version,
                                                    written_by, written_at)
                             VALUES ($1, $2, $3, $4, $5, 1, $6, $7)
                             ON CONFLICT (signer, session_key, grants) DO NOTHING RETURNING version",
                            &[signer, session_key, grants, &auth_sig, &expires_at, &writer, &now],
                        )
                        .await
                    }
                    Some(v) => {
                        c.query_opt(
                            "UPDATE auth_sigs SET auth_sig = $4, expires_at = $5, version = version + 1,
                                                  written_by = $6, written_at = $7
                             WHERE signer = $1 AND session_key = $2 AND grants = $3 AND version = $8
                             RETURNING version",
                            &[signer, session_key, grants, &auth_sig, &expires_at, &writer, &now, &v],
                        )
                        .await
                    }
                }
                .map_err(db_error("save auth sig"))?;
                if let Some(row) = saved {
                    return Ok(SaveOutcome::Saved(row.get(0)));
                }
                let current = c
                    .query_opt(
                        "SELECT version FROM auth_sigs WHERE signer = $1 AND session_key = $2 AND grants = $3",
                        &[signer, session_key, grants],
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
        let key = format!("{MINT_LOCK_PREFIX}{}", id.lock_name());
        let wait = self.inner.mint_lock_wait;
        let bound = wait + self.inner.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let op = "mint lock";
        let take = async {
            let mut conn = self.inner.connection(op, deadline).await?;
            let c = conn.client();
            c.batch_execute("BEGIN").await.map_err(db_error(op))?;
            // The wait is bounded on the server too, so an abandoned waiter does not queue. The
            // transaction then idles while the wallet signs: the connection's idle bound (a few
            // query timeouts) would end the session and free the lock under a slow signature,
            // so this transaction's bound covers the wait, the signature and the store calls
            // around it.
            let ms = wait.as_millis().max(1);
            let idle = self.inner.mint_lock_hold.as_millis().max(1);
            c.batch_execute(&format!(
                "SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {}; \
                 SET LOCAL idle_in_transaction_session_timeout = {idle}",
                ms + 1000
            ))
            .await
            .map_err(db_error(op))?;
            c.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key])
                .await
                .map_err(lock_wait_error(op, wait))?;
            Ok::<_, StoreError>(Box::new(AdvisoryLock { _conn: conn }) as MintGuard)
        };
        self.inner.fail_fast(op)?;
        let result = match tokio::time::timeout_at(deadline, take).await {
            Ok(r) => r,
            Err(_) => Err(self.inner.timed_out(op, bound, "waited for the database").await),
        };
        self.inner.record(result)
    }

    async fn quota_used(&self, charge: &QuotaCharge) -> Result<u64, StoreError> {
        let (client, rule, window_start) = (charge.client.clone(), charge.rule.clone(), charge.window_start);
        self.with("quota", |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT used FROM quota WHERE client = $1 AND rule = $2 AND window_start = $3",
                        &[&client, &rule, &window_start],
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
}

/// A batch up to its last statement, in one round trip: BEGIN, each row's rate-limit charge
/// (in order: two rows of one client count one after the other) and the chain head's lock
/// (which orders appends from every replica; after a wait it reads the new head), sent
/// together. Returns the rows sealed onto the head, in order, and the transaction's id (to
/// resolve a COMMIT whose answer is lost).
async fn stage(c: &Client, items: Vec<(AuditEntry, Option<QuotaCharge>)>) -> Result<(Vec<Sealed>, String), StoreError> {
    enum Step {
        Begun,
        Counted(bool),
        Head(tokio_postgres::Row),
    }
    let err = db_error("audit append");
    let mut steps: Vec<BoxFut<'_, Step>> = Vec::with_capacity(items.len() + 2);
    steps.push(Box::pin(async { c.batch_execute("BEGIN").await.map(|()| Step::Begun).map_err(&err) }));
    for (_, charge) in &items {
        if let Some(q) = charge {
            steps.push(Box::pin(async { take_quota(c, q).await.map(Step::Counted).map_err(&err) }));
        }
    }
    steps.push(Box::pin(async {
        c.query_typed_one("SELECT seq, hash, txid_current()::text FROM audit_head WHERE id = 1 FOR UPDATE", &[])
            .await
            .map(Step::Head)
            .map_err(&err)
    }));
    let mut counted = Vec::new();
    let mut head = None;
    for step in join_in_order(steps).await {
        match step? {
            Step::Begun => {}
            Step::Counted(c) => counted.push(c),
            Step::Head(row) => head = Some(row),
        }
    }
    let head = head.ok_or(StoreError::Unavailable { op: "audit append", message: "no chain head".into() })?;
    let xid: String = head.get(2);
    let mut prev: (i64, String) = (head.get(0), head.get(1));
    let mut counted = counted.into_iter();
    let mut rows = Vec::with_capacity(items.len());
    for (entry, charge) in items {
        let refused = match &charge {
            Some(q) if !counted.next().unwrap_or(false) => Some(q),
            _ => None,
        };
        let row = Sealed::new(entry, Some(prev), refused)
            .map_err(|e| StoreError::Unavailable { op: "audit append", message: e.to_string() })?;
        prev = (row.entry.seq, row.hash.clone());
        rows.push(row);
    }
    Ok((rows, xid))
}

/// Runs `futures` together on one connection, each first polled in order, so their statements
/// go out in order in one round trip (pipelined); their outcomes, in order.
async fn join_in_order<T>(mut futures: Vec<BoxFut<'_, T>>) -> Vec<Result<T, StoreError>> {
    use std::task::Poll;
    let mut done: Vec<Option<Result<T, StoreError>>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Unavailable { op: "audit append", message: "a step never ran".into() })))
        .collect()
}

/// Counts one unit of the charge's window, unless the limit is used up (false), and drops the
/// client's older windows (of no use once a newer one is counted). One statement counts and
/// checks: concurrent replicas cannot both take the last unit.
async fn take_quota(c: &Client, q: &QuotaCharge) -> Result<bool, tokio_postgres::Error> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(false);
    }
    let counted: i64 = c
        .query_typed_one(
            "WITH counted AS (
                 INSERT INTO quota (client, rule, window_start, used) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (client, rule, window_start) DO UPDATE SET used = quota.used + 1
                 WHERE quota.used < $4 RETURNING used),
             old AS (
                 DELETE FROM quota WHERE client = $1 AND rule = $2 AND window_start < $3
                 AND EXISTS (SELECT 1 FROM counted))
             SELECT count(*) FROM counted",
            &[(&q.client, Type::TEXT), (&q.rule, Type::TEXT), (&q.window_start, Type::INT8), (&limit, Type::INT8)],
        )
        .await?
        .get(0);
    Ok(counted > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
