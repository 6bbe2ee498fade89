"""The clients, synchronous and asyncio: one object per service, holding the credential out of
sight (never in a message, a log record or ``repr``), with retries inside a deadline."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import ssl
import time
import uuid
from typing import Any, Dict, Optional, Sequence, Tuple, Union, cast
from urllib.parse import urlsplit

import httpx
from typing_extensions import TypedDict

from ._errors import ClientProblem, SignerError
from ._retry import Retry, backoff_seconds, is_retryable_status, retry_after_seconds
from .models import (
    CapacityRequest,
    CapacityResponse,
    Evaluation,
    KeysResponse,
    PaymentRequest,
    PaymentResponse,
    Readiness,
    SessionSigsRequest,
    SessionSigsResponse,
    SessionSigsResponseSessionSigsValue,
    VerifyRequest,
    VerifyResponse,
)

log = logging.getLogger("lit_session_client")

SessionSig = SessionSigsResponseSessionSigsValue
"""One node's session sig: the SDK's ``AuthSig`` with ``algo: "ed25519"``."""
SessionSigsMap = Dict[str, SessionSig]
"""Node URL → session sig: the Lit JS SDK's ``SessionSigsMap``."""

PathLike = Union[str, "os.PathLike[str]"]
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class TlsFiles(TypedDict, total=False):
    """PEM files for mutual TLS and for trusting the service's certificate."""

    cert: PathLike
    """The client certificate chain."""
    key: PathLike
    """The client certificate's private key."""
    ca: PathLike
    """The CA that issued the service's certificate (default: the system's)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Base:
    def __init__(
        self,
        url: str,
        *,
        token: Optional[str] = None,
        token_file: Optional[PathLike] = None,
        tls: Optional[TlsFiles] = None,
        deadline: float = 30.0,
        retry: Union[Retry, bool] = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("lit_session_client: url must be http:// or https:// with a host")
        if token is not None and token_file is not None:
            raise ValueError("lit_session_client: give token or token_file, not both")
        if (token is not None or token_file is not None) and parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(
                "lit_session_client: a bearer token over http:// would cross the network in clear; "
                "use https:// (or a loopback address)"
            )
        if token is not None and not token.strip():
            raise ValueError("lit_session_client: the token is empty")
        self.url = url.rstrip("/")
        self.__token = token.strip() if token is not None else None
        self._token_file = os.fspath(token_file) if token_file is not None else None
        self._tls = dict(tls) if tls else None
        self._deadline = deadline
        self._retry: Optional[Retry] = (Retry() if retry is True else retry) if retry is not False else None

    def __repr__(self) -> str:
        if self._token_file:
            auth = "token file"
        elif self.__token:
            auth = "token"
        elif self._tls and "cert" in self._tls:
            auth = "mtls"
        else:
            auth = "none"
        return f"{type(self).__name__}(url={self.url!r}, auth={auth!r})"

    def _verify(self) -> Union[ssl.SSLContext, bool]:
        if not self._tls:
            return True
        ca = self._tls.get("ca")
        ctx = ssl.create_default_context(cafile=os.fspath(ca) if ca is not None else None)
        if "cert" in self._tls:
            key = self._tls.get("key")
            ctx.load_cert_chain(os.fspath(self._tls["cert"]), os.fspath(key) if key is not None else None)
        return ctx

    def _bearer(self) -> Optional[str]:
        if self.__token is not None:
            return self.__token
        if self._token_file is None:
            return None
        try:
            with open(self._token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise OSError(f"lit_session_client: cannot read the token file {self._token_file}: {e.strerror}") from None
        if not token:
            raise ValueError(f"lit_session_client: the token file {self._token_file} is empty")
        return token

    def _start(self, correlation_id: Optional[str], body: Any) -> Tuple[str, Dict[str, str], Optional[bytes]]:
        request_id = correlation_id or f"lsc-{uuid.uuid4()}"
        if not CORRELATION_ID.match(request_id):
            raise ValueError("lit_session_client: correlation_id must be 1-128 characters of A-Za-z0-9._:-")
        headers = {"accept": "application/json, application/problem+json", "x-correlation-id": request_id}
        payload = None
        if body is not None:
            headers["content-type"] = "application/json"
            payload = json.dumps(body, separators=(",", ":")).encode()
        return request_id, headers, payload

    def _headers(self, headers: Dict[str, str], auth: bool) -> Dict[str, str]:
        token = self._bearer() if auth else None
        return {**headers, "authorization": f"Bearer {token}"} if token else headers

    @staticmethod
    def _network(e: Exception, request_id: str, attempt: int) -> SignerError:
        error = SignerError(
            type=ClientProblem.NETWORK,
            status=0,
            title="No answer from the service",
            detail=f"{type(e).__name__}: {e}" if str(e) else type(e).__name__,
            request_id=request_id,
            attempts=attempt,
        )
        error.__cause__ = e
        return error

    @staticmethod
    def _answer(response: httpx.Response, request_id: str, attempt: int, accept: Sequence[int]) -> Tuple[Any, Optional[SignerError]]:
        status = response.status_code
        if 200 <= status < 300 or status in accept:
            try:
                return response.json(), None
            except ValueError:
                raise SignerError(
                    type=ClientProblem.BAD_RESPONSE,
                    status=status,
                    title="Not the service's answer",
                    detail=f"HTTP {status} with a body that is not JSON",
                    request_id=request_id,
                    attempts=attempt,
                ) from None
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        return None, SignerError.from_problem(problem if isinstance(problem, dict) else {}, status, request_id, attempt)

    def _deadline_error(self, what: str, request_id: str, attempts: int, started: float, last: Optional[SignerError]) -> SignerError:
        after = f"{(time.monotonic() - started) * 1000:.0f} ms and {attempts} attempt{'' if attempts == 1 else 's'}"
        error = SignerError(
            type=ClientProblem.DEADLINE_EXCEEDED,
            status=last.status if last else 0,
            title="Deadline exceeded",
            detail=f"gave up after {after}; last: {last.summary}" if last else f"gave up after {after}",
            request_id=request_id,
            attempts=attempts,
            rule=last.rule if last else None,
        )
        error.__cause__ = last  # the last answer, not the timeout that ended the wait
        error.__suppress_context__ = True
        log.warning("lit-session-client: %s failed: %s", what, error)
        return error

    def _next_wait(
        self, what: str, response: Optional[httpx.Response], last: SignerError, attempt: int, deadline: float, started: float
    ) -> float:
        """Seconds to wait before the next attempt, or raises when there is none."""
        retryable = last.status == 0 or is_retryable_status(last.status)
        if self._retry is None or not retryable:
            log.warning("lit-session-client: %s failed: %s", what, last)
            raise last
        floor = retry_after_seconds(response.headers.get("retry-after") if response is not None else None, time.time())
        wait = backoff_seconds(attempt, self._retry, floor or 0.0)
        if time.monotonic() + wait >= deadline:
            raise self._deadline_error(what, last.request_id, attempt, started, last)
        log.info("lit-session-client: %s attempt %d failed: %s; retrying in %.0f ms", what, attempt, last, wait * 1000)
        return wait


class SignerClient(_Base):
    """A client of ``lit-session-server``.

    >>> with SignerClient("http://127.0.0.1:8470", token_file="token") as signer:  # doctest: +SKIP
    ...     session_sigs = signer.session_sigs({"nodeUrls": [...], "resourceAbilityRequests": [...], "nonce": "0x…"})

    ``token`` or ``token_file`` (read at each call, so a rotated token is used) for bearer
    authentication; ``tls={"cert": ..., "key": ..., "ca": ...}`` (PEM files) for mutual TLS and to
    trust the service's CA. ``deadline`` (seconds, default 30) bounds a call, retries included;
    503, 429 and network failures are retried with backoff and jitter (``retry=False``: never).
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._http = httpx.Client(verify=self._verify(), follow_redirects=False, trust_env=False)

    def __enter__(self) -> "SignerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def session_sigs(self, params: SessionSigsRequest, **call: Any) -> SessionSigsMap:
        """A session-sigs map: node URL → session sig, exactly the SDK's ``SessionSigsMap``."""
        return self.session_sigs_response(params, **call)["sessionSigs"]

    def session_sigs_response(self, params: SessionSigsRequest, **call: Any) -> SessionSigsResponse:
        """The whole answer: the map plus session key, expiration, AuthSig use, request id, policy."""
        return cast(SessionSigsResponse, self._call("POST", "/v1/session-sigs", params, **call))

    def evaluate_policy(self, params: SessionSigsRequest, **call: Any) -> Evaluation:
        """A dry run of a session-sigs request: the policy's decision, nothing signed."""
        return cast(Evaluation, self._call("POST", "/v1/policy/evaluate", params, **call))

    def verify(self, params: VerifyRequest, **call: Any) -> VerifyResponse:
        """Checks a map by the Lit node's rules (``"network": "naga"`` for v8 nodes)."""
        return cast(VerifyResponse, self._call("POST", "/v1/verify", params, **call))

    def capacity_delegation(self, params: CapacityRequest, **call: Any) -> CapacityResponse:
        """A capacity-delegation AuthSig (v7) from a profile's wallet."""
        return cast(CapacityResponse, self._call("POST", "/v1/capacity-delegation", params, **call))

    def payment_delegation(self, params: PaymentRequest, **call: Any) -> PaymentResponse:
        """A payment-delegation AuthSig (v8) from a profile's wallet."""
        return cast(PaymentResponse, self._call("POST", "/v1/payment-delegation", params, **call))

    def keys(self, **call: Any) -> KeysResponse:
        """The signer profiles this client may use: session keys and wallet addresses."""
        return cast(KeysResponse, self._call("GET", "/v1/keys", None, **call))

    def ready(self, **call: Any) -> Readiness:
        """Readiness (``GET /readyz``, no credential sent); a not-ready service is an answer, not an error."""
        return cast(Readiness, self._call("GET", "/readyz", None, auth=False, retry=False, accept=(503,), **call))

    def _call(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        deadline: Optional[float] = None,
        correlation_id: Optional[str] = None,
        auth: bool = True,
        retry: bool = True,
        accept: Sequence[int] = (),
    ) -> Any:
        request_id, headers, payload = self._start(correlation_id, body)
        what = f"{method} {path}"
        started = time.monotonic()
        end = started + (self._deadline if deadline is None else deadline)
        attempt = 0
        last: Optional[SignerError] = None
        while True:
            attempt += 1
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise self._deadline_error(what, request_id, attempt - 1, started, last)
            response = None
            try:
                response = self._http.request(
                    method, self.url + path, content=payload, headers=self._headers(headers, auth), timeout=remaining
                )
            except httpx.TimeoutException:
                # The deadline ended this attempt; the error names the last answer before it.
                raise self._deadline_error(what, request_id, attempt, started, last)
            except httpx.TransportError as e:
                last = self._network(e, request_id, attempt)
            else:
                value, problem = self._answer(response, request_id, attempt, accept)
                if problem is None:
                    return value
                last = problem
            if not retry:
                log.warning("lit-session-client: %s failed: %s", what, last)
                raise last
            time.sleep(self._next_wait(what, response, last, attempt, end, started))


