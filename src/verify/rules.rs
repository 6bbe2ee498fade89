//! The node's rules, one function each, in the order the node applies them; each function's
//! documentation names the node code it models (paths under the node crate's `src/`, the same
//! in Datil's `LIT-Protocol/Node` v1.0.18 `rust/lit-node/` and Naga's `LIT-Protocol/lit-peer`
//! `rust/lit-node/lit-node/` unless a generation is named). Then the strict policy's rules,
//! which no node applies.
//!
//! The ed25519 check (`check_ed25519_auth_sig`) is [`super::ed25519::verify`], run before
//! [`check_message`] so that [`super::Verifier::verify_batch`] can batch it.

use std::sync::Arc;

use time::Duration;

use super::cache::CapabilityCache;
use super::capability::{CapabilityKind, CheckedCapability, Passed};
use super::error::{CapabilityError, VerifyError};
use super::node::hex::hex_to_bytes;
use super::node::time::NodeTime;
use super::{Generation, Route, Verified, VerifyPolicy};
use crate::eth::EthAddress;
use crate::protocol::{
    normalize_node_address, AuthMaterialType, CapabilityAuthSig, MessageError, NodeAuthSig, NodeUrl, Price,
    SignedMessage, SESSION_URI_PREFIX,
};
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::SessionSig;
use crate::Timestamp;

/// The node's clock skew allowance on issuedAt and grace on expiration, in whole seconds.
const SKEW_SECS: i64 = 60;
/// The node's maximum session lifetime (`siwe_db/utils.rs::MAX_TIMESTAMP_VALIDITY_DAYS`).
pub const NODE_MAX_LIFETIME: Duration = Duration::days(30);

/// Reads a session sig's JSON as the node reads the `authSig` of a request: Naga
/// `lit-node-core/src/models/auth_sig.rs::JsonAuthSigVisitor::visit_map`, Datil
/// `auth/auth_material.rs::JsonAuthSigVisitor::visit_map` ([`NodeAuthSig`]). (The request's
/// `AuthSigItem` is an untagged enum that falls back to `MultipleAuthSigs`; the paid and
/// rate-limited endpoints refuse that form, so a session sig the reader refuses is refused.)
pub fn read_session_sig(json: &str) -> Result<SessionSig, VerifyError> {
    serde_json::from_str::<NodeAuthSig<String>>(json).map(|n| n.0).map_err(|e| VerifyError::AuthSigJson(e.to_string()))
}

/// The dispatch on the AuthSig's kind: Naga
/// `auth/auth_material.rs::JsonAuthSigExtendedRef::validate_and_get_wallet_sig`, Datil
/// `auth/auth_material.rs::JsonAuthSig::validate_and_get_wallet_sig`, by
/// `determine_auth_material_type` ([`AuthMaterialType::of`]). Only `derivedVia`
/// `litSessionSignViaNacl` with `algo` `ed25519`, exactly, goes down the session path; anything
/// else is checked as a wallet, contract or network signature, which a session sig's JSON
/// `signedMessage` is not (and which this verifier does not model).
pub fn session_sig_type(sig: &SessionSig) -> Result<(), VerifyError> {
    match AuthMaterialType::of(&sig.derived_via, sig.algo.as_deref()) {
        AuthMaterialType::SessionSig => Ok(()),
        material => {
            Err(VerifyError::NotASessionSig { derived_via: sig.derived_via.clone(), algo: sig.algo.clone(), material })
        }
    }
}

/// Parses `signedMessage`: Naga `auth/session_sigs.rs::parse_signed_message`
/// (`SessionKeySignedMessageV2`, with `models/auth.rs::from_str_to_u256` for `maxPrice`), Datil
/// the same `serde_json::from_str` inline in `auth/session_sigs.rs::validate_session_sig`
/// (`SessionKeySignedMessage`, no `maxPrice`) ([`SignedMessage::parse_as`]).
pub fn parse_signed_message(sig: &SessionSig, generation: Generation) -> Result<SignedMessage<'_>, VerifyError> {
    SignedMessage::parse_as(generation.format(), &sig.signed_message).map_err(|e| match e {
        MessageError::Json(e) => VerifyError::SignedMessage(e.to_string()),
        MessageError::MaxPrice(e) => VerifyError::MaxPrice(e.to_string()),
    })
}

