//! HSM faults under load, with the service running in this process (the crate is a library:
//! `run::launch`) on a SoftHSM2 token, so the faults can be injected on the same PKCS#11
//! module and application as the service's own sessions (SoftHSM2's login state is per
//! process, so another process cannot log this one out or close its sessions). The faults go
//! through the library's hidden `internal::pkcs11` layer, as the library's hsm tests and
//! hsm-stress do; the service has no fault endpoint.
//!
//! Four clients mint 30-node session sigs (one of them on a second profile whose AuthSig it
//! keeps invalidating, so the token wallet signs under the faults too) while the test:
//!
//! - logs the application out three times (`C_Logout` on a session of its own),
//! - closes every session three times (`C_CloseAllSessions`, while no thread is inside the
//!   module: SoftHSM 2.6.1 frees sessions another thread may be using),
//! - moves the token's directory away and back.
//!
//! Logout and closed sessions are repaired inside the request that meets them (the PKCS#11
//! layer logs in again or opens new sessions and retries the call), so the service answers
//! 200 and readiness stays true: there is no window in which it cannot sign. A vanished token
//! is a state: while it lasts every request that needs the token fails with 503
//! `hsm-unavailable` and readiness is false; once it is back the service recovers without a
//! restart. Every 200 verifies by the node's rules for every node, and every response is in
//! the audit log under its request id (200s approved, 503s failed), in an intact chain.
//!
//! Skipped when SoftHSM2 is missing, unless `LIT_REQUIRE_HSM=1`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::softhsm;
use common::*;
use cryptoki::session::SessionState;
use lit_session_server::{config, run, signing};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::Pkcs11KeyStore;
use lit_session_signer::pkcs11::Pkcs11Uri;
use serde_json::json;

// The phase each response is attributed to.
const NORMAL: u8 = 0;
const LOGOUT: u8 = 1;
const CLOSED: u8 = 2;
const GONE: u8 = 3;
const BACK: u8 = 4;
const PHASES: [&str; 5] = ["normal", "logout", "closed sessions", "token gone", "token back"];

