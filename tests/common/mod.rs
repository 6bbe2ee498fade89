//! Shared by the integration tests: the SDK vectors, loaded by path, and the binary.

#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use lit_testkit::env;
pub use lit_testkit::env::write_private;

/// `tests/vectors/<name>` (see its README for where each file came from), parsed.
pub fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Runs `lit-session` with `args`.
pub fn lit_session(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lit-session")).args(args).output().unwrap()
}

/// The JS interop folder (`interop/`).
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// The JS interop folder for the Lit JS SDK v8 (Naga) (`interop/v8/`).
pub fn v8_interop_dir() -> PathBuf {
    interop_dir().join("v8")
}

/// Whether the Lit JS SDK can run (node and `interop/node_modules`). Panics instead of skipping
/// when `LIT_REQUIRE_INTEROP=1` (CI); otherwise prints a loud skip line naming `what`.
pub fn js_available(what: &str) -> bool {
    env::js_ready(&interop_dir(), "@lit-protocol/lit-node-client-nodejs", "interop/", what)
}

/// Like [`js_available`], for the Lit JS SDK v8 (node and `interop/v8/node_modules`).
pub fn js_v8_available(what: &str) -> bool {
    env::js_ready(&v8_interop_dir(), "@lit-protocol/networks", "interop/v8/", what)
}

/// A temporary directory for a test's input files.
pub struct Fixture {
    /// The directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A fresh directory.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    /// Files are written 0600: key files must be (the secret-file rule), and it does not matter
    /// for the others.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        write_private(&p, contents.as_bytes());
        p.to_str().unwrap().to_string()
    }
}
