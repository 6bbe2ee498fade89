"""When to try again and how long to wait: 503 and 429 answers and network failures, with
exponential backoff and full jitter, never sooner than the service's Retry-After, never past the
caller's deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Optional


@dataclass(frozen=True)
class Retry:
    """Backoff for 503, 429 and network failures (seconds)."""

    initial_delay: float = 0.1
    max_delay: float = 2.0


def is_retryable_status(status: int) -> bool:
    """Statuses the service uses for "not now": 503 (HSM, store, audit, shutting down) and 429."""
    return status in (503, 429)


def retry_after_seconds(header: Optional[str], now: float) -> Optional[float]:
    """``Retry-After`` as seconds from ``now`` (Unix time): delta-seconds or an HTTP date."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at is None:
        return None
    return max(0.0, at.timestamp() - now)


def backoff_seconds(
    retry_number: int, retry: Retry, floor: float = 0.0, rand: Callable[[], float] = random.random
) -> float:
    """The wait before retry ``retry_number`` (1 for the first): uniformly random up to
    min(max, initial × 2^(n−1)) ("full jitter"), but at least ``floor`` (Retry-After)."""
    cap = min(retry.max_delay, retry.initial_delay * 2 ** max(0, retry_number - 1))
    return max(floor, rand() * cap)
