// When to try again and how long to wait: 503 and 429 answers and network failures, with
// exponential backoff and full jitter, never sooner than the service's Retry-After, never past
// the caller's deadline.

export interface RetryOptions {
  /** The first backoff step, ms (default 100). */
  initialDelayMs?: number;
  /** The largest backoff step, ms (default 2000). */
  maxDelayMs?: number;
}

/** Statuses the service uses for "not now": 503 (HSM, store, audit, shutting down) and 429. */
export function isRetryableStatus(status: number): boolean {
  return status === 503 || status === 429;
}

/**
 * `Retry-After` as ms from `now`: delta-seconds or an HTTP date; undefined when absent or
 * unreadable.
 */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  if (header == null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The wait before retry number `retry` (1 for the first retry): a uniformly random time up to
 * min(max, initial × 2^(retry−1)) ("full jitter"), but at least `floorMs` (Retry-After).
 */
export function backoffMs(retry: number, options: RetryOptions, floorMs = 0, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 2000;
  const cap = Math.min(max, initial * 2 ** Math.max(0, retry - 1));
  return Math.max(floorMs, Math.floor(random() * cap));
}
