// Helpers the deployment tests share: the rum binary under test (RUM_BIN), tansu on a free
// loopback port, HTTP GETs, and the checks that tie a manifest's command line and config to the
// binary's real subcommands, flags and keys.

import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const rumBin = process.env.RUM_BIN;
if (!rumBin) throw new Error('RUM_BIN must name the rum binary under test (deploy/test/run.sh sets it)');

/**
 * Runs `fn` when the test ends, last registered first (node's own `after` hooks run first
 * registered first): a worker is stopped before the broker it talks to, and both before their
 * directory is removed, whatever the outcome.
 */
const cleanups = new WeakMap();
function onCleanup(t, fn) {
  let stack = cleanups.get(t);
  if (!stack) {
    stack = [];
    cleanups.set(t, stack);
    t.after(async () => {
      while (stack.length) await stack.pop()();
    });
  }
  stack.push(fn);
}

export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'rum-deploy-test-'));
  onCleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `rum check-config FILE` with `env` added (as the pod or service would have it). */
export function checkConfig(text, dir, name, env = {}) {
  const file = join(dir, name);
  writeFileSync(file, text);
  const result = spawnSync(rumBin, ['check-config', file], {
    env: { ...cleanEnv(), ...env },
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`rum check-config ${name} failed (${result.status}):\n${result.stdout}${result.stderr}`);
  }
  const ok = result.stdout.match(/ok \(.*listen (\S+), admin (\S+),/);
  if (!ok) throw new Error(`unexpected check-config output:\n${result.stdout}`);
  return { file, listen: ok[1], admin: ok[2], config: parseToml(text) };
}

/** The environment without RUM_* overrides of the caller's own, which would change what is checked. */
export function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RUM_')));
}

/**
 * A command line is made of real subcommands, flags and values: clap parses all of it before it
 * acts on a trailing --help, so `rum ARGS... --help` exits 0 only if every word is accepted (an
 * unknown subcommand or flag, or a value outside a flag's choices, exits 2).
 */
export function assertRealCommandLine(args, where) {
  const result = spawnSync(rumBin, [...args, '--help'], { env: cleanEnv(), encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${where}: \`rum ${args.join(' ')}\` is not a command line rum accepts:\n${result.stderr}`);
  }
}

export function portOf(address, where) {
  const match = String(address).match(/:(\d+)$/);
  if (!match) throw new Error(`${where}: ${address} has no port`);
  return Number(match[1]);
}

/** A listener on every interface, as a container's must be to be reached from outside it. */
export function assertAllInterfaces(address, where) {
  if (!/^(0\.0\.0\.0|\[::\]):\d+$/.test(address)) {
    throw new Error(`${where}: ${address} listens on one address only; in a container it must be 0.0.0.0 or [::]`);
  }
}

/** "15s", "1m", "500ms" (the config's durations) in seconds. */
export function seconds(duration) {
  const match = String(duration).match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/);
  if (!match) throw new Error(`cannot read the duration ${duration}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2]];
}

/** "400MiB", "1GiB" (the config's sizes) and Kubernetes quantities ("512Mi", "1Gi") in bytes. */
export function bytes(size) {
  const match = String(size).match(/^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|Ki|Mi|Gi|K|M|G)?$/);
  if (!match) throw new Error(`cannot read the size ${size}`);
  const unit = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] ? unit[match[2]] : 1);
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

export async function waitFor(what, condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts a process that is stopped (SIGTERM, then SIGKILL) when the test ends, whatever happens. */
export function startProcess(t, command, args, options) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      await exited;
      clearTimeout(timer);
    }
  });
  return { child, exited, output: () => output };
}

/** tansu (the Kafka-protocol broker the suite uses) in memory on a free loopback port. */
export async function startTansu(t, dir) {
  const tansu = process.env.TANSU || join(homedir(), '.cargo', 'bin', 'tansu');
  const port = await freePort();
  const url = `tcp://127.0.0.1:${port}`;
  const broker = startProcess(
    t,
    tansu,
    ['broker', '--listener-url', url, '--advertised-listener-url', url, '--storage-engine', 'memory://tansu/'],
    { cwd: dir, env: cleanEnv() },
  );
  await waitFor(`tansu on port ${port}`, () => canConnect(port), 30000);
  return { brokers: `127.0.0.1:${port}`, broker };
}

function canConnect(port) {
  return new Promise((resolve) => {
    import('node:net').then(({ connect }) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  });
}

export function read(path) {
  return readFileSync(join(repo, path), 'utf8');
}

/**
 * `rum standalone` on free loopback ports with the given config text, ready; it stands in for
 * the collectors behind a front (the public listener is the same code in both).
 */
export async function startStandalone(t, dir, configText) {
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, 'rum-standalone.toml');
  writeFileSync(file, configText);
  const rum = startProcess(t, rumBin, ['standalone', '--config', file], {
    cwd: dir,
    env: {
      ...cleanEnv(),
      RUM_COLLECTOR__LISTEN: `127.0.0.1:${publicPort}`,
      RUM_COLLECTOR__ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      RUM_AGGREGATOR__STATE_DIR: '',
    },
  });
  await waitFor('rum ready', async () => (await get(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 30000).catch(
    (error) => assert.fail(`${error.message}\n${rum.output()}`),
  );
  return { publicPort, adminPort, rum };
}

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/**
 * The first-party path through a front at `front` (http://127.0.0.1:PORT): the script comes
 * with the collector's cache header, a browser's beacon is answered 202 and its address is taken
 * from X-Forwarded-For (the front is trusted, the address before it is the browser's), an
 * oversize body stops with 413, and the admin endpoints are not reachable through it.
 */
export async function assertFirstPartyPath({ front, adminPort, scriptPath, endpoint, key, origin }) {
  const script = await fetch(front + scriptPath);
  assert.equal(script.status, 200, `${scriptPath} through the front`);
  assert.match(script.headers.get('cache-control') ?? '', /max-age=300/, 'the collector sets the script cache rules');
  assert.ok((await script.text()).length > 1000);
  const beacon = readFileSync(join(repo, 'crates/rum-schema/fixtures/beacon_full.json'));
  const headers = {
    'Content-Type': 'text/plain;charset=UTF-8',
    Origin: origin,
    'User-Agent': BROWSER,
    // As a browser behind one more proxy would arrive: the front appends its peer (127.0.0.1),
    // which the collector trusts, and the collector takes the rightmost address it does not.
    'X-Forwarded-For': '203.0.113.7',
  };
  const answer = await fetch(`${front}${endpoint}?key=${key}`, { method: 'POST', body: beacon, headers });
  assert.equal(answer.status, 202, `beacon through the front: ${await answer.text()}`);
  const oversize = await fetch(`${front}${endpoint}?key=${key}`, { method: 'POST', body: Buffer.alloc(70 * 1024, 0x20), headers });
  assert.equal(oversize.status, 413, 'a body over 64 KiB is refused');
  const metrics = (await get(`http://127.0.0.1:${adminPort}/metrics`)).body;
  assert.match(metrics, /^rum_collector_beacons_accepted_total 1$/m);
  assert.match(metrics, /^rum_enrich_client_ips_total\{origin="x_forwarded_for"\} 1$/m, 'the browser address came through X-Forwarded-For');
  assert.equal((await fetch(`${front}${scriptPath.replace(/rum\.js$/, 'metrics')}`)).status, 404, 'the admin endpoints are not behind the public path');
}