class AsyncSignerClient(_Base):
    """The asyncio twin of :class:`SignerClient`: the same options and methods, awaited."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._http = httpx.AsyncClient(verify=self._verify(), follow_redirects=False, trust_env=False)

    async def __aenter__(self) -> "AsyncSignerClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def session_sigs(self, params: SessionSigsRequest, **call: Any) -> SessionSigsMap:
        return (await self.session_sigs_response(params, **call))["sessionSigs"]

    async def session_sigs_response(self, params: SessionSigsRequest, **call: Any) -> SessionSigsResponse:
        return cast(SessionSigsResponse, await self._call("POST", "/v1/session-sigs", params, **call))

    async def evaluate_policy(self, params: SessionSigsRequest, **call: Any) -> Evaluation:
        return cast(Evaluation, await self._call("POST", "/v1/policy/evaluate", params, **call))

    async def verify(self, params: VerifyRequest, **call: Any) -> VerifyResponse:
        return cast(VerifyResponse, await self._call("POST", "/v1/verify", params, **call))

    async def capacity_delegation(self, params: CapacityRequest, **call: Any) -> CapacityResponse:
        return cast(CapacityResponse, await self._call("POST", "/v1/capacity-delegation", params, **call))

    async def payment_delegation(self, params: PaymentRequest, **call: Any) -> PaymentResponse:
        return cast(PaymentResponse, await self._call("POST", "/v1/payment-delegation", params, **call))

    async def keys(self, **call: Any) -> KeysResponse:
        return cast(KeysResponse, await self._call("GET", "/v1/keys", None, **call))

    async def ready(self, **call: Any) -> Readiness:
        return cast(Readiness, await self._call("GET", "/readyz", None, auth=False, retry=False, accept=(503,), **call))

    async def _call(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        deadline: Optional[float] = None,
        correlation_id: Optional[str] = None,
        auth: bool = True,
        retry: bool = True,
        accept: Sequence[int] = (),
    ) -> Any:
        request_id, headers, payload = self._start(correlation_id, body)
        what = f"{method} {path}"
        started = time.monotonic()
        end = started + (self._deadline if deadline is None else deadline)
        attempt = 0
        last: Optional[SignerError] = None
        while True:
            attempt += 1
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise self._deadline_error(what, request_id, attempt - 1, started, last)
            response = None
            try:
                response = await asyncio.wait_for(
                    self._http.request(
                        method, self.url + path, content=payload, headers=self._headers(headers, auth), timeout=remaining
                    ),
                    remaining,
                )
            except (httpx.TimeoutException, asyncio.TimeoutError):
                raise self._deadline_error(what, request_id, attempt, started, last)
            except httpx.TransportError as e:
                last = self._network(e, request_id, attempt)
            else:
                value, problem = self._answer(response, request_id, attempt, accept)
                if problem is None:
                    return value
                last = problem
            if not retry:
                log.warning("lit-session-client: %s failed: %s", what, last)
                raise last
            await asyncio.sleep(self._next_wait(what, response, last, attempt, end, started))


__all__ = ["AsyncSignerClient", "SessionSig", "SessionSigsMap", "SignerClient", "TlsFiles"]
