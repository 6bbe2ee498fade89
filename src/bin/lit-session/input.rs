//! The CLI's input files and values, with flag names on errors; the parsing itself is in
//! `lit_session_signer::secret_file` and `internal::cli`.

use std::path::Path;

use std::error::Error;

use lit_session_signer::internal::cli;
use lit_session_signer::manager::ManagerError;
#[cfg(feature = "pkcs11")]
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
use lit_session_signer::pkp::PkpSessionError;
use lit_session_signer::pricing::PricingError;
use lit_session_signer::protocol::{NodeListError, NodeUrl, Price, SessionFormat};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::secret_file;
use lit_session_signer::session_sigs::SessionSigsError;
use lit_session_signer::Timestamp;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::CliError;

/// An error and its causes on one line, with the flag that fixes it where the library's message
/// cannot name one.
pub fn error_text(e: &(dyn Error + 'static)) -> String {
    let text = cli::error_chain(e);
    match flag_hint(e) {
        Some(hint) => format!("{text}: {hint}"),
        None => text,
    }
}

fn flag_hint(e: &(dyn Error + 'static)) -> Option<&'static str> {
    let session = e
        .downcast_ref::<SessionSigsError>()
        .or_else(|| match e.downcast_ref::<ManagerError>() {
            Some(ManagerError::Request(s)) => Some(s),
            _ => None,
        })
        .or_else(|| match e.downcast_ref::<PkpSessionError>() {
            Some(PkpSessionError::Session(s)) => Some(s),
            _ => None,
        })?;
    match session {
        SessionSigsError::Nodes(NodeListError::Empty) => Some("at least one --node is required"),
        SessionSigsError::NoRequests => Some("at least one --resource is required"),
        SessionSigsError::Pricing(p) => Some(match p {
            PricingError::ThresholdZero | PricingError::ThresholdAboveNodes { .. } => "see --threshold",
            PricingError::UnknownNode(_) | PricingError::DuplicateNodePrice(_) => "see --node-price",
            _ => "raise --max-price or lower --threshold",
        }),
        SessionSigsError::ResourceNotInFormat { .. } => Some("see --resource and --format"),
        _ => None,
    }
}

/// Reads a file holding a 32-byte key as hex (`0x` optional, surrounding whitespace allowed).
/// A value that names no file but looks like a key is refused without being repeated.
pub fn read_key32(path: &Path, flag: &str) -> Result<Zeroizing<[u8; 32]>, CliError> {
    secret_file::read_key_file(path)
        .map(secret_file::KeyBytes::into_zeroizing)
        .map_err(|e| CliError(format!("{flag} {e}")))
}

/// Reads and parses a JSON file, keeping object key order.
pub fn read_json(path: &Path, flag: &str) -> Result<Value, CliError> {
    cli::read_json_file(path).map_err(|e| CliError(format!("{flag} {e}")))
}

/// Parses an RFC 3339 flag value.
pub fn timestamp(flag: &str, value: &str) -> Result<Timestamp, CliError> {
    value.parse().map_err(|e| CliError(format!("{flag}: {e}")))
}

/// `--node` values as node URLs.
pub fn node_urls(values: &[String]) -> Result<Vec<NodeUrl>, CliError> {
    values.iter().map(|n| n.parse::<NodeUrl>().map_err(|e| CliError(format!("--node: {e}")))).collect()
}

/// `--resource` values as resource-ability requests.
pub fn requests(values: &[String]) -> Result<Vec<ResourceAbilityRequest>, CliError> {
    values.iter().map(|r| r.parse().map_err(|e| CliError(format!("--resource {r}: {e}")))).collect()
}

/// The `--format` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FormatArg {
    /// Datil: the JS SDK v7's bytes.
    V7,
    /// Naga: the JS SDK v8's bytes (per-node maxPrice).
    V8,
}

impl From<FormatArg> for SessionFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::V7 => SessionFormat::V1,
            FormatArg::V8 => SessionFormat::V2,
        }
    }
}

/// A price flag value: decimal or `0x`-hex, below 2^256.
pub fn price(flag: &str, value: &str) -> Result<Price, CliError> {
    value.trim().parse().map_err(|e| CliError(format!("{flag}: {e}")))
}

/// Whether a capability AuthSig grants capacity credits (`lit-ratelimitincrease`), which
/// Naga nodes do not know.
pub fn is_capacity_delegation(capability: &Value) -> bool {
    capability.get("signedMessage").and_then(Value::as_str).is_some_and(|m| m.contains("for 'lit-ratelimitincrease://"))
}

/// `--nonce`, which must not be blank.
pub fn nonce(value: &str) -> Result<&str, CliError> {
    if value.trim().is_empty() {
        return Err(CliError("--nonce: empty".into()));
    }
    Ok(value)
}

/// Parses a `pkcs11:` URI flag value. A key or PIN given instead of a URI, or as a
/// `pin-source` that names no file, is refused without being repeated.
#[cfg(feature = "pkcs11")]
pub fn pkcs11_uri(flag: &str, value: &str) -> Result<Pkcs11Uri, CliError> {
    cli::check_uri_arg(value).map_err(|e| CliError(format!("{flag} {e}")))?;
    // The URI errors never repeat what was typed (it may be a PIN put in the wrong place).
    let uri = Pkcs11Uri::parse(value).map_err(|e| CliError(format!("{flag}: {e}")))?;
    if let Some(PinSource::File(path)) = &uri.pin_source {
        secret_file::check_secret_path(path).map_err(|e| CliError(format!("{flag} pin-source {e}")))?;
    }
    Ok(uri)
}
