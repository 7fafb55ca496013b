// In real headless Chromium with Playwright's device descriptors: each device's beacon carries its
// touch points and screen, and the collector puts its page view in the right device class (the
// aggregator's `device` dimension). The Galaxy Z Fold's UA says `Mobile` like a phone; only its
// screen (928 px shorter side, unfolded) makes it a tablet.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { devices } from 'playwright-core';
import { startEnvironment, waitFor } from './harness.mjs';

const CASES = [
  { site: 'ipad', device: 'iPad Pro 11', expected: 'tablet' },
  { site: 'tab', device: 'Galaxy Tab S9', expected: 'tablet' },
  { site: 'fold', device: 'Galaxy Z Fold 6', expected: 'tablet' },
  { site: 'phone', device: 'Pixel 7', expected: 'mobile' },
  { site: 'desktop', device: 'Desktop Chrome', expected: 'desktop' },
];

let env;
before(async () => {
  env = await startEnvironment(CASES.map(({ site }) => site));
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

for (const { site, device, expected } of CASES) {
  test(`${device} is counted as ${expected}`, { timeout: 60000 }, async () => {
    // Everything but the browser type (these run in Chromium, whatever the descriptor's default).
    const { defaultBrowserType, ...descriptor } = devices[device];
    const page = await env.newPage(descriptor);
    await page.goto(`${env.pageOrigin}/nav.html?key=${site}-key`);
    await page.waitForFunction(() => window.rum && window.rum.flush && document.readyState == 'complete');
    await page.evaluate(() => window.rum.flush());
    const [beacon] = await waitFor(`a beacon from ${device}`, () => {
      const received = env.beaconsFor(`${site}-key`);
      return received.length && received;
    });
    assert.equal(beacon.status, 202, beacon.answer);
    const screen = descriptor.screen ?? descriptor.viewport;
    assert.deepEqual([beacon.dev.sw, beacon.dev.sh], [screen.width, screen.height], JSON.stringify(beacon.dev));
    assert.equal(beacon.dev.touch > 0, descriptor.hasTouch, JSON.stringify(beacon.dev));
    await waitFor(`${device} counted as ${expected}`, async () =>
      (await env.metric('rum_page_views_total', { view: 'site_device', site, device: expected })) == 1,
    );
    const classes = (await env.metrics())
      .filter((sample) => sample.name == 'rum_page_views_total' && sample.labels.view == 'site_device' && sample.labels.site == site)
      .map((sample) => sample.labels.device);
    assert.deepEqual(classes, [expected], 'one page view, in one device class');
    await page.context().close();
  });
}
