//! Structured variant of `session_sigs_json`: start from a valid session signature (the SDK
//! vector's inputs: seed 0x42…, wallet 0x33…, two nodes, `lit-pkp://*`), apply a few mutations
//! chosen by the fuzzer to the signed message, its capability AuthSig and its SIWE, re-sign
//! what the attacker could re-sign (the session key, and optionally the wallet's EIP-191
//! signature), then verify at a fuzzed clock for a fuzzed node and request. So every rule after
//! the signature check is reached, not just the JSON parser. Cached and uncached verification
//! must agree, and strict must never pass where the node's rules fail.
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lit_session_signer::keystore::MemoryKeyStore;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{NodeUrl, SessionSig, SessionSigsRequest};
use lit_session_signer::verify::{inspect, verify_session_sig, SessionSigsEntry, Verifier, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::{jcs, Timestamp};
use serde_json::{Map, Value};
use time::Duration;
use zeroize::Zeroizing;

const SEED: [u8; 32] = [0x42; 32];
const WALLET: [u8; 32] = [0x33; 32];
const NODES: [&str; 2] = ["https://158.69.108.66:443", "http://127.0.0.1:7471"];
const NOW: &str = "2025-03-15T12:34:56.789Z";

struct Base {
    session_sig: SessionSig,
    key: SigningKey,
    wallet: MemoryWallet,
    now: Timestamp,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let store = MemoryKeyStore::new();
        let id = store.import_seed("fuzz", Zeroizing::new(SEED)).expect("seed");
        let wallet = MemoryWallet::from_bytes(&WALLET).expect("wallet");
        let nodes = NODES.iter().map(|n| n.parse().expect("node")).collect();
        let requests = vec!["lit-pkp://*=pkp-signing".parse().expect("request")];
        let mut request = SessionSigsRequest::new(nodes, requests, "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
        request.now = NOW.parse().expect("now");
        request.params.expiration = Some(request.now.saturating_add(Duration::hours(2)));
        let sigs = request.sign(&store, &id, &wallet).expect("sign");
        let session_sig = sigs.get(NODES[0]).expect("node 0").clone();
        Base { session_sig, key: SigningKey::from_bytes(&SEED), wallet, now: request.now }
    })
}

fn small_string(u: &mut Unstructured) -> Result<String> {
    let choices = [
        "*",
        "",
        "lit-pkp",
        "lit-litaction",
        "pkp-signing",
        "2025-03-15T12:34:56.789Z",
        "2025-03-15T14:34:56.789+02:00",
        "9999-12-31T23:59:59-01:00",
        "https://158.69.108.66:443",
        "158.69.108.66:443",
        "http://localhost:7471",
        "web3.eth.personal.sign",
        "lit.bls",
        "LIT_BLS",
        "ed25519",
        "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB",
        "lit:session:2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12",
        "urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ",
    ];
    if u.arbitrary::<bool>()? {
        Ok(u.choose(&choices)?.to_string())
    } else {
        u.arbitrary()
    }
}

fn small_value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    Ok(match u.int_in_range(0..=6)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 if depth < 3 => {
            let n = u.int_in_range(0..=3)?;
            Value::Array((0..n).map(|_| small_value(u, depth + 1)).collect::<Result<_>>()?)
        }
        5 if depth < 3 => {
            let n = u.int_in_range(0..=3)?;
            let mut m = Map::new();
            for _ in 0..n {
                m.insert(small_string(u)?, small_value(u, depth + 1)?);
            }
            Value::Object(m)
        }
        _ => Value::String(small_string(u)?),
    })
}

const FIELDS: [&str; 6] =
    ["sessionKey", "resourceAbilityRequests", "capabilities", "issuedAt", "expiration", "nodeAddress"];
const CAP_FIELDS: [&str; 5] = ["sig", "derivedVia", "signedMessage", "address", "algo"];

fn capability<'a>(msg: &'a mut Map<String, Value>, u: &mut Unstructured) -> Result<Option<&'a mut Map<String, Value>>> {
    let Some(Value::Array(caps)) = msg.get_mut("capabilities") else { return Ok(None) };
    if caps.is_empty() {
        return Ok(None);
    }
    let i = u.choose_index(caps.len())?;
    Ok(caps.get_mut(i).and_then(Value::as_object_mut))
}

fn mutate_siwe(siwe: &str, u: &mut Unstructured) -> Result<String> {
    let mut lines: Vec<String> = siwe.split('\n').map(str::to_string).collect();
    let i = u.choose_index(lines.len().max(1))?.min(lines.len().saturating_sub(1));
    match u.int_in_range(0..=4)? {
        0 => lines[i] = small_string(u)?,
        1 => {
            lines.remove(i);
        }
        2 => lines.insert(i, small_string(u)?),
        3 => {
            // Keep the tag, change the value (e.g. "Expiration Time: ...").
            let tag = lines[i].split_once(": ").map(|(t, _)| t.to_string()).unwrap_or_default();
            lines[i] = format!("{tag}: {}", small_string(u)?);
        }
        _ => lines[i].push_str(&small_string(u)?),
    }
    Ok(lines.join("\n"))
}

