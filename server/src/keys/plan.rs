//! What a key family needs next, decided from its rows in the store, the family's keys on the
//! token and the clock alone (no I/O): the maintainer applies one step, reads again, and asks
//! again, so a process that stops between two steps leaves a state the next one can finish.
//!
//! The token's labels make leftovers decidable: a key labelled `<prefix>-g<N>` belongs to
//! generation N. It is that generation's key if row N names its `CKA_ID`; with no row N it was
//! made by a maintainer that stopped before publishing, and is adopted when generation N is
//! due (N = the last generation + 1, one such key) or destroyed otherwise; any other key of the
//! family's labels is destroyed.

use std::collections::BTreeMap;

use crate::signing::TokenKey;
use crate::store::{KeyRow, KeyState};

/// The node's grace on a session's expiration: a key may still be needed that long after.
pub const NODE_GRACE_MS: i64 = 60_000;

/// The label of generation `generation` of family `prefix`.
pub fn label(prefix: &str, generation: i64) -> String {
    format!("{prefix}-g{generation}")
}

/// The generation a label names in family `prefix`, if it is one of the family's labels.
pub fn generation_of(prefix: &str, label: &str) -> Option<i64> {
    let digits = label.strip_prefix(prefix)?.strip_prefix("-g")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// A family's timing, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a key is current before its successor takes over (`None`: on request only).
    pub rotate_after: Option<i64>,
    /// How long a successor is published before it takes over.
    pub overlap: i64,
    /// How long after a key retired every process has stopped signing with it: one health
    /// interval to learn of the successor, one request time limit for requests in flight.
    pub settle: i64,
}

/// Why a generation is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The family has no key yet.
    FirstKey,
    /// The current key's turn is over.
    Schedule,
    /// An operator asked (`POST /v1/admin/rotate`).
    Admin,
    /// An operator revoked the current key: its successor takes over at once.
    Revoke,
    /// No key may sign (the last one was revoked, or none is current).
    NoCurrentKey,
}

impl Trigger {
    /// The audit rule.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FirstKey => "first-key",
            Self::Schedule => "schedule",
            Self::Admin => "admin",
            Self::Revoke => "revoke",
            Self::NoCurrentKey => "no-current-key",
        }
    }
}

/// One step of a maintenance pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Deletes a token key of the family's labels that no row accounts for.
    Sweep { key: TokenKey, why: &'static str },
    /// Makes the published key that is due current.
    Activate { generation: i64 },
    /// Retires a key whose successor is current (from `from`: a key never activated retires
    /// too).
    Retire { generation: i64, from: KeyState, at: i64 },
    /// Brings a published key's start forward (the current key was revoked).
    Hasten { generation: i64, at: i64 },
    /// Publishes the next generation: a new key, or the one a stopped maintainer left.
    Publish { generation: i64, adopt: Option<TokenKey>, activates_at: i64, trigger: Trigger },
    /// Moves a retired key's earliest destruction later (an AuthSig for it lives longer).
    Postpone { generation: i64, destroy_after: i64 },
    /// Deletes a retired key from the token: its last session and AuthSig have expired.
    Destroy { generation: i64, key_id: String },
}

/// The key replicas sign with at `now`: the newest that has started and is neither retired nor
/// revoked.
pub fn current(rows: &[KeyRow], now: i64) -> Option<&KeyRow> {
    rows.iter().rev().find(|r| {
        !r.revoked && (r.state == KeyState::Active || (r.state == KeyState::Generated && r.activates_at <= now))
    })
}

/// The key published to take over after `now`, if any.
pub fn pending(rows: &[KeyRow], now: i64) -> Option<&KeyRow> {
    rows.iter().rev().find(|r| r.state == KeyState::Generated && r.activates_at > now)
}

