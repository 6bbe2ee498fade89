//! How to reach a token ([`TokenConfig`]) and how hard to try when it fails
//! ([`RecoveryPolicy`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::pkcs11::error::{Pkcs11Error, Problem};
use crate::pkcs11::pin::PinSource;
use crate::pkcs11::session_pool::SessionMode;
use crate::pkcs11::slot::TokenSelector;
use crate::pkcs11::uri::Pkcs11Uri;

/// How hard to try before giving up on a failing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    /// First wait before retrying after a token or device failure.
    pub initial_backoff: Duration,
    /// Ceiling of the doubling wait.
    pub max_backoff: Duration,
    /// Longest wait, before a login or a re-initialisation, for the calls in flight on the
    /// module to return (they must not race it); then the operation fails with
    /// [`ModuleBusy`](crate::pkcs11::Pkcs11ErrorKind::ModuleBusy) rather than hang behind a call that
    /// never returns.
    pub module_busy_wait: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(2),
            module_busy_wait: Duration::from_secs(10),
        }
    }
}

/// How to reach a token: module, token, PIN, pool and recovery settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenConfig {
    /// The PKCS#11 library.
    pub module: PathBuf,
    /// Which token.
    pub token: TokenSelector,
    /// Where the user PIN comes from; `None` for tokens without login or with a protected
    /// authentication path (PIN pad).
    pub pin: Option<PinSource>,
    /// Pool size; default 2 × CPUs, always capped by the token's session limit.
    pub pool_size: Option<usize>,
    /// R/W (default) or R/O pool sessions.
    pub session_mode: SessionMode,
    /// Retry and backoff settings.
    pub recovery: RecoveryPolicy,
}

impl TokenConfig {
    /// A configuration with defaults for pool, session mode and recovery.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector, pin: Option<PinSource>) -> Self {
        Self {
            module: module.into(),
            token,
            pin,
            pool_size: None,
            session_mode: SessionMode::ReadWrite,
            recovery: RecoveryPolicy::default(),
        }
    }

    /// The module, token and PIN source of a PKCS#11 URI. `module-path` and a token
    /// attribute (`token=`, `serial=`, …) are required; `module-name` alone is refused because
    /// this crate does not consult a module registry.
    pub fn from_uri(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        let module = match (&uri.module_path, &uri.module_name) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => {
                return Err(Pkcs11Error::config(format!(
                    "module-name={name} is not resolved; give module-path=/path/to/module.so"
                )))
            }
            (None, None) => return Err(Pkcs11Error::config("the URI has no module-path=/path/to/module.so")),
        };
        let token = TokenSelector::from_uri(uri);
        if token == TokenSelector::default() {
            return Err(Problem::NoTokenSelector.into());
        }
        Ok(Self::new(module, token, uri.pin_source.clone()))
    }
}
