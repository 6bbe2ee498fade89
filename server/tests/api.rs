//! Dev mode and the endpoints on a real server process: session sigs (byte-for-byte node URLs,
//! AuthSig reuse, a map the node rules accept), verify, keys, health, metrics, shutdown, audit.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn dev_mode_mints_session_sigs_that_verify_and_reuses_the_auth_sig() {
    let (server, token, _dir) = dev();
    let log = server.log();
    assert!(log.contains("NOT FOR PRODUCTION"), "{log}");
    assert_eq!(log.matches("dev token: ").count(), 1);
    let c = client();
    assert!(wait_until(Duration::from_secs(20), || get(&c, &server.url("/readyz"), None).0 == 200));
    let (s, ready) = get(&c, &server.url("/readyz"), None);
    assert_eq!(s, 200, "{ready}");
    let ids: Vec<&str> = ready["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["hsm", "store", "policy", "audit"]);
    assert_eq!(get(&c, &server.url("/livez"), None).0, 200);

    // Node URLs as a client may write them, kept byte for byte as map keys and nodeAddress.
    let nodes =
        ["https://158.69.108.66:443", "http://LOCALHOST:7471", "http://[::1]:7470", "https://node.example.com:443"];
    let body =
        sigs_body(&nodes, &[("lit-pkp", "*", "pkp-signing"), ("lit-litaction", "QmAbc", "lit-action-execution")]);
    let (status, first) = post(&c, &server.url("/v1/session-sigs"), Some(&token), &body);
    assert_eq!(status, 200, "{first}");
    let map = first["sessionSigs"].as_object().unwrap();
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(keys, nodes);
    for (url, sig) in map {
        let msg: Value = serde_json::from_str(sig["signedMessage"].as_str().unwrap()).unwrap();
        assert_eq!(msg["nodeAddress"], *url);
        assert_eq!(sig["address"], first["sessionKey"]);
    }
    assert_eq!(first["authSig"]["use"], "signed");
    assert!(first["authSig"]["address"].as_str().unwrap().starts_with("0x"));
    assert_eq!(first["requestId"].as_str().unwrap().len(), 32);

    let (status, second) = post(&c, &server.url("/v1/session-sigs"), Some(&token), &body);
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["authSig"]["use"], "reused", "{second}");

    // The map verifies by the node's rules, through the service's own verify endpoint.
    let verify = json!({
        "sessionSigs": first["sessionSigs"],
        "resourceAbilityRequests": [{"resource": {"resource": "0x1a2b", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}],
        "strict": true,
    });
    let (status, report) = post(&c, &server.url("/v1/verify"), Some(&token), &verify);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["results"].as_array().unwrap().len(), nodes.len());
    // And a node that was not asked for is reported missing.
    let mut other = verify.clone();
    other["nodeUrls"] = json!(["https://10.0.0.1:443"]);
    let (_, report) = post(&c, &server.url("/v1/verify"), Some(&token), &other);
    assert_eq!(report["valid"], false);
    // An entry the node's reader refuses is an invalid result naming the rule, not a problem.
    let mut broken = verify.clone();
    let first_node = nodes[0];
    broken["sessionSigs"][first_node]["chain"] = json!("ethereum");
    broken["strict"] = json!(false);
    let (status, report) = post(&c, &server.url("/v1/verify"), Some(&token), &broken);
    assert_eq!(status, 200, "{report}");
    let r = &report["results"][0];
    assert_eq!((r["valid"].as_bool(), r["rule"].as_str()), (Some(false), Some("auth-sig-json")), "{report}");
    assert_eq!(r["nodeFunction"], "auth/auth_material.rs::JsonAuthSigVisitor::visit_map");
    assert!(r["error"]
        .as_str()
        .unwrap()
        .ends_with("(datil node: auth/auth_material.rs::JsonAuthSigVisitor::visit_map)"));
    assert_eq!(report["results"][2]["valid"], true, "{report}");
    // Datil's unversioned route: an expired session passes its fallback, not the v1 check.
    let mut later = verify.clone();
    later["strict"] = json!(false);
    later["now"] = json!("2099-01-01T00:00:00Z");
    let (_, report) = post(&c, &server.url("/v1/verify"), Some(&token), &later);
    assert_eq!(
        (report["valid"].as_bool(), report["results"][0]["rule"].as_str()),
        (Some(false), Some("expired")),
        "{report}"
    );
    later["route"] = json!("unversioned");
    let (_, report) = post(&c, &server.url("/v1/verify"), Some(&token), &later);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["results"][0]["viaFallback"], true, "{report}");
    // Inputs for the other generation are refused as unreadable requests.
    for (field, value) in [("nodePrice", json!("1")), ("route", json!("sometimes"))] {
        let mut bad = verify.clone();
        bad[field] = value;
        let (status, p) = post(&c, &server.url("/v1/verify"), Some(&token), &bad);
        assert_eq!(status, 400, "{field}: {p}");
    }

    // Keys, and the x-correlation-id carried into the response.
    let resp = c.get(server.url("/v1/keys")).bearer_auth(&token).header("x-correlation-id", "req-42").send().unwrap();
    assert_eq!(resp.headers()["x-correlation-id"], "req-42");
    let keys: Value = resp.json().unwrap();
    assert_eq!(keys["signers"][0]["sessionKey"], first["sessionKey"]);
    assert_eq!(keys["requestId"], "req-42");

    // Capacity delegation through the dev grant.
    let (status, cap) = post(
        &c,
        &server.url("/v1/capacity-delegation"),
        Some(&token),
        &json!({"nonce": "0xabcdef", "uses": "3", "delegateeAddresses": ["0x5D467fe98ff120fe0C85F2217bC61732571b28EC"]}),
    );
    assert_eq!(status, 200, "{cap}");
    assert!(cap["capacityDelegationAuthSig"]["signedMessage"].as_str().unwrap().contains("lit:capability:delegation"));

    // v8 (Naga) from the same AuthSig: every node (none priced), the SDK's default maximum.
    let mut v8 = body.clone();
    v8["format"] = json!("v8");
    let (status, naga) = post(&c, &server.url("/v1/session-sigs"), Some(&token), &v8);
    assert_eq!(status, 200, "{naga}");
    assert_eq!(naga["authSig"]["use"], "reused", "{naga}");
    let keys: Vec<&str> = naga["sessionSigs"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, nodes);

    // Metrics on their own listener, with bounded litsigner_ names.
    let metrics = c.get(format!("{}/metrics", server.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("litsigner_requests_total{endpoint=\"session-sigs\",client=\"dev\",result=\"approved\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("litsigner_auth_sig_total{outcome=\"reused\"} 2"), "{metrics}");
    assert!(metrics.contains("litsigner_session_sigs_issued_total{client=\"dev\"} 12"), "{metrics}");
    assert!(metrics.contains("litsigner_ready 1"), "{metrics}");
    // Not on the API listener.
    assert_eq!(get(&c, &server.url("/metrics"), None).0, 401);
    assert_eq!(get(&c, &server.url("/metrics"), Some(&token)).0, 404);

    // The token never reaches the log.
    let status = server.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn dev_mode_refuses_non_loopback_and_needs_listen() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--dev", "--listen", "0.0.0.0:0"][..], &["--dev", "--listen", "192.0.2.1:8470"], &["--dev"]] {
        let err = Server::start(args, dir.path(), &[]).err().expect("refused");
        assert!(err.contains("exit status: 2"), "{err}");
        assert!(err.contains("loopback") || err.contains("--listen"), "{err}");
        assert!(!err.contains("dev token"), "{err}");
    }
}

