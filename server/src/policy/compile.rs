//! A policy file compiled into the rules [`Policy`] evaluates. The whole file is checked: every
//! error is listed with its path (`clients."x".allow.r.resources`), and a file with any error is
//! refused. One function per section: a client's access (`auth`, `endpoints`, `rate`), each
//! `allow` and `deny` rule, the capacity and payment grants.

use std::collections::{BTreeMap, BTreeSet};

use time::Duration;

use super::delegation::{CapacityGrant, PaymentGrant};
use super::file::{AllowFile, CapacityFile, ClientFile, DenyFile, PaymentFile, PolicyFile};
use super::matchers::{canonical_node, AbilitySet, NameSet, NodeSet, ResourcePattern};
use super::sigs::{AllowRule, DenyRule};
use super::{ClientPolicy, Policy, PolicyError};
use crate::auth::AuthMethod;
use crate::duration::parse_duration;
use crate::endpoint::Endpoint;
use crate::ratelimit::Rate;
use crate::signing::{self, Format, PaymentScope, Price};

/// The node refuses sessions longer than this.
const NODE_MAX_LIFETIME: Duration = Duration::days(30);

/// The longest delegation a grant may allow.
const DELEGATION_MAX_LIFETIME: Duration = Duration::days(365);

impl Policy {
    /// Parses and validates a policy file. `signers` are the configured profile names (every
    /// name a rule uses must be one of them).
    pub fn parse(text: &str, signers: &BTreeSet<String>) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError(vec![e.to_string()]))?;
        let mut errs = Vec::new();
        if let Some(v) = file.version {
            if v != 1 {
                errs.push(format!("version {v} is not supported (expected 1)"));
            }
        }
        let mut clients = BTreeMap::new();
        for (name, c) in file.clients {
            let client = client(&name, &c, signers, &mut errs);
            clients.insert(name, client);
        }
        if errs.is_empty() {
            Ok(Self { clients })
        } else {
            Err(PolicyError(errs))
        }
    }
}

/// `[clients.NAME]`: how it may authenticate, which endpoints it may call, its rate limit, its
/// rules and grants.
fn client(name: &str, c: &ClientFile, signers: &BTreeSet<String>, errs: &mut Vec<String>) -> ClientPolicy {
    let at = |what: &str| format!("clients.{name:?}.{what}");
    if name.is_empty() || name == "unknown" || name.chars().any(|ch| ch.is_control()) {
        errs.push(format!("client name {name:?} is not allowed"));
    }
    let auth = match &c.auth {
        None => [AuthMethod::Bearer, AuthMethod::Mtls].into_iter().collect(),
        Some(list) => list
            .iter()
            .filter_map(|a| {
                AuthMethod::parse(a).or_else(|| {
                    errs.push(format!("{}: unknown method {a:?} (bearer, mtls)", at("auth")));
                    None
                })
            })
            .collect(),
    };
    let endpoints = match &c.endpoints {
        None => [Endpoint::SessionSigs].into_iter().collect(),
        Some(list) => list
            .iter()
            .filter_map(|e| Endpoint::parse_grant(e).map_err(|m| errs.push(format!("{}: {m}", at("endpoints")))).ok())
            .collect(),
    };
    let rate = c.rate.as_ref().and_then(|r| match parse_duration(&r.per) {
        Ok(d) if d >= Duration::seconds(1) && r.count > 0 => Some(Rate { count: r.count, per_secs: d.whole_seconds() }),
        Ok(_) => {
            errs.push(format!("{}: count must be > 0 and per at least 1s", at("rate")));
            None
        }
        Err(e) => {
            errs.push(format!("{}: {e}", at("rate")));
            None
        }
    });
    // Allow and deny rules share one namespace per client.
    let mut rule_names = BTreeSet::new();
    let mut named = |kind: &str, i: usize, name: &Option<String>, errs: &mut Vec<String>| {
        let rule = name.clone().unwrap_or_else(|| format!("{kind}[{i}]"));
        let what = at(&format!("{kind}.{rule}"));
        if !rule_names.insert(rule.clone()) {
            errs.push(format!("{what}: rule name used twice"));
        }
        (rule, what)
    };
    let mut allow = Vec::new();
    for (i, a) in c.allow.iter().enumerate() {
        let (rule, what) = named("allow", i, &a.name, errs);
        allow.push(allow_rule(rule, &what, a, signers, errs));
    }
    let mut deny = Vec::new();
    for (i, d) in c.deny.iter().enumerate() {
        let (rule, what) = named("deny", i, &d.name, errs);
        deny.push(deny_rule(rule, &what, d, signers, errs));
    }
    let capacity = c.capacity_delegation.as_ref().map(|g| capacity_grant(&at("capacity_delegation"), g, signers, errs));
    let payment = c.payment_delegation.as_ref().map(|g| payment_grant(&at("payment_delegation"), g, signers, errs));
    ClientPolicy { auth, endpoints, rate, allow, deny, capacity, payment }
}

