//! `lit-session session-sigs`: the SDK's `getSessionSigs` (v7) or `issueSessionFromContext`
//! (v8) with an EOA wallet, or (v8) from a delegation AuthSig made earlier.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::manager::{
    sign_with_delegation, AuthSource, FileAuthSigStore, SessionKeyPolicy, SessionManager,
};
use lit_session_signer::pricing::{MaxPrice, NodePricing};
use lit_session_signer::session_sigs::SessionSigsRequest;
use lit_session_signer::siwe::SiweOptions;
use lit_session_signer::wallet::WalletSigner;
use lit_session_signer::SessionFormat;

use crate::{input, keys_cmd, wallet_cmd, CliError};

/// Flags of `session-sigs`.
#[derive(clap::Args)]
pub struct Args {
    /// The wallet that signs the session AuthSig (not needed with --delegation-auth-sig).
    #[command(flatten)]
    wallet: wallet_cmd::WalletArgs,
    /// The signed-message format: v7 (Datil, the JS SDK 7.4.0's bytes) or v8 (Naga, the JS SDK
    /// v8's: per-node maxPrice, 15 min default expiration, empty default statement).
    #[arg(long, value_enum, default_value = "v7")]
    format: input::FormatArg,
    /// v8: a node's own price for the operation at hand, URL=PRICE (decimal or 0x-hex; a node
    /// without one costs 0). Repeatable.
    #[arg(long = "node-price", value_name = "URL=PRICE")]
    node_prices: Vec<String>,
    /// v8: sign for the K cheapest nodes only, cheapest first (ties keep the order given;
    /// default: every node).
    #[arg(long, value_name = "K", allow_hyphen_values = true)]
    threshold: Option<String>,
    /// v8: the user's maximum for the operation, split over the chosen nodes as the SDK splits
    /// it (decimal or 0x-hex; default 2^128 - 1).
    #[arg(long, value_name = "CAP", allow_hyphen_values = true)]
    max_price: Option<String>,
    /// v8: mint from this session AuthSig (JSON) made earlier for the session key, instead of
    /// asking the wallet (the v8 "server sessions" pattern); it must be for this key, unexpired
    /// and grant the resources.
    #[arg(long, value_name = "PATH")]
    delegation_auth_sig: Option<PathBuf>,
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
    /// Session and AuthSig expiration (default: now + 24 h; v8: now + 15 min).
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
    /// SIWE statement before the ReCap sentence (default: the SDK's test statement; v8: empty).
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

/// The v8 flags as the library's pricing (`None`: the SDK's defaults), refused with v7.
fn pricing(args: &Args, format: SessionFormat) -> Result<Option<NodePricing>, CliError> {
    if format == SessionFormat::V1 {
        let v8_only = [
            ("--node-price", !args.node_prices.is_empty()),
            ("--threshold", args.threshold.is_some()),
            ("--max-price", args.max_price.is_some()),
            ("--delegation-auth-sig", args.delegation_auth_sig.is_some()),
        ];
        if let Some((flag, _)) = v8_only.iter().find(|(_, given)| *given) {
            return Err(CliError(format!("{flag} needs --format v8 (the v7 format signs no maxPrice)")));
        }
        return Ok(None);
    }
    if args.node_prices.is_empty() && args.threshold.is_none() && args.max_price.is_none() {
        return Ok(None);
    }
    let mut pricing = NodePricing::new();
    for spec in &args.node_prices {
        // URLs hold no `=`; the price is after the last one.
        let (url, price) =
            spec.rsplit_once('=').ok_or_else(|| CliError(format!("--node-price {spec}: expected URL=PRICE")))?;
        let url = url.parse().map_err(|e| CliError(format!("--node-price {spec}: {e}")))?;
        pricing = pricing.with_node_price(url, input::price("--node-price", price)?);
    }
    if let Some(k) = &args.threshold {
        let k = k.parse::<usize>().map_err(|_| CliError(format!("--threshold: {k:?} is not a number of nodes")))?;
        pricing = pricing.with_threshold(k);
    }
    if let Some(cap) = &args.max_price {
        pricing = pricing.with_max_price(MaxPrice::Split(input::price("--max-price", cap)?));
    }
    Ok(Some(pricing))
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    let nodes = input::node_urls(&args.nodes)?;
    let requests = input::requests(&args.resources)?;
    input::nonce(&args.nonce)?;
    let format = SessionFormat::from(args.format);
    let mut request = SessionSigsRequest::new(nodes, requests, &args.nonce);
    request.params.format = format;
    request.params.pricing = pricing(&args, format)?;
    if let Some(now) = &args.now {
        request.now = input::timestamp("--now", now)?;
    }
    if let Some(exp) = &args.expiration {
        request.params.expiration = Some(input::timestamp("--expiration", exp)?);
    }
    request.params.siwe = SiweOptions { domain: args.domain, statement: args.statement, chain_id: args.chain_id };
    for path in &args.capability_auth_sigs {
        let cap = input::read_json(path, "--capability-auth-sig")?;
        if format == SessionFormat::V2 && input::is_capacity_delegation(&cap) {
            eprintln!(
                "lit-session: warning: --capability-auth-sig {}: a capacity delegation pays for nothing on Naga; use \
                 lit-session payment-delegation",
                path.display()
            );
        }
        request.params.capability_auth_sigs.push(cap);
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
    if let Some(path) = &args.delegation_auth_sig {
        if args.cache_dir.is_some() {
            return Err(CliError(
                "--delegation-auth-sig replaces the wallet's AuthSig: it takes no --cache-dir".into(),
            ));
        }
        if args.wallet.given() {
            return Err(CliError("--delegation-auth-sig replaces the wallet: give no wallet with it".into()));
        }
        if args.session_key.is_none() && args.session_seed_file.is_none() {
            return Err(CliError(
                "--delegation-auth-sig needs the session key it was made for (--session-key or --session-seed-file)"
                    .into(),
            ));
        }
        let delegation: AuthSig = serde_json::from_value(input::read_json(path, "--delegation-auth-sig")?)
            .map_err(|e| CliError(format!("--delegation-auth-sig {}: not an AuthSig: {e}", path.display())))?;
        let signer = delegation.address.clone();
        let (store, session_key) =
            keys_cmd::open_session_key(args.session_key.as_deref(), args.session_seed_file.as_deref())?;
        let sigs = sign_with_delegation(&request, store.as_ref(), &session_key, delegation)
            .map_err(|e| CliError(format!("--delegation-auth-sig {}: {}", path.display(), input::error_text(&e))))?;
        println!("{}", sigs.to_json());
        report(
            &sigs,
            &hex::encode(store.public_key(&session_key)?.as_bytes()),
            &format!("delegation by {signer}"),
            started,
        );
        return Ok(());
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
            let minted =
                runtime.block_on(manager.session_sigs_report(&request.nodes, &request.requests, &request.params))?;
            for w in &minted.warnings {
                eprintln!("lit-session: warning: {w}");
            }
            eprintln!("lit-session: {} (cache {})", minted.auth_sig, dir.display());
            minted.sigs
        }
    };
    println!("{}", sigs.to_json());
    report(
        &sigs,
        &hex::encode(store.public_key(&session_key)?.as_bytes()),
        &format!("wallet {}", wallet.address()),
        started,
    );
    Ok(())
}

// The summary on stderr. Through the cache or a delegation a session may end with its AuthSig;
// say what was signed, not what was asked.
fn report(sigs: &lit_session_signer::SessionSigs, session_key: &str, signer: &str, started: Instant) {
    let expires = sigs
        .iter()
        .next()
        .and_then(|(_, s)| {
            lit_session_signer::verify::SignedMessage::parse(&s.signed_message).ok().map(|m| m.expiration.to_string())
        })
        .unwrap_or_else(|| "-".to_string());
    eprintln!(
        "lit-session: {} session sigs, session key {session_key}, {signer}, expires {expires} ({:.1} ms)",
        sigs.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
}
