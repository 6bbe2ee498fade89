//! The policy: which client may ask for what.
//!
//! One TOML file, validated as a whole when loaded (a file with any error is refused, and the
//! policy in force stays). Per client: how it may authenticate, which endpoints it may call, a
//! rate limit, `allow` rules, `deny` rules and optional capacity- and payment-delegation grants.
//!
//! Evaluation of a session-sigs request:
//! 1. unknown client, auth method or endpoint → denied;
//! 2. any matching `deny` rule → denied (explicit deny beats allow);
//! 3. the first `allow` rule whose signers, formats, nodes, prices and resource patterns cover
//!    *every* requested (resource, ability) → approved, with the expiration clamped to its
//!    `max_lifetime`;
//! 4. otherwise → denied (implicit deny), with each allow rule's first mismatch as a reason.
//!
//! Formats and prices: an allow rule grants the `v7` format unless its `formats` says otherwise,
//! so a v8 (Naga) session needs a rule with `formats` naming `v8`, and such a rule must set
//! `max_price`: the most any chosen node's signed `maxPrice` may be (wei; a node charges at
//! most that much per request, so a session costs at most `threshold × max_price` per
//! operation). The nodes a rule checks for a v8 request are the nodes the pricing chooses (the
//! ones that get a session sig). The SDK's default maximum (2^128 − 1, split over the nodes)
//! exceeds any useful `max_price`: such clients send a `userMaxPrice`.
//!
//! Resource ids are compared after the node's normalisation (PKP ids without `0x`, padded to 64
//! hex digits, lowercase), so `0xABC`, `abc` and `000…abc` are one resource. A requested
//! wildcard (`lit-pkp://*`) is matched by every deny pattern of its prefix (it covers them), and
//! only allow patterns made of `*` alone cover it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use time::Duration;

use crate::duration::parse_duration;
use crate::ratelimit::{self, Exceeded, Rate};
use crate::signing::{self, LitAbility, PaymentScope, Price, ResourcePrefix, SessionFormat, Timestamp};

/// The endpoints a client may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `POST /v1/session-sigs`.
    SessionSigs,
    /// `POST /v1/verify`.
    Verify,
    /// `GET /v1/keys`.
    Keys,
    /// `POST /v1/policy/evaluate`.
    PolicyEvaluate,
    /// `POST /v1/capacity-delegation` (also needs the `capacity_delegation` grant).
    CapacityDelegation,
    /// `POST /v1/payment-delegation` (also needs the `payment_delegation` grant).
    PaymentDelegation,
    /// `/v1/admin/*` (policy reload).
    Admin,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 7] = [
        Self::SessionSigs,
        Self::Verify,
        Self::Keys,
        Self::PolicyEvaluate,
        Self::CapacityDelegation,
        Self::PaymentDelegation,
        Self::Admin,
    ];

    /// The name used in the policy file, metrics and audit rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionSigs => "session-sigs",
            Self::Verify => "verify",
            Self::Keys => "keys",
            Self::PolicyEvaluate => "policy-evaluate",
            Self::CapacityDelegation => "capacity-delegation",
            Self::PaymentDelegation => "payment-delegation",
            Self::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| {
            format!(
                "unknown endpoint {s:?} (expected {})",
                Self::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthMethod {
    /// A bearer token in the `Authorization` header.
    Bearer,
    /// A TLS client certificate.
    Mtls,
}

impl AuthMethod {
    /// `bearer` or `mtls`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Mtls => "mtls",
        }
    }
}

