// Mints one configuration with the real Lit JS SDK v8's own session code, offline:
//
//   payment delegations: @lit-protocol/auth-helpers createPaymentDelegationAuthSig, each at its
//     own clock (`delegation.now`);
//   session: @lit-protocol/auth createAuthManager({storage}).createEoaAuthContext({config:
//     {account}, authConfig, litClient}) with a stub litClient whose getContext() returns
//     {latestBlockhash: nonce} and a storage plugin pre-seeded with the session key (v8 keeps the
//     32-byte ed25519 seed as `secretKey`), then @lit-protocol/networks
//     PricingContextSchema.parse({product, userMaxPrice, nodePrices, threshold}) and
//     issueSessionFromContext({pricingContext, authContext}).
//
// As a script it mints a batch in one process: node mint.js batch.json out.json. The clock is
// frozen at `loadAt` (the first case's `now`) before the SDK is loaded; a case that leaves the
// expiration to the SDK default must have `now === loadAt` (the default is fixed at load time).
'use strict';

const fs = require('fs');
const { freezeClock, loadSdk, say, networkAttempts } = require('./common');

const PRODUCTS = ['DECRYPTION', 'SIGN', 'LIT_ACTION', 'SIGN_SESSION_KEY'];
const ETH_WALLET_AUTH_METHOD = 1; // AUTH_METHOD_TYPE.EthWallet

/** The AuthSig JSON text as a user would hand it to the CLI (`fileForm` varies the key order). */
function capabilityFileJson(authSig, fileForm) {
  if (fileForm === 'shuffled') {
    const { sig, derivedVia, signedMessage, address, ...rest } = authSig;
    return JSON.stringify({ address, signedMessage, ...rest, derivedVia, sig });
  }
  if (fileForm === 'extra-key') {
    const { sig, derivedVia, signedMessage, address, ...rest } = authSig;
    return JSON.stringify({ note: 'made for interop', address, sig, derivedVia, ...rest, signedMessage });
  }
  return JSON.stringify(authSig);
}

function resourceInput(sdk, r, form) {
  if (form === 'tuple') return [r.ability, r.id];
  if (form === 'object') return { ability: r.ability, resource: r.id };
  const Cls = {
    'lit-pkp': sdk.helpers.LitPKPResource,
    'lit-litaction': sdk.helpers.LitActionResource,
    'lit-accesscontrolcondition': sdk.helpers.LitAccessControlConditionResource,
    'lit-paymentdelegation': sdk.helpers.LitPaymentDelegationResource,
  }[r.prefix];
  if (!Cls) throw new Error(`no v8 resource class for ${r.prefix}`);
  return { resource: new Cls(r.id), ability: r.ability };
}

function describeError(e) {
  return { name: (e && (e.name || (e.constructor && e.constructor.name))) || 'Error', message: String((e && e.message) || e) };
}

