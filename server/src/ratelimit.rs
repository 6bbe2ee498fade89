//! Rate limits: a client's `rate` (so many minting requests per fixed window) from the policy,
//! counted in the store, per client and window.
//!
//! A limit is checked twice. Before signing, the window's count is read (a client over its limit
//! costs no signature). At commit the charge and the audit row are one store transaction
//! (several replicas count together), and a request that lost the race for the last unit is
//! written to the audit log as a rate-limit denial ([`QuotaCharge::refuse`]) and answered 429.

use crate::audit::AuditEntry;
use crate::signing::Timestamp;

/// The name of the deciding rule for a rate-limit denial, and of the store's counters.
pub const RULE: &str = "rate-limit";

/// A client's rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per window.
    pub count: u64,
    /// The window, in seconds.
    pub per_secs: i64,
}

impl Rate {
    /// The charge of one request by `client` at `now`: one unit of the window `now` falls in.
    pub fn charge(self, client: &str, now: Timestamp) -> QuotaCharge {
        let secs = (now.unix_millis() / 1000) as i64;
        QuotaCharge {
            client: client.to_string(),
            rule: RULE.to_string(),
            window_start: secs - secs.rem_euclid(self.per_secs),
            limit: self.count,
            per_secs: self.per_secs,
        }
    }
}

/// A rate-limit charge, made together with an audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCharge {
    /// The client.
    pub client: String,
    /// The rule the limit belongs to ([`RULE`]).
    pub rule: String,
    /// The window's start (unix seconds).
    pub window_start: i64,
    /// Requests allowed per window.
    pub limit: u64,
    /// The window's length in seconds.
    pub per_secs: i64,
}

/// A request over its client's limit: why, for the denial, and when the window ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The reason, safe to show.
    pub reason: String,
    /// Seconds (at least 1) until the window ends and the client may try again.
    pub retry_after: u32,
}

impl QuotaCharge {
    /// The check before signing, against the `used` units the store counted in the window, at
    /// `now`.
    pub fn check(&self, used: u64, now: Timestamp) -> Result<(), Exceeded> {
        if used >= self.limit {
            return Err(Exceeded {
                reason: format!("rate limit of {} requests per {}s reached", self.limit, self.per_secs),
                retry_after: self.retry_after(now),
            });
        }
        Ok(())
    }

    /// The denial of a request whose charge found the limit used up at commit, at `now`.
    pub fn exceeded_at_commit(&self, now: Timestamp) -> Exceeded {
        Exceeded { reason: self.window_reason(), retry_after: self.retry_after(now) }
    }

    /// Seconds from `now` to the end of the charge's window, at least 1.
    fn retry_after(&self, now: Timestamp) -> u32 {
        let left = self.window_start.saturating_add(self.per_secs).saturating_sub((now.unix_millis() / 1000) as i64);
        u32::try_from(left.max(1)).unwrap_or(u32::MAX)
    }

    /// Rewrites an approval's audit row as the rate-limit denial the store found at commit
    /// (the store calls this inside the row's transaction): nothing was handed out.
    pub fn refuse(&self, entry: &mut AuditEntry) {
        entry.decision = crate::audit::Outcome::Denied;
        entry.rule = Some(self.rule.clone());
        entry.reasons.push(self.window_reason());
        entry.session_key = None;
        entry.auth_sig = None;
        entry.status = 429;
    }

    fn window_reason(&self) -> String {
        format!("rate limit of {} requests per window reached", self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_on_their_boundary_and_the_check_counts_to_the_limit() {
        let now: Timestamp = "2026-01-01T00:59:59Z".parse().unwrap();
        let charge = Rate { count: 3, per_secs: 3600 }.charge("eps", now);
        let hour = 1_767_225_600; // 2026-01-01T00:00:00Z
        assert_eq!((charge.window_start, charge.limit, charge.rule.as_str()), (hour, 3, RULE));
        let next: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(Rate { count: 3, per_secs: 3600 }.charge("eps", next).window_start, hour + 3600);
        assert_eq!(charge.check(2, now), Ok(()));
        assert_eq!(charge.check(3, now).unwrap_err().reason, "rate limit of 3 requests per 3600s reached");
        assert_eq!(charge.exceeded_at_commit(now).reason, "rate limit of 3 requests per window reached");
        // Retry when the window ends: never sooner than a second from now.
        let half: Timestamp = "2026-01-01T00:30:00Z".parse().unwrap();
        assert_eq!(charge.check(3, half).unwrap_err().retry_after, 1800);
        assert_eq!(charge.check(3, now).unwrap_err().retry_after, 1);
        assert_eq!(charge.exceeded_at_commit(next).retry_after, 1);
    }
}