#[test]
fn audit_rows_match_responses_and_the_chain_verifies_until_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
        [clients.app]
        endpoints = ["session-sigs"]
        [[clients.app.allow]]
        name = "pkp"
        signers = ["default"]
        resources = ["lit-pkp://*"]
        abilities = ["pkp-signing"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    let server = configured(dir.path(), policy, &[("app", "app-token")], "");
    let c = client();
    let ok = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let denied = sigs_body(&["https://127.0.0.1:7470"], &[("lit-litaction", "*", "lit-action-execution")]);
    for _ in 0..3 {
        assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("app-token"), &ok).0, 200);
    }
    assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("app-token"), &denied).0, 403);
    // Bad input and failed authentication are not decisions: no row.
    assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("wrong"), &ok).0, 401);
    assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("app-token"), &json!({"nodeUrls": 1})).0, 400);
    assert!(server.stop().success());

    let store = dir.path().join("store.sqlite");
    let (code, out) = audit_verify(&store);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 4 rows"), "{out}");

    let conn = rusqlite::Connection::open(&store).unwrap();
    let decisions: Vec<(String, i64)> = conn
        .prepare("SELECT decision, json_extract(record, '$.status') FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        decisions,
        [("approved".into(), 200), ("approved".into(), 200), ("approved".into(), 200), ("denied".into(), 403)]
    );
    conn.execute("UPDATE audit SET record = replace(record, '\"denied\"', '\"approved\"') WHERE seq = 4", []).unwrap();
    drop(conn);
    let (code, out) = audit_verify(&store);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at seq 4"), "{out}");
}

