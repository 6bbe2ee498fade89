//! The policy through the real endpoints: every case goes through `POST /v1/policy/evaluate`
//! (dry run) and `POST /v1/session-sigs`, and no case that expects a denial may be approved.
//! Then the rate limit, and a reload with a broken file that keeps the old policy.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const POLICY: &str = r#"
version = 1

[clients.alpha]
endpoints = ["session-sigs", "policy-evaluate"]
[[clients.alpha.allow]]
name = "alpha-pkps"
signers = ["default"]
resources = ["lit-pkp://0x1a2b", "lit-pkp://0xABCDEF"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["https://node-a.example:443", "https://node-b.example"]
[[clients.alpha.allow]]
name = "alpha-actions"
signers = ["default", "treasury"]
resources = ["lit-litaction://Qm*"]
abilities = ["lit-action-execution"]
max_lifetime = "5m"
nodes = ["*"]
[[clients.alpha.deny]]
name = "no-wildcard-pkp"
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
wildcard_only = true
[[clients.alpha.deny]]
name = "blocked-pkp"
resources = ["lit-pkp://0xdead"]
[[clients.alpha.deny]]
name = "blocked-action"
resources = ["lit-litaction://QmEvil*"]

[clients.beta]
endpoints = ["session-sigs", "policy-evaluate"]
[[clients.beta.allow]]
name = "beta-acc"
signers = ["treasury"]
resources = ["lit-accesscontrolcondition://*"]
abilities = ["access-control-condition-decryption"]
max_lifetime = "1h"
nodes = ["*"]
[[clients.beta.deny]]
name = "beta-not-node-x"
nodes = ["https://node-x.example:443"]

[clients.gamma]
endpoints = ["session-sigs", "policy-evaluate"]

[clients.delta]
endpoints = ["session-sigs"]
[[clients.delta.allow]]
name = "delta-any-pkp"
signers = ["*"]
resources = ["lit-pkp://*"]
abilities = ["*"]
max_lifetime = "10m"
nodes = ["*"]

[clients.eps]
endpoints = ["session-sigs", "policy-evaluate"]
rate = { count = 3, per = "1h" }
[[clients.eps.allow]]
name = "eps-pkp"
signers = ["*"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]

[clients.ops]
endpoints = ["admin"]

# Formats and prices: v8 only where a rule grants it, and only up to its max_price per node.
[clients.kappa]
endpoints = ["session-sigs", "policy-evaluate"]
[[clients.kappa.allow]]
name = "kappa-v8-pkps"
signers = ["default"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]
formats = ["v8"]
max_price = "1000"
[[clients.kappa.allow]]
name = "kappa-v7-actions"
signers = ["default"]
resources = ["lit-litaction://*"]
abilities = ["lit-action-execution"]
max_lifetime = "1h"
nodes = ["*"]
[[clients.kappa.allow]]
name = "kappa-both-acc"
signers = ["default"]
resources = ["lit-accesscontrolcondition://*"]
abilities = ["access-control-condition-decryption"]
max_lifetime = "5m"
nodes = ["*"]
formats = ["v7", "v8"]
max_price = "0x10"
[[clients.kappa.deny]]
name = "kappa-no-x-on-v8"
nodes = ["https://node-x.example:443"]
formats = ["v8"]
[[clients.kappa.deny]]
name = "kappa-no-treasury-v8"
signers = ["treasury"]
formats = ["v8"]
"#;

#[derive(Clone, Debug)]
enum Expect {
    Approved(&'static str),
    Denied(&'static str),
    Bad(u16, &'static str),
}

struct Case {
    name: &'static str,
    client: &'static str,
    body: Value,
    expect: Expect,
    /// The clamped maximum lifetime, when the expiration is expected to be clamped.
    clamp: Option<i64>,
}

const A: &str = "https://node-a.example:443";

fn body(nodes: &[&str], resources: &[(&str, &str, &str)]) -> Value {
    sigs_body(nodes, resources)
}

fn with(mut b: Value, key: &str, v: Value) -> Value {
    b[key] = v;
    b
}

fn in_minutes(m: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::minutes(m);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let pkp = |id: &'static str| body(&[A], &[("lit-pkp", id, "pkp-signing")]);
    let action = |id: &'static str| body(&[A], &[("lit-litaction", id, "lit-action-execution")]);
    let acc = |id: &'static str, ability: &'static str| body(&[A], &[("lit-accesscontrolcondition", id, ability)]);
    let treasury = |b: Value| with(b, "signer", json!("treasury"));
    let padded = Box::leak(format!("0x{}1a2b", "0".repeat(60)).into_boxed_str());
    let padded_dead = Box::leak(format!("{}dead", "0".repeat(60)).into_boxed_str());
    let too_long = Box::leak(format!("0x{}", "1".repeat(65)).into_boxed_str());
    let acc_id = Box::leak(format!("{}/{}", "ab".repeat(32), "cd".repeat(32)).into_boxed_str());
    let mut v = vec![
        // alpha: specific PKPs, normalised.
        Case { name: "pkp exact", client: "alpha", body: pkp("0x1a2b"), expect: Approved("alpha-pkps"), clamp: None },
        Case {
            name: "pkp without 0x",
            client: "alpha",
            body: pkp("1a2b"),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case { name: "pkp padded", client: "alpha", body: pkp(padded), expect: Approved("alpha-pkps"), clamp: None },
        Case {
            name: "pkp uppercase hex",
            client: "alpha",
            body: pkp("0x1A2B"),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "pkp policy uppercase",
            client: "alpha",
            body: pkp("abcdef"),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "pkp 0X prefix is another id",
            client: "alpha",
            body: pkp("0X1a2b"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "pkp not listed",
            client: "alpha",
            body: pkp("0x9999"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case { name: "pkp wildcard", client: "alpha", body: pkp("*"), expect: Denied("no-wildcard-pkp"), clamp: None },
        Case { name: "pkp blocked", client: "alpha", body: pkp("0xdead"), expect: Denied("blocked-pkp"), clamp: None },
        Case {
            name: "pkp blocked padded",
            client: "alpha",
            body: pkp(padded_dead),
            expect: Denied("blocked-pkp"),
            clamp: None,
        },
        Case {
            name: "pkp blocked uppercase",
            client: "alpha",
            body: pkp("DEAD"),
            expect: Denied("blocked-pkp"),
            clamp: None,
        },
        Case {
            name: "blocked pkp beside an allowed one",
            client: "alpha",
            body: body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0xdead", "pkp-signing")]),
            expect: Denied("blocked-pkp"),
            clamp: None,
        },
        Case {
            name: "two pkps, one not covered",
            client: "alpha",
            body: body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0x77", "pkp-signing")]),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "two covered pkps",
            client: "alpha",
            body: body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0xabcdef", "pkp-signing")]),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        // alpha: nodes.
        Case {
            // The node compares the signed address with its domain:port, so no node accepts a
            // session signed for a URL without a port.
            name: "node url without port",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-b.example"])),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        Case {
            name: "node b default port",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-b.example:443"])),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "node host case",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["https://NODE-A.example:443"])),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "node other scheme",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["http://node-a.example:443"])),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "node other port",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-a.example:444"])),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "node not listed",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-c.example:443"])),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "one node of two not listed",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!([A, "https://node-c.example:443"])),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "both nodes listed",
            client: "alpha",
            body: with(pkp("0x1a2b"), "nodeUrls", json!([A, "https://node-b.example:443"])),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        // alpha: signers.
        Case {
            name: "pkp with treasury",
            client: "alpha",
            body: treasury(pkp("0x1a2b")),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "unknown signer",
            client: "alpha",
            body: with(pkp("0x1a2b"), "signer", json!("ghost")),
            expect: Bad(404, "unknown-signer"),
            clamp: None,
        },
        // alpha: lit actions.
        Case {
            name: "action Qm",
            client: "alpha",
            body: action("QmXyz"),
            expect: Approved("alpha-actions"),
            clamp: None,
        },
        Case {
            name: "action Qm treasury",
            client: "alpha",
            body: treasury(action("QmXyz")),
            expect: Approved("alpha-actions"),
            clamp: None,
        },
        Case {
            name: "action Qm only",
            client: "alpha",
            body: action("Qm"),
            expect: Approved("alpha-actions"),
            clamp: None,
        },
        Case {
            name: "action wildcard",
            client: "alpha",
            body: action("*"),
            expect: Denied("blocked-action"),
            clamp: None,
        },
        Case {
            name: "action other cid",
            client: "alpha",
            body: action("bafyabc"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "action lowercase qm",
            client: "alpha",
            body: action("qmXyz"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "action blocked",
            client: "alpha",
            body: action("QmEvil1"),
            expect: Denied("blocked-action"),
            clamp: None,
        },
        Case {
            name: "pkp and action in one request",
            client: "alpha",
            body: body(
                &[A],
                &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-litaction", "QmXyz", "lit-action-execution")],
            ),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        // alpha: abilities and prefixes.
        Case {
            name: "acc decryption",
            client: "alpha",
            body: acc("*", "access-control-condition-decryption"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "rate limit increase",
            client: "alpha",
            body: body(&[A], &[("lit-ratelimitincrease", "*", "rate-limit-increase-auth")]),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "ability not accepted by prefix",
            client: "alpha",
            body: body(&[A], &[("lit-pkp", "0x1a2b", "lit-action-execution")]),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        Case {
            name: "unknown prefix",
            client: "alpha",
            body: body(&[A], &[("lit-wallet", "x", "pkp-signing")]),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        Case {
            name: "unknown ability",
            client: "alpha",
            body: body(&[A], &[("lit-pkp", "0x1a2b", "pkp-sign")]),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        Case {
            name: "pkp id too long",
            client: "alpha",
            body: pkp(too_long),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        Case {
            name: "empty pkp id",
            client: "alpha",
            body: pkp(""),
            expect: Bad(400, "invalid-resource"),
            clamp: None,
        },
        // alpha: lifetime.
        Case {
            name: "expiration within cap",
            client: "alpha",
            body: with(pkp("0x1a2b"), "expiration", json!(in_minutes(5))),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "expiration over cap is clamped",
            client: "alpha",
            body: with(pkp("0x1a2b"), "expiration", json!(in_minutes(60))),
            expect: Approved("alpha-pkps"),
            clamp: Some(600),
        },
        Case {
            name: "expiration far over cap",
            client: "alpha",
            body: with(pkp("0x1a2b"), "expiration", json!("2099-01-01T00:00:00Z")),
            expect: Approved("alpha-pkps"),
            clamp: Some(600),
        },
        Case {
            name: "action expiration clamped to 5m",
            client: "alpha",
            body: with(action("QmA"), "expiration", json!(in_minutes(30))),
            expect: Approved("alpha-actions"),
            clamp: Some(300),
        },
        Case {
            name: "expiration in the past",
            client: "alpha",
            body: with(pkp("0x1a2b"), "expiration", json!("2020-01-01T00:00:00Z")),
            expect: Bad(400, "invalid-request"),
            clamp: None,
        },
        Case {
            name: "expiration not a time",
            client: "alpha",
            body: with(pkp("0x1a2b"), "expiration", json!("tomorrow")),
            expect: Bad(400, "invalid-request"),
            clamp: None,
        },
        // beta: decryption with treasury only; a denied node.
        Case {
            name: "beta acc wildcard",
            client: "beta",
            body: treasury(acc("*", "access-control-condition-decryption")),
            expect: Approved("beta-acc"),
            clamp: None,
        },
        Case {
            name: "beta acc id",
            client: "beta",
            body: treasury(acc(acc_id, "access-control-condition-decryption")),
            expect: Approved("beta-acc"),
            clamp: None,
        },
        Case {
            name: "beta default signer",
            client: "beta",
            body: acc("*", "access-control-condition-decryption"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "beta acc signing",
            client: "beta",
            body: treasury(acc("*", "access-control-condition-signing")),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "beta pkp",
            client: "beta",
            body: treasury(pkp("0x1a2b")),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "beta denied node",
            client: "beta",
            body: with(
                treasury(acc("*", "access-control-condition-decryption")),
                "nodeUrls",
                json!([A, "https://node-x.example:443"]),
            ),
            expect: Denied("beta-not-node-x"),
            clamp: None,
        },
        Case {
            name: "beta lifetime 1h not clamped",
            client: "beta",
            body: with(treasury(acc("*", "access-control-condition-decryption")), "expiration", json!(in_minutes(50))),
            expect: Approved("beta-acc"),
            clamp: None,
        },
        // gamma: no allow rule.
        Case { name: "gamma pkp", client: "gamma", body: pkp("0x1a2b"), expect: Denied("implicit-deny"), clamp: None },
        Case {
            name: "gamma action",
            client: "gamma",
            body: action("QmXyz"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        // delta: may mint, may not dry-run.
        Case { name: "delta any pkp", client: "delta", body: pkp("*"), expect: Approved("delta-any-pkp"), clamp: None },
        Case {
            name: "delta any pkp ability",
            client: "delta",
            body: pkp("0x42"),
            expect: Approved("delta-any-pkp"),
            clamp: None,
        },
        Case {
            name: "delta action",
            client: "delta",
            body: action("QmXyz"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        // A client with a valid token and no policy; an admin-only client.
        Case {
            name: "client without policy",
            client: "zeta",
            body: pkp("0x1a2b"),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "admin client minting",
            client: "ops",
            body: pkp("0x1a2b"),
            expect: Denied("endpoints"),
            clamp: None,
        },
        // Formats.
        Case {
            name: "format v7",
            client: "alpha",
            body: with(pkp("0x1a2b"), "format", json!("v7")),
            expect: Approved("alpha-pkps"),
            clamp: None,
        },
        Case {
            name: "format v8 without a rule granting it",
            client: "alpha",
            body: with(pkp("0x1a2b"), "format", json!("v8")),
            expect: Denied("implicit-deny"),
            clamp: None,
        },
        Case {
            name: "format v9",
            client: "alpha",
            body: with(pkp("0x1a2b"), "format", json!("v9")),
            expect: Bad(400, "unsupported-format"),
            clamp: None,
        },
    ];
    v.extend(format_and_price_cases());
    // Every ability on a wildcard of every prefix, for alpha: never approved.
    for (prefix, ability) in [
        ("lit-pkp", "pkp-signing"),
        ("lit-litaction", "lit-action-execution"),
        ("lit-accesscontrolcondition", "access-control-condition-signing"),
        ("lit-accesscontrolcondition", "access-control-condition-decryption"),
        ("lit-ratelimitincrease", "rate-limit-increase-auth"),
    ] {
        let expect = match prefix {
            "lit-pkp" => Denied("no-wildcard-pkp"),
            "lit-litaction" => Denied("blocked-action"),
            _ => Denied("implicit-deny"),
        };
        v.push(Case {
            name: "wildcard of a prefix",
            client: "alpha",
            body: body(&[A], &[(prefix, "*", ability)]),
            expect,
            clamp: None,
        });
    }
    v
}

const X: &str = "https://node-x.example:443";
const B: &str = "https://node-b.example:443";
const C: &str = "https://node-c.example:443";

/// A v8 body for kappa: `nodes` with `prices` (node → price), a threshold and a maximum.
fn v8(
    resource: (&str, &str, &str),
    nodes: &[&str],
    prices: &[(&str, &str)],
    threshold: Option<u64>,
    max: Option<&str>,
) -> Value {
    let mut b = body(nodes, &[resource]);
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

fn format_and_price_cases() -> Vec<Case> {
    use Expect::*;
    let pkp = ("lit-pkp", "*", "pkp-signing");
    let action = ("lit-litaction", "QmXyz", "lit-action-execution");
    let acc = ("lit-accesscontrolcondition", "*", "access-control-condition-decryption");
    let case = |name, body, expect| Case { name, client: "kappa", body, expect, clamp: None };
    vec![
        // Three nodes at price 0 and a maximum of 3000: 1000 each, the rule's max_price.
        case("v8 at max_price", v8(pkp, &[A, B, C], &[], None, Some("3000")), Approved("kappa-v8-pkps")),
        case("v8 one over max_price", v8(pkp, &[A, B, C], &[], None, Some("3003")), Denied("implicit-deny")),
        case("v8 SDK default maximum", v8(pkp, &[A, B, C], &[], None, None), Denied("implicit-deny")),
        case("v8 hex maximum", v8(pkp, &[A], &[], None, Some("0x3e8")), Approved("kappa-v8-pkps")),
        case(
            "v8 numeric maximum",
            with(v8(pkp, &[A], &[], None, None), "userMaxPrice", json!(999)),
            Approved("kappa-v8-pkps"),
        ),
        case("v8 maximum 0", v8(pkp, &[A, B], &[], None, Some("0")), Approved("kappa-v8-pkps")),
        // With node prices: maxPrice = price + (maximum − Σ chosen prices) / chosen nodes.
        case(
            "v8 priced node at the limit",
            v8(pkp, &[A], &[(A, "600")], None, Some("1000")),
            Approved("kappa-v8-pkps"),
        ),
        case(
            "v8 priced node over the limit",
            v8(pkp, &[A], &[(A, "1001")], None, Some("1001")),
            Denied("implicit-deny"),
        ),
        // B 10 + 980, C 20 + 980: C exactly at max_price.
        case(
            "v8 threshold drops the dear node",
            v8(pkp, &[A, B, C], &[(A, "5000"), (B, "10"), (C, "20")], Some(2), Some("1990")),
            Approved("kappa-v8-pkps"),
        ),
        case(
            "v8 threshold keeps the dear node",
            v8(pkp, &[A, B, C], &[(A, "5000"), (B, "10"), (C, "20")], Some(3), Some("6000")),
            Denied("implicit-deny"),
        ),
        // The deny rule sees the chosen nodes only.
        case("v8 with node x chosen", v8(pkp, &[A, X], &[], None, Some("2000")), Denied("kappa-no-x-on-v8")),
        case(
            "v8 with node x not chosen",
            v8(pkp, &[A, X], &[(X, "999")], Some(1), Some("1000")),
            Approved("kappa-v8-pkps"),
        ),
        case("v7 with node x", body(&[A, X], &[action]), Approved("kappa-v7-actions")),
        // Formats per rule.
        case("v7 pkp, rule grants v8 only", body(&[A], &[pkp]), Denied("implicit-deny")),
        case("v8 action, rule grants v7 only", v8(action, &[A], &[], None, Some("1")), Denied("implicit-deny")),
        case("explicit v7 action", with(body(&[A], &[action]), "format", json!("v7")), Approved("kappa-v7-actions")),
        case("both formats: v7", body(&[A], &[acc]), Approved("kappa-both-acc")),
        case("both formats: v8 within 0x10", v8(acc, &[A, B], &[], None, Some("32")), Approved("kappa-both-acc")),
        case("both formats: v8 over 0x10", v8(acc, &[A, B], &[], None, Some("34")), Denied("implicit-deny")),
        case(
            "v8 deny by signer",
            with(v8(pkp, &[A], &[], None, Some("1")), "signer", json!("treasury")),
            Denied("kappa-no-treasury-v8"),
        ),
        case(
            "v7 not denied by a v8 rule",
            with(body(&[A], &[action]), "signer", json!("treasury")),
            Denied("implicit-deny"),
        ),
        // Bad prices and mixed formats are bad input, whatever the policy.
        case("v8 price not a number", v8(pkp, &[A], &[(A, "cheap")], None, None), Bad(400, "invalid-price")),
        case("v8 price negative", v8(pkp, &[A], &[(A, "-5")], None, None), Bad(400, "invalid-price")),
        case(
            "v8 maximum over 2^256",
            v8(pkp, &[A], &[], None, Some("0x10000000000000000000000000000000000000000000000000000000000000000")),
            Bad(400, "invalid-price"),
        ),
        case(
            "v8 split over the maximum",
            v8(pkp, &[A, B], &[(A, "6"), (B, "5")], None, Some("10")),
            Bad(400, "max-price-too-low"),
        ),
        case("v7 with prices", with(body(&[A], &[action]), "nodePrices", json!({A: "1"})), Bad(400, "format-mismatch")),
        case("v7 with a maximum", with(body(&[A], &[action]), "userMaxPrice", json!("1")), Bad(400, "format-mismatch")),
        case(
            "v8 capacity credits",
            v8(("lit-ratelimitincrease", "*", "rate-limit-increase-auth"), &[A], &[], None, Some("1")),
            Bad(400, "format-mismatch"),
        ),
    ]
}

fn token(client: &str) -> String {
    format!("{client}-token")
}

#[test]
fn policy_cases_through_evaluate_and_session_sigs() {
    let dir = tempfile::tempdir().unwrap();
    let clients = ["alpha", "beta", "gamma", "delta", "eps", "ops", "zeta", "kappa"];
    let tokens: Vec<(String, String)> = clients.iter().map(|c| (c.to_string(), token(c))).collect();
    let tokens: Vec<(&str, &str)> = tokens.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let server = configured(dir.path(), POLICY, &tokens, "");
    let c = client();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut wrong_approvals = 0;
    for case in &cases {
        let t = token(case.client);
        // The dry run.
        let (s, v) = post(&c, &server.url("/v1/policy/evaluate"), Some(&t), &case.body);
        let evaluable = !matches!(case.client, "delta" | "zeta" | "ops");
        match (&case.expect, evaluable) {
            (_, false) => {
                assert_eq!(s, 403, "{}: {v}", case.name);
                assert_eq!(v["decision"], "denied", "{}: {v}", case.name);
            }
            (Expect::Approved(rule), true) => {
                assert_eq!(
                    (s, v["decision"].as_str(), v["rule"].as_str()),
                    (200, Some("approved"), Some(*rule)),
                    "{}: {v}",
                    case.name
                );
            }
            (Expect::Denied(rule), true) => {
                assert_eq!(
                    (s, v["decision"].as_str(), v["rule"].as_str()),
                    (200, Some("denied"), Some(*rule)),
                    "{}: {v}",
                    case.name
                );
                assert!(!v["reasons"].as_array().unwrap().is_empty(), "{}: {v}", case.name);
            }
            (Expect::Bad(status, kind), true) => {
                assert_eq!((s, problem_type(&v).as_str()), (*status, *kind), "{}: {v}", case.name);
            }
        }
        // The real thing.
        let (s, v) = post(&c, &server.url("/v1/session-sigs"), Some(&t), &case.body);
        if s == 200 && !matches!(case.expect, Expect::Approved(_)) {
            wrong_approvals += 1;
        }
        match &case.expect {
            Expect::Approved(rule) => {
                assert_eq!(s, 200, "{}: {v}", case.name);
                assert_eq!(v["policy"]["rule"], *rule, "{}", case.name);
                match case.clamp {
                    Some(max) => {
                        assert_eq!(v["policy"]["clamped"]["maxLifetimeSeconds"], max, "{}: {v}", case.name);
                        let exp: time::OffsetDateTime = time::OffsetDateTime::parse(
                            v["expiration"].as_str().unwrap(),
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap();
                        let left = (exp - time::OffsetDateTime::now_utc()).whole_seconds();
                        assert!(left <= max && left > max - 60, "{}: {left}", case.name);
                    }
                    None => assert!(v["policy"]["clamped"].is_null(), "{}: {v}", case.name),
                }
            }
            Expect::Denied(rule) => {
                assert_eq!((s, problem_type(&v).as_str()), (403, "denied"), "{}: {v}", case.name);
                assert_eq!(v["decision"], "denied");
                assert_eq!(v["rule"], *rule, "{}: {v}", case.name);
                assert!(v.get("sessionSigs").is_none());
            }
            Expect::Bad(status, kind) => {
                assert_eq!((s, problem_type(&v).as_str()), (*status, *kind), "{}: {v}", case.name);
            }
        }
    }
    assert_eq!(wrong_approvals, 0);

    // The decisions are in the metrics with bounded labels.
    let metrics = c.get(format!("{}/metrics", server.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("litsigner_policy_decisions_total{client=\"alpha\",rule=\"blocked-pkp\",result=\"denied\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("litsigner_policy_decisions_total{client=\"unknown\",rule=\"implicit-deny\",result=\"denied\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("litsigner_policy_rules{client=\"alpha\"} 5"), "{metrics}");
    let approved = cases.iter().filter(|c| matches!(c.expect, Expect::Approved(_))).count();
    let denied = cases.iter().filter(|c| matches!(c.expect, Expect::Denied(_))).count();
    println!(
        "{} policy cases: {approved} approved, {denied} denied, {} bad input",
        cases.len(),
        cases.len() - approved - denied
    );
}

#[test]
fn rate_limit_counts_in_the_store_and_reload_keeps_the_old_policy_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        configured(dir.path(), POLICY, &[("eps", "eps-token"), ("ops", "ops-token"), ("alpha", "alpha-token")], "");
    let c = client();
    let url = server.url("/v1/session-sigs");
    let b = sigs_body(&[A], &[("lit-pkp", "*", "pkp-signing")]);
    for _ in 0..3 {
        assert_eq!(post(&c, &url, Some("eps-token"), &b).0, 200);
    }
    let (s, p) = post(&c, &url, Some("eps-token"), &b);
    assert_eq!((s, problem_type(&p).as_str(), p["rule"].as_str()), (429, "rate-limited", Some("rate-limit")), "{p}");
    // The dry run says so too, and does not count.
    let (s, v) = post(&c, &server.url("/v1/policy/evaluate"), Some("eps-token"), &b);
    assert_eq!((s, v["rule"].as_str()), (200, Some("rate-limit")), "{v}");

    // A broken policy file: the reload is refused, the old policy stays, readiness is degraded.
    std::fs::write(dir.path().join("policy.toml"), "[clients.alpha]\nendpoints = [\"session-sigs\", \"nope\"]\n")
        .unwrap();
    let (s, p) = post(&c, &server.url("/v1/admin/reload"), Some("ops-token"), &json!({}));
    assert_eq!((s, problem_type(&p).as_str()), (422, "policy-invalid"), "{p}");
    assert!(p["errors"][0].as_str().unwrap().contains("nope"), "{p}");
    let (s, ready) = get(&c, &server.url("/readyz"), None);
    assert_eq!(s, 200, "{ready}");
    assert_eq!(ready["checks"][2]["status"], "degraded", "{ready}");
    assert_eq!(post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")])).0, 200);
    let (s, status) = get(&c, &server.url("/v1/admin/reload"), Some("ops-token"));
    assert_eq!((s, status["status"].as_str()), (200, Some("failed")), "{status}");
    // Not TOML at all, through SIGHUP.
    std::fs::write(dir.path().join("policy.toml"), "this is [not toml").unwrap();
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")])).0, 200);

    // Only the admin endpoint grant may reload.
    assert_eq!(post(&c, &server.url("/v1/admin/reload"), Some("alpha-token"), &json!({})).0, 403);

    // A fixed file: the new policy is in force and readiness is back to ok.
    let tightened = POLICY.replace("\"lit-pkp://0x1a2b\", ", "");
    std::fs::write(dir.path().join("policy.toml"), tightened).unwrap();
    let (s, v) = post(&c, &server.url("/v1/admin/reload"), Some("ops-token"), &json!({}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(get(&c, &server.url("/readyz"), None).1["checks"][2]["status"], "ok");
    let (s, p) = post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")]));
    assert_eq!((s, p["rule"].as_str()), (403, Some("implicit-deny")), "{p}");
}
