//! Shared set-up: every test process builds its own SoftHSM2 tokens (or uses the one named by
//! `LIT_PKCS11_MODULE` / `LIT_PKCS11_TOKEN` / `LIT_PKCS11_PIN_FILE`, e.g. from
//! `softhsm-config/make-token.sh`), before the first `C_Initialize`.
//!
//! Without SoftHSM2 the tests print a loud skip message and pass, unless `LIT_REQUIRE_HSM=1`
//! (CI), where they fail.

pub mod softhsm;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lit_session_signer::keystore::Pkcs11KeyStore;
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};

/// The tokens the tests use.
#[derive(Debug)]
pub struct HsmEnv {
    /// The module.
    pub module: PathBuf,
    /// The main token.
    pub main: softhsm::Token,
    /// A second token (wrong-PIN and "token without the key" tests), if one could be made.
    pub aux: Option<softhsm::Token>,
    /// Where the tokens came from, for messages.
    pub origin: &'static str,
    /// SoftHSM's token directory, when this process made it (fault tests move tokens away).
    pub tokens_dir: Option<PathBuf>,
}

impl HsmEnv {
    /// URI of the main token.
    pub fn uri(&self) -> Pkcs11Uri {
        Pkcs11Uri::for_token(&self.module, &self.main.label, PinSource::File(self.main.pin_file.clone()))
    }

    /// URI of the aux token, if any.
    pub fn aux_uri(&self) -> Option<Pkcs11Uri> {
        self.aux.as_ref().map(|t| Pkcs11Uri::for_token(&self.module, &t.label, PinSource::File(t.pin_file.clone())))
    }

    /// A store on the main token.
    pub fn open(&self) -> Pkcs11KeyStore {
        Pkcs11KeyStore::open(&self.uri()).expect("open store on the main token")
    }
}

fn required() -> bool {
    std::env::var("LIT_REQUIRE_HSM").is_ok_and(|v| v == "1")
}

fn setup() -> Result<HsmEnv, String> {
    if let Ok(module) = std::env::var("LIT_PKCS11_MODULE") {
        let label =
            std::env::var("LIT_PKCS11_TOKEN").map_err(|_| "LIT_PKCS11_MODULE is set but LIT_PKCS11_TOKEN is not")?;
        let pin_file = std::env::var("LIT_PKCS11_PIN_FILE")
            .map_err(|_| "LIT_PKCS11_MODULE is set but LIT_PKCS11_PIN_FILE is not")?;
        // An extra token in the same SoftHSM directory, when we can make one.
        let aux = match std::env::var("SOFTHSM2_CONF") {
            Ok(conf) if softhsm::util_available() => {
                let dir = softhsm::scratch_dir()?;
                let label = format!("lit-aux-{}", std::process::id());
                Some(softhsm::init_token(conf.as_ref(), &dir, &label)?)
            }
            _ => None,
        };
        return Ok(HsmEnv {
            module: module.into(),
            main: softhsm::Token { label, pin_file: pin_file.into() },
            aux,
            origin: "environment (LIT_PKCS11_*)",
            tokens_dir: None,
        });
    }
    let hsm = softhsm::ThrowawayHsm::create()?;
    let main = hsm.init_token("lit-main")?;
    let aux = hsm.init_token("lit-aux")?;
    // Before any C_Initialize in this process (all tests wait on the OnceLock first).
    hsm.activate();
    eprintln!("hsm tests: SoftHSM2 tokens in {}", hsm.dir.display());
    let tokens_dir = Some(hsm.dir.join("tokens"));
    Ok(HsmEnv { module: hsm.module, main, aux: Some(aux), origin: "throwaway SoftHSM2 directory", tokens_dir })
}

/// The test tokens, or `None` (after a loud message) when SoftHSM2 is unavailable.
/// Panics (fails the test) when `LIT_REQUIRE_HSM=1` and SoftHSM2 is unavailable.
pub fn env() -> Option<&'static HsmEnv> {
    static ENV: OnceLock<Result<HsmEnv, String>> = OnceLock::new();
    match ENV.get_or_init(setup) {
        Ok(env) => Some(env),
        Err(why) if required() => panic!("LIT_REQUIRE_HSM=1 but SoftHSM2 is unusable: {why}"),
        Err(why) => {
            // Written to the real stderr (not `eprintln!`, which the test harness captures),
            // once per process, so a skipped run cannot be mistaken for a tested one.
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !!! SKIPPED: the PKCS#11 (hsm) tests need SoftHSM2 ({why}).\n\
                     !!! Install it (apt-get install softhsm2) or set LIT_REQUIRE_HSM=1 to fail.\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
            });
            None
        }
    }
}

/// `let env = hsm!();` — the tokens, or return from the test (skip).
#[macro_export]
macro_rules! hsm {
    () => {
        match $crate::common::env() {
            Some(env) => env,
            None => return,
        }
    };
}

static LOCK: RwLock<()> = RwLock::new(());

/// Held by tests that only use their own keys (they may run in parallel).
pub fn shared() -> RwLockReadGuard<'static, ()> {
    LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held by tests that disturb the whole token (logout, closing every session, login checks).
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LOCK.write().unwrap_or_else(PoisonError::into_inner)
}

/// A label no other test (or earlier run on a persistent token) uses.
pub fn unique_label(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A deterministic message of `len` bytes, different for each `(a, b)`.
pub fn message(a: usize, b: usize, len: usize) -> Vec<u8> {
    let head = format!("{{\"worker\":{a},\"n\":{b},\"pad\":\"");
    let mut m = head.into_bytes();
    while m.len() < len.saturating_sub(2) {
        m.push(b'a' + (m.len() % 26) as u8);
    }
    m.extend_from_slice(b"\"}");
    m
}

/// Runs `lit-session` with `args`.
pub fn lit_session(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lit-session")).args(args).output().unwrap()
}

/// What `lit-session verify` says of the session-sigs JSON `sigs` for `node` and `resource`:
/// `valid`, or `invalid: …` (stdout), with its stderr.
pub fn cli_verdict(sigs: &[u8], node: &str, resource: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sigs.json");
    std::fs::write(&file, sigs).unwrap();
    let out =
        lit_session(&["verify", "--session-sigs", file.to_str().unwrap(), "--node", node, "--resource", resource]);
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// Writes `contents` to `path` readable by its owner only, as secret files (key files) must be.
pub fn write_private(path: &std::path::Path, contents: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    file.write_all(contents).unwrap();
}
