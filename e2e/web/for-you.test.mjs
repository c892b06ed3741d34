// The "For you" screen in a real browser against the real binary: a signed-in demo customer
// sees a live list with explanations; saving and dismissing send interactions and the list is
// pushed again, reordered, at once; the page is accessible and its navigation shows the screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, accessibilityViolations, guardedPage, launch } from './browser.mjs';
import { startFinpulse } from './server.mjs';

// No live simulated customers: every change of the list here is the test's own doing.
const QUIET = {
  FINPULSE_RECOMMEND__SIMULATOR__RATE_PER_SEC: '0',
  FINPULSE_RECOMMEND__SIMULATOR__DEMO_EXPERIMENT: 'false',
  FINPULSE_MARKET__SIMULATOR__ENABLED: 'false',
};
const updates = (page) => page.$eval('#for-you-list', (el) => Number(el.dataset.updates));
const items = (page) => page.$$eval('#for-you-list li[data-item]', (rows) => rows.map((r) => r.dataset.item));

test('For you shows live, explained recommendations that follow save and dismiss', async () => {
  const server = await startFinpulse(QUIET);
  const browser = await launch();
  try {
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/app/for-you`);
    await page.waitForSelector('.for-you >> text=Pick a user');
    assert.equal(await page.getAttribute('nav a[data-screen="for-you"]', 'aria-current'), 'page');

    await page.selectOption('#user-picker', 'alice');
    await page.waitForSelector('#for-you-list li[data-item]', { timeout: 15_000 });
    const first = await items(page);
    assert.ok(first.length >= 5, `items: ${first}`);
    assert.match(await page.textContent('#for-you-provenance'), /model (ease|popularity) · version \d{8}T/);
    const why = await page.$$eval('#for-you-list .why', (rows) => rows.map((r) => r.textContent));
    assert.ok(why.every((w) => w.length > 10), `explanations: ${why}`);
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: For you');
    await page.screenshot({ path: join(ARTIFACTS, 'for-you.png') });

    // Dismissing the top pick: a new list arrives without it.
    const seen = await updates(page);
    await page.click(`#for-you-list li[data-item="${first[0]}"] button[data-action="dismiss"]`);
    await page.waitForFunction((n) => Number(document.querySelector('#for-you-list').dataset.updates) > n, seen, { timeout: 10_000 });
    const afterDismiss = await items(page);
    assert.ok(!afterDismiss.includes(first[0]), `still shown: ${afterDismiss}`);

    // Saving the last pick: the list is re-ranked around it (it is no longer recommended, as it
    // is the customer's own now), and items that moved say so.
    const last = afterDismiss.at(-1);
    const before = await updates(page);
    await page.click(`#for-you-list li[data-item="${last}"] button[data-action="save"]`);
    await page.waitForFunction((n) => Number(document.querySelector('#for-you-list').dataset.updates) > n, before, { timeout: 10_000 });
    const afterSave = await items(page);
    assert.ok(!afterSave.includes(last), `saved item still recommended: ${afterSave}`);
    assert.notDeepEqual(afterSave, afterDismiss);
    const moved = await page.$$eval('#for-you-list li[data-movement]', (rows) => rows.length);
    assert.ok(moved > 0, 'the reorder is shown');
    assert.equal(await page.getAttribute('#for-you-list', 'data-model'), 'ease');
    await page.screenshot({ path: join(ARTIFACTS, 'for-you-after-save.png') });

    // Open shows the description (read in the click's own turn, before any list arrives) and
    // counts as a click: the server pushes a new list.
    const opened = afterSave[0];
    const count = await updates(page);
    const shown = await page.evaluate((id) => {
      const row = document.querySelector(`#for-you-list li[data-item="${id}"]`);
      const button = row.querySelector('button[data-action="open"]');
      button.click();
      const details = row.querySelector('p.description');
      return { hidden: details.hidden, text: details.textContent, expanded: button.getAttribute('aria-expanded') };
    }, opened);
    assert.equal(shown.hidden, false, 'the description is shown');
    assert.equal(shown.expanded, 'true');
    assert.ok(shown.text.trim().length > 20, `a description, not an empty box: "${shown.text}"`);
    await page.waitForFunction((n) => Number(document.querySelector('#for-you-list').dataset.updates) > n, count, { timeout: 10_000 });
    // The new list keeps it open where the item is still listed.
    const still = await page.$(`#for-you-list li[data-item="${opened}"] p.description`);
    if (still) assert.ok(await still.isVisible(), 'an opened description stays open across a new list');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
