//! AuthSigs: a wallet's EIP-191 signature over a SIWE message, as the SDK's `generateAuthSig`
//! writes it. The JSON shape and key order are [`crate::protocol::auth_sig`]'s.

use crate::eth::{EthAddress, RecoverableSignature};
use crate::protocol::auth_sig::JsonAuthSig;
use crate::siwe::{SiweError, SiweMessage};
use crate::wallet::{WalletError, WalletSigner};

pub use crate::protocol::auth_sig::DERIVED_VIA_WALLET;

/// Errors making an AuthSig.
#[derive(Debug, thiserror::Error)]
pub enum AuthSigError {
    /// The SIWE message could not be rendered.
    #[error(transparent)]
    Siwe(#[from] SiweError),
    /// The wallet failed to sign.
    #[error("wallet signature failed")]
    Wallet(#[from] WalletError),
    /// The SIWE names another address than the wallet's.
    #[error("SIWE address {siwe} is not the signing wallet's address {wallet}")]
    AddressMismatch {
        /// The address in the message.
        siwe: String,
        /// The wallet's address.
        wallet: String,
    },
}

/// An AuthSig as the SDK writes it: `{sig, derivedVia, signedMessage, address[, algo]}`
/// (the node's `JsonAuthSig`); a network (`lit.bls`) AuthSig puts `algo` second. Wallet
/// AuthSigs come from [`AuthSig::sign`] or [`AuthSig::from_signature`], network ones from
/// [`crate::bls::lit_bls_auth_sig`].
pub type AuthSig = JsonAuthSig<String>;

impl AuthSig {
    /// Renders `message` and signs it with `wallet` (EIP-191 `personal_sign`).
    ///
    /// ```
    /// use lit_session_signer::{auth_sig::AuthSig, siwe::SiweMessage, wallet::{MemoryWallet, WalletSigner}, Timestamp};
    /// let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    /// let siwe = SiweMessage::new(wallet.address(), "0x3a9c4f1e8b7d6a5c", Timestamp::now());
    /// let auth_sig = AuthSig::sign(&wallet, &siwe).unwrap();
    /// assert_eq!(auth_sig.address, "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB");
    /// ```
    pub fn sign(wallet: &(impl WalletSigner + ?Sized), message: &SiweMessage) -> Result<Self, AuthSigError> {
        let address = wallet.address();
        if message.address != address {
            return Err(AuthSigError::AddressMismatch {
                siwe: message.address.to_string(),
                wallet: address.to_string(),
            });
        }
        let text = message.render()?;
        let sig = wallet.personal_sign(text.as_bytes())?;
        Ok(Self::from_signature(text, &sig, address))
    }

    /// The wallet AuthSig for an EIP-191 `signature` of `signed_message` by `address`: for
    /// signers that sign elsewhere (an async custody API, a KMS) and hand back the signature.
    /// Nothing is checked here; [`crate::manager::SessionManager`] and [`crate::verify`] check
    /// that the signature recovers to `address`.
    ///
    /// ```
    /// use lit_session_signer::auth_sig::AuthSig;
    /// use lit_session_signer::siwe::SiweMessage;
    /// use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
    /// use lit_session_signer::Timestamp;
    ///
    /// let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap(); // stands in for a remote signer
    /// let text = SiweMessage::new(wallet.address(), "0x3a9c4f1e8b7d6a5c", Timestamp::now()).render().unwrap();
    /// let signature = wallet.personal_sign(text.as_bytes()).unwrap();
    /// let auth_sig = AuthSig::from_signature(text, &signature, wallet.address());
    /// assert_eq!(auth_sig.derived_via, "web3.eth.personal.sign");
    /// assert_eq!(auth_sig.sig, signature.to_hex());
    /// ```
    pub fn from_signature(
        signed_message: impl Into<String>,
        signature: &RecoverableSignature,
        address: EthAddress,
    ) -> Self {
        Self {
            sig: signature.to_hex(),
            derived_via: DERIVED_VIA_WALLET.to_string(),
            signed_message: signed_message.into(),
            address: address.to_checksum(),
            algo: None,
        }
    }
}
