//! The real Lit JS SDK 7.4.0 (`interop/pkp-request.js`, offline) runs `getPkpSessionSigs` /
//! `getLitActionSessionSigs` on the same inputs as we do; its `/web/sign_session_key/v1`
//! requests are intercepted and answered with the simulator's responses to *our* request.
//! Checked: the SDK's request body is byte-identical to ours, its headers are the ones we send,
//! it makes exactly one round of requests (its own wasm accepted the simulator's network
//! signature; otherwise it re-signs), and its session sigs are byte-identical to ours.
//!
//! Needs `node` and `interop/node_modules`; skipped without them unless `LIT_REQUIRE_INTEROP=1`.

mod common;
mod simulator;

use common::{interop_dir, js_available};
use std::process::Command;

use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::pkp::{
    auth_method_type, AuthMethod, EncodedRequest, LitAction, PkpSessionSigsRequest, SignOptions,
};
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use simulator::{test_pkp, KnownAction, KnownAuth, OfflineNetwork, SimulatorConfig};
use zeroize::Zeroizing;

struct Case {
    id: &'static str,
    nodes: usize,
    threshold: usize,
    auth_methods: Vec<(u32, String)>,
    action: Option<(LitAction, Value)>,
    resources: Vec<(&'static str, &'static str, &'static str)>,
    expiration: Option<&'static str>,
    domain: Option<&'static str>,
    capabilities: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let wallet_token = r#"{"sig":"0xabc","derivedVia":"web3.eth.personal.sign","signedMessage":"line \"one\"\nü € \u2028","address":"0x1"}"#;
    let code = "(async () => {\n  const ok = jsParams.n > 1.5;\n  LitActions.setResponse({ response: ok ? 'true' : 'false' });\n})();";
    vec![
        Case {
            id: "pkp-google-10-nodes",
            nodes: 10,
            threshold: 7,
            auth_methods: vec![(auth_method_type::GOOGLE_JWT, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln".into())],
            action: None,
            resources: vec![("lit-pkp", "*", "pkp-signing"), ("lit-litaction", "*", "lit-action-execution")],
            expiration: Some("2025-03-16T00:00:00.000Z"),
            domain: None,
            capabilities: vec![
                json!({"sig": "0x1", "derivedVia": "web3.eth.personal.sign", "signedMessage": "delegation", "address": "0xAb"}),
            ],
        },
        Case {
            id: "pkp-two-methods-default-expiry-domain",
            nodes: 3,
            threshold: 2,
            auth_methods: vec![
                (auth_method_type::ETH_WALLET, wallet_token.into()),
                (auth_method_type::STYTCH_OTP, "otp-123".into()),
            ],
            action: None,
            resources: vec![("lit-pkp", "*", "pkp-signing")],
            expiration: None,
            domain: Some("app.example.com:8443"),
            capabilities: vec![],
        },
        Case {
            id: "lit-action-code",
            nodes: 5,
            threshold: 4,
            auth_methods: vec![],
            action: Some((
                LitAction::from_code(code, json!({"n": 2.5, "list": [1, 2.0, {"k": "ü"}], "big": 1e21, "neg": -0.0}))
                    .unwrap(),
                json!({"n": 2.5, "list": [1, 2.0, {"k": "ü"}], "big": 1e21, "neg": -0.0}),
            )),
            resources: vec![
                ("lit-litaction", "*", "lit-action-execution"),
                ("lit-accesscontrolcondition", "*", "access-control-condition-decryption"),
            ],
            expiration: Some("2025-03-15T18:00:00.000Z"),
            domain: None,
            capabilities: vec![],
        },
        Case {
            id: "lit-action-ipfs",
            nodes: 4,
            threshold: 3,
            auth_methods: vec![(auth_method_type::DISCORD, "discord-token".into())],
            action: Some((
                LitAction::from_ipfs_id("QmYkkA5GA5Dtj7RX7gYmnGUA2XHmN8YA1ZP2Bjfd7uHxnR", json!({})).unwrap(),
                json!({}),
            )),
            resources: vec![("lit-pkp", "*", "pkp-signing")],
            expiration: None,
            domain: None,
            capabilities: vec![],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_sends_our_request_and_mints_our_session_sigs() {
    if !js_available("PKP interop with the Lit JS SDK") {
        return;
    }
    let now: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
    let nonce = simulator::test_block_hash(7);
    let pkp = test_pkp(3);
    let tmp = tempfile::tempdir().unwrap();
    let mut js_cases = Vec::new();
    let mut ours = Vec::new();
    for (n, case) in cases().into_iter().enumerate() {
        let nodes: Vec<NodeUrl> =
            (0..case.nodes).map(|i| format!("http://127.0.0.1:{}", 7470 + i).parse().unwrap()).collect();
        let seed = [0x40 + n as u8; 32];
        let store = MemoryKeyStore::new();
        let id = store.import_seed("session", Zeroizing::new(seed)).unwrap();
        let public_key = store.public_key(&id).unwrap();
        let requests = case.resources.iter().map(|(p, i, a)| format!("{p}://{i}={a}").parse().unwrap()).collect();
        let methods: Vec<AuthMethod> =
            case.auth_methods.iter().map(|(t, tok)| AuthMethod::new(*t, tok.as_str())).collect();
        let mut request = match &case.action {
            Some((action, _)) => {
                let mut r = PkpSessionSigsRequest::lit_action(nodes.clone(), pkp, action.clone(), requests, &nonce, 9);
                r.auth_methods = methods;
                r
            }
            None => PkpSessionSigsRequest::new(nodes.clone(), pkp, methods, requests, &nonce, 9),
        };
        request.now = now;
        request.params.expiration = case.expiration.map(|e| e.parse().unwrap());
        request.params.siwe.domain = case.domain.map(str::to_string);
        request.params.capability_auth_sigs = case.capabilities.clone();

        // The simulated network answers our request; the SDK gets the same answers.
        let mut config = SimulatorConfig::new(case.nodes, case.threshold);
        config.seed = [n as u8 + 1; 32];
        config.epoch = 9;
        config.now = Some(now.as_datetime());
        config.blocks = vec![(nonce.clone(), now.as_datetime() - time::Duration::seconds(12))];
        for (t, tok) in &case.auth_methods {
            config.auths.push(KnownAuth {
                auth_method_type: *t,
                access_token: tok.clone(),
                user_id: format!("u{t}"),
                pkp,
            });
        }
        if let Some((action, _)) = &case.action {
            let (code_base64, ipfs_id) = match action.source() {
                lit_session_signer::pkp::LitActionSource::Code(c) => (Some(c.clone()), "QmComputedForCode".to_string()),
                lit_session_signer::pkp::LitActionSource::IpfsId(cid) => (None, cid.clone()),
            };
            config.actions.push(KnownAction { code_base64, ipfs_id, pkp });
        }
        let network = OfflineNetwork::new(config);
        let body = EncodedRequest::new(&request.sign_session_key_request(&public_key).unwrap()).unwrap();
        let canned = network.canned(&nodes, body.body());
        let responses: serde_json::Map<String, Value> =
            canned.0.iter().map(|(url, answer)| (url.clone(), serde_json::from_slice(answer).unwrap())).collect();
        let sigs = request.sign(&canned, &store, &id, &SignOptions::new(case.threshold)).await.unwrap();

        let mut js = json!({
            "id": case.id, "now": now.to_string(), "nodes": nodes.iter().map(NodeUrl::as_str).collect::<Vec<_>>(),
            "minNodeCount": case.threshold, "networkPubKey": network.network_key().to_hex(), "epoch": 9,
            "nonce": nonce, "sessionSeed": hex::encode(seed), "pkpPublicKey": pkp.to_hex(),
            "resources": case.resources.iter().map(|(p, i, a)| json!({"prefix": p, "id": i, "ability": a})).collect::<Vec<_>>(),
            "authMethods": case.auth_methods.iter().map(|(t, tok)| json!({"authMethodType": t, "accessToken": tok})).collect::<Vec<_>>(),
            "responses": responses,
        });
        if let Some(e) = case.expiration {
            js["expiration"] = json!(e);
        }
        if let Some(d) = case.domain {
            js["domain"] = json!(d);
        }
        if !case.capabilities.is_empty() {
            js["capabilityAuthSigs"] = json!(case.capabilities);
        }
        if let Some((action, params)) = &case.action {
            match action.source() {
                lit_session_signer::pkp::LitActionSource::Code(c) => js["litActionCode"] = json!(c),
                lit_session_signer::pkp::LitActionSource::IpfsId(cid) => js["litActionIpfsId"] = json!(cid),
            }
            js["jsParams"] = params.clone();
        }
        js_cases.push(js);
        ours.push((case.id, nodes, body, sigs.session_sigs.to_json()));
    }

    let input = tmp.path().join("pkp-cases.json");
    let output = tmp.path().join("pkp-sdk.json");
    std::fs::write(&input, Value::Array(js_cases).to_string()).unwrap();
    let status = Command::new("node")
        .arg(interop_dir().join("pkp-request.js"))
        .args([&input, &output])
        .current_dir(interop_dir())
        .status()
        .unwrap();
    assert!(status.success(), "node pkp-request.js failed");
    let sdk: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();

    for ((id, nodes, body, our_sigs), run) in ours.iter().zip(sdk.as_array().unwrap()) {
        assert_eq!(run["id"], *id);
        let requests = run["requests"].as_array().unwrap();
        assert_eq!(requests.len(), nodes.len(), "{id}: the SDK asked each node once (its BLS check passed)");
        let request_id = requests[0]["headers"]["X-Request-Id"].as_str().unwrap();
        assert!(request_id.starts_with("lit_") && request_id.len() > 4, "{id}: {request_id}");
        for (req, node) in requests.iter().zip(nodes) {
            assert_eq!(req["url"], format!("{node}/web/sign_session_key/v1"), "{id}");
            assert_eq!(req["method"], "POST");
            assert_eq!(
                req["body"].as_str().unwrap(),
                std::str::from_utf8(body.body()).unwrap(),
                "{id}: the SDK's body differs from ours"
            );
            let headers = req["headers"].as_object().unwrap();
            let expected: Vec<(&str, String)> = body.headers().into_iter().collect();
            assert_eq!(headers.len(), expected.len(), "{id}: {headers:?}");
            for (name, value) in expected {
                if name == "X-Request-Id" {
                    assert_eq!(headers[name], request_id, "{id}: one request id for every node");
                } else {
                    assert_eq!(headers[name], value, "{id}: header {name}");
                }
            }
        }
        assert_eq!(run["sessionSigsJson"].as_str().unwrap(), our_sigs, "{id}: the SDK's session sigs differ from ours");
    }
}
