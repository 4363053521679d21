/**
 * The Debian package end to end: scripts/test-deb.sh builds it, installs it with apt, runs the
 * README's commands (first SPA door, systemd, purge) with a real knock in network namespaces, and
 * checks users, directories, modes, unit, man pages, co-installation with Debian knockd and that
 * the purge leaves nothing. Everything happens in a private overlay of the file system
 * (test/package/sandbox.ts), so the host keeps no trace. Root only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { e2eSkipReason } from '../helpers/root.js';
import { repoRoot } from '../helpers/paths.js';

function missing(): string | undefined {
  for (const t of ['dpkg-deb', 'apt', 'unshare', 'setpriv', 'logrotate', 'go-md2man', 'man']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `'${t}' not installed (scripts/setup.sh installs it)`;
  }
  return undefined;
}

const skip = e2eSkipReason() ?? missing();

test('Debian package: build, apt install, first SPA door from README, reload, logrotate, purge leaves nothing', { skip, timeout: 600_000 }, (t) => {
  const r = spawnSync('bash', ['scripts/test-deb.sh', '--no-build'], { cwd: repoRoot, encoding: 'utf8', timeout: 580_000 });
  for (const line of r.stdout.split('\n')) if (/^(ok|NOTE)/.test(line)) t.diagnostic(line);
  assert.equal(r.status, 0, `scripts/test-deb.sh failed (exit ${r.status}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  assert.match(r.stdout, /deb-sandbox: all checks passed/);
});
