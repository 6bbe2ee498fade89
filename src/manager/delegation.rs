//! Minting from a session AuthSig made earlier (the v8 SDK's "server sessions": keep the
//! session key and its delegation AuthSig, mint fresh session sigs right before each request),
//! without asking the wallet again.

use time::Duration;

use super::error::ManagerError;
use super::reuse::{CachedAuthSig, Needs, ReuseGrants};
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::{KeyId, SessionKeyStore};
use crate::session_sigs::{SessionSigs, SessionSigsRequest};

/// Signs `request` for every node with session key `key_id` of `store` and `delegation`, a
/// session AuthSig made earlier for that key, instead of a new one from the wallet.
///
/// `delegation` is checked as the manager checks a cached AuthSig: its signature recovers to
/// its `address`, its URI is `lit:session:<this key>`, it is valid at the request's clock and
/// until the session's expiration, and its ReCap grants every request (those a wildcard request
/// shadows aside, which no AuthSig for these requests grants). Without an expiration the
/// session lasts the format's default, cut to the delegation's expiration.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use lit_session_signer::manager::sign_with_delegation;
/// use lit_session_signer::session_sigs::{SessionParams, SessionSigsRequest};
/// use lit_session_signer::{auth_sig::AuthSig, wallet::MemoryWallet, SessionFormat};
///
/// let store = MemoryKeyStore::new();
/// let key = store.generate("session").unwrap();
/// let wallet = MemoryWallet::random().unwrap();
/// let request = SessionSigsRequest::from_params(
///     vec!["https://127.0.0.1:7470".parse().unwrap()],
///     vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
///     SessionParams::new("0x3a9c4f1e8b7d6a5c").with_format(SessionFormat::V2),
/// );
/// // Made once, e.g. when the service starts (with a longer expiration in practice).
/// let delegation = AuthSig::sign(&wallet, &request.session_siwe(&store.public_key(&key).unwrap(), &wallet)).unwrap();
/// // Later, per request: no wallet.
/// let sigs = sign_with_delegation(&request, &store, &key, delegation).unwrap();
/// assert_eq!(sigs.len(), 1);
/// ```
pub fn sign_with_delegation(
    request: &SessionSigsRequest,
    store: &(impl SessionKeyStore + ?Sized),
    key_id: &KeyId,
    delegation: AuthSig,
) -> Result<SessionSigs, ManagerError> {
    let nodes = request.session_nodes()?;
    let public_key = store.public_key(key_id)?;
    let cached = CachedAuthSig::new(delegation, &[]);
    let shadowed = request.ungranted_requests();
    let granted: Vec<_> = request.requests.iter().filter(|r| !shadowed.contains(r)).cloned().collect();
    let needs = Needs {
        now: request.now,
        margin: Duration::ZERO,
        session_address: &hex::encode(public_key.as_bytes()),
        // Whoever signed it: the check is that `address` names the SIWE's signer.
        signer: cached.siwe_signer().unwrap_or(EthAddress::from_bytes([0; 20])),
        requests: &granted,
        until: request.params.expiration,
        format: request.params.format,
        // An AuthSig the caller made for this key may grant more than one session uses.
        grants: ReuseGrants::Covering,
    };
    let expiration = cached.reusable(&needs).map_err(ManagerError::Delegation)?;
    let mut request = request.clone();
    if request.params.expiration.is_none() {
        request.params.expiration = Some(request.expiration().min(expiration));
    }
    Ok(request.template_with(cached.json).prepare(public_key, &nodes).sign(store, key_id)?)
}
