//! Start-up: from settings (or dev mode) to a serving process, and the offline commands.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::{App, AppParts, Limits, PolicySource};
use crate::audit::{ChainCheck, ChainVerifier};
use crate::auth::Tokens;
use crate::config::{Settings, StoreSettings};
use crate::server::{self, Listeners, Transport};
use crate::signing::{self, SessionKeySpec, Signer, SignerSpec, WalletSpec};
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::sqlite::{Durability, SqliteOptions, SqliteStore};
use crate::store::{self, ServiceStore};

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

/// What to start.
pub struct Plan {
    /// Profiles.
    pub signers: Vec<SignerSpec>,
    /// Default profile.
    pub default_signer: String,
    /// The store.
    pub store: StoreSettings,
    /// The audit spool file.
    pub audit_spool: Option<PathBuf>,
    /// Policy.
    pub policy: PolicySource,
    /// Token file.
    pub tokens_file: Option<PathBuf>,
    /// Extra tokens (dev).
    pub extra_tokens: Tokens,
    /// API address.
    pub listen: SocketAddr,
    /// Metrics address.
    pub metrics_listen: Option<SocketAddr>,
    /// Plain HTTP allowed off loopback.
    pub allow_plaintext: bool,
    /// TLS.
    pub tls: Option<crate::config::TlsSection>,
    /// Limits.
    pub limits: Limits,
    /// Connection limit.
    pub max_connections: usize,
    /// Header timeout.
    pub header_timeout: std::time::Duration,
    /// Shutdown grace.
    pub shutdown_grace: std::time::Duration,
    /// Probe interval.
    pub health_interval: std::time::Duration,
}

impl Plan {
    /// The plan for a configuration.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            signers: s.signers.clone(),
            default_signer: s.default_signer.clone(),
            store: s.store.clone(),
            audit_spool: s.audit_spool.clone(),
            policy: PolicySource::File(s.policy_file.clone()),
            tokens_file: s.tokens_file.clone(),
            extra_tokens: Tokens::default(),
            listen: s.listen,
            metrics_listen: s.metrics_listen,
            allow_plaintext: s.allow_plaintext,
            tls: s.tls.clone(),
            limits: Limits {
                body_limit: s.body_limit,
                request_timeout: s.request_timeout,
                body_timeout: s.header_timeout,
            },
            max_connections: s.max_connections,
            header_timeout: s.header_timeout,
            shutdown_grace: s.shutdown_grace,
            health_interval: s.health_interval,
        }
    }

    /// The dev-mode plan: `token` is the dev client's bearer token, `dir` a temporary directory.
    pub fn dev(listen: SocketAddr, metrics_listen: Option<SocketAddr>, token: &str, dir: &Path) -> Self {
        let spec = SignerSpec {
            name: "default".into(),
            session_key: SessionKeySpec::Memory,
            wallet: WalletSpec::Random,
            auth_sig_lifetime: time::Duration::hours(24),
            expiry_margin: time::Duration::minutes(5),
        };
        Self {
            signers: vec![spec],
            default_signer: "default".into(),
            store: StoreSettings::Sqlite {
                path: dir.join("dev-store.sqlite"),
                durability: Durability::Normal,
                mint_lock_wait: std::time::Duration::from_secs(10),
                mint_sign_timeout: store::DEFAULT_MINT_SIGN_TIMEOUT,
            },
            audit_spool: None,
            policy: PolicySource::Inline(crate::dev::POLICY.to_string()),
            tokens_file: None,
            extra_tokens: Tokens::default().with_token(crate::dev::DEV_CLIENT, token),
            listen,
            metrics_listen,
            allow_plaintext: false,
            tls: None,
            limits: Limits {
                body_limit: 256 * 1024,
                request_timeout: std::time::Duration::from_secs(30),
                body_timeout: std::time::Duration::from_secs(10),
            },
            max_connections: 1024,
            header_timeout: std::time::Duration::from_secs(10),
            shutdown_grace: std::time::Duration::from_secs(30),
            health_interval: std::time::Duration::from_secs(2),
        }
    }
}

