//! The node's reading of `issuedAt` and `expiration`: chrono's `DateTime::parse_from_rfc3339`
//! (chrono 0.4.38 on Datil, 0.4.41 on Naga; the RFC 3339 parser is the same in both) and the
//! arithmetic the time rule does with it.

use std::fmt;

use crate::Timestamp;

/// An instant as chrono holds it: whole seconds since the Unix epoch and nanoseconds, where
/// 1 000 000 000 and more marks a leap second (`:60`) that follows second `secs`. Ordered as
/// chrono orders date-times (a leap second sorts after `:59.999…` and before the next minute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeTime {
    secs: i64,
    nanos: u32,
}

/// Why chrono refuses a date-time (its `ParseErrorKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// `TooShort`: the text ends early.
    TooShort,
    /// `Invalid`: a character the format does not allow.
    Invalid,
    /// `OutOfRange`: a field out of its range (month 13, minute 60, offset over 23:59, …).
    OutOfRange,
    /// `Impossible`: a day the month does not have.
    Impossible,
    /// `TooLong`: text after the offset.
    TooLong,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "premature end of input",
            Self::Invalid => "input contains invalid characters",
            Self::OutOfRange => "input is out of range",
            Self::Impossible => "no possible date and time matching input",
            Self::TooLong => "trailing input",
        })
    }
}

impl NodeTime {
    /// chrono's `DateTime::timestamp()`: the whole seconds (a leap second counts as `:59`).
    pub const fn timestamp(self) -> i64 {
        self.secs
    }

    /// `self + TimeDelta::days(days)` as chrono adds it: a leap second moved by whole days
    /// becomes the `:59` second it follows, with its fraction.
    pub fn plus_days(self, days: i64) -> Self {
        let nanos = if self.nanos >= 1_000_000_000 { self.nanos - 1_000_000_000 } else { self.nanos };
        Self { secs: self.secs.saturating_add(days.saturating_mul(86_400)), nanos }
    }

    /// The instant at millisecond precision (a leap second as `:59.999`).
    pub fn to_timestamp(self) -> Timestamp {
        let nanos = i128::from(self.nanos.min(999_999_999));
        let total = i128::from(self.secs) * 1_000_000_000 + nanos;
        let dt = time::OffsetDateTime::from_unix_timestamp_nanos(total).unwrap_or(if total < 0 {
            time::PrimitiveDateTime::MIN.assume_utc()
        } else {
            time::PrimitiveDateTime::MAX.assume_utc()
        });
        Timestamp::from_datetime(dt)
    }

    /// A [`Timestamp`] as chrono would hold it.
    pub fn from_timestamp(t: Timestamp) -> Self {
        let nanos = t.as_datetime().unix_timestamp_nanos();
        let secs = nanos.div_euclid(1_000_000_000);
        Self {
            secs: i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// chrono's `DateTime::parse_from_rfc3339`: `YYYY-MM-DD`, `T`, `t` or a space, `hh:mm:ss`
    /// (second 60 is a leap second at any minute), an optional `.` and one or more digits (the
    /// first nine used), then `Z`, `z`, or `+`/`-`/`−` (U+2212) with `hh:mm` up to 23:59;
    /// nothing around it (no whitespace).
    ///
    /// ```
    /// use lit_session_signer::verify::node::time::NodeTime;
    /// let a = NodeTime::parse("2025-03-15T12:34:56.789Z").unwrap();
    /// let b = NodeTime::parse("2025-03-15 13:34:56.789+01:00").unwrap();
    /// assert_eq!(a, b);
    /// assert!(NodeTime::parse(" 2025-03-15T12:34:56Z").is_err());
    /// assert!(NodeTime::parse("2025-03-15T12:34:56+0100").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let mut s = Scanner(text.as_bytes());
        let year = s.digits(4)?;
        s.byte(b'-')?;
        let month = s.digits(2)?;
        if !(1..=12).contains(&month) {
            return Err(TimeError::OutOfRange);
        }
        s.byte(b'-')?;
        let day = s.digits(2)?;
        if !(1..=31).contains(&day) {
            return Err(TimeError::OutOfRange);
        }
        match s.0.first() {
            Some(b'T' | b't' | b' ') => s.0 = &s.0[1..],
            Some(_) => return Err(TimeError::Invalid),
            None => return Err(TimeError::TooShort),
        }
        let hour = s.digits(2)?;
        if hour > 23 {
            return Err(TimeError::OutOfRange);
        }
        s.byte(b':')?;
        let minute = s.digits(2)?;
        if minute > 59 {
            return Err(TimeError::OutOfRange);
        }
        s.byte(b':')?;
        let second = s.digits(2)?;
        if second > 60 {
            return Err(TimeError::OutOfRange);
        }
        let mut nanos = 0u32;
        if s.0.first() == Some(&b'.') {
            s.0 = &s.0[1..];
            nanos = s.fraction()?;
        }
        let offset = s.offset()?;
        if !s.0.is_empty() {
            return Err(TimeError::TooLong);
        }
        if day > days_in_month(year, month) {
            return Err(TimeError::OutOfRange);
        }
        let (second, nanos) = if second == 60 { (59, nanos + 1_000_000_000) } else { (second, nanos) };
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
        Ok(Self { secs, nanos })
    }
}

struct Scanner<'a>(&'a [u8]);

