//! `lit-session session-sigs`: the SDK's `getSessionSigs` with an EOA wallet.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lit_session_signer::manager::{AuthSource, FileAuthSigStore, SessionKeyPolicy, SessionManager};
use lit_session_signer::session_sigs::SessionSigsRequest;
use lit_session_signer::siwe::SiweOptions;
use lit_session_signer::wallet::WalletSigner;

use crate::{input, keys_cmd, wallet_cmd, CliError};

/// Flags of `session-sigs`.
#[derive(clap::Args)]
pub struct Args {
    /// The signing wallet (the credits' owner for a delegation).
    #[command(flatten)]
    wallet: wallet_cmd::WalletArgs,
    /// File holding the 32-byte ed25519 session seed as hex (default: a fresh random key).
    #[arg(long, value_name = "PATH", conflicts_with = "session_key")]
    session_seed_file: Option<PathBuf>,
    /// A session key on a PKCS#11 token, by RFC 7512 URI (pkcs11:token=..;object=..?module-path=..&pin-source=..).
    #[arg(long, value_name = "pkcs11:URI")]
    session_key: Option<String>,
    /// Lit node URL, http(s)://host:port (repeatable; the map is keyed by these).
    #[arg(long = "node", value_name = "URL", required = true)]
    nodes: Vec<String>,
    /// PREFIX://ID=ABILITY, e.g. lit-pkp://*=pkp-signing (repeatable).
    #[arg(long = "resource", value_name = "PREFIX://ID=ABILITY", required = true)]
    resources: Vec<String>,
    /// SIWE nonce: a recent Ethereum block hash.
    #[arg(long, value_name = "0xBLOCKHASH")]
    nonce: String,
    /// Session and AuthSig expiration (default: now + 24 h).
    #[arg(long, value_name = "RFC3339")]
    expiration: Option<String>,
    /// Fix the clock (SIWE Issued At, session issuedAt) for reproducible output.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// File holding one capability AuthSig JSON object, embedded before the session AuthSig (repeatable).
    #[arg(long = "capability-auth-sig", value_name = "PATH")]
    capability_auth_sigs: Vec<PathBuf>,
    /// SIWE domain (default localhost).
    #[arg(long, value_name = "D")]
    domain: Option<String>,
    /// SIWE statement before the ReCap sentence (default: the SDK's test statement).
    #[arg(long, value_name = "S")]
    statement: Option<String>,
    /// SIWE chain id (default 1).
    #[arg(long, value_name = "N")]
    chain_id: Option<u64>,
    /// Reuse the wallet's AuthSig across runs: cached here (one 0600 JSON file per wallet and
    /// session key) and re-signed only when it no longer serves. Needs a persistent session key.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    let nodes = input::node_urls(&args.nodes)?;
    let requests = input::requests(&args.resources)?;
    input::nonce(&args.nonce)?;
    let mut request = SessionSigsRequest::new(nodes, requests, &args.nonce);
    if let Some(now) = &args.now {
        request.now = input::timestamp("--now", now)?;
    }
    if let Some(exp) = &args.expiration {
        request.params.expiration = Some(input::timestamp("--expiration", exp)?);
    }
    request.params.siwe = SiweOptions { domain: args.domain, statement: args.statement, chain_id: args.chain_id };
    for path in &args.capability_auth_sigs {
        request.params.capability_auth_sigs.push(input::read_json(path, "--capability-auth-sig")?);
    }
    request.validate()?;
    for r in request.ungranted_requests() {
        eprintln!(
            "lit-session: warning: {}={} will be refused by the nodes: a {}://* request with another ability shadows it",
            r.resource(),
            r.ability(),
            r.resource().prefix()
        );
    }

    if args.cache_dir.is_some() && args.session_key.is_none() && args.session_seed_file.is_none() {
        return Err(CliError(
            "--cache-dir needs a persistent session key (--session-key or --session-seed-file); a fresh random key \
             would never match the cache"
                .into(),
        ));
    }
    let wallet: Arc<dyn WalletSigner> = Arc::from(args.wallet.open()?);
    let (store, session_key) =
        keys_cmd::open_session_key(args.session_key.as_deref(), args.session_seed_file.as_deref())?;
    let sigs = match &args.cache_dir {
        None => request.sign(store.as_ref(), &session_key, wallet.as_ref())?,
        Some(dir) => {
            let manager = SessionManager::new(
                store.clone(),
                SessionKeyPolicy::Fixed(session_key.clone()),
                AuthSource::Wallet(wallet.clone()),
                Arc::new(
                    FileAuthSigStore::open(dir)
                        .map_err(|e| CliError(format!("--cache-dir: {}", input::error_text(&e))))?,
                ),
            );
            let now = request.now;
            let manager = if args.now.is_some() { manager.with_clock(move || now) } else { manager };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| CliError(format!("cannot start the async runtime: {e}")))?;
            let report =
                runtime.block_on(manager.session_sigs_report(&request.nodes, &request.requests, &request.params))?;
            for w in &report.warnings {
                eprintln!("lit-session: warning: {w}");
            }
            eprintln!("lit-session: {} (cache {})", report.auth_sig, dir.display());
            report.sigs
        }
    };
    println!("{}", sigs.to_json());
    // Through the cache a session ends with its AuthSig; say what was signed, not what was asked.
    let expires = sigs
        .iter()
        .next()
        .and_then(|(_, s)| {
            lit_session_signer::verify::SignedMessage::parse(&s.signed_message).ok().map(|m| m.expiration.to_string())
        })
        .unwrap_or_else(|| request.expiration().to_string());
    eprintln!(
        "lit-session: {} session sigs, session key {}, wallet {}, expires {} ({:.1} ms)",
        sigs.len(),
        hex::encode(store.public_key(&session_key)?.as_bytes()),
        wallet.address(),
        expires,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
