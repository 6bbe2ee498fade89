//! Secret files: 32-byte keys written as hex (wallet keys, session seeds), PINs, token hashes and
//! TLS keys, read into zeroizing buffers, and the refusal of secrets given where a file's path
//! belongs.
//!
//! One rule for every secret file, in the library, the command line and the server: other users
//! may neither read nor write it (no `o` permission bits). Group access is allowed, because
//! orchestrators mount secrets for a group (`/run/secrets`, a Kubernetes secret volume with an
//! `fsGroup`). A Kubernetes secret volume without `defaultMode` mounts its files as 0644, which
//! the rule refuses with a message naming the fix ([`PERMISSION_FIX`]).
//!
//! Secrets come only from files (PINs also from environment variables), never from argv, which
//! `ps`, shell history and CI logs all see. A value given where a secret file's path belongs
//! that names no file but looks like a key or a PIN is refused with a message that does not
//! repeat it, so a mistaken `--session-seed-file 4242…` never reaches stderr or a log.
//!
//! ```
//! use lit_session_signer::secret_file::{looks_like_inline_secret, parse_key_hex};
//!
//! let key = parse_key_hex("0x4242424242424242424242424242424242424242424242424242424242424242\n").unwrap();
//! assert_eq!(key.expose()[0], 0x42);
//! assert_eq!(format!("{key:?}"), "KeyBytes([redacted])");
//! assert!(looks_like_inline_secret("0x4242424242424242424242424242424242424242424242424242424242424242"));
//! assert!(!looks_like_inline_secret("/run/secrets/wallet.key"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A 32-byte secret read from a key file: zeroized on drop, `Debug` prints `[redacted]`, no
/// `Display`.
pub struct KeyBytes(Zeroizing<[u8; 32]>);

impl KeyBytes {
    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as the `Zeroizing` buffer the key stores take.
    pub fn into_zeroizing(self) -> Zeroizing<[u8; 32]> {
        self.0
    }
}

// The only field is a `Zeroizing` buffer, which wipes itself on drop.
impl ZeroizeOnDrop for KeyBytes {}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes([redacted])")
    }
}

/// Why a key file's text is not a 32-byte hex key. Never carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyTextError {
    /// A character other than hex digits (after an optional `0x` and surrounding whitespace).
    #[error("not hex")]
    NotHex,
    /// Hex of the wrong length.
    #[error("a key is 32 bytes (64 hex digits), found {found} hex digits")]
    Length {
        /// How many hex digits there were.
        found: usize,
    },
}

/// Parses a 32-byte key written as hex: `0x` optional, surrounding whitespace (a trailing
/// newline) allowed.
///
/// ```
/// use lit_session_signer::secret_file::{parse_key_hex, KeyTextError};
/// assert_eq!(parse_key_hex("0x3333").unwrap_err(), KeyTextError::Length { found: 4 });
/// assert_eq!(parse_key_hex("zz").unwrap_err(), KeyTextError::NotHex);
/// ```
pub fn parse_key_hex(text: &str) -> Result<KeyBytes, KeyTextError> {
    let body = text.trim();
    let body = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")).unwrap_or(body);
    if !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyTextError::NotHex);
    }
    if body.len() != 64 {
        return Err(KeyTextError::Length { found: body.len() });
    }
    let mut key = Zeroizing::new([0u8; 32]);
    // Decodes straight into the zeroizing buffer: no intermediate copy of the secret.
    hex::decode_to_slice(body, key.as_mut()).map_err(|_| KeyTextError::NotHex)?;
    Ok(KeyBytes(key))
}

