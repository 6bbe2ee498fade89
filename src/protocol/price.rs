//! Amounts the Naga nodes read as `U256`: the `maxPrice` a session signs for each node, node
//! prices and the payment-delegation `max_price`.
//!
//! [`Price`] is a small 256-bit unsigned integer with only what prices need (compare, add,
//! subtract, divide by a node count, read and write decimal and hex), so no big-integer crate
//! is pulled in.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// An amount from 0 to 2^256 − 1 (the node's `U256`), e.g. wei.
///
/// Parsing ([`FromStr`]) is this crate's reading of a price given as input: `0x` + 1 to 64 hex
/// digits, or decimal digits. The node reads signed amounts more loosely:
/// [`Price::from_signed_max_price`] and [`Price::from_uint_hex`] are its readings.
///
/// ```
/// use lit_session_signer::protocol::Price;
/// let p: Price = "1000".parse().unwrap();
/// assert_eq!(p.to_hex(), "0x3e8");
/// assert_eq!("0x3E8".parse::<Price>().unwrap(), p);
/// assert_eq!(Price::DEFAULT_USER_MAX.to_string(), u128::MAX.to_string());
/// assert!("-5".parse::<Price>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Price([u64; 4]); // little-endian 64-bit limbs

/// A price that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Nothing given.
    #[error("empty price")]
    Empty,
    /// A leading minus sign.
    #[error("price {0:?} is negative")]
    Negative(String),
    /// Not decimal digits nor `0x` + hex digits.
    #[error("price {0:?} is not a number (decimal digits, or 0x and hex digits)")]
    NotANumber(String),
    /// 2^256 or more (or more than 64 hex digits).
    #[error("price {0:?} is over 2^256 - 1")]
    TooLarge(String),
    /// A signed `maxPrice` that is not a JSON string the node can borrow (a number, `null`, or
    /// a string with escapes).
    #[error("maxPrice must be a JSON string without escapes, found {0}")]
    NotAString(String),
}

impl Price {
    /// 0.
    pub const ZERO: Price = Price([0; 4]);
    /// 2^256 − 1.
    pub const MAX: Price = Price([u64::MAX; 4]);
    /// 2^128 − 1: the v8 SDK's default user maximum ("unlimited", `UNSIGNED_128_MAX`).
    pub const DEFAULT_USER_MAX: Price = Price::from_u128(u128::MAX);

    /// `v` as a price.
    pub const fn from_u128(v: u128) -> Self {
        Price([v as u64, (v >> 64) as u64, 0, 0])
    }

