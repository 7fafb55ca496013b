// In real headless Chromium through `rum standalone`, two agents a site may already run, each pointed
// at rum and nothing else changed. A page running Google's web-vitals with its
// README's `sendToAnalytics`, pointed at rum's web-vitals path (nothing else changed), ends up as
// one page view whose LCP, CLS, INP, FCP and TTFB in the aggregator equal what web-vitals itself
// reported on the page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { agentRequests, assertVitalExported, drawFrames, startEnvironment, VITAL_SERIES, waitFor } from './harness.mjs';

/** Waits for the late image and banner, then presses the slow button. */
async function pressBuyOnceLoaded(page) {
  await page.waitForFunction(() => document.getElementById('banner') && document.getElementById('hero').complete, null, { timeout: 20000 });
  await page.waitForTimeout(500);
  await page.click('#buy');
}

let env;
before(async () => {
  env = await startEnvironment(['wv', 'faro']);
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

test('web-vitals with the README sendToAnalytics: page views and vitals as web-vitals reported them', { timeout: 120000 }, async () => {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/webvitals.html?key=wv-key`);
  await pressBuyOnceLoaded(page);
  // web-vitals (without reportAllChanges, as in the README) reports INP only when the page is
  // hidden, so the frames are drawn a few times here rather than waited on.
  await drawFrames(page);
  const beforeHide = await page.evaluate(() => ({ ...window.__reported }));
  // Leaving the page hides it: web-vitals reports the final CLS and INP (and LCP) then.
  await page.goto(`${env.pageOrigin}/blank.html`);

  const site = { view: 'site', site: 'wv' };
  const window5m = { ...site, window: '5m' };
  await waitFor('one page view with each vital once', async () => {
    const views = await env.metric('rum_page_views_total', site);
    const cls = await env.metric('rum_cls_window_samples', window5m);
    const inp = await env.metric('rum_inp_window_samples', window5m);
    return views == 1 && cls == 1 && inp == 1;
  }, 20000);
  const requests = agentRequests(env.beacons, '/rum/v1/web-vitals', 'wv-key');
  for (const request of requests) assert.equal(request.status, 202, request.answer);
  // What web-vitals reported last for each metric (the bodies it sent), by name.
  const reported = {};
  for (const request of requests) {
    const metric = JSON.parse(request.body);
    reported[metric.name] = metric.value;
  }
  assert.deepEqual(Object.keys(reported).sort(), ['CLS', 'FCP', 'INP', 'LCP', 'TTFB']);
  for (const name of Object.keys(beforeHide)) assert.ok(name in reported, `${name} was reported on the page but not sent`);
  for (const name of Object.keys(VITAL_SERIES)) await assertVitalExported(env, window5m, name, reported[name], 'web-vitals');
  assert.ok(reported.CLS > 0, `the banner shifted the layout: CLS ${reported.CLS}`);
  assert.ok(reported.INP >= 120, `the slow button: INP ${reported.INP}`);
  assert.equal(await env.metric('rum_collector_agent_payloads_total', { agent: 'web_vitals', outcome: 'translated' }), requests.length);
  await page.context().close();
});

test('the Grafana Faro Web SDK pointed at /collect: one page view, its vitals, error and navigation timing', { timeout: 120000 }, async () => {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/faro.html?key=faro-key`);
  await pressBuyOnceLoaded(page);
  await drawFrames(page);
  await page.goto(`${env.pageOrigin}/blank.html`);

  // What Faro sent (it batches; the last value of each vital wins), read from the bodies.
  const sent = () => {
    const vitals = {};
    let errors = 0;
    let navigations = 0;
    for (const request of agentRequests(env.beacons, '/collect', 'faro-key')) {
      const payload = JSON.parse(request.body);
      for (const measurement of payload.measurements || []) {
        if (measurement.type != 'web-vitals') continue;
        for (const name of ['lcp', 'inp', 'cls', 'fcp', 'ttfb']) {
          if (name in measurement.values) vitals[name.toUpperCase()] = measurement.values[name];
        }
      }
      errors += (payload.exceptions || []).length;
      navigations += (payload.events || []).filter((event) => event.name == 'faro.performance.navigation').length;
    }
    return { vitals, errors, navigations };
  };
  await waitFor('Faro to send LCP, the error and the navigation', () => {
    const { vitals, errors, navigations } = sent();
    return 'LCP' in vitals && errors >= 1 && navigations >= 1;
  }, 20000);
  await page.waitForTimeout(1500);
  const { vitals, errors, navigations } = sent();
  console.log(`Faro sent ${JSON.stringify(vitals)}, ${errors} error(s), ${navigations} navigation(s)`);
  for (const request of agentRequests(env.beacons, '/collect', 'faro-key')) assert.equal(request.status, 202, request.answer);

  const site = { view: 'site', site: 'faro' };
  const window5m = { ...site, window: '5m' };
  await waitFor('the aggregator to count the page view and the LCP', async () =>
    (await env.metric('rum_page_views_total', site)) == 1 && (await env.metric('rum_lcp_window_samples', window5m)) == 1,
  20000);
  for (const [name, [, samples]] of Object.entries(VITAL_SERIES)) {
    if (!(name in vitals)) {
      // Faro did not send it (its batch on hide can leave before web-vitals reports): nothing counted.
      assert.equal((await env.metric(samples, window5m)) ?? 0, 0, `${name} was not sent but counted`);
      continue;
    }
    await assertVitalExported(env, window5m, name, vitals[name], 'Faro');
  }
  assert.ok(['LCP', 'FCP', 'TTFB'].every((name) => name in vitals), `Faro sent ${JSON.stringify(vitals)}`);
  assert.equal(navigations, 1);
  assert.equal(await env.metric('rum_nav_load_window_samples', window5m), 1, 'navigation timing');
  assert.equal(await env.metric('rum_errors_total', { ...site, kind: 'error' }), errors, 'errors');
  assert.equal(await env.metric('rum_collector_agent_payloads_total', { agent: 'faro', outcome: 'translated' }), agentRequests(env.beacons, '/collect', 'faro-key').length);
  await page.context().close();
});
