//! Throwaway SoftHSM2 tokens, shared by the hsm tests and the `pkcs11_sign` bench
//! (included there with `#[path]`), so both build their token the same way.
//!
//! SoftHSM reads `SOFTHSM2_CONF` at `C_Initialize`, so [`ThrowawayHsm::activate`] must run
//! before the first PKCS#11 call of the process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand_core::{OsRng, RngCore};

/// The config template (the same one `softhsm-config/make-token.sh` uses).
const TEMPLATE: &str = include_str!("../../softhsm-config/softhsm2.conf.in");

/// Where Debian and others put the module.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module, if installed.
pub fn find_module() -> Option<PathBuf> {
    MODULE_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Whether `softhsm2-util` can be run.
pub fn util_available() -> bool {
    Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A token made by [`init_token`].
#[derive(Debug, Clone)]
pub struct Token {
    /// Its label.
    pub label: String,
    /// A 0600 file holding the user PIN.
    pub pin_file: PathBuf,
}

/// A private token directory and config.
#[derive(Debug)]
pub struct ThrowawayHsm {
    /// The temporary directory (tokens, config, PIN files).
    pub dir: PathBuf,
    /// The generated `softhsm2.conf`.
    pub conf: PathBuf,
    /// The module.
    pub module: PathBuf,
}

fn random_pin() -> String {
    format!("{:012}", OsRng.next_u64() % 1_000_000_000_000)
}

fn private_dir(prefix: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{:016x}", std::process::id(), OsRng.next_u64()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir.join("tokens"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

impl ThrowawayHsm {
    /// Makes a temporary token directory and config. Does not touch the environment.
    pub fn create() -> Result<Self, String> {
        let module = find_module().ok_or("libsofthsm2.so not found")?;
        if !util_available() {
            return Err("softhsm2-util not found".into());
        }
        let dir = private_dir("lit-hsm")?;
        let conf = dir.join("softhsm2.conf");
        let text = TEMPLATE.replace("@TOKENDIR@", &dir.join("tokens").to_string_lossy());
        std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        Ok(Self { dir, conf, module })
    }

    /// Points this process's SoftHSM at the directory. Call before any PKCS#11 use.
    pub fn activate(&self) {
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
    }

    /// Creates a token with random SO and user PINs.
    pub fn init_token(&self, label: &str) -> Result<Token, String> {
        init_token(&self.conf, &self.dir, label)
    }
}

/// Creates a token in the SoftHSM configured by `conf`, writing its PIN file into `dir`.
pub fn init_token(conf: &Path, dir: &Path, label: &str) -> Result<Token, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let pin = random_pin();
    let so_pin = random_pin();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args(["--init-token", "--free", "--label", label, "--so-pin", &so_pin, "--pin", &pin])
        .output()
        .map_err(|e| format!("cannot run softhsm2-util: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
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
    Ok(Token { label: label.to_string(), pin_file })
}

/// A private directory for PIN files of extra tokens (env-provided setups).
pub fn scratch_dir() -> Result<PathBuf, String> {
    private_dir("lit-hsm-aux")
}
