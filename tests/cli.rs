//! The `lit-session` binary: exact output for the SDK vector, and exit status 2 with one clear
//! line for bad input.

mod common;

use common::{lit_session, vector, Fixture};

use serde_json::Value;

/// The flags that reproduce `deterministic-session-sigs-small.json`.
fn vector_args(fx: &Fixture) -> (Vec<String>, Value) {
    let v = vector("deterministic-session-sigs-small.json");
    let inputs = &v["vector"]["inputs"];
    let wallet = fx.file("wallet.key", &format!("{}\n", inputs["walletPrivateKey"].as_str().unwrap()));
    let seed = fx.file("session.seed", inputs["sessionKeySeedHex"].as_str().unwrap());
    let mut args: Vec<String> =
        vec!["session-sigs".into(), "--wallet-key-file".into(), wallet, "--session-seed-file".into(), seed];
    for node in inputs["connectedNodes"].as_array().unwrap() {
        args.extend(["--node".into(), node.as_str().unwrap().into()]);
    }
    for r in inputs["resourceAbilityRequests"].as_array().unwrap() {
        let spec = format!(
            "{}://{}={}",
            r["resourcePrefix"].as_str().unwrap(),
            r["resourceId"].as_str().unwrap(),
            r["ability"].as_str().unwrap()
        );
        args.extend(["--resource".into(), spec]);
    }
    for (flag, key) in [("--nonce", "latestBlockhashNonce"), ("--expiration", "expiration"), ("--now", "frozenNow")] {
        args.extend([flag.into(), inputs[key].as_str().unwrap().into()]);
    }
    (args, v["vector"]["outputs"]["sessionSigs"].clone())
}

fn js_json(v: &Value) -> String {
    lit_session_signer::jcs::to_js_string(v)
}

#[test]
fn session_sigs_reproduces_sdk_vector() {
    let fx = Fixture::new();
    let (args, expected) = vector_args(&fx);
    let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}\n", js_json(&expected)));
}

#[test]
fn capability_auth_sig_is_embedded_as_given_before_session_auth_sig() {
    let fx = Fixture::new();
    let (mut args, _) = vector_args(&fx);
    // Pretty-printed, unusual key order, an extra key: embedded compactly in the same order.
    let cap = fx.file(
        "cap.json",
        "{\n  \"address\": \"0xd648A9EfeD0ee8C08B47dab1a1dC3dcCC6afe68F\",\n  \"sig\": \"0xabc\",\n  \"derivedVia\": \"web3.eth.personal.sign\",\n  \"extra\": 1,\n  \"signedMessage\": \"m\"\n}\n",
    );
    args.extend(["--capability-auth-sig".into(), cap]);
    let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signed: Value = serde_json::from_str(map["http://127.0.0.1:7471"]["signedMessage"].as_str().unwrap()).unwrap();
    let caps = signed["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(
        js_json(&caps[0]),
        r#"{"address":"0xd648A9EfeD0ee8C08B47dab1a1dC3dcCC6afe68F","sig":"0xabc","derivedVia":"web3.eth.personal.sign","extra":1,"signedMessage":"m"}"#
    );
    assert_eq!(caps[1]["derivedVia"], "web3.eth.personal.sign");
    assert!(caps[1]["signedMessage"].as_str().unwrap().contains("URI: lit:session:"));
}

#[test]
fn random_session_key_without_seed_file() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let mut args: Vec<String> = args;
    let i = args.iter().position(|a| a == "--session-seed-file").unwrap();
    args.drain(i..i + 2);
    let run = |args: &[String]| {
        let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["http://127.0.0.1:7471"]["address"].as_str().unwrap().to_string()
    };
    assert_ne!(run(&args), run(&args));
}

