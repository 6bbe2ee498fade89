//! Start-up: from settings (or dev mode) to a serving process, and the offline commands.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::App;
use crate::audit::checkpoint::TrustedKeys;
use crate::audit_jobs::verify::{Trusted, VerifyOptions};
use crate::audit_jobs::{self, AuditSettings};
use crate::config::Settings;
use crate::server::{self, Listeners, Transport};
use crate::signing::{self, Profile};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{self, ServiceStore, StoreSettings};

/// A start-up failure: printed as one line, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

fn err(e: impl std::fmt::Display) -> StartError {
    StartError(e.to_string())
}

/// Sets up logging on stderr (JSON or text), with `filter` (e.g. `info`).
pub fn init_logging(json: bool, filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

/// Opens everything, binds, and serves until SIGTERM.
pub async fn start(settings: Settings) -> Result<(), StartError> {
    let running = launch(settings, true).await?;
    // Scripts wait for this line (the port may have been 0).
    eprintln!("lit-session-server: listening on {}://{}", running.scheme, running.api);
    if let Some(m) = &running.metrics {
        eprintln!("lit-session-server: metrics on http://{m}/metrics");
    }
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// A service serving in this process: its addresses and the handle that stops it.
#[derive(Debug)]
pub struct Running {
    /// The API listener's address (the port the kernel picked, for port 0).
    pub api: SocketAddr,
    /// The metrics listener's address.
    pub metrics: Option<SocketAddr>,
    /// `http` or `https`.
    pub scheme: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Shuts down as on SIGTERM (no new connections, in-flight requests finish within the
    /// grace period) and waits until it has.
    pub async fn shutdown(self) -> Result<(), StartError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the service has stopped (a signal, when it handles them).
    pub async fn wait(self) -> Result<(), StartError> {
        let Running { stop, task, .. } = self;
        let result = task.await;
        // The audit jobs stop between runs now, not cancelled in the middle of one when the
        // runtime goes (which they would log as a failure).
        let _ = stop.send(true);
        result.map_err(err)?.map_err(err)
    }
}

/// Opens the store and signer profiles, loads the policy, binds the listeners, and serves in a
/// background task of the current runtime. With `signals` the service reacts to SIGTERM and
/// SIGINT (graceful shutdown) and SIGHUP (reload), as the binary does; without, a program that
/// embeds the service stops it with [`Running::shutdown`].
pub async fn launch(settings: Settings, signals: bool) -> Result<Running, StartError> {
    let Settings { listen, app, store, signers, audit, .. } = settings;
    if listen.tls.is_none() && !listen.allow_plaintext && !server::is_loopback(&listen.listen) {
        return Err(StartError(format!(
            "refusing plain HTTP on {} (not loopback): configure [tls], or set server.allow_plaintext = true \
             behind a TLS-terminating proxy",
            listen.listen
        )));
    }
    let sign_bound = store.mint_sign_timeout();
    let store = open_store(&store).await?;
    tracing::info!(backend = store.backend(), location = %store.location(), "store opened");
    let cache = store::auth_sig_store(store.clone());

    let specs = signers;
    let signers = tokio::task::spawn_blocking(move || {
        specs
            .iter()
            .map(|spec| Profile::open(spec, cache.clone(), sign_bound).map(|s| (spec.name.clone(), Arc::new(s))))
            .collect::<Result<BTreeMap<_, _>, _>>()
    })
    .await
    .map_err(err)?
    .map_err(err)?;
    for (name, s) in &signers {
        tracing::info!(
            signer = %name, session_key = s.session_backend, wallet = s.wallet_backend,
            address = %s.wallet_address, "signer profile opened"
        );
    }

    let audit_key = match &audit.key {
        Some(spec) => Some(audit_jobs::open_key(spec).await.map_err(err)?),
        None => None,
    };
    if let Some(k) = &audit_key {
        tracing::info!(public_key = %k.public_key(), backend = k.backend, "audit checkpoint key opened");
    }

    let tokens_configured = app.tokens_file.is_some() || !app.extra_tokens.is_empty();
    let mut built = App::new(app, signers, store.clone()).map_err(err)?;
    built.audit_key = audit_key.as_ref().map(|k| (k.public_key().to_string(), k.backend));
    let app = Arc::new(built);
    // Rotating profiles start with the fleet's current key (the first process makes it).
    app.keys.tick(&app.metrics, true).await;

    let transport = match &listen.tls {
        None => Transport::Plain,
        Some(section) => {
            let built = crate::tls::build(section, tokens_configured).map_err(err)?;
            Transport::Tls { acceptor: tokio_rustls::TlsAcceptor::from(built.config), pins: built.pins }
        }
    };
    let api =
        TcpListener::bind(listen.listen).await.map_err(|e| StartError(format!("listen {}: {e}", listen.listen)))?;
    let metrics = match listen.metrics_listen {
        None => None,
        Some(addr) => {
            Some(TcpListener::bind(addr).await.map_err(|e| StartError(format!("metrics listen {addr}: {e}")))?)
        }
    };
    // Installed before anyone is told the service listens: a SIGTERM right after must not kill
    // the process the default way.
    let signals = if signals {
        Some(server::Signals::install().map_err(|e| StartError(format!("signal handlers: {e}")))?)
    } else {
        None
    };
    let api_addr = api.local_addr().map_err(err)?;
    let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());
    let scheme = if listen.tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %api_addr, scheme, "serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The audit jobs end with the process, or when an embedding program shuts the service down.
    audit_jobs::spawn(store.clone(), audit_key, &audit, stop_rx.clone());
    let policy = app.clone();
    let longest_window = move || policy.policy().longest_rate_window();
    tokio::spawn(store::expiry::run(store, store::expiry::PRUNE_EVERY, longest_window, stop_rx.clone()));
    let listeners = Listeners { api, metrics, transport, settings: listen };
    let task = tokio::spawn(server::serve(app, listeners, signals, stop_rx));
    Ok(Running { api: api_addr, metrics: metrics_addr, scheme, stop: stop_tx, task })
}

/// Opens the configured store (applying migrations; refusing an unknown schema): the one
/// place that names both backends.
pub async fn open_store(settings: &StoreSettings) -> Result<Arc<dyn ServiceStore>, StartError> {
    match settings {
        StoreSettings::Sqlite(options) => {
            let options = options.clone();
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open(&options)).await.map_err(err)?.map_err(err)?;
            Ok(Arc::new(store))
        }
        StoreSettings::Postgres(options) => Ok(Arc::new(PgStore::open(options).await.map_err(err)?)),
    }
}

/// The keys `audit verify` trusts: those given (on the command line and in `audit.public_keys`),
/// else the configured checkpoint key's own (opening it).
pub async fn audit_keys(audit: &AuditSettings, given: &[String]) -> Result<TrustedKeys, StartError> {
    let mut keys: Vec<String> = given.to_vec();
    keys.extend(audit.public_keys.iter().cloned());
    if keys.is_empty() {
        if let Some(spec) = &audit.key {
            keys.push(audit_jobs::open_key(spec).await.map_err(err)?.public_key().to_string());
        }
    }
    TrustedKeys::parse(&keys).map_err(err)
}

async fn open_existing(settings: &StoreSettings) -> Result<Arc<dyn ServiceStore>, StartError> {
    if let StoreSettings::Sqlite(options) = settings {
        if !options.path.exists() {
            return Err(StartError(format!("{}: no such store", options.path.display())));
        }
    }
    open_store(settings).await
}

/// `audit verify`: checks the archive (if given) and the database as one chain, every
/// checkpoint against the trusted keys; prints the result. With `state`, starts after the
/// checkpoint it remembers (unless `options.since` is set or `full`) and remembers the last one
/// verified. Ok(true) if intact.
pub async fn audit_verify(
    settings: &StoreSettings,
    mut options: VerifyOptions,
    state: Option<&std::path::Path>,
    full: bool,
) -> Result<bool, StartError> {
    let store = open_existing(settings).await?;
    if options.since.is_none() && !full && !options.keys.is_empty() {
        if let Some(path) = state {
            options.since = Trusted::read(path).map_err(err)?;
        }
    }
    let started = std::time::Instant::now();
    let report = audit_jobs::verify::verify(&*store, &options).await.map_err(err)?;
    let took = started.elapsed();
    match report {
        Err(b) => {
            println!("audit chain BROKEN at seq {}: {}", b.seq, b.reason);
            Ok(false)
        }
        Ok(r) => {
            let s = &r.summary;
            println!("audit chain intact: {} rows, head {} {}", s.rows, s.head.0, s.head.1);
            println!("checked {} ({} archive segments) in {} ms", r.start, r.segments, took.as_millis());
            if options.keys.is_empty() {
                println!(
                    "checkpoints: {} not checked (no audit public key given): the chain alone cannot show a row \
                     changed with every later hash recomputed",
                    s.unchecked
                );
            } else {
                match &s.last_checkpoint {
                    Some(c) => println!(
                        "checkpoints: {} signatures verified; the last ends at {} (trust it next time with \
                         --since {}:{})",
                        s.checkpoints, c.checkpoint.last_seq, c.checkpoint.last_seq, c.hash
                    ),
                    None => println!("checkpoints: none verified"),
                }
            }
            if let Some((a, b)) = s.unsigned {
                println!("rows {a}..{b} are chained but not yet signed by a checkpoint");
            }
            if let (Some(path), Some(c)) = (state, &s.last_checkpoint) {
                Trusted { last_seq: c.checkpoint.last_seq, hash: c.hash.clone() }.write(path).map_err(err)?;
            }
            Ok(true)
        }
    }
}

/// `audit export`: exports closed segments to the archive and applies retention.
pub async fn audit_export(settings: &StoreSettings, audit: &AuditSettings) -> Result<(), StartError> {
    let dir =
        audit.archive_dir.as_ref().ok_or_else(|| StartError("audit.archive_dir (or --archive) is required".into()))?;
    let store = open_existing(settings).await?;
    let r = audit_jobs::export::export(&*store, dir, audit.retention).await.map_err(err)?;
    println!(
        "exported {} segments to {}; pruned {} segments ({} rows)",
        r.exported.len(),
        dir.display(),
        r.pruned_segments,
        r.pruned_rows
    );
    Ok(())
}

/// `audit checkpoint`: writes the checkpoints due now (every row up to the head), with the
/// configured key.
pub async fn audit_checkpoint(settings: &StoreSettings, audit: &AuditSettings) -> Result<u64, StartError> {
    let spec = audit.key.as_ref().ok_or_else(|| StartError("audit.checkpoint_key is required".into()))?;
    let key = audit_jobs::open_key(spec).await.map_err(err)?;
    let store = open_existing(settings).await?;
    let Some((head, _)) = store.audit_head().await.map_err(err)? else { return Ok(0) };
    let lease = crate::store::JobLease { job: audit_jobs::checkpointer::JOB.into(), holder: audit_jobs::holder() };
    if !store.take_job(&lease, std::time::Duration::from_secs(30)).await.map_err(err)? {
        return Err(StartError("another process is writing checkpoints".into()));
    }
    let written = audit_jobs::checkpointer::write_up_to(&*store, &key, audit.checkpoint_rows, head, &lease).await;
    let _ = store.release_job(&lease).await;
    written.map_err(err)
}

/// `audit tail`: the feed, until the log is read (or, following, until SIGTERM/SIGINT).
pub async fn audit_tail(settings: &StoreSettings, options: &audit_jobs::tail::TailOptions) -> Result<u64, StartError> {
    let store = open_existing(settings).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(err)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop_tx.send(true);
    });
    let mut stdout = std::io::stdout();
    audit_jobs::tail::tail(&*store, options, &mut stdout, stop_rx).await.map_err(err)
}

/// A new random bearer token.
pub fn new_token() -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(signing::random_hex(32))
}
