//! The reuse rule: when a cached AuthSig may sign another session, and why not otherwise
//! ([`decide`]).
//!
//! The SDK's `checkNeedToResignSessionKey` re-signs when the signature, the session key in the
//! URI or the ReCap grants no longer fit, or the AuthSig has expired. It does not look at who
//! signed (an app that switches accounts must call `disconnectWeb3`), at an expiry moments
//! away, or at a requested session that outlives the AuthSig. This rule checks all of them,
//! and does the expensive part (SIWE parse, EIP-191 recovery, ReCap decoding) once per AuthSig
//! rather than once per call.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use time::Duration;

use super::auth_store::{AuthSigKey, AuthStoreError, GrantsDigest};
use crate::auth_sig::AuthSig;
use crate::bls::NetworkPublicKey;
use crate::error_chain::error_chain;
use crate::eth::EthAddress;
use crate::protocol::SessionFormat;
use crate::protocol::SESSION_URI_PREFIX;
use crate::recap::Recap;
use crate::resources::ResourceAbilityRequest;
use crate::siwe::recap_for_requests;
use crate::timestamp::Timestamp;
use crate::verify::{CapabilityError, CapabilityKind, CheckedCapability, SignatureStatus};

/// Why the manager asked for a new AuthSig instead of reusing one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResignReason {
    /// Nothing cached for this signer and session key.
    NotCached,
    /// The cached entry could not be read as an AuthSig.
    CorruptCache(String),
    /// The session key was replaced by rotation.
    KeyRotated,
    /// The cached AuthSig was signed by another address than the configured signer.
    SignerChanged {
        /// Who signed the cached AuthSig.
        cached: String,
        /// Who signs now.
        configured: EthAddress,
    },
    /// The SIWE URI is not `lit:session:<current session key>`.
    SessionKeyChanged {
        /// The cached SIWE's URI.
        uri: String,
    },
    /// The AuthSig does not verify, or its SIWE or ReCap does not parse.
    Invalid(CapabilityError),
    /// A network-signed (`LIT_BLS`) AuthSig and no network key to check it with.
    Unverifiable,
    /// The SIWE has no `Expiration Time`.
    NoExpiration,
    /// It has expired.
    Expired {
        /// Its `Expiration Time`.
        expiration: Timestamp,
    },
    /// It expires within the configured margin.
    ExpiresSoon {
        /// Its `Expiration Time`.
        expiration: Timestamp,
        /// The margin.
        margin: Duration,
    },
    /// It expires before the expiration the caller asked for.
    ExpiresBeforeRequested {
        /// Its `Expiration Time`.
        expiration: Timestamp,
        /// The session expiration asked for.
        requested: Timestamp,
    },
    /// Its `Not Before` is still ahead.
    NotYetValid {
        /// Its `Not Before`.
        not_before: Timestamp,
    },
    /// Its ReCap does not grant a requested ability.
    NotCovered {
        /// The request, as `prefix://id=Ability`.
        request: String,
    },
    /// Its ReCap grants more than the call asked for, and the manager reuses only AuthSigs that
    /// grant exactly the request ([`ReuseGrants::Exact`]).
    GrantsMore {
        /// The grants the request does not name, as `resource ability`.
        extra: String,
    },
    /// A network-signed (PKP) AuthSig, which only the Datil `sign_session_key` makes, for a v8
    /// (Naga) session.
    NotForFormat {
        /// The session's format.
        format: SessionFormat,
    },
}

