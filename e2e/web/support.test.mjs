// The support desk in real browsers against the real binary: the chat widget embedded in a
// bank's page (not the dashboard) gets pushed, grounded replies in English and in German;
// "talk to a human" puts the conversation in the agents' console, where an agent sees the
// bot's evidence, claims, replies (the customer's widget shows it), resolves, and the customer
// rates the help; a page on another origin (allowed by `cors.allowed_origins`) chats too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ARTIFACTS, accessibilityViolations, guardedPage, launch } from './browser.mjs';
import { startFinpulse } from './server.mjs';

const DESK = {
  FINPULSE_SUPPORT__ENABLED: 'true',
  // The multilingual encoder alone: German needs it, and one model indexes in half the time.
  FINPULSE_SUPPORT__MODELS: '["multilingual-e5-small"]',
  FINPULSE_MARKET__SIMULATOR__ENABLED: 'false',
  FINPULSE_RECOMMEND__SIMULATOR__RATE_PER_SEC: '0',
};
// The first reply waits for the FAQ index, built at start-up (most of a minute in a debug build).
const FIRST_REPLY_MS = 240_000;
const PUSH_MS = 20_000;

/** The chat widget's elements, inside its shadow root (Playwright's CSS pierces open roots). */
const W = {
  launcher: 'finpulse-chat .launcher',
  input: 'finpulse-chat textarea',
  status: 'finpulse-chat .status',
  human: 'finpulse-chat button.human',
  bot: 'finpulse-chat .msg.bot[data-id]',
  agent: 'finpulse-chat .msg.agent',
};

async function ask(page, text) {
  await page.fill(W.input, text);
  await page.press(W.input, 'Enter');
}

/**
 * A bank's site on another origin (another port) whose page embeds the widget from `api`. As a
 * real bank does, it answers its own token endpoint for the signed-in customer (carol): finpulse
 * hands development tokens to no other site.
 */
