/**
 * Every command in README.md and systemd/README.md is run by a test or by the package script.
 * Each shell block carries `<!-- doc-run: NAME -->`; NAME's runner (docrun.ts RUNNERS) runs the
 * block's lines as written: scripts/test-deb.sh (deb-install, first-spa-door, deb-systemd),
 * test/package/readme.test.ts (first-screen, npm-install, usage, systemd-manual). This test
 * fails for a shell block without a runner, a runner that does not name its block, or a name
 * no block uses, so a new documented command cannot go unrun.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { docBlocks, RUNNERS } from './docrun.js';

const DOCS = ['README.md', 'systemd/README.md'];
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);

test('every shell block of the READMEs names a runner that runs it', () => {
  const used = new Set<string>();
  for (const file of DOCS) {
    for (const b of docBlocks(file)) {
      if (!SHELL.has(b.lang)) continue;
      assert.ok(b.name, `${file}:${b.line}: shell block without <!-- doc-run: NAME --> on the line before it`);
      const runner = RUNNERS[b.name];
      assert.ok(runner, `${file}:${b.line}: doc-run: ${b.name} has no runner in test/package/docrun.ts RUNNERS`);
      assert.ok(b.commands.length > 0, `${file}:${b.line}: empty block`);
      used.add(b.name);
      const files = [...runner.matchAll(/\b((?:scripts|test)\/[\w/.-]+\.(?:ts|sh))\b/g)].map((m) => m[1] as string);
      assert.ok(files.length > 0, runner);
      const mention = files.some((f) => existsSync(join(repoRoot, f)) && readFileSync(join(repoRoot, f), 'utf8').includes(`'${b.name}'`));
      assert.ok(mention, `${file}:${b.line}: no file of '${runner}' runs the block '${b.name}'`);
    }
  }
  assert.deepEqual(Object.keys(RUNNERS).filter((n) => !used.has(n)), [], 'runners for blocks that no longer exist');
});

test('the first screen of README.md is still exactly two commands', () => {
  const first = docBlocks('README.md')[0];
  assert.equal(first?.name, 'first-screen');
  assert.deepEqual(first?.commands.map((c) => c.text.split(/\s+#/)[0]?.trim()), ['./scripts/demo.sh', './scripts/test.sh']);
});
