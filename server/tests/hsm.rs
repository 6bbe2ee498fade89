//! The service on a real SoftHSM2 token made in a temporary directory (the same throwaway-token
//! helper as the library's hsm tests, included by path): session key and wallet on the token,
//! 30-node session sigs that verify, AuthSig reuse, and the token vanishing and coming back under
//! load (503 `hsm-unavailable`, readiness false, recovery without a restart, no invalid 200,
//! every 200 audited).
//!
//! Skipped when SoftHSM2 is missing, unless `LIT_REQUIRE_HSM=1` (as `scripts/test-all.sh` sets).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::tokens;
use common::*;
use lit_session_server::signing;
use serde_json::json;

fn hsm_or_skip() -> Option<tokens::ThrowawayTokens> {
    match tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &["srv"]) {
        Ok(h) => Some(h),
        Err(e) if std::env::var_os("LIT_REQUIRE_HSM").is_some() => panic!("SoftHSM2 required: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

#[test]
fn softhsm_session_key_and_wallet_faults_and_recovery() {
    let Some(hsm) = hsm_or_skip() else { return };
    hsm.activate();
    let token = hsm.main();
    let base =
        format!("pkcs11:token=srv?module-path={}&pin-source=file:{}", hsm.library.display(), token.pin_file.display());
    // Keys made here, as an operator would with the CLI; the server finds them by label.
    signing::pkcs11_generate_session_key(&base, "session-1").unwrap();
    signing::pkcs11_generate_wallet(&base, "wallet-1").unwrap();
    let with_object = |label: &str| base.replacen("token=srv", &format!("token=srv;object={label}"), 1);

    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
        [clients.app]
        endpoints = ["session-sigs", "keys", "verify"]
        [[clients.app.allow]]
        signers = ["hsm"]
        resources = ["lit-pkp://*"]
        abilities = ["pkp-signing"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    let extra = format!(
        "[signers.hsm]\nsession_key = \"{}\"\nwallet = \"{}\"\n",
        with_object("session-1"),
        with_object("wallet-1")
    );
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    write_tokens(&dir.path().join("tokens"), &[("app", "t")]);
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nhealth_interval = \"1s\"\n[auth]\ntokens_file = \"{}\"\n\
         [store]\npath = \"{}\"\n[policy]\nfile = \"{}\"\n{extra}",
        dir.path().join("tokens").display(),
        dir.path().join("store.sqlite").display(),
        dir.path().join("policy.toml").display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let conf = hsm.conf().to_str().unwrap().to_string();
    let server = Server::start(
        &["--config", dir.path().join("config.toml").to_str().unwrap()],
        dir.path(),
        &[("SOFTHSM2_CONF", &conf)],
    )
    .unwrap();
    let c = client();
    assert!(wait_until(Duration::from_secs(20), || get(&c, &server.url("/readyz"), None).0 == 200), "{}", server.log());
    let (s, keys) = get(&c, &server.url("/v1/keys"), Some("t"));
    assert_eq!(s, 200, "{keys}");
    assert_eq!(keys["signers"][0]["sessionKeyBackend"], "pkcs11");
    assert_eq!(keys["signers"][0]["walletBackend"], "pkcs11");

    let nodes: Vec<String> = (0..30).map(|i| format!("https://10.1.0.{}:443", i + 1)).collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let body = sigs_body(&nodes, &[("lit-pkp", "*", "pkp-signing")]);
    let url = server.url("/v1/session-sigs");
    let (s, first) = post(&c, &url, Some("t"), &body);
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["authSig"]["use"], "signed");
    assert_eq!(first["sessionKey"], keys["signers"][0]["sessionKey"]);
    let (s, second) = post(&c, &url, Some("t"), &body);
    assert_eq!((s, second["authSig"]["use"].as_str()), (200, Some("reused")), "{second}");
    let verify = |sigs: &serde_json::Value| {
        let (s, r) = post(
            &c,
            &server.url("/v1/verify"),
            Some("t"),
            &json!({"sessionSigs": sigs, "resourceAbilityRequests": body["resourceAbilityRequests"], "strict": true}),
        );
        assert_eq!(s, 200, "{r}");
        r["valid"] == true
    };
    assert!(verify(&first["sessionSigs"]));

    // Under load (four clients), the token vanishes and comes back: while it is away requests
    // fail with 503 hsm-unavailable and readiness is false; it recovers without a restart; no
    // 200 carries anything invalid; every 200 is audited.
    let token_dir = hsm.softhsm_token_dir("srv").expect("token directory");
    let parked = hsm.dir.join("parked");
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    // What a client must never read in a problem: the module, the token, the files.
    let private = [
        hsm.library.display().to_string(),
        hsm.dir.display().to_string(),
        dir.path().display().to_string(),
        "srv".to_string(),
        "slot".to_string(),
        "session-1".to_string(),
    ];
    for _ in 0..4 {
        let (stop, url, body, private) = (stop.clone(), url.clone(), body.clone(), private.clone());
        clients.push(std::thread::spawn(move || {
            let c = client();
            let (mut ok, mut unavailable) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let (s, v) = post(&c, &url, Some("t"), &body);
                match s {
                    200 => ok.push(v["sessionSigs"].to_string()),
                    503 => {
                        assert_eq!(problem_type(&v), "hsm-unavailable", "{v}");
                        let text = v.to_string();
                        assert!(!private.iter().any(|p| text.contains(p.as_str())), "internals in a problem: {v}");
                        unavailable.push(v["requestId"].as_str().unwrap_or_default().to_string());
                    }
                    other => panic!("status {other}: {v}"),
                }
            }
            (ok, unavailable)
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    std::fs::rename(&token_dir, &parked).unwrap();
    assert!(wait_until(Duration::from_secs(20), || get(&c, &server.url("/readyz"), None).0 == 503));
    let (_, ready) = get(&c, &server.url("/readyz"), None);
    assert_eq!(ready["checks"][0]["status"], "down", "{ready}");
    // /readyz (open to anyone) names the profile that is down, not why.
    assert!(!private.iter().any(|p| ready.to_string().contains(p.as_str())), "internals in /readyz: {ready}");
    assert_eq!(get(&c, &server.url("/livez"), None).0, 200);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::rename(&parked, &token_dir).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || get(&c, &server.url("/readyz"), None).0 == 200),
        "no recovery: {}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut oks, mut unavailable) = (Vec::new(), Vec::new());
    for t in clients {
        let (o, u) = t.join().unwrap();
        oks.extend(o);
        unavailable.extend(u);
    }
    assert!(!unavailable.is_empty(), "no request saw the token gone");
    let (s, after) = post(&c, &url, Some("t"), &body);
    assert_eq!(s, 200);
    oks.push(after["sessionSigs"].to_string());
    // Every 200 verifies by the node's rules (strict), for every node.
    let request = signing::parse_request("lit-pkp", "0x1a2b", "pkp-signing", None).unwrap();
    for map in &oks {
        let results = signing::verify_map(
            map,
            None,
            std::slice::from_ref(&request),
            signing::Timestamp::now(),
            true,
            signing::Generation::Datil,
        )
        .unwrap();
        assert_eq!(results.len(), 30);
        assert!(results.iter().all(|r| r.valid), "an invalid 200: {results:?}");
    }
    let log = server.log();
    let pin = std::fs::read_to_string(&token.pin_file).unwrap();
    assert!(!log.contains(pin.trim()), "the PIN reached the log");
    assert!(server.stop().success());

    // Every 200 is audited; failures are audited as failed.
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let failed: i64 = conn.query_row("SELECT count(*) FROM audit WHERE decision = 'failed'", [], |r| r.get(0)).unwrap();
    assert!(failed >= 1);
    // The audit row keeps what the client was not told: the key store's own error.
    for id in &unavailable {
        let record: String = conn
            .query_row("SELECT record FROM audit WHERE request_id = ?1 AND decision = 'failed'", [id], |r| r.get(0))
            .unwrap_or_else(|e| panic!("no failed row for {id}: {e}"));
        let row: serde_json::Value = serde_json::from_str(&record).unwrap();
        let reasons = row["reasons"].to_string();
        assert!(reasons.contains("session key") || reasons.contains("wallet"), "{reasons}");
    }
    let approved: i64 = conn
        .query_row("SELECT count(*) FROM audit WHERE decision = 'approved' AND endpoint = 'session-sigs'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // The two calls before the fault, and every 200 under load.
    assert_eq!(approved as usize, oks.len() + 2);
    let (code, out) = audit_verify(&dir.path().join("store.sqlite"));
    assert_eq!(code, 0, "{out}");
}
