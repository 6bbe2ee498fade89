//! Byte-for-byte conformance with the vectors the real Lit JS SDK v7.4.0 produced, loaded from
//! `tests/vectors/`.

mod common;

use common::vector;

use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::capacity_delegation::CapacityDelegation;
use lit_session_signer::eth::eip191_hash;
use lit_session_signer::jcs;
use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::{
    access_control_resource_id, LitAbility, LitResource, ResourceAbilityRequest, ResourceError, ResourcePrefix,
};
use lit_session_signer::session_sigs::SessionSigsRequest;
use lit_session_signer::siwe::{SiweError, SiweMessage};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn key32(hex_str: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str.trim_start_matches("0x"), &mut out).unwrap();
    out
}

fn request(input: &Value) -> ResourceAbilityRequest {
    let prefix: ResourcePrefix = s(input, "resourcePrefix").parse().unwrap();
    let resource = LitResource::new(prefix, s(input, "resourceId")).unwrap();
    let r = ResourceAbilityRequest::new(resource, s(input, "ability").parse().unwrap()).unwrap();
    match input.get("data") {
        Some(Value::Object(data)) => r.with_data(data.clone()),
        _ => r,
    }
}

#[test]
fn recap_cases() {
    let v = vector("recap-cases.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 21);
    for case in cases {
        let id = s(case, "id");
        let mut recap = Recap::new();
        let mut keys = Vec::new();
        for input in case["inputs"].as_array().unwrap() {
            let prefix: ResourcePrefix = s(input, "resourcePrefix").parse().unwrap();
            let resource = LitResource::new(prefix, s(input, "resourceId")).unwrap();
            keys.push(Value::String(resource.key()));
            if input.get("sdkMethod").and_then(Value::as_str) == Some("addAllCapabilitiesForResource") {
                recap.add_all_capabilities(&resource);
            } else {
                let ability: LitAbility = s(input, "ability").parse().unwrap();
                recap.add_capability(&resource, ability, input.get("data").and_then(Value::as_object).cloned());
            }
        }
        assert_eq!(Value::Array(keys), case["resourceKeys"], "{id}: resource keys");
        assert_eq!(recap.to_canonical_json(), s(case, "recapJson"), "{id}: canonical json");
        assert_eq!(recap.encode(), s(case, "urn"), "{id}: urn");
        assert_eq!(recap.statement(), s(case, "statement"), "{id}: statement");
        let decoded = Recap::decode(s(case, "urn")).unwrap();
        assert_eq!(decoded, recap, "{id}: decode");
        assert_eq!(decoded.to_json(), case["decoded"], "{id}: decoded json");
        if let Some(accs) = case.get("accs") {
            let expected = s(&case["inputs"][0], "resourceId");
            assert_eq!(access_control_resource_id(accs, s(case, "dataToEncryptHash")).unwrap(), expected, "{id}");
            let plain_hash = hex::encode(Sha256::digest(s(case, "dataToEncryptHashPlaintext").as_bytes()));
            assert_eq!(plain_hash, s(case, "dataToEncryptHash"));
        }
        if let Some(cc) = case.get("ccParams") {
            let d = delegation_from(cc);
            assert_eq!(Value::Object(d.restriction().unwrap()), case["inputs"][0]["data"], "{id}: nb");
        }
        for check in case.get("verifyCapabilitiesForResource").and_then(Value::as_array).into_iter().flatten() {
            let prefix: ResourcePrefix = s(check, "resourcePrefix").parse().unwrap();
            let resource = LitResource::new(prefix, s(check, "resourceId")).unwrap();
            assert_eq!(resource.key(), s(check, "normalisedResourceKey"), "{id}");
            let ability: LitAbility = s(check, "ability").parse().unwrap();
            assert_eq!(recap.grants(&resource, ability), check["result"].as_bool().unwrap(), "{id}: {check}");
        }
    }
}

#[test]
fn recap_error_cases() {
    let v = vector("recap-cases.json");
    let errors = v["errorCases"].as_array().unwrap();
    assert!(!errors.is_empty());
    for case in errors {
        let prefix: ResourcePrefix = s(case, "resourcePrefix").parse().unwrap();
        let expected_msg = s(case, "error");
        match LitResource::new(prefix, s(case, "resourceId")) {
            Err(e) => {
                assert!(matches!(e, ResourceError::PkpIdTooLong(_)), "{case}");
                assert!(expected_msg.contains("exceeds 64 characters"));
            }
            Ok(resource) => {
                let ability: LitAbility = s(case, "ability").parse().unwrap();
                assert_eq!(
                    ResourceAbilityRequest::new(resource, ability),
                    Err(ResourceError::AbilityNotSupported { prefix, ability }),
                    "{case}"
                );
                assert!(expected_msg.contains("does not support the specified ability"));
            }
        }
    }
}

fn delegation_from(cc: &Value) -> CapacityDelegation {
    CapacityDelegation {
        token_id: cc.get("capacityTokenId").and_then(Value::as_str).map(str::to_string),
        delegatees: cc
            .get("delegateeAddresses")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()),
        uses: cc.get("uses").map(|u| match u {
            Value::String(s) => s.parse().unwrap(),
            other => other.as_u64().unwrap(),
        }),
        allow_empty_delegatees: true,
        ..CapacityDelegation::default()
    }
}

fn uri_is_delegation(params: &Value) -> bool {
    params.get("uri").and_then(Value::as_str) == Some("lit:capability:delegation")
}

