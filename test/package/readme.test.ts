/**
 * The commands of README.md and systemd/README.md that are not the Debian package's
 * (scripts/test-deb.sh runs those), as written: the first screen's demo, the npm install and
 * "Using it" (classic and SPA knocks against the npm-installed daemon), and systemd/README's
 * install of the unit for an npm install. The install blocks run in a sandbox
 * (test/package/readme-sandbox.ts), so nothing stays on the host. Root only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { repoRoot } from '../helpers/paths.js';
import { docBlock } from './docrun.js';
import { sandboxed } from './sandbox.js';

const tools = ['unshare', 'setpriv', 'go-md2man', 'man'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = e2eSkipReason() ?? (tools ? `'${tools}' not installed (scripts/setup.sh)` : undefined);
const top = mkdtempSync(join(tmpdir(), 'kts-readme-'));
process.on('exit', () => rmSync(top, { recursive: true, force: true }));

function scenario(what: string, ...args: string[]): { status: number | null; out: string } {
  const dir = join(top, what);
  mkdirSync(dir, { recursive: true });
  const s = sandboxed([process.execPath, join(repoRoot, 'dist', 'test', 'package', 'readme-sandbox.js'), what, ...args]);
  const r = spawnSync(s.argv[0] as string, s.argv.slice(1), {
    cwd: repoRoot, encoding: 'utf8', timeout: 400_000, env: { ...process.env, ...s.env, KTS_SANDBOX_DIR: dir },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test('README first screen: ./scripts/demo.sh runs (./scripts/test.sh is what .ci/run runs)', { skip, timeout: 300_000 }, () => {
  const cmds = docBlock('README.md', 'first-screen').commands.map((c) => c.text.split(/\s+#/)[0]?.trim());
  assert.deepEqual(cmds, ['./scripts/demo.sh', './scripts/test.sh']);
  assert.match(spawnSync('cat', [join(repoRoot, '.ci', 'run')], { encoding: 'utf8' }).stdout, /bash scripts\/test\.sh/);
  // setup.sh already ran (this suite runs after it); DEMO_SKIP_SETUP keeps the demo from re-running npm ci under us
  const r = spawnSync('bash', ['-c', './scripts/demo.sh'], { cwd: repoRoot, encoding: 'utf8', timeout: 280_000, env: { ...process.env, DEMO_SKIP_SETUP: '1' } });
  assert.equal(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
});

test('README npm install and "Using it", as written, in a sandbox: classic and SPA knocks open, kill closes', { skip, timeout: 420_000 }, (t) => {
  const r = scenario('npm-usage');
  for (const line of r.out.split('\n')) if (/^(ok|NOTE)/.test(line)) t.diagnostic(line);
  assert.equal(r.status, 0, r.out.slice(-5000));
  assert.match(r.out, /readme-sandbox: all checks passed/);
});

test('systemd/README install of the unit for an npm install, as written: the unit\'s daemon opens a door', { skip, timeout: 420_000 }, (t) => {
  const tgz = join(top, 'npm-usage', 'knockd-ts.tgz');
  if (!existsSync(tgz)) { t.skip('needs the tarball of the npm-usage test (it failed or was skipped)'); return; }
  const r = scenario('systemd-manual', tgz);
  for (const line of r.out.split('\n')) if (/^(ok|NOTE)/.test(line)) t.diagnostic(line);
  assert.equal(r.status, 0, r.out.slice(-5000));
  assert.match(r.out, /readme-sandbox: all checks passed/);
});
