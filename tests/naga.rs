//! The Naga (JS SDK v8) format: `tests/vectors/naga-v8-small.json` reproduced byte for byte by
//! the library and the CLI, the real v8-format fixture verified under the Naga policy as of its
//! window, the generation policies, payment delegation, minting from a delegation AuthSig, the
//! manager across formats, and bad v8 input (exit 2, one line).

mod common;

use std::sync::Arc;

use common::{lit_session, vector, Fixture};
use lit_session_signer::jcs;
use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::manager::{AuthSigUse, AuthSource, MemoryAuthSigStore, SessionKeyPolicy, SessionManager};
use lit_session_signer::pricing::NodePricing;
use lit_session_signer::protocol::{NodeUrl, Price, SignedMessage};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{SessionParams, SessionSig, SessionSigsRequest};
use lit_session_signer::verify::{parse_session_sigs, verify_session_sig, Generation, VerifyError, VerifyPolicy};
use lit_session_signer::wallet::MemoryWallet;
use lit_session_signer::{SessionFormat, Timestamp};
use serde_json::Value;
use zeroize::Zeroizing;

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn naga() -> Value {
    vector("naga-v8-small.json")
}

fn seed(hex_text: &str) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, out.as_mut()).unwrap();
    out
}

const REQUESTS: [&str; 2] = ["lit-pkp://*=pkp-signing", "lit-litaction://*=lit-action-execution"];

/// The product column the vector priced (SIGN).
fn product_column(inputs: &Value) -> usize {
    inputs["pricing"]["productId"].as_u64().unwrap() as usize
}

#[test]
fn the_library_reproduces_the_v8_vector() {
    let v = naga();
    let (inputs, outputs) = (&v["vector"]["inputs"], &v["vector"]["outputs"]);
    let store = MemoryKeyStore::new();
    let key = store.import_seed("session", seed(s(&inputs["sessionKeySeedHex"]))).unwrap();
    let wallet = MemoryWallet::from_bytes(&seed(s(&inputs["walletPrivateKey"]).trim_start_matches("0x"))).unwrap();
    let col = product_column(inputs);
    let mut pricing = NodePricing::new().with_threshold(inputs["pricing"]["threshold"].as_u64().unwrap() as usize);
    let mut nodes: Vec<NodeUrl> = Vec::new();
    for n in inputs["pricing"]["nodePrices"].as_array().unwrap() {
        let url: NodeUrl = s(&n["url"]).parse().unwrap();
        pricing = pricing.with_node_price(url.clone(), s(&n["prices"][col]).parse().unwrap());
        nodes.push(url);
    }
    let requests: Vec<ResourceAbilityRequest> = REQUESTS.iter().map(|r| r.parse().unwrap()).collect();
    let params =
        SessionParams::new(s(&inputs["latestBlockhashNonce"])).with_format(SessionFormat::V2).with_pricing(pricing);
    let request =
        SessionSigsRequest::from_params(nodes, requests, params).with_now(s(&inputs["frozenNow"]).parse().unwrap());
    // The v8 defaults: 15 minutes from issuedAt, the empty statement.
    assert_eq!(request.expiration().to_string(), s(&outputs["effectiveExpiration"]));
    let siwe = request.session_siwe(&store.public_key(&key).unwrap(), &wallet).render().unwrap();
    assert_eq!(siwe, s(&outputs["delegationSiweMessage"]));
    let sigs = request.sign(&store, &key, &wallet).unwrap();
    assert_eq!(sigs.to_json(), jcs::to_js_string(&outputs["sessionSigs"]));
    // Cheapest first, each with the SDK's maxPrice.
    for ((node, sig), expected) in sigs.iter().zip(outputs["maxPrices"].as_array().unwrap()) {
        assert_eq!(node.as_str(), s(&expected["url"]));
        let read = SignedMessage::parse_as(SessionFormat::V2, &sig.signed_message).unwrap();
        assert_eq!(read.max_price().unwrap().unwrap().to_hex(), s(&expected["maxPriceHex"]));
        assert_eq!(read.max_price().unwrap().unwrap().to_string(), s(&expected["maxPriceDecimal"]));
    }
}

