//! Session-signature verification: the real SDK vectors in `tests/vectors/`, everything the minting code produces, and a negative corpus derived from
//! valid signatures, each rejected by the expected rule — through the single, cached and batch
//! paths alike.

mod common;

use common::vector;

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::bls::{
    combine_verified, deal_shares_from_seed, lit_bls_auth_sig, session_digest, BlsSignature, NetworkPublicKey,
};
use lit_session_signer::capacity_delegation::CapacityDelegation;
use lit_session_signer::eth::EthAddress;
use lit_session_signer::keystore::MemoryKeyStore;
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourcePrefix};
use lit_session_signer::session_sigs::{session_key_uri, NodeUrl, SessionSig, SessionSigs, SessionSigsRequest};
use lit_session_signer::siwe::SiweMessage;
use lit_session_signer::verify::{
    parse_session_sigs, verify_session_sig, BatchItem, CapabilityCache, CapabilityError, SignatureStatus, Verifier,
    VerifyError, VerifyPolicy,
};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use time::Duration;
use zeroize::Zeroizing;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn node(s: &str) -> NodeUrl {
    s.parse().unwrap()
}

fn req(s: &str) -> ResourceAbilityRequest {
    s.parse().unwrap()
}

fn session_sig(v: &Value) -> SessionSig {
    serde_json::from_value(v.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Real SDK vectors.

#[test]
fn eoa_vector_verifies_inside_its_window_and_expires_after() {
    let v = vector("session-sigs-wrapped-keys.json");
    let sig = session_sig(&v["eoaSessionSig"]);
    let window = &v["validity"]["eoaSession"];
    let n = node("https://207.244.70.36:8474");
    let policy = VerifyPolicy::node();
    for at in ["notBefore", "suggestedVerifyAt", "notAfter"] {
        let now = ts(window[at].as_str().unwrap());
        for r in ["lit-pkp://*=pkp-signing", "lit-litaction://QmAnyAction=lit-action-execution"] {
            let ok = verify_session_sig(&sig, &n, &req(r), now, &policy).unwrap_or_else(|e| panic!("{at} {r}: {e}"));
            assert_eq!(ok.user_address, "0x6c48cc6CE0972a97074bA0d374B7F58E3031fE87");
            assert_eq!(ok.siwe_address.to_checksum(), ok.user_address);
            assert_eq!(ok.capability_index, 0);
        }
    }
    // Strict passes too: sessionKey = address, signer = address, lifetime just under 24 h.
    let mid = ts(window["suggestedVerifyAt"].as_str().unwrap());
    verify_session_sig(&sig, &n, &req("lit-pkp://*=pkp-signing"), mid, &VerifyPolicy::strict()).unwrap();

    let not_after = ts(window["notAfter"].as_str().unwrap());
    let late = not_after.saturating_add(Duration::seconds(61));
    let err = verify_session_sig(&sig, &n, &req("lit-pkp://*=pkp-signing"), late, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::Expired { .. }), "{err}");
    assert!(err.to_string().starts_with("expired: "));
    // Inside the session's 60 s grace, but the SIWE itself has no grace.
    let grace = not_after.saturating_add(Duration::seconds(30));
    let err = verify_session_sig(&sig, &n, &req("lit-pkp://*=pkp-signing"), grace, &policy).unwrap_err();
    assert_eq!(err.capability_error().map(CapabilityError::rule), Some("siwe-time"), "{err}");
    // Not for other resources, nodes, or before issuance.
    let err = verify_session_sig(
        &sig,
        &n,
        &req("lit-accesscontrolcondition://*=access-control-condition-decryption"),
        mid,
        &policy,
    );
    assert!(matches!(err, Err(VerifyError::ResourceNotRequested { .. })));
    let err =
        verify_session_sig(&sig, &node("https://207.244.70.36:8473"), &req("lit-pkp://*=pkp-signing"), mid, &policy);
    assert!(matches!(err, Err(VerifyError::NodeAddressMismatch { .. })));
    let early = ts(window["notBefore"].as_str().unwrap()).saturating_sub(Duration::seconds(61));
    let err = verify_session_sig(&sig, &n, &req("lit-pkp://*=pkp-signing"), early, &policy);
    assert!(matches!(err, Err(VerifyError::IssuedInFuture { .. })));
}

/// The PKP entries of the wrapped-keys vector: the three map entries and `pkpSessionSig`.
fn pkp_vector_sigs(v: &Value) -> Vec<(SessionSig, NodeUrl)> {
    let entries = parse_session_sigs(&v["sessionSigs"].to_string()).unwrap();
    assert_eq!(entries.len(), 3);
    let mut all: Vec<(SessionSig, NodeUrl)> =
        entries.iter().map(|e| (e.session_sig.clone(), node(e.node.as_deref().unwrap()))).collect();
    all.push((session_sig(&v["pkpSessionSig"]), node("https://207.244.70.36:8474")));
    all
}

fn recorded_network_key(v: &Value) -> NetworkPublicKey {
    v["blsNetworkRootPubkey"]["hex"].as_str().unwrap().parse().unwrap()
}

const PKP_ADDRESS: &str = "0xd1Af1AAC50aC837C873200D17b78664aFCde597C";

#[test]
fn pkp_vectors_need_the_network_key_without_one() {
    let v = vector("session-sigs-wrapped-keys.json");
    let now = ts(v["validity"]["pkpSessions"]["suggestedVerifyAt"].as_str().unwrap());
    let verifier = Verifier::default();
    let all = pkp_vector_sigs(&v);
    for (sig, url) in &all {
        for r in ["lit-pkp://*=pkp-signing", "lit-litaction://*=lit-action-execution"] {
            let err = verifier.verify(sig, url, &req(r), now).unwrap_err();
            match err {
                VerifyError::NeedsNetworkKey { index, ref address } => {
                    assert_eq!(index, 0);
                    assert_eq!(address, PKP_ADDRESS);
                }
                other => panic!("{url} {r}: {other}"),
            }
        }
        // The earlier rules still bite first.
        let wrong = verifier.verify(sig, url, &req("lit-ratelimitincrease://*=rate-limit-increase-auth"), now);
        assert!(matches!(wrong, Err(VerifyError::ResourceNotRequested { .. })));
        let late = ts(v["validity"]["pkpSessions"]["notAfter"].as_str().unwrap()).saturating_add(Duration::minutes(2));
        assert!(matches!(
            verifier.verify(sig, url, &req("lit-pkp://*=pkp-signing"), late),
            Err(VerifyError::Expired { .. })
        ));
        let mut tampered = sig.clone();
        tampered.signed_message = tampered.signed_message.replacen("19:47", "19:48", 1);
        assert_eq!(
            verifier.verify(&tampered, url, &req("lit-pkp://*=pkp-signing"), now),
            Err(VerifyError::BadSignature)
        );
    }
    // Replay: the :8473 signature at :8474.
    let err = verifier.verify(&all[1].0, &node("https://207.244.70.36:8474"), &req("lit-pkp://*=pkp-signing"), now);
    assert!(matches!(err, Err(VerifyError::NodeAddressMismatch { .. })), "{err:?}");
    // The same answers in one batch; the one BLS capability was checked once.
    let r = req("lit-pkp://*=pkp-signing");
    let items: Vec<BatchItem> = all.iter().map(|(s, n)| BatchItem { session_sig: s, node: n, request: &r }).collect();
    for res in verifier.verify_batch(&items, now) {
        assert!(matches!(res, Err(VerifyError::NeedsNetworkKey { .. })));
    }
    assert_eq!(verifier.cache().len(), 1);
}

#[test]
fn pkp_vectors_verify_fully_with_the_recorded_network_key() {
    let v = vector("session-sigs-wrapped-keys.json");
    let key = recorded_network_key(&v);
    let now = ts(v["validity"]["pkpSessions"]["suggestedVerifyAt"].as_str().unwrap());
    let all = pkp_vector_sigs(&v);
    let policy = VerifyPolicy::node().with_network_key(key);
    let verifier = Verifier::new(policy.clone());
    let strict = Verifier::new(VerifyPolicy::strict().with_network_key(key));
    let pkp: EthAddress = PKP_ADDRESS.parse().unwrap();
    for (sig, url) in &all {
        for r in ["lit-pkp://*=pkp-signing", "lit-pkp://0x1a2b=pkp-signing", "lit-litaction://*=lit-action-execution"] {
            let ok = verify_session_sig(sig, url, &req(r), now, &policy).unwrap_or_else(|e| panic!("{url} {r}: {e}"));
            assert_eq!(ok.capability_index, 0);
            assert_eq!(ok.user_address, PKP_ADDRESS);
            assert_eq!(ok.siwe_address, pkp);
            assert_eq!(verifier.verify(sig, url, &req(r), now), Ok(ok.clone()));
            assert_eq!(strict.verify(sig, url, &req(r), now), Ok(ok));
        }
    }
    // The whole window, at both ends.
    let (first, last) = (
        ts(v["validity"]["pkpSessions"]["notBefore"].as_str().unwrap()),
        ts(v["validity"]["pkpSessions"]["notAfter"].as_str().unwrap()),
    );
    for t in [first, last] {
        verifier.verify(&all[0].0, &all[0].1, &req("lit-pkp://*=pkp-signing"), t).unwrap();
    }
    // Batch: all pass, one BLS pairing check cached for all four.
    let r = req("lit-pkp://*=pkp-signing");
    let items: Vec<BatchItem> = all.iter().map(|(s, n)| BatchItem { session_sig: s, node: n, request: &r }).collect();
    assert!(verifier.verify_batch(&items, now).iter().all(Result::is_ok));
    assert_eq!(verifier.cache().len(), 1);
    // A second key (e.g. during rotation) does not get in the way.
    let other: NetworkPublicKey =
        vector("bls-sign-session-key.json")["responses"][0]["blsRootPubkey"].as_str().unwrap().parse().unwrap();
    let both = Verifier::new(VerifyPolicy::node().with_network_keys([other, key]));
    both.verify(&all[0].0, &all[0].1, &r, now).unwrap();

    // Negative cases on the real data.
    // Wrong network key.
    let wrong = Verifier::new(VerifyPolicy::node().with_network_key(other));
    let err = wrong.verify(&all[0].0, &all[0].1, &r, now).unwrap_err();
    assert_eq!(err, VerifyError::Capability { index: 0, error: CapabilityError::BlsSignature { keys: 1 } });
    assert!(err.to_string().starts_with("capability: #0: bls-signature: "), "{err}");
    // Capability SIWE expired while the session is in its 60 s grace (both expire together).
    let grace = last.saturating_add(Duration::seconds(30));
    let err = verifier.verify(&all[0].0, &all[0].1, &r, grace).unwrap_err();
    assert_eq!(err.capability_error().map(CapabilityError::rule), Some("siwe-time"), "{err}");
    // Before the SIWE's Issued At (19:46:47Z) but within the session's 60 s skew: the node's
    // valid_now has no Issued At rule, so it passes; the SDK's rule (strict) refuses.
    let early = ts("2024-06-02T19:46:30Z");
    verifier.verify(&all[0].0, &all[0].1, &r, early).unwrap();
    let err = strict.verify(&all[0].0, &all[0].1, &r, early).unwrap_err();
    assert_eq!(err.rule(), "strict-capability");
    assert_eq!(err.capability_error().map(CapabilityError::rule), Some("sdk-bls-time"), "{err}");
}

#[test]
fn cached_bls_checks_are_kept_apart_per_network_key_set() {
    let v = vector("session-sigs-wrapped-keys.json");
    let key = recorded_network_key(&v);
    let other: NetworkPublicKey =
        vector("bls-sign-session-key.json")["responses"][0]["blsRootPubkey"].as_str().unwrap().parse().unwrap();
    let now = ts(v["validity"]["pkpSessions"]["suggestedVerifyAt"].as_str().unwrap());
    let text = v["pkpSessionSig"]["signedMessage"].as_str().unwrap();
    let msg = lit_session_signer::verify::SignedMessage::parse(text).unwrap();
    let cap = &msg.capabilities[0];
    let cache = CapabilityCache::new(8);
    let status =
        |keys: &[NetworkPublicKey]| cache.get_or_check(cap, now, keys).siwe.as_ref().unwrap().signature.clone();
    assert_eq!(status(&[key]), SignatureStatus::Valid);
    assert_eq!(status(&[other]), SignatureStatus::Invalid(CapabilityError::BlsSignature { keys: 1 }));
    assert_eq!(status(&[]), SignatureStatus::NeedsNetworkKey);
    assert_eq!(status(&[other, key]), SignatureStatus::Valid);
    assert_eq!(cache.len(), 4);
    assert_eq!(status(&[key]), SignatureStatus::Valid);
    assert_eq!(cache.len(), 4);
}

#[test]
fn dealt_network_bls_capabilities_follow_the_node_rules() {
    let fx = fixture();
    let (key, shares) = deal_shares_from_seed(3, 5, &[0x11; 32]).unwrap();
    let (other_key, _) = deal_shares_from_seed(3, 5, &[0x12; 32]).unwrap();
    let pkp = fx.other_wallet.address();
    // A PKP capability as the nodes write it: signed by 3 of the 5 shares over the text.
    let bls_cap = |text: &str| -> Value {
        let digest = session_digest(text);
        let sig_shares: Vec<_> = shares[1..4].iter().map(|s| s.sign_share(&digest)).collect();
        let sig = combine_verified(&sig_shares, 3, &key, &digest).unwrap().require_all().unwrap();
        serde_json::to_value(lit_bls_auth_sig(&sig, text, &pkp)).unwrap()
    };
    // The PKP SIWE: the SDK's statement, then the ReCap (whose statement is appended).
    let pkp_siwe = || {
        SiweMessage::new(pkp, NONCE, now())
            .with_uri(&session_key_uri(&fx.key.verifying_key()))
            .with_expiration(fx.request.expiration())
            .with_statement("Lit Protocol PKP session signature")
            .with_requests(&fx.request.requests)
    };
    let text = pkp_siwe().render().unwrap();
    let good = fx.with_caps(vec![bls_cap(&text)]);
    let n = node(NODES[0]);
    let r = req(REQUESTS[0]);
    let policy = VerifyPolicy::node().with_network_key(key);
    let strict_policy = VerifyPolicy::strict().with_network_key(key);
    let ok = verify_session_sig(&good, &n, &r, now(), &policy).unwrap();
    assert_eq!(ok.user_address, pkp.to_checksum());
    verify_session_sig(&good, &n, &r, now(), &strict_policy).unwrap();
    // No key: typed "needs-network-key"; wrong key: bls-signature.
    let err = verify_session_sig(&good, &n, &r, now(), &VerifyPolicy::node()).unwrap_err();
    assert!(matches!(err, VerifyError::NeedsNetworkKey { index: 0, .. }), "{err}");
    let err = verify_session_sig(&good, &n, &r, now(), &VerifyPolicy::node().with_network_key(other_key)).unwrap_err();
    assert_eq!(err.capability_error().map(CapabilityError::rule), Some("bls-signature"));

    let cap_rule = |sig: &SessionSig, policy: &VerifyPolicy| {
        let err = match verify_session_sig(sig, &n, &r, now(), policy) {
            Err(e) => e,
            Ok(_) => panic!("accepted: {}", sig.signed_message),
        };
        let verifier = Verifier::new(policy.clone());
        assert_eq!(verifier.verify(sig, &n, &r, now()), Err(err.clone()), "cached path");
        (err.rule(), err.capability_error().map(CapabilityError::rule))
    };
    // Tampered signature: a flipped byte (then mostly not a G2 point), or cut short.
    let mut cap = bls_cap(&text);
    let sig_hex = BlsSignature::from_sig_json(cap["sig"].as_str().unwrap()).unwrap().to_hex();
    for at in [2, 50, 120, 190] {
        let mut bad = sig_hex.clone().into_bytes();
        bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
        let mut tampered = cap.clone();
        tampered["sig"] = json!(format!("{{\"ProofOfPossession\":\"{}\"}}", String::from_utf8(bad).unwrap()));
        let (rule, cap_r) = cap_rule(&fx.with_caps(vec![tampered]), &policy);
        assert_eq!(rule, "capability", "byte {at}");
        assert!(matches!(cap_r, Some("signature-encoding") | Some("bls-signature")), "byte {at}: {cap_r:?}");
    }
    let mut short = cap.clone();
    short["sig"] = json!(format!("{{\"ProofOfPossession\":\"{}\"}}", &sig_hex[..190]));
    assert_eq!(cap_rule(&fx.with_caps(vec![short]), &policy), ("capability", Some("signature-encoding")));
    // A valid signature of another message.
    let other_text = pkp_siwe().with_chain_id(137).render().unwrap();
    cap["sig"] = bls_cap(&other_text)["sig"].clone();
    assert_eq!(cap_rule(&fx.with_caps(vec![cap]), &policy), ("capability", Some("bls-signature")));
    // Not ProofOfPossession, or not JSON.
    let mut basic = bls_cap(&text);
    basic["sig"] = json!(basic["sig"].as_str().unwrap().replace("ProofOfPossession", "Basic"));
    assert_eq!(cap_rule(&fx.with_caps(vec![basic]), &policy), ("capability", Some("signature-encoding")));
    // Expired, not yet valid.
    let expired = pkp_siwe().with_expiration(now().saturating_sub(Duration::seconds(1))).render().unwrap();
    assert_eq!(cap_rule(&fx.with_caps(vec![bls_cap(&expired)]), &policy), ("capability", Some("siwe-time")));
    let nbf = text
        .replace("\nResources:", &format!("\nNot Before: {}\nResources:", now().saturating_add(Duration::hours(1))));
    assert_eq!(cap_rule(&fx.with_caps(vec![bls_cap(&nbf)]), &policy), ("capability", Some("siwe-time")));
    // Wrong URI: bound to another session key.
    let other_uri = pkp_siwe().with_uri(&format!("lit:session:{}", "ab".repeat(32))).render().unwrap();
    assert_eq!(cap_rule(&fx.with_caps(vec![bls_cap(&other_uri)]), &policy), ("capability", Some("uri")));
    // Recap statement tampered (still signed by the network): the ReCap suffix rule.
    let wrong_statement = text.replacen("'lit-ratelimitincrease://*'.", "'lit-ratelimitincrease://*'!", 1);
    assert_ne!(wrong_statement, text);
    assert_eq!(
        cap_rule(&fx.with_caps(vec![bls_cap(&wrong_statement)]), &policy),
        ("capability", Some("recap-statement"))
    );
    // `lit.bls` without `LIT_BLS` is a wallet signature to the node, and not hex.
    let mut no_algo = bls_cap(&text);
    no_algo.as_object_mut().unwrap().remove("algo");
    assert_eq!(cap_rule(&fx.with_caps(vec![no_algo]), &policy), ("capability", Some("signature-encoding")));
    // The node takes a SIWE without Expiration Time or issued in the future; the SDK does not.
    let no_exp: String = text.lines().filter(|l| !l.starts_with("Expiration Time: ")).collect::<Vec<_>>().join("\n");
    let future = text.replacen(
        &format!("Issued At: {}", now()),
        &format!("Issued At: {}", now().saturating_add(Duration::hours(2))),
        1,
    );
    assert_ne!(future, text);
    for t in [no_exp, future] {
        let sig = fx.with_caps(vec![bls_cap(&t)]);
        verify_session_sig(&sig, &n, &r, now(), &policy).unwrap();
        assert_eq!(cap_rule(&sig, &strict_policy), ("strict-capability", Some("sdk-bls-time")));
    }
}

// ---------------------------------------------------------------------------------------------
// Minted fixtures.

const SEED: [u8; 32] = [0x2a; 32];
const NONCE: &str = "0x1f623ab8dfe6bbd3b3dc22c7a041deb697c14817bce471b1bd1d86a25d5a319c";
const NODES: [&str; 3] = ["https://127.0.0.1:7470", "http://localhost:7471", "https://node.example.com:443"];
const REQUESTS: [&str; 5] = [
    "lit-pkp://*=pkp-signing",
    "lit-litaction://QmXyzAction=lit-action-execution",
    "lit-accesscontrolcondition://*=access-control-condition-decryption",
    "lit-accesscontrolcondition://*=access-control-condition-signing",
    "lit-ratelimitincrease://*=rate-limit-increase-auth",
];

struct Fx {
    key: SigningKey,
    wallet: MemoryWallet,
    other_wallet: MemoryWallet,
    request: SessionSigsRequest,
    sigs: SessionSigs,
}

fn now() -> Timestamp {
    ts("2025-03-15T12:34:56.789Z")
}

fn mint(capability_auth_sigs: Vec<Value>, expiration: Option<Timestamp>) -> Fx {
    let store = MemoryKeyStore::new();
    let id = store.import_seed("session", Zeroizing::new(SEED)).unwrap();
    let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    let other_wallet = MemoryWallet::from_bytes(&[0x44; 32]).unwrap();
    let mut request = SessionSigsRequest::new(
        NODES.iter().map(|n| node(n)).collect(),
        REQUESTS.iter().map(|r| req(r)).collect(),
        NONCE,
    );
    request.now = now();
    request.params.expiration = expiration;
    request.params.capability_auth_sigs = capability_auth_sigs;
    let sigs = request.sign(&store, &id, &wallet).unwrap();
    Fx { key: SigningKey::from_bytes(&SEED), wallet, other_wallet, request, sigs }
}

fn fixture() -> Fx {
    mint(Vec::new(), None)
}

impl Fx {
    fn sig(&self, i: usize) -> SessionSig {
        self.sigs.get(NODES[i]).unwrap().clone()
    }

    /// The signed message of node 0 as JSON.
    fn message(&self) -> Value {
        serde_json::from_str(&self.sig(0).signed_message).unwrap()
    }

    /// Node 0's session sig over `text`, correctly signed with the session key.
    fn resigned_text(&self, text: &str) -> SessionSig {
        let mut s = self.sig(0);
        s.signed_message = text.to_string();
        s.sig = hex::encode(self.key.sign(text.as_bytes()).to_bytes());
        s
    }

    /// Node 0's message changed by `f`, then re-signed, so only later rules can fail.
    fn resigned(&self, f: impl FnOnce(&mut Value)) -> SessionSig {
        let mut m = self.message();
        f(&mut m);
        self.resigned_text(&serde_json::to_string(&m).unwrap())
    }

    /// The session AuthSig (last capability) of node 0.
    fn session_auth_sig(&self) -> Value {
        self.message()["capabilities"].as_array().unwrap().last().unwrap().clone()
    }

    /// The session SIWE for our key, signed by `wallet`.
    fn siwe(&self, wallet: &MemoryWallet) -> SiweMessage {
        self.request.session_siwe(&self.key.verifying_key(), wallet)
    }

    fn auth_sig(&self, wallet: &MemoryWallet, siwe: &SiweMessage) -> Value {
        serde_json::to_value(AuthSig::sign(wallet, siwe).unwrap()).unwrap()
    }

    /// An AuthSig over arbitrary SIWE text signed by `wallet`, claiming `address`.
    fn raw_auth_sig(&self, wallet: &MemoryWallet, text: &str, address: &str) -> Value {
        json!({
            "sig": wallet.personal_sign(text.as_bytes()).unwrap().to_hex(),
            "derivedVia": "web3.eth.personal.sign",
            "signedMessage": text,
            "address": address,
        })
    }

    /// Node 0's message with its capabilities replaced.
    fn with_caps(&self, caps: Vec<Value>) -> SessionSig {
        self.resigned(|m| m["capabilities"] = Value::Array(caps))
    }
}

#[test]
fn everything_minted_verifies() {
    let fx = mint(Vec::new(), None);
    let verifier = Verifier::new(VerifyPolicy::node());
    let strict = Verifier::new(VerifyPolicy::strict());
    let mut requests: Vec<&str> = REQUESTS.to_vec();
    // Specific ids under the wildcards, and the exact Lit Action id.
    requests.extend(["lit-pkp://0x1a2b=pkp-signing", "lit-ratelimitincrease://12345=rate-limit-increase-auth"]);
    for (i, n) in NODES.iter().enumerate() {
        let sig = fx.sig(i);
        for r in &requests {
            let ok = verify_session_sig(&sig, &node(n), &req(r), now(), &VerifyPolicy::node())
                .unwrap_or_else(|e| panic!("{n} {r}: {e}"));
            assert_eq!(ok.user_address, fx.wallet.address().to_checksum());
            assert_eq!(verifier.verify(&sig, &node(n), &req(r), now()), Ok(ok.clone()));
            assert_eq!(strict.verify(&sig, &node(n), &req(r), now()), Ok(ok));
        }
    }
    // localhost and 127.0.0.1 are the same node.
    verifier.verify(&fx.sig(1), &node("http://127.0.0.1:7471"), &req(REQUESTS[0]), now()).unwrap();
    // One AuthSig, recovered once for 3 nodes × 7 requests × 2 verifiers.
    assert_eq!(verifier.cache().len(), 1);

    // With a capacity delegation first: the session AuthSig (last) still wins, strict accepts.
    let owner = MemoryWallet::from_bytes(&[0x55; 32]).unwrap();
    let delegation = CapacityDelegation { token_id: Some("12345".into()), uses: Some(10), ..Default::default() };
    let cap = serde_json::to_value(delegation.sign(&owner, NONCE, now()).unwrap()).unwrap();
    let fx = mint(vec![cap], None);
    for (i, n) in NODES.iter().enumerate() {
        for r in REQUESTS {
            let ok = strict.verify(&fx.sig(i), &node(n), &req(r), now()).unwrap_or_else(|e| panic!("{n} {r}: {e}"));
            assert_eq!(ok.capability_index, 1);
        }
    }
    // At the edges of the window.
    let sig = fx.sig(0);
    let first = now().saturating_sub(Duration::seconds(60));
    verifier.verify(&sig, &node(NODES[0]), &req(REQUESTS[0]), first).unwrap();
    let last = fx.request.expiration();
    verifier.verify(&sig, &node(NODES[0]), &req(REQUESTS[0]), last).unwrap();
}

#[test]
fn verifier_is_send_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
    let fx = Arc::new(fixture());
    let verifier = Arc::new(Verifier::default());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (fx, verifier) = (Arc::clone(&fx), Arc::clone(&verifier));
            std::thread::spawn(move || {
                for k in 0..20 {
                    let i = (t + k) % 3;
                    verifier.verify(&fx.sig(i), &node(NODES[i]), &req(REQUESTS[k % 5]), now()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(verifier.cache().len(), 1);
}

#[test]
fn cached_capability_is_not_used_past_its_expiry() {
    // SIWE expires at the session expiration; the session rule has 60 s grace, the SIWE none.
    let fx = fixture();
    let verifier = Verifier::default();
    let sig = fx.sig(0);
    let exp = fx.request.expiration();
    verifier.verify(&sig, &node(NODES[0]), &req(REQUESTS[0]), exp).unwrap();
    assert_eq!(verifier.cache().len(), 1);
    let after = exp.saturating_add(Duration::seconds(1));
    let err = verifier.verify(&sig, &node(NODES[0]), &req(REQUESTS[0]), after).unwrap_err();
    assert_eq!(err.capability_error().map(CapabilityError::rule), Some("siwe-time"));
    assert_eq!(verifier.cache().len(), 0, "the expired entry is dropped");
    // Bounded: capacity 2, five distinct AuthSigs.
    let small = Verifier::with_cache_capacity(VerifyPolicy::node(), 2);
    for k in 0..5u8 {
        let wallet = MemoryWallet::from_bytes(&[0x60 + k; 32]).unwrap();
        let s = fx.with_caps(vec![fx.auth_sig(&wallet, &fx.siwe(&wallet))]);
        small.verify(&s, &node(NODES[0]), &req(REQUESTS[0]), now()).unwrap();
        assert!(small.cache().len() <= 2);
    }
}

// ---------------------------------------------------------------------------------------------
// Negative corpus.

struct Case {
    name: String,
    sig: SessionSig,
    node: NodeUrl,
    request: ResourceAbilityRequest,
    now: Timestamp,
    strict: bool,
    /// The expected rule, and for capability failures the capability rule.
    rule: &'static str,
    cap_rule: Option<&'static str>,
}

struct Corpus {
    cases: Vec<Case>,
}

impl Corpus {
    fn add(&mut self, name: &str, sig: SessionSig, rule: &'static str) -> &mut Case {
        self.cases.push(Case {
            name: name.to_string(),
            sig,
            node: node(NODES[0]),
            request: req(REQUESTS[0]),
            now: now(),
            strict: false,
            rule,
            cap_rule: None,
        });
        self.cases.last_mut().unwrap()
    }

    fn cap(&mut self, name: &str, sig: SessionSig, cap_rule: &'static str) -> &mut Case {
        let c = self.add(name, sig, "capability");
        c.cap_rule = Some(cap_rule);
        c
    }
}

fn flip_hex(s: &str, nibble: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let c = b[nibble] as char;
    let v = c.to_digit(16).unwrap() ^ 1;
    b[nibble] = std::char::from_digit(v, 16).unwrap() as u8;
    String::from_utf8(b).unwrap()
}

fn flip_bit(s: &str, byte: usize, bit: u8) -> String {
    let mut b = s.as_bytes().to_vec();
    b[byte] ^= 1 << bit;
    String::from_utf8_lossy(&b).into_owned()
}

fn build_corpus(fx: &Fx) -> Vec<Case> {
    let mut c = Corpus { cases: Vec::new() };
    let good = fx.sig(0);
    let msg_len = good.signed_message.len();

    // -- ed25519: flipped bits in sig.
    for nibble in [0, 17, 63, 64, 80, 100] {
        let mut s = good.clone();
        s.sig = flip_hex(&s.sig, nibble);
        c.add(&format!("sig nibble {nibble} flipped"), s, "ed25519-signature");
    }
    let mut s = good.clone();
    s.sig.replace_range(126..128, "ff");
    c.add("sig s top byte 0xff (s ≥ ℓ)", s, "non-canonical-signature");
    // -- flipped bits in signedMessage (ASCII stays valid UTF-8 when flipping bit 0 of ASCII).
    for pos in [0, 5, msg_len / 3, msg_len / 2, msg_len - 2] {
        let mut s = good.clone();
        s.signed_message = flip_bit(&s.signed_message, pos, 0);
        c.add(&format!("signedMessage byte {pos} flipped"), s, "ed25519-signature");
    }
    let mut s = good.clone();
    s.signed_message.push(' ');
    c.add("signedMessage with a trailing space", s, "ed25519-signature");
    // -- signed for another key.
    let mut s = good.clone();
    s.address = hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes());
    c.add("address of another key", s, "ed25519-signature");
    // -- wrong hex lengths and encodings.
    for (name, sig) in [
        ("sig 63 bytes", good.sig[..126].to_string()),
        ("sig 65 bytes", format!("{}00", good.sig)),
        ("sig odd length", good.sig[..127].to_string()),
        ("sig not hex", format!("zz{}", &good.sig[2..])),
        ("sig with 0x", format!("0x{}", good.sig)),
        ("sig empty", String::new()),
    ] {
        let mut s = good.clone();
        s.sig = sig;
        c.add(name, s, "signature-encoding");
    }
    for (name, address) in [
        ("address 31 bytes", good.address[..62].to_string()),
        ("address 33 bytes", format!("{}00", good.address)),
        ("address not hex", format!("g{}", &good.address[1..])),
        ("address empty", String::new()),
    ] {
        let mut s = good.clone();
        s.address = address;
        c.add(name, s, "session-key");
    }
    // A leading 0x is tolerated for the key, but the SIWE URI binds the bare hex.
    let mut s = good.clone();
    s.address = format!("0x{}", good.address);
    c.cap("address with 0x: URI no longer matches", s, "uri");
    // -- non-canonical signatures: s + ℓ, R with y ≥ p, small-order R.
    let sig_bytes = hex::decode(&good.sig).unwrap();
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut malleable = sig_bytes.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = malleable[32 + i] as u16 + l[i] as u16 + carry;
        malleable[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    let mut s = good.clone();
    s.sig = hex::encode(&malleable);
    c.add("s + ℓ (malleated)", s, "non-canonical-signature");
    let mut r_big = sig_bytes.clone();
    r_big[..32].copy_from_slice(&[0xff; 32]);
    r_big[31] = 0x7f;
    let mut s = good.clone();
    s.sig = hex::encode(&r_big);
    c.add("R with y ≥ p", s, "non-canonical-signature");
    let mut r_id = sig_bytes.clone();
    r_id[..32].copy_from_slice(&[0; 32]);
    r_id[0] = 1;
    let mut s = good.clone();
    s.sig = hex::encode(&r_id);
    c.add("R = identity (small order)", s, "non-canonical-signature");
    // -- small-order public keys (the identity with R = identity, s = 0 "verifies" loosely).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut p_minus_1 = [0xffu8; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let order8 = hex::decode("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05").unwrap();
    for (name, key) in [("identity", identity.to_vec()), ("order 2", p_minus_1.to_vec()), ("order 8", order8)] {
        let mut s = good.clone();
        s.address = hex::encode(&key);
        let mut forged = vec![0u8; 64];
        forged[0] = 1;
        s.sig = hex::encode(&forged);
        c.add(&format!("small-order key ({name})"), s, "session-key");
    }

    // -- signed-message shape (re-signed so the signature holds).
    c.add("malformed JSON", fx.resigned_text(&good.signed_message[..msg_len - 1]), "signed-message");
    c.add("JSON array", fx.resigned_text("[]"), "signed-message");
    c.add("empty message", fx.resigned_text(""), "signed-message");
    c.add(
        "missing nodeAddress",
        fx.resigned(|m| drop(m.as_object_mut().unwrap().remove("nodeAddress"))),
        "signed-message",
    );
    c.add(
        "missing capabilities",
        fx.resigned(|m| drop(m.as_object_mut().unwrap().remove("capabilities"))),
        "signed-message",
    );
    c.add(
        "capability without sig",
        fx.resigned(|m| drop(m["capabilities"][0].as_object_mut().unwrap().remove("sig"))),
        "signed-message",
    );
    c.add("issuedAt a number", fx.resigned(|m| m["issuedAt"] = json!(1)), "signed-message");
    c.add("requests not an array", fx.resigned(|m| m["resourceAbilityRequests"] = json!({})), "signed-message");
    // -- resource.
    c.add("no resource requests", fx.resigned(|m| m["resourceAbilityRequests"] = json!([])), "resource");
    let only_pkp = fx.resigned(|m| m["resourceAbilityRequests"] = json!([m["resourceAbilityRequests"][0].clone()]));
    c.add("prefix not requested", only_pkp, "resource").request = req(REQUESTS[1]);
    c.add("other Lit Action id", good.clone(), "resource").request =
        req("lit-litaction://QmOther=lit-action-execution");
    c.add(
        "unknown prefix in message",
        fx.resigned(|m| {
            m["resourceAbilityRequests"] =
                json!([{"resource":{"resource":"*","resourcePrefix":"lit-pkpx"},"ability":"pkp-signing"}])
        }),
        "resource",
    );
    // -- time.
    c.add("issuedAt not RFC 3339", fx.resigned(|m| m["issuedAt"] = json!("yesterday")), "timestamp");
    c.add("expiration not RFC 3339", fx.resigned(|m| m["expiration"] = json!("2025-03-16")), "timestamp");
    c.add("issuedAt in the future", good.clone(), "issued-at").now = now().saturating_sub(Duration::seconds(61));
    c.add("expired", good.clone(), "expired").now = fx.request.expiration().saturating_add(Duration::seconds(61));
    c.add("long expired", good.clone(), "expired").now = fx.request.expiration().saturating_add(Duration::days(400));
    let exp_before = (now().saturating_sub(Duration::seconds(1))).to_string();
    c.add("expiration before issuedAt", fx.resigned(|m| m["expiration"] = json!(exp_before)), "expiration-order");
    let too_long = now().saturating_add(Duration::days(30) + Duration::seconds(1)).to_string();
    c.add("lifetime over 30 days", fx.resigned(|m| m["expiration"] = json!(too_long)), "lifetime");
    let future = now().saturating_add(Duration::hours(2)).to_string();
    c.add("issuedAt moved 2 h ahead", fx.resigned(|m| m["issuedAt"] = json!(future)), "issued-at");
    // -- node address.
    c.add(
        "nodeAddress of another node",
        fx.resigned(|m| m["nodeAddress"] = json!("https://10.0.0.1:7470")),
        "node-address",
    );
    c.add(
        "nodeAddress with a path",
        fx.resigned(|m| m["nodeAddress"] = json!("https://127.0.0.1:7470/")),
        "node-address",
    );
    c.add("nodeAddress empty", fx.resigned(|m| m["nodeAddress"] = json!("")), "node-address");
    c.add(
        "nodeAddress other port",
        fx.resigned(|m| m["nodeAddress"] = json!("https://127.0.0.1:7471")),
        "node-address",
    );
    for (from, to) in [(0, 1), (1, 2), (2, 0)] {
        c.add(&format!("replay node {from} → node {to}"), fx.sig(from), "node-address").node = node(NODES[to]);
    }
    // -- capabilities.
    c.add("empty capabilities", fx.with_caps(vec![]), "capabilities");
    let session_cap = fx.session_auth_sig();
    let mut bad = session_cap.clone();
    bad["sig"] = json!(flip_hex(bad["sig"].as_str().unwrap(), 10));
    c.cap("capability sig bit flipped", fx.with_caps(vec![bad]), "wallet-signature");
    let mut bad = session_cap.clone();
    let sig = bad["sig"].as_str().unwrap().to_string();
    bad["sig"] = json!(format!("{}{}", &sig[..130], if sig.ends_with("1b") { "1c" } else { "1b" }));
    c.cap("capability v flipped", fx.with_caps(vec![bad]), "wallet-signature");
    let mut bad = session_cap.clone();
    bad["sig"] = json!(&sig[..130]);
    c.cap("capability sig 64 bytes", fx.with_caps(vec![bad]), "signature-encoding");
    let mut bad = session_cap.clone();
    bad["signedMessage"] = json!(bad["signedMessage"].as_str().unwrap().replace("Chain ID: 1", "Chain ID: 137"));
    c.cap("capability SIWE tampered", fx.with_caps(vec![bad]), "wallet-signature");
    let mut bad = session_cap.clone();
    bad["signedMessage"] = json!("not a SIWE message");
    c.cap("capability not SIWE", fx.with_caps(vec![bad]), "siwe");
    let other_key = SigningKey::from_bytes(&[8; 32]).verifying_key();
    let siwe = fx.siwe(&fx.wallet).with_uri(&session_key_uri(&other_key));
    c.cap("URI bound to another session key", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "uri");
    let siwe = fx.siwe(&fx.wallet).with_uri("https://localhost/login");
    c.cap("plain login URI", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "uri");
    // Statement that does not end with the ReCap statement.
    let mut siwe = fx.siwe(&fx.wallet);
    siwe.statement = format!("{} Also something else.", siwe.statement);
    c.cap(
        "statement not ending with the recap statement",
        fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]),
        "recap-statement",
    );
    let mut siwe = fx.siwe(&fx.wallet);
    siwe.statement = "This is a test statement.".into();
    c.cap(
        "statement without the recap sentence",
        fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]),
        "recap-statement",
    );
    // ReCaps that do not cover the resource or the ability.
    let narrow = |prefix: ResourcePrefix, ability: LitAbility| {
        let mut recap = Recap::new();
        recap.add_capability(&LitResource::wildcard(prefix), ability, None);
        let siwe = SiweMessage::new(fx.wallet.address(), NONCE, now())
            .with_uri(&session_key_uri(&fx.key.verifying_key()))
            .with_expiration(fx.request.expiration())
            .with_recap(&recap);
        fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)])
    };
    c.cap(
        "recap for another resource",
        narrow(ResourcePrefix::LitAction, LitAbility::LitActionExecution),
        "recap-grant",
    );
    let acc = narrow(ResourcePrefix::AccessControlCondition, LitAbility::AccessControlConditionDecryption);
    c.cap("recap for another ability", acc.clone(), "recap-grant").request = req(REQUESTS[3]);
    c.cap("recap for another ability (rli)", acc, "recap-grant").request = req(REQUESTS[4]);
    let mut exact = Recap::new();
    exact.add_capability(
        &LitResource::new(ResourcePrefix::LitAction, "QmOnlyThis").unwrap(),
        LitAbility::LitActionExecution,
        None,
    );
    let siwe = SiweMessage::new(fx.wallet.address(), NONCE, now())
        .with_uri(&session_key_uri(&fx.key.verifying_key()))
        .with_expiration(fx.request.expiration())
        .with_recap(&exact);
    c.cap("recap for another Lit Action id", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "recap-grant")
        .request = req(REQUESTS[1]);
    let siwe = SiweMessage::new(fx.wallet.address(), NONCE, now())
        .with_uri(&session_key_uri(&fx.key.verifying_key()))
        .with_expiration(fx.request.expiration());
    c.cap("no recap at all", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "recap-grant");
    // An undecodable ReCap resource ("{}" has no att/prf): the node drops it, so nothing grants.
    let mut siwe = fx.siwe(&fx.wallet);
    siwe.resources = vec!["urn:recap:e30".into()];
    c.cap("recap without att", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "recap-grant");
    // Signed by another wallet than the SIWE names.
    let text = fx.siwe(&fx.wallet).render().unwrap();
    let forged = fx.raw_auth_sig(&fx.other_wallet, &text, &fx.wallet.address().to_checksum());
    c.cap("capability signed by another wallet", fx.with_caps(vec![forged]), "wallet-signature");
    // SIWE expired / not yet valid while the session is fine.
    let siwe = fx.siwe(&fx.wallet).with_expiration(now().saturating_sub(Duration::seconds(1)));
    c.cap("capability SIWE expired", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "siwe-time");
    c.cap("capability SIWE expired, session in grace", good.clone(), "siwe-time").now =
        fx.request.expiration().saturating_add(Duration::seconds(59));
    let text = fx
        .siwe(&fx.wallet)
        .render()
        .unwrap()
        .replace("\nResources:", &format!("\nNot Before: {}\nResources:", now().saturating_add(Duration::hours(1))));
    let nbf = fx.raw_auth_sig(&fx.wallet, &text, &fx.wallet.address().to_checksum());
    c.cap("capability SIWE not yet valid", fx.with_caps(vec![nbf]), "siwe-time");
    // Kinds this verifier does not check, and BLS.
    let mut eip1271 = session_cap.clone();
    eip1271["derivedVia"] = json!("EIP1271");
    c.cap("EIP-1271 capability", fx.with_caps(vec![eip1271]), "unsupported");
    let mut bls = session_cap.clone();
    bls["derivedVia"] = json!("lit.bls");
    bls["algo"] = json!("LIT_BLS");
    c.add("lit.bls capability", fx.with_caps(vec![bls]), "needs-network-key");
    // Several failing capabilities: the one bound to this session is reported.
    let delegation = CapacityDelegation::default().sign(&fx.wallet, NONCE, now()).unwrap();
    let mut bad = session_cap.clone();
    bad["sig"] = json!(flip_hex(bad["sig"].as_str().unwrap(), 20));
    c.cap(
        "delegation + bad session AuthSig",
        fx.with_caps(vec![serde_json::to_value(delegation).unwrap(), bad]),
        "wallet-signature",
    );

    // -- strict only (the node accepts all of these).
    let strict = |c: &mut Corpus, name: &str, sig: SessionSig, rule: &'static str| {
        let case = c.add(name, sig, rule);
        case.strict = true;
        case.cap_rule = match name {
            n if n.starts_with("expired delegation") => Some("siwe-time"),
            n if n.starts_with("forged delegation") => Some("wallet-signature"),
            _ => None,
        };
    };
    strict(
        &mut c,
        "sessionKey is not address",
        fx.resigned(|m| m["sessionKey"] = json!("00".repeat(32))),
        "strict-session-key",
    );
    let mut cap = session_cap.clone();
    cap["address"] = json!(fx.other_wallet.address().to_checksum());
    strict(&mut c, "capability address field of another wallet", fx.with_caps(vec![cap]), "strict-address");
    let mut cap = session_cap.clone();
    cap["address"] = json!("not an address");
    strict(&mut c, "capability address field garbage", fx.with_caps(vec![cap]), "strict-address");
    let long = now().saturating_add(Duration::hours(48)).to_string();
    strict(
        &mut c,
        "lifetime over the policy's 24 h",
        fx.resigned(|m| m["expiration"] = json!(long)),
        "strict-lifetime",
    );
    let expired_delegation =
        CapacityDelegation::default().sign(&fx.wallet, NONCE, now().saturating_sub(Duration::days(8))).unwrap();
    strict(
        &mut c,
        "expired delegation before a valid session AuthSig",
        fx.with_caps(vec![serde_json::to_value(expired_delegation).unwrap(), session_cap.clone()]),
        "strict-capability",
    );
    let mut bad_delegation =
        serde_json::to_value(CapacityDelegation::default().sign(&fx.wallet, NONCE, now()).unwrap()).unwrap();
    bad_delegation["sig"] = json!(flip_hex(bad_delegation["sig"].as_str().unwrap(), 30));
    strict(
        &mut c,
        "forged delegation before a valid session AuthSig",
        fx.with_caps(vec![bad_delegation, session_cap.clone()]),
        "strict-capability",
    );
    let mut bls = session_cap.clone();
    bls["derivedVia"] = json!("lit.bls");
    bls["algo"] = json!("LIT_BLS");
    strict(
        &mut c,
        "unverifiable BLS capability after the winner",
        fx.with_caps(vec![session_cap.clone(), bls]),
        "needs-network-key",
    );
    let siwe = fx.siwe(&fx.wallet).with_domain("evil.example");
    c.add("domain not on the allow-list", fx.with_caps(vec![fx.auth_sig(&fx.wallet, &siwe)]), "strict-domain").strict =
        true;
    c.cases
}

