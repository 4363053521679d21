/**
 * The npm package as a user gets it: scripts/pack.sh (npm pack from a clean copy: prepack builds)
 * → the tarball's file list → `npm i -g --prefix DIR ./knockd-ts-*.tgz` (offline-capable: the
 * local npm cache) → the installed programs: knock --version, --keygen, an SPA knock to a UDP
 * socket of this test on 127.0.0.1, knockd --check. Then the same tarball on a machine without a
 * compiler (PATH without cc, c++, make): the install succeeds without cap, knock works, and the
 * daemon says in one line what to install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const npmSkip = spawnSync('npm', ['--version']).status === 0 ? undefined : 'npm is not installed';
const skip = npmSkip ?? (spawnSync('sh', ['-c', 'command -v go-md2man']).status === 0 ? undefined : 'go-md2man not installed (the man pages are built at pack time; scripts/setup.sh)');

const work = mkdtempSync(join(tmpdir(), 'kts-npm-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = work) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd, timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

let tgz = '';
function packOnce(): string {
  if (tgz) return tgz;
  const r = run('bash', [join(repoRoot, 'scripts', 'pack.sh'), join(work, 'pack')]);
  assert.equal(r.code, 0, r.err);
  tgz = r.out.trim().split('\n').pop() as string;
  assert.ok(existsSync(tgz), `no tarball at ${tgz}`);
  return tgz;
}

function install(prefix: string, env: NodeJS.ProcessEnv = process.env): { code: number; out: string; err: string } {
  return run('npm', ['i', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', packOnce()], env);
}

/** An SPA knock from the installed knock to a UDP socket of ours on 127.0.0.1: the datagram arrives. */
async function spaKnockArrives(knock: string, home: string): Promise<void> {
  const g = run(knock, ['--keygen', '--key', join(home, 'key')], { ...process.env, HOME: home });
  assert.equal(g.code, 0, g.err);
  assert.match(readFileSync(join(home, 'key.pub'), 'utf8'), /^knock-ed25519-pub \S+ /);
  assert.match(readFileSync(join(home, 'key.enrol'), 'utf8'), /^knock-ed25519-v2 \S+ \S+ /);
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  const got = new Promise<Buffer>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no SPA datagram within 10 s')), 10_000);
    sock.once('message', (m) => { clearTimeout(t); resolve(m); });
  });
  try {
    const k = run(knock, ['--spa', '--key', join(home, 'key'), '--spa-port', String(port), '127.0.0.1']);
    assert.equal(k.code, 0, k.err);
    const m = await got;
    assert.equal(m.subarray(0, 2).toString('latin1'), 'KN', 'the datagram carries the SPA magic');
  } finally {
    sock.close();
  }
}

