//! Why a session signature was rejected: one variant per rule, in the order the node applies
//! them, then the strict policy's. `Display` is `<rule>: <detail>`, the rule's name from
//! [`VerifyError::rule`] (written once, there) and the detail from the variant's fields;
//! [`VerifyError::node_function`] names the node code that refuses it, and
//! [`VerifyError::explain`] is the full refusal (`<rule>: <detail> (<generation> node:
//! <file>::<function>)`).

use std::fmt;

use super::Generation;
use crate::protocol::{AuthMaterialType, Price};
use crate::Timestamp;

/// A rejected session signature. Each variant names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The session sig is not a JSON AuthSig the node's reader takes
    /// ([`crate::protocol::NodeAuthSig`]): not an object, an unknown or repeated key, a missing
    /// field, a value of the wrong type.
    AuthSigJson(String),
    /// `derivedVia`/`algo` are not exactly `litSessionSignViaNacl`/`ed25519`, so the node does
    /// not take it for a session sig and checks it as another kind of AuthSig.
    NotASessionSig {
        /// `derivedVia` as given.
        derived_via: String,
        /// `algo` as given.
        algo: Option<String>,
        /// What the node takes it for.
        material: AuthMaterialType,
    },
    /// `address` is not 32 bytes of hex as the node reads hex, or not a curve point.
    SessionKeyEncoding(String),
    /// `address` is a small-order point, which signs every message (verify_strict refuses it).
    WeakSessionKey,
    /// `sig` is not 128 hex digits of one case.
    SignatureEncoding(String),
    /// `sig` is malleable or degenerate: s ≥ ℓ, R not canonically encoded, or R of small order.
    NonCanonicalSignature(&'static str),
    /// The ed25519 signature does not verify (`verify_strict`) over `signedMessage`.
    BadSignature,
    /// `signedMessage` is not the JSON the node expects.
    SignedMessage(String),
    /// Naga: the signed `maxPrice` is not a string the node reads as a `U256`.
    MaxPrice(String),
    /// No `resourceAbilityRequests` entry names the requested resource.
    ResourceNotRequested {
        /// The requested `prefix://id`.
        requested: String,
    },
    /// `issuedAt` or `expiration` is not an RFC 3339 date-time chrono reads.
    Timestamp {
        /// `issuedAt` or `expiration`.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// `issuedAt` more than 60 s (whole seconds) after now.
    IssuedInFuture {
        /// The session's issuedAt.
        issued_at: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// `expiration` before `issuedAt`.
    ExpirationBeforeIssuedAt {
        /// The session's issuedAt.
        issued_at: Timestamp,
        /// The session's expiration.
        expiration: Timestamp,
    },
    /// `expiration` more than 60 s (whole seconds) before now.
    Expired {
        /// The session's expiration.
        expiration: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// `expiration` after `issuedAt` + 30 days.
    LifetimeTooLong {
        /// The session's lifetime in seconds.
        lifetime_secs: i64,
        /// The limit in seconds.
        max_secs: i64,
    },
    /// `nodeAddress` names another node.
    NodeAddressMismatch {
        /// The signed `nodeAddress` as the node normalises it.
        signed: String,
        /// This node's `host:port`.
        expected: String,
    },
    /// `capabilities` is empty.
    NoCapabilities,
    /// No capability authorises the session; the most relevant failure is reported (the last
    /// capability bound to this session key, else the last one).
    Capability {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Why it failed.
        error: CapabilityError,
    },
    /// The only capability that could authorise the session is a `lit.bls`/`LIT_BLS` AuthSig
    /// and no network key is configured to check its BLS signature.
    NeedsNetworkKey {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Its `address` field.
        address: String,
    },
    /// Naga: the winning capability's `address` (the user the node charges) is not 20 bytes of
    /// hex, so the paid endpoints cannot make it an EVM address.
    PaymentUserAddress {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Its `address` field.
        address: String,
    },
    /// Naga: the node's price for the operation is above the signed `maxPrice`.
    PriceAboveMax {
        /// The node's price.
        node_price: Price,
        /// The signed `maxPrice`.
        max_price: Price,
    },
    /// Datil, unversioned route: the session failed the `/v1` check and the older fallback the
    /// route tries next.
    Fallback {
        /// Why the `/v1` check (`validate_session_sig`) failed.
        primary: Box<VerifyError>,
        /// Why the fallback (`validate_and_extract_wallet_sig`) failed.
        reason: String,
    },
    /// Strict: `address` or `sig` not in the canonical form (lower-case hex, no prefix, 64 and
    /// 128 digits).
    StrictHex {
        /// `address` or `sig`.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Strict: `sessionKey` is not `address`.
    SessionKeyMismatch {
        /// The signed `sessionKey`.
        session_key: String,
        /// The signing key (`address`).
        address: String,
    },
    /// Strict: the session lives longer than the policy allows.
    StrictLifetime {
        /// The session's lifetime in seconds.
        lifetime_secs: i64,
        /// The limit in seconds.
        max_secs: i64,
    },
    /// Strict (Naga): the signed `maxPrice` is not `0x` and 1 to 64 hex digits, nor decimal
    /// digits.
    StrictMaxPrice(String),
    /// Strict: some capability is invalid or expired (the node's rate-limit path fails on it).
    InvalidCapability {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Why it is invalid.
        error: CapabilityError,
    },
    /// Strict: a wallet capability's `sig` is not what ethers writes (`0x`, 130 lower-case hex
    /// digits, v 27 or 28, low s).
    StrictWalletSignature {
        /// 0-based position in `capabilities`.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// Strict: a `urn:recap:` resource the node drops, or ReCaps without a SIWE statement.
    StrictRecap {
        /// 0-based position in `capabilities`.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// Strict: a capability's `address` field is not its SIWE address.
    AddressMismatch {
        /// 0-based position in `capabilities`.
        index: usize,
        /// The `address` field.
        field: String,
        /// The SIWE address (EIP-55).
        siwe: String,
    },
    /// Strict: a capability's SIWE domain is not on the allow-list.
    DomainNotAllowed {
        /// 0-based position in `capabilities`.
        index: usize,
        /// The SIWE domain.
        domain: String,
    },
}

impl VerifyError {
    /// The rule's name, e.g. `expired` (the part of `Display` before the colon).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::AuthSigJson(_) => "auth-sig-json",
            Self::NotASessionSig { .. } => "session-sig-type",
            Self::SessionKeyEncoding(_) | Self::WeakSessionKey => "session-key",
            Self::SignatureEncoding(_) => "signature-encoding",
            Self::NonCanonicalSignature(_) => "non-canonical-signature",
            Self::BadSignature => "ed25519-signature",
            Self::SignedMessage(_) => "signed-message",
            Self::MaxPrice(_) => "max-price",
            Self::ResourceNotRequested { .. } => "resource",
            Self::Timestamp { .. } => "timestamp",
            Self::IssuedInFuture { .. } => "issued-at",
            Self::ExpirationBeforeIssuedAt { .. } => "expiration-order",
            Self::Expired { .. } => "expired",
            Self::LifetimeTooLong { .. } => "lifetime",
            Self::NodeAddressMismatch { .. } => "node-address",
            Self::NoCapabilities => "capabilities",
            Self::Capability { .. } => "capability",
            Self::NeedsNetworkKey { .. } => "needs-network-key",
            Self::PaymentUserAddress { .. } => "payment-user-address",
            Self::PriceAboveMax { .. } => "price",
            Self::Fallback { .. } => "route-fallback",
            Self::StrictHex { .. } => "strict-hex",
            Self::SessionKeyMismatch { .. } => "strict-session-key",
            Self::StrictLifetime { .. } => "strict-lifetime",
            Self::StrictMaxPrice(_) => "strict-max-price",
            Self::InvalidCapability { .. } => "strict-capability",
            Self::StrictWalletSignature { .. } => "strict-wallet-signature",
            Self::StrictRecap { .. } => "strict-recap",
            Self::AddressMismatch { .. } => "strict-address",
            Self::DomainNotAllowed { .. } => "strict-domain",
        }
    }

    /// The capability-level failure, for [`Self::Capability`] and [`Self::InvalidCapability`].
    pub fn capability_error(&self) -> Option<&CapabilityError> {
        match self {
            Self::Capability { error, .. } | Self::InvalidCapability { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the strict policy, not any node, refuses it.
    pub fn is_strict(&self) -> bool {
        self.node_function(Generation::Naga).is_none()
    }

    /// The node code that refuses the session sig, as `<file under the node crate's src>::
    /// <function>` (e.g. `auth/session_sigs.rs::check_ed25519_auth_sig`); `None` for the strict
    /// policy's rules, which no node applies.
    ///
    /// ```
    /// use lit_session_signer::verify::{Generation, VerifyError};
    /// let e = VerifyError::BadSignature;
    /// assert_eq!(e.node_function(Generation::Naga), Some("auth/session_sigs.rs::check_ed25519_auth_sig"));
    /// ```
    pub fn node_function(&self, generation: Generation) -> Option<&'static str> {
        let naga = generation == Generation::Naga;
        Some(match self {
            Self::AuthSigJson(_) if naga => "lit-node-core: models/auth_sig.rs::JsonAuthSigVisitor::visit_map",
            Self::AuthSigJson(_) => "auth/auth_material.rs::JsonAuthSigVisitor::visit_map",
            Self::NotASessionSig { .. } if naga => {
                "auth/auth_material.rs::JsonAuthSigExtendedRef::validate_and_get_wallet_sig"
            }
            Self::NotASessionSig { .. } => "auth/auth_material.rs::JsonAuthSig::validate_and_get_wallet_sig",
            Self::SessionKeyEncoding(_)
            | Self::WeakSessionKey
            | Self::SignatureEncoding(_)
            | Self::NonCanonicalSignature(_)
            | Self::BadSignature => "auth/session_sigs.rs::check_ed25519_auth_sig",
            Self::SignedMessage(_) if naga => "auth/session_sigs.rs::parse_signed_message",
            Self::SignedMessage(_) => "auth/session_sigs.rs::validate_session_sig",
            Self::MaxPrice(_) => "models/auth.rs::from_str_to_u256",
            Self::ResourceNotRequested { .. } => "auth/session_sigs.rs::validate_session_sig_resource_ability_requests",
            Self::Timestamp { .. }
            | Self::IssuedInFuture { .. }
            | Self::ExpirationBeforeIssuedAt { .. }
            | Self::Expired { .. } => "auth/session_sigs.rs::validate_session_sig_time_parameters",
            Self::LifetimeTooLong { .. } => "siwe_db/utils.rs::check_expiration_validity",
            Self::NodeAddressMismatch { .. } => "auth/session_sigs.rs::validate_session_sig",
            Self::NoCapabilities => "auth/session_sigs.rs::validate_capabilities_array",
            Self::Capability { error, .. } => error.node_function(),
            Self::NeedsNetworkKey { .. } => "auth/validators/siwe.rs::SiweValidator::validate_bls_auth_sig_basic",
            Self::PaymentUserAddress { .. } => "auth/auth_material.rs::ValidatedAddress::evm_address",
            Self::PriceAboveMax { .. } => "payment/selection.rs::get_payment_method",
            Self::Fallback { .. } => "auth/session_sigs.rs::validate_and_extract_wallet_sig",
            Self::StrictHex { .. }
            | Self::SessionKeyMismatch { .. }
            | Self::StrictLifetime { .. }
            | Self::StrictMaxPrice(_)
            | Self::InvalidCapability { .. }
            | Self::StrictWalletSignature { .. }
            | Self::StrictRecap { .. }
            | Self::AddressMismatch { .. }
            | Self::DomainNotAllowed { .. } => return None,
        })
    }

    /// The refusal as the command line and the service print it: the rule, the detail and the
    /// node function that refuses (or that the strict policy does).
    ///
    /// ```
    /// use lit_session_signer::verify::{Generation, VerifyError};
    /// assert_eq!(
    ///     VerifyError::NoCapabilities.explain(Generation::Datil),
    ///     "capabilities: the session carries no capability AuthSig \
    ///      (datil node: auth/session_sigs.rs::validate_capabilities_array)"
    /// );
    /// ```
    pub fn explain(&self, generation: Generation) -> String {
        match self.node_function(generation) {
            Some(function) => format!("{self} ({generation} node: {function})"),
            None => format!("{self} (strict policy; no node checks this)"),
        }
    }
}

/// Why one capability AuthSig does not authorise the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityError {
    /// `signedMessage` is not a SIWE message the `siwe` crate accepts.
    Siwe(String),
    /// The SIWE is expired or not yet valid at now (no grace).
    NotValidNow {
        /// The verifier's clock.
        now: Timestamp,
        /// `Not Before`, or `-`.
        not_before: String,
        /// `Expiration Time`, or `-`.
        expiration: String,
    },
    /// `sig` is not 65 bytes of hex as the node reads it, with r and s in range and v mod 27
    /// 0 or 1 (wallets), or not `{"ProofOfPossession":"<G2 hex>"}` (`LIT_BLS`).
    SignatureEncoding(String),
    /// The `LIT_BLS` signature does not verify over `sha256("lit_session:" + hex(eip191))`
    /// against any configured network key.
    BlsSignature {
        /// How many network keys were tried.
        keys: usize,
    },
    /// Strict: the SDK's `LIT_BLS` reuse check failed (it requires an expiration, now before
    /// it, and Issued At not in the future; no grace).
    SdkBlsTime {
        /// The verifier's clock.
        now: Timestamp,
        /// `Issued At` as written.
        issued_at: String,
        /// `Expiration Time`, or `-`.
        expiration: String,
    },
    /// The EIP-191 signature does not recover to the SIWE address.
    WrongSigner {
        /// The SIWE address (EIP-55).
        siwe: String,
    },
    /// The SIWE URI does not bind this session key.
    UriMismatch {
        /// The SIWE URI.
        uri: String,
        /// `lit:session:<address>`.
        expected: String,
    },
    /// The SIWE statement does not end with a ReCap's statement.
    StatementMismatch {
        /// 0-based position among the SIWE resources.
        index: usize,
    },
    /// No ReCap grants the requested ability on the requested resource.
    NotGranted {
        /// `prefix://id`.
        resource: String,
        /// The ability.
        ability: String,
    },
    /// A kind of AuthSig the node does not take as a capability (EIP-1271 contract signatures,
    /// session signatures).
    Unsupported(String),
}

impl CapabilityError {
    /// The rule's name, e.g. `uri`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Siwe(_) => "siwe",
            Self::NotValidNow { .. } => "siwe-time",
            Self::SignatureEncoding(_) => "signature-encoding",
            Self::WrongSigner { .. } => "wallet-signature",
            Self::BlsSignature { .. } => "bls-signature",
            Self::SdkBlsTime { .. } => "sdk-bls-time",
            Self::UriMismatch { .. } => "uri",
            Self::StatementMismatch { .. } => "recap-statement",
            Self::NotGranted { .. } => "recap-grant",
            Self::Unsupported(_) => "unsupported",
        }
    }

    /// The node function that refuses the capability (the same in Datil and Naga).
    pub fn node_function(&self) -> &'static str {
        match self {
            Self::Siwe(_) => "auth/validators/siwe.rs::SiweValidator::parse_siwe_message",
            // Time, URI and signature encoding: checked in both of the basic validators that
            // `validate_auth_sig` dispatches to (wallet and BLS).
            Self::NotValidNow { .. }
            | Self::UriMismatch { .. }
            | Self::Unsupported(_)
            | Self::SdkBlsTime { .. }
            | Self::SignatureEncoding(_) => "auth/validators/siwe.rs::SiweValidator::validate_auth_sig",
            Self::WrongSigner { .. } => "auth/validators/siwe.rs::SiweValidator::validate_auth_sig_basic",
            Self::BlsSignature { .. } => "auth/validators/siwe.rs::SiweValidator::validate_bls_auth_sig_basic",
            Self::StatementMismatch { .. } => "auth/capabilities/recap.rs::extract_and_verify_all_capabilities",
            Self::NotGranted { .. } => {
                "auth/capabilities/recap.rs::RecapSessionCapabilityObject::verify_capabilities_for_resource"
            }
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.rule())?;
        match self {
            Self::AuthSigJson(detail)
            | Self::SessionKeyEncoding(detail)
            | Self::SignatureEncoding(detail)
            | Self::SignedMessage(detail)
            | Self::MaxPrice(detail)
            | Self::StrictMaxPrice(detail) => f.write_str(detail),
            Self::NotASessionSig { derived_via, algo, material } => write!(
                f,
                "derivedVia {derived_via:?} with algo {algo:?} is not a session sig (litSessionSignViaNacl/ed25519); \
                 the node checks it as a {}",
                material.name()
            ),
            Self::WeakSessionKey => f.write_str("the session key is a small-order (weak) ed25519 point"),
            Self::NonCanonicalSignature(detail) => f.write_str(detail),
            Self::BadSignature => f.write_str("the signature does not verify over signedMessage with the session key"),
            Self::ResourceNotRequested { requested } => {
                write!(f, "{requested} is not among the session's resourceAbilityRequests")
            }
            Self::Timestamp { field, value } => write!(f, "{field} is not an RFC 3339 date-time: {value:?}"),
            Self::IssuedInFuture { issued_at, now } => {
                write!(f, "issuedAt {issued_at} is in the future (now {now}, 60 s skew allowed)")
            }
            Self::ExpirationBeforeIssuedAt { issued_at, expiration } => {
                write!(f, "expiration {expiration} is before issuedAt {issued_at}")
            }
            Self::Expired { expiration, now } => {
                write!(f, "the session expired at {expiration} (now {now}, 60 s grace)")
            }
            Self::LifetimeTooLong { lifetime_secs, max_secs } | Self::StrictLifetime { lifetime_secs, max_secs } => {
                write!(f, "the session lives {lifetime_secs} s, over the maximum of {max_secs} s")
            }
            Self::NodeAddressMismatch { signed, expected } => {
                write!(f, "the session was signed for {signed:?}, this node is {expected:?}")
            }
            Self::NoCapabilities => f.write_str("the session carries no capability AuthSig"),
            Self::Capability { index, error } | Self::InvalidCapability { index, error } => {
                write!(f, "#{index}: {error}")
            }
            Self::NeedsNetworkKey { index, address } => write!(
                f,
                "capability #{index} ({address}) is a lit.bls network signature; verifying it needs the network BLS \
                 public key"
            ),
            Self::PaymentUserAddress { index, address } => {
                write!(f, "capability #{index}'s address {address:?} is not a 20-byte hex address the node can charge")
            }
            Self::PriceAboveMax { node_price, max_price } => {
                write!(f, "the node's price {node_price} is above the signed maxPrice {max_price}")
            }
            Self::Fallback { primary, reason } => {
                write!(
                    f,
                    "the /v1 check refuses it ({primary}), and so does the unversioned route's fallback: {reason}"
                )
            }
            Self::StrictHex { field, detail } => write!(f, "{field} {detail}"),
            Self::SessionKeyMismatch { session_key, address } => {
                write!(f, "sessionKey {session_key:?} is not the signing key {address:?}")
            }
            Self::StrictWalletSignature { index, detail } | Self::StrictRecap { index, detail } => {
                write!(f, "capability #{index}: {detail}")
            }
            Self::AddressMismatch { index, field, siwe } => {
                write!(f, "capability #{index} has address {field:?} but its SIWE is signed by {siwe}")
            }
            Self::DomainNotAllowed { index, domain } => {
                write!(f, "capability #{index} was signed for domain {domain:?}, which is not allowed")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

impl fmt::Display for CapabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.rule())?;
        match self {
            Self::Siwe(detail) | Self::SignatureEncoding(detail) => f.write_str(detail),
            Self::NotValidNow { now, not_before, expiration } => {
                write!(f, "the SIWE is not valid at {now} (not before {not_before}, expires {expiration})")
            }
            Self::BlsSignature { keys } => {
                write!(f, "the network BLS signature does not verify against the {keys} configured network key(s)")
            }
            Self::SdkBlsTime { now, issued_at, expiration } => write!(
                f,
                "the SDK would re-sign this LIT_BLS AuthSig at {now} (issued {issued_at}, expires {expiration})"
            ),
            Self::WrongSigner { siwe } => {
                write!(f, "the EIP-191 signature does not recover to the SIWE address {siwe}")
            }
            Self::UriMismatch { uri, expected } => write!(f, "the SIWE URI is {uri:?}, expected {expected:?}"),
            Self::StatementMismatch { index } => {
                write!(f, "the SIWE statement does not end with the statement of ReCap resource #{index}")
            }
            Self::NotGranted { resource, ability } => write!(f, "no ReCap grants {ability} on {resource}"),
            Self::Unsupported(kind) => write!(f, "{kind} capabilities are not supported"),
        }
    }
}

impl std::error::Error for CapabilityError {}

#[cfg(test)]
mod tests {
    use super::*;

    // The texts the command line prints (`invalid: <rule>: <detail>`), as they were when each
    // variant spelled its rule in its own format string.
    #[test]
    fn display_is_rule_then_detail() {
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let cap = CapabilityError::NotGranted { resource: "lit-pkp://*".into(), ability: "Threshold/Signing".into() };
        let cases: Vec<(String, &str)> = vec![
            (VerifyError::WeakSessionKey.to_string(), "session-key: the session key is a small-order (weak) ed25519 point"),
            (VerifyError::SessionKeyEncoding("x".into()).to_string(), "session-key: x"),
            (VerifyError::NonCanonicalSignature("s is not reduced (s ≥ ℓ)").to_string(), "non-canonical-signature: s is not reduced (s ≥ ℓ)"),
            (
                VerifyError::Timestamp { field: "issuedAt", value: "x".into() }.to_string(),
                r#"timestamp: issuedAt is not an RFC 3339 date-time: "x""#,
            ),
            (
                VerifyError::Expired { expiration: t, now: t }.to_string(),
                "expired: the session expired at 2025-03-15T12:34:56.789Z (now 2025-03-15T12:34:56.789Z, 60 s grace)",
            ),
            (
                VerifyError::NodeAddressMismatch { signed: "a".into(), expected: "b".into() }.to_string(),
                r#"node-address: the session was signed for "a", this node is "b""#,
            ),
            (
                VerifyError::Capability { index: 1, error: cap.clone() }.to_string(),
                "capability: #1: recap-grant: no ReCap grants Threshold/Signing on lit-pkp://*",
            ),
            (
                VerifyError::InvalidCapability { index: 0, error: cap }.to_string(),
                "strict-capability: #0: recap-grant: no ReCap grants Threshold/Signing on lit-pkp://*",
            ),
            (
                VerifyError::NeedsNetworkKey { index: 0, address: "0xA".into() }.to_string(),
                "needs-network-key: capability #0 (0xA) is a lit.bls network signature; verifying it needs the network \
                 BLS public key",
            ),
            (
                CapabilityError::SdkBlsTime { now: t, issued_at: "i".into(), expiration: "-".into() }.to_string(),
                "sdk-bls-time: the SDK would re-sign this LIT_BLS AuthSig at 2025-03-15T12:34:56.789Z (issued i, expires -)",
            ),
            (CapabilityError::Unsupported("EIP1271".into()).to_string(), "unsupported: EIP1271 capabilities are not supported"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn every_node_rule_names_its_function_and_every_strict_rule_says_so() {
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let node = [
            VerifyError::AuthSigJson("x".into()),
            VerifyError::BadSignature,
            VerifyError::MaxPrice("x".into()),
            VerifyError::Expired { expiration: t, now: t },
            VerifyError::PriceAboveMax { node_price: Price::from(2u64), max_price: Price::from(1u64) },
            VerifyError::Fallback { primary: Box::new(VerifyError::NoCapabilities), reason: "r".into() },
        ];
        for e in node {
            for g in [Generation::Datil, Generation::Naga] {
                let text = e.explain(g);
                let function = e.node_function(g).unwrap();
                assert!(text.starts_with(e.rule()) && text.contains(function), "{text}");
                assert!(function.contains(".rs::"), "{function}");
            }
        }
        let strict = VerifyError::StrictHex { field: "sig", detail: "is upper case".into() };
        assert!(strict.is_strict());
        assert!(strict.explain(Generation::Naga).ends_with("(strict policy; no node checks this)"));
    }
}