/// When a retired key may be destroyed: every process stopped signing with it (`settle` after
/// it retired), and the last AuthSig stored for it (unix seconds; sessions never outlive
/// their AuthSig) has expired, plus the node's grace.
pub fn destroy_after(row: &KeyRow, timing: Timing, auth_expiry_secs: Option<i64>) -> i64 {
    let retired = row.retired_at.unwrap_or(row.activates_at);
    let stopped = retired.saturating_add(timing.settle);
    match auth_expiry_secs {
        // Stored expiries are whole seconds, rounded down: the AuthSig may last up to a second
        // longer.
        Some(secs) => stopped.max(secs.saturating_add(1).saturating_mul(1000).saturating_add(NODE_GRACE_MS)),
        None => stopped,
    }
}

/// The next step for the family `prefix` at `now`, given its rows (oldest first), the token's
/// keys (any labels) and, for retired keys, the last expiry of their stored AuthSigs (unix
/// seconds; only needed once their `destroy_after` has come).
pub fn next(
    prefix: &str,
    rows: &[KeyRow],
    token: &[TokenKey],
    auth_expiry: &BTreeMap<i64, Option<i64>>,
    timing: Timing,
    now: i64,
) -> Option<Step> {
    let publish = wants_publish(rows, timing, now);
    if let Some(step) = sweep(prefix, rows, token, publish.as_ref()) {
        return Some(step);
    }
    if let Some(step) = switch(rows, now) {
        return Some(step);
    }
    if let Some((generation, trigger, activates_at)) = publish {
        let adopt = orphans(prefix, rows, token).remove(&generation).and_then(|keys| match keys.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        });
        return Some(Step::Publish { generation, adopt, activates_at, trigger });
    }
    destroy(rows, auth_expiry, timing, now)
}

/// Whether a pass would do anything without looking at the token or the AuthSigs: the cheap
/// check every process makes each health interval before it asks for the lock.
pub fn due(rows: &[KeyRow], timing: Timing, now: i64) -> bool {
    switch(rows, now).is_some()
        || wants_publish(rows, timing, now).is_some()
        || rows
            .iter()
            .any(|r| r.state == KeyState::Retired && r.destroy_after.unwrap_or(r.retired_at.unwrap_or(0)) <= now)
}

/// Activation, retirement and a revoked key's successor hastened: the steps that change which
/// key signs.
fn switch(rows: &[KeyRow], now: i64) -> Option<Step> {
    let current = current(rows, now);
    if let Some(c) = current.filter(|c| c.state == KeyState::Generated) {
        return Some(Step::Activate { generation: c.generation });
    }
    // A key that started before a newer one (or a revocation) overtook it did sign: it is
    // recorded as activated before it retires.
    if let Some(r) = rows.iter().find(|r| r.state == KeyState::Generated && r.activates_at <= now) {
        return Some(Step::Activate { generation: r.generation });
    }
    let took_over = current.map_or(i64::MIN, |c| c.generation);
    // Older keys retire once a newer one is current (a revoked key too, once its successor is).
    for r in rows {
        if r.generation < took_over && matches!(r.state, KeyState::Generated | KeyState::Active) {
            let at = current.map_or(now, |c| c.activates_at.min(now));
            return Some(Step::Retire { generation: r.generation, from: r.state, at });
        }
    }
    // A revoked current key: its published successor starts now.
    let revoked = rows.iter().any(|r| r.revoked && matches!(r.state, KeyState::Active | KeyState::Generated));
    if revoked {
        if let Some(p) = pending(rows, now) {
            return Some(Step::Hasten { generation: p.generation, at: now });
        }
    }
    None
}

