// Compile-time check (tsc --noEmit, run by sdk-types.test.mjs): the map this package returns is
// the Lit JS SDK's own SessionSigsMap type, v7 (interop/) and v8 (interop/v8/).
import type { SessionSigsMap as V7SessionSigsMap } from '../../../../interop/node_modules/@lit-protocol/types/src/index.js';
import type { SessionSigsMap as V8SessionSigsMap } from '../../../../interop/v8/node_modules/@lit-protocol/types/src/index.js';
import type { SessionSigsMap, SignerClient } from '../../dist/esm/index.js';

export const forV7 = (map: SessionSigsMap): V7SessionSigsMap => map;
export const forV8 = (map: SessionSigsMap): V8SessionSigsMap => map;
export const fromClient = async (c: SignerClient): Promise<V7SessionSigsMap & V8SessionSigsMap> =>
  c.sessionSigs({ nodeUrls: [], resourceAbilityRequests: [], nonce: '' });
