//! Values from requests and files, parsed as the library parses them: resources and abilities
//! (normalised as the node normalises them), node URLs, times, payment scopes and delegations,
//! addresses, capability AuthSigs. Errors carry the library's own message.

use serde_json::{Map, Value};

use lit_session_signer::eth::EthAddress;
use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentDelegationError};
use lit_session_signer::protocol::NodeUrlError;
use lit_session_signer::resources::{format_pkp_id, LitResource, ResourceError};
use lit_session_signer::siwe::SiweError;
use lit_session_signer::timestamp::TimestampError;
use lit_session_signer::verify::SessionSigsFileError;

use super::profile::PaymentInput;
use super::{LitAbility, NodeUrl, PaymentScope, ResourceAbilityRequest, ResourcePrefix, Timestamp};

/// A value the library refuses; the text is the library's own message.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A resource prefix, id or ability.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// A node URL.
    #[error(transparent)]
    NodeUrl(#[from] NodeUrlError),
    /// A time.
    #[error(transparent)]
    Time(#[from] TimestampError),
    /// A payment delegation or one of its scopes.
    #[error(transparent)]
    Payment(#[from] PaymentDelegationError),
    /// A sessionSigs map.
    #[error(transparent)]
    SessionSigs(#[from] SessionSigsFileError),
    /// A sessionSigs map whose nodes cannot be told.
    #[error("{0}")]
    MapNodes(&'static str),
    /// A sessionSigs map key that is not a node URL.
    #[error("a map key is not a node URL: {0}")]
    MapKey(#[source] NodeUrlError),
    /// Not an Ethereum address.
    #[error("{0:?} is not an Ethereum address (40 hex digits, EIP-55 if mixed case)")]
    Address(String),
}

/// A client capability AuthSig that is not a delegation.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// No `signedMessage` string.
    #[error("not an AuthSig (no signedMessage string)")]
    NotAnAuthSig,
    /// The SIWE message does not parse.
    #[error("its SIWE does not parse: {0}")]
    Siwe(#[source] SiweError),
    /// Another SIWE URI than `lit:capability:delegation`.
    #[error("only delegations (SIWE URI lit:capability:delegation) are accepted, not URI {0}")]
    NotADelegation(String),
}

/// Parses a node URL (`http(s)://host:port`, no path), kept byte for byte.
pub fn parse_node_url(s: &str) -> Result<NodeUrl, InputError> {
    Ok(s.parse::<NodeUrl>()?)
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<Timestamp, InputError> {
    Ok(s.parse::<Timestamp>()?)
}

/// Builds one resource-ability request from the SDK's serialised form; the id is normalised as
/// the SDK and the node do (PKP ids: `0x` stripped, left-padded to 64 hex digits).
pub fn parse_request(
    prefix: &str,
    id: &str,
    ability: &str,
    data: Option<Map<String, Value>>,
) -> Result<ResourceAbilityRequest, InputError> {
    resource_request(prefix.parse()?, id, ability.parse()?, data)
}

/// [`parse_request`] with the prefix and ability already parsed.
pub fn resource_request(
    prefix: ResourcePrefix,
    id: &str,
    ability: LitAbility,
    data: Option<Map<String, Value>>,
) -> Result<ResourceAbilityRequest, InputError> {
    let request = ResourceAbilityRequest::new(LitResource::new(prefix, id)?, ability)?;
    Ok(match data {
        Some(d) => request.with_data(d),
        None => request,
    })
}

/// Parses a payment-delegation scope (`pkp_sign`, `lit_action`, …).
pub fn parse_scope(s: &str) -> Result<PaymentScope, InputError> {
    Ok(s.parse::<PaymentScope>()?)
}

/// An Ethereum address in the policy's comparison form: 40 lowercase hex digits, no `0x`
/// (`0x` optional on input; mixed case must be EIP-55), as the node compares delegatees.
pub fn address_key(s: &str) -> Result<String, InputError> {
    let t = s.trim();
    let prefixed = if t.starts_with("0x") { t.to_string() } else { format!("0x{t}") };
    let address: EthAddress = prefixed.parse().map_err(|_| InputError::Address(s.to_string()))?;
    Ok(hex::encode(address.as_bytes()))
}

/// Parses a prefix name.
pub fn parse_prefix(s: &str) -> Result<ResourcePrefix, InputError> {
    Ok(s.parse::<ResourcePrefix>()?)
}

/// Parses an ability name.
pub fn parse_ability(s: &str) -> Result<LitAbility, InputError> {
    Ok(s.parse::<LitAbility>()?)
}

/// A resource id in the form the policy compares: the node's normalisation (PKP ids without
/// `0x`, padded to 64 hex digits), then lowercase for hex PKP ids so case cannot slip past a
/// deny rule. Glob characters are kept.
pub fn normalize_id(prefix: ResourcePrefix, id: &str) -> Result<String, InputError> {
    if prefix != ResourcePrefix::Pkp {
        return Ok(id.to_string());
    }
    if id.contains('*') && id != "*" {
        // A pattern: strip `0x` only; padding a glob would change what it matches.
        let stripped = id.strip_prefix("0x").unwrap_or(id);
        return Ok(stripped.to_ascii_lowercase());
    }
    let formatted = format_pkp_id(id)?;
    if formatted.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(formatted.to_ascii_lowercase())
    } else {
        Ok(formatted)
    }
}

/// The library's payment delegation for a request.
pub(super) fn payment_delegation(input: &PaymentInput) -> PaymentDelegation {
    PaymentDelegation {
        expiration: Some(input.expiration),
        domain: input.domain.clone(),
        statement: input.statement.clone(),
        ..PaymentDelegation::new(input.delegatees.clone(), input.max_price.clone(), input.scopes.clone())
    }
}

/// Checks a payment delegation's delegatees, maximum and scopes as the library writes them
/// (before the policy and the wallet see it).
pub fn check_payment_delegation(input: &PaymentInput) -> Result<(), InputError> {
    payment_delegation(input).restriction().map(drop).map_err(InputError::from)
}

/// Refuses a client capability AuthSig that is not a delegation (SIWE URI
/// `lit:capability:delegation`). Any other AuthSig in a session's capabilities could lend it
/// grants the policy did not give: an earlier session AuthSig of this very session key
/// (`lit:session:<key>`), kept by a client from another response, would be accepted by the node.
pub fn check_delegation_capability(capability: &Value) -> Result<(), CapabilityError> {
    let text = capability.get("signedMessage").and_then(Value::as_str).ok_or(CapabilityError::NotAnAuthSig)?;
    let siwe = lit_session_signer::siwe::parse(text).map_err(CapabilityError::Siwe)?;
    let uri = siwe.uri.to_string();
    if uri == "lit:capability:delegation" {
        Ok(())
    } else {
        Err(CapabilityError::NotADelegation(uri))
    }
}
