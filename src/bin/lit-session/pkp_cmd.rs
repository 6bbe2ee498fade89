//! `lit-session pkp-session-sigs`: the SDK's `getPkpSessionSigs` / `getLitActionSessionSigs`:
//! the nodes sign the session key with the PKP, the session key signs each node's message.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lit_session_signer::bls::NetworkPublicKey;
use lit_session_signer::pkp::{
    AuthMethod, HttpTransport, LitAction, PkpPublicKey, PkpSessionError, PkpSessionSigsRequest, QuorumOptions,
};

use crate::{input, keys_cmd, CliError};

/// Flags of `pkp-session-sigs`.
#[derive(clap::Args)]
pub struct Args {
    /// The PKP's public key: 0x04 + 128 hex digits (uncompressed secp256k1).
    #[arg(long, value_name = "0x04...")]
    pkp_public_key: String,
    /// File holding an auth method {"authMethodType": N, "accessToken": "..."} or an array of
    /// them (the token is a secret: files only). Repeatable.
    #[arg(long = "auth-method-file", value_name = "PATH")]
    auth_method_files: Vec<PathBuf>,
    /// Lit node URL, http(s)://host:port (repeatable; the map is keyed by these).
    #[arg(long = "node", value_name = "URL", required = true)]
    nodes: Vec<String>,
    /// A Lit Action on IPFS that authorises the PKP (getLitActionSessionSigs).
    #[arg(long, value_name = "CID", conflicts_with = "lit_action_code_file")]
    lit_action_ipfs_id: Option<String>,
    /// A file with Lit Action JavaScript that authorises the PKP (sent base64-encoded).
    #[arg(long, value_name = "PATH")]
    lit_action_code_file: Option<PathBuf>,
    /// A JSON object file with the Lit Action's jsParams (default {}).
    #[arg(long, value_name = "PATH")]
    js_params_file: Option<PathBuf>,
    /// PREFIX://ID=ABILITY, e.g. lit-pkp://*=pkp-signing (repeatable).
    #[arg(long = "resource", value_name = "PREFIX://ID=ABILITY", required = true)]
    resources: Vec<String>,
    /// A session key on a PKCS#11 token, by RFC 7512 URI.
    #[arg(long, value_name = "pkcs11:URI", conflicts_with = "session_seed_file")]
    session_key: Option<String>,
    /// File holding the 32-byte ed25519 session seed as hex (default: a fresh random key).
    #[arg(long, value_name = "PATH")]
    session_seed_file: Option<PathBuf>,
    /// SIWE nonce: a recent Ethereum block hash the nodes can look up.
    #[arg(long, value_name = "0xBLOCKHASH")]
    nonce: String,
    /// The network's current epoch number (the nodes refuse other epochs).
    #[arg(long, value_name = "N")]
    epoch: u64,
    /// Session and AuthSig expiration (default: now + 24 h).
    #[arg(long, value_name = "RFC3339")]
    expiration: Option<String>,
    /// Fix the clock (SIWE Issued At, session issuedAt).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Usable node answers needed, and the share threshold (default: two thirds of the nodes, rounded up).
    #[arg(long, value_name = "N")]
    min_responses: Option<usize>,
    /// Per-node timeout in milliseconds (default 20000).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    timeout_ms: u64,
    /// The network's BLS public key (96 hex digits); default: the key the nodes report, which must agree.
    #[arg(long, value_name = "HEX")]
    network_public_key: Option<String>,
    /// File holding one capability AuthSig JSON object (e.g. a capacity delegation), embedded before the PKP's AuthSig (repeatable).
    #[arg(long = "capability-auth-sig", value_name = "PATH")]
    capability_auth_sigs: Vec<PathBuf>,
    /// SIWE domain (default litprotocol.com).
    #[arg(long, value_name = "D")]
    domain: Option<String>,
    /// The signed-message format; only v7 (Datil): Naga's PKP flow is end-to-end encrypted and
    /// not supported.
    #[arg(long, value_enum, default_value = "v7")]
    format: input::FormatArg,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    let request = build_request(&args)?;
    let options = sign_options(&args, request.nodes.len())?;
    let (store, key_id) = keys_cmd::open_session_key(args.session_key.as_deref(), args.session_seed_file.as_deref())?;
    let transport = HttpTransport::new()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError(format!("cannot start the async runtime: {e}")))?;
    let public_key = store.public_key(&key_id)?;
    // Renders the SIWE: bad input (e.g. a short nonce) is refused before any node is asked.
    request.sign_session_key_request(&public_key)?;
    let signed = match runtime.block_on(request.sign_session_key(&transport, &public_key, &options)) {
        Ok(s) => s,
        Err(e @ PkpSessionError::SignSessionKey(_)) => {
            // The input was fine; the network did not sign. 2 stays reserved for bad input.
            eprintln!("lit-session: error: sign_session_key: {}", input::error_text(&e));
            std::process::exit(1)
        }
        Err(e) => return Err(e.into()),
    };
    for failure in &signed.failures {
        eprintln!("lit-session: warning: node {failure}");
    }
    let sigs = request.session_sigs(store.as_ref(), &key_id, &signed)?;
    println!("{}", sigs.to_json());
    eprintln!(
        "lit-session: {} session sigs, session key {}, PKP {}, network signature from {} of {} nodes, expires {} ({:.1} ms)",
        sigs.len(),
        hex::encode(public_key.as_bytes()),
        request.pkp_public_key.address(),
        signed.signers.len(),
        request.nodes.len(),
        request.expiration(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn build_request(args: &Args) -> Result<PkpSessionSigsRequest, CliError> {
    let nodes = input::node_urls(&args.nodes)?;
    let requests = input::requests(&args.resources)?;
    let pkp: PkpPublicKey = args.pkp_public_key.parse().map_err(|e| CliError(format!("--pkp-public-key: {e}")))?;
    input::nonce(&args.nonce)?;
    let mut auth_methods = Vec::new();
    for path in &args.auth_method_files {
        auth_methods.extend(read_auth_methods(path)?);
    }
    let mut request = PkpSessionSigsRequest::new(nodes, pkp, auth_methods, requests, args.nonce.trim(), args.epoch);
    request.lit_action = lit_action(args)?;
    if let Some(now) = &args.now {
        request.now = input::timestamp("--now", now)?;
    }
    if let Some(exp) = &args.expiration {
        request.params.expiration = Some(input::timestamp("--expiration", exp)?);
    }
    request.params.siwe.domain = args.domain.clone();
    request.params.format = args.format.into();
    for path in &args.capability_auth_sigs {
        request.params.capability_auth_sigs.push(input::read_json(path, "--capability-auth-sig")?);
    }
    request.validate().map_err(|e| match e {
        lit_session_signer::pkp::PkpSessionError::NoAuth => CliError(
            "no --auth-method-file and no Lit Action (--lit-action-ipfs-id or --lit-action-code-file) given".into(),
        ),
        other => CliError::from(other),
    })?;
    Ok(request)
}

fn read_auth_methods(path: &Path) -> Result<Vec<AuthMethod>, CliError> {
    let flag = "--auth-method-file";
    // Access tokens are secrets: the secret-file rule applies.
    let text = lit_session_signer::secret_file::read_secret_text(path).map_err(|e| CliError(format!("{flag} {e}")))?;
    AuthMethod::list_from_json(&text).map_err(|e| CliError(format!("{flag} {}: {e}", path.display())))
}

fn lit_action(args: &Args) -> Result<Option<LitAction>, CliError> {
    let js_params = match &args.js_params_file {
        Some(path) => Some(input::read_json(path, "--js-params-file")?),
        None => None,
    };
    let params = || js_params.clone().unwrap_or_else(|| serde_json::json!({}));
    let action = match (&args.lit_action_ipfs_id, &args.lit_action_code_file) {
        (Some(cid), _) => {
            LitAction::from_ipfs_id(cid.trim(), params()).map_err(|e| CliError(format!("--lit-action-ipfs-id: {e}")))?
        }
        (None, Some(path)) => {
            let code = std::fs::read_to_string(path)
                .map_err(|e| CliError(format!("--lit-action-code-file {}: {e}", path.display())))?;
            LitAction::from_code(&code, params())
                .map_err(|e| CliError(format!("--lit-action-code-file {}: {e}", path.display())))?
        }
        (None, None) if js_params.is_some() => {
            return Err(CliError(
                "--js-params-file needs a Lit Action (--lit-action-ipfs-id or --lit-action-code-file)".into(),
            ))
        }
        (None, None) => return Ok(None),
    };
    if let Some(p) = &js_params {
        if !p.is_object() {
            return Err(CliError("--js-params-file: jsParams must be a JSON object".into()));
        }
    }
    Ok(Some(action))
}

fn sign_options(args: &Args, nodes: usize) -> Result<QuorumOptions, CliError> {
    // Lit networks sign with a two-thirds threshold.
    let min = args.min_responses.unwrap_or((2 * nodes).div_ceil(3).max(1));
    if min == 0 || min > nodes {
        return Err(CliError(format!(
            "--min-responses: must be between 1 and the number of nodes ({nodes}), got {min}"
        )));
    }
    if args.timeout_ms == 0 {
        return Err(CliError("--timeout-ms: must be above 0".into()));
    }
    let mut options = QuorumOptions::new(min).with_timeout(Duration::from_millis(args.timeout_ms));
    if let Some(key) = &args.network_public_key {
        let key: NetworkPublicKey = key.trim().parse().map_err(|e| CliError(format!("--network-public-key: {e}")))?;
        options = options.with_network_public_key(key);
    }
    Ok(options)
}
