//! Signature shares as the nodes return them (`signatureShare` of `sign_session_key`), and the
//! public key shares a dealer knows.

use std::fmt;

use blsful::inner_types::{G1Affine, G2Affine, G2Projective};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::encoding::{hex_array, pop_hex, pop_hex_from_text, pop_json_text, POP};
use super::error::BlsError;
use super::public_key::PUBLIC_KEY_BYTES;
use super::signature::{BlsSignature, SIGNATURE_BYTES};

/// Size of an encoded share: 1 identifier byte + a compressed G2 point.
pub const SIGNATURE_SHARE_BYTES: usize = 1 + SIGNATURE_BYTES;

/// One node's share of the network signature: identifier `x` (1–255; Lit uses node
/// `shareIndex + 1`) and the G2 point `f(x)·H(m)`. Parsing checks the point is in G2 and the
/// identifier is not 0.
///
/// Wire form (`serde`, [`Self::from_node_json`]): `{"ProofOfPossession":"<194 hex>"}`, the
/// hex being identifier ‖ point (blsful's `SignatureShare<Bls12381G2Impl>`).
///
/// ```
/// use lit_session_signer::bls::SignatureShare;
/// let json = serde_json::json!({"ProofOfPossession": "01b191b1d281857a95d2fd189683db366ab1088723338c1805daa4650459e9fcaebaa57b58108c284d233404dd5f2e58f208aafb87d981098aba3fe850980184a4b29643a21107b03f1d928646245b57af3745a81418989e0b6aad9bd1f192723c"});
/// let share = SignatureShare::from_node_json(&json).unwrap();
/// assert_eq!(share.identifier(), 1);
/// assert_eq!(share.to_node_json(), json);
/// ```
#[derive(Clone, Copy)]
pub struct SignatureShare {
    bytes: [u8; SIGNATURE_SHARE_BYTES],
    point: G2Projective,
}

impl SignatureShare {
    const WHAT: &'static str = "signature share";

    /// From identifier ‖ 96-byte compressed point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let bytes = <[u8; SIGNATURE_SHARE_BYTES]>::try_from(bytes).map_err(|_| BlsError::Length {
            what: Self::WHAT,
            expected: SIGNATURE_SHARE_BYTES,
            got: bytes.len(),
        })?;
        if bytes[0] == 0 {
            return Err(BlsError::ZeroIdentifier);
        }
        let mut compressed = [0u8; SIGNATURE_BYTES];
        compressed.copy_from_slice(&bytes[1..]);
        let point = Option::<G2Affine>::from(G2Affine::from_compressed(&compressed))
            .ok_or(BlsError::InvalidPoint { what: Self::WHAT, group: "G2" })?;
        Ok(Self { bytes, point: point.into() })
    }

    /// From hex of identifier ‖ point (`0x` optional).
    pub fn from_hex(text: &str) -> Result<Self, BlsError> {
        Self::from_bytes(&hex_array::<SIGNATURE_SHARE_BYTES>(Self::WHAT, text)?)
    }

    /// From the node's JSON value `{"ProofOfPossession":"<hex>"}`.
    pub fn from_node_json(value: &serde_json::Value) -> Result<Self, BlsError> {
        Self::from_hex(pop_hex(Self::WHAT, value)?)
    }

    /// From the node's JSON as text.
    pub fn from_node_json_str(text: &str) -> Result<Self, BlsError> {
        Self::from_hex(&pop_hex_from_text(Self::WHAT, text)?)
    }

    /// The node's JSON value `{"ProofOfPossession":"<194 lowercase hex>"}`.
    pub fn to_node_json(&self) -> serde_json::Value {
        serde_json::json!({ POP: self.to_hex() })
    }

    /// The node's JSON as compact text.
    pub fn to_node_json_string(&self) -> String {
        pop_json_text(&self.to_hex())
    }

    #[cfg(feature = "test-util")] // the dealer makes keys and shares from points
    pub(crate) fn from_parts(identifier: u8, point: G2Projective) -> Self {
        let mut bytes = [0u8; SIGNATURE_SHARE_BYTES];
        bytes[0] = identifier;
        bytes[1..].copy_from_slice(&G2Affine::from(point).to_compressed());
        Self { bytes, point }
    }

    /// The identifier `x` (≥ 1).
    pub fn identifier(&self) -> u8 {
        self.bytes[0]
    }

    /// Identifier ‖ compressed point.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_SHARE_BYTES] {
        self.bytes
    }

    /// Lowercase hex of identifier ‖ point.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The share's point alone, as a signature (what a 1-of-n network would produce).
    pub fn point_as_signature(&self) -> BlsSignature {
        BlsSignature::from_point(self.point)
    }

    pub(crate) fn point(&self) -> &G2Projective {
        &self.point
    }

    pub(crate) fn as_blsful(&self) -> blsful::SignatureShare<blsful::Bls12381G2Impl> {
        blsful::SignatureShare::ProofOfPossession(blsful::InnerPointShareG2(self.bytes))
    }

    /// Verifies this share over `message` against the signer's public key share (only a
    /// dealer or the node itself knows those; Lit nodes do not return them).
    ///
    /// ```
    /// use lit_session_signer::bls::{deal_shares_from_seed, BlsError};
    /// let (_, shares) = deal_shares_from_seed(2, 3, &[7; 32]).unwrap();
    /// let share = shares[0].sign_share(b"digest");
    /// assert_eq!(share.verify(&shares[0].public_key_share(), b"digest"), Ok(()));
    /// assert_eq!(share.verify(&shares[1].public_key_share(), b"digest"), Err(BlsError::InvalidShare { identifier: 1 }));
    /// ```
    pub fn verify(&self, key: &PublicKeyShare, message: &[u8]) -> Result<(), BlsError> {
        let invalid = BlsError::InvalidShare { identifier: self.identifier() };
        if key.identifier != self.identifier() {
            return Err(invalid);
        }
        blsful::PublicKeyShare::<blsful::Bls12381G2Impl>(blsful::InnerPointShareG1(key.to_bytes()))
            .verify(&self.as_blsful(), message)
            .map_err(|_| invalid)
    }
}

