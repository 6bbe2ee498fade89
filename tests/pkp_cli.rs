//! `lit-session pkp-session-sigs` run as a subprocess against the in-process Lit node
//! simulator: PKP and Lit Action flows, tolerated and fatal node faults, and bad input.

mod common;
mod simulator;

use std::process::Output;
use std::time::Duration;

use common::Fixture;
use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::bls::verify_lit_bls_auth_sig;
use lit_session_signer::pkp::{auth_method_type, LitAction, LitActionSource};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{NodeUrl, SessionSig};
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use simulator::{config_accepting, test_pkp, Fault, KnownAction, Simulator};

const TOKEN: &str = "cli-google-jwt";
const SEED: &str = "4242424242424242424242424242424242424242424242424242424242424242";
// ed25519 public key of the 42×32 seed (the SDK vector's session key).
const SESSION_PUBLIC_KEY: &str = "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn base_args(fx: &Fixture, sim: &Simulator) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "pkp-session-sigs".into(),
        "--pkp-public-key".into(),
        test_pkp(1).to_hex(),
        "--session-seed-file".into(),
        fx.file("session.seed", SEED),
        "--resource".into(),
        "lit-pkp://*=pkp-signing".into(),
        "--resource".into(),
        "lit-litaction://*=lit-action-execution".into(),
        "--nonce".into(),
        sim.config().latest_block_hash(),
        "--epoch".into(),
        "1".into(),
        "--timeout-ms".into(),
        "2000".into(),
    ];
    for url in sim.urls() {
        args.extend(["--node".into(), url.to_string()]);
    }
    args
}

fn with_auth(fx: &Fixture, mut args: Vec<String>) -> Vec<String> {
    let auth = json!({"authMethodType": auth_method_type::GOOGLE_JWT, "accessToken": TOKEN}).to_string();
    args.extend(["--auth-method-file".into(), fx.file("auth.json", &auth)]);
    args
}

