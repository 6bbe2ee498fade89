//! **Not part of the stable interface.** Pieces that the `lit-session` binary, the fuzz targets,
//! the benches and the PKCS#11 tests need but library users should not build on; they may
//! change or vanish in any release. Everything a user needs is exported elsewhere.

pub mod cli;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
