// The SDK's whole test suite, one command: `npm --prefix sdk test` (from the repo root).
//   test/build.test.mjs  dist/ is what the sources build to, the size budget, tsc
//   test/unit/           pure logic in Node: ids, sampling, session, beacon packing, consent, ...
//   test/browser/        real headless Chromium against `rum standalone` ($RUM_BIN, default
//                        ../target/debug/rum; $CHROMIUM, default /usr/bin/chromium), the built-in
//                        view (view.test.mjs) among them
// First, `tsc` checks the view's TypeScript (view/tsconfig.json; esbuild only strips the types).
// Files run one at a time (the browser tests start rum and Chromium; the machine is small).
// Extra arguments go to `node --test` (e.g. --test-name-pattern=consent).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testFiles = (dir) =>
  readdirSync(join(sdkDir, dir), { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.mjs'))
    .map((entry) => relative(sdkDir, join(sdkDir, dir, entry.name)))
    .sort();
const files = [...testFiles('test'), ...testFiles('test/unit'), ...testFiles('test/browser')];

const typeCheck = spawnSync(process.execPath, [join(sdkDir, 'node_modules/typescript/bin/tsc'), '-p', join(sdkDir, 'view/tsconfig.json')], {
  cwd: sdkDir,
  stdio: 'inherit',
});
if (typeCheck.status !== 0) {
  console.error('view/: tsc found type errors (above)');
  process.exit(typeCheck.status ?? 1);
}

const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...process.argv.slice(2), ...files], {
  cwd: sdkDir,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
