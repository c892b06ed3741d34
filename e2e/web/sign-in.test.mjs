// Sign-in through a real identity provider (npm `oidc-provider`), everything over TLS with a CA
// made for the test: the dashboard sends the customer to the provider's login page (a wrong
// password is refused there), comes back signed in, keeps the access token in memory only (no
// storage, no readable cookie), stars a symbol on the watchlist, renews the token while the
// live socket stays up, signs out at the provider, and a second user signs in and sees their
// own watchlist, not the first one's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guardedPage, launch } from './browser.mjs';
import { AUDIENCE, CLIENT_ID, CLIENT_SECRET, USERS, startIdentityProvider } from './identity-provider.mjs';
import { freePort, startFinpulse } from './server.mjs';

const FAST_MARKET = { FINPULSE_MARKET__SIMULATOR__SPEED: '120', FINPULSE_MARKET__SIMULATOR__WARMUP_MINUTES: '60' };

/** A CA and a certificate for 127.0.0.1 signed by it (openssl), and the certificate's SPKI pin. */
function certificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '30', '-subj', '/CN=finpulse sign-in test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '30', '-extfile', 'server.ext');
  const publicKey = openssl('x509', '-pubkey', '-noout', '-in', 'server.pem');
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: publicKey });
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der });
  return {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    spki: digest.toString('base64'),
  };
}

async function signIn(page, providerPort, user, password) {
  await page.click('#sign-in');
  await page.waitForURL((url) => url.port === String(providerPort) && url.pathname.startsWith('/interaction/'));
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#sign-in-submit');
}

