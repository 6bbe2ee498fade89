//! A conformance suite for [`WalletSigner`] backends (feature `test-util`).
//!
//! A signer must return low-s signatures whose recovery id recovers its own address, for any
//! digest, from several threads at once; `personal_sign` must be EIP-191 over `sign_digest`.
//! A new backend calls [`check_wallet`] from one test; this crate runs it on
//! [`MemoryWallet`](super::MemoryWallet) and on a PKCS#11 token.
//!
//! ```
//! use lit_session_signer::wallet::{testing::check_wallet, MemoryWallet};
//! check_wallet(&MemoryWallet::random().unwrap());
//! ```

use super::{WalletError, WalletSigner};
use crate::eth::{eip191_hash, RecoverableSignature};

fn must<T>(what: &str, r: Result<T, WalletError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("conformance: {what} failed: {e}"),
    }
}

fn check_signature<W: WalletSigner + ?Sized>(wallet: &W, digest: &[u8; 32], sig: &RecoverableSignature) {
    assert!(sig.signature().normalize_s().is_none(), "conformance: signature is not low-s");
    match sig.recover_address(digest) {
        Ok(address) => assert_eq!(address, wallet.address(), "conformance: signature recovers another address"),
        Err(e) => panic!("conformance: signature does not recover: {e}"),
    }
    let bytes = sig.to_bytes();
    assert!(matches!(bytes[64], 27 | 28), "conformance: v is {} (27 or 28 expected)", bytes[64]);
}

/// Runs the conformance checks on `wallet`, panicking with a message that names the broken
/// rule.
pub fn check_wallet<W: WalletSigner + ?Sized>(wallet: &W) {
    let address = wallet.address();
    assert_eq!(wallet.address(), address, "conformance: address changed between calls");
    let digests: Vec<[u8; 32]> =
        [[0u8; 32], [0xff; 32], [0x01; 32], crate::eth::keccak256(b"lit-session-signer")].into_iter().collect();
    for d in &digests {
        let sig = must("sign_digest", wallet.sign_digest(d));
        check_signature(wallet, d, &sig);
    }
    for message in [&b""[..], b"hello", "localhost wants you to sign in with your Ethereum account:\n".as_bytes()] {
        let sig = must("personal_sign", wallet.personal_sign(message));
        check_signature(wallet, &eip191_hash(message), &sig);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                scope.spawn(move || {
                    let digest = crate::eth::keccak256(&[t; 8]);
                    let sig = must("concurrent sign_digest", wallet.sign_digest(&digest));
                    check_signature(wallet, &digest, &sig);
                })
            })
            .collect();
        for h in handles {
            if h.join().is_err() {
                panic!("conformance: a concurrent signer panicked");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::EthAddress;
    use crate::wallet::MemoryWallet;

    /// Signs with one key but claims another's address.
    struct Impostor {
        signer: MemoryWallet,
        claimed: EthAddress,
    }

    impl WalletSigner for Impostor {
        fn address(&self) -> EthAddress {
            self.claimed
        }
        fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
            self.signer.sign_digest(digest)
        }
    }

    #[test]
    fn a_signer_that_recovers_to_another_address_is_caught() {
        let impostor =
            Impostor { signer: MemoryWallet::random().unwrap(), claimed: MemoryWallet::random().unwrap().address() };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_wallet(&impostor)));
        assert!(caught.is_err(), "the suite passed a signer whose signatures recover another address");
    }
}
