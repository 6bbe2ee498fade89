//! Why a session signature was rejected: one variant per rule, in the order the node applies
//! them. `Display` is `<rule>: <detail>`, the rule's name from [`VerifyError::rule`] (written
//! once, there) and the detail from the variant's fields.

use std::fmt;

use crate::Timestamp;

/// A rejected session signature. Each variant names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// `address` is not 32 bytes of hex (a leading `0x` allowed) or not a curve point.
    SessionKeyEncoding(String),
    /// `address` is a small-order point, which signs every message (verify_strict refuses it).
    WeakSessionKey,
    /// `sig` is not 64 bytes of hex.
    SignatureEncoding(String),
    /// `sig` is malleable or degenerate: s ≥ ℓ, R not canonically encoded, or R of small order.
    NonCanonicalSignature(&'static str),
    /// The ed25519 signature does not verify (`verify_strict`) over `signedMessage`.
    BadSignature,
    /// `signedMessage` is not the JSON the node expects.
    SignedMessage(String),
    /// No `resourceAbilityRequests` entry names the requested resource.
    ResourceNotRequested {
        /// The requested `prefix://id`.
        requested: String,
    },
    /// `issuedAt` or `expiration` is not an RFC 3339 date-time.
    Timestamp {
        /// `issuedAt` or `expiration`.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// `issuedAt` more than 60 s after now.
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
    /// `expiration` more than 60 s before now.
    Expired {
        /// The session's expiration.
        expiration: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// `expiration - issuedAt` over the limit (30 days for the node, the policy's for strict).
    LifetimeTooLong {
        /// The session's lifetime in seconds.
        lifetime_secs: i64,
        /// The limit in seconds.
        max_secs: i64,
    },
    /// `nodeAddress` names another node.
    NodeAddressMismatch {
        /// The normalised signed `nodeAddress`.
        signed: String,
        /// This node's normalised `host:port`.
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
    /// and no network BLS public key is configured ([`super::VerifyPolicy::with_network_key`]).
    /// Everything else passed.
    NeedsNetworkKey {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Its `address` field (the PKP's address).
        address: String,
    },
    /// Strict: `sessionKey` differs from the signing key in `address`.
    SessionKeyMismatch {
        /// The signed `sessionKey`.
        session_key: String,
        /// The session sig's `address`.
        address: String,
    },
    /// Strict: some capability is invalid or expired (the node's rate-limit path fails on it).
    InvalidCapability {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Why it is invalid.
        error: CapabilityError,
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
            Self::SessionKeyEncoding(_) | Self::WeakSessionKey => "session-key",
            Self::SignatureEncoding(_) => "signature-encoding",
            Self::NonCanonicalSignature(_) => "non-canonical-signature",
            Self::BadSignature => "ed25519-signature",
            Self::SignedMessage(_) => "signed-message",
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
            Self::SessionKeyMismatch { .. } => "strict-session-key",
            Self::InvalidCapability { .. } => "strict-capability",
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
    /// `sig` is not 65 bytes of hex (wallets), or not `{"ProofOfPossession":"<G2 hex>"}`
    /// (`LIT_BLS`).
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
    /// A `urn:recap:` resource does not decode.
    Recap {
        /// 0-based position among the SIWE resources.
        index: usize,
        /// The decoding error.
        detail: String,
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
    /// A kind of AuthSig this verifier cannot check (e.g. EIP-1271 contract signatures).
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
            Self::Recap { .. } => "recap",
            Self::StatementMismatch { .. } => "recap-statement",
            Self::NotGranted { .. } => "recap-grant",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.rule())?;
        match self {
            Self::SessionKeyEncoding(detail) | Self::SignatureEncoding(detail) | Self::SignedMessage(detail) => {
                f.write_str(detail)
            }
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
            Self::LifetimeTooLong { lifetime_secs, max_secs } => {
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
            Self::SessionKeyMismatch { session_key, address } => {
                write!(f, "sessionKey {session_key:?} is not the signing key {address:?}")
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
            Self::Recap { index, detail } => write!(f, "resource #{index} does not decode: {detail}"),
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
}
