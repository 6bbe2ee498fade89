//! Shared set-up: every test process builds its own tokens on every module (see `tokens`),
//! before the first `C_Initialize`, and every test written with [`hsm_test!`] runs once per
//! module.
//!
//! `LIT_PKCS11_MODULE` / `LIT_PKCS11_TOKEN` / `LIT_PKCS11_PIN_FILE` (e.g. from
//! `softhsm-config/make-token.sh`) replace the SoftHSM2 tokens with the one they name. Without a
//! module the tests print a loud skip message and pass, unless `LIT_REQUIRE_HSM=1` (CI), where
//! they fail.

pub mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::Pkcs11KeyStore;
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
pub use tokens::{Module, Token};

/// The tokens the tests use on one module.
#[derive(Debug)]
pub struct HsmEnv {
    /// Which module.
    pub kind: Module,
    /// The module's library.
    pub module: PathBuf,
    /// The main token.
    pub main: Token,
    /// A second token (wrong-PIN and "token without the key" tests), if one could be made.
    pub aux: Option<Token>,
    /// Where the tokens came from, for messages.
    pub origin: &'static str,
    /// SoftHSM's token directory, when this process made it (fault tests move tokens away).
    pub tokens_dir: Option<PathBuf>,
    /// Tests that disturb the whole module take it exclusively; see [`shared`](Self::shared).
    lock: RwLock<()>,
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

    /// Held by tests that only use their own keys (they may run in parallel).
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held by tests that disturb the whole module (logout, closing every session, login
    /// checks, other processes on the token). Tests on other modules go on meanwhile.
    pub fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs the store's application out from another session (see `tokens::faults`).
    pub fn logout_elsewhere(&self, store: &Pkcs11KeyStore) {
        tokens::faults::logout_elsewhere(store_token(store), self.kind).expect("logout from another session");
    }

    /// Finalises the store's module under it (see `tokens::faults`).
    pub fn finalize_elsewhere(&self, store: &Pkcs11KeyStore) {
        tokens::faults::finalize_elsewhere(store_token(store)).expect("C_Finalize");
    }

    /// Makes the token state pair `other`'s public key for pair `id` (see `tokens::faults`).
    pub fn mismatch_public_key(&self, store: &Pkcs11KeyStore, id: &[u8], other: &[u8]) {
        tokens::faults::mismatch_public_key(store_token(store), id, other).expect("swap the public key objects");
    }

    /// Closes every session on the store's slot (see `tokens::faults`).
    pub fn close_all_sessions(&self, store: &Pkcs11KeyStore) {
        tokens::faults::close_all_sessions(store_token(store)).expect("C_CloseAllSessions");
    }
}

fn required() -> bool {
    std::env::var("LIT_REQUIRE_HSM").is_ok_and(|v| v == "1")
}

/// The SoftHSM2 token named by `LIT_PKCS11_*`, if set.
fn from_environment() -> Option<Result<HsmEnv, String>> {
    let module = std::env::var("LIT_PKCS11_MODULE").ok()?;
    Some((|| {
        let label =
            std::env::var("LIT_PKCS11_TOKEN").map_err(|_| "LIT_PKCS11_MODULE is set but LIT_PKCS11_TOKEN is not")?;
        let pin_file = std::env::var("LIT_PKCS11_PIN_FILE")
            .map_err(|_| "LIT_PKCS11_MODULE is set but LIT_PKCS11_PIN_FILE is not")?;
        // An extra token in the same SoftHSM directory, when we can make one.
        let aux = match std::env::var("SOFTHSM2_CONF") {
            Ok(conf) => {
                let dir = tokens::scratch_dir()?;
                tokens::softhsm::init_token(conf.as_ref(), &dir, &format!("lit-aux-{}", std::process::id())).ok()
            }
            Err(_) => None,
        };
        Ok(HsmEnv {
            kind: Module::SoftHsm2,
            module: module.into(),
            main: Token { label, pin_file: pin_file.into() },
            aux,
            origin: "environment (LIT_PKCS11_*)",
            tokens_dir: None,
            lock: RwLock::new(()),
        })
    })())
}

fn setup(kind: Module) -> Result<HsmEnv, String> {
    if kind == Module::SoftHsm2 {
        if let Some(env) = from_environment() {
            return env;
        }
    }
    let made = tokens::ThrowawayTokens::create(kind, &["lit-main", "lit-aux"])?;
    // Before any C_Initialize in this process (all tests wait on the OnceLock first).
    made.activate();
    eprintln!("hsm tests: {kind} tokens in {}", made.dir.display());
    Ok(HsmEnv {
        kind,
        module: made.library.clone(),
        main: made.tokens[0].clone(),
        aux: made.tokens.get(1).cloned(),
        origin: match kind {
            Module::SoftHsm2 => "throwaway SoftHSM2 directory",
            Module::Kryoptic => "throwaway Kryoptic directory",
        },
        tokens_dir: made.softhsm_tokens_dir(),
        lock: RwLock::new(()),
    })
}

/// The test tokens on `kind`, or `None` (after a loud message) when the module is unavailable.
/// Panics (fails the test) when `LIT_REQUIRE_HSM=1` and the module is unavailable.
pub fn env(kind: Module) -> Option<&'static HsmEnv> {
    // Every module is set up at once, so no configuration variable is set while another
    // thread is inside a module.
    static ENVS: OnceLock<Vec<(Module, Result<HsmEnv, String>)>> = OnceLock::new();
    let envs = ENVS.get_or_init(|| Module::ALL.into_iter().map(|m| (m, setup(m))).collect());
    let (_, found) = envs.iter().find(|(m, _)| *m == kind)?;
    match found {
        Ok(env) => Some(env),
        Err(why) if required() => panic!("LIT_REQUIRE_HSM=1 but {kind} is unusable: {why}"),
        Err(why) => {
            // Written to the real stderr (not `eprintln!`, which the test harness captures),
            // once per module and process, so a skipped run cannot be mistaken for a tested one.
            static ONCE: [std::sync::Once; 2] = [std::sync::Once::new(), std::sync::Once::new()];
            let i = Module::ALL.iter().position(|m| *m == kind).unwrap_or(0);
            ONCE[i].call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !!! SKIPPED: the PKCS#11 (hsm) tests on {kind} ({why}).\n\
                     !!! scripts/test-all.sh installs and builds both modules; LIT_REQUIRE_HSM=1 fails instead.\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
            });
            None
        }
    }
}

