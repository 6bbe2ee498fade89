//! Writes the verify rules suite, `tests/vectors/verify-rules/{datil,naga}.json`: cases that
//! each start from a real SDK output in `tests/vectors/` (the v7 `getSessionSigs` vector for
//! Datil, the v8 `issueSessionFromContext` vector for Naga), change one thing, re-sign what the
//! change breaks (the ed25519 session signature, the wallet's EIP-191 signature) with the
//! vectors' own keys, and record what the node decides.
//!
//! The expected decisions are written here by hand from the nodes' code (Datil
//! `LIT-Protocol/Node` v1.0.18, Naga `LIT-Protocol/lit-peer` 1a469b7, and the crates they pin:
//! serde 1, chrono 0.4.38/0.4.41, uint 0.9.5, ed25519 2.2, siwe 0.5.2 with k256 0.11,
//! siwe-recap 0.2 with base64 0.12): nothing here runs the verifier. `tests/verify_rules.rs`
//! checks the verifier against them.
//!
//! `cargo run --release --example verify_rules_suite` (from the repository root) rewrites the
//! two files; the output is deterministic.

use std::collections::BTreeMap;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey};
use k256::ecdsa::{Signature as EcdsaSignature, SigningKey as WalletKey};
use lit_session_signer::eth::EthAddress;
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::{LitAbility, LitResource, ResourcePrefix};
use lit_session_signer::Timestamp;
use serde_json::{json, Map, Value};
use time::Duration;

const DATIL_VECTOR: &str = "tests/vectors/deterministic-session-sigs-small.json";
const NAGA_VECTOR: &str = "tests/vectors/naga-v8-small.json";
const OUT_DIR: &str = "tests/vectors/verify-rules";

// ---------------------------------------------------------------------------------------------
// What the node does: rule names and the node code that refuses (read from the nodes' code).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gen {
    Datil,
    Naga,
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Datil => "datil",
            Gen::Naga => "naga",
        }
    }
}

fn node_function(gen: Gen, rule: &str) -> &'static str {
    let naga = gen == Gen::Naga;
    match rule {
        "auth-sig-json" if naga => "lit-node-core: models/auth_sig.rs::JsonAuthSigVisitor::visit_map",
        "auth-sig-json" => "auth/auth_material.rs::JsonAuthSigVisitor::visit_map",
        "session-sig-type" if naga => "auth/auth_material.rs::JsonAuthSigExtendedRef::validate_and_get_wallet_sig",
        "session-sig-type" => "auth/auth_material.rs::JsonAuthSig::validate_and_get_wallet_sig",
        "session-key" | "signature-encoding" | "non-canonical-signature" | "ed25519-signature" => {
            "auth/session_sigs.rs::check_ed25519_auth_sig"
        }
        "signed-message" if naga => "auth/session_sigs.rs::parse_signed_message",
        "signed-message" => "auth/session_sigs.rs::validate_session_sig",
        "max-price" => "models/auth.rs::from_str_to_u256",
        "resource" => "auth/session_sigs.rs::validate_session_sig_resource_ability_requests",
        "timestamp" | "issued-at" | "expiration-order" | "expired" => {
            "auth/session_sigs.rs::validate_session_sig_time_parameters"
        }
        "lifetime" => "siwe_db/utils.rs::check_expiration_validity",
        "node-address" => "auth/session_sigs.rs::validate_session_sig",
        "capabilities" => "auth/session_sigs.rs::validate_capabilities_array",
        "needs-network-key" => "auth/validators/siwe.rs::SiweValidator::validate_bls_auth_sig_basic",
        "payment-user-address" => "auth/auth_material.rs::ValidatedAddress::evm_address",
        "price" => "payment/selection.rs::get_payment_method",
        "route-fallback" => "auth/session_sigs.rs::validate_and_extract_wallet_sig",
        other => panic!("no node function for {other}"),
    }
}

fn capability_function(cap_rule: &str) -> &'static str {
    match cap_rule {
        "siwe" => "auth/validators/siwe.rs::SiweValidator::parse_siwe_message",
        "siwe-time" | "uri" | "unsupported" | "signature-encoding" => {
            "auth/validators/siwe.rs::SiweValidator::validate_auth_sig"
        }
        "wallet-signature" => "auth/validators/siwe.rs::SiweValidator::validate_auth_sig_basic",
        "bls-signature" => "auth/validators/siwe.rs::SiweValidator::validate_bls_auth_sig_basic",
        "recap-statement" => "auth/capabilities/recap.rs::extract_and_verify_all_capabilities",
        "recap-grant" => "auth/capabilities/recap.rs::RecapSessionCapabilityObject::verify_capabilities_for_resource",
        other => panic!("no node function for capability rule {other}"),
    }
}

#[derive(Clone)]
enum Expect {
    Accept,
    Reject(&'static str),
    RejectCapability(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Building blocks.

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn wallet_address(key: &WalletKey) -> EthAddress {
    EthAddress::from_verifying_key(key.verifying_key())
}

/// r‖s‖v with v = 27 + recovery id (what ethers writes), over the EIP-191 hash of the `siwe`
/// crate's rendering of `text` (what the node hashes).
fn wallet_sig_bytes(key: &WalletKey, text: &str) -> [u8; 65] {
    let msg = siwe::Message::from_str(text).expect("a SIWE message");
    let digest = msg.eip191_hash().expect("hashable");
    let (sig, id) = key.sign_prehash_recoverable(&digest).expect("signs");
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + id.to_byte();
    out
}

fn wallet_sig(key: &WalletKey, text: &str) -> String {
    format!("0x{}", hex::encode(wallet_sig_bytes(key, text)))
}

fn capability(key: &WalletKey, text: &str) -> Value {
    json!({
        "sig": wallet_sig(key, text),
        "derivedVia": "web3.eth.personal.sign",
        "signedMessage": text,
        "address": wallet_address(key).to_checksum(),
    })
}

/// A wallet signature with one bit of s flipped: it recovers some other key.
fn flip_wallet_sig(sig: &str) -> String {
    let mut bytes = hex::decode(sig.trim_start_matches("0x")).unwrap();
    bytes[40] ^= 0x01;
    format!("0x{}", hex::encode(bytes))
}

/// An ed25519 signature with one bit of s flipped.
fn flip_session_sig(sig: &str) -> String {
    let mut bytes = hex::decode(sig).unwrap();
    bytes[40] ^= 0x01;
    hex::encode(bytes)
}

/// A JSON object written from pairs in order (keys may repeat).
fn raw_obj(pairs: &[(&str, Value)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String(k.to_string()), serde_json::to_string(v).unwrap()))
        .collect();
    format!("{{{}}}", parts.join(","))
}

struct Base {
    gen: Gen,
    session: SigningKey,
    wallet: WalletKey,
    node: String,
    entry: Map<String, Value>,
    message: Value,
    siwe: String,
    now: Timestamp,
    resource: String,
}

impl Base {
    fn address(&self) -> String {
        hex::encode(self.session.verifying_key().as_bytes())
    }

    /// The SDK's entry, untouched.
    fn entry_text(&self) -> String {
        serde_json::to_string(&Value::Object(self.entry.clone())).unwrap()
    }

    /// The entry with `text` as signedMessage, signed by `key`, `address` as given.
    fn signed_with(&self, key: &SigningKey, address: &str, text: &str) -> String {
        let sig = hex::encode(key.sign(text.as_bytes()).to_bytes());
        raw_obj(&[
            ("sig", json!(sig)),
            ("derivedVia", json!("litSessionSignViaNacl")),
            ("signedMessage", json!(text)),
            ("address", json!(address)),
            ("algo", json!("ed25519")),
        ])
    }

    /// The entry over `text`, re-signed with the session key.
    fn resigned(&self, text: &str) -> String {
        self.signed_with(&self.session, &self.address(), text)
    }

    /// The message changed by `f`, written as JSON and re-signed.
    fn with_message(&self, f: impl FnOnce(&mut Value)) -> String {
        let mut m = self.message.clone();
        f(&mut m);
        self.resigned(&serde_json::to_string(&m).unwrap())
    }

    fn message_text(&self) -> String {
        serde_json::to_string(&self.message).unwrap()
    }

    /// The session AuthSig's SIWE, parsed, for editing.
    fn siwe_msg(&self) -> siwe::Message {
        siwe::Message::from_str(&self.siwe).unwrap()
    }

    /// The session signed with these capabilities (re-signed).
    fn with_caps(&self, caps: Vec<Value>) -> String {
        self.with_message(|m| m["capabilities"] = Value::Array(caps))
    }

    /// The session AuthSig over `text`, signed by the wallet.
    fn cap(&self, text: &str) -> Value {
        capability(&self.wallet, text)
    }

    /// The session with its AuthSig's SIWE changed by `f` and signed again.
    fn with_siwe(&self, f: impl FnOnce(&mut siwe::Message)) -> String {
        let mut m = self.siwe_msg();
        f(&mut m);
        self.with_caps(vec![self.cap(&m.to_string())])
    }

    /// The session's own AuthSig (the last capability) with a field replaced.
    fn session_cap(&self) -> Value {
        self.message["capabilities"].as_array().unwrap().last().unwrap().clone()
    }

    /// A SIWE for this session key with this ReCap, the base's other fields.
    fn siwe_with_recap(&self, recap: &Recap, statement: Option<String>) -> String {
        let mut m = self.siwe_msg();
        m.resources = vec![recap.encode().parse().unwrap()];
        m.statement = statement;
        m.to_string()
    }

    fn expiration(&self) -> Timestamp {
        ts(self.message["expiration"].as_str().unwrap())
    }

    fn issued_at(&self) -> Timestamp {
        ts(self.message["issuedAt"].as_str().unwrap())
    }
}

struct Case {
    name: String,
    family: &'static str,
    node: String,
    resource: String,
    now: String,
    route: Option<&'static str>,
    node_price: Option<String>,
    network_key: bool,
    session_sig: String,
    expect: Expect,
    strict: Option<&'static str>,
    inspect: Option<Value>,
}

struct Suite<'a> {
    base: &'a Base,
    family: &'static str,
    cases: Vec<Case>,
}

impl<'a> Suite<'a> {
    fn family(&mut self, family: &'static str) {
        self.family = family;
    }

