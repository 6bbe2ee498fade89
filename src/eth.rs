//! Ethereum primitives the AuthSig needs: addresses (EIP-55), EIP-191 `personal_sign` hashing and
//! recoverable secp256k1 signatures with `v = 27/28`. Nothing here knows about Lit.

use std::fmt;
use std::str::FromStr;

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 `personal_sign` digest: `keccak256("\x19Ethereum Signed Message:\n" + len + message)`,
/// where `len` is the UTF-8 byte length in decimal.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

/// A 20-byte Ethereum address. `Display` gives the EIP-55 checksummed form with `0x`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthAddress([u8; 20]);

/// Why an address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    #[error("not an Ethereum address (0x + 40 hex digits): {0:?}")]
    Malformed(String),
    /// Mixed case that does not match the EIP-55 checksum.
    #[error("address fails its EIP-55 checksum: {0:?}")]
    BadChecksum(String),
}

impl EthAddress {
    /// The address of a secp256k1 public key: the last 20 bytes of keccak256(X‖Y).
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        // Uncompressed SEC1: 0x04 ‖ X ‖ Y; the tag is not hashed.
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Self(out)
    }

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 checksummed form, `0x`-prefixed.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl FromStr for EthAddress {
    type Err = AddressError;

    /// Accepts all-lowercase, all-uppercase, or correctly checksummed mixed case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| AddressError::Malformed(s.to_string()))?;
        if body.len() != 40 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AddressError::Malformed(s.to_string()));
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(body, &mut bytes).map_err(|_| AddressError::Malformed(s.to_string()))?;
        let addr = Self(bytes);
        let mixed = body.bytes().any(|b| b.is_ascii_lowercase()) && body.bytes().any(|b| b.is_ascii_uppercase());
        if mixed && addr.to_checksum()[2..] != *body {
            return Err(AddressError::BadChecksum(s.to_string()));
        }
        Ok(addr)
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthAddress({})", self.to_checksum())
    }
}

/// A low-s secp256k1 signature with the recovery id that recovers the signer's key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecoverableSignature {
    signature: Signature,
    recovery_id: RecoveryId,
}

/// Why a signature could not be turned into a recoverable one, or a 65-byte one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No recovery id recovers the expected public key: the signer returned a bad signature.
    #[error("signature does not recover to the expected public key")]
    NotRecoverable,
    /// The bytes are not 65 bytes of r‖s‖v with valid r, s and v.
    #[error("malformed recoverable signature: {0}")]
    Malformed(&'static str),
}

impl RecoverableSignature {
    /// Normalises `signature` to low-s and finds the recovery id by trial recovery against `signer`.
    ///
    /// This is how signatures from a token (raw r‖s, often high-s) become Ethereum signatures.
    pub fn from_signature(
        signature: Signature,
        digest: &[u8; 32],
        signer: &VerifyingKey,
    ) -> Result<Self, SignatureError> {
        let signature = signature.normalize_s().unwrap_or(signature);
        let recovery_id = RecoveryId::trial_recovery_from_prehash(signer, digest, &signature)
            .map_err(|_| SignatureError::NotRecoverable)?;
        Ok(Self { signature, recovery_id })
    }

    /// A signature whose recovery id the signer already knows (e.g. k256's own
    /// `sign_prehash_recoverable`). High-s is refused rather than silently flipped.
    pub fn from_parts(signature: Signature, recovery_id: RecoveryId) -> Result<Self, SignatureError> {
        if signature.normalize_s().is_some() {
            return Err(SignatureError::Malformed("s is not low"));
        }
        Ok(Self { signature, recovery_id })
    }

    /// Parses `r‖s‖v` (v = 27/28 or 0/1). High-s is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() != 65 {
            return Err(SignatureError::Malformed("expected 65 bytes"));
        }
        let signature =
            Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::Malformed("r or s out of range"))?;
        if signature.normalize_s().is_some() {
            return Err(SignatureError::Malformed("s is not low"));
        }
        let v = match bytes[64] {
            27 | 28 => bytes[64] - 27,
            0 | 1 => bytes[64],
            _ => return Err(SignatureError::Malformed("v must be 27, 28, 0 or 1")),
        };
        let recovery_id = RecoveryId::from_byte(v).ok_or(SignatureError::Malformed("bad recovery id"))?;
        Ok(Self { signature, recovery_id })
    }

    /// The low-s signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The recovery id (0 or 1).
    pub fn recovery_id(&self) -> RecoveryId {
        self.recovery_id
    }

    /// `r ‖ s ‖ v` with `v = 27 + recovery id`, as `personal_sign` returns it.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&self.signature.to_bytes());
        out[64] = 27 + self.recovery_id.to_byte();
        out
    }

    /// `0x` + lowercase hex of [`Self::to_bytes`].
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes()))
    }

    /// The address that signed `digest`.
    pub fn recover_address(&self, digest: &[u8; 32]) -> Result<EthAddress, SignatureError> {
        VerifyingKey::recover_from_prehash(digest, &self.signature, self.recovery_id)
            .map(|k| EthAddress::from_verifying_key(&k))
            .map_err(|_| SignatureError::NotRecoverable)
    }
}

