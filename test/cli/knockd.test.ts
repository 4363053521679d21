/**
 * `knockd` as a program: command dispatch (an unknown word is an error with a suggestion, never
 * a daemon start), --help without any config, one-line operator errors, and one daemon per
 * StateDir (a second start fails at once naming the first's PID, and never touches its pid file).
 * The daemon runs here as any user: an SPA-only door in SPAMode = socket needs no capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin } from '../helpers/paths.js';

const knockd = (args: string[], opts: { timeout?: number } = {}) =>
  spawnSync(process.execPath, [bin('knockd'), ...args], { encoding: 'utf8', timeout: opts.timeout ?? 20_000 });

test('unknown words are errors with a suggestion, never a daemon start', () => {
  for (const [word, hint] of [['stauts', 'status'], ['kyes', 'keys'], ['audti', 'audit'], ['frobnicate', undefined]] as const) {
    const r = knockd(['-c', '/nonexistent/knockd.conf', word]);
    assert.equal(r.status, 64, `${word}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`unknown command '${word}'`));
    if (hint) assert.match(r.stderr, new RegExp(`did you mean '${hint}'`));
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.doesNotMatch(r.stdout + r.stderr, /listening on/);
  }
  const opt = knockd(['--stauts']);
  assert.equal(opt.status, 64);
  assert.match(opt.stderr, /unknown option '--stauts'/);
});

test('help works for every command without a config file', () => {
  const top = knockd(['-c', '/nonexistent/knockd.conf', 'help']);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /Usage: knockd/);
  for (const sub of ['keys', 'audit', 'status']) {
    for (const args of [[sub, '--help'], ['help', sub]]) {
      const r = knockd(['-c', '/nonexistent/knockd.conf', ...args]);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage:/, args.join(' '));
    }
  }
});

test('operator errors are one line with a code, never a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-cli-'));
  try {
    const missing = knockd(['-c', join(dir, 'nope.conf'), '--check']);
    assert.equal(missing.status, 78);
    assert.match(missing.stderr, /^knockd: .*nope\.conf.*No such file or directory \[ERR_CONFIG_READ\]\n$/);
    const conf = join(dir, 'k.conf');
    writeFileSync(conf, '[options]\n\tSPAWindow = lots\n');
    const bad = knockd(['-c', conf, '--check']);
    assert.equal(bad.status, 78);
    assert.match(bad.stderr, /k\.conf:2: \[options\] SPAWindow = "lots": not a decimal number/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('one daemon per StateDir: a second start fails at once naming the PID of the first, whose pid file stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-lock-'));
  chmodSync(dir, 0o700);
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  const port = 40000 + (process.pid % 20000);
  const conf = join(dir, 'knockd.conf');
  writeFileSync(conf, `[options]\n\tSPAMode = socket\n\tSPAPort = ${port}\n\tStateDir = ${join(dir, 'state')}\n\tKeysDir = ${join(dir, 'keys')}\n\tLogFile = ${join(dir, 'log')}\n[ssh]\n\tspa = yes\n\tstart_command = true\n\tstop_command = true\n`);
  const first = spawn(process.execPath, [bin('knockd'), '-c', conf, '-i', 'lo', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  first.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => first.on('exit', (c) => r(c)));
  try {
    const end = Date.now() + 15_000;
    while (!/listening on/.test(out) && first.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, /listening on/);
    const pidFile = join(dir, 'state', 'knockd.pid');
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(first.pid));
    const second = knockd(['-c', conf, '-i', 'lo']);
    assert.equal(second.status, 75, second.stderr);
    assert.equal(second.stderr, `knockd: another knockd (pid ${first.pid}) is already running with state directory ${join(dir, 'state')} [ERR_RUNNING]\n`);
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(first.pid), 'the failing second start left the pid file alone');
    assert.equal(first.exitCode, null, 'the first is still running');
    first.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(existsSync(pidFile), false, 'the first removes its own pid file on exit');
  } finally {
    if (first.exitCode === null) first.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