    fn add(&mut self, name: &str, session_sig: String, expect: Expect) -> &mut Case {
        let b = self.base;
        self.cases.push(Case {
            name: name.to_string(),
            family: self.family,
            node: b.node.clone(),
            resource: b.resource.clone(),
            now: b.now.to_string(),
            route: None,
            node_price: None,
            network_key: false,
            session_sig,
            expect,
            strict: None,
            inspect: None,
        });
        self.cases.last_mut().unwrap()
    }

    fn accept(&mut self, name: &str, session_sig: String) -> &mut Case {
        self.add(name, session_sig, Expect::Accept)
    }

    fn reject(&mut self, name: &str, session_sig: String, rule: &'static str) -> &mut Case {
        self.add(name, session_sig, Expect::Reject(rule))
    }

    fn reject_cap(&mut self, name: &str, session_sig: String, cap_rule: &'static str) -> &mut Case {
        self.add(name, session_sig, Expect::RejectCapability(cap_rule))
    }

    fn json(&self) -> Value {
        let gen = self.base.gen;
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|c| {
                let mut o = Map::new();
                o.insert("name".into(), json!(c.name));
                o.insert("family".into(), json!(c.family));
                o.insert("node".into(), json!(c.node));
                o.insert("resource".into(), json!(c.resource));
                o.insert("now".into(), json!(c.now));
                if let Some(r) = c.route {
                    o.insert("route".into(), json!(r));
                }
                if let Some(p) = &c.node_price {
                    o.insert("nodePrice".into(), json!(p));
                }
                if c.network_key {
                    o.insert("networkKey".into(), json!(true));
                }
                match &c.expect {
                    Expect::Accept => {
                        o.insert("decision".into(), json!("accept"));
                    }
                    Expect::Reject(rule) => {
                        o.insert("decision".into(), json!("reject"));
                        o.insert("rule".into(), json!(rule));
                        o.insert("nodeFunction".into(), json!(node_function(gen, rule)));
                    }
                    Expect::RejectCapability(cap) => {
                        o.insert("decision".into(), json!("reject"));
                        o.insert("rule".into(), json!("capability"));
                        o.insert("capabilityRule".into(), json!(cap));
                        o.insert("nodeFunction".into(), json!(capability_function(cap)));
                    }
                }
                if let Some(s) = c.strict {
                    o.insert("strictRule".into(), json!(s));
                }
                if let Some(i) = &c.inspect {
                    o.insert("inspect".into(), i.clone());
                }
                o.insert("sessionSig".into(), json!(c.session_sig));
                Value::Object(o)
            })
            .collect();
        Value::Array(cases)
    }
}