// ---- the file -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    clients: BTreeMap<String, ClientFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    #[serde(default)]
    auth: Option<Vec<String>>,
    #[serde(default)]
    endpoints: Option<Vec<String>>,
    #[serde(default)]
    rate: Option<RateFile>,
    #[serde(default)]
    allow: Vec<AllowFile>,
    #[serde(default)]
    deny: Vec<DenyFile>,
    #[serde(default)]
    capacity_delegation: Option<CapacityFile>,
    #[serde(default)]
    payment_delegation: Option<PaymentFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateFile {
    count: u64,
    per: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    name: Option<String>,
    signers: Vec<String>,
    resources: Vec<String>,
    abilities: Vec<String>,
    max_lifetime: String,
    nodes: Vec<String>,
    #[serde(default)]
    formats: Option<Vec<String>>,
    #[serde(default)]
    max_price: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    signers: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    abilities: Option<Vec<String>>,
    #[serde(default)]
    nodes: Option<Vec<String>>,
    #[serde(default)]
    wildcard_only: bool,
    #[serde(default)]
    formats: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityFile {
    signers: Vec<String>,
    max_uses: u64,
    max_lifetime: String,
    #[serde(default)]
    token_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentFile {
    signers: Vec<String>,
    max_price: toml::Value,
    max_lifetime: String,
    scopes: Vec<String>,
    delegatees: Vec<String>,
}

// ---- the validated policy -------------------------------------------------------------------

/// A resource pattern: a prefix and a normalised id glob (`*` matches any run of characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePattern {
    prefix: ResourcePrefix,
    id: String,
}

impl ResourcePattern {
    fn parse(s: &str) -> Result<Self, String> {
        let (prefix, id) = s
            .split_once("://")
            .ok_or_else(|| format!("resource pattern {s:?} is not PREFIX://ID (e.g. lit-pkp://*)"))?;
        let prefix = signing::parse_prefix(prefix)?;
        if id.is_empty() {
            return Err(format!("resource pattern {s:?} has an empty id (use * for all)"));
        }
        let id = signing::normalize_id(prefix, id).map_err(|e| format!("resource pattern {s:?}: {e}"))?;
        Ok(Self { prefix, id })
    }

    fn all_stars(&self) -> bool {
        self.id.bytes().all(|b| b == b'*')
    }

    /// Allow semantics: the pattern covers everything the requested resource names.
    fn covers(&self, r: &RequestedResource) -> bool {
        if self.prefix != r.prefix {
            return false;
        }
        if r.id == "*" {
            return self.all_stars();
        }
        glob(&self.id, &r.id)
    }

    /// Deny semantics: the requested resource names something the pattern names. A requested
    /// wildcard names everything of its prefix.
    fn touches(&self, r: &RequestedResource) -> bool {
        self.prefix == r.prefix && (r.id == "*" || glob(&self.id, &r.id))
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.prefix.as_str(), self.id)
    }
}

/// `*`-only glob over bytes, iterative with backtracking to the last star.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Names a set: everything (`*`) or the listed names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NameSet {
    Any,
    Only(BTreeSet<String>),
}

impl NameSet {
    fn contains(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => s.contains(name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AbilitySet {
    Any,
    Only(BTreeSet<LitAbility>),
}

impl AbilitySet {
    fn contains(&self, a: LitAbility) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => s.contains(&a),
        }
    }
}

/// Node URLs compared as scheme, host (lowercase) and port (default filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
enum NodeSet {
    Any,
    Only(BTreeSet<String>),
}

/// The comparison form of a node URL: `scheme://host:port`, lowercase, default port explicit.
pub fn canonical_node(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
    let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}"))
}

/// A node in a policy file: a node URL, whose port may be left out (the scheme's default), in
/// its canonical form. (A URL to sign for must name its port: the node compares host:port.)
fn policy_node(n: &str) -> Option<String> {
    let canonical = canonical_node(n)?;
    let port = canonical.rsplit(':').next()?;
    let valid = signing::parse_node_url(n).is_ok() || signing::parse_node_url(&format!("{n}:{port}")).is_ok();
    valid.then_some(canonical)
}

impl NodeSet {
    fn contains(&self, url: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => canonical_node(url).is_some_and(|c| s.contains(&c)),
        }
    }
}

#[derive(Clone, Debug)]
struct AllowRule {
    name: String,
    signers: NameSet,
    resources: Vec<ResourcePattern>,
    abilities: AbilitySet,
    max_lifetime: Duration,
    nodes: NodeSet,
    formats: BTreeSet<Format>,
    max_price: Option<Price>,
}

#[derive(Clone, Debug)]
struct DenyRule {
    name: String,
    signers: Option<NameSet>,
    resources: Option<Vec<ResourcePattern>>,
    abilities: Option<AbilitySet>,
    nodes: Option<NodeSet>,
    wildcard_only: bool,
    formats: Option<BTreeSet<Format>>,
}

/// A session's message format, as the API and the policy file name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `v7`: Datil (JS SDK v7), no `maxPrice`.
    V7,
    /// `v8`: Naga (JS SDK v8), a signed `maxPrice` per node.
    V8,
}

