//! Shared by the integration tests: the SDK vectors, loaded by path, and the binary.

#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// `../shared/vectors/<name>` (or `$LIT_VECTORS_DIR/<name>`), parsed.
pub fn vector(name: &str) -> Value {
    let dir = std::env::var_os("LIT_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"));
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Runs `lit-session` with `args`.
pub fn lit_session(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lit-session")).args(args).output().unwrap()
}
