//! Capability AuthSigs (the node's rule 6): what can be learnt from one AuthSig once and for all
//! ([`CheckedCapability`], cached by the [`super::Verifier`]), and the per-request checks on top
//! (clock, URI, ReCap grant).

use time::OffsetDateTime;

use crate::bls::{session_digest_from_eip191, BlsSignature, NetworkPublicKey};

use super::error::CapabilityError;
use super::node::hex::hex_to_bytes;
use crate::eth::{recover_as_siwe_0_5, EthAddress, SignatureError};
use crate::protocol::auth_sig::{AuthMaterialType, JsonAuthSig, SESSION_URI_PREFIX};
use crate::recap::{Recap, RECAP_URN_PREFIX};
use crate::resources::{LitAbility, LitResource};
use crate::Timestamp;

/// What kind of AuthSig a capability is, from `derivedVia` / `algo` as the node classifies it
/// ([`AuthMaterialType::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityKind {
    /// An EIP-191 wallet signature (`WalletSig`: anything not listed below).
    Wallet,
    /// `derivedVia: "lit.bls"` with `algo: "LIT_BLS"`: signed by the network's BLS key.
    NetworkBls,
    /// A kind the node refuses as a capability (`ContractSig`: `EIP1271`, `EIP1271_SHA256`;
    /// `SessionSig`: `litSessionSignViaNacl` with `ed25519`); holds the `derivedVia`.
    Unsupported(String),
}

impl CapabilityKind {
    /// Classifies by `derivedVia` and `algo` as the node does: exact values only, so
    /// `lit.bls` without `LIT_BLS`, or `litSessionSignViaNacl` without `ed25519`, is a wallet
    /// signature.
    pub fn of(derived_via: &str, algo: Option<&str>) -> Self {
        match AuthMaterialType::of(derived_via, algo) {
            AuthMaterialType::WalletSig => Self::Wallet,
            AuthMaterialType::BlsNetworkSig => Self::NetworkBls,
            AuthMaterialType::ContractSig | AuthMaterialType::SessionSig => Self::Unsupported(derived_via.to_string()),
        }
    }

    /// A short name for display: `wallet`, `lit.bls` or the `derivedVia`.
    pub fn name(&self) -> &str {
        match self {
            Self::Wallet => "wallet",
            Self::NetworkBls => "lit.bls",
            Self::Unsupported(s) => s,
        }
    }
}

/// Whether the capability's own signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The EIP-191 signature recovers to the SIWE address, or the BLS signature verifies
    /// against a configured network key.
    Valid,
    /// It does not, or cannot be read.
    Invalid(CapabilityError),
    /// A network BLS signature and no network key configured.
    NeedsNetworkKey,
}

/// The SIWE facts of a capability and its time-independent checks.
#[derive(Debug, Clone)]
pub struct SiweFacts {
    /// The SIWE signer.
    pub address: EthAddress,
    /// The SIWE domain.
    pub domain: String,
    /// The SIWE URI.
    pub uri: String,
    /// `Issued At` as written.
    pub issued_at: String,
    /// `Issued At`.
    pub issued_at_time: OffsetDateTime,
    /// `Not Before`.
    pub not_before: Option<OffsetDateTime>,
    /// `Expiration Time`.
    pub expiration: Option<OffsetDateTime>,
    /// The signature check.
    pub signature: SignatureStatus,
    /// Whether the SIWE has a statement (the node checks ReCap statements only then).
    pub has_statement: bool,
    /// The `urn:recap:` resources the node decodes, or the first whose statement is not a
    /// suffix of the SIWE statement.
    pub recaps: Result<Vec<Recap>, CapabilityError>,
    /// `urn:recap:` resources the node cannot decode and silently drops: position and reason.
    pub dropped_recaps: Vec<(usize, String)>,
    /// Why a wallet `sig` is not in the canonical form (`0x`, 130 lower-case hex digits, v 27
    /// or 28, low s), if it is not: the node accepts it, the strict policy does not.
    pub noncanonical_signature: Option<String>,
}

