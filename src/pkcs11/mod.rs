//! PKCS#11: the only code in the crate that talks to a token (an HSM in production; SoftHSM2
//! and Kryoptic, two independent modules, in tests).
//!
//! It knows nothing about Lit, and nothing about which key a backend keeps: the ed25519
//! session-key store ([`keystore::Pkcs11KeyStore`](crate::keystore::Pkcs11KeyStore)) and the
//! secp256k1 wallet ([`wallet::Pkcs11Wallet`](crate::wallet::Pkcs11Wallet)) are thin adapters
//! that describe their key pairs as a key spec and leave sessions, login, recovery and errors
//! to this layer.
//!
//! What a user needs to open a store or a wallet and to understand its errors is exported
//! here: the [`Pkcs11Uri`] that names module, token, key and [`PinSource`], or an explicit
//! [`TokenConfig`] ([`TokenSelector`], [`SessionMode`], [`RecoveryPolicy`]); the
//! [`RecoveryStats`] of a running token; a key's [`KeyAttributes`]; and [`Pkcs11Error`] with its
//! [`Pkcs11ErrorKind`], [`ErrorContext`] and [`Retry`] class. The README's section "PKCS#11
//! errors: what they mean and what to do" lists every kind and `CKR_*` code.
//!
//! Inside, one job per file, each named for what it wraps:
//!
//! - `context`: one process-wide, initialised PKCS#11 context per module, re-initialised
//!   safely (RwLock) after token loss or `fork()`;
//! - `slot`: the token chosen by label or serial, never by slot id; mechanism probe;
//! - `session_pool`: the logged-in anchor session and a bounded session pool;
//! - `token`: `Pkcs11Token`, which runs calls with recovery (re-find handles, re-login,
//!   reconnect, re-initialise with backoff);
//! - `key_spec`: one description per curve (Ed25519, secp256k1) of how its key pairs are
//!   generated, found, read and used;
//! - `attributes`: the protected key template and the attributes that prove a key never left
//!   the token;
//! - `uri`: RFC 7512 PKCS#11 URIs; `pin`: the PIN from a file or an environment variable;
//! - `ec_point`: `CKA_EC_POINT` in every encoding tokens use;
//! - `error`, `error_guide` and `ckr`: the error type, what each kind and `CKR_*` code means
//!   (retry class, automatic recovery, operator action), and the `CKR_*` names.
//!
//! Benches, fuzz targets and the hsm tests reach the raw pieces through the hidden
//! `internal::pkcs11` module, which is not part of the stable interface.

pub(crate) mod attributes;
pub(crate) mod ckr;
pub(crate) mod context;
pub(crate) mod ec_point;
pub(crate) mod error;
pub(crate) mod error_guide;
pub(crate) mod key_spec;
pub(crate) mod pin;
pub(crate) mod session_pool;
pub(crate) mod signing_plan;
pub(crate) mod slot;
pub(crate) mod token;
pub(crate) mod uri;
pub(crate) mod workers;

pub use attributes::KeyAttributes;
pub use error::{ErrorContext, KeySelector, Pkcs11Error};
pub use error_guide::{Pkcs11ErrorKind, Retry};
pub use pin::{Pin, PinError, PinSource};
pub use session_pool::SessionMode;
pub use slot::TokenSelector;
pub use token::{RecoveryPolicy, RecoveryStats, TokenConfig};
pub use uri::{ObjectType, Pkcs11Uri, UriError};
