//! The policy: which client may ask for what.
//!
//! One TOML file, validated as a whole when loaded (a file with any error is refused, and the
//! policy in force stays). Per client: how it may authenticate, which endpoints it may call, a
//! rate limit, `allow` rules, `deny` rules and optional capacity- and payment-delegation grants.
//!
//! The module, by concern: [`file`] (the TOML as written), [`compile`] (the file checked as a
//! whole into rules), [`matchers`] (patterns, names, abilities, nodes), [`sigs`] (a session-sigs
//! request against the rules), [`delegation`] (the capacity and payment grants).
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

mod compile;
mod delegation;
mod file;
mod matchers;
mod sigs;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use std::collections::{BTreeMap, BTreeSet};

use time::Duration;

use crate::auth::AuthMethod;
use crate::endpoint::Endpoint;
use crate::ratelimit::{self, Exceeded, Rate};
use crate::signing::Timestamp;

pub use crate::signing::Format;
pub use delegation::{CapacityGrant, CapacityQuery, PaymentGrant, PaymentQuery};
use matchers::NameSet;
pub use matchers::{canonical_node, ResourcePattern};
pub use sigs::{RequestedResource, SigsQuery};

/// What one client may do.
#[derive(Clone, Debug)]
struct ClientPolicy {
    auth: BTreeSet<AuthMethod>,
    endpoints: BTreeSet<Endpoint>,
    rate: Option<Rate>,
    allow: Vec<sigs::AllowRule>,
    deny: Vec<sigs::DenyRule>,
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

impl Policy {
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

    /// Every rule name of every client, and the names of what else decides (bounded label
    /// values).
    pub fn rule_names(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = DecidedBy::FIXED.iter().map(|d| d.name().to_string()).collect();
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
            return Err(Decision::denied(DecidedBy::ImplicitDeny, format!("no policy for client {client:?}")));
        };
        if !c.auth.contains(&method) {
            return Err(Decision::denied(
                DecidedBy::AuthMethod,
                format!("client {client:?} may not authenticate with {}", method.as_str()),
            ));
        }
        if !c.endpoints.contains(&endpoint) {
            return Err(Decision::denied(DecidedBy::Endpoints, format!("client {client:?} may not call {endpoint}")));
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
}

/// What decided a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// One of the client's allow or deny rules, by name.
    Rule(String),
    /// Nothing allowed it: no policy for the client, or no allow rule covers the request.
    ImplicitDeny,
    /// The client may not authenticate the way it did.
    AuthMethod,
    /// The client's endpoint grants (for endpoints that need no more, all that decides).
    Endpoints,
    /// The client's rate limit.
    RateLimit,
    /// The client's capacity-delegation grant.
    CapacityDelegation,
    /// The client's payment-delegation grant.
    PaymentDelegation,
}

impl DecidedBy {
    /// Everything that decides but a rule.
    pub const FIXED: [DecidedBy; 6] = [
        Self::ImplicitDeny,
        Self::Endpoints,
        Self::AuthMethod,
        Self::RateLimit,
        Self::CapacityDelegation,
        Self::PaymentDelegation,
    ];

    /// The name in decisions, audit rows and metrics: the rule's own, or a fixed one.
    pub fn name(&self) -> &str {
        match self {
            Self::Rule(name) => name,
            Self::ImplicitDeny => "implicit-deny",
            Self::AuthMethod => "auth-method",
            Self::Endpoints => "endpoints",
            Self::RateLimit => ratelimit::RULE,
            Self::CapacityDelegation => "capacity-delegation",
            Self::PaymentDelegation => "payment-delegation",
        }
    }
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
    /// What decided.
    pub by: DecidedBy,
    /// Why (safe to show to the caller).
    pub reasons: Vec<String>,
    /// The expiration to use, when approved.
    pub expiration: Option<Timestamp>,
    /// Set when the expiration was clamped.
    pub clamped: Option<Clamp>,
    /// When approved: the latest expiration the deciding rule allows.
    pub latest: Option<Timestamp>,
    /// When denied by the rate limit: the seconds left in its window.
    pub retry_after: Option<u32>,
}

impl From<Exceeded> for Decision {
    fn from(e: Exceeded) -> Self {
        Self { retry_after: Some(e.retry_after), ..Self::denied(DecidedBy::RateLimit, e.reason) }
    }
}

impl Decision {
    /// A denial by `by`.
    pub fn denied(by: DecidedBy, reason: String) -> Self {
        Self {
            result: Verdict::Denied,
            by,
            reasons: vec![reason],
            expiration: None,
            clamped: None,
            latest: None,
            retry_after: None,
        }
    }

    /// An approval by `by`, until `expiration` (`clamped` if it was cut), within `latest`.
    fn approved(
        by: DecidedBy,
        reasons: Vec<String>,
        expiration: Timestamp,
        clamped: Option<Clamp>,
        latest: Timestamp,
    ) -> Self {
        Self {
            result: Verdict::Approved,
            by,
            reasons,
            expiration: Some(expiration),
            clamped,
            latest: Some(latest),
            retry_after: None,
        }
    }
}

/// An approval's expiration under a `max_lifetime` from `now`: the `requested` one, cut to the
/// maximum and reported as clamped when it lies beyond; without one, `default` from now (cut to
/// the maximum without being called a clamp: the client asked for nothing) or the maximum.
/// Returns the expiration, the clamp and the maximum.
fn clamp(
    now: Timestamp,
    max_lifetime: Duration,
    requested: Option<Timestamp>,
    default: Option<Duration>,
) -> (Timestamp, Option<Clamp>, Timestamp) {
    let latest = now.saturating_add(max_lifetime);
    match requested {
        Some(r) if r > latest => {
            (latest, Some(Clamp { requested: r, max_lifetime_secs: max_lifetime.whole_seconds() }), latest)
        }
        Some(r) => (r, None, latest),
        None => (default.map_or(latest, |d| now.saturating_add(d).min(latest)), None, latest),
    }
}
