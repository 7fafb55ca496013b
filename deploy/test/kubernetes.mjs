// deploy/kubernetes against the Kubernetes schemas and against the rum binary (RUM_BIN):
//   - every object validates offline against the OpenAPI schemas kubernetes-models carries (a
//     current Kubernetes release) or the prometheus-operator CRD, with no field the schema does
//     not know (what `kubectl apply --validate=strict` refuses);
//   - the config each pod reads (the ConfigMap, plus the Secret's sites where the init container
//     appends them) passes `rum check-config`;
//   - container ports, probe ports, scrape annotations, Service target ports, NetworkPolicy and
//     PodMonitor ports are the listen / admin_listen ports of that config; grace periods cover
//     collector.shutdown_grace; the memory watermark is below the memory limit;
//   - every container's args are a command line rum accepts, and the topics Job, a collector and
//     an aggregator worker started with their manifest's args and env (listeners moved to free
//     loopback ports) against tansu answer their probe paths as the kubelet needs.
// A renamed subcommand, flag, config key, port or endpoint fails one of these.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import test from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  assertAllInterfaces,
  assertRealCommandLine,
  bytes,
  checkConfig,
  cleanEnv,
  freePort,
  get,
  portOf,
  read,
  repo,
  rumBin,
  seconds,
  startProcess,
  startTansu,
  tempDir,
  waitFor,
} from './lib.mjs';

const root = 'deploy/kubernetes';

/** The objects a kustomization renders: its resources, recursively, in its namespace. */
function render(dir) {
  const kustomization = parseAllDocuments(read(join(dir, 'kustomization.yaml')))[0].toJS();
  const objects = [];
  for (const resource of kustomization.resources) {
    const path = posix.normalize(posix.join(dir, resource));
    if (!path.endsWith('.yaml')) {
      objects.push(...render(path));
      continue;
    }
    for (const document of parseAllDocuments(read(path))) {
      if (document.errors.length) throw new Error(`${path}: ${document.errors[0].message}`);
      const object = document.toJS();
      if (object === null) continue;
      if (object.kind !== 'Namespace' && kustomization.namespace) {
        object.metadata.namespace = kustomization.namespace;
      }
      objects.push({ file: path, object });
    }
  }
  return objects;
}

const objects = render(`${root}/monitoring`);
const byKind = (kind) => objects.filter(({ object }) => object.kind === kind).map(({ object }) => object);
const named = (kind, name) => {
  const found = byKind(kind).find((object) => object.metadata.name === name);
  assert.ok(found, `no ${kind} ${name}`);
  return found;
};
const configMap = named('ConfigMap', 'rum-config');
const sitesSecret = named('Secret', 'rum-sites');

