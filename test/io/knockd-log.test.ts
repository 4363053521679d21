import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKnockdLog, formatStamp, sanitizeMessage } from '../../src/io/knockd-log.js';

const base = mkdtempSync(join(tmpdir(), 'h5-klog-'));
test.after(() => rmSync(base, { recursive: true, force: true }));

const LINE = /^\[(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})\] (.*)$/;

test('log file lines: [YYYY-MM-DD HH:MM] msg, local time, one line per message', async () => {
  const file = join(base, 'knockd.log');
  let t = new Date(2026, 0, 5, 9, 7, 59, 999);  // local time, January (month is 1-based in output)
  const log = createKnockdLog({ logFile: file, useSyslog: false, verbose: false, now: () => t });
  log.line('127.0.0.1: openSSH: Stage 1');
  t = new Date(2026, 10, 21, 12, 42, 0);
  log.line('openSSH: running command: echo "START 127.0.0.1"\n');   // stray newline → no blank line
  log.line('openSSH: command returned non-zero status code (3)');
  await log.close();
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'file ends with a newline');
  assert.equal(lines.length, 3);
  const parsed = lines.map((l) => { const m = LINE.exec(l); assert.ok(m, l); return m; });
  assert.deepEqual(parsed.map((m) => m.slice(1, 6).map(Number)), [[2026, 1, 5, 9, 7], [2026, 11, 21, 12, 42], [2026, 11, 21, 12, 42]]);
  assert.deepEqual(parsed.map((m) => m[6]), [
    '127.0.0.1: openSSH: Stage 1',
    'openSSH: running command: echo "START 127.0.0.1" ',
    'openSSH: command returned non-zero status code (3)',
  ]);
});

test('formatStamp pads and uses 1-based months', () => {
  assert.equal(formatStamp(new Date(999, 11, 31, 23, 59, 30)), '[0999-12-31 23:59]');
  assert.equal(formatStamp(new Date(2026, 1, 3, 0, 0)), '[2026-02-03 00:00]');
});

test('sanitizeMessage: control characters become spaces, cut at 1023 bytes', () => {
  assert.equal(sanitizeMessage('a\r\nb\tc\u0000d'), 'a  b c d');
  assert.equal(Buffer.byteLength(sanitizeMessage('x'.repeat(5000))), 1023);
  const cut = sanitizeMessage('é'.repeat(600));                 // 1200 bytes: cut on a character boundary
  assert.ok(Buffer.byteLength(cut) <= 1023 && !cut.includes('\uFFFD'));
});

test('verbose goes to stdout with exactly one newline; reopen switches files', async () => {
  const out: string[] = [];
  const a = join(base, 'a.log'), b = join(base, 'b.log');
  const log = createKnockdLog({ logFile: a, useSyslog: false, verbose: true, stdout: (s) => out.push(s) });
  log.line('one');
  log.reopen(b);
  log.line('two');
  log.reopen(undefined);
  log.line('three');
  await log.close();
  log.line('after close');
  assert.deepEqual(out, ['one\n', 'two\n', 'three\n']);
  assert.match(readFileSync(a, 'utf8'), /^\[[^\]]+\] one\n$/);
  assert.match(readFileSync(b, 'utf8'), /^\[[^\]]+\] two\n$/);
});

test('syslog: one long-lived forwarder child fed one line per message', async () => {
  const sink = join(base, 'syslog.sink');
  // stand-in for `logger -t knockd -p user.notice`: records its pid once, then copies stdin
  const fwd = ['/bin/sh', '-c', `echo "pid $$" >> '${sink}'; cat >> '${sink}'`];
  const log = createKnockdLog({ useSyslog: true, verbose: false, syslogCommand: fwd });
  for (let i = 0; i < 5; i++) log.line(`msg ${i}\nsplit`);
  await log.close();
  const lines = readFileSync(sink, 'utf8').trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('pid ')).length, 1, 'a single child');
  assert.deepEqual(lines.slice(1), [0, 1, 2, 3, 4].map((i) => `msg ${i} split`));
});

test('syslog forwarder missing: reported, no throw', async () => {
  const errs: string[] = [];
  const log = createKnockdLog({ useSyslog: true, verbose: false, syslogCommand: ['/nonexistent/h5-logger'], onError: (m) => errs.push(m) });
  log.line('x');
  await new Promise((r) => setTimeout(r, 100));
  log.line('y');
  await log.close();
  assert.ok(errs.some((e) => e.includes('/nonexistent/h5-logger')), errs.join('|'));
});

test('real logger(1) accepts lines (journal not inspected)', async (t) => {
  if (!existsSync('/usr/bin/logger')) { t.skip('no /usr/bin/logger'); return; }
  const errs: string[] = [];
  const log = createKnockdLog({ useSyslog: true, verbose: false, onError: (m) => errs.push(m) });
  log.line('knockd-ts test h5: syslog forwarder check');
  await log.close();
  assert.deepEqual(errs, []);
});
