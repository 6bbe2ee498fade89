//! The node's `validate_session_sig` rules 2–6 (everything after the ed25519 check), then the
//! strict policy's extra rules.

use std::sync::Arc;

use time::Duration;

use super::cache::CapabilityCache;
use super::capability::{CapabilityKind, CheckedCapability, Passed};
use super::error::{CapabilityError, VerifyError};
use super::{Verified, VerifyPolicy};
use crate::eth::EthAddress;
use crate::protocol::{normalize_node_address, CapabilityAuthSig, NodeUrl, SignedMessage};
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::SessionSig;
use crate::Timestamp;

/// The node's clock skew allowance on issuedAt and grace on expiration.
const SKEW: Duration = Duration::seconds(60);
/// The node's maximum session lifetime.
pub const NODE_MAX_LIFETIME: Duration = Duration::days(30);

fn check_capability(
    cache: Option<&CapabilityCache>,
    cap: &CapabilityAuthSig<'_>,
    now: Timestamp,
    policy: &VerifyPolicy,
) -> Arc<CheckedCapability> {
    match cache {
        Some(c) => c.get_or_check(cap, now, &policy.network_keys),
        None => Arc::new(CheckedCapability::check(cap, &policy.network_keys)),
    }
}

fn timestamp(field: &'static str, value: &str) -> Result<Timestamp, VerifyError> {
    value.parse().map_err(|_| VerifyError::Timestamp { field, value: value.to_string() })
}

/// Rules 2–6 and the strict rules, for a session sig whose ed25519 signature already verified.
pub(crate) fn check_message(
    session_sig: &SessionSig,
    node: &NodeUrl,
    request: &ResourceAbilityRequest,
    now: Timestamp,
    policy: &VerifyPolicy,
    cache: Option<&CapabilityCache>,
) -> Result<Verified, VerifyError> {
    // 2. Parse, as the policy's node generation does.
    let msg = SignedMessage::parse_as(policy.generation.format(), &session_sig.signed_message)
        .map_err(|e| VerifyError::SignedMessage(e.to_string()))?;

    // 3. A request for the same prefix and `*` or the same id (the ability is not looked at).
    let resource = request.resource();
    let prefix = resource.prefix().as_str();
    let requested = msg.resource_ability_requests.iter().any(|r| {
        r.resource.resource_prefix == prefix && (r.resource.resource == "*" || r.resource.resource == resource.id())
    });
    if !requested {
        return Err(VerifyError::ResourceNotRequested { requested: resource.key() });
    }

    // 4. Time.
    let issued_at = timestamp("issuedAt", &msg.issued_at)?;
    let expiration = timestamp("expiration", &msg.expiration)?;
    if issued_at > now.saturating_add(SKEW) {
        return Err(VerifyError::IssuedInFuture { issued_at, now });
    }
    if expiration < issued_at {
        return Err(VerifyError::ExpirationBeforeIssuedAt { issued_at, expiration });
    }
    if expiration < now.saturating_sub(SKEW) {
        return Err(VerifyError::Expired { expiration, now });
    }
    let lifetime = expiration.as_datetime() - issued_at.as_datetime();
    if lifetime > NODE_MAX_LIFETIME {
        return Err(VerifyError::LifetimeTooLong {
            lifetime_secs: lifetime.whole_seconds(),
            max_secs: NODE_MAX_LIFETIME.whole_seconds(),
        });
    }

    // 5. Node address.
    let signed = normalize_node_address(&msg.node_address);
    let expected = normalize_node_address(node.as_str());
    if signed != expected {
        return Err(VerifyError::NodeAddressMismatch { signed, expected });
    }

    // 6. The first capability that passes wins.
    if msg.capabilities.is_empty() {
        return Err(VerifyError::NoCapabilities);
    }
    let address = session_sig.address.as_str();
    let mut checked = Vec::with_capacity(msg.capabilities.len());
    let mut winner = None;
    let mut bls_candidate = None;
    // The failure to report if none passes: prefer the last capability bound to this session key
    // (the session AuthSig), else the last one.
    let mut failure: Option<(bool, usize, CapabilityError)> = None;
    for (index, cap) in msg.capabilities.iter().enumerate() {
        let c = check_capability(cache, cap, now, policy);
        match c.authorises(address, resource, request.ability(), now) {
            Ok(Passed::Valid) => {
                winner = Some(index);
                checked.push(c);
                break;
            }
            Ok(Passed::NeedsNetworkKey) => {
                bls_candidate.get_or_insert(index);
            }
            Err(error) => {
                let bound = c.bound_to(address);
                if failure.as_ref().map_or(true, |(b, _, _)| bound || !*b) {
                    failure = Some((bound, index, error));
                }
            }
        }
        checked.push(c);
    }
    let Some(winner) = winner else {
        if let Some(index) = bls_candidate {
            let address = msg.capabilities.get(index).map(|c| c.address.to_string()).unwrap_or_default();
            return Err(VerifyError::NeedsNetworkKey { index, address });
        }
        return Err(match failure {
            Some((_, index, error)) => VerifyError::Capability { index, error },
            None => VerifyError::NoCapabilities,
        });
    };
    let (Some(win), Some(win_cap)) = (checked.get(winner), msg.capabilities.get(winner)) else {
        return Err(VerifyError::NoCapabilities);
    };
    let siwe_address = match &win.siwe {
        Ok(s) => s.address,
        Err(e) => return Err(VerifyError::Capability { index: winner, error: e.clone() }),
    };
    let verified = Verified {
        capability_index: winner,
        user_address: win_cap.address.to_string(),
        siwe_address,
        issued_at,
        expiration,
    };
    if policy.strict {
        check_strict(&msg, session_sig, lifetime, now, policy, cache, &checked)?;
    }
    Ok(verified)
}

