// deploy/compose against the tools and the rum binary (RUM_BIN):
//   - `docker-compose config` (Debian's docker-compose, which validates against the compose
//     schema without a daemon) accepts the file, and its resolved form is what is checked below;
//   - the rum.toml every rum service mounts passes `rum check-config`, and each service's command
//     is a command line rum accepts;
//   - published ports, healthchecks (the image's HEALTHCHECK for collectors, the workers' own)
//     and Prometheus' scrape targets are the listen / admin ports of that config; promtool and
//     amtool accept the Prometheus and Alertmanager configs as mounted, with the shipped rules;
//     Grafana's provisioning points at the mounted dashboard;
//   - the front (nginx, the first-party path) serves the page and passes /_rum/rum.js and a
//     beacon through to a real rum on loopback, with the browser's address forwarded.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import test from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  assertAllInterfaces,
  assertRealCommandLine,
  checkConfig,
  cleanEnv,
  freePort,
  get,
  portOf,
  read,
  repo,
  startProcess,
  startStandalone,
  assertFirstPartyPath,
  tempDir,
  waitFor,
} from './lib.mjs';

const composeDir = join(repo, 'deploy/compose');
const composeFile = join(composeDir, 'compose.yaml');

function resolvedCompose() {
  const result = spawnSync('docker-compose', ['-f', composeFile, 'config'], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(result.status, 0, `docker-compose config refused the file:\n${result.stderr}`);
  return parseYaml(result.stdout);
}

const compose = resolvedCompose();
const services = compose.services;
const rumServices = Object.entries(services).filter(([, service]) => service.build || /\/rum:/.test(service.image));

/** Host paths of a service's bind mounts by container path (docker-compose resolves them). */
function mounts(service) {
  const byTarget = {};
  for (const volume of service.volumes ?? []) {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      byTarget[target] = source;
    } else if (volume.type === 'bind') byTarget[volume.target] = volume.source;
  }
  return byTarget;
}

/** The port of a role: collector.admin_listen for standalone/collector, aggregator's for workers. */
function adminPortOf(command, config) {
  if (command[0] === 'aggregator') {
    const flag = command.indexOf('--listen-admin');
    return portOf(flag >= 0 ? command[flag + 1] : config.aggregator.admin_listen, 'aggregator admin');
  }
  return portOf(config.collector.admin_listen, 'collector.admin_listen');
}

/** The container side of a published port ("127.0.0.1:8080:8080/tcp" or the long form). */
const containerPort = (port) => (typeof port === 'string' ? Number(port.split(':').at(-1).split('/')[0]) : Number(port.target));

const imageHealthcheck = () => {
  const line = read('deploy/container/Containerfile').match(/^\s*CMD \["\/usr\/local\/bin\/rum-healthcheck", "([^"]+)", "([^"]+)"\]/m);
  assert.ok(line, 'no HEALTHCHECK CMD in the Containerfile');
  return { address: line[1], path: line[2] };
};

test('docker-compose validates the file, and it has the whole stack', () => {
  for (const name of ['kafka', 'topics', 'collector-1', 'collector-2', 'aggregator-1', 'aggregator-2', 'prometheus', 'alertmanager', 'grafana', 'front']) {
    assert.ok(services[name], `no service ${name}`);
  }
  assert.match(services.kafka.environment.KAFKA_PROCESS_ROLES, /broker,controller/, 'Kafka in KRaft mode');
  assert.equal(services.topics.depends_on.kafka.condition, 'service_healthy');
  for (const name of ['collector-1', 'collector-2', 'aggregator-1', 'aggregator-2']) {
    assert.equal(services[name].depends_on.topics.condition, 'service_completed_successfully', name);
  }
  // Every published port is on the loopback interface only.
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) {
      const host = typeof port === 'string' ? port.split(':')[0] : port.host_ip;
      assert.equal(host, '127.0.0.1', `${name} publishes ${JSON.stringify(port)} beyond loopback`);
    }
  }
});

