// lit-session-client: session signatures from lit-session-server (an HSM-held session key),
// typed from the service's OpenAPI contract, as the Lit JS SDK's SessionSigsMap.
export { createSignerClient, SignerClient } from './client.js';
export type { CallOptions, SignerClientOptions, TlsOptions } from './client.js';
export { ClientProblem, SignerError } from './errors.js';
export type { ClientProblemType, SignerErrorInit } from './errors.js';
export type { RetryOptions } from './retry.js';
export { sessionSigsForV7, withSignerV7 } from './lit-v7.js';
export type { LitNodeClientV7, SessionScope, SignedV7 } from './lit-v7.js';
export { NAGA_PRODUCTS, nagaContext, nagaSessionSigsRequest, sessionSigsForNaga } from './lit-v8.js';
export type { NagaClientLike, NagaContext, NagaNetworkModuleLike, NagaProduct } from './lit-v8.js';
export type * from './types.js';
export type { components, paths } from './generated/openapi.js';