impl Format {
    /// `v7` or `v8`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V7 => "v7",
            Self::V8 => "v8",
        }
    }

    /// Parses `v7` or `v8`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v7" => Some(Self::V7),
            "v8" => Some(Self::V8),
            _ => None,
        }
    }

    /// The library's message layout.
    pub const fn session_format(self) -> SessionFormat {
        match self {
            Self::V7 => SessionFormat::V1,
            Self::V8 => SessionFormat::V2,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client's capacity-delegation grant.
#[derive(Clone, Debug)]
pub struct CapacityGrant {
    signers: NameSet,
    /// The most uses a delegation may grant.
    pub max_uses: u64,
    /// The longest delegation.
    pub max_lifetime: Duration,
    token_ids: Option<Vec<String>>,
}

/// A client's payment-delegation grant.
#[derive(Clone, Debug)]
pub struct PaymentGrant {
    signers: NameSet,
    /// The highest `max_price` a delegation may carry.
    pub max_price: Price,
    /// The longest delegation.
    pub max_lifetime: Duration,
    scopes: BTreeSet<PaymentScope>,
    // Lowercase hex addresses without `0x`; `None` = any.
    delegatees: Option<BTreeSet<String>>,
}

#[derive(Clone, Debug)]
struct ClientPolicy {
    auth: BTreeSet<AuthMethod>,
    endpoints: BTreeSet<Endpoint>,
    rate: Option<Rate>,
    allow: Vec<AllowRule>,
    deny: Vec<DenyRule>,
    capacity: Option<CapacityGrant>,
    payment: Option<PaymentGrant>,
}

/// A validated policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    clients: BTreeMap<String, ClientPolicy>,
}

/// Everything wrong with a policy file (all errors, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {}", .0.join("; "))]
pub struct PolicyError(pub Vec<String>);

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

/// The node refuses sessions longer than this.
const NODE_MAX_LIFETIME: Duration = Duration::days(30);

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
            let at = |what: &str| format!("clients.{name:?}.{what}");
            if name.is_empty() || name == "unknown" || name.chars().any(|ch| ch.is_control()) {
                errs.push(format!("client name {name:?} is not allowed"));
            }
            let auth = match &c.auth {
                None => [AuthMethod::Bearer, AuthMethod::Mtls].into_iter().collect(),
                Some(list) => list
                    .iter()
                    .filter_map(|a| match a.as_str() {
                        "bearer" => Some(AuthMethod::Bearer),
                        "mtls" => Some(AuthMethod::Mtls),
                        other => {
                            errs.push(format!("{}: unknown method {other:?} (bearer, mtls)", at("auth")));
                            None
                        }
                    })
                    .collect(),
            };
            let endpoints = match &c.endpoints {
                None => [Endpoint::SessionSigs].into_iter().collect(),
                Some(list) => list
                    .iter()
                    .filter_map(|e| Endpoint::parse(e).map_err(|m| errs.push(format!("{}: {m}", at("endpoints")))).ok())
                    .collect(),
            };
            let rate = c.rate.as_ref().and_then(|r| match parse_duration(&r.per) {
                Ok(d) if d >= Duration::seconds(1) && r.count > 0 => {
                    Some(Rate { count: r.count, per_secs: d.whole_seconds() })
                }
                Ok(_) => {
                    errs.push(format!("{}: count must be > 0 and per at least 1s", at("rate")));
                    None
                }
                Err(e) => {
                    errs.push(format!("{}: {e}", at("rate")));
                    None
                }
            });
            let mut rule_names = BTreeSet::new();
            let mut allow = Vec::new();
            for (i, a) in c.allow.iter().enumerate() {
                let rule = a.name.clone().unwrap_or_else(|| format!("allow[{i}]"));
                let what = at(&format!("allow.{rule}"));
                if !rule_names.insert(rule.clone()) {
                    errs.push(format!("{what}: rule name used twice"));
                }
                let resources = patterns(&a.resources, &format!("{what}.resources"), &mut errs);
                let abilities = abilities(&a.abilities, &format!("{what}.abilities"), &mut errs);
                if let AbilitySet::Only(set) = &abilities {
                    for ab in set {
                        if !resources.iter().any(|p| p.prefix.accepts(*ab)) {
                            errs.push(format!("{what}: ability {ab} is not accepted by any of its resources"));
                        }
                    }
                }
                let rule_formats = match &a.formats {
                    None => [Format::V7].into(),
                    Some(list) => formats(list, &format!("{what}.formats"), &mut errs),
                };
                let max_price = a.max_price.as_ref().map(|v| price(v, &format!("{what}.max_price"), &mut errs));
                match (rule_formats.contains(&Format::V8), max_price.is_some()) {
                    (true, false) => errs.push(format!(
                        "{what}: grants format v8, so it needs max_price (the most one node's signed maxPrice may be)"
                    )),
                    (false, true) => {
                        errs.push(format!("{what}: max_price applies to format v8, which it does not grant"))
                    }
                    _ => {}
                }
                allow.push(AllowRule {
                    formats: rule_formats,
                    max_price,
                    signers: names(&a.signers, &format!("{what}.signers"), Some(signers), &mut errs),
                    resources,
                    abilities,
                    max_lifetime: lifetime(
                        &a.max_lifetime,
                        &format!("{what}.max_lifetime"),
                        NODE_MAX_LIFETIME,
                        &mut errs,
                    ),
                    nodes: nodes(&a.nodes, &format!("{what}.nodes"), &mut errs),
                    name: rule,
                });
            }
            let mut deny = Vec::new();
            for (i, d) in c.deny.iter().enumerate() {
                let rule = d.name.clone().unwrap_or_else(|| format!("deny[{i}]"));
                let what = at(&format!("deny.{rule}"));
                if !rule_names.insert(rule.clone()) {
                    errs.push(format!("{what}: rule name used twice"));
                }
                deny.push(DenyRule {
                    signers: d.signers.as_ref().map(|s| names(s, &format!("{what}.signers"), Some(signers), &mut errs)),
                    resources: d.resources.as_ref().map(|r| patterns(r, &format!("{what}.resources"), &mut errs)),
                    abilities: d.abilities.as_ref().map(|a| abilities(a, &format!("{what}.abilities"), &mut errs)),
                    nodes: d.nodes.as_ref().map(|n| nodes(n, &format!("{what}.nodes"), &mut errs)),
                    wildcard_only: d.wildcard_only,
                    formats: d.formats.as_ref().map(|f| formats(f, &format!("{what}.formats"), &mut errs)),
                    name: rule,
                });
            }
            let capacity = c.capacity_delegation.as_ref().map(|g| {
                let what = at("capacity_delegation");
                if let Some(ids) = &g.token_ids {
                    for id in ids {
                        if id != "*" && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit())) {
                            errs.push(format!("{what}.token_ids: {id:?} is not a decimal token id or *"));
                        }
                    }
                }
                CapacityGrant {
                    signers: names(&g.signers, &format!("{what}.signers"), Some(signers), &mut errs),
                    max_uses: g.max_uses,
                    max_lifetime: lifetime(
                        &g.max_lifetime,
                        &format!("{what}.max_lifetime"),
                        Duration::days(365),
                        &mut errs,
                    ),
                    token_ids: g.token_ids.clone(),
                }
            });
            let payment = c.payment_delegation.as_ref().map(|g| {
                let what = at("payment_delegation");
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
                    Some(
                        g.delegatees
                            .iter()
                            .filter_map(|d| {
                                signing::address_key(d).map_err(|e| errs.push(format!("{what}.delegatees: {e}"))).ok()
                            })
                            .collect(),
                    )
                };
                PaymentGrant {
                    signers: names(&g.signers, &format!("{what}.signers"), Some(signers), &mut errs),
                    max_price: price(&g.max_price, &format!("{what}.max_price"), &mut errs),
                    max_lifetime: lifetime(
                        &g.max_lifetime,
                        &format!("{what}.max_lifetime"),
                        Duration::days(365),
                        &mut errs,
                    ),
                    scopes,
                    delegatees,
                }
            });
            clients.insert(name, ClientPolicy { auth, endpoints, rate, allow, deny, capacity, payment });
        }
        if errs.is_empty() {
            Ok(Self { clients })
        } else {
            Err(PolicyError(errs))
        }
    }

    /// Configured client names (for bounded metric labels).
    pub fn client_names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    /// Whether `client` is configured.
    pub fn knows(&self, client: &str) -> bool {
        self.clients.contains_key(client)
    }

    /// Number of allow and deny rules of `client`.
    pub fn rule_count(&self, client: &str) -> usize {
        self.clients.get(client).map_or(0, |c| c.allow.len() + c.deny.len())
    }

    /// Every rule name of every client (bounded label values).
    pub fn rule_names(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> =
            ["implicit-deny", "endpoints", "auth-method", "rate-limit", "capacity-delegation", "payment-delegation"]
                .map(String::from)
                .into();
        for c in self.clients.values() {
            out.extend(c.allow.iter().map(|r| r.name.clone()));
            out.extend(c.deny.iter().map(|r| r.name.clone()));
        }
        out
    }

    /// The longest rate-limit window of any client (seconds; 0 without limits): windows that
    /// started longer ago than this have ended.
    pub fn longest_rate_window(&self) -> i64 {
        self.clients.values().filter_map(|c| c.rate).map(|r| r.per_secs).max().unwrap_or(0)
    }

    /// The client's rate limit.
    pub fn rate(&self, client: &str) -> Option<Rate> {
        self.clients.get(client).and_then(|c| c.rate)
    }

    /// Checks that `client` exists, may use `method` and may call `endpoint`.
    pub fn check_access(&self, client: &str, method: AuthMethod, endpoint: Endpoint) -> Result<(), Decision> {
        let Some(c) = self.clients.get(client) else {
            return Err(Decision::denied("implicit-deny", format!("no policy for client {client:?}")));
        };
        if !c.auth.contains(&method) {
            return Err(Decision::denied(
                "auth-method",
                format!("client {client:?} may not authenticate with {}", method.as_str()),
            ));
        }
        if !c.endpoints.contains(&endpoint) {
            return Err(Decision::denied("endpoints", format!("client {client:?} may not call {endpoint}")));
        }
        Ok(())
    }

    /// The signer profiles a client's allow rules name (`None` = all).
    pub fn visible_signers(&self, client: &str) -> Option<BTreeSet<String>> {
        let c = self.clients.get(client)?;
        let mut out = BTreeSet::new();
        for r in &c.allow {
            match &r.signers {
                NameSet::Any => return None,
                NameSet::Only(s) => out.extend(s.iter().cloned()),
            }
        }
        Some(out)
    }

    /// Evaluates a session-sigs request (after [`Self::check_access`]).
    pub fn evaluate(&self, q: &SigsQuery<'_>) -> Decision {
        let Some(c) = self.clients.get(q.client) else {
            return Decision::denied("implicit-deny", format!("no policy for client {:?}", q.client));
        };
        for d in &c.deny {
            if let Some(reason) = deny_matches(d, q) {
                return Decision::denied(&d.name, reason);
            }
        }
        let mut reasons = Vec::new();
        for a in &c.allow {
            match allow_covers(a, q) {
                Ok(()) => return approve(a, q),
                Err(why) => reasons.push(format!("{}: {why}", a.name)),
            }
        }
        if reasons.is_empty() {
            reasons.push(format!("client {:?} has no allow rule", q.client));
        }
        Decision {
            result: Verdict::Denied,
            rule: "implicit-deny".into(),
            reasons,
            expiration: None,
            clamped: None,
            latest: None,
        }
    }

    /// Checks a capacity delegation against the client's grant; returns the clamped expiration.
    pub fn evaluate_capacity(&self, q: &CapacityQuery<'_>) -> Decision {
        let Some(g) = self.clients.get(q.client).and_then(|c| c.capacity.as_ref()) else {
            return Decision::denied(
                "capacity-delegation",
                format!("client {:?} has no capacity_delegation grant", q.client),
            );
        };
        let deny = |r: String| Decision::denied("capacity-delegation", r);
        if !g.signers.contains(q.signer) {
            return deny(format!("signer {:?} is not granted", q.signer));
        }
        match q.uses {
            None => return deny(format!("uses must be given (at most {})", g.max_uses)),
            Some(u) if u > g.max_uses => return deny(format!("uses {u} is over the grant's {}", g.max_uses)),
            _ => {}
        }
        if let Some(ids) = &g.token_ids {
            let ok = match q.token_id {
                None => ids.iter().any(|i| i == "*"),
                Some(t) => ids.iter().any(|i| i == "*" || i == t),
            };
            if !ok {
                return deny(format!("token id {} is not granted", q.token_id.unwrap_or("*")));
            }
        }
        let max = q.now.saturating_add(g.max_lifetime);
        let requested = q.expiration.unwrap_or(max);
        let (expiration, clamped) = if requested > max {
            (max, Some(Clamp { requested, max_lifetime_secs: g.max_lifetime.whole_seconds() }))
        } else {
            (requested, None)
        };
        Decision {
            result: Verdict::Approved,
            rule: "capacity-delegation".into(),
            reasons: Vec::new(),
            expiration: Some(expiration),
            clamped,
            latest: Some(max),
        }
    }
}

