//! `lit-session-server`: the signing service's command line.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use lit_session_server::app::PolicySource;
use lit_session_server::audit_jobs::tail::TailOptions;
use lit_session_server::audit_jobs::verify::{Trusted, VerifyOptions};
use lit_session_server::audit_jobs::{self, AuditSettings};
use lit_session_server::config::{self, ConfigFile};
use lit_session_server::run;
use lit_session_server::store::{sqlite::SqliteOptions, StoreSettings};
use lit_session_server::{auth, dev, server};

/// HSM-backed Lit session signatures over HTTP: authenticated clients, a policy per client,
/// a hash-chained audit log, Prometheus metrics.
///
/// Start with `--config FILE` (see server/examples/config.toml), or try it with
/// `--dev --listen 127.0.0.1:PORT` (in-memory keys, temporary store, allow-all policy, a bearer
/// token printed on stderr; loopback only, not for production).
///
/// Secrets (PINs, wallet keys, seeds, token hashes, the TLS key) are only read from files named
/// in the configuration, never from arguments. Environment: LITSIGNER_CONFIG, LITSIGNER_LISTEN,
/// LITSIGNER_METRICS_LISTEN, LITSIGNER_STORE_PATH, LITSIGNER_POLICY_FILE, LITSIGNER_TOKENS_FILE,
/// LITSIGNER_LOG (a filter such as info or debug), LITSIGNER_LOG_FORMAT (json or text).
/// Signals: SIGTERM/SIGINT shut down gracefully, SIGHUP reloads the policy and token file.
#[derive(Parser)]
#[command(name = "lit-session-server", version, verbatim_doc_comment)]
struct Cli {
    /// The configuration file (TOML).
    #[arg(long, env = "LITSIGNER_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Dev mode: no configuration file; loopback only; NOT FOR PRODUCTION.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// The API listener, IP:PORT (overrides server.listen and LITSIGNER_LISTEN; port 0 picks one).
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
    /// The metrics listener, IP:PORT (overrides server.metrics_listen).
    #[arg(long, value_name = "IP:PORT")]
    metrics_listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Validate the configuration, the policy and the token file, then exit (0 = valid).
    CheckConfig,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log: the hash chain and every signed checkpoint, the archive and the
    /// database as one chain (exit 0 intact, 1 broken, 2 unreadable).
    Verify {
        /// A SQLite store file (default: the store of --config, SQLite or PostgreSQL).
        #[arg(long, value_name = "PATH")]
        store: Option<PathBuf>,
        /// Archived segments to check before the database (default: audit.archive_dir when
        /// given with --full).
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
        /// A trusted audit public key (hex; repeatable). Default: audit.public_keys, else the
        /// configured checkpoint key's.
        #[arg(long = "public-key", value_name = "HEX")]
        public_keys: Vec<String>,
        /// Remember the last verified checkpoint here and start after it next time (default:
        /// audit.verify_state).
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
        /// Start after this trusted checkpoint (`LAST_SEQ:HASH`, as a previous run printed).
        #[arg(long, value_name = "LAST_SEQ:HASH", conflicts_with = "full")]
        since: Option<String>,
        /// Check everything from row 1, ignoring the remembered checkpoint.
        #[arg(long)]
        full: bool,
    },
    /// Write closed segments to the archive (audit.archive_dir), then prune per audit.retention.
    Export {
        /// A SQLite store file (default: the store of --config).
        #[arg(long, value_name = "PATH")]
        store: Option<PathBuf>,
        /// The archive directory (default: audit.archive_dir).
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
    },
    /// Stream the log as JSON lines (rows with seq and hashes, signed checkpoints).
    Tail {
        /// A SQLite store file (default: the store of --config).
        #[arg(long, value_name = "PATH")]
        store: Option<PathBuf>,
        /// Start after this sequence number (default: after the last row in --output, else the
        /// oldest row).
        #[arg(long, value_name = "SEQ")]
        from: Option<i64>,
        /// Keep streaming new rows until SIGTERM/SIGINT.
        #[arg(long)]
        follow: bool,
        /// Append to this file (fsynced per batch) instead of stdout.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Poll interval when following, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 500)]
        poll_ms: u64,
    },
    /// Sign the rows not yet covered by a checkpoint now, with audit.checkpoint_key.
    Checkpoint {
        /// A SQLite store file (default: the store of --config).
        #[arg(long, value_name = "PATH")]
        store: Option<PathBuf>,
    },
    /// Print the audit checkpoint key's public key (hex), for audit.public_keys elsewhere.
    Key,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a new token: written to a new 0600 file, and the line for the tokens file printed
    /// on stdout (the token itself is never printed).
    New {
        /// The client the token identifies (a client of the policy).
        #[arg(long, value_name = "NAME")]
        client: String,
        /// Where to write the token (must not exist).
        #[arg(long, value_name = "PATH")]
        token_file: PathBuf,
    },
    /// Print the tokens-file hash (sha256:HEX) of a token read from stdin.
    Hash,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("lit-session-server: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token { command }) => token(command),
        Some(Command::Audit { command }) => audit(&cli.config, command),
        Some(Command::CheckConfig) => check_config(&cli.config),
        None if cli.dev => dev_mode(cli.listen, cli.metrics_listen),
        None => serve(&cli.config, &cli.listen, &cli.metrics_listen),
    }
}

