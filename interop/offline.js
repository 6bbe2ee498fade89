// What every interop script needs before it loads an SDK, for the v7 and the v8 harness alike
// (plain Node, no dependencies, so both `node_modules` trees can share it): the network blocked
// (every check runs offline and counts what the SDK tried), the SDKs' console output silenced
// (stdout carries results only), and a seeded PRNG so runs are reproducible.
'use strict';

const http = require('http');
const https = require('https');
const net = require('net');
const tls = require('tls');
const dns = require('dns');

const realLog = console.log;
let attempts = 0;
let offline = false;

/** Blocks every way out and silences the console; `label` starts each refusal message. */
function goOffline(label) {
  if (offline) return;
  offline = true;
  const refuse = (what) => () => {
    attempts += 1;
    throw new Error(`${label}: network use refused (${what})`);
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

  // The SDKs log deprecation notes and storage warnings through the console.
  const quiet = () => {};
  console.warn = quiet;
  console.info = quiet;
  console.debug = quiet;
  console.log = quiet;
}

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

module.exports = { goOffline, rng, say, realLog, networkAttempts: () => attempts };