impl Policy {
    /// Checks a payment delegation against the client's grant; returns the clamped expiration
    /// (default: the SDK's 7 days, cut to the grant's `max_lifetime`).
    pub fn evaluate_payment(&self, q: &PaymentQuery<'_>) -> Decision {
        let Some(g) = self.clients.get(q.client).and_then(|c| c.payment.as_ref()) else {
            return Decision::denied(
                "payment-delegation",
                format!("client {:?} has no payment_delegation grant", q.client),
            );
        };
        let deny = |r: String| Decision::denied("payment-delegation", r);
        if !g.signers.contains(q.signer) {
            return deny(format!("signer {:?} is not granted", q.signer));
        }
        if q.max_price > g.max_price {
            return deny(format!("maxPrice {} is over the grant's max_price {}", q.max_price, g.max_price));
        }
        if let Some(s) = q.scopes.iter().find(|s| !g.scopes.contains(s)) {
            return deny(format!("scope {s} is not granted"));
        }
        if let Some(allowed) = &g.delegatees {
            if let Some(d) = q.delegatees.iter().find(|d| !allowed.contains(*d)) {
                return deny(format!("delegatee 0x{d} is not granted"));
            }
        }
        let max = q.now.saturating_add(g.max_lifetime);
        let requested = q.expiration.unwrap_or_else(|| q.now.saturating_add(PAYMENT_DEFAULT_LIFETIME));
        let (expiration, clamped) = match q.expiration {
            Some(r) if r > max => {
                (max, Some(Clamp { requested: r, max_lifetime_secs: g.max_lifetime.whole_seconds() }))
            }
            _ => (requested.min(max), None),
        };
        Decision {
            result: Verdict::Approved,
            rule: "payment-delegation".into(),
            reasons: Vec::new(),
            expiration: Some(expiration),
            clamped,
            latest: Some(max),
        }
    }
}

