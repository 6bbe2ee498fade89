//! `lit-session verify`: check one node's session signature as that node would.

use std::io::Write;
use std::path::PathBuf;

use lit_session_signer::bls::NetworkPublicKey;
use lit_session_signer::protocol::{NodeUrl, Price};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::verify::{
    parse_session_sigs, select_session_sig, Generation, InspectReport, Route, SessionSigsFileError, Verifier,
    VerifyError, VerifyPolicy,
};
use lit_session_signer::Timestamp;

use crate::CliError;

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The sessionSigs JSON (a map node URL → SessionSig, or one SessionSig).
    #[arg(long, value_name = "PATH")]
    session_sigs: PathBuf,
    /// The verifying node's URL; picks sessionSigs[URL], else the entry signed for that node.
    #[arg(long, value_name = "URL")]
    node: String,
    /// The requested resource and ability, e.g. lit-pkp://*=pkp-signing.
    #[arg(long, value_name = "PREFIX://ID=ABILITY")]
    resource: String,
    /// Verify as of this time (default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Also apply the strict policy, stricter than any node (canonical hex, sessionKey =
    /// address, signer = address, low-s wallet signatures, decodable ReCaps, 24 h maximum,
    /// every capability valid, the SDK's LIT_BLS time rule).
    #[arg(long)]
    strict: bool,
    /// Naga: the node's current price for the operation in wei (decimal or 0x-hex); the signed
    /// maxPrice must be at least this, as the node's payment step requires.
    #[arg(long, value_name = "WEI")]
    node_price: Option<String>,
    /// Datil: the route the request goes to: v1 (the versioned routes) or unversioned (the
    /// /web/encryption/sign and /web/signing/access_control_condition routes the v7 SDK's
    /// decrypt and ACC signing use, which fall back to an older check when the v1 one fails).
    #[arg(long, value_name = "v1|unversioned", default_value = "v1")]
    route: String,
    #[command(flatten)]
    network_keys: NetworkKeyArgs,
    #[command(flatten)]
    generation: GenerationArg,
}

/// Which node generation's rules apply.
#[derive(clap::Args)]
pub struct GenerationArg {
    /// Verify as the nodes of this generation: datil (LIT-Protocol/Node v1.0.18, JS SDK v7;
    /// reads v7 and v8 messages) or naga (lit-peer, JS SDK v8; requires the v8 maxPrice).
    #[arg(long = "network", value_name = "datil|naga", default_value = "datil")]
    network: String,
}

impl GenerationArg {
    /// `policy` for the generation given.
    pub fn apply(&self, policy: VerifyPolicy) -> Result<VerifyPolicy, CliError> {
        let generation: Generation = self.network.parse().map_err(|e| CliError(format!("--network: {e}")))?;
        Ok(policy.for_generation(generation))
    }
}

/// The network BLS public keys that `LIT_BLS` (PKP) capabilities verify against. Public keys,
/// so an argument is fine.
#[derive(clap::Args)]
pub struct NetworkKeyArgs {
    /// A network BLS public key (48-byte G1, 96 hex digits, `0x` optional), as nodes return
    /// `blsRootPubkey`; repeatable. Without one, PKP capabilities report needs-network-key.
    #[arg(long = "network-key", visible_alias = "network-public-key", value_name = "HEX")]
    keys: Vec<String>,
    /// A file of network BLS public keys in hex, one per line (`#` comments and blank lines
    /// ignored); repeatable.
    #[arg(long = "network-key-file", value_name = "PATH")]
    files: Vec<PathBuf>,
}

impl NetworkKeyArgs {
    /// Every key given, parsed; a bad key is an input error (exit 2).
    pub fn parse(&self) -> Result<Vec<NetworkPublicKey>, CliError> {
        let mut out = Vec::new();
        for k in &self.keys {
            out.push(k.parse().map_err(|e| CliError(format!("--network-key {k}: {e}")))?);
        }
        for path in &self.files {
            let shown = path.display();
            let text =
                std::fs::read_to_string(path).map_err(|e| CliError(format!("--network-key-file {shown}: {e}")))?;
            let mut found = 0;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let key =
                    line.parse().map_err(|e| CliError(format!("--network-key-file {shown}: line {}: {e}", n + 1)))?;
                out.push(key);
                found += 1;
            }
            if found == 0 {
                return Err(CliError(format!("--network-key-file {shown}: no key in the file")));
            }
        }
        Ok(out)
    }

    /// `policy` with the keys added.
    pub fn apply(&self, policy: VerifyPolicy) -> Result<VerifyPolicy, CliError> {
        Ok(policy.with_network_keys(self.parse()?))
    }
}

