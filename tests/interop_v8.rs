//! Interop with the real Lit JS SDK v8 (Naga) (npm packages in `interop/v8/`, run offline), both
//! ways: the SDK mints, `lit-session session-sigs --format v8` and `lit-session
//! payment-delegation` reproduce byte for byte; ours then pass the SDK's own validation and
//! decoding (`interop/v8/rust-to-js.js`).
//!
//! Needs `node` and `interop/v8/node_modules` (`npm ci` in `interop/v8/`; `scripts/test-all.sh`
//! does it). Without them these tests skip, unless `LIT_REQUIRE_INTEROP=1`, when they fail.
//!
//! What the byte-for-byte test assumes of the CLI: on success, exit 0 and stdout is exactly the
//! SDK's `JSON.stringify` of the session-sig map (`session-sigs`) or of the AuthSig
//! (`payment-delegation`), with at most trailing whitespace; warnings go to stderr. A user maximum
//! below the chosen nodes' total price: exit 2, nothing on stdout, the problem on the last
//! stderr line.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{js_v8_available, v8_interop_dir};
use serde_json::{json, Value};

/// The seed of the generated configurations (the self-check mints the same ones).
const SEED: &str = "20261121";

fn node(script: &str, args: &[&str]) {
    let status =
        Command::new("node").arg(v8_interop_dir().join(script)).args(args).current_dir(v8_interop_dir()).status();
    assert!(status.is_ok_and(|s| s.success()), "node interop/v8/{script} failed");
}

fn count() -> usize {
    std::env::var("LIT_INTEROP_V8_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    common::write_private(&p, contents.as_bytes());
    p.to_str().unwrap().to_string()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// `Some(text)` for a JSON string, `None` for null or absent.
fn opt<'a>(case: &'a Value, key: &str) -> Option<&'a str> {
    case.get(key).and_then(Value::as_str)
}

/// `lit-session`, or the program `LIT_SESSION_V8_CLI` names: `interop/v8/reference-cli.js`
/// implements the same flags with the v8 SDK itself, to check this harness.
fn lit_session(args: &[String]) -> Output {
    let program = std::env::var("LIT_SESSION_V8_CLI").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lit-session").to_string());
    Command::new(program).args(args).output().unwrap()
}

/// `lit-session payment-delegation ...` for one delegation of a case.
fn payment_delegation_args(dir: &Path, i: usize, d: &Value) -> Vec<String> {
    let mut args = vec![
        "payment-delegation".to_string(),
        "--wallet-key-file".into(),
        write(dir, &format!("delegator{i}.key"), s(&d["walletKey"])),
        "--nonce".into(),
        s(&d["nonce"]).into(),
    ];
    for a in d["delegatees"].as_array().unwrap() {
        args.extend(["--delegatee".into(), s(a).into()]);
    }
    args.extend(["--max-price".into(), s(&d["maxPrice"]).into()]);
    for scope in d["scopes"].as_array().unwrap() {
        args.extend(["--scope".into(), s(scope).into()]);
    }
    if let Some(e) = opt(d, "expiration") {
        args.extend(["--expiration".into(), e.into()]);
    }
    args.extend(["--now".into(), s(&d["now"]).into()]);
    for (flag, key) in [("--statement", "statement"), ("--domain", "domain")] {
        if let Some(v) = opt(d, key) {
            args.extend([flag.into(), v.into()]);
        }
    }
    args
}

/// `lit-session session-sigs --format v8 ...` for a case (capability files already written).
fn session_sigs_args(dir: &Path, case: &Value, capability_files: &[String]) -> Vec<String> {
    let mut args = vec![
        "session-sigs".to_string(),
        "--format".into(),
        "v8".into(),
        "--wallet-key-file".into(),
        write(dir, "wallet.key", s(&case["walletKey"])),
        "--session-seed-file".into(),
        write(dir, "session.seed", s(&case["sessionSeed"])),
    ];
    let nodes = case["nodes"].as_array().unwrap();
    for n in nodes {
        args.extend(["--node".into(), s(n).into()]);
    }
    for (n, price) in nodes.iter().zip(case["nodePriceArgs"].as_array().unwrap()) {
        if let Some(p) = price.as_str() {
            args.extend(["--node-price".into(), format!("{}={p}", s(n))]);
        }
    }
    if let Some(k) = case["threshold"].as_u64() {
        args.extend(["--threshold".into(), k.to_string()]);
    }
    if let Some(cap) = opt(case, "maxPriceArg") {
        args.extend(["--max-price".into(), cap.into()]);
    }
    for r in case["resources"].as_array().unwrap() {
        args.extend(["--resource".into(), format!("{}://{}={}", s(&r["prefix"]), s(&r["id"]), s(&r["ability"]))]);
    }
    args.extend(["--nonce".into(), s(&case["nonce"]).into()]);
    if let Some(e) = opt(case, "expiration") {
        args.extend(["--expiration".into(), e.into()]);
    }
    args.extend(["--now".into(), s(&case["now"]).into()]);
    for (flag, key) in [("--statement", "statement"), ("--domain", "domain")] {
        if let Some(v) = opt(case, key) {
            args.extend([flag.into(), v.into()]);
        }
    }
    for f in capability_files {
        args.extend(["--capability-auth-sig".into(), f.clone()]);
    }
    args
}