/// `auth/session_sigs.rs::validate_session_sig_resource_ability_requests`: some entry has the
/// requested prefix and `*` or the requested id, compared as strings; the ability is not looked
/// at.
pub fn resource_ability_requests(msg: &SignedMessage<'_>, request: &ResourceAbilityRequest) -> Result<(), VerifyError> {
    let resource = request.resource();
    let prefix = resource.prefix().as_str();
    let requested = msg.resource_ability_requests.iter().any(|r| {
        r.resource.resource_prefix == prefix && (r.resource.resource == "*" || r.resource.resource == resource.id())
    });
    if requested {
        Ok(())
    } else {
        Err(VerifyError::ResourceNotRequested { requested: resource.key() })
    }
}

/// `auth/session_sigs.rs::validate_session_sig_time_parameters`, with
/// `siwe_db/utils.rs::check_expiration_validity` at its end: both times read by chrono
/// ([`NodeTime::parse`]); `issuedAt`'s whole seconds at most now's + 60; `expiration` not before
/// `issuedAt` (full precision); `expiration`'s whole seconds at least now's − 60; `expiration` at
/// most `issuedAt` + 30 days (full precision).
pub fn time_parameters(msg: &SignedMessage<'_>, now: Timestamp) -> Result<(NodeTime, NodeTime), VerifyError> {
    let now_secs = NodeTime::from_timestamp(now).timestamp();
    let issued_at = NodeTime::parse(&msg.issued_at)
        .map_err(|_| VerifyError::Timestamp { field: "issuedAt", value: msg.issued_at.to_string() })?;
    if issued_at.timestamp() > now_secs.saturating_add(SKEW_SECS) {
        return Err(VerifyError::IssuedInFuture { issued_at: issued_at.to_timestamp(), now });
    }
    let expiration = NodeTime::parse(&msg.expiration)
        .map_err(|_| VerifyError::Timestamp { field: "expiration", value: msg.expiration.to_string() })?;
    if expiration < issued_at {
        return Err(VerifyError::ExpirationBeforeIssuedAt {
            issued_at: issued_at.to_timestamp(),
            expiration: expiration.to_timestamp(),
        });
    }
    if expiration.timestamp() < now_secs.saturating_sub(SKEW_SECS) {
        return Err(VerifyError::Expired { expiration: expiration.to_timestamp(), now });
    }
    if expiration > issued_at.plus_days(NODE_MAX_LIFETIME.whole_days()) {
        return Err(VerifyError::LifetimeTooLong {
            lifetime_secs: expiration.timestamp() - issued_at.timestamp(),
            max_secs: NODE_MAX_LIFETIME.whole_seconds(),
        });
    }
    Ok((issued_at, expiration))
}

/// The node-address check in `auth/session_sigs.rs::validate_session_sig`: the signed
/// `nodeAddress` through `prepare_domain_name` ([`normalize_node_address`]) must equal the node's
/// own `domain:port` ([`NodeUrl::node_address`]).
pub fn node_address(msg: &SignedMessage<'_>, node: &NodeUrl) -> Result<(), VerifyError> {
    let signed = normalize_node_address(&msg.node_address);
    let expected = node.node_address();
    if signed == expected {
        Ok(())
    } else {
        Err(VerifyError::NodeAddressMismatch { signed, expected })
    }
}

/// `auth/session_sigs.rs::validate_capabilities_array`: not empty, and the first capability
/// that passes `auth/validators/siwe.rs::SiweValidator::validate_auth_sig`
/// ([`CheckedCapability::authorises`]) wins. A `LIT_BLS` capability that passes all but its
/// BLS signature, with no network key to check that, is reported as
/// [`VerifyError::NeedsNetworkKey`] unless a later one passes outright.
pub fn capabilities(
    msg: &SignedMessage<'_>,
    session_address: &str,
    request: &ResourceAbilityRequest,
    now: Timestamp,
    policy: &VerifyPolicy,
    cache: Option<&CapabilityCache>,
) -> Result<(usize, Arc<CheckedCapability>), VerifyError> {
    if msg.capabilities.is_empty() {
        return Err(VerifyError::NoCapabilities);
    }
    let mut bls_candidate = None;
    // The failure to report if none passes: prefer the last capability bound to this session key
    // (the session AuthSig), else the last one.
    let mut failure: Option<(bool, usize, CapabilityError)> = None;
    for (index, cap) in msg.capabilities.iter().enumerate() {
        let c = check_capability(cache, cap, now, policy);
        match c.authorises(session_address, request.resource(), request.ability(), now) {
            Ok(Passed::Valid) => return Ok((index, c)),
            Ok(Passed::NeedsNetworkKey) => {
                bls_candidate.get_or_insert(index);
            }
            Err(error) => {
                let bound = c.bound_to(session_address);
                if failure.as_ref().map_or(true, |(b, _, _)| bound || !*b) {
                    failure = Some((bound, index, error));
                }
            }
        }
    }
    if let Some(index) = bls_candidate {
        let address = msg.capabilities.get(index).map(|c| c.address.to_string()).unwrap_or_default();
        return Err(VerifyError::NeedsNetworkKey { index, address });
    }
    Err(match failure {
        Some((_, index, error)) => VerifyError::Capability { index, error },
        None => VerifyError::NoCapabilities,
    })
}

