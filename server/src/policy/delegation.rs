//! The delegation grants: a capacity delegation (Datil's credits) or a payment delegation
//! (Naga's), each checked against the client's one grant of its kind, its expiration clamped
//! to the grant's `max_lifetime`.

use std::collections::BTreeSet;

use time::Duration;

use super::matchers::NameSet;
use super::{clamp, DecidedBy, Decision, Policy};
use crate::signing::{PaymentScope, Price, Timestamp};

/// The v8 SDK's default payment-delegation lifetime (its SIWE default).
const PAYMENT_DEFAULT_LIFETIME: Duration = Duration::days(7);

/// A client's capacity-delegation grant.
#[derive(Clone, Debug)]
pub struct CapacityGrant {
    pub(super) signers: NameSet,
    /// The most uses a delegation may grant.
    pub max_uses: u64,
    /// The longest delegation.
    pub max_lifetime: Duration,
    pub(super) token_ids: Option<Vec<String>>,
}

/// A client's payment-delegation grant.
#[derive(Clone, Debug)]
pub struct PaymentGrant {
    pub(super) signers: NameSet,
    /// The highest `max_price` a delegation may carry.
    pub max_price: Price,
    /// The longest delegation.
    pub max_lifetime: Duration,
    pub(super) scopes: BTreeSet<PaymentScope>,
    // Lowercase hex addresses without `0x`; `None` = any.
    pub(super) delegatees: Option<BTreeSet<String>>,
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

impl Policy {
    /// Checks a capacity delegation against the client's grant; returns the clamped expiration.
    pub fn evaluate_capacity(&self, q: &CapacityQuery<'_>) -> Decision {
        let Some(g) = self.clients.get(q.client).and_then(|c| c.capacity.as_ref()) else {
            return Decision::denied(
                DecidedBy::CapacityDelegation,
                format!("client {:?} has no capacity_delegation grant", q.client),
            );
        };
        let deny = |r: String| Decision::denied(DecidedBy::CapacityDelegation, r);
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
        let (expiration, clamped, latest) = clamp(q.now, g.max_lifetime, q.expiration, None);
        Decision::approved(DecidedBy::CapacityDelegation, Vec::new(), expiration, clamped, latest)
    }

    /// Checks a payment delegation against the client's grant; returns the clamped expiration
    /// (default: the SDK's 7 days, cut to the grant's `max_lifetime` without being called a
    /// clamp).
    pub fn evaluate_payment(&self, q: &PaymentQuery<'_>) -> Decision {
        let Some(g) = self.clients.get(q.client).and_then(|c| c.payment.as_ref()) else {
            return Decision::denied(
                DecidedBy::PaymentDelegation,
                format!("client {:?} has no payment_delegation grant", q.client),
            );
        };
        let deny = |r: String| Decision::denied(DecidedBy::PaymentDelegation, r);
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
        let (expiration, clamped, latest) = clamp(q.now, g.max_lifetime, q.expiration, Some(PAYMENT_DEFAULT_LIFETIME));
        Decision::approved(DecidedBy::PaymentDelegation, Vec::new(), expiration, clamped, latest)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::policy::Verdict;

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
