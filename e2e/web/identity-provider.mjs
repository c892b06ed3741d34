// A real OpenID Connect provider for the sign-in tests: npm `oidc-provider` (9.x) over TLS, with
// two users who sign in with a password on its own login page, and finpulse's dashboard
// registered as a confidential client (authorization code + PKCE, refresh tokens, logout).
// Access tokens are JWTs for the audience `finpulse` (resource indicators), carrying the users'
// roles, with a short lifetime so a test sees them renewed.
import { createServer } from 'node:https';
import Provider, { errors } from 'oidc-provider';

/** The provider's users: a login page that takes anyone would prove nothing. */
export const USERS = {
  alice: { password: 'alice-Pa55word', roles: ['customer'], name: 'Alice Example' },
  bob: { password: 'bob-Pa55word', roles: ['customer'], name: 'Bob Example' },
};

export const CLIENT_ID = 'finpulse-dashboard';
export const CLIENT_SECRET = 'a-test-only-client-secret-of-some-length';
export const AUDIENCE = 'finpulse';
const RESOURCE = 'urn:finpulse:api';

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>${body}</body></html>`;
}

async function formBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

/**
 * Starts the provider on `port` with `key`/`cert`; `redirectUri` and `postLogoutRedirectUri`
 * are finpulse's. `accessTokenTtl` is in seconds. Returns `{ issuer, stop(), logins }` where
 * `logins` counts password sign-ins per user.
 */
export async function startIdentityProvider({ port, key, cert, redirectUri, postLogoutRedirectUri, accessTokenTtl = 20 }) {
  const issuer = `https://127.0.0.1:${port}`;
  const logins = {};
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: [postLogoutRedirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    async findAccount(_ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, name: user.name }) };
    },
    cookies: { keys: ['identity-provider-test-cookie-key'] },
    pkce: { required: () => true },
    ttl: { AccessToken: accessTokenTtl, IdToken: 3600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    async extraTokenClaims(_ctx, token) {
      return token.kind === 'AccessToken' ? { roles: USERS[token.accountId]?.roles ?? [] } : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      // The provider's own pages fetch web fonts; these ask nothing of the network.
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `<h1>Sign out of Test Bank?</h1>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<h1>You are signed out</h1>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, indicator) {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: '',
            audience: AUDIENCE,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, error) => console.error('identity provider error:', error));
  const callback = provider.callback();

  // The interactions: a login page with a password, and the consent a bank's own dashboard
  // does not ask its customers for (granted as it is asked).
  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    const { prompt, params, session, grantId } = details;
    if (prompt.name === 'consent') {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
      return;
    }
    if (action === 'login' && req.method === 'POST') {
      const form = await formBody(req);
      const user = USERS[form.get('username')];
      if (user && form.get('password') === user.password) {
        logins[form.get('username')] = (logins[form.get('username')] ?? 0) + 1;
        await provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, { mergeWithLastSubmission: false });
        return;
      }
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign in', `<p id="login-error">Wrong username or password.</p>${loginForm(uid)}`));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page('Sign in', loginForm(uid)));
  }

  const server = createServer({ key, cert }, (req, res) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login))?$/.exec(new URL(req.url, issuer).pathname);
    if (!match) return callback(req, res);
    interaction(req, res, match[1], match[2]).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${error.message}`);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    issuer,
    logins,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

function loginForm(uid) {
  return `<h1>Test Bank sign-in</h1>
<form method="post" action="/interaction/${escape(uid)}/login">
  <label>Username <input name="username" id="username" autocomplete="username" required></label>
  <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" id="sign-in-submit">Sign in</button>
</form>`;
}
