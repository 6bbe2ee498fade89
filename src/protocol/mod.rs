//! The Lit wire formats: every byte format that crosses a process boundary, defined once and
//! shared by the code that writes it and the code that reads it.
//!
//! - [`node_url`]: node URLs as they key a sessionSigs map and are signed as `nodeAddress`,
//!   a checked [`NodeList`], and the node's comparison form of an address.
//! - [`auth_sig`]: the JSON AuthSig ([`JsonAuthSig`]) of wallets, the network and session
//!   signatures, its `derivedVia`/`algo` values and its key order.
//! - [`session_message`]: the per-node signed message, writer and reader, per
//!   [`SessionFormat`] (Datil's V1, Naga's V2 with its per-node `maxPrice`).
//! - [`price`]: the `U256` amounts Naga reads ([`Price`]): `maxPrice`, node prices, the
//!   payment-delegation `max_price`.
//! - [`sign_session_key`]: the PKP `sign_session_key` request, headers and answer.
//!
//! Nothing here signs, sends or decides: minting is [`crate::session_sigs`] and [`crate::pkp`],
//! checking is [`crate::verify`].

pub mod auth_sig;
pub mod node_url;
pub mod price;
pub mod session_message;
pub mod sign_session_key;

pub use auth_sig::{
    is_lit_bls, session_key_uri, AuthMaterialType, CapabilityAuthSig, JsonAuthSig, JsonStr, NodeAuthSig, ALGO_ED25519,
    ALGO_LIT_BLS, AUTH_SIG_KEYS, DERIVED_VIA_CONTRACT, DERIVED_VIA_CONTRACT_SHA256, DERIVED_VIA_LIT_BLS,
    DERIVED_VIA_SESSION, DERIVED_VIA_WALLET, SESSION_URI_PREFIX,
};
pub use node_url::{normalize_node_address, NodeList, NodeListError, NodeUrl, NodeUrlError};
pub use price::{Price, PriceError};
pub use session_message::{
    MessageError, MessageWriter, NodeFields, SessionFormat, SessionKeySignedMessage, SignedMessage, SignedRequest,
    SignedResource,
};
