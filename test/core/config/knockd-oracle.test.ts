/**
 * ORACLE: the real knockd 0.8 (Debian) parses the config before it opens pcap, so
 * `knockd -D -c FILE -i nonexist0` exits 1 with `could not open nonexist0` for a config it
 * accepts, and with a `config:` / `error:` / `PATH: strerror` message for one it rejects.
 * No interface is ever opened. LogFile values are redirected into a temp dir (knockd creates
 * the log file before opening pcap) and one_time_sequences files are copied there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig } from '../../../src/io/read-config.js';
import { formatSequence } from '../../../src/core/config/sequence.js';
import { parseIp } from '../../../src/core/ip.js';
import { isAppError } from '../../../src/core/errors.js';
import type { Config, FlagName } from '../../../src/core/config/types.js';
import { fixture } from '../../helpers/paths.js';
import { CORPUS } from './corpus.js';

const KNOCKD = '/usr/sbin/knockd';

interface KdDoor {
  name: string; seq?: string; seqTimeout?: number; cmdTimeout?: number;
  start?: string; start6?: string; stop?: string; stop6?: string; target?: string; flags: string[];
}
interface KdResult { verdict: 'accept' | 'reject'; stderr: string; doors: KdDoor[]; useSyslog: boolean; logFile?: string }

function rewrite(text: string, dir: string): string {
  return text.split('\n').map((l) => l
    .replace(/^([ \t]*logfile[ \t]*=[ \t]*)(\S.*?)(\r?)$/i, (_m, a: string, _v: string, cr: string) => `${a}${dir}/knockd.log${cr}`)
    .replace(/^([ \t]*one_time_sequences[ \t]*=[ \t]*)(\S.*?)(\r?)$/i, (_m, a: string, v: string, cr: string) => `${a}${dir}/ots/${basename(v)}${cr}`))
    .join('\n');
}

function runKnockd(file: string, cwd: string): KdResult {
  const r = spawnSync(KNOCKD, ['-D', '-c', file, '-i', 'nonexist0'], { cwd, encoding: 'utf8', timeout: 10_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  const stderr = r.stderr ?? '';
  let verdict: 'accept' | 'reject';
  if (stderr.includes('could not open nonexist0')) verdict = 'accept';
  else if (r.status === 1 && /(^|\n)(config: |error: |no more sequences|\/\S+: No such file)/.test(stderr)) verdict = 'reject';
  else throw new Error(`unexpected knockd outcome for ${file}: status ${r.status} signal ${r.signal} stderr ${JSON.stringify(stderr)}`);
  const doors: KdDoor[] = [];
  let cur: KdDoor | undefined;
  let useSyslog = false; let logFile: string | undefined;
  for (const line of (r.stdout ?? '').split('\n')) {
    const sec = /^config: new section: '(.*)'$/.exec(line);
    if (sec) { cur = sec[1] === 'options' ? undefined : { name: sec[1] ?? '', flags: [] }; if (cur) doors.push(cur); continue; }
    if (line === 'config: usesyslog') { useSyslog = true; continue; }
    if (line.startsWith('config: log file: ')) { logFile = line.slice('config: log file: '.length); continue; }
    if (line.startsWith('config: tcp flag: ') && cur) { cur.flags.push(line.slice('config: tcp flag: '.length)); continue; }
    if (!cur || !line.startsWith(`config: ${cur.name}: `)) continue;
    const rest = line.slice(`config: ${cur.name}: `.length);
    const kv = /^(sequence|seq_timeout|cmd_timeout|start_command|start_command_6|stop_command|stop_command_6|target): (.*)$/s.exec(rest);
    if (!kv) continue;
    const v = kv[2] ?? '';
    switch (kv[1]) {
      case 'sequence': cur.seq = v; break;
      case 'seq_timeout': cur.seqTimeout = Number(v); break;
      case 'cmd_timeout': cur.cmdTimeout = Number(v); break;
      case 'start_command': cur.start = v; break;
      case 'start_command_6': cur.start6 = v; break;
      case 'stop_command': cur.stop = v; break;
      case 'stop_command_6': cur.stop6 = v; break;
      case 'target': cur.target = v; break;
    }
  }
  return { verdict, stderr, doors, useSyslog, ...(logFile !== undefined ? { logFile } : {}) };
}

function flagsFrom(tokens: readonly string[]): Partial<Record<FlagName, boolean>> {
  const out: Partial<Record<FlagName, boolean>> = {};
  for (const t of tokens) {
    const neg = t.startsWith('!');
    out[(neg ? t.slice(1) : t).toLowerCase() as FlagName] = !neg;
  }
  return out;
}

function sameMeaning(name: string, ours: Config, kd: KdResult): void {
  assert.equal(ours.options.useSyslog, kd.useSyslog, `${name}: UseSyslog`);
  assert.equal(ours.options.logFile, kd.logFile === '' ? undefined : kd.logFile, `${name}: LogFile`);
  assert.equal(ours.doors.length, kd.doors.length, `${name}: number of doors`);
  ours.doors.forEach((d, i) => {
    const k = kd.doors[i];
    assert.ok(k, `${name}: door ${i}`);
    const m = `${name}: door ${JSON.stringify(d.name)}`;
    assert.equal(d.name, k.name, m);
    assert.equal(formatSequence(d.sequence), k.seq, `${m}: sequence`);
    assert.equal(d.seqTimeout, k.seqTimeout ?? 25, `${m}: seq_timeout`);
    assert.equal(d.cmdTimeout, k.cmdTimeout ?? 10, `${m}: cmd_timeout`);
    assert.equal(d.startCommand, k.start, `${m}: start_command`);
    assert.equal(d.startCommand6, k.start6, `${m}: start_command_6`);
    assert.equal(d.stopCommand, k.stop, `${m}: stop_command`);
    assert.equal(d.stopCommand6, k.stop6, `${m}: stop_command_6`);
    assert.equal(d.target, k.target === undefined ? undefined : parseIp(k.target)?.text, `${m}: target`);
    assert.deepEqual(d.tcpFlags, flagsFrom(k.flags), `${m}: tcpflags`);
  });
}

test('knockd oracle over the fixture corpus', async (t) => {
  if (!existsSync(KNOCKD)) { t.skip(`${KNOCKD} is not installed`); return; }
  const files = readdirSync(fixture('config')).filter((f) => f.endsWith('.conf')).sort();
  assert.deepEqual(files, Object.keys(CORPUS).sort(), 'every fixture has a corpus entry and vice versa');
  const dir = mkdtempSync(join(tmpdir(), `knockd-ts-h1-oracle-${process.pid}-`));
  try {
    mkdirSync(join(dir, 'ots'));
    for (const f of readdirSync(fixture('config', 'ots'))) copyFileSync(fixture('config', 'ots', f), join(dir, 'ots', f));
    const surprises: string[] = [];
    for (const name of files) {
      const entry = CORPUS[name];
      assert.ok(entry);
      await t.test(name, () => {
        const file = join(dir, name);
        writeFileSync(file, rewrite(readFileSync(fixture('config', name), 'utf8'), dir));
        const kd = runKnockd(file, dir);
        assert.equal(kd.verdict, entry.knockd, `knockd verdict for ${name} (stderr: ${kd.stderr.trim()})`);
        let ours: Config | undefined; let err: unknown;
        try { ours = loadConfig(file); } catch (e) { err = e; }
        if (err !== undefined && !isAppError(err)) throw err;
        const oursVerdict = ours ? 'accept' : 'reject';
        assert.equal(oursVerdict, entry.ours === 'accept' ? 'accept' : 'reject', `our verdict for ${name}: ${String(err)}`);
        if (entry.ours !== 'accept' && isAppError(err)) {
          assert.equal(err.code, entry.ours.code, err.message);
          assert.ok(err.message.includes(`${file}:${entry.ours.line}:`), err.message);
        }
        // the invariants the issue asks for
        if (kd.verdict === 'reject' && ours) {
          assert.ok(entry.kind === 'decided' || entry.kind === 'extension', `${name}: knockd rejects but we accept`);
        }
        if (kd.verdict === 'accept' && !ours) {
          assert.equal(entry.kind, 'surprise', `${name}: knockd accepts but we reject: ${String(err)}`);
          surprises.push(name);
        }
        if (kd.verdict === 'accept' && ours) sameMeaning(name, ours, kd);
      });
    }
    const listed = Object.entries(CORPUS).filter(([, e]) => e.kind === 'surprise').map(([n]) => n).sort();
    assert.deepEqual(surprises.sort(), listed, 'the configs knockd accepts and we refuse are exactly the listed surprises');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
