//! Interop with the real Lit JS SDK 7.4.0 (npm packages in `interop/`, run offline), both ways:
//! the SDK mints, `lit-session` reproduces byte for byte; we mint, the SDK's own checks accept.
//!
//! Needs `node` and `interop/node_modules` (`npm ci` in `interop/`; `scripts/test-all.sh` does
//! it). Without them these tests skip, unless `LIT_REQUIRE_INTEROP=1`, when they fail.

mod common;

use std::path::Path;
use std::process::Command;

use common::{interop_dir, js_available};
use lit_session_signer::capacity_delegation::CapacityDelegation;
use lit_session_signer::jcs;
use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourcePrefix};
use lit_session_signer::session_sigs::{NodeUrl, SessionSig, SessionSigsRequest};
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::wallet::MemoryWallet;
use lit_session_signer::Timestamp;
use serde_json::{json, Value};

fn node(script: &str, args: &[&str]) {
    let status = Command::new("node").arg(interop_dir().join(script)).args(args).current_dir(interop_dir()).status();
    assert!(status.is_ok_and(|s| s.success()), "node {script} failed");
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    common::write_private(&p, contents.as_bytes());
    p.to_str().unwrap().to_string()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn js_sdk_output_is_reproduced_byte_for_byte() {
    if !js_available("interop with the Lit JS SDK") {
        return;
    }
    let count = env_usize("LIT_INTEROP_COUNT", 200);
    let tmp = tempfile::tempdir().unwrap();
    let cases_file = tmp.path().join("js-cases.json");
    node(
        "js-to-rust.js",
        &["--count", &count.to_string(), "--seed", "20261121", "--out", cases_file.to_str().unwrap()],
    );
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(&cases_file).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), count);

    let (mut sigs, mut with_delegation, mut checks) = (0, 0, 0);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let dir = tmp.path().join(id);
        std::fs::create_dir(&dir).unwrap();
        let mut args = vec![
            "session-sigs".to_string(),
            "--wallet-key-file".into(),
            write(&dir, "wallet.key", case["walletKey"].as_str().unwrap()),
            "--session-seed-file".into(),
            write(&dir, "session.seed", case["sessionSeed"].as_str().unwrap()),
            "--nonce".into(),
            case["nonce"].as_str().unwrap().into(),
            "--now".into(),
            case["now"].as_str().unwrap().into(),
        ];
        for node in case["nodes"].as_array().unwrap() {
            args.extend(["--node".into(), node.as_str().unwrap().into()]);
        }
        for r in case["resources"].as_array().unwrap() {
            let spec = format!(
                "{}://{}={}",
                r["prefix"].as_str().unwrap(),
                r["id"].as_str().unwrap(),
                r["ability"].as_str().unwrap()
            );
            args.extend(["--resource".into(), spec]);
        }
        for (flag, key) in [("--expiration", "expiration"), ("--domain", "domain"), ("--statement", "statement")] {
            if let Some(v) = case.get(key).and_then(Value::as_str) {
                args.extend([flag.into(), v.into()]);
            }
        }
        if let Some(c) = case.get("chainId").and_then(Value::as_u64) {
            args.extend(["--chain-id".into(), c.to_string()]);
        }
        for (i, d) in case["delegations"].as_array().unwrap().iter().enumerate() {
            let file = write(&dir, &format!("cap{i}.json"), &jcs::to_js_string(&d["authSig"]));
            args.extend(["--capability-auth-sig".into(), file]);
            with_delegation += 1;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_lit-session")).args(&args).output().unwrap();
        assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
        let ours = String::from_utf8(out.stdout).unwrap();
        let theirs = case["sessionSigsJson"].as_str().unwrap();
        assert_eq!(ours.trim_end(), theirs, "{id}: output differs from the JS SDK's");
        sigs += case["nodes"].as_array().unwrap().len();
        checks += verify_every_entry(id, &dir, theirs, case);
    }
    eprintln!(
        "js→rust: {count} configurations, {sigs} session sigs, {with_delegation} capacity delegations: \
         byte-identical; {checks} (entry, request) pairs verified"
    );
}

