// Generates src/generated/openapi.ts from the service's contract, server/openapi.yaml, with the
// pinned openapi-typescript (package-lock.json). `--check` regenerates into memory and fails
// when the committed file differs: the contract changed and the client was not regenerated.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const spec = here('../../../server/openapi.yaml');
const out = here('../src/generated/openapi.ts');

const header =
  '// Generated from server/openapi.yaml by scripts/generate.mjs (openapi-typescript, pinned in\n' +
  '// package-lock.json). Do not edit: change the contract and run `npm run generate`.\n\n';
// Fields with a default stay optional in requests; a schemaless object is `unknown`, not `never`.
const ast = await openapiTS(new URL(`file://${spec}`), { defaultNonNullable: false, emptyObjectsUnknown: true });
const text = header + astToString(ast);

if (process.argv.includes('--check')) {
  const committed = readFileSync(out, 'utf8');
  if (committed !== text) {
    const a = committed.split('\n');
    const b = text.split('\n');
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    console.error(
      `src/generated/openapi.ts is not what server/openapi.yaml generates (first difference at line ${i + 1}):\n` +
        `  committed: ${a[i] ?? '<end of file>'}\n  generated: ${b[i] ?? '<end of file>'}\n` +
        'run `npm run generate` in clients/js and commit the result',
    );
    process.exit(1);
  }
  console.log('src/generated/openapi.ts matches server/openapi.yaml');
} else {
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