impl ResignReason {
    /// The reason with `subject` naming the AuthSig (Display says "the cached AuthSig").
    ///
    /// ```
    /// use lit_session_signer::manager::ResignReason;
    /// let reason = ResignReason::Expired { expiration: "2026-01-20T09:45:15.250Z".parse().unwrap() };
    /// assert_eq!(reason.to_string(), "the cached AuthSig expired at 2026-01-20T09:45:15.250Z");
    /// assert_eq!(reason.describe("it"), "it expired at 2026-01-20T09:45:15.250Z");
    /// ```
    pub fn describe(&self, subject: &str) -> String {
        match self {
            Self::NotCached => "no cached AuthSig for this signer and session key".to_string(),
            Self::CorruptCache(why) => format!("{subject} is corrupt ({why})"),
            Self::KeyRotated => "the session key was rotated".to_string(),
            Self::SignerChanged { cached, configured } => {
                format!("{subject} was signed by {cached}, the signer is now {configured}")
            }
            Self::SessionKeyChanged { uri } => format!("{subject} is for another session key ({uri})"),
            Self::Invalid(e) => format!("{subject} is invalid ({e})"),
            Self::Unverifiable => format!("{subject} is network-signed and no network key is configured"),
            Self::NoExpiration => format!("{subject} has no expiration time"),
            Self::Expired { expiration } => format!("{subject} expired at {expiration}"),
            Self::ExpiresSoon { expiration, margin } => {
                format!("{subject} expires at {expiration}, within the {}s margin", margin.whole_seconds())
            }
            Self::ExpiresBeforeRequested { expiration, requested } => {
                format!("{subject} expires at {expiration}, before the requested {requested}")
            }
            Self::NotYetValid { not_before } => format!("{subject} is not valid before {not_before}"),
            Self::NotCovered { request } => format!("{subject} does not grant {request}"),
            Self::GrantsMore { extra } => format!("{subject} grants more than requested ({extra})"),
            Self::NotForFormat { format } => {
                format!("{subject} is network-signed (a Datil PKP AuthSig) and cannot serve a {format} session")
            }
        }
    }
}

impl fmt::Display for ResignReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the cached AuthSig"))
    }
}

/// Whether a call reused the cached AuthSig or got a new one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSigUse {
    /// The cached AuthSig was reused.
    Reused {
        /// Its expiration.
        expiration: Timestamp,
    },
    /// The signer was asked for a new AuthSig.
    Signed {
        /// Why the cached one (if any) was not reused.
        reason: ResignReason,
        /// The new AuthSig's expiration.
        expiration: Timestamp,
    },
}

impl fmt::Display for AuthSigUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reused { expiration } => write!(f, "reused the cached AuthSig (expires {expiration})"),
            Self::Signed { reason, expiration } => {
                write!(f, "re-signed the AuthSig because {reason} (new one expires {expiration})")
            }
        }
    }
}

/// What a call needs from the cached AuthSig.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs<'a> {
    pub now: Timestamp,
    pub margin: Duration,
    pub session_address: &'a str,
    pub signer: EthAddress,
    pub requests: &'a [ResourceAbilityRequest],
    pub until: Option<Timestamp>,
    pub format: SessionFormat,
    pub grants: ReuseGrants,
}

/// Which AuthSigs may serve a call, by what their ReCap grants.
///
/// The node checks a session's abilities against its AuthSig's ReCap, not against the resource
/// list the session key signed, so an AuthSig that grants more than a call asked for lends the
/// call's session that extra power. One caller asking for everything it uses is served well by
/// [`Covering`](Self::Covering); a service that mints for several clients under different
/// grants needs [`Exact`](Self::Exact), or a client could borrow another's abilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReuseGrants {
    /// Reuse an AuthSig whose ReCap grants at least the request (the SDK's rule).
    #[default]
    Covering,
    /// Reuse only an AuthSig whose ReCap grants exactly what the request asks for: the same
    /// resources, abilities and restrictions. Each grant set has its own cache entry
    /// ([`AuthSigKey::grants`]), so callers alternating K grant sets cause K signatures per
    /// AuthSig lifetime, not one per switch.
    Exact,
}

impl ReuseGrants {
    /// The grant part of the cache key for `requests`: one entry per grant set when only exact
    /// AuthSigs serve; one entry for all when a covering AuthSig serves.
    pub(crate) fn cache_key(self, requests: &[ResourceAbilityRequest]) -> Option<GrantsDigest> {
        match self {
            Self::Covering => None,
            Self::Exact => Some(GrantsDigest::of_requests(requests)),
        }
    }
}

/// An AuthSig with its time-independent checks done once.
#[derive(Debug)]
pub(crate) struct CachedAuthSig {
    pub auth_sig: AuthSig,
    /// The AuthSig as the JSON object placed in `capabilities`.
    pub json: Value,
    checked: CheckedCapability,
}

impl CachedAuthSig {
    /// Checks `auth_sig` once; `LIT_BLS` AuthSigs verify against `network_keys`.
    pub fn new(auth_sig: AuthSig, network_keys: &[NetworkPublicKey]) -> Self {
        let checked = CheckedCapability::check(&auth_sig, network_keys);
        let json = serde_json::to_value(&auth_sig).expect("an AuthSig of strings serialises to JSON");
        Self { auth_sig, json, checked }
    }

