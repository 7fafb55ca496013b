// Helpers the deployment tests share: the rum binary under test (RUM_BIN), tansu on a free
// loopback port, HTTP GETs, and the checks that tie a manifest's command line and config to the
// binary's real subcommands, flags and keys.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const rumBin = process.env.RUM_BIN;
if (!rumBin) throw new Error('RUM_BIN must name the rum binary under test (deploy/test/run.sh sets it)');

export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'rum-deploy-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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
  t.after(async () => {
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
