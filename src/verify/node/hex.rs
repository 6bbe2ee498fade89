//! The node's hex readings.

/// lit-core `utils/binary.rs::hex_to_bytes`, for exactly `N` bytes: one leading `0x` removed, an
/// odd number of digits padded with a leading `0`, then hex digits of any case (mixed too).
/// `None` when that does not give `N` bytes.
///
/// ```
/// use lit_session_signer::verify::node::hex::hex_to_array;
/// assert_eq!(hex_to_array::<2>("0xAbC"), Some([0x0a, 0xbc]));
/// assert_eq!(hex_to_array::<2>("abcd"), Some([0xab, 0xcd]));
/// assert_eq!(hex_to_array::<2>("0x0xab"), None);
/// ```
pub fn hex_to_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.strip_prefix("0x").unwrap_or(text).as_bytes();
    let mut out = [0u8; N];
    match digits.len() {
        n if n == 2 * N => hex::decode_to_slice(digits, &mut out).ok()?,
        n if n + 1 == 2 * N && N > 0 => {
            out[0] = nibble(digits[0])?;
            hex::decode_to_slice(&digits[1..], &mut out[1..]).ok()?;
        }
        _ => return None,
    }
    Some(out)
}

/// lit-core `hex_to_bytes` for any length.
///
/// ```
/// use lit_session_signer::verify::node::hex::hex_to_bytes;
/// assert_eq!(hex_to_bytes("0x123"), Some(vec![0x01, 0x23]));
/// assert_eq!(hex_to_bytes(""), Some(vec![]));
/// assert_eq!(hex_to_bytes("0xg0"), None);
/// ```
pub fn hex_to_bytes(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text).as_bytes();
    let odd = digits.len() % 2;
    let mut out = vec![0u8; digits.len() / 2 + odd];
    if odd == 1 {
        out[0] = nibble(digits[0])?;
    }
    hex::decode_to_slice(&digits[odd..], &mut out[odd..]).ok()?;
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// ed25519 2.2's `Signature::from_str` (what the node's `check_ed25519_auth_sig` calls):
/// exactly 128 hex digits, no prefix, letters all lower case or all upper case.
///
/// ```
/// use lit_session_signer::verify::node::hex::ed25519_signature;
/// assert!(ed25519_signature(&"aB".repeat(64)).is_none());
/// assert!(ed25519_signature(&"AB".repeat(64)).is_some());
/// assert!(ed25519_signature(&format!("0x{}", "ab".repeat(63))).is_none());
/// ```
pub fn ed25519_signature(text: &str) -> Option<[u8; 64]> {
    let bytes = text.as_bytes();
    if bytes.len() != 128 {
        return None;
    }
    let mut upper = None;
    for &c in bytes {
        let case = match c {
            b'0'..=b'9' => continue,
            b'a'..=b'z' => false,
            b'A'..=b'Z' => true,
            _ => return None,
        };
        if *upper.get_or_insert(case) != case {
            return None;
        }
    }
    let mut out = [0u8; 64];
    hex::decode_to_slice(bytes, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_to_bytes_as_lit_core() {
        assert_eq!(hex_to_bytes("0x"), Some(vec![]));
        assert_eq!(hex_to_bytes("f"), Some(vec![0x0f]));
        assert_eq!(hex_to_bytes("0xF"), Some(vec![0x0f]));
        assert_eq!(hex_to_bytes("aBcD"), Some(vec![0xab, 0xcd]));
        for bad in ["0x0x12", "0X12", " 12", "12 ", "1g", "é1"] {
            assert_eq!(hex_to_bytes(bad), None, "{bad}");
        }
        let key = "0".repeat(63) + "1";
        assert_eq!(hex_to_array::<32>(&key).map(|k| k[31]), Some(1));
        assert_eq!(hex_to_array::<32>(&key[1..]).map(|k| k[31]), Some(1));
        assert_eq!(hex_to_array::<32>(&format!("0x{}", &key[1..])).map(|k| k[31]), Some(1));
        assert_eq!(hex_to_array::<32>(&key[2..]), None);
        assert_eq!(hex_to_array::<32>(&format!("0{key}")), None);
        assert_eq!(hex_to_array::<32>(&format!("z{}", &key[1..])), None);
    }

    #[test]
    fn signature_hex_as_ed25519() {
        let lower = "0123456789abcdef".repeat(8);
        assert!(ed25519_signature(&lower).is_some());
        assert!(ed25519_signature(&lower.to_uppercase()).is_some());
        assert_eq!(ed25519_signature(&"12".repeat(64)).map(|s| s[0]), Some(0x12));
        let mut mixed = lower.clone();
        mixed.replace_range(127.., "F");
        assert!(ed25519_signature(&mixed).is_none());
        assert!(ed25519_signature(&lower[1..]).is_none());
        assert!(ed25519_signature(&format!("{lower}0")).is_none());
        assert!(ed25519_signature(&lower.replace('a', "g")).is_none());
    }
}
