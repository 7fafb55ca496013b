// What the built-in view's browser tests run against: `rum standalone` with a config of the test's
// own (views, alert rules, segment bounds), fed beacons posted straight to its public listener, and
// headless Chromium opening the admin listener's `/`. Everything on loopback with OS-chosen ports,
// stopped afterwards. (harness.mjs starts rum with the SDK tests' fixed config, behind a collector
// front; the view needs neither the front nor the page server, only other configs.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, RUM_BIN, sleep, waitFor } from './harness.mjs';

/** A desktop Chrome user agent: the collector drops HeadlessChrome (and Node's fetch) as bots. */
export const DESKTOP_CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

/**
 * A config: one `[[sites]]` per id (key `<id>-key`, any origin), then `toml` (the `[aggregator]`,
 * views, alert rules...). flush_interval 1 s unless `toml` sets its own `[aggregator]` keys first.
 */
export function viewConfig(sites, toml) {
  const blocks = sites.map((site) => `[[sites]]\nid = "${site}"\nkeys = ["${site}-key"]\nallowed_origins = ["*"]\n`);
  return `${blocks.join('\n')}\n${toml.trim()}\n`;
}

/** Starts rum with `configToml` and Chromium; resolves once rum logged its addresses. */
export async function startViewEnvironment(configToml) {
  if (!existsSync(RUM_BIN)) {
    throw new Error(`no rum binary at ${RUM_BIN}: run \`cargo build -p rum-cli\` in the repo root (or set RUM_BIN)`);
  }
  const workDir = await mkdtemp(join(tmpdir(), 'rum-view-test-'));
  const configPath = join(workDir, 'rum.toml');
  await writeFile(configPath, configToml);
  const child = spawn(
    RUM_BIN,
    ['standalone', '--config', configPath, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const collect = (chunk) => (log += chunk.toString().replace(/\x1b\[[0-9;]*m/g, ''));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const stopRum = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    const exited = once(child, 'exit');
    if ((await Promise.race([exited.then(() => 'exited'), sleep(10000)])) !== 'exited') {
      child.kill('SIGKILL');
      await exited;
    }
  };
  let addresses;
  try {
    addresses = await waitFor(
      'rum to log its listen addresses',
      () => {
        if (child.exitCode !== null) throw new Error(`rum exited with ${child.exitCode}:\n${log}`);
        const match = /listen=(127\.0\.0\.1:\d+)\s+admin=(127\.0\.0\.1:\d+)/.exec(log);
        return match && { publicUrl: `http://${match[1]}`, adminUrl: `http://${match[2]}` };
      },
      20000,
    );
  } catch (error) {
    await stopRum();
    throw error;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    timeout: 30000,
  });
  const { publicUrl, adminUrl } = addresses;

  return {
    publicUrl,
    adminUrl,
    log: () => log,
    /** Posts one beacon (an object) as the script would, from a desktop Chrome; resolves the status. */
    post: async (key, beacon) => {
      const response = await fetch(`${publicUrl}/rum/v1/beacon?key=${encodeURIComponent(key)}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8', 'user-agent': DESKTOP_CHROME },
        body: JSON.stringify(beacon),
      });
      await response.arrayBuffer();
      return response.status;
    },
    /** GETs a JSON endpoint of the admin listener (`/api/v1/...`). */
    api: async (path) => {
      const response = await fetch(`${adminUrl}${path}`);
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return response.json();
    },
    metricsText: async () => (await fetch(`${adminUrl}/metrics`)).text(),
    /** A fresh context (own storage) with `options` (viewport, ...); page errors are collected. */
    newPage: async (options = {}) => {
      const context = await browser.newContext({ userAgent: DESKTOP_CHROME, ...options });
      const page = await context.newPage();
      page.problems = [];
      page.on('pageerror', (error) => page.problems.push(`page error: ${error}`));
      page.on('console', (message) => {
        if (message.type() == 'error' || message.type() == 'warning') page.problems.push(`console ${message.type()}: ${message.text()}`);
      });
      return page;
    },
    stop: async () => {
      await browser.close().catch(() => {});
      await stopRum();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