fn expect_usage_error(args: &[String], needle: &str) {
    let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn replace(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut out = args.to_vec();
    let i = out.iter().position(|a| a == flag).unwrap();
    out[i + 1] = value.to_string();
    out
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let bad_hex = fx.file("bad.key", "0xzz33333333333333333333333333333333333333333333333333333333333333");
    let short = fx.file("short.key", "0x3333");
    let zero = fx.file("zero.key", &"0".repeat(64));
    let not_json = fx.file("cap.json", "{not json");
    let not_authsig = fx.file("cap2.json", "[1,2]");
    let missing = fx.dir.path().join("missing.key").to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (replace(&args, "--wallet-key-file", &bad_hex), "not hex"),
        (replace(&args, "--wallet-key-file", &short), "32 bytes"),
        (replace(&args, "--wallet-key-file", &zero), "secp256k1"),
        (replace(&args, "--wallet-key-file", &missing), "missing.key"),
        (replace(&args, "--session-seed-file", &short), "32 bytes"),
        (replace(&args, "--resource", "lit-nope://*=pkp-signing"), "unknown resource prefix"),
        (replace(&args, "--resource", "lit-pkp://*=flying"), "unknown ability"),
        (replace(&args, "--resource", "lit-pkp://*=lit-action-execution"), "does not support"),
        (replace(&args, "--resource", "lit-pkp://*"), "malformed resource"),
        (replace(&args, "--node", "158.69.108.66:443"), "malformed node URL"),
        (replace(&args, "--node", "https://158.69.108.66:443/"), "malformed node URL"),
        (replace(&args, "--now", "yesterday"), "--now"),
        (replace(&args, "--expiration", "2025-03-15"), "--expiration"),
        (replace(&args, "--expiration", "2025-03-15T12:34:56.789Z"), "not after issuedAt"),
        (replace(&args, "--expiration", "2025-03-14T12:34:56.789Z"), "not after issuedAt"),
        (args.iter().cloned().chain(["--statement".into(), "line one\nline two".into()]).collect(), "single line"),
        (replace(&args, "--nonce", "short"), "SIWE"),
        (args.iter().cloned().chain(["--capability-auth-sig".into(), not_json]).collect(), "not valid JSON"),
        (args.iter().cloned().chain(["--capability-auth-sig".into(), not_authsig]).collect(), "capability AuthSig #1"),
        (args.iter().cloned().chain(["--node".into(), "http://127.0.0.1:7471".into()]).collect(), "given twice"),
        (args.iter().filter(|a| !a.starts_with("--node") && !a.starts_with("http")).cloned().collect(), "--node"),
    ];
    for (case, needle) in cases {
        expect_usage_error(&case, needle);
    }
}