/// The v8 SDK's default payment-delegation lifetime (its SIWE default).
const PAYMENT_DEFAULT_LIFETIME: Duration = Duration::days(7);

fn deny_matches(d: &DenyRule, q: &SigsQuery<'_>) -> Option<String> {
    if let Some(f) = &d.formats {
        if !f.contains(&q.format) {
            return None;
        }
    }
    if let Some(s) = &d.signers {
        if !s.contains(q.signer) {
            return None;
        }
    }
    if let Some(n) = &d.nodes {
        if !q.nodes.iter().any(|u| n.contains(u)) {
            return None;
        }
    }
    q.requests.iter().find_map(|r| {
        let resource_hit = d.resources.as_ref().is_none_or(|ps| ps.iter().any(|p| p.touches(r)));
        let ability_hit = d.abilities.as_ref().is_none_or(|a| a.contains(r.ability));
        let wildcard_hit = !d.wildcard_only || r.id == "*";
        (resource_hit && ability_hit && wildcard_hit).then(|| format!("{} is denied", r.display))
    })
}

fn allow_covers(a: &AllowRule, q: &SigsQuery<'_>) -> Result<(), String> {
    if !a.signers.contains(q.signer) {
        return Err(format!("signer {:?} is not granted", q.signer));
    }
    if !a.formats.contains(&q.format) {
        return Err(format!("format {} is not granted", q.format));
    }
    if let Some(n) = q.nodes.iter().find(|u| !a.nodes.contains(u)) {
        return Err(format!("node {n} is not allowed"));
    }
    if let Some(max) = a.max_price {
        if let Some((node, p)) = q.max_prices.iter().find(|(_, p)| *p > max) {
            return Err(format!(
                "node {node} would sign maxPrice {p}, above max_price {max} (send a lower userMaxPrice)"
            ));
        }
    }
    for r in q.requests {
        if !a.abilities.contains(r.ability) {
            return Err(format!("ability {} is not granted", r.ability));
        }
        if !a.resources.iter().any(|p| p.covers(r)) {
            return Err(format!("resource {} is not covered", r.display));
        }
    }
    Ok(())
}

