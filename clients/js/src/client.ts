// The client: one object per service, holding the credential out of sight (a private field,
// never in a message, a log line or `util.inspect`), with retries inside a deadline.
import { ClientProblem, SignerError } from './errors.js';
import { backoffMs, isRetryableStatus, retryAfterMs, type RetryOptions } from './retry.js';
import type {
  CapacityRequest,
  CapacityResponse,
  Evaluation,
  KeysResponse,
  PaymentRequest,
  PaymentResponse,
  Readiness,
  SessionSigsMap,
  SessionSigsRequest,
  SessionSigsResponse,
  VerifyRequest,
  VerifyResponse,
} from './types.js';

/** PEM text (or bytes) for mutual TLS and for trusting the service's certificate. */
export interface TlsOptions {
  /** The client certificate chain (PEM). */
  cert?: string | Uint8Array;
  /** The client certificate's private key (PEM). */
  key?: string | Uint8Array;
  /** The CA(s) that issued the service's certificate (PEM); default: the system's. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
}

export interface SignerClientOptions {
  /** The service's base URL, e.g. `https://signer.internal:8470` or `http://127.0.0.1:8470`. */
  url: string;
  /** A bearer token. Prefer `tokenFile`, so the value never sits in your configuration. */
  token?: string;
  /** A file holding the bearer token (Node.js); read at each call, so a rotated token is used. */
  tokenFile?: string;
  /** Mutual TLS (Node.js, through undici) and/or the CA that issued the service's certificate. */
  tls?: TlsOptions;
  /** The longest a call may take, retries included, ms (default 30000). */
  deadlineMs?: number;
  /** Backoff for 503, 429 and network failures; `false` sends each request once. */
  retry?: RetryOptions | false;
  /** Receives one line per retry and per failed call; never a credential. */
  log?: (line: string) => void;
  /** A `fetch` to use instead of the platform's (not with `tls`). */
  fetch?: typeof fetch;
}

/** Per call. */
export interface CallOptions {
  /** Overrides the client's `deadlineMs` for this call. */
  deadlineMs?: number;
  /** Cancels the call (its reason is thrown as is). */
  signal?: AbortSignal;
  /** The `x-correlation-id` to send (1-128 of `A-Za-z0-9._:-`); default a new `lsc-<uuid>`. */
  correlationId?: string;
}

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

type Fetch = typeof fetch;