test('the config every rum service mounts passes rum check-config, and their commands are real', (t) => {
  const dir = tempDir(t);
  assert.ok(rumServices.length >= 5, 'the rum services');
  for (const [name, service] of rumServices) {
    const configPath = service.environment.RUM_CONFIG;
    const source = mounts(service)[configPath];
    assert.ok(source, `${name}: RUM_CONFIG ${configPath} is not mounted`);
    const { config, listen, admin } = checkConfig(readFileSync(source, 'utf8'), dir, `${name}.toml`);
    assertAllInterfaces(listen, `${name}: collector.listen`);
    assertAllInterfaces(admin, `${name}: collector.admin_listen`);
    assert.equal(service.read_only, true, `${name}: read-only root filesystem`);
    assertRealCommandLine(service.command, name);
    const command = service.command;
    if (command[0] === 'collector') {
      const spool = mounts(service)[config.spool.dir] ?? (service.volumes ?? []).find((v) => (v.target ?? v.split(':')[1]) === config.spool.dir);
      assert.ok(spool, `${name}: spool.dir ${config.spool.dir} is not a volume`);
    }
    if (command[0] === 'collector' || command[0] === 'aggregator') {
      // More than the config's shutdown grace before the runtime's SIGKILL.
      const grace = Number(String(service.stop_grace_period).replace(/s$/, ''));
      assert.ok(grace > Number(config.collector.shutdown_grace.replace(/s$/, '')), `${name}: stop_grace_period`);
      const admin = adminPortOf(command, config);
      const probe = service.healthcheck?.test ?? ['CMD', '/usr/local/bin/rum-healthcheck', imageHealthcheck().address, imageHealthcheck().path];
      assert.equal(portOf(probe[2], name), admin, `${name}: the healthcheck probes another port than the admin listener`);
      for (const port of service.ports ?? []) {
        const target = containerPort(port);
        const allowed = command[0] === 'collector' ? [portOf(config.collector.listen), admin] : [admin];
        assert.ok(allowed.includes(target), `${name}: publishes ${target}, which nothing listens on`);
      }
    }
  }
});

test('Prometheus scrapes every rum process on its admin port, and promtool and amtool accept the configs', (t) => {
  const dir = tempDir(t);
  const config = readFileSync(mounts(services['collector-1'])['/etc/rum/rum.toml'], 'utf8');
  const { config: rum } = checkConfig(config, dir, 'rum.toml');
  const expected = rumServices
    .filter(([, service]) => ['collector', 'aggregator', 'standalone'].includes(service.command[0]))
    .map(([name, service]) => `${name}:${adminPortOf(service.command, rum)}`)
    .sort();
  // Recreate /etc/prometheus as the container sees it: the config and the shipped rules.
  const etc = join(dir, 'etc-prometheus');
  mkdirSync(etc);
  for (const [target, source] of Object.entries(mounts(services.prometheus))) {
    if (target.startsWith('/etc/prometheus/')) copyFileSync(source, join(etc, basename(target)));
  }
  const prometheus = parseYaml(readFileSync(join(etc, 'prometheus.yml'), 'utf8'));
  const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets)).sort();
  assert.deepEqual(targets, expected, 'scrape targets are not exactly the rum services on their admin ports');
  assert.ok(prometheus.rule_files.every((file) => readFileSync(join(etc, file), 'utf8').includes('groups:')), 'the rules are mounted');
  const promtool = spawnSync('promtool', ['check', 'config', join(etc, 'prometheus.yml')], { encoding: 'utf8' });
  assert.equal(promtool.status, 0, `promtool check config:\n${promtool.stdout}${promtool.stderr}`);
  const alertmanagerTarget = prometheus.alerting.alertmanagers[0].static_configs[0].targets[0];
  assert.ok(services[alertmanagerTarget.split(':')[0]], `Prometheus alerts to ${alertmanagerTarget}, no such service`);
  assert.ok(rum.alerts.alertmanagers.some(({ url }) => url.includes(alertmanagerTarget)), 'rum alerts to the stack Alertmanager');
  const amtool = spawnSync('amtool', ['check-config', mounts(services.alertmanager)['/etc/alertmanager/alertmanager.yml']], { encoding: 'utf8' });
  assert.equal(amtool.status, 0, `amtool check-config:\n${amtool.stdout}${amtool.stderr}`);
});