fn load(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn base(gen: Gen) -> Base {
    let (path, node, resource) = match gen {
        Gen::Datil => (DATIL_VECTOR, "https://158.69.108.66:443", "lit-pkp://*=pkp-signing"),
        Gen::Naga => (NAGA_VECTOR, "https://192.0.2.30:443", "lit-pkp://*=pkp-signing"),
    };
    let v = load(path);
    let inputs = &v["vector"]["inputs"];
    let seed: [u8; 32] = hex::decode(inputs["sessionKeySeedHex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let wallet_hex = inputs["walletPrivateKey"].as_str().unwrap().trim_start_matches("0x");
    let wallet = WalletKey::from_slice(&hex::decode(wallet_hex).unwrap()).unwrap();
    let entry = v["vector"]["outputs"]["sessionSigs"][node].as_object().unwrap().clone();
    let message: Value = serde_json::from_str(entry["signedMessage"].as_str().unwrap()).unwrap();
    let siwe =
        message["capabilities"].as_array().unwrap().last().unwrap()["signedMessage"].as_str().unwrap().to_string();
    let b = Base {
        gen,
        session: SigningKey::from_bytes(&seed),
        wallet,
        node: node.to_string(),
        entry,
        message,
        siwe,
        now: ts(inputs["frozenNow"].as_str().unwrap()),
        resource: resource.to_string(),
    };
    // The vectors' keys are the ones that signed them.
    assert_eq!(b.address(), b.entry["address"].as_str().unwrap());
    assert_eq!(wallet_address(&b.wallet).to_checksum(), inputs["walletAddress"].as_str().unwrap());
    b
}

// ---------------------------------------------------------------------------------------------
// The cases.

fn baseline(s: &mut Suite<'_>, other: &Base) {
    let b = s.base;
    s.family("baseline");
    s.accept("the SDK's session sig as it is", b.entry_text());
    let nodes: Vec<String> = load(if b.gen == Gen::Datil { DATIL_VECTOR } else { NAGA_VECTOR })["vector"]["outputs"]
        ["sessionSigs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for node in nodes.iter().filter(|n| **n != b.node) {
        let v = load(if b.gen == Gen::Datil { DATIL_VECTOR } else { NAGA_VECTOR });
        let text = serde_json::to_string(&v["vector"]["outputs"]["sessionSigs"][node]).unwrap();
        s.accept(&format!("the SDK's session sig for {node}"), text.clone()).node = node.clone();
        s.reject(&format!("the session sig for {node} sent to another node"), text, "node-address");
    }
    s.accept("the message re-signed unchanged", b.resigned(&b.message_text()));
    match b.gen {
        Gen::Datil => {
            // A Datil node reads the v8 message too: maxPrice is a key it does not know.
            let c = s.accept("a v8 (Naga SDK) session sig at a Datil node", other.entry_text());
            c.node = other.node.clone();
            c.now = other.now.to_string();
        }
        Gen::Naga => {
            let c = s.reject("a v7 (Datil SDK) session sig at a Naga node", other.entry_text(), "signed-message");
            c.node = other.node.clone();
            c.now = other.now.to_string();
            let c = s.accept("the lit-action request the session also grants", b.entry_text());
            c.resource = "lit-litaction://*=lit-action-execution".into();
        }
    }
}

fn json_keys(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("json-keys");
    let e = |k: &str| b.entry[k].clone();
    let (sig, dv, sm, addr) = (e("sig"), e("derivedVia"), e("signedMessage"), e("address"));
    let algo = json!("ed25519");
    s.accept(
        "keys in another order",
        raw_obj(&[
            ("algo", algo.clone()),
            ("address", addr.clone()),
            ("signedMessage", sm.clone()),
            ("derivedVia", dv.clone()),
            ("sig", sig.clone()),
        ]),
    );
    s.accept(
        "algo null, then algo again (the reader refuses a repeat only once it holds a value)",
        raw_obj(&[
            ("sig", sig.clone()),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", addr.clone()),
            ("algo", Value::Null),
            ("algo", algo.clone()),
        ]),
    );
    s.accept("a key spelt with a JSON escape (s\\u0069g)", b.entry_text().replacen("\"sig\":", "\"s\\u0069g\":", 1));
    s.accept(
        "signedMessage with escaped characters that read back the same",
        b.entry_text().replacen("\\\"sessionKey\\\"", "\\u0022sessionKey\\u0022", 1),
    );
    let all = |extra: (&str, Value)| {
        raw_obj(&[
            ("sig", sig.clone()),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", addr.clone()),
            ("algo", algo.clone()),
            extra,
        ])
    };
    for (name, extra) in [
        ("an unknown key (chain)", ("chain", json!("ethereum"))),
        ("an unknown key in another case (Algo)", ("Algo", json!("ed25519"))),
        ("sig twice, the same value", ("sig", sig.clone())),
        ("address twice", ("address", addr.clone())),
        ("derivedVia twice", ("derivedVia", dv.clone())),
        ("signedMessage twice", ("signedMessage", sm.clone())),
        ("algo twice", ("algo", algo.clone())),
        ("algo, then algo null", ("algo", Value::Null)),
        ("an unknown key with a null value", ("capabilities", Value::Null)),
    ] {
        s.reject(name, all(extra), "auth-sig-json");
    }
    let without = |skip: &str| {
        let pairs: Vec<(&str, Value)> = [
            ("sig", sig.clone()),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", addr.clone()),
            ("algo", algo.clone()),
        ]
        .into_iter()
        .filter(|(k, _)| *k != skip)
        .collect();
        raw_obj(&pairs)
    };
    for key in ["address", "sig", "derivedVia", "signedMessage"] {
        s.reject(&format!("no {key}"), without(key), "auth-sig-json");
    }
    s.reject(
        "sig a number",
        raw_obj(&[
            ("sig", json!(1)),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", addr.clone()),
            ("algo", algo.clone()),
        ]),
        "auth-sig-json",
    );
    s.reject(
        "address null",
        raw_obj(&[
            ("sig", sig.clone()),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", Value::Null),
            ("algo", algo.clone()),
        ]),
        "auth-sig-json",
    );
    s.reject(
        "algo a number",
        raw_obj(&[
            ("sig", sig.clone()),
            ("derivedVia", dv.clone()),
            ("signedMessage", sm.clone()),
            ("address", addr.clone()),
            ("algo", json!(25519)),
        ]),
        "auth-sig-json",
    );
    s.reject("the session sig is an array", format!("[{sig},{sm}]"), "auth-sig-json");
    s.reject("the session sig is a string", serde_json::to_string(&b.entry_text()).unwrap(), "auth-sig-json");
}

fn session_sig_type(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("session-sig-type");
    let with = |dv: Value, algo: Option<Value>| {
        let mut pairs = vec![
            ("sig", b.entry["sig"].clone()),
            ("derivedVia", dv),
            ("signedMessage", b.entry["signedMessage"].clone()),
            ("address", b.entry["address"].clone()),
        ];
        if let Some(a) = algo {
            pairs.push(("algo", a));
        }
        raw_obj(&pairs)
    };
    s.accept(
        "litSessionSignViaNacl with ed25519, exactly",
        with(json!("litSessionSignViaNacl"), Some(json!("ed25519"))),
    );
    s.reject("no algo: a wallet signature to the node", with(json!("litSessionSignViaNacl"), None), "session-sig-type");
    s.reject("algo null", with(json!("litSessionSignViaNacl"), Some(Value::Null)), "session-sig-type");
    s.reject("algo ED25519 (case)", with(json!("litSessionSignViaNacl"), Some(json!("ED25519"))), "session-sig-type");
    s.reject(
        "derivedVia in another case",
        with(json!("LitSessionSignViaNacl"), Some(json!("ed25519"))),
        "session-sig-type",
    );
    s.reject(
        "derivedVia with a trailing space",
        with(json!("litSessionSignViaNacl "), Some(json!("ed25519"))),
        "session-sig-type",
    );
    s.reject(
        "derivedVia EIP1271 (a contract signature)",
        with(json!("EIP1271"), Some(json!("ed25519"))),
        "session-sig-type",
    );
    s.reject("derivedVia lit.bls with LIT_BLS", with(json!("lit.bls"), Some(json!("LIT_BLS"))), "session-sig-type");
    s.reject(
        "derivedVia of a wallet",
        with(json!("web3.eth.personal.sign"), Some(json!("ed25519"))),
        "session-sig-type",
    );
}

fn session_key(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("session-key");
    let addr = b.address();
    // The same key in other spellings; the SIWE URI must spell it the same way.
    for (name, spelt) in [
        ("0x-prefixed", format!("0x{addr}")),
        ("upper case", addr.to_uppercase()),
        ("mixed case", format!("{}{}", addr[..32].to_uppercase(), &addr[32..])),
        ("0x-prefixed upper case", format!("0x{}", addr.to_uppercase())),
    ] {
        let uri = format!("lit:session:{spelt}");
        let mut m = b.siwe_msg();
        m.uri = uri.parse().unwrap();
        let caps = vec![b.cap(&m.to_string())];
        let mut msg = b.message.clone();
        msg["capabilities"] = Value::Array(caps);
        let text = serde_json::to_string(&msg).unwrap();
        s.accept(
            &format!("address {name}, bound in the SIWE URI as written"),
            b.signed_with(&b.session, &spelt, &text),
        )
        .strict = Some("strict-hex");
        s.reject_cap(
            &format!("address {name}, SIWE URI with the plain hex"),
            b.signed_with(&b.session, &spelt, &b.message_text()),
            "uri",
        );
    }
    // An odd number of digits is left-padded: a key whose first digit is 0, written with 63.
    let (key, short) = (1u8..=255)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .find_map(|k| {
            let h = hex::encode(k.verifying_key().as_bytes());
            h.starts_with('0').then(|| (k, h[1..].to_string()))
        })
        .expect("a key with a leading zero digit");
    let full = format!("0{short}");
    let session_for = |address_in_uri: &str| {
        let mut m = b.siwe_msg();
        m.uri = format!("lit:session:{address_in_uri}").parse().unwrap();
        let mut msg = b.message.clone();
        msg["sessionKey"] = json!(full);
        msg["capabilities"] = json!([b.cap(&m.to_string())]);
        serde_json::to_string(&msg).unwrap()
    };
    s.accept(
        "address of 63 digits (odd length, left-padded), bound as written",
        b.signed_with(&key, &short, &session_for(&short)),
    );
    s.accept(
        "address of 63 digits with 0x, bound as written",
        b.signed_with(&key, &format!("0x{short}"), &session_for(&format!("0x{short}"))),
    );
    s.reject_cap("address of 63 digits, SIWE URI with all 64", b.signed_with(&key, &short, &session_for(&full)), "uri");
    s.accept("that key with all 64 digits", b.signed_with(&key, &full, &session_for(&full)));
    let text = b.message_text();
    for (name, bad) in [
        ("62 digits", addr[..62].to_string()),
        ("65 digits (33 bytes once padded)", format!("{addr}0")),
        ("0x twice", format!("0x0x{addr}")),
        ("0X prefix", format!("0X{addr}")),
        ("a space", format!(" {addr}")),
        ("a non-hex digit", format!("g{}", &addr[1..])),
        ("empty", String::new()),
    ] {
        s.reject(&format!("address {name}"), b.signed_with(&b.session, &bad, &text), "session-key");
    }
    // 32 bytes that are no curve point (y = 2 has no x), and a small-order point.
    let no_point = (2u8..)
        .map(|y| {
            let mut p = [0u8; 32];
            p[0] = y;
            p
        })
        .find(|p| ed25519_dalek::VerifyingKey::from_bytes(p).is_err())
        .unwrap();
    s.reject("address not a curve point", b.signed_with(&b.session, &hex::encode(no_point), &text), "session-key");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut forged = vec![0u8; 64];
    forged[0] = 1;
    s.reject(
        "address the identity point, signature R = identity, s = 0",
        raw_obj(&[
            ("sig", json!(hex::encode(forged))),
            ("derivedVia", json!("litSessionSignViaNacl")),
            ("signedMessage", json!(text)),
            ("address", json!(hex::encode(identity))),
            ("algo", json!("ed25519")),
        ]),
        "session-key",
    );
    s.reject(
        "address of another key",
        b.signed_with(&b.session, &hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes()), &text),
        "ed25519-signature",
    );
}

fn signature_hex(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("signature-hex");
    let sig = b.entry["sig"].as_str().unwrap().to_string();
    let with = |sig: String| {
        let mut e = b.entry.clone();
        e["sig"] = json!(sig);
        serde_json::to_string(&Value::Object(e)).unwrap()
    };
    s.accept("sig in upper case", with(sig.to_uppercase())).strict = Some("strict-hex");
    s.reject("sig in mixed case", with(format!("{}{}", &sig[..64], sig[64..].to_uppercase())), "signature-encoding");
    s.reject(
        "sig with one upper-case letter",
        {
            let i = sig.find(|c: char| c.is_ascii_alphabetic()).unwrap();
            with(format!("{}{}{}", &sig[..i], sig[i..=i].to_uppercase(), &sig[i + 1..]))
        },
        "signature-encoding",
    );
    s.reject("sig with 0x", with(format!("0x{sig}")), "signature-encoding");
    s.reject("sig of 127 digits", with(sig[..127].to_string()), "signature-encoding");
    s.reject("sig of 129 digits", with(format!("{sig}0")), "signature-encoding");
    s.reject("sig of 126 digits", with(sig[..126].to_string()), "signature-encoding");
    s.reject("sig with a non-hex letter", with(format!("{}g", &sig[..127])), "signature-encoding");
    s.reject("sig with a space", with(format!(" {}", &sig[1..])), "signature-encoding");
    s.reject("sig with a bit of s flipped", with(flip_session_sig(&sig)), "ed25519-signature");
    // s + ℓ: the same signature, malleated; verify_strict refuses it.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut bytes = hex::decode(&sig).unwrap();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(bytes[32 + i]) + u16::from(l[i]) + carry;
        bytes[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    s.reject("sig with s + ℓ (malleated)", with(hex::encode(bytes)), "non-canonical-signature");
    let mut bytes = hex::decode(&sig).unwrap();
    bytes[..32].copy_from_slice(&[0; 32]);
    bytes[0] = 1;
    s.reject("sig with R the identity", with(hex::encode(bytes)), "non-canonical-signature");
}

fn signed_message(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("signed-message");
    let text = b.message_text();
    s.accept(
        "an unknown key added",
        b.with_message(|m| {
            m["foo"] = json!({"bar": [1, 2]});
        }),
    );
    s.accept("pretty-printed JSON", b.resigned(&serde_json::to_string_pretty(&b.message).unwrap()));
    s.accept(
        "sessionKey of another key (never compared)",
        b.with_message(|m| m["sessionKey"] = json!("00".repeat(32))),
    )
    .strict = Some("strict-session-key");
    s.accept("sessionKey empty", b.with_message(|m| m["sessionKey"] = json!(""))).strict = Some("strict-session-key");
    s.accept(
        "a resource request with a data key",
        b.with_message(|m| m["resourceAbilityRequests"][0]["data"] = json!({"k": "v"})),
    );
    s.accept(
        "a resource request with another ability (not looked at)",
        b.with_message(|m| m["resourceAbilityRequests"][0]["ability"] = json!("anything")),
    );
    s.accept(
        "the session AuthSig with algo null",
        b.with_message(|m| {
            let last = m["capabilities"].as_array_mut().unwrap().last_mut().unwrap();
            last["algo"] = Value::Null;
        }),
    );
    let dup =
        |key: &str, value: &str| text.replacen(&format!("\"{key}\":"), &format!("\"{key}\":{value},\"{key}\":"), 1);
    s.reject(
        "nodeAddress twice",
        b.resigned(&dup("nodeAddress", &serde_json::to_string(&b.message["nodeAddress"]).unwrap())),
        "signed-message",
    );
    s.reject("capabilities twice", b.resigned(&dup("capabilities", "[]")), "signed-message");
    s.reject(
        "issuedAt twice",
        b.resigned(&dup("issuedAt", &serde_json::to_string(&b.message["issuedAt"]).unwrap())),
        "signed-message",
    );
    s.reject(
        "sessionKey missing",
        b.with_message(|m| drop(m.as_object_mut().unwrap().remove("sessionKey"))),
        "signed-message",
    );
    s.reject(
        "expiration missing",
        b.with_message(|m| drop(m.as_object_mut().unwrap().remove("expiration"))),
        "signed-message",
    );
    s.reject("sessionKey a number", b.with_message(|m| m["sessionKey"] = json!(1)), "signed-message");
    s.reject(
        "a capability with an unknown key",
        b.with_message(|m| {
            let last = m["capabilities"].as_array_mut().unwrap().last_mut().unwrap();
            last["chain"] = json!("ethereum");
        }),
        "signed-message",
    );
    let cap = b.session_cap();
    let cap_text = raw_obj(&[
        ("sig", cap["sig"].clone()),
        ("sig", cap["sig"].clone()),
        ("derivedVia", cap["derivedVia"].clone()),
        ("signedMessage", cap["signedMessage"].clone()),
        ("address", cap["address"].clone()),
    ]);
    let mut m = b.message.clone();
    m["capabilities"] = json!(["PLACEHOLDER"]);
    let with_dup_cap = serde_json::to_string(&m).unwrap().replace("\"PLACEHOLDER\"", &cap_text);
    s.reject("a capability with sig twice", b.resigned(&with_dup_cap), "signed-message");
    s.reject(
        "a resource request without ability",
        b.with_message(|m| drop(m["resourceAbilityRequests"][0].as_object_mut().unwrap().remove("ability"))),
        "signed-message",
    );
    let req = serde_json::to_string(&b.message["resourceAbilityRequests"][0]["resource"]).unwrap();
    let twice = text.replacen(&req, &req.replacen("{", "{\"resource\":\"*\",", 1), 1);
    assert_ne!(twice, text);
    s.reject("a resource with resource twice", b.resigned(&twice), "signed-message");
    s.reject("trailing text after the JSON", b.resigned(&format!("{text} x")), "signed-message");
    s.accept("trailing whitespace after the JSON", b.resigned(&format!("{text}\n ")));
    s.reject("not JSON", b.resigned("not json"), "signed-message");
    s.reject("a JSON array", b.resigned("[]"), "signed-message");
    match b.gen {
        Gen::Datil => {
            s.accept("maxPrice a number (Datil does not know the key)", b.with_message(|m| m["maxPrice"] = json!(5)));
            let with = b.with_message(|m| m["maxPrice"] = json!("0x1"));
            let inner: Value = serde_json::from_str(&with).unwrap();
            let text = inner["signedMessage"].as_str().unwrap().replacen(
                "\"maxPrice\":",
                "\"maxPrice\":null,\"maxPrice\":",
                1,
            );
            s.accept("maxPrice twice (Datil does not know the key)", b.resigned(&text));
        }
        Gen::Naga => {
            s.reject("maxPrice twice", b.resigned(&dup("maxPrice", "\"0x1\"")), "signed-message");
            s.reject(
                "maxPrice missing",
                b.with_message(|m| drop(m.as_object_mut().unwrap().remove("maxPrice"))),
                "signed-message",
            );
        }
    }
}

fn max_price(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("max-price");
    let price = |p: Value| b.with_message(|m| m["maxPrice"] = p);
    let two_256_minus_1 = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    let two_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    for (name, p) in [
        ("decimal", json!("113427455640312821154458201477256070485")),
        ("0x and upper-case hex digits", json!("0x55555555555555555555546C80B04555")),
        ("0x twice (uint strips a second 0x)", json!("0x0x55555555555555555555546c80b04555")),
        ("an odd number of hex digits", json!("0xfff")),
        ("64 hex digits", json!(format!("0x{}", "f".repeat(64)))),
        ("2^256 - 1 in decimal", json!(two_256_minus_1)),
        ("leading zeros", json!("000000001")),
    ] {
        s.accept(&format!("maxPrice {name}"), price(p));
    }
    s.accept("maxPrice 0x alone (0)", price(json!("0x")));
    s.accept("maxPrice empty (0)", price(json!("")));
    for (name, p) in [
        ("0X (upper-case x)", json!("0X10")),
        ("negative", json!("-1")),
        ("with a space", json!(" 10")),
        ("a plus sign", json!("+10")),
        ("a JSON number", json!(10)),
        ("null", Value::Null),
        ("65 hex digits", json!(format!("0x1{}", "0".repeat(64)))),
        ("2^256 in decimal", json!(two_256)),
        ("0x three times", json!("0x0x0x10")),
        ("a decimal point", json!("1.5")),
    ] {
        s.reject(&format!("maxPrice {name}"), price(p), "max-price");
    }
    // A JSON escape: the node borrows the string and cannot.
    let text = b.message_text();
    let escaped = text.replacen("\"maxPrice\":\"0x", "\"maxPrice\":\"\\u0030x", 1);
    assert_ne!(escaped, text);
    s.reject("maxPrice with a JSON escape", b.resigned(&escaped), "max-price");

    // The node's price for the request (the SIGN price of this node in the vector).
    s.family("node-price");
    let max = "0x55555555555555555555546c80b04555";
    let max_dec: u128 = u128::from_str_radix(&max[2..], 16).unwrap();
    s.accept("node price 29000000000000 (the vector's)", b.entry_text()).node_price = Some("29000000000000".into());
    s.accept("node price equal to maxPrice", b.entry_text()).node_price = Some(max_dec.to_string());
    s.reject("node price maxPrice + 1", b.entry_text(), "price").node_price = Some((max_dec + 1).to_string());
    s.accept("node price 0, maxPrice 0x", price(json!("0x"))).node_price = Some("0".into());
    s.reject("node price 1, maxPrice 0x (0)", price(json!("0x")), "price").node_price = Some("1".into());
    s.reject("node price 1, maxPrice empty (0)", price(json!("")), "price").node_price = Some("1".into());
    s.accept("node price 4095, maxPrice 0xfff", price(json!("0xfff"))).node_price = Some("4095".into());
    s.reject("node price 4096, maxPrice 0xfff", price(json!("0xfff")), "price").node_price = Some("4096".into());
    s.accept("node price 16, maxPrice 0x0x10", price(json!("0x0x10"))).node_price = Some("16".into());
    s.reject("node price 17, maxPrice 0x0x10", price(json!("0x0x10")), "price").node_price = Some("17".into());
}

fn time(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("time");
    let iat = b.issued_at();
    let exp = b.expiration();
    let at = |s: &mut Suite<'_>, name: &str, now: Timestamp, expect: Expect| {
        let c = s.add(name, b.entry_text(), expect);
        c.now = now.to_string();
    };
    // issuedAt ≤ now + 60 s in whole seconds: now's second is floor(iat) − 60 or later.
    let ms = |n: i64| Duration::milliseconds(n);
    let frac = i64::from(iat.as_datetime().millisecond());
    at(s, "now 60 s before issuedAt", iat.saturating_sub(Duration::seconds(60)), Expect::Accept);
    at(
        s,
        "now 60.5 s before issuedAt (same whole second as 60 s)",
        iat.saturating_sub(ms(60_500).min(ms(60_000 + frac))),
        Expect::Accept,
    );
    at(
        s,
        "now in the whole second 60 s before issuedAt's, at .000",
        iat.saturating_sub(ms(60_000 + frac)),
        Expect::Accept,
    );
    at(s, "now 1 ms before that whole second", iat.saturating_sub(ms(60_001 + frac)), Expect::Reject("issued-at"));
    at(s, "now 61 s before issuedAt", iat.saturating_sub(Duration::seconds(61)), Expect::Reject("issued-at"));

    // expiration ≥ now − 60 s in whole seconds. The SIWE must outlive the session for this to
    // be the rule that decides: re-sign it with a later expiration.
    let long_siwe =
        b.with_siwe(|m| m.expiration_time = Some(exp.saturating_add(Duration::days(1)).to_string().parse().unwrap()));
    let after = |s: &mut Suite<'_>, name: &str, now: Timestamp, expect: Expect| {
        let c = s.add(name, long_siwe.clone(), expect);
        c.now = now.to_string();
    };
    let exp_frac = i64::from(exp.as_datetime().millisecond());
    after(s, "now 60 s after expiration", exp.saturating_add(Duration::seconds(60)), Expect::Accept);
    after(
        s,
        "now at the end of the whole second 60 s after expiration's",
        exp.saturating_add(ms(60_999 - exp_frac)),
        Expect::Accept,
    );
    after(s, "now at the next whole second", exp.saturating_add(ms(61_000 - exp_frac)), Expect::Reject("expired"));
    after(s, "now 61 s after expiration", exp.saturating_add(Duration::seconds(61)), Expect::Reject("expired"));
    // With the SDK's SIWE (it expires with the session), the capability decides first.
    let c = s.reject_cap("now 30 s after expiration, the SIWE expired with the session", b.entry_text(), "siwe-time");
    c.now = exp.saturating_add(Duration::seconds(30)).to_string();
    let c = s.accept("now at expiration exactly (the SIWE's expiration counts as valid)", b.entry_text());
    c.now = exp.to_string();

    // expiration ≥ issuedAt, at full precision.
    let set_exp = |e: &str| b.with_message(|m| m["expiration"] = json!(e));
    s.accept("expiration equal to issuedAt", set_exp(&iat.to_string()));
    s.reject("expiration 1 ms before issuedAt", set_exp(&iat.saturating_sub(ms(1)).to_string()), "expiration-order");
    let iat_text = b.message["issuedAt"].as_str().unwrap().to_string();
    let just_before = iat_text.replace('Z', "").to_string();
    let (secs, fraction) = just_before.rsplit_once('.').unwrap();
    let ns_before = format!("{secs}.{:09}Z", fraction.parse::<u64>().unwrap() * 1_000_000 - 1);
    s.reject("expiration 1 ns before issuedAt (chrono keeps nanoseconds)", set_exp(&ns_before), "expiration-order");
    let ns_after = format!("{secs}.{fraction}000001Z");
    s.accept("expiration 1 ns after issuedAt", set_exp(&ns_after));

    // expiration ≤ issuedAt + 30 days, full precision; the SIWE re-signed to outlive it.
    let thirty = iat.saturating_add(Duration::days(30));
    let with_exp_and_siwe = |e: Timestamp| {
        let mut m = b.siwe_msg();
        m.expiration_time = Some(e.saturating_add(Duration::days(1)).to_string().parse().unwrap());
        let cap = b.cap(&m.to_string());
        b.with_message(|msg| {
            msg["expiration"] = json!(e.to_string());
            msg["capabilities"] = json!([cap]);
        })
    };
    s.accept("a 30-day session", with_exp_and_siwe(thirty)).strict = Some("strict-lifetime");
    s.reject("a session of 30 days and 1 ms", with_exp_and_siwe(thirty.saturating_add(ms(1))), "lifetime");

    // The forms chrono reads; each one the same instant (or one that still holds).
    s.family("time-format");
    let set_iat = |v: &str| b.with_message(|m| m["issuedAt"] = json!(v));
    let iat_dt = iat.as_datetime();
    let (date, clock) = (
        format!("{:04}-{:02}-{:02}", iat_dt.year(), u8::from(iat_dt.month()), iat_dt.day()),
        format!("{:02}:{:02}:{:02}", iat_dt.hour(), iat_dt.minute(), iat_dt.second()),
    );
    let fracs = format!("{:03}", iat_dt.millisecond());
    let plus_one = iat.saturating_add(Duration::hours(1)).as_datetime();
    let plus_one_text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fracs}+01:00",
        plus_one.year(),
        u8::from(plus_one.month()),
        plus_one.day(),
        plus_one.hour(),
        plus_one.minute(),
        plus_one.second()
    );
    let minus_one = iat.saturating_sub(Duration::hours(1)).as_datetime();
    let minus_text = |sign: &str| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fracs}{sign}01:00",
            minus_one.year(),
            u8::from(minus_one.month()),
            minus_one.day(),
            minus_one.hour(),
            minus_one.minute(),
            minus_one.second()
        )
    };
    for (name, v) in [
        ("+00:00", format!("{date}T{clock}.{fracs}+00:00")),
        ("-00:00", format!("{date}T{clock}.{fracs}-00:00")),
        ("+01:00", plus_one_text),
        ("-01:00", minus_text("-")),
        ("U+2212 minus sign", minus_text("\u{2212}")),
        ("lower-case t and z", format!("{date}t{clock}.{fracs}z")),
        ("a space for T", format!("{date} {clock}.{fracs}Z")),
        ("no fraction", format!("{date}T{clock}Z")),
        ("twelve fraction digits", format!("{date}T{clock}.{fracs}000000000Z")),
    ] {
        s.accept(&format!("issuedAt with {name}"), set_iat(&v));
    }
    s.accept("issuedAt a leap second (:60 at any minute)", set_iat(&format!("{date}T{}:60.000Z", &clock[..5])));
    for (name, v) in [
        ("no offset", format!("{date}T{clock}.{fracs}")),
        ("offset without a colon", format!("{date}T{clock}.{fracs}+0000")),
        ("offset hours only", format!("{date}T{clock}.{fracs}+00")),
        ("offset +24:00", format!("{date}T{clock}.{fracs}+24:00")),
        ("offset minutes 60", format!("{date}T{clock}.{fracs}+00:60")),
        ("a leading space", format!(" {date}T{clock}.{fracs}Z")),
        ("a trailing space", format!("{date}T{clock}.{fracs}Z ")),
        ("a dot without digits", format!("{date}T{clock}.Z")),
        ("UTC for Z", format!("{date}T{clock}.{fracs}UTC")),
        ("an underscore for T", format!("{date}_{clock}.{fracs}Z")),
        ("no seconds", format!("{date}T{}Z", &clock[..5])),
        ("second 61", format!("{date}T{}:61Z", &clock[..5])),
        ("February 29 of a common year", format!("2025-02-29T{clock}Z")),
        ("a five-digit year", format!("+0{date}T{clock}Z")),
    ] {
        s.reject(&format!("issuedAt with {name}"), set_iat(&v), "timestamp");
    }
    s.reject(
        "expiration with no offset",
        set_exp(&b.message["expiration"].as_str().unwrap().replace('Z', "")),
        "timestamp",
    );
}

