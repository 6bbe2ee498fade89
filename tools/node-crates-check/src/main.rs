//! Differential check of the verify rules suite against the crates the Lit nodes pin:
//! chrono 0.4.41, uint 0.9.5 (primitive-types 0.12.2), siwe 0.5.2 (k256 0.11.6), ed25519 2.2.3,
//! ed25519-dalek 2.2.0, base64 0.12.3. The node-side glue (hex_to_bytes, the order of the rules)
//! is restated from the nodes' code; the readings come from the crates themselves. Prints what it
//! checked and every disagreement with the suite's expected decisions (none expected).
use std::str::FromStr;

use chrono::{DateTime, Utc};
use primitive_types::U256;
use serde_json::Value;

fn hex_to_bytes(s: &str) -> Option<Vec<u8>> {
    let mut raw = s.strip_prefix("0x").unwrap_or(s).to_string();
    if raw.len() % 2 == 1 {
        raw.insert(0, '0');
    }
    hex::decode(raw).ok()
}

fn ed25519_ok(e: &Value) -> Result<(), &'static str> {
    let pk = hex_to_bytes(e["address"].as_str().ok_or("x")?).ok_or("session-key")?;
    let pk: [u8; 32] = pk.try_into().map_err(|_| "session-key")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| "session-key")?;
    let sig = ed25519::Signature::from_str(e["sig"].as_str().ok_or("x")?).map_err(|_| "signature-encoding")?;
    key.verify_strict(e["signedMessage"].as_str().unwrap().as_bytes(), &sig).map_err(|_| "ed25519")
}

fn time_rule(m: &Value, now: DateTime<Utc>) -> Result<(), &'static str> {
    let iat = DateTime::parse_from_rfc3339(m["issuedAt"].as_str().ok_or("timestamp")?).map_err(|_| "timestamp")?;
    if iat.timestamp() > now.timestamp() + 60 {
        return Err("issued-at");
    }
    let exp = DateTime::parse_from_rfc3339(m["expiration"].as_str().ok_or("timestamp")?).map_err(|_| "timestamp")?;
    if exp < iat {
        return Err("expiration-order");
    }
    if exp.timestamp() < now.timestamp() - 60 {
        return Err("expired");
    }
    let iat_utc: DateTime<Utc> = iat.into();
    let exp_utc: DateTime<Utc> = exp.into();
    if exp_utc > iat_utc + chrono::Duration::days(30) {
        return Err("lifetime");
    }
    Ok(())
}

fn max_price(raw: &str) -> Result<U256, &'static str> {
    // from_str_to_u256 borrows the string: a JSON string without escapes.
    let s: &str = serde_json::from_str(raw).map_err(|_| "max-price")?;
    let r = match s.starts_with("0x") {
        true => U256::from_str_radix(&s[2..], 16).map_err(|_| "max-price"),
        false => U256::from_str_radix(s, 10).map_err(|_| "max-price"),
    };
    r
}

fn prepare(d: &str) -> String {
    d.trim().trim_start_matches("https://").trim_start_matches("http://").replace("localhost", "127.0.0.1")
}

// The wallet path of validate_auth_sig_basic up to the URI (no ReCap), for one capability.
fn wallet_cap(cap: &Value, session_address: &str, now: &time::OffsetDateTime) -> Result<(), &'static str> {
    let msg = siwe::Message::from_str(cap["signedMessage"].as_str().ok_or("x")?).map_err(|_| "siwe")?;
    let sig = hex_to_bytes(cap["sig"].as_str().ok_or("x")?).ok_or("signature-encoding")?;
    let opts = siwe::VerificationOpts { timestamp: Some(*now), ..Default::default() };
    block_on(msg.verify(&sig, &opts)).map_err(|e| match e {
        siwe::VerificationError::Time => "siwe-time",
        siwe::VerificationError::Signer => "wallet-signature",
        _ => "signature-encoding",
    })?;
    if msg.uri.to_string() != format!("lit:session:{session_address}") {
        return Err("uri");
    }
    Ok(())
}

// siwe's verify is async but never waits on anything without a provider.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    fn noop(_: *const ()) {}
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut f = Box::pin(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn kind(cap: &Value) -> &'static str {
    let dv = cap["derivedVia"].as_str().unwrap_or("");
    let algo = cap["algo"].as_str();
    match (dv, algo) {
        ("litSessionSignViaNacl", Some("ed25519")) => "session",
        ("EIP1271" | "EIP1271_SHA256", _) => "contract",
        ("lit.bls", Some("LIT_BLS")) => "bls",
        _ => "wallet",
    }
}

