// What the real-browser tests run against, all started by the test itself on loopback with
// OS-chosen ports, and stopped afterwards:
//   - `rum standalone` (the binary cargo built: $RUM_BIN, default ../target/debug/rum) with a config
//     defining one site per scenario, so each test reads its own series on /metrics;
//   - a "collector front" on its own origin that serves dist/rum.js and forwards beacons to rum,
//     recording each body and rum's answer (rum's CORS headers go back to the browser unchanged);
//   - a page server on another origin serving the test pages (pages.mjs);
//   - Debian's headless Chromium ($CHROMIUM, default /usr/bin/chromium) driven by playwright-core.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { renderPage } from './pages.mjs';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const RUM_BIN = process.env.RUM_BIN || resolve(sdkDir, '../target/debug/rum');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** A desktop Chrome user agent: the collector drops HeadlessChrome as a bot. */
const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

/**
 * What the collector front forwards to rum: the native beacon path, the agents' paths, and the
 * script's configuration (GET /rum/v1/config, which carries nothing of the visitor's).
 */
const BEACON_PATHS = ['/rum/v1/beacon', '/rum/v1/web-vitals', '/collect', '/rum/v1/config'];

/** Whether a recorded request carried data (anything but the script's configuration GET). */
export const sentData = (record) => record.path != '/rum/v1/config';

/**
 * Requests (recorded) that reached rum on an agent's path for a site key (`?key=`, or Faro's
 * `x-api-key` header), in arrival order.
 */