fn node_address(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("node-address");
    let host_port = b.node.trim_start_matches("https://").to_string();
    let set = |v: &str| b.with_message(|m| m["nodeAddress"] = json!(v));
    for (name, v) in [
        ("without a scheme", host_port.clone()),
        ("https:// twice", format!("https://https://{host_port}")),
        ("https:// then http://", format!("https://http://{host_port}")),
        ("http:// instead of https://", format!("http://{host_port}")),
        ("surrounded by spaces", format!("  {}\t", b.node)),
        ("after a Unicode em space", format!("\u{2003}{}", b.node)),
    ] {
        s.accept(&format!("nodeAddress {name}"), set(&v));
    }
    for (name, v) in [
        ("http:// then https://", format!("http://https://{host_port}")),
        ("HTTPS:// in upper case", format!("HTTPS://{host_port}")),
        ("with a trailing slash", format!("{}/", b.node)),
        ("with a fragment", format!("{}#x", b.node)),
        ("without its port", b.node.rsplit_once(':').unwrap().0.to_string()),
        ("with a leading zero in the port", b.node.replace(":443", ":0443")),
        ("with another port", b.node.replace(":443", ":444")),
        ("of another node", "https://10.0.0.1:443".to_string()),
        ("empty", String::new()),
    ] {
        s.reject(&format!("nodeAddress {name}"), set(&v), "node-address");
    }
    // A node at 127.0.0.1: the node writes localhost as 127.0.0.1 in what was signed.
    for (name, v, ok) in [
        ("localhost", "http://localhost:7471", true),
        ("127.0.0.1", "http://127.0.0.1:7471", true),
        ("LOCALHOST (not rewritten)", "http://LOCALHOST:7471", false),
    ] {
        let text = set(v);
        let c = if ok {
            s.accept(&format!("local node, nodeAddress {name}"), text)
        } else {
            s.reject(&format!("local node, nodeAddress {name}"), text, "node-address")
        };
        c.node = "http://127.0.0.1:7471".into();
    }
}

