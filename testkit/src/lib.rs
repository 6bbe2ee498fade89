//! Test support shared by the workspace's crates (a dev-dependency only; never published), so
//! their test trees do not include each other's files by path.
//!
//! - [`layering`]: the scanner behind each crate's import-rule test.
//! - [`env`]: tools an interop test needs (a loud skip or, in CI, a failure) and owner-only files.

pub mod env;
pub mod layering;
