//! Everything the service takes from the `lit-session-signer` library, in one module: signer
//! profiles (key stores and wallets built from the configuration, each with its session
//! manager), request parsing (resources, node URLs, times, prices), verification, capacity and
//! payment delegation. The rest of the crate sees only the types re-exported here and the
//! functions below, so a change of the library's layout changes this folder only.
//!
//! - [`profile`]: a signer profile and what it signs ([`Profile::mint`], the delegations).
//! - [`input`]: values from requests and files, parsed as the library parses them.
//! - [`verify`]: a sessionSigs map checked by a network's node rules.
//! - [`auth_sigs`]: the AuthSig cache's rows as the store keeps them.

mod audit_key;
pub mod auth_sigs;
pub mod input;
pub mod profile;
pub mod verify;

use std::error::Error;

use serde::{Deserialize, Serialize};

pub use lit_session_signer::auth_sig::AuthSig;
pub use lit_session_signer::error_chain;
pub use lit_session_signer::eth::EthAddress;
pub use lit_session_signer::keystore::VerifyingKey;
pub use lit_session_signer::manager::{
    AsyncAuthSigStore, AsyncMintLock, AuthSigKey, AuthSigStore, AuthStoreError, MintLock, StoreFailure,
};
pub use lit_session_signer::payment_delegation::PaymentScope;
pub use lit_session_signer::pricing::{MaxPrice, NodePricing, PricingError};
pub use lit_session_signer::protocol::{NodeUrl, Price, PriceError, SessionFormat};
pub use lit_session_signer::resources::{LitAbility, ResourceAbilityRequest, ResourcePrefix};
/// The library's one rule for secret files, which the command line applies too ([`crate::secrets`]).
pub use lit_session_signer::secret_file::{check_permissions, read_secret, read_secret_text, SecretFileError};
pub use lit_session_signer::session_sigs::V8_SESSION_LIFETIME;
pub use lit_session_signer::verify::{Generation, Route};
pub use lit_session_signer::Timestamp;

pub use audit_key::{AuditKey, AuditKeySpec};
pub use auth_sigs::{auth_sig_expiration, corrupt_entry, parse_auth_sig, store_failure};
pub use input::{
    address_key, check_delegation_capability, check_payment_delegation, normalize_id, parse_ability, parse_node_url,
    parse_prefix, parse_request, parse_scope, parse_time, resource_request, CapabilityError, InputError,
};
pub use profile::{
    pkcs11_generate_session_key, pkcs11_generate_wallet, session_uri_names_key, CapacityInput, KeyFamily, KeyRotation,
    MintInput, Minted, OpenError, PaymentInput, Profile, ProfileSpec, SessionKeyHandle, SessionKeySpec, TokenKey,
    UriProblem, WalletSpec,
};
pub use verify::{verify_map, verify_map_with, VerifyOptions, VerifyOutcome};

/// An error with its causes, as signing failures carry them.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// One axis with three names: a session's message format as the API and the policy file name
/// it, the library's message layout, and the network whose nodes take it.
///
/// | `format` | [`SessionFormat`] | network ([`Generation`]) | JS SDK | signed `maxPrice` |
/// |---|---|---|---|---|
/// | `v7` | `V1` | Datil | v7 | no |
/// | `v8` | `V2` | Naga | v8 | yes, per node |
///
/// (A Datil verifier reads both messages; a Naga one only the v8 message.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `v7`: Datil (JS SDK v7), no `maxPrice`.
    V7,
    /// `v8`: Naga (JS SDK v8), a signed `maxPrice` per node.
    V8,
}

impl Format {
    /// `v7` or `v8`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V7 => "v7",
            Self::V8 => "v8",
        }
    }

    /// Parses `v7` or `v8`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::V7, Self::V8].into_iter().find(|f| f.as_str() == s)
    }

    /// The library's message layout.
    pub const fn session_format(self) -> SessionFormat {
        match self {
            Self::V7 => SessionFormat::V1,
            Self::V8 => SessionFormat::V2,
        }
    }

    /// The network whose nodes take this format.
    pub const fn network(self) -> Generation {
        match self {
            Self::V7 => Generation::Datil,
            Self::V8 => Generation::Naga,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network by the name `/v1/verify` takes: `datil` or `naga` (see [`Format`]).
pub fn network(name: &str) -> Option<Generation> {
    [Format::V7, Format::V8].into_iter().map(Format::network).find(|g| network_name(*g) == name)
}

fn network_name(g: Generation) -> &'static str {
    match g {
        Generation::Datil => "datil",
        Generation::Naga => "naga",
    }
}

/// Where a minting request's AuthSig came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthUse {
    /// The cached one.
    Reused,
    /// Another process sharing the store and session key had just signed it.
    Waited,
    /// The wallet signed a new one.
    Signed,
}

