// The Lit JS SDK v8's own session minting, timed offline, for the speed report: per run
// createAuthManager(...).createEoaAuthContext (SIWE + ReCap + the wallet's EIP-191 AuthSig; the
// storage plugin caches no AuthSig, so the wallet signs every run) + PricingContextSchema.parse +
// issueSessionFromContext (N V2 messages, N ed25519 signatures). Every node is priced (distinct
// prices), threshold = N, default user maximum. Prints {"<N>": {"medianMs": .., "runs": ..}}.
//
// usage: node bench-js.js --nodes 30,100 --runs 7
'use strict';

const { freezeClock, loadSdk, parseArgs, realLog } = require('./common');

const args = parseArgs(process.argv.slice(2));
const NODES = String(args.nodes ?? '30,100').split(',').map(Number);
const RUNS = Number(args.runs ?? 7);

(async () => {
  // Frozen Date (timers and hrtime run): the SDK's default expiration stays valid.
  freezeClock('2026-01-01T00:00:00.000Z');
  const { auth, networks, accounts } = loadSdk();
  const { ed25519 } = require('@noble/curves/ed25519');
  const seed = Buffer.alloc(32, 0x42);
  const keyPair = { publicKey: Buffer.from(ed25519.getPublicKey(seed)).toString('hex'), secretKey: seed.toString('hex') };
  const storage = {
    config: {},
    read: async () => ({ sessionKey: { keyPair, expiresAt: '2026-01-01T00:15:00.000Z' }, authMethodType: 1 }),
    write: async () => {},
    readInnerDelegationAuthSig: async () => null,
    writeInnerDelegationAuthSig: async () => {},
    readPKPTokens: async () => null,
    writePKPTokens: async () => {},
  };
  const account = accounts.privateKeyToAccount('0x' + '33'.repeat(32));
  const litClient = { getContext: async () => ({ latestBlockhash: '0x' + '3a'.repeat(32) }) };
  const authManager = auth.createAuthManager({ storage });
  const out = {};
  for (const n of NODES) {
    const nodePrices = Array.from({ length: n }, (_, i) => ({
      url: `https://10.0.${i >> 8}.${i & 255}:443`,
      prices: [1n, BigInt(1e12) * BigInt(n - i), 1n, 1n],
    }));
    const times = [];
    for (let run = 0; run < RUNS + 1; run += 1) {
      const t0 = process.hrtime.bigint();
      const authContext = await authManager.createEoaAuthContext({
        config: { account },
        authConfig: { resources: [['pkp-signing', '*'], ['lit-action-execution', '*']] },
        litClient,
      });
      const pricingContext = networks.PricingContextSchema.parse({ product: 'SIGN', nodePrices, threshold: n });
      const sigs = await networks.issueSessionFromContext({ pricingContext, authContext });
      // The first run warms the JIT and module caches.
      if (run > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (Object.keys(sigs).length !== n) throw new Error(`expected ${n} session sigs`);
    }
    times.sort((a, b) => a - b);
    out[n] = { medianMs: times[Math.floor(times.length / 2)], runs: times.length };
  }
  realLog(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write(`bench-js v8: FAILED: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
