//! A combined network BLS signature: a compressed G2 point (96 bytes), written in AuthSigs as
//! `{"ProofOfPossession":"<192 hex>"}`.

use std::fmt;

use blsful::inner_types::{G2Affine, G2Projective, Group};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::encoding::{hex_array, pop_hex, pop_hex_from_text, pop_json_text, POP};
use super::error::BlsError;
use super::public_key::NetworkPublicKey;

/// Size of a compressed G2 point.
pub const SIGNATURE_BYTES: usize = 96;

/// A BLS signature of the proof-of-possession ciphersuite
/// (`BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`). Parsing checks the point is in the G2
/// subgroup. serde: `{"ProofOfPossession":"<hex>"}`, blsful's `Signature<Bls12381G2Impl>`.
///
/// ```
/// use lit_session_signer::bls::BlsSignature;
/// let json = r#"{"ProofOfPossession":"8a39b3fec4614f95e320e773b5668c2afb6969e6b4093bb30fca3b635a098438d4b70d2f2938bb86432901bac71dd74f1820c14dd1dde11fb69b261fe6bad5efa6947c02a3399cca3b6ffd955652ab01213374699f1458d9611a8ee790e3e74c"}"#;
/// let sig = BlsSignature::from_sig_json(json).unwrap();
/// assert_eq!(sig.to_sig_json(), json);
/// ```
#[derive(Clone, Copy)]
pub struct BlsSignature {
    bytes: [u8; SIGNATURE_BYTES],
    point: G2Projective,
}

impl BlsSignature {
    const WHAT: &'static str = "BLS signature";

    /// From the 96-byte compressed encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let bytes = <[u8; SIGNATURE_BYTES]>::try_from(bytes).map_err(|_| BlsError::Length {
            what: Self::WHAT,
            expected: SIGNATURE_BYTES,
            got: bytes.len(),
        })?;
        let point = Option::<G2Affine>::from(G2Affine::from_compressed(&bytes))
            .ok_or(BlsError::InvalidPoint { what: Self::WHAT, group: "G2" })?;
        Ok(Self { bytes, point: point.into() })
    }

    /// From hex (`0x` optional).
    pub fn from_hex(text: &str) -> Result<Self, BlsError> {
        Self::from_bytes(&hex_array::<SIGNATURE_BYTES>(Self::WHAT, text)?)
    }

    /// From an AuthSig's `sig` string, `{"ProofOfPossession":"<hex>"}` (what the node parses as
    /// `blsful::Signature<Bls12381G2Impl>`).
    pub fn from_sig_json(text: &str) -> Result<Self, BlsError> {
        Self::from_hex(&pop_hex_from_text(Self::WHAT, text)?)
    }

    /// The AuthSig `sig` string: `{"ProofOfPossession":"<192 lowercase hex>"}`.
    pub fn to_sig_json(&self) -> String {
        pop_json_text(&self.to_hex())
    }

    pub(crate) fn from_point(point: G2Projective) -> Self {
        let bytes = G2Affine::from(point).to_compressed();
        Self { bytes, point }
    }

    pub(crate) fn point(&self) -> &G2Projective {
        &self.point
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        self.bytes
    }

    /// Lowercase hex, no `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Verifies over `message` (for Lit sessions, the 32-byte [`super::session_digest`]) with
    /// blsful's proof-of-possession `verify`, as the node does. The identity signature is
    /// refused.
    ///
    /// ```
    /// use lit_session_signer::bls::{deal_shares_from_seed, combine_shares, BlsError};
    /// let (key, shares) = deal_shares_from_seed(2, 3, &[7; 32]).unwrap();
    /// let digest = [1u8; 32];
    /// let sig = combine_shares(&[shares[0].sign_share(&digest), shares[2].sign_share(&digest)]).unwrap();
    /// assert_eq!(sig.verify(&key, &digest), Ok(()));
    /// assert_eq!(sig.verify(&key, &[2u8; 32]), Err(BlsError::InvalidSignature));
    /// ```
    pub fn verify(&self, key: &NetworkPublicKey, message: &[u8]) -> Result<(), BlsError> {
        if bool::from(self.point.is_identity()) {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        blsful::Signature::<blsful::Bls12381G2Impl>::ProofOfPossession(self.point)
            .verify(&key.as_blsful(), message)
            .map_err(|_| BlsError::InvalidSignature)
    }
}

impl PartialEq for BlsSignature {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for BlsSignature {}

impl fmt::Debug for BlsSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSignature({})", self.to_hex())
    }
}

impl fmt::Display for BlsSignature {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for BlsSignature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(POP, &self.to_hex())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for BlsSignature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let hex = pop_hex(Self::WHAT, &value).map_err(serde::de::Error::custom)?;
        Self::from_hex(hex).map_err(serde::de::Error::custom)
    }
}
