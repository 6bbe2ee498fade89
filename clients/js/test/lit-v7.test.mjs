// withSignerV7 with the real Lit JS SDK v7 (the packages pinned in interop/): executeJs, pkpSign
// and decrypt each put the signer's session sig for a node into that node's request body. The
// "nodes" are HTTP servers on 127.0.0.1 that record each body and answer an error, so nothing
// leaves the machine; the map the bodies carry is checked by `lit-session verify` for each node.
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'node:test';

import { createSignerClient, withSignerV7 } from 'lit-session-client';
import { NONCE, findSecrets, fixture, log, remember, seen, verifyWithCli } from './fixture.mjs';

const sdk = createRequire(path.join(fixture.interop, 'package.json'));
for (const k of ['log', 'warn', 'info', 'debug']) console[k] = () => {}; // the SDK is chatty
const { LitNodeClientNodeJs } = sdk('@lit-protocol/lit-node-client-nodejs');
const { LitPKPResource, LitActionResource, LitAccessControlConditionResource } = sdk('@lit-protocol/auth-helpers');
const { LIT_ABILITY } = sdk('@lit-protocol/constants');

/** Three recording "nodes" on loopback ports. */
async function nodes() {
  const bodies = [];
  const servers = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise((resolve) => {
          const server = http.createServer((req, res) => {
            let text = '';
            req.on('data', (c) => (text += c));
            req.on('end', () => {
              bodies.push({ node: `http://127.0.0.1:${server.address().port}`, path: req.url, body: JSON.parse(text) });
              res.writeHead(500, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ success: false, error: 'recorded by the test node' }));
            });
          });
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const urls = servers.map((s) => `http://127.0.0.1:${s.address().port}`);
  return { urls, bodies, close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))) };
}

/** A v7 client that looks connected to `urls` (as after `await client.connect()`). */
function connected(urls) {
  const client = new LitNodeClientNodeJs({ litNetwork: 'custom', debug: false, checkNodeAttestation: false });
  client.ready = true;
  client.connectedNodes = new Set(urls);
  client.config.bootstrapUrls = urls;
  client.config.minNodeCount = urls.length;
  client.latestBlockhash = NONCE;
  client.lastBlockHashRetrieved = Date.now();
  client._epochCache = { currentNumber: 3, startTime: Math.floor(Date.now() / 1000) - 3600 };
  client.subnetPubKey = '8e'.repeat(48);
  client.networkPubKey = '8e'.repeat(48);
  return client;
}

const signer = createSignerClient({ url: fixture.dev.url, tokenFile: fixture.dev.tokenFile, log });
const scope = {
  resourceAbilityRequests: [
    { resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning },
    { resource: new LitActionResource('*'), ability: LIT_ABILITY.LitActionExecution },
    { resource: new LitAccessControlConditionResource('*'), ability: LIT_ABILITY.AccessControlConditionDecryption },
  ],
};

async function run(call, endpoint, resource) {
  const net = await nodes();
  try {
    const lit = withSignerV7(connected(net.urls), signer, scope);
    await assert.rejects(() => call(lit)); // the recording nodes answer an error
    const sent = net.bodies.filter((b) => b.path.includes(endpoint));
    assert.equal(sent.length, net.urls.length, `${endpoint}: ${net.bodies.map((b) => b.path).join(', ')}`);
    // Each node's body carries the session sig signed for that node; together they are one map
    // that the node rules accept for every node.
    const map = Object.fromEntries(sent.map(({ node, body }) => [node, body.authSig]));
    assert.deepEqual(Object.keys(map).sort(), [...net.urls].sort());
    for (const [node, sig] of Object.entries(map)) assert.equal(JSON.parse(sig.signedMessage).nodeAddress, node);
    assert.deepEqual(verifyWithCli(map, { resource }), ['valid', 'valid', 'valid']);
    const { signers } = await signer.keys();
    assert.ok(Object.values(map).every((s) => s.address === signers[0].sessionKey));
  } catch (e) {
    throw remember(e);
  } finally {
    await net.close();
  }
}

test('pkpSign: each node body carries sessionSigs[url]', () =>
  run((lit) => lit.pkpSign({ pubKey: '0x04' + '11'.repeat(64), toSign: Array.from({ length: 32 }, (_, i) => i) }), '/web/pkp/sign', 'lit-pkp://*=pkp-signing'));

test('executeJs: each node body carries sessionSigs[url]', () =>
  run((lit) => lit.executeJs({ code: 'Lit.Actions.setResponse({ response: "ok" })', jsParams: { n: 1 } }), '/web/execute', 'lit-litaction://*=lit-action-execution'));

test('decrypt: each node body carries sessionSigs[url]', () =>
  run(
    (lit) =>
      lit.decrypt({
        accessControlConditions: [
          { contractAddress: '', standardContractType: '', chain: 'ethereum', method: '', parameters: [':userAddress'], returnValueTest: { comparator: '=', value: '0x' + '33'.repeat(20) } },
        ],
        ciphertext: 'AAAA',
        dataToEncryptHash: 'ab'.repeat(32),
        chain: 'ethereum',
      }),
    '/web/encryption/sign',
    'lit-accesscontrolcondition://*=access-control-condition-decryption',
  ));

test('the map is the SDK\'s: validateSessionSigs accepts it', async () => {
  const { validateSessionSigs } = sdk('@lit-protocol/misc');
  const map = await withSignerV7(connected(['http://127.0.0.1:1', 'http://127.0.0.1:2']), signer, scope).sessionSigs();
  const checked = validateSessionSigs(map);
  assert.equal(checked.isValid, true, checked.errors?.join('; '));
});

test('no token in any error or log line', () => {
  assert.deepEqual(findSecrets(seen), []);
});