impl PartialEq for SignatureShare {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SignatureShare {}

impl fmt::Debug for SignatureShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureShare({}: {})", self.identifier(), hex::encode(&self.bytes[1..]))
    }
}

impl Serialize for SignatureShare {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(POP, &self.to_hex())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for SignatureShare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Self::from_node_json(&value).map_err(serde::de::Error::custom)
    }
}

/// Size of an encoded public key share: identifier ‖ compressed G1 point.
pub const PUBLIC_KEY_SHARE_BYTES: usize = 1 + PUBLIC_KEY_BYTES;

/// A signer's public key share `f(x)·G1`, for checking its signature shares one by one.
#[derive(Clone, Copy)]
pub struct PublicKeyShare {
    identifier: u8,
    point: G1Affine,
}

impl PublicKeyShare {
    const WHAT: &'static str = "public key share";

    #[cfg(feature = "test-util")] // the dealer makes keys and shares from points
    pub(crate) fn from_parts(identifier: u8, point: blsful::inner_types::G1Projective) -> Self {
        Self { identifier, point: point.into() }
    }

    /// From identifier ‖ 48-byte compressed point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let bytes = <[u8; PUBLIC_KEY_SHARE_BYTES]>::try_from(bytes).map_err(|_| BlsError::Length {
            what: Self::WHAT,
            expected: PUBLIC_KEY_SHARE_BYTES,
            got: bytes.len(),
        })?;
        if bytes[0] == 0 {
            return Err(BlsError::ZeroIdentifier);
        }
        let mut compressed = [0u8; PUBLIC_KEY_BYTES];
        compressed.copy_from_slice(&bytes[1..]);
        let point = Option::<G1Affine>::from(G1Affine::from_compressed(&compressed))
            .ok_or(BlsError::InvalidPoint { what: Self::WHAT, group: "G1" })?;
        Ok(Self { identifier: bytes[0], point })
    }

    /// From hex of identifier ‖ point (`0x` optional).
    pub fn from_hex(text: &str) -> Result<Self, BlsError> {
        Self::from_bytes(&hex_array::<PUBLIC_KEY_SHARE_BYTES>(Self::WHAT, text.trim())?)
    }

    /// The identifier `x`.
    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    /// Identifier ‖ compressed point.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_SHARE_BYTES] {
        let mut out = [0u8; PUBLIC_KEY_SHARE_BYTES];
        out[0] = self.identifier;
        out[1..].copy_from_slice(&self.point.to_compressed());
        out
    }

    /// Lowercase hex of identifier ‖ point.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl PartialEq for PublicKeyShare {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for PublicKeyShare {}

impl fmt::Debug for PublicKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKeyShare({}: {})", self.identifier, hex::encode(self.point.to_compressed()))
    }
}