    /// Who signed the SIWE, if it parsed.
    pub fn siwe_signer(&self) -> Option<EthAddress> {
        self.checked.siwe.as_ref().ok().map(|s| s.address)
    }

    /// The SIWE `Expiration Time`, if it parsed and has one.
    pub fn expiration(&self) -> Option<Timestamp> {
        self.checked.expiration().map(Timestamp::from_datetime)
    }

    /// `Ok(expiration)` if this AuthSig may sign a session for `needs`, else why not. Cheap: no
    /// parsing or signature math.
    pub fn reusable(&self, needs: &Needs<'_>) -> Result<Timestamp, ResignReason> {
        let facts = self.checked.siwe.as_ref().map_err(|e| ResignReason::Invalid(e.clone()))?;
        // The `address` field is what the node takes as the user; the SIWE's is what was signed.
        let claimed = self.auth_sig.address.parse::<EthAddress>().ok();
        if facts.address != needs.signer || claimed != Some(needs.signer) {
            return Err(ResignReason::SignerChanged {
                cached: self.auth_sig.address.clone(),
                configured: needs.signer,
            });
        }
        if facts.uri.strip_prefix(SESSION_URI_PREFIX) != Some(needs.session_address) {
            return Err(ResignReason::SessionKeyChanged { uri: facts.uri.clone() });
        }
        // Both generations check an EOA AuthSig alike (signature, time, URI, ReCap; statement and
        // domain are not looked at), so one serves either format. A network-signed one comes
        // from Datil's sign_session_key only.
        if needs.format != SessionFormat::V1 && self.checked.kind == CapabilityKind::NetworkBls {
            return Err(ResignReason::NotForFormat { format: needs.format });
        }
        match &facts.signature {
            SignatureStatus::Valid => {}
            SignatureStatus::Invalid(e) => return Err(ResignReason::Invalid(e.clone())),
            SignatureStatus::NeedsNetworkKey => return Err(ResignReason::Unverifiable),
        }
        let expiration = self.expiration().ok_or(ResignReason::NoExpiration)?;
        if let Some(nbf) = facts.not_before.map(Timestamp::from_datetime) {
            if nbf >= needs.now {
                return Err(ResignReason::NotYetValid { not_before: nbf });
            }
        }
        if expiration < needs.now {
            return Err(ResignReason::Expired { expiration });
        }
        if expiration <= needs.now.saturating_add(needs.margin) {
            return Err(ResignReason::ExpiresSoon { expiration, margin: needs.margin });
        }
        if let Some(requested) = needs.until {
            if expiration < requested {
                return Err(ResignReason::ExpiresBeforeRequested { expiration, requested });
            }
        }
        let recaps = facts.recaps.as_ref().map_err(|e| ResignReason::Invalid(e.clone()))?;
        for r in needs.requests {
            if !recaps.iter().any(|recap| recap.grants(r.resource(), r.ability())) {
                return Err(ResignReason::NotCovered { request: r.to_string() });
            }
        }
        if needs.grants == ReuseGrants::Exact {
            exactly_granted(recaps, needs.requests)?;
        }
        Ok(expiration)
    }
}

/// `Ok` if `recaps` together grant exactly what a new AuthSig for `requests` would.
fn exactly_granted(recaps: &[Recap], requests: &[ResourceAbilityRequest]) -> Result<(), ResignReason> {
    let mut granted = BTreeMap::new();
    for recap in recaps {
        for (resource, abilities) in recap.attenuations() {
            for (ability, restrictions) in abilities {
                granted.insert((resource.clone(), ability.clone()), restrictions.clone());
            }
        }
    }
    let mut wanted = BTreeMap::new();
    for (resource, abilities) in recap_for_requests(requests).attenuations() {
        for (ability, restrictions) in abilities {
            wanted.insert((resource.clone(), ability.clone()), restrictions.clone());
        }
    }
    if granted == wanted {
        return Ok(());
    }
    let extra: Vec<String> = granted
        .iter()
        .filter(|(k, v)| wanted.get(*k) != Some(*v))
        .map(|((resource, ability), _)| format!("{resource} {ability}"))
        .collect();
    Err(ResignReason::GrantsMore { extra: extra.join(", ") })
}

/// Where the manager found its candidate AuthSig.
pub(crate) enum Lookup {
    /// The in-memory copy, which is for this signer and session key.
    Memory(Arc<CachedAuthSig>),
    /// The store's answer (the in-memory copy was for another pair, or there was none).
    Store(Result<Option<AuthSig>, AuthStoreError>),
}