impl SiweFacts {
    /// The SIWE's validity at `now`, as the `siwe` crate's `valid_at` (no grace).
    pub fn check_time(&self, now: Timestamp) -> Result<(), CapabilityError> {
        let t = now.as_datetime();
        let nbf_ok = self.not_before.map_or(true, |nbf| nbf < t);
        let exp_ok = self.expiration.map_or(true, |exp| exp >= t);
        if nbf_ok && exp_ok {
            return Ok(());
        }
        let show = |d: Option<OffsetDateTime>| d.map_or("-".to_string(), |d| Timestamp::from_datetime(d).to_string());
        Err(CapabilityError::NotValidNow { now, not_before: show(self.not_before), expiration: show(self.expiration) })
    }

    /// The SDK's stricter reuse check for `LIT_BLS` AuthSigs (`blsSessionSigVerify`): an
    /// `Expiration Time` is required, now < expiration, and `Issued At` ≤ now. The node does
    /// not apply it (it uses [`Self::check_time`]); the strict policy does.
    pub fn check_sdk_bls_time(&self, now: Timestamp) -> Result<(), CapabilityError> {
        let t = now.as_datetime();
        let exp_ok = self.expiration.is_some_and(|exp| t < exp);
        if exp_ok && self.issued_at_time <= t {
            return Ok(());
        }
        Err(CapabilityError::SdkBlsTime {
            now,
            issued_at: self.issued_at.clone(),
            expiration: self.expiration.map_or("-".to_string(), |d| Timestamp::from_datetime(d).to_string()),
        })
    }