// The library names no flags; the command line says which one supplies the missing key.
const NETWORK_KEY_HINT: &str = " (--network-key)";

/// `e`'s refusal, naming the flag that fixes it.
fn with_flag_hint(e: &VerifyError, generation: Generation) -> String {
    match e {
        VerifyError::NeedsNetworkKey { .. } => format!("{}{NETWORK_KEY_HINT}", e.explain(generation)),
        _ => e.explain(generation),
    }
}

/// The report with [`with_flag_hint`] applied to its `needs-network-key` verdicts.
pub fn add_flag_hints(report: &mut InspectReport) {
    for entry in &mut report.entries {
        let details = std::iter::once((&entry.verdict, &mut entry.detail))
            .chain(entry.requests.iter_mut().map(|r| (&r.verdict, &mut r.detail)));
        for (verdict, detail) in details {
            if let (true, Some(d)) = (verdict == "needs-network-key", detail) {
                d.push_str(NETWORK_KEY_HINT);
            }
        }
    }
}

/// Prints `valid` (exit 0) or `invalid: <rule>: <detail> (<generation> node: <function>)`
/// (exit 1) for anything the node would refuse, however malformed the session sig; exit 2 is
/// for usage errors only: a bad flag, an unreadable file, text that is not JSON, a file without
/// a session sig for the node.
pub fn run(args: Args) -> Result<(), CliError> {
    let path = args.session_sigs.display();
    let text =
        std::fs::read_to_string(&args.session_sigs).map_err(|e| CliError(format!("--session-sigs {path}: {e}")))?;
    let node: NodeUrl = args.node.parse().map_err(|e| CliError(format!("--node: {e}")))?;
    let request: ResourceAbilityRequest =
        args.resource.parse().map_err(|e| CliError(format!("--resource {}: {e}", args.resource)))?;
    let now = match &args.now {
        Some(t) => crate::input::timestamp("--now", t)?,
        None => Timestamp::now(),
    };
    let policy = args.network_keys.apply(if args.strict { VerifyPolicy::strict() } else { VerifyPolicy::node() })?;
    let policy = args.generation.apply(policy)?;
    let generation = policy.generation;
    if !generation.format().knows(request.resource().prefix()) {
        return Err(CliError(format!(
            "--resource {}: {generation} nodes have no such resource (lit-ratelimitincrease is Datil's, \
             lit-paymentdelegation Naga's)",
            args.resource
        )));
    }
    let route: Route = args.route.parse().map_err(|e| CliError(format!("--route: {e}")))?;
    let policy = match (generation, route) {
        (_, Route::V1) => policy,
        (Generation::Datil, route) => policy.with_route(route),
        (Generation::Naga, _) => {
            return Err(CliError("--route unversioned applies to datil (naga's unversioned routes are gone)".into()))
        }
    };
    let policy = match (&args.node_price, generation) {
        (None, _) => policy,
        (Some(p), Generation::Naga) => {
            policy.with_node_price(p.parse::<Price>().map_err(|e| CliError(format!("--node-price: {e}")))?)
        }
        (Some(_), Generation::Datil) => {
            return Err(CliError("--node-price applies to naga (datil nodes have no per-request price)".into()))
        }
    };
    let verifier = Verifier::new(policy);
    let result = match parse_session_sigs(&text) {
        Ok(entries) => {
            let entry = select_session_sig(&entries, node.as_str())
                .ok_or_else(|| CliError(format!("--session-sigs {path}: no session sig for node {node}")))?;
            verifier.verify_entry(entry, &node, &request, now)
        }
        // JSON, but not an object: what the node would make of it as a session sig.
        Err(SessionSigsFileError::Shape(_)) => verifier.verify_json(&text, &node, &request, now),
        Err(e) => return Err(CliError(format!("--session-sigs {path}: {e}"))),
    };
    match result {
        Ok(verified) => {
            println!("valid");
            if let Some(why) = verified.via_fallback {
                eprintln!(
                    "note: only the unversioned route's fallback (auth/session_sigs.rs::validate_and_extract_wallet_sig) \
                     accepts it; the v1 routes refuse it: {}",
                    why.explain(generation)
                );
            }
            Ok(())
        }
        Err(e) => {
            println!("invalid: {}", with_flag_hint(&e, generation));
            // Exit status 1 means "verified, and invalid"; 2 stays reserved for bad input.
            let _ = std::io::stdout().flush();
            std::process::exit(1)
        }
    }
}