/// What [`decide`] found.
pub(crate) struct Decision {
    /// The AuthSig to reuse and its expiration; `None`: ask the signer for a new one.
    pub reuse: Option<(Arc<CachedAuthSig>, Timestamp)>,
    /// Why a new one is needed (meaningless when `reuse` is set).
    pub reason: ResignReason,
    /// Problems that do not stop the call (a corrupt or unreadable cache).
    pub warnings: Vec<String>,
}

/// Whether the candidate from `lookup` may sign this session. `held` is the in-memory entry
/// used last (it names the previous signer when the signer changed, or the grant set the caller
/// switched from) and `rotated` says whether the session key was just replaced; both only choose
/// the reason given when nothing usable was found.
pub(crate) fn decide(
    held: Option<(&AuthSigKey, &Arc<CachedAuthSig>)>,
    rotated: bool,
    lookup: Lookup,
    needs: &Needs<'_>,
    network_keys: &[NetworkPublicKey],
) -> Decision {
    let mut reason = match held {
        _ if rotated => ResignReason::KeyRotated,
        Some((k, c)) if k.signer != needs.signer => {
            ResignReason::SignerChanged { cached: c.auth_sig.address.clone(), configured: needs.signer }
        }
        // Another grant set's AuthSig: why it does not serve this one (e.g. it grants more).
        Some((_, c)) => c.reusable(needs).err().unwrap_or(ResignReason::NotCached),
        None => ResignReason::NotCached,
    };
    let mut warnings = Vec::new();
    let candidate = match lookup {
        Lookup::Memory(cached) => Some(cached),
        Lookup::Store(Ok(Some(auth_sig))) => Some(Arc::new(CachedAuthSig::new(auth_sig, network_keys))),
        Lookup::Store(Ok(None)) => None,
        Lookup::Store(Err(AuthStoreError::Corrupt { path, reason: why })) => {
            warnings.push(format!("cached AuthSig {} is corrupt ({why}); replacing it", path.display()));
            reason = ResignReason::CorruptCache(why);
            None
        }
        Lookup::Store(Err(e)) => {
            warnings.push(format!("{}; signing a new AuthSig", error_chain(&e)));
            None
        }
    };
    let reuse = candidate.and_then(|cached| match cached.reusable(needs) {
        Ok(expiration) => Some((cached, expiration)),
        Err(why) => {
            reason = why;
            None
        }
    });
    Decision { reuse, reason, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::auth_sig::{ALGO_LIT_BLS, DERIVED_VIA_LIT_BLS};
    use crate::siwe::SiweMessage;

    // A network-signed (PKP) AuthSig serves a v7 session (given the network key) but never a v8
    // one; the same AuthSig as a wallet signature would serve both.
    #[test]
    fn a_network_signed_auth_sig_does_not_serve_a_v8_session() {
        let pkp: EthAddress = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf".parse().unwrap();
        let now: Timestamp = "2026-03-01T12:00:00.000Z".parse().unwrap();
        let session = "ab".repeat(32);
        let requests: Vec<ResourceAbilityRequest> = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let text = SiweMessage::new(pkp, "0x3a9c4f1e8b7d6a5c", now)
            .with_uri(&format!("{SESSION_URI_PREFIX}{session}"))
            .with_requests(&requests)
            .render()
            .unwrap();
        let auth_sig = AuthSig {
            sig: r#"{"ProofOfPossession":"00"}"#.into(),
            derived_via: DERIVED_VIA_LIT_BLS.into(),
            signed_message: text,
            address: pkp.to_checksum(),
            algo: Some(ALGO_LIT_BLS.into()),
        };
        let cached = CachedAuthSig::new(auth_sig, &[]);
        let needs = |format| Needs {
            now,
            margin: Duration::minutes(5),
            session_address: &session,
            signer: pkp,
            requests: &requests,
            until: None,
            format,
            grants: ReuseGrants::Covering,
        };
        assert_eq!(cached.reusable(&needs(SessionFormat::V1)), Err(ResignReason::Unverifiable));
        let v8 = cached.reusable(&needs(SessionFormat::V2)).unwrap_err();
        assert_eq!(v8, ResignReason::NotForFormat { format: SessionFormat::V2 });
        assert_eq!(
            v8.to_string(),
            "the cached AuthSig is network-signed (a Datil PKP AuthSig) and cannot serve a v8 (Naga) session"
        );
    }
}