test('npm pack: builds first and ships exactly what runs', { skip }, () => {
  const files = run('tar', ['-tzf', packOnce()]).out.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  for (const f of ['bin/knock', 'bin/knockd', 'bin/package.json', 'dist/bundle/knock.cjs', 'dist/bundle/knock.cjs.cache', 'dist/src/cli/knockd.js', 'dist/src/daemon/daemon.js',
    'dist/man/knock.1', 'dist/man/knockd.8', 'dist/man/knockd.conf.5', 'systemd/knockd.service', 'systemd/knockd.logrotate',
    'keys/README.md', 'docs/ARCHITECTURE.md', 'README.md', 'SECURITY.md', 'PROTOCOL.md', 'LICENSE', 'package.json']) {
    assert.ok(files.includes(f), `${f} missing from the tarball`);
  }
  const unwanted = files.filter((f) => /^(test|bench|\.ci|scripts|packaging|src|dist\/(test|bench))\//.test(f) || /\.(ts|map)$/.test(f) || f.endsWith('.tgz'));
  assert.deepEqual(unwanted, [], 'tests, bench, CI, sources and maps stay out of the package');
});

test('npm i -g --prefix DIR ./knockd-ts.tgz: knock --version, --keygen, an SPA knock, knockd --check, man pages', { skip, timeout: 300_000 }, async (t) => {
  const prefix = join(work, 'full');
  const r = install(prefix);
  assert.equal(r.code, 0, r.err.slice(-3000));
  const bin = (n: string) => join(prefix, 'bin', n);
  const v = run(bin('knock'), ['--version'], { ...process.env, KNOCKD_TS_CODE_CACHE: 'report' });
  assert.equal(v.out.split('\n')[0], `knock (knockd-ts) ${version}`);
  assert.equal(v.err.trim(), 'code-cache: accepted', 'the installed bundle starts from its V8 code cache');
  const home = join(work, 'home-full');
  mkdirSync(home, { mode: 0o700 });
  await spaKnockArrives(bin('knock'), home);
  const conf = join(work, 'full.conf');
  writeFileSync(conf, '[options]\n\tStateDir = /tmp/x\n[door]\n\tsequence = 7000,8000:udp,9000\n\tstart_command = true\n');
  const c = run(bin('knockd'), ['--check', '-c', conf]);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /sequence = 7000:tcp,8000:udp,9000:tcp/);
  for (const p of ['man1/knock.1', 'man8/knockd.8', 'man5/knockd.conf.5']) assert.ok(existsSync(join(prefix, 'share', 'man', p)), `${p} installed`);
  const cap = join(prefix, 'lib', 'node_modules', 'knockd-ts', 'node_modules', 'cap', 'build', 'Release', 'cap.node');
  t.diagnostic(existsSync(cap) ? 'cap was built (compiler and libpcap-dev present)' : 'cap was not built here (no compiler or libpcap-dev)');
});

/** PATH with every program of this PATH except C/C++ compilers, assemblers, linkers and make. */
function pathWithoutCompiler(): string {
  const dir = join(work, 'nocc-bin');
  mkdirSync(dir);
  const excluded = /^(cc|c\+\+|c89|c99|cpp.*|gcc.*|g\+\+.*|clang.*|tcc|make|gmake|ld|ld\..*|as|.*-linux-gnu.*)$/;
  for (const d of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!d || !existsSync(d)) continue;
    for (const n of readdirSync(d)) {
      if (excluded.test(n) || existsSync(join(dir, n))) continue;
      try { symlinkSync(join(d, n), join(dir, n)); } catch { /* duplicate name */ }
    }
  }
  return dir;
}

test('no compiler: the install succeeds without cap, knock works, knockd says what to install', { skip, timeout: 300_000 }, async () => {
  const prefix = join(work, 'nocc');
  const env = { ...process.env, PATH: pathWithoutCompiler() };
  assert.notEqual(run('sh', ['-c', 'command -v cc || command -v make'], env).code, 0, 'the PATH still has a compiler');
  const r = install(prefix, env);
  assert.equal(r.code, 0, `install without a compiler failed:\n${r.err.slice(-3000)}`);
  assert.match(r.out + r.err, /gyp ERR!/, 'cap\'s build was attempted and failed (otherwise this shows nothing)');
  assert.equal(existsSync(join(prefix, 'lib', 'node_modules', 'knockd-ts', 'node_modules', 'cap')), false, 'npm dropped the failed optional cap');
  const home = join(work, 'home-nocc');
  mkdirSync(home, { mode: 0o700 });
  await spaKnockArrives(join(prefix, 'bin', 'knock'), home);
  const conf = join(work, 'nocc.conf');
  writeFileSync(conf, `[options]\n\tInterface = lo\n\tStateDir = ${join(work, 'state')}\n\tKeysDir = ${join(work, 'keys')}\n` +
    '[door]\n\tsequence = 7000,8000\n\tstart_command = true\n');
  const d = run(join(prefix, 'bin', 'knockd'), ['-c', conf], env);
  assert.equal(d.code, 1, d.err);
  const lines = d.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${d.err}`);
  assert.match(lines[0] as string, /^knockd: packet capture needs the optional module 'cap'.*libpcap-dev.*npm i cap.*SPAMode = socket.*\[ERR_CAPTURE\]$/);
});
