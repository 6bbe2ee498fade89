//! Capability AuthSigs (the node's rule 6): what can be learnt from one AuthSig once and for all
//! ([`CheckedCapability`], cached by the [`super::Verifier`]), and the per-request checks on top
//! (clock, URI, ReCap grant).

use time::OffsetDateTime;

use crate::bls::{session_digest_from_eip191, BlsSignature, NetworkPublicKey};

use super::error::CapabilityError;
use crate::eth::EthAddress;
use crate::protocol::auth_sig::{is_lit_bls, JsonAuthSig, DERIVED_VIA_SESSION, SESSION_URI_PREFIX};
use crate::recap::{Recap, RECAP_URN_PREFIX};
use crate::resources::{LitAbility, LitResource};
use crate::Timestamp;

/// What kind of AuthSig a capability is, from `derivedVia` / `algo` (as `auth_material.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityKind {
    /// An EIP-191 wallet signature (anything not listed below).
    Wallet,
    /// `derivedVia: "lit.bls"` with `algo: "LIT_BLS"`: signed by the network's BLS key.
    NetworkBls,
    /// Something this verifier cannot check (`EIP1271…`, or a nested session signature).
    Unsupported(String),
}

impl CapabilityKind {
    /// Classifies by `derivedVia` and `algo` as the node does: network BLS only when both
    /// match; `lit.bls` without `LIT_BLS` falls through to a wallet signature.
    pub fn of(derived_via: &str, algo: Option<&str>) -> Self {
        if is_lit_bls(derived_via, algo) {
            Self::NetworkBls
        } else if derived_via.starts_with("EIP1271") || derived_via == DERIVED_VIA_SESSION {
            Self::Unsupported(derived_via.to_string())
        } else {
            Self::Wallet
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
    /// The decoded `urn:recap:` resources, or the first decoding / statement-suffix failure.
    pub recaps: Result<Vec<Recap>, CapabilityError>,
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
    let signature = match kind {
        CapabilityKind::NetworkBls if network_keys.is_empty() => SignatureStatus::NeedsNetworkKey,
        CapabilityKind::NetworkBls => check_bls(&msg, sig, network_keys),
        _ => match decode_wallet_sig(sig) {
            Err(e) => SignatureStatus::Invalid(e),
            // The siwe crate hashes its own re-rendering and takes v mod 27, as the node.
            Ok(bytes) => match msg.verify_eip191(&bytes) {
                Ok(_) => SignatureStatus::Valid,
                Err(_) => SignatureStatus::Invalid(CapabilityError::WrongSigner {
                    siwe: EthAddress::from_bytes(msg.address).to_checksum(),
                }),
            },
        },
    };
    let statement = msg.statement.as_deref().unwrap_or("");
    let recaps = decode_recaps(statement, msg.resources.iter().map(|r| r.as_str()));
    Ok(SiweFacts {
        address: EthAddress::from_bytes(msg.address),
        domain: msg.domain.to_string(),
        uri: msg.uri.to_string(),
        issued_at: msg.issued_at.to_string(),
        issued_at_time: *msg.issued_at.as_ref(),
        not_before: msg.not_before.as_ref().map(|t| *t.as_ref()),
        expiration: msg.expiration_time.as_ref().map(|t| *t.as_ref()),
        signature,
        recaps,
    })
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

fn decode_wallet_sig(sig: &str) -> Result<[u8; 65], CapabilityError> {
    let body = sig.strip_prefix("0x").unwrap_or(sig);
    let mut bytes = [0u8; 65];
    hex::decode_to_slice(body, &mut bytes).map_err(|_| {
        CapabilityError::SignatureEncoding(format!(
            "sig must be 65 bytes of hex, got {} characters",
            body.chars().count()
        ))
    })?;
    Ok(bytes)
}

fn decode_recaps<'a>(statement: &str, resources: impl Iterator<Item = &'a str>) -> Result<Vec<Recap>, CapabilityError> {
    let mut out = Vec::new();
    for (index, uri) in resources.enumerate() {
        if !uri.starts_with(RECAP_URN_PREFIX) {
            continue;
        }
        let recap = Recap::decode(uri).map_err(|e| CapabilityError::Recap { index, detail: e.to_string() })?;
        if !statement.ends_with(&recap.statement()) {
            return Err(CapabilityError::StatementMismatch { index });
        }
        out.push(recap);
    }
    Ok(out)
}