test('Grafana is provisioned with the Prometheus data source and the mounted dashboard', () => {
  const grafana = mounts(services.grafana);
  const provisioning = grafana['/etc/grafana/provisioning'];
  const datasources = parseYaml(readFileSync(join(provisioning, 'datasources/prometheus.yml'), 'utf8')).datasources;
  assert.equal(datasources[0].type, 'prometheus');
  assert.equal(new URL(datasources[0].url).host, `prometheus:${containerPort(services.prometheus.ports[0])}`);
  const provider = parseYaml(readFileSync(join(provisioning, 'dashboards/rum.yml'), 'utf8')).providers[0];
  const dashboard = Object.entries(grafana).find(([target]) => dirname(target) === provider.options.path);
  assert.ok(dashboard, `no dashboard mounted in ${provider.options.path}`);
  assert.equal(resolve(dashboard[1]), join(repo, 'deploy/grafana/rum-dashboard.json'));
  assert.ok(JSON.parse(readFileSync(dashboard[1], 'utf8')).panels.length > 0);
});

test('the front serves the page and passes the first-party path through to a collector', async (t) => {
  const dir = tempDir(t);
  const frontMounts = mounts(services.front);
  const nginxConf = readFileSync(frontMounts['/etc/nginx/conf.d/default.conf'], 'utf8');
  const page = readFileSync(frontMounts['/usr/share/nginx/html/index.html'], 'utf8');
  const tag = page.match(/<script async src="([^"]+)" data-key="([^"]+)" data-endpoint="([^"]+)"/);
  assert.ok(tag, 'the page has no tag');
  const [, scriptPath, key, endpoint] = tag;

  // The collectors the front proxies to are the compose services on collector.listen.
  const rumToml = readFileSync(mounts(services['collector-1'])['/etc/rum/rum.toml'], 'utf8');
  const { config } = checkConfig(rumToml, dir, 'rum.toml');
  const upstreams = [...nginxConf.matchAll(/^\s*server (\S+):(\d+);/gm)].map(([, host, port]) => [host, Number(port)]);
  assert.deepEqual(upstreams, [['collector-1', portOf(config.collector.listen)], ['collector-2', portOf(config.collector.listen)]]);

  // The same config on loopback: one rum standalone stands in for the collectors, and the front
  // is this machine's nginx (its listen port and upstreams moved to free ports; the site's origin
  // and trusted proxies from rum.toml, with 127.0.0.1 trusted as the compose network would be).
  const testToml = rumToml.replace(/^trusted_proxies = .*$/m, 'trusted_proxies = ["127.0.0.1/32"]');
  assert.notEqual(testToml, rumToml, 'rum.toml has no trusted_proxies line');
  const { publicPort, adminPort } = await startStandalone(t, dir, testToml);
  const frontPort = await freePort();
  const html = join(dir, 'html');
  mkdirSync(html);
  writeFileSync(join(html, 'index.html'), page);
  const conf = nginxConf
    .replace(/^(\s*)server collector-\d+:\d+;/gm, (line, indent) => `${indent}server 127.0.0.1:${publicPort};`)
    .replace(/listen \d+;/, `listen 127.0.0.1:${frontPort};`)
    .replace(/root \S+;/, `root ${html};`);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;\n` +
      `events {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;\n${conf}\n}\n`,
  );
  const nginxBin = ['/usr/sbin/nginx', 'nginx'].find((candidate) => spawnSync(candidate, ['-v']).status === 0);
  const check = spawnSync(nginxBin, ['-t', '-c', join(dir, 'nginx.conf'), '-p', dir], { encoding: 'utf8' });
  assert.equal(check.status, 0, `nginx -t:\n${check.stderr}`);
  const nginx = startProcess(t, nginxBin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { cwd: dir });
  const front = `http://127.0.0.1:${frontPort}`;
  await waitFor('the front', async () => (await get(`${front}/`)).status === 200, 10000).catch((error) =>
    assert.fail(`${error.message}\n${nginx.output()}${readFileSync(join(dir, 'error.log'), 'utf8')}`),
  );
  assert.match((await get(`${front}/`)).body, /data-key=/, 'the front serves the page with the tag');
  const origin = config.sites[0].allowed_origins[0];
  assert.equal(origin.replace(/:\d+$/, ''), 'http://127.0.0.1', 'the page is served from the site origin');
  await assertFirstPartyPath({ front, adminPort, scriptPath, endpoint, key, origin });
});
