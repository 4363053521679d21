#!/usr/bin/env node
// Bundles the knock client into one CommonJS file, dist/bundle/knock.cjs, with esbuild.
// The file is one function expression, CommonJS's module wrapper written out: bin/knock compiles
// it as it is read, where adding the wrapper at run time made V8 build (and collect) a second
// 63 KB string on every start. require() of the file therefore runs nothing.
// Run by `npm run build` after tsc. Why: a fresh `knock --spa` spent most of its time above
// `node -e 0` resolving and compiling ~20 ES modules; one CommonJS file is loaded in one read
// and one compile (docs/ARCHITECTURE.md, package choices; bench/startup.ts measures it).
// The bundle starts from the entry point src/cli/knock.ts and its exported run(); dynamic
// imports there (the SPA client) stay lazy: esbuild defers their module bodies until first use.
// dist/bundle-meta.json lists the inputs (test/package/bundle.test.ts checks that no daemon or
// capture code is in the client).
// Then the V8 code cache dist/bundle/knock.cjs.cache: bin/knock runs one SPA knock (keygen into a
// temporary directory, the datagram to a socket of this script on 127.0.0.1) and saves what V8
// compiled for it; the next start skips that compilation. A second run checks that V8 takes it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  // CommonJS has no import.meta: knock.ts finds package.json (for --version) from its own URL,
  // computed on first use (a getter) so that no other start pays for node:url
  define: { 'import.meta.url': '__knockd_ts_bundle.url' },
  banner: { js: "(function (exports, require, module, __filename, __dirname) {'use strict';var __knockd_ts_bundle={get url(){return require('node:url').pathToFileURL(__filename).href}};" },
  footer: { js: '})' },
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(root, 'dist', 'bundle-meta.json'), JSON.stringify(r.metafile, null, 1));

const cacheFile = `${outfile}.cache`;
rmSync(cacheFile, { force: true });
const tmp = mkdtempSync(join(tmpdir(), 'kts-bundle-'));
const sock = createSocket('udp4');
try {
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const knock = (args, mode) => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'knock'), ...args], {
      encoding: 'utf8', env: { ...process.env, HOME: tmp, ...(mode ? { KNOCKD_TS_CODE_CACHE: mode } : {}) },
    });
    if (r.status !== 0) throw new Error(`bundle: knock ${args.join(' ')} failed: ${r.stderr}`);
    return r.stderr;
  };
  const spa = ['--spa', '--key', join(tmp, 'key'), '--spa-port', String(sock.address().port), '127.0.0.1'];
  knock(['--keygen', '--key', join(tmp, 'key')]);
  knock(spa, 'write');
  const report = knock(spa, 'report');
  if (!/code-cache: accepted/.test(report)) {
    unlinkSync(cacheFile);
    throw new Error(`bundle: V8 did not take the code cache it just made (${report.trim()})`);
  }
} finally {
  sock.close();
  rmSync(tmp, { recursive: true, force: true });
}
