#!/usr/bin/env node
// The `lit-session` v8 flags, implemented with the real Lit JS SDK v8 (offline, clock frozen at
// --now before the SDK loads): an executable statement of what each flag means in SDK terms, and
// a stand-in binary to check the interop harness itself (tests/interop_v8.rs runs it instead of
// lit-session when LIT_SESSION_V8_CLI points here).
//
//   reference-cli.js session-sigs --format v8 --wallet-key-file PATH --session-seed-file PATH
//       --node URL ... [--node-price URL=PRICE ...] [--threshold K] [--max-price CAP]
//       --resource PREFIX://ID=ABILITY ... --nonce 0x... [--expiration T] --now T
//       [--statement S] [--domain D] [--capability-auth-sig PATH ...]
//   reference-cli.js payment-delegation --wallet-key-file PATH --nonce N --delegatee ADDR ...
//       --max-price PRICE --scope SCOPE ... [--expiration T] [--now T] [--statement S] [--domain D]
//
// In SDK terms: a node's --node-price is its price in the pricing column used (absent = 0);
// --threshold is PricingContextSchema's threshold (absent = every node); --max-price is
// userMaxPrice (absent = the SDK default, 2^128 - 1); an absent --expiration is the SDK default
// (the SDK loads at --now, so now + 15 min). Prints the SDK's JSON.stringify on stdout; a refusal
// exits 2 with one line on stderr.
'use strict';

const fs = require('fs');
const { freezeClock, loadSdk, realLog, say } = require('./common');

function parse(argv) {
  const [cmd, ...rest] = argv;
  const multi = new Set(['node', 'node-price', 'resource', 'capability-auth-sig', 'delegatee', 'scope']);
  const flags = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith('--') || i + 1 >= rest.length) throw new Error(`bad argument ${rest[i]}`);
    const k = rest[i].slice(2);
    if (multi.has(k)) (flags[k] = flags[k] || []).push(rest[i + 1]);
    else flags[k] = rest[i + 1];
  }
  return { cmd, flags };
}

const splitLast = (text, sep) => {
  const i = text.lastIndexOf(sep);
  if (i < 0) throw new Error(`expected ${sep} in ${text}`);
  return [text.slice(0, i), text.slice(i + 1)];
};

async function sessionSigs(f) {
  if (f.format !== 'v8') throw new Error('only --format v8');
  const { mintCase } = require('./mint');
  const nodes = f.node || [];
  const prices = new Map((f['node-price'] || []).map((np) => splitLast(np, '=')));
  const resources = (f.resource || []).map((spec) => {
    const [res, ability] = splitLast(spec, '=');
    const [prefix, id] = res.split('://');
    return { prefix, id, ability };
  });
  const spec = {
    id: 'reference-cli',
    now: f.now,
    sessionSeed: fs.readFileSync(f['session-seed-file'], 'utf8').trim(),
    walletKey: fs.readFileSync(f['wallet-key-file'], 'utf8').trim(),
    nonce: f.nonce,
    expiration: f.expiration ?? null,
    statement: f.statement ?? null,
    domain: f.domain ?? null,
    resources,
    resourceForm: 'tuple',
    product: 'DECRYPTION',
    nodePrices: nodes.map((url) => ({ url, prices: [String(BigInt(prices.get(url) ?? 0)), '0', '0', '0'] })),
    sdkThreshold: f.threshold === undefined ? nodes.length : Number(f.threshold),
    userMaxPrice: f['max-price'] === undefined ? null : String(BigInt(f['max-price'])),
    delegations: [],
    capabilityFiles: (f['capability-auth-sig'] || []).map((p) => fs.readFileSync(p, 'utf8')),
  };
  const out = await mintCase(spec);
  if (out.sdkError) throw Object.assign(new Error(`${out.sdkError.name}: ${out.sdkError.message.split('\n')[0]}`), { exit: 2 });
  return out.sessionSigsJson;
}

async function paymentDelegation(f) {
  const sdk = loadSdk();
  const params = {
    signer: sdk.accounts.privateKeyToAccount(fs.readFileSync(f['wallet-key-file'], 'utf8').trim()),
    delegateeAddresses: f.delegatee,
    maxPrice: f['max-price'],
    scopes: f.scope,
    nonce: f.nonce,
  };
  for (const [flag, key] of [['expiration', 'expiration'], ['statement', 'statement'], ['domain', 'domain']]) {
    if (f[flag] !== undefined) params[key] = f[flag];
  }
  try {
    return JSON.stringify(await sdk.helpers.createPaymentDelegationAuthSig(params));
  } catch (e) {
    throw Object.assign(new Error(String(e.message).split('\n')[0]), { exit: 2 });
  }
}

(async () => {
  const { cmd, flags } = parse(process.argv.slice(2));
  freezeClock(flags.now ?? new Date().toISOString());
  loadSdk();
  if (cmd === 'session-sigs') realLog(await sessionSigs(flags));
  else if (cmd === 'payment-delegation') realLog(await paymentDelegation(flags));
  else throw new Error(`unknown command ${cmd}`);
})().catch((e) => {
  say(`reference-cli: error: ${e && e.message ? e.message : e}`);
  process.exit(e && e.exit ? e.exit : 2);
});
