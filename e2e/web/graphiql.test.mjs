// GraphiQL in a real browser (Debian's chromium through playwright-core): served entirely by
// the binary, no request leaves the machine, and a subscription streams results into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedPage, launch } from './browser.mjs';
import { startFinpulse } from './server.mjs';

test('GraphiQL loads offline and streams a subscription', async () => {
  const server = await startFinpulse({ FINPULSE_MARKET__SIMULATOR__SPEED: '120', FINPULSE_MARKET__SIMULATOR__WARMUP_MINUTES: '30' });
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser);
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

    // Nothing outside the machine, no failed response, no page error, no console complaint.
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
