//! Integration tests of the PKCS#11 key backends against real tokens on two independent
//! modules, SoftHSM2 and Kryoptic: each test written once runs on both (`hsm_test!`).
//!
//! Each test process creates its own throwaway tokens (see `common`); `LIT_PKCS11_MODULE`,
//! `LIT_PKCS11_TOKEN` and `LIT_PKCS11_PIN_FILE` replace the SoftHSM2 ones, and
//! `LIT_KRYOPTIC_MODULE` names Kryoptic's library (`scripts/kryoptic.sh` builds it). Without a
//! module its tests skip loudly, or fail when `LIT_REQUIRE_HSM=1`.

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
