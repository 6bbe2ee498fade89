//! Who signs the session key: a [`WalletSigner`] the manager drives itself, or an application
//! callback (the SDK's `authNeededCallback`) for custody APIs and flows that sign elsewhere.

use std::fmt;
use std::sync::Arc;

use super::blocking::blocking;
use super::error::{CallbackError, ManagerError};
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;
use crate::protocol::SessionFormat;
use crate::resources::ResourceAbilityRequest;
use crate::siwe::SiweMessage;
use crate::timestamp::Timestamp;
use crate::wallet::WalletSigner;

/// What the manager asks an [`AuthCallback`] to sign: the session SIWE it would have a wallet
/// sign, and its parts, for callbacks that build their own message.
#[derive(Debug, Clone)]
pub struct AuthNeeded {
    /// The SIWE the manager built (signer address, `lit:session:<key>` URI, ReCap of `requests`).
    pub siwe: SiweMessage,
    /// The session key to delegate to.
    pub session_key: VerifyingKey,
    /// `lit:session:<session public key hex>`.
    pub session_key_uri: String,
    /// What the session will be asked to do.
    pub requests: Vec<ResourceAbilityRequest>,
    /// The expiration the AuthSig should carry.
    pub expiration: Timestamp,
    /// The nonce (a recent block hash).
    pub nonce: String,
    /// The session's format (a PKP signer refuses v8: see
    /// [`crate::pkp::PkpSessionError::NagaUnsupported`]).
    pub format: SessionFormat,
}

/// An application-supplied signer of session AuthSigs.
///
/// The manager checks whatever it returns (signature, signer, URI, grants, expiry) before
/// storing or using it.
///
/// ```
/// use lit_session_signer::auth_sig::AuthSig;
/// use lit_session_signer::eth::EthAddress;
/// use lit_session_signer::manager::{AuthCallback, AuthNeeded, CallbackError};
/// use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
///
/// /// Stands in for a custody API reached over the network.
/// struct Custody(MemoryWallet);
///
/// #[async_trait::async_trait]
/// impl AuthCallback for Custody {
///     fn signer(&self) -> EthAddress {
///         self.0.address()
///     }
///     async fn auth_sig(&self, needed: AuthNeeded) -> Result<AuthSig, CallbackError> {
///         let text = needed.siwe.render()?;
///         let signature = self.0.personal_sign(text.as_bytes())?; // the custody API's answer
///         Ok(AuthSig::from_signature(text, &signature, self.signer()))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait AuthCallback: Send + Sync {
    /// The address whose signatures this callback returns; a cached AuthSig from any other
    /// address is never reused.
    fn signer(&self) -> EthAddress;

    /// Signs the session key for `needed`.
    async fn auth_sig(&self, needed: AuthNeeded) -> Result<AuthSig, CallbackError>;
}

/// The signer of session AuthSigs a manager uses.
#[derive(Clone)]
pub enum AuthSource {
    /// A wallet key (memory or HSM); signing runs off the async runtime.
    Wallet(Arc<dyn WalletSigner>),
    /// An application callback.
    Callback(Arc<dyn AuthCallback>),
}

impl AuthSource {
    /// A wallet source.
    pub fn wallet(wallet: impl WalletSigner + 'static) -> Self {
        Self::Wallet(Arc::new(wallet))
    }

    /// A callback source.
    pub fn callback(callback: impl AuthCallback + 'static) -> Self {
        Self::Callback(Arc::new(callback))
    }

    /// The address that signs.
    pub fn signer(&self) -> EthAddress {
        match self {
            Self::Wallet(w) => w.address(),
            Self::Callback(c) => c.signer(),
        }
    }

    /// Asks the signer for the AuthSig `needed` describes: a wallet signs its SIWE off the
    /// runtime (it may be an HSM), a callback gets all of `needed`.
    pub(super) async fn auth_sig(&self, needed: AuthNeeded) -> Result<AuthSig, ManagerError> {
        match self {
            Self::Wallet(wallet) => {
                let wallet = wallet.clone();
                Ok(blocking(move || AuthSig::sign(&*wallet, &needed.siwe)).await??)
            }
            Self::Callback(callback) => callback.auth_sig(needed).await.map_err(ManagerError::Callback),
        }
    }
}

impl fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wallet(w) => f.debug_tuple("Wallet").field(&w.address()).finish(),
            Self::Callback(c) => f.debug_tuple("Callback").field(&c.signer()).finish(),
        }
    }
}
