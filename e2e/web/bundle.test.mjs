// The dashboard's size budget (web-demo/README.md): what a browser downloads for /app, gzipped
// as it would travel, must stay within it. Measured on the built files the binary embeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = join(process.cwd(), '..', 'web-demo', 'dist');
const KIB = 1024;
const BUDGET = { js: 100 * KIB, css: 10 * KIB, html: 2 * KIB };

test('the dashboard stays within its size budget', () => {
  assert.ok(existsSync(join(dist, 'index.html')), 'web-demo/dist is missing: run scripts/setup-web.sh');
  const sizes = { js: 0, css: 0, html: gzipSync(readFileSync(join(dist, 'index.html'))).length };
  for (const name of readdirSync(join(dist, 'assets'))) {
    const kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : null;
    if (kind) sizes[kind] += gzipSync(readFileSync(join(dist, 'assets', name)), { level: 9 }).length;
  }
  console.log(`dashboard gzipped: js ${(sizes.js / KIB).toFixed(1)} KiB, css ${(sizes.css / KIB).toFixed(1)} KiB, html ${(sizes.html / KIB).toFixed(1)} KiB`);
  for (const kind of Object.keys(BUDGET)) {
    assert.ok(sizes[kind] <= BUDGET[kind], `${kind}: ${sizes[kind]} bytes gzipped, budget ${BUDGET[kind]}`);
  }
});

// The chat widget goes on a bank's every page, before anything of ours is wanted: one script,
// its styles inside, a small fraction of the dashboard.
const WIDGET_BUDGET = 16 * KIB;

test('the chat widget is one small script', () => {
  const path = join(dist, 'widget.js');
  assert.ok(existsSync(path), 'web-demo/dist/widget.js is missing: run scripts/setup-web.sh');
  const source = readFileSync(path);
  const size = gzipSync(source, { level: 9 }).length;
  console.log(`widget gzipped: ${(size / KIB).toFixed(1)} KiB`);
  assert.ok(size <= WIDGET_BUDGET, `widget.js: ${size} bytes gzipped, budget ${WIDGET_BUDGET}`);
  // Self-contained: no import of another file (the host page loads exactly one).
  assert.doesNotMatch(source.toString(), /\bimport\s*\(|^import\s/m);
});
