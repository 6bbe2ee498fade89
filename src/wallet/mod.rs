//! The wallet (secp256k1) key that signs the EIP-191 AuthSig.
//!
//! A [`WalletSigner`] signs a 32-byte digest; hashing happens on the host so an HSM only ever
//! sees the digest (`CKM_ECDSA`). Signers know nothing about Lit.

#[cfg(feature = "alloy")]
mod alloy;
mod memory;
#[cfg(feature = "pkcs11")]
mod pkcs11;
#[cfg(feature = "test-util")]
pub mod testing;

#[cfg(feature = "alloy")]
pub use alloy::AlloyWallet;
pub use memory::MemoryWallet;
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11Wallet, WalletSignStats};

use crate::eth::{eip191_hash, EthAddress, RecoverableSignature};

/// Errors from a wallet signer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Key material that is not a valid secp256k1 secret key.
    #[error("invalid wallet key: {0}")]
    InvalidKey(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// The signer returned a signature that does not recover to its own address.
    #[error("the wallet returned a signature that does not recover to {0}")]
    BadSignature(EthAddress),
    /// A failure inside the backend (e.g. a PKCS#11 call).
    #[error("{source}")]
    Backend {
        /// The backend's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Whether retrying the same call later can succeed.
        transient: bool,
    },
}

/// Signs 32-byte digests with a secp256k1 key and knows its address.
///
/// Implementations return low-s signatures whose recovery id recovers [`Self::address`]. A signer
/// whose device returns bare `r‖s` (an HSM) gets both from
/// [`RecoverableSignature::from_signature`], which refuses a signature that does not recover to
/// the device's key; that is the check, so `personal_sign` does not recover again.
pub trait WalletSigner: Send + Sync {
    /// The signer's Ethereum address.
    fn address(&self) -> EthAddress;

    /// Signs a 32-byte digest.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError>;

    /// EIP-191 `personal_sign` of `message`.
    fn personal_sign(&self, message: &[u8]) -> Result<RecoverableSignature, WalletError> {
        self.sign_digest(&eip191_hash(message))
    }
}

// References and smart pointers to a signer are signers.
macro_rules! forward_wallet_signer {
    ($($ptr:ty),*) => {$(
        impl<T: WalletSigner + ?Sized> WalletSigner for $ptr {
            fn address(&self) -> EthAddress {
                (**self).address()
            }
            fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
                (**self).sign_digest(digest)
            }
            fn personal_sign(&self, message: &[u8]) -> Result<RecoverableSignature, WalletError> {
                (**self).personal_sign(message)
            }
        }
    )*};
}
forward_wallet_signer!(&T, Box<T>, std::sync::Arc<T>);
