//! Listeners: the API (plain HTTP on loopback, or TLS with optional client certificates) and
//! metrics; a bounded number of connections; graceful shutdown on SIGTERM (no new connections,
//! in-flight requests finish within the grace period); SIGHUP reloads the policy.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::app::App;
use crate::auth::{self, PeerIdentity};
use crate::tls::{Pins, TlsSection};

/// How the API listener speaks.
pub enum Transport {
    /// Plain HTTP.
    Plain,
    /// TLS 1.3.
    Tls {
        /// The acceptor.
        acceptor: tokio_rustls::TlsAcceptor,
        /// Pinned client names.
        pins: Option<Pins>,
    },
}

/// The listeners' settings (`[server]` and `[tls]` of the configuration).
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// The API listener's address (port 0: the kernel picks one).
    pub listen: SocketAddr,
    /// The metrics listener's address (no authentication: loopback or a private network).
    pub metrics_listen: Option<SocketAddr>,
    /// Plain HTTP allowed off loopback (only behind a TLS-terminating proxy).
    pub allow_plaintext: bool,
    /// TLS and client certificates.
    pub tls: Option<TlsSection>,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Longest time for the TLS handshake and the headers.
    pub header_timeout: Duration,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
    /// Readiness probe interval.
    pub health_interval: Duration,
}

/// The bound listeners and how they serve.
pub struct Listeners {
    /// The API listener (already bound).
    pub api: TcpListener,
    /// The metrics listener (already bound).
    pub metrics: Option<TcpListener>,
    /// Plain or TLS.
    pub transport: Transport,
    /// Their settings.
    pub settings: ListenSettings,
}

/// The signals the service reacts to, installed before it says it is listening (a SIGTERM
/// that arrives right after must not kill the process the default way).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers for SIGTERM, SIGINT and SIGHUP.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGTERM/SIGINT (with `signals`) or until `stop` turns true, then shuts down
/// gracefully. Without `signals` (a program that embeds the service) only `stop` ends it and
/// SIGHUP reloads nothing.
pub async fn serve(
    app: Arc<App>,
    listeners: Listeners,
    signals: Option<Signals>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (mut term, mut int, mut hup) = match signals {
        Some(Signals { term, int, hup }) => (Some(term), Some(int), Some(hup)),
        None => (None, None, None),
    };
    let api_router = crate::api::router(app.clone());
    let graceful = Arc::new(GracefulShutdown::new());
    let (quit_tx, quit_rx) = watch::channel(false);

    // Readiness probes.
    {
        let app = app.clone();
        let mut quit = quit_rx.clone();
        let interval = listeners.settings.health_interval;
        tokio::spawn(async move {
            // A probe that takes longer than the interval (at least 2 s) counts as down.
            let limit = interval.max(Duration::from_secs(2));
            loop {
                app.probe(limit).await;
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = quit.changed() => break,
                }
            }
        });
    }

    // Rotating session keys: read the published keys, maintain them when due.
    if !app.keys.is_empty() {
        let app = app.clone();
        let mut quit = quit_rx.clone();
        let interval = listeners.settings.health_interval;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = quit.changed() => break,
                }
                app.keys.tick(&app.metrics, false).await;
            }
        });
    }

    // SIGHUP: reload the policy.
    {
        let app = app.clone();
        let mut quit = quit_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = recv(&mut hup) => { let _ = app.reload().await; }
                    _ = quit.changed() => break,
                }
            }
        });
    }

    let mut tasks = Vec::new();
    if let Some(metrics) = listeners.metrics {
        let router = crate::api::metrics_router(app.clone());
        tasks.push(tokio::spawn(accept_loop(
            metrics,
            router,
            None,
            Arc::new(Semaphore::new(64)),
            listeners.settings.header_timeout,
            graceful.clone(),
            quit_rx.clone(),
        )));
    }
    let tls = match listeners.transport {
        Transport::Plain => None,
        Transport::Tls { acceptor, pins } => Some((acceptor, pins)),
    };
    tasks.push(tokio::spawn(accept_loop(
        listeners.api,
        api_router,
        tls,
        Arc::new(Semaphore::new(listeners.settings.max_connections)),
        listeners.settings.header_timeout,
        graceful.clone(),
        quit_rx.clone(),
    )));

    tokio::select! {
        _ = recv(&mut term) => {}
        _ = recv(&mut int) => {}
        _ = stop.changed() => {}
    }
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    app.shutting_down.store(true, Ordering::Relaxed);
    let _ = quit_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    match tokio::time::timeout(listeners.settings.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("grace period over; remaining connections are dropped"),
    }
    Ok(())
}

/// The next delivery of a signal, or never when it is not handled.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending::<()>().await,
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<(tokio_rustls::TlsAcceptor, Option<Pins>)>,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    graceful: Arc<GracefulShutdown>,
    mut quit: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = quit.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = quit.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    serve_conn(TokioIo::new(stream), router, PeerIdentity::default(), header_timeout, watcher).await
                }
                Some((acceptor, pins)) => {
                    let accepted = tokio::time::timeout(header_timeout, acceptor.accept(stream)).await;
                    let tls_stream = match accepted {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(peer = %peer, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(peer = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let identity = tls_stream.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(
                        |leaf| match &pins {
                            Some(p) => p.name_for(leaf).map(str::to_string),
                            None => auth::certificate_identity(leaf),
                        },
                    );
                    serve_conn(TokioIo::new(tls_stream), router, PeerIdentity(identity), header_timeout, watcher).await
                }
            }
        });
    }
}

async fn serve_conn<I>(
    io: TokioIo<I>,
    router: axum::Router,
    peer: PeerIdentity,
    header_timeout: Duration,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        req
    });
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Whether an address is loopback (plain HTTP and dev mode only listen there).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
