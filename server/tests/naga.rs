//! The v8 (Naga) format and payment delegation through the real endpoints: the chosen nodes
//! cheapest first with the SDK's split, byte for byte what the library writes for the same
//! inputs, the v8 defaults and the policy's clamp, verification under Naga rules; payment
//! delegations under their own grant, equal to the library's `payment_delegation` output,
//! usable as a v8 session's capability that passes `inspect`'s max-price check.
//!
//! The library is used directly here as the independent checker (the service reaches it only
//! through `src/signing/`).

mod common;

use common::*;
use lit_session_signer::keystore::VerifyingKey;
use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentScope};
use lit_session_signer::pricing::{MaxPrice, NodePricing};
use lit_session_signer::protocol::{NodeList, NodeUrl, Price, SessionFormat};
use lit_session_signer::session_sigs::{SessionNodes, SessionTemplate};
use lit_session_signer::verify::{inspect, parse_session_sigs, Generation, Verifier, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const NONCE: &str = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c";

fn message(sig: &Value) -> Value {
    serde_json::from_str(sig["signedMessage"].as_str().unwrap()).unwrap()
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

fn pkp_signing() -> lit_session_signer::resources::ResourceAbilityRequest {
    "lit-pkp://*=pkp-signing".parse().unwrap()
}

fn v8_body(nodes: &[&str], prices: &[(&str, &str)], threshold: Option<u64>, max: Option<&str>) -> Value {
    let mut b = sigs_body(nodes, &[("lit-pkp", "*", "pkp-signing")]);
    b["format"] = json!("v8");
    if !prices.is_empty() {
        b["nodePrices"] =
            prices.iter().map(|(n, p)| (n.to_string(), json!(p))).collect::<serde_json::Map<_, _>>().into();
    }
    if let Some(k) = threshold {
        b["threshold"] = json!(k);
    }
    if let Some(m) = max {
        b["userMaxPrice"] = json!(m);
    }
    b
}

/// Every entry of `map` is what the library writes for `nodes` and `pricing` with the map's own
/// capabilities and times, and in the library's node order (cheapest first).
fn assert_library_bytes(map: &Value, nodes: &[&str], pricing: &NodePricing) {
    let map = map.as_object().unwrap();
    let first = map.values().next().unwrap();
    let msg = message(first);
    let urls: Vec<NodeUrl> = nodes.iter().map(|n| n.parse().unwrap()).collect();
    let chosen = SessionNodes::priced(&NodeList::from_slice(&urls).unwrap(), pricing).unwrap();
    let template = SessionTemplate {
        format: SessionFormat::V2,
        requests: vec![pkp_signing()],
        capabilities: msg["capabilities"].as_array().unwrap().clone(),
        issued_at: msg["issuedAt"].as_str().unwrap().parse::<Timestamp>().unwrap(),
        expiration: msg["expiration"].as_str().unwrap().parse::<Timestamp>().unwrap(),
    };
    let key: [u8; 32] = hex::decode(first["address"].as_str().unwrap()).unwrap().try_into().unwrap();
    let expected = template.signed_messages(&VerifyingKey::from_bytes(&key).unwrap(), &chosen);
    let got: Vec<(&String, &str)> = map.iter().map(|(k, v)| (k, v["signedMessage"].as_str().unwrap())).collect();
    assert_eq!(got.len(), chosen.len());
    for ((key, text), (node, want)) in got.iter().zip(chosen.iter().zip(&expected)) {
        assert_eq!(key.as_str(), node.url.as_str(), "map order");
        assert_eq!(*text, want.as_str(), "{key}: not the library's bytes");
    }
}

#[test]
fn v8_sessions_are_the_librarys_bytes_and_verify_under_naga_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = InProcess::dev(dir.path());
    let c = client();
    let url = server.url("/v1/session-sigs");
    // Five nodes as a client may write them; two unpriced (cost 0), one dear node dropped by
    // the threshold; ties keep the given order.
    let nodes = [
        "https://10.0.0.1:443",
        "https://Node-B.example:7470",
        "http://127.0.0.1:7471",
        "https://10.0.0.4:443",
        "https://10.0.0.5:443",
    ];
    let prices = [(nodes[0], "300"), (nodes[1], "0x64"), (nodes[3], "900000")];
    let body = v8_body(&nodes, &prices, Some(4), Some("10000000000000000"));
    let before = OffsetDateTime::now_utc();
    let (s, v) = post(&c, &url, Some(&token), &body);
    assert_eq!(s, 200, "{v}");
    let map = v["sessionSigs"].as_object().unwrap();
    // Cheapest first: the two unpriced nodes (given order), 0x64, 300; the dear node left out.
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(keys, [nodes[2], nodes[4], nodes[1], nodes[0]]);
    // The SDK's split: (10^16 - 400) / 4 on top of each price.
    let share = (10_000_000_000_000_000u128 - 400) / 4;
    let want = [share, share, share + 100, share + 300];
    for ((node, sig), want) in map.iter().zip(want) {
        let msg = message(sig);
        let order: Vec<&str> = msg.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            order,
            [
                "sessionKey",
                "resourceAbilityRequests",
                "capabilities",
                "issuedAt",
                "expiration",
                "nodeAddress",
                "maxPrice"
            ]
        );
        let resource: Vec<&str> =
            msg["resourceAbilityRequests"][0]["resource"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(resource, ["resourcePrefix", "resource"]);
        assert_eq!(msg["nodeAddress"], *node);
        assert_eq!(msg["maxPrice"], Price::from_u128(want).to_hex());
    }
    let pricing = NodePricing {
        node_prices: prices.iter().map(|(n, p)| (n.parse().unwrap(), p.parse().unwrap())).collect(),
        threshold: Some(4),
        max_price: MaxPrice::Split(Price::from_u128(10_000_000_000_000_000)),
    };
    assert_library_bytes(&v["sessionSigs"], &nodes, &pricing);

    // The v8 defaults: 15 minutes from minting, and a new AuthSig's statement empty (the SIWE
    // statement line is a space, then the ReCap sentence).
    let msg = message(&map[nodes[2]]);
    let (issued, expires) = (time_of(&msg["issuedAt"]), time_of(&msg["expiration"]));
    // The service reads the clock for the default expiration just before the manager reads it
    // for `issuedAt`: the two may fall in different milliseconds.
    let lifetime = expires - issued;
    assert!(
        lifetime <= time::Duration::minutes(15) && lifetime > time::Duration::minutes(15) - time::Duration::seconds(1),
        "{lifetime}"
    );
    assert!(issued >= before - time::Duration::seconds(1) && issued <= OffsetDateTime::now_utc());
    assert_eq!(v["expiration"], msg["expiration"]);
    assert!(v["policy"]["clamped"].is_null(), "{v}");
    assert_eq!(v["authSig"]["use"], "signed");
    let session_auth = msg["capabilities"].as_array().unwrap().last().unwrap();
    let siwe = session_auth["signedMessage"].as_str().unwrap();
    let statement = siwe.lines().nth(3).unwrap();
    assert!(statement.starts_with(" I further authorize the stated URI"), "{siwe}");

    // Under the Naga node's rules, through the service and through the library.
    let verify = |sigs: &Value, network: &str| {
        let (s, r) = post(
            &c,
            &server.url("/v1/verify"),
            Some(&token),
            &json!({"sessionSigs": sigs, "resourceAbilityRequests": body["resourceAbilityRequests"], "network": network}),
        );
        assert_eq!(s, 200, "{r}");
        r
    };
    let r = verify(&v["sessionSigs"], "naga");
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["results"].as_array().unwrap().len(), 4);
    // With the node's price for the operation: maxPrice must cover it (the payment step).
    let priced = |price: Value| {
        let body = json!({"sessionSigs": v["sessionSigs"], "resourceAbilityRequests": body["resourceAbilityRequests"],
            "network": "naga", "nodePrice": price});
        let (s, r) = post(&c, &server.url("/v1/verify"), Some(&token), &body);
        assert_eq!(s, 200, "{r}");
        r
    };
    assert_eq!(priced(json!(0))["valid"], true);
    let r = priced(json!(format!("0x1{}", "0".repeat(63))));
    assert_eq!(r["valid"], false, "{r}");
    assert_eq!(r["results"][0]["rule"], "price", "{r}");
    assert_eq!(r["results"][0]["nodeFunction"], "payment/selection.rs::get_payment_method", "{r}");
    let entries = parse_session_sigs(&v["sessionSigs"].to_string()).unwrap();
    let naga = Verifier::new(VerifyPolicy::node().for_generation(Generation::Naga));
    for e in &entries {
        let node: NodeUrl = e.node.as_deref().unwrap().parse().unwrap();
        naga.verify(&e.session_sig, &node, &pkp_signing(), Timestamp::now()).unwrap();
    }
    // A v7 map is refused by Naga's rules and read by Datil's.
    let (s, v7) = post(&c, &url, Some(&token), &sigs_body(&nodes[..2], &[("lit-pkp", "*", "pkp-signing")]));
    assert_eq!(s, 200, "{v7}");
    assert_eq!(v7["authSig"]["use"], "reused", "one AuthSig serves both formats");
    assert_eq!(verify(&v7["sessionSigs"], "naga")["valid"], false);
    assert_eq!(verify(&v7["sessionSigs"], "datil")["valid"], true);

    // Explicit choices win over the v8 defaults: an expiration (clamped to the dev rule's 1 h,
    // and reported), one price for nobody (every node 0, the default maximum split).
    let mut later = v8_body(&nodes[..3], &[], None, None);
    let far = OffsetDateTime::now_utc() + time::Duration::hours(5);
    later["expiration"] = json!(far.format(&Rfc3339).unwrap());
    let (s, v) = post(&c, &url, Some(&token), &later);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["policy"]["clamped"]["maxLifetimeSeconds"], 3600, "{v}");
    let msg = message(&v["sessionSigs"][nodes[0]]);
    let left = time_of(&msg["expiration"]) - OffsetDateTime::now_utc();
    assert!(left <= time::Duration::hours(1) && left > time::Duration::minutes(59), "{left}");
    let keys: Vec<&str> = v["sessionSigs"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, &nodes[..3]);
    assert_library_bytes(&v["sessionSigs"], &nodes[..3], &NodePricing::new());

    // A node URL given twice in nodePrices is refused, not resolved by position.
    let raw = format!(
        r#"{{"format":"v8","nodeUrls":["{0}"],"nonce":"{NONCE}","resourceAbilityRequests":[{{"resource":{{"resource":"*","resourcePrefix":"lit-pkp"}},"ability":"pkp-signing"}}],"nodePrices":{{"{0}":"1","{0}":"2"}}}}"#,
        nodes[0]
    );
    let resp = c.post(&url).bearer_auth(&token).header("content-type", "application/json").body(raw).send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let p: Value = resp.json().unwrap();
    assert_eq!(problem_type(&p), "invalid-request", "{p}");
    assert!(server.stop());
}