#[test]
fn audit_failure_fails_the_request_and_readiness_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let policy = PKP_APP_POLICY;
    let server = configured(dir.path(), policy, &[("app", "t")], "");
    let c = client();
    let body = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("t"), &body).0, 200);

    // Another process makes every audit insert fail.
    let store = dir.path().join("store.sqlite");
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    )
    .unwrap();
    let (status, p) = post(&c, &server.url("/v1/session-sigs"), Some("t"), &body);
    assert_eq!((status, problem_type(&p).as_str()), (503, "audit-unavailable"), "{p}");
    assert!(p.get("sessionSigs").is_none());
    assert!(wait_until(Duration::from_secs(10), || get(&c, &server.url("/readyz"), None).0 == 503));
    let (_, ready) = get(&c, &server.url("/readyz"), None);
    assert_eq!(ready["checks"][3]["status"], "down", "{ready}");
    assert_eq!(get(&c, &server.url("/livez"), None).0, 200);

    conn.execute_batch("DROP TRIGGER audit_broken").unwrap();
    assert!(wait_until(Duration::from_secs(10), || get(&c, &server.url("/readyz"), None).0 == 200));
    assert_eq!(post(&c, &server.url("/v1/session-sigs"), Some("t"), &body).0, 200);
    drop(conn);
    assert!(server.stop().success());
    let (code, out) = audit_verify(&store);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 2 rows"), "{out}");
}

