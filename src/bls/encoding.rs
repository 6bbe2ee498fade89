//! Hex and the `{"ProofOfPossession":"<hex>"}` wrapper blsful uses for signatures and shares.

use serde_json::Value;

use super::error::BlsError;

/// The blsful scheme name of the proof-of-possession ciphersuite.
pub(crate) const POP: &str = "ProofOfPossession";

/// `N` bytes from hex, `0x` optional.
pub(crate) fn hex_array<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], BlsError> {
    let body = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(body).map_err(|e| BlsError::Hex { what, detail: e.to_string() })?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| BlsError::Length { what, expected: N, got: bytes.len() })
}

/// The hex string inside `{"ProofOfPossession":"<hex>"}`.
pub(crate) fn pop_hex<'v>(what: &'static str, value: &'v Value) -> Result<&'v str, BlsError> {
    let Value::Object(map) = value else {
        return Err(BlsError::Json { what, detail: format!("not an object: {}", kind(value)) });
    };
    let mut entries = map.iter();
    let (Some((scheme, inner)), None) = (entries.next(), entries.next()) else {
        return Err(BlsError::Json { what, detail: format!("{} keys, expected exactly one", map.len()) });
    };
    if scheme != POP {
        return Err(BlsError::WrongScheme { what, scheme: scheme.clone() });
    }
    inner.as_str().ok_or_else(|| BlsError::Json { what, detail: format!("{POP} is {}, not a string", kind(inner)) })
}

/// Parses JSON text and returns the hex inside the wrapper.
pub(crate) fn pop_hex_from_text(what: &'static str, text: &str) -> Result<String, BlsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| BlsError::Json { what, detail: e.to_string() })?;
    pop_hex(what, &value).map(str::to_string)
}

/// `{"ProofOfPossession":"<hex>"}` as compact JSON text.
pub(crate) fn pop_json_text(hex: &str) -> String {
    format!("{{\"{POP}\":\"{hex}\"}}")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hex_array_sizes_and_prefix() {
        assert_eq!(hex_array::<2>("x", "0xabcd"), Ok([0xab, 0xcd]));
        assert_eq!(hex_array::<2>("x", "ABCD"), Ok([0xab, 0xcd]));
        assert_eq!(hex_array::<2>("x", "abcdef"), Err(BlsError::Length { what: "x", expected: 2, got: 3 }));
        assert!(matches!(hex_array::<2>("x", "abc"), Err(BlsError::Hex { .. })));
        assert!(matches!(hex_array::<2>("x", "zzzz"), Err(BlsError::Hex { .. })));
    }

    #[test]
    fn pop_wrapper() {
        assert_eq!(pop_hex("s", &json!({"ProofOfPossession": "ab"})), Ok("ab"));
        assert!(matches!(pop_hex("s", &json!({"Basic": "ab"})), Err(BlsError::WrongScheme { .. })));
        assert!(matches!(pop_hex("s", &json!({"ProofOfPossession": 1})), Err(BlsError::Json { .. })));
        assert!(matches!(pop_hex("s", &json!({"ProofOfPossession": "ab", "x": 1})), Err(BlsError::Json { .. })));
        assert!(matches!(pop_hex("s", &json!("ab")), Err(BlsError::Json { .. })));
        assert!(matches!(pop_hex_from_text("s", "{"), Err(BlsError::Json { .. })));
        assert_eq!(pop_json_text("ab"), r#"{"ProofOfPossession":"ab"}"#);
    }
}