fn run(args: &[String]) -> Output {
    common::lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every entry verifies with the simulator's network key; returns the LIT_BLS AuthSig.
fn check_output(out: &Output, sim: &Simulator) -> AuthSig {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let map: Value = serde_json::from_slice(&out.stdout).unwrap();
    let map = map.as_object().unwrap();
    let urls: Vec<String> = sim.urls().iter().map(ToString::to_string).collect();
    assert_eq!(map.keys().cloned().collect::<Vec<_>>(), urls, "keyed by the nodes, in order");
    let verifier = Verifier::new(VerifyPolicy::strict().with_network_key(sim.network_key()));
    let request: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
    let mut auth_sig = None;
    for (url, entry) in map {
        let sig: SessionSig = serde_json::from_value(entry.clone()).unwrap();
        assert_eq!(sig.address, SESSION_PUBLIC_KEY);
        let node: NodeUrl = url.parse().unwrap();
        verifier.verify(&sig, &node, &request, Timestamp::now()).unwrap_or_else(|e| panic!("{url}: {e}"));
        let signed: Value = serde_json::from_str(&sig.signed_message).unwrap();
        let last = signed["capabilities"].as_array().unwrap().last().unwrap().clone();
        auth_sig = Some(serde_json::from_value::<AuthSig>(last).unwrap());
    }
    let auth_sig = auth_sig.unwrap();
    verify_lit_bls_auth_sig(&auth_sig, &sim.network_key()).unwrap();
    assert_eq!(auth_sig.address, test_pkp(1).address().to_checksum());
    assert!(stderr.contains("network signature from"), "{stderr}");
    auth_sig
}

#[test]
fn pkp_and_lit_action_session_sigs_from_the_command_line() {
    let rt = runtime();
    let code = "(async () => { LitActions.setResponse({ response: 'true' }); })();";
    let b64 = match LitAction::from_code(code, json!({})).unwrap().source() {
        LitActionSource::Code(b64) => b64.clone(),
        other => panic!("{other:?}"),
    };
    let mut config = config_accepting(10, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN);
    config.actions.push(KnownAction { code_base64: Some(b64), ipfs_id: "QmCliCode".into(), pkp: test_pkp(1) });
    config.actions.push(KnownAction { code_base64: None, ipfs_id: "QmCliAction".into(), pkp: test_pkp(1) });
    let sim = rt.block_on(Simulator::start(config));
    let fx = Fixture::new();

    // PKP flow, network key pinned.
    let mut args = with_auth(&fx, base_args(&fx, &sim));
    args.extend(["--network-public-key".into(), sim.network_key().to_hex()]);
    check_output(&run(&args), &sim);

    // Lit Action by code, with jsParams.
    let mut args = base_args(&fx, &sim);
    args.extend(["--lit-action-code-file".into(), fx.file("action.js", code)]);
    args.extend(["--js-params-file".into(), fx.file("params.json", r#"{"answer": 42}"#)]);
    let auth_sig = check_output(&run(&args), &sim);
    assert!(auth_sig.signed_message.contains("lit-resolvedauthcontext"));
    let body: Value = serde_json::from_slice(&sim.received(0).last().unwrap().body).unwrap();
    assert_eq!(body["jsParams"], json!({"answer": 42}));
    assert!(body.get("code").is_some() && body.get("litActionIpfsId").is_none());

    // Lit Action by IPFS id, jsParams defaulting to {}.
    let mut args = base_args(&fx, &sim);
    args.extend(["--lit-action-ipfs-id".into(), "QmCliAction".into()]);
    check_output(&run(&args), &sim);
    let body: Value = serde_json::from_slice(&sim.received(0).last().unwrap().body).unwrap();
    assert_eq!((body["litActionIpfsId"].as_str(), &body["jsParams"]), (Some("QmCliAction"), &json!({})));
}

#[test]
fn node_faults_from_the_command_line() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(config_accepting(10, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)));
    let fx = Fixture::new();
    let args = with_auth(&fx, base_args(&fx, &sim));
    let urls = sim.urls();

    // One garbage node: tolerated (default threshold 7 of 10), reported on stderr.
    sim.set_fault(4, Fault::Garbage);
    for i in (0..10).filter(|i| *i != 4) {
        sim.set_fault(i, Fault::Delay(Duration::from_millis(100)));
    }
    let out = run(&args);
    check_output(&out, &sim);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("warning: node {}: bad JSON", urls[4])), "{stderr}");

    // Four failing nodes: exit 1, one line naming each.
    for i in 0..10 {
        sim.set_fault(i, Fault::None);
    }
    for i in [1, 3, 5, 7] {
        sim.set_fault(i, Fault::Http500);
    }
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("only 6 of 10 nodes gave a usable answer, 7 needed"), "{stderr}");
    for i in [1, 3, 5, 7] {
        assert!(stderr.contains(&format!("{}: HTTP 500", urls[i])), "{stderr}");
    }
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(config_accepting(3, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)));
    let fx = Fixture::new();
    let base = base_args(&fx, &sim);
    let good = with_auth(&fx, base.clone());
    let replace = |args: &[String], flag: &str, value: &str| {
        let mut out = args.to_vec();
        let i = out.iter().position(|a| a == flag).unwrap();
        out[i + 1] = value.to_string();
        out
    };
    let plus = |args: &[String], extra: &[&str]| {
        args.iter().cloned().chain(extra.iter().map(|s| s.to_string())).collect::<Vec<String>>()
    };
    let missing = fx.dir.path().join("missing.json").to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (replace(&good, "--pkp-public-key", "0x02abcd"), "--pkp-public-key"),
        (base.clone(), "no --auth-method-file and no Lit Action"),
        (replace(&good, "--auth-method-file", &fx.file("a1.json", "{\"authMethodType\": 6}")), "accessToken"),
        (replace(&good, "--auth-method-file", &fx.file("a2.json", "token")), "auth method must be"),
        (replace(&good, "--auth-method-file", &missing), "missing.json"),
        (plus(&good, &["--lit-action-ipfs-id", "QmX", "--lit-action-code-file", "x.js"]), "cannot be used with"),
        (plus(&good, &["--js-params-file", &fx.file("p.json", "{}")]), "needs a Lit Action"),
        (plus(&base, &["--lit-action-ipfs-id", "QmX", "--js-params-file", &fx.file("p2.json", "[1]")]), "JSON object"),
        (plus(&base, &["--lit-action-ipfs-id", "Qm/../x"]), "not an IPFS CID"),
        (plus(&base, &["--lit-action-code-file", &fx.file("empty.js", "  ")]), "code is empty"),
        (plus(&good, &["--min-responses", "0"]), "--min-responses"),
        (plus(&good, &["--min-responses", "4"]), "--min-responses"),
        (replace(&good, "--timeout-ms", "0"), "--timeout-ms"),
        (plus(&good, &["--network-public-key", "abcd"]), "--network-public-key"),
        (replace(&good, "--nonce", "short"), "SIWE"),
        (replace(&good, "--resource", "lit-pkp://*=flying"), "unknown ability"),
        (replace(&good, "--node", "127.0.0.1:1"), "malformed node URL"),
        (replace(&good, "--epoch", "x"), "--epoch"),
        (plus(&good, &["--expiration", "2001-01-01T00:00:00Z"]), "not after issuedAt"),
        (plus(&good, &["--session-key", "pkcs11:token=x"]), "cannot be used with"),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // No node was asked anything.
    assert!((0..3).all(|i| sim.received(i).is_empty()));
    // The access token is only ever read from a file.
    let out = run(&plus(&good, &["--access-token", TOKEN]));
    assert_eq!(out.status.code(), Some(2));
}
