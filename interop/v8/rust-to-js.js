// Rust → JS, v8 (Naga): session sigs (and the payment-delegation AuthSigs inside them) must pass
// the Lit JS SDK v8's own validation and decoding, each at the set's `now`:
//   - networks' validateSessionSigs (the check issueSessionFromContext runs on its own output)
//     and formatSessionSigs (its reader);
//   - Ed25519 with @noble/curves (what the SDK signs with; strict RFC 8032, as the node's
//     verify_strict) and node:crypto;
//   - the V2 signed message: key order, `maxPrice` as the SDK writes it, one template for every
//     node, resourceAbilityRequests byte-equal to the SDK's own AuthConfigSchema normalisation;
//   - the map: the SDK's getMaxPricesForNodeProduct gives the same nodes, order and maxPrices
//     (when the set carries its prices), otherwise at least cheapest-first;
//   - the session AuthSig: siwe@2.3.2 parse + re-render + verify, auth's
//     validateDelegationAuthSig, RecapSessionCapabilityObject.extract/decode and
//     verifyCapabilitiesForResource for every request, SDK defaults for statement/domain/
//     expiration when the set says what was asked for;
//   - capability AuthSigs: the SDK's AuthSigSchema form of what was handed in, siwe verify, and
//     for payment delegations the ReCap grant and its `nb` (delegate_to, max_price, scopes).
//
// usage: node rust-to-js.js sets.json      (exit 0 when every check passes)
//        node rust-to-js.js controls.json --expect-each-to-fail   (exit 0 when every set fails)
//
// Input: {"sets": [...]} or js-to-rust.js output ({"cases": [...]}). A set: id, now, sessionSigsJson,
// resources [{prefix, id, ability, granted?}]; optional: nodes + nodePriceArgs (+ threshold,
// maxPriceArg) for the exact pricing check; expiration / statement / domain (null = the SDK
// default was asked for) for the defaults check; delegations [{capabilityFileJson | authSigJson}]
// for the capability check.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { freezeClock, loadSdk, say } = require('./common');

const V2_KEYS = ['sessionKey', 'resourceAbilityRequests', 'capabilities', 'issuedAt', 'expiration', 'nodeAddress', 'maxPrice'];
const ENTRY_KEYS = ['sig', 'derivedVia', 'signedMessage', 'address', 'algo'];
const AUTH_SIG_KEYS = ['sig', 'derivedVia', 'signedMessage', 'address'];
const MAX_PRICE = /^0x(0|[1-9a-f][0-9a-f]*)$/;
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PD_SCOPES = ['encryption_sign', 'lit_action', 'pkp_sign', 'sign_session_key'];

const failures = [];
const counts = {
  sets: 0,
  sessionSigs: 0,
  ed25519Verified: 0,
  pricingChecked: 0,
  siweVerified: 0,
  recapChecks: 0,
  defaultsChecked: 0,
  paymentDelegations: 0,
  maxPriceWithinDelegation: 0,
  maxPriceOverDelegation: 0,
};

