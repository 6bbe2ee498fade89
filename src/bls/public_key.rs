//! The network's BLS root public key: a compressed G1 point (48 bytes), the `blsRootPubkey` a
//! node returns from `sign_session_key` and the key `LIT_BLS` capabilities verify against.

use std::fmt;
use std::str::FromStr;

use blsful::inner_types::{G1Affine, G1Projective, Group};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::encoding::hex_array;
use super::error::BlsError;

/// Size of a compressed G1 point.
pub const PUBLIC_KEY_BYTES: usize = 48;

/// A network BLS public key (G1, `Bls12381G2Impl`). Parsing checks that the point is on the
/// curve, in the prime-order subgroup and not the identity. `Display`/serde: lowercase hex
/// without `0x`, as nodes write `blsRootPubkey`.
///
/// ```
/// use lit_session_signer::bls::NetworkPublicKey;
/// let key: NetworkPublicKey = "a6f7c284ac766db1b43f8c65d8ff15c7271a05b0863b5205d96459fd32aa353e9390ce0626560fb76720c1a5c8ca6902".parse().unwrap();
/// assert_eq!(key.to_bytes().len(), 48);
/// assert!("a6f7".parse::<NetworkPublicKey>().is_err());
/// ```
#[derive(Clone, Copy)]
pub struct NetworkPublicKey {
    bytes: [u8; PUBLIC_KEY_BYTES],
    point: G1Affine,
}

impl NetworkPublicKey {
    const WHAT: &'static str = "network public key";

    /// From the 48-byte compressed encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let bytes = <[u8; PUBLIC_KEY_BYTES]>::try_from(bytes).map_err(|_| BlsError::Length {
            what: Self::WHAT,
            expected: PUBLIC_KEY_BYTES,
            got: bytes.len(),
        })?;
        Self::from_array(bytes)
    }

    fn from_array(bytes: [u8; PUBLIC_KEY_BYTES]) -> Result<Self, BlsError> {
        let point = Option::<G1Affine>::from(G1Affine::from_compressed(&bytes))
            .ok_or(BlsError::InvalidPoint { what: Self::WHAT, group: "G1" })?;
        if bool::from(G1Projective::from(point).is_identity()) {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        Ok(Self { bytes, point })
    }

    /// From hex (`0x` optional; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, BlsError> {
        Self::from_array(hex_array(Self::WHAT, text.trim())?)
    }

    #[cfg(feature = "test-util")] // the dealer makes keys and shares from points
    pub(crate) fn from_point(point: G1Projective) -> Result<Self, BlsError> {
        if bool::from(point.is_identity()) {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        let point = G1Affine::from(point);
        Ok(Self { bytes: point.to_compressed(), point })
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.bytes
    }

    /// Lowercase hex, no `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    pub(crate) fn point(&self) -> G1Projective {
        G1Projective::from(self.point)
    }

    pub(crate) fn as_blsful(&self) -> blsful::PublicKey<blsful::Bls12381G2Impl> {
        blsful::PublicKey(G1Projective::from(self.point))
    }
}

// The encoding is canonical (compressed, subgroup-checked), so bytes decide equality.
impl PartialEq for NetworkPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for NetworkPublicKey {}

impl std::hash::Hash for NetworkPublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl FromStr for NetworkPublicKey {
    type Err = BlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl fmt::Display for NetworkPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NetworkPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkPublicKey({})", self.to_hex())
    }
}

impl Serialize for NetworkPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for NetworkPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str =
        "a6f7c284ac766db1b43f8c65d8ff15c7271a05b0863b5205d96459fd32aa353e9390ce0626560fb76720c1a5c8ca6902";

    #[test]
    fn round_trips_and_refuses_bad_points() {
        let key = NetworkPublicKey::from_hex(ROOT).unwrap();
        assert_eq!(key.to_hex(), ROOT);
        assert_eq!(NetworkPublicKey::from_hex(&format!(" 0x{ROOT}\n")).unwrap(), key);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{ROOT}\""));
        assert_eq!(serde_json::from_str::<NetworkPublicKey>(&format!("\"{ROOT}\"")).unwrap(), key);

        // The compressed identity: infinity flag set, all else zero.
        let mut identity = [0u8; 48];
        identity[0] = 0xc0;
        assert_eq!(NetworkPublicKey::from_bytes(&identity), Err(BlsError::Identity { what: "network public key" }));
        // Compression flag cleared: not a compressed encoding.
        let mut bytes = key.to_bytes();
        bytes[0] &= 0x7f;
        assert!(matches!(NetworkPublicKey::from_bytes(&bytes), Err(BlsError::InvalidPoint { group: "G1", .. })));
        // An x with no point on the curve (some x of the 2 candidates fails; try until one does).
        let off_curve = (0u8..=255).find_map(|b| {
            let mut x = key.to_bytes();
            x[47] = b;
            NetworkPublicKey::from_bytes(&x).err()
        });
        assert!(matches!(off_curve, Some(BlsError::InvalidPoint { .. })));
        assert!(matches!(NetworkPublicKey::from_bytes(&[0u8; 47]), Err(BlsError::Length { got: 47, .. })));
        assert!(serde_json::from_str::<NetworkPublicKey>("\"00\"").is_err());
    }
}
