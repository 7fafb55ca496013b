// Builds the SDK with esbuild:
//   dist/rum.js   IIFE for a <script> tag (minified; the collector serves it at /rum.js)
//   dist/rum.mjs  ES module for bundlers (web-vitals bundled in, not minified)
//   dist/rum.d.ts type declarations of rum.mjs
// Usage: node scripts/build.mjs [--outdir DIR]   (default: dist/)
import { build as esbuild } from 'esbuild';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webVitalsVersion = JSON.parse(await readFile(join(sdkDir, 'node_modules/web-vitals/package.json'), 'utf8')).version;

/** Syntax level of the output: what the oldest browsers we must not break can parse. */
export const TARGET = ['es2020'];

// The license notice of the bundled web-vitals (Apache-2.0) stays in the minified file.
const banner = `/*! web-vitals ${webVitalsVersion} (c) Google LLC, Apache-2.0 */`;

/** Builds into `outdir`; returns the written paths. */
export async function build(outdir = join(sdkDir, 'dist')) {
  await mkdir(outdir, { recursive: true });
  const common = {
    absWorkingDir: sdkDir,
    bundle: true,
    target: TARGET,
    banner: { js: banner },
    legalComments: 'none',
    logLevel: 'error',
    define: { 'process.env.NODE_ENV': '"production"' },
    // Internal property names start with `_` and are shortened (web-vitals' own build does the
    // same); `__rum`, the page-wide "an agent runs" flag, must keep its name across copies.
    mangleProps: /^_/,
    reserveProps: /^__/,
  };
  await esbuild({ ...common, entryPoints: ['src/iife.js'], outfile: join(outdir, 'rum.js'), format: 'iife', minify: true });
  await esbuild({ ...common, entryPoints: ['src/index.js'], outfile: join(outdir, 'rum.mjs'), format: 'esm' });
  await copyFile(join(sdkDir, 'src/rum.d.ts'), join(outdir, 'rum.d.ts'));
  return ['rum.js', 'rum.mjs', 'rum.d.ts'].map((name) => join(outdir, name));
}

/** Transfer sizes of a file's content: raw, gzip -9 and brotli (quality 11), in bytes. */
export function sizes(content) {
  return {
    raw: content.length,
    gzip: gzipSync(content, { level: 9 }).length,
    brotli: brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--outdir');
  const files = await build(at > 0 ? resolve(process.argv[at + 1]) : undefined);
  const { raw, gzip, brotli } = sizes(await readFile(files[0]));
  console.log(`built ${files.join(', ')}\nrum.js: ${raw} B raw, ${gzip} B gzip, ${brotli} B brotli`);
}
