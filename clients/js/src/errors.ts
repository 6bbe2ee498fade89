// One error class for everything a call can end in: a problem document from the service, or a
// failure on the way (network, deadline, an answer that is not the service's).
import type { Problem, ServiceProblemType } from './types.js';

/** Problem types this client sets itself (status 0: no answer, or not one from the service). */
export const ClientProblem = {
  /** The deadline passed before an answer; `cause` holds the last attempt's error, if any. */
  DeadlineExceeded: 'urn:lit-session-client:deadline-exceeded',
  /** No HTTP answer (connection refused or reset, TLS handshake refused, DNS). */
  Network: 'urn:lit-session-client:network',
  /** An answer that is neither the expected JSON nor a problem document. */
  BadResponse: 'urn:lit-session-client:bad-response',
} as const;
export type ClientProblemType = (typeof ClientProblem)[keyof typeof ClientProblem];

const PREFIX = 'https://lit-session-signer.dev/problems/';

export interface SignerErrorInit {
  type: ServiceProblemType | ClientProblemType | string;
  status: number;
  title: string;
  detail: string;
  requestId: string;
  rule?: string | undefined;
  reasons?: string[] | undefined;
  errors?: string[] | undefined;
  attempts: number;
  cause?: unknown;
}

/**
 * A call that did not succeed. `type` is the problem type (the service's
 * `https://lit-session-signer.dev/problems/<slug>`, or one of {@link ClientProblem}), `status`
 * the HTTP status (0 without one), `requestId` the `x-correlation-id` the service logged and
 * audited the request under, `rule` the deciding policy rule of a denial.
 *
 * Never holds the bearer token or any other credential.
 */
export class SignerError extends Error {
  readonly type: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly requestId: string;
  readonly rule: string | undefined;
  readonly reasons: string[];
  readonly errors: string[];
  /** How many requests were sent for this call. */
  readonly attempts: number;

  constructor(init: SignerErrorInit) {
    super(`${summary(init)} [request ${init.requestId}]`, { cause: init.cause });
    this.name = 'SignerError';
    this.type = init.type;
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.rule = init.rule;
    this.reasons = init.reasons ?? [];
    this.errors = init.errors ?? [];
    this.attempts = init.attempts;
  }

  /** The message without the request id: `HTTP 403 denied: … (rule no-wildcard)`. */
  get summary(): string {
    return summary(this);
  }

  /** The last part of the problem type: `denied`, `hsm-unavailable`, `deadline-exceeded`, … */
  get slug(): string {
    return slug(this.type);
  }

  /** From a problem document the service answered with. */
  static fromProblem(problem: Partial<Problem>, status: number, requestId: string, attempts: number): SignerError {
    return new SignerError({
      type: typeof problem.type === 'string' ? problem.type : 'about:blank',
      status,
      title: typeof problem.title === 'string' ? problem.title : `HTTP ${status}`,
      detail: typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`,
      requestId: typeof problem.requestId === 'string' ? problem.requestId : requestId,
      rule: typeof problem.rule === 'string' ? problem.rule : undefined,
      reasons: Array.isArray(problem.reasons) ? problem.reasons.map(String) : undefined,
      errors: Array.isArray(problem.errors) ? problem.errors.map(String) : undefined,
      attempts,
    });
  }
}

function summary(e: { status: number; type: string; detail: string; rule?: string | undefined }): string {
  const where = e.status ? `HTTP ${e.status} ` : '';
  const rule = e.rule ? ` (rule ${e.rule})` : '';
  return `${where}${slug(e.type)}: ${e.detail}${rule}`;
}

function slug(type: string): string {
  if (type.startsWith(PREFIX)) return type.slice(PREFIX.length);
  if (type.startsWith('urn:lit-session-client:')) return type.slice('urn:lit-session-client:'.length);
  return type;
}
