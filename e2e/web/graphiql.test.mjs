// GraphiQL in a real browser (Debian's chromium through playwright-core): served entirely by
// the binary, no request leaves the machine, and a subscription streams results into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startFinpulse } from './server.mjs';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

test('GraphiQL loads offline and streams a subscription', async () => {
  assert.ok(existsSync(executablePath), `no browser at ${executablePath}: run scripts/setup-test.sh`);
  const server = await startFinpulse({ FINPULSE_SIMULATOR__SPEED: '120', FINPULSE_SIMULATOR__WARMUP_MINUTES: '30' });
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const foreign = [];
    const failures = [];
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname !== '127.0.0.1' && url.protocol !== 'data:') {
        foreign.push(url.href);
        return route.abort();
      }
      return route.continue();
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`);
    });

    await page.goto(`${server.url}/graphiql`);
    await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
    // The preloaded first tab is the live-insights subscription: run it.
    const editor = await page.textContent('.graphiql-query-editor');
    assert.match(editor, /subscription LiveInsights/);
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      () => /"publishedAt"/.test(document.querySelector('.graphiql-response')?.textContent ?? ''),
      null,
      { timeout: 30_000 },
    );
    const response = await page.textContent('.graphiql-response');
    assert.match(response, /"insights"/);
    assert.match(response, /"symbol"/);

    assert.deepEqual(foreign, [], 'GraphiQL must not reach outside the machine');
    assert.deepEqual(failures, []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
