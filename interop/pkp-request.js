// PKP / Lit Action interop: the real Lit JS SDK 7.4.0 runs getPkpSessionSigs or
// getLitActionSessionSigs offline (frozen clock, primed client). Its fetch to
// /web/sign_session_key/v1 is intercepted: every request (URL, headers, body) is recorded and
// answered with the node response the Rust side prepared for that node. The SDK then combines
// the shares, checks the network signature with its own wasm (blsSessionSigVerify) and signs
// the session sigs; all of it is written out for the Rust side to compare byte for byte.
//
// usage: node pkp-request.js cases.json out.json
'use strict';

const fs = require('fs');
const { primedClient, say, networkAttempts } = require('./common');
const FakeTimers = require('@sinonjs/fake-timers');
const nacl = require('tweetnacl');
const { LitPKPResource, LitActionResource, LitAccessControlConditionResource, LitRLIResource } = require(
  '@lit-protocol/auth-helpers'
);

const RESOURCE = {
  'lit-pkp': (id) => new LitPKPResource(id),
  'lit-litaction': (id) => new LitActionResource(id),
  'lit-accesscontrolcondition': (id) => new LitAccessControlConditionResource(id),
  'lit-ratelimitincrease': (id) => new LitRLIResource(id),
};
const ENDPOINT = '/web/sign_session_key/v1';

async function runCase(c) {
  const clock = FakeTimers.install({ now: Date.parse(c.now), toFake: ['Date'] });
  try {
    const client = primedClient(c.nodes, c.nonce);
    client.config.minNodeCount = c.minNodeCount;
    client.networkPubKey = c.networkPubKey;
    // Started long ago, so currentEpochNumber is this number (not the propagation-delay one).
    client._epochCache = { currentNumber: c.epoch, startTime: Math.floor(Date.parse(c.now) / 1000) - 3600 };

    const requests = [];
    globalThis.fetch = async (url, req) => {
      requests.push({ url, method: req.method, headers: req.headers, body: req.body });
      const node = url.endsWith(ENDPOINT) ? url.slice(0, -ENDPOINT.length) : null;
      const answer = node && c.responses[node];
      if (!answer) throw new Error(`pkp-request: unexpected fetch ${url}`);
      return new Response(JSON.stringify(answer), { status: 200, headers: { 'content-type': 'application/json' } });
    };

    const pair = nacl.sign.keyPair.fromSeed(Buffer.from(c.sessionSeed, 'hex'));
    const params = {
      pkpPublicKey: c.pkpPublicKey,
      sessionKey: {
        publicKey: Buffer.from(pair.publicKey).toString('hex'),
        secretKey: Buffer.from(pair.secretKey).toString('hex'),
      },
      resourceAbilityRequests: c.resources.map((r) => ({ resource: RESOURCE[r.prefix](r.id), ability: r.ability })),
      ...(c.authMethods && { authMethods: c.authMethods }),
      ...(c.expiration && { expiration: c.expiration }),
      ...(c.domain && { domain: c.domain }),
      ...(c.capabilityAuthSigs && { capabilityAuthSigs: c.capabilityAuthSigs }),
    };
    let sessionSigs;
    if (c.litActionCode || c.litActionIpfsId) {
      sessionSigs = await client.getLitActionSessionSigs({
        ...params,
        ...(c.litActionCode && { litActionCode: c.litActionCode }),
        ...(c.litActionIpfsId && { litActionIpfsId: c.litActionIpfsId }),
        jsParams: c.jsParams,
      });
    } else {
      sessionSigs = await client.getPkpSessionSigs(params);
    }
    return { id: c.id, requests, sessionSigsJson: JSON.stringify(sessionSigs) };
  } finally {
    clock.uninstall();
  }
}

async function main() {
  const [input, output] = process.argv.slice(2);
  const cases = JSON.parse(fs.readFileSync(input, 'utf8'));
  const results = [];
  for (const c of cases) {
    try {
      results.push(await runCase(c));
    } catch (e) {
      say(`pkp-request: case ${c.id} failed: ${e && e.stack ? e.stack : e}`);
      process.exit(1);
    }
  }
  if (networkAttempts() > 0) {
    say('pkp-request: the SDK tried to use the network');
    process.exit(1);
  }
  fs.writeFileSync(output, JSON.stringify(results));
  say(`pkp-request: ${results.length} SDK runs recorded`);
}

main();
