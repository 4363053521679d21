#!/usr/bin/env node
// Runs every compiled test file under dist/test with node:test.
// Node 20's `node --test` does not expand globs, so the file list is built here.
// --no-e2e skips test/e2e (network namespaces, root); the e2e files skip themselves
// with a reason when they cannot run, so the default is to include them.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const noE2e = args.includes('--no-e2e');
const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (noE2e && name === 'e2e') continue;
      walk(p);
    } else if (name.endsWith('.test.js')) files.push(p);
  }
}
walk(root);
if (files.length === 0) {
  console.error('run-tests: no compiled test files under dist/test (did the build run?)');
  process.exit(1);
}
// e2e tests create network namespaces; run files one at a time so they never race.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
