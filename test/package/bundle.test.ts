/**
 * The client bundle (scripts/bundle.mjs → dist/bundle/knock.cjs and its V8 code cache, built by
 * npm run build): bin/knock runs it, and it holds the client only: no daemon, capture or logging code and no
 * npm dependency the client does not import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

test('the bundle holds the client only (esbuild metafile)', () => {
  const meta = JSON.parse(readFileSync(join(repoRoot, 'dist', 'bundle-meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
  const inputs = Object.keys(meta.inputs);
  assert.ok(inputs.includes('src/cli/knock.ts') && inputs.includes('src/cli/spa-client.ts'), inputs.join(', '));
  const foreign = inputs.filter((f) => /^src\/(daemon|io\/(capture|runner|exec|journal|audit-log|logger|knockd-log))\b|node_modules\/(cap|pino|execa|commander)\//.test(f));
  assert.deepEqual(foreign, []);
  const bundle = readFileSync(join(repoRoot, 'dist', 'bundle', 'knock.cjs'), 'utf8');
  assert.doesNotMatch(bundle, /require\(["']cap["']\)/);
  // bin/knock compiles the bundle with vm.Script, which has no dynamic import callback: an
  // import() left in it fails at run time ("A dynamic import callback was not specified")
  assert.deepEqual(bundle.match(/\bimport\(\s*["'`][^"'`]*["'`]\s*\)/g) ?? [], []);
});

test('bin/knock runs the bundle alone (no module tree, no node_modules) with the code cache V8 takes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bundle-'));
  try {
    for (const f of ['package.json', 'bin/knock', 'bin/package.json', 'dist/bundle/knock.cjs', 'dist/bundle/knock.cjs.cache']) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(join(repoRoot, f), join(dir, f));
    }
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'knock'), '--version'], { encoding: 'utf8', env: { ...process.env, KNOCKD_TS_CODE_CACHE: 'report' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^knock \(knockd-ts\) \d+\.\d+\.\d+/);
    assert.equal(r.stderr.trim(), 'code-cache: accepted');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