/** Mints `spec`; returns the spec plus the SDK's exact outputs (or `sdkError`). */
async function mintCase(spec) {
  const sdk = loadSdk();
  if (spec.expiration == null && sdk.loadedAt !== spec.now) {
    throw new Error(`${spec.id}: default expiration needs the SDK loaded at ${spec.now} (loaded at ${sdk.loadedAt})`);
  }
  const out = { ...spec, delegations: [] };
  try {
    for (const d of spec.delegations || []) {
      freezeClock(d.now);
      const signer = sdk.accounts.privateKeyToAccount(d.walletKey);
      const params = { signer, delegateeAddresses: d.delegatees, maxPrice: d.maxPrice, scopes: d.scopes, nonce: d.nonce };
      if (d.expiration != null) params.expiration = d.expiration;
      if (d.statement != null) params.statement = d.statement;
      if (d.domain != null) params.domain = d.domain;
      const authSig = await sdk.helpers.createPaymentDelegationAuthSig(params);
      out.delegations.push({
        ...d,
        authSigJson: JSON.stringify(authSig),
        capabilityFileJson: capabilityFileJson(authSig, d.fileForm),
      });
    }

    freezeClock(spec.now);
    const account = sdk.accounts.privateKeyToAccount(spec.walletKey);
    const publicKey = Buffer.from(require('@noble/curves/ed25519').ed25519.getPublicKey(Buffer.from(spec.sessionSeed, 'hex'))).toString('hex');
    const storageCalls = [];
    const storage = {
      config: {},
      read: async () => {
        storageCalls.push('read');
        return {
          sessionKey: {
            keyPair: { publicKey, secretKey: spec.sessionSeed },
            expiresAt: new Date(Date.parse(spec.now) + 15 * 60 * 1000).toISOString(),
          },
          authMethodType: ETH_WALLET_AUTH_METHOD,
        };
      },
      write: async () => storageCalls.push('write'),
      readInnerDelegationAuthSig: async () => {
        storageCalls.push('readInnerDelegationAuthSig');
        return null;
      },
      writeInnerDelegationAuthSig: async () => storageCalls.push('writeInnerDelegationAuthSig'),
      readPKPTokens: async () => null,
      writePKPTokens: async () => {},
    };
    const litClient = { getContext: async () => ({ latestBlockhash: spec.nonce }) };
    const authConfig = { resources: spec.resources.map((r) => resourceInput(sdk, r, spec.resourceForm)) };
    if (spec.expiration != null) authConfig.expiration = spec.expiration;
    if (spec.statement != null) authConfig.statement = spec.statement;
    if (spec.domain != null) authConfig.domain = spec.domain;
    // Capability AuthSigs as the user hands them in: the delegations made above, then any
    // AuthSig JSON texts made elsewhere (`capabilityFiles`).
    const handed = [...out.delegations.map((d) => d.capabilityFileJson), ...(spec.capabilityFiles || [])];
    if (handed.length) authConfig.capabilityAuthSigs = handed.map((text) => JSON.parse(text));

    const authManager = sdk.auth.createAuthManager({ storage });
    const authContext = await authManager.createEoaAuthContext({ config: { account }, authConfig, litClient });
    if (!PRODUCTS.includes(spec.product)) throw new Error(`bad product ${spec.product}`);
    const pricingContext = sdk.networks.PricingContextSchema.parse({
      product: spec.product,
      userMaxPrice: spec.userMaxPrice == null ? undefined : BigInt(spec.userMaxPrice),
      nodePrices: spec.nodePrices.map((n) => ({ url: n.url, prices: n.prices.map(BigInt) })),
      threshold: spec.sdkThreshold,
    });
    const sessionSigs = await sdk.networks.issueSessionFromContext({ pricingContext, authContext });
    const first = JSON.parse(Object.values(sessionSigs)[0].signedMessage);
    const sessionAuthSig = first.capabilities[first.capabilities.length - 1];
    // What the SDK's own ReCap check says about each request on its own session AuthSig (a
    // wildcard key for a prefix shadows the exact keys of that prefix): ours must agree.
    const recap = sdk.helpers.RecapSessionCapabilityObject.extract(new sdk.SiweMessage(sessionAuthSig.signedMessage));
    out.resources = spec.resources.map((r) => ({
      ...r,
      granted: recap.verifyCapabilitiesForResource(resourceInput(sdk, r, 'class').resource, r.ability),
    }));
    out.sessionSigsJson = JSON.stringify(sessionSigs);
    out.sessionAuthSigJson = JSON.stringify(sessionAuthSig);
    out.effectiveExpiration = first.expiration;
    out.storageCalls = storageCalls;
  } catch (e) {
    out.sdkError = describeError(e);
  }
  out.sdkLoadedAt = sdk.loadedAt;
  return out;
}

if (require.main === module) {
  (async () => {
    const [batchFile, outFile] = process.argv.slice(2);
    if (!batchFile || !outFile) throw new Error('usage: node mint.js batch.json out.json');
    const { specs } = JSON.parse(fs.readFileSync(batchFile, 'utf8'));
    freezeClock(specs[0].loadAt || specs[0].now);
    loadSdk();
    const results = [];
    for (const spec of specs) results.push(await mintCase(spec));
    if (networkAttempts() > 0) throw new Error(`the SDK tried the network ${networkAttempts()} times`);
    fs.writeFileSync(outFile, JSON.stringify({ results }));
  })().catch((e) => {
    say('mint: FAILED:', e && e.stack ? e.stack : e);
    process.exit(1);
  });
}

module.exports = { mintCase, PRODUCTS };