fn mutate(msg: &mut Map<String, Value>, u: &mut Unstructured, base: &Base) -> Result<()> {
    match u.int_in_range(0..=8)? {
        0 => {
            let key = if u.arbitrary()? { u.choose(&FIELDS)?.to_string() } else { small_string(u)? };
            msg.insert(key, small_value(u, 0)?);
        }
        1 => {
            msg.shift_remove(*u.choose(&FIELDS)?);
        }
        2 => {
            if let Some(cap) = capability(msg, u)? {
                let siwe = cap.get("signedMessage").and_then(Value::as_str).unwrap_or_default().to_string();
                cap.insert("signedMessage".into(), Value::String(mutate_siwe(&siwe, u)?));
            }
        }
        3 => {
            if let Some(cap) = capability(msg, u)? {
                let field = u.choose(&CAP_FIELDS)?;
                if u.arbitrary()? {
                    cap.shift_remove(*field);
                } else {
                    cap.insert(field.to_string(), small_value(u, 1)?);
                }
            }
        }
        4 => {
            if let Some(Value::Array(reqs)) = msg.get_mut("resourceAbilityRequests") {
                if let Some(Value::Object(req)) = reqs.first_mut() {
                    let value = Value::String(small_string(u)?);
                    match u.int_in_range(0..=2)? {
                        0 => {
                            if let Some(Value::Object(res)) = req.get_mut("resource") {
                                res.insert("resource".into(), value);
                            }
                        }
                        1 => {
                            if let Some(Value::Object(res)) = req.get_mut("resource") {
                                res.insert("resourcePrefix".into(), value);
                            }
                        }
                        _ => {
                            req.insert("ability".into(), value);
                        }
                    }
                }
            }
        }
        5 => {
            let field = if u.arbitrary()? { "issuedAt" } else { "expiration" };
            let shift = Duration::seconds(u.int_in_range(-(40 * 86_400)..=40 * 86_400)?);
            msg.insert(field.into(), Value::String(base.now.saturating_add(shift).to_string()));
        }
        6 => {
            msg.insert("nodeAddress".into(), Value::String(small_string(u)?));
        }
        7 => {
            if let Some(Value::Array(caps)) = msg.get_mut("capabilities") {
                if let Some(first) = caps.first().cloned() {
                    let at = u.choose_index(caps.len() + 1)?;
                    caps.insert(at, first);
                }
            }
        }
        _ => {
            // A fresh SIWE time: shifts Issued At or Expiration Time inside the capability.
            if let Some(cap) = capability(msg, u)? {
                let siwe = cap.get("signedMessage").and_then(Value::as_str).unwrap_or_default().to_string();
                let tag = if u.arbitrary()? { "Issued At: " } else { "Expiration Time: " };
                let shift = Duration::seconds(u.int_in_range(-(40 * 86_400)..=40 * 86_400)?);
                let when = base.now.saturating_add(shift).to_string();
                let text: Vec<String> = siwe
                    .split('\n')
                    .map(|l| if l.starts_with(tag) { format!("{tag}{when}") } else { l.to_string() })
                    .collect();
                cap.insert("signedMessage".into(), Value::String(text.join("\n")));
            }
        }
    }
    Ok(())
}

fn run(data: &[u8]) -> Result<()> {
    let base = base();
    let mut u = Unstructured::new(data);
    let Ok(Value::Object(mut msg)) = serde_json::from_str::<Value>(&base.session_sig.signed_message) else {
        panic!("base message is an object")
    };
    for _ in 0..u.int_in_range(1..=4)? {
        mutate(&mut msg, &mut u, base)?;
    }
    // The wallet owner may re-sign a changed SIWE (a malicious or buggy wallet).
    if u.arbitrary()? {
        if let Some(Value::Array(caps)) = msg.get_mut("capabilities") {
            for cap in caps.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(text) = cap.get("signedMessage").and_then(Value::as_str).map(str::to_string) {
                    let sig = base.wallet.personal_sign(text.as_bytes()).expect("memory wallet signs");
                    cap.insert("sig".into(), Value::String(sig.to_hex()));
                }
            }
        }
    }
    let signed_message = jcs::to_js_string(&Value::Object(msg));
    let mut session_sig = base.session_sig.clone();
    if u.int_in_range(0..=7)? != 0 {
        session_sig.sig = hex::encode(base.key.sign(signed_message.as_bytes()).to_bytes());
    }
    session_sig.signed_message = signed_message;

    let node: NodeUrl = u
        .choose(&["https://158.69.108.66:443", "http://127.0.0.1:7471", "http://localhost:7471"])?
        .parse()
        .expect("node");
    let request: ResourceAbilityRequest = u
        .choose(&[
            "lit-pkp://*=pkp-signing",
            "lit-pkp://0x1a2b=pkp-signing",
            "lit-litaction://Qm1=lit-action-execution",
        ])?
        .parse()
        .expect("request");
    let now = base.now.saturating_add(Duration::seconds(u.int_in_range(-(40 * 86_400)..=40 * 86_400)?));

    let uncached = verify_session_sig(&session_sig, &node, &request, now, &VerifyPolicy::node());
    let verifier = Verifier::new(VerifyPolicy::node());
    let cached = verifier.verify(&session_sig, &node, &request, now);
    assert_eq!(uncached, cached, "the capability cache changed the verdict");
    assert_eq!(cached, verifier.verify(&session_sig, &node, &request, now));
    let strict = Verifier::new(VerifyPolicy::strict()).verify(&session_sig, &node, &request, now);
    if strict.is_ok() {
        assert!(cached.is_ok(), "strict passed where the node's rules failed: {cached:?}");
    }
    if let Ok(v) = &cached {
        // The node's time rule: order at full precision, the clock in whole seconds.
        let secs = |t: Timestamp| t.unix_millis().div_euclid(1000);
        let (Some(issued_at), Some(expiration)) = (v.issued_at, v.expiration) else {
            panic!("times missing from a v1-route verdict: {v:?}")
        };
        assert!(expiration >= issued_at);
        assert!(secs(issued_at) <= secs(now) + 60);
        assert!(secs(expiration) >= secs(now) - 60);
    }
    let entries = [SessionSigsEntry { node: Some(node.to_string()), ..SessionSigsEntry::from(&session_sig) }];
    let report = inspect(&entries, now, &verifier);
    let _ = report.to_string();
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