const POLICY: &str = r#"
[clients.payer]
endpoints = ["payment-delegation"]
[clients.payer.payment_delegation]
signers = ["treasury"]
max_price = "1000000"
max_lifetime = "1d"
scopes = ["pkp_sign", "lit_action"]
delegatees = ["USER"]

[clients.nogrant]
endpoints = ["payment-delegation"]

[clients.noendpoint]
endpoints = ["session-sigs"]
[clients.noendpoint.payment_delegation]
signers = ["*"]
max_price = 1
max_lifetime = "1h"
scopes = ["*"]
delegatees = ["*"]

[clients.user]
endpoints = ["session-sigs"]
[[clients.user.allow]]
name = "user-v8"
signers = ["default"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]
formats = ["v8"]
max_price = "10000000"
"#;

#[test]
fn payment_delegations_under_their_grant_serve_v8_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (user_key, payer_key) = ([0x11u8; 32], [0x22u8; 32]);
    let user = MemoryWallet::from_bytes(&user_key).unwrap().address();
    let payer_wallet = MemoryWallet::from_bytes(&payer_key).unwrap();
    let payer = payer_wallet.address();
    write_private(&dir.path().join("user.key"), hex::encode(user_key));
    write_private(&dir.path().join("payer.key"), hex::encode(payer_key));
    let extra = format!(
        "[signers.default]\nsession_key = \"memory\"\nwallet_key_file = \"{}\"\n\n\
         [signers.treasury]\nsession_key = \"memory\"\nwallet_key_file = \"{}\"\n",
        dir.path().join("user.key").display(),
        dir.path().join("payer.key").display()
    );
    let policy = POLICY.replace("USER", &user.to_checksum());
    let tokens = [("payer", "payer-t"), ("nogrant", "nogrant-t"), ("noendpoint", "noendpoint-t"), ("user", "user-t")];
    let server = InProcess::configured(dir.path(), &policy, &tokens, &extra);
    let c = client();
    let url = server.url("/v1/payment-delegation");
    let in_hours = |h: i64| (OffsetDateTime::now_utc() + time::Duration::hours(h)).format(&Rfc3339).unwrap();
    let good = json!({
        "nonce": NONCE,
        "signer": "treasury",
        "delegateeAddresses": [hex::encode(user.as_bytes())],
        "maxPrice": "0xF4240",
        "scopes": ["pkp_sign"],
        "expiration": in_hours(1),
        "domain": "example.com",
        "statement": "pay for the user",
    });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    // Denied by default: no grant, no endpoint, and every limit of the grant.
    let mut ids = Vec::new();
    for (name, tok, body, rule) in [
        ("no grant", "nogrant-t", good.clone(), "payment-delegation"),
        ("no endpoint", "noendpoint-t", good.clone(), "endpoints"),
        ("session client", "user-t", good.clone(), "endpoints"),
        ("other signer", "payer-t", with("signer", json!("default")), "payment-delegation"),
        ("default signer", "payer-t", with("signer", Value::Null), "payment-delegation"),
        ("over max_price", "payer-t", with("maxPrice", json!(1_000_001)), "payment-delegation"),
        ("scope not granted", "payer-t", with("scopes", json!(["pkp_sign", "encryption_sign"])), "payment-delegation"),
        (
            "delegatee not granted",
            "payer-t",
            with("delegateeAddresses", json!([hex::encode(payer.as_bytes())])),
            "payment-delegation",
        ),
    ] {
        let id = format!("pay-{}", name.replace(' ', "-"));
        let resp = c.post(&url).bearer_auth(tok).header("x-correlation-id", &id).json(&body).send().unwrap();
        let status = resp.status().as_u16();
        let p: Value = resp.json().unwrap();
        assert_eq!((status, problem_type(&p).as_str(), p["rule"].as_str()), (403, "denied", Some(rule)), "{name}: {p}");
        ids.push((id, "denied"));
    }
    // A longer expiration is clamped to the grant's day, and reported.
    let (s, v) = post(&c, &url, Some("payer-t"), &with("expiration", json!(in_hours(72))));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["clamped"]["maxLifetimeSeconds"], 86_400, "{v}");

    // Granted: the AuthSig is the library's payment_delegation output for the same inputs,
    // signed by the treasury wallet (RFC 6979 signatures: byte for byte).
    let resp =
        c.post(&url).bearer_auth("payer-t").header("x-correlation-id", "pay-granted").json(&good).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().unwrap();
    ids.push(("pay-granted".into(), "approved"));
    let delegation = v["paymentDelegationAuthSig"].clone();
    assert_eq!(delegation["address"], payer.to_checksum());
    let text = delegation["signedMessage"].as_str().unwrap();
    let issued_at: Timestamp = text.lines().find_map(|l| l.strip_prefix("Issued At: ")).unwrap().parse().unwrap();
    let expiration: Timestamp = v["expiration"].as_str().unwrap().parse().unwrap();
    let library = PaymentDelegation {
        expiration: Some(expiration),
        domain: Some("example.com".into()),
        statement: Some("pay for the user".into()),
        ..PaymentDelegation::new(vec![hex::encode(user.as_bytes())], "0xF4240", vec![PaymentScope::PkpSign])
    }
    .sign(&payer_wallet, NONCE, issued_at)
    .unwrap();
    assert_eq!(delegation, serde_json::to_value(&library).unwrap());
    assert!(text.contains("URI: lit:capability:delegation"), "{text}");

    // A v8 session of the user's wallet with the delegation as its capability: each node's
    // maxPrice within the delegation's 1,000,000 (100,000 + (2,400,000 − 300,000) / 3).
    let nodes = ["https://10.0.0.1:443", "https://10.0.0.2:443", "https://10.0.0.3:443"];
    let prices: Vec<(&str, &str)> = nodes.iter().map(|n| (*n, "100000")).collect();
    let sessions = server.url("/v1/session-sigs");
    let mut body = v8_body(&nodes, &prices, None, Some("2400000"));
    body["capabilityAuthSigs"] = json!([delegation]);
    let (s, session) = post(&c, &sessions, Some("user-t"), &body);
    assert_eq!(s, 200, "{session}");
    let check = |sigs: &Value, within: bool| {
        let entries = parse_session_sigs(&sigs.to_string()).unwrap();
        let naga = Verifier::new(VerifyPolicy::node().for_generation(Generation::Naga));
        for e in &entries {
            let node: NodeUrl = e.node.as_deref().unwrap().parse().unwrap();
            naga.verify(&e.session_sig, &node, &pkp_signing(), Timestamp::now()).unwrap();
        }
        let report = inspect(&entries, Timestamp::now(), &naga);
        assert_eq!(report.entries.len(), 3);
        for e in &report.entries {
            assert_eq!(e.verdict, "valid", "{e:?}");
            assert_eq!(e.payment_delegations.len(), 1, "{e:?}");
            let p = &e.payment_delegations[0];
            assert_eq!(p.delegator.as_deref(), Some(payer.to_checksum().as_str()));
            assert_eq!(p.delegates_to_user, Some(true));
            let prefix = if within { "within" } else { "exceeds" };
            assert!(p.max_price_check.starts_with(prefix), "{}", p.max_price_check);
        }
    };
    check(&session["sessionSigs"], true);
    let first = message(&session["sessionSigs"][nodes[0]]);
    assert_eq!(first["maxPrice"], Price::from(800_000u64).to_hex());
    assert_eq!(first["capabilities"][0], delegation, "the delegation comes before the session AuthSig");
    // A maximum the policy allows but the delegation does not cover: inspect says so.
    body["userMaxPrice"] = json!("6000000");
    let (s, dear) = post(&c, &sessions, Some("user-t"), &body);
    assert_eq!(s, 200, "{dear}");
    check(&dear["sessionSigs"], false);
    // Over the rule's max_price: denied.
    body["userMaxPrice"] = json!("60000000");
    let (s, p) = post(&c, &sessions, Some("user-t"), &body);
    assert_eq!((s, p["rule"].as_str()), (403, Some("implicit-deny")), "{p}");

    // Without an expiration a v8 session lasts 15 minutes from minting, cut to the rule's 10.
    let resp = c
        .post(&sessions)
        .bearer_auth("user-t")
        .header("x-correlation-id", "v8-default")
        .json(&v8_body(&nodes, &[], None, Some("30")))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().unwrap();
    assert!(v["policy"]["clamped"].is_null(), "{v}");
    let msg = message(&v["sessionSigs"][nodes[0]]);
    let lifetime = time_of(&msg["expiration"]) - time_of(&msg["issuedAt"]);
    assert!(lifetime <= time::Duration::minutes(10) && lifetime > time::Duration::seconds(590), "{lifetime}");
    assert_eq!(v["expiration"], msg["expiration"]);
    assert!(server.stop());

    // Every decision is audited, with the format and price where they apply.
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    for (id, decision) in &ids {
        let found: String = conn
            .query_row("SELECT decision FROM audit WHERE request_id = ?1", [id], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{id} not audited: {e}"));
        assert_eq!(found, *decision, "{id}");
    }
    let record: String =
        conn.query_row("SELECT record FROM audit WHERE request_id = 'pay-granted'", [], |r| r.get(0)).unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["endpoint"], "payment-delegation");
    assert_eq!(record["maxPrice"], "1000000");
    let record: String =
        conn.query_row("SELECT record FROM audit WHERE request_id = 'v8-default'", [], |r| r.get(0)).unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!((record["format"].as_str(), record["maxPrice"].as_str()), (Some("v8"), Some("10")), "{record}");
    assert_eq!(record["expiration"], msg["expiration"]);
    let (code, out) = audit_verify(&dir.path().join("store.sqlite"));
    assert_eq!(code, 0, "{out}");
}