/** The model class of an object, from kubernetes-models or the prometheus-operator models. */
async function modelOf({ apiVersion, kind }) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}`)
      : await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  assert.ok(module[kind], `no schema for ${apiVersion} ${kind}`);
  return module[kind];
}

function schemaErrors(Model, object) {
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return error.errors ?? [{ instancePath: '', message: error.message }];
  }
}

const pointer = (path) => path.map((key) => '/' + String(key).replaceAll('~', '~0').replaceAll('/', '~1')).join('');

/**
 * Fields the schema does not know. The compiled schemas accept unknown fields, as the API server
 * does without strict validation, so each field is tried with a value of a type no schema allows
 * there: a field the schema knows is then refused at its own path, an unknown one is not.
 */
function unknownFields(Model, object) {
  const unknown = [];
  const poison = [[[[]]]];
  const visit = (value, path) => {
    if (value === null || typeof value !== 'object') return;
    for (const key of Object.keys(value)) {
      const child = [...path, key];
      if (child.length === 1 && (key === 'apiVersion' || key === 'kind')) continue;
      const copy = structuredClone(object);
      let target = copy;
      for (const step of path) target = target[step];
      target[key] = poison;
      const at = pointer(child);
      const refused = schemaErrors(Model, copy).some(
        (error) => error.instancePath === at || error.instancePath.startsWith(at + '/'),
      );
      if (!refused) unknown.push(child.join('.'));
      else visit(value[key], child);
    }
  };
  visit(object, []);
  return unknown;
}

test('every manifest validates against the Kubernetes schemas, with no unknown field', async () => {
  assert.ok(objects.length >= 12, `only ${objects.length} objects rendered`);
  for (const { file, object } of objects) {
    const Model = await modelOf(object);
    const errors = schemaErrors(Model, object);
    assert.deepEqual(errors.map((e) => `${e.instancePath} ${e.message}`), [], `${file} ${object.kind} ${object.metadata?.name}`);
    assert.deepEqual(unknownFields(Model, object), [], `${file} ${object.kind}: fields the schema does not know`);
  }
});

test('the schema check refuses a misspelt field and a wrong type (it can fail)', async () => {
  const deployment = structuredClone(named('Deployment', 'rum-collector'));
  const Model = await modelOf(deployment);
  deployment.spec.template.spec.containers[0].livenesProbe = deployment.spec.template.spec.containers[0].livenessProbe;
  assert.deepEqual(unknownFields(Model, deployment), ['spec.template.spec.containers.0.livenesProbe']);
  deployment.spec.template.spec.containers[0].ports[0].containerPort = '8080';
  assert.ok(schemaErrors(Model, deployment).length > 0);
});

test('the kustomizations list every manifest in deploy/kubernetes', () => {
  const listed = new Set(objects.map(({ file }) => file));
  for (const dir of [root, `${root}/monitoring`]) {
    for (const name of readdirSync(join(repo, dir))) {
      if (name.endsWith('.yaml') && name !== 'kustomization.yaml') {
        assert.ok(listed.has(`${dir}/${name}`), `${dir}/${name} is not in a kustomization.yaml`);
      }
    }
  }
});

// ---- The pods as the kubelet would run them ----

const pods = objects
  .filter(({ object }) => object.spec?.template?.spec)
  .map(({ file, object }) => ({ file, owner: object, labels: object.spec.template.metadata.labels, spec: object.spec.template.spec }));
const pod = (name) => {
  const found = pods.find(({ owner }) => owner.metadata.name === name);
  assert.ok(found, `no workload ${name}`);
  return found;
};

function envOf(container) {
  const env = {};
  for (const variable of container.env ?? []) {
    if ('value' in variable) env[variable.name] = variable.value;
    else if (variable.valueFrom?.configMapKeyRef) {
      const ref = variable.valueFrom.configMapKeyRef;
      assert.equal(ref.name, configMap.metadata.name, `${variable.name}: unknown ConfigMap ${ref.name}`);
      assert.ok(ref.key in configMap.data, `${variable.name}: ConfigMap has no key ${ref.key}`);
      env[variable.name] = configMap.data[ref.key];
    } else assert.fail(`${container.name}: cannot resolve env ${variable.name}`);
  }
  return env;
}

/** $(VAR) in args, as the kubelet expands it from the container's env. */
function argsOf(container) {
  const env = envOf(container);
  return (container.args ?? []).map((arg) =>
    arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => (name in env ? env[name] : whole)),
  );
}

function secretText(secret, key) {
  if (secret.stringData && key in secret.stringData) return secret.stringData[key];
  if (secret.data && key in secret.data) return Buffer.from(secret.data[key], 'base64').toString('utf8');
  assert.fail(`Secret ${secret.metadata.name} has no key ${key}`);
}

/**
 * The content a container sees at `path`: a ConfigMap or Secret item, or a file an init container
 * wrote into a shared emptyDir (`cat IN... > OUT`, the only thing collector.yaml's does).
 */
function fileIn(podSpec, container, path) {
  const mount = (container.volumeMounts ?? []).find((m) => path.startsWith(m.mountPath.replace(/\/?$/, '/')));
  assert.ok(mount, `${container.name}: nothing is mounted at ${path}`);
  const relative = path.slice(mount.mountPath.replace(/\/?$/, '/').length);
  const volume = podSpec.volumes.find((v) => v.name === mount.name);
  assert.ok(volume, `${container.name}: no volume ${mount.name}`);
  const item = (items) => (items ? items.find((i) => i.path === relative)?.key : relative);
  if (volume.configMap) {
    assert.equal(volume.configMap.name, configMap.metadata.name);
    const key = item(volume.configMap.items);
    assert.ok(key in configMap.data, `${path}: ConfigMap has no such item`);
    return configMap.data[key];
  }
  if (volume.secret) {
    assert.equal(volume.secret.secretName, sitesSecret.metadata.name);
    return secretText(sitesSecret, item(volume.secret.items));
  }
  if (volume.emptyDir) {
    for (const init of podSpec.initContainers ?? []) {
      const script = (init.command ?? []).at(-1) ?? '';
      const match = script.match(/^cat ((?:\S+ )+)> (\S+)$/);
      if (!match) continue;
      const out = (init.volumeMounts ?? []).find((m) => match[2].startsWith(m.mountPath.replace(/\/?$/, '/')));
      if (out?.name === mount.name && match[2].slice(out.mountPath.replace(/\/?$/, '/').length) === relative) {
        return match[1].trim().split(' ').map((input) => fileIn(podSpec, init, input)).join('');
      }
    }
    assert.fail(`${path}: no init container writes it`);
  }
  assert.fail(`${path}: volume ${mount.name} is neither a ConfigMap, a Secret nor an emptyDir`);
}

/** The config a container reads (RUM_CONFIG), checked by the binary as that pod would run it. */
function configOf(t, dir, { spec, owner }, container) {
  const env = envOf(container);
  assert.ok(env.RUM_CONFIG, `${owner.metadata.name}/${container.name}: no RUM_CONFIG`);
  const text = fileIn(spec, container, env.RUM_CONFIG);
  const { RUM_CONFIG, ...overrides } = env;
  return checkConfig(text, dir, `${owner.metadata.name}-${container.name}.toml`, overrides);
}

test('the config every pod reads passes rum check-config', (t) => {
  const dir = tempDir(t);
  const collector = pod('rum-collector');
  const merged = configOf(t, dir, collector, collector.spec.containers[0]);
  assert.ok(merged.config.sites?.length > 0, 'the collector config has no [[sites]]: the Secret was not appended');
  assert.equal(merged.config.sink.kind, 'kafka');
  for (const name of ['rum-aggregator', 'rum-topics']) {
    const workload = pod(name);
    configOf(t, dir, workload, workload.spec.containers[0]);
  }
});

function portNamed(container, nameOrNumber) {
  if (typeof nameOrNumber === 'number') return nameOrNumber;
  const port = (container.ports ?? []).find((p) => p.name === nameOrNumber);
  assert.ok(port, `${container.name}: no port named ${nameOrNumber}`);
  return port.containerPort;
}

function probes(container) {
  return ['startupProbe', 'readinessProbe', 'livenessProbe']
    .filter((kind) => container[kind])
    .map((kind) => ({ kind, path: container[kind].httpGet.path, port: portNamed(container, container[kind].httpGet.port) }));
}

test('ports, probes, annotations, Services, policies and the PodMonitor agree with the config', (t) => {
  const dir = tempDir(t);
  const collector = pod('rum-collector');
  const edge = collector.spec.containers[0];
  const edgeConfig = configOf(t, dir, collector, edge);
  assertAllInterfaces(edgeConfig.listen, 'collector.listen');
  assertAllInterfaces(edgeConfig.admin, 'collector.admin_listen');
  assert.equal(portNamed(edge, 'http'), portOf(edgeConfig.listen), 'the collector http port is not collector.listen');
  assert.equal(portNamed(edge, 'admin'), portOf(edgeConfig.admin), 'the collector admin port is not collector.admin_listen');

  const aggregator = pod('rum-aggregator');
  const worker = aggregator.spec.containers[0];
  const workerConfig = configOf(t, dir, aggregator, worker).config;
  const args = argsOf(worker);
  const flag = args.indexOf('--listen-admin');
  const workerAdmin = flag >= 0 ? args[flag + 1] : workerConfig.aggregator?.admin_listen;
  assert.ok(workerAdmin, 'aggregator.admin_listen is not set: the ConfigMap must say which port the pods expose');
  assertAllInterfaces(workerAdmin, 'aggregator.admin_listen');
  assert.equal(portNamed(worker, 'admin'), portOf(workerAdmin), 'the aggregator admin port is not aggregator.admin_listen');

  for (const [{ labels, owner }, container, admin] of [
    [collector, edge, portOf(edgeConfig.admin)],
    [aggregator, worker, portOf(workerAdmin)],
  ]) {
    const where = owner.metadata.name;
    for (const probe of probes(container)) {
      assert.equal(probe.port, admin, `${where} ${probe.kind} is not on the admin port`);
    }
    const kinds = probes(container).map((p) => p.kind);
    assert.ok(kinds.includes('livenessProbe') && kinds.includes('readinessProbe'), `${where}: liveness and readiness probes`);
    const annotations = owner.spec.template.metadata.annotations;
    assert.equal(annotations['prometheus.io/scrape'], 'true', where);
    assert.equal(Number(annotations['prometheus.io/port']), admin, `${where}: prometheus.io/port is not the admin port`);
    assert.equal(annotations['prometheus.io/path'], '/metrics', where);
    const podMonitors = byKind('PodMonitor').filter((monitor) => selects(monitor.spec.selector, labels));
    assert.equal(podMonitors.length, 1, `${where}: not selected by one PodMonitor`);
    for (const endpoint of podMonitors[0].spec.podMetricsEndpoints) {
      assert.equal(portNamed(container, endpoint.port), admin, `${where}: the PodMonitor scrapes another port`);
      assert.equal(endpoint.path, '/metrics');
    }
    // The admin port is reachable from the monitoring namespace only; no rule opens it wider.
    const policies = byKind('NetworkPolicy').filter((policy) => selects(policy.spec.podSelector, labels));
    assert.equal(policies.length, 1, `${where}: not selected by one NetworkPolicy`);
    for (const rule of policies[0].spec.ingress) {
      const ports = rule.ports.map((p) => portNamed(container, p.port));
      if (ports.includes(admin)) {
        assert.ok(rule.from?.length > 0 && rule.from.every((peer) => peer.namespaceSelector), `${where}: the admin port is open to all`);
      }
    }
  }

  // The Service reaches the collectors' public port, and nothing reaches an admin port.
  for (const service of byKind('Service')) {
    const target = pods.find(({ labels }) => selects({ matchLabels: service.spec.selector }, labels));
    assert.ok(target, `Service ${service.metadata.name} selects no pod`);
    for (const port of service.spec.ports) {
      const number = portNamed(target.spec.containers[0], port.targetPort);
      assert.equal(number, portOf(edgeConfig.listen), `Service ${service.metadata.name} exposes port ${number}, not collector.listen`);
    }
  }
  for (const budget of byKind('PodDisruptionBudget')) {
    assert.ok(pods.some(({ labels }) => selects(budget.spec.selector, labels)), `PDB ${budget.metadata.name} selects no pod`);
  }
  for (const hpa of byKind('HorizontalPodAutoscaler')) {
    const target = named(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
    assert.ok(target.spec.template.spec.containers.every((c) => c.resources?.requests?.cpu), 'HPA on CPU needs CPU requests');
  }
});

function selects(selector, labels) {
  const matchLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const matchExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values }) =>
    operator === 'In' ? values.includes(labels[key]) : operator === 'NotIn' ? !values.includes(labels[key]) : operator === 'Exists' ? key in labels : !(key in labels),
  );
  return matchLabels && matchExpressions;
}

test('grace periods, memory and the spool volume fit the config', (t) => {
  const dir = tempDir(t);
  const collector = pod('rum-collector');
  const edge = collector.spec.containers[0];
  const { config } = configOf(t, dir, collector, edge);
  const grace = seconds(config.collector.shutdown_grace ?? '15s');
  const pause = edge.lifecycle?.preStop?.sleep?.seconds;
  assert.ok(pause >= 5, 'the collector needs a preStop pause so load balancers drain it first');
  assert.ok(
    collector.spec.terminationGracePeriodSeconds > pause + grace,
    `terminationGracePeriodSeconds ${collector.spec.terminationGracePeriodSeconds} must exceed preStop ${pause} s + collector.shutdown_grace ${grace} s`,
  );
  const limit = bytes(edge.resources.limits.memory);
  const watermark = bytes(config.limits.memory_high_watermark);
  assert.ok(watermark > 0 && watermark < limit, `limits.memory_high_watermark ${watermark} must be below the memory limit ${limit}`);
  const spoolMount = edge.volumeMounts.find((m) => m.mountPath === config.spool.dir);
  assert.ok(spoolMount && !spoolMount.readOnly, `spool.dir ${config.spool.dir} is not a writable volume mount`);
  const spoolVolume = collector.spec.volumes.find((v) => v.name === spoolMount.name);
  assert.ok(bytes(spoolVolume.emptyDir.sizeLimit) > bytes(config.spool.max_bytes), 'the spool volume is smaller than spool.max_bytes');
  for (const { owner, spec } of pods) {
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      const where = `${owner.metadata.name}/${container.name}`;
      assert.ok(container.resources?.requests?.memory && container.resources?.limits?.memory, `${where}: memory request and limit`);
      assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root`);
      assert.equal(container.securityContext?.allowPrivilegeEscalation, false, where);
    }
    assert.equal(spec.securityContext.runAsNonRoot, true, owner.metadata.name);
  }
});

