//! The policy through the real endpoints: every case goes through `POST /v1/policy/evaluate`
//! (dry run) and `POST /v1/session-sigs` of a service in this process, and no case that expects
//! a denial may be approved. Then, on the binary (SIGHUP matters there), the rate limit and a
//! reload with a broken file that keeps the old policy.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

use lit_session_server::policy::testing::{cases, Expect, A, POLICY};

fn token(client: &str) -> String {
    format!("{client}-token")
}

#[test]
fn policy_cases_through_evaluate_and_session_sigs() {
    let dir = tempfile::tempdir().unwrap();
    let clients = ["alpha", "beta", "gamma", "delta", "eps", "ops", "zeta", "kappa"];
    let tokens: Vec<(String, String)> = clients.iter().map(|c| (c.to_string(), token(c))).collect();
    let tokens: Vec<(&str, &str)> = tokens.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let server = InProcess::configured(dir.path(), POLICY, &tokens, "");
    let c = client();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut wrong_approvals = 0;
    for case in &cases {
        let t = token(case.client);
        // The dry run.
        let (s, v) = post(&c, &server.url("/v1/policy/evaluate"), Some(&t), &case.body);
        let evaluable = !matches!(case.client, "delta" | "zeta" | "ops");
        match (&case.expect, evaluable) {
            (_, false) => {
                assert_eq!(s, 403, "{}: {v}", case.name);
                assert_eq!(v["decision"], "denied", "{}: {v}", case.name);
            }
            (Expect::Approved(rule), true) => {
                assert_eq!(
                    (s, v["decision"].as_str(), v["rule"].as_str()),
                    (200, Some("approved"), Some(*rule)),
                    "{}: {v}",
                    case.name
                );
            }
            (Expect::Denied(rule), true) => {
                assert_eq!(
                    (s, v["decision"].as_str(), v["rule"].as_str()),
                    (200, Some("denied"), Some(*rule)),
                    "{}: {v}",
                    case.name
                );
                assert!(!v["reasons"].as_array().unwrap().is_empty(), "{}: {v}", case.name);
            }
            (Expect::Bad(status, kind), true) => {
                assert_eq!((s, problem_type(&v).as_str()), (*status, *kind), "{}: {v}", case.name);
            }
        }
        // The real thing.
        let (s, v) = post(&c, &server.url("/v1/session-sigs"), Some(&t), &case.body);
        if s == 200 && !matches!(case.expect, Expect::Approved(_)) {
            wrong_approvals += 1;
        }
        match &case.expect {
            Expect::Approved(rule) => {
                assert_eq!(s, 200, "{}: {v}", case.name);
                assert_eq!(v["policy"]["rule"], *rule, "{}", case.name);
                match case.clamp {
                    Some(max) => {
                        assert_eq!(v["policy"]["clamped"]["maxLifetimeSeconds"], max, "{}: {v}", case.name);
                        let exp: time::OffsetDateTime = time::OffsetDateTime::parse(
                            v["expiration"].as_str().unwrap(),
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap();
                        let left = (exp - time::OffsetDateTime::now_utc()).whole_seconds();
                        assert!(left <= max && left > max - 60, "{}: {left}", case.name);
                    }
                    None => assert!(v["policy"]["clamped"].is_null(), "{}: {v}", case.name),
                }
            }
            Expect::Denied(rule) => {
                assert_eq!((s, problem_type(&v).as_str()), (403, "denied"), "{}: {v}", case.name);
                assert_eq!(v["decision"], "denied");
                assert_eq!(v["rule"], *rule, "{}: {v}", case.name);
                assert!(v.get("sessionSigs").is_none());
            }
            Expect::Bad(status, kind) => {
                assert_eq!((s, problem_type(&v).as_str()), (*status, *kind), "{}: {v}", case.name);
            }
        }
    }
    assert_eq!(wrong_approvals, 0);

    // The decisions are in the metrics with bounded labels.
    let metrics = c.get(format!("{}/metrics", server.metrics.as_ref().unwrap())).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("litsigner_policy_decisions_total{client=\"alpha\",rule=\"blocked-pkp\",result=\"denied\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("litsigner_policy_decisions_total{client=\"unknown\",rule=\"implicit-deny\",result=\"denied\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("litsigner_policy_rules{client=\"alpha\"} 5"), "{metrics}");
    let approved = cases.iter().filter(|c| matches!(c.expect, Expect::Approved(_))).count();
    let denied = cases.iter().filter(|c| matches!(c.expect, Expect::Denied(_))).count();
    println!(
        "{} policy cases: {approved} approved, {denied} denied, {} bad input",
        cases.len(),
        cases.len() - approved - denied
    );
}

#[test]
fn rate_limit_counts_in_the_store_and_reload_keeps_the_old_policy_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        configured(dir.path(), POLICY, &[("eps", "eps-token"), ("ops", "ops-token"), ("alpha", "alpha-token")], "");
    let c = client();
    let url = server.url("/v1/session-sigs");
    let b = sigs_body(&[A], &[("lit-pkp", "*", "pkp-signing")]);
    for _ in 0..3 {
        assert_eq!(post(&c, &url, Some("eps-token"), &b).0, 200);
    }
    let (s, p) = post(&c, &url, Some("eps-token"), &b);
    assert_eq!((s, problem_type(&p).as_str(), p["rule"].as_str()), (429, "rate-limited", Some("rate-limit")), "{p}");
    // It says when the window ends: within the window's length, never 0.
    let denied = c.post(&url).bearer_auth("eps-token").json(&b).send().unwrap();
    let retry = denied.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    assert_eq!(denied.status().as_u16(), 429);
    assert!(retry.is_some_and(|secs| (1..=3600).contains(&secs)), "Retry-After {retry:?} (eps: 3 an hour)");
    // The dry run says so too, and does not count.
    let (s, v) = post(&c, &server.url("/v1/policy/evaluate"), Some("eps-token"), &b);
    assert_eq!((s, v["rule"].as_str()), (200, Some("rate-limit")), "{v}");

    // A broken policy file: the reload is refused, the old policy stays, readiness is degraded.
    std::fs::write(dir.path().join("policy.toml"), "[clients.alpha]\nendpoints = [\"session-sigs\", \"nope\"]\n")
        .unwrap();
    let (s, p) = post(&c, &server.url("/v1/admin/reload"), Some("ops-token"), &json!({}));
    assert_eq!((s, problem_type(&p).as_str()), (422, "policy-invalid"), "{p}");
    assert!(p["errors"][0].as_str().unwrap().contains("nope"), "{p}");
    let (s, ready) = get(&c, &server.url("/readyz"), None);
    assert_eq!(s, 200, "{ready}");
    assert_eq!(ready["checks"][2]["status"], "degraded", "{ready}");
    assert_eq!(post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")])).0, 200);
    let (s, status) = get(&c, &server.url("/v1/admin/reload"), Some("ops-token"));
    assert_eq!((s, status["status"].as_str()), (200, Some("failed")), "{status}");
    // Not TOML at all, through SIGHUP.
    std::fs::write(dir.path().join("policy.toml"), "this is [not toml").unwrap();
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")])).0, 200);

    // Only the admin endpoint grant may reload.
    assert_eq!(post(&c, &server.url("/v1/admin/reload"), Some("alpha-token"), &json!({})).0, 403);

    // A fixed file: the new policy is in force and readiness is back to ok.
    let tightened = POLICY.replace("\"lit-pkp://0x1a2b\", ", "");
    std::fs::write(dir.path().join("policy.toml"), tightened).unwrap();
    let (s, v) = post(&c, &server.url("/v1/admin/reload"), Some("ops-token"), &json!({}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(get(&c, &server.url("/readyz"), None).1["checks"][2]["status"], "ok");
    let (s, p) = post(&c, &url, Some("alpha-token"), &sigs_body(&[A], &[("lit-pkp", "0x1a2b", "pkp-signing")]));
    assert_eq!((s, p["rule"].as_str()), (403, Some("implicit-deny")), "{p}");

    // Key rotation is an admin operation too, and only for profiles whose keys rotate across
    // the fleet (this one's key is in memory).
    let rotate = server.url("/v1/admin/rotate");
    assert_eq!(post(&c, &rotate, Some("alpha-token"), &json!({})).0, 403);
    let (s, p) = post(&c, &rotate, Some("ops-token"), &json!({"revoke": true}));
    assert_eq!((s, problem_type(&p).as_str()), (409, "not-rotating"), "{p}");
    let (s, p) = post(&c, &rotate, Some("ops-token"), &json!({"signer": "nope"}));
    assert_eq!((s, problem_type(&p).as_str()), (404, "unknown-signer"), "{p}");
    let (s, p) = post(&c, &rotate, Some("ops-token"), &json!({"revoke": "yes"}));
    assert_eq!(s, 400, "{p}");
}
