//! Reading `CKA_EC_POINT` in every form tokens use.
//!
//! PKCS#11 3.0 said "DER-encoding of the public key" and implementations split: SoftHSM and
//! YubiHSM return a DER OCTET STRING (`04 20 ‖ key`), Kryoptic and OP-TEE return the raw key
//! (the 3.1 errata), and a literal reading of 3.0 gives a BIT STRING (`03 21 00 ‖ key`). This
//! module accepts all of them and never panics. It knows no curve: callers say how long the
//! point must be (the key spec's point length: 32 for Ed25519, 65 for an uncompressed
//! secp256k1 point). [`EcPointEncoding::encode`] is the inverse, for tests and fuzzing.

use std::fmt;

/// DER tag of an OCTET STRING.
const TAG_OCTET_STRING: u8 = 0x04;
/// DER tag of a BIT STRING.
const TAG_BIT_STRING: u8 = 0x03;

/// Why a `CKA_EC_POINT` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcPointError {
    /// The value is empty.
    #[error("CKA_EC_POINT is empty")]
    Empty,
    /// The value is neither the raw point nor a DER OCTET/BIT STRING holding it.
    #[error(
        "CKA_EC_POINT of {len} bytes is not a {expected}-byte point, nor a DER OCTET STRING or BIT STRING holding one"
    )]
    Unrecognised {
        /// Length of the value the token returned.
        len: usize,
        /// The point length that was expected.
        expected: usize,
    },
}

/// How the token encoded the point (useful in diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcPointEncoding {
    /// The bare point (PKCS#11 3.1 errata, Kryoptic).
    Raw,
    /// A DER OCTET STRING (SoftHSM, YubiHSM, OpenSC).
    DerOctetString,
    /// A DER BIT STRING with zero unused bits.
    DerBitString,
}

impl EcPointEncoding {
    /// `point` in this encoding: the inverse of [`parse_ec_point`] (DER lengths in the
    /// minimal form).
    pub fn encode(self, point: &[u8]) -> Vec<u8> {
        let (tag, prefix): (u8, &[u8]) = match self {
            Self::Raw => return point.to_vec(),
            Self::DerOctetString => (TAG_OCTET_STRING, &[]),
            // Zero unused bits.
            Self::DerBitString => (TAG_BIT_STRING, &[0]),
        };
        let len = prefix.len() + point.len();
        let mut out = vec![tag];
        match u8::try_from(len) {
            Ok(short) if short < 0x80 => out.push(short),
            _ => {
                let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
                out.push(0x80 | bytes.len() as u8);
                out.extend(bytes);
            }
        }
        out.extend_from_slice(prefix);
        out.extend_from_slice(point);
        out
    }
}

impl fmt::Display for EcPointEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Raw => "raw",
            Self::DerOctetString => "DER OCTET STRING",
            Self::DerBitString => "DER BIT STRING",
        })
    }
}

/// Extracts a point of exactly `point_len` bytes from a `CKA_EC_POINT` value.
///
/// Tries, in order: the raw point, a DER OCTET STRING, a DER BIT STRING (with 0 unused bits).
/// DER lengths may be short or long form; trailing bytes are rejected.
pub fn parse_ec_point(value: &[u8], point_len: usize) -> Result<(&[u8], EcPointEncoding), EcPointError> {
    if value.is_empty() {
        return Err(EcPointError::Empty);
    }
    let unrecognised = || EcPointError::Unrecognised { len: value.len(), expected: point_len };
    // Raw first: a raw 32-byte key can never also be a valid 32-byte DER wrapping of a 32-byte
    // key (the wrapping adds bytes), so the order cannot misread a value.
    if value.len() == point_len {
        return Ok((value, EcPointEncoding::Raw));
    }
    let (tag, content) = der_tlv(value).ok_or_else(unrecognised)?;
    match tag {
        TAG_OCTET_STRING if content.len() == point_len => Ok((content, EcPointEncoding::DerOctetString)),
        TAG_BIT_STRING => match content.split_first() {
            Some((0, bits)) if bits.len() == point_len => Ok((bits, EcPointEncoding::DerBitString)),
            _ => Err(unrecognised()),
        },
        _ => Err(unrecognised()),
    }
}