fn hsm_or_skip() -> Option<softhsm::ThrowawayHsm> {
    match softhsm::ThrowawayHsm::create() {
        Ok(h) => Some(h),
        Err(e) if std::env::var("LIT_REQUIRE_HSM").as_deref() == Ok("1") => panic!("SoftHSM2 required: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

fn token_directory(tokens: &Path, label: &str) -> Option<PathBuf> {
    std::fs::read_dir(tokens).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|dir| {
        std::fs::read(dir.join("token.object")).is_ok_and(|b| b.windows(label.len()).any(|w| w == label.as_bytes()))
    })
}

/// Faults on the module and token the service uses, through a store of the test's own on the
/// same token (one process-wide context per module: the same application as the service).
struct Injector {
    store: Pkcs11KeyStore,
    raw: cryptoki_sys::Pkcs11,
}

impl Injector {
    /// `C_Logout` from a session of its own: every session of the application is logged out.
    /// Done while no other thread is in the module, so the state can be checked before anyone
    /// logs in again.
    fn logout(&self) {
        let token = store_token(&self.store);
        let slot = token.slot().expect("slot");
        let state = token
            .context()
            .quiesced(|pkcs11| {
                let session = pkcs11.open_ro_session(slot).expect("session");
                session.logout().expect("C_Logout");
                session.get_session_info().expect("session info").session_state()
            })
            .expect("quiesce");
        assert_eq!(state, SessionState::RoPublic, "the application is logged out");
    }

    /// `C_CloseAllSessions` on the token's slot, while no other thread is in the module. A
    /// session opened just before is checked to be gone with the service's.
    fn close_all_sessions(&self) {
        let token = store_token(&self.store);
        let slot = token.slot().expect("slot");
        let (rv, witness_alive) = token
            .context()
            .quiesced(|pkcs11| {
                let witness = pkcs11.open_ro_session(slot).expect("session");
                // SAFETY: a plain C_CloseAllSessions on the module the context has loaded and
                // initialised, while no other thread is inside it.
                let rv = unsafe { self.raw.C_CloseAllSessions(slot.id() as cryptoki_sys::CK_SLOT_ID) };
                let alive = witness.get_session_info().is_ok();
                // Its handle is already closed; closing it again would only log an error.
                std::mem::forget(witness);
                (rv, alive)
            })
            .expect("quiesce");
        assert_eq!(rv, cryptoki_sys::CKR_OK, "C_CloseAllSessions");
        assert!(!witness_alive, "C_CloseAllSessions left a session open");
    }
}

struct Outcome {
    id: String,
    status: u16,
    kind: String,
    started: u8,
    ended: u8,
    at: Instant,
    sigs: Option<String>,
    wallet_signed: bool,
}

#[test]
fn logout_closed_sessions_and_token_gone_under_load_in_process() {
    let Some(hsm) = hsm_or_skip() else { return };
    // Before the first PKCS#11 call of this process.
    hsm.activate();
    let token = hsm.init_token("faults").unwrap();
    let base = format!(
        "pkcs11:token=faults?module-path={}&pin-source=file:{}",
        hsm.module.display(),
        token.pin_file.display()
    );
    signing::pkcs11_generate_session_key(&base, "session-1").unwrap();
    signing::pkcs11_generate_session_key(&base, "session-2").unwrap();
    signing::pkcs11_generate_wallet(&base, "wallet-1").unwrap();
    let with_object = |label: &str| base.replacen("token=faults", &format!("token=faults;object={label}"), 1);

    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
        [clients.app]
        endpoints = ["session-sigs"]
        [[clients.app.allow]]
        signers = ["hsm", "churn"]
        resources = ["lit-pkp://*", "lit-litaction://*"]
        abilities = ["*"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    write_tokens(&dir.path().join("tokens"), &[("app", "t")]);
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nhealth_interval = \"500ms\"\ndefault_signer = \"hsm\"\n[auth]\ntokens_file = \"{}\"\n\
         [store]\npath = \"{}\"\ndurability = \"normal\"\n[policy]\nfile = \"{}\"\n\
         [signers.hsm]\nsession_key = \"{}\"\nwallet = \"{}\"\n\
         [signers.churn]\nsession_key = \"{}\"\nwallet = \"{}\"\n",
        dir.path().join("tokens").display(),
        dir.path().join("store.sqlite").display(),
        dir.path().join("policy.toml").display(),
        with_object("session-1"),
        with_object("wallet-1"),
        with_object("session-2"),
        with_object("wallet-1"),
    );
    let config_file = dir.path().join("config.toml");
    std::fs::write(&config_file, config).unwrap();
    let settings = config::ConfigFile::read(&config_file).unwrap().settings().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let running = rt.block_on(run::launch(run::Plan::from_settings(&settings), false)).unwrap();
    let base_url = format!("http://{}", running.api);
    let url = format!("{base_url}/v1/session-sigs");
    let ready_url = format!("{base_url}/readyz");

    let injector = Injector {
        store: Pkcs11KeyStore::open(&Pkcs11Uri::parse(&base).unwrap()).unwrap(),
        // SAFETY: loads the module the context already loaded (the same instance).
        raw: unsafe { cryptoki_sys::Pkcs11::new(&hsm.module).unwrap() },
    };
    let c = client();
    let ready = || get(&c, &ready_url, None).0 == 200;
    assert!(wait_until(Duration::from_secs(20), ready), "not ready");

    let nodes: Vec<String> = (0..30).map(|i| format!("https://10.2.0.{}:443", i + 1)).collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let pkp = sigs_body(&nodes, &[("lit-pkp", "*", "pkp-signing")]);
    let action = sigs_body(&nodes, &[("lit-litaction", "QmFaults", "lit-action-execution")]);

    let phase = Arc::new(AtomicU8::new(NORMAL));
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let mut clients = Vec::new();
    for t in 0..4 {
        let (phase, stop, outcomes, url) = (phase.clone(), stop.clone(), outcomes.clone(), url.clone());
        let (pkp, action) = (pkp.clone(), action.clone());
        clients.push(std::thread::spawn(move || {
            let c = client();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // Client 0 alternates resources on its own profile: each call needs a new AuthSig,
                // so the token wallet signs under the faults as well as the session key.
                let mut body = if t == 0 && i % 2 == 1 { action.clone() } else { pkp.clone() };
                if t == 0 {
                    body["signer"] = json!("churn");
                }
                let id = format!("c{t}-{i}");
                let started = phase.load(Ordering::SeqCst);
                let resp = c.post(&url).bearer_auth("t").header("x-correlation-id", &id).json(&body).send().unwrap();
                let status = resp.status().as_u16();
                let v: serde_json::Value = resp.json().unwrap();
                let ended = phase.load(Ordering::SeqCst);
                let (kind, sigs) = match status {
                    200 => (String::new(), Some(v["sessionSigs"].to_string())),
                    _ => (format!("{}: {}", problem_type(&v), v["detail"].as_str().unwrap_or("")), None),
                };
                let wallet_signed = v["authSig"]["use"] == "signed";
                let at = Instant::now();
                outcomes.lock().unwrap().push(Outcome { id, status, kind, started, ended, at, sigs, wallet_signed });
                i += 1;
            }
        }));
    }
    let count_in = |p: u8| outcomes.lock().unwrap().iter().filter(|o| o.started == p && o.ended == p).count();
    let wait_for_requests = |p: u8, n: usize| {
        assert!(
            wait_until(Duration::from_secs(20), || count_in(p) >= n),
            "no requests in phase {}",
            PHASES[p as usize]
        );
    };
    wait_for_requests(NORMAL, 8);

    // Logout and closed sessions: repaired inside the requests; readiness stays true.
    let mut ready_during_quick_faults = Vec::new();
    for (p, fault) in [(LOGOUT, "logout"), (CLOSED, "closed sessions")] {
        phase.store(p, Ordering::SeqCst);
        for _ in 0..3 {
            match fault {
                "logout" => injector.logout(),
                _ => injector.close_all_sessions(),
            }
            let n = count_in(p);
            wait_for_requests(p, n + 4);
            ready_during_quick_faults.push(ready());
        }
    }

    // The token vanishes: 503 hsm-unavailable, readiness false, liveness true; then it is back.
    let tokens = hsm.dir.join("tokens");
    let token_dir = token_directory(&tokens, "faults").expect("token directory");
    let parked = hsm.dir.join("parked");
    phase.store(GONE, Ordering::SeqCst);
    std::fs::rename(&token_dir, &parked).unwrap();
    assert!(wait_until(Duration::from_secs(20), || !ready()), "readiness stayed true with the token gone");
    let (_, readiness) = get(&c, &ready_url, None);
    assert_eq!(readiness["checks"][0]["id"], "hsm");
    assert_eq!(readiness["checks"][0]["status"], "down", "{readiness}");
    assert_eq!(get(&c, &format!("{base_url}/livez"), None).0, 200);
    assert!(
        wait_until(Duration::from_secs(20), || outcomes
            .lock()
            .unwrap()
            .iter()
            .any(|o| o.started == GONE && o.status == 503)),
        "no request saw the token gone"
    );
    std::fs::rename(&parked, &token_dir).unwrap();
    let back = Instant::now();
    phase.store(BACK, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(30), ready), "no recovery without a restart");
    let ready_after = back.elapsed();
    wait_for_requests(BACK, 8);
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    rt.block_on(running.shutdown()).unwrap();

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    // Per phase: a request in flight at any moment of the token's absence counts there, every
    // other one in the phase it started in (phases only move forward).
    let overlaps_gone = |o: &Outcome| o.started <= GONE && o.ended >= GONE;
    let phase_of = |o: &Outcome| if overlaps_gone(o) { GONE } else { o.started };
    let mut table: BTreeMap<u8, (usize, usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let e = table.entry(phase_of(o)).or_default();
        if o.status == 200 {
            e.0 += 1
        } else {
            e.1 += 1
        }
        e.2 += usize::from(o.wallet_signed);
    }
    for (p, (ok, failed, signed)) in &table {
        eprintln!("{:>16}: {ok} x 200 ({signed} with a new wallet AuthSig), {failed} failed", PHASES[*p as usize]);
    }
    let first_ok_after = outcomes
        .iter()
        .filter(|o| o.started == BACK && o.status == 200)
        .map(|o| o.at)
        .min()
        .expect("a 200 after the token came back");
    eprintln!(
        "token back -> ready in {ready_after:?}, first 200 of a request started after it in {:?}",
        first_ok_after.saturating_duration_since(back)
    );
    assert!(
        ready_during_quick_faults.iter().all(|r| *r),
        "readiness during logout/closed sessions: {ready_during_quick_faults:?}"
    );

    // Only the vanished token fails requests, and only as 503 hsm-unavailable.
    for o in &outcomes {
        if o.status != 200 {
            assert_eq!(o.status, 503, "{}: {}", o.id, o.kind);
            assert!(o.kind.starts_with("hsm-unavailable:"), "{}: {}", o.id, o.kind);
            assert!(overlaps_gone(o), "{} failed outside the token-gone phase: {}", o.id, o.kind);
        }
    }
    for p in [LOGOUT, CLOSED] {
        let row = table.get(&p).copied().unwrap_or_default();
        assert!(row.0 > 0 && row.1 == 0 && row.2 > 0, "{}: {row:?}", PHASES[p as usize]);
    }
    assert!(table.get(&GONE).is_some_and(|row| row.1 > 0));

    // No invalid 200: every map verifies by the node's rules, for every node.
    let pkp_request = signing::parse_request("lit-pkp", "0x1a2b", "pkp-signing", None).unwrap();
    let action_request = signing::parse_request("lit-litaction", "QmFaults", "lit-action-execution", None).unwrap();
    let now = signing::Timestamp::now();
    let mut verified = 0;
    for o in outcomes.iter().filter(|o| o.status == 200) {
        let map = o.sigs.as_deref().unwrap();
        let request = if map.contains("lit-litaction://QmFaults") { &action_request } else { &pkp_request };
        let results =
            signing::verify_map(map, None, std::slice::from_ref(request), now, true, signing::Generation::Datil)
                .unwrap();
        assert_eq!(results.len(), 30);
        assert!(results.iter().all(|r| r.valid), "{}: an invalid 200: {results:?}", o.id);
        verified += 1;
    }

    // Every response is audited under its request id; the chain is intact.
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let mut audited: BTreeMap<String, String> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT request_id, decision FROM audit WHERE endpoint = 'session-sigs'").unwrap();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap() {
        let (id, decision) = row.unwrap();
        assert!(audited.insert(id.clone(), decision).is_none(), "{id} audited twice");
    }
    for o in &outcomes {
        let want = if o.status == 200 { "approved" } else { "failed" };
        assert_eq!(audited.get(&o.id).map(String::as_str), Some(want), "{} ({})", o.id, o.status);
    }
    let (code, out) = audit_verify(&dir.path().join("store.sqlite"));
    assert_eq!(code, 0, "{out}");
    eprintln!("{} responses, {verified} verified 200s, audit: {}", outcomes.len(), out.trim());
}
