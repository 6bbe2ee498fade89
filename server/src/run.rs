//! Start-up: from settings (or dev mode) to a serving process, and the offline commands.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::App;
use crate::audit::{ChainCheck, ChainVerifier};
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
        // Held until here: a dropped sender would read as "stop".
        drop(stop);
        result.map_err(err)?.map_err(err)
    }
}

/// Opens the store and signer profiles, loads the policy, binds the listeners, and serves in a
/// background task of the current runtime. With `signals` the service reacts to SIGTERM and
/// SIGINT (graceful shutdown) and SIGHUP (reload), as the binary does; without, a program that
/// embeds the service stops it with [`Running::shutdown`].
pub async fn launch(settings: Settings, signals: bool) -> Result<Running, StartError> {
    let Settings { listen, app, store, signers, .. } = settings;
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
    let cache = store::auth_sig_cache(store.clone(), tokio::runtime::Handle::current());

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

    let tokens_configured = app.tokens_file.is_some() || !app.extra_tokens.is_empty();
    let app = Arc::new(App::new(app, signers, store).map_err(err)?);

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

/// `audit verify`: walks the chain of the configured store. Ok(true) if intact.
pub async fn audit_verify(settings: &StoreSettings) -> Result<bool, StartError> {
    if let StoreSettings::Sqlite(options) = settings {
        if !options.path.exists() {
            return Err(StartError(format!("{}: no such store", options.path.display())));
        }
    }
    let store = open_store(settings).await?;
    let mut v = ChainVerifier::default();
    let mut after = 0;
    loop {
        let rows = store.audit_rows(after, 1000).await.map_err(err)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if let Err(ChainCheck::Broken { seq, reason }) = v.push(r) {
                println!("audit chain BROKEN at seq {seq}: {reason}");
                return Ok(false);
            }
            after = r.seq;
        }
    }
    match v.finish() {
        ChainCheck::Intact { rows, head } => {
            println!("audit chain intact: {rows} rows, head {head}");
            Ok(true)
        }
        ChainCheck::Broken { seq, reason } => {
            println!("audit chain BROKEN at seq {seq}: {reason}");
            Ok(false)
        }
    }
}

/// A new random bearer token.
pub fn new_token() -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(signing::random_hex(32))
}