impl AuthUse {
    /// `reused`, `waited` or `signed` (responses, audit rows, metrics).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reused => "reused",
            Self::Waited => "waited",
            Self::Signed => "signed",
        }
    }
}

/// Which key of a profile failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The session key.
    SessionKey,
    /// The wallet.
    Wallet,
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SessionKey => "session key",
            Self::Wallet => "wallet",
        })
    }
}

/// Why a signing call failed, classified for the HTTP status; each carries its cause. The
/// text is the full chain (for the log and the audit row), except a refused request's, which is
/// the library's own message and what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The request cannot be signed as given (bad expiration, capability AuthSig, domain, …).
    #[error("{0}")]
    Request(Cause),
    /// The session key or wallet store cannot sign (HSM down, key missing, …).
    #[error("{}", hsm_text(*.part, &**.cause))]
    Hsm {
        /// Which key, when the library said.
        part: Option<KeyPart>,
        /// What failed.
        cause: Cause,
    },
    /// The AuthSig signer refused or returned something unusable.
    #[error("{}", error_chain(&**.0))]
    Signer(Cause),
    /// The AuthSig store failed (cannot be reached or refused).
    #[error("{}", error_chain(&**.0))]
    Store(Cause),
    /// The AuthSig store is up but the call waited too long (a lock, a connection).
    #[error("{}", error_chain(&**.0))]
    StoreBusy(Cause),
    /// A bug or a dead background task.
    #[error("{}", error_chain(&**.0))]
    Internal(Cause),
}

fn hsm_text(part: Option<KeyPart>, cause: &(dyn Error + 'static)) -> String {
    match part {
        Some(p) => format!("{p}: {}", error_chain(cause)),
        None => error_chain(cause),
    }
}

/// A failure with what was being done: `what: cause`.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct Context {
    what: &'static str,
    #[source]
    cause: Cause,
}

impl Context {
    /// `cause` while doing `what`.
    pub fn new(what: &'static str, cause: impl Into<Cause>) -> Self {
        Self { what, cause: cause.into() }
    }
}

/// A fresh random value of `bytes` bytes, as hex (tokens: 32, request ids: 16).
pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; bytes]);
    rand_core::OsRng.fill_bytes(&mut buf);
    hex::encode(&*buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one table of the format axis, and the names each end takes.
    #[test]
    fn formats_map_to_one_layout_and_one_network() {
        assert_eq!((Format::V7.session_format(), Format::V7.network()), (SessionFormat::V1, Generation::Datil));
        assert_eq!((Format::V8.session_format(), Format::V8.network()), (SessionFormat::V2, Generation::Naga));
        assert_eq!((Format::parse("v8"), Format::parse("V8")), (Some(Format::V8), None));
        assert_eq!(serde_json::to_string(&Format::V7).unwrap(), "\"v7\"");
        assert_eq!(
            (network("datil"), network("naga"), network("habanero")),
            (Some(Generation::Datil), Some(Generation::Naga), None)
        );
        assert_eq!(serde_json::to_string(&AuthUse::Waited).unwrap(), "\"waited\"");
    }

    #[test]
    fn failures_read_as_their_chain_and_a_refusal_as_the_librarys_message() {
        let io = std::io::Error::other("token gone");
        let e = SignError::Hsm { part: Some(KeyPart::Wallet), cause: Box::new(Context::new("sign", io)) };
        assert_eq!(e.to_string(), "wallet: sign: token gone");
        let e = SignError::Internal(Box::new(Context::new("background task failed", std::io::Error::other("panic"))));
        assert_eq!(e.to_string(), "background task failed: panic");
    }
}
