//! # lit-session-signer
//!
//! Lit Protocol session signatures (AuthSigs and per-node SessionSigs) whose session key can live
//! in a hardware security module.
//!
//! Data flows one way: [`resources`] → [`recap`] → [`siwe`] → [`auth_sig`] → [`session_sigs`],
//! with the bytes that cross to the Lit nodes defined once in [`protocol`] (node URLs, the JSON
//! AuthSig, the per-node signed message, the PKP `sign_session_key` exchange), which the minting
//! side ([`session_sigs`], [`pkp`], [`manager`]) writes and [`verify`] reads.
//! Two message formats are written ([`protocol::SessionFormat`]): the JS SDK v7's for Datil
//! nodes (the default) and the JS SDK v8's for Naga nodes, with a per-node `maxPrice` chosen by
//! [`pricing`] and payment delegations ([`payment_delegation`]) instead of capacity credits.
//! Keys live behind two small traits: [`keystore::SessionKeyStore`] (ed25519 session keys) and
//! [`wallet::WalletSigner`] (the secp256k1 wallet that signs the AuthSig). The Lit formats never
//! see how keys are stored, and the stores never see Lit formats; `pkcs11` is the one layer
//! that talks to tokens, under both the PKCS#11 key store and the PKCS#11 wallet.
//!
//! Sync and async: key stores and wallets are synchronous, because HSM calls are blocking FFI;
//! [`manager::SessionManager`] and the PKP flow ([`pkp`]) are async (tokio) and move blocking
//! calls off the runtime onto the blocking pool (only for stores whose
//! [`may_block`](keystore::SessionKeyStore::may_block) says so).
//!
//! ```
//! use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
//! use lit_session_signer::wallet::MemoryWallet;
//! use lit_session_signer::SessionSigsRequest;
//!
//! let store = MemoryKeyStore::new();
//! let session_key = store.generate("session").unwrap();
//! let wallet = MemoryWallet::random().unwrap();
//! let nodes = vec!["https://127.0.0.1:7470".parse().unwrap(), "https://127.0.0.1:7471".parse().unwrap()];
//! let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
//! let request = SessionSigsRequest::new(nodes, requests, "0x3a9c4f1e8b7d6a5c4b3a2918");
//! let session_sigs = request.sign(&store, &session_key, &wallet).unwrap();
//! println!("{}", session_sigs.to_json());
//! ```
#![warn(missing_docs)]

pub mod auth_sig;
pub mod bls;
pub mod capacity_delegation;
pub mod ed25519;
mod error_chain;
pub mod eth;
#[doc(hidden)]
pub mod internal;
pub mod jcs;
pub mod keystore;
#[cfg(test)]
mod layering;
pub mod manager;
pub mod payment_delegation;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod pkp;
pub mod pricing;
pub mod protocol;
pub mod recap;
pub mod resources;
pub mod secret_file;
pub mod session_sigs;
pub mod siwe;
pub mod timestamp;
pub mod verify;
pub mod wallet;

// The main types, for `use lit_session_signer::{…}`.
pub use auth_sig::AuthSig;
pub use error_chain::error_chain;
#[cfg(feature = "pkcs11")]
pub use keystore::Pkcs11KeyStore;
pub use keystore::{MemoryKeyStore, SessionKeyStore};
pub use manager::SessionManager;
#[cfg(feature = "pkcs11")]
pub use pkcs11::Pkcs11Uri;
pub use protocol::{NodeUrl, SessionFormat};
pub use resources::ResourceAbilityRequest;
pub use session_sigs::{SessionSig, SessionSigs, SessionSigsRequest};
pub use timestamp::Timestamp;
pub use verify::Verifier;
#[cfg(feature = "pkcs11")]
pub use wallet::Pkcs11Wallet;
pub use wallet::{MemoryWallet, WalletSigner};

// Compile and run the README's examples as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
