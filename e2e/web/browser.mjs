// Debian's chromium through playwright-core, with the guards every browser test keeps: no
// request leaves the machine, and every console error or warning, page error and failed
// response is collected so a test can assert there were none.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots for people (CI artefacts), git ignored. */
export const ARTIFACTS = join(process.cwd(), 'artifacts');

/** Chromium; `args` adds command-line flags. */
export async function launch({ args = [] } = {}) {
  assert.ok(existsSync(executablePath), `no browser at ${executablePath}: run scripts/setup-test.sh`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // A launch has once hung in CI with no browser process in sight: give it a minute, then one
  // more try, so a stuck start fails (or recovers) instead of holding the run.
  // A later CI run sat ten minutes in the restart test with no browser process: a timer of
  // ours bounds each try too, in case Playwright's own timeout does not fire.
  const start = () => {
    let timer;
    let gaveUp = false;
    const bounded = new Promise((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        reject(new Error('browser launch took over 90 s'));
      }, 90_000);
    });
    const launching = chromium.launch({ executablePath, args: ['--no-sandbox', ...args], timeout: 60_000 });
    // A browser that starts after we gave up on it is closed, not leaked.
    launching.then((late) => gaveUp && late.close(), () => {});
    return Promise.race([launching, bounded]).finally(() => clearTimeout(timer));
  };
  try {
    return await start();
  } catch (error) {
    console.info(`browser launch failed, retrying once: ${error}`);
    return start();
  }
}

/** A page whose problems are collected in `problems`. */
export async function guardedPage(browser, options = {}) {
  const context = await browser.newContext(options);
  // Every Content-Security-Policy violation is a problem, said plainly (the browser's own
  // console line for it is one too): our pages allow no inline script or style.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'} on ${event.documentURI}`);
    });
  });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== '127.0.0.1' && url.protocol !== 'data:') {
      problems.push(`request outside the machine: ${url.href}`);
      return route.abort();
    }
    return route.continue();
  });
  return { context, page, problems };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now. */
export async function accessibilityViolations(page) {
  // Evaluated through the DevTools protocol, not added as an inline <script>: the pages' CSP
  // (rightly) refuses inline scripts, and this one is the test's, not the page's.
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
