//! Logs at the most verbose level while signing with a known PIN (from a file) and a known
//! wallet key: no line holds a secret, and the recovery steps after a logout are there.
//!
//! Only one global logger can exist per process and the hsm tests are one binary, so a
//! capturing logger is installed once; it records only while a test has switched it on (under
//! the exclusive lock, so no other hsm test is running).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::wallet::MemoryWallet;

use crate::common::{self, unique_label};
use crate::hsm_test;

struct Capture {
    on: AtomicBool,
    lines: Mutex<Vec<String>>,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        self.on.load(Ordering::Relaxed)
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {} {}", record.level(), record.target(), record.args());
            self.lines.lock().unwrap_or_else(PoisonError::into_inner).push(line);
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture { on: AtomicBool::new(false), lines: Mutex::new(Vec::new()) };

/// Installs the capturing logger (once) and returns whether it is the process's logger.
fn install() -> bool {
    static INSTALL: Once = Once::new();
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    INSTALL.call_once(|| {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
            INSTALLED.store(true, Ordering::Relaxed);
        }
    });
    INSTALLED.load(Ordering::Relaxed)
}

/// Runs `f` with capturing on and returns the lines logged meanwhile.
fn captured(f: impl FnOnce()) -> Vec<String> {
    assert!(install(), "another logger is installed in the hsm test binary; the capture cannot work");
    CAPTURE.lines.lock().unwrap_or_else(PoisonError::into_inner).clear();
    CAPTURE.on.store(true, Ordering::Relaxed);
    // Why catch: capturing must be switched off even when `f` fails.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CAPTURE.on.store(false, Ordering::Relaxed);
    let lines = std::mem::take(&mut *CAPTURE.lines.lock().unwrap_or_else(PoisonError::into_inner));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    lines
}

hsm_test! {
    fn trace_logs_show_recovery_and_no_secret(env) {
        // Exclusive on every module: the test logs the application out, and only its own lines
        // are captured (the logger is process-wide).
        let _g = common::exclusive_all();
        let pin_file_text = std::fs::read_to_string(&env.main.pin_file).unwrap();
        let pin = pin_file_text.trim_end().to_string();
        assert!(pin.len() >= 4, "the test PIN is too short to search for");
        let wallet_secret = [0x5au8; 32];
        let wallet = MemoryWallet::from_bytes(&wallet_secret).unwrap();
        let label = unique_label("logged");

        let lines = captured(|| {
            let store = env.open();
            let id = store.generate(&label).unwrap();
            let nodes: Vec<NodeUrl> = (0..3).map(|i| format!("https://10.2.0.{i}:443").parse().unwrap()).collect();
            let request = SessionSigsRequest::new(nodes, vec!["lit-pkp://*=pkp-signing".parse().unwrap()], "0x3a9c4f1e");
            request.sign(&store, &id, &wallet).expect("session sigs before the logout");
            // Log the application out from another session: the next signature needs recovery.
            env.logout_elsewhere(&store);
            request.sign(&store, &id, &wallet).expect("session sigs after the logout");
            store.delete(&id).unwrap();
        });

        assert!(!lines.is_empty(), "nothing was logged at trace level");
        let all = lines.join("\n");
        // The recovery steps are logged, with attempt numbers and the backoff.
        for expected in ["attempt 1 of", "backoff", "logging in again", "C_Login accepted the PIN", "generated a token"] {
            assert!(all.contains(expected), "{expected:?} not logged:\n{all}");
        }
        assert!(all.contains(&env.main.label), "log lines name the token:\n{all}");
        // No secret: not the PIN, not the PIN file's content, not the wallet key (hex, either case).
        let secrets = [pin.clone(), pin_file_text.clone(), hex::encode(wallet_secret), hex::encode_upper(wallet_secret)];
        for line in &lines {
            for secret in &secrets {
                assert!(!line.contains(secret.as_str()), "a secret is in the log: {line}");
            }
        }
    }
}
