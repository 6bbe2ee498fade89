// The JS SDK's own getSessionSigs, timed offline (primed client, EOA wallet callback), for the
// speed report. Prints {"<N>": {"medianMs": .., "runs": ..}} on stdout.
//
// usage: node bench-js.js --nodes 1,10,30,100 --runs 7
'use strict';

const { primedClient, prime, realLog } = require('./common');
const { ethers } = require('ethers');
const nacl = require('tweetnacl');
const { LitPKPResource, LitActionResource, createSiweMessageWithRecaps, generateAuthSig } = require('@lit-protocol/auth-helpers');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const NODES = (args.nodes ?? '1,10,30,100').split(',').map(Number);
const RUNS = Number(args.runs ?? 7);

(async () => {
  const wallet = new ethers.Wallet('0x' + '33'.repeat(32));
  const kp = nacl.sign.keyPair.fromSeed(Buffer.alloc(32, 0x42));
  const sessionKey = { publicKey: Buffer.from(kp.publicKey).toString('hex'), secretKey: Buffer.from(kp.secretKey).toString('hex') };
  const nonce = '0x' + '3a'.repeat(32);
  const out = {};
  for (const n of NODES) {
    const nodes = Array.from({ length: n }, (_, i) => `https://10.0.${i >> 8}.${i & 255}:443`);
    const client = primedClient(nodes, nonce);
    const times = [];
    for (let run = 0; run < RUNS + 1; run += 1) {
      prime(client, nodes, nonce);
      const t0 = process.hrtime.bigint();
      await client.getSessionSigs({
        sessionKey,
        chain: 'ethereum',
        resourceAbilityRequests: [
          { resource: new LitPKPResource('*'), ability: 'pkp-signing' },
          { resource: new LitActionResource('*'), ability: 'lit-action-execution' },
        ],
        authNeededCallback: async (p) =>
          generateAuthSig({
            signer: wallet,
            toSign: await createSiweMessageWithRecaps({
              uri: p.uri, expiration: p.expiration, resources: p.resourceAbilityRequests,
              walletAddress: wallet.address, nonce: p.nonce, litNodeClient: client,
            }),
          }),
      });
      // The first run warms the JIT and module caches.
      if (run > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    out[n] = { medianMs: times[Math.floor(times.length / 2)], runs: times.length };
  }
  realLog(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write(`bench-js: FAILED: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
