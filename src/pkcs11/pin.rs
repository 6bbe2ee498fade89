//! Where the user PIN comes from, and how it is held.
//!
//! The PIN is read from a file or an environment variable, never from argv (visible in `ps`)
//! and never from a URI. It is held in a [`Zeroizing`] string, converted into a fresh
//! [`AuthPin`] (a `secrecy` secret) for each `C_Login`, and every type holding it prints as
//! `[REDACTED]`. It stays in memory for the life of the store because re-login after a lost
//! session or a token re-initialisation needs it (as yubihsm.rs keeps its credentials).
//!
//! [`PinKeeper`] decides which PIN a login presents: the source is read again at every login
//! (so a rotated PIN is picked up without a restart), the last accepted PIN is the fallback
//! when the source is unreadable or holds a PIN the token refuses, and a PIN the token refused
//! is never presented again (on a real HSM every wrong try brings the PIN closer to locking).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

/// Why a PIN could not be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The PIN file could not be read.
    #[error("cannot read PIN file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PIN file can be read or written by other users (the secret-file rule).
    #[error("PIN file {path} is accessible by other users (mode {mode:o}); {}", crate::secret_file::PERMISSION_FIX)]
    FilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The environment variable is not set (or not Unicode).
    #[error("PIN environment variable {0} is not set")]
    EnvMissing(String),
    /// The PIN is empty after trimming the trailing newline.
    #[error("the PIN from {0} is empty")]
    Empty(String),
    /// A `pin-source` value that is neither a path, `file:` nor `env:`.
    /// The text is not kept: it may be the PIN itself given in the wrong place.
    #[error("unsupported pin-source [value withheld]: use pin-source=file:/path or pin-source=env:VARNAME")]
    UnsupportedSource,
}

/// Where to read the user PIN from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PinSource {
    /// A file holding the PIN (trailing newline trimmed). Must not be world-accessible.
    File(PathBuf),
    /// An environment variable holding the PIN.
    Env(String),
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The location is not secret; the PIN itself never appears here.
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Env(v) => f.debug_tuple("Env").field(v).finish(),
        }
    }
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `file://` would read a leading `//x` as a host, so such paths get an empty host.
            Self::File(p) if p.to_string_lossy().starts_with("//") => write!(f, "file://{}", p.display()),
            Self::File(p) => write!(f, "file:{}", p.display()),
            Self::Env(v) => write!(f, "env:{v}"),
        }
    }
}

impl PinSource {
    /// Parses a `pin-source` value: `file:/path`, `file:///path`, a bare path (RFC 7512), or
    /// `env:VARNAME` (our extension).
    pub fn parse(s: &str) -> Result<Self, PinError> {
        if let Some(var) = s.strip_prefix("env:") {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(PinError::UnsupportedSource);
            }
            return Ok(Self::Env(var.to_string()));
        }
        let path = if let Some(rest) = s.strip_prefix("file://") {
            // file:///path (empty host) or file://localhost/path.
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            if !rest.starts_with('/') {
                return Err(PinError::UnsupportedSource);
            }
            rest
        } else if let Some(rest) = s.strip_prefix("file:") {
            rest
        } else {
            s
        };
        // Anything else with a scheme-like prefix (e.g. `|program`, `http:`) is refused
        // rather than read as a relative file name.
        let looks_like_scheme =
            path.split_once(':').is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'));
        if path.is_empty() || path.starts_with('|') || path.contains('\0') || looks_like_scheme {
            return Err(PinError::UnsupportedSource);
        }
        Ok(Self::File(PathBuf::from(path)))
    }

    /// Reads the PIN.
    pub fn read(&self) -> Result<Pin, PinError> {
        match self {
            Self::File(path) => read_pin_file(path),
            Self::Env(var) => {
                let value = std::env::var(var).map_err(|_| PinError::EnvMissing(var.clone()))?;
                Pin::from_secret(Zeroizing::new(value), || format!("environment variable {var}"))
            }
        }
    }
}

