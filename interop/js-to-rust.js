// JS → Rust: the real Lit JS SDK 7.4.0 mints session sigs for generated configurations with its
// own getSessionSigs code (offline, frozen clock). Writes the configurations and the SDK's exact
// output (JSON.stringify) for the Rust side to reproduce byte for byte.
//
// usage: node js-to-rust.js --count 200 --seed 1 --out cases.json
'use strict';

const fs = require('fs');
const { rng, primedClient, prime, say, networkAttempts } = require('./common');
const FakeTimers = require('@sinonjs/fake-timers');
const { ethers } = require('ethers');
const nacl = require('tweetnacl');
const {
  LitPKPResource,
  LitActionResource,
  LitAccessControlConditionResource,
  LitRLIResource,
  createSiweMessageWithRecaps,
  generateAuthSig,
} = require('@lit-protocol/auth-helpers');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const COUNT = Number(args.count ?? 200);
const SEED = Number(args.seed ?? 1);
const OUT = args.out ?? 'cases.json';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function resourceRequest(r) {
  const kind = r.int(0, 4);
  switch (kind) {
    case 0: {
      const id = r.pick(['*', r.hex(64), '0x' + r.hex(r.int(1, 64)), String(r.int(1, 99999)), 'pkp-' + r.hex(6)]);
      return { prefix: 'lit-pkp', id, ability: 'pkp-signing', make: () => new LitPKPResource(id) };
    }
    case 1: {
      const id = r.pick(['*', 'Qm' + Array.from({ length: 44 }, () => r.pick([...BASE58])).join('')]);
      return { prefix: 'lit-litaction', id, ability: 'lit-action-execution', make: () => new LitActionResource(id) };
    }
    case 2:
    case 3: {
      const id = r.pick(['*', `${r.hex(64)}/${r.hex(64)}`, r.hex(64)]);
      const ability = kind === 2 ? 'access-control-condition-decryption' : 'access-control-condition-signing';
      return { prefix: 'lit-accesscontrolcondition', id, ability, make: () => new LitAccessControlConditionResource(id) };
    }
    default: {
      const id = r.pick(['*', String(r.int(1, 10 ** 9))]);
      return { prefix: 'lit-ratelimitincrease', id, ability: 'rate-limit-increase-auth', make: () => new LitRLIResource(id) };
    }
  }
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

async function mintOne(r, id) {
  const now = randomIso(r);
  const clock = FakeTimers.install({ now: Date.parse(now), toFake: ['Date'] });
  try {
    const nodeCount = r.chance(0.15) ? r.int(60, 100) : r.int(1, 30);
    const nodes = [...new Set(Array.from({ length: nodeCount }, () => nodeUrl(r)))];
    const reqs = Array.from({ length: r.int(1, 5) }, () => resourceRequest(r));
    const sessionSeed = r.hex(64);
    const kp = nacl.sign.keyPair.fromSeed(Buffer.from(sessionSeed, 'hex'));
    const sessionKey = { publicKey: Buffer.from(kp.publicKey).toString('hex'), secretKey: Buffer.from(kp.secretKey).toString('hex') };
    const walletKey = '0x' + r.hex(64);
    const wallet = new ethers.Wallet(walletKey);
    const nonce = '0x' + r.hex(64);
    const expiration = r.chance(0.5) ? new Date(Date.parse(now) + r.int(60, 30 * 86400) * 1000).toISOString() : undefined;
    const domain = r.chance(0.25) ? r.pick(['app.example.com', 'example.org:8443', 'localhost:3000']) : undefined;
    const statement = r.chance(0.25) ? r.pick(['Sign in to Example.', "Welcome! Terms: https://example.com/tos?x=1&y=2 (v1.0) - it's OK."]) : undefined;
    const chainId = r.chance(0.25) ? r.pick([1, 137, 175188]) : undefined;
    const client = primedClient(nodes, nonce);

    const capabilityAuthSigs = [];
    const delegations = [];
    for (let i = r.chance(0.3) ? r.int(1, 2) : 0; i > 0; i -= 1) {
      const ownerKey = '0x' + r.hex(64);
      const d = {
        ownerKey,
        capacityTokenId: r.chance(0.7) ? String(r.int(1, 10 ** 6)) : undefined,
        delegateeAddresses: r.chance(0.7) ? Array.from({ length: r.int(1, 3) }, () => ethers.Wallet.createRandom().address) : undefined,
        uses: r.chance(0.7) ? String(r.int(1, 1000)) : undefined,
      };
      const { capacityDelegationAuthSig } = await client.createCapacityDelegationAuthSig({
        dAppOwnerWallet: new ethers.Wallet(ownerKey),
        capacityTokenId: d.capacityTokenId,
        delegateeAddresses: d.delegateeAddresses,
        uses: d.uses,
      });
      delegations.push({ ...d, authSig: capacityDelegationAuthSig });
      capabilityAuthSigs.push(capacityDelegationAuthSig);
    }

    prime(client, nodes, nonce);
    const sessionSigs = await client.getSessionSigs({
      sessionKey,
      chain: 'ethereum',
      resourceAbilityRequests: reqs.map((q) => ({ resource: q.make(), ability: q.ability })),
      expiration,
      capabilityAuthSigs: capabilityAuthSigs.length ? capabilityAuthSigs : undefined,
      authNeededCallback: async (p) =>
        generateAuthSig({
          signer: wallet,
          toSign: await createSiweMessageWithRecaps({
            uri: p.uri,
            expiration: p.expiration,
            resources: p.resourceAbilityRequests,
            walletAddress: wallet.address,
            nonce: p.nonce,
            litNodeClient: client,
            domain,
            statement,
            chainId,
          }),
        }),
    });
    return {
      id,
      now,
      sessionSeed,
      walletKey,
      nonce,
      expiration,
      domain,
      statement,
      chainId,
      nodes,
      resources: reqs.map(({ prefix, id: rid, ability }) => ({ prefix, id: rid, ability })),
      delegations,
      sessionSigsJson: JSON.stringify(sessionSigs),
    };
  } finally {
    clock.uninstall();
  }
}

(async () => {
  const r = rng(SEED);
  const cases = [];
  const started = Date.now();
  for (let i = 0; i < COUNT; i += 1) {
    cases.push(await mintOne(r, `js-${SEED}-${i}`));
    if ((i + 1) % 25 === 0) say(`js-to-rust: ${i + 1}/${COUNT} configurations minted by the SDK (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  if (networkAttempts() > 0) throw new Error(`the SDK tried the network ${networkAttempts()} times`);
  fs.writeFileSync(OUT, JSON.stringify({ generator: '@lit-protocol/lit-node-client-nodejs@7.4.0 getSessionSigs', seed: SEED, cases }));
  const nodes = cases.reduce((n, c) => n + c.nodes.length, 0);
  say(`js-to-rust: wrote ${cases.length} configurations (${nodes} session sigs) to ${OUT} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
})().catch((e) => {
  say('js-to-rust: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