fn policy(strict: bool) -> VerifyPolicy {
    if strict {
        VerifyPolicy::strict().with_allowed_domains(["localhost"])
    } else {
        VerifyPolicy::node()
    }
}

#[test]
fn negative_corpus_is_rejected_by_the_expected_rule_on_every_path() {
    let fx = fixture();
    let cases = build_corpus(&fx);
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut rules = std::collections::BTreeMap::<String, usize>::new();
    for strict in [false, true] {
        let verifier = Verifier::new(policy(strict));
        let selected: Vec<&Case> = cases.iter().filter(|c| c.strict == strict).collect();
        for case in &selected {
            let single = verify_session_sig(&case.sig, &case.node, &case.request, case.now, &policy(strict));
            let err = single.as_ref().err().unwrap_or_else(|| panic!("{}: accepted", case.name));
            assert_eq!(err.rule(), case.rule, "{}: {err}", case.name);
            assert_eq!(err.capability_error().map(CapabilityError::rule), case.cap_rule, "{}: {err}", case.name);
            assert!(err.to_string().starts_with(&format!("{}: ", case.rule)), "{}: {err}", case.name);
            assert_eq!(
                verifier.verify(&case.sig, &case.node, &case.request, case.now),
                single,
                "{} (cached)",
                case.name
            );
            // The strict-only cases pass the node's rules.
            if strict && case.rule.starts_with("strict") {
                verify_session_sig(&case.sig, &case.node, &case.request, case.now, &VerifyPolicy::node())
                    .unwrap_or_else(|e| panic!("{}: the node would reject: {e}", case.name));
            }
            let key = match case.cap_rule {
                Some(c) => format!("{}/{c}", case.rule),
                None => case.rule.to_string(),
            };
            *rules.entry(key).or_default() += 1;
        }
        // The batch path agrees, per time (the batch takes one clock).
        let mut by_now = std::collections::BTreeMap::<Timestamp, Vec<&Case>>::new();
        for case in &selected {
            by_now.entry(case.now).or_default().push(case);
        }
        for (now, group) in by_now {
            let items: Vec<BatchItem> =
                group.iter().map(|c| BatchItem { session_sig: &c.sig, node: &c.node, request: &c.request }).collect();
            for (case, res) in group.iter().zip(verifier.verify_batch(&items, now)) {
                let expected = verify_session_sig(&case.sig, &case.node, &case.request, case.now, &policy(strict));
                assert_eq!(res, expected, "{} (batch)", case.name);
            }
        }
    }
    println!("{} negative cases by rule: {rules:#?}", cases.len());
}

