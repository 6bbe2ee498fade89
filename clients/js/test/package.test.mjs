// The package as its users load it: ES module import and CommonJS require give the same API.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import test from 'node:test';

import * as esm from 'lit-session-client';

test('import and require expose the same functions and classes', () => {
  const cjs = createRequire(import.meta.url)('lit-session-client');
  const names = (m) => Object.keys(m).filter((k) => k !== 'default').sort();
  assert.deepEqual(names(cjs), names(esm));
  for (const name of ['createSignerClient', 'SignerError', 'withSignerV7', 'sessionSigsForNaga', 'ClientProblem']) {
    assert.ok(name in cjs, name);
  }
  const client = cjs.createSignerClient({ url: 'http://127.0.0.1:1', token: 'not-shown-anywhere' });
  assert.equal(JSON.stringify(client), '{"url":"http://127.0.0.1:1","auth":"token"}');
});