/// Splits one DER TLV that must span the whole input. Returns the tag and the content.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first_len, rest) = rest.split_first()?;
    let (len, rest) = if first_len < 0x80 {
        (usize::from(first_len), rest)
    } else {
        // Long form: the low 7 bits say how many length bytes follow. 0x80 (indefinite) is
        // not DER; more than 4 length bytes is absurd for a point.
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        // DER requires the minimal form.
        if len < 0x80 || len_bytes.first() == Some(&0) {
            return None;
        }
        (len, rest)
    };
    if rest.len() != len {
        return None;
    }
    Some((tag, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<u8> {
        (1..=32).collect()
    }

    #[test]
    fn raw_point() {
        let k = key();
        assert_eq!(parse_ec_point(&k, 32), Ok((&k[..], EcPointEncoding::Raw)));
    }

    #[test]
    fn octet_string() {
        let k = key();
        let mut v = vec![0x04, 0x20];
        v.extend_from_slice(&k);
        assert_eq!(parse_ec_point(&v, 32), Ok((&k[..], EcPointEncoding::DerOctetString)));
        assert_eq!(EcPointEncoding::DerOctetString.encode(&k), v);
    }

    #[test]
    fn bit_string() {
        let k = key();
        let mut v = vec![0x03, 0x21, 0x00];
        v.extend_from_slice(&k);
        assert_eq!(parse_ec_point(&v, 32), Ok((&k[..], EcPointEncoding::DerBitString)));
        assert_eq!(EcPointEncoding::DerBitString.encode(&k), v);
    }

    #[test]
    fn bit_string_with_unused_bits_is_rejected() {
        let mut v = vec![0x03, 0x21, 0x01];
        v.extend_from_slice(&key());
        assert!(parse_ec_point(&v, 32).is_err());
    }

    #[test]
    fn secp256k1_uncompressed_in_octet_string() {
        let mut point = vec![0x04];
        point.extend((0..64).map(|i| i as u8));
        let mut v = vec![0x04, 0x41];
        v.extend_from_slice(&point);
        assert_eq!(parse_ec_point(&v, 65).unwrap().0, &point[..]);
        // Raw 65-byte point (parsec's fallback case) also works.
        assert_eq!(parse_ec_point(&point, 65).unwrap().1, EcPointEncoding::Raw);
    }

    #[test]
    fn long_form_length() {
        let content = vec![7u8; 200];
        let mut v = vec![0x04, 0x81, 200];
        v.extend_from_slice(&content);
        assert_eq!(parse_ec_point(&v, 200).unwrap().0, &content[..]);
        assert_eq!(EcPointEncoding::DerOctetString.encode(&content), v);
        // Non-minimal long form is not DER.
        let mut bad = vec![0x04, 0x81, 0x20];
        bad.extend_from_slice(&key());
        assert!(parse_ec_point(&bad, 32).is_err());
    }

    #[test]
    fn malformed_inputs() {
        let k = key();
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x04],
            vec![0x04, 0x20],
            [vec![0x04, 0x21], k.clone()].concat(),
            [vec![0x04, 0x20], k.clone(), vec![0]].concat(),
            [vec![0x04, 0x1f], k[..31].to_vec()].concat(),
            [vec![0x05, 0x20], k.clone()].concat(),
            [vec![0x03, 0x20], k.clone()].concat(),
            vec![0x04, 0x80],
            vec![0x04, 0x85, 1, 2, 3, 4, 5],
            vec![0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
            k[..31].to_vec(),
            [k.clone(), vec![0]].concat(),
        ];
        for c in cases {
            assert!(parse_ec_point(&c, 32).is_err(), "accepted {c:02x?}");
        }
        assert_eq!(parse_ec_point(&[], 32), Err(EcPointError::Empty));
    }

    #[test]
    fn no_panic_on_any_short_input() {
        // Every input up to 3 bytes, plus every 2-byte prefix in front of a 32-byte body.
        for a in 0..=255u8 {
            let _ = parse_ec_point(&[a], 32);
            for b in 0..=255u8 {
                let _ = parse_ec_point(&[a, b], 32);
                let _ = parse_ec_point(&[a, b, 0], 32);
                let mut v = vec![a, b];
                v.extend_from_slice(&key());
                let _ = parse_ec_point(&v, 32);
                let _ = parse_ec_point(&v, 0);
            }
        }
    }
}
