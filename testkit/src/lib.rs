//! Test support shared by the workspace's crates (a dev-dependency only; never published), so
//! their test trees do not include each other's files by path.
//!
//! - [`layering`]: the scanner behind each crate's import-rule test.

pub mod layering;