fn read_pin_file(path: &Path) -> Result<Pin, PinError> {
    use crate::secret_file::{read_secret_text, SecretFileError};
    let text = read_secret_text(path).map_err(|e| match e {
        SecretFileError::Permissions { path, mode } => PinError::FilePermissions { path, mode },
        SecretFileError::Read { path, source } => PinError::File { path, source },
        SecretFileError::NotText { path } => PinError::File {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the PIN file is not UTF-8"),
        },
        other => PinError::File { path: path.to_path_buf(), source: std::io::Error::other(other.to_string()) },
    })?;
    Pin::from_secret(text, || format!("file {}", path.display()))
}

/// A user PIN. `Debug` prints `Pin([REDACTED])`; there is no `Display`.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN given by the program (e.g. from a prompt). One trailing newline
    /// (`\n` or `\r\n`) is trimmed.
    pub fn new(pin: Zeroizing<String>) -> Result<Self, PinError> {
        Self::from_secret(pin, || "the caller".to_string())
    }

    fn from_secret(mut pin: Zeroizing<String>, origin: impl FnOnce() -> String) -> Result<Self, PinError> {
        // Trim in place so no untrimmed copy is left behind.
        if pin.ends_with('\n') {
            pin.pop();
            if pin.ends_with('\r') {
                pin.pop();
            }
        }
        if pin.is_empty() {
            return Err(PinError::Empty(origin()));
        }
        Ok(Self(pin))
    }

    /// A fresh `AuthPin` for one `C_Login`.
    pub(crate) fn auth_pin(&self) -> AuthPin {
        AuthPin::new(self.0.as_str().into())
    }

    /// Constant-time comparison (no early exit on the first differing byte).
    fn same(&self, other: &Pin) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Which PIN to present at each login (see the module docs).
pub(crate) struct PinKeeper {
    source: Option<PinSource>,
    state: Mutex<PinState>,
}

#[derive(Default)]
struct PinState {
    /// The PIN of the last successful `C_Login`, or the one read at open.
    last_good: Option<Pin>,
    /// PINs the token refused (`CKR_PIN_INCORRECT`); zeroized on drop like every `Pin`.
    refused: Vec<Pin>,
    /// How many times the token refused a PIN.
    refusals: u64,
}

impl fmt::Debug for PinKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinKeeper").field("source", &self.source).finish_non_exhaustive()
    }
}

impl PinKeeper {
    /// A keeper for `source`, reading it once now (an unreadable source fails fast at open).
    pub(crate) fn open(source: Option<PinSource>) -> Result<Self, PinError> {
        let first = source.as_ref().map(PinSource::read).transpose()?;
        Ok(Self { source, state: Mutex::new(PinState { last_good: first, refused: Vec::new(), refusals: 0 }) })
    }

    /// Whether there is a PIN source at all (`false`: no login, or a PIN pad).
    pub(crate) fn has_source(&self) -> bool {
        self.source.is_some()
    }

    /// The PINs to try, in order: the one the source holds now, then the last accepted one if
    /// it differs. PINs the token refused are left out, so the list may be empty.
    pub(crate) fn candidates(&self) -> Vec<Pin> {
        let fresh = match self.source.as_ref().map(PinSource::read) {
            Some(Ok(pin)) => Some(pin),
            Some(Err(e)) => {
                log::warn!("cannot re-read the PIN ({e}); using the PIN of the last login");
                None
            }
            None => None,
        };
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<Pin> = Vec::with_capacity(2);
        for pin in fresh.into_iter().chain(state.last_good.clone()) {
            if state.refused.iter().any(|r| r.same(&pin)) {
                log::debug!("skipping a PIN the token already refused");
                continue;
            }
            if !out.iter().any(|o| o.same(&pin)) {
                out.push(pin);
            }
        }
        out
    }

