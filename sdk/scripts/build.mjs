// Builds the SDK with esbuild:
//   dist/rum.js   IIFE for a <script> tag (bundled by esbuild, minified by terser; the collector
//                 serves it at /rum.js)
//   dist/rum.mjs  ES module for bundlers (web-vitals bundled in, not minified)
//   dist/rum.d.ts type declarations of rum.mjs
//   dist/view.html the admin listener's built-in view (view/, TypeScript + uPlot): one self-contained
//                 page, script and styles inline (the collector embeds it and serves it at `/`)
// Usage: node scripts/build.mjs [--outdir DIR]   (default: dist/)
import { build as esbuild } from 'esbuild';
import { minify } from 'terser';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webVitalsVersion = JSON.parse(await readFile(join(sdkDir, 'node_modules/web-vitals/package.json'), 'utf8')).version;

/** Syntax level of the output: what the oldest browsers we must not break can parse. */
export const TARGET = ['es2020'];

// The license notice of the bundled web-vitals (Apache-2.0) stays in the minified file.
const banner = `/*! web-vitals ${webVitalsVersion} (c) Google LLC, Apache-2.0 */`;

/** TypeScript's `useDefineForClassFields: false`: class fields as assignments in the constructor. */
const ASSIGN_FIELDS = { compilerOptions: { useDefineForClassFields: false } };

/** Loads web-vitals' modules as TypeScript (plain JavaScript is valid TypeScript), so ASSIGN_FIELDS applies to them. */
const assignClassFields = {
  name: 'assign-class-fields',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]web-vitals[\\/].*\.js$/ }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'ts' }));
  },
};

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
    // same); `__rum`, the page-wide "an agent runs" flag, must keep its name across copies. So
    // are three of web-vitals' own that never leave the bundle: its visibility watcher's
    // `firstHiddenTime` and `onHidden`, and the `reportAllChanges` option we pass it (35 B gzip).
    mangleProps: /^(_|firstHiddenTime$|onHidden$|reportAllChanges$)/,
    reserveProps: /^__/,
  };
  // terser's compressor (two passes, default safe options) makes it ~250 B gzip smaller than
  // esbuild's minifier (7,947 -> 7,705 B on 2026-12-03): room for the features under the budget.
  // esbuild minifies first all the same (its `let` for `const` and its property names gzip
  // better: 66 B less on 2027-01-09), and web-vitals' class fields become plain assignments in
  // the constructor instead of esbuild's defineProperty helper (ES2022 class fields lowered to
  // ES2020: 76 B less). Equivalent for web-vitals' classes: no base class, no accessors, nothing
  // reads their uninitialised fields as own properties.
  const [bundle] = (
    await esbuild({ ...common, banner: {}, entryPoints: ['src/iife.js'], format: 'iife', minify: true, plugins: [assignClassFields], tsconfigRaw: ASSIGN_FIELDS, write: false })
  ).outputFiles;
  // inline: 1 (only functions without arguments or variables) rather than 3: 4 B less.
  const minified = await minify(bundle.text, { ecma: 2020, compress: { passes: 2, inline: 1 }, mangle: true, format: { comments: false, preamble: banner } });
  await writeFile(join(outdir, 'rum.js'), minified.code + '\n');
  await esbuild({ ...common, entryPoints: ['src/index.js'], outfile: join(outdir, 'rum.mjs'), format: 'esm' });
  await copyFile(join(sdkDir, 'src/rum.d.ts'), join(outdir, 'rum.d.ts'));
  await writeFile(join(outdir, 'view.html'), await buildView());
  return ['rum.js', 'rum.mjs', 'rum.d.ts', 'view.html'].map((name) => join(outdir, name));
}

/** What `text` contains, as a CSP source: `'sha256-<base64>'`. */
const cspHash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The built-in view as one HTML file: view/index.html with view/main.ts (bundled with uPlot,
 * minified) and view/style.css (with uPlot's stylesheet) inlined, and a content security policy
 * that lets only those two run: their hashes, nothing from elsewhere, requests to the same origin.
 * The admin listener sends the same policy as a header (crates/rum-collector/src/admin.rs reads it
 * from this meta tag), adding what a meta tag cannot carry (frame-ancestors).
 */
async function buildView() {
  const uplotVersion = JSON.parse(await readFile(join(sdkDir, 'node_modules/uplot/package.json'), 'utf8')).version;
  const common = { absWorkingDir: sdkDir, bundle: true, minify: true, write: false, logLevel: 'error', legalComments: 'none' };
  const [script] = (
    await esbuild({
      ...common,
      entryPoints: ['view/main.ts'],
      format: 'iife',
      target: TARGET,
      banner: { js: `/*! uPlot ${uplotVersion} (c) Leon Sorokin, MIT */` },
    })
  ).outputFiles;
  const [style] = (await esbuild({ ...common, entryPoints: ['view/style.css'] })).outputFiles;
  // Inline text must not end its own element early, nor open an HTML comment in a script.
  for (const [text, end] of [[script.text, '</script'], [style.text, '</style']]) {
    if (text.toLowerCase().includes(end) || text.includes('<!--')) throw new Error(`the view's inline code contains ${end} or <!--`);
  }
  const js = script.text.trimEnd();
  const css = style.text.trimEnd();
  const csp = [
    "default-src 'none'",
    `script-src ${cspHash(js)}`,
    `style-src ${cspHash(css)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const template = await readFile(join(sdkDir, 'view/index.html'), 'utf8');
  // Function replacements: the code may contain `$&` and the like, which a string replacement expands.
  return template
    .replace('__CSP__', () => csp)
    .replace('__STYLE__', () => css)
    .replace('__SCRIPT__', () => js);
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
  const report = async (file) => {
    const { raw, gzip, brotli } = sizes(await readFile(file));
    return `${file.slice(file.lastIndexOf('/') + 1)}: ${raw} B raw, ${gzip} B gzip, ${brotli} B brotli`;
  };
  console.log(`built ${files.join(', ')}\n${await report(files[0])}\n${await report(files[3])}`);
}