fn same_key(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.strip_prefix("0x").unwrap_or(s).to_ascii_lowercase();
    strip(a) == strip(b)
}

fn parse_address(s: &str) -> Option<EthAddress> {
    // Case-insensitive: the node parses addresses without looking at the checksum.
    s.to_ascii_lowercase().parse().ok()
}

fn check_strict(
    msg: &SignedMessage<'_>,
    session_sig: &SessionSig,
    lifetime: Duration,
    now: Timestamp,
    policy: &VerifyPolicy,
    cache: Option<&CapabilityCache>,
    already: &[Arc<CheckedCapability>],
) -> Result<(), VerifyError> {
    if !same_key(&msg.session_key, &session_sig.address) {
        return Err(VerifyError::SessionKeyMismatch {
            session_key: msg.session_key.to_string(),
            address: session_sig.address.clone(),
        });
    }
    if lifetime > policy.max_lifetime {
        return Err(VerifyError::LifetimeTooLong {
            lifetime_secs: lifetime.whole_seconds(),
            max_secs: policy.max_lifetime.whole_seconds(),
        });
    }
    for (index, cap) in msg.capabilities.iter().enumerate() {
        let c = match already.get(index) {
            Some(c) => Arc::clone(c),
            None => check_capability(cache, cap, now, policy),
        };
        match c.valid_at(now) {
            Ok(Passed::Valid) => {}
            Ok(Passed::NeedsNetworkKey) => {
                return Err(VerifyError::NeedsNetworkKey { index, address: cap.address.to_string() })
            }
            Err(error) => return Err(VerifyError::InvalidCapability { index, error }),
        }
        let Ok(siwe) = &c.siwe else { continue };
        if c.kind == CapabilityKind::NetworkBls {
            siwe.check_sdk_bls_time(now).map_err(|error| VerifyError::InvalidCapability { index, error })?;
        }
        if parse_address(&cap.address) != Some(siwe.address) {
            return Err(VerifyError::AddressMismatch {
                index,
                field: cap.address.to_string(),
                siwe: siwe.address.to_checksum(),
            });
        }
        if !policy.allowed_domains.is_empty() && !policy.allowed_domains.contains(&siwe.domain) {
            return Err(VerifyError::DomainNotAllowed { index, domain: siwe.domain.clone() });
        }
    }
    Ok(())
}