fn approve(a: &AllowRule, q: &SigsQuery<'_>) -> Decision {
    let max = q.now.saturating_add(a.max_lifetime);
    let Some(requested) = q.expiration else {
        // No expiration asked for: the format's default (v8: 15 minutes) or the longest the
        // rule allows (v7), within the rule either way; a default is not a clamp.
        let expiration = q.default_lifetime.map_or(max, |d| q.now.saturating_add(d).min(max));
        return Decision {
            result: Verdict::Approved,
            rule: a.name.clone(),
            reasons: Vec::new(),
            expiration: Some(expiration),
            clamped: None,
            latest: Some(max),
        };
    };
    let (expiration, clamped, reasons) = if requested > max {
        let reason = format!(
            "expiration {requested} clamped to {max} (max_lifetime {}s of rule {})",
            a.max_lifetime.whole_seconds(),
            a.name
        );
        (max, Some(Clamp { requested, max_lifetime_secs: a.max_lifetime.whole_seconds() }), vec![reason])
    } else {
        (requested, None, Vec::new())
    };
    Decision {
        result: Verdict::Approved,
        rule: a.name.clone(),
        reasons,
        expiration: Some(expiration),
        clamped,
        latest: Some(max),
    }
}

/// One requested resource, normalised for comparison.
#[derive(Clone, Debug)]
pub struct RequestedResource {
    /// The prefix.
    pub prefix: ResourcePrefix,
    /// The normalised id (or `*`).
    pub id: String,
    /// The ability.
    pub ability: LitAbility,
    /// `PREFIX://ID=ABILITY`, for reasons and audit rows.
    pub display: String,
}

