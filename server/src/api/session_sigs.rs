//! `POST /v1/session-sigs` (minting) and `POST /v1/policy/evaluate` (its dry run): one parse and
//! one decision for both, so the dry run answers what minting would.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;

use super::extract::{Json, Minting};
use super::outcome::{clamped_json, denied, Outcome};
use super::parse::{self, Parsed, SessionSigsBody};
use crate::app::App;
use crate::endpoint::Endpoint;
use crate::metrics::names;
use crate::policy::{Decision, Verdict};
use crate::problem::Problem;
use crate::ratelimit::QuotaCharge;
use crate::signing::{self, Format, MintInput, Profile, Timestamp};

#[derive(Serialize)]
struct AuthSigSummary<'a> {
    #[serde(rename = "use")]
    use_: &'a str,
    address: &'a str,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionSigsResponse<'a> {
    session_sigs: &'a RawValue,
    session_key: &'a str,
    expiration: String,
    auth_sig: AuthSigSummary<'a>,
    request_id: &'a str,
    policy: serde_json::Value,
}

fn parsed(app: &App, body: SessionSigsBody, now: Timestamp) -> Result<(Parsed, Arc<Profile>), Problem> {
    parse::session_sigs(body, now, &app.default_signer, |name| app.profiles.get(name).cloned())
}

/// The policy's answer for a request as minting gets it: the session-sigs grant, the rules,
/// then the rate limit's count (the charge is made with the audit row). A counter that cannot
/// be read fails the request, with its row.
async fn decide(outcome: &Outcome, p: &Parsed, now: Timestamp) -> Result<(Decision, Option<QuotaCharge>), Problem> {
    let (app, caller) = (&outcome.app, &outcome.caller);
    let policy = app.policy();
    if let Err(d) = policy.check_access(&caller.client, caller.method, Endpoint::SessionSigs) {
        return Ok((d, None));
    }
    let d = policy.evaluate(&p.query(&caller.client, now));
    if d.result == Verdict::Denied {
        return Ok((d, None));
    }
    let Some(rate) = policy.rate(&caller.client) else { return Ok((d, None)) };
    let charge = rate.charge(&caller.client, now);
    let used = match app.store.quota_used(&charge).await {
        Ok(used) => used,
        Err(e) => return Err(outcome.fail_store(p.describe(outcome.row_for(&d)), &e).await),
    };
    if let Err(exceeded) = charge.check(used, now) {
        return Ok((exceeded.into(), None));
    }
    Ok((d, Some(charge)))
}

/// `POST /v1/session-sigs`.
pub(super) async fn mint(
    State(app): State<Arc<App>>,
    outcome: Outcome,
    _: Minting,
    Json(body): Json<SessionSigsBody>,
) -> Result<Response, Problem> {
    let now = Timestamp::now();
    let (parsed, profile) = parsed(&app, body, now)?;
    let (decision, charge) = decide(&outcome, &parsed, now).await?;
    outcome.decided(&decision);
    let mut row = parsed.describe(outcome.row_for(&decision));
    if decision.result == Verdict::Denied {
        return Err(outcome.deny(row, &decision).await);
    }
    // What the policy decided; minting may still move a v8 default later by the time it took
    // to get here: 15 minutes from minting, within the rule's maximum.
    let decided = decision.expiration.unwrap_or(now);
    let (expiration, default_lifetime) = match (parsed.format, parsed.expiration) {
        (Format::V8, None) => (decision.latest.unwrap_or(decided), Some(signing::V8_SESSION_LIFETIME)),
        _ => (decided, None),
    };
    let input = MintInput {
        nodes: parsed.nodes.clone(),
        requests: parsed.requests.clone(),
        nonce: parsed.nonce.clone(),
        expiration,
        capability_auth_sigs: parsed.capability_auth_sigs.clone(),
        domain: parsed.domain.clone(),
        statement: parsed.statement.clone(),
        chain_id: parsed.chain_id,
        format: parsed.format.session_format(),
        pricing: parsed.pricing.clone(),
        default_lifetime,
    };
    let minted = match profile.mint(&input).await {
        Ok(m) => m,
        Err(e) => {
            row.expiration = Some(decided.to_string());
            return Err(outcome.fail(row, &parsed.profile, &e).await);
        }
    };
    outcome.signed(&parsed.profile);
    for w in &minted.warnings {
        tracing::warn!(request_id = %outcome.ctx.request_id, signer = %parsed.profile, warning = %w, "session manager");
    }
    row.session_key = Some(minted.session_key.clone());
    row.expiration = Some(minted.expiration.to_string());
    row.node_count = minted.count;
    row.auth_sig = Some(minted.auth_use);
    let appended = outcome.record_charged(row, charge.clone()).await?;
    if let Some(charge) = charge.filter(|_| !appended.charged) {
        // Another request took the window's last unit meanwhile: the store wrote the denial.
        return Err(denied(&charge.exceeded_at_commit(Timestamp::now()).into()));
    }
    app.metrics.inc(names::AUTH_SIG, &[("outcome", minted.auth_use.as_str())]);
    app.metrics.inc_by(names::ISSUED, &[("client", &app.client_label(&outcome.caller.client))], minted.count as u64);
    super::json(&SessionSigsResponse {
        session_sigs: &minted.session_sigs,
        session_key: &minted.session_key,
        expiration: minted.expiration.to_string(),
        auth_sig: AuthSigSummary {
            use_: minted.auth_use.as_str(),
            address: &minted.auth_address,
            expiration: minted.auth_expiration.to_string(),
        },
        request_id: &outcome.ctx.request_id,
        policy: serde_json::json!({
            "rule": decision.by.name(), "clamped": clamped_json(&decision), "reasons": decision.reasons
        }),
    })
}

