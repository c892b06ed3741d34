// The dashboard in a real browser against the real binary: the Markets screen goes live with
// no configuration, the chart redraws on ticks, the insights feed fills, the watchlist keeps a
// change across a reload, the AI tools answer, the page is accessible in both themes and usable
// at phone width, and nothing reaches outside the machine or complains on the console.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, accessibilityViolations, guardedPage, launch } from './browser.mjs';
import { startFinpulse } from './server.mjs';

const FAST_MARKET = { FINPULSE_MARKET__SIMULATOR__SPEED: '120', FINPULSE_MARKET__SIMULATOR__WARMUP_MINUTES: '60' };
const number = (page, selector, attribute) =>
  page.$eval(selector, (el, a) => Number(el.getAttribute(a) ?? 0), attribute);

test('the Markets screen is live, accessible and keeps the watchlist', async () => {
  const server = await startFinpulse(FAST_MARKET);
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
    await page.goto(`${server.url}/`);
    assert.equal(new URL(page.url()).pathname, '/app/', '/ opens the dashboard');
    await page.waitForSelector('.link[data-state="live"]', { timeout: 30_000 });
    assert.equal(await page.textContent('nav a[aria-current="page"]'), 'Markets');
    assert.deepEqual(await page.$$eval('nav a', (links) => links.map((a) => a.dataset.screen)), ['markets', 'for-you'],
      'only screens whose backend has landed are shown');

    // The chart has history, then redraws as live candles arrive.
    await page.waitForFunction(() => Number(document.querySelector('#chart')?.dataset.bars ?? 0) > 20, null, { timeout: 30_000 });
    const before = await page.locator('#chart').screenshot();
    const updates = await number(page, '#chart', 'data-updates');
    await page.waitForFunction((n) => Number(document.querySelector('#chart').dataset.updates) >= n + 5, updates, { timeout: 30_000 });
    const after = await page.locator('#chart').screenshot();
    assert.notDeepEqual(after, before, 'the chart redrew');

    // The insights feed and the quote board fill and move.
    await page.waitForFunction(() => Number(document.querySelector('#insights-feed')?.dataset.count ?? 0) > 0, null, { timeout: 30_000 });
    const symbols = await page.$$eval('#quote-board tbody tr', (rows) => rows.map((r) => r.dataset.symbol));
    assert.ok(symbols.length >= 2, `quote board rows: ${symbols}`);
    const prices = () => page.$$eval('#quote-board td[data-price]', (cells) => cells.map((c) => c.dataset.price).join());
    const firstPrices = await prices();
    await page.waitForFunction((p) => [...document.querySelectorAll('#quote-board td[data-price]')].map((c) => c.dataset.price).join() !== p, firstPrices, { timeout: 15_000 });

    // Picking a symbol puts it on the chart.
    const other = symbols[1];
    await page.fill('#symbol-search', other.toLowerCase());
    await page.press('#symbol-search', 'Enter');
    await page.waitForFunction((s) => document.querySelector('#chart-title')?.textContent?.startsWith(s), other);

    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark', 'the system theme is followed');
    await page.screenshot({ path: join(ARTIFACTS, 'markets-desktop-dark.png') });
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: dark theme');

    // Signed out, the watchlist cannot be changed; sign in as alice and star a symbol.
    assert.equal(await page.isDisabled(`#quote-board tr[data-symbol="${other}"] button.star`), true);
    await page.selectOption('#user-picker', 'alice');
    const star = `#quote-board tr[data-symbol="${other}"] button.star`;
    await page.waitForSelector(`${star}:not([disabled])`);
    await page.click(star);
    await page.waitForSelector(`#watchlist li[data-symbol="${other}"]`, { timeout: 5_000 });
    assert.equal(await page.getAttribute(star, 'aria-pressed'), 'true');
    // …and it survives a reload (the user is remembered, the list is the server's).
    await page.reload();
    await page.waitForSelector(`#watchlist li[data-symbol="${other}"]`, { timeout: 15_000 });
    assert.equal(await page.inputValue('#user-picker'), 'alice');
    const stored = await (await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token('alice')}` },
      body: JSON.stringify({ query: '{ watchlist }' }),
    })).json();
    assert.deepEqual(stored.data.watchlist, [other]);
    // Removing it shows at once too.
    await page.click(`#watchlist li[data-symbol="${other}"] button[aria-label^="Stop watching"]`);
    await page.waitForSelector(`#watchlist li[data-symbol="${other}"]`, { state: 'detached', timeout: 5_000 });

    // AI tools: a summary and the language, from the server's models.
    await page.click('#ai-summarize');
    await page.waitForSelector('#ai-output li', { timeout: 30_000 });
    await page.click('#ai-detect');
    await page.waitForSelector('#ai-language', { timeout: 30_000 });
    assert.match(await page.textContent('#ai-language'), /English/);

    // Light theme: remembered, accessible too.
    await page.click('#theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await page.screenshot({ path: join(ARTIFACTS, 'markets-desktop-light.png') });
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: light theme');

    // Phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px screen`);
    await page.screenshot({ path: join(ARTIFACTS, 'markets-phone-light.png'), fullPage: true });
    await page.click('#theme-toggle');
    await page.screenshot({ path: join(ARTIFACTS, 'markets-phone-dark.png'), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: phone width');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('the dashboard reconnects after a server restart and shows what it missed', async () => {
  let server = await startFinpulse(FAST_MARKET);
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/app/markets`);
    await page.waitForFunction(() => Number(document.querySelector('#chart')?.dataset.bars ?? 0) > 0, null, { timeout: 30_000 });
    await page.waitForSelector('.link[data-state="live"]');

    const symbols = await page.$$eval('#quote-board tbody tr', (rows) => rows.map((r) => r.dataset.symbol));
    const { port, dataDir } = server;
    await server.stop({ keepData: true });
    await page.waitForSelector('.link[data-state="reconnecting"]', { timeout: 15_000 });
    assert.match(await page.textContent('.link'), /Reconnecting/);
    assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true, 'the screen shows it may be stale');
    await page.screenshot({ path: join(ARTIFACTS, 'markets-reconnecting.png') });

    // While the page is away, the market moves on: a second server on another port, on the
    // same data, stores insights after everything the page saw (the stored market's last
    // quote is at or after the page's newest insight). Only then does the page's server come
    // back, so there is something to catch up on however fast the page reconnects.
    const away = await startFinpulse(FAST_MARKET, { dataDir });
    const ask = async (query, variables) => {
      const response = await fetch(`${away.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()).data;
    };
    const { quotes } = await ask('query($s: [String!]!) { quotes(symbols: $s) { ts } }', { s: symbols });
    const lastSeen = quotes.map((q) => q.ts).sort().at(-1);
    for (let attempt = 0; ; attempt++) {
      const { insightsSince } = await ask('query($t: DateTime!) { insightsSince(since: $t, limit: 1) { id } }', { t: lastSeen });
      if (insightsSince.length > 0) break;
      assert.ok(attempt < 600, 'the market produced no insight in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await away.stop({ keepData: true });

    server = await startFinpulse(FAST_MARKET, { port, dataDir });
    await page.waitForSelector('.link[data-state="live"]', { timeout: 30_000 });
    // What was stored before the socket came back is read and added to the screen…
    await page.waitForFunction(() => Number(document.querySelector('main')?.dataset.caughtUp ?? 0) > 0, null, { timeout: 20_000 });
    // …and live updates carry on.
    const updates = await number(page, '#chart', 'data-updates');
    await page.waitForFunction((n) => Number(document.querySelector('#chart').dataset.updates) > n, updates, { timeout: 20_000 });

    // The browser saw the restart as failed connections: those are expected, nothing else.
    const unexpected = problems.filter((p) => !/WebSocket connection to .* failed|Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a signed-in dashboard renews its token before it expires', async () => {
  const server = await startFinpulse(FAST_MARKET);
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    // 12-second tokens (the picker asks for that lifetime when told to): renewed after ~10 s.
    await page.addInitScript(() => localStorage.setItem('finpulse.devTokenTtlSecs', '12'));
    await page.goto(`${server.url}/app/`);
    await page.waitForSelector('#quote-board tbody tr', { timeout: 30_000 });
    await page.selectOption('#user-picker', 'alice');
    await page.waitForSelector('#watchlist', { timeout: 10_000 });
    const signedInAt = Date.now();
    // Renewed before the first token runs out (not only after the server closed the socket).
    await page.waitForFunction(() => Number(document.documentElement.dataset.tokensIssued) >= 2, null, { timeout: 11_500 });
    // Past the first token's expiry: still signed in, still live, changes still accepted.
    await page.waitForTimeout(Math.max(0, 13_000 - (Date.now() - signedInAt)));
    await page.waitForSelector('.link[data-state="live"]', { timeout: 10_000 });
    const symbol = await page.$eval('#quote-board tbody tr', (row) => row.dataset.symbol);
    await page.click(`#quote-board tr[data-symbol="${symbol}"] button.star`);
    await page.waitForSelector(`#watchlist li[data-symbol="${symbol}"]`, { timeout: 5_000 });
    assert.equal(await page.inputValue('#user-picker'), 'alice');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('without development tokens the dashboard stays usable anonymously', async () => {
  const server = await startFinpulse({ ...FAST_MARKET, FINPULSE_AUTH__DEV_TOKENS: 'false' });
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/app/`);
    await page.waitForSelector('#quote-board tbody tr', { timeout: 30_000 });
    // The dashboard asked `GET /dev/token` first, so it offers no picker that cannot work.
    await page.waitForSelector('text=Anonymous (no sign-in on this server)', { timeout: 5_000 });
    assert.equal(await page.$('#user-picker'), null);
    assert.equal(await page.isDisabled('#quote-board tbody tr button.star'), true);
    await page.waitForSelector('.link[data-state="live"]');
    // The refused offer is the only failed request.
    assert.deepEqual(problems.filter((p) => !/^404 .*\/dev\/token$|status of 404/.test(p)), []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