/// An `allow` rule: every list is required; `formats` defaults to v7, and a rule that grants
/// v8 must set `max_price` (and only such a rule may).
fn allow_rule(
    name: String,
    what: &str,
    a: &AllowFile,
    signers: &BTreeSet<String>,
    errs: &mut Vec<String>,
) -> AllowRule {
    let resources = patterns(&a.resources, &format!("{what}.resources"), errs);
    let abilities = abilities(&a.abilities, &format!("{what}.abilities"), errs);
    if let AbilitySet::Only(set) = &abilities {
        for ab in set {
            if !resources.iter().any(|p| p.prefix.accepts(*ab)) {
                errs.push(format!("{what}: ability {ab} is not accepted by any of its resources"));
            }
        }
    }
    let rule_formats = match &a.formats {
        None => [Format::V7].into(),
        Some(list) => formats(list, &format!("{what}.formats"), errs),
    };
    let max_price = a.max_price.as_ref().map(|v| price(v, &format!("{what}.max_price"), errs));
    match (rule_formats.contains(&Format::V8), max_price.is_some()) {
        (true, false) => errs.push(format!(
            "{what}: grants format v8, so it needs max_price (the most one node's signed maxPrice may be)"
        )),
        (false, true) => errs.push(format!("{what}: max_price applies to format v8, which it does not grant")),
        _ => {}
    }
    AllowRule {
        formats: rule_formats,
        max_price,
        signers: names(&a.signers, &format!("{what}.signers"), Some(signers), errs),
        resources,
        abilities,
        max_lifetime: lifetime(&a.max_lifetime, &format!("{what}.max_lifetime"), NODE_MAX_LIFETIME, errs),
        nodes: nodes(&a.nodes, &format!("{what}.nodes"), errs),
        name,
    }
}

/// A `deny` rule: each list it sets narrows it.
fn deny_rule(name: String, what: &str, d: &DenyFile, signers: &BTreeSet<String>, errs: &mut Vec<String>) -> DenyRule {
    DenyRule {
        signers: d.signers.as_ref().map(|s| names(s, &format!("{what}.signers"), Some(signers), errs)),
        resources: d.resources.as_ref().map(|r| patterns(r, &format!("{what}.resources"), errs)),
        abilities: d.abilities.as_ref().map(|a| abilities(a, &format!("{what}.abilities"), errs)),
        nodes: d.nodes.as_ref().map(|n| nodes(n, &format!("{what}.nodes"), errs)),
        wildcard_only: d.wildcard_only,
        formats: d.formats.as_ref().map(|f| formats(f, &format!("{what}.formats"), errs)),
        name,
    }
}

/// `[clients.NAME.capacity_delegation]`.
fn capacity_grant(what: &str, g: &CapacityFile, signers: &BTreeSet<String>, errs: &mut Vec<String>) -> CapacityGrant {
    if let Some(ids) = &g.token_ids {
        for id in ids {
            if id != "*" && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit())) {
                errs.push(format!("{what}.token_ids: {id:?} is not a decimal token id or *"));
            }
        }
    }
    CapacityGrant {
        signers: names(&g.signers, &format!("{what}.signers"), Some(signers), errs),
        max_uses: g.max_uses,
        max_lifetime: lifetime(&g.max_lifetime, &format!("{what}.max_lifetime"), DELEGATION_MAX_LIFETIME, errs),
        token_ids: g.token_ids.clone(),
    }
}