test('every container of the image runs a command line rum accepts', () => {
  for (const { owner, spec } of pods) {
    for (const container of spec.containers.filter((c) => c.image === 'rum')) {
      assert.ok(!container.command, `${owner.metadata.name}: command would replace the image's entrypoint (rum)`);
      assertRealCommandLine(argsOf(container), `${owner.metadata.name}/${container.name}`);
    }
  }
});

test('the manifests\' commands run against a broker and answer their probes', async (t) => {
  const dir = tempDir(t);
  const { brokers } = await startTansu(t, dir);
  // The pods' env, with the brokers and the listeners moved onto this machine's loopback.
  const run = async (name, extraEnv) => {
    const workload = pod(name);
    const container = workload.spec.containers[0];
    const { file } = configOf(t, dir, workload, container);
    const env = { ...cleanEnv(), ...envOf(container), RUM_CONFIG: file, RUM_KAFKA__BROKERS: brokers, ...extraEnv };
    const args = argsOf(container).map((arg, i, all) =>
      arg === envOf(container).RUM_KAFKA__BROKERS ? brokers : all[i - 1] === '--listen-admin' ? extraEnv.RUM_AGGREGATOR__ADMIN_LISTEN : arg,
    );
    return { container, process: startProcess(t, rumBin, args, { cwd: dir, env }) };
  };

  const topics = await run('rum-topics', {
    RUM_TOPICS__BEACONS__REPLICATION: '1',
    RUM_TOPICS__PARTIALS__REPLICATION: '1',
    RUM_TOPICS__STATE__REPLICATION: '1',
  });
  const { code } = await topics.process.exited;
  assert.equal(code, 0, `rum-topics failed:\n${topics.process.output()}`);
  assert.match(topics.process.output(), /created rum\.beacons/);

  const probe = async (name, container, admin, process) => {
    await waitFor(`${name} /healthz`, async () => (await get(`http://127.0.0.1:${admin}/healthz`)).status === 200, 60000).catch(
      (error) => assert.fail(`${error.message}\n${process.output()}`),
    );
    for (const { kind, path } of probes(container)) {
      const { status } = await get(`http://127.0.0.1:${admin}${path}`);
      // Liveness (and startup) must pass on a healthy process, or the kubelet restarts it;
      // readiness may still be 503 while it joins, but the path must exist.
      if (kind !== 'readinessProbe') assert.equal(status, 200, `${name} ${kind} ${path}`);
      else assert.ok(status === 200 || status === 503, `${name} ${kind} ${path} answered ${status}`);
    }
    assert.equal((await get(`http://127.0.0.1:${admin}/no-such-endpoint`)).status, 404, 'unknown paths answer 404');
  };

  const [publicPort, adminPort, workerAdmin] = [await freePort(), await freePort(), await freePort()];
  const collector = await run('rum-collector', {
    RUM_COLLECTOR__LISTEN: `127.0.0.1:${publicPort}`,
    RUM_COLLECTOR__ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    RUM_SPOOL__DIR: join(dir, 'spool'),
  });
  await probe('rum-collector', collector.container, adminPort, collector.process);
  await waitFor('the collector ready on the broker', async () => (await get(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 30000);
  assert.equal((await get(`http://127.0.0.1:${publicPort}/rum.js`)).status, 200, 'the public port serves the script');

  const worker = await run('rum-aggregator', { RUM_AGGREGATOR__ADMIN_LISTEN: `127.0.0.1:${workerAdmin}` });
  await probe('rum-aggregator', worker.container, workerAdmin, worker.process);
});

