// deploy/haproxy/haproxy.cfg, the HAProxy front of the CDN guide (docs/deploy.md), run with its
// bind and server addresses moved to loopback in front of a real rum: `haproxy -c` accepts it,
// /_rum/ reaches the collector with the prefix stripped, the health check on the admin /readyz
// puts the collector in rotation, the browser's address comes through X-Forwarded-For, and a body
// over 64 KiB stops at the front.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { assertFirstPartyPath, freePort, get, read, startProcess, startStandalone, tempDir, waitFor } from './lib.mjs';

test('the HAProxy front passes the first-party path through to a collector', async (t) => {
  const dir = tempDir(t);
  const cfg = read('deploy/haproxy/haproxy.cfg');
  const { publicPort, adminPort } = await startStandalone(
    t,
    dir,
    '[enrich]\ntrusted_proxies = ["127.0.0.1/32"]\n\n[[sites]]\nid = "shop"\nkeys = ["shop-key"]\nallowed_origins = ["https://shop.example.com"]\n',
  );
  const [frontPort, sitePort] = [await freePort(), await freePort()];
  const local = cfg
    .replace(/^(\s*)bind :443 ssl .*$/m, (line, indent) => `${indent}bind 127.0.0.1:${frontPort}`)
    .replace(/^(\s*default-server check port )\d+/m, (line, start) => `${start}${adminPort}`)
    .replace(/^(\s*server collector-\d+ )\S+$/gm, (line, start) => `${start}127.0.0.1:${publicPort}`)
    .replace(/^(\s*server www )\S+$/m, (line, start) => `${start}127.0.0.1:${sitePort}`);
  assert.equal((local.match(/127\.0\.0\.1/g) ?? []).length, 4, 'bind, the two collectors and the site moved to loopback');
  assert.ok(local.includes(`check port ${adminPort}`), 'the health check moved to the admin port');
  writeFileSync(join(dir, 'haproxy.cfg'), local);
  const haproxyBin = ['/usr/sbin/haproxy', 'haproxy'].find((candidate) => spawnSync(candidate, ['-v']).status === 0);
  const check = spawnSync(haproxyBin, ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  assert.equal(check.status, 0, `haproxy -c:\n${check.stdout}${check.stderr}`);
  const haproxy = startProcess(t, haproxyBin, ['-db', '-f', join(dir, 'haproxy.cfg')], { cwd: dir });
  const front = `http://127.0.0.1:${frontPort}`;
  // Servers enter rotation after `rise` passing checks of /readyz on the admin port.
  await waitFor('a collector in rotation', async () => (await get(`${front}/_rum/rum.js`)).status === 200, 20000).catch((error) =>
    assert.fail(`${error.message}\n${haproxy.output()}`),
  );
  await assertFirstPartyPath({
    front,
    adminPort,
    scriptPath: '/_rum/rum.js',
    endpoint: '/_rum/rum/v1/beacon',
    key: 'shop-key',
    origin: 'https://shop.example.com',
  });
});