/// A session-sigs request as the policy sees it.
#[derive(Clone, Debug)]
pub struct SigsQuery<'a> {
    /// The client.
    pub client: &'a str,
    /// The signer profile asked for.
    pub signer: &'a str,
    /// The requests, normalised.
    pub requests: &'a [RequestedResource],
    /// The node URLs as given; for v8 only the nodes the pricing chose (the ones signed for).
    pub nodes: &'a [String],
    /// The requested expiration (`None`: [`Self::default_lifetime`], else the longest the
    /// rule allows).
    pub expiration: Option<Timestamp>,
    /// The format's default lifetime (v8: 15 minutes), used without an expiration.
    pub default_lifetime: Option<Duration>,
    /// The message format.
    pub format: Format,
    /// v8: each chosen node (as given) and the `maxPrice` it would sign.
    pub max_prices: &'a [(String, Price)],
    /// The clock.
    pub now: Timestamp,
}

/// A payment-delegation request as the policy sees it.
#[derive(Clone, Debug)]
pub struct PaymentQuery<'a> {
    /// The client.
    pub client: &'a str,
    /// The signer profile (whose wallet pays).
    pub signer: &'a str,
    /// The delegation's `max_price`.
    pub max_price: Price,
    /// The scopes asked for.
    pub scopes: &'a [PaymentScope],
    /// The delegatees, lowercase hex without `0x`.
    pub delegatees: &'a [String],
    /// Requested expiration (`None`: the SDK's 7 days).
    pub expiration: Option<Timestamp>,
    /// The clock.
    pub now: Timestamp,
}

/// A capacity-delegation request as the policy sees it.
#[derive(Clone, Debug)]
pub struct CapacityQuery<'a> {
    /// The client.
    pub client: &'a str,
    /// The signer profile.
    pub signer: &'a str,
    /// Uses asked for.
    pub uses: Option<u64>,
    /// Token id asked for (`None` = all).
    pub token_id: Option<&'a str>,
    /// Requested expiration.
    pub expiration: Option<Timestamp>,
    /// The clock.
    pub now: Timestamp,
}

/// Approved or denied (failures are decided later, by what happens when signing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Approved,
    /// Refused.
    Denied,
}

impl Verdict {
    /// `approved` or `denied`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }
}

/// How an expiration was clamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamp {
    /// What was asked for.
    pub requested: Timestamp,
    /// The rule's maximum lifetime.
    pub max_lifetime_secs: i64,
}