fn resources(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("resources");
    let pkp_id = "1a2b".repeat(16);
    s.accept("a request for one PKP, the session asks for lit-pkp://*", b.entry_text()).resource =
        format!("lit-pkp://{pkp_id}=pkp-signing");
    let exact = b.with_message(|m| m["resourceAbilityRequests"][0]["resource"]["resource"] = json!(pkp_id));
    // The ReCap still grants lit-pkp://*.
    s.accept("the session asks for that PKP exactly", exact.clone()).resource =
        format!("lit-pkp://{pkp_id}=pkp-signing");
    s.reject("the session asks for another PKP", exact, "resource").resource =
        format!("lit-pkp://{}=pkp-signing", "3c4d".repeat(16));
    s.reject(
        "resourcePrefix in upper case",
        b.with_message(|m| m["resourceAbilityRequests"][0]["resource"]["resourcePrefix"] = json!("LIT-PKP")),
        "resource",
    );
    s.reject("no resource requests", b.with_message(|m| m["resourceAbilityRequests"] = json!([])), "resource");
    s.reject(
        "a request for a resource the session does not ask for",
        b.with_message(|m| m["resourceAbilityRequests"] = json!([m["resourceAbilityRequests"][0].clone()])),
        "resource",
    )
    .resource = "lit-accesscontrolcondition://*=access-control-condition-decryption".into();
}

