//! # lit-session-signer
//!
//! Lit Protocol session signatures (AuthSigs and per-node SessionSigs) whose session key can live
//! in a hardware security module.
//!
//! Data flows one way: [`resources`] → [`recap`] → [`siwe`] → [`auth_sig`] → [`session_sigs`].
//! Keys live behind two small traits: [`keystore::SessionKeyStore`] (ed25519 session keys) and
//! [`wallet::WalletSigner`] (the secp256k1 wallet that signs the AuthSig). The Lit formats never
//! see how keys are stored, and the stores never see Lit formats.
//!
//! ```
//! use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
//! use lit_session_signer::session_sigs::SessionSigsRequest;
//! use lit_session_signer::wallet::MemoryWallet;
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
pub mod eth;
#[doc(hidden)]
pub mod internal;
pub mod jcs;
pub mod keystore;
pub mod manager;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod pkp;
pub mod recap;
pub mod resources;
pub mod secret_file;
pub mod session_sigs;
pub mod siwe;
pub mod timestamp;
pub mod verify;
pub mod wallet;

pub use timestamp::Timestamp;

// Compile and run the README's examples as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