/// Datil's unversioned routes (`/web/encryption/sign` and `/web/signing/access_control_condition`,
/// which the v7 SDK's `decrypt` and ACC signing call) run, when `validate_session_sig` fails,
/// `auth/session_sigs.rs::validate_and_extract_wallet_sig` instead (from
/// `auth/auth_material.rs::JsonAuthSig::validate_and_get_wallet_sig` with
/// `EndpointVersion::Initial`): after the same ed25519 check, the message must parse and carry
/// capabilities, and the last capability's `signedMessage` must parse as a SIWE whose URI is
/// `lit:session:<address>`. Nothing else is checked: not the resource, the times, the node, nor
/// the capability's own signature. Its `address` becomes the user; a last capability of the
/// session kind has none the node can extract (`JsonAuthSig::user_address`), so it fails there.
pub fn unversioned_fallback(sig: &SessionSig) -> Result<Verified, String> {
    let msg = SignedMessage::parse_as(Generation::Datil.format(), &sig.signed_message).map_err(|e| e.to_string())?;
    let (index, last) = msg.capabilities.iter().enumerate().next_back().ok_or("Empty capabilities array.")?;
    let siwe = crate::siwe::parse(&last.signed_message).map_err(|e| format!("capability #{index}: {e}"))?;
    let expected = format!("{SESSION_URI_PREFIX}{}", sig.address);
    if siwe.uri.as_str() != expected {
        return Err(format!("capability #{index}'s SIWE URI is {:?}, expected {expected:?}", siwe.uri.as_str()));
    }
    if AuthMaterialType::of(&last.derived_via, last.algo.as_deref()) == AuthMaterialType::SessionSig {
        return Err(format!("capability #{index} is a session sig: the node cannot extract its user address"));
    }
    let time = |t: &str| NodeTime::parse(t).ok().map(NodeTime::to_timestamp);
    Ok(Verified {
        capability_index: index,
        user_address: last.address.to_string(),
        siwe_address: EthAddress::from_bytes(siwe.address),
        issued_at: time(&msg.issued_at),
        expiration: time(&msg.expiration),
        via_fallback: None,
    })
}

/// Naga's paid endpoints (`endpoints/pkp.rs::pkp_sign`, `endpoints/web_client.rs::
/// encryption_sign` and `::get_lit_action_dynamic_payment`) turn the user into an EVM address
/// before charging, with `auth/auth_material.rs::ValidatedAddress::evm_address`: the winning
/// capability's `address`, by `hex_to_bytes`, must be 20 bytes (any other length panics in
/// `Address::from_slice`, failing the request).
pub fn payment_user_address(verified: &Verified) -> Result<(), VerifyError> {
    match hex_to_bytes(&verified.user_address) {
        Some(bytes) if bytes.len() == 20 => Ok(()),
        _ => Err(VerifyError::PaymentUserAddress {
            index: verified.capability_index,
            address: verified.user_address.clone(),
        }),
    }
}

/// Naga `payment/selection.rs::get_payment_method`: the node's current price for the endpoint
/// must not exceed the signed `maxPrice` (`EC::PaymentFailed`). Applied when the node's price is
/// known ([`VerifyPolicy::with_node_price`]).
pub fn price_within_max(msg: &SignedMessage<'_>, node_price: Price) -> Result<(), VerifyError> {
    let max_price = match msg.max_price() {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Err(VerifyError::MaxPrice(e.to_string())),
        None => return Err(VerifyError::MaxPrice("missing".into())),
    };
    if node_price > max_price {
        return Err(VerifyError::PriceAboveMax { node_price, max_price });
    }
    Ok(())
}

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