fn capabilities(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("capability-order");
    let good = b.session_cap();
    let mut broken = good.clone();
    broken["sig"] = json!(flip_wallet_sig(good["sig"].as_str().unwrap()));
    let other_wallet = WalletKey::from_slice(&[0x44; 32]).unwrap();
    let mut m = b.siwe_msg();
    m.uri = "lit:session:00".parse().unwrap();
    m.address = *wallet_address(&other_wallet).as_bytes();
    let unbound = capability(&other_wallet, &m.to_string());
    s.accept("a broken capability after the good one", b.with_caps(vec![good.clone(), broken.clone()])).strict =
        Some("strict-capability");
    s.accept("a broken capability before the good one", b.with_caps(vec![broken.clone(), good.clone()])).strict =
        Some("strict-capability");
    s.accept(
        "another wallet's capability for another key before the good one",
        b.with_caps(vec![unbound.clone(), good.clone()]),
    );
    s.reject_cap("two broken capabilities", b.with_caps(vec![broken.clone(), broken.clone()]), "wallet-signature");
    s.reject_cap("only another wallet's capability for another key", b.with_caps(vec![unbound]), "uri");
    s.reject("no capabilities", b.with_caps(vec![]), "capabilities");
    // The winner's `address` field is the user the node acts for (and charges, on Naga).
    let mut bad_address = good.clone();
    bad_address["address"] = json!("0xZZ");
    let mut lower_address = good.clone();
    lower_address["address"] =
        json!(good["address"].as_str().unwrap().to_lowercase().trim_start_matches("0x").to_string());
    s.accept("the winner's address field lower case without 0x", b.with_caps(vec![lower_address])).strict = None;
    let short = b.with_caps(vec![bad_address.clone()]);
    let first_bad = b.with_caps(vec![bad_address.clone(), good.clone()]);
    let first_good = b.with_caps(vec![good.clone(), bad_address]);
    match b.gen {
        Gen::Datil => {
            s.accept("the winner's address field not an address (Datil charges no one)", short).strict =
                Some("strict-address");
            s.accept("a capability with a bad address field wins", first_bad).strict = Some("strict-address");
        }
        Gen::Naga => {
            s.reject("the winner's address field not an address", short, "payment-user-address");
            s.reject("a capability with a bad address field wins", first_bad, "payment-user-address");
        }
    }
    s.accept("a capability with a bad address field after the winner", first_good).strict = Some("strict-address");

    s.family("capability-type");
    let with_type = |dv: &str, algo: Option<&str>| {
        let mut c = good.clone();
        c["derivedVia"] = json!(dv);
        if let Some(a) = algo {
            c["algo"] = json!(a);
        }
        b.with_caps(vec![c])
    };
    s.accept(
        "a capability litSessionSignViaNacl without algo: checked as a wallet signature",
        with_type("litSessionSignViaNacl", None),
    );
    s.accept("a capability with any other derivedVia: a wallet signature", with_type("siwe", None));
    s.accept("a capability lit.bls with algo ed25519: a wallet signature", with_type("lit.bls", Some("ed25519")));
    s.accept("a capability EIP1271_SHA256x: a wallet signature", with_type("EIP1271_SHA256x", None));
    s.reject_cap("a capability EIP1271", with_type("EIP1271", None), "unsupported");
    s.reject_cap("a capability EIP1271_SHA256", with_type("EIP1271_SHA256", None), "unsupported");
    s.reject_cap(
        "a capability litSessionSignViaNacl with ed25519",
        with_type("litSessionSignViaNacl", Some("ed25519")),
        "unsupported",
    );
    s.reject(
        "a capability lit.bls with LIT_BLS, no network key given",
        with_type("lit.bls", Some("LIT_BLS")),
        "needs-network-key",
    );
    s.reject_cap(
        "a capability lit.bls with LIT_BLS holding a wallet signature",
        with_type("lit.bls", Some("LIT_BLS")),
        "signature-encoding",
    )
    .network_key = true;
}

fn wallet_signature(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("wallet-signature");
    let text = b.siwe.clone();
    let bytes = wallet_sig_bytes(&b.wallet, &text);
    let with_sig = |sig: String| {
        let mut c = b.session_cap();
        c["sig"] = json!(sig);
        b.with_caps(vec![c])
    };
    let hex65 = hex::encode(bytes);
    let with_v = |v: u8| {
        let mut x = bytes;
        x[64] = v;
        format!("0x{}", hex::encode(x))
    };
    let id = bytes[64] - 27;
    s.accept("sig without 0x", with_sig(hex65.clone())).strict = Some("strict-wallet-signature");
    s.accept("sig in upper case", with_sig(format!("0x{}", hex65.to_uppercase()))).strict =
        Some("strict-wallet-signature");
    s.accept("sig in mixed case", with_sig(format!("0x{}{}", &hex65[..60], hex65[60..].to_uppercase()))).strict =
        Some("strict-wallet-signature");
    s.accept("v as 0/1", with_sig(with_v(id))).strict = Some("strict-wallet-signature");
    s.accept("v as 54/55 (mod 27)", with_sig(with_v(54 + id))).strict = Some("strict-wallet-signature");
    s.reject_cap("v 29", with_sig(with_v(29)), "signature-encoding");
    s.reject_cap("v 2", with_sig(with_v(2)), "signature-encoding");
    s.reject_cap("v flipped", with_sig(with_v(27 + (1 - id))), "wallet-signature");
    // High s: k256 0.11 recovers without verifying, so (r, n − s) with the other parity works.
    let sig = EcdsaSignature::from_slice(&bytes[..64]).unwrap();
    let (r, s_scalar) = sig.split_scalars();
    let high = EcdsaSignature::from_scalars(r, -*s_scalar).unwrap();
    let high_with = |v: u8| {
        let mut x = [0u8; 65];
        x[..64].copy_from_slice(&high.to_bytes());
        x[64] = v;
        format!("0x{}", hex::encode(x))
    };
    s.accept("high s with the other v", with_sig(high_with(27 + (1 - id)))).strict = Some("strict-wallet-signature");
    s.reject_cap("high s with the same v", with_sig(high_with(27 + id)), "wallet-signature");
    s.reject_cap("64 bytes", with_sig(format!("0x{}", &hex65[..128])), "signature-encoding");
    s.reject_cap("66 bytes", with_sig(format!("0x{hex65}00")), "signature-encoding");
    s.reject_cap("not hex", with_sig(format!("0x{}zz", &hex65[..128])), "signature-encoding");
    s.reject_cap("0x twice", with_sig(format!("0x0x{hex65}")), "signature-encoding");
    let mut zero_r = bytes;
    zero_r[..32].copy_from_slice(&[0; 32]);
    s.reject_cap("r zero", with_sig(format!("0x{}", hex::encode(zero_r))), "signature-encoding");
    // An odd digit count is left-padded: a signature whose first digit is 0, written with 129.
    let mut m = b.siwe_msg();
    let (odd_text, odd_bytes) = (0..400)
        .find_map(|i| {
            m.nonce = format!("{}{i:04}", &b.siwe_msg().nonce[..20]);
            let t = m.to_string();
            let x = wallet_sig_bytes(&b.wallet, &t);
            (x[0] < 0x10).then_some((t, x))
        })
        .expect("a signature with a leading zero digit");
    let odd_hex = hex::encode(odd_bytes);
    let odd_cap = |sig: String| {
        let mut c = capability(&b.wallet, &odd_text);
        c["sig"] = json!(sig);
        b.with_caps(vec![c])
    };
    s.accept(
        "129 digits (odd, left-padded) for a signature starting with 0",
        odd_cap(format!("0x{}", &odd_hex[1..])),
    )
    .strict = Some("strict-wallet-signature");
    s.accept("that signature with all 130 digits", odd_cap(format!("0x{odd_hex}")));
    s.reject_cap(
        "signed by another wallet",
        b.with_caps(vec![{
            let mut c = capability(&WalletKey::from_slice(&[0x44; 32]).unwrap(), &text);
            c["address"] = b.session_cap()["address"].clone();
            c
        }]),
        "wallet-signature",
    );
}

