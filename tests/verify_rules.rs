//! The verify rules suite (`tests/vectors/verify-rules/`, written by
//! `examples/verify_rules_suite.rs`): every case through the library, by the rules of its
//! generation, must get the decision the node makes, and a refusal the rule and node function
//! the case names; a sample through `lit-session verify` must exit 0 or 1 accordingly and name
//! both in its message.

mod common;

use std::collections::BTreeMap;

use common::{lit_session, Fixture};
use lit_session_signer::bls::NetworkPublicKey;
use lit_session_signer::protocol::{NodeUrl, Price};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::verify::{inspect, Generation, Route, SessionSigsEntry, Verifier, VerifyError, VerifyPolicy};
use lit_session_signer::Timestamp;
use serde_json::Value;

struct Suite {
    generation: Generation,
    cases: Vec<Value>,
}

fn suite(generation: Generation) -> Suite {
    let path = format!("{}/tests/vectors/verify-rules/{generation}.json", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    Suite { generation, cases: doc["cases"].as_array().unwrap().clone() }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// A valid network key that signed none of these capabilities.
fn network_key() -> NetworkPublicKey {
    let v = common::vector("session-sigs-wrapped-keys.json");
    s(&v["blsNetworkRootPubkey"]["hex"]).parse().unwrap()
}

fn policy(generation: Generation, case: &Value, strict: bool) -> VerifyPolicy {
    let base = if strict { VerifyPolicy::strict() } else { VerifyPolicy::node() };
    let mut p = base.for_generation(generation);
    if let Some(route) = case["route"].as_str() {
        p = p.with_route(route.parse::<Route>().unwrap());
    }
    if let Some(price) = case["nodePrice"].as_str() {
        p = p.with_node_price(price.parse::<Price>().unwrap());
    }
    if case["networkKey"] == true {
        p = p.with_network_key(network_key());
    }
    p
}

fn run(generation: Generation, case: &Value, strict: bool) -> Result<(), VerifyError> {
    let node: NodeUrl = s(&case["node"]).parse().unwrap();
    let request: ResourceAbilityRequest = s(&case["resource"]).parse().unwrap();
    let now: Timestamp = s(&case["now"]).parse().unwrap();
    let verifier = Verifier::new(policy(generation, case, strict));
    let json = s(&case["sessionSig"]);
    let result = verifier.verify_json(json, &node, &request, now).map(|_| ());
    // The uncached path and a second (cached) call agree.
    let uncached = Verifier::with_cache_capacity(policy(generation, case, strict), 0)
        .verify_json(json, &node, &request, now)
        .map(|_| ());
    assert_eq!(result, uncached, "{}: cached and uncached differ", s(&case["name"]));
    assert_eq!(result, verifier.verify_json(json, &node, &request, now).map(|_| ()));
    result
}

/// Every disagreement between the library and the node's decision, as text.
fn disagreements(suite: &Suite) -> Vec<String> {
    let g = suite.generation;
    let mut out = Vec::new();
    for case in &suite.cases {
        let name = s(&case["name"]);
        let family = s(&case["family"]);
        match (s(&case["decision"]), run(g, case, false)) {
            ("accept", Ok(())) => {}
            ("accept", Err(e)) => {
                out.push(format!("{g} {family} {name:?}: the node accepts, we refuse: {}", e.explain(g)))
            }
            ("reject", Ok(())) => out.push(format!("{g} {family} {name:?}: the node refuses, we accept")),
            ("reject", Err(e)) => {
                let want_rule = s(&case["rule"]);
                let want_cap = case["capabilityRule"].as_str();
                let want_fn = s(&case["nodeFunction"]);
                let got_cap = e.capability_error().map(|c| c.rule());
                if e.rule() != want_rule || got_cap != want_cap || e.node_function(g) != Some(want_fn) {
                    out.push(format!(
                        "{g} {family} {name:?}: refused as {} / {got_cap:?} by {:?}, expected {want_rule} / {want_cap:?} \
                         by {want_fn}",
                        e.rule(),
                        e.node_function(g)
                    ));
                }
                let text = e.explain(g);
                if !text.starts_with(&format!("{want_rule}: ")) || !text.contains(want_fn) {
                    out.push(format!("{g} {name:?}: the refusal does not name the rule and function: {text}"));
                }
            }
            (other, _) => out.push(format!("{name:?}: unknown decision {other}")),
        }
        if let Some(want) = case["strictRule"].as_str() {
            match run(g, case, true) {
                Err(e) if e.rule() == want => {
                    if !e.is_strict() {
                        out.push(format!("{g} {name:?}: strict rule {want} claims a node function"));
                    }
                }
                other => out.push(format!("{g} {name:?}: strict gives {other:?}, expected {want}")),
            }
        }
    }
    out
}

fn counts(suite: &Suite) -> BTreeMap<(String, String), usize> {
    let mut c = BTreeMap::new();
    for case in &suite.cases {
        *c.entry((s(&case["family"]).to_string(), s(&case["decision"]).to_string())).or_default() += 1;
    }
    c
}

#[test]
fn every_case_gets_the_nodes_decision() {
    let mut all = Vec::new();
    for g in [Generation::Datil, Generation::Naga] {
        let suite = suite(g);
        let c = counts(&suite);
        let accept: usize = c.iter().filter(|((_, d), _)| d == "accept").map(|(_, n)| n).sum();
        let reject: usize = c.iter().filter(|((_, d), _)| d == "reject").map(|(_, n)| n).sum();
        assert!(suite.cases.len() >= 150, "{g}: only {} cases", suite.cases.len());
        assert!(accept >= 50 && reject >= 50, "{g}: {accept} accept, {reject} reject");
        // Every family has both sides (payment delegations decide no acceptance: their sides are
        // in what inspect reports, checked below).
        let families: std::collections::BTreeSet<&String> = c.keys().map(|(f, _)| f).collect();
        for f in families {
            let sides = ["accept", "reject"].map(|d| c.get(&(f.clone(), d.to_string())).copied().unwrap_or(0));
            if f != "baseline" && f != "payment-delegation" {
                assert!(sides.iter().all(|n| *n > 0), "{g} family {f}: {sides:?} (accept, reject)");
            }
        }
        all.extend(disagreements(&suite));
    }
    assert!(all.is_empty(), "{} disagreements:\n{}", all.len(), all.join("\n"));
}

#[test]
fn inspect_reports_payment_delegations_as_the_node_reads_them() {
    let suite = suite(Generation::Naga);
    let mut seen = 0;
    for case in suite.cases.iter().filter(|c| c.get("inspect").is_some()) {
        let name = s(&case["name"]);
        let want = &case["inspect"];
        let entry = SessionSigsEntry::new(Some(s(&case["node"]).to_string()), s(&case["sessionSig"]).to_string());
        let now: Timestamp = s(&case["now"]).parse().unwrap();
        let report = inspect(&[entry], now, &Verifier::new(policy(Generation::Naga, case, false)));
        let e = &report.entries[0];
        assert_eq!(e.verdict, "valid", "{name}: {:?}", e.detail);
        let index = want["capability"].as_u64().unwrap() as usize;
        let p = e.payment_delegations.iter().find(|p| p.capability == index).unwrap_or_else(|| panic!("{name}"));
        if let Some(m) = want["maxPrice"].as_str() {
            assert_eq!(p.max_price.as_deref(), Some(m), "{name}");
        }
        if let Some(d) = want["delegatesToUser"].as_bool() {
            assert_eq!(p.delegates_to_user, Some(d), "{name}");
        }
        if let Some(v) = want["validCapability"].as_bool() {
            assert_eq!(p.valid_capability, v, "{name}");
        }
        assert!(p.max_price_check.starts_with(s(&want["check"])), "{name}: {}", p.max_price_check);
        seen += 1;
    }
    assert!(seen >= 10, "{seen}");
    // Both sides of each reported boundary.
    let checks: Vec<&str> = suite.cases.iter().filter_map(|c| c["inspect"]["check"].as_str()).collect();
    for side in ["within", "exceeds", "unusable"] {
        assert!(checks.iter().any(|c| c.starts_with(side)), "no {side} case");
    }
    for side in [true, false] {
        assert!(suite.cases.iter().any(|c| c["inspect"]["delegatesToUser"] == side), "no delegatesToUser {side}");
    }
}

#[test]
fn the_command_line_exits_0_or_1_and_names_rule_and_function() {
    let fx = Fixture::new();
    for g in [Generation::Datil, Generation::Naga] {
        let suite = suite(g);
        // A sample: the first case of each family and decision.
        let mut taken = std::collections::BTreeSet::new();
        for (i, case) in suite.cases.iter().enumerate() {
            let key = (s(&case["family"]).to_string(), s(&case["decision"]).to_string());
            if case["networkKey"] == true || !taken.insert(key) {
                continue;
            }
            let file = fx.file(&format!("{g}-{i}.json"), s(&case["sessionSig"]));
            let mut args = vec![
                "verify".to_string(),
                "--session-sigs".into(),
                file,
                "--node".into(),
                s(&case["node"]).into(),
                "--resource".into(),
                s(&case["resource"]).into(),
                "--now".into(),
                s(&case["now"]).into(),
                "--network".into(),
                g.to_string(),
            ];
            if let Some(r) = case["route"].as_str() {
                args.extend(["--route".into(), r.into()]);
            }
            if let Some(p) = case["nodePrice"].as_str() {
                args.extend(["--node-price".into(), p.into()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = lit_session(&args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let name = s(&case["name"]);
            match s(&case["decision"]) {
                "accept" => {
                    assert_eq!(out.status.code(), Some(0), "{g} {name}: {stdout}");
                    assert_eq!(stdout, "valid\n");
                }
                _ => {
                    assert_eq!(
                        out.status.code(),
                        Some(1),
                        "{g} {name}: {stdout} {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let rule = s(&case["rule"]);
                    let function = s(&case["nodeFunction"]);
                    assert!(stdout.starts_with(&format!("invalid: {rule}: ")), "{g} {name}: {stdout}");
                    assert!(stdout.contains(&format!("({g} node: {function})")), "{g} {name}: {stdout}");
                }
            }
        }
        assert!(taken.len() >= 20, "{g}: {}", taken.len());
    }
    // Usage errors only are 2: text that is not JSON, a bad flag value.
    let garbage = fx.file("garbage.json", "{\"sig\": ");
    for args in [
        vec![
            "verify",
            "--session-sigs",
            &garbage,
            "--node",
            "https://1.2.3.4:443",
            "--resource",
            "lit-pkp://*=pkp-signing",
        ],
        vec![
            "verify",
            "--session-sigs",
            &garbage,
            "--node",
            "https://1.2.3.4:443#x",
            "--resource",
            "lit-pkp://*=pkp-signing",
        ],
    ] {
        assert_eq!(lit_session(&args).status.code(), Some(2), "{args:?}");
    }
}
