//! UTC timestamps as the Lit JS SDK writes them: `Date.prototype.toISOString()`, i.e.
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`.

use std::fmt;
use std::str::FromStr;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A UTC instant with millisecond precision, rendered exactly like JavaScript's `toISOString()`.
///
/// ```
/// use lit_session_signer::Timestamp;
/// let t: Timestamp = "2025-03-15T14:34:56+02:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2025-03-15T12:34:56.000Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A string that is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time (e.g. 2025-03-15T12:34:56.789Z): {input:?}")]
pub struct TimestampError {
    /// The rejected input.
    pub input: String,
}

impl Timestamp {
    /// The current time from the system clock, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i128 {
        self.0.unix_timestamp_nanos() / 1_000_000
    }

    /// The instant as a `time` date-time in UTC.
    pub fn as_datetime(self) -> OffsetDateTime {
        self.0
    }

    /// Truncates to milliseconds (as `new Date(x)` does) and converts to UTC. An instant whose
    /// UTC date falls outside the representable range (e.g. `9999-12-31T23:59:59-01:00`)
    /// saturates to the first or last representable instant.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let dt = dt.checked_to_offset(UtcOffset::UTC).unwrap_or_else(|| {
            // Only the offset can push the date out of range: east of UTC underflows, west overflows.
            if dt.offset().is_positive() {
                PrimitiveDateTime::MIN.assume_utc()
            } else {
                PrimitiveDateTime::MAX.assume_utc()
            }
        });
        let ms = dt.millisecond();
        // replace_millisecond only fails for ms >= 1000, which `millisecond()` never returns.
        Self(dt.replace_millisecond(ms).unwrap_or(dt))
    }

    /// This instant moved by `d` (saturating at the representable range).
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    /// This instant moved back by `d` (saturating at the representable range).
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d))
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimestampError { input: s.to_string() };
        let dt = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| err())?;
        // Refuse what cannot be written back as RFC 3339 (a four-digit UTC year), e.g.
        // 0000-01-01T00:00:00+01:00, rather than render it in JavaScript's six-digit form.
        let utc = dt.checked_to_offset(UtcOffset::UTC).ok_or_else(err)?;
        if !(0..=9999).contains(&utc.year()) {
            return Err(err());
        }
        Ok(Self::from_datetime(utc))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let year = d.year();
        // toISOString switches to the 6-digit extended form outside 0000..=9999.
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")?;
        } else if year < 0 {
            write!(f, "-{:06}", -year)?;
        } else {
            write!(f, "+{year:06}")?;
        }
        write!(
            f,
            "-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_to_iso_string() {
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        assert_eq!(t.to_string(), "2025-03-15T12:34:56.789Z");
        let t: Timestamp = "2025-03-15T12:34:56Z".parse().unwrap();
        assert_eq!(t.to_string(), "2025-03-15T12:34:56.000Z");
        let t: Timestamp = "2025-03-15T12:34:56.7899999Z".parse().unwrap();
        assert_eq!(t.to_string(), "2025-03-15T12:34:56.789Z");
    }

    #[test]
    fn rejects_non_rfc3339() {
        for bad in ["", "yesterday", "2025-03-15", "2025-03-15 12:34:56", "2025-13-01T00:00:00Z"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_that_leave_the_range_do_not_panic() {
        // Found while writing the fuzz targets (a capability SIWE's times reach this through
        // `verify`/`inspect`): converting these to UTC panicked inside `time` (to_offset).
        for bad in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+01:00"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
        // Past the end of `time`'s range: saturates instead of panicking.
        let t = Timestamp::from_datetime(OffsetDateTime::parse("9999-12-31T23:59:59-01:00", &Rfc3339).unwrap());
        assert_eq!(t.to_string(), "9999-12-31T23:59:59.999Z");
        // Representable but not as RFC 3339: converted, and printed as toISOString does.
        let t = Timestamp::from_datetime(OffsetDateTime::parse("0000-01-01T00:00:00+01:00", &Rfc3339).unwrap());
        assert_eq!(t.to_string(), "-000001-12-31T23:00:00.000Z");
        // The extremes that fit still parse and print back.
        for ok in ["9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59+00:00"] {
            let t: Timestamp = ok.parse().unwrap();
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }

    #[test]
    fn arithmetic_and_order() {
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let later = t.saturating_add(Duration::hours(24));
        assert_eq!(later.to_string(), "2025-03-16T12:34:56.789Z");
        assert!(later > t);
        assert_eq!(later.unix_millis() - t.unix_millis(), 86_400_000);
    }
}
