// Shared set-up for the v7 interop scripts: offline (`offline.js`: network blocked, logs
// silenced, seeded PRNG) and a primed LitNodeClientNodeJs that never connects.
'use strict';

const { goOffline, rng, say, realLog, networkAttempts } = require('./offline');

goOffline('interop');

const { LitNodeClientNodeJs } = require('@lit-protocol/lit-node-client-nodejs');

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

module.exports = { rng, primedClient, prime, say, realLog, networkAttempts };