#[test]
fn secrets_are_not_accepted_as_arguments() {
    // There is no flag that takes a key value: only files.
    let out = lit_session(&[
        "session-sigs",
        "--wallet-key",
        "0x33",
        "--node",
        "http://x:1",
        "--resource",
        "lit-pkp://*=pkp-signing",
        "--nonce",
        "0x1234567890",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn acc_resource_id_matches_vector() {
    let v = vector("recap-cases.json");
    let case = v["cases"].as_array().unwrap().iter().find(|c| c["id"] == "acc-decryption-hashed-id").unwrap();
    let fx = Fixture::new();
    let accs = fx.file("accs.json", &serde_json::to_string_pretty(&case["accs"]).unwrap());
    let out =
        lit_session(&["acc-resource-id", "--accs", &accs, "--data-hash", case["dataToEncryptHash"].as_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), case["inputs"][0]["resourceId"].as_str().unwrap());
    let bad = lit_session(&["acc-resource-id", "--accs", &accs, "--data-hash", "abc"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn recap_encode_and_decode() {
    let out = lit_session(&[
        "recap",
        "encode",
        "--resource",
        "lit-litaction://*=lit-action-execution",
        "--resource",
        "lit-pkp://*=pkp-signing",
    ]);
    assert!(out.status.success());
    let urn = String::from_utf8(out.stdout).unwrap();
    assert_eq!(urn.trim(), "urn:recap:eyJhdHQiOnsibGl0LWxpdGFjdGlvbjovLyoiOnsiVGhyZXNob2xkL0V4ZWN1dGlvbiI6W3t9XX0sImxpdC1wa3A6Ly8qIjp7IlRocmVzaG9sZC9TaWduaW5nIjpbe31dfX0sInByZiI6W119");
    let out = lit_session(&["recap", "decode", urn.trim()]);
    assert!(out.status.success());
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["recap"]["att"]["lit-pkp://*"]["Threshold/Signing"], serde_json::json!([{}]));
    assert!(decoded["statement"].as_str().unwrap().ends_with("(2) 'Threshold': 'Signing' for 'lit-pkp://*'."));
    let bad = lit_session(&["recap", "decode", "urn:recap:!!!"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn capacity_delegation_matches_sdk_vector() {
    let v = vector("siwe-cases.json");
    let case = v["cases"].as_array().unwrap().iter().find(|c| c["id"] == "capacity-delegation").unwrap();
    let p = &case["params"];
    let fx = Fixture::new();
    let key = fx.file("owner.key", case["privateKey"].as_str().unwrap());
    let mut args = vec![
        "capacity-delegation".to_string(),
        "--wallet-key-file".into(),
        key,
        "--nonce".into(),
        p["nonce"].as_str().unwrap().into(),
        "--now".into(),
        case["frozenNow"].as_str().unwrap().into(),
        "--token-id".into(),
        p["capacityTokenId"].as_str().unwrap().into(),
        "--uses".into(),
        p["uses"].as_str().unwrap().into(),
    ];
    for d in p["delegateeAddresses"].as_array().unwrap() {
        args.extend(["--delegatee".into(), d.as_str().unwrap().into()]);
    }
    let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), js_json(&case["authSig"]));

    let mut nobody = args.clone();
    nobody.truncate(11);
    nobody.push("--no-delegatees".into());
    let out = lit_session(&nobody.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("URI: lit:capability:delegation"));

    let bad = replace(&args, "--token-id", "0x12");
    expect_usage_error(&bad, "decimal");
    let bad = replace(&args, "--delegatee", "0x1234");
    expect_usage_error(&bad, "delegatee");
}

#[test]
fn cache_dir_reuses_the_auth_sig_across_runs_and_says_why_not() {
    let fx = Fixture::new();
    let (args, expected) = vector_args(&fx);
    let cache = fx.dir.path().join("cache");
    let mut cached = args.clone();
    cached.extend(["--cache-dir".into(), cache.to_str().unwrap().into()]);
    let run = |args: &[String]| {
        let out = lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };

    // Through the manager the SDK's bytes come out the same, signed once, then reused.
    let (first, err) = run(&cached);
    assert_eq!(first.trim_end(), js_json(&expected));
    assert!(err.contains("re-signed the AuthSig because no cached AuthSig"), "{err}");
    let (second, err) = run(&cached);
    assert_eq!(second, first);
    assert!(err.contains("reused the cached AuthSig"), "{err}");
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // Another resource: re-signed, and the reason names it.
    let other = replace(&cached, "--resource", "lit-litaction://*=lit-action-execution");
    let (_, err) = run(&other);
    assert!(err.contains("does not grant lit-litaction://*=lit-action-execution"), "{err}");

    // A damaged cache file is reported and replaced, never used.
    std::fs::write(&files[0], "{\"sig\":").unwrap();
    let (third, err) = run(&cached);
    assert_eq!(third, first);
    assert!(err.contains("warning") && err.contains("corrupt"), "{err}");
    let (_, err) = run(&cached);
    assert!(err.contains("reused"), "{err}");

    // Without a persistent session key the cache is useless: refused.
    let i = cached.iter().position(|a| a == "--session-seed-file").unwrap();
    let mut no_key = cached.clone();
    no_key.drain(i..i + 2);
    expect_usage_error(&no_key, "--cache-dir needs a persistent session key");
}

#[test]
fn a_key_file_other_users_can_read_is_refused_naming_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let wallet = args[2].clone();
    std::fs::set_permissions(&wallet, std::fs::Permissions::from_mode(0o644)).unwrap();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lit_session(&argv);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--wallet-key-file") && err.contains("mode 644") && err.contains("defaultMode"), "{err}");
    assert!(out.stdout.is_empty());
    // Group access is allowed (secrets mounted for a group).
    std::fs::set_permissions(&wallet, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(lit_session(&argv).status.code(), Some(0));
}