/// Whether a value given where a secret file's path belongs looks like the secret itself:
/// `0x` and hex digits, or 4 or more hex digits (this covers numeric PINs and keys), or a long token
/// with neither `/` nor `.` (base64 keys).
pub fn looks_like_inline_secret(value: &str) -> bool {
    let t = value.trim();
    let (prefixed, body) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(body) => (true, body),
        None => (false, t),
    };
    let min_len = if prefixed { 1 } else { 4 };
    let hex = body.len() >= min_len && body.bytes().all(|b| b.is_ascii_hexdigit());
    let token = t.len() >= 32 && !t.contains(['/', '.']) && !t.contains(char::is_whitespace);
    hex || token
}

/// How to make a refused secret file acceptable, for error messages.
pub const PERMISSION_FIX: &str = "run `chmod o-rwx` on it (0600 or 0640), or for a Kubernetes secret volume set \
    `defaultMode: 0440` (or 0400) and an `fsGroup` the process runs in";

/// Errors reading a secret file. Messages name the file, never its contents, and never repeat a
/// value refused as an inline secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file does not hold a 32-byte hex key.
    #[error("{}: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        source: KeyTextError,
    },
    /// The value names no file and is a bare name or looks like a key or PIN, so it may be the
    /// secret itself (the value is withheld).
    #[error(
        "[value withheld]: no such file, and the value may be the secret itself, so it is not repeated; \
         secrets are never taken as argument values: write it to a file only you can read (chmod 600) \
         and pass that file's path"
    )]
    InlineSecret,
    /// Other users may read or write it.
    #[error("{} is accessible by other users (mode {mode:o}); {}", path.display(), PERMISSION_FIX)]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
}

/// Checks the permission rule for `path` without reading it.
pub fn check_permissions(path: &Path) -> Result<(), SecretFileError> {
    let meta = std::fs::metadata(path).map_err(|source| SecretFileError::Read { path: path.to_path_buf(), source })?;
    check_mode(path, &meta)
}

fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o007 != 0 {
            return Err(SecretFileError::Permissions { path: path.to_path_buf(), mode: mode & 0o7777 });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// Reads a secret file whole, after checking the permission rule on the opened file (so the
/// file checked is the file read).
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    use std::io::Read;
    let read_err = |source| SecretFileError::Read { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    check_mode(path, &file.metadata().map_err(read_err)?)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes).map_err(read_err)?;
    Ok(bytes)
}

/// [`read_secret`] as UTF-8 text.
pub fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, SecretFileError> {
    let bytes = read_secret(path)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(_) => Err(SecretFileError::NotText { path: path.to_path_buf() }),
    }
}

/// Refuses a secret-file path that names no file and may be the secret itself: a value that
/// [`looks_like_inline_secret`], or a bare name without an extension (a PIN or passphrase can be
/// any text). Existing files are always accepted; a missing path that cannot be a secret (it has
/// a `/` or an extension, such as `wallet.key`) is left to the reader, whose error names it.
pub fn check_secret_path(path: &Path) -> Result<(), SecretFileError> {
    if path.exists() {
        return Ok(());
    }
    match path.to_str() {
        Some(s) if !looks_like_inline_secret(s) && (s.contains('/') || has_extension(s)) => Ok(()),
        _ => Err(SecretFileError::InlineSecret),
    }
}