/// The store and `[audit]` of an audit command: a SQLite file given on the command line
/// (`[audit]` from --config if one is given too), else the configuration's.
fn audit_settings(config: &Option<PathBuf>, store: Option<PathBuf>) -> Result<(StoreSettings, AuditSettings), String> {
    let loaded = match (config, &store) {
        (None, Some(_)) => None,
        _ => Some(load_settings(config, &None, &None)?),
    };
    let audit = loaded.as_ref().map(|s| s.audit.clone()).unwrap_or_default();
    let store = match (store, loaded) {
        (Some(path), _) => StoreSettings::Sqlite(SqliteOptions::new(path)),
        (None, Some(s)) => s.store,
        (None, None) => return Err("no store: give --store FILE or --config FILE".into()),
    };
    Ok((store, audit))
}

fn audit(config: &Option<PathBuf>, command: AuditCommand) -> ExitCode {
    let store_arg = match &command {
        AuditCommand::Verify { store, .. }
        | AuditCommand::Export { store, .. }
        | AuditCommand::Tail { store, .. }
        | AuditCommand::Checkpoint { store } => store.clone(),
        AuditCommand::Key => None,
    };
    let (store, mut audit) = match audit_settings(config, store_arg) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let rt = match runtime(4) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let result: Result<ExitCode, String> = rt.block_on(async {
        match command {
            AuditCommand::Verify { archive, public_keys, state, since, full, .. } => {
                let keys = run::audit_keys(&audit, &public_keys).await.map_err(|e| e.to_string())?;
                let since = since.as_deref().map(Trusted::parse).transpose().map_err(|e| format!("--since: {e}"))?;
                let archive = archive.or_else(|| if full { audit.archive_dir.clone() } else { None });
                let state = state.or(audit.verify_state.clone());
                let options = VerifyOptions { keys, archive, since };
                let intact =
                    run::audit_verify(&store, options, state.as_deref(), full).await.map_err(|e| e.to_string())?;
                Ok(if intact { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
            AuditCommand::Export { archive, .. } => {
                if archive.is_some() {
                    audit.archive_dir = archive;
                }
                run::audit_export(&store, &audit).await.map_err(|e| e.to_string())?;
                Ok(ExitCode::SUCCESS)
            }
            AuditCommand::Tail { from, follow, output, poll_ms, .. } => {
                let poll = std::time::Duration::from_millis(poll_ms.max(10));
                let options = TailOptions { after: from, follow, poll, output };
                match run::audit_tail(&store, &options).await {
                    Ok(_) => Ok(ExitCode::SUCCESS),
                    Err(e) => {
                        eprintln!("lit-session-server: audit tail: {e}");
                        Ok(ExitCode::from(1))
                    }
                }
            }
            AuditCommand::Checkpoint { .. } => {
                let n = run::audit_checkpoint(&store, &audit).await.map_err(|e| e.to_string())?;
                println!("{n} checkpoints written");
                Ok(ExitCode::SUCCESS)
            }
            AuditCommand::Key => {
                let spec = audit.key.as_ref().ok_or("audit.checkpoint_key is not configured")?;
                let key = audit_jobs::open_key(spec).await?;
                println!("{}", key.public_key());
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    result.unwrap_or_else(fail)
}

fn runtime(blocking: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn load_settings(
    config: &Option<PathBuf>,
    listen: &Option<String>,
    metrics: &Option<String>,
) -> Result<config::Settings, String> {
    let Some(path) = config else {
        return Err("no configuration: give --config FILE (or LITSIGNER_CONFIG), or try --dev".into());
    };
    let mut file = ConfigFile::read(path).map_err(|e| e.to_string())?;
    file.apply_env(|k| std::env::var(k).ok());
    if let Some(l) = listen {
        file.server.listen = l.clone();
    }
    if let Some(m) = metrics {
        file.server.metrics_listen = Some(m.clone());
    }
    file.settings().map_err(|e| e.to_string())
}

fn serve(config: &Option<PathBuf>, listen: &Option<String>, metrics: &Option<String>) -> ExitCode {
    let settings = match load_settings(config, listen, metrics) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    run::init_logging(settings.log_json, &settings.log_level);
    let rt = match runtime(settings.blocking_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(run::start(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn dev_mode(listen: Option<String>, metrics: Option<String>) -> ExitCode {
    let Some(listen) = listen else { return fail("--dev needs --listen 127.0.0.1:PORT") };
    let addr: SocketAddr = match config::socket_addr(&listen, "--listen") {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if !server::is_loopback(&addr) {
        return fail(format!(
            "--dev refuses to listen on {addr}: dev mode is for loopback addresses only (127.0.0.1, ::1)"
        ));
    }
    let metrics = match metrics.map(|m| config::socket_addr(&m, "--metrics-listen")).transpose() {
        Ok(Some(m)) if !server::is_loopback(&m) => {
            return fail(format!("--dev refuses to serve metrics on {m}: loopback only"))
        }
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let dir = match tempfile::Builder::new().prefix("lit-session-server-dev-").tempdir() {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot make a temporary directory: {e}")),
    };
    let level = std::env::var("LITSIGNER_LOG").unwrap_or_else(|_| "info".into());
    let json = std::env::var("LITSIGNER_LOG_FORMAT").is_ok_and(|f| f == "json");
    run::init_logging(json, &level);
    let token = run::new_token();
    eprintln!("{}", dev::BANNER);
    eprintln!("dev token: {}", token.as_str());
    let settings = dev::settings(addr, metrics, &token, dir.path());
    drop(token);
    let settings = match settings {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let rt = match runtime(settings.blocking_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let result = rt.block_on(run::start(settings));
    drop(dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn check_config(config: &Option<PathBuf>) -> ExitCode {
    let settings = match load_settings(config, &None, &None) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let names = settings.signers.iter().map(|s| s.name.clone()).collect();
    let PolicySource::File(policy_file) = &settings.app.policy else {
        return fail("policy.file is required");
    };
    let text = match std::fs::read_to_string(policy_file) {
        Ok(t) => t,
        Err(e) => return fail(format!("policy {}: {e}", policy_file.display())),
    };
    if let Err(e) = lit_session_server::policy::Policy::parse(&text, &names) {
        return fail(e);
    }
    if let Some(t) = &settings.app.tokens_file {
        if let Err(e) = auth::Tokens::read(t) {
            return fail(e);
        }
    }
    println!("configuration valid: {} signer profile(s), policy {}", settings.signers.len(), policy_file.display());
    ExitCode::SUCCESS
}

fn token(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::New { client, token_file } => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if client.is_empty() || client.contains(char::is_whitespace) {
                return fail("--client must be a name without spaces");
            }
            let token = run::new_token();
            let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&token_file);
            let written = file.and_then(|mut f| f.write_all(format!("{}\n", token.as_str()).as_bytes()));
            if let Err(e) = written {
                return fail(format!("{}: {e}", token_file.display()));
            }
            println!("{}", auth::token_line(&client, &token));
            ExitCode::SUCCESS
        }
        TokenCommand::Hash => {
            let mut text = zeroize::Zeroizing::new(String::new());
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                return fail(format!("stdin: {e}"));
            }
            let t = text.trim();
            if t.is_empty() {
                return fail("no token on stdin");
            }
            println!("sha256:{}", hex::encode(auth::token_hash(t.as_bytes())));
            ExitCode::SUCCESS
        }
    }
}