/// The JS half on its own: the driver reproduces `tests/vectors/naga-v8-small.json`, the SDK
/// mints the configurations the byte-for-byte test uses, its own output passes rust-to-js.js,
/// and rust-to-js.js rejects every negative control (v7-style messages, wrong split, ...).
#[test]
fn v8_sdk_half_checks_itself() {
    if !js_v8_available("interop with the Lit JS SDK v8") {
        return;
    }
    node("self-check.js", &["--count", &count().to_string(), "--seed", SEED]);
}

#[test]
fn v8_sdk_output_is_reproduced_byte_for_byte() {
    if !js_v8_available("interop with the Lit JS SDK v8") {
        return;
    }
    let count = count();
    let tmp = tempfile::tempdir().unwrap();
    let cases_file = tmp.path().join("js-cases.json");
    node("js-to-rust.js", &["--count", &count.to_string(), "--seed", SEED, "--out", cases_file.to_str().unwrap()]);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&cases_file).unwrap()).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert_eq!(cases.len(), count);

    let (mut sigs, mut delegations) = (0, 0);
    let mut sets = Vec::new();
    for case in cases {
        let id = s(&case["id"]);
        let dir = tmp.path().join(id);
        std::fs::create_dir(&dir).unwrap();
        let mut capability_files = Vec::new();
        for (i, d) in case["delegations"].as_array().unwrap().iter().enumerate() {
            let out = lit_session(&payment_delegation_args(&dir, i, d));
            assert!(out.status.success(), "{id} delegation {i}: {}", String::from_utf8_lossy(&out.stderr));
            let ours = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                ours.trim_end(),
                s(&d["authSigJson"]),
                "{id} delegation {i}: differs from createPaymentDelegationAuthSig"
            );
            // Handed to the session as the user has it (the SDK's JSON, reordered, or with an extra key).
            capability_files.push(write(&dir, &format!("cap{i}.json"), s(&d["capabilityFileJson"])));
            delegations += 1;
        }
        let out = lit_session(&session_sigs_args(&dir, case, &capability_files));
        assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
        let ours = String::from_utf8(out.stdout).unwrap();
        assert_eq!(ours.trim_end(), s(&case["sessionSigsJson"]), "{id}: output differs from the v8 SDK's");
        sigs += serde_json::from_str::<Value>(ours.trim_end()).unwrap().as_object().unwrap().len();
        let mut set = case.clone();
        set["sessionSigsJson"] = json!(ours.trim_end());
        sets.push(set);
    }

    let errors = file["errorCases"].as_array().unwrap();
    for case in errors {
        let id = s(&case["id"]);
        assert_eq!(s(&case["sdkError"]["name"]), "MaxPriceTooLow", "{id}");
        let dir = tmp.path().join(id);
        std::fs::create_dir(&dir).unwrap();
        let mut capability_files = Vec::new();
        for (i, d) in case["delegations"].as_array().unwrap().iter().enumerate() {
            capability_files.push(write(&dir, &format!("cap{i}.json"), s(&d["capabilityFileJson"])));
        }
        let out = lit_session(&session_sigs_args(&dir, case, &capability_files));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{id}: the SDK refuses ({}); we must exit 2",
            s(&case["sdkError"]["message"])
        );
        assert!(out.stdout.is_empty(), "{id}: output on a refused configuration");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim_end().lines().last().is_some_and(|l| !l.is_empty()), "{id}: no error line");
    }

    let sets_file = write(tmp.path(), "ours.json", &json!({ "sets": sets }).to_string());
    node("rust-to-js.js", &[&sets_file]);
    eprintln!(
        "js→rust v8: {count} configurations, {sigs} session sigs, {delegations} payment delegations: byte-identical; \
         {} MaxPriceTooLow configurations refused with exit 2; ours pass the v8 SDK's checks",
        errors.len()
    );
}
