//! Kryoptic tokens: a `token.conf` with one slot (and one sqlite file) per token, then
//! `pkcs11-tool --init-token` and `--init-pin` per slot. Kryoptic's slot ids come from the
//! configuration (42, 43, …), but the tests find tokens by label like on any module.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{random_pin, run_tool, write_pin_file, Token};

/// The Kryoptic version `scripts/kryoptic.sh` builds (a test checks the two agree).
pub const VERSION: &str = "1.5.4";

/// The variable Kryoptic reads its configuration from.
pub const CONF_VAR: &str = "KRYOPTIC_CONF";

/// The first slot id.
const FIRST_SLOT: u64 = 42;

/// The module: `LIT_KRYOPTIC_MODULE` (`scripts/test-all.sh` sets it from
/// `scripts/kryoptic.sh`), else where `scripts/kryoptic.sh` caches it.
pub fn find_library() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LIT_KRYOPTIC_MODULE") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("LIT_KRYOPTIC_MODULE={} is not a file", path.display()))
        };
    }
    let cache = match (std::env::var_os("LIT_KRYOPTIC_CACHE"), std::env::var_os("XDG_CACHE_HOME")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(xdg)) => PathBuf::from(xdg).join(format!("lit-session-signer/kryoptic-{VERSION}")),
        (None, None) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(format!(".cache/lit-session-signer/kryoptic-{VERSION}")),
    };
    let path = cache.join("libkryoptic_pkcs11.so");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it with scripts/kryoptic.sh (scripts/test-all.sh does) or set LIT_KRYOPTIC_MODULE",
            path.display()
        ))
    }
}

/// Whether `pkcs11-tool` (OpenSC) can be run.
fn tool_available() -> bool {
    Command::new("pkcs11-tool").arg("--help").output().is_ok()
}

/// Writes the configuration into `dir` and makes the tokens.
pub(super) fn create(library: &Path, dir: &Path, labels: &[&str]) -> Result<(PathBuf, Vec<Token>), String> {
    if !tool_available() {
        return Err("pkcs11-tool not found (apt-get install opensc)".into());
    }
    let conf = dir.join("token.conf");
    let mut text = String::new();
    for (i, label) in labels.iter().enumerate() {
        let db = dir.join(format!("{label}.sql"));
        text.push_str(&format!(
            "[[slots]]\nslot = {}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n\n",
            FIRST_SLOT + i as u64,
            db.display()
        ));
    }
    std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let mut tokens = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let slot = (FIRST_SLOT + i as u64).to_string();
        let (so_pin, pin) = (random_pin(), random_pin());
        let tool = || {
            let mut c = Command::new("pkcs11-tool");
            c.env(CONF_VAR, &conf).arg("--module").arg(library).args(["--slot", &slot]);
            c
        };
        let mut init = tool();
        init.args(["--init-token", "--label", label, "--so-pin", &so_pin]);
        run_tool(init, "pkcs11-tool --init-token")?;
        let mut init_pin = tool();
        init_pin.args(["--login", "--login-type", "so", "--so-pin", &so_pin, "--init-pin", "--pin", &pin]);
        run_tool(init_pin, "pkcs11-tool --init-pin")?;
        tokens.push(Token { label: label.to_string(), pin_file: write_pin_file(dir, label, &pin)? });
    }
    Ok((conf, tokens))
}
