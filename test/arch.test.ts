/**
 * Repository checks: the core stays pure (no I/O modules, no ambient clock or randomness),
 * and the client never loads the capture addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './helpers/paths.js';

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const FORBIDDEN_IMPORTS = /from\s+['"](node:)?(fs|fs\/promises|net|dgram|child_process|dns|os|http|https|cluster|worker_threads|timers|cap|execa|pino)['"]/;
const FORBIDDEN_CALLS = /\b(Date\.now\(|new Date\(\)|Math\.random\(|setTimeout\(|setInterval\(|setImmediate\(|process\.env|process\.hrtime|console\.)/;

test('src/core imports no I/O modules and uses no ambient clock, randomness or environment', () => {
  const offenders: string[] = [];
  for (const f of tsFiles(join(repoRoot, 'src', 'core'))) {
    const text = readFileSync(f, 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n');
    const m1 = FORBIDDEN_IMPORTS.exec(text);
    if (m1) offenders.push(`${relative(repoRoot, f)}: imports ${m1[0]}`);
    const m2 = FORBIDDEN_CALLS.exec(text);
    if (m2) offenders.push(`${relative(repoRoot, f)}: uses ${m2[0]}`);
  }
  assert.deepEqual(offenders, []);
});

/** Every import (static or dynamic, type-only included) of a file, relative ones resolved to .ts paths. */
function imports(file: string): { spec: string; resolved?: string }[] {
  const text = readFileSync(file, 'utf8');
  const out: { spec: string; resolved?: string }[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2]) as string;
    out.push(spec.startsWith('.') ? { spec, resolved: join(file, '..', spec.replace(/\.js$/, '.ts')) } : { spec });
  }
  return out;
}

test('src/core imports only src/core (relative imports resolved), and no I/O packages', () => {
  const core = join(repoRoot, 'src', 'core');
  const offenders: string[] = [];
  for (const f of tsFiles(core)) {
    for (const i of imports(f)) {
      if (i.resolved !== undefined && !i.resolved.startsWith(core + '/')) offenders.push(`${relative(repoRoot, f)} imports ${i.spec}`);
      if (i.resolved === undefined && !/^(node:)?(crypto|ini)$/.test(i.spec)) offenders.push(`${relative(repoRoot, f)} imports package ${i.spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the import resolver sees relative imports into src/io (it would have caught core → io)', () => {
  const found = imports(join(repoRoot, 'src', 'daemon', 'main.ts')).filter((i) => i.resolved?.includes(`${join('src', 'io')}/`));
  assert.ok(found.length > 5, JSON.stringify(found));
});

test('no source file is over 300 lines', () => {
  const long = tsFiles(join(repoRoot, 'src')).map((f) => [relative(repoRoot, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
    .filter(([, n]) => n > 300);
  assert.deepEqual(long, []);
});

test('only src/io/capture.ts imports cap', () => {
  const importers = tsFiles(join(repoRoot, 'src'))
    .filter((f) => /(from\s+['"]cap['"]|require\(['"]cap['"]\))/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(repoRoot, f));
  assert.deepEqual(importers, ['src/io/capture.ts']);
});

test('the knock client does not statically import capture, daemon or pino code', () => {
  // Follow static imports from the client entry; dynamic import() (SPA, keygen) is allowed.
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^import\s+(?!type\b)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
      const spec = (m[1] as string).replace(/\.js$/, '.ts');
      visit(join(file, '..', spec));
    }
  };
  visit(join(repoRoot, 'src', 'cli', 'knock.ts'));
  const bad = [...seen].map((f) => relative(repoRoot, f)).filter((f) => /src\/(io\/capture|daemon\/|io\/logger|io\/audit-log)/.test(f));
  assert.deepEqual(bad, []);
  for (const f of seen) {
    assert.doesNotMatch(readFileSync(f, 'utf8'), /^import[^;]*from\s+['"](cap|pino|tweetnacl)['"]/m, `${relative(repoRoot, f)} statically imports a heavy module`);
  }
});

test('package.json version matches src/version.ts', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const { VERSION } = await import('../src/version.js');
  assert.equal(VERSION, pkg.version);
});