function sdkParts() {
  const sdk = loadSdk();
  const networksDir = path.dirname(require.resolve('@lit-protocol/networks/package.json'));
  const helper = path.join(networksDir, 'src/networks/vNaga/shared/managers/session-manager/helper');
  return {
    ...sdk,
    validator: require(path.join(helper, 'session-sigs-validator.js')),
    reader: require(path.join(helper, 'session-sigs-reader.js')),
    ed25519: require('@noble/curves/ed25519').ed25519,
  };
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function checkSiwe(S, fail, where, authSig, now) {
  if (!same(Object.keys(authSig), AUTH_SIG_KEYS) && !same(Object.keys(authSig), [...AUTH_SIG_KEYS, 'algo'])) {
    fail(where, `AuthSig keys ${Object.keys(authSig)}`);
  }
  const msg = new S.SiweMessage(authSig.signedMessage);
  if (msg.prepareMessage() !== authSig.signedMessage) fail(where, 'siwe re-renders the message differently');
  const res = await msg.verify({ signature: authSig.sig, time: now }, { suppressExceptions: true });
  if (!res.success) fail(where, `SiweMessage.verify: ${JSON.stringify(res.error)}`);
  else counts.siweVerified += 1;
  if (msg.version !== '1' || msg.chainId !== 1) fail(where, `version ${msg.version}, chain ${msg.chainId}`);
  return msg;
}

function shorthand(resources) {
  return resources.map((r) => [r.ability, r.id]);
}

async function checkSet(S, set) {
  const fail = (where, what) => failures.push(`${set.id}${where ? ' ' + where : ''}: ${what}`);
  freezeClock(set.now);
  const now = new Date(set.now);
  counts.sets += 1;
  const map = JSON.parse(set.sessionSigsJson);
  const urls = Object.keys(map);
  if (urls.length === 0) return fail('', 'empty map');

  const v = S.validator.validateSessionSigs(JSON.parse(set.sessionSigsJson));
  if (!v.isValid) fail('', `validateSessionSigs: ${v.errors.join('; ')}`);
  try {
    S.reader.formatSessionSigs(set.sessionSigsJson, now);
  } catch (e) {
    fail('', `formatSessionSigs: ${e.message}`);
  }

  // Every entry: outer keys, ed25519, the V2 message.
  const messages = [];
  for (const [url, entry] of Object.entries(map)) {
    counts.sessionSigs += 1;
    if (!same(Object.keys(entry), ENTRY_KEYS)) fail(url, `entry keys ${Object.keys(entry)}`);
    if (entry.derivedVia !== 'litSessionSignViaNacl' || entry.algo !== 'ed25519') fail(url, `derivedVia/algo ${entry.derivedVia}/${entry.algo}`);
    const msgBytes = Buffer.from(entry.signedMessage, 'utf8');
    const sig = Buffer.from(entry.sig, 'hex');
    const pub = Buffer.from(entry.address, 'hex');
    let ok = /^[0-9a-f]{128}$/.test(entry.sig) && /^[0-9a-f]{64}$/.test(entry.address);
    ok = ok && S.ed25519.verify(sig, msgBytes, pub, { zip215: false });
    ok = ok && crypto.verify(null, msgBytes, crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' }), sig);
    if (!ok) fail(url, 'Ed25519 signature rejected');
    else counts.ed25519Verified += 1;
    let m;
    try {
      m = JSON.parse(entry.signedMessage);
    } catch (e) {
      fail(url, 'signedMessage is not JSON');
      continue;
    }
    if (!same(Object.keys(m), V2_KEYS)) fail(url, `signed message keys ${Object.keys(m)}`);
    if (m.nodeAddress !== url) fail(url, `nodeAddress ${m.nodeAddress}`);
    if (typeof m.maxPrice !== 'string' || !MAX_PRICE.test(m.maxPrice)) fail(url, `maxPrice ${JSON.stringify(m.maxPrice)}`);
    if (m.sessionKey !== entry.address) fail(url, 'sessionKey differs from address');
    if (JSON.stringify(m) !== entry.signedMessage) fail(url, 'signedMessage is not JSON.stringify of itself');
    messages.push(m);
  }
  if (messages.length !== urls.length) return;
  const template = ({ nodeAddress, maxPrice, ...rest }) => JSON.stringify(rest);
  if (!messages.every((m) => template(m) === template(messages[0]))) fail('', 'the shared part differs between nodes');
  const first = messages[0];

  // Cheapest first; with the prices at hand, exactly the SDK's selection and split.
  const prices = messages.map((m) => BigInt(m.maxPrice));
  if (!prices.every((p, i) => i === 0 || prices[i - 1] <= p)) fail('', 'map not in ascending maxPrice order');
  if (set.nodes && set.nodePriceArgs) {
    counts.pricingChecked += 1;
    const nodePrices = set.nodes.map((url, i) => ({ url, prices: [BigInt(set.nodePriceArgs[i] ?? 0)] }));
    const expected = S.networks.getMaxPricesForNodeProduct({
      nodePrices,
      userMaxPrice: set.maxPriceArg == null ? S.networks.getUserMaxPrice({ product: 'SIGN' }) : BigInt(set.maxPriceArg),
      productId: 0,
      numRequiredNodes: set.threshold ?? set.nodes.length,
    });
    const want = expected.map(({ url, price }) => [url, `0x${price.toString(16)}`]);
    const got = messages.map((m) => [m.nodeAddress, m.maxPrice]);
    if (!same(got, want)) fail('', `nodes/maxPrices differ from getMaxPricesForNodeProduct: got ${JSON.stringify(got).slice(0, 300)}, want ${JSON.stringify(want).slice(0, 300)}`);
  }

  // Resource requests exactly as the SDK normalises them.
  if (set.resources) {
    const normalised = S.schemas.AuthConfigSchema.parse({
      resources: S.helpers.transformShorthandResources(shorthand(set.resources)),
    }).resources;
    if (JSON.stringify(first.resourceAbilityRequests) !== JSON.stringify(normalised)) {
      fail('', `resourceAbilityRequests ${JSON.stringify(first.resourceAbilityRequests).slice(0, 200)} != SDK ${JSON.stringify(normalised).slice(0, 200)}`);
    }
  }
  if (new Date(set.now).toISOString() === set.now && first.issuedAt !== set.now) fail('', `issuedAt ${first.issuedAt}, now ${set.now}`);
  if (Date.parse(first.expiration) < Date.parse(first.issuedAt)) fail('', 'expiration before issuedAt');

  // The session AuthSig (last capability).
  const caps = first.capabilities;
  const sessionAuthSig = caps[caps.length - 1];
  const siwe = await checkSiwe(S, fail, 'session AuthSig', sessionAuthSig, now);
  if (siwe.uri !== `lit:session:${first.sessionKey}`) fail('', `session AuthSig URI ${siwe.uri}`);
  try {
    S.auth.validateDelegationAuthSig({ delegationAuthSig: sessionAuthSig, sessionKeyUri: first.sessionKey });
  } catch (e) {
    fail('session AuthSig', `validateDelegationAuthSig: ${e.message}`);
  }
  if (siwe.expirationTime !== first.expiration) fail('', `SIWE expiration ${siwe.expirationTime} != session ${first.expiration}`);
  if (siwe.issuedAt !== first.issuedAt) fail('', `SIWE Issued At ${siwe.issuedAt} != session ${first.issuedAt}`);
  let recap;
  try {
    recap = S.helpers.RecapSessionCapabilityObject.extract(siwe);
    const decoded = S.helpers.RecapSessionCapabilityObject.decode(siwe.resources[siwe.resources.length - 1]);
    if (!same(decoded.attenuations, recap.attenuations)) fail('', 'ReCap extract and decode disagree');
  } catch (e) {
    fail('session AuthSig', `ReCap: ${e.message}`);
  }
  if (recap && set.resources) {
    const cls = {
      'lit-pkp': S.helpers.LitPKPResource,
      'lit-litaction': S.helpers.LitActionResource,
      'lit-accesscontrolcondition': S.helpers.LitAccessControlConditionResource,
      'lit-paymentdelegation': S.helpers.LitPaymentDelegationResource,
    };
    for (const r of set.resources) {
      counts.recapChecks += 1;
      const granted = recap.verifyCapabilitiesForResource(new cls[r.prefix](r.id), r.ability);
      const expected = r.granted === undefined ? true : r.granted;
      if (granted !== expected) fail('', `SDK says ${granted}, expected ${expected}: ${r.ability} on ${r.prefix}://${r.id}`);
    }
  }
  // The v8 defaults, where the set says what was asked for (null = left to the SDK).
  if (recap && 'statement' in set && 'domain' in set && 'expiration' in set) {
    counts.defaultsChecked += 1;
    const wantStatement = `${set.statement ?? ''} ${recap.statement}`;
    if (siwe.statement !== wantStatement) fail('', `SIWE statement ${JSON.stringify(siwe.statement)} != ${JSON.stringify(wantStatement)}`);
    const wantDomain = S.schemas.DomainSchema.parse(set.domain ?? undefined);
    if (siwe.domain !== wantDomain) fail('', `SIWE domain ${siwe.domain} != ${wantDomain}`);
    const wantExpiration = set.expiration ?? new Date(Date.parse(first.issuedAt) + 15 * 60 * 1000).toISOString();
    if (first.expiration !== wantExpiration) fail('', `expiration ${first.expiration} != ${wantExpiration}`);
    if (siwe.nonce !== set.nonce && set.nonce) fail('', `SIWE nonce ${siwe.nonce} != ${set.nonce}`);
  }

  // Capability AuthSigs ahead of the session AuthSig.
  const given = set.delegations || [];
  if (given.length && given.length !== caps.length - 1) fail('', `${caps.length - 1} capabilities, ${given.length} handed in`);
  for (const [i, cap] of caps.slice(0, -1).entries()) {
    const where = `capability #${i + 1}`;
    if (given[i]) {
      const handed = JSON.parse(given[i].capabilityFileJson ?? given[i].authSigJson);
      const want = JSON.stringify(S.schemas.AuthSigSchema.parse(handed));
      if (JSON.stringify(cap) !== want) fail(where, 'differs from the SDK AuthSigSchema form of the AuthSig handed in');
    }
    const d = await checkSiwe(S, fail, where, cap, now);
    if (d.uri !== 'lit:capability:delegation') continue;
    counts.paymentDelegations += 1;
    let rc;
    try {
      rc = S.helpers.RecapSessionCapabilityObject.extract(d);
    } catch (e) {
      fail(where, `ReCap: ${e.message}`);
      continue;
    }
    if (!rc.verifyCapabilitiesForResource(new S.helpers.LitPaymentDelegationResource('*'), 'lit-payment-delegation')) {
      fail(where, 'does not grant lit-payment-delegation on lit-paymentdelegation://*');
    }
    const nbs = ((rc.attenuations['lit-paymentdelegation://*'] || {})['Auth/Auth']) || [];
    if (nbs.length !== 1) {
      fail(where, `expected one nb, got ${nbs.length}`);
      continue;
    }
    const nb = nbs[0];
    if (!same(Object.keys(nb).sort(), ['delegate_to', 'max_price', 'scopes'])) fail(where, `nb keys ${Object.keys(nb)}`);
    if (!Array.isArray(nb.delegate_to) || nb.delegate_to.length === 0 || !nb.delegate_to.every((a) => /^[0-9a-f]{40}$/.test(a))) {
      fail(where, `delegate_to ${JSON.stringify(nb.delegate_to)}`);
    }
    if (typeof nb.max_price !== 'string' || !/^[0-9a-f]+$/.test(nb.max_price)) fail(where, `max_price ${JSON.stringify(nb.max_price)}`);
    if (!Array.isArray(nb.scopes) || nb.scopes.length === 0 || !nb.scopes.every((s) => PD_SCOPES.includes(s)) || new Set(nb.scopes).size !== nb.scopes.length) {
      fail(where, `scopes ${JSON.stringify(nb.scopes)}`);
    }
    // The node's rule (the SDK does not check it): every session maxPrice <= the delegation's.
    if (typeof nb.max_price === 'string' && /^[0-9a-f]+$/.test(nb.max_price)) {
      const cap = BigInt('0x' + nb.max_price);
      if (prices.every((p) => p <= cap)) counts.maxPriceWithinDelegation += 1;
      else counts.maxPriceOverDelegation += 1;
    }
  }
}

(async () => {
  const file = process.argv[2];
  // --expect-each-to-fail: negative controls; exit 0 only when every set fails some check.
  const expectFail = process.argv.includes('--expect-each-to-fail');
  if (!file) throw new Error('usage: node rust-to-js.js sets.json [--expect-each-to-fail]');
  const input = JSON.parse(fs.readFileSync(file, 'utf8'));
  const sets = input.sets || input.cases;
  if (!sets || sets.length === 0) throw new Error('no sets to check');
  freezeClock(sets[0].now);
  const S = sdkParts();
  const missed = [];
  for (const set of sets) {
    const before = failures.length;
    try {
      await checkSet(S, set);
    } catch (e) {
      failures.push(`${set.id}: check threw: ${e && e.stack ? e.stack : e}`);
    }
    if (expectFail) {
      if (failures.length === before) missed.push(set.id);
      else say(`rust-to-js v8: control ${set.id} rejected: ${failures[before].split('\n')[0].slice(0, 160)}`);
    }
  }
  if (expectFail) {
    if (missed.length) {
      say(`rust-to-js v8: ${missed.length} negative controls NOT rejected: ${missed.join(', ')}`);
      process.exit(1);
    }
    say(`rust-to-js v8: all ${sets.length} negative controls rejected`);
    return;
  }
  say(`rust-to-js v8: ${JSON.stringify(counts)}`);
  if (failures.length) {
    say(`rust-to-js v8: ${failures.length} FAILURES`);
    for (const f of failures.slice(0, 50)) say('  ' + f);
    process.exit(1);
  }
  say('rust-to-js v8: every check passed');
})().catch((e) => {
  say('rust-to-js v8: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
