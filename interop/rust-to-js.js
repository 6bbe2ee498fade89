// Rust → JS: session sigs and capacity-delegation AuthSigs minted by lit-session-signer must pass
// the Lit JS SDK's own checks: validateSessionSigs, siwe SiweMessage.verify,
// RecapSessionCapabilityObject.decode + verifyCapabilitiesForResource, and tweetnacl.
//
// usage: node rust-to-js.js minted.json      (exit 0 when every check passes)
'use strict';

const fs = require('fs');
const { say } = require('./common');
const FakeTimers = require('@sinonjs/fake-timers');
const nacl = require('tweetnacl');
const { SiweMessage } = require('siwe');
const { validateSessionSigs } = require('@lit-protocol/misc');
const {
  RecapSessionCapabilityObject,
  LitPKPResource,
  LitActionResource,
  LitAccessControlConditionResource,
  LitRLIResource,
} = require('@lit-protocol/auth-helpers');

const RESOURCE = {
  'lit-pkp': (id) => new LitPKPResource(id),
  'lit-litaction': (id) => new LitActionResource(id),
  'lit-accesscontrolcondition': (id) => new LitAccessControlConditionResource(id),
  'lit-ratelimitincrease': (id) => new LitRLIResource(id),
};

const failures = [];
const counts = { sets: 0, sessionSigs: 0, naclVerified: 0, siweVerified: 0, recapChecks: 0, shadowedRequests: 0, delegations: 0 };
const fail = (where, what) => failures.push(`${where}: ${what}`);

async function checkSiwe(where, authSig, now) {
  const msg = new SiweMessage(authSig.signedMessage);
  if (msg.prepareMessage() !== authSig.signedMessage) fail(where, 'siwe re-renders the message differently');
  const res = await msg.verify({ signature: authSig.sig, time: now }, { suppressExceptions: true });
  if (!res.success) fail(where, `SiweMessage.verify failed: ${JSON.stringify(res.error)}`);
  else counts.siweVerified += 1;
  return msg;
}

async function checkSet(set) {
  const clock = FakeTimers.install({ now: Date.parse(set.now), toFake: ['Date'] });
  try {
    counts.sets += 1;
    const sessionSigs = JSON.parse(set.sessionSigsJson);
    const v = validateSessionSigs(sessionSigs);
    if (!v.isValid) fail(set.id, `validateSessionSigs: ${v.errors.join('; ')}`);
    const nodes = Object.keys(sessionSigs);
    if (JSON.stringify(nodes) !== JSON.stringify(set.nodes)) fail(set.id, 'map keys differ from the node list');
    for (const [node, ss] of Object.entries(sessionSigs)) {
      counts.sessionSigs += 1;
      const ok = nacl.sign.detached.verify(
        Buffer.from(ss.signedMessage, 'utf8'),
        Buffer.from(ss.sig, 'hex'),
        Buffer.from(ss.address, 'hex')
      );
      if (!ok) fail(`${set.id} ${node}`, 'tweetnacl rejects the signature');
      else counts.naclVerified += 1;
      const signed = JSON.parse(ss.signedMessage);
      if (signed.nodeAddress !== node) fail(`${set.id} ${node}`, 'nodeAddress differs');
    }
    // The capabilities are identical for every node: check them once.
    const first = JSON.parse(Object.values(sessionSigs)[0].signedMessage);
    const caps = first.capabilities;
    const sessionAuthSig = caps[caps.length - 1];
    const siwe = await checkSiwe(`${set.id} session AuthSig`, sessionAuthSig, new Date(set.now));
    if (siwe.uri !== `lit:session:${first.sessionKey}`) fail(set.id, `session AuthSig URI ${siwe.uri}`);
    const recap = RecapSessionCapabilityObject.decode(siwe.resources[0]);
    for (const r of set.resources) {
      counts.recapChecks += 1;
      // Our ReCap check must agree with the SDK's, including its wildcard-first quirk.
      const granted = recap.verifyCapabilitiesForResource(RESOURCE[r.prefix](r.id), r.ability);
      const expected = r.granted === undefined ? true : r.granted;
      if (granted !== expected) {
        fail(set.id, `SDK says ${granted}, we say ${expected}: ${r.ability} on ${r.prefix}://${r.id}`);
      }
      if (!granted) counts.shadowedRequests += 1;
    }
    for (const [i, cap] of caps.slice(0, -1).entries()) {
      counts.delegations += 1;
      const d = await checkSiwe(`${set.id} capability #${i + 1}`, cap, new Date(set.now));
      if (d.uri !== 'lit:capability:delegation') fail(set.id, `capability #${i + 1} URI ${d.uri}`);
      const rc = RecapSessionCapabilityObject.decode(d.resources[0]);
      const rli = Object.keys(rc.attenuations).find((k) => k.startsWith('lit-ratelimitincrease://'));
      if (!rli || !rc.verifyCapabilitiesForResource(new LitRLIResource(rli.split('://')[1]), 'rate-limit-increase-auth')) {
        fail(set.id, `capability #${i + 1} does not grant rate-limit-increase-auth`);
      }
    }
  } finally {
    clock.uninstall();
  }
}

(async () => {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node rust-to-js.js minted.json');
  const { sets } = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const set of sets) await checkSet(set);
  say(`rust-to-js: ${JSON.stringify(counts)}`);
  if (failures.length) {
    say(`rust-to-js: ${failures.length} FAILURES`);
    for (const f of failures.slice(0, 50)) say('  ' + f);
    process.exit(1);
  }
  if (counts.sets === 0) throw new Error('no sets to check');
  say('rust-to-js: every check passed');
})().catch((e) => {
  say('rust-to-js: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
