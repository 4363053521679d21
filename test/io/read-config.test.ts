import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadConfig } from '../../src/io/read-config.js';
import { formatSequence } from '../../src/core/config/sequence.js';
import { isAppError } from '../../src/core/errors.js';
import { fixture } from '../helpers/paths.js';
import { CORPUS, corpusEnv } from '../core/config/corpus.js';

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), `knockd-ts-h1-rc-${process.pid}-`));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function errorOf(fn: () => unknown): Error & { code: string } {
  try { fn(); } catch (e) { if (isAppError(e)) return e; throw e; }
  assert.fail('expected an AppError');
}

test('missing config file: knockd-style message', () => {
  const e = errorOf(() => loadConfig('/nonexistent/knockd.conf'));
  assert.equal(e.code, 'ERR_CONFIG_READ');
  assert.equal(e.message, '/nonexistent/knockd.conf: No such file or directory');
  withTmp((dir) => {
    const d = errorOf(() => loadConfig(dir));
    assert.equal(d.code, 'ERR_CONFIG_READ');
    assert.equal(d.message, `${dir}: Is a directory`);
  });
});

test('the Debian default /etc/knockd.conf (fixture copy) loads unchanged', () => {
  const c = loadConfig(fixture('config', 'debian-default.conf'));
  assert.equal(c.options.useSyslog, true);
  assert.deepEqual(c.doors.map((d) => [d.name, formatSequence(d.sequence), d.seqTimeout, d.tcpFlags.syn]), [
    ['openSSH', '7000:tcp,8000:tcp,9000:tcp', 5, true],
    ['closeSSH', '9000:tcp,8000:tcp,7000:tcp', 5, true],
    ['openHTTPS', '12345:tcp,54321:tcp,24680:tcp,13579:tcp', 5, true],
  ]);
  assert.equal(c.doors[0]?.startCommand, '/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT');
});

test('the installed /etc/knockd.conf itself loads (if present)', (t) => {
  let text: string;
  try { text = readFileSync('/etc/knockd.conf', 'utf8'); } catch { t.skip('/etc/knockd.conf is not installed'); return; }
  const c = loadConfig('/etc/knockd.conf');
  assert.ok(c.doors.length > 0 || !/sequence/i.test(text));
});

test('fixture corpus: our verdict, code and message (file:line, key, value) for every fixture', () => {
  const names = readdirSync(fixture('config')).filter((f) => f.endsWith('.conf')).sort();
  assert.deepEqual(names, Object.keys(CORPUS).sort());
  for (const name of names) {
    const entry = CORPUS[name];
    assert.ok(entry);
    const path = fixture('config', name);
    if (entry.ours === 'accept') {
      assert.doesNotThrow(() => loadConfig(path, corpusEnv()), name);
      continue;
    }
    const e = errorOf(() => loadConfig(path, corpusEnv()));
    assert.equal(e.code, entry.ours.code, `${name}: ${e.message}`);
    assert.ok(e.message.startsWith(`${path}:${entry.ours.line}: `), `${name}: ${e.message}`);
    for (const s of entry.ours.msg) assert.ok(e.message.includes(s), `${name}: ${JSON.stringify(s)} not in ${e.message}`);
  }
});

test('man page example 3/4: one_time_sequences keeps the configured absolute path', () => {
  for (const n of ['man-example3.conf', 'man-example4.conf']) {
    const c = loadConfig(fixture('config', n), corpusEnv());
    const d = c.doors[0];
    assert.equal(d?.oneTimeSequences, '/etc/knockd/smtp_sequences');
    assert.equal(formatSequence(d?.sequence ?? []), '2001:tcp,2002:udp,2003:tcp');
    assert.deepEqual(d?.tcpFlags, { fin: true, ack: false });
  }
});

test('one_time_sequences with the real file system: relative to cwd, missing, directory, unwritable', (t) => {
  withTmp((dir) => {
    writeFileSync(join(dir, 'seqs'), '# used\n 4001,4002:udp\n');
    const rel = relative(process.cwd(), join(dir, 'seqs'));
    writeFileSync(join(dir, 'k.conf'), `[d]\none_time_sequences = ${rel}\n`);
    const c = loadConfig(join(dir, 'k.conf'));
    assert.equal(c.doors[0]?.oneTimeSequences, join(dir, 'seqs'));
    assert.equal(formatSequence(c.doors[0]?.sequence ?? []), '4001:tcp,4002:udp');
    assert.equal(readFileSync(join(dir, 'seqs'), 'utf8'), '# used\n 4001,4002:udp\n', 'the file is not modified');

    writeFileSync(join(dir, 'm.conf'), `[door1]\nsequence = 1\n[door2]\none_time_sequences = ${dir}/missing\n`);
    const m = errorOf(() => loadConfig(join(dir, 'm.conf')));
    assert.equal(m.code, 'ERR_OTS_FILE');
    assert.equal(m.message, `${dir}/m.conf:4: [door2] one_time_sequences = "${dir}/missing": ${dir}/missing: No such file or directory`);

    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'd.conf'), `[d]\none_time_sequences = ${dir}/sub\n`);
    const dd = errorOf(() => loadConfig(join(dir, 'd.conf')));
    assert.equal(dd.code, 'ERR_OTS_FILE');
    assert.match(dd.message, /d\.conf:2: \[d\] one_time_sequences = ".*\/sub": .*\/sub: Is a directory/);

    if (process.getuid?.() === 0) { t.diagnostic('running as root: an unwritable OTS file cannot be simulated with permissions'); return; }
    chmodSync(join(dir, 'seqs'), 0o444);
    const ro = errorOf(() => loadConfig(join(dir, 'k.conf')));
    assert.equal(ro.code, 'ERR_OTS_FILE');
    assert.match(ro.message, /Permission denied/);
  });
});

test('invalid UTF-8 is refused with the line number; relative LogFile kept verbatim', () => {
  withTmp((dir) => {
    writeFileSync(join(dir, 'u.conf'), Buffer.concat([Buffer.from('[d]\nsequence = 1\ncommand = caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const e = errorOf(() => loadConfig(join(dir, 'u.conf')));
    assert.equal(e.code, 'ERR_CONFIG_SYNTAX');
    assert.match(e.message, /u\.conf:3: line is not valid UTF-8/);
    writeFileSync(join(dir, 'l.conf'), '[options]\nlogfile = knockd.log\nKeysDir = keys\n');
    const c = loadConfig(join(dir, 'l.conf'));
    assert.equal(c.options.logFile, 'knockd.log');
    assert.equal(c.options.keysDir, join(process.cwd(), 'keys'));
    assert.equal(c.file, join(dir, 'l.conf'));
  });
});
