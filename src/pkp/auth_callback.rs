//! The PKP flow as a [`SessionManager`](crate::manager::SessionManager) signer: the nodes sign the
//! session key only when the manager's cached `LIT_BLS` AuthSig no longer serves, instead of on
//! every `getPkpSessionSigs` call.

use std::sync::Arc;

use super::session::{PkpSessionError, PkpSessionSigsRequest};
use super::sign_session_key::QuorumOptions;
use super::transport::NodeTransport;
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::manager::{AuthCallback, AuthNeeded, CallbackError};
use crate::protocol::SessionFormat;

/// An [`AuthCallback`] that asks the Lit nodes to sign the session key with a PKP.
///
/// `template` fixes the nodes, PKP, auth methods or Lit Action, epoch and domain; each call takes
/// the requests, nonce, Issued At and expiration from the manager. Give the manager the network
/// key ([`crate::manager::SessionManager::with_network_keys`]) so it can check what the nodes
/// return and reuse it.
///
/// ```no_run
/// # #[cfg(feature = "http")]
/// # fn run(template: lit_session_signer::pkp::PkpSessionSigsRequest, key: lit_session_signer::bls::NetworkPublicKey) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use lit_session_signer::keystore::MemoryKeyStore;
/// use lit_session_signer::manager::{AuthSource, MemoryAuthSigStore, SessionKeyPolicy, SessionManager};
/// use lit_session_signer::pkp::{HttpTransport, PkpAuthCallback, QuorumOptions};
///
/// let callback = PkpAuthCallback::new(Arc::new(HttpTransport::new()?), template, QuorumOptions::new(7));
/// let manager = SessionManager::new(
///     Arc::new(MemoryKeyStore::new()),
///     SessionKeyPolicy::Labelled { prefix: "pkp-session".into(), rotate_after: None },
///     AuthSource::callback(callback),
///     Arc::new(MemoryAuthSigStore::new()),
/// )
/// .with_network_keys([key]);
/// # Ok(()) }
/// ```
pub struct PkpAuthCallback<T: NodeTransport + ?Sized> {
    transport: Arc<T>,
    template: PkpSessionSigsRequest,
    options: QuorumOptions,
}

impl<T: NodeTransport + ?Sized> PkpAuthCallback<T> {
    /// A callback over `transport` for the PKP and nodes of `template`.
    pub fn new(transport: Arc<T>, template: PkpSessionSigsRequest, options: QuorumOptions) -> Self {
        Self { transport, template, options }
    }
}

#[async_trait::async_trait]
impl<T: NodeTransport + ?Sized + 'static> AuthCallback for PkpAuthCallback<T> {
    fn signer(&self) -> EthAddress {
        self.template.pkp_public_key.address()
    }

    async fn auth_sig(&self, needed: AuthNeeded) -> Result<AuthSig, CallbackError> {
        if needed.format != SessionFormat::V1 {
            return Err(Box::new(PkpSessionError::NagaUnsupported));
        }
        let mut request = self.template.clone();
        request.requests = needed.requests;
        request.params.nonce = needed.nonce;
        request.now = needed.siwe.issued_at;
        request.params.expiration = Some(needed.expiration);
        let signed = request.sign_session_key(self.transport.as_ref(), &needed.session_key, &self.options).await?;
        Ok(signed.auth_sig)
    }
}
