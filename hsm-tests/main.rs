//! Integration tests of the PKCS#11 session-key store against a real SoftHSM2 token.
//!
//! Each test process creates its own throwaway tokens (see `common`), unless
//! `LIT_PKCS11_MODULE`, `LIT_PKCS11_TOKEN` and `LIT_PKCS11_PIN_FILE` name one. Without
//! SoftHSM2 the tests skip loudly, or fail when `LIT_REQUIRE_HSM=1`.

mod common;

mod attributes;
mod concurrency;
mod error_messages;
mod errors;
mod logging;
mod manager;
mod modules;
mod persistence;
mod pkp;
mod recovery;
mod secret_hygiene;
mod session_sigs;
mod signing;
mod wallet;
