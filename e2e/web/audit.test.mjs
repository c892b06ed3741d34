// The graphql-http package's server audit: every audit must come back `ok` (not only the
// error-level ones: a server answering `{"data":null}` to everything passes those).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditServer } from 'graphql-http';
import { startFinpulse } from './server.mjs';

test('graphql-http server audit reports every audit ok', async () => {
  const server = await startFinpulse({ FINPULSE_MARKET__SIMULATOR__ENABLED: 'false' });
  try {
    const results = await auditServer({ url: `${server.url}/graphql` });
    const notOk = results.filter((r) => r.status !== 'ok');
    for (const r of notOk) {
      console.error(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
    }
    console.log(`graphql-http audit: ${results.length - notOk.length}/${results.length} ok`);
    assert.ok(results.length >= 60, `only ${results.length} audits ran`);
    assert.deepEqual(notOk.map((r) => `${r.id} ${r.name}`), []);
  } finally {
    assert.equal(await server.stop(), 0, 'finpulse stops cleanly on SIGTERM');
  }
});