export const agentRequests = (beacons, path, key) =>
  beacons.filter((record) => record.path == path && (record.key ?? record.headers['x-api-key']) == key);

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Polls `probe` until it returns a truthy value (returned) or `timeoutMs` passes (throws `what`). */
export async function waitFor(what, probe, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The rum config: one site per scenario (keep_bots as a second guard besides the user agent);
 * `actions` keeps user actions and business events in the `site` view; `aggregator` adds keys of
 * `[aggregator]` (TOML lines, after flush_interval) and `extraToml` is appended at the end (tables
 * such as `[aggregator.sessions]` or `[[aggregator.funnels]]`); `siteToml` adds keys to a site's
 * `[[sites]]` entry, by site id (e.g. `sample_rate = 0`).
 */
function rumConfig(sites, { actions = false, aggregator = '', extraToml = '', siteToml = {} } = {}) {
  const blocks = sites.map(
    (site) =>
      `[[sites]]\nid = "${site}"\nkeys = ["${site}-key"]\nallowed_origins = ["*"]\nkeep_bots = true\n${siteToml[site] ? `${siteToml[site]}\n` : ''}`,
  );
  return `${blocks.join('\n')}
[aggregator]
flush_interval = "1s"
${aggregator ? `${aggregator.trim()}\n` : ''}
[[aggregator.views]]
name = "site"
dimensions = ["site"]
navigation = true
${actions ? 'actions = true\n' : ''}
[[aggregator.views]]
name = "site_nav"
dimensions = ["site", "navigation"]

[[aggregator.views]]
name = "site_device"
dimensions = ["site", "device"]
${extraToml ? `\n${extraToml.trim()}\n` : ''}`;
}

/** Starts `rum standalone` on free loopback ports; resolves once it logged its addresses. */
async function startRum(sites, workDir, options) {
  if (!existsSync(RUM_BIN)) {
    throw new Error(`no rum binary at ${RUM_BIN}: run \`cargo build -p rum-cli\` in the repo root (or set RUM_BIN)`);
  }
  const configPath = join(workDir, 'rum.toml');
  await writeFile(configPath, rumConfig(sites, options));
  const child = spawn(
    RUM_BIN,
    ['standalone', '--config', configPath, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const collect = (chunk) => {
    log += chunk.toString().replace(/\x1b\[[0-9;]*m/g, '');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const addresses = await waitFor(
    'rum to log its listen addresses',
    () => {
      if (child.exitCode !== null) throw new Error(`rum exited with ${child.exitCode}:\n${log}`);
      const match = /listen=(127\.0\.0\.1:\d+)\s+admin=(127\.0\.0\.1:\d+)/.exec(log);
      return match && { publicUrl: `http://${match[1]}`, adminUrl: `http://${match[2]}` };
    },
    20000,
  );
  return {
    ...addresses,
    log: () => log,
    /** Rewrites the config with `next` options and reloads it (SIGHUP); resolves once applied. */
    reconfigure: async (next) => {
      const reloads = () => log.split('config reloaded').length;
      const before = reloads();
      await writeFile(configPath, rumConfig(sites, next));
      child.kill('SIGHUP');
      await waitFor('rum to reload its config', () => reloads() > before, 10000);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const exited = once(child, 'exit');
      if ((await Promise.race([exited.then(() => 'exited'), sleep(10000)])) !== 'exited') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Each vital's exposed series: the windowed quantile, its sample count, and ms per exposed unit. */
export const VITAL_SERIES = {
  LCP: ['rum_lcp_window_seconds', 'rum_lcp_window_samples', 1000],
  CLS: ['rum_cls_window', 'rum_cls_window_samples', 1],
  INP: ['rum_inp_window_seconds', 'rum_inp_window_samples', 1000],
  FCP: ['rum_fcp_window_seconds', 'rum_fcp_window_samples', 1000],
  TTFB: ['rum_ttfb_window_seconds', 'rum_ttfb_window_samples', 1000],
};

/**
 * Asserts that vital `name` was counted once in the window `labels` names and that its median
 * equals `value` (ms, or unitless for CLS) as `source` reported it: HDR histograms with 2
 * significant digits keep it within 1% (and 1 ms for tiny values).
 */
export async function assertVitalExported(env, labels, name, value, source) {
  const [quantile, samples, perUnit] = VITAL_SERIES[name];
  assert.equal(await env.metric(samples, labels), 1, `${name} counted once`);
  const median = await env.metric(quantile, { ...labels, quantile: '0.5' });
  const expected = value / perUnit;
  assert.ok(Math.abs(median - expected) <= Math.max(expected * 0.011, 0.001), `${name}: metrics ${median}, ${source} ${expected}`);
}

/**
 * Draws a few frames while the pointer moves: headless Chromium presents the frame after an input,
 * and runs idle callbacks, only then (see vitals.test.mjs).
 */
export async function drawFrames(page, times = 6) {
  for (let move = 0; move < times; move++) {
    await page.screenshot();
    await page.mouse.move(1 + (move % 2), 1);
    await page.waitForTimeout(150);
  }
}

/**
 * Waits (20 s at most) for `condition` in the page while frames are drawn and the pointer keeps
 * moving, for what needs a presented frame or an idle callback (INP; see vitals.test.mjs).
 */
export function untilDrawn(page, what, condition) {
  let moves = 0;
  return waitFor(what, async () => {
    await page.screenshot();
    await page.mouse.move(1 + (moves++ % 2), 1);
    return page.evaluate(condition);
  }, 20000);
}

/** Prometheus text -> [{name, labels, value}]. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || line.startsWith('#')) continue;
    const labels = {};
    for (const [, key, value] of (match[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * A 200x100 24-bit BMP of random-looking pixels (60 KB). Chrome ignores images below 0.05 bits per
 * displayed pixel as LCP candidates, so a plain or vector image would not be the page's LCP.
 */
function noiseBitmap(width = 200, height = 100) {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const pixels = rowBytes * height;
  const bitmap = Buffer.alloc(54 + pixels);
  bitmap.write('BM', 0);
  bitmap.writeUInt32LE(bitmap.length, 2);
  bitmap.writeUInt32LE(54, 10);
  bitmap.writeUInt32LE(40, 14);
  bitmap.writeInt32LE(width, 18);
  bitmap.writeInt32LE(height, 22);
  bitmap.writeUInt16LE(1, 26);
  bitmap.writeUInt16LE(24, 28);
  bitmap.writeUInt32LE(pixels, 34);
  let seed = 42;
  for (let i = 54; i < bitmap.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    bitmap[i] = seed >>> 24;
  }
  return bitmap;
}

/** Reads a whole request or response body. */
async function readBody(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function listen(handler) {
  const server = createServer((req, res) => {
    handler(req, res).catch((error) => {
      res.writeHead(500).end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Forwards one request to rum's public listener; resolves with rum's answer. */
function forward(rum, req, body) {
  return new Promise((done, fail) => {
    const target = new URL(req.url, rum.publicUrl);
    const headers = { ...req.headers, host: target.host };
    const outgoing = request(target, { method: req.method, headers }, async (response) => {
      done({ status: response.statusCode, headers: response.headers, body: await readBody(response) });
    });
    outgoing.on('error', fail);
    outgoing.end(body);
  });
}

/**
 * Starts rum, the collector front, the page server and Chromium.
 * @param {string[]} sites site ids; each has the key `<id>-key`
 * @param {{actions?: boolean, aggregator?: string, extraToml?: string}} [options] `actions`: the
 *   `site` view keeps actions and business events; `aggregator`: extra `[aggregator]` keys (TOML
 *   lines); `extraToml`: TOML appended to the config (e.g. `[aggregator.sessions]`, funnels)
 */
export async function startEnvironment(sites, options) {
  const workDir = await mkdtemp(join(tmpdir(), 'rum-sdk-test-'));
  const rum = await startRum(sites, workDir, options);
  const rumJs = await readFile(join(sdkDir, 'dist/rum.js'));
  const heroImage = noiseBitmap();
  const referenceJs = await readFile(join(sdkDir, 'node_modules/web-vitals/dist/web-vitals.attribution.iife.js'));
  const webVitalsJs = await readFile(join(sdkDir, 'node_modules/web-vitals/dist/web-vitals.iife.js'));
  const faroJs = await readFile(join(sdkDir, 'node_modules/@grafana/faro-web-sdk/dist/bundle/faro-web-sdk.iife.js'));

  /** Every request the collector front got: {key, path, body, status, answer, origin}. */
  const beacons = [];
  const collector = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://front');
    if (url.pathname == '/rum.js') {
      // ?delay= ms: a script that arrives late (the loader snippet's buffering test).
      await sleep(Number(url.searchParams.get('delay') || 0));
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      return res.end(rumJs);
    }
    const body = await readBody(req);
    // receivedAt: when the front had the whole body (ms since the epoch), just before forwarding it;
    // answeredAt (below): when rum's answer came back. rum's receive time lies between the two.
    const record = { key: url.searchParams.get('key'), path: url.pathname, method: req.method, headers: req.headers, body: body.toString(), receivedAt: Date.now() };
    if (!BEACON_PATHS.includes(url.pathname)) {
      beacons.push({ ...record, status: 404 });
      return res.writeHead(404).end();
    }
    const answer = await forward(rum, req, body);
    beacons.push({ ...record, status: answer.status, answer: answer.body.toString(), answeredAt: Date.now() });
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  });

  /** Reference web-vitals values each page posted to /reference, by page id. */
  const references = [];
  const pages = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://pages');
    if (req.method == 'POST' && url.pathname == '/reference') {
      references.push(JSON.parse((await readBody(req)).toString()));
      return res.writeHead(204).end();
    }
    if (url.pathname == '/web-vitals.attribution.iife.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(referenceJs);
    }
    if (url.pathname == '/web-vitals.iife.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(webVitalsJs);
    }
    if (url.pathname == '/faro-web-sdk.iife.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(faroJs);
    }
    if (url.pathname == '/hero.bmp') {
      // The "large late image" (shown at 1000x500), answered after ?delay= ms.
      await sleep(Number(url.searchParams.get('delay') || 0));
      res.writeHead(200, { 'content-type': 'image/bmp' });
      return res.end(heroImage);
    }
    if (url.pathname.startsWith('/api/')) {
      const status = Number(url.pathname.split('/')[2]) || 200;
      await sleep(Number(url.searchParams.get('delay') || 0));
      res.writeHead(status, { 'content-type': 'application/json' });
      return res.end('{}');
    }
    const page = renderPage(url, { collector: collector.origin });
    if (!page) return res.writeHead(404).end('no such page');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...page.headers });
    res.end(page.html);
  });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Playwright turns the back-forward cache off by default; the navigation test needs it.
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    timeout: 30000,
  });

  const metrics = async () => parseMetrics(await (await fetch(`${rum.adminUrl}/metrics`)).text());

  return {
    rum,
    beacons,
    references,
    pageOrigin: pages.origin,
    collectorOrigin: collector.origin,
    metrics,
    /** The value of one series on /metrics (undefined if absent); labels must all match. */
    metric: async (name, labels) => {
      const found = (await metrics()).find(
        (sample) => sample.name == name && Object.entries(labels).every(([key, value]) => sample.labels[key] == value),
      );
      return found && found.value;
    },
    /**
     * A fresh browser context (own storage) with a normal Chrome user agent, or with `options`
     * (e.g. a Playwright device descriptor: user agent, screen, touch, mobile viewport).
     */
    newPage: async (options = {}) => {
      const context = await browser.newContext({ userAgent: USER_AGENT, ...options });
      const page = await context.newPage();
      page.pageErrors = [];
      page.on('pageerror', (error) => page.pageErrors.push(String(error)));
      return page;
    },
    /** Beacons (parsed) that reached rum for a site key, in arrival order. */
    beaconsFor: (key) =>
      beacons
        .filter((record) => record.key == key && record.path == '/rum/v1/beacon')
        .map((record) => ({ ...JSON.parse(record.body), status: record.status, answer: record.answer, record })),
    stop: async () => {
      await browser.close().catch(() => {});
      collector.server.closeAllConnections();
      pages.server.closeAllConnections();
      collector.server.close();
      pages.server.close();
      await rum.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