async function bankSite() {
  let api = '';
  let mint = () => {
    throw new Error('the site serves no finpulse yet');
  };
  const site = createServer((request, response) => {
    if (request.url === '/finpulse-token') {
      const token = mint('carol');
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token, user: 'carol', expiresAt: new Date(exp * 1000).toISOString() }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    if (request.url === '/mounted') {
      // A page that holds its user's token itself hands it over: `FinpulseChat.mount`.
      response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another bank, its own sign-in</title>
<link rel="icon" href="data:,"></head><body><main><h1>Another bank</h1></main>
<script src="${api}/widget.js" data-mount="manual"></script>
<script>
  window.tokensAsked = 0;
  FinpulseChat.mount({
    server: ${JSON.stringify(api)},
    language: 'en',
    getToken: () => { window.tokensAsked += 1; return fetch('/finpulse-token').then((r) => r.json()).then((t) => t.token); },
  });
</script></body></html>`);
      return;
    }
    response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another bank</title>
<link rel="icon" href="data:,"></head><body><main><h1>Another bank</h1></main>
<script src="${api}/widget.js" data-finpulse-url="${api}" data-token-url="/finpulse-token" data-language="en"></script></body></html>`);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${site.address().port}`,
    serve: (server) => {
      api = server.url;
      mint = (user) => server.token(user);
    },
    close: () => new Promise((resolve) => site.close(resolve)),
  };
}

test('the widget answers in English and German, hands off, and the agent console takes over', async () => {
  // The demo page is on finpulse's own origin; this site is not, so it needs CORS.
  const site = await bankSite();
  const server = await startFinpulse({ ...DESK, FINPULSE_CORS__ALLOWED_ORIGINS: `["${site.origin}"]` });
  site.serve(server);
  const browser = await launch();
  try {
    // A customer on the bank's page, the widget in English.
    const customer = await guardedPage(browser, { viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    const page = customer.page;
    await page.goto(`${server.url}/demo?user=alice`);
    await page.waitForSelector(W.launcher);
    assert.equal(await page.textContent(W.launcher), 'Chat with us', 'the browser language (en-GB) picks English');
    // The page restyles every button; the widget's keep their own look.
    const pageButton = await page.$eval('#contact', (b) => getComputedStyle(b).backgroundColor);
    const widgetButton = await page.$eval(W.launcher, (b) => getComputedStyle(b).backgroundColor);
    assert.equal(pageButton, 'rgb(122, 31, 31)');
    assert.equal(widgetButton, 'rgb(11, 92, 173)', 'the host page CSS reached into the widget');

    // Keyboard: the launcher opens the dialog and puts the focus in the message box.
    await page.focus(W.launcher);
    await page.keyboard.press('Enter');
    await page.waitForSelector('finpulse-chat .panel:not([hidden])');
    assert.equal(await page.evaluate(() => document.querySelector('finpulse-chat').shadowRoot.activeElement?.tagName), 'TEXTAREA');

    await ask(page, 'Why was my card payment declined at the checkout?');
    await page.waitForSelector(`${W.bot}:has-text("Card payments are declined")`, { timeout: FIRST_REPLY_MS });
    const reply = await page.textContent(W.bot);
    assert.match(reply, /Hi Alex,/, 'the reply uses the account: the customer is named');
    assert.match(reply, /active \(card ending/, 'the reply quotes the card status from the store');
    assert.deepEqual(await accessibilityViolations(page), [], 'axe: the open widget on the demo page');
    await page.screenshot({ path: join(ARTIFACTS, 'support-widget-en.png') });

    // Another customer, the widget in German.
    const german = await guardedPage(browser, { viewport: { width: 390, height: 800 }, locale: 'de-DE' });
    await german.page.goto(`${server.url}/demo?user=bob`);
    await german.page.click(W.launcher);
    assert.equal(await german.page.textContent('finpulse-chat h2'), 'Kundenservice');
    await ask(german.page, 'Warum wurde meine Kartenzahlung abgelehnt?');
    await german.page.waitForSelector(`${W.bot}:has-text("Kartenzahlungen werden abgelehnt")`, { timeout: PUSH_MS });
    assert.equal(await german.page.getAttribute(`${W.bot} p`, 'lang'), 'de');
    await german.page.screenshot({ path: join(ARTIFACTS, 'support-widget-de-phone.png') });
    // A reload (or the site's next page) resumes the conversation, history and all.
    await german.page.reload();
    await german.page.click(W.launcher);
    await german.page.waitForSelector(`${W.bot}:has-text("Kartenzahlungen werden abgelehnt")`, { timeout: PUSH_MS });
    assert.equal(await german.page.$$eval('finpulse-chat .msg[data-id]', (m) => m.length), 2);

    // "Talk to a human": the conversation waits for an agent.
    await page.click(W.human);
    await page.waitForSelector(`${W.status}[data-state="WAITING_FOR_AGENT"]`, { timeout: PUSH_MS });

    // The agent's console sees it in the queue, with the bot's evidence.
    const agent = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    const console_ = agent.page;
    await console_.goto(`${server.url}/app/`);
    await console_.selectOption('#user-picker', 'sam');
    await console_.click('nav a[data-screen="support"]');
    const queued = '#support-queue button[data-conversation]:has-text("alice")';
    await console_.waitForSelector(queued, { timeout: PUSH_MS });
    await console_.click(queued);
    await console_.waitForSelector('#support-conversation .evidence[data-decision="handoff_requested"]');
    const answered = await console_.textContent('#support-conversation .evidence[data-decision="answer"] summary');
    assert.match(answered, /Answered from the FAQ · card_payment_failed \d+ %/);
    assert.equal(await console_.textContent('#support-conversation .conversation-status'), 'Waiting for an agent');

    await console_.click('#agent-claim');
    await console_.waitForSelector('#support-conversation .conversation-status[data-status="WITH_AGENT"]', { timeout: PUSH_MS });
    await page.waitForSelector(`${W.status}:has-text("sam from our team is with you")`, { timeout: PUSH_MS });
    // The claimed conversation has left the queue.
    await console_.waitForFunction(() => !document.querySelector('#support-queue button[data-conversation]'), null, { timeout: PUSH_MS });

    await console_.fill('#agent-reply', 'Hello Alex, I can see the declined payment; your card is fine, please try again.');
    await console_.click('#agent-send');
    await page.waitForSelector(`${W.agent}:has-text("your card is fine")`, { timeout: PUSH_MS });
    // The customer answers; the agent sees it pushed.
    await ask(page, 'Thank you, it worked!');
    await console_.waitForSelector('#support-conversation .chat-message.customer:has-text("it worked")', { timeout: PUSH_MS });
    assert.deepEqual(await accessibilityViolations(console_), [], 'axe: the agent console');
    await console_.screenshot({ path: join(ARTIFACTS, 'support-console.png') });
    await console_.click('#theme-toggle');
    await console_.setViewportSize({ width: 375, height: 800 });
    assert.deepEqual(await accessibilityViolations(console_), [], 'axe: the agent console, other theme, phone');
    const overflow = await console_.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the console is ${overflow} px wider than a phone`);
    await console_.screenshot({ path: join(ARTIFACTS, 'support-console-phone.png'), fullPage: true });
    await console_.setViewportSize({ width: 1280, height: 900 });

    // Resolved: the customer rates it, and the agent sees the rating.
    await console_.click('#agent-resolve');
    await page.waitForSelector('finpulse-chat .rating:not([hidden]) .star', { timeout: PUSH_MS });
    await page.click('finpulse-chat .star[data-score="5"]');
    await page.waitForSelector('finpulse-chat .rating:has-text("Thank you for your rating")');
    await console_.waitForSelector('#support-conversation .conversation-status:has-text("rated 5/5")', { timeout: PUSH_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'support-widget-rated.png') });

    // A reload starts afresh: a rated conversation is not resumed.
    await page.reload();
    await page.click(W.launcher);
    assert.equal(await page.$$eval('finpulse-chat .msg[data-id]', (m) => m.length), 0);

    // Embedded on another origin: the token, the query and the socket all cross it.
    const other = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await other.page.goto(site.origin);
    await other.page.click(W.launcher);
    await ask(other.page, 'Why was my card payment declined?');
    await other.page.waitForSelector(`${W.bot}:has-text("Card payments are declined")`, { timeout: PUSH_MS });

    // The same page mounting the widget with its own tokens (a bare JWT: its expiry is read).
    const mounted = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await mounted.page.goto(`${site.origin}/mounted`);
    await mounted.page.click(W.launcher);
    await ask(mounted.page, 'Why was my card payment declined?');
    await mounted.page.waitForSelector(`${W.bot}:has-text("Card payments are declined")`, { timeout: PUSH_MS });
    assert.ok(await mounted.page.evaluate(() => window.tokensAsked) >= 1, 'the token came from getToken()');

    assert.deepEqual(customer.problems, []);
    assert.deepEqual(mounted.problems, []);
    assert.deepEqual(german.problems, []);
    assert.deepEqual(agent.problems, []);
    assert.deepEqual(other.problems, []);
  } finally {
    await browser.close();
    await server.stop();
    await site.close();
  }
});