fn siwe_rules(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("siwe");
    let now = b.now;
    let exp = |t: Timestamp| b.with_siwe(|m| m.expiration_time = Some(t.to_string().parse().unwrap()));
    s.accept("SIWE expiring at now exactly", exp(now));
    s.reject_cap("SIWE expired 1 ms before now", exp(now.saturating_sub(Duration::milliseconds(1))), "siwe-time");
    let nbf = |t: Timestamp| b.with_siwe(|m| m.not_before = Some(t.to_string().parse().unwrap()));
    s.accept("SIWE not before 1 ms before now", nbf(now.saturating_sub(Duration::milliseconds(1))));
    s.reject_cap("SIWE not before now exactly", nbf(now), "siwe-time");
    s.accept("SIWE without an expiration", b.with_siwe(|m| m.expiration_time = None));
    s.accept(
        "SIWE issued a day in the future (not checked)",
        b.with_siwe(|m| m.issued_at = now.saturating_add(Duration::days(1)).to_string().parse().unwrap()),
    );
    s.accept("SIWE for chain 137 (not checked)", b.with_siwe(|m| m.chain_id = 137));
    s.accept("SIWE for another domain (not checked)", b.with_siwe(|m| m.domain = "evil.example".parse().unwrap()))
        .strict = None;
    s.reject_cap(
        "SIWE URI bound to another key",
        b.with_siwe(|m| m.uri = format!("lit:session:{}", "00".repeat(32)).parse().unwrap()),
        "uri",
    );
    s.reject_cap(
        "SIWE URI with the key in upper case",
        b.with_siwe(|m| m.uri = format!("lit:session:{}", b.address().to_uppercase()).parse().unwrap()),
        "uri",
    );
    s.reject_cap(
        "SIWE URI lit:session: without a key",
        b.with_siwe(|m| m.uri = "lit:session:".parse().unwrap()),
        "uri",
    );
    let mut cap = b.session_cap();
    cap["signedMessage"] = json!("not a SIWE message");
    s.reject_cap("capability not a SIWE message", b.with_caps(vec![cap]), "siwe");
    let mut cap = b.session_cap();
    cap["signedMessage"] = json!(b.siwe.replace("Version: 1", "Version: 2"));
    s.reject_cap("SIWE version 2", b.with_caps(vec![cap]), "siwe");
}

fn recaps(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("recap");
    let pkp = LitResource::wildcard(ResourcePrefix::Pkp);
    let la = LitResource::wildcard(ResourcePrefix::LitAction);
    let mut grant = Recap::new();
    grant.add_capability(&pkp, LitAbility::PkpSigning, None);
    if b.gen == Gen::Naga {
        grant.add_capability(&la, LitAbility::LitActionExecution, None);
    }
    let stated = |r: &Recap| Some(r.statement());
    let session = |text: String| b.with_caps(vec![b.cap(&text)]);
    s.accept("statement ending with the ReCap's", session(b.siwe_with_recap(&grant, stated(&grant))));
    s.accept(
        "statement with text before the ReCap's",
        session(b.siwe_with_recap(&grant, Some(format!("Sign in. {}", grant.statement())))),
    );
    s.accept("no statement: the node skips the suffix check", session(b.siwe_with_recap(&grant, None))).strict =
        Some("strict-recap");
    s.reject_cap(
        "a statement without the ReCap sentence",
        session(b.siwe_with_recap(&grant, Some("Sign in.".into()))),
        "recap-statement",
    );
    s.reject_cap(
        "a statement with text after the ReCap's",
        session(b.siwe_with_recap(&grant, Some(format!("{} Thanks.", grant.statement())))),
        "recap-statement",
    );
    // ReCaps the node cannot decode are dropped.
    let with_resources = |resources: Vec<String>, statement: Option<String>| {
        let mut m = b.siwe_msg();
        m.resources = resources.iter().map(|r| r.parse().unwrap()).collect();
        m.statement = statement;
        session(m.to_string())
    };
    let undecodable = "urn:recap:e30".to_string(); // {}: no att, no prf
    s.accept(
        "an undecodable ReCap before the good one",
        with_resources(vec![undecodable.clone(), grant.encode()], stated(&grant)),
    )
    .strict = Some("strict-recap");
    s.reject_cap("only an undecodable ReCap", with_resources(vec![undecodable], Some("x".into())), "recap-grant");
    let b64 = |json: &str| {
        use base64::Engine;
        format!("urn:recap:{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    };
    let empty_nb = b64(r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[]}},"prf":[]}"#);
    s.reject_cap(
        "a ReCap with an empty restriction list (not decodable)",
        with_resources(vec![empty_nb.clone()], None),
        "recap-grant",
    );
    s.accept("that ReCap beside a good one", with_resources(vec![empty_nb, grant.encode()], stated(&grant))).strict =
        Some("strict-recap");
    let mut padded = grant.encode();
    let pad = (4 - (padded.len() - "urn:recap:".len()) % 4) % 4;
    padded.push_str(&"=".repeat(pad));
    if pad > 0 {
        s.accept("the ReCap with base64 padding", with_resources(vec![padded], stated(&grant)));
    }
    let unknown_key = b64(&grant.to_canonical_json().replacen('{', r#"{"v":1,"#, 1));
    s.accept("a ReCap with an unknown top-level key", with_resources(vec![unknown_key], stated(&grant)));
    let twice_att = b64(&grant.to_canonical_json().replacen('{', r#"{"att":{},"#, 1));
    s.reject_cap(
        "a ReCap with att twice (not decodable)",
        with_resources(vec![twice_att], stated(&grant)),
        "recap-grant",
    );
    // Several ReCaps: each must be stated; any one may grant.
    let mut la_only = Recap::new();
    la_only.add_capability(&la, LitAbility::LitActionExecution, None);
    let mut pkp_only = Recap::new();
    pkp_only.add_capability(&pkp, LitAbility::PkpSigning, None);
    // Each ReCap's statement must end the SIWE statement, so two different ones never both do:
    // with a statement, two ReCaps always fail; without one, the check is skipped.
    let both = format!("{} {}", la_only.statement(), pkp_only.statement());
    s.reject_cap(
        "two ReCaps, both stated one after the other",
        with_resources(vec![la_only.encode(), pkp_only.encode()], Some(both)),
        "recap-statement",
    );
    s.reject_cap(
        "two ReCaps, only the last stated",
        with_resources(vec![la_only.encode(), pkp_only.encode()], stated(&pkp_only)),
        "recap-statement",
    );
    s.accept(
        "two ReCaps, no statement, the second grants",
        with_resources(vec![la_only.encode(), pkp_only.encode()], None),
    )
    .strict = Some("strict-recap");
    // What a ReCap grants.
    s.reject_cap(
        "a ReCap for lit-litaction only",
        session(b.siwe_with_recap(&la_only, stated(&la_only))),
        "recap-grant",
    );
    let mut all = Recap::new();
    all.add_all_capabilities(&pkp);
    s.accept("*/* on lit-pkp://*", session(b.siwe_with_recap(&all, stated(&all))));
    let pkp_id = "1a2b".repeat(16);
    let one = LitResource::new(ResourcePrefix::Pkp, &pkp_id).unwrap();
    let mut exact = Recap::new();
    exact.add_capability(&one, LitAbility::PkpSigning, None);
    let c = s.accept("a ReCap for exactly the requested PKP", session(b.siwe_with_recap(&exact, stated(&exact))));
    c.resource = format!("lit-pkp://{pkp_id}=pkp-signing");
    let mut shadowed = exact.clone();
    shadowed.add_capability(&pkp, LitAbility::LitActionExecution, None);
    let c = s.reject_cap(
        "lit-pkp://* with another ability hides the exact entry",
        session(b.siwe_with_recap(&shadowed, Some(shadowed.node_statement()))),
        "recap-grant",
    );
    c.resource = format!("lit-pkp://{pkp_id}=pkp-signing");
    // The node's statement: namespaces in byte order ("a" before "a-b"), not first appearance.
    let json = r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{}],"a-b/x":[{}],"a/y":[{}]}},"prf":[]}"#;
    let r = Recap::decode_as_node(&b64(json)).unwrap();
    let nodes = r.node_statement();
    let sdk = r.statement();
    assert_ne!(nodes, sdk);
    s.accept("namespaces stated in the node's order", with_resources(vec![b64(json)], Some(nodes)));
    s.reject_cap(
        "namespaces stated in first-appearance order",
        with_resources(vec![b64(json)], Some(sdk)),
        "recap-statement",
    );
    let unicode = r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{}],"Thréshold/x":[{}]}},"prf":[]}"#;
    let r = Recap::decode_as_node(&b64(unicode)).unwrap();
    s.accept(
        "a Unicode ability name (ucan allows letters)",
        with_resources(vec![b64(unicode)], Some(r.node_statement())),
    );
}

