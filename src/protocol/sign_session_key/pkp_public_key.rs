//! The PKP's secp256k1 public key, as the SDK takes it (`0x04…`, uncompressed) and the address
//! the nodes sign for.

use std::fmt;
use std::str::FromStr;

use k256::ecdsa::VerifyingKey;

use crate::eth::EthAddress;

/// A public key that is not `0x04` + 128 hex digits on secp256k1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkpPublicKeyError {
    /// Not hex, or not 65 bytes starting with `04`.
    #[error("PKP public key must be 0x04 followed by 128 hex digits (65-byte uncompressed secp256k1), got {0:?}")]
    Malformed(String),
    /// 65 bytes that are not a point on secp256k1.
    #[error("PKP public key is not a point on secp256k1: {0:?}")]
    NotOnCurve(String),
}

/// An uncompressed secp256k1 PKP public key.
///
/// ```
/// use lit_session_signer::pkp::PkpPublicKey;
/// // The public key of the secp256k1 generator (private key 1).
/// let key: PkpPublicKey = "0x0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
///                          483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8".parse().unwrap();
/// assert_eq!(key.address().to_checksum(), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
/// assert!(key.to_hex().starts_with("0x0479be66"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PkpPublicKey(VerifyingKey);

impl PkpPublicKey {
    /// Wraps a verifying key.
    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        Self(key)
    }

    /// The key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// `0x04` + X + Y in lowercase hex, as sent in `pkpPublicKey`.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0.to_encoded_point(false).as_bytes()))
    }

    /// The PKP's Ethereum address (`computeAddress`).
    pub fn address(&self) -> EthAddress {
        EthAddress::from_verifying_key(&self.0)
    }
}

impl FromStr for PkpPublicKey {
    type Err = PkpPublicKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let body = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
        let bytes = hex::decode(body).map_err(|_| PkpPublicKeyError::Malformed(s.to_string()))?;
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return Err(PkpPublicKeyError::Malformed(s.to_string()));
        }
        VerifyingKey::from_sec1_bytes(&bytes).map(Self).map_err(|_| PkpPublicKeyError::NotOnCurve(s.to_string()))
    }
}

impl fmt::Display for PkpPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PkpPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PkpPublicKey({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";

    #[test]
    fn parses_with_or_without_prefix() {
        let a: PkpPublicKey = G.parse().unwrap();
        let b: PkpPublicKey = format!("0x{}", G.to_uppercase()).parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_hex(), format!("0x{G}"));
    }

    #[test]
    fn refuses_other_shapes() {
        let compressed = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        for bad in ["", "0x", "zz", compressed, &G[..128]] {
            assert!(matches!(bad.parse::<PkpPublicKey>(), Err(PkpPublicKeyError::Malformed(_))), "{bad}");
        }
        let off_curve = format!("04{}", "11".repeat(64));
        assert!(matches!(off_curve.parse::<PkpPublicKey>(), Err(PkpPublicKeyError::NotOnCurve(_))));
    }
}