/// `[clients.NAME.payment_delegation]`: every key required; `scopes` and `delegatees` may be
/// `["*"]`.
fn payment_grant(what: &str, g: &PaymentFile, signers: &BTreeSet<String>, errs: &mut Vec<String>) -> PaymentGrant {
    let mut scopes = BTreeSet::new();
    if g.scopes.iter().any(|s| s == "*") {
        if g.scopes.len() > 1 {
            errs.push(format!("{what}.scopes: \"*\" must stand alone"));
        }
        scopes.extend(PaymentScope::ALL);
    } else {
        if g.scopes.is_empty() {
            errs.push(format!("{what}.scopes: empty list (use [\"*\"] for all)"));
        }
        for s in &g.scopes {
            match signing::parse_scope(s) {
                Ok(s) => {
                    scopes.insert(s);
                }
                Err(e) => errs.push(format!("{what}.scopes: {e}")),
            }
        }
    }
    let delegatees = if g.delegatees.iter().any(|d| d == "*") {
        if g.delegatees.len() > 1 {
            errs.push(format!("{what}.delegatees: \"*\" must stand alone"));
        }
        None
    } else {
        if g.delegatees.is_empty() {
            errs.push(format!("{what}.delegatees: empty list (use [\"*\"] for any address)"));
        }
        let keys = g
            .delegatees
            .iter()
            .filter_map(|d| signing::address_key(d).map_err(|e| errs.push(format!("{what}.delegatees: {e}"))).ok());
        Some(keys.collect())
    };
    PaymentGrant {
        signers: names(&g.signers, &format!("{what}.signers"), Some(signers), errs),
        max_price: price(&g.max_price, &format!("{what}.max_price"), errs),
        max_lifetime: lifetime(&g.max_lifetime, &format!("{what}.max_lifetime"), DELEGATION_MAX_LIFETIME, errs),
        scopes,
        delegatees,
    }
}

fn names(list: &[String], what: &str, known: Option<&BTreeSet<String>>, errs: &mut Vec<String>) -> NameSet {
    if list.iter().any(|s| s == "*") {
        if list.len() > 1 {
            errs.push(format!("{what}: \"*\" must stand alone"));
        }
        return NameSet::Any;
    }
    if list.is_empty() {
        errs.push(format!("{what}: empty list (use [\"*\"] for all)"));
    }
    if let Some(known) = known {
        for n in list {
            if !known.contains(n) {
                errs.push(format!("{what}: unknown signer profile {n:?}"));
            }
        }
    }
    NameSet::Only(list.iter().cloned().collect())
}

fn abilities(list: &[String], what: &str, errs: &mut Vec<String>) -> AbilitySet {
    if list.iter().any(|s| s == "*") {
        return AbilitySet::Any;
    }
    if list.is_empty() {
        errs.push(format!("{what}: empty list (use [\"*\"] for all)"));
    }
    let mut out = BTreeSet::new();
    for a in list {
        match signing::parse_ability(a) {
            Ok(a) => {
                out.insert(a);
            }
            Err(e) => errs.push(format!("{what}: {e}")),
        }
    }
    AbilitySet::Only(out)
}

fn patterns(list: &[String], what: &str, errs: &mut Vec<String>) -> Vec<ResourcePattern> {
    if list.is_empty() {
        errs.push(format!("{what}: empty list"));
    }
    list.iter().filter_map(|s| ResourcePattern::parse(s).map_err(|e| errs.push(format!("{what}: {e}"))).ok()).collect()
}

fn nodes(list: &[String], what: &str, errs: &mut Vec<String>) -> NodeSet {
    if list.iter().any(|s| s == "*") {
        return NodeSet::Any;
    }
    if list.is_empty() {
        errs.push(format!("{what}: empty list (use [\"*\"] for any node)"));
    }
    let mut out = BTreeSet::new();
    for n in list {
        match policy_node(n) {
            Some(c) => {
                out.insert(c);
            }
            None => errs.push(format!("{what}: {n:?} is not a node URL (http(s)://host:port)")),
        }
    }
    NodeSet::Only(out)
}

/// A node in a policy file: a node URL, whose port may be left out (the scheme's default), in
/// its canonical form. (A URL to sign for must name its port: the node compares host:port.)
fn policy_node(n: &str) -> Option<String> {
    let canonical = canonical_node(n)?;
    let port = canonical.rsplit(':').next()?;
    let valid = signing::parse_node_url(n).is_ok() || signing::parse_node_url(&format!("{n}:{port}")).is_ok();
    valid.then_some(canonical)
}

fn lifetime(s: &str, what: &str, max: Duration, errs: &mut Vec<String>) -> Duration {
    match parse_duration(s) {
        Ok(d) if d <= Duration::ZERO => {
            errs.push(format!("{what}: must be positive"));
            d
        }
        Ok(d) if d > max => {
            errs.push(format!("{what}: {s} is longer than {} days", max.whole_days()));
            d
        }
        Ok(d) => d,
        Err(e) => {
            errs.push(format!("{what}: {e}"));
            Duration::ZERO
        }
    }
}

