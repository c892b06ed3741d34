// Starts the real finpulse binary on a free loopback port in a fresh data folder.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A free loopback port. */
export { freePort };

/** GET `url` over https, trusting `ca` (PEM): resolves with the status code. */
function httpsStatus(url, ca) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

export function finpulseBinary() {
  if (process.env.FINPULSE_BIN) return process.env.FINPULSE_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(process.cwd(), '..', 'target');
  return join(target, 'debug', 'finpulse');
}

/**
 * Runs `finpulse serve` until `stop()`; `env` adds FINPULSE_* settings. `port` and `dataDir`
 * start it again where an earlier run was (a restart); `stop({ keepData: true })` leaves the
 * data folder for that. `ca` (PEM) says the server speaks TLS with a certificate from that CA.
 */
export async function startFinpulse(env = {}, { port: fixedPort, dataDir: fixedDir, ca } = {}) {
  const port = fixedPort ?? (await freePort());
  const dataDir = fixedDir ?? mkdtempSync(join(tmpdir(), 'finpulse-e2e-'));
  const child = spawn(finpulseBinary(), ['serve'], {
    env: {
      ...process.env,
      FINPULSE_LISTEN: `127.0.0.1:${port}`,
      FINPULSE_DATA_DIR: dataDir,
      FINPULSE_LOG_LEVEL: 'warn',
      // The repository's model manifest (its files come from scripts/setup-models.sh).
      FINPULSE_INFERENCE__MANIFEST: join(process.cwd(), '..', 'models.toml'),
      // The support desk indexes its FAQ with both embedding models at every start (about a
      // minute of both cores in a debug build): off unless a test of the desk asks for it,
      // so the other screens' timings are not the indexing's.
      FINPULSE_SUPPORT__ENABLED: 'false',
      // The picker's operator (`ops`) signs in with development tokens only when asked by name.
      FINPULSE_AUTH__DEV_TOKENS: 'admin',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `${ca ? 'https' : 'http'}://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`finpulse exited with ${child.exitCode}`);
    try {
      const status = ca ? await httpsStatus(`${url}/readyz`, ca) : (await fetch(`${url}/readyz`)).status;
      if (status === 200) break;
    } catch {
      // not listening yet
    }
    if (attempt > 600) throw new Error('finpulse did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    dataDir,
    token(user) {
      return execFileSync(finpulseBinary(), ['token', '--user', user], {
        env: { ...process.env, FINPULSE_DATA_DIR: dataDir },
      })
        .toString()
        .trim();
    },
    async stop({ keepData = false } = {}) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}