    /// Whether this is 0.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// `self + other`, or `None` past 2^256 − 1.
    pub fn checked_add(self, other: Price) -> Option<Price> {
        let mut out = [0u64; 4];
        let mut carry = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let (s, c1) = self.0[i].overflowing_add(other.0[i]);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            *slot = s;
            carry = c1 || c2;
        }
        (!carry).then_some(Price(out))
    }

    /// `self − other`, or `None` below 0.
    pub fn checked_sub(self, other: Price) -> Option<Price> {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let (d, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            *slot = d;
            borrow = b1 || b2;
        }
        (!borrow).then_some(Price(out))
    }

    /// `self / divisor` rounded down (JavaScript `BigInt` division), or `None` for 0.
    pub fn checked_div(self, divisor: u64) -> Option<Price> {
        (divisor != 0).then(|| self.div_rem(divisor).0)
    }

    // Long division by a nonzero 64-bit divisor.
    fn div_rem(self, divisor: u64) -> (Price, u64) {
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        for i in (0..4).rev() {
            let cur = (rem << 64) | u128::from(self.0[i]);
            out[i] = (cur / u128::from(divisor)) as u64;
            rem = cur % u128::from(divisor);
        }
        (Price(out), rem as u64)
    }

    // `self * m + a`, or `None` past 2^256 − 1.
    fn mul_add(self, m: u64, a: u64) -> Option<Price> {
        let mut out = [0u64; 4];
        let mut carry = u128::from(a);
        for (i, slot) in out.iter_mut().enumerate() {
            let cur = u128::from(self.0[i]) * u128::from(m) + carry;
            *slot = cur as u64;
            carry = cur >> 64;
        }
        (carry == 0).then_some(Price(out))
    }

    /// Lowercase hex digits without leading zeros and without `0x` (`0` for zero), as
    /// JavaScript's `BigInt.toString(16)` writes them.
    pub fn to_hex_digits(&self) -> String {
        let mut out = String::with_capacity(64);
        for limb in self.0.iter().rev() {
            if out.is_empty() {
                if *limb != 0 {
                    out.push_str(&format!("{limb:x}"));
                }
            } else {
                out.push_str(&format!("{limb:016x}"));
            }
        }
        if out.is_empty() {
            out.push('0');
        }
        out
    }

    /// `0x` + [`Self::to_hex_digits`]: the v8 SDK's `maxPrice` form (`"0x0"` for zero).
    pub fn to_hex(&self) -> String {
        format!("0x{}", self.to_hex_digits())
    }

    /// Reads hex digits (either case, no prefix): at least one, at most 64.
    pub fn from_hex_digits(digits: &str) -> Result<Price, PriceError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PriceError::NotANumber(digits.to_string()));
        }
        if digits.len() > 64 {
            return Err(PriceError::TooLarge(digits.to_string()));
        }
        let mut out = [0u64; 4];
        for (i, chunk) in digits.as_bytes().rchunks(16).enumerate() {
            // Checked above: ASCII hex digits only.
            let text = std::str::from_utf8(chunk).map_err(|_| PriceError::NotANumber(digits.to_string()))?;
            out[i] = u64::from_str_radix(text, 16).map_err(|_| PriceError::NotANumber(digits.to_string()))?;
        }
        Ok(Price(out))
    }

    /// Reads decimal digits (no sign): at least one, below 2^256.
    pub fn from_decimal(digits: &str) -> Result<Price, PriceError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PriceError::NotANumber(digits.to_string()));
        }
        digits.bytes().try_fold(Price::ZERO, |acc, b| {
            acc.mul_add(10, u64::from(b - b'0')).ok_or_else(|| PriceError::TooLarge(digits.to_string()))
        })
    }

    /// Reads the string value of a signed `maxPrice` given as raw JSON, as the Naga node does:
    /// a JSON string it can borrow (no escapes), then [`Price::from_signed_max_price`].
    pub fn from_json_str(raw: &str) -> Result<Price, PriceError> {
        let inner = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .filter(|s| !s.contains('\\'))
            .ok_or_else(|| PriceError::NotAString(raw.to_string()))?;
        Price::from_signed_max_price(inner)
    }

    /// The Naga node's reading of a signed `maxPrice` (`models/auth.rs::from_str_to_u256`):
    /// text starting `0x` is `U256::from_str_radix(rest, 16)`, anything else
    /// `U256::from_str_radix(text, 10)` (uint 0.9.5). So `""` and `"0x"` are 0, a second `0x`
    /// is skipped (`"0x0x10"` is 16), an odd number of hex digits is fine, either case.
    ///
    /// ```
    /// use lit_session_signer::protocol::Price;
    /// assert_eq!(Price::from_signed_max_price("0x0x10"), Ok(Price::from(16u64)));
    /// assert_eq!(Price::from_signed_max_price(""), Ok(Price::ZERO));
    /// assert!(Price::from_signed_max_price("0X10").is_err());
    /// ```
    pub fn from_signed_max_price(text: &str) -> Result<Price, PriceError> {
        match text.strip_prefix("0x") {
            Some(rest) => Price::from_uint_hex(rest),
            None if text.is_empty() => Ok(Price::ZERO),
            None => Price::from_decimal(text),
        }
    }

    /// ethers' `U256::from_str` (uint 0.9.5, always hex): one optional `0x`, then at most 64
    /// hex digits of either case, none meaning 0, an odd count padded with a leading zero. The
    /// node reads a payment delegation's `max_price` this way, so `"1000"` is 0x1000.
    ///
    /// ```
    /// use lit_session_signer::protocol::Price;
    /// assert_eq!(Price::from_uint_hex("1000"), Ok(Price::from(0x1000u64)));
    /// assert_eq!(Price::from_uint_hex("0x"), Ok(Price::ZERO));
    /// ```
    pub fn from_uint_hex(text: &str) -> Result<Price, PriceError> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.is_empty() {
            return Ok(Price::ZERO);
        }
        if digits.len() > 64 {
            return Err(PriceError::TooLarge(text.to_string()));
        }
        Price::from_hex_digits(digits).map_err(|_| PriceError::NotANumber(text.to_string()))
    }
}

impl FromStr for Price {
    type Err = PriceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(PriceError::Empty);
        }
        if s.starts_with('-') {
            return Err(PriceError::Negative(s.to_string()));
        }
        match s.strip_prefix("0x") {
            Some(digits) => Price::from_hex_digits(digits).map_err(|e| match e {
                PriceError::TooLarge(_) => PriceError::TooLarge(s.to_string()),
                _ => PriceError::NotANumber(s.to_string()),
            }),
            None => Price::from_decimal(s),
        }
    }
}

impl Ord for Price {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<u64> for Price {
    fn from(v: u64) -> Self {
        Price([v, 0, 0, 0])
    }
}

impl From<u128> for Price {
    fn from(v: u128) -> Self {
        Price::from_u128(v)
    }
}

/// Decimal.
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        // 19 decimal digits at a time.
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut parts = Vec::new();
        let mut rest = *self;
        while !rest.is_zero() {
            let (q, r) = rest.div_rem(CHUNK);
            parts.push(r);
            rest = q;
        }
        let mut out = String::with_capacity(parts.len() * 19);
        for (i, part) in parts.iter().rev().enumerate() {
            if i == 0 {
                out.push_str(&part.to_string());
            } else {
                out.push_str(&format!("{part:019}"));
            }
        }
        f.pad(&out)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_256_MINUS_1: &str = "115792089237316195423570985008687907853269984665640564039457584007913129639935";