/// Every entry of the SDK's map passes our verifier (as the node would check it) for every
/// request the session's ReCap grants; shadowed requests fail with the recap-grant rule. One
/// entry per case also goes through `lit-session verify`.
fn verify_every_entry(id: &str, dir: &Path, session_sigs_json: &str, case: &Value) -> usize {
    let now: Timestamp = case["now"].as_str().unwrap().parse().unwrap();
    let requests: Vec<ResourceAbilityRequest> = case["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}://{}={}",
                r["prefix"].as_str().unwrap(),
                r["id"].as_str().unwrap(),
                r["ability"].as_str().unwrap()
            )
        })
        .map(|spec| spec.parse().unwrap())
        .collect();
    let granted = lit_session_signer::siwe::recap_for_requests(&requests);
    let verifier = Verifier::new(VerifyPolicy::node());
    let map: Value = serde_json::from_str(session_sigs_json).unwrap();
    let mut checked = 0;
    for (node, entry) in map.as_object().unwrap() {
        let sig: SessionSig = serde_json::from_value(entry.clone()).unwrap();
        let node_url: NodeUrl = node.parse().unwrap();
        for req in &requests {
            let result = verifier.verify(&sig, &node_url, req, now);
            if granted.grants(req.resource(), req.ability()) {
                assert!(result.is_ok(), "{id} {node} {}: {:?}", req.resource(), result.err());
            } else {
                let rule = result.err().and_then(|e| e.capability_error().map(|c| c.rule()));
                assert_eq!(rule, Some("recap-grant"), "{id} {node}: shadowed request");
            }
            checked += 1;
        }
    }
    let first_node = case["nodes"][0].as_str().unwrap();
    let req = requests.iter().find(|r| granted.grants(r.resource(), r.ability())).unwrap();
    let file = write(dir, "session-sigs.json", session_sigs_json);
    let spec = format!("{}={}", req.resource(), req.ability());
    let out = Command::new(env!("CARGO_BIN_EXE_lit-session"))
        .args(["verify", "--session-sigs", &file, "--node", first_node, "--resource", &spec, "--now", &now.to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid", "{id}: {}", String::from_utf8_lossy(&out.stderr));
    checked
}

/// A tiny deterministic generator for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
}

fn random_request(rng: &mut Rng) -> ResourceAbilityRequest {
    let (prefix, ability, id) = match rng.below(5) {
        0 => (ResourcePrefix::Pkp, LitAbility::PkpSigning, format!("0x{}", hex::encode(rng.bytes32()))),
        1 => (
            ResourcePrefix::LitAction,
            LitAbility::LitActionExecution,
            "QmYzS3Vx4WXPbQF9bN3pGRPbX8v1Pd3ZJmCq7cTSCfbVnd".into(),
        ),
        2 => (
            ResourcePrefix::AccessControlCondition,
            LitAbility::AccessControlConditionDecryption,
            hex::encode(rng.bytes32()),
        ),
        3 => (ResourcePrefix::AccessControlCondition, LitAbility::AccessControlConditionSigning, "*".into()),
        _ => {
            (ResourcePrefix::RateLimitIncrease, LitAbility::RateLimitIncreaseAuth, (rng.below(100_000) + 1).to_string())
        }
    };
    let id = if rng.below(3) == 0 { "*".to_string() } else { id };
    ResourceAbilityRequest::new(LitResource::new(prefix, &id).unwrap(), ability).unwrap()
}

/// The request, and whether our ReCap check grants it: the SDK's check must agree.
fn request_json(r: &ResourceAbilityRequest, all: &[ResourceAbilityRequest]) -> Value {
    let granted = lit_session_signer::siwe::recap_for_requests(all).grants(r.resource(), r.ability());
    json!({"prefix": r.resource().prefix().as_str(), "id": r.resource().id(), "ability": r.ability().as_str(), "granted": granted})
}

#[test]
fn our_session_sigs_pass_the_sdk_checks() {
    if !js_available("interop with the Lit JS SDK") {
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let now = Timestamp::now();
    let mut sets = Vec::new();
    for i in 0..40 {
        let store = MemoryKeyStore::new();
        let key = store.generate("interop").unwrap();
        let wallet = MemoryWallet::random().unwrap();
        let nodes = (0..1 + rng.below(30)).map(|n| format!("https://10.0.{i}.{n}:443").parse().unwrap()).collect();
        let requests: Vec<_> = (0..1 + rng.below(5)).map(|_| random_request(&mut rng)).collect();
        let nonce = format!("0x{}", hex::encode(rng.bytes32()));
        let mut req = SessionSigsRequest::new(nodes, requests.clone(), &nonce);
        req.now = now;
        if i % 3 == 0 {
            let owner = MemoryWallet::random().unwrap();
            let delegation = CapacityDelegation {
                token_id: (i % 2 == 0).then(|| (rng.below(1000) + 1).to_string()),
                delegatees: Some(vec![wallet_address(&wallet)]),
                uses: Some(rng.below(100) + 1),
                ..CapacityDelegation::default()
            };
            let auth_sig = delegation.sign(&owner, &nonce, now).unwrap();
            req.params.capability_auth_sigs.push(serde_json::to_value(auth_sig).unwrap());
        }
        let sigs = req.sign(&store, &key, &wallet).unwrap();
        sets.push(json!({
            "id": format!("rust-memory-{i}"),
            "now": now.to_string(),
            "nodes": sigs.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
            "resources": requests.iter().map(|r| request_json(r, &requests)).collect::<Vec<_>>(),
            "sessionSigsJson": sigs.to_json(),
        }));
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "minted.json", &json!({ "sets": sets }).to_string());
    node("rust-to-js.js", &[&file]);
}

fn wallet_address(w: &MemoryWallet) -> String {
    use lit_session_signer::wallet::WalletSigner;
    w.address().to_string()
}