/// Every module's exclusive lock, for a test that must be the only one running (it captures the
/// process's log lines). Taken in `Module::ALL` order, the only order that takes more than one.
pub fn exclusive_all() -> Vec<RwLockWriteGuard<'static, ()>> {
    Module::ALL.into_iter().filter_map(env).map(HsmEnv::exclusive).collect()
}

/// Declares a test once and runs it on every module: `hsm_test! { fn name(env) { … } }`
/// makes `mod name` with one `#[test]` per module (`name::softhsm2`, `name::kryoptic`), each
/// calling the body with that module's [`HsmEnv`] (or skipping, see [`env`]).
///
/// `hsm_test! { only softhsm2 because "why"; fn name(env) { … } … }` runs the tests that follow
/// on the modules named only, for behaviour the others do not have; the reason becomes each
/// test's doc.
#[macro_export]
macro_rules! hsm_test {
    (@module softhsm2) => { $crate::common::Module::SoftHsm2 };
    (@module kryoptic) => { $crate::common::Module::Kryoptic };
    (@each $mods:tt [$($doc:tt)*] $(#[$attr:meta])* fn $name:ident($env:ident) $body:block $($rest:tt)*) => {
        $crate::hsm_test!(@emit $mods $($doc)* $(#[$attr])* fn $name($env) $body);
        $crate::hsm_test!(@each $mods [$($doc)*] $($rest)*);
    };
    (@each $mods:tt [$($doc:tt)*]) => {};
    (@emit [$($m:ident),+] $(#[$attr:meta])* fn $name:ident($env:ident) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($env: &'static $crate::common::HsmEnv) $body

            $(
                #[test]
                fn $m() {
                    if let Some(env) = $crate::common::env($crate::hsm_test!(@module $m)) {
                        body(env)
                    }
                }
            )+
        }
    };
    (only $($m:ident),+ because $why:literal; $($tests:tt)+) => {
        $crate::hsm_test!(@each [$($m),+] [#[doc = $why]] $($tests)+);
    };
    ($($tests:tt)+) => {
        $crate::hsm_test!(@each [softhsm2, kryoptic] [] $($tests)+);
    };
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
