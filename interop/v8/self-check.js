// The JS half of the v8 interop on its own (no lit-session needed):
//   1. reproduce-vector.js: the driver reproduces tests/vectors/naga-v8-small.json byte for byte;
//   2. js-to-rust.js: the SDK mints the generated configurations (the file the Rust test uses);
//   3. rust-to-js.js on the SDK's own output: every check passes;
//   4. rust-to-js.js --expect-each-to-fail on negative controls made from that output (validly
//      re-signed where the point is not the signature): v7-style messages (no maxPrice, decimal
//      maxPrice, `resource` first, 24 h expiration, statement without the leading space), a
//      wrong split, a map out of price order, a capability not in the SDK's AuthSig form, a
//      payment delegation with a 0x max_price, a flipped signature bit.
//
// usage: node self-check.js [--count 100] [--seed 20261121] [--jobs 2] [--keep cases.json]
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { freezeClock, loadSdk, parseArgs, say } = require('./common');

const args = parseArgs(process.argv.slice(2));
const COUNT = String(args.count ?? 100);
const SEED = String(args.seed ?? 20261121);

function run(script, scriptArgs) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(__dirname, script), ...scriptArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} ${scriptArgs.join(' ')} failed (${r.status ?? r.signal})`);
  return ((performance.now() - t0) / 1000).toFixed(1);
}

/** Re-signs every entry of `map` after `edit(message, url)` (session key = the case's seed). */
function resign(S, c, map, edit) {
  const out = {};
  for (const [url, entry] of Object.entries(map)) {
    const m = edit(JSON.parse(entry.signedMessage), url) || JSON.parse(entry.signedMessage);
    const signedMessage = JSON.stringify(m);
    const sig = Buffer.from(S.ed25519.sign(Buffer.from(signedMessage, 'utf8'), Buffer.from(c.sessionSeed, 'hex'))).toString('hex');
    out[url] = { sig, derivedVia: entry.derivedVia, signedMessage, address: entry.address, algo: entry.algo };
  }
  return out;
}

async function signAuthSig(S, walletKey, authSig, signedMessage) {
  const sig = await S.accounts.privateKeyToAccount(walletKey).signMessage({ message: signedMessage });
  return { ...authSig, sig, signedMessage };
}

/** Replaces the session AuthSig's SIWE (`fix(text)`, re-signed by the wallet) and re-signs the entries. */
async function withSessionSiwe(S, c, map, fix, editMessage) {
  const first = JSON.parse(Object.values(map)[0].signedMessage);
  const old = first.capabilities[first.capabilities.length - 1];
  const authSig = await signAuthSig(S, c.walletKey, old, fix(old.signedMessage));
  return resign(S, c, map, (m) => {
    m.capabilities[m.capabilities.length - 1] = authSig;
    if (editMessage) editMessage(m);
    return m;
  });
}

async function controls(S, cases) {
  const out = [];
  const add = (name, c, sessionSigs, extra = {}) => out.push({ ...c, ...extra, id: `${name} (${c.id})`, sessionSigsJson: JSON.stringify(sessionSigs) });
  const mapOf = (c) => JSON.parse(c.sessionSigsJson);
  const find = (what, pred) => {
    const c = cases.find(pred);
    if (!c) throw new Error(`no generated configuration for the control "${what}"`);
    return c;
  };

  let c = cases[0];
  const flipped = mapOf(c);
  const e0 = Object.values(flipped)[0];
  e0.sig = (e0.sig[0] === '0' ? '1' : '0') + e0.sig.slice(1);
  add('flipped signature bit', c, flipped);

  c = cases[1];
  add('decimal maxPrice', c, resign(S, c, mapOf(c), (m) => ({ ...m, maxPrice: BigInt(m.maxPrice).toString() })));
  add('no maxPrice (v7 message)', c, resign(S, c, mapOf(c), ({ maxPrice, ...m }) => m));
  // On the last (dearest) node, so the map stays cheapest first: only the split is wrong.
  const last = Object.keys(mapOf(c)).pop();
  add('maxPrice + 1 on one node', c, resign(S, c, mapOf(c), (m, url) => (url === last ? { ...m, maxPrice: '0x' + (BigInt(m.maxPrice) + 1n).toString(16) } : m)));
  add('resource before resourcePrefix (v7 order)', c, resign(S, c, mapOf(c), (m) => ({
    ...m,
    resourceAbilityRequests: m.resourceAbilityRequests.map((q) => ({ resource: { resource: q.resource.resource, resourcePrefix: q.resource.resourcePrefix }, ability: q.ability })),
  })));

  c = find('map order', (x) => new Set(Object.values(mapOf(x)).map((e) => JSON.parse(e.signedMessage).maxPrice)).size > 1);
  add('map not cheapest first', c, Object.fromEntries(Object.entries(mapOf(c)).reverse()));

  c = find('statement default', (x) => x.statement === null && x.expiration !== null);
  add('statement without the leading space (v7 default)', c, await withSessionSiwe(S, c, mapOf(c), (t) => t.replace('\n\n I further', '\n\nI further')));

  c = find('expiration default', (x) => x.expiration === null);
  const first = JSON.parse(Object.values(mapOf(c))[0].signedMessage);
  const day = new Date(Date.parse(first.issuedAt) + 86400000).toISOString();
  add('expiration now + 24 h (v7 default)', c, await withSessionSiwe(S, c, mapOf(c), (t) => t.replace(`Expiration Time: ${first.expiration}`, `Expiration Time: ${day}`), (m) => {
    m.expiration = day;
  }));

  c = find('capability form', (x) => x.delegations.some((d) => d.fileForm !== 'exact'));
  const i = c.delegations.findIndex((d) => d.fileForm !== 'exact');
  add('capability as handed in, not in the SDK AuthSig form', c, resign(S, c, mapOf(c), (m) => {
    m.capabilities[i] = JSON.parse(c.delegations[i].capabilityFileJson);
    return m;
  }));

  c = find('payment delegation', (x) => x.delegations.length > 0);
  const d = c.delegations[0];
  const pd = JSON.parse(d.authSigJson);
  const urn = pd.signedMessage.match(/urn:recap:[A-Za-z0-9_-]+/)[0];
  const rc = S.helpers.RecapSessionCapabilityObject.decode(urn);
  const att = JSON.parse(JSON.stringify(rc.attenuations));
  const nb = att['lit-paymentdelegation://*']['Auth/Auth'][0];
  nb.max_price = '0x' + nb.max_price;
  const urn2 = new S.helpers.RecapSessionCapabilityObject(att, []).encodeAsSiweResource();
  const pd2 = await signAuthSig(S, d.walletKey, pd, pd.signedMessage.replace(urn, urn2));
  const delegations = c.delegations.map((x, k) => (k === 0 ? { ...x, authSigJson: JSON.stringify(pd2), capabilityFileJson: JSON.stringify(pd2) } : x));
  add('payment delegation max_price with 0x', c, resign(S, c, mapOf(c), (m) => {
    m.capabilities[0] = pd2;
    return m;
  }), { delegations });
  return out;
}

(async () => {
  // Timings use performance.now(): Date is frozen once the SDK is loaded below.
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lit-v8-self-check-'));
  const casesFile = args.keep ? path.resolve(args.keep) : path.join(dir, 'cases.json');
  say(`self-check v8: vector reproduced (${run('reproduce-vector.js', [])} s)`);
  const jobs = args.jobs ? ['--jobs', String(args.jobs)] : [];
  say(`self-check v8: ${COUNT} configurations minted by the SDK (${run('js-to-rust.js', ['--count', COUNT, '--seed', SEED, '--out', casesFile, ...jobs])} s)`);
  say(`self-check v8: the SDK's own output passes rust-to-js (${run('rust-to-js.js', [casesFile])} s)`);

  const { cases } = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  freezeClock(cases[0].now);
  const S = { ...loadSdk(), ed25519: require('@noble/curves/ed25519').ed25519 };
  const ctl = await controls(S, cases);
  const ctlFile = path.join(dir, 'controls.json');
  fs.writeFileSync(ctlFile, JSON.stringify({ sets: ctl }));
  say(`self-check v8: ${ctl.length} negative controls rejected (${run('rust-to-js.js', [ctlFile, '--expect-each-to-fail'])} s)`);
  fs.rmSync(dir, { recursive: true, force: true });
  say(`self-check v8: passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
})().catch((e) => {
  say('self-check v8: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