/// Everything after the ed25519 check: the rest of `validate_session_sig`, the route's fallback
/// (Datil, unversioned), the payment step (Naga), then the strict rules.
pub(crate) fn check_message(
    session_sig: &SessionSig,
    node: &NodeUrl,
    request: &ResourceAbilityRequest,
    now: Timestamp,
    policy: &VerifyPolicy,
    cache: Option<&CapabilityCache>,
) -> Result<Verified, VerifyError> {
    let generation = policy.generation;
    let primary = (|| -> Result<_, VerifyError> {
        let msg = parse_signed_message(session_sig, generation)?;
        resource_ability_requests(&msg, request)?;
        let (issued_at, expiration) = time_parameters(&msg, now)?;
        node_address(&msg, node)?;
        let (index, winner) = capabilities(&msg, &session_sig.address, request, now, policy, cache)?;
        Ok((msg, issued_at, expiration, index, winner))
    })();
    let (msg, issued_at, expiration, index, winner) = match primary {
        Ok(passed) => passed,
        Err(e) if generation == Generation::Datil && policy.route == Route::Unversioned && !policy.strict => {
            let verified = unversioned_fallback(session_sig)
                .map_err(|reason| VerifyError::Fallback { primary: Box::new(e.clone()), reason })?;
            return Ok(Verified { via_fallback: Some(Box::new(e)), ..verified });
        }
        Err(e) => return Err(e),
    };
    let (Some(win_cap), Ok(siwe)) = (msg.capabilities.get(index), winner.siwe.as_ref()) else {
        return Err(VerifyError::NoCapabilities);
    };
    let verified = Verified {
        capability_index: index,
        user_address: win_cap.address.to_string(),
        siwe_address: siwe.address,
        issued_at: Some(issued_at.to_timestamp()),
        expiration: Some(expiration.to_timestamp()),
        via_fallback: None,
    };
    if generation == Generation::Naga {
        payment_user_address(&verified)?;
        if let Some(node_price) = policy.node_price {
            price_within_max(&msg, node_price)?;
        }
    }
    if policy.strict {
        let lifetime = expiration.timestamp() - issued_at.timestamp();
        check_strict(&msg, session_sig, lifetime, now, policy, cache)?;
    }
    Ok(verified)
}

fn lower_hex(s: &str, digits: usize) -> bool {
    s.len() == digits && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn parse_address(s: &str) -> Option<EthAddress> {
    // Case-insensitive: the node parses addresses without looking at the checksum.
    s.to_ascii_lowercase().parse().ok()
}

/// The strict policy: what the SDK writes and what a careful relying party should insist on,
/// beyond any node.
fn check_strict(
    msg: &SignedMessage<'_>,
    session_sig: &SessionSig,
    lifetime_secs: i64,
    now: Timestamp,
    policy: &VerifyPolicy,
    cache: Option<&CapabilityCache>,
) -> Result<(), VerifyError> {
    if !lower_hex(&session_sig.address, 64) {
        return Err(VerifyError::StrictHex { field: "address", detail: "is not 64 lower-case hex digits".into() });
    }
    if !lower_hex(&session_sig.sig, 128) {
        return Err(VerifyError::StrictHex { field: "sig", detail: "is not 128 lower-case hex digits".into() });
    }
    if msg.session_key != session_sig.address.as_str() {
        return Err(VerifyError::SessionKeyMismatch {
            session_key: msg.session_key.to_string(),
            address: session_sig.address.clone(),
        });
    }
    if lifetime_secs > policy.max_lifetime.whole_seconds() {
        return Err(VerifyError::StrictLifetime { lifetime_secs, max_secs: policy.max_lifetime.whole_seconds() });
    }
    if policy.generation == Generation::Naga {
        let raw = msg.max_price.map(|r| r.get()).unwrap_or("");
        let canonical =
            raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).is_some_and(|p| p.parse::<Price>().is_ok());
        if !canonical {
            return Err(VerifyError::StrictMaxPrice(format!(
                "maxPrice {raw} is not \"0x\" and 1 to 64 hex digits, nor decimal digits"
            )));
        }
    }
    for (index, cap) in msg.capabilities.iter().enumerate() {
        let c = check_capability(cache, cap, now, policy);
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
        if let Some(detail) = &siwe.noncanonical_signature {
            return Err(VerifyError::StrictWalletSignature { index, detail: detail.clone() });
        }
        if let Some((resource, why)) = siwe.dropped_recaps.first() {
            let detail = format!("ReCap resource #{resource} does not decode, so the node ignores it: {why}");
            return Err(VerifyError::StrictRecap { index, detail });
        }
        if !siwe.has_statement && siwe.recaps.as_ref().is_ok_and(|r| !r.is_empty()) {
            let detail = "its ReCaps have no SIWE statement to match, so the node skips that check".into();
            return Err(VerifyError::StrictRecap { index, detail });
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
