// JS → Rust, v8 (Naga): the real Lit JS SDK v8 mints session sigs for generated configurations
// with its own session code (mint.js: createEoaAuthContext + PricingContextSchema +
// issueSessionFromContext; payment delegations with createPaymentDelegationAuthSig), offline
// and under a frozen clock. Writes every configuration as `lit-session` inputs plus the SDK's
// exact output, for the Rust side to reproduce byte for byte.
//
// usage: node js-to-rust.js --count 100 --seed 1 --out cases.json [--jobs 2] [--process-per-case]
//
// Clocks: the SDK fixes its default expiration (now + 15 min) when its modules load, so the clock
// is frozen before loading. Configurations are minted in child processes (mint.js), several in
// parallel: every configuration that leaves the expiration to the SDK default starts a process of
// its own, frozen at that configuration's `now`; the configurations with an explicit expiration
// are spread over those processes, which move the frozen clock to each one's `now` before
// minting it (nothing else the SDK does depends on the load time). `--process-per-case` gives
// every configuration a fresh process frozen at its own `now` instead (slower; same output).
//
// Besides the `count` minted configurations, `errorCases` holds configurations the SDK refuses
// (a user maximum below the selected nodes' total price: MaxPriceTooLow).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { rng, parseArgs, say } = require('./common');
const { getAddress } = require('ethers').utils;

const args = parseArgs(process.argv.slice(2));
const COUNT = Number(args.count ?? 100);
const SEED = Number(args.seed ?? 1);
const OUT = args.out ?? 'cases.json';
const JOBS = Math.max(1, Number(args.jobs ?? Math.min(4, os.availableParallelism ? os.availableParallelism() : os.cpus().length)));
const PER_CASE = Boolean(args['process-per-case']);

const U128_MAX = (1n << 128n) - 1n;
const U256_MAX = (1n << 256n) - 1n;
const PRODUCTS = ['DECRYPTION', 'SIGN', 'LIT_ACTION', 'SIGN_SESSION_KEY'];
const SCOPES = ['encryption_sign', 'lit_action', 'pkp_sign', 'sign_session_key'];
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const STATEMENTS = ['Sign in to Example.', "Welcome! Terms: https://example.com/tos?x=1&y=2 (v1.0) - it's OK.", 'Lit session for app #42'];
const DOMAINS = ['app.example.com', 'example.org:8443', 'localhost:3000', 'app.example.com/login'];

/** One resource request over every prefix and ability v8 accepts. */
function request(r) {
  switch (r.int(0, 4)) {
    case 0:
      return { prefix: 'lit-pkp', ability: 'pkp-signing', id: r.pick(['*', r.hex(64), '0x' + r.hex(r.int(1, 64)), String(r.int(1, 99999)), 'pkp-' + r.hex(6)]) };
    case 1:
      return {
        prefix: 'lit-litaction',
        ability: 'lit-action-execution',
        id: r.pick(['*', 'Qm' + Array.from({ length: 44 }, () => r.pick([...BASE58])).join('')]),
      };
    case 2:
    case 3:
      return {
        prefix: 'lit-accesscontrolcondition',
        ability: r.pick(['access-control-condition-decryption', 'access-control-condition-signing']),
        id: r.pick(['*', `${r.hex(64)}/${r.hex(64)}`, r.hex(64)]),
      };
    default:
      return { prefix: 'lit-paymentdelegation', ability: 'lit-payment-delegation', id: r.pick(['*', String(r.int(1, 10 ** 6)), r.hex(40)]) };
  }
}

function requests(r) {
  const out = Array.from({ length: r.int(1, 5) }, () => request(r));
  if (out.length > 1 && r.chance(0.15)) {
    // The same resource twice: an exact duplicate, or (access control) the other ability.
    const again = { ...r.pick(out) };
    if (again.prefix === 'lit-accesscontrolcondition' && r.chance(0.5)) {
      again.ability = again.ability.endsWith('decryption') ? 'access-control-condition-signing' : 'access-control-condition-decryption';
    }
    out.splice(r.int(0, out.length), 0, again);
  }
  return out;
}