test('a customer signs in through the identity provider over TLS, is renewed while the live screen keeps updating, and signs out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finpulse-sign-in-'));
  const tls = certificates(dir);
  const [providerPort, finpulsePort] = [await freePort(), await freePort()];
  const finpulseUrl = `https://127.0.0.1:${finpulsePort}`;
  const provider = await startIdentityProvider({
    port: providerPort,
    key: readFileSync(tls.keyFile),
    cert: readFileSync(tls.certFile),
    redirectUri: `${finpulseUrl}/auth/callback`,
    postLogoutRedirectUri: `${finpulseUrl}/app/`,
    accessTokenTtl: 20,
  });
  const configFile = join(dir, 'finpulse.toml');
  writeFileSync(configFile, `
[tls]
cert = ${JSON.stringify(tls.certFile)}
key = ${JSON.stringify(tls.keyFile)}

[auth.oidc]
issuer = ${JSON.stringify(provider.issuer)}
audience = ${JSON.stringify(AUDIENCE)}
ca_file = ${JSON.stringify(tls.caFile)}

[auth.oidc.login]
client_id = ${JSON.stringify(CLIENT_ID)}
client_secret = ${JSON.stringify(CLIENT_SECRET)}
redirect_url = "${finpulseUrl}/auth/callback"
scopes = ["openid", "profile", "offline_access"]
`);
  let server;
  let browser;
  try {
    server = await startFinpulse({ ...FAST_MARKET, FINPULSE_CONFIG: configFile }, { port: finpulsePort, ca: tls.ca });
    // The browser trusts exactly this certificate (its public key pinned), nothing else.
    browser = await launch({ args: [`--ignore-certificate-errors-spki-list=${tls.spki}`] });
    const { page, problems } = await guardedPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${finpulseUrl}/app/markets`);
    await page.waitForSelector('#sign-in');
    assert.equal(await page.$('#user-picker'), null, 'no development user picker beside a real sign-in');
    const devTokens = await page.evaluate(() => fetch('/dev/token').then((r) => r.status));
    assert.equal(devTokens, 404, 'no development tokens where a provider signs users in');

    // The provider's login page refuses a wrong password, then lets alice in.
    await signIn(page, providerPort, 'alice', 'not-her-password');
    await page.waitForSelector('#login-error');
    await page.fill('#username', 'alice');
    await page.fill('#password', USERS.alice.password);
    await page.click('#sign-in-submit');
    await page.waitForURL(`${finpulseUrl}/app/markets`);
    await page.waitForSelector('#signed-in-user');
    assert.equal(await page.textContent('#signed-in-user'), 'alice');
    assert.equal(provider.logins.alice, 1);
    await page.waitForSelector('.link[data-state="live"]', { timeout: 30_000 });

    // The token lives in the page's memory only.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie);
    assert.doesNotMatch(stored, /eyJ/, 'no JWT in storage or in a readable cookie');
    assert.doesNotMatch(stored, /finpulse_session/, 'the session cookie is HttpOnly');

    // The watchlist, as alice.
    await page.waitForSelector('#quote-board tbody tr');
    const symbol = await page.$eval('#quote-board tbody tr', (row) => row.dataset.symbol);
    const star = `#quote-board tr[data-symbol="${symbol}"] button.star`;
    await page.waitForSelector(`${star}:not([disabled])`);
    await page.click(star);
    await page.waitForSelector(`#watchlist li[data-symbol="${symbol}"]`, { timeout: 10_000 });

    // The access token lives 20 s: the page renews it (the server with the refresh token) and
    // the live screen carries on.
    const issued = Number(await page.getAttribute('html', 'data-tokens-issued'));
    await page.waitForFunction((n) => Number(document.documentElement.dataset.tokensIssued) > n, issued, { timeout: 45_000 });
    assert.equal(provider.logins.alice, 1, 'renewed without signing in again');
    await page.waitForSelector('.link[data-state="live"]', { timeout: 15_000 });
    const prices = await page.$$eval('#quote-board td[data-price]', (cells) => cells.map((c) => c.dataset.price).join());
    await page.waitForFunction((p) => [...document.querySelectorAll('#quote-board td[data-price]')].map((c) => c.dataset.price).join() !== p,
      prices, { timeout: 15_000 });
    assert.equal(await page.textContent('#signed-in-user'), 'alice');
    assert.ok(await page.$(`#watchlist li[data-symbol="${symbol}"]`), 'the watchlist stays after the renewal');

    // Sign out: finpulse's session ends, then the provider's (its own confirmation page).
    await page.click('#sign-out');
    await page.waitForURL((url) => url.port === String(providerPort));
    await page.click('button[name="logout"]');
    await page.waitForURL(`${finpulseUrl}/app/`);
    await page.waitForSelector('#sign-in');
    const after = await page.evaluate(() => fetch('/auth/token', { method: 'POST' }).then((r) => r.status));
    assert.equal(after, 401, 'no session after signing out');

    // bob signs in (the provider asks for a password again) and sees his own watchlist.
    await page.goto(`${finpulseUrl}/app/markets`);
    await signIn(page, providerPort, 'bob', USERS.bob.password);
    await page.waitForURL(`${finpulseUrl}/app/markets`);
    await page.waitForSelector('#signed-in-user');
    assert.equal(await page.textContent('#signed-in-user'), 'bob');
    assert.equal(provider.logins.bob, 1);
    await page.waitForSelector(`${star}:not([disabled])`);
    assert.equal(await page.$(`#watchlist li[data-symbol="${symbol}"]`), null, "alice's watchlist is not bob's");

    const expected = [
      /^401 https:\/\/127\.0\.0\.1:\d+\/interaction\//, // the wrong password
      /^401 https:\/\/127\.0\.0\.1:\d+\/auth\/token$/, // asking for a session while signed out
      /^404 https:\/\/127\.0\.0\.1:\d+\/dev\/token$/, // the check that development tokens are off
    ];
    // The browser's console line for each of those answers, too.
    const echoed = /^console error: Failed to load resource: the server responded with a status of (401|404) \((Unauthorized|Not Found)?\)$/;
    const unexpected = problems.filter((p) => !expected.some((e) => e.test(p)) && !echoed.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser?.close();
    await server?.stop();
    await provider.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
