/**
 * The client bundle (scripts/bundle.mjs → dist/bundle/knock.cjs, built by npm run build):
 * bin/knock runs it, and it holds the client only: no daemon, capture or logging code and no
 * npm dependency the client does not import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, repoRoot } from '../helpers/paths.js';

test('the bundle holds the client only (esbuild metafile)', () => {
  const meta = JSON.parse(readFileSync(join(repoRoot, 'dist', 'bundle-meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
  const inputs = Object.keys(meta.inputs);
  assert.ok(inputs.includes('src/cli/knock.ts') && inputs.includes('src/cli/spa-client.ts'), inputs.join(', '));
  const foreign = inputs.filter((f) => /^src\/(daemon|io\/(capture|runner|exec|journal|audit-log|logger|knockd-log))\b|node_modules\/(cap|pino|execa|commander)\//.test(f));
  assert.deepEqual(foreign, []);
  assert.doesNotMatch(readFileSync(join(repoRoot, 'dist', 'bundle', 'knock.cjs'), 'utf8'), /require\(["']cap["']\)/);
});

test('bin/knock loads the bundle, not the module tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bundle-'));
  try {
    const hook = join(dir, 'hook.cjs');
    writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(join(dir, 'loaded'))}, Object.keys(require.cache).join('\\n')));`);
    const r = spawnSync(process.execPath, ['--require', hook, bin('knock'), '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^knock \(knockd-ts\) \d+\.\d+\.\d+/);
    const loaded = readFileSync(join(dir, 'loaded'), 'utf8').split('\n');
    assert.ok(loaded.includes(join(repoRoot, 'dist', 'bundle', 'knock.cjs')), loaded.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