function nodeUrl(r) {
  const port = r.pick([443, 7470, 7471, 8473, r.int(1024, 65535)]);
  const scheme = port === 443 ? 'https://' : r.pick(['http://', 'https://']);
  const host = r.chance(0.1) ? 'localhost' : `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
  return `${scheme}${host}:${port}`;
}

function randomIso(r) {
  // 2023-01-01 .. 2027-01-01, millisecond precision.
  return new Date(Date.UTC(2023, 0, 1) + Math.floor(r.next() * 4 * 365 * 86400000)).toISOString();
}

const plusMs = (iso, ms) => new Date(Date.parse(iso) + ms).toISOString();

/** A price as the CLI takes it: decimal or 0x-hex. */
const priceArg = (r, v) => (r.chance(0.5) ? v.toString() : '0x' + v.toString(16));

/** Per-node prices [DECRYPTION, SIGN, LIT_ACTION, SIGN_SESSION_KEY] in one of several regimes. */
function pricesFor(r, mode, pool) {
  const one = () => {
    switch (mode) {
      case 'zero':
        return 0n;
      case 'ties':
        return r.pick(pool);
      case 'wei':
        return BigInt(r.int(1, 999999)) * 10n ** BigInt(r.int(6, 13));
      default:
        return r.bigBits(r.int(1, 120));
    }
  };
  return [one(), one(), one(), one()];
}

/** The SDK's selection, to choose interesting user maxima: stable sort by price, cheapest `k`. */
function selectedTotal(nodePrices, col, k) {
  const sorted = [...nodePrices].sort((a, b) => (a.prices[col] === b.prices[col] ? 0 : a.prices[col] < b.prices[col] ? -1 : 1));
  return sorted.slice(0, k).reduce((s, n) => s + n.prices[col], 0n);
}

function addressForm(r, addr) {
  const lower = addr.toLowerCase();
  return r.pick([getAddress(lower), lower, lower.slice(2)]);
}

function delegationMaxPrice(r) {
  const v = r.chance(0.05) ? 0n : r.bigBits(r.int(1, 128));
  const hex = v.toString(16);
  return r.pick([v.toString(), '0x' + hex, '0x00' + hex, '0x' + hex.toUpperCase()]);
}

function paymentDelegation(r, sessionNow, sessionNonce) {
  const now = plusMs(sessionNow, -r.int(0, 5 * 86400) * 1000 - r.int(0, 999));
  const d = {
    now,
    walletKey: '0x' + r.hex(64),
    nonce: r.chance(0.3) ? sessionNonce : '0x' + r.hex(64),
    delegatees: Array.from({ length: r.int(1, 3) }, () => addressForm(r, '0x' + r.hex(40))),
    maxPrice: delegationMaxPrice(r),
    scopes: Array.from({ length: r.int(1, 4) }, () => r.pick(SCOPES)),
    // Unset: the SDK's now + 7 days (at least 2 days after the session's `now`).
    expiration: r.chance(0.5) ? null : plusMs(sessionNow, r.int(60, 30 * 86400) * 1000),
    statement: r.chance(0.5) ? null : r.pick(['', ...STATEMENTS]),
    // No 'host/path' domain here: createPaymentDelegationAuthSig does not strip the path (the
    // session flow does), and siwe cannot parse the message it signs then.
    domain: r.chance(0.6) ? null : r.pick(DOMAINS.filter((x) => !x.includes('/'))),
    // The AuthSig as the user hands it to `--capability-auth-sig`: the SDK's own JSON, or the same
    // keys in another order, or with an extra key (the SDK rebuilds it with its AuthSig schema).
    fileForm: r.chance(0.7) ? 'exact' : r.chance(0.65) ? 'shuffled' : 'extra-key',
  };
  if (r.chance(0.15)) d.delegatees.push(d.delegatees[0]);
  return d;
}

/** One configuration. `tooLow` makes the user maximum one below the selected total. */
function configuration(r, id, index, tooLow) {
  const now = randomIso(r);
  // The first configurations pin the corners: 1 node; 100 nodes; every price 0 and a user
  // maximum of 0 (every maxPrice "0x0"); every node the same price and a threshold below the
  // node count (ties keep the given order); the largest user maximum (2^256 - 1).
  const nodeCount = index === 0 ? 1 : index === 1 ? 100 : r.chance(0.15) ? r.int(60, 100) : r.int(1, 30);
  const nodes = [];
  while (nodes.length < nodeCount) {
    const u = nodeUrl(r);
    if (!nodes.includes(u)) nodes.push(u);
  }
  let mode = r.pick(['zero', 'ties', 'ties', 'wei', 'wei', 'big']);
  let pool = Array.from({ length: r.int(1, 4) }, () => BigInt(r.int(0, 1000)));
  if (index === 2) mode = 'zero';
  if (index === 3) [mode, pool] = ['ties', [pool[0]]];
  if (index === 4) mode = 'big';
  const nodePrices = nodes.map((url) => ({ url, prices: pricesFor(r, mode, pool) }));
  const product = r.pick(PRODUCTS);
  const col = PRODUCTS.indexOf(product);
  let threshold = r.chance(0.4) ? null : r.int(1, nodes.length);
  if (index === 3) threshold = Math.max(1, nodes.length - 1);
  const k = threshold ?? nodes.length;
  const total = selectedTotal(nodePrices, col, k);
  let userMaxPrice = null;
  if (tooLow) {
    userMaxPrice = total - 1n;
  } else if (index === 2) {
    userMaxPrice = 0n;
  } else if (index === 4) {
    userMaxPrice = U256_MAX;
  } else if (r.chance(0.5)) {
    userMaxPrice = r.pick([
      total,
      total + BigInt(r.int(1, 10 * k)),
      total + r.bigBits(r.int(8, 200)),
      U128_MAX > total ? U128_MAX : total,
      U256_MAX,
    ]);
  }
  const sessionNonce = '0x' + r.hex(64);
  const expiration = r.chance(0.35) ? null : plusMs(now, r.int(60, 30 * 86400) * 1000);
  const c = {
    id,
    now,
    sessionSeed: r.hex(64),
    walletKey: '0x' + r.hex(64),
    nonce: sessionNonce,
    expiration,
    statement: r.chance(0.6) ? null : r.pick(['', ...STATEMENTS]),
    domain: r.chance(0.6) ? null : r.pick(DOMAINS),
    resources: requests(r),
    resourceForm: r.pick(['tuple', 'tuple', 'tuple', 'object', 'class']),
    product,
    nodes,
    nodePrices: nodePrices.map((n) => ({ url: n.url, prices: n.prices.map(String) })),
    // The CLI gets one price per node, the one for the product at hand; a node priced 0 may
    // leave out --node-price.
    nodePriceArgs: nodePrices.map((n) => (n.prices[col] === 0n && r.chance(0.5) ? null : priceArg(r, n.prices[col]))),
    threshold,
    sdkThreshold: k,
    userMaxPrice: userMaxPrice === null ? null : userMaxPrice.toString(),
    maxPriceArg: userMaxPrice === null ? null : priceArg(r, userMaxPrice),
    delegations: [],
  };
  for (let i = r.chance(0.3) ? r.int(1, 2) : 0; i > 0; i -= 1) c.delegations.push(paymentDelegation(r, now, sessionNonce));
  return c;
}

const RECAP_ABILITY = {
  'pkp-signing': 'Threshold/Signing',
  'lit-action-execution': 'Threshold/Execution',
  'access-control-condition-decryption': 'Threshold/Decryption',
  'access-control-condition-signing': 'Threshold/Signing',
  'lit-payment-delegation': 'Auth/Auth',
};

/** Our own model of the SDK's ReCap check, to cross-check the SDK's `granted` flags: the key is
 * prefix://id (PKP ids without 0x and left-padded to 64 hex when hex); a `prefix://*` key, when
 * present, is the only one looked at for that prefix. */
function modelGranted(resources) {
  const key = (r) => {
    let id = r.id;
    if (r.prefix === 'lit-pkp') {
      id = id.startsWith('0x') ? id.slice(2) : id;
      if (id !== '*' && /^[0-9A-Fa-f]+$/.test(id)) id = id.padStart(64, '0');
    }
    return `${r.prefix}://${id}`;
  };
  const att = {};
  for (const r of resources) (att[key(r)] = att[key(r)] || new Set()).add(RECAP_ABILITY[r.ability]);
  return resources.map((r) => {
    const k = att[`${r.prefix}://*`] ? `${r.prefix}://*` : key(r);
    return Boolean(att[k] && att[k].has(RECAP_ABILITY[r.ability]));
  });
}

function runBatch(specs, dir, n) {
  const inFile = path.join(dir, `batch-${n}.json`);
  const outFile = path.join(dir, `out-${n}.json`);
  fs.writeFileSync(inFile, JSON.stringify({ specs }));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'mint.js'), inFile, outFile], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`mint.js batch ${n} exited with ${code}`));
      resolve(JSON.parse(fs.readFileSync(outFile, 'utf8')).results);
    });
  });
}