    /// Records that the token accepted `pin`.
    pub(crate) fn accepted(&self, pin: &Pin) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_good = Some(pin.clone());
    }

    /// Records that the token refused `pin`: it is never presented again.
    pub(crate) fn refused(&self, pin: &Pin) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_good.as_ref().is_some_and(|g| g.same(pin)) {
            state.last_good = None;
        }
        if !state.refused.iter().any(|r| r.same(pin)) {
            state.refused.push(pin.clone());
        }
        state.refusals += 1;
    }

    /// How many times the token refused a PIN this keeper offered.
    pub(crate) fn refusals(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).refusals
    }

    /// Where the PIN comes from, for log lines (never the PIN).
    pub(crate) fn source(&self) -> Option<&PinSource> {
        self.source.as_ref()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sources() {
        assert_eq!(PinSource::parse("file:/run/pin").unwrap(), PinSource::File("/run/pin".into()));
        assert_eq!(PinSource::parse("file:///run/pin").unwrap(), PinSource::File("/run/pin".into()));
        assert_eq!(PinSource::parse("/run/pin").unwrap(), PinSource::File("/run/pin".into()));
        assert_eq!(PinSource::parse("env:LIT_PIN").unwrap(), PinSource::Env("LIT_PIN".into()));
        for bad in ["env:", "", "|/bin/get-pin", "http://x/pin", "file://host/pin", "file:"] {
            assert!(PinSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_parses_back() {
        // Found by fuzzing (pkcs11_uri): `//x` was shown as `file://x`, which reads as host `x`.
        for s in ["/run/pin", "//uifi", "///a", "//localhost/x", "pin.txt", "/a:b", "env:LIT_PIN"] {
            let source = PinSource::parse(s).unwrap();
            assert_eq!(PinSource::parse(&source.to_string()).unwrap(), source, "{s}");
        }
    }

    #[test]
    fn trims_one_newline_and_redacts() {
        let pin = Pin::new(Zeroizing::new("1234\r\n".to_string())).unwrap();
        assert_eq!(pin.0.as_str(), "1234");
        assert_eq!(format!("{pin:?}"), "Pin([REDACTED])");
        let pin = Pin::new(Zeroizing::new(" 12 34 \n\n".to_string())).unwrap();
        assert_eq!(pin.0.as_str(), " 12 34 \n");
        assert!(Pin::new(Zeroizing::new("\n".to_string())).is_err());
    }

    #[test]
    fn reads_files_and_refuses_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lit-pin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pin");
        std::fs::write(&path, "9876\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pin = PinSource::File(path.clone()).read().unwrap();
        assert_eq!(pin.0.as_str(), "9876");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(PinSource::File(path.clone()).read(), Err(PinError::FilePermissions { .. })));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(PinSource::File(dir.join("missing")).read(), Err(PinError::File { .. })));
        assert!(matches!(PinSource::Env("LIT_SURELY_UNSET_PIN_VAR".into()).read(), Err(PinError::EnvMissing(_))));
    }

    #[test]
    fn keeper_rereads_falls_back_and_never_repeats_a_refused_pin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lit-pin-keeper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pin");
        let write = |v: &str| {
            std::fs::write(&path, v).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        write("1111\n");
        let keeper = PinKeeper::open(Some(PinSource::File(path.clone()))).unwrap();
        let texts = |k: &PinKeeper| k.candidates().iter().map(|p| p.0.to_string()).collect::<Vec<_>>();
        assert_eq!(texts(&keeper), ["1111"]);
        keeper.accepted(&keeper.candidates()[0]);
        // A new PIN in the file is tried first, the accepted one after it.
        write("2222\n");
        assert_eq!(texts(&keeper), ["2222", "1111"]);
        keeper.refused(&keeper.candidates()[0]);
        assert_eq!(texts(&keeper), ["1111"], "a refused PIN is never presented again");
        // Unreadable source: the last accepted PIN.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(texts(&keeper), ["1111"]);
        // The accepted PIN refused too (PIN changed on the token): nothing left to try.
        keeper.refused(&keeper.candidates()[0]);
        assert!(keeper.candidates().is_empty());
        write("3333\n");
        assert_eq!(texts(&keeper), ["3333"]);
        assert!(!format!("{keeper:?}").contains("3333"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
