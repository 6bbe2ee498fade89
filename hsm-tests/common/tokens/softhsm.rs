//! SoftHSM2 tokens: a `softhsm2.conf` whose token directory is private to the run, and
//! `softhsm2-util --init-token` per token.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{random_pin, run_tool, write_pin_file, Token};

/// The variable SoftHSM2 reads its configuration from.
pub const CONF_VAR: &str = "SOFTHSM2_CONF";

/// The config template (the same one `softhsm-config/make-token.sh` uses).
const TEMPLATE: &str = include_str!("../../../softhsm-config/softhsm2.conf.in");

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

/// Writes the configuration into `dir` (tokens in `dir/tokens`) and makes the tokens.
pub(super) fn create(dir: &Path, labels: &[&str]) -> Result<(PathBuf, Vec<Token>), String> {
    if !util_available() {
        return Err("softhsm2-util not found".into());
    }
    let tokens_dir = dir.join("tokens");
    std::fs::create_dir(&tokens_dir).map_err(|e| format!("cannot create {}: {e}", tokens_dir.display()))?;
    let conf = dir.join("softhsm2.conf");
    let text = TEMPLATE.replace("@TOKENDIR@", &tokens_dir.to_string_lossy());
    std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let tokens = labels.iter().map(|label| init_token(&conf, dir, label)).collect::<Result<_, _>>()?;
    Ok((conf, tokens))
}

/// Creates a token in the SoftHSM configured by `conf`, writing its PIN file into `dir`.
pub fn init_token(conf: &Path, dir: &Path, label: &str) -> Result<Token, String> {
    let pin = random_pin();
    let mut command = Command::new("softhsm2-util");
    command.env(CONF_VAR, conf).args([
        "--init-token",
        "--free",
        "--label",
        label,
        "--so-pin",
        &random_pin(),
        "--pin",
        &pin,
    ]);
    run_tool(command, "softhsm2-util --init-token")?;
    Ok(Token { label: label.to_string(), pin_file: write_pin_file(dir, label, &pin)? })
}
