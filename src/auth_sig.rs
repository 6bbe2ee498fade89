//! AuthSigs: a wallet's EIP-191 signature over a SIWE message, as the SDK's `generateAuthSig`
//! writes it.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::siwe::{SiweError, SiweMessage};
use crate::wallet::{WalletError, WalletSigner};

/// `derivedVia` of a wallet AuthSig.
pub const DERIVED_VIA_WALLET: &str = "web3.eth.personal.sign";

/// Errors making an AuthSig.
#[derive(Debug, thiserror::Error)]
pub enum AuthSigError {
    /// The SIWE message could not be rendered.
    #[error(transparent)]
    Siwe(#[from] SiweError),
    /// The wallet failed to sign.
    #[error("wallet signature failed: {0}")]
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

/// `{sig, derivedVia, signedMessage, address[, algo]}` in the SDK's key order; a network
/// (`lit.bls`) AuthSig puts `algo` second, as the SDK's `signSessionKey` does
/// (`{sig, algo, derivedVia, signedMessage, address}`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AuthSig {
    /// `0x` + r‖s‖v (v = 27/28) for wallets.
    pub sig: String,
    /// How it was made, e.g. `web3.eth.personal.sign`.
    #[serde(rename = "derivedVia")]
    pub derived_via: String,
    /// The signed text.
    #[serde(rename = "signedMessage")]
    pub signed_message: String,
    /// The signer's EIP-55 address.
    pub address: String,
    /// Only set for non-wallet signatures (e.g. `ed25519`, `LIT_BLS`).
    #[serde(default)]
    pub algo: Option<String>,
}

impl Serialize for AuthSig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `generateAuthSig` appends `algo`; `signSessionKey` writes it right after `sig`.
        let algo_second = self.derived_via == crate::bls::DERIVED_VIA_LIT_BLS;
        let mut s = serializer.serialize_struct("AuthSig", 4 + usize::from(self.algo.is_some()))?;
        s.serialize_field("sig", &self.sig)?;
        if let (true, Some(algo)) = (algo_second, &self.algo) {
            s.serialize_field("algo", algo)?;
        }
        s.serialize_field("derivedVia", &self.derived_via)?;
        s.serialize_field("signedMessage", &self.signed_message)?;
        s.serialize_field("address", &self.address)?;
        if let (false, Some(algo)) = (algo_second, &self.algo) {
            s.serialize_field("algo", algo)?;
        }
        s.end()
    }
}

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
        Ok(Self {
            sig: sig.to_hex(),
            derived_via: DERIVED_VIA_WALLET.to_string(),
            signed_message: text,
            address: address.to_checksum(),
            algo: None,
        })
    }
}