/// The generation to publish now, why, and when it takes over.
fn wants_publish(rows: &[KeyRow], timing: Timing, now: i64) -> Option<(i64, Trigger, i64)> {
    let generation = rows.last().map_or(1, |r| r.generation + 1);
    if pending(rows, now).is_some() {
        return None;
    }
    let Some(current) = current(rows, now) else {
        // Nothing may sign: the first key, or the successor of a revoked one, starts at once.
        let trigger = if rows.is_empty() {
            Trigger::FirstKey
        } else if rows.iter().any(|r| r.revoked && r.state != KeyState::Destroyed) {
            Trigger::Revoke
        } else {
            Trigger::NoCurrentKey
        };
        return Some((generation, trigger, now));
    };
    if current.rotate_requested_at.is_some() {
        return Some((generation, Trigger::Admin, now.saturating_add(timing.overlap)));
    }
    let turn_over = timing.rotate_after.map(|t| current.activates_at.saturating_add(t));
    match turn_over {
        Some(t) if t.saturating_sub(timing.overlap) <= now => {
            Some((generation, Trigger::Schedule, now.saturating_add(timing.overlap).max(t)))
        }
        _ => None,
    }
}

/// The family's keys on the token that no row names, by the generation their label gives.
fn orphans(prefix: &str, rows: &[KeyRow], token: &[TokenKey]) -> BTreeMap<i64, Vec<TokenKey>> {
    let mut out: BTreeMap<i64, Vec<TokenKey>> = BTreeMap::new();
    for key in token {
        let Some(generation) = generation_of(prefix, &key.label) else { continue };
        if !rows.iter().any(|r| r.generation == generation) {
            out.entry(generation).or_default().push(key.clone());
        }
    }
    out
}

/// A token key of the family's labels that must go: a stale copy beside its generation's key,
/// the key of a destroyed generation, or a leftover that will not be adopted.
fn sweep(prefix: &str, rows: &[KeyRow], token: &[TokenKey], publish: Option<&(i64, Trigger, i64)>) -> Option<Step> {
    for key in token {
        let Some(generation) = generation_of(prefix, &key.label) else { continue };
        if let Some(row) = rows.iter().find(|r| r.generation == generation) {
            if row.key_id != key.id {
                return Some(Step::Sweep { key: key.clone(), why: "another key holds its generation's label" });
            }
            if row.state == KeyState::Destroyed {
                return Some(Step::Sweep { key: key.clone(), why: "its generation was destroyed" });
            }
        }
    }
    for (generation, keys) in orphans(prefix, rows, token) {
        let adoptable = publish.is_some_and(|(next, _, _)| *next == generation) && keys.len() == 1;
        if !adoptable {
            let why = if keys.len() > 1 {
                "several unpublished keys hold one generation's label"
            } else {
                "an unpublished key that is not the next generation"
            };
            return keys.into_iter().next().map(|key| Step::Sweep { key, why });
        }
    }
    None
}