fn main() {
    let root = std::env::args().nth(1).expect("repo root");
    let mut problems = Vec::new();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for gen in ["datil", "naga"] {
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{root}/tests/vectors/verify-rules/{gen}.json")).unwrap(),
        )
        .unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let decision = case["decision"].as_str().unwrap();
            let rule = case["rule"].as_str().unwrap_or("");
            let cap_rule = case["capabilityRule"].as_str().unwrap_or("");
            let routed = case.get("route").is_some_and(|r| r == "unversioned");
            let Ok(entry) = serde_json::from_str::<Value>(case["sessionSig"].as_str().unwrap()) else { continue };
            if !entry.is_object() || ["auth-sig-json", "session-sig-type"].contains(&rule) {
                continue;
            }
            let now_text = case["now"].as_str().unwrap();
            let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now_text).unwrap().into();
            let now_t = time::OffsetDateTime::parse(now_text, &time::format_description::well_known::Rfc3339).unwrap();
            // 1. ed25519.
            let ed = ed25519_ok(&entry);
            *checked.entry("ed25519").or_default() += 1;
            let ed_rules = ["session-key", "signature-encoding", "non-canonical-signature", "ed25519-signature"];
            match (ed, ed_rules.contains(&rule)) {
                (Ok(()), true) => problems.push(format!("{gen} {name}: ed25519 passes, expected {rule}")),
                (Err(e), false) => {
                    problems.push(format!("{gen} {name}: ed25519 fails ({e}), expected {decision} {rule}"))
                }
                _ => {}
            }
            if ed_rules.contains(&rule) {
                continue;
            }
            let Some(text) = entry["signedMessage"].as_str() else { continue };
            let Ok(msg) = serde_json::from_str::<Value>(text) else { continue };
            if !msg.is_object() {
                continue;
            }
            // 2. maxPrice (Naga).
            if gen == "naga" && rule != "signed-message" {
                if let Some(raw) = text.find("\"maxPrice\":").map(|i| {
                    let rest = &text[i + 11..];
                    let v: serde_json::Deserializer<_> = serde_json::Deserializer::from_str(rest);
                    let mut it = v.into_iter::<&serde_json::value::RawValue>();
                    it.next().and_then(|r| r.ok()).map(|r| r.get().to_string()).unwrap_or_default()
                }) {
                    *checked.entry("maxPrice").or_default() += 1;
                    match (max_price(&raw), rule) {
                        (Err(_), "max-price") => continue,
                        (Err(e), _) => problems
                            .push(format!("{gen} {name}: maxPrice {raw} fails ({e}), expected {decision} {rule}")),
                        (Ok(_), "max-price") => {
                            problems.push(format!("{gen} {name}: maxPrice {raw} reads, expected max-price"))
                        }
                        (Ok(p), _) => {
                            if let Some(node_price) = case["nodePrice"].as_str() {
                                let np = U256::from_dec_str(node_price).unwrap();
                                *checked.entry("price").or_default() += 1;
                                if (np > p) != (rule == "price") {
                                    problems.push(format!("{gen} {name}: price {np} vs {p}, expected {rule}"));
                                }
                            }
                        }
                    }
                }
            }
            if ["signed-message", "max-price", "resource"].contains(&rule) || routed {
                continue;
            }
            // 3. Time.
            *checked.entry("time").or_default() += 1;
            let time_rules = ["timestamp", "issued-at", "expiration-order", "expired", "lifetime"];
            match time_rule(&msg, now) {
                Ok(()) if time_rules.contains(&rule) => {
                    problems.push(format!("{gen} {name}: time passes, expected {rule}"))
                }
                Err(e) if e != rule => {
                    problems.push(format!("{gen} {name}: time fails ({e}), expected {decision} {rule}"))
                }
                _ => {}
            }
            if time_rules.contains(&rule) {
                continue;
            }
            // 4. Node address.
            *checked.entry("node-address").or_default() += 1;
            let node = case["node"].as_str().unwrap();
            let ours =
                node.trim_start_matches("https://").trim_start_matches("http://").replace("localhost", "127.0.0.1");
            let same = prepare(msg["nodeAddress"].as_str().unwrap_or("")) == ours;
            if same == (rule == "node-address") {
                problems.push(format!(
                    "{gen} {name}: node address {} vs {ours}, expected {decision} {rule}",
                    msg["nodeAddress"]
                ));
            }
            if rule == "node-address" {
                continue;
            }
            // 5. Wallet capabilities, up to the URI.
            let caps = msg["capabilities"].as_array().cloned().unwrap_or_default();
            if caps.is_empty() || caps.iter().any(|c| kind(c) != "wallet") {
                continue;
            }
            *checked.entry("wallet-capabilities").or_default() += 1;
            let address = entry["address"].as_str().unwrap();
            let results: Vec<Result<(), &str>> = caps.iter().map(|c| wallet_cap(c, address, &now_t)).collect();
            let any = results.iter().any(Result::is_ok);
            let wallet_rules = ["siwe", "siwe-time", "signature-encoding", "wallet-signature", "uri"];
            if decision == "accept" && !any {
                problems.push(format!("{gen} {name}: no capability passes siwe 0.5.2: {results:?}"));
            }
            if rule == "capability" && wallet_rules.contains(&cap_rule) && any {
                problems.push(format!("{gen} {name}: a capability passes siwe 0.5.2, expected {cap_rule}"));
            }
        }
    }
    // 6. base64 0.12 on the ReCap payloads the suite's cases name.
    for (payload, ok) in [
        ("eyJhdHQiOnt9LCJwcmYiOltdfQ", true),
        ("eyJhdHQiOnt9LCJwcmYiOltdfQ=", true),
        ("eyJhdHQiOnt9LCJwcmYiOltdfQ==", true),
        ("eyJhdHQiOnt9LCJwcmYiOltdfQ===", false),
        ("e30", true),
        ("fQ=", true),
        ("fQ==", true),
        ("fQ===", false),
        ("eyJh=dHQ", false),
        ("fR", false),
    ] {
        *checked.entry("base64").or_default() += 1;
        if base64::decode_config(payload, base64::URL_SAFE_NO_PAD).is_ok() != ok {
            problems.push(format!("base64 0.12: {payload} decodes: {}", !ok));
        }
    }
    println!("checked: {checked:?}");
    println!("{} problems", problems.len());
    for p in &problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        std::process::exit(1);
    }
}
