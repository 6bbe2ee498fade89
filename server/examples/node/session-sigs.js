// Gets a sessionSigs map from lit-session-server and hands it to the real Lit JS SDK (v7, the
// packages installed in interop/), far enough that the SDK builds every node's request body:
// each body's `authSig` must be the map's entry for that node's URL.
//
// The Lit network is stubbed (three made-up node URLs in `connectedNodes`, a made-up block
// hash) and the SDK's requests to the nodes are captured instead of sent, so this runs
// offline. Against a real network: `await client.connect()` instead of the stub, and drop the
// fetch interception; the request to the signer stays the same.
//
// usage: LITSIGNER_URL=http://127.0.0.1:8470 LITSIGNER_TOKEN_FILE=./token node session-sigs.js
//   (the token is read from a file, never from the command line)
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const interop = path.resolve(__dirname, '../../../interop');
const sdk = createRequire(path.join(interop, 'package.json'));
const { LitNodeClientNodeJs } = sdk('@lit-protocol/lit-node-client-nodejs');
const { LitPKPResource, LitActionResource } = sdk('@lit-protocol/auth-helpers');
const { LIT_ABILITY } = sdk('@lit-protocol/constants');
const { validateSessionSigs } = sdk('@lit-protocol/misc');

const signer = process.env.LITSIGNER_URL || 'http://127.0.0.1:8470';
const tokenFile = process.env.LITSIGNER_TOKEN_FILE;
if (!tokenFile) {
  console.error('set LITSIGNER_TOKEN_FILE to a file holding the bearer token');
  process.exit(2);
}
const token = fs.readFileSync(tokenFile, 'utf8').trim();

// The SDK is chatty on the console.
for (const k of ['log', 'warn', 'info', 'debug']) console[k] = () => {};
const say = (...a) => process.stderr.write(a.join(' ') + '\n');

const realFetch = globalThis.fetch;

async function main() {
  // A client that looks connected to three nodes (the stub), as after `await client.connect()`.
  const nodes = ['https://192.0.2.10:443', 'https://192.0.2.11:443', 'https://192.0.2.12:443'];
  const client = new LitNodeClientNodeJs({ litNetwork: 'custom', debug: false });
  client.ready = true;
  client.connectedNodes = new Set(nodes);
  client.latestBlockhash = '0x5f1c8a0e9b2d4c6f8a1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a';
  client.lastBlockHashRetrieved = Date.now();

  const body = {
    nodeUrls: [...client.connectedNodes],
    nonce: await client.getLatestBlockhash(),
    expiration: new Date(Date.now() + 10 * 60e3).toISOString(),
    // The SDK's own resource classes, serialised as the SDK serialises them.
    resourceAbilityRequests: [
      { resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning },
      { resource: new LitActionResource('*'), ability: LIT_ABILITY.LitActionExecution },
    ],
  };
  const response = await realFetch(`${signer}/v1/session-sigs`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      'x-correlation-id': `node-example-${Date.now()}`,
    },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`signer: HTTP ${response.status}: ${answer.type} ${answer.detail}`);
  const { sessionSigs } = answer;
  say(`signer: ${Object.keys(sessionSigs).length} session sigs, session key ${answer.sessionKey}, AuthSig ${answer.authSig.use}`);

  const checked = validateSessionSigs(sessionSigs);
  if (!checked.isValid) throw new Error(`validateSessionSigs: ${checked.errors.join('; ')}`);

  // Capture what the SDK would send to each node.
  const sent = [];
  globalThis.fetch = async (url, req) => {
    sent.push({ url: String(url), body: JSON.parse(req.body) });
    return new Response(JSON.stringify({ success: false, error: 'captured by the example' }), {
      status: 500,
      headers: { 'content-type': 'application/json' },
    });
  };
  try {
    await client.pkpSign({
      pubKey: '0x04' + '11'.repeat(64),
      toSign: Array.from({ length: 32 }, (_, i) => i),
      sessionSigs,
    });
  } catch (_) {
    // Expected: the captured requests were answered with an error.
  } finally {
    globalThis.fetch = realFetch;
  }

  if (sent.length !== nodes.length) throw new Error(`the SDK built ${sent.length} node requests, expected ${nodes.length}`);
  for (const { url, body: nodeBody } of sent) {
    const node = nodes.find((n) => url.startsWith(n + '/'));
    if (!node) throw new Error(`a request to an unknown node: ${url}`);
    if (JSON.stringify(nodeBody.authSig) !== JSON.stringify(sessionSigs[node])) {
      throw new Error(`the body for ${node} does not carry sessionSigs[${node}]`);
    }
  }
  process.stdout.write(`ok: ${sent.length} node request bodies carry the signer's session sigs\n`);
}

main().catch((e) => {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
});
