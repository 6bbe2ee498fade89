//! HSM faults under load, with the service running in this process (the crate is a library:
//! `run::launch`) on throwaway tokens, so the faults hit the same PKCS#11 module and
//! application as the service's own sessions (a module's login state is per process, so
//! another process cannot log this one out or close its sessions). The faults are the shared
//! helpers of the library's hsm tests (`hsm-tests/common/tokens/faults.rs`, on the library's
//! hidden `internal::pkcs11` layer), made on a store of the test's own on the same token; the
//! service has no fault endpoint.
//!
//! On each module (SoftHSM2, and Kryoptic when built), four clients mint 30-node session sigs
//! (one of them on a second profile with a new grant set at every call, so the wallet signs
//! under the faults too; on the token for SoftHSM2, in memory for Kryoptic, which cannot make
//! secp256k1 keys) while the test:
//!
//! - logs the application out three times (`C_Logout` on a session of its own),
//! - closes every session three times (`C_CloseAllSessions`, with no call in flight: SoftHSM
//!   2.6.1 frees sessions another thread may be using),
//! - finalises the module under the service twice (`C_Finalize`, as another component of the
//!   process might),
//! - SoftHSM2 only: moves the token's directory away and back (Kryoptic keeps its token in a
//!   file it holds open).
//!
//! Logout, closed sessions and a finalised module are repaired inside the request that meets
//! them (the PKCS#11 layer logs in again, opens new sessions or initialises the module again,
//! and retries the call), so the service answers 200 and readiness stays true: there is no
//! window in which it cannot sign. A vanished token is a state: while it lasts requests that
//! need it fail with 503 `hsm-unavailable` and readiness is false; once it is back the service
//! recovers without a restart. Every 200 verifies by the node's rules for every node, and
//! every response is in the audit log under its request id (200s approved, 503s failed), in an
//! intact chain.
//!
//! Skipped when a module is missing, unless `LIT_REQUIRE_HSM=1`.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tokens::{faults, Module, ThrowawayTokens};
use common::*;
use lit_session_server::{config, signing};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::Pkcs11KeyStore;
use lit_session_signer::pkcs11::Pkcs11Uri;
use serde_json::json;

// The phase each response is attributed to; phases only move forward.
const NORMAL: u8 = 0;
const LOGOUT: u8 = 1;
const CLOSED: u8 = 2;
const FINALIZED: u8 = 3;
const GONE: u8 = 4;
const BACK: u8 = 5;
const PHASES: [&str; 6] = ["normal", "logout", "closed sessions", "module finalised", "token gone", "token back"];

