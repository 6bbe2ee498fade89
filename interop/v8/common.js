// Shared set-up for the v8 (Naga) interop scripts: offline (`../offline.js`: network blocked,
// logs silenced, seeded PRNG), argument parsing, and the clock.
//
// The clock matters more than in v7: @lit-protocol/schemas' AuthConfigSchema computes its default
// expiration (now + 15 min) once, when the module is loaded. So the clock is frozen with
// @sinonjs/fake-timers BEFORE any SDK module is required (`freezeClock`, then `loadSdk`).
'use strict';

const { goOffline, rng, say, realLog, networkAttempts } = require('../offline');

goOffline('interop-v8');
// The SDK logs through pino (silent unless LOG_LEVEL is set); depd prints a deprecation note for
// LitErrorKind on load.
delete process.env.LOG_LEVEL;
process.noDeprecation = true;

/** `--name value` pairs (and bare `--flag`) into an object. */
function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    if (!argv[i].startsWith('--')) continue;
    const key = argv[i].slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      out[key] = argv[i + 1];
      i += 1;
    } else {
      out[key] = true;
    }
  }
  return out;
}

let clock = null;
/** Freezes Date at `iso` (only Date: timers keep working). Call before `loadSdk`. */
function freezeClock(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad clock ${iso}`);
  if (clock) clock.setSystemTime(ms);
  else clock = require('@sinonjs/fake-timers').install({ now: ms, toFake: ['Date'] });
}

let sdk = null;
/** The SDK modules, loaded once; the clock must be frozen first. */
function loadSdk() {
  if (sdk) return sdk;
  if (!clock) throw new Error('freeze the clock before loading the SDK');
  const auth = require('@lit-protocol/auth');
  const networks = require('@lit-protocol/networks');
  const helpers = require('@lit-protocol/auth-helpers');
  const schemas = require('@lit-protocol/schemas');
  const accounts = require('viem/accounts');
  const { SiweMessage } = require('siwe');
  sdk = { auth, networks, helpers, schemas, accounts, SiweMessage, loadedAt: new Date().toISOString() };
  return sdk;
}

module.exports = { rng, parseArgs, freezeClock, loadSdk, say, realLog, networkAttempts };
