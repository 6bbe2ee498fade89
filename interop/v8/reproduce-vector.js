// Proves the driver (mint.js) drives the v8 SDK exactly as tests/vectors/naga-v8-small.json was
// made: mints that vector's inputs in a fresh process (clock frozen at its `frozenNow` before the
// SDK loads) and compares the session sigs, their map order and the delegation AuthSig byte for
// byte. Exit 0 when identical.
//
// usage: node reproduce-vector.js [path/to/naga-v8-small.json]
'use strict';

const fs = require('fs');
const path = require('path');
const { freezeClock, loadSdk, say, networkAttempts } = require('./common');

const file = process.argv[2] || path.join(__dirname, '../../tests/vectors/naga-v8-small.json');
const { vector } = JSON.parse(fs.readFileSync(file, 'utf8'));
const inp = vector.inputs;

(async () => {
  if (inp.sdkModulesLoadedAt !== inp.frozenNow) throw new Error('the vector was made with the SDK loaded at another time');
  freezeClock(inp.frozenNow);
  loadSdk();
  const { mintCase } = require('./mint');
  const ability = { 'pkp-signing': 'lit-pkp', 'lit-action-execution': 'lit-litaction' };
  const spec = {
    id: vector.id,
    now: inp.frozenNow,
    sessionSeed: inp.sessionKeySeedHex,
    walletKey: inp.walletPrivateKey,
    nonce: inp.latestBlockhashNonce,
    expiration: inp.authConfig.expiration,
    statement: inp.authConfig.statement,
    domain: inp.authConfig.domain,
    resourceForm: 'tuple',
    resources: inp.authConfig.resources.map(([ab, id]) => ({ prefix: ability[ab], id, ability: ab })),
    product: inp.pricing.product,
    userMaxPrice: inp.pricing.userMaxPrice,
    nodePrices: inp.pricing.nodePrices,
    sdkThreshold: inp.pricing.threshold,
    delegations: [],
  };
  const got = await mintCase(spec);
  if (got.sdkError) throw new Error(`the SDK failed: ${JSON.stringify(got.sdkError)}`);
  const checks = [
    ['session sigs (JSON.stringify of the map)', got.sessionSigsJson, JSON.stringify(vector.outputs.sessionSigs)],
    ['map order', JSON.stringify(Object.keys(JSON.parse(got.sessionSigsJson))), JSON.stringify(vector.outputs.sessionSigsOrder)],
    ['delegation AuthSig', got.sessionAuthSigJson, JSON.stringify(vector.outputs.delegationAuthSig)],
    ['effective expiration', got.effectiveExpiration, vector.outputs.effectiveExpiration],
    ['storage plugin calls', JSON.stringify(got.storageCalls), JSON.stringify(vector.outputs.storagePluginCalls.map((c) => c.op))],
  ];
  let bad = 0;
  for (const [what, ours, theirs] of checks) {
    if (ours === theirs) say(`reproduce-vector: ${what}: identical (${ours.length} bytes)`);
    else {
      bad += 1;
      say(`reproduce-vector: ${what} DIFFERS\n  ours:   ${ours.slice(0, 400)}\n  vector: ${theirs.slice(0, 400)}`);
    }
  }
  if (networkAttempts() > 0) throw new Error(`the SDK tried the network ${networkAttempts()} times`);
  if (bad) process.exit(1);
  say(`reproduce-vector: ${vector.id} reproduced byte for byte`);
})().catch((e) => {
  say('reproduce-vector: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
