import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DoorController, type OpenRequest, type DoorControllerDeps } from '../../src/daemon/doors.js';
import { Journal } from '../../src/io/journal.js';
import { silentLogger } from '../../src/io/logger.js';
import { runShell, type CommandResult } from '../../src/io/exec.js';
import { CommandRunner } from '../../src/io/runner.js';
import { parseIp } from '../../src/core/ip.js';
import type { Door } from '../../src/core/config/types.js';
import type { AuditEvent, Principal } from '../../src/core/audit/events.js';
import type { Lease } from '../../src/core/actions/leases.js';
import { fixture } from '../helpers/paths.js';

const base = mkdtempSync(join(tmpdir(), 'h5-doors-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let dirN = 0;

const settle = async (n = 5) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
const ok = (): CommandResult => ({ exitCode: 0, timedOut: false, failed: false, durationMs: 1 });
const exit = (code: number): CommandResult => ({ exitCode: code, timedOut: false, failed: code !== 0, durationMs: 1 });

/** Fake clock + timers: advance() fires due timers in deadline order at their own time. */
class FakeTime {
  now = 1_000_000;
  timers: Array<{ at: number; fn: () => void; dead: boolean }> = [];
  setTimer = (fn: () => void, ms: number) => {
    const t = { at: this.now + ms, fn, dead: false };
    this.timers.push(t);
    return { cancel: () => { t.dead = true; } };
  };
  pending(): number[] { return this.timers.filter((t) => !t.dead).map((t) => t.at).sort((a, b) => a - b); }
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    await settle();
    for (;;) {
      const live = this.timers.filter((t) => !t.dead && t.at <= target).sort((a, b) => a.at - b.at);
      const t = live[0];
      if (!t) break;
      t.dead = true;
      this.now = Math.max(this.now, t.at);
      t.fn();
      await settle();
    }
    this.now = target;
    await settle();
  }
}

function door(p: Partial<Door> = {}): Door {
  return {
    name: 'openSSH', line: 1, sequence: [{ port: 7000, proto: 'tcp' }, { port: 8000, proto: 'udp' }], seqTimeout: 25, tcpFlags: {},
    startCommand: 'fw -I INPUT -s %IP% -j ACCEPT', stopCommand: 'fw -D INPUT -s %IP% -j ACCEPT', cmdTimeout: 10, spa: false, ...p,
  };
}
function req(ipText: string, p: Partial<OpenRequest> = {}): OpenRequest {
  const ip = parseIp(ipText);
  assert.ok(ip);
  return { doorIndex: 0, door: door(), ip, src: ip.text, principal: { kind: 'sequence' }, grantedTtl: 10, ...p };
}

interface Rig {
  c: DoorController; time: FakeTime; audit: AuditEvent[]; lines: string[]; runs: string[]; journal: Journal; dir: string;
  results: Array<(cmd: string) => CommandResult | Promise<CommandResult>>;
  events: (name: string) => Array<Record<string, unknown>>;
}
function rig(over: Partial<DoorControllerDeps> = {}, dir = join(base, `j${++dirN}`)): Rig {
  const time = new FakeTime();
  const audit: AuditEvent[] = [], lines: string[] = [], runs: string[] = [];
  const journal = Journal.open(dir);
  const results: Rig['results'] = [];
  const c = new DoorController({
    journal, audit: { record: (e) => { audit.push(e); }, close: async () => {} },
    log: { line: (m) => { lines.push(m); }, reopen: () => {}, close: async () => {} },
    logger: silentLogger(),
    run: async (cmd) => { runs.push(cmd); const f = results.shift(); return f ? f(cmd) : ok(); },
    now: () => time.now, setTimer: time.setTimer, ...over,
  });
  const events = (name: string) => audit.filter((e) => e.event === name) as unknown as Array<Record<string, unknown>>;
  return { c, time, audit, lines, runs, journal, dir, results, events };
}
const onDisk = (dir: string): Lease[] => {
  const f = join(dir, 'doors.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { leases: Lease[] }).leases : [];
};

test('open → close after cmd_timeout; journal written before start; knockd log texts', async () => {
  const r = rig();
  let journalAtStart: Lease[] = [];
  r.results.push(() => { journalAtStart = onDisk(r.dir); return ok(); });
  const t0 = r.time.now;
  assert.equal(await r.c.open(req('203.0.113.7')), 'opened');
  assert.deepEqual(r.runs, ['fw -I INPUT -s 203.0.113.7 -j ACCEPT']);
  assert.equal(journalAtStart.length, 1, 'grant journalled before the start command ran');
  assert.equal(journalAtStart[0]?.stopCommand, 'fw -D INPUT -s 203.0.113.7 -j ACCEPT', 'expanded stop stored');
  assert.deepEqual(r.time.pending(), [t0 + 10_000], 'one timer at expiresAt');
  const open = r.events('door.open')[0];
  assert.deepEqual({ ...open, lease: undefined }, {
    event: 'door.open', door: 'openSSH', src: '203.0.113.7', principal: { kind: 'sequence' }, ip: '203.0.113.7',
    lease: undefined, ports: '7000:tcp,8000:udp', grantedTtl: 10, expiresAt: t0 + 10_000, exitCode: 0,
  });
  assert.equal(r.c.leases().length, 1);

  await r.time.advance(9_999);
  assert.equal(r.runs.length, 1, 'not closed early');
  await r.time.advance(1);
  assert.deepEqual(r.runs.slice(1), ['fw -D INPUT -s 203.0.113.7 -j ACCEPT']);
  assert.deepEqual(r.lines, [
    'openSSH: running command: fw -I INPUT -s 203.0.113.7 -j ACCEPT',
    '203.0.113.7: openSSH: command timeout',
    'openSSH: running command: fw -D INPUT -s 203.0.113.7 -j ACCEPT',
  ]);
  const close = r.events('door.close')[0];
  assert.equal(close?.reason, 'timeout');
  assert.equal(close?.exitCode, 0);
  assert.equal(close?.lease, open?.lease);
  assert.equal(close?.openedAt, t0);
  assert.deepEqual(onDisk(r.dir), []);
  assert.deepEqual(r.c.leases(), []);
  assert.deepEqual(r.time.pending(), []);
});

test('re-knock extends without a second start; close moves to the new deadline', async () => {
  const r = rig();
  const t0 = r.time.now;
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  await r.time.advance(5_000);
  assert.equal(await r.c.open(req('192.0.2.1', { src: '192.0.2.1' })), 'extended');
  assert.equal(r.runs.length, 1, 'start ran once');
  const ext = r.events('door.extend')[0];
  assert.equal(ext?.expiresAt, t0 + 15_000);
  assert.equal(onDisk(r.dir)[0]?.expiresAt, t0 + 15_000, 'journal updated');
  assert.deepEqual(r.time.pending(), [t0 + 15_000], 'rescheduled, single timer');
  await r.time.advance(5_000);   // original deadline
  assert.equal(r.runs.length, 1, 'not closed at the original deadline');
  await r.time.advance(5_000);
  assert.equal(r.runs.length, 2);
  assert.equal(r.events('door.close').length, 1);
  // another address and another door are independent leases
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  assert.equal(await r.c.open(req('192.0.2.2')), 'opened');
  assert.equal(await r.c.open(req('192.0.2.1', { doorIndex: 1, door: door({ name: 'web' }) })), 'opened');
  assert.equal(r.c.leases().length, 3);
});

test('failing start: journal entry removed, command.fail, nothing scheduled', async () => {
  const r = rig();
  r.results.push(() => exit(2));
  assert.equal(await r.c.open(req('192.0.2.1')), 'failed');
  assert.ok(r.lines.includes('openSSH: command returned non-zero status code (2)'));
  const f = r.events('command.fail')[0];
  assert.equal(f?.command, 'start');
  assert.equal(f?.exitCode, 2);
  assert.equal(f?.timedOut, false);
  assert.deepEqual(onDisk(r.dir), []);
  assert.deepEqual(r.time.pending(), []);
  assert.deepEqual(r.c.leases(), []);
  assert.equal(r.events('door.open').length, 0);
  // the next knock tries again (no lease was left behind)
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  // spawn failure and timeout count as failures too
  r.results.push(() => ({ exitCode: undefined, timedOut: false, failed: true, durationMs: 0 }));
  assert.equal(await r.c.open(req('192.0.2.9')), 'failed');
  assert.ok(r.lines.includes('error: command fork failed!'));
  r.results.push(() => ({ exitCode: undefined, signal: 'SIGTERM', timedOut: true, failed: true, durationMs: 0 }));
  assert.equal(await r.c.open(req('192.0.2.10')), 'failed');
  assert.equal(r.events('command.fail').at(-1)?.timedOut, true);
  r.results.push(() => { throw new Error('run threw'); });
  assert.equal(await r.c.open(req('192.0.2.11')), 'failed');
  assert.equal(r.c.leases().length, 1);
});

test('start outcome unknown (runner died): lease kept and journalled, its stop runs at expiry', async () => {
  const r = rig();
  const t0 = r.time.now;
  r.results.push(() => ({ exitCode: undefined, timedOut: false, failed: true, durationMs: 3, lost: true, stderrTail: 'outcome is unknown' }));
  assert.equal(await r.c.open(req('192.0.2.44')), 'failed');
  assert.ok(r.lines.includes('openSSH: command outcome unknown (the command runner exited while it ran)'), r.lines.join('\n'));
  const f = r.events('command.fail')[0];
  assert.equal(f?.command, 'start');
  assert.equal(f?.lost, true);
  assert.equal(onDisk(r.dir).length, 1, 'journal entry kept');
  assert.equal(r.c.leases().length, 1, 'treated as open');
  assert.deepEqual(r.time.pending(), [t0 + 10_000]);
  await r.time.advance(10_000);
  assert.deepEqual(r.runs.slice(1), ['fw -D INPUT -s 192.0.2.44 -j ACCEPT'], 'stop command ran');
  assert.deepEqual(onDisk(r.dir), []);
  assert.equal(r.events('door.close')[0]?.reason, 'timeout');
});

test('failing stop is retried with backoff and not lost until it succeeds', async () => {
  const r = rig();
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  r.results.push(() => exit(1), () => exit(4), () => ok());
  await r.time.advance(10_000);
  assert.equal(r.runs.length, 2, 'first stop attempt');
  assert.equal(onDisk(r.dir).length, 1, 'journal keeps the entry while retrying');
  await r.time.advance(999);
  assert.equal(r.runs.length, 2);
  await r.time.advance(1);
  assert.equal(r.runs.length, 3, 'retry after 1 s');
  await r.time.advance(5_000);
  assert.equal(r.runs.length, 4, 'retry after 5 s more');
  assert.deepEqual(r.events('command.fail').map((e) => [e.command, e.exitCode]), [['stop', 1], ['stop', 4]]);
  assert.equal(r.events('door.close')[0]?.exitCode, 0);
  assert.deepEqual(onDisk(r.dir), []);
  assert.ok(r.lines.includes('openSSH: command returned non-zero status code (4)'));
});

test('stop retries exhausted after 1 s, 5 s, 30 s: entry dropped, close recorded with the last status', async () => {
  const r = rig();
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  for (let i = 0; i < 4; i++) r.results.push(() => exit(9));
  await r.time.advance(10_000 + 1_000 + 5_000 + 29_999);
  assert.equal(r.runs.length, 4);
  assert.equal(onDisk(r.dir).length, 1);
  await r.time.advance(1);
  assert.equal(r.runs.length, 5, '1 + 3 retries');
  assert.equal(r.events('command.fail').length, 4);
  assert.equal(r.events('door.close')[0]?.exitCode, 9);
  assert.deepEqual(onDisk(r.dir), []);
});

test('reconcile: past entries closed with their stored stop command, future ones re-armed', async () => {
  const dir = join(base, `j${++dirN}`);
  const now = 1_000_000;
  const j = Journal.open(dir);
  const mk = (id: string, ip: string, expiresAt: number, principal: Principal = { kind: 'sequence' }): Lease => ({
    id, doorIndex: 0, door: 'gone-from-config', ip, family: 4, principal, src: ip, openedAt: now - 60_000, expiresAt,
    stopCommand: `old-stop ${ip}`, grantedTtl: 60,
  });
  j.put(mk('past', '192.0.2.1', now - 1));
  j.put(mk('future', '192.0.2.2', now + 30_000, { kind: 'spa', key: 'alice', keyId: '00112233445566ff' }));
  const r = rig({}, dir);
  await r.c.reconcile();
  assert.deepEqual(r.runs, ['old-stop 192.0.2.1']);
  assert.deepEqual(r.events('door.close').map((e) => [e.lease, e.reason]), [['past', 'reconcile']]);
  assert.deepEqual(r.events('door.rearm').map((e) => [e.lease, e.expiresAt]), [['future', now + 30_000]]);
  assert.deepEqual(onDisk(dir).map((l) => l.id), ['future']);
  assert.deepEqual(r.time.pending(), [now + 30_000]);
  await r.time.advance(30_000);
  assert.deepEqual(r.runs, ['old-stop 192.0.2.1', 'old-stop 192.0.2.2']);
  assert.deepEqual(onDisk(dir), []);
});

test('closeAll closes everything, waits for in-flight opens, then refuses opens', async () => {
  const r = rig();
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  assert.equal(await r.c.open(req('2001:db8::1', { door: door({ startCommand6: 'fw6 -I %IP%', stopCommand6: 'fw6 -D %IP%' }) })), 'opened');
  let release!: () => void;
  r.results.push(() => new Promise((res) => { release = () => res(ok()); }));
  const inflight = r.c.open(req('192.0.2.3'));
  await settle();
  const closing = r.c.closeAll('shutdown');
  assert.equal(await r.c.open(req('192.0.2.4')), 'refused');
  release();
  assert.equal(await inflight, 'opened');
  await closing;
  assert.deepEqual(r.runs.filter((c) => c.includes('-D')).sort(), ['fw -D INPUT -s 192.0.2.1 -j ACCEPT', 'fw -D INPUT -s 192.0.2.3 -j ACCEPT', 'fw6 -D 2001:db8::1']);
  assert.deepEqual(r.events('door.close').map((e) => e.reason), ['shutdown', 'shutdown', 'shutdown']);
  assert.deepEqual(onDisk(r.dir), []);
  assert.deepEqual(r.c.leases(), []);
  assert.deepEqual(r.time.pending(), []);
});

test('closeWhere revokes only the matching key', async () => {
  const r = rig();
  const alice: Principal = { kind: 'spa', key: 'alice', keyId: 'aaaaaaaaaaaaaaaa' };
  const bob: Principal = { kind: 'spa', key: 'bob', keyId: 'bbbbbbbbbbbbbbbb' };
  await r.c.open(req('192.0.2.1', { principal: alice }));
  await r.c.open(req('192.0.2.2', { principal: bob }));
  await r.c.open(req('192.0.2.3', { principal: alice, doorIndex: 2, door: door({ name: 'web' }) }));
  await r.c.closeWhere((l) => l.principal.kind === 'spa' && l.principal.key === 'alice', 'revoked');
  assert.deepEqual(r.c.leases().map((l) => l.ip), ['192.0.2.2']);
  assert.deepEqual(r.events('door.close').map((e) => [e.ip, e.reason]).sort(), [['192.0.2.1', 'revoked'], ['192.0.2.3', 'revoked']]);
  assert.deepEqual(onDisk(r.dir).map((l) => l.ip), ['192.0.2.2']);
  assert.deepEqual(r.time.pending(), [r.time.now + 10_000]);
});

test('no stop command: start runs on every knock, no lease (knockd)', async () => {
  const r = rig();
  const d = door({ stopCommand: undefined });
  assert.equal(await r.c.open(req('192.0.2.1', { door: d })), 'ran');
  assert.equal(await r.c.open(req('192.0.2.1', { door: d })), 'ran');
  assert.equal(r.runs.length, 2);
  assert.equal(r.events('door.open').length, 2);
  assert.equal(r.events('door.open')[0]?.lease, undefined);
  assert.deepEqual(r.c.leases(), []);
  assert.deepEqual(onDisk(r.dir), []);
  assert.deepEqual(r.time.pending(), []);
  r.results.push(() => exit(3));
  assert.equal(await r.c.open(req('192.0.2.1', { door: d })), 'failed');
  assert.equal(r.events('command.fail')[0]?.command, 'start');
});

test('nothing to run; v6 _6 selection; set-but-empty stop; over-long commands refused', async () => {
  const r = rig();
  assert.equal(await r.c.open(req('192.0.2.1', { door: door({ startCommand: undefined }) })), 'nothing');
  assert.equal(await r.c.open(req('2001:db8::1', { door: door({ startCommand6: '' }) })), 'nothing');
  assert.equal(r.runs.length, 0);
  assert.equal(await r.c.open(req('2001:DB8:0::7', { door: door({ startCommand6: 'v6 %IP%' }) })), 'opened');
  assert.deepEqual(r.runs, ['v6 2001:db8::7']);
  assert.equal(r.c.leases()[0]?.stopCommand, 'fw -D INPUT -s 2001:db8::7 -j ACCEPT', 'stop falls back independently');
  // stop set but empty: a lease whose close runs nothing (knockd: system(""))
  assert.equal(await r.c.open(req('192.0.2.5', { door: door({ name: 'e', stopCommand: '' }), doorIndex: 3 })), 'opened');
  await r.time.advance(10_000);
  assert.deepEqual(r.runs, ['v6 2001:db8::7', 'fw -I INPUT -s 192.0.2.5 -j ACCEPT', 'fw -D INPUT -s 2001:db8::7 -j ACCEPT']);
  assert.equal(r.events('door.close').length, 2);
  assert.equal(await r.c.open(req('192.0.2.1', { door: door({ startCommand: 'x'.repeat(4096) }) })), 'refused');
  assert.ok(r.lines.includes("error: parsed start command has been truncated! --> won't execute it"));
  assert.equal(await r.c.open(req('192.0.2.1', { door: door({ stopCommand: `${'x'.repeat(4090)}%IP%` }) })), 'refused');
  assert.ok(r.lines.includes("error: parsed stop command has been truncated! --> won't execute start command"));
  assert.equal(r.runs.length, 3);
});

test('open and close of one (door, ip) never interleave (knockd #70)', async () => {
  const r = rig();
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  const order: string[] = [];
  let releaseStop!: () => void;
  r.results.push((cmd) => { order.push(`begin ${cmd}`); return new Promise((res) => { releaseStop = () => { order.push(`end ${cmd}`); res(ok()); }; }); });
  await r.time.advance(10_000);             // stop is now running, lease already out of the table
  const reknock = r.c.open(req('192.0.2.1'));
  r.results.push((cmd) => { order.push(`begin ${cmd}`); order.push(`end ${cmd}`); return ok(); });
  await settle();
  assert.equal(r.runs.length, 2, 'the re-knock waits for the running stop');
  releaseStop();
  assert.equal(await reknock, 'opened', 'a fresh lease after the close finished');
  assert.deepEqual(order, [
    'begin fw -D INPUT -s 192.0.2.1 -j ACCEPT', 'end fw -D INPUT -s 192.0.2.1 -j ACCEPT',
    'begin fw -I INPUT -s 192.0.2.1 -j ACCEPT', 'end fw -I INPUT -s 192.0.2.1 -j ACCEPT',
  ]);
  // two knocks racing during a slow start: one start, one extension
  let releaseStart!: () => void;
  r.results.push(() => new Promise((res) => { releaseStart = () => res(ok()); }));
  const a = r.c.open(req('192.0.2.50'));
  const b = r.c.open(req('192.0.2.50'));
  await settle();
  releaseStart();
  assert.deepEqual([await a, await b], ['opened', 'extended']);
  assert.equal(r.runs.filter((c) => c.includes('192.0.2.50')).length, 1);
});

test('bounded lease table and journal failure refuse the open without running start', async () => {
  const r = rig({ maxLeases: 1 });
  assert.equal(await r.c.open(req('192.0.2.1')), 'opened');
  assert.equal(await r.c.open(req('192.0.2.2')), 'refused');
  assert.equal(r.runs.length, 1);
  const broken = { load: () => [], put: () => { throw new Error('disk full'); }, remove: () => {} } as unknown as Journal;
  const r2 = rig({ journal: broken });
  assert.equal(await r2.c.open(req('192.0.2.1')), 'refused');
  assert.equal(r2.runs.length, 0);
  const r3 = rig({ journal: undefined });
  assert.equal(await r3.c.open(req('192.0.2.1')), 'opened', 'no StateDir: works without a journal');
});

test('integration: fake-iptables through real /bin/sh adds then removes the rule', async () => {
  const dir = join(base, `fw${++dirN}`);
  const fwlog = join(dir, 'fw.log');
  const fw = fixture('bin', 'fake-iptables');
  let busy = 0;
  const r = rig({ run: async (cmd) => { busy++; try { return await runShell(cmd, { env: { FAKE_FW_LOG: fwlog }, timeoutMs: 10_000 }); } finally { busy--; } } }, dir);
  const d = door({
    startCommand: `${fw} -C INPUT -s %IP% -p tcp --dport 22 -j ACCEPT || ${fw} -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT`,
    stopCommand: `${fw} -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT`,
  });
  assert.equal(await r.c.open(req('198.51.100.20', { door: d })), 'opened');
  const rules = () => JSON.parse(readFileSync(`${fwlog}.rules`, 'utf8')) as string[];
  assert.equal(rules().length, 1);
  assert.equal(await r.c.open(req('198.51.100.20', { door: d })), 'extended');
  await r.time.advance(10_000);
  for (let i = 0; i < 200 && (busy > 0 || r.events('door.close').length === 0); i++) await new Promise((res) => setTimeout(res, 25));
  assert.deepEqual(rules(), []);
  const calls = readFileSync(fwlog, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as string[])[0]);
  assert.deepEqual(calls, ['-C', '-I', '-D']);
  assert.equal(r.events('door.close')[0]?.exitCode, 0);
});

test('integration: fake-iptables through the command runner (direct and shell commands)', async () => {
  const dir = join(base, `fw${++dirN}`);
  const fwlog = join(dir, 'fw.log');
  const fw = fixture('bin', 'fake-iptables');
  const runner = new CommandRunner({ env: { FAKE_FW_LOG: fwlog }, timeoutMs: 10_000 });
  let busy = 0;
  try {
    const r = rig({ run: async (cmd) => { busy++; try { return await runner.run(cmd); } finally { busy--; } } }, dir);
    const d = door({
      startCommand: `${fw} -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT`,                 // direct
      stopCommand: `${fw} -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT || exit 9`,          // through /bin/sh
    });
    assert.equal(await r.c.open(req('2001:db8::20', { door: d })), 'opened');
    const rules = () => JSON.parse(readFileSync(`${fwlog}.rules`, 'utf8')) as string[];
    assert.equal(rules().length, 1);
    await r.time.advance(10_000);
    for (let i = 0; i < 200 && (busy > 0 || r.events('door.close').length === 0); i++) await new Promise((res) => setTimeout(res, 25));
    assert.deepEqual(rules(), []);
    const calls = readFileSync(fwlog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    assert.deepEqual(calls.map((c) => c[0]), ['-I', '-D']);
    assert.deepEqual(calls[0]?.slice(0, 5), ['-I', 'INPUT', '1', '-s', '2001:db8::20']);
    assert.equal(r.events('door.close')[0]?.exitCode, 0);
  } finally { await runner.close(); }
});