fn payment_delegation(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("payment-delegation");
    let delegator = WalletKey::from_slice(&[0x44; 32]).unwrap();
    let user_hex = hex::encode(wallet_address(&b.wallet).as_bytes());
    let delegation = |nb: Value| {
        let mut recap = Recap::new();
        let Value::Object(nb) = nb else { unreachable!() };
        recap.add_capability(
            &LitResource::wildcard(ResourcePrefix::PaymentDelegation),
            LitAbility::PaymentDelegation,
            Some(nb),
        );
        let mut m = b.siwe_msg();
        m.address = *wallet_address(&delegator).as_bytes();
        m.uri = "lit:capability:delegation".parse().unwrap();
        m.resources = vec![recap.encode().parse().unwrap()];
        m.statement = Some(recap.statement());
        m.expiration_time = Some(b.now.saturating_add(Duration::days(7)).to_string().parse().unwrap());
        capability(&delegator, &m.to_string())
    };
    let session = |nb: Value| b.with_caps(vec![delegation(nb), b.session_cap()]);
    let max = "0x55555555555555555555546c80b04555";
    for (name, nb, max_price, delegates, check) in [
        (
            "max_price 1000 is hex 0x1000",
            json!({"delegate_to": [user_hex], "max_price": "1000", "scopes": ["pkp_sign"]}),
            "0x1000",
            true,
            "exceeds",
        ),
        (
            "max_price 0x-prefixed",
            json!({"delegate_to": [user_hex], "max_price": format!("0x{}", "f".repeat(64)), "scopes": ["pkp_sign"]}),
            &*format!("0x{}", "f".repeat(64)),
            true,
            "within",
        ),
        (
            "max_price empty is 0",
            json!({"delegate_to": [user_hex], "max_price": "", "scopes": ["pkp_sign"]}),
            "0x0",
            true,
            "exceeds",
        ),
        (
            "max_price equal to maxPrice",
            json!({"delegate_to": [user_hex], "max_price": max, "scopes": ["pkp_sign"]}),
            max,
            true,
            "within",
        ),
        (
            "delegate_to 0x-prefixed (never matches)",
            json!({"delegate_to": [format!("0x{user_hex}")], "max_price": "ff", "scopes": ["pkp_sign"]}),
            "0xff",
            false,
            "exceeds",
        ),
        (
            "delegate_to upper case",
            json!({"delegate_to": [user_hex.to_uppercase()], "max_price": "ff", "scopes": ["pkp_sign"]}),
            "0xff",
            true,
            "exceeds",
        ),
        (
            "delegate_to with a non-string entry",
            json!({"delegate_to": [1, user_hex], "max_price": "ff", "scopes": ["lit_action"]}),
            "0xff",
            true,
            "exceeds",
        ),
        (
            "delegate_to someone else",
            json!({"delegate_to": ["00".repeat(20)], "max_price": "ff", "scopes": ["pkp_sign"]}),
            "0xff",
            false,
            "exceeds",
        ),
    ] {
        let c = s.accept(&format!("payment delegation: {name}"), session(nb));
        c.inspect = Some(
            json!({"capability": 0, "maxPrice": max_price, "delegatesToUser": delegates, "check": check, "validCapability": true}),
        );
    }
    for (name, nb, why) in [
        (
            "max_price not hex",
            json!({"delegate_to": [user_hex], "max_price": "0xzz", "scopes": ["pkp_sign"]}),
            "unusable: max_price is not hex",
        ),
        (
            "max_price a number",
            json!({"delegate_to": [user_hex], "max_price": 5, "scopes": ["pkp_sign"]}),
            "unusable: max_price is not a string",
        ),
        ("no scopes", json!({"delegate_to": [user_hex], "max_price": "ff"}), "unusable: scopes is not set"),
        (
            "an unknown scope",
            json!({"delegate_to": [user_hex], "max_price": "ff", "scopes": ["everything"]}),
            "unusable: \"everything\" is not a payment delegation scope",
        ),
    ] {
        let c = s.accept(&format!("payment delegation: {name}"), session(nb));
        c.inspect = Some(json!({"capability": 0, "check": why}));
    }
}

fn unversioned_route(s: &mut Suite<'_>) {
    let b = s.base;
    s.family("route-fallback");
    let unversioned = |c: &mut Case| c.route = Some("unversioned");
    let exp = b.expiration();
    let c = s.accept("expired: the unversioned route's fallback accepts it", b.entry_text());
    c.now = exp.saturating_add(Duration::days(3)).to_string();
    unversioned(c);
    let c = s.reject("expired, on the v1 route", b.entry_text(), "expired");
    c.now = exp.saturating_add(Duration::days(3)).to_string();
    let c = s.accept("signed for another node: the fallback accepts it", b.entry_text());
    c.node = "https://10.0.0.1:443".into();
    unversioned(c);
    let c = s.accept("a resource the session does not ask for: the fallback accepts it", b.entry_text());
    c.resource = "lit-litaction://QmAnything=lit-action-execution".into();
    unversioned(c);
    let mut broken = b.session_cap();
    broken["sig"] = json!(format!("0x{}", "11".repeat(65)));
    unversioned(s.accept(
        "the AuthSig's wallet signature is garbage: the fallback does not check it",
        b.with_caps(vec![broken.clone()]),
    ));
    unversioned(
        s.accept("the last capability has the URI, the first the grant", b.with_caps(vec![b.session_cap(), broken])),
    );
    let mut m = b.siwe_msg();
    m.uri = format!("lit:session:{}", "00".repeat(32)).parse().unwrap();
    let unbound = b.cap(&m.to_string());
    unversioned(s.accept(
        "a good capability first, another key's last: /v1 passes",
        b.with_caps(vec![b.session_cap(), unbound.clone()]),
    ));
    let c = s.reject(
        "expired, and the last capability binds another key",
        b.with_caps(vec![b.session_cap(), unbound.clone()]),
        "route-fallback",
    );
    c.now = exp.saturating_add(Duration::days(3)).to_string();
    unversioned(c);
    let c = s.reject("expired, only another key's capability", b.with_caps(vec![unbound]), "route-fallback");
    c.now = exp.saturating_add(Duration::days(3)).to_string();
    unversioned(c);
    let mut not_siwe = b.session_cap();
    not_siwe["signedMessage"] = json!("hello");
    unversioned(s.reject("the last capability is not a SIWE", b.with_caps(vec![not_siwe]), "route-fallback"));
    unversioned(s.reject("no capabilities", b.with_caps(vec![]), "route-fallback"));
    let mut session_kind = b.session_cap();
    session_kind["derivedVia"] = json!("litSessionSignViaNacl");
    session_kind["algo"] = json!("ed25519");
    unversioned(s.reject(
        "the last capability is of the session kind (no user address)",
        b.with_caps(vec![session_kind]),
        "route-fallback",
    ));
    unversioned(s.reject(
        "a capability with an unknown key (the message does not parse)",
        b.with_message(|m| {
            let last = m["capabilities"].as_array_mut().unwrap().last_mut().unwrap();
            last["chain"] = json!("ethereum");
        }),
        "route-fallback",
    ));
    let mut e = b.entry.clone();
    e["sig"] = json!(flip_session_sig(b.entry["sig"].as_str().unwrap()));
    unversioned(s.reject(
        "a bad ed25519 signature fails both checks",
        serde_json::to_string(&Value::Object(e)).unwrap(),
        "ed25519-signature",
    ));
    unversioned(s.accept("the SDK's session sig as it is", b.entry_text()));
}

fn write(gen: Gen, cases: &Suite<'_>, base_vector: &str) {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in &cases.cases {
        let decision = if matches!(c.expect, Expect::Accept) { "accept" } else { "reject" };
        *counts.entry((c.family, decision)).or_default() += 1;
    }
    let summary: Map<String, Value> = counts.iter().map(|((f, d), n)| (format!("{f}/{d}"), json!(n))).collect();
    let doc = json!({
        "description": format!(
            "Verify rules suite, {} nodes: each case is the SDK session sig of {base_vector} with one change, re-signed \
             with the vector's own session key and wallet where the change breaks a signature, and the decision a \
             {} node makes on it (accept, or reject with the rule and the node function that refuses), read from \
             the node's code.",
            gen.name(),
            gen.name()
        ),
        "node": match gen {
            Gen::Datil => "LIT-Protocol/Node v1.0.18 (rust/lit-node)",
            Gen::Naga => "LIT-Protocol/lit-peer 1a469b7 (rust/lit-node/lit-node)",
        },
        "generator": "examples/verify_rules_suite.rs (cargo run --release --example verify_rules_suite)",
        "baseVector": base_vector,
        "counts": summary,
        "cases": cases.json(),
    });
    let path = format!("{OUT_DIR}/{}.json", gen.name());
    std::fs::create_dir_all(OUT_DIR).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    let accept = cases.cases.iter().filter(|c| matches!(c.expect, Expect::Accept)).count();
    println!("{path}: {} cases ({accept} accept, {} reject)", cases.cases.len(), cases.cases.len() - accept);
}

fn main() {
    let datil = base(Gen::Datil);
    let naga = base(Gen::Naga);
    for (b, other, vector) in [(&datil, &naga, DATIL_VECTOR), (&naga, &datil, NAGA_VECTOR)] {
        let mut s = Suite { base: b, family: "", cases: Vec::new() };
        baseline(&mut s, other);
        json_keys(&mut s);
        session_sig_type(&mut s);
        session_key(&mut s);
        signature_hex(&mut s);
        signed_message(&mut s);
        if b.gen == Gen::Naga {
            max_price(&mut s);
        }
        time(&mut s);
        node_address(&mut s);
        resources(&mut s);
        capabilities(&mut s);
        wallet_signature(&mut s);
        siwe_rules(&mut s);
        recaps(&mut s);
        match b.gen {
            Gen::Naga => payment_delegation(&mut s),
            Gen::Datil => unversioned_route(&mut s),
        }
        write(b.gen, &s, vector);
    }
}
