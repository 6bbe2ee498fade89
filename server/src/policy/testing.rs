//! The policy's case table (feature `test-util`): one policy file and the session-sigs requests
//! its clients send, each with the answer minting must give. The policy's unit tests run it in
//! process (parse and decide, no HTTP); the service's tests send it once over HTTP, through both
//! `/v1/policy/evaluate` and `/v1/session-sigs`.

use serde_json::{json, Value};

/// The policy the cases run under.
pub const POLICY: &str = r#"
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
/// What minting answers.
pub enum Expect {
    /// Approved by this rule.
    Approved(&'static str),
    /// Denied by this rule.
    Denied(&'static str),
    /// Refused as bad input: the status and the problem type.
    Bad(u16, &'static str),
}

/// One request and its expected answer.
pub struct Case {
    /// What the case shows.
    pub name: &'static str,
    /// The client asking.
    pub client: &'static str,
    /// The session-sigs body.
    pub body: Value,
    /// What minting answers.
    pub expect: Expect,
    /// The clamped maximum lifetime, when the expiration is expected to be clamped.
    pub clamp: Option<i64>,
}

fn case(name: &'static str, client: &'static str, body: Value, expect: Expect) -> Case {
    Case { name, client, body, expect, clamp: None }
}

/// A node the rules name.
pub const A: &str = "https://node-a.example:443";

fn body(nodes: &[&str], resources: &[(&str, &str, &str)]) -> Value {
    sigs_body(nodes, resources)
}

/// A session-sigs body with the SDK's parameter names.
pub fn sigs_body(nodes: &[&str], resources: &[(&str, &str, &str)]) -> Value {
    json!({
        "nodeUrls": nodes,
        "resourceAbilityRequests": resources.iter().map(|(prefix, id, ability)| json!({
            "resource": {"resource": id, "resourcePrefix": prefix}, "ability": ability
        })).collect::<Vec<_>>(),
        "nonce": "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c",
    })
}

fn with(mut b: Value, key: &str, v: Value) -> Value {
    b[key] = v;
    b
}

fn in_minutes(m: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::minutes(m);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Every case: the policy's rules, normalisation, nodes, signers, lifetimes, formats and prices.
pub fn cases() -> Vec<Case> {
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
        case("pkp exact", "alpha", pkp("0x1a2b"), Approved("alpha-pkps")),
        case("pkp without 0x", "alpha", pkp("1a2b"), Approved("alpha-pkps")),
        case("pkp padded", "alpha", pkp(padded), Approved("alpha-pkps")),
        case("pkp uppercase hex", "alpha", pkp("0x1A2B"), Approved("alpha-pkps")),
        case("pkp policy uppercase", "alpha", pkp("abcdef"), Approved("alpha-pkps")),
        case("pkp 0X prefix is another id", "alpha", pkp("0X1a2b"), Denied("implicit-deny")),
        case("pkp not listed", "alpha", pkp("0x9999"), Denied("implicit-deny")),
        case("pkp wildcard", "alpha", pkp("*"), Denied("no-wildcard-pkp")),
        case("pkp blocked", "alpha", pkp("0xdead"), Denied("blocked-pkp")),
        case("pkp blocked padded", "alpha", pkp(padded_dead), Denied("blocked-pkp")),
        case("pkp blocked uppercase", "alpha", pkp("DEAD"), Denied("blocked-pkp")),
        case(
            "blocked pkp beside an allowed one",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0xdead", "pkp-signing")]),
            Denied("blocked-pkp"),
        ),
        case(
            "two pkps, one not covered",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0x77", "pkp-signing")]),
            Denied("implicit-deny"),
        ),
        case(
            "two covered pkps",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-pkp", "0xabcdef", "pkp-signing")]),
            Approved("alpha-pkps"),
        ),
        // alpha: nodes.
        // The node compares the signed address with its domain:port, so no node accepts a
        // session signed for a URL without a port.
        case(
            "node url without port",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-b.example"])),
            Bad(400, "invalid-resource"),
        ),
        case(
            "node b default port",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-b.example:443"])),
            Approved("alpha-pkps"),
        ),
        case(
            "node host case",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["https://NODE-A.example:443"])),
            Approved("alpha-pkps"),
        ),
        case(
            "node other scheme",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["http://node-a.example:443"])),
            Denied("implicit-deny"),
        ),
        case(
            "node other port",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-a.example:444"])),
            Denied("implicit-deny"),
        ),
        case(
            "node not listed",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!(["https://node-c.example:443"])),
            Denied("implicit-deny"),
        ),
        case(
            "one node of two not listed",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!([A, "https://node-c.example:443"])),
            Denied("implicit-deny"),
        ),
        case(
            "both nodes listed",
            "alpha",
            with(pkp("0x1a2b"), "nodeUrls", json!([A, "https://node-b.example:443"])),
            Approved("alpha-pkps"),
        ),
        // alpha: signers.
        case("pkp with treasury", "alpha", treasury(pkp("0x1a2b")), Denied("implicit-deny")),
        case("unknown signer", "alpha", with(pkp("0x1a2b"), "signer", json!("ghost")), Bad(404, "unknown-signer")),
        // alpha: lit actions.
        case("action Qm", "alpha", action("QmXyz"), Approved("alpha-actions")),
        case("action Qm treasury", "alpha", treasury(action("QmXyz")), Approved("alpha-actions")),
        case("action Qm only", "alpha", action("Qm"), Approved("alpha-actions")),
        case("action wildcard", "alpha", action("*"), Denied("blocked-action")),
        case("action other cid", "alpha", action("bafyabc"), Denied("implicit-deny")),
        case("action lowercase qm", "alpha", action("qmXyz"), Denied("implicit-deny")),
        case("action blocked", "alpha", action("QmEvil1"), Denied("blocked-action")),
        case(
            "pkp and action in one request",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing"), ("lit-litaction", "QmXyz", "lit-action-execution")]),
            Denied("implicit-deny"),
        ),
        // alpha: abilities and prefixes.
        case("acc decryption", "alpha", acc("*", "access-control-condition-decryption"), Denied("implicit-deny")),
        case(
            "rate limit increase",
            "alpha",
            body(&[A], &[("lit-ratelimitincrease", "*", "rate-limit-increase-auth")]),
            Denied("implicit-deny"),
        ),
        case(
            "ability not accepted by prefix",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "lit-action-execution")]),
            Bad(400, "invalid-resource"),
        ),
        case(
            "unknown prefix",
            "alpha",
            body(&[A], &[("lit-wallet", "x", "pkp-signing")]),
            Bad(400, "invalid-resource"),
        ),
        case(
            "unknown ability",
            "alpha",
            body(&[A], &[("lit-pkp", "0x1a2b", "pkp-sign")]),
            Bad(400, "invalid-resource"),
        ),
        case("pkp id too long", "alpha", pkp(too_long), Bad(400, "invalid-resource")),
        case("empty pkp id", "alpha", pkp(""), Bad(400, "invalid-resource")),
        // alpha: lifetime.
        case(
            "expiration within cap",
            "alpha",
            with(pkp("0x1a2b"), "expiration", json!(in_minutes(5))),
            Approved("alpha-pkps"),
        ),
        Case {
            clamp: Some(600),
            ..case(
                "expiration over cap is clamped",
                "alpha",
                with(pkp("0x1a2b"), "expiration", json!(in_minutes(60))),
                Approved("alpha-pkps"),
            )
        },
        Case {
            clamp: Some(600),
            ..case(
                "expiration far over cap",
                "alpha",
                with(pkp("0x1a2b"), "expiration", json!("2099-01-01T00:00:00Z")),
                Approved("alpha-pkps"),
            )
        },
        Case {
            clamp: Some(300),
            ..case(
                "action expiration clamped to 5m",
                "alpha",
                with(action("QmA"), "expiration", json!(in_minutes(30))),
                Approved("alpha-actions"),
            )
        },
        case(
            "expiration in the past",
            "alpha",
            with(pkp("0x1a2b"), "expiration", json!("2020-01-01T00:00:00Z")),
            Bad(400, "invalid-request"),
        ),
        case(
            "expiration not a time",
            "alpha",
            with(pkp("0x1a2b"), "expiration", json!("tomorrow")),
            Bad(400, "invalid-request"),
        ),
        // beta: decryption with treasury only; a denied node.
        case(
            "beta acc wildcard",
            "beta",
            treasury(acc("*", "access-control-condition-decryption")),
            Approved("beta-acc"),
        ),
        case("beta acc id", "beta", treasury(acc(acc_id, "access-control-condition-decryption")), Approved("beta-acc")),
        case("beta default signer", "beta", acc("*", "access-control-condition-decryption"), Denied("implicit-deny")),
        case(
            "beta acc signing",
            "beta",
            treasury(acc("*", "access-control-condition-signing")),
            Denied("implicit-deny"),
        ),
        case("beta pkp", "beta", treasury(pkp("0x1a2b")), Denied("implicit-deny")),
        case(
            "beta denied node",
            "beta",
            with(
                treasury(acc("*", "access-control-condition-decryption")),
                "nodeUrls",
                json!([A, "https://node-x.example:443"]),
            ),
            Denied("beta-not-node-x"),
        ),
        case(
            "beta lifetime 1h not clamped",
            "beta",
            with(treasury(acc("*", "access-control-condition-decryption")), "expiration", json!(in_minutes(50))),
            Approved("beta-acc"),
        ),
        // gamma: no allow rule.
        case("gamma pkp", "gamma", pkp("0x1a2b"), Denied("implicit-deny")),
        case("gamma action", "gamma", action("QmXyz"), Denied("implicit-deny")),
        // delta: may mint, may not dry-run.
        case("delta any pkp", "delta", pkp("*"), Approved("delta-any-pkp")),
        case("delta any pkp ability", "delta", pkp("0x42"), Approved("delta-any-pkp")),
        case("delta action", "delta", action("QmXyz"), Denied("implicit-deny")),
        // A client with a valid token and no policy; an admin-only client.
        case("client without policy", "zeta", pkp("0x1a2b"), Denied("implicit-deny")),
        case("admin client minting", "ops", pkp("0x1a2b"), Denied("endpoints")),
        // Formats.
        case("format v7", "alpha", with(pkp("0x1a2b"), "format", json!("v7")), Approved("alpha-pkps")),
        case(
            "format v8 without a rule granting it",
            "alpha",
            with(pkp("0x1a2b"), "format", json!("v8")),
            Denied("implicit-deny"),
        ),
        case("format v9", "alpha", with(pkp("0x1a2b"), "format", json!("v9")), Bad(400, "unsupported-format")),
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
    let case = |name, body, expect| case(name, "kappa", body, expect);
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
