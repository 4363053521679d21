#!/usr/bin/env node
// Bundles the knock client into one CommonJS file, dist/bundle/knock.cjs, with esbuild.
// Run by `npm run build` after tsc. Why: a fresh `knock --spa` spent most of its time above
// `node -e 0` resolving and compiling ~20 ES modules; one CommonJS file is loaded in one read
// and one compile (docs/ARCHITECTURE.md, package choices; bench/startup.ts measures it).
// The bundle starts from the entry point src/cli/knock.ts and its exported run(); dynamic
// imports there (the SPA client) stay lazy: esbuild defers their module bodies until first use.
// dist/bundle-meta.json lists the inputs (test/package/bundle.test.ts checks that no daemon or
// capture code is in the client).
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'bundle', 'knock.cjs');
mkdirSync(dirname(outfile), { recursive: true });
const r = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/knock.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // whitespace and syntax only: identifiers keep their names, so stack traces stay readable
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // CommonJS has no import.meta: knock.ts finds package.json (for --version) from its own URL
  define: { 'import.meta.url': '__knockd_ts_bundle_url' },
  banner: { js: "'use strict';var __knockd_ts_bundle_url=require('node:url').pathToFileURL(__filename).href;" },
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(root, 'dist', 'bundle-meta.json'), JSON.stringify(r.metafile, null, 1));
