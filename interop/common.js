// Shared set-up for the interop scripts: silence the SDK's logs, block the network (the checks
// must run offline), a seeded PRNG, and a primed LitNodeClientNodeJs that never connects.
'use strict';

const http = require('http');
const https = require('https');
const net = require('net');

let networkAttempts = 0;
function blockNetwork() {
  const refuse = (what) => () => {
    networkAttempts += 1;
    throw new Error(`interop: network use refused (${what})`);
  };
  globalThis.fetch = async () => refuse('fetch')();
  http.request = refuse('http.request');
  http.get = refuse('http.get');
  https.request = refuse('https.request');
  https.get = refuse('https.get');
  net.Socket.prototype.connect = refuse('net.connect');
}
blockNetwork();

// The SDK logs deprecation notes and "Storage key ... missing" warnings through console.
const quiet = () => {};
console.warn = quiet;
console.info = quiet;
console.debug = quiet;
const realLog = console.log;
console.log = quiet;
const say = (...args) => process.stderr.write(args.join(' ') + '\n');

const { LitNodeClientNodeJs } = require('@lit-protocol/lit-node-client-nodejs');

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
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    hex: (n) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(next() * 16)]).join(''),
    chance: (p) => next() < p,
  };
}

function primedClient(nodes, nonce) {
  const client = new LitNodeClientNodeJs({ litNetwork: 'custom', debug: false });
  prime(client, nodes, nonce);
  return client;
}

function prime(client, nodes, nonce) {
  client.ready = true;
  client.connectedNodes = new Set(nodes);
  client.latestBlockhash = nonce;
  client.lastBlockHashRetrieved = Date.now();
}

module.exports = { rng, primedClient, prime, say, realLog, networkAttempts: () => networkAttempts };