/// `lit-session session-sigs --format v8` flags for the vector.
fn vector_args(fx: &Fixture) -> (Vec<String>, Value) {
    let v = naga();
    let inputs = &v["vector"]["inputs"];
    let wallet = fx.file("wallet.key", &format!("{}\n", s(&inputs["walletPrivateKey"])));
    let seed = fx.file("session.seed", s(&inputs["sessionKeySeedHex"]));
    let mut args: Vec<String> = vec![
        "session-sigs".into(),
        "--format".into(),
        "v8".into(),
        "--wallet-key-file".into(),
        wallet,
        "--session-seed-file".into(),
        seed,
    ];
    let col = product_column(inputs);
    for n in inputs["pricing"]["nodePrices"].as_array().unwrap() {
        args.extend(["--node".into(), s(&n["url"]).into()]);
        args.extend(["--node-price".into(), format!("{}={}", s(&n["url"]), s(&n["prices"][col]))]);
    }
    for r in REQUESTS {
        args.extend(["--resource".into(), r.into()]);
    }
    args.extend(["--nonce".into(), s(&inputs["latestBlockhashNonce"]).into()]);
    args.extend(["--now".into(), s(&inputs["frozenNow"]).into()]);
    (args, v["vector"]["outputs"]["sessionSigs"].clone())
}

