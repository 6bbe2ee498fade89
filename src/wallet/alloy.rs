//! [alloy](https://github.com/alloy-rs/alloy) signer traits for any [`WalletSigner`].
//!
//! [`AlloyWallet`] wraps a wallet (in memory or on a PKCS#11 token) so it can be used wherever
//! alloy expects a [`SignerSync`] or an async [`Signer`]: `personal_sign` through
//! `sign_message_sync`, transaction signing through `sign_hash`, and so on. alloy hashes; the
//! wallet signs the 32-byte digest and returns a low-s signature with its recovery id.

use std::fmt;

use alloy_primitives::{Address, ChainId, B256};
use alloy_signer::{Signature, Signer, SignerSync};

use super::WalletSigner;

/// A [`WalletSigner`] as an alloy [`SignerSync`] + [`Signer`], with an optional EIP-155 chain id.
///
/// ```
/// use alloy_signer::SignerSync;
/// use lit_session_signer::wallet::{AlloyWallet, MemoryWallet};
///
/// let signer = AlloyWallet::new(MemoryWallet::from_bytes(&[0x33; 32]).unwrap());
/// let sig = signer.sign_message_sync(b"hello").unwrap();
/// assert_eq!(sig.recover_address_from_msg(b"hello").unwrap(), alloy_signer::Signer::address(&signer));
/// ```
pub struct AlloyWallet<W> {
    wallet: W,
    address: Address,
    chain_id: Option<ChainId>,
}

impl<W: WalletSigner> AlloyWallet<W> {
    /// Wraps `wallet` with no chain id.
    pub fn new(wallet: W) -> Self {
        let address = Address::from(*wallet.address().as_bytes());
        Self { wallet, address, chain_id: None }
    }

    /// The wrapped wallet.
    pub fn wallet(&self) -> &W {
        &self.wallet
    }

    /// Unwraps the wallet.
    pub fn into_inner(self) -> W {
        self.wallet
    }

    /// Signs a 32-byte hash with the wrapped wallet.
    fn sign(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        let sig = self.wallet.sign_digest(&hash.0).map_err(alloy_signer::Error::other)?;
        Ok(Signature::from_signature_and_parity(*sig.signature(), sig.recovery_id().is_y_odd()))
    }
}

impl<W: fmt::Debug> fmt::Debug for AlloyWallet<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlloyWallet").field("wallet", &self.wallet).field("chain_id", &self.chain_id).finish()
    }
}

impl<W: WalletSigner> SignerSync for AlloyWallet<W> {
    fn sign_hash_sync(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        self.sign(hash)
    }

    fn chain_id_sync(&self) -> Option<ChainId> {
        self.chain_id
    }
}

// Why synchronous inside the async fn: the wallet's calls are short (one token round trip)
// and the traits are what alloy users plug in; callers on a busy runtime can wrap the wallet
// in `spawn_blocking` themselves.
#[async_trait::async_trait]
impl<W: WalletSigner> Signer for AlloyWallet<W> {
    async fn sign_hash(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        self.sign(hash)
    }

    fn address(&self) -> Address {
        self.address
    }

    fn chain_id(&self) -> Option<ChainId> {
        self.chain_id
    }

    fn set_chain_id(&mut self, chain_id: Option<ChainId>) {
        self.chain_id = chain_id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::MemoryWallet;

    #[test]
    fn signs_hashes_and_messages_alloy_recovers() {
        let mut signer = AlloyWallet::new(MemoryWallet::random().unwrap());
        let ours = signer.wallet().address();
        assert_eq!(Signer::address(&signer).0 .0, *ours.as_bytes());
        let sig = signer.sign_message_sync(b"through alloy").unwrap();
        assert_eq!(sig.recover_address_from_msg(b"through alloy").unwrap(), Signer::address(&signer));
        // Same bytes as our own personal_sign (both deterministic RFC 6979, low-s).
        let mine = signer.wallet().personal_sign(b"through alloy").unwrap();
        assert_eq!(sig.as_bytes(), mine.to_bytes());
        let hash = B256::from(crate::eth::keccak256(b"x"));
        let sig = signer.sign_hash_sync(&hash).unwrap();
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), Signer::address(&signer));
        assert_eq!(signer.chain_id_sync(), None);
        signer.set_chain_id(Some(175188));
        assert_eq!(Signer::chain_id(&signer), Some(175188));
        assert_eq!(signer.chain_id_sync(), Some(175188));
    }
}
