//! The command line's own input checks: a `pkcs11:` URI argument that may be a secret typed in
//! the wrong place, and JSON input files. Secret files are [`crate::secret_file`]'s job.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use crate::error_chain::error_chain;
pub use crate::secret_file::looks_like_inline_secret;

/// Errors of the command line's non-secret inputs. Never repeats a value that may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum CliInputError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not valid JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message (position and kind).
        message: String,
    },
    /// A value given where a `pkcs11:` URI belongs that is not one (the value is withheld).
    #[error(
        "[value withheld]: not a pkcs11: URI (expected pkcs11:token=...?module-path=...&pin-source=...); \
         the value is not repeated in case it is a key or PIN"
    )]
    NotUri,
}

/// Parses JSON text, keeping object key order.
pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(text)
}

/// Refuses a value given where a `pkcs11:` URI belongs that is not one, without repeating it
/// (the URI parser's own error would quote it, and it may be a key or PIN).
pub fn check_uri_arg(value: &str) -> Result<(), CliInputError> {
    let t = value.trim_start();
    if t.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("pkcs11:")) {
        Ok(())
    } else {
        Err(CliInputError::NotUri)
    }
}

/// Reads and parses a JSON file, keeping object key order.
pub fn read_json_file(path: &Path) -> Result<Value, CliInputError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CliInputError::Read { path: path.to_path_buf(), source })?;
    parse_json(&text).map_err(|e| CliInputError::Json { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_arguments() {
        assert!(matches!(check_uri_arg(&format!("0x{}", "42".repeat(32))), Err(CliInputError::NotUri)));
        assert!(matches!(check_uri_arg("hunter2-pin"), Err(CliInputError::NotUri)));
        assert!(check_uri_arg(" PKCS11:token=a").is_ok());
    }

    #[test]
    fn json_files() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("j.json");
        std::fs::write(&json, r#"{"b":1,"a":2}"#).unwrap();
        let v = read_json_file(&json).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a"]);
        std::fs::write(&json, "{nope").unwrap();
        assert!(matches!(read_json_file(&json), Err(CliInputError::Json { .. })));
        assert!(matches!(read_json_file(&dir.path().join("missing")), Err(CliInputError::Read { .. })));
    }
}
