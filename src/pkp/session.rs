//! `getPkpSessionSigs` / `getLitActionSessionSigs`: the PKP SIWE the SDK sends, the
//! `sign_session_key` round trip, and per-node session signatures with the network-signed
//! AuthSig as the last capability.

use super::sign_session_key::{sign_session_key_on_nodes, QuorumOptions, SignSessionKeyError, SignedSessionKey};
use super::transport::NodeTransport;
use crate::keystore::{KeyId, KeyStoreError, SessionKeyStore, VerifyingKey};
use crate::protocol::sign_session_key::{AuthMethod, LitAction, PkpPublicKey, SignSessionKeyRequest};
use crate::protocol::{session_key_uri, NodeList, NodeUrl, SessionFormat};
use crate::recap;
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::{SessionParams, SessionSigs, SessionSigsError, SessionSigsRequest};
use crate::siwe::{SiweError, SiweMessage};
use crate::timestamp::Timestamp;

/// The fixed start of the PKP SIWE statement (`signSessionKey`).
pub const PKP_STATEMENT: &str = "Lit Protocol PKP session signature";
/// `signSessionKey`'s default SIWE domain.
pub const DEFAULT_PKP_DOMAIN: &str = "litprotocol.com";

/// Errors making PKP session signatures.
#[derive(Debug, thiserror::Error)]
pub enum PkpSessionError {
    /// The session part of the request is invalid (nodes, resources, expiration, capabilities).
    #[error(transparent)]
    Session(#[from] SessionSigsError),
    /// The SIWE could not be rendered.
    #[error(transparent)]
    Siwe(#[from] SiweError),
    /// The nodes did not sign the session key.
    #[error(transparent)]
    SignSessionKey(#[from] SignSessionKeyError),
    /// The key store failed.
    #[error("session key")]
    KeyStore(#[from] KeyStoreError),
    /// A PKP session with neither auth methods nor a Lit Action: the nodes would have nothing
    /// to authenticate.
    #[error("no auth method and no Lit Action given: the nodes need one to authorise the PKP")]
    NoAuth,
    /// A SIWE field the PKP flow fixes (`signSessionKey` writes its own statement and chain 1)
    /// was set in the session parameters.
    #[error("the PKP SIWE's {0} is fixed and cannot be set")]
    FixedSiweField(&'static str),
    /// A PKP session in the v8 (Naga) format. Naga nodes sign PKP session keys only through
    /// `/web/sign_session_key/v2`, whose requests are end-to-end encrypted to each node's
    /// identity key; this crate speaks the Datil `/v1` endpoint only.
    #[error(
        "PKP sessions in the v8 (Naga) format are not supported: Naga nodes sign PKP session keys only through \
         /web/sign_session_key/v2, end-to-end encrypted to each node's identity key, which this crate does not \
         implement; use the v7 (Datil) format, or a wallet (EOA) session for Naga"
    )]
    NagaUnsupported,
}

/// PKP session signatures and the network-signed AuthSig they embed.
#[derive(Clone, Debug)]
pub struct PkpSessionSigs {
    /// Node URL → session signature.
    pub session_sigs: SessionSigs,
    /// The `LIT_BLS` AuthSig and the nodes that made it.
    pub signed: SignedSessionKey,
}

/// Everything `getPkpSessionSigs` / `getLitActionSessionSigs` take.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use lit_session_signer::pkp::{auth_method_type, AuthMethod, PkpSessionSigsRequest};
///
/// let pkp = "0x0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
///            483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8".parse().unwrap();
/// let request = PkpSessionSigsRequest::new(
///     vec!["https://127.0.0.1:7470".parse().unwrap()],
///     pkp,
///     vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, "eyJ...")],
///     vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
///     "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
///     5,
/// );
/// let store = MemoryKeyStore::new();
/// let key = store.public_key(&store.generate("s").unwrap()).unwrap();
/// let text = request.siwe(&key).render().unwrap();
/// assert!(text.starts_with("litprotocol.com wants you to sign in with your Ethereum account:\n0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf\n\nLit Protocol PKP session signature I further authorize"));
/// // With a transport (e.g. `HttpTransport`): `request.sign(&transport, &store, &id, &QuorumOptions::new(7)).await`.
/// ```
#[derive(Clone, Debug)]
pub struct PkpSessionSigsRequest {
    /// Node URLs: the nodes asked to sign, and the session-sig map's keys, in this order.
    pub nodes: Vec<NodeUrl>,
    /// The PKP.
    pub pkp_public_key: PkpPublicKey,
    /// Auth methods (sent even when empty).
    pub auth_methods: Vec<AuthMethod>,
    /// A Lit Action as custom auth (`getLitActionSessionSigs`).
    pub lit_action: Option<LitAction>,
    /// What the session may do.
    pub requests: Vec<ResourceAbilityRequest>,
    /// The network's current epoch.
    pub epoch: u64,
    /// The clock: SIWE `Issued At` and the session's issuedAt.
    pub now: Timestamp,
    /// Nonce (a recent block hash the nodes can look up), expiration (default `now` + 24 h),
    /// capabilities (placed before the PKP's AuthSig), SIWE domain (default
    /// `litprotocol.com`; statement and chain id are fixed), format.
    pub params: SessionParams,
}

impl PkpSessionSigsRequest {
    /// `getPkpSessionSigs`: the nodes authorise the PKP through `auth_methods`.
    pub fn new(
        nodes: Vec<NodeUrl>,
        pkp_public_key: PkpPublicKey,
        auth_methods: Vec<AuthMethod>,
        requests: Vec<ResourceAbilityRequest>,
        nonce: &str,
        epoch: u64,
    ) -> Self {
        Self {
            nodes,
            pkp_public_key,
            auth_methods,
            lit_action: None,
            requests,
            epoch,
            now: Timestamp::now(),
            params: SessionParams::new(nonce),
        }
    }

    /// `getLitActionSessionSigs`: the nodes run `action`, which must answer `true`.
    pub fn lit_action(
        nodes: Vec<NodeUrl>,
        pkp_public_key: PkpPublicKey,
        action: LitAction,
        requests: Vec<ResourceAbilityRequest>,
        nonce: &str,
        epoch: u64,
    ) -> Self {
        let mut request = Self::new(nodes, pkp_public_key, Vec::new(), requests, nonce, epoch);
        request.lit_action = Some(action);
        request
    }

    /// Replaces the session parameters (nonce included).
    pub fn with_params(mut self, params: SessionParams) -> Self {
        self.params = params;
        self
    }

    /// Sets the clock (SIWE `Issued At` and the session's issuedAt).
    pub fn with_now(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// The expiration in force.
    pub fn expiration(&self) -> Timestamp {
        self.params.expiration_after(self.now)
    }

    // The session part, for validation and the signed template.
    fn session_request(&self) -> SessionSigsRequest {
        SessionSigsRequest {
            nodes: self.nodes.clone(),
            requests: self.requests.clone(),
            now: self.now,
            params: self.params.clone(),
        }
    }

    /// Checks the request without contacting anyone.
    pub fn validate(&self) -> Result<(), PkpSessionError> {
        self.checked_nodes().map(drop)
    }

    // The checks of `validate`, keeping the checked node list.
    fn checked_nodes(&self) -> Result<NodeList, PkpSessionError> {
        if self.params.format != SessionFormat::V1 {
            return Err(PkpSessionError::NagaUnsupported);
        }
        let nodes = self.session_request().checked_nodes()?;
        if self.auth_methods.is_empty() && self.lit_action.is_none() {
            return Err(PkpSessionError::NoAuth);
        }
        if self.params.siwe.statement.is_some() {
            return Err(PkpSessionError::FixedSiweField("statement"));
        }
        if self.params.siwe.chain_id.is_some() {
            return Err(PkpSessionError::FixedSiweField("chain id"));
        }
        Ok(nodes)
    }

    /// The SIWE `signSessionKey` sends: domain `litprotocol.com`, the PKP's address, statement
    /// `Lit Protocol PKP session signature` + ` ` + the empty-ReCap sentence `getSessionSigs`
    /// hands its callback, URI `lit:session:<key>`, chain 1, the nonce, Issued At `now`, the
    /// expiration, then the requests' ReCap (`createSiweMessageWithRecaps`).
    pub fn siwe(&self, session_key: &VerifyingKey) -> SiweMessage {
        SiweMessage::new(self.pkp_public_key.address(), &self.params.nonce, self.now)
            .with_domain(self.params.siwe.domain.as_deref().unwrap_or(DEFAULT_PKP_DOMAIN))
            .with_statement(&format!("{PKP_STATEMENT} {}", recap::STATEMENT_PREFIX))
            .with_uri(&session_key_uri(session_key))
            .with_chain_id(1)
            .with_expiration(self.expiration())
            .with_requests(&self.requests)
    }

    /// The `/web/sign_session_key/v1` body for `session_key`.
    pub fn sign_session_key_request(
        &self,
        session_key: &VerifyingKey,
    ) -> Result<SignSessionKeyRequest, PkpSessionError> {
        Ok(SignSessionKeyRequest {
            session_key_uri: session_key_uri(session_key),
            auth_methods: self.auth_methods.clone(),
            pkp_public_key: Some(self.pkp_public_key),
            siwe_message: self.siwe(session_key).render()?,
            lit_action: self.lit_action.clone(),
            epoch: self.epoch,
        })
    }

    /// Asks the nodes to sign `session_key` with the PKP (`signSessionKey`).
    pub async fn sign_session_key<T: NodeTransport + ?Sized>(
        &self,
        transport: &T,
        session_key: &VerifyingKey,
        options: &QuorumOptions,
    ) -> Result<SignedSessionKey, PkpSessionError> {
        let nodes = self.checked_nodes()?;
        let request = self.sign_session_key_request(session_key)?;
        Ok(sign_session_key_on_nodes(transport, &nodes, &request, options).await?)
    }

    /// Signs every node's session message with session key `key_id`, the network-signed AuthSig
    /// last among the capabilities. Synchronous (an HSM call): run it off the async executor
    /// (e.g. `spawn_blocking`) if the store is slow.
    pub fn session_sigs(
        &self,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        signed: &SignedSessionKey,
    ) -> Result<SessionSigs, PkpSessionError> {
        self.checked_nodes()?;
        let session = self.session_request();
        let nodes = session.session_nodes()?;
        Ok(session.template(&signed.auth_sig).sign(store, key_id, &nodes)?)
    }

    /// The whole `getPkpSessionSigs`: the nodes sign the session key, then the session key signs
    /// every node's session message.
    pub async fn sign<T: NodeTransport + ?Sized>(
        &self,
        transport: &T,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        options: &QuorumOptions,
    ) -> Result<PkpSessionSigs, PkpSessionError> {
        let public_key = store.public_key(key_id)?;
        let signed = self.sign_session_key(transport, &public_key, options).await?;
        let session_sigs = self.session_sigs(store, key_id, &signed)?;
        Ok(PkpSessionSigs { session_sigs, signed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::MemoryKeyStore;
    use crate::pkp::{EncodedRequest, SignSessionKeyResponse, TransportError};
    use serde_json::json;

    struct Nowhere;

    #[async_trait::async_trait]
    impl NodeTransport for Nowhere {
        async fn sign_session_key(
            &self,
            _node: &NodeUrl,
            _request: &EncodedRequest,
        ) -> Result<SignSessionKeyResponse, TransportError> {
            Err(TransportError::Connect("nowhere".into()))
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    fn request() -> PkpSessionSigsRequest {
        let pkp = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
                   483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
        PkpSessionSigsRequest::new(
            vec!["http://127.0.0.1:1".parse().unwrap()],
            pkp.parse().unwrap(),
            vec![AuthMethod::new(1, "t")],
            vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
            "0x1234567890abcdef",
            1,
        )
    }

    #[test]
    fn futures_can_be_spawned() {
        // A session manager spawns these on a multi-threaded runtime.
        let store = MemoryKeyStore::new();
        let id = store.generate("k").unwrap();
        let request = request();
        let options = QuorumOptions::new(1);
        assert_send(&request.sign(&Nowhere, &store, &id, &options));
        let dyn_transport: &dyn NodeTransport = &Nowhere;
        let key = store.public_key(&id).unwrap();
        assert_send(&request.sign_session_key(dyn_transport, &key, &options));
    }

    #[test]
    fn needs_some_auth() {
        let mut r = request();
        assert!(r.validate().is_ok());
        r.auth_methods.clear();
        assert!(matches!(r.validate(), Err(PkpSessionError::NoAuth)));
        r.lit_action = Some(LitAction::from_ipfs_id("QmX", json!({})).unwrap());
        assert!(r.validate().is_ok());
        r.params.siwe.statement = Some("mine".into());
        assert!(matches!(r.validate(), Err(PkpSessionError::FixedSiweField("statement"))));
        r.params.siwe.statement = None;
        r.requests.clear();
        assert!(matches!(r.validate(), Err(PkpSessionError::Session(SessionSigsError::NoRequests))));
    }
}
