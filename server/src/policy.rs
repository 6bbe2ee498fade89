//! The policy: which client may ask for what.
//!
//! One TOML file, validated as a whole when loaded (a file with any error is refused, and the
//! policy in force stays). Per client: how it may authenticate, which endpoints it may call, a
//! rate limit, `allow` rules, `deny` rules and an optional capacity-delegation grant.
//!
//! Evaluation of a session-sigs request:
//! 1. unknown client, auth method or endpoint → denied;
//! 2. any matching `deny` rule → denied (explicit deny beats allow);
//! 3. the first `allow` rule whose signers, nodes and resource patterns cover *every* requested
//!    (resource, ability) → approved, with the expiration clamped to its `max_lifetime`;
//! 4. otherwise → denied (implicit deny), with each allow rule's first mismatch as a reason.
//!
//! Resource ids are compared after the node's normalisation (PKP ids without `0x`, padded to 64
//! hex digits, lowercase), so `0xABC`, `abc` and `000…abc` are one resource. A requested
//! wildcard (`lit-pkp://*`) is matched by every deny pattern of its prefix (it covers them), and
//! only allow patterns made of `*` alone cover it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use time::Duration;

use crate::signing::{self, LitAbility, ResourcePrefix, Timestamp};

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `10m`, `24h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split =
        t.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("duration {s:?} has no unit (s, m, h, d)"))?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("duration {s:?}: expected a whole number before the unit"))?;
    let d = match unit {
        "ms" => Duration::milliseconds(n),
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(format!("duration {s:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    Ok(d)
}

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
    /// `/v1/admin/*` (policy reload).
    Admin,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 6] =
        [Self::SessionSigs, Self::Verify, Self::Keys, Self::PolicyEvaluate, Self::CapacityDelegation, Self::Admin];

    /// The name used in the policy file, metrics and audit rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionSigs => "session-sigs",
            Self::Verify => "verify",
            Self::Keys => "keys",
            Self::PolicyEvaluate => "policy-evaluate",
            Self::CapacityDelegation => "capacity-delegation",
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
}

#[derive(Clone, Debug)]
struct DenyRule {
    name: String,
    signers: Option<NameSet>,
    resources: Option<Vec<ResourcePattern>>,
    abilities: Option<AbilitySet>,
    nodes: Option<NodeSet>,
    wildcard_only: bool,
}

/// A client's rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per window.
    pub count: u64,
    /// The window, in seconds.
    pub per_secs: i64,
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

#[derive(Clone, Debug)]
struct ClientPolicy {
    auth: BTreeSet<AuthMethod>,
    endpoints: BTreeSet<Endpoint>,
    rate: Option<Rate>,
    allow: Vec<AllowRule>,
    deny: Vec<DenyRule>,
    capacity: Option<CapacityGrant>,
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
        match signing::parse_node_url(n).ok().and_then(|_| canonical_node(n)) {
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
                allow.push(AllowRule {
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
            clients.insert(name, ClientPolicy { auth, endpoints, rate, allow, deny, capacity });
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
            ["implicit-deny", "endpoints", "auth-method", "rate-limit", "capacity-delegation"].map(String::from).into();
        for c in self.clients.values() {
            out.extend(c.allow.iter().map(|r| r.name.clone()));
            out.extend(c.deny.iter().map(|r| r.name.clone()));
        }
        out
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
        Decision { result: Verdict::Denied, rule: "implicit-deny".into(), reasons, expiration: None, clamped: None }
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
        }
    }
}

fn deny_matches(d: &DenyRule, q: &SigsQuery<'_>) -> Option<String> {
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
    if let Some(n) = q.nodes.iter().find(|u| !a.nodes.contains(u)) {
        return Err(format!("node {n} is not allowed"));
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
    let requested = q.expiration.unwrap_or(max);
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
    Decision { result: Verdict::Approved, rule: a.name.clone(), reasons, expiration: Some(expiration), clamped }
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
    /// The node URLs as given.
    pub nodes: &'a [String],
    /// The requested expiration (`None`: the longest the rule allows).
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
}

impl Decision {
    /// A denial by `rule`.
    pub fn denied(rule: &str, reason: String) -> Self {
        Self { result: Verdict::Denied, rule: rule.to_string(), reasons: vec![reason], expiration: None, clamped: None }
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
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::minutes(10));
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("10y").is_err());
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
}
