//! Why a session signature was rejected: one variant per rule, in the order the node applies
//! them. `Display` is `<rule>: <detail>`; [`VerifyError::rule`] gives the rule alone.

use crate::Timestamp;

/// A rejected session signature. Each variant names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `address` is not 32 bytes of hex (a leading `0x` allowed) or not a curve point.
    #[error("session-key: {0}")]
    SessionKeyEncoding(String),
    /// `address` is a small-order point, which signs every message (verify_strict refuses it).
    #[error("session-key: the session key is a small-order (weak) ed25519 point")]
    WeakSessionKey,
    /// `sig` is not 64 bytes of hex.
    #[error("signature-encoding: {0}")]
    SignatureEncoding(String),
    /// `sig` is malleable or degenerate: s ≥ ℓ, R not canonically encoded, or R of small order.
    #[error("non-canonical-signature: {0}")]
    NonCanonicalSignature(&'static str),
    /// The ed25519 signature does not verify (`verify_strict`) over `signedMessage`.
    #[error("ed25519-signature: the signature does not verify over signedMessage with the session key")]
    BadSignature,
    /// `signedMessage` is not the JSON the node expects.
    #[error("signed-message: {0}")]
    SignedMessage(String),
    /// No `resourceAbilityRequests` entry names the requested resource.
    #[error("resource: {requested} is not among the session's resourceAbilityRequests")]
    ResourceNotRequested {
        /// The requested `prefix://id`.
        requested: String,
    },
    /// `issuedAt` or `expiration` is not an RFC 3339 date-time.
    #[error("timestamp: {field} is not an RFC 3339 date-time: {value:?}")]
    Timestamp {
        /// `issuedAt` or `expiration`.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// `issuedAt` more than 60 s after now.
    #[error("issued-at: issuedAt {issued_at} is in the future (now {now}, 60 s skew allowed)")]
    IssuedInFuture {
        /// The session's issuedAt.
        issued_at: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// `expiration` before `issuedAt`.
    #[error("expiration-order: expiration {expiration} is before issuedAt {issued_at}")]
    ExpirationBeforeIssuedAt {
        /// The session's issuedAt.
        issued_at: Timestamp,
        /// The session's expiration.
        expiration: Timestamp,
    },
    /// `expiration` more than 60 s before now.
    #[error("expired: the session expired at {expiration} (now {now}, 60 s grace)")]
    Expired {
        /// The session's expiration.
        expiration: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// `expiration - issuedAt` over the limit (30 days for the node, the policy's for strict).
    #[error("lifetime: the session lives {lifetime_secs} s, over the maximum of {max_secs} s")]
    LifetimeTooLong {
        /// The session's lifetime in seconds.
        lifetime_secs: i64,
        /// The limit in seconds.
        max_secs: i64,
    },
    /// `nodeAddress` names another node.
    #[error("node-address: the session was signed for {signed:?}, this node is {expected:?}")]
    NodeAddressMismatch {
        /// The normalised signed `nodeAddress`.
        signed: String,
        /// This node's normalised `host:port`.
        expected: String,
    },
    /// `capabilities` is empty.
    #[error("capabilities: the session carries no capability AuthSig")]
    NoCapabilities,
    /// No capability authorises the session; the most relevant failure is reported (the last
    /// capability bound to this session key, else the last one).
    #[error("capability: #{index}: {error}")]
    Capability {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Why it failed.
        error: CapabilityError,
    },
    /// The only capability that could authorise the session is a `lit.bls`/`LIT_BLS` AuthSig
    /// and no network BLS public key is configured ([`super::VerifyPolicy::with_network_key`]).
    /// Everything else passed.
    #[error("needs-network-key: capability #{index} ({address}) is a lit.bls network signature; verifying it needs the network BLS public key")]
    NeedsNetworkKey {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Its `address` field (the PKP's address).
        address: String,
    },
    /// Strict: `sessionKey` differs from the signing key in `address`.
    #[error("strict-session-key: sessionKey {session_key:?} is not the signing key {address:?}")]
    SessionKeyMismatch {
        /// The signed `sessionKey`.
        session_key: String,
        /// The session sig's `address`.
        address: String,
    },
    /// Strict: some capability is invalid or expired (the node's rate-limit path fails on it).
    #[error("strict-capability: #{index}: {error}")]
    InvalidCapability {
        /// 0-based position in `capabilities`.
        index: usize,
        /// Why it is invalid.
        error: CapabilityError,
    },
    /// Strict: a capability's `address` field is not its SIWE address.
    #[error("strict-address: capability #{index} has address {field:?} but its SIWE is signed by {siwe}")]
    AddressMismatch {
        /// 0-based position in `capabilities`.
        index: usize,
        /// The `address` field.
        field: String,
        /// The SIWE address (EIP-55).
        siwe: String,
    },
    /// Strict: a capability's SIWE domain is not on the allow-list.
    #[error("strict-domain: capability #{index} was signed for domain {domain:?}, which is not allowed")]
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// `signedMessage` is not a SIWE message the `siwe` crate accepts.
    #[error("siwe: {0}")]
    Siwe(String),
    /// The SIWE is expired or not yet valid at now (no grace).
    #[error("siwe-time: the SIWE is not valid at {now} (not before {not_before}, expires {expiration})")]
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
    #[error("signature-encoding: {0}")]
    SignatureEncoding(String),
    /// The `LIT_BLS` signature does not verify over `sha256("lit_session:" + hex(eip191))`
    /// against any configured network key.
    #[error("bls-signature: the network BLS signature does not verify against the {keys} configured network key(s)")]
    BlsSignature {
        /// How many network keys were tried.
        keys: usize,
    },
    /// Strict: the SDK's `LIT_BLS` reuse check failed (it requires an expiration, now before
    /// it, and Issued At not in the future; no grace).
    #[error(
        "sdk-bls-time: the SDK would re-sign this LIT_BLS AuthSig at {now} (issued {issued_at}, expires {expiration})"
    )]
    SdkBlsTime {
        /// The verifier's clock.
        now: Timestamp,
        /// `Issued At` as written.
        issued_at: String,
        /// `Expiration Time`, or `-`.
        expiration: String,
    },
    /// The EIP-191 signature does not recover to the SIWE address.
    #[error("wallet-signature: the EIP-191 signature does not recover to the SIWE address {siwe}")]
    WrongSigner {
        /// The SIWE address (EIP-55).
        siwe: String,
    },
    /// The SIWE URI does not bind this session key.
    #[error("uri: the SIWE URI is {uri:?}, expected {expected:?}")]
    UriMismatch {
        /// The SIWE URI.
        uri: String,
        /// `lit:session:<address>`.
        expected: String,
    },
    /// A `urn:recap:` resource does not decode.
    #[error("recap: resource #{index} does not decode: {detail}")]
    Recap {
        /// 0-based position among the SIWE resources.
        index: usize,
        /// The decoding error.
        detail: String,
    },
    /// The SIWE statement does not end with a ReCap's statement.
    #[error("recap-statement: the SIWE statement does not end with the statement of ReCap resource #{index}")]
    StatementMismatch {
        /// 0-based position among the SIWE resources.
        index: usize,
    },
    /// No ReCap grants the requested ability on the requested resource.
    #[error("recap-grant: no ReCap grants {ability} on {resource}")]
    NotGranted {
        /// `prefix://id`.
        resource: String,
        /// The ability.
        ability: String,
    },
    /// A kind of AuthSig this verifier cannot check (e.g. EIP-1271 contract signatures).
    #[error("unsupported: {0} capabilities are not supported")]
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