    /// Every Lit grant of the decoded ReCaps as `prefix://id Namespace/ability`.
    pub fn grants(&self) -> Vec<String> {
        match &self.recaps {
            Ok(recaps) => recaps.iter().flat_map(Recap::lit_grants).map(|(r, a)| format!("{r} {a}")).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Everything about one capability that depends neither on the clock nor on the request: the
/// expensive part (SIWE parse, EIP-191 recovery or BLS pairing check, ReCap decoding), worth
/// caching. A BLS result depends on the network keys it was checked with.
#[derive(Debug, Clone)]
pub struct CheckedCapability {
    /// Wallet, network BLS or unsupported.
    pub kind: CapabilityKind,
    /// The parsed SIWE, or why it does not parse.
    pub siwe: Result<SiweFacts, CapabilityError>,
}

/// The outcome of a capability that passed every check this verifier can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// Fully verified.
    Valid,
    /// Everything but the BLS signature passed; no network key was configured.
    NeedsNetworkKey,
}

impl CheckedCapability {
    /// Parses and checks `cap` (the slow part). A `LIT_BLS` signature is verified against
    /// `network_keys` (any may match); with none it is [`SignatureStatus::NeedsNetworkKey`].
    pub fn check<S: AsRef<str>>(cap: &JsonAuthSig<S>, network_keys: &[NetworkPublicKey]) -> Self {
        let cap = cap.view();
        let kind = CapabilityKind::of(cap.derived_via, cap.algo);
        let siwe = check_siwe(&kind, cap.sig, cap.signed_message, network_keys);
        Self { kind, siwe }
    }

    /// The SIWE expiration, if the SIWE parsed and has one.
    pub fn expiration(&self) -> Option<OffsetDateTime> {
        self.siwe.as_ref().ok().and_then(|s| s.expiration)
    }

    /// The node's session-path check (`validate_capabilities_array`), in its order: SIWE,
    /// time at `now`, signature, URI `lit:session:<session_address>`, every ReCap statement a
    /// suffix of the SIWE statement, and some ReCap granting `ability` on `resource`.
    pub fn authorises(
        &self,
        session_address: &str,
        resource: &LitResource,
        ability: LitAbility,
        now: Timestamp,
    ) -> Result<Passed, CapabilityError> {
        if let CapabilityKind::Unsupported(kind) = &self.kind {
            return Err(CapabilityError::Unsupported(kind.clone()));
        }
        let siwe = self.siwe.as_ref().map_err(Clone::clone)?;
        siwe.check_time(now)?;
        let passed = match &siwe.signature {
            SignatureStatus::Valid => Passed::Valid,
            SignatureStatus::Invalid(e) => return Err(e.clone()),
            SignatureStatus::NeedsNetworkKey => Passed::NeedsNetworkKey,
        };
        if !self.bound_to(session_address) {
            return Err(CapabilityError::UriMismatch {
                uri: siwe.uri.clone(),
                expected: format!("{SESSION_URI_PREFIX}{session_address}"),
            });
        }
        let recaps = siwe.recaps.as_ref().map_err(Clone::clone)?;
        if !recaps.iter().any(|r| r.grants(resource, ability)) {
            return Err(CapabilityError::NotGranted { resource: resource.key(), ability: ability.recap_key() });
        }
        Ok(passed)
    }

    /// The rate-limit path's check (`validate_capability_auth_sig`): SIWE, time at `now` and
    /// signature; no URI or ReCap check.
    pub fn valid_at(&self, now: Timestamp) -> Result<Passed, CapabilityError> {
        if let CapabilityKind::Unsupported(kind) = &self.kind {
            return Err(CapabilityError::Unsupported(kind.clone()));
        }
        let siwe = self.siwe.as_ref().map_err(Clone::clone)?;
        siwe.check_time(now)?;
        match &siwe.signature {
            SignatureStatus::Valid => Ok(Passed::Valid),
            SignatureStatus::Invalid(e) => Err(e.clone()),
            SignatureStatus::NeedsNetworkKey => Ok(Passed::NeedsNetworkKey),
        }
    }

    /// Whether the SIWE URI is `lit:session:<session_address>`.
    pub fn bound_to(&self, session_address: &str) -> bool {
        self.siwe
            .as_ref()
            .is_ok_and(|s| s.uri.strip_prefix(SESSION_URI_PREFIX).is_some_and(|rest| rest == session_address))
    }
}

fn check_siwe(
    kind: &CapabilityKind,
    sig: &str,
    text: &str,
    network_keys: &[NetworkPublicKey],
) -> Result<SiweFacts, CapabilityError> {
    let msg = crate::siwe::parse(text).map_err(|e| CapabilityError::Siwe(e.to_string()))?;
    let mut noncanonical_signature = None;
    let signature = match kind {
        CapabilityKind::NetworkBls if network_keys.is_empty() => SignatureStatus::NeedsNetworkKey,
        CapabilityKind::NetworkBls => check_bls(&msg, sig, network_keys),
        _ => {
            let status = check_wallet_sig(&msg, sig);
            noncanonical_signature = wallet_sig_form(sig);
            status
        }
    };
    let (recaps, dropped_recaps) = decode_recaps(msg.statement.as_deref(), msg.resources.iter().map(|r| r.as_str()));
    Ok(SiweFacts {
        address: EthAddress::from_bytes(msg.address),
        domain: msg.domain.to_string(),
        uri: msg.uri.to_string(),
        issued_at: msg.issued_at.to_string(),
        issued_at_time: *msg.issued_at.as_ref(),
        not_before: msg.not_before.as_ref().map(|t| *t.as_ref()),
        expiration: msg.expiration_time.as_ref().map(|t| *t.as_ref()),
        signature,
        has_statement: msg.statement.is_some(),
        recaps,
        dropped_recaps,
        noncanonical_signature,
    })
}

/// The wallet signature as the node checks it (`SiweValidator::validate_auth_sig_basic`):
/// lit-core's `hex_to_bytes` (`0x` optional, odd length padded, any case), 65 bytes, then the
/// `siwe` 0.5 recovery over the crate's re-rendering of the SIWE ([`recover_as_siwe_0_5`]).
fn check_wallet_sig(msg: &::siwe::Message, sig: &str) -> SignatureStatus {
    let invalid = |why: String| SignatureStatus::Invalid(CapabilityError::SignatureEncoding(why));
    let Some(bytes) = hex_to_bytes(sig) else { return invalid("sig is not hex".into()) };
    let Ok(bytes) = <[u8; 65]>::try_from(bytes.as_slice()) else {
        return invalid(format!("sig must be 65 bytes, got {}", bytes.len()));
    };
    let digest = match msg.eip191_hash() {
        Ok(d) => d,
        Err(e) => return SignatureStatus::Invalid(CapabilityError::Siwe(e.to_string())),
    };
    match recover_as_siwe_0_5(&bytes, &digest) {
        Ok(signer) if signer.as_bytes() == &msg.address => SignatureStatus::Valid,
        Ok(_) | Err(SignatureError::NotRecoverable) => SignatureStatus::Invalid(CapabilityError::WrongSigner {
            siwe: EthAddress::from_bytes(msg.address).to_checksum(),
        }),
        Err(e) => invalid(e.to_string()),
    }
}

// What `--strict` wants of a wallet signature: what ethers and the SDK write.
fn wallet_sig_form(sig: &str) -> Option<String> {
    let Some(digits) = sig.strip_prefix("0x") else { return Some("no 0x prefix".into()) };
    if digits.len() != 130 || !digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Some("not 130 lower-case hex digits".into());
    }
    let mut bytes = [0u8; 65];
    hex::decode_to_slice(digits, &mut bytes).ok()?;
    if !matches!(bytes[64], 27 | 28) {
        return Some(format!("v is {}, not 27 or 28", bytes[64]));
    }
    match k256::ecdsa::Signature::from_slice(&bytes[..64]) {
        Ok(s) if s.normalize_s().is_some() => Some("s is high (EIP-2)".into()),
        _ => None,
    }
}

/// The node's BLS capability check: the digest of the `siwe` crate's re-rendering (its
/// `eip191_hash`), the `sig` JSON as blsful's `Signature`, verified against each key.
fn check_bls(msg: &::siwe::Message, sig: &str, network_keys: &[NetworkPublicKey]) -> SignatureStatus {
    let eip191 = match msg.eip191_hash() {
        Ok(h) => h,
        Err(e) => return SignatureStatus::Invalid(CapabilityError::Siwe(e.to_string())),
    };
    let signature = match BlsSignature::from_sig_json(sig) {
        Ok(s) => s,
        Err(e) => return SignatureStatus::Invalid(CapabilityError::SignatureEncoding(e.to_string())),
    };
    let digest = session_digest_from_eip191(&eip191);
    if network_keys.iter().any(|key| signature.verify(key, &digest).is_ok()) {
        SignatureStatus::Valid
    } else {
        SignatureStatus::Invalid(CapabilityError::BlsSignature { keys: network_keys.len() })
    }
}

/// The node's `extract_and_verify_all_capabilities`: every `urn:recap:` resource that decodes
/// ([`Recap::decode_as_node`]; the others are dropped), and, when the SIWE has a statement, each
/// one's statement must end it.
#[allow(clippy::type_complexity)]
fn decode_recaps<'a>(
    statement: Option<&str>,
    resources: impl Iterator<Item = &'a str>,
) -> (Result<Vec<Recap>, CapabilityError>, Vec<(usize, String)>) {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for (index, uri) in resources.enumerate() {
        if !uri.starts_with(RECAP_URN_PREFIX) {
            continue;
        }
        match Recap::decode_as_node(uri) {
            Ok(recap) => out.push((index, recap)),
            Err(e) => dropped.push((index, e.to_string())),
        }
    }
    if let Some(statement) = statement {
        if let Some((index, _)) = out.iter().find(|(_, r)| !statement.ends_with(&r.node_statement())) {
            return (Err(CapabilityError::StatementMismatch { index: *index }), dropped);
        }
    }
    (Ok(out.into_iter().map(|(_, r)| r).collect()), dropped)
}
