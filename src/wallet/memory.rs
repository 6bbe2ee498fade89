//! An in-process secp256k1 wallet key.

use std::fmt;

use k256::ecdsa::SigningKey;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::{WalletError, WalletSigner};
use crate::eth::{EthAddress, RecoverableSignature};

/// A secp256k1 key held in process memory (k256 zeroizes it on drop). `Debug` shows only the
/// address.
///
/// ```
/// use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
/// let w = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
/// assert_eq!(w.address().to_string(), "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB");
/// ```
pub struct MemoryWallet {
    key: SigningKey,
    address: EthAddress,
}

impl MemoryWallet {
    /// A wallet from a 32-byte secret key.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, WalletError> {
        let key = SigningKey::from_slice(secret)
            .map_err(|_| WalletError::InvalidKey("not a valid secp256k1 secret key (zero or ≥ n)".into()))?;
        let address = EthAddress::from_verifying_key(key.verifying_key());
        Ok(Self { key, address })
    }

    /// A fresh random wallet.
    pub fn random() -> Result<Self, WalletError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        loop {
            rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, secret.as_mut())
                .map_err(|e| WalletError::Rng(e.to_string()))?;
            // Rejection sampling: almost every 32-byte string is a valid scalar.
            if let Ok(w) = Self::from_bytes(&secret) {
                return Ok(w);
            }
        }
    }

    /// The public key.
    pub fn verifying_key(&self) -> &k256::ecdsa::VerifyingKey {
        self.key.verifying_key()
    }
}

impl WalletSigner for MemoryWallet {
    fn address(&self) -> EthAddress {
        self.address
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
        let (sig, recovery_id) = self
            .key
            .sign_prehash_recoverable(digest)
            .map_err(|e| WalletError::Backend { source: Box::new(e), transient: false })?;
        // k256 signs low-s and knows the recovery id, so no trial recovery is needed here.
        RecoverableSignature::from_parts(sig, recovery_id).map_err(|_| WalletError::BadSignature(self.address))
    }
}

// The only secret is k256's `SigningKey`, which wipes itself on drop.
impl ZeroizeOnDrop for MemoryWallet {}

impl fmt::Debug for MemoryWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryWallet").field("address", &self.address).field("key", &"[redacted]").finish()
    }
}

impl signature::hazmat::PrehashSigner<(k256::ecdsa::Signature, k256::ecdsa::RecoveryId)> for MemoryWallet {
    fn sign_prehash(
        &self,
        prehash: &[u8],
    ) -> Result<(k256::ecdsa::Signature, k256::ecdsa::RecoveryId), signature::Error> {
        let digest: &[u8; 32] = prehash.try_into().map_err(|_| signature::Error::new())?;
        let sig = self.sign_digest(digest).map_err(signature::Error::from_source)?;
        Ok((*sig.signature(), sig.recovery_id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "test-util")]
    #[test]
    fn passes_the_conformance_suite_directly_and_through_pointers() {
        use crate::wallet::testing::check_wallet;
        let wallet = MemoryWallet::random().unwrap();
        check_wallet(&wallet);
        check_wallet(&std::sync::Arc::new(MemoryWallet::random().unwrap()));
        let boxed: Box<dyn WalletSigner> = Box::new(MemoryWallet::random().unwrap());
        check_wallet(&boxed);
        check_wallet(&&boxed);
    }

    #[test]
    fn prehash_signer_recovers() {
        use signature::hazmat::PrehashSigner;
        let w = MemoryWallet::random().unwrap();
        let digest = crate::eth::eip191_hash(b"through the trait");
        let (sig, rid) = w.sign_prehash(&digest).unwrap();
        let key = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &sig, rid).unwrap();
        assert_eq!(crate::eth::EthAddress::from_verifying_key(&key), w.address());
        assert!(w.sign_prehash(&[0u8; 31]).is_err());
    }

    #[test]
    fn rejects_invalid_secret() {
        assert!(MemoryWallet::from_bytes(&[0u8; 32]).is_err());
        assert!(MemoryWallet::from_bytes(&[0xff; 32]).is_err());
    }

    #[test]
    fn drop_zeroizes_the_key() {
        use std::mem::ManuallyDrop;
        fn zeroize_on_drop<T: ZeroizeOnDrop>(_: &T) {}
        let secret: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(53) ^ 0x3c);
        let mut wallet = ManuallyDrop::new(MemoryWallet::from_bytes(&secret).unwrap());
        zeroize_on_drop(&wallet.key);
        assert_eq!(wallet.key.to_bytes()[..], secret);
        // SAFETY: dropped once; afterwards only the scalar is read, which k256 leaves as the
        // valid non-zero scalar 1 (its non-zero invariant), so no invariant is broken.
        unsafe { ManuallyDrop::drop(&mut wallet) };
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(wallet.key.to_bytes()[..], one);
    }

    #[test]
    fn debug_hides_key() {
        let w = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
        let s = format!("{w:?}");
        assert!(s.contains("0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB"));
        assert!(!s.contains("3333333333"));
    }

    #[test]
    fn personal_sign_recovers() {
        let w = MemoryWallet::random().unwrap();
        let sig = w.personal_sign(b"hi").unwrap();
        let digest = crate::eth::eip191_hash(b"hi");
        assert_eq!(sig.recover_address(&digest).unwrap(), w.address());
    }
}