impl Scanner<'_> {
    // chrono's `scan::number(s, n, n)`: exactly n ASCII digits.
    fn digits(&mut self, n: usize) -> Result<i64, TimeError> {
        if self.0.len() < n {
            return Err(TimeError::TooShort);
        }
        let mut v = 0i64;
        for &c in &self.0[..n] {
            if !c.is_ascii_digit() {
                return Err(TimeError::Invalid);
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.0 = &self.0[n..];
        Ok(v)
    }

    fn byte(&mut self, want: u8) -> Result<(), TimeError> {
        match self.0.first() {
            Some(&c) if c == want => {
                self.0 = &self.0[1..];
                Ok(())
            }
            Some(_) => Err(TimeError::Invalid),
            None => Err(TimeError::TooShort),
        }
    }

    // chrono's `scan::nanosecond`: at least one digit, the first nine scaled, the rest skipped.
    fn fraction(&mut self) -> Result<u32, TimeError> {
        let count = self.0.iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 {
            return Err(if self.0.is_empty() { TimeError::TooShort } else { TimeError::Invalid });
        }
        let mut v = 0u32;
        for (i, &c) in self.0[..count.min(9)].iter().enumerate() {
            v += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        self.0 = &self.0[count..];
        Ok(v)
    }

    // chrono's `scan::timezone_offset(s, colon, allow_zulu, no missing minutes, allow U+2212)`
    // and the RFC 3339 range check; seconds east of UTC.
    fn offset(&mut self) -> Result<i64, TimeError> {
        const MINUS_SIGN: &[u8] = "\u{2212}".as_bytes();
        let negative = match self.0.first() {
            Some(b'Z' | b'z') => {
                self.0 = &self.0[1..];
                return Ok(0);
            }
            Some(b'+') => false,
            Some(b'-') => true,
            Some(_) if self.0.starts_with(MINUS_SIGN) => {
                self.0 = &self.0[MINUS_SIGN.len() - 1..];
                true
            }
            Some(_) => return Err(TimeError::Invalid),
            None => return Err(TimeError::TooShort),
        };
        self.0 = &self.0[1..];
        let hours = match self.0 {
            [h1 @ b'0'..=b'9', h2 @ b'0'..=b'9', ..] => i64::from((h1 - b'0') * 10 + (h2 - b'0')),
            [_, _, ..] => return Err(TimeError::Invalid),
            _ => return Err(TimeError::TooShort),
        };
        self.0 = &self.0[2..];
        self.byte(b':')?;
        let minutes = match self.0 {
            [m1 @ b'0'..=b'5', m2 @ b'0'..=b'9', ..] => i64::from((m1 - b'0') * 10 + (m2 - b'0')),
            [b'6'..=b'9', b'0'..=b'9', ..] => return Err(TimeError::OutOfRange),
            [_, _, ..] => return Err(TimeError::Invalid),
            _ => return Err(TimeError::TooShort),
        };
        self.0 = &self.0[2..];
        let seconds = hours * 3600 + minutes * 60;
        if seconds > 23 * 3600 + 59 * 60 {
            return Err(TimeError::OutOfRange);
        }
        Ok(if negative { -seconds } else { seconds })
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NodeTime {
        NodeTime::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_forms_chrono_accepts() {
        let base = t("2025-03-15T12:34:56Z");
        assert_eq!(base.timestamp(), 1_742_042_096);
        for same in [
            "2025-03-15t12:34:56z",
            "2025-03-15 12:34:56Z",
            "2025-03-15T13:34:56+01:00",
            "2025-03-15T11:34:56-01:00",
            "2025-03-15T11:34:56\u{2212}01:00",
            "2025-03-16T12:33:56+23:59",
            "2025-03-15T12:34:56.0Z",
            "2025-03-15T12:34:56.000000000000Z",
        ] {
            assert_eq!(t(same), base, "{same}");
        }
        assert_eq!(t("2025-03-15T12:34:56.123456789999Z").nanos, 123_456_789);
        assert_eq!(t("2025-03-15T12:34:56.5Z").nanos, 500_000_000);
        // A leap second at any minute, after :59 and before the next minute.
        let leap = t("2025-03-15T12:34:60.5Z");
        assert!(leap > t("2025-03-15T12:34:59.999Z") && leap < t("2025-03-15T12:35:00Z"));
        assert_eq!(leap.timestamp(), t("2025-03-15T12:34:59Z").timestamp());
        assert_eq!(leap.plus_days(30), t("2025-04-14T12:34:59.5Z"));
        assert_eq!(t("0000-01-01T00:00:00Z").timestamp(), -62_167_219_200);
        assert_eq!(t("2024-02-29T00:00:00Z").timestamp(), 1_709_164_800);
        assert_eq!(t("1970-01-01T00:00:00.001Z").to_timestamp().unix_millis(), 1);
    }

    #[test]
    fn the_forms_chrono_refuses() {
        for bad in [
            "",
            " 2025-03-15T12:34:56Z",
            "2025-03-15T12:34:56Z ",
            "2025-03-15T12:34:56",
            "2025-03-15T12:34:56+01",
            "2025-03-15T12:34:56+0100",
            "2025-03-15T12:34:56+24:00",
            "2025-03-15T12:34:56+01:60",
            "2025-03-15T12:34:56.Z",
            "2025-03-15T12:34Z",
            "2025-03-15_12:34:56Z",
            "2025-3-15T12:34:56Z",
            "25-03-15T12:34:56Z",
            "+2025-03-15T12:34:56Z",
            "2025-13-15T12:34:56Z",
            "2025-02-29T12:34:56Z",
            "2025-04-31T12:34:56Z",
            "2025-03-15T24:00:00Z",
            "2025-03-15T12:60:00Z",
            "2025-03-15T12:34:61Z",
            "2025-03-15T12:34:56UTC",
            "2025-03-15T12:34:56ZZ",
        ] {
            assert!(NodeTime::parse(bad).is_err(), "{bad:?}");
        }
    }
}