/// `name.ext` with a short alphanumeric extension (`wallet.key`, `pin.txt`).
fn has_extension(s: &str) -> bool {
    match s.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty() && (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Reads a key file (see [`parse_key_hex`]) under the permission rule. The file's text is held
/// in a zeroizing buffer.
pub fn read_key_file(path: &Path) -> Result<KeyBytes, SecretFileError> {
    check_secret_path(path)?;
    let text = read_secret_text(path)?;
    parse_key_hex(&text).map_err(|source| SecretFileError::Key { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_forms() {
        let k = "42".repeat(32);
        for text in [k.clone(), format!("0x{k}"), format!("0X{k}\n"), format!("  {k}\r\n"), k.to_uppercase()] {
            assert_eq!(parse_key_hex(&text).unwrap().expose(), &[0x42; 32], "{text:?}");
        }
        assert_eq!(parse_key_hex("").unwrap_err(), KeyTextError::Length { found: 0 });
        assert_eq!(parse_key_hex(&format!("{k}00")).unwrap_err(), KeyTextError::Length { found: 66 });
        assert_eq!(parse_key_hex(&format!("0x0x{k}")).unwrap_err(), KeyTextError::NotHex);
        assert_eq!(parse_key_hex(&format!("{k} 00")).unwrap_err(), KeyTextError::NotHex);
        // Multi-byte characters are rejected as non-hex, not sliced.
        assert_eq!(parse_key_hex("é".repeat(32).as_str()).unwrap_err(), KeyTextError::NotHex);
    }

    #[test]
    fn inline_secret_heuristic() {
        for secret in ["1234", "0x33", "0x3333", &"ab".repeat(32), "c2VjcmV0LXNlZWQtYmFzZTY0LWVuY29kZWQtMzJieXRlcw=="] {
            assert!(looks_like_inline_secret(secret), "{secret}");
        }
        for path in ["wallet.key", "/run/secrets/seed", "./1234", "seed", "abc", "my key file with spaces in it ok"] {
            assert!(!looks_like_inline_secret(path), "{path}");
        }
    }

    #[test]
    fn secret_paths() {
        let dir = tempfile::tempdir().unwrap();
        let named_like_hex = dir.path().join("abcd");
        std::fs::write(&named_like_hex, "x").unwrap();
        // An existing file is a path, whatever its name.
        assert!(check_secret_path(&named_like_hex).is_ok());
        assert!(matches!(check_secret_path(Path::new(&"42".repeat(32))), Err(SecretFileError::InlineSecret)));
        // A bare name that names no file may be a PIN such as "hunter2-pin"...
        assert!(matches!(check_secret_path(Path::new("hunter2-pin")), Err(SecretFileError::InlineSecret)));
        // ...but not a name with an extension or a directory: the reader's error names it.
        assert!(check_secret_path(Path::new("missing.key")).is_ok());
        assert!(check_secret_path(Path::new("/no/such/dir/wallet.key")).is_ok());
        assert!(check_secret_path(Path::new("secrets/pin")).is_ok());
        let named = read_key_file(Path::new("wallet.key")).unwrap_err().to_string();
        assert!(named.starts_with("wallet.key: "), "{named}");
    }

    #[test]
    fn refusal_does_not_repeat_the_value() {
        let secret = "42".repeat(32);
        let err = read_key_file(Path::new(&secret)).unwrap_err();
        assert!(!err.to_string().contains(&secret), "{err}");
        assert!(!format!("{err:?}").contains(&secret), "{err:?}");
    }

    #[test]
    fn key_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, format!("0x{}\n", "07".repeat(32))).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key_file(&key).unwrap().expose(), &[7; 32]);
        std::fs::write(&key, "0x07").unwrap();
        let err = read_key_file(&key).unwrap_err().to_string();
        assert!(err.ends_with("found 2 hex digits"), "{err}");
        assert!(matches!(read_key_file(&dir.path().join("missing")), Err(SecretFileError::Read { .. })));
    }

    #[test]
    fn other_users_access_is_refused_group_access_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("wallet.key");
        std::fs::write(&key, "42".repeat(32)).unwrap();
        for (mode, ok) in [(0o600, true), (0o640, true), (0o440, true), (0o400, true), (0o644, false), (0o602, false)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_key_file(&key).is_ok(), ok, "mode {mode:o}");
            assert_eq!(check_permissions(&key).is_ok(), ok, "mode {mode:o}");
        }
        // A Kubernetes secret volume without defaultMode: the message names the fix.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = read_key_file(&key).unwrap_err().to_string();
        assert!(message.contains("mode 644") && message.contains("defaultMode"), "{message}");
        assert!(!message.contains(&"42".repeat(32)), "{message}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&key, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_secret_text(&key), Err(SecretFileError::NotText { .. })));
    }
}
