// The Lit JS SDK v8 (Naga). Its LitClient mints session sigs itself from an auth context that
// holds the session *private* key (`issueSessionFromContext`), which an HSM-held key cannot
// give. The one public door for a map minted elsewhere is `litClient.executeJs({ ..., sessionSigs })`
// (lit-client 8.3.1; the network module's `executeJs` and `pkpSign` request builders take
// `sessionSigs` too, and put `sessionSigs[url]` into each node's E2EE-encrypted body). PKP
// signing and decryption then run inside the Lit Action (`Lit.Actions.signEcdsa`,
// `decryptAndCombine`). v8 nodes check each session sig's `maxPrice`, so the map must be made
// for the nodes and prices the SDK will use: these helpers read them from the SDK's own context.
import type { CallOptions, SignerClient } from './client.js';
import type { SessionSigsMap, SessionSigsRequest } from './types.js';
import type { SessionScope } from './lit-v7.js';

/** The v8 products, in the order of the price feed's `prices` arrays. */
export const NAGA_PRODUCTS = ['DECRYPTION', 'SIGN', 'LIT_ACTION', 'SIGN_SESSION_KEY'] as const;
export type NagaProduct = (typeof NAGA_PRODUCTS)[number];

/** What a v8 map is made for: the SDK's `jitContext.nodePrices`, the handshake's threshold and block hash. */
export interface NagaContext {
  /** `{ url, prices: [decryption, sign, litAction, signSessionKey] }` per responding node, as the SDK holds them. */
  nodePrices: ReadonlyArray<{ url: string; prices: ReadonlyArray<bigint | number | string> }>;
  /** How many nodes serve a request (`handshakeResult.threshold`): the cheapest ones get a session sig. */
  threshold: number;
  /** The nonce for a new AuthSig (`getContext().latestBlockhash`). */
  latestBlockhash: string;
}

/** The parts of a v8 `LitClient` and its network module (`nagaDev`, `naga`, …) that {@link nagaContext} reads. */
export interface NagaClientLike {
  getContext(): Promise<{ latestBlockhash: string; latestConnectionInfo: unknown; handshakeResult: { threshold: number } }>;
}
export interface NagaNetworkModuleLike {
  api: { createJitContext(connectionInfo: unknown, handshakeResult: unknown): Promise<{ nodePrices: NagaContext['nodePrices'] }> };
}

/** Reads the nodes, their prices, the threshold and the block hash the way the SDK's own calls do. */
export async function nagaContext(litClient: NagaClientLike, networkModule: NagaNetworkModuleLike): Promise<NagaContext> {
  const ctx = await litClient.getContext();
  const jit = await networkModule.api.createJitContext(ctx.latestConnectionInfo, ctx.handshakeResult);
  return { nodePrices: jit.nodePrices, threshold: ctx.handshakeResult.threshold, latestBlockhash: ctx.latestBlockhash };
}

/** The session-sigs request for `product` on `context`: the signer picks the nodes and splits `userMaxPrice` as the SDK does. */
export function nagaSessionSigsRequest(
  context: NagaContext,
  product: NagaProduct,
  scope: SessionScope & { userMaxPrice?: bigint | number | string },
): SessionSigsRequest {
  const column = NAGA_PRODUCTS.indexOf(product);
  if (column < 0) throw new TypeError(`lit-session-client: unknown product ${String(product)}`);
  const nodePrices: Record<string, string> = {};
  for (const { url, prices } of context.nodePrices) {
    const price = prices[column];
    if (price === undefined) throw new TypeError(`lit-session-client: no ${product} price for ${url}`);
    nodePrices[url] = BigInt(price).toString();
  }
  const { userMaxPrice, ...rest } = scope;
  return {
    ...rest,
    resourceAbilityRequests: JSON.parse(JSON.stringify(scope.resourceAbilityRequests)) as SessionSigsRequest['resourceAbilityRequests'],
    format: 'v8',
    nodeUrls: context.nodePrices.map((n) => n.url),
    nodePrices,
    threshold: context.threshold,
    nonce: context.latestBlockhash,
    ...(userMaxPrice === undefined ? {} : { userMaxPrice: BigInt(userMaxPrice).toString() }),
  };
}

/**
 * A v8 map for `product` (`'LIT_ACTION'` for `litClient.executeJs({ code, jsParams, sessionSigs })`).
 * `context` is a {@link NagaContext}, or `{ litClient, networkModule }` to read it from the SDK.
 */
export async function sessionSigsForNaga(
  signer: SignerClient,
  context: NagaContext | { litClient: NagaClientLike; networkModule: NagaNetworkModuleLike },
  product: NagaProduct,
  scope: SessionScope & { userMaxPrice?: bigint | number | string },
  options?: CallOptions,
): Promise<SessionSigsMap> {
  const ctx = 'litClient' in context ? await nagaContext(context.litClient, context.networkModule) : context;
  return signer.sessionSigs(nagaSessionSigsRequest(ctx, product, scope), options);
}
