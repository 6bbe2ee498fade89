//! A [`SessionKeyStore`](crate::keystore::SessionKeyStore) on any PKCS#11 token with
//! `CKM_EDDSA` (an HSM in production, SoftHSM2 in tests).
//!
//! One job per file, and everything except [`store`] is free of ed25519 specifics so a
//! secp256k1 signer can reuse it:
//!
//! - [`context`]: one process-wide, initialised PKCS#11 context per module, re-initialised
//!   safely (RwLock) after token loss or `fork()`;
//! - [`slot`]: the token chosen by label or serial, never by slot id; mechanism probe;
//! - [`session_pool`]: the logged-in anchor session and a bounded session pool;
//! - [`token`]: [`Pkcs11Token`], which runs calls with recovery (re-find handles, re-login,
//!   reconnect, re-initialise with backoff);
//! - [`uri`]: RFC 7512 PKCS#11 URIs; [`pin`]: the PIN from a file or an environment variable;
//! - [`ec_point`]: `CKA_EC_POINT` in every encoding tokens use; [`error`]: [`Pkcs11Error`];
//! - [`error_guide`]: what each `CKR_*` code and error kind means, retry class, operator action;
//! - [`store`]: [`Pkcs11KeyStore`], the ed25519 session-key store.

pub mod attributes;
pub mod context;
pub mod ec_point;
pub mod error;
pub mod error_guide;
pub mod pin;
pub mod session_pool;
pub mod slot;
pub mod store;
pub mod token;
pub mod uri;

pub use attributes::{check_born_on_token, generate_protected_pair, read_key_attributes, KeyAttributes};
pub use error::{ErrorContext, KeySelector, Pkcs11Error};
pub use error_guide::{AutoRecovery, Retry};
pub use pin::{Pin, PinError, PinSource};
pub use session_pool::SessionMode;
pub use slot::TokenSelector;
pub use store::{KeyOptions, Pkcs11KeyStore};
pub use token::{Pkcs11Token, RecoveryPolicy, RecoveryStats, TokenConfig};
pub use uri::{ObjectType, Pkcs11Uri, UriError};