fn destroy(rows: &[KeyRow], auth_expiry: &BTreeMap<i64, Option<i64>>, timing: Timing, now: i64) -> Option<Step> {
    for r in rows.iter().filter(|r| r.state == KeyState::Retired) {
        // Only once the stored estimate has come: until then nothing is known to be due.
        if r.destroy_after.unwrap_or(i64::MIN) > now {
            continue;
        }
        let Some(expiry) = auth_expiry.get(&r.generation) else { continue };
        let earliest = destroy_after(r, timing, *expiry);
        if earliest <= now {
            return Some(Step::Destroy { generation: r.generation, key_id: r.key_id.clone() });
        }
        if r.destroy_after != Some(earliest) {
            return Some(Step::Postpone { generation: r.generation, destroy_after: earliest });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "fam";
    const T: Timing = Timing { rotate_after: Some(10_000), overlap: 2_000, settle: 3_000 };

    fn row(generation: i64, state: KeyState, activates_at: i64) -> KeyRow {
        KeyRow {
            family: P.into(),
            generation,
            label: label(P, generation),
            key_id: format!("id{generation}"),
            public_key: format!("pk{generation}"),
            state,
            created_at: activates_at - 2_000,
            activates_at,
            retired_at: None,
            destroy_after: None,
            destroyed_at: None,
            rotate_requested_at: None,
            revoked: false,
            written_by: "w".into(),
        }
    }

    fn key(generation: i64, id: &str) -> TokenKey {
        TokenKey { id: id.into(), label: label(P, generation), public_key: format!("pk-{id}") }
    }

    fn plan(rows: &[KeyRow], token: &[TokenKey], now: i64) -> Option<Step> {
        next(P, rows, token, &BTreeMap::new(), T, now)
    }

    #[test]
    fn labels_name_their_generation_and_nothing_else() {
        assert_eq!(label("lit-session-a", 12), "lit-session-a-g12");
        assert_eq!(generation_of("lit-session-a", "lit-session-a-g12"), Some(12));
        for other in
            ["lit-session-a-12", "lit-session-a-g", "lit-session-a-g01", "lit-session-a-g1x", "lit-session-ab-g1"]
        {
            assert_eq!(generation_of("lit-session-a", other), None, "{other}");
        }
        // A family whose prefix extends another's is not mistaken for it.
        assert_eq!(generation_of("a", "a-g1-g2"), None);
    }

    #[test]
    fn the_first_key_starts_at_once_then_keys_turn_over_on_schedule() {
        assert_eq!(
            plan(&[], &[], 500),
            Some(Step::Publish { generation: 1, adopt: None, activates_at: 500, trigger: Trigger::FirstKey })
        );
        let mut rows = vec![row(1, KeyState::Generated, 500)];
        assert_eq!(plan(&rows, &[key(1, "id1")], 600), Some(Step::Activate { generation: 1 }));
        rows[0].state = KeyState::Active;
        assert_eq!(plan(&rows, &[key(1, "id1")], 600), None);
        assert!(!due(&rows, T, 8_499));
        // The successor is published `overlap` before the turn is over, to take over then.
        assert!(due(&rows, T, 8_500));
        assert_eq!(
            plan(&rows, &[key(1, "id1")], 8_500),
            Some(Step::Publish { generation: 2, adopt: None, activates_at: 10_500, trigger: Trigger::Schedule })
        );
        rows.push(row(2, KeyState::Generated, 10_500));
        assert_eq!(current(&rows, 10_499).map(|r| r.generation), Some(1));
        assert_eq!(pending(&rows, 10_499).map(|r| r.generation), Some(2));
        assert_eq!(plan(&rows, &[], 10_000), None, "nothing to do while the successor waits");
        // At its time every process signs with it (by its own clock); the maintainer records it.
        assert_eq!(current(&rows, 10_500).map(|r| r.generation), Some(2));
        assert_eq!(plan(&rows, &[], 10_600), Some(Step::Activate { generation: 2 }));
        rows[1].state = KeyState::Active;
        assert_eq!(plan(&rows, &[], 10_600), Some(Step::Retire { generation: 1, from: KeyState::Active, at: 10_500 }));
    }

    #[test]
    fn a_retired_key_goes_after_its_last_auth_sig_and_the_node_grace() {
        // No schedule: only destruction is due in this family.
        let t = Timing { rotate_after: None, ..T };
        let mut rows = vec![row(1, KeyState::Retired, 0), row(2, KeyState::Active, 10_000)];
        rows[0].retired_at = Some(10_000);
        rows[0].destroy_after = Some(13_000);
        assert!(!due(&rows, t, 12_999));
        assert!(due(&rows, t, 13_000));
        // Its AuthSig expires in second 20 (stored rounded down): destruction waits for 21 s + 60 s.
        let expiry = BTreeMap::from([(1, Some(20))]);
        let step = next(P, &rows, &[], &expiry, t, 13_000);
        assert_eq!(step, Some(Step::Postpone { generation: 1, destroy_after: 81_000 }));
        rows[0].destroy_after = Some(81_000);
        assert_eq!(next(P, &rows, &[], &expiry, t, 80_999), None);
        assert_eq!(
            next(P, &rows, &[], &expiry, t, 81_000),
            Some(Step::Destroy { generation: 1, key_id: "id1".into() })
        );
        // Without a stored AuthSig, once every process has stopped signing with it.
        assert_eq!(destroy_after(&rows[0], t, None), 13_000);
    }

    #[test]
    fn a_requested_rotation_publishes_now_and_a_revoke_takes_over_at_once() {
        let mut rows = vec![row(1, KeyState::Active, 0)];
        rows[0].rotate_requested_at = Some(1_000);
        assert_eq!(
            plan(&rows, &[], 1_000),
            Some(Step::Publish { generation: 2, adopt: None, activates_at: 3_000, trigger: Trigger::Admin })
        );
        // Revoked: no key signs until the successor is published, which starts at once.
        rows[0].revoked = true;
        assert!(current(&rows, 1_000).is_none());
        assert_eq!(
            plan(&rows, &[], 1_000),
            Some(Step::Publish { generation: 2, adopt: None, activates_at: 1_000, trigger: Trigger::Revoke })
        );
        rows.push(row(2, KeyState::Generated, 1_000));
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Activate { generation: 2 }));
        rows[1].state = KeyState::Active;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Retire { generation: 1, from: KeyState::Active, at: 1_000 }));
        // Revoked before its activation was recorded, with a successor waiting: it is recorded
        // as activated (it signed), the successor is hastened, takes over, and it retires.
        let mut rows = vec![row(1, KeyState::Generated, 0), row(2, KeyState::Generated, 9_000)];
        rows[0].revoked = true;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Activate { generation: 1 }));
        rows[0].state = KeyState::Active;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Hasten { generation: 2, at: 1_000 }));
        rows[1].activates_at = 1_000;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Activate { generation: 2 }));
        rows[1].state = KeyState::Active;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Retire { generation: 1, from: KeyState::Active, at: 1_000 }));
        // A successor already published when the revoke comes is hastened.
        let mut rows = vec![row(1, KeyState::Active, 0), row(2, KeyState::Generated, 9_000)];
        rows[0].revoked = true;
        assert_eq!(plan(&rows, &[], 1_000), Some(Step::Hasten { generation: 2, at: 1_000 }));
    }

    #[test]
    fn a_key_left_by_a_stopped_maintainer_is_adopted_when_due_and_destroyed_otherwise() {
        let mut rows = vec![row(1, KeyState::Active, 0)];
        let orphan = key(2, "dead");
        // Due: the key the stopped maintainer made becomes generation 2.
        assert_eq!(
            plan(&rows, &[key(1, "id1"), orphan.clone()], 8_000),
            Some(Step::Publish {
                generation: 2,
                adopt: Some(orphan.clone()),
                activates_at: 10_000,
                trigger: Trigger::Schedule
            })
        );
        // Not due (its request is gone): destroyed, never published.
        assert!(
            matches!(plan(&rows, std::slice::from_ref(&orphan), 1_000), Some(Step::Sweep { key, .. }) if key == orphan)
        );
        // Two keys with one label: neither was published; both go, and a fresh one is made.
        let twin = key(2, "twin");
        assert!(matches!(plan(&rows, &[orphan.clone(), twin.clone()], 8_000), Some(Step::Sweep { .. })));
        assert_eq!(plan(&rows, &[twin], 8_000).map(|s| matches!(s, Step::Publish { adopt: Some(_), .. })), Some(true));
        // A copy beside a published generation, and the key of a destroyed one, go too.
        assert!(matches!(plan(&rows, &[key(1, "stale")], 1_000), Some(Step::Sweep { .. })));
        rows[0].state = KeyState::Destroyed;
        rows.push(row(2, KeyState::Active, 9_000));
        assert!(matches!(plan(&rows, &[key(1, "id1")], 9_500), Some(Step::Sweep { .. })));
        // Other labels are never touched.
        let foreign = TokenKey { id: "x".into(), label: "session".into(), public_key: "pk".into() };
        assert_eq!(plan(&rows, &[foreign, key(2, "id2")], 9_500), None);
    }
}
