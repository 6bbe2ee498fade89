//! Durations as the configuration and policy files write them: a whole number and a unit
//! (`ms`, `s`, `m`, `h`, `d`), e.g. `10m`, `24h`.

use time::Duration;

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `10m`, `24h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split =
        t.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("duration {s:?} has no unit (s, m, h, d)"))?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("duration {s:?}: expected a whole number before the unit"))?;
    let (per_unit, millis) = match unit {
        "ms" => (1, true),
        "s" => (1, false),
        "m" => (60, false),
        "h" => (3_600, false),
        "d" => (86_400, false),
        _ => return Err(format!("duration {s:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    // `Duration::days(n)` and friends panic on overflow; a file must not be able to.
    let amount = n.checked_mul(per_unit).ok_or_else(|| format!("duration {s:?} is too long"))?;
    let d = if millis { Duration::milliseconds(amount) } else { Duration::seconds(amount) };
    Ok(d)
}

/// A setting's duration for a timer: `s` parsed, and positive; errors name the setting `what`.
pub fn setting(s: &str, what: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s).map_err(|e| format!("{what}: {e}"))?;
    d.try_into().map_err(|_| format!("{what}: must be positive"))
}

/// An optional setting's duration for a timer, or `default` when it is not set.
pub fn setting_or(s: Option<&str>, default: std::time::Duration, what: &str) -> Result<std::time::Duration, String> {
    s.map_or(Ok(default), |s| setting(s, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::minutes(10));
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("10y").is_err());
        // Too long for the clock: an error, never a panic (a policy line must not stop the server).
        for huge in ["999999999999999999d", "9223372036854775807h", "106751991167301d"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert_eq!(setting("250ms", "x"), Ok(std::time::Duration::from_millis(250)));
        assert_eq!(setting_or(None, std::time::Duration::from_secs(2), "x"), Ok(std::time::Duration::from_secs(2)));
    }
}
