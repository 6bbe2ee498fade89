//! Throwaway tokens on every PKCS#11 module the tests run on, made in one place for the hsm
//! tests, the `hsm-stress` example and the benches (they include this file with `#[path]`).
//!
//! Two independent modules: SoftHSM2 (C++, Debian's OpenSSL 3.0, a directory of files per
//! token) and Kryoptic (Rust, a static OpenSSL 3.6, one sqlite file per token, built by
//! `scripts/kryoptic.sh`). Each reads its configuration at `C_Initialize`, so
//! [`ThrowawayTokens::activate`] must run before the module's first PKCS#11 call in the process.
//! Every token gets random SO and user PINs; the user PIN is in a 0600 file.

#![allow(dead_code)] // each user needs a subset

pub mod faults;
pub mod kryoptic;
pub mod softhsm;

use std::fmt;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// A PKCS#11 module the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// SoftHSM2 2.6.1 from Debian.
    SoftHsm2,
    /// Kryoptic 1.5.4 from crates.io.
    Kryoptic,
}

impl Module {
    /// Every module, in the order tests and reports list them.
    pub const ALL: [Module; 2] = [Module::SoftHsm2, Module::Kryoptic];

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::SoftHsm2 => "SoftHSM2",
            Self::Kryoptic => "Kryoptic",
        }
    }

    /// Lower case, for test names and command-line flags.
    pub fn id(self) -> &'static str {
        match self {
            Self::SoftHsm2 => "softhsm2",
            Self::Kryoptic => "kryoptic",
        }
    }

    /// The module named `id` (see [`id`](Self::id)).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The module's library, or why it is not there.
    pub fn library(self) -> Result<PathBuf, String> {
        match self {
            Self::SoftHsm2 => softhsm::find_module().ok_or_else(|| "libsofthsm2.so not found".to_string()),
            Self::Kryoptic => kryoptic::find_library(),
        }
    }

    /// Whether the module can generate secp256k1 keys. Kryoptic 1.5.4 lists
    /// `CKM_EC_KEY_PAIR_GEN` but has no secp256k1 tables (`CKR_GENERAL_ERROR`).
    pub fn makes_secp256k1_keys(self) -> bool {
        self == Self::SoftHsm2
    }

    /// Whether a `C_Logout` may be made while other threads are inside calls on the token.
    /// Kryoptic 1.5.4 takes its token and session locks in opposite orders in `C_Logout` and
    /// `C_SignInit`, so such a logout deadlocks the module: faults inject it with no call in
    /// flight. SoftHSM2 survives it (answering `CKR_GENERAL_ERROR` at worst), and the tests
    /// keep that race.
    pub fn logout_may_race_calls(self) -> bool {
        self == Self::SoftHsm2
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A token made here.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its label.
    pub label: String,
    /// A 0600 file holding the user PIN.
    pub pin_file: PathBuf,
}

/// A private directory with a module configuration and tokens in it.
#[derive(Debug)]
pub struct ThrowawayTokens {
    /// Which module.
    pub module: Module,
    /// The module's library.
    pub library: PathBuf,
    /// The temporary directory (configuration, token storage, PIN files).
    pub dir: PathBuf,
    /// The module configuration.
    conf: PathBuf,
    /// One token per label given to [`create`](Self::create), in that order.
    pub tokens: Vec<Token>,
}

impl ThrowawayTokens {
    /// Makes a temporary directory, the module's configuration, and one token per label, with
    /// the module's own tools (`softhsm2-util`; `pkcs11-tool` for Kryoptic). Does not touch
    /// this process's environment.
    pub fn create(module: Module, labels: &[&str]) -> Result<Self, String> {
        let library = module.library()?;
        let dir = private_dir(&format!("lit-{}", module.id()))?;
        let (conf, tokens) = match module {
            Module::SoftHsm2 => softhsm::create(&dir, labels)?,
            Module::Kryoptic => kryoptic::create(&library, &dir, labels)?,
        };
        Ok(Self { module, library, dir, conf, tokens })
    }

    /// Points this process's module at the configuration. Call before the module's first
    /// PKCS#11 call.
    pub fn activate(&self) {
        std::env::set_var(self.conf_var(), &self.conf);
    }

    /// The environment variable the module reads its configuration from.
    pub fn conf_var(&self) -> &'static str {
        match self.module {
            Module::SoftHsm2 => softhsm::CONF_VAR,
            Module::Kryoptic => kryoptic::CONF_VAR,
        }
    }

    /// The module configuration file (what [`conf_var`](Self::conf_var) must name in a child
    /// process's environment).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The first token.
    pub fn main(&self) -> &Token {
        &self.tokens[0]
    }

    /// SoftHSM2's token directory (one subdirectory per token); `None` for Kryoptic, which
    /// keeps each token in a sqlite file it holds open.
    pub fn softhsm_tokens_dir(&self) -> Option<PathBuf> {
        (self.module == Module::SoftHsm2).then(|| self.dir.join("tokens"))
    }

    /// SoftHSM2's directory of the token labelled `label` (moving it away makes the token
    /// vanish); `None` for Kryoptic or when no such token exists.
    pub fn softhsm_token_dir(&self, label: &str) -> Option<PathBuf> {
        std::fs::read_dir(self.softhsm_tokens_dir()?).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|dir| {
            std::fs::read(dir.join("token.object")).is_ok_and(|b| b.windows(label.len()).any(|w| w == label.as_bytes()))
        })
    }
}

/// Twelve random digits.
fn random_pin() -> String {
    format!("{:012}", OsRng.next_u64() % 1_000_000_000_000)
}

/// A new 0700 directory under the temporary directory.
fn private_dir(prefix: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{:016x}", std::process::id(), OsRng.next_u64()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A private directory for PIN files of extra tokens (set-ups that come from the environment).
pub fn scratch_dir() -> Result<PathBuf, String> {
    private_dir("lit-hsm-aux")
}

/// Writes `pin` into a new 0600 file `<dir>/<label>.pin`.
fn write_pin_file(dir: &Path, label: &str, pin: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let pin_file = dir.join(format!("{label}.pin"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&pin_file)
        .map_err(|e| format!("cannot write {}: {e}", pin_file.display()))?;
    std::io::Write::write_all(&mut f, format!("{pin}\n").as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", pin_file.display()))?;
    Ok(pin_file)
}

/// Runs a token tool; the error holds its output.
fn run_tool(mut command: std::process::Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}