#[test]
fn batch_mixes_valid_and_invalid_and_matches_single_verification() {
    let fx = fixture();
    let verifier = Verifier::default();
    let mut sigs: Vec<(SessionSig, NodeUrl)> = NODES.iter().enumerate().map(|(i, n)| (fx.sig(i), node(n))).collect();
    let mut bad = fx.sig(1);
    bad.sig = flip_hex(&bad.sig, 70);
    sigs.push((bad, node(NODES[1])));
    sigs.push((fx.sig(2), node(NODES[0])));
    let r = req(REQUESTS[2]);
    let items: Vec<BatchItem> = sigs.iter().map(|(s, n)| BatchItem { session_sig: s, node: n, request: &r }).collect();
    let results = verifier.verify_batch(&items, now());
    assert!(results[0].is_ok() && results[1].is_ok() && results[2].is_ok());
    assert_eq!(results[3], Err(VerifyError::BadSignature));
    assert!(matches!(results[4], Err(VerifyError::NodeAddressMismatch { .. })));
    // All valid: one batch.
    let ok: Vec<BatchItem> = items[..3].to_vec();
    assert!(verifier.verify_batch(&ok, now()).iter().all(Result::is_ok));
    assert!(verifier.verify_batch(&[], now()).is_empty());
}

#[test]
fn arbitrary_mutations_never_panic() {
    let fx = fixture();
    let verifier = Verifier::new(VerifyPolicy::strict());
    let good = fx.sig(0);
    let text = good.signed_message.clone();
    let r = req(REQUESTS[0]);
    let n = node(NODES[0]);
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut sigs = Vec::new();
    for _ in 0..300 {
        let mut bytes = text.as_bytes().to_vec();
        match next() % 4 {
            0 => {
                let i = (next() as usize) % bytes.len();
                bytes[i] = (next() % 128) as u8;
            }
            1 => bytes.truncate((next() as usize) % bytes.len()),
            2 => {
                let i = (next() as usize) % bytes.len();
                bytes.insert(i, b"{}[]\",:\\0x"[(next() as usize) % 10]);
            }
            _ => {
                let i = (next() as usize) % bytes.len();
                let j = (next() as usize) % bytes.len();
                bytes.swap(i, j);
            }
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let s = fx.resigned_text(&mutated);
        let _ = verifier.verify(&s, &n, &r, now());
        sigs.push(s);
    }
    let items: Vec<BatchItem> = sigs.iter().map(|s| BatchItem { session_sig: s, node: &n, request: &r }).collect();
    assert_eq!(verifier.verify_batch(&items, now()).len(), 300);
    // Garbage in every field.
    for junk in ["", "0x", "💥", "00", &"f".repeat(128), &"0".repeat(64)] {
        let s = SessionSig {
            sig: junk.to_string(),
            derived_via: junk.to_string(),
            signed_message: junk.to_string(),
            address: junk.to_string(),
            algo: None,
        };
        assert!(verifier.verify(&s, &n, &r, now()).is_err());
    }
    // A map whose entry is no session sig reads; verifying the entry is what refuses it.
    let entries = parse_session_sigs("{\"a\": 1}").unwrap();
    assert_eq!(verifier.verify_entry(&entries[0], &n, &r, now()).unwrap_err().rule(), "auth-sig-json");
    assert!(parse_session_sigs("[]").is_err());
    assert!(parse_session_sigs("{}").is_err());
}