/// `POST /v1/policy/evaluate`: the decision minting would get, audited, counted nowhere.
pub(super) async fn evaluate(
    State(app): State<Arc<App>>,
    outcome: Outcome,
    Json(body): Json<SessionSigsBody>,
) -> Result<Response, Problem> {
    let now = Timestamp::now();
    let (parsed, _) = parsed(&app, body, now)?;
    let (d, _) = decide(&outcome, &parsed, now).await?;
    let mut row = parsed.describe(outcome.row_for(&d));
    row.expiration = d.expiration.map(|t| t.to_string());
    outcome.record(row).await?;
    super::json(&serde_json::json!({
        "decision": d.result.as_str(),
        "rule": d.by.name(),
        "reasons": d.reasons,
        "expiration": d.expiration.map(|t| t.to_string()),
        "clamped": clamped_json(&d),
        "requestId": outcome.ctx.request_id,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::AuthMethod;
    use crate::policy::testing::{cases, Expect, POLICY};
    use crate::policy::Policy;

    /// The policy's case table in process, as minting decides it: the request parsed, the
    /// session-sigs grant, the rules (`tests/policy.rs` sends the same table over HTTP once).
    #[test]
    fn the_policy_case_table_decides_in_process() {
        let profiles: BTreeSet<String> = ["default", "treasury"].map(String::from).into();
        let policy = Policy::parse(POLICY, &profiles).unwrap();
        let now = Timestamp::now();
        let cases = cases();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        for case in &cases {
            let body: SessionSigsBody = serde_json::from_str(&case.body.to_string()).unwrap();
            let known = |name: &str| profiles.contains(name).then_some(());
            let decided = parse::session_sigs(body, now, "default", known).map(|(p, ())| {
                match policy.check_access(case.client, AuthMethod::Bearer, Endpoint::SessionSigs) {
                    Err(d) => d,
                    Ok(()) => policy.evaluate(&p.query(case.client, now)),
                }
            });
            match (&case.expect, decided) {
                (Expect::Approved(rule), Ok(d)) => {
                    assert_eq!((d.result, d.by.name()), (Verdict::Approved, *rule), "{}: {d:?}", case.name);
                    assert_eq!(d.clamped.map(|c| c.max_lifetime_secs), case.clamp, "{}: {d:?}", case.name);
                }
                (Expect::Denied(rule), Ok(d)) => {
                    assert_eq!((d.result, d.by.name()), (Verdict::Denied, *rule), "{}: {d:?}", case.name);
                    assert!(!d.reasons.is_empty(), "{}: {d:?}", case.name);
                }
                (Expect::Bad(status, kind), Err(p)) => {
                    assert_eq!((p.kind.status().as_u16(), p.kind.slug()), (*status, *kind), "{}: {p}", case.name);
                }
                (expect, got) => panic!("{}: expected {expect:?}, got {got:?}", case.name),
            }
        }
    }
}