    #[test]
    fn decimal_and_hex_round_trip() {
        for text in ["0", "1", "10", "18446744073709551615", "18446744073709551616", TWO_256_MINUS_1] {
            let p: Price = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(p.to_hex().parse::<Price>().unwrap(), p);
        }
        assert_eq!(Price::MAX.to_string(), TWO_256_MINUS_1);
        assert_eq!(Price::MAX.to_hex(), format!("0x{}", "f".repeat(64)));
        assert_eq!(Price::ZERO.to_hex(), "0x0");
        assert_eq!(Price::from(0x10u64).to_hex(), "0x10");
        assert_eq!(Price::from_u128(1 << 64).to_hex(), "0x10000000000000000");
        // The vector's U128_MAX / 3.
        assert_eq!(
            "113427455640312821154458202477256070485".parse::<Price>().unwrap().to_hex(),
            "0x55555555555555555555555555555555"
        );
        // Leading zeros read, never written.
        assert_eq!("0x000ff".parse::<Price>().unwrap().to_hex(), "0xff");
        assert_eq!("007".parse::<Price>().unwrap().to_string(), "7");
    }

    #[test]
    fn bad_prices_say_why() {
        let cases = [
            ("", PriceError::Empty),
            ("-5", PriceError::Negative("-5".into())),
            ("-0x5", PriceError::Negative("-0x5".into())),
            ("12abc", PriceError::NotANumber("12abc".into())),
            ("ff", PriceError::NotANumber("ff".into())),
            ("0x", PriceError::NotANumber("0x".into())),
            ("0xzz", PriceError::NotANumber("0xzz".into())),
            ("0X10", PriceError::NotANumber("0X10".into())),
            ("+5", PriceError::NotANumber("+5".into())),
            (" 5", PriceError::NotANumber(" 5".into())),
            ("1e3", PriceError::NotANumber("1e3".into())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Price>(), Err(want), "{text:?}");
        }
        // 2^256 in decimal and in hex.
        let two_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(two_256.parse::<Price>(), Err(PriceError::TooLarge(two_256.into())));
        let hex_257_bits = format!("0x1{}", "0".repeat(64));
        assert_eq!(hex_257_bits.parse::<Price>(), Err(PriceError::TooLarge(hex_257_bits.clone())));
    }

    #[test]
    fn arithmetic() {
        let a = Price::from_u128(u128::MAX);
        let one = Price::from(1u64);
        let b = a.checked_add(one).unwrap();
        assert_eq!(b.to_hex(), format!("0x1{}", "0".repeat(32)));
        assert_eq!(b.checked_sub(one), Some(a));
        assert_eq!(Price::ZERO.checked_sub(one), None);
        assert_eq!(Price::MAX.checked_add(one), None);
        assert_eq!(a.checked_div(3).unwrap().to_string(), "113427455640312821154458202477256070485");
        assert_eq!(one.checked_div(0), None);
        assert_eq!(Price::MAX.checked_div(1), Some(Price::MAX));
        assert!(Price::MAX > a && a > one && one > Price::ZERO);
        assert_eq!(b.cmp(&a), Ordering::Greater);
    }

    #[test]
    fn json_strings_as_the_node_reads_them() {
        assert_eq!(Price::from_json_str(r#""0x10""#), Ok(Price::from(16u64)));
        assert_eq!(Price::from_json_str(r#""16""#), Ok(Price::from(16u64)));
        assert!(matches!(Price::from_json_str("16"), Err(PriceError::NotAString(_))));
        assert!(matches!(Price::from_json_str("null"), Err(PriceError::NotAString(_))));
        assert!(matches!(Price::from_json_str(r#""\u0031""#), Err(PriceError::NotAString(_))));
        // The node's loose forms: no digits is 0, a second 0x is skipped.
        assert_eq!(Price::from_json_str(r#""""#), Ok(Price::ZERO));
        assert_eq!(Price::from_json_str(r#""0x0xff""#), Ok(Price::from(255u64)));
    }

    #[test]
    fn the_nodes_uint_readings() {
        let ok = |t: &str, v: u64| assert_eq!(Price::from_signed_max_price(t), Ok(Price::from(v)), "{t:?}");
        ok("0x10", 16);
        ok("0xAbC", 0xabc);
        ok("0x0x10", 16);
        ok("0x", 0);
        ok("0x0x", 0);
        ok("", 0);
        ok("010", 10);
        ok("0xfff", 0xfff);
        for bad in ["0X10", "-1", "+1", " 1", "1 ", "0x-1", "0x0x0x1", "1e3", "ab", "0xzz"] {
            assert!(Price::from_signed_max_price(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Price::from_signed_max_price(&format!("0x{}", "f".repeat(64))), Ok(Price::MAX));
        assert!(Price::from_signed_max_price(&format!("0x{}", "0".repeat(65))).is_err());
        assert_eq!(Price::from_uint_hex("1000"), Ok(Price::from(0x1000u64)));
        assert_eq!(Price::from_uint_hex(""), Ok(Price::ZERO));
        assert!(Price::from_uint_hex("0x0x1").is_err());
    }
}
