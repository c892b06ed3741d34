// The "Experiments" screen in a real browser against the real binary, with the behaviour
// simulator opening lists and the demo experiment running: an operator sees every variant's
// lists, click-through and conversion with intervals grow live and the bandit's traffic chart;
// stops and restarts the experiment and defines a new one, and finds those changes in the
// audit log on the Admin screen. Customers do not see either screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, accessibilityViolations, guardedPage, launch } from './browser.mjs';
import { startFinpulse } from './server.mjs';

// Simulated customers at a brisk pace, so lists are shown within seconds; no market simulator.
const BUSY = { FINPULSE_RECOMMEND__SIMULATOR__RATE_PER_SEC: '30', FINPULSE_MARKET__SIMULATOR__ENABLED: 'false' };
const shown = (page) => page.$$eval('#experiment-table td[data-field="impressions"]', (cells) =>
  cells.reduce((sum, cell) => sum + Number(cell.textContent), 0));

test('Experiments shows the demo bandit live to operators, and only to them', async () => {
  const server = await startFinpulse(BUSY);
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/app/`);
    await page.selectOption('#user-picker', 'alice');
    await page.waitForSelector('nav a[data-screen="for-you"]');
    const customerNav = await page.$$eval('nav a', (links) => links.map((a) => a.dataset.screen));
    assert.ok(!customerNav.includes('experiments'), `a customer's navigation: ${customerNav}`);

    await page.selectOption('#user-picker', 'ops');
    await page.waitForSelector('nav a[data-screen="experiments"]');
    await page.click('nav a[data-screen="experiments"]');
    await page.waitForSelector('#experiment-table tr[data-variant]', { timeout: 20_000 });
    assert.match(await page.textContent('#experiment-summary'), /bandit \(Thompson sampling\) · running/);
    const variants = await page.$$eval('#experiment-table tr[data-variant]', (rows) => rows.map((r) => r.dataset.variant));
    assert.deepEqual(variants, ['collaborative', 'no-diversity', 'ranked', 'popularity']);

    // The counts move while the simulated customers open lists, pushed to the page.
    const before = await shown(page);
    await page.waitForFunction((n) => {
      const cells = document.querySelectorAll('#experiment-table td[data-field="impressions"]');
      return [...cells].reduce((sum, c) => sum + Number(c.textContent), 0) > n + 10;
    }, before, { timeout: 30_000 });
    const ctr = await page.textContent('#experiment-table tr[data-variant="collaborative"] td[data-field="ctr"]');
    assert.match(ctr, /^\d+\.\d % \(\d+\.\d %–\d+\.\d %\)$/, `ctr cell: ${ctr}`);
    await page.waitForSelector('#experiment-traffic polyline[data-variant="popularity"]', { timeout: 20_000 });
    const lines = await page.$$eval('#experiment-traffic polyline', (ls) => ls.map((l) => l.dataset.variant));
    assert.deepEqual(lines, ['collaborative', 'no-diversity', 'ranked', 'popularity']);
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: Experiments');
    await page.screenshot({ path: join(ARTIFACTS, 'experiments.png') });

    // Stop, then start again.
    await page.click('#experiment-picker ~ .actions button[data-action="stop"]');
    await page.waitForSelector('#experiment-summary[data-status="STOPPED"]', { timeout: 10_000 });
    await page.click('#experiment-picker ~ .actions button[data-action="start"]');
    await page.waitForSelector('#experiment-summary[data-status="RUNNING"]', { timeout: 10_000 });

    // A new experiment is a draft until started; starting it while the demo runs is refused.
    await page.fill('#new-experiment-id', 'browser-test');
    await page.selectOption('#new-experiment-mode', 'AB_TEST');
    await page.click('.new-experiment button[type="submit"]');
    await page.waitForSelector('#experiment-summary[data-status="DRAFT"]', { timeout: 10_000 });
    assert.equal(await page.inputValue('#experiment-picker'), 'browser-test');
    await page.click('#experiment-picker ~ .actions button[data-action="start"]');
    await page.waitForFunction(() => /is running: stop it first/.test(document.querySelector('.experiments [role="alert"]').textContent), null, { timeout: 10_000 });

    // The operator's changes are in the audit log, newest first, on the Admin screen.
    await page.click('nav a[data-screen="admin"]');
    await page.waitForSelector('#audit-rows tr[data-action="experiment.create"]', { timeout: 10_000 });
    const logged = await page.$$eval('#audit-rows tr', (rows) => rows.map((r) => r.dataset.action));
    assert.deepEqual(logged.slice(0, 3), ['experiment.create', 'experiment.start', 'experiment.stop']);
    await page.fill('#audit-actor', 'nobody');
    await page.click('.audit form button[type="submit"]');
    await page.waitForSelector('.audit [role="alert"]:has-text("No entries.")');
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: Admin');
    await page.screenshot({ path: join(ARTIFACTS, 'admin-audit.png') });

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
