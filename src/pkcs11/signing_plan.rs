//! How many threads sign one `sign_many` call at once (the caller and `signers − 1` workers),
//! chosen per store from the wall time observed per signature. Why not always as many as there
//! are sessions or cores: whether a module's signing runs in parallel or serialises on a lock
//! (Kryoptic's `C_SignInit` takes the token's write lock; SoftHSM2 decodes the key per
//! signature), and how busy the cores are, decide whether a second signing thread saves time or
//! only costs CPU, and none of that can be read from the token. Measured on a 2-core machine
//! shared with builds, a second signing thread cost 20–60 % more CPU per signature on both
//! modules and saved no time; on idle cores it can.
//!
//! Each count is tried [`FIRST_TRIES`] times, fewest first (the store's first call, which also
//! opens sessions, is not counted); then the count with the lowest
//! moving average per signature is used, and every [`EXPLORE_EVERY`]th call tries another one in
//! turn, so the choice follows a change in load.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Tries of each count before the averages are trusted.
const FIRST_TRIES: u32 = 1;

/// One call in this many tries a count other than the best.
const EXPLORE_EVERY: u64 = 16;

/// Weight of the newest observation in a count's moving average.
const WEIGHT: f64 = 0.25;

/// What each number of signing threads has cost one store.
#[derive(Debug)]
pub(crate) struct SigningPlans {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Per count (index + 1 threads): tries so far and the moving average of nanoseconds per
    /// signature.
    seen: Vec<(u32, f64)>,
    calls: u64,
    /// Whether a call has been observed yet: the store's first call also opens sessions and
    /// looks the key up, so it says nothing about its count and is left out.
    warm: bool,
}

/// A choice of [`SigningPlans::choose`], to report back with [`SigningPlans::observed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    index: usize,
    /// Threads signing at once, the caller included (1 ≤ signers ≤ messages).
    pub(crate) signers: usize,
}

impl SigningPlans {
    /// Counts from 1 to `max_signers` (at least 1).
    pub(crate) fn new(max_signers: usize) -> Self {
        Self { state: Mutex::new(State { seen: vec![(0, 0.0); max_signers.max(1)], calls: 0, warm: false }) }
    }

    /// How many threads sign a call of `n` messages.
    pub(crate) fn choose(&self, n: usize) -> Plan {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.calls += 1;
        let (calls, counts) = (state.calls, state.seen.len());
        let index = match state.seen.iter().position(|(tries, _)| *tries < FIRST_TRIES) {
            Some(untried) => untried,
            None => {
                let best = best(&state.seen);
                if calls % EXPLORE_EVERY == 0 && counts > 1 {
                    // The others in turn.
                    let other = (calls / EXPLORE_EVERY) as usize % (counts - 1);
                    other + usize::from(other >= best)
                } else {
                    best
                }
            }
        };
        Plan { index, signers: (index + 1).min(n).max(1) }
    }

    /// Records that `plan` signed `n` messages in `elapsed`.
    pub(crate) fn observed(&self, plan: Plan, n: usize, elapsed: Duration) {
        if n == 0 {
            return;
        }
        let per_signature = elapsed.as_nanos() as f64 / n as f64;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !std::mem::replace(&mut state.warm, true) {
            return;
        }
        if let Some((tries, average)) = state.seen.get_mut(plan.index) {
            *average = if *tries == 0 { per_signature } else { *average + WEIGHT * (per_signature - *average) };
            *tries = tries.saturating_add(1);
        }
    }
}

/// The index of the lowest average.
fn best(seen: &[(u32, f64)]) -> usize {
    seen.iter().enumerate().min_by(|a, b| a.1 .1.total_cmp(&b.1 .1)).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_is_tried_then_the_fastest_is_used_and_the_others_revisited() {
        let plans = SigningPlans::new(3);
        // Two threads are the fastest.
        let cost = |signers: usize| Duration::from_micros(if signers == 2 { 100 } else { 300 + 10 * signers as u64 });
        // The first call (cold) is not counted: the first count is tried again.
        let first = plans.choose(10);
        plans.observed(first, 1, Duration::from_secs(1));
        assert_eq!(plans.choose(10).signers, 1);
        let plans = SigningPlans::new(3);
        plans.observed(plans.choose(10), 1, Duration::from_secs(1));
        let mut tried = [0; 3];
        for _ in 0..(3 * FIRST_TRIES) {
            let plan = plans.choose(10);
            tried[plan.signers - 1] += 1;
            plans.observed(plan, 1, cost(plan.signers));
        }
        assert_eq!(tried, [FIRST_TRIES; 3]);
        let mut chosen = [0; 3];
        for _ in 0..(EXPLORE_EVERY * 6) {
            let plan = plans.choose(10);
            chosen[plan.signers - 1] += 1;
            plans.observed(plan, 1, cost(plan.signers));
        }
        assert!(chosen[1] >= (EXPLORE_EVERY * 5) as usize, "{chosen:?}");
        assert!(chosen[0] >= 1 && chosen[2] >= 1, "every other count revisited: {chosen:?}");
        // Busier cores: two threads now cost more than one, and one takes over.
        let cost = |signers: usize| Duration::from_micros(if signers == 1 { 300 } else { 900 });
        for _ in 0..(EXPLORE_EVERY * 8) {
            let plan = plans.choose(10);
            plans.observed(plan, 1, cost(plan.signers));
        }
        assert_eq!(plans.choose(10).signers, 1);
    }

    #[test]
    fn signers_never_exceed_the_messages() {
        let plans = SigningPlans::new(4);
        for _ in 0..64 {
            let plan = plans.choose(2);
            assert!((1..=2).contains(&plan.signers), "{plan:?}");
            plans.observed(plan, 2, Duration::from_micros(50));
        }
        let one = SigningPlans::new(0);
        assert_eq!(one.choose(5).signers, 1);
    }
}