fn tokens_or_skip(module: Module) -> Option<ThrowawayTokens> {
    match ThrowawayTokens::create(module, &["faults"]) {
        Ok(t) => Some(t),
        Err(e) if std::env::var("LIT_REQUIRE_HSM").as_deref() == Ok("1") => panic!("{module} required: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {module}: {e}");
            None
        }
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
fn logout_closed_sessions_finalize_and_token_gone_under_load_in_process() {
    // Each module reads its configuration at C_Initialize: both are activated before any call.
    let modules: Vec<ThrowawayTokens> = Module::ALL.into_iter().filter_map(tokens_or_skip).collect();
    for t in &modules {
        t.activate();
    }
    for t in &modules {
        scenario(t);
    }
}

/// One module: the service in this process, four clients, the faults in turn, then the checks.
fn scenario(hsm: &ThrowawayTokens) {
    let module = hsm.module;
    eprintln!("== {module}");
    let base = format!(
        "pkcs11:token=faults?module-path={}&pin-source=file:{}",
        hsm.library.display(),
        hsm.main().pin_file.display()
    );
    signing::pkcs11_generate_session_key(&base, "session-1").unwrap();
    signing::pkcs11_generate_session_key(&base, "session-2").unwrap();
    let with_object =
        |label: &str| format!("\"{}\"", base.replacen("token=faults", &format!("token=faults;object={label}"), 1));
    let wallet = if module.makes_secp256k1_keys() {
        signing::pkcs11_generate_wallet(&base, "wallet-1").unwrap();
        with_object("wallet-1")
    } else {
        "\"random\"".to_string()
    };

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
        "[server]\nlisten = \"127.0.0.1:0\"\nhealth_interval = \"500ms\"\ndefault_signer = \"hsm\"\n\
         [auth]\ntokens_file = \"{}\"\n[store]\npath = \"{}\"\ndurability = \"normal\"\n[policy]\nfile = \"{}\"\n\
         [signers.hsm]\nsession_key = {}\nwallet = {wallet}\n[signers.churn]\nsession_key = {}\nwallet = {wallet}\n",
        dir.path().join("tokens").display(),
        dir.path().join("store.sqlite").display(),
        dir.path().join("policy.toml").display(),
        with_object("session-1"),
        with_object("session-2"),
    );
    let config_file = dir.path().join("config.toml");
    std::fs::write(&config_file, config).unwrap();
    let settings = config::ConfigFile::read(&config_file).unwrap().settings().unwrap();
    let server = InProcess::from_settings(settings);
    let base_url = server.base.clone();
    let url = format!("{base_url}/v1/session-sigs");
    let ready_url = format!("{base_url}/readyz");

    // A store of the test's own on the same token: the same module context and application.
    let injector = Pkcs11KeyStore::open(&Pkcs11Uri::parse(&base).unwrap()).unwrap();
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
                // Client 0 asks for another Lit Action on its own profile at every call: each call
                // is a new grant set and needs a new AuthSig (the service keeps one per grant
                // set), so the wallet signs under the faults as well as the session key.
                let mut body = if t == 0 { action.clone() } else { pkp.clone() };
                if t == 0 {
                    body["signer"] = json!("churn");
                    body["resourceAbilityRequests"][0]["resource"]["resource"] = json!(format!("QmFaults{i}"));
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
        let enough = wait_until(Duration::from_secs(20), || count_in(p) >= n);
        assert!(enough, "{module}: no requests in phase {}", PHASES[p as usize]);
    };
    wait_for_requests(NORMAL, 8);

    // Logout, closed sessions, a finalised module: repaired inside the requests; readiness
    // stays true.
    let mut ready_during_quick_faults = Vec::new();
    for (p, rounds) in [(LOGOUT, 3), (CLOSED, 3), (FINALIZED, 2)] {
        phase.store(p, Ordering::SeqCst);
        for _ in 0..rounds {
            let token = store_token(&injector);
            match p {
                LOGOUT => faults::logout_elsewhere(token, module),
                CLOSED => faults::close_all_sessions(token),
                _ => faults::finalize_elsewhere(token),
            }
            .unwrap_or_else(|e| panic!("{module}: {}: {e}", PHASES[p as usize]));
            let n = count_in(p);
            wait_for_requests(p, n + 4);
            ready_during_quick_faults.push(ready());
        }
        // The churning client, whose wallet signs at every call, is the slowest: the phase lasts
        // until one of its calls has started and ended in it, so the wallet signs in every phase
        // however the other clients' calls happened to fall.
        let wallet_signed_in =
            || outcomes.lock().unwrap().iter().any(|o| o.started == p && o.ended == p && o.wallet_signed);
        assert!(
            wait_until(Duration::from_secs(20), wallet_signed_in),
            "{module}: no new wallet AuthSig in phase {}",
            PHASES[p as usize]
        );
    }

    // The token vanishes (SoftHSM2: its directory; Kryoptic holds its file open, so not there):
    // 503 hsm-unavailable, readiness false, liveness true; then it is back.
    let mut back = None;
    if hsm.softhsm_tokens_dir().is_some() {
        let token_dir = hsm.softhsm_token_dir("faults").expect("token directory");
        let parked = hsm.dir.join("parked");
        phase.store(GONE, Ordering::SeqCst);
        std::fs::rename(&token_dir, &parked).unwrap();
        assert!(wait_until(Duration::from_secs(20), || !ready()), "readiness stayed true with the token gone");
        let (_, readiness) = get(&c, &ready_url, None);
        assert_eq!(readiness["checks"][0]["id"], "hsm");
        assert_eq!(readiness["checks"][0]["status"], "down", "{readiness}");
        assert_eq!(get(&c, &format!("{base_url}/livez"), None).0, 200);
        let seen = wait_until(Duration::from_secs(20), || {
            outcomes.lock().unwrap().iter().any(|o| o.started == GONE && o.status == 503)
        });
        assert!(seen, "no request saw the token gone");
        std::fs::rename(&parked, &token_dir).unwrap();
        let at = Instant::now();
        phase.store(BACK, Ordering::SeqCst);
        assert!(wait_until(Duration::from_secs(30), ready), "no recovery without a restart");
        back = Some((at, at.elapsed()));
        wait_for_requests(BACK, 8);
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    assert!(server.stop(), "graceful shutdown");

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    // Per phase: a request in flight at any moment of the token's absence counts there, every
    // other one in the phase it started in (phases only move forward).
    let overlaps_gone = |o: &Outcome| back.is_some() && o.started <= GONE && o.ended >= GONE;
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
    if let Some((at, ready_after)) = back {
        let first_ok_after = outcomes
            .iter()
            .filter(|o| o.started == BACK && o.status == 200)
            .map(|o| o.at)
            .min()
            .expect("a 200 after the token came back");
        eprintln!(
            "token back -> ready in {ready_after:?}, first 200 of a request started after it in {:?}",
            first_ok_after.saturating_duration_since(at)
        );
    }
    assert!(
        ready_during_quick_faults.iter().all(|r| *r),
        "readiness during the quick faults: {ready_during_quick_faults:?}"
    );

    // Only the vanished token fails requests, and only as 503 hsm-unavailable.
    for o in &outcomes {
        if o.status != 200 {
            assert_eq!(o.status, 503, "{}: {}", o.id, o.kind);
            assert!(o.kind.starts_with("hsm-unavailable:"), "{}: {}", o.id, o.kind);
            assert!(overlaps_gone(o), "{} failed outside the token-gone phase: {}", o.id, o.kind);
        }
    }
    for p in [LOGOUT, CLOSED, FINALIZED] {
        let row = table.get(&p).copied().unwrap_or_default();
        assert!(row.0 > 0 && row.1 == 0 && row.2 > 0, "{module}: {}: {row:?}", PHASES[p as usize]);
    }
    if back.is_some() {
        assert!(table.get(&GONE).is_some_and(|row| row.1 > 0), "{table:?}");
    }

    // No invalid 200: every map verifies by the node's rules, for every node.
    let pkp_request = signing::parse_request("lit-pkp", "0x1a2b", "pkp-signing", None).unwrap();
    let now = signing::Timestamp::now();
    let mut verified = 0;
    for o in outcomes.iter().filter(|o| o.status == 200) {
        let map = o.sigs.as_deref().unwrap();
        // Client 0's call i asked for the Lit Action QmFaults<i>.
        let request = match o.id.strip_prefix("c0-") {
            Some(i) => {
                signing::parse_request("lit-litaction", &format!("QmFaults{i}"), "lit-action-execution", None).unwrap()
            }
            None => pkp_request.clone(),
        };
        let results =
            signing::verify_map(map, None, std::slice::from_ref(&request), now, true, signing::Generation::Datil)
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
    eprintln!("{module}: {} responses, {verified} verified 200s, {}", outcomes.len(), out.trim());
}
