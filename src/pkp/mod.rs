//! PKP and Lit Action session signatures (`getPkpSessionSigs`, `getLitActionSessionSigs`).
//!
//! Here the AuthSig is not signed by a wallet: every Lit node checks the auth methods (or runs
//! the Lit Action), rewrites the client's SIWE and signs it with its share of the network's BLS
//! key through `POST /web/sign_session_key/v1`; the client combines enough shares into a
//! `LIT_BLS` AuthSig ([`crate::bls`]) and signs the per-node session messages with its
//! (HSM or in-memory) session key, that AuthSig as the last capability.
//!
//! - [`PkpSessionSigsRequest`]: the SDK's SIWE and request body, and the whole flow.
//! - [`sign_session_key_on_nodes`]: all nodes at once, per-node timeouts, a minimum number of
//!   usable answers, errors naming each failed node.
//! - [`NodeTransport`]: one request to one node; [`HttpTransport`] (feature `http`) does it
//!   with reqwest + rustls.
//!
//! The bytes of the exchange (request body, headers, the node's answer, auth methods, Lit
//! Actions, the PKP key's encoding) are [`crate::protocol::sign_session_key`]'s; they are
//! re-exported here.
//!
//! ```no_run
//! # #[cfg(feature = "http")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
//! use lit_session_signer::pkp::{auth_method_type, AuthMethod, HttpTransport, PkpSessionSigsRequest, QuorumOptions};
//!
//! let store = MemoryKeyStore::new(); // or a PKCS#11 store
//! let key = store.generate("session")?;
//! let nodes = vec!["https://node-1.example:443".parse()?, "https://node-2.example:443".parse()?];
//! let request = PkpSessionSigsRequest::new(
//!     nodes,
//!     "0x04…".parse()?,
//!     vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, "eyJ…")],
//!     vec!["lit-pkp://*=pkp-signing".parse()?],
//!     "0x<latest block hash>",
//!     42, // epoch
//! );
//! let sigs = request.sign(&HttpTransport::new()?, &store, &key, &QuorumOptions::new(2)).await?;
//! println!("{}", sigs.session_sigs.to_json());
//! # Ok(())
//! # }
//! ```

mod auth_callback;
#[cfg(feature = "http")]
mod http;
mod response;
mod session;
mod sign_session_key;
mod transport;

pub use auth_callback::PkpAuthCallback;
#[cfg(feature = "http")]
pub use http::{HttpTransport, HttpTransportError};
pub use response::{node_error_message, ResponseError};
pub use session::{PkpSessionError, PkpSessionSigs, PkpSessionSigsRequest, DEFAULT_PKP_DOMAIN, PKP_STATEMENT};
#[doc(hidden)]
pub use sign_session_key::SignOptions;
pub use sign_session_key::{
    sign_session_key_on_nodes, NodeFailure, NodeFailureReason, NodeFailures, QuorumOptions, SignSessionKeyError,
    SignedSessionKey, DEFAULT_NODE_TIMEOUT,
};
pub use transport::{NodeTransport, TransportError};

// The endpoint's wire format lives with the other formats; these paths stay for callers.
pub use crate::protocol::sign_session_key::{
    auth_method_type, AuthMethod, AuthMethodError, EncodedRequest, LitAction, LitActionError, LitActionSource,
    PkpPublicKey, PkpPublicKeyError, SignSessionKeyRequest, SignSessionKeyResponse, SignatureShareJson, CURVE_TYPE_BLS,
    SDK_TYPE, SDK_VERSION, SIGN_SESSION_KEY_PATH,
};
