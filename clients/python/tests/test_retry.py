"""The backoff rules on their own (no server): Retry-After forms, full jitter within the cap."""

from lit_session_client import Retry, SignerError
from lit_session_client._retry import backoff_seconds, is_retryable_status, retry_after_seconds

NOW = 1767225600.0  # 2026-01-01T00:00:00Z


def test_503_and_429_are_retried_others_not():
    assert [is_retryable_status(s) for s in (503, 429, 500, 502, 504, 400, 401, 403, 408)] == [True, True] + [False] * 7


def test_retry_after_seconds_date_or_nothing():
    assert retry_after_seconds("3", NOW) == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:05 GMT", NOW) == 5.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:59:00 GMT", NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None


def test_full_jitter_capped_and_never_below_retry_after():
    r = Retry(initial_delay=0.1, max_delay=1.0)
    assert abs(backoff_seconds(1, r, rand=lambda: 1.0) - 0.1) < 1e-9
    assert abs(backoff_seconds(3, r, rand=lambda: 1.0) - 0.4) < 1e-9
    assert backoff_seconds(10, r, rand=lambda: 1.0) == 1.0
    assert backoff_seconds(2, r, rand=lambda: 0.0) == 0.0
    assert backoff_seconds(2, r, floor=2.5, rand=lambda: 0.5) == 2.5


def test_signer_error_from_a_problem_document():
    e = SignerError.from_problem(
        {"type": "https://lit-session-signer.dev/problems/denied", "title": "Denied", "status": 403,
         "detail": "no rule allows it", "rule": "implicit-deny", "reasons": ["x"], "requestId": "r-1"},
        403, "sent-id", 1,
    )
    assert (e.slug, e.status, e.rule, e.request_id, e.reasons) == ("denied", 403, "implicit-deny", "r-1", ["x"])
    assert str(e) == "HTTP 403 denied: no rule allows it (rule implicit-deny) [request r-1]"
    bare = SignerError.from_problem({}, 502, "sent-id", 2)
    assert (bare.type, bare.detail, bare.request_id) == ("about:blank", "HTTP 502", "sent-id")