fn delegation_request(params: &Value) -> ResourceAbilityRequest {
    let d = delegation_from(params);
    let resource = LitResource::new(ResourcePrefix::RateLimitIncrease, d.token_id.as_deref().unwrap_or("*")).unwrap();
    ResourceAbilityRequest::new(resource, LitAbility::RateLimitIncreaseAuth)
        .unwrap()
        .with_data(d.restriction().unwrap())
}

#[test]
fn siwe_cases() {
    let v = vector("siwe-cases.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let id = s(case, "id");
        let params = &case["params"];
        let now: Timestamp = s(case, "frozenNow").parse().unwrap();
        let wallet = MemoryWallet::from_bytes(&key32(s(case, "privateKey"))).unwrap();
        assert_eq!(wallet.address().to_string(), s(case, "address"), "{id}");
        assert_eq!(s(params, "walletAddress"), s(case, "address"));
        let nonce = s(params, "nonce");
        let mut siwe = SiweMessage::new(wallet.address(), nonce, now);
        if let Some(exp) = params.get("expiration").and_then(Value::as_str) {
            siwe = siwe.with_expiration(exp.parse().unwrap());
        }
        if let Some(d) = params.get("domain").and_then(Value::as_str) {
            siwe = siwe.with_domain(d);
        }
        if let Some(c) = params.get("chainId").and_then(Value::as_u64) {
            siwe = siwe.with_chain_id(c);
        }
        if let Some(st) = params.get("statement").and_then(Value::as_str) {
            siwe = siwe.with_statement(st);
        }
        if let Some(uri) = params.get("uri").and_then(Value::as_str) {
            siwe = siwe.with_uri(uri);
        }
        if uri_is_delegation(params) {
            let built = delegation_from(params).siwe(wallet.address(), nonce, now).unwrap();
            assert_eq!(built.render(), siwe.clone().with_requests(&[delegation_request(params)]).render(), "{id}");
            siwe = built;
        } else if let Some(resources) = params.get("resources").and_then(Value::as_array) {
            siwe = siwe.with_requests(&resources.iter().map(request).collect::<Vec<_>>());
        }
        let message = s(case, "message");
        // The EIP-191 digest is over the exact bytes, whatever the SIWE parser thinks.
        assert_eq!(format!("0x{}", hex::encode(eip191_hash(message.as_bytes()))), s(case, "eip191Hash"), "{id}");
        if case["expectedValidSiwe"].as_bool() == Some(false) {
            assert!(matches!(siwe.render(), Err(SiweError::StatementCharacter(_))), "{id}");
            continue;
        }
        assert_eq!(siwe.render().unwrap(), message, "{id}: message text");
        let auth_sig = AuthSig::sign(&wallet, &siwe).unwrap();
        let expected: AuthSig = serde_json::from_value(case["authSig"].clone()).unwrap();
        assert_eq!(auth_sig, expected, "{id}: authSig");
        // Key order as the SDK writes it.
        assert_eq!(serde_json::to_string(&auth_sig).unwrap(), jcs::to_js_string(&case["authSig"]), "{id}");
    }
}

#[test]
fn deterministic_session_sigs() {
    let v = vector("deterministic-session-sigs-small.json");
    let inputs = &v["vector"]["inputs"];
    let outputs = &v["vector"]["outputs"];
    let store = MemoryKeyStore::new();
    let key = store.import_seed("vector", Zeroizing::new(key32(s(inputs, "sessionKeySeedHex")))).unwrap();
    assert_eq!(hex::encode(store.public_key(&key).unwrap().as_bytes()), s(&outputs["sessionKeyPair"], "publicKey"));
    let wallet = MemoryWallet::from_bytes(&key32(s(inputs, "walletPrivateKey"))).unwrap();
    assert_eq!(wallet.address().to_string(), s(inputs, "walletAddress"));

    let nodes =
        inputs["connectedNodes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().parse().unwrap()).collect();
    let requests = inputs["resourceAbilityRequests"].as_array().unwrap().iter().map(request).collect();
    let mut req = SessionSigsRequest::new(nodes, requests, s(inputs, "latestBlockhashNonce"));
    req.now = s(inputs, "frozenNow").parse().unwrap();
    req.params.expiration = Some(s(inputs, "expiration").parse().unwrap());

    let public_key = store.public_key(&key).unwrap();
    let auth_sig = AuthSig::sign(&wallet, &req.session_siwe(&public_key, &wallet)).unwrap();
    assert_eq!(serde_json::to_value(&auth_sig).unwrap(), outputs["authSig"]);
    assert_eq!(auth_sig.signed_message, s(outputs, "authSigSiweMessage"));
    assert_eq!(
        Recap::decode(s(&outputs["authSigRecap"], "urn")).unwrap().to_json(),
        outputs["authSigRecap"]["decoded"]
    );

    let sigs = req.sign(&store, &key, &wallet).unwrap();
    assert_eq!(sigs.to_json(), jcs::to_js_string(&outputs["sessionSigs"]));
    for (node, sig) in sigs.iter() {
        let per_node = &outputs["perNode"][node.as_str()];
        assert_eq!(sig.signed_message.len() as u64, per_node["signedMessageBytes"].as_u64().unwrap());
        assert_eq!(hex::encode(Sha256::digest(sig.signed_message.as_bytes())), s(per_node, "signedMessageSha256"));
        // The shared template plus nodeAddress, in that order.
        let mut template = outputs["signingTemplate"].clone();
        template.as_object_mut().unwrap().insert("nodeAddress".into(), Value::String(node.to_string()));
        assert_eq!(sig.signed_message, jcs::to_js_string(&template));
    }
}