fn formats(list: &[String], what: &str, errs: &mut Vec<String>) -> BTreeSet<Format> {
    if list.is_empty() {
        errs.push(format!("{what}: empty list (v7, v8)"));
    }
    list.iter()
        .filter_map(|f| {
            Format::parse(f).or_else(|| {
                errs.push(format!("{what}: unknown format {f:?} (v7, v8)"));
                None
            })
        })
        .collect()
}

/// A price in the policy file: a TOML integer, or a string of decimal digits or `0x` + hex.
fn price(v: &toml::Value, what: &str, errs: &mut Vec<String>) -> Price {
    let parsed = match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(Price::from(*i as u64)),
        toml::Value::Integer(i) => Err(format!("price {i} is negative")),
        toml::Value::String(s) => s.parse::<Price>().map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a price (an integer, or a string of decimal or 0x-hex digits), found a {}",
            other.type_str()
        )),
    };
    parsed.unwrap_or_else(|e| {
        errs.push(format!("{what}: {e}"));
        Price::ZERO
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_for_the_clock_is_an_error() {
        let signers: BTreeSet<String> = ["default".to_string()].into();
        let huge = "[[clients.a.allow]]\nsigners = [\"default\"]\nresources = [\"lit-pkp://*\"]\n\
                    abilities = [\"*\"]\nmax_lifetime = \"999999999999999999d\"\nnodes = [\"*\"]\n";
        let err = Policy::parse(huge, &signers).map(drop).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn invalid_files_list_every_error() {
        let signers: BTreeSet<String> = ["default".to_string()].into();
        let text = r#"
            [clients.a]
            endpoints = ["session-sigs", "nope"]
            [[clients.a.allow]]
            signers = ["ghost"]
            resources = ["lit-foo://*"]
            abilities = ["pkp-signing"]
            max_lifetime = "40d"
            nodes = ["ftp://x"]
        "#;
        let err = Policy::parse(text, &signers).unwrap_err();
        assert!(err.0.len() >= 5, "{err}");
        assert!(Policy::parse("[clients.a]\nbogus = 1", &signers).is_err());
    }

    #[test]
    fn the_longest_rate_window_bounds_the_windows_kept() {
        let signers = ["default".to_string()].into_iter().collect();
        let text = "[clients.a]\nrate = { count = 3, per = \"1h\" }\n[clients.b]\nrate = { count = 9, per = \"1m\" }\n\
                    [clients.c]\n";
        assert_eq!(Policy::parse(text, &signers).unwrap().longest_rate_window(), 3600);
        assert_eq!(Policy::parse("[clients.c]\n", &signers).unwrap().longest_rate_window(), 0);
    }

    fn rule(extra: &str) -> String {
        format!(
            "[[clients.a.allow]]\nsigners = [\"default\"]\nresources = [\"lit-pkp://*\"]\nabilities = [\"*\"]\n\
             max_lifetime = \"10m\"\nnodes = [\"*\"]\n{extra}"
        )
    }

    #[test]
    fn formats_and_prices_are_validated() {
        let signers: BTreeSet<String> = ["default".to_string()].into();
        let parse = |extra: &str| Policy::parse(&rule(extra), &signers).map(drop).map_err(|e| e.to_string());
        assert!(parse("").is_ok(), "v7 by default, no price");
        assert!(parse("formats = [\"v7\", \"v8\"]\nmax_price = \"0x10\"").is_ok());
        assert!(parse("formats = [\"v8\"]\nmax_price = 16").is_ok());
        for (extra, needle) in [
            ("formats = [\"v8\"]", "needs max_price"),
            ("max_price = \"10\"", "does not grant"),
            ("formats = [\"v9\"]", "unknown format"),
            ("formats = []", "empty list"),
            ("formats = [\"v8\"]\nmax_price = -1", "negative"),
            ("formats = [\"v8\"]\nmax_price = \"ten\"", "not a number"),
            ("formats = [\"v8\"]\nmax_price = true", "found a boolean"),
            ("formats = [\"v8\"]\nmax_price = \"0x1\" \n[[clients.a.deny]]\nformats = [\"v6\"]", "unknown format"),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(needle), "{extra}: {err}");
        }
    }
}
