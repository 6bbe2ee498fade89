//! A session-sigs request against a client's rules: any matching `deny` rule denies; else the
//! first `allow` rule that covers every requested resource approves, with its expiration
//! clamped to the rule's `max_lifetime`; else nothing allowed it.

use std::collections::BTreeSet;

use time::Duration;

use super::matchers::{AbilitySet, NameSet, NodeSet, ResourcePattern};
use super::{clamp, DecidedBy, Decision, Policy};
use crate::signing::{Format, LitAbility, Price, ResourcePrefix, Timestamp};

/// An allow rule: it approves a request it covers in every respect.
#[derive(Clone, Debug)]
pub(super) struct AllowRule {
    pub(super) name: String,
    pub(super) signers: NameSet,
    pub(super) resources: Vec<ResourcePattern>,
    pub(super) abilities: AbilitySet,
    pub(super) max_lifetime: Duration,
    pub(super) nodes: NodeSet,
    pub(super) formats: BTreeSet<Format>,
    pub(super) max_price: Option<Price>,
}

/// A deny rule: it denies a request any requested resource of which it matches (each list it
/// sets narrows it).
#[derive(Clone, Debug)]
pub(super) struct DenyRule {
    pub(super) name: String,
    pub(super) signers: Option<NameSet>,
    pub(super) resources: Option<Vec<ResourcePattern>>,
    pub(super) abilities: Option<AbilitySet>,
    pub(super) nodes: Option<NodeSet>,
    pub(super) wildcard_only: bool,
    pub(super) formats: Option<BTreeSet<Format>>,
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

impl Policy {
    /// Evaluates a session-sigs request (after [`Policy::check_access`]).
    pub fn evaluate(&self, q: &SigsQuery<'_>) -> Decision {
        let Some(c) = self.clients.get(q.client) else {
            return Decision::denied(DecidedBy::ImplicitDeny, format!("no policy for client {:?}", q.client));
        };
        for d in &c.deny {
            if let Some(reason) = deny_matches(d, q) {
                return Decision::denied(DecidedBy::Rule(d.name.clone()), reason);
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
        Decision { reasons, ..Decision::denied(DecidedBy::ImplicitDeny, String::new()) }
    }
}

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

/// The approval of `a`: without an expiration asked for, the format's default (v8: 15 minutes)
/// or the longest the rule allows (v7), within the rule either way (a default is not a clamp).
fn approve(a: &AllowRule, q: &SigsQuery<'_>) -> Decision {
    let (expiration, clamped, latest) = clamp(q.now, a.max_lifetime, q.expiration, q.default_lifetime);
    let reasons = match clamped {
        Some(c) => vec![format!(
            "expiration {} clamped to {latest} (max_lifetime {}s of rule {})",
            c.requested, c.max_lifetime_secs, a.name
        )],
        None => Vec::new(),
    };
    Decision::approved(DecidedBy::Rule(a.name.clone()), reasons, expiration, clamped, latest)
}