#[test]
fn refuses_a_store_with_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "[clients.app]\n";
    let server = configured(dir.path(), policy, &[("app", "t")], "");
    assert!(server.stop().success());
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (7, 'later')", []).unwrap();
    drop(conn);
    let err = try_configured(dir.path(), policy, &[("app", "t")], "").err().expect("refused");
    let known = lit_session_server::store::sqlite::SCHEMA_VERSION;
    assert!(err.contains(&format!("schema version 7, newer than this build knows ({known})")), "{err}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_every_200_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let policy = PKP_APP_POLICY;
    let server = configured(dir.path(), policy, &[("app", "t")], "");
    let nodes: Vec<String> = (0..100).map(|i| format!("https://10.0.{}.{}:443", i / 250, i % 250 + 1)).collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let body = sigs_body(&nodes, &[("lit-pkp", "*", "pkp-signing")]);
    let url = server.url("/v1/session-sigs");
    let ok = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut threads = Vec::new();
    for _ in 0..8 {
        let (url, body, ok) = (url.clone(), body.clone(), ok.clone());
        threads.push(std::thread::spawn(move || {
            let c = client();
            for _ in 0..200 {
                match c.post(&url).bearer_auth("t").json(&body).send() {
                    Ok(r) if r.status() == 200 => {
                        // A 200 is complete JSON with every node.
                        let v: Value = r.json().unwrap();
                        assert_eq!(v["sessionSigs"].as_object().unwrap().len(), 100);
                        ok.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(r) => assert!(r.status() == 503, "status {}", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(700));
    let status = server.stop();
    for t in threads {
        t.join().unwrap();
    }
    assert!(status.success(), "{status}");
    let served = ok.load(std::sync::atomic::Ordering::SeqCst);
    assert!(served > 0);
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let audited: i64 =
        conn.query_row("SELECT count(*) FROM audit WHERE decision = 'approved'", [], |r| r.get(0)).unwrap();
    assert_eq!(audited as usize, served, "every 200 has its audit row and no row lacks its 200");
    let (code, out) = audit_verify(&dir.path().join("store.sqlite"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn examples_and_the_openapi_file_match_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let config: lit_session_server::config::ConfigFile = toml::from_str(&read("examples/config.toml")).unwrap();
    let settings = config.settings().unwrap();
    let names = settings.signers.iter().map(|s| s.name.clone()).collect();
    lit_session_server::policy::Policy::parse(&read("examples/policy.toml"), &names).unwrap();
    lit_session_server::policy::Policy::parse(lit_session_server::dev::POLICY, &["default".to_string()].into())
        .unwrap();
    let openapi = read("openapi.yaml");
    for path in [
        "/livez",
        "/readyz",
        "/v1/session-sigs",
        "/v1/policy/evaluate",
        "/v1/verify",
        "/v1/keys",
        "/v1/capacity-delegation",
        "/v1/payment-delegation",
        "/v1/admin/reload",
        "/v1/admin/rotate",
    ] {
        assert!(openapi.contains(&format!("\n  {path}:\n")), "{path} is not in openapi.yaml");
    }
    let problem = read("src/problem.rs");
    let slugs: Vec<&str> = problem
        .lines()
        .filter_map(|l| {
            l.trim().strip_prefix("Self::").and_then(|r| r.split_once(" => \"")).map(|(_, s)| s.trim_end_matches("\","))
        })
        .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(slugs.len() >= 20, "{slugs:?}");
    for slug in slugs {
        assert!(openapi.contains(&format!("problems/{slug}\n")), "problem type {slug} is not in openapi.yaml");
    }
}

#[test]
fn stored_auth_sig_is_reused_after_a_restart_and_secret_files_follow_one_rule() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("session.seed");
    let wallet = dir.path().join("wallet.key");
    write_private(&seed, "42".repeat(32));
    write_private(&wallet, format!("0x{}\n", "33".repeat(32)));
    let policy = PKP_APP_POLICY;
    let signer = seed_file_signer(&seed, &wallet);
    let body = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let c = client();
    let server = configured(dir.path(), policy, &[("app", "t")], &signer);
    let (s, first) = post(&c, &server.url("/v1/session-sigs"), Some("t"), &body);
    assert_eq!((s, first["authSig"]["use"].as_str()), (200, Some("signed")), "{first}");
    assert!(server.stop().success());
    let server = configured(dir.path(), policy, &[("app", "t")], &signer);
    let (s, again) = post(&c, &server.url("/v1/session-sigs"), Some("t"), &body);
    assert_eq!((s, again["authSig"]["use"].as_str()), (200, Some("reused")), "{again}");
    assert_eq!(again["authSig"]["expiration"], first["authSig"]["expiration"]);
    assert_eq!(again["authSig"]["address"], first["authSig"]["address"]);
    assert!(server.stop().success());

    // A wallet key file other users can read is refused, and the message names the fix.
    std::fs::set_permissions(&wallet, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = try_configured(dir.path(), policy, &[("app", "t")], &signer).err().expect("refused");
    assert!(err.contains("accessible by other users") && err.contains("defaultMode"), "{err}");
    assert!(!err.contains(&"33".repeat(32)), "{err}");
    // Group-readable (a secret volume with fsGroup) is fine.
    std::fs::set_permissions(&wallet, std::fs::Permissions::from_mode(0o440)).unwrap();
    assert!(try_configured(dir.path(), policy, &[("app", "t")], &signer).is_ok());
}

#[test]
fn token_and_config_commands() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("app.token");
    let out = std::process::Command::new(BIN)
        .args(["token", "new", "--client", "app", "--token-file", token_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let token = std::fs::read_to_string(&token_file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!line.contains(token.trim()), "the token was printed");
    assert_eq!(line.trim(), format!("app sha256:{}", hex_sha256(token.trim().as_bytes())));
    // An existing file is never overwritten.
    let again = std::process::Command::new(BIN)
        .args(["token", "new", "--client", "app", "--token-file", token_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    // hash reads the token from stdin.
    let mut child = std::process::Command::new(BIN)
        .args(["token", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(token.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), line.trim().trim_start_matches("app "));

    // check-config: valid, then a policy naming a profile that does not exist.
    std::fs::write(dir.path().join("tokens"), &line).unwrap();
    std::fs::set_permissions(dir.path().join("tokens"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[clients.app]\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\ntokens_file = \"{}\"\n[store]\npath = \"{}\"\n[policy]\nfile = \"{}\"\n[signers.default]\nwallet = \"random\"\n",
            dir.path().join("tokens").display(),
            dir.path().join("s.sqlite").display(),
            policy.display()
        ),
    )
    .unwrap();
    let check = || {
        std::process::Command::new(BIN).args(["--config", config.to_str().unwrap(), "check-config"]).output().unwrap()
    };
    assert!(check().status.success(), "{}", String::from_utf8_lossy(&check().stderr));
    std::fs::write(
        &policy,
        "[clients.app]\n[[clients.app.allow]]\nsigners = [\"ghost\"]\nresources = [\"lit-pkp://*\"]\nabilities = [\"*\"]\nmax_lifetime = \"1m\"\nnodes = [\"*\"]\n",
    )
    .unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown signer profile \"ghost\""));
}

#[test]
fn concurrent_cold_requests_wait_for_one_wallet_signature() {
    let (server, token, _dir) = dev();
    let url = server.url("/v1/session-sigs");
    let body = sigs_body(&["https://127.0.0.1:7470", "https://127.0.0.1:7471"], &[("lit-pkp", "*", "pkp-signing")]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(24));
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let (url, body, token, barrier) = (url.clone(), body.clone(), token.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = client();
                barrier.wait();
                let (s, v) = post(&c, &url, Some(&token), &body);
                assert_eq!(s, 200, "{v}");
                v["authSig"]["use"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let uses: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(uses.iter().filter(|u| *u == "signed").count(), 1, "{uses:?}");
    let metrics = client().get(format!("{}/metrics", server.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
    assert!(metrics.contains("litsigner_auth_sig_total{outcome=\"signed\"} 1"), "{metrics}");
    assert!(metrics.contains("litsigner_auth_sig_total{outcome=\"reused\"} 23"), "{metrics}");
}

#[test]
fn two_processes_on_one_store_and_session_key_cause_one_wallet_signature() {
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("session.seed"), "24".repeat(32));
    write_private(&dir.path().join("wallet.key"), "35".repeat(32));
    let policy = PKP_APP_POLICY;
    let signer = seed_file_signer(&dir.path().join("session.seed"), &dir.path().join("wallet.key"));
    let a = configured(dir.path(), policy, &[("app", "t")], &signer);
    // A second process with the same configuration: same store file, same keys.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("config.toml"), other.path().join("config.toml")).unwrap();
    let config = other.path().join("config.toml");
    let b =
        Server::start(&["--config", config.to_str().unwrap(), "--metrics-listen", "127.0.0.1:0"], other.path(), &[])
            .unwrap();
    let body = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let url = if i % 2 == 0 { a.url("/v1/session-sigs") } else { b.url("/v1/session-sigs") };
            let (body, barrier) = (body.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = client();
                barrier.wait();
                let (s, v) = post(&c, &url, Some("t"), &body);
                assert_eq!(s, 200, "{v}");
                v["authSig"]["use"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let uses: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(uses.iter().filter(|u| *u == "signed").count(), 1, "{uses:?}");
    let signed = |s: &Server| {
        let m = client().get(format!("{}/metrics", s.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix("litsigner_auth_sig_total{outcome=\"signed\"} "))
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    assert_eq!(signed(&a) + signed(&b), 1, "{uses:?}");
    assert!(a.stop().success() && b.stop().success());
    // Two writers, one intact chain.
    let (code, out) = audit_verify(&dir.path().join("store.sqlite"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 16 rows"), "{out}");
}

#[test]
fn json_logs_carry_the_request_id_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "[clients.app]\n[[clients.app.allow]]\nsigners = [\"*\"]\nresources = [\"lit-pkp://*\"]\n\
                  abilities = [\"pkp-signing\"]\nmax_lifetime = \"10m\"\nnodes = [\"*\"]\n";
    let token = "a-secret-token-value-0123456789";
    // Writes the configuration (the first server is only for that).
    drop(configured(dir.path(), policy, &[("app", token)], ""));
    let config = dir.path().join("config.toml");
    let server =
        Server::start(&["--config", config.to_str().unwrap()], dir.path(), &[("LITSIGNER_LOG_FORMAT", "json")])
            .unwrap();
    let c = client();
    let body = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let resp = c
        .post(server.url("/v1/session-sigs"))
        .bearer_auth(token)
        .header("x-correlation-id", "trace-7")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp =
        c.post(server.url("/v1/session-sigs")).bearer_auth("wrong-token-value-987654").json(&body).send().unwrap();
    assert_eq!(resp.status(), 401);
    assert!(wait_until(Duration::from_secs(10), || server.log().contains("authentication refused")));
    let log = server.log();
    assert!(server.stop().success());
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let line = lines.iter().find(|l| l["request_id"] == "trace-7").expect("a log line for the request");
    assert_eq!(line["client"], "app", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["endpoint"], "session-sigs", "{line}");
    assert!(lines.iter().any(|l| l["reason"] == "invalid-token"), "{log}");
    assert!(!log.contains(token) && !log.contains("wrong-token-value"), "a token reached the log");
}

/// A mint that waits for another process's mint lock holds the session manager's lock; the
/// readiness probe must not wait behind it (a slow mint is not an HSM outage). The request that
/// waited too long answers 503 store-busy with a generic detail, and its audit row keeps
/// the store's own message.
#[test]
fn a_mint_waiting_for_the_lock_keeps_readiness_and_problems_hide_internals() {
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("session.seed"), "46".repeat(32));
    write_private(&dir.path().join("wallet.key"), "57".repeat(32));
    let policy = r#"
        [clients.app]
        endpoints = ["session-sigs", "keys"]
        [[clients.app.allow]]
        signers = ["*"]
        resources = ["lit-pkp://*"]
        abilities = ["pkp-signing"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    let signer = seed_file_signer(&dir.path().join("session.seed"), &dir.path().join("wallet.key"));
    let server = try_configured_store(dir.path(), policy, &[("app", "t")], "mint_lock_wait = \"4s\"", &signer).unwrap();
    let c = client();
    assert!(wait_until(Duration::from_secs(20), || get(&c, &server.url("/readyz"), None).0 == 200), "{}", server.log());
    let (s, keys) = get(&c, &server.url("/v1/keys"), Some("t"));
    assert_eq!(s, 200, "{keys}");
    let session_key = keys["signers"][0]["sessionKey"].as_str().unwrap().to_string();
    let wallet = keys["signers"][0]["walletAddress"].as_str().unwrap().trim_start_matches("0x").to_ascii_lowercase();

    // Another process holds the mint lock for this signer and session key.
    use lit_session_server::store::sqlite::{SqliteOptions, SqliteStore};
    use lit_session_server::store::ServiceStore;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store_path = dir.path().join("store.sqlite");
    let other = SqliteStore::open(&SqliteOptions::new(&store_path)).unwrap();
    // The columns the service keys this signer, session key and grant set by.
    use lit_session_signer::manager::{AuthSigKey, GrantsDigest};
    let key = AuthSigKey {
        signer: format!("0x{wallet}").parse().unwrap(),
        session_key: lit_session_signer::keystore::VerifyingKey::from_bytes(
            &hex::decode(&session_key).unwrap().try_into().unwrap(),
        )
        .unwrap(),
        grants: Some(GrantsDigest::of_requests(&["lit-pkp://*=pkp-signing".parse().unwrap()])),
    };
    let held = rt.block_on(other.lock_for_mint(&lit_session_server::store::AuthSigId::of(&key))).unwrap();

    let url = server.url("/v1/session-sigs");
    let body = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let waiting = {
        let (url, body) = (url.clone(), body.clone());
        std::thread::spawn(move || post(&client(), &url, Some("t"), &body))
    };
    // Three health intervals while the mint waits: ready throughout.
    let until = std::time::Instant::now() + Duration::from_millis(3300);
    while std::time::Instant::now() < until {
        let (s, v) = get(&c, &server.url("/readyz"), None);
        assert_eq!(s, 200, "readiness flipped while a mint waited: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, problem) = waiting.join().unwrap();
    // Another process holding the mint lock past mint_lock_wait is busy, not down.
    assert_eq!((s, problem_type(&problem).as_str()), (503, "store-busy"), "{problem}");
    let text = problem.to_string();
    for private in [dir.path().display().to_string(), "store.sqlite".to_string(), "mint lock".to_string()] {
        assert!(!text.contains(&private), "{private} in {problem}");
    }
    let request_id = problem["requestId"].as_str().unwrap().to_string();
    let rows = rt.block_on(other.audit_rows(0, 1000)).unwrap();
    let row = rows
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.record).unwrap())
        .find(|r| r["requestId"] == request_id.as_str() || r["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no audit row for {request_id}"));
    assert_eq!(row["decision"], "failed", "{row}");
    assert!(row["reasons"].to_string().contains("mint lock"), "{row}");

    drop(held);
    let (s, v) = post(&c, &url, Some("t"), &body);
    assert_eq!((s, v["authSig"]["use"].as_str()), (200, Some("signed")), "{v}");
    assert!(server.stop().success());
}

/// One profile serves clients with different grants: an AuthSig first signed for client B's
/// broader grants is not reused for client A, whose map therefore does not carry decryption.
#[test]
fn an_auth_sig_signed_for_broader_grants_is_not_lent_to_another_client() {
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
        [clients.a]
        [[clients.a.allow]]
        signers = ["default"]
        resources = ["lit-accesscontrolcondition://*"]
        abilities = ["access-control-condition-signing"]
        max_lifetime = "10m"
        nodes = ["*"]

        [clients.b]
        [[clients.b.allow]]
        signers = ["default"]
        resources = ["lit-accesscontrolcondition://*"]
        abilities = ["access-control-condition-decryption", "access-control-condition-signing"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    let server = InProcess::configured(dir.path(), policy, &[("a", "ta"), ("b", "tb")], "");
    let c = client();
    let url = server.url("/v1/session-sigs");
    let node = "https://127.0.0.1:7470";
    let acc = "lit-accesscontrolcondition";
    let both = sigs_body(
        &[node],
        &[(acc, "*", "access-control-condition-decryption"), (acc, "*", "access-control-condition-signing")],
    );
    let (s, b) = post(&c, &url, Some("tb"), &both);
    assert_eq!((s, b["authSig"]["use"].as_str()), (200, Some("signed")), "{b}");
    let signing_only = sigs_body(&[node], &[(acc, "*", "access-control-condition-signing")]);
    let (s, a) = post(&c, &url, Some("ta"), &signing_only);
    assert_eq!((s, a["authSig"]["use"].as_str()), (200, Some("signed")), "B's AuthSig was reused for A: {a}");

    use lit_session_server::signing;
    let decrypt = signing::parse_request(acc, "*", "access-control-condition-decryption", None).unwrap();
    let sign = signing::parse_request(acc, "*", "access-control-condition-signing", None).unwrap();
    let valid = |map: &Value, request: &signing::ResourceAbilityRequest| {
        let results = signing::verify_map(
            &map.to_string(),
            None,
            std::slice::from_ref(request),
            signing::Timestamp::now(),
            false,
            signing::Generation::Datil,
        )
        .unwrap();
        results.iter().all(|r| r.valid)
    };
    assert!(valid(&b["sessionSigs"], &decrypt) && valid(&b["sessionSigs"], &sign), "{b}");
    assert!(valid(&a["sessionSigs"], &sign), "{a}");
    assert!(!valid(&a["sessionSigs"], &decrypt), "A's map verifies for decryption: {a}");
    assert!(server.stop());
}
