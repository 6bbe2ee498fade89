// The Lit JS SDK v7 (Datil): `executeJs`, `pkpSign` and `decrypt` take a `sessionSigs` map and
// put `sessionSigs[url]` into each node's request body. These helpers ask the signer for a map
// over the nodes the SDK client is connected to, with its latest block hash as the nonce.
// No SDK import: any object with the LitNodeClient's shape works.
import type { CallOptions, SignerClient } from './client.js';
import type { AuthSigJson, ResourceAbilityRequest, SessionSigsMap } from './types.js';

/** The parts of a connected v7 `LitNodeClient` (or `LitNodeClientNodeJs`) these helpers use. */
export interface LitNodeClientV7 {
  connectedNodes: Iterable<string>;
  getLatestBlockhash(): Promise<string>;
}

/** What the session may do, with the SDK's parameter names. */
export interface SessionScope {
  /** `{ resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning }` objects, or plain JSON. */
  resourceAbilityRequests: ReadonlyArray<ResourceAbilityRequest | { resource: object; ability: string }>;
  /** ISO 8601; default the policy's maximum lifetime. */
  expiration?: string;
  capabilityAuthSigs?: AuthSigJson[];
  /** The signer profile (default: the service's default). */
  signer?: string;
  domain?: string;
  statement?: string;
}

/** A map for every node `lit` is connected to, with its latest block hash as the nonce. */
export async function sessionSigsForV7(
  signer: SignerClient,
  lit: LitNodeClientV7,
  scope: SessionScope,
  options?: CallOptions,
): Promise<SessionSigsMap> {
  const nodeUrls = [...lit.connectedNodes];
  if (nodeUrls.length === 0) throw new TypeError('lit-session-client: the Lit client has no connected nodes (await client.connect() first)');
  const nonce = await lit.getLatestBlockhash();
  return signer.sessionSigs(
    {
      ...scope,
      // The SDK's resource classes serialise to {resource, resourcePrefix}, as the service reads them.
      resourceAbilityRequests: JSON.parse(JSON.stringify(scope.resourceAbilityRequests)) as ResourceAbilityRequest[],
      nodeUrls,
      nonce,
      format: 'v7',
    },
    options,
  );
}

type WithoutSessionSigs<F> = F extends (params: infer P, ...rest: infer R) => infer Out
  ? (params: Omit<P, 'sessionSigs'>, ...rest: R) => Out
  : never;

/** The SDK calls that take `sessionSigs`, with the map filled in by the signer at each call. */
export interface SignedV7<C> {
  executeJs: C extends { executeJs: infer F } ? WithoutSessionSigs<F> : never;
  pkpSign: C extends { pkpSign: infer F } ? WithoutSessionSigs<F> : never;
  decrypt: C extends { decrypt: infer F } ? WithoutSessionSigs<F> : never;
  /** The map the next call would use. */
  sessionSigs(options?: CallOptions): Promise<SessionSigsMap>;
}

/**
 * Wraps a connected v7 client: `executeJs`, `pkpSign` and `decrypt` get a fresh map from the
 * signer for `scope` (the signer reuses its AuthSig; only the per-node signatures are new).
 *
 * ```js
 * const lit = withSignerV7(litNodeClient, signer, { resourceAbilityRequests: [{ resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning }] });
 * const { signature } = await lit.pkpSign({ pubKey, toSign });
 * ```
 */
export function withSignerV7<C extends LitNodeClientV7 & { executeJs?: unknown; pkpSign?: unknown; decrypt?: unknown }>(
  lit: C,
  signer: SignerClient,
  scope: SessionScope,
): SignedV7<C> {
  const call =
    (name: 'executeJs' | 'pkpSign' | 'decrypt') =>
    async (params: object, ...rest: unknown[]) => {
      const fn = (lit as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      if (typeof fn !== 'function') throw new TypeError(`lit-session-client: the Lit client has no ${name}`);
      const sessionSigs = await sessionSigsForV7(signer, lit, scope);
      return fn.call(lit, { ...params, sessionSigs }, ...rest);
    };
  return {
    executeJs: call('executeJs'),
    pkpSign: call('pkpSign'),
    decrypt: call('decrypt'),
    sessionSigs: (options?: CallOptions) => sessionSigsForV7(signer, lit, scope, options),
  } as unknown as SignedV7<C>;
}