/** A client of `lit-session-server`. Make one with {@link createSignerClient}. */
export class SignerClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #tokenFile: string | undefined;
  readonly #tls: TlsOptions | undefined;
  readonly #deadlineMs: number;
  readonly #retry: RetryOptions | false;
  readonly #log: ((line: string) => void) | undefined;
  readonly #customFetch: Fetch | undefined;
  #transport: Promise<{ fetch: Fetch; close: () => Promise<void> }> | undefined;

  constructor(options: SignerClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError('lit-session-client: url is not a URL');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError('lit-session-client: url must be http:// or https://');
    }
    if (options.token !== undefined && options.tokenFile !== undefined) {
      throw new TypeError('lit-session-client: give token or tokenFile, not both');
    }
    const bearer = options.token !== undefined || options.tokenFile !== undefined;
    if (bearer && base.protocol === 'http:' && !LOOPBACK.has(base.hostname)) {
      throw new TypeError(
        'lit-session-client: a bearer token over http:// would cross the network in clear; use https:// (or a loopback address)',
      );
    }
    if (options.tls && options.fetch) throw new TypeError('lit-session-client: tls and fetch exclude each other');
    if (options.token !== undefined && !options.token.trim()) throw new TypeError('lit-session-client: the token is empty');
    this.url = base.href.replace(/\/+$/, '');
    this.#token = options.token?.trim();
    this.#tokenFile = options.tokenFile;
    this.#tls = options.tls;
    this.#deadlineMs = options.deadlineMs ?? 30_000;
    this.#retry = options.retry ?? {};
    this.#log = options.log;
    this.#customFetch = options.fetch;
  }

  /** A session-sigs map: node URL → session sig, exactly the SDK's `SessionSigsMap`. */
  async sessionSigs(params: SessionSigsRequest, options?: CallOptions): Promise<SessionSigsMap> {
    return (await this.sessionSigsResponse(params, options)).sessionSigs;
  }

  /** The whole answer: the map plus the session key, expiration, AuthSig use, request id and policy. */
  sessionSigsResponse(params: SessionSigsRequest, options?: CallOptions): Promise<SessionSigsResponse> {
    return this.#call('POST', '/v1/session-sigs', params, options);
  }

  /** A dry run of a session-sigs request: the policy's decision, nothing signed. */
  evaluatePolicy(params: SessionSigsRequest, options?: CallOptions): Promise<Evaluation> {
    return this.#call('POST', '/v1/policy/evaluate', params, options);
  }

  /** Checks a map by the Lit node's rules (`network: "naga"` for v8 nodes). */
  verify(params: VerifyRequest, options?: CallOptions): Promise<VerifyResponse> {
    return this.#call('POST', '/v1/verify', params, options);
  }

  /** A capacity-delegation AuthSig (v7) from a profile's wallet, for `capabilityAuthSigs`. */
  capacityDelegation(params: CapacityRequest, options?: CallOptions): Promise<CapacityResponse> {
    return this.#call('POST', '/v1/capacity-delegation', params, options);
  }

  /** A payment-delegation AuthSig (v8) from a profile's wallet, for a v8 session's `capabilityAuthSigs`. */
  paymentDelegation(params: PaymentRequest, options?: CallOptions): Promise<PaymentResponse> {
    return this.#call('POST', '/v1/payment-delegation', params, options);
  }

  /** The signer profiles this client may use: session keys and wallet addresses. */
  keys(options?: CallOptions): Promise<KeysResponse> {
    return this.#call('GET', '/v1/keys', undefined, options);
  }

  /**
   * Readiness (`GET /readyz`, no credential sent): `status` is `ready` or `not-ready`, with
   * the HSM, store, policy and audit checks. A not-ready service is an answer, not an error.
   */
  ready(options?: CallOptions): Promise<Readiness> {
    return this.#call('GET', '/readyz', undefined, { ...options }, { auth: false, retry: false, accept: [503] });
  }

  /** Closes the connections of a TLS client (the platform's fetch needs nothing). */
  async close(): Promise<void> {
    const t = this.#transport;
    this.#transport = undefined;
    if (t) await (await t).close();
  }

  /** Shown by `console.log` and `util.inspect`: the URL and how it authenticates, never the credential. */
  toJSON(): object {
    const auth = this.#tokenFile ? 'token file' : this.#token ? 'token' : this.#tls?.cert ? 'mtls' : 'none';
    return { url: this.url, auth };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SignerClient ${JSON.stringify(this.toJSON())}`;
  }

  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    options: CallOptions = {},
    how: { auth?: boolean; retry?: boolean; accept?: number[] } = {},
  ): Promise<T> {
    const requestId = options.correlationId ?? `lsc-${globalThis.crypto.randomUUID()}`;
    if (!CORRELATION_ID.test(requestId)) {
      throw new TypeError('lit-session-client: correlationId must be 1-128 characters of A-Za-z0-9._:-');
    }
    const retry = how.retry !== false && this.#retry !== false ? this.#retry : undefined;
    const started = Date.now();
    const deadline = started + (options.deadlineMs ?? this.#deadlineMs);
    const { fetch } = await this.#transportFor();
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', 'x-correlation-id': requestId };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const what = `${method} ${path}`;
    let last: SignerError | undefined;

    for (let attempt = 1; ; attempt++) {
      if (how.auth !== false) {
        const token = await this.#bearer();
        if (token) headers.authorization = `Bearer ${token}`;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.#deadline(what, requestId, attempt - 1, started, last);
      const attemptSignal = new AbortController();
      const timer = setTimeout(() => attemptSignal.abort(), remaining);
      const onCallerAbort = () => attemptSignal.abort();
      options.signal?.addEventListener('abort', onCallerAbort, { once: true });
      let status = 0;
      let text = '';
      let retryAfter: string | null = null;
      try {
        options.signal?.throwIfAborted();
        const res = await fetch(this.url + path, {
          method,
          headers,
          body: payload,
          signal: attemptSignal.signal,
          redirect: 'error',
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (attemptSignal.signal.aborted) throw this.#deadline(what, requestId, attempt, started, last);
        last = new SignerError({
          type: ClientProblem.Network,
          status: 0,
          title: 'No answer from the service',
          detail: networkDetail(e),
          requestId,
          attempts: attempt,
          cause: e,
        });
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onCallerAbort);
      }

      if (status !== 0) {
        if ((status >= 200 && status < 300) || how.accept?.includes(status)) {
          try {
            return JSON.parse(text) as T;
          } catch {
            throw this.#failed(
              new SignerError({
                type: ClientProblem.BadResponse,
                status,
                title: 'Not the service’s answer',
                detail: `HTTP ${status} with a body that is not JSON`,
                requestId,
                attempts: attempt,
              }),
              what,
            );
          }
        }
        let problem: Record<string, unknown> = {};
        try {
          const parsed: unknown = JSON.parse(text);
          if (parsed && typeof parsed === 'object') problem = parsed as Record<string, unknown>;
        } catch {
          // Not a problem document (a proxy's page): the status speaks for it.
        }
        last = SignerError.fromProblem(problem, status, requestId, attempt);
        if (!isRetryableStatus(status)) throw this.#failed(last, what);
      }
      if (!retry || !last) throw this.#failed(last ?? new Error('unreachable'), what);

      const wait = backoffMs(attempt, retry, retryAfterMs(retryAfter, Date.now()) ?? 0);
      if (Date.now() + wait >= deadline) throw this.#deadline(what, requestId, attempt, started, last);
      this.#log?.(`lit-session-client: ${what} attempt ${attempt} failed: ${last.message}; retrying in ${wait} ms`);
      await sleep(wait, options.signal);
    }
  }

  #failed(error: Error, what: string): Error {
    this.#log?.(`lit-session-client: ${what} failed: ${error.message}`);
    return error;
  }

  #deadline(what: string, requestId: string, attempts: number, started: number, last: SignerError | undefined): SignerError {
    const after = `${Date.now() - started} ms and ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const error = new SignerError({
      type: ClientProblem.DeadlineExceeded,
      status: last?.status ?? 0,
      title: 'Deadline exceeded',
      detail: last ? `gave up after ${after}; last: ${last.summary}` : `gave up after ${after}`,
      requestId,
      rule: last?.rule,
      attempts,
      cause: last,
    });
    this.#failed(error, what);
    return error;
  }

  async #bearer(): Promise<string | undefined> {
    if (this.#token !== undefined) return this.#token;
    if (this.#tokenFile === undefined) return undefined;
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(this.#tokenFile, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'unreadable';
      throw new Error(`lit-session-client: cannot read the token file ${this.#tokenFile}: ${code}`);
    }
    const token = text.trim();
    if (!token) throw new Error(`lit-session-client: the token file ${this.#tokenFile} is empty`);
    return token;
  }

  #transportFor(): Promise<{ fetch: Fetch; close: () => Promise<void> }> {
    if (!this.#transport) {
      const tls = this.#tls;
      const custom = this.#customFetch;
      this.#transport = tls
        ? import('undici').then((undici) => {
            const agent = new undici.Agent({ connect: { cert: tls.cert, key: tls.key, ca: tls.ca } as never });
            const viaAgent = ((input: string, init: RequestInit) =>
              undici.fetch(input, { ...(init as object), dispatcher: agent } as never)) as unknown as Fetch;
            return { fetch: viaAgent, close: () => agent.close() };
          })
        : Promise.resolve({ fetch: custom ?? globalThis.fetch, close: async () => {} });
    }
    return this.#transport;
  }
}

/** A client of `lit-session-server`; see {@link SignerClientOptions}. */
export function createSignerClient(options: SignerClientOptions): SignerClient {
  return new SignerClient(options);
}

function networkDetail(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