/// A policy decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Approved or denied.
    pub result: Verdict,
    /// The deciding rule (`implicit-deny`, `endpoints`, a rule name, …).
    pub rule: String,
    /// Why (safe to show to the caller).
    pub reasons: Vec<String>,
    /// The expiration to use, when approved.
    pub expiration: Option<Timestamp>,
    /// Set when the expiration was clamped.
    pub clamped: Option<Clamp>,
    /// When approved: the latest expiration the deciding rule allows.
    pub latest: Option<Timestamp>,
}

impl From<Exceeded> for Decision {
    fn from(e: Exceeded) -> Self {
        Self::denied(ratelimit::RULE, e.reason)
    }
}

impl Decision {
    /// A denial by `rule`.
    pub fn denied(rule: &str, reason: String) -> Self {
        Self {
            result: Verdict::Denied,
            rule: rule.to_string(),
            reasons: vec![reason],
            expiration: None,
            clamped: None,
            latest: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_cases() {
        for (p, t, m) in [
            ("*", "abc", true),
            ("*", "*", true),
            ("Qm*", "QmXYZ", true),
            ("Qm*", "Qx", false),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*c", "c", true),
            ("a**", "a", true),
            ("abc", "abc", true),
            ("abc", "abcd", false),
        ] {
            assert_eq!(glob(p, t), m, "{p} {t}");
        }
    }

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

    #[test]
    fn payment_grants_are_validated_and_evaluated() {
        let signers: BTreeSet<String> = ["default".to_string()].into();
        let grant = |body: &str| format!("[clients.a]\n[clients.a.payment_delegation]\n{body}");
        let good = "signers = [\"default\"]\nmax_price = \"1000\"\nmax_lifetime = \"1d\"\nscopes = [\"pkp_sign\"]\n\
                    delegatees = [\"0x5D467fe98ff120fe0C85F2217bC61732571b28EC\"]";
        let policy = Policy::parse(&grant(good), &signers).unwrap();
        for (bad, needle) in [
            (good.replace("[\"pkp_sign\"]", "[\"pay\"]"), "scope"),
            (good.replace("[\"pkp_sign\"]", "[]"), "empty list"),
            (good.replace("0x5D467fe98ff120fe0C85F2217bC61732571b28EC", "bob"), "not an Ethereum address"),
            (
                good.replace(
                    "0x5D467fe98ff120fe0C85F2217bC61732571b28EC",
                    "0x5d467FE98ff120fe0C85F2217bC61732571b28EC",
                ),
                "EIP-55",
            ),
            (good.replace("\"1000\"", "\"-1\""), "negative"),
            (good.replace("\"1d\"", "\"400d\""), "longer than"),
            (good.replace("scopes", "scope"), "unknown field"),
        ] {
            let err = Policy::parse(&grant(&bad), &signers).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let user = "5d467fe98ff120fe0c85f2217bc61732571b28ec".to_string();
        let q = PaymentQuery {
            client: "a",
            signer: "default",
            max_price: Price::from(1000u64),
            scopes: &[PaymentScope::PkpSign],
            delegatees: std::slice::from_ref(&user),
            expiration: None,
            now,
        };
        // The SDK's 7 days, cut to the grant's day without being called a clamp.
        let d = policy.evaluate_payment(&q);
        assert_eq!(
            (d.result, d.expiration, d.clamped),
            (Verdict::Approved, Some(now.saturating_add(Duration::days(1))), None)
        );
        let later = now.saturating_add(Duration::days(3));
        let d = policy.evaluate_payment(&PaymentQuery { expiration: Some(later), ..q.clone() });
        assert_eq!(d.clamped.map(|c| c.requested), Some(later));
        for denied in [
            PaymentQuery { max_price: Price::from(1001u64), ..q.clone() },
            PaymentQuery { scopes: &[PaymentScope::LitAction], ..q.clone() },
            PaymentQuery { delegatees: &[], signer: "other", ..q.clone() },
            PaymentQuery { client: "b", ..q.clone() },
        ] {
            assert_eq!(policy.evaluate_payment(&denied).result, Verdict::Denied, "{denied:?}");
        }
        let other = PaymentQuery { delegatees: &["00".repeat(20)], ..q.clone() };
        assert_eq!(policy.evaluate_payment(&other).result, Verdict::Denied);
    }
}
