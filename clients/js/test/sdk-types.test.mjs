// The returned map's type is the SDK's SessionSigsMap, v7 and v8 (tsc on types/sdk-compat.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

test('SessionSigsMap is assignable to the v7 and v8 SDKs\' SessionSigsMap (tsc)', () => {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const project = fileURLToPath(new URL('./types/tsconfig.json', import.meta.url));
  const out = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stdout + out.stderr);
});
