// The client against live servers: the dev server (bearer token), the mTLS server with a policy
// that denies Lit Actions, and a server on a SoftHSM2 session key that these tests restart and
// take the token from.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import util from 'node:util';

import { ClientProblem, SignerError, createSignerClient } from 'lit-session-client';
import {
  ACTION,
  NODES,
  NONCE,
  PKP,
  Restartable,
  findSecrets,
  fixture,
  log,
  rejects,
  remember,
  seen,
  sleep,
  verifyWithCli,
} from './fixture.mjs';

const dev = createSignerClient({ url: fixture.dev.url, tokenFile: fixture.dev.tokenFile, log });
const pem = (f) => readFileSync(f, 'utf8');
const mtls = createSignerClient({
  url: fixture.mtls.url,
  tls: { cert: pem(fixture.mtls.cert), key: pem(fixture.mtls.key), ca: pem(fixture.mtls.ca) },
  log,
});
const restartable = new Restartable();

test.after(async () => {
  await mtls.close();
  await restartable.stop();
});

test('dev server: a v7 map that lit-session verify accepts for every node', async () => {
  const answer = await dev.sessionSigsResponse({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  assert.deepEqual(Object.keys(answer.sessionSigs), NODES);
  assert.deepEqual(verifyWithCli(answer.sessionSigs), ['valid', 'valid', 'valid']);
  const { signers } = await dev.keys();
  assert.equal(answer.sessionKey, signers.find((s) => s.default).sessionKey);
  for (const sig of Object.values(answer.sessionSigs)) {
    assert.deepEqual(Object.keys(sig).sort(), ['address', 'algo', 'derivedVia', 'sig', 'signedMessage']);
    assert.equal(sig.address, answer.sessionKey);
  }
  // sessionSigs() is the map alone.
  const map = await dev.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  assert.deepEqual(Object.keys(map), NODES);
});

test('dev server: a v8 map that lit-session verify --network naga accepts for every chosen node', async () => {
  const map = await dev.sessionSigs({
    format: 'v8',
    nodeUrls: NODES,
    nodePrices: { [NODES[0]]: '300', [NODES[1]]: '100', [NODES[2]]: 200 },
    threshold: 2,
    userMaxPrice: '1000',
    resourceAbilityRequests: PKP,
    nonce: NONCE,
  });
  // The two cheapest, cheapest first; each maxPrice = price + (1000 - 300) / 2.
  assert.deepEqual(Object.keys(map), [NODES[1], NODES[2]]);
  const prices = Object.values(map).map((s) => BigInt(JSON.parse(s.signedMessage).maxPrice));
  assert.deepEqual(prices, [450n, 550n]);
  assert.deepEqual(verifyWithCli(map, { network: 'naga' }), ['valid', 'valid']);
});

test('every call sends x-correlation-id: a given one, or a new lsc-<uuid>', async () => {
  const given = await dev.sessionSigsResponse(
    { nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE },
    { correlationId: 'js-test:correlation.1' },
  );
  assert.equal(given.requestId, 'js-test:correlation.1');
  const generated = await dev.sessionSigsResponse({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  assert.match(generated.requestId, /^lsc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  await assert.rejects(() => dev.keys({ correlationId: 'no spaces' }), TypeError);
});

test('verify, evaluatePolicy, keys, ready, capacity and payment delegations', async () => {
  const map = await dev.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  const checked = await dev.verify({ sessionSigs: map, resourceAbilityRequests: PKP, strict: true });
  assert.equal(checked.valid, true);
  assert.equal(checked.results.length, 3);
  const evaluation = await dev.evaluatePolicy({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  assert.equal(evaluation.decision, 'approved');
  assert.equal(evaluation.rule, 'dev-allow-all');
  const ready = await dev.ready();
  assert.equal(ready.status, 'ready');
  assert.deepEqual(ready.checks.map((c) => c.id).sort(), ['audit', 'hsm', 'policy', 'store']);
  const capacity = await dev.capacityDelegation({ nonce: NONCE, capacityTokenId: '7', uses: 10, delegateeAddresses: ['0x' + '11'.repeat(20)] });
  assert.match(capacity.capacityDelegationAuthSig.signedMessage, /lit-ratelimitincrease:\/\/7/);
  const payment = await dev.paymentDelegation({
    nonce: NONCE,
    delegateeAddresses: ['0x' + '22'.repeat(20)],
    maxPrice: '1000000',
    scopes: ['pkp_sign'],
  });
  assert.equal(payment.paymentDelegationAuthSig.derivedVia, 'web3.eth.personal.sign');
});

test('mTLS: PKP signing is approved; a Lit Action is a SignerError naming the deny rule', async () => {
  const map = await mtls.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  assert.deepEqual(verifyWithCli(map), ['valid', 'valid', 'valid']);
  const denied = await rejects(() =>
    mtls.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: ACTION, nonce: NONCE }, { correlationId: 'js-denied-1' }),
  );
  assert.ok(denied instanceof SignerError, String(denied));
  assert.equal(denied.status, 403);
  assert.equal(denied.type, 'https://lit-session-signer.dev/problems/denied');
  assert.equal(denied.slug, 'denied');
  assert.equal(denied.rule, fixture.mtls.deniedRule);
  assert.equal(denied.requestId, 'js-denied-1');
  assert.equal(denied.attempts, 1, 'a denial is not retried');
  assert.ok(denied.reasons.length > 0);
  assert.match(denied.message, /HTTP 403 denied: .*\(rule no-lit-actions\) \[request js-denied-1\]/);
  const dry = await mtls.evaluatePolicy({ nodeUrls: NODES, resourceAbilityRequests: ACTION, nonce: NONCE });
  assert.deepEqual([dry.decision, dry.rule], ['denied', fixture.mtls.deniedRule]);
});

test('mTLS: without a client certificate the handshake refuses: a network SignerError, not retried', async () => {
  const anonymous = createSignerClient({ url: fixture.mtls.url, tls: { ca: pem(fixture.mtls.ca) }, retry: false, log });
  const e = await rejects(() => anonymous.keys());
  assert.ok(e instanceof SignerError);
  assert.equal(e.type, ClientProblem.Network);
  assert.equal(e.status, 0);
  await anonymous.close();
});

test('a wrong token: 401 unauthenticated, and neither the error nor the client shows it', async () => {
  const wrongToken = 'js-wrong-token-0123456789abcdef';
  const wrong = createSignerClient({ url: fixture.dev.url, token: wrongToken, log });
  const e = await rejects(() => wrong.keys());
  assert.equal(e.status, 401);
  assert.equal(e.slug, 'unauthenticated');
  const shown = [e.message, e.stack, util.inspect(e, { depth: 10 }), util.inspect(wrong), JSON.stringify(wrong), String(wrong)];
  assert.ok(!shown.some((t) => t.includes(wrongToken)), shown.join('\n'));
  assert.throws(() => createSignerClient({ url: 'http://192.0.2.1:8470', token: 'x' }), /in clear/);
});

test('503 hsm-unavailable (the session key token gone) is retried until the token is back', async () => {
  await restartable.start();
  const lines = [];
  const app = createSignerClient({
    url: restartable.url,
    tokenFile: restartable.conf.tokenFile,
    deadlineMs: 30_000,
    log: (l) => (lines.push(l), log(l)),
  });
  await app.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  let answer;
  try {
    await restartable.parkTokenUntilNotReady(app);
    const pending = app.sessionSigsResponse({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
    await sleep(2500);
    restartable.restoreToken();
    answer = await pending;
  } finally {
    restartable.restoreTokenIfParked();
  }
  assert.deepEqual(verifyWithCli(answer.sessionSigs), ['valid', 'valid', 'valid']);
  assert.ok(lines.some((l) => /attempt \d+ failed: HTTP 503 hsm-unavailable/.test(l)), lines.join('\n'));
});

test('a deadline ends the retry loop: SignerError deadline-exceeded carrying the last 503', async () => {
  const app = createSignerClient({ url: restartable.url, tokenFile: restartable.conf.tokenFile, log });
  await restartable.parkTokenUntilNotReady(app);
  const started = Date.now();
  let e;
  try {
    e = await rejects(() =>
      app.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE }, { deadlineMs: 5000 }),
    );
  } finally {
    restartable.restoreTokenIfParked();
  }
  const took = Date.now() - started;
  assert.equal(e.type, ClientProblem.DeadlineExceeded);
  assert.ok(took < 5000 + 2500, `took ${took} ms`);
  assert.ok(e.attempts >= 2, `attempts ${e.attempts}`);
  assert.equal(e.status, 503);
  assert.ok(e.cause instanceof SignerError && e.cause.slug === 'hsm-unavailable', String(e.cause));
  assert.match(e.message, /gave up after \d+ ms and \d+ attempts; last: HTTP 503 hsm-unavailable/);
});

test('the server restarted under the client: the call retries through it and succeeds', async () => {
  const lines = [];
  const app = createSignerClient({
    url: restartable.url,
    tokenFile: restartable.conf.tokenFile,
    deadlineMs: 30_000,
    log: (l) => (lines.push(l), log(l)),
  });
  await app.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  await restartable.stop();
  const pending = app.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  await sleep(1000);
  await restartable.start();
  const map = await pending;
  assert.deepEqual(verifyWithCli(map), ['valid', 'valid', 'valid']);
  assert.ok(lines.some((l) => /attempt \d+ failed: network: ECONNREFUSED/.test(l)), lines.join('\n'));
});

test('429 from the rate limit (1 per second) is retried: three quick calls all succeed', async () => {
  const lines = [];
  const limited = createSignerClient({
    url: restartable.url,
    tokenFile: restartable.conf.limitedTokenFile,
    deadlineMs: 10_000,
    log: (l) => (lines.push(l), log(l)),
  });
  for (let i = 0; i < 3; i++) {
    await limited.sessionSigs({ nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE });
  }
  assert.ok(lines.some((l) => /attempt \d+ failed: HTTP 429 rate-limited: .*\(rule rate-limit\)/.test(l)), lines.join('\n'));
});

test('no token or PIN in any error message, client log line or server log line', async () => {
  await restartable.stop();
  assert.ok(seen.length > 10, `only ${seen.length} lines seen`);
  assert.deepEqual(findSecrets([...seen, restartable.log()]), []);
  // The retries and failures were logged, with their request ids.
  assert.ok(seen.some((l) => /\[request lsc-/.test(l)));
});