/// Opens everything, binds, and serves until SIGTERM.
pub async fn start(plan: Plan) -> Result<(), StartError> {
    let running = launch(plan, true).await?;
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
pub async fn launch(plan: Plan, signals: bool) -> Result<Running, StartError> {
    if plan.tls.is_none() && !plan.allow_plaintext && !server::is_loopback(&plan.listen) {
        return Err(StartError(format!(
            "refusing plain HTTP on {} (not loopback): configure [tls], or set server.allow_plaintext = true \
             behind a TLS-terminating proxy",
            plan.listen
        )));
    }
    let store = open_store(&plan.store).await?;
    tracing::info!(backend = store.backend(), location = %store.location(), "store opened");
    let cache = store::auth_sig_cache(store.clone(), tokio::runtime::Handle::current());

    let specs = plan.signers.clone();
    let sign_bound = plan.store.mint_sign_timeout();
    let signers = tokio::task::spawn_blocking(move || {
        specs
            .iter()
            .map(|spec| Signer::open(spec, cache.clone(), sign_bound).map(|s| (spec.name.clone(), Arc::new(s))))
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

    let tokens_configured = plan.tokens_file.is_some() || !plan.extra_tokens.is_empty();
    let app = Arc::new(
        App::new(AppParts {
            signers,
            default_signer: plan.default_signer.clone(),
            store,
            audit_spool: plan.audit_spool.as_deref().map(|p| Arc::new(crate::spool::AuditSpool::new(p))),
            limits: plan.limits,
            policy_source: plan.policy.clone(),
            tokens_file: plan.tokens_file.clone(),
            extra_tokens: plan.extra_tokens.clone(),
        })
        .map_err(err)?,
    );

    let transport = match &plan.tls {
        None => Transport::Plain,
        Some(section) => {
            let built = crate::tls::build(section, tokens_configured).map_err(err)?;
            Transport::Tls { acceptor: tokio_rustls::TlsAcceptor::from(built.config), pins: built.pins }
        }
    };
    let api = TcpListener::bind(plan.listen).await.map_err(|e| StartError(format!("listen {}: {e}", plan.listen)))?;
    let metrics = match plan.metrics_listen {
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
    let scheme = if plan.tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %api_addr, scheme, "serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let listeners = Listeners {
        api,
        metrics,
        transport,
        max_connections: plan.max_connections,
        header_timeout: plan.header_timeout,
        shutdown_grace: plan.shutdown_grace,
        health_interval: plan.health_interval,
    };
    let task = tokio::spawn(server::serve(app, listeners, signals, stop_rx));
    Ok(Running { api: api_addr, metrics: metrics_addr, scheme, stop: stop_tx, task })
}

/// Opens the configured store (applying migrations; refusing an unknown schema).
pub async fn open_store(settings: &StoreSettings) -> Result<Arc<dyn ServiceStore>, StartError> {
    match settings {
        StoreSettings::Sqlite { path, durability, mint_lock_wait, mint_sign_timeout } => {
            let defaults = SqliteOptions::default();
            // The lease outlives the slowest signature allowed plus the reads and writes
            // around it (each may wait the busy timeout), so it never runs out under a holder.
            let mint_lease = *mint_sign_timeout + 2 * defaults.busy_timeout;
            let options = SqliteOptions { durability: *durability, mint_wait: *mint_lock_wait, mint_lease, ..defaults };
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, &options))
                .await
                .map_err(err)?
                .map_err(err)?;
            Ok(Arc::new(store))
        }
        StoreSettings::Postgres(pg) => {
            let password = match &pg.password_file {
                None => None,
                Some(path) => Some(zeroize::Zeroizing::new(
                    crate::secrets::read_secret_text(path)
                        .map_err(|e| StartError(format!("store.password_file: {e}")))?
                        .trim_end_matches(['\r', '\n'])
                        .to_string(),
                )),
            };
            let options = PgOptions {
                password,
                pool_size: pg.pool_size,
                query_timeout: pg.query_timeout,
                connect_timeout: pg.connect_timeout,
                mint_lock_wait: pg.mint_lock_wait,
                mint_sign_timeout: pg.mint_sign_timeout,
                ..PgOptions::new(pg.connection.clone())
            };
            Ok(Arc::new(PgStore::open(&options).await.map_err(err)?))
        }
    }
}

/// `audit verify`: walks the chain of the configured store. Ok(true) if intact.
pub async fn audit_verify(settings: &StoreSettings) -> Result<bool, StartError> {
    if let StoreSettings::Sqlite { path, .. } = settings {
        if !path.exists() {
            return Err(StartError(format!("{}: no such store", path.display())));
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