/// The signer of `digest` as the Lit node's `siwe` 0.5.2 recovers it (`verify_eip191`, with
/// k256 0.11's recoverable signatures): `r` and `s` in 1..n, the recovery id `v mod 27` (so 0,
/// 1, 27, 28, 54, 55, … all work, 29 does not), and a high `s` accepted: k256 0.11 recovers
/// without verifying, which gives the same key as the low-s twin with the other parity.
///
/// ```
/// use lit_session_signer::eth::{eip191_hash, recover_as_siwe_0_5, EthAddress};
/// let key = k256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
/// let digest = eip191_hash(b"hello");
/// let (sig, id) = key.sign_prehash_recoverable(&digest).unwrap();
/// let mut bytes = [0u8; 65];
/// bytes[..64].copy_from_slice(&sig.to_bytes());
/// bytes[64] = 54 + id.to_byte();
/// assert_eq!(recover_as_siwe_0_5(&bytes, &digest).unwrap(), EthAddress::from_verifying_key(key.verifying_key()));
/// ```
pub fn recover_as_siwe_0_5(bytes: &[u8; 65], digest: &[u8; 32]) -> Result<EthAddress, SignatureError> {
    let signature =
        Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::Malformed("r or s out of range"))?;
    let odd = match bytes[64] % 27 {
        0 => false,
        1 => true,
        _ => return Err(SignatureError::Malformed("v mod 27 must be 0 or 1")),
    };
    let (signature, odd) = match signature.normalize_s() {
        Some(low) => (low, !odd),
        None => (signature, odd),
    };
    VerifyingKey::recover_from_prehash(digest, &signature, RecoveryId::new(odd, false))
        .map(|k| EthAddress::from_verifying_key(&k))
        .map_err(|_| SignatureError::NotRecoverable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_as_the_node_does_it() {
        let key = k256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap();
        let signer = EthAddress::from_verifying_key(key.verifying_key());
        let digest = eip191_hash(b"node");
        let (sig, id) = key.sign_prehash_recoverable(&digest).unwrap();
        let with = |sig: &Signature, v: u8| {
            let mut b = [0u8; 65];
            b[..64].copy_from_slice(&sig.to_bytes());
            b[64] = v;
            recover_as_siwe_0_5(&b, &digest)
        };
        for base in [0, 27, 54, 81, 243] {
            assert_eq!(with(&sig, base + id.to_byte()).unwrap(), signer, "v {}", base + id.to_byte());
        }
        assert_ne!(with(&sig, 27 + (1 - id.to_byte())).ok(), Some(signer));
        assert!(with(&sig, 29).is_err() && with(&sig, 2).is_err());
        // High s with the flipped parity recovers the same key.
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert_eq!(with(&high, 27 + (1 - id.to_byte())).unwrap(), signer);
        assert!(RecoverableSignature::from_bytes(&{
            let mut b = [0u8; 65];
            b[..64].copy_from_slice(&high.to_bytes());
            b[64] = 27;
            b
        })
        .is_err());
        // r or s zero or ≥ n.
        let mut zero = [0u8; 65];
        zero[64] = 27;
        assert!(recover_as_siwe_0_5(&zero, &digest).is_err());
    }

    #[test]
    fn eip55_known_addresses() {
        // From EIP-55's own examples.
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let parsed: EthAddress = a.parse().unwrap();
            assert_eq!(parsed.to_string(), a);
        }
    }

    #[test]
    fn address_parsing_errors() {
        assert!("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse::<EthAddress>().is_ok());
        assert!(matches!(
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD".parse::<EthAddress>(),
            Err(AddressError::BadChecksum(_))
        ));
        for bad in [
            "",
            "0x",
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb605",
            "0xzzAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ] {
            assert!(matches!(bad.parse::<EthAddress>(), Err(AddressError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn recoverable_signature_bytes_round_trip() {
        let key = k256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let digest = eip191_hash(b"hello");
        let (sig, _) = key.sign_prehash_recoverable(&digest).unwrap();
        let rs = RecoverableSignature::from_signature(sig, &digest, key.verifying_key()).unwrap();
        let bytes = rs.to_bytes();
        assert!(bytes[64] == 27 || bytes[64] == 28);
        let back = RecoverableSignature::from_bytes(&bytes).unwrap();
        assert_eq!(back, rs);
        assert_eq!(back.recover_address(&digest).unwrap(), EthAddress::from_verifying_key(key.verifying_key()));
        assert!(RecoverableSignature::from_bytes(&bytes[..64]).is_err());
        let mut bad_v = bytes;
        bad_v[64] = 5;
        assert!(RecoverableSignature::from_bytes(&bad_v).is_err());
    }

    #[test]
    fn high_s_is_normalised() {
        let key = k256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap();
        let digest = eip191_hash(b"normalise me");
        let (sig, _) = key.sign_prehash_recoverable(&digest).unwrap();
        // Flip s to its high twin: n - s.
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert!(high.normalize_s().is_some());
        let rs = RecoverableSignature::from_signature(high, &digest, key.verifying_key()).unwrap();
        assert!(rs.signature().normalize_s().is_none());
        assert_eq!(rs.recover_address(&digest).unwrap(), EthAddress::from_verifying_key(key.verifying_key()));
    }
}
