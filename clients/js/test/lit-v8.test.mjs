// The Lit JS SDK v8 (Naga; the packages pinned in interop/v8/) with a map it did not mint. Its
// LitClient mints from an auth context that holds the session private key, so an HSM key needs
// the door the SDK leaves for a given map: `executeJs({ ..., sessionSigs })` in lit-client
// (8.3.1), which hands the map to the network module's request builder; `pkpSign`'s builder
// takes one too. Here the builders of the real `nagaDev` module run on the signer's map, and
// each node's E2EE-encrypted body is opened with that node's key: it carries sessionSigs[url].
// The map's nodes and maxPrices are the ones the SDK's own pricing (getMaxPricesForNodeProduct)
// picks from the same context, and `lit-session verify --network naga` accepts each.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'node:test';

import { NAGA_PRODUCTS, createSignerClient, nagaSessionSigsRequest, sessionSigsForNaga } from 'lit-session-client';
import { NONCE, findSecrets, fixture, log, seen, verifyWithCli } from './fixture.mjs';

const sdk = createRequire(path.join(fixture.interop, 'v8', 'package.json'));
for (const k of ['log', 'warn', 'info', 'debug']) console[k] = () => {};
const { nagaDev, getMaxPricesForNodeProduct, PRODUCT_IDS } = sdk('@lit-protocol/networks');
const { walletDecrypt } = sdk('@lit-protocol/crypto');
const { nacl } = sdk('@lit-protocol/nacl');
const { LitActionResource, LitPKPResource } = sdk('@lit-protocol/auth-helpers');
const { LIT_ABILITY } = sdk('@lit-protocol/constants');

const signer = createSignerClient({ url: fixture.dev.url, tokenFile: fixture.dev.tokenFile, log });

// Five nodes as jitContext.nodePrices holds them: [decryption, sign, litAction, signSessionKey].
const urls = [7470, 7471, 7472, 7473, 7474].map((p) => `https://127.0.0.1:${p}`);
const context = {
  nodePrices: urls.map((url, i) => ({ url, prices: [10n ** 12n * BigInt(i + 1), 3n * 10n ** 12n * BigInt(5 - i), 7n * 10n ** 12n + BigInt(i % 2) * 10n ** 12n, 10n ** 12n] })),
  threshold: 3,
  latestBlockhash: NONCE,
};
// The keys a handshake gives: each node's identity key, and the client's key for that node.
const nodeKeys = Object.fromEntries(urls.map((u) => [u, nacl.box.keyPair()]));
const jitContext = { keySet: Object.fromEntries(urls.map((u) => [u, { publicKey: nodeKeys[u].publicKey, secretKey: nacl.box.keyPair().secretKey }])), nodePrices: context.nodePrices };

test('the product columns are the SDK\'s PRODUCT_IDS', () => {
  assert.deepEqual(NAGA_PRODUCTS.map((p) => Number(PRODUCT_IDS[p])), [0, 1, 2, 3]);
});

for (const [product, resource, ability, resourceText] of [
  ['LIT_ACTION', new LitActionResource('*'), LIT_ABILITY.LitActionExecution, 'lit-litaction://*=lit-action-execution'],
  ['SIGN', new LitPKPResource('*'), LIT_ABILITY.PKPSigning, 'lit-pkp://*=pkp-signing'],
]) {
  test(`${product}: the nodes and maxPrices the SDK's pricing picks, valid for Naga nodes`, async () => {
    const userMaxPrice = 10n ** 17n;
    const map = await sessionSigsForNaga(signer, context, product, { resourceAbilityRequests: [{ resource, ability }], userMaxPrice });
    const expected = getMaxPricesForNodeProduct({
      nodePrices: context.nodePrices,
      userMaxPrice,
      productId: Number(PRODUCT_IDS[product]),
      numRequiredNodes: context.threshold,
    });
    assert.deepEqual(Object.keys(map), expected.map((e) => e.url));
    assert.deepEqual(
      Object.values(map).map((s) => BigInt(JSON.parse(s.signedMessage).maxPrice)),
      expected.map((e) => e.price),
    );
    assert.deepEqual(verifyWithCli(map, { network: 'naga', resource: resourceText }), ['valid', 'valid', 'valid']);
  });
}

/** Opens each request with its node's key; returns url → body. */
function open(requests) {
  return Object.fromEntries(
    requests.map((r) => {
      const url = urls.find((u) => r.fullPath.startsWith(u + '/'));
      assert.ok(url, r.fullPath);
      const bytes = walletDecrypt(nodeKeys[url].secretKey, r.data); // { version: '1', payload }
      return [url, JSON.parse(new TextDecoder().decode(bytes))];
    }),
  );
}

test('executeJs request builder (the path litClient.executeJs({ sessionSigs }) takes): each node body carries sessionSigs[url]', async () => {
  const map = await sessionSigsForNaga(signer, context, 'LIT_ACTION', {
    resourceAbilityRequests: [{ resource: new LitActionResource('*'), ability: LIT_ABILITY.LitActionExecution }],
  });
  const requests = await nagaDev.api.executeJs.createRequest({
    sessionSigs: map,
    executionContext: { code: 'Lit.Actions.setResponse({ response: "ok" })', jsParams: { n: 1 } },
    connectionInfo: { epochState: { currentNumber: 9 } },
    version: 'test',
    jitContext,
  });
  assert.equal(requests.length, 3);
  const bodies = open(requests);
  assert.deepEqual(Object.keys(bodies), Object.keys(map));
  for (const [url, body] of Object.entries(bodies)) assert.deepEqual(body.authSig, map[url]);
});

test('pkpSign request builder: each node body carries sessionSigs[url]', async () => {
  const map = await sessionSigsForNaga(signer, context, 'SIGN', {
    resourceAbilityRequests: [{ resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning }],
  });
  const requests = await nagaDev.api.pkpSign.createRequest({
    sessionSigs: map,
    signingContext: { pubKey: '0x04' + '11'.repeat(64), toSign: new Uint8Array(32).fill(7), signingScheme: 'EcdsaK256Sha256' },
    connectionInfo: { epochState: { currentNumber: 9 } },
    version: 'test',
    chain: 'ethereum',
    jitContext,
  });
  const bodies = open(requests);
  assert.deepEqual(Object.keys(bodies).sort(), Object.keys(map).sort());
  for (const [url, body] of Object.entries(bodies)) assert.deepEqual(body.authSig, map[url]);
});

test('nagaSessionSigsRequest: prices as decimal strings, the handshake\'s threshold and block hash', () => {
  const request = nagaSessionSigsRequest(context, 'SIGN', { resourceAbilityRequests: [], userMaxPrice: 5n });
  assert.equal(request.format, 'v8');
  assert.deepEqual(request.nodeUrls, urls);
  assert.equal(request.nodePrices[urls[0]], String(15n * 10n ** 12n));
  assert.equal(request.userMaxPrice, '5');
  assert.equal(request.threshold, 3);
  assert.equal(request.nonce, NONCE);
});

test('no token in any error or log line', () => {
  assert.deepEqual(findSecrets(seen), []);
});
