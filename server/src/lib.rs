//! # lit-session-server
//!
//! An HTTP service that mints Lit Protocol session signatures with a session key (and wallet)
//! held in an HSM over PKCS#11, or in memory: clients authenticate (bearer tokens or mTLS), a
//! policy decides what each may ask for, every decision goes to a hash-chained audit log, and
//! Prometheus metrics and health endpoints report what the service can do.
//!
//! Everything the service takes from the `lit-session-signer` library goes through
//! [`signing`].
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod audit;
pub mod audit_jobs;
pub mod auth;
pub mod config;
pub mod dev;
pub mod duration;
pub mod endpoint;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod problem;
pub mod ratelimit;
pub mod run;
pub mod secrets;
pub mod server;
pub mod signing;
pub mod spool;
pub mod store;
pub mod tls;

mod layering;