fn run(args: &[String]) -> std::process::Output {
    lit_session(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn run_ok(args: &[String]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_cli_reproduces_the_v8_vector() {
    let fx = Fixture::new();
    let (args, expected) = vector_args(&fx);
    assert_eq!(run_ok(&args), format!("{}\n", jcs::to_js_string(&expected)));
    // The same with the threshold and maximum spelt out (the SDK's defaults), prices in hex.
    let mut spelt = args.clone();
    spelt.extend(["--threshold".into(), "3".into(), "--max-price".into(), format!("0x{}", "f".repeat(32))]);
    assert_eq!(run_ok(&spelt), format!("{}\n", jcs::to_js_string(&expected)));
}

#[test]
fn the_v7_default_is_unchanged_by_the_v8_flags_existing() {
    // The v7 vector through the CLI without --format, and with --format v7: the same bytes.
    let v = vector("deterministic-session-sigs-small.json");
    let inputs = &v["vector"]["inputs"];
    let fx = Fixture::new();
    let wallet = fx.file("wallet.key", s(&inputs["walletPrivateKey"]));
    let seed = fx.file("session.seed", s(&inputs["sessionKeySeedHex"]));
    let mut args: Vec<String> =
        vec!["session-sigs".into(), "--wallet-key-file".into(), wallet, "--session-seed-file".into(), seed];
    for n in inputs["connectedNodes"].as_array().unwrap() {
        args.extend(["--node".into(), s(n).into()]);
    }
    args.extend(["--resource".into(), "lit-pkp://*=pkp-signing".into()]);
    for (flag, key) in [("--nonce", "latestBlockhashNonce"), ("--expiration", "expiration"), ("--now", "frozenNow")] {
        args.extend([flag.into(), s(&inputs[key]).into()]);
    }
    let expected = format!("{}\n", jcs::to_js_string(&v["vector"]["outputs"]["sessionSigs"]));
    assert_eq!(run_ok(&args), expected);
    let mut v7 = args.clone();
    v7.extend(["--format".into(), "v7".into()]);
    assert_eq!(run_ok(&v7), expected);
}

fn fixture_sigs() -> Vec<(NodeUrl, SessionSig, Timestamp)> {
    let v = naga();
    let fixture = &v["realFixture"];
    fixture["sessionSigs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(node, sig)| {
            let issued = s(&fixture["verification"]["perNode"][node]["issuedAt"]).parse().unwrap();
            (node.parse().unwrap(), serde_json::from_value(sig.clone()).unwrap(), issued)
        })
        .collect()
}

#[test]
fn the_real_v8_fixture_verifies_under_the_naga_policy_as_of_its_window() {
    let naga = VerifyPolicy::node().for_generation(Generation::Naga);
    let requests: Vec<ResourceAbilityRequest> =
        ["lit-pkp://0x1a2b=pkp-signing", "lit-litaction://QmX=lit-action-execution"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
    let fixtures = fixture_sigs();
    assert_eq!(fixtures.len(), 3);
    for (node, sig, issued) in &fixtures {
        for r in &requests {
            for policy in [&naga, &VerifyPolicy::node()] {
                let ok =
                    verify_session_sig(sig, node, r, *issued, policy).unwrap_or_else(|e| panic!("{node} {r}: {e}"));
                assert_eq!(ok.siwe_address.to_checksum(), "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
            }
        }
        // Its decimal maxPrice is the node's other string form.
        let read = SignedMessage::parse_as(SessionFormat::V2, &sig.signed_message).unwrap();
        assert_eq!(read.max_price(), Some(Ok(Price::from_u128(u128::MAX / 3))));
        // A day later it has expired for either generation.
        let later = issued.saturating_add(time::Duration::days(2));
        let err = verify_session_sig(sig, node, &requests[0], later, &naga).unwrap_err();
        assert!(matches!(err, VerifyError::Expired { .. }), "{err}");
    }
}

#[test]
fn a_naga_node_refuses_the_v7_message_and_a_datil_node_reads_both() {
    let v7 = vector("deterministic-session-sigs-small.json");
    let now: Timestamp = s(&v7["vector"]["inputs"]["frozenNow"]).parse().unwrap();
    let pkp: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
    let naga_policy = VerifyPolicy::node().for_generation(Generation::Naga);
    for (node, sig) in v7["vector"]["outputs"]["sessionSigs"].as_object().unwrap() {
        let node: NodeUrl = node.parse().unwrap();
        let sig: SessionSig = serde_json::from_value(sig.clone()).unwrap();
        assert!(verify_session_sig(&sig, &node, &pkp, now, &VerifyPolicy::node()).is_ok());
        let err = verify_session_sig(&sig, &node, &pkp, now, &naga_policy).unwrap_err();
        assert!(err.to_string().starts_with("signed-message: missing field `maxPrice`"), "{err}");
        assert_eq!(err.node_function(Generation::Naga), Some("auth/session_sigs.rs::parse_signed_message"));
    }
    let v8 = naga();
    let now: Timestamp = s(&v8["vector"]["inputs"]["frozenNow"]).parse().unwrap();
    for (node, sig) in v8["vector"]["outputs"]["sessionSigs"].as_object().unwrap() {
        let node: NodeUrl = node.parse().unwrap();
        let sig: SessionSig = serde_json::from_value(sig.clone()).unwrap();
        for policy in [&naga_policy, &VerifyPolicy::node(), &VerifyPolicy::strict()] {
            verify_session_sig(&sig, &node, &pkp, now, policy).unwrap_or_else(|e| panic!("{node}: {e}"));
        }
    }
}

#[test]
fn verify_and_inspect_choose_the_generation() {
    let fx = Fixture::new();
    let v7 = vector("deterministic-session-sigs-small.json");
    let file = fx.file("v7.json", &jcs::to_js_string(&v7["vector"]["outputs"]["sessionSigs"]));
    let now = s(&v7["vector"]["inputs"]["frozenNow"]).to_string();
    let verify = |network: &str| {
        let args: Vec<String> = [
            "verify",
            "--session-sigs",
            &file,
            "--node",
            "http://127.0.0.1:7471",
            "--resource",
            "lit-pkp://*=pkp-signing",
            "--now",
            &now,
            "--network",
            network,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        run(&args)
    };
    let datil = verify("datil");
    assert_eq!(datil.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&datil.stdout), "valid\n");
    let naga = verify("naga");
    assert_eq!(naga.status.code(), Some(1));
    let out = String::from_utf8_lossy(&naga.stdout);
    assert!(out.starts_with("invalid: signed-message: missing field `maxPrice`"), "{out}");
    assert!(out.ends_with("(naga node: auth/session_sigs.rs::parse_signed_message)\n"), "{out}");
    let bad = verify("mainnet");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--network"));

    // inspect: the format and each node's maxPrice.
    let (args, _) = vector_args(&fx);
    let map = run_ok(&args);
    let v8_file = fx.file("v8.json", &map);
    let inspect = |extra: &[&str]| {
        let mut a: Vec<String> =
            ["inspect", "--session-sigs", &v8_file, "--now", s(&naga_now())].iter().map(|x| x.to_string()).collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        run_ok(&a)
    };
    let report: Value = serde_json::from_str(&inspect(&["--json", "--network", "naga"])).unwrap();
    assert_eq!(report["generation"], "naga");
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["format"], "v8 (Naga)");
    assert_eq!(entries[0]["max_price"], "0x55555555555555555555546c80b04555");
    assert_eq!(entries[1]["max_price_decimal"], "113427455640312821154458202477256070485");
    assert!(entries.iter().all(|e| e["verdict"] == "valid"), "{report}");
    let table = inspect(&[]);
    assert!(table.contains("format        v8 (Naga)"), "{table}");
    assert!(
        table.contains("maxPrice      0x55555555555555555555555555555555 (113427455640312821154458202477256070485)"),
        "{table}"
    );
}

fn naga_now() -> Value {
    naga()["vector"]["inputs"]["frozenNow"].clone()
}

const DELEGATOR_KEY: &str = "0x4444444444444444444444444444444444444444444444444444444444444444";

#[test]
fn payment_delegation_is_embedded_and_inspect_checks_max_price() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let delegator = fx.file("delegator.key", DELEGATOR_KEY);
    // The session's user is the vector's wallet.
    let user = "0x3252b7b65e50B54508974dB8d634134B0bd6be90";
    let mint_delegation = |max_price: &str| {
        let a: Vec<String> = [
            "payment-delegation",
            "--wallet-key-file",
            &delegator,
            "--nonce",
            "0x1234567890abcdef",
            "--delegatee",
            user,
            "--max-price",
            max_price,
            "--scope",
            "pkp_sign",
            "--scope",
            "lit_action",
            "--now",
            "2026-01-20T09:00:00.000Z",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        run_ok(&a)
    };
    let generous = mint_delegation(&format!("0x{}", "f".repeat(40)));
    let stingy = mint_delegation("1000");
    let auth_sig: Value = serde_json::from_str(&stingy).unwrap();
    let siwe = s(&auth_sig["signedMessage"]);
    assert!(siwe.contains("\nURI: lit:capability:delegation\n"), "{siwe}");
    assert!(siwe.contains("(1) 'Auth': 'Auth' for 'lit-paymentdelegation://*'."), "{siwe}");
    assert!(siwe.starts_with("localhost wants you to sign in"), "{siwe}");

    let mut with_caps = args.clone();
    with_caps.extend(["--capability-auth-sig".into(), fx.file("generous.json", &generous)]);
    with_caps.extend(["--capability-auth-sig".into(), fx.file("stingy.json", &stingy)]);
    let map: Value = serde_json::from_str(&run_ok(&with_caps)).unwrap();
    let first = map.as_object().unwrap().values().next().unwrap();
    let signed: Value = serde_json::from_str(s(&first["signedMessage"])).unwrap();
    let caps = signed["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 3);
    assert_eq!(jcs::to_js_string(&caps[0]), generous.trim_end());
    assert_eq!(jcs::to_js_string(&caps[1]), stingy.trim_end());
    assert!(s(&caps[2]["signedMessage"]).contains("URI: lit:session:"));

    let file = fx.file("map.json", &jcs::to_js_string(&map));
    let report: Value = serde_json::from_str(&run_ok(
        &["inspect", "--session-sigs", &file, "--json", "--network", "naga", "--now", s(&naga_now())]
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>(),
    ))
    .unwrap();
    let checks = report["entries"][0]["payment_delegations"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{report}");
    assert!(s(&checks[0]["max_price_check"]).starts_with("within: maxPrice 0x"), "{report}");
    assert_eq!(checks[1]["max_price"], "0x3e8");
    assert!(s(&checks[1]["max_price_check"]).starts_with("exceeds: maxPrice 0x"), "{report}");
    assert_eq!(checks[1]["delegates_to_user"], true);
    assert_eq!(checks[1]["scopes"], serde_json::json!(["pkp_sign", "lit_action"]));
    // The session itself stays valid: the node only skips that payer.
    assert_eq!(report["entries"][0]["verdict"], "valid", "{report}");
}

#[test]
fn a_delegation_auth_sig_mints_without_the_wallet() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let mut long = args.clone();
    long.extend(["--expiration".into(), "2026-01-21T09:30:15.250Z".into()]);
    let map: Value = serde_json::from_str(&run_ok(&long)).unwrap();
    let first: Value =
        serde_json::from_str(s(&map.as_object().unwrap().values().next().unwrap()["signedMessage"])).unwrap();
    let delegation = first["capabilities"].as_array().unwrap().last().unwrap().clone();
    let delegation_file = fx.file("delegation.json", &jcs::to_js_string(&delegation));

    // An hour later, without the wallet: the same AuthSig last, a fresh 15-minute session.
    let without_wallet = |extra: &[&str]| {
        let mut a: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "--wallet-key-file" | "--now" => i += 2,
                _ => {
                    a.push(args[i].clone());
                    i += 1;
                }
            }
        }
        a.extend(["--delegation-auth-sig".into(), delegation_file.clone()]);
        a.extend(extra.iter().map(|x| x.to_string()));
        run(&a)
    };
    let out = without_wallet(&["--now", "2026-01-20T10:30:00.000Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let later: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(later.as_object().unwrap().len(), 3);
    for sig in later.as_object().unwrap().values() {
        let signed: Value = serde_json::from_str(s(&sig["signedMessage"])).unwrap();
        assert_eq!(signed["capabilities"].as_array().unwrap().last().unwrap(), &delegation);
        assert_eq!(signed["issuedAt"], "2026-01-20T10:30:00.000Z");
        assert_eq!(signed["expiration"], "2026-01-20T10:45:00.000Z");
    }
    let entries = parse_session_sigs(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let naga = VerifyPolicy::node().for_generation(Generation::Naga);
    let pkp: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
    for e in &entries {
        let node: NodeUrl = e.node.as_deref().unwrap().parse().unwrap();
        verify_session_sig(&e.session_sig, &node, &pkp, "2026-01-20T10:31:00.000Z".parse().unwrap(), &naga).unwrap();
    }
    // Ends with the delegation when that comes first.
    let out = without_wallet(&["--now", "2026-01-21T09:20:00.000Z"]);
    let late: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signed: Value =
        serde_json::from_str(s(&late.as_object().unwrap().values().next().unwrap()["signedMessage"])).unwrap();
    assert_eq!(signed["expiration"], "2026-01-21T09:30:15.250Z");

    let refused = |extra: &[&str], needle: &str| {
        let out = without_wallet(extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(out.stdout.is_empty());
    };
    refused(&["--now", "2026-01-22T00:00:00.000Z"], "it expired at 2026-01-21T09:30:15.250Z");
    refused(
        &[
            "--now",
            "2026-01-20T10:30:00.000Z",
            "--resource",
            "lit-accesscontrolcondition://*=access-control-condition-decryption",
        ],
        "it does not grant lit-accesscontrolcondition://*=access-control-condition-decryption",
    );
    refused(
        &["--now", "2026-01-20T10:30:00.000Z", "--expiration", "2026-01-23T00:00:00.000Z"],
        "before the requested 2026-01-23T00:00:00.000Z",
    );
    let other_seed = fx.file("other.seed", &"77".repeat(32));
    let mut other: Vec<String> = Vec::new();
    let out = {
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "--wallet-key-file" | "--now" => i += 2,
                "--session-seed-file" => {
                    other.extend(["--session-seed-file".into(), other_seed.clone()]);
                    i += 2;
                }
                _ => {
                    other.push(args[i].clone());
                    i += 1;
                }
            }
        }
        other.extend([
            "--delegation-auth-sig".into(),
            delegation_file.clone(),
            "--now".into(),
            "2026-01-20T10:30:00.000Z".into(),
        ]);
        run(&other)
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is for another session key"));
}

#[test]
fn the_manager_reuses_an_eoa_auth_sig_across_formats() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let now: Timestamp = "2026-03-01T12:00:00.000Z".parse().unwrap();
        let manager = SessionManager::new(
            Arc::new(MemoryKeyStore::new()),
            SessionKeyPolicy::Labelled { prefix: "s".into(), rotate_after: None },
            AuthSource::wallet(MemoryWallet::from_bytes(&[0x21; 32]).unwrap()),
            Arc::new(MemoryAuthSigStore::new()),
        )
        .with_clock(move || now);
        let nodes: Vec<NodeUrl> = (0..3).map(|i| format!("https://10.3.0.{i}:443").parse().unwrap()).collect();
        let requests: Vec<ResourceAbilityRequest> = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let v7 = SessionParams::new("0x3a9c4f1e8b7d6a5c4b3a2918");
        let first = manager.session_sigs_report(&nodes, &requests, &v7).await.unwrap();
        assert!(matches!(first.auth_sig, AuthSigUse::Signed { .. }));
        let v8 = v7.clone().with_format(SessionFormat::V2).with_pricing(NodePricing::new().with_threshold(2));
        let second = manager.session_sigs_report(&nodes, &requests, &v8).await.unwrap();
        assert!(matches!(second.auth_sig, AuthSigUse::Reused { .. }), "{}", second.auth_sig);
        assert_eq!(second.sigs.len(), 2);
        let naga = VerifyPolicy::strict().for_generation(Generation::Naga);
        for (node, sig) in second.sigs.iter() {
            let read = SignedMessage::parse_as(SessionFormat::V2, &sig.signed_message).unwrap();
            // A v8 session lasts the v8 default even though its AuthSig lives 24 h.
            assert_eq!(read.expiration, "2026-03-01T12:15:00.000Z");
            verify_session_sig(sig, node, &requests[0], now, &naga).unwrap();
        }
        // The v7 session from the same AuthSig still lasts its 24 h.
        let third = manager.session_sigs_report(&nodes, &requests, &v7).await.unwrap();
        assert!(matches!(third.auth_sig, AuthSigUse::Reused { .. }));
        let (_, sig) = third.sigs.iter().next().unwrap();
        assert_eq!(SignedMessage::parse(&sig.signed_message).unwrap().expiration, "2026-03-02T12:00:00.000Z");
        assert_eq!(manager.stats().signed, 1);
    });
}

#[test]
fn bad_v8_input_exits_2_with_one_line() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let node = "https://192.0.2.10:443";
    let with = |extra: &[&str]| args.iter().cloned().chain(extra.iter().map(|x| x.to_string())).collect::<Vec<_>>();
    let v7 = |extra: &[&str]| {
        let mut a = with(extra);
        let i = a.iter().position(|x| x == "v8").unwrap();
        a[i] = "v7".into();
        // v7 takes no prices: drop the vector's.
        let mut out = Vec::new();
        let mut j = 0;
        while j < a.len() {
            if a[j] == "--node-price" && !extra.contains(&a[j + 1].as_str()) {
                j += 2;
            } else {
                out.push(a[j].clone());
                j += 1;
            }
        }
        out
    };
    let delegator = fx.file("delegator.key", DELEGATOR_KEY);
    let pd = |extra: &[&str]| {
        let mut a: Vec<String> =
            ["payment-delegation", "--wallet-key-file", &delegator, "--nonce", "0x1234567890abcdef"]
                .iter()
                .map(|x| x.to_string())
                .collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let dele = "0x5D467fe98ff120fe0C85F2217bC61732571b28EC";
    let two_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    let cases: Vec<(Vec<String>, String)> = vec![
        (with(&["--max-price", "lots"]), "--max-price: price \"lots\" is not a number".into()),
        (with(&["--max-price", "-5"]), "--max-price: price \"-5\" is negative".into()),
        (with(&["--max-price", two_256]), "is over 2^256 - 1".into()),
        (with(&["--node-price", &format!("{node}=abc")]), "--node-price: price \"abc\" is not a number".into()),
        (with(&["--max-price", "1000"]), "max price is too low: the 3 chosen nodes cost 90000000000000 together, above the maximum 1000".into()),
        (with(&["--threshold", "0"]), "threshold must be at least 1".into()),
        (with(&["--threshold", "4"]), "threshold of 4 nodes is above the 3 nodes given".into()),
        (with(&["--threshold", "two"]), "--threshold".into()),
        (with(&["--threshold", "-1"]), "--threshold".into()),
        (with(&["--node-price", "https://10.1.1.1:443=5"]), "not one of the session's nodes".into()),
        (with(&["--node-price", "no-equals-sign"]), "expected URL=PRICE".into()),
        (with(&["--resource", "lit-ratelimitincrease://*=rate-limit-increase-auth"]), "Naga has no capacity credits".into()),
        (v7(&["--node-price", &format!("{node}=1")]), "--node-price needs --format v8".into()),
        (v7(&["--threshold", "2"]), "--threshold needs --format v8".into()),
        (v7(&["--max-price", "10"]), "--max-price needs --format v8".into()),
        (v7(&["--delegation-auth-sig", "x.json"]), "--delegation-auth-sig needs --format v8".into()),
        (v7(&["--resource", "lit-paymentdelegation://*=lit-payment-delegation"]), "payment delegation is a Naga feature".into()),
        (pd(&["--max-price", "10", "--scope", "pkp_sign"]), "needs at least one --delegatee".into()),
        (pd(&["--delegatee", dele, "--max-price", "10"]), "needs at least one --scope".into()),
        (pd(&["--delegatee", dele, "--scope", "pkp_sign"]), "needs --max-price".into()),
        (pd(&["--delegatee", dele, "--scope", "pkp_sign", "--max-price", "ten"]), "--max-price: price \"ten\" is not a number".into()),
        (pd(&["--delegatee", dele, "--scope", "pkp_sign", "--max-price", "-1"]), "is negative".into()),
        (pd(&["--delegatee", dele, "--scope", "pay_all", "--max-price", "1"]), "unknown payment delegation scope".into()),
        (pd(&["--delegatee", "0x1234", "--scope", "pkp_sign", "--max-price", "1"]), "delegatee is not an Ethereum address".into()),
        (
            [
                "pkp-session-sigs", "--format", "v8", "--pkp-public-key",
                "0x0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
                "--auth-method-file", &fx.file("auth.json", r#"{"authMethodType": 1, "accessToken": "x"}"#), "--node", node,
                "--resource", "lit-pkp://*=pkp-signing", "--nonce", "0x1234567890abcdef", "--epoch", "3",
            ]
            .iter()
            .map(|x| x.to_string())
            .collect(),
            "PKP sessions in the v8 (Naga) format are not supported".into(),
        ),
    ];
    for (case, needle) in cases {
        let out = run(&case);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case:?}: {err}");
        assert!(out.stdout.is_empty(), "{case:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{case:?}: {err}");
        assert!(err.contains(&needle), "{case:?}: expected {needle:?} in {err}");
    }
}

#[test]
fn the_cache_serves_v8_sessions_minted_per_request() {
    let fx = Fixture::new();
    let (args, _) = vector_args(&fx);
    let cache = fx.dir.path().join("cache");
    let mut cached = args.clone();
    cached.extend(["--cache-dir".into(), cache.to_str().unwrap().into()]);
    let run_cached = |extra: &[&str]| {
        let out = run(&cached.iter().cloned().chain(extra.iter().map(|x| x.to_string())).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        (serde_json::from_slice::<Value>(&out.stdout).unwrap(), err)
    };
    let (first, err) = run_cached(&[]);
    assert!(err.contains("re-signed the AuthSig because no cached AuthSig"), "{err}");
    let (second, err) = run_cached(&[]);
    assert!(err.contains("reused the cached AuthSig"), "{err}");
    assert_eq!(first, second);
    for sig in second.as_object().unwrap().values() {
        let signed: Value = serde_json::from_str(s(&sig["signedMessage"])).unwrap();
        // The AuthSig lives the manager's 24 h; each v8 session the SDK's 15 minutes.
        assert_eq!(signed["expiration"], "2026-01-20T09:45:15.250Z");
        let auth = s(&signed["capabilities"][0]["signedMessage"]);
        assert!(auth.contains("Expiration Time: 2026-01-21T09:30:15.250Z"), "{auth}");
        assert!(auth.contains("\n\n I further authorize"), "{auth}");
    }
}
