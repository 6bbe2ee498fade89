// Shared set-up for the v8 (Naga) interop scripts: block the network (every check runs offline),
// silence the SDK's logs, a seeded PRNG, argument parsing, and the clock.
//
// The clock matters more than in v7: @lit-protocol/schemas' AuthConfigSchema computes its default
// expiration (now + 15 min) once, when the module is loaded. So the clock is frozen with
// @sinonjs/fake-timers BEFORE any SDK module is required (`freezeClock`, then `loadSdk`).
'use strict';

const http = require('http');
const https = require('https');
const net = require('net');
const tls = require('tls');
const dns = require('dns');

let networkAttempts = 0;
function blockNetwork() {
  const refuse = (what) => () => {
    networkAttempts += 1;
    throw new Error(`interop-v8: network use refused (${what})`);
  };
  globalThis.fetch = async () => refuse('fetch')();
  globalThis.WebSocket = function WebSocket() {
    refuse('WebSocket')();
  };
  http.request = refuse('http.request');
  http.get = refuse('http.get');
  https.request = refuse('https.request');
  https.get = refuse('https.get');
  net.connect = refuse('net.connect');
  net.createConnection = refuse('net.createConnection');
  net.Socket.prototype.connect = refuse('net.Socket.connect');
  tls.connect = refuse('tls.connect');
  dns.lookup = refuse('dns.lookup');
  dns.resolve = refuse('dns.resolve');
  dns.promises.lookup = async () => refuse('dns.promises.lookup')();
  dns.promises.resolve = async () => refuse('dns.promises.resolve')();
}
blockNetwork();

// The SDK logs through pino (silent unless LOG_LEVEL is set) and console; depd prints a
// deprecation note for LitErrorKind on load.
delete process.env.LOG_LEVEL;
process.noDeprecation = true;
const quiet = () => {};
console.warn = quiet;
console.info = quiet;
console.debug = quiet;
const realLog = console.log;
console.log = quiet;
const say = (...args) => process.stderr.write(args.join(' ') + '\n');

/** mulberry32: small deterministic PRNG so runs are reproducible from a seed. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(next() * 16)]).join('');
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    hex,
    chance: (p) => next() < p,
    /** A uniformly random BigInt below 2^bits. */
    bigBits: (bits) => (bits <= 0 ? 0n : BigInt('0x' + hex(Math.ceil(bits / 4))) & ((1n << BigInt(bits)) - 1n)),
  };
}

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

module.exports = { rng, parseArgs, freezeClock, loadSdk, say, realLog, networkAttempts: () => networkAttempts };
