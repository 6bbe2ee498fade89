//! Reading the CLI's input files: hex key files and JSON files.

use std::path::Path;

use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::Timestamp;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::CliError;

/// Reads a file holding a 32-byte key as hex (`0x` optional, surrounding whitespace allowed).
/// The buffers holding the secret are zeroized.
pub fn read_key32(path: &Path, flag: &str) -> Result<Zeroizing<[u8; 32]>, CliError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| CliError(format!("{flag} {}: {e}", path.display())))?);
    let body = text.trim();
    let body = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")).unwrap_or(body);
    if !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError(format!("{flag} {}: not hex", path.display())));
    }
    if body.len() != 64 {
        return Err(CliError(format!(
            "{flag} {}: a key is 32 bytes (64 hex digits), found {} hex digits",
            path.display(),
            body.len()
        )));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(body, key.as_mut()).map_err(|_| CliError(format!("{flag} {}: not hex", path.display())))?;
    Ok(key)
}

/// Reads and parses a JSON file, keeping object key order.
pub fn read_json(path: &Path, flag: &str) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError(format!("{flag} {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| CliError(format!("{flag} {}: not valid JSON: {e}", path.display())))
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

/// `--nonce`, which must not be blank.
pub fn nonce(value: &str) -> Result<&str, CliError> {
    if value.trim().is_empty() {
        return Err(CliError("--nonce: empty".into()));
    }
    Ok(value)
}