/** Batches: each default-expiration spec heads one (loaded at its `now`); the rest are spread. */
function batches(specs) {
  if (PER_CASE) return specs.map((s) => [{ ...s, loadAt: s.now }]);
  const heads = specs.filter((s) => s.expiration == null).map((s) => [{ ...s, loadAt: s.now }]);
  const rest = specs.filter((s) => s.expiration != null);
  if (heads.length === 0) heads.push([]);
  rest.forEach((s, i) => heads[i % heads.length].push(s));
  return heads.map((b) => b.map((s) => ({ ...s, loadAt: b[0].loadAt || b[0].now })));
}

(async () => {
  const started = Date.now();
  const r = rng(SEED);
  const specs = [];
  for (let i = 0; i < COUNT; i += 1) specs.push(configuration(r, `v8-${SEED}-${i}`, i, false));
  const errorSpecs = [];
  for (let i = 0; errorSpecs.length < Math.ceil(COUNT / 20); i += 1) {
    const c = configuration(r, `v8-${SEED}-err-${i}`, -1, true);
    if (BigInt(c.userMaxPrice) >= 0n) errorSpecs.push(c);
  }
  const all = [...specs, ...errorSpecs];
  const groups = batches(all);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lit-v8-interop-'));
  const results = new Map();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < groups.length) {
      const n = next;
      next += 1;
      for (const res of await runBatch(groups[n], dir, n)) results.set(res.id, res);
      done += groups[n].length;
      if (n % 10 === 9) say(`js-to-rust v8: ${done}/${all.length} configurations minted (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOBS, groups.length) }, worker));
  fs.rmSync(dir, { recursive: true, force: true });

  const strip = ({ loadAt, sdkLoadedAt, storageCalls, ...rest }) => rest;
  const cases = specs.map((s) => results.get(s.id));
  const errorCases = errorSpecs.map((s) => results.get(s.id));
  const failed = cases.filter((c) => c.sdkError);
  if (failed.length) throw new Error(`the SDK refused ${failed.length} configurations, e.g. ${failed[0].id}: ${JSON.stringify(failed[0].sdkError)}`);
  for (const c of cases) {
    const model = modelGranted(c.resources);
    if (c.resources.some((q, i) => q.granted !== model[i])) throw new Error(`${c.id}: the SDK's ReCap check disagrees with the model`);
  }
  const accepted = errorCases.filter((c) => !c.sdkError || c.sdkError.name !== 'MaxPriceTooLow');
  if (accepted.length) throw new Error(`the SDK did not refuse ${accepted[0].id} with MaxPriceTooLow`);
  const lock = JSON.parse(fs.readFileSync(path.join(__dirname, 'package-lock.json'), 'utf8')).packages;
  const version = (p) => (lock[`node_modules/${p}`] || {}).version;
  const generator = {
    sdk: Object.fromEntries(
      ['@lit-protocol/auth', '@lit-protocol/networks', '@lit-protocol/auth-helpers', '@lit-protocol/schemas', '@lit-protocol/constants', 'siwe', 'siwe-recap', 'viem', 'zod'].map((p) => [p, version(p)])
    ),
    node: process.version,
    batches: groups.length,
    processPerCase: PER_CASE,
  };
  fs.writeFileSync(OUT, JSON.stringify({ generator, seed: SEED, cases: cases.map(strip), errorCases: errorCases.map(strip) }));
  const sigs = cases.reduce((n, c) => n + Object.keys(JSON.parse(c.sessionSigsJson)).length, 0);
  const dels = cases.reduce((n, c) => n + c.delegations.length, 0);
  const shadowed = cases.reduce((n, c) => n + c.resources.filter((q) => !q.granted).length, 0);
  say(
    `js-to-rust v8: wrote ${cases.length} configurations (${sigs} session sigs, ${dels} payment delegations) and ` +
      `${errorCases.length} MaxPriceTooLow cases; ${shadowed} requests a wildcard shadows to ${OUT} in ${((Date.now() - started) / 1000).toFixed(1)} s (${groups.length} processes, ${JOBS} at a time)`
  );
})().catch((e) => {
  say('js-to-rust v8: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
