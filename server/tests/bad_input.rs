//! Bad input on a real server: malformed JSON, wrong types, unknown fields and resources, huge
//! bodies, wrong media types, slow clients. Every answer is a 4xx problem body; never a 500,
//! and the server keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn raw_post(c: &reqwest::blocking::Client, url: &str, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = c.post(url).bearer_auth(token).header("content-type", content_type).body(body).send().unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let v: Value = resp.json().unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{status} {v}");
        assert_eq!(v["status"], status, "{v}");
        assert!(v["type"].as_str().unwrap().starts_with("https://"), "{v}");
    }
    (status, v)
}

#[test]
fn malformed_and_mistyped_bodies_get_problem_bodies() {
    let (server, token, _dir) = dev();
    let c = client();
    let url = server.url("/v1/session-sigs");
    let good = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", b"".to_vec(), 400, "malformed-json"),
        ("not json", b"hello".to_vec(), 400, "malformed-json"),
        ("truncated", br#"{"nodeUrls": ["#.to_vec(), 400, "malformed-json"),
        ("trailing garbage", format!("{good} x").into_bytes(), 400, "malformed-json"),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'], 400, "malformed-json"),
        ("deep nesting", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(), 400, "invalid-request"),
        (
            "deep nesting in a value",
            format!("{{\"capabilityAuthSigs\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            400,
            "malformed-json",
        ),
        ("array", b"[]".to_vec(), 400, "invalid-request"),
        ("null", b"null".to_vec(), 400, "invalid-request"),
        ("empty object", b"{}".to_vec(), 400, "invalid-request"),
    ];
    let mut mutated = Vec::new();
    let variants: Vec<(&str, Value, u16, &str)> = vec![
        ("nodeUrls a string", json!({"nodeUrls": "https://x:1"}), 400, "invalid-request"),
        ("nodeUrls numbers", json!({"nodeUrls": [1, 2]}), 400, "invalid-request"),
        ("nodeUrls empty", json!({"nodeUrls": []}), 400, "invalid-request"),
        ("node with path", json!({"nodeUrls": ["https://x:1/path"]}), 400, "invalid-resource"),
        ("node not a url", json!({"nodeUrls": ["node one"]}), 400, "invalid-resource"),
        ("node ftp", json!({"nodeUrls": ["ftp://x:1"]}), 400, "invalid-resource"),
        ("node twice", json!({"nodeUrls": ["https://x:1", "https://x:1"]}), 400, "invalid-request"),
        (
            "too many nodes",
            json!({"nodeUrls": (0..300).map(|i| format!("https://n{i}:1")).collect::<Vec<_>>()}),
            400,
            "invalid-request",
        ),
        ("requests object", json!({"resourceAbilityRequests": {}}), 400, "invalid-request"),
        ("requests empty", json!({"resourceAbilityRequests": []}), 400, "invalid-request"),
        ("request as string", json!({"resourceAbilityRequests": ["lit-pkp://*=pkp-signing"]}), 400, "invalid-request"),
        ("resource missing", json!({"resourceAbilityRequests": [{"ability": "pkp-signing"}]}), 400, "invalid-request"),
        (
            "unknown prefix",
            json!({"resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-nope"}, "ability": "pkp-signing"}]}),
            400,
            "invalid-resource",
        ),
        (
            "unknown ability",
            json!({"resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "sign"}]}),
            400,
            "invalid-resource",
        ),
        (
            "resource id number",
            json!({"resourceAbilityRequests": [{"resource": {"resource": 5, "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}]}),
            400,
            "invalid-request",
        ),
        (
            "data not an object",
            json!({"resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing", "data": 3}]}),
            400,
            "invalid-request",
        ),
        ("nonce number", json!({"nonce": 5}), 400, "invalid-request"),
        ("nonce empty", json!({"nonce": " "}), 400, "invalid-request"),
        ("expiration number", json!({"expiration": 1700000000}), 400, "invalid-request"),
        ("expiration bad", json!({"expiration": "2026-13-45T00:00:00Z"}), 400, "invalid-request"),
        ("chainId negative", json!({"chainId": -1}), 400, "invalid-request"),
        ("chainId string", json!({"chainId": "1"}), 400, "invalid-request"),
        ("capability not object", json!({"capabilityAuthSigs": [5]}), 400, "invalid-request"),
        ("capability missing fields", json!({"capabilityAuthSigs": [{"sig": "x"}]}), 400, "invalid-request"),
        ("statement with newline", json!({"statement": "a\nb"}), 400, "invalid-request"),
        ("domain with newline", json!({"domain": "a\nb"}), 400, "invalid-request"),
        ("unknown field", json!({"nodeurls": ["https://x:1"]}), 400, "invalid-request"),
        ("signer number", json!({"signer": 1}), 400, "invalid-request"),
        ("unknown signer", json!({"signer": "nope"}), 404, "unknown-signer"),
        ("format v9", json!({"format": "v9"}), 400, "unsupported-format"),
        ("format a number", json!({"format": 8}), 400, "invalid-request"),
        // v8 (Naga) prices; `good` has one node, https://127.0.0.1:7470.
        ("nodePrices with v7", json!({"nodePrices": {"https://127.0.0.1:7470": "1"}}), 400, "format-mismatch"),
        ("threshold with v7", json!({"format": "v7", "threshold": 1}), 400, "format-mismatch"),
        ("userMaxPrice with v7", json!({"userMaxPrice": "10"}), 400, "format-mismatch"),
        (
            "payment delegation with v7",
            json!({"resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-paymentdelegation"}, "ability": "lit-payment-delegation"}]}),
            400,
            "format-mismatch",
        ),
        (
            "capacity credits with v8",
            json!({"format": "v8", "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-ratelimitincrease"}, "ability": "rate-limit-increase-auth"}]}),
            400,
            "format-mismatch",
        ),
        (
            "price not a number",
            json!({"format": "v8", "nodePrices": {"https://127.0.0.1:7470": "ten"}}),
            400,
            "invalid-price",
        ),
        ("price hex without digits", json!({"format": "v8", "userMaxPrice": "0x"}), 400, "invalid-price"),
        ("price a fraction", json!({"format": "v8", "userMaxPrice": 1.5}), 400, "invalid-price"),
        ("price an exponent", json!({"format": "v8", "userMaxPrice": 1e30}), 400, "invalid-price"),
        ("price a bool", json!({"format": "v8", "userMaxPrice": true}), 400, "invalid-price"),
        ("price null", json!({"format": "v8", "nodePrices": {"https://127.0.0.1:7470": null}}), 400, "invalid-price"),
        (
            "price negative number",
            json!({"format": "v8", "nodePrices": {"https://127.0.0.1:7470": -1}}),
            400,
            "invalid-price",
        ),
        ("price negative string", json!({"format": "v8", "userMaxPrice": "-1"}), 400, "invalid-price"),
        (
            "price 2^256",
            json!({"format": "v8", "userMaxPrice": "115792089237316195423570985008687907853269984665640564039457584007913129639936"}),
            400,
            "invalid-price",
        ),
        (
            "price 65 hex digits",
            json!({"format": "v8", "userMaxPrice": format!("0x1{}", "0".repeat(64))}),
            400,
            "invalid-price",
        ),
        ("price huge text", json!({"format": "v8", "userMaxPrice": "9".repeat(5000)}), 400, "invalid-price"),
        (
            "split over the maximum",
            json!({"format": "v8", "nodePrices": {"https://127.0.0.1:7470": "1001"}, "userMaxPrice": "1000"}),
            400,
            "max-price-too-low",
        ),
        ("threshold 0", json!({"format": "v8", "threshold": 0}), 400, "invalid-request"),
        ("threshold above nodes", json!({"format": "v8", "threshold": 2}), 400, "invalid-request"),
        ("threshold negative", json!({"format": "v8", "threshold": -1}), 400, "invalid-request"),
        ("nodePrices an array", json!({"format": "v8", "nodePrices": ["1"]}), 400, "invalid-request"),
        (
            "price for another node",
            json!({"format": "v8", "nodePrices": {"https://10.9.9.9:443": "1"}}),
            400,
            "invalid-request",
        ),
        ("price for a non-url", json!({"format": "v8", "nodePrices": {"node one": "1"}}), 400, "invalid-resource"),
    ];
    for (name, patch, status, kind) in variants {
        let mut b = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        mutated.push((name, serde_json::to_vec(&b).unwrap(), status, kind));
    }
    cases.extend(mutated);
    for (name, body, status, kind) in cases {
        let (s, v) = raw_post(&c, &url, &token, "application/json", body);
        assert_eq!((s, problem_type(&v).as_str()), (status, kind), "{name}: {v}");
    }

    // A capability that is not a delegation, e.g. a session AuthSig kept from an earlier
    // response, would lend its grants to the new session: refused for what it is.
    let wallet = lit_session_signer::MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    let siwe = lit_session_signer::siwe::SiweMessage::new(
        lit_session_signer::WalletSigner::address(&wallet),
        "0x3a9c4f1e8b7d6a5c",
        lit_session_signer::Timestamp::now(),
    )
    .with_uri("lit:session:abcd");
    let session_auth_sig = lit_session_signer::AuthSig::sign(&wallet, &siwe).unwrap();
    let mut b = good.clone();
    b["capabilityAuthSigs"] = json!([session_auth_sig]);
    let (s, v) = raw_post(&c, &url, &token, "application/json", serde_json::to_vec(&b).unwrap());
    assert_eq!((s, problem_type(&v).as_str()), (400, "invalid-request"), "{v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("only delegations") && detail.contains("lit:session:abcd"), "{v}");

    // Wrong media type, and a method the endpoint does not take.
    let (s, v) = raw_post(&c, &url, &token, "text/plain", serde_json::to_vec(&good).unwrap());
    assert_eq!((s, problem_type(&v).as_str()), (415, "unsupported-media-type"));
    let (s, v) = get(&c, &url, Some(&token));
    assert_eq!((s, problem_type(&v).as_str()), (405, "method-not-allowed"), "{v}");
    let (s, v) = get(&c, &server.url("/v2/anything"), Some(&token));
    assert_eq!((s, problem_type(&v).as_str()), (404, "not-found"));

    // Other endpoints.
    for (path, body) in [
        ("/v1/verify", json!({"sessionSigs": "x", "resourceAbilityRequests": []})),
        (
            "/v1/verify",
            json!({"sessionSigs": {"a": 1}, "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}]}),
        ),
        ("/v1/capacity-delegation", json!({"nonce": "0x1", "uses": -3})),
        ("/v1/capacity-delegation", json!({"nonce": "0x1", "uses": "three"})),
        ("/v1/capacity-delegation", json!({"nonce": "0x1", "capacityTokenId": "0xff"})),
        ("/v1/capacity-delegation", json!({"nonce": "0x1", "delegateeAddresses": ["bob"]})),
        ("/v1/capacity-delegation", json!({"nonce": "0x1", "delegateeAddresses": []})),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": [], "maxPrice": "1", "scopes": ["pkp_sign"]}),
        ),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": ["0x5D467fe98ff120fe0C85F2217bC61732571b28EC"], "maxPrice": "1", "scopes": []}),
        ),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": ["bob"], "maxPrice": "1", "scopes": ["pkp_sign"]}),
        ),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": ["0x5D467fe98ff120fe0C85F2217bC61732571b28EC"], "maxPrice": "-1", "scopes": ["pkp_sign"]}),
        ),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": ["0x5D467fe98ff120fe0C85F2217bC61732571b28EC"], "maxPrice": "1", "scopes": ["everything"]}),
        ),
        (
            "/v1/payment-delegation",
            json!({"nonce": "0x1", "delegateeAddresses": ["0x5D467fe98ff120fe0C85F2217bC61732571b28EC"], "scopes": ["pkp_sign"]}),
        ),
        (
            "/v1/verify",
            json!({"sessionSigs": {}, "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}], "network": "mainnet"}),
        ),
        ("/v1/policy/evaluate", json!({"nodeUrls": 3})),
    ] {
        let (s, v) = post(&c, &server.url(path), Some(&token), &body);
        assert!((400..500).contains(&s), "{path} {body}: {s} {v}");
    }

    // Node URLs are scheme, host and port only: each of these would end up in a signed
    // nodeAddress that no node accepts (or that names something else), so none is signed.
    for node in [
        "https://127.0.0.1:7470#x",
        "https://127.0.0.1:7470#",
        "https://u@127.0.0.1:7470",
        "https://127.0.0.1:7470/",
        "https://127.0.0.1:7470/path",
        "https://127.0.0.1:7470?x=1",
        "https://127.0.0.1",
        "https://127.0.0.1:07470",
        "HTTPS://127.0.0.1:7470",
        "https://%3127.0.0.1:7470",
    ] {
        let mut body = good.clone();
        body["nodeUrls"] = json!([node]);
        let (s, v) = post(&c, &url, Some(&token), &body);
        assert_eq!((s, problem_type(&v).as_str()), (400, "invalid-resource"), "{node}: {v}");
        assert!(v.get("sessionSigs").is_none(), "{v}");
    }

    // Still serving.
    assert_eq!(post(&c, &url, Some(&token), &good).0, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn huge_bodies_and_slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let policy = PKP_APP_POLICY;
    let server = configured(dir.path(), policy, &[("app", "t")], "");
    // Shorter limits for this test.
    drop(server);
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap().replace(
        "health_interval = \"1s\"",
        "health_interval = \"1s\"\nheader_timeout = \"1s\"\nbody_limit_bytes = 65536",
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let server =
        Server::start(&["--config", dir.path().join("config.toml").to_str().unwrap()], dir.path(), &[]).unwrap();
    let c = client();
    let url = server.url("/v1/session-sigs");

    // Declared too large.
    let big = vec![b' '; 200_000];
    let (s, v) = raw_post(&c, &url, "t", "application/json", big);
    assert_eq!((s, problem_type(&v).as_str()), (413, "body-too-large"));
    // Chunked, no length: cut off while reading.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(vec![b' '; 100_000]));
    match c.post(&url).bearer_auth("t").header("content-type", "application/json").body(body).send() {
        Ok(resp) => assert_eq!(resp.status(), 413),
        // The server may close the connection before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    let addr = server.base.trim_start_matches("http://").to_string();
    // Slow headers: the connection is closed after the header timeout.
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /v1/session-sigs HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    let text = String::from_utf8_lossy(&buf);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");

    // Slow body: headers complete, body never finishes: 408 problem.
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(
        b"POST /v1/session-sigs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"nodeUrls\"",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request-timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(8));

    // Many idle connections do not stop others.
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let good = sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")]);
    assert_eq!(post(&c, &url, Some("t"), &good).0, 200);
    drop(idle);
    assert!(!server.log().contains("panicked"));
}
