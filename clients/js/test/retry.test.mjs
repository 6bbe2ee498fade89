// The backoff rules on their own (no server): Retry-After forms, full jitter within the cap.
import assert from 'node:assert/strict';
import test from 'node:test';

import { SignerError } from 'lit-session-client';
import { backoffMs, isRetryableStatus, retryAfterMs } from '../dist/esm/retry.js';

test('503 and 429 are retried; other statuses are not', () => {
  assert.deepEqual([503, 429, 500, 502, 504, 400, 401, 403, 408].map(isRetryableStatus), [true, true, false, false, false, false, false, false, false]);
});

test('Retry-After: delta-seconds, an HTTP date, or nothing', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('3', now), 3000);
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  assert.equal(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs(null, now), undefined);
});

test('full jitter: up to initial × 2^(n−1), capped, never below Retry-After', () => {
  const opts = { initialDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffMs(1, opts, 0, () => 0.999), 99);
  assert.equal(backoffMs(3, opts, 0, () => 0.999), 399);
  assert.equal(backoffMs(10, opts, 0, () => 0.999), 999);
  assert.equal(backoffMs(2, opts, 0, () => 0), 0);
  assert.equal(backoffMs(2, opts, 2500, () => 0.5), 2500);
});

test('SignerError from a problem document keeps type, status, detail, rule and request id', () => {
  const e = SignerError.fromProblem(
    { type: 'https://lit-session-signer.dev/problems/denied', title: 'Denied', status: 403, detail: 'no rule allows it', rule: 'implicit-deny', reasons: ['x'], requestId: 'r-1' },
    403,
    'sent-id',
    1,
  );
  assert.deepEqual([e.slug, e.status, e.rule, e.requestId, e.reasons], ['denied', 403, 'implicit-deny', 'r-1', ['x']]);
  assert.equal(e.message, 'HTTP 403 denied: no rule allows it (rule implicit-deny) [request r-1]');
  // A body that is not a problem document: the status speaks, the sent id stays.
  const bare = SignerError.fromProblem({}, 502, 'sent-id', 2);
  assert.deepEqual([bare.type, bare.detail, bare.requestId], ['about:blank', 'HTTP 502', 'sent-id']);
});
