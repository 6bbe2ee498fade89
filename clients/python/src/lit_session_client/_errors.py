"""One error class for everything a call can end in: a problem document from the service, or a
failure on the way (network, deadline, an answer that is not the service's)."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

PREFIX = "https://lit-session-signer.dev/problems/"
CLIENT_PREFIX = "urn:lit-session-client:"


class ClientProblem:
    """Problem types this client sets itself (status 0: no answer, or not one from the service)."""

    DEADLINE_EXCEEDED = CLIENT_PREFIX + "deadline-exceeded"
    """The deadline passed before an answer; ``__cause__`` is the last attempt's error, if any."""
    NETWORK = CLIENT_PREFIX + "network"
    """No HTTP answer (connection refused or reset, TLS handshake refused, DNS)."""
    BAD_RESPONSE = CLIENT_PREFIX + "bad-response"
    """An answer that is neither the expected JSON nor a problem document."""


class SignerError(Exception):
    """A call that did not succeed.

    ``type`` is the problem type (the service's ``https://lit-session-signer.dev/problems/<slug>``
    or a :class:`ClientProblem`), ``status`` the HTTP status (0 without one), ``request_id`` the
    ``x-correlation-id`` the service logged and audited the request under, ``rule`` the deciding
    policy rule of a denial. Never holds the bearer token or any other credential.
    """

    def __init__(
        self,
        *,
        type: str,
        status: int,
        title: str,
        detail: str,
        request_id: str,
        attempts: int,
        rule: Optional[str] = None,
        reasons: Optional[List[str]] = None,
        errors: Optional[List[str]] = None,
    ) -> None:
        self.type = type
        self.status = status
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.attempts = attempts
        self.rule = rule
        self.reasons = list(reasons or [])
        self.errors = list(errors or [])
        super().__init__(f"{self.summary} [request {request_id}]")

    @property
    def slug(self) -> str:
        """The last part of the type: ``denied``, ``hsm-unavailable``, ``deadline-exceeded``, …"""
        for prefix in (PREFIX, CLIENT_PREFIX):
            if self.type.startswith(prefix):
                return self.type[len(prefix) :]
        return self.type

    @property
    def summary(self) -> str:
        """The message without the request id: ``HTTP 403 denied: … (rule no-wildcard)``."""
        where = f"HTTP {self.status} " if self.status else ""
        rule = f" (rule {self.rule})" if self.rule else ""
        return f"{where}{self.slug}: {self.detail}{rule}"

    @classmethod
    def from_problem(cls, problem: Mapping[str, Any], status: int, request_id: str, attempts: int) -> "SignerError":
        """From a problem document the service answered with."""

        def text(key: str, default: str) -> str:
            value = problem.get(key)
            return value if isinstance(value, str) else default

        def strings(key: str) -> Optional[List[str]]:
            value = problem.get(key)
            return [str(v) for v in value] if isinstance(value, list) else None

        return cls(
            type=text("type", "about:blank"),
            status=status,
            title=text("title", f"HTTP {status}"),
            detail=text("detail", f"HTTP {status}"),
            request_id=text("requestId", request_id),
            attempts=attempts,
            rule=problem.get("rule") if isinstance(problem.get("rule"), str) else None,
            reasons=strings("reasons"),
            errors=strings("errors"),
        )
