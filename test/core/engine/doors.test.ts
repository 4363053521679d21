/**
 * The door machine, pure: every transition of a lease, driven by hand with an explicit clock.
 * Effects are asserted as data (which command runs in which lane, what the journal and the
 * audit log receive), from grant to the last stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DoorMachine, type GrantRequest } from '../../../src/core/engine/doors.js';
import type { CommandResult, Effect } from '../../../src/core/engine/effects.js';
import type { Door } from '../../../src/core/config/types.js';
import { parseIp } from '../../../src/core/ip.js';

const T0 = 1_700_000_000_000;
const OK: CommandResult = { exitCode: 0, timedOut: false, failed: false, durationMs: 1 };
const FAIL: CommandResult = { exitCode: 1, timedOut: false, failed: true, durationMs: 1, stderrTail: 'iptables: Bad rule (does a matching rule exist in that chain?).\n' };
const LOST: CommandResult = { exitCode: undefined, timedOut: false, failed: true, durationMs: 1, lost: true };

function door(p: Partial<Door> = {}): Door {
  return {
    name: 'ssh', line: 1, sequence: [], seqTimeout: 25, tcpFlags: {}, spa: true, cmdTimeout: 10,
    startCommand: 'fw -I %IP%', stopCommand: 'fw -D %IP%', ...p,
  };
}
function req(ip = '10.0.0.2', p: Partial<GrantRequest> = {}): GrantRequest {
  const a = parseIp(ip);
  assert.ok(a);
  return { doorIndex: 0, door: door(), ip: a, src: a.text, principal: { kind: 'spa', key: 'alice', keyId: '00'.repeat(8) }, grantedTtl: 10, lane: 'auth', ...p };
}
const runs = (fx: Effect[]) => fx.filter((e): e is Extract<Effect, { kind: 'run' }> => e.kind === 'run');
const run1 = (fx: Effect[]) => { const r = runs(fx); assert.equal(r.length, 1, JSON.stringify(fx)); return r[0]!; };
const audits = (fx: Effect[], name?: string) => fx.flatMap((e) => (e.kind === 'audit' && (!name || e.event.event === name) ? [e.event as unknown as Record<string, unknown>] : []));
const journal = (fx: Effect[]) => fx.flatMap((e) => (e.kind === 'journal' ? [e.rec.op] : []));

test('1 grant → journal put, then the start in the auth lane; open; expiry → stop in the close lane; success → del + door.close', () => {
  const m = new DoorMachine();
  let fx = m.grant(req(), T0);
  assert.deepEqual(journal(fx), ['put'], 'journalled before the start runs');
  const start = run1(fx);
  assert.deepEqual([start.lane, start.command], ['auth', 'fw -I 10.0.0.2']);
  fx = m.done(start.op, OK, T0 + 5);
  assert.equal(audits(fx, 'door.open').length, 1);
  assert.equal(audits(fx, 'door.open')[0]?.expiresAt, T0 + 10_000);
  assert.equal(m.nextDeadline(), T0 + 10_000);
  assert.deepEqual(m.tick(T0 + 9_999), []);
  fx = m.tick(T0 + 10_000);
  assert.deepEqual(journal(fx), ['due']);
  const stop = run1(fx);
  assert.deepEqual([stop.lane, stop.command], ['close', 'fw -D 10.0.0.2']);
  fx = m.done(stop.op, OK, T0 + 10_003);
  assert.deepEqual(journal(fx), ['del']);
  assert.equal(audits(fx, 'door.close')[0]?.reason, 'timeout');
  assert.equal(m.size, 0);
  assert.equal(m.nextDeadline(), undefined);
});

test('2 a re-knock while open extends the lease: no second start, expiry moves', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  const fx = m.grant(req(), T0 + 4000);
  assert.equal(runs(fx).length, 0);
  assert.equal(audits(fx, 'door.extend')[0]?.expiresAt, T0 + 14_000);
  assert.equal(m.nextDeadline(), T0 + 14_000);
  // another key from the same address extends the same lease: the record names that key
  const bob = { kind: 'spa', key: 'bob', keyId: '11'.repeat(8) } as const;
  const ext = audits(m.grant(req('10.0.0.2', { principal: bob, src: '10.0.0.9' }), T0 + 5000), 'door.extend')[0];
  assert.deepEqual([ext?.principal, ext?.src, ext?.lease], [bob, '10.0.0.9', audits(fx, 'door.extend')[0]?.lease]);
});

test('3 a failed start leaves the journal; an unknown outcome keeps the lease so its stop runs', () => {
  const m = new DoorMachine();
  let fx = m.done(run1(m.grant(req('10.0.0.2'), T0)).op, FAIL, T0);
  assert.deepEqual(journal(fx), ['del']);
  assert.equal(audits(fx, 'command.fail')[0]?.command, 'start');
  assert.equal(m.size, 0);
  fx = m.done(run1(m.grant(req('10.0.0.3'), T0)).op, LOST, T0);
  assert.equal(audits(fx, 'command.fail')[0]?.lost, true);
  assert.equal(m.size, 1);
  assert.equal(run1(m.tick(T0 + 10_000)).lane, 'close');
});

test('4 a failing stop is retried with capped backoff for as long as needed; door.close only on success', () => {
  const m = new DoorMachine({ retryDelaysMs: [1000, 5000] });
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  let t = T0 + 10_000;
  let op = run1(m.tick(t)).op;
  const delays: number[] = [];
  for (let i = 1; i <= 6; i++) {
    const fx = m.done(op, FAIL, t);
    assert.equal(audits(fx, 'door.close').length, 0, 'no door.close for a failed stop');
    const fail = audits(fx, 'command.fail')[0];
    assert.equal(fail?.attempt, i);
    assert.match(String(fail?.error), /exit status 1: iptables: Bad rule/);
    assert.deepEqual(journal(fx), ['fail']);
    const next = m.nextDeadline() as number;
    delays.push(next - t);
    t = next;
    op = run1(m.tick(t)).op;
  }
  assert.deepEqual(delays, [1000, 5000, 5000, 5000, 5000, 5000]);
  const view = m.leases(t)[0];
  assert.equal(view?.state, 'closing');
  assert.equal(view?.overdue, true);
  const fx = m.done(op, OK, t);
  assert.equal(audits(fx, 'door.close')[0]?.attempts, 7);
  assert.equal(m.size, 0);
});

test('5 issue 15: a grant after the stop failed re-runs the stop once, then the start; the new lease supersedes the failed one', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  const oldId = m.leases(T0)[0]!.lease.id;
  const t = T0 + 10_000;
  m.done(run1(m.tick(t)).op, FAIL, t);                 // rule flushed from outside: the stop fails
  let fx = m.grant(req(), t + 100);                    // the user knocks again before the retry
  const stop = run1(fx);
  assert.equal(stop.lane, 'close', 'the owed stop is tried once more first');
  fx = m.done(stop.op, FAIL, t + 103);
  const start = run1(fx);
  assert.deepEqual([start.lane, start.command], ['auth', 'fw -I 10.0.0.2'], 'then the start runs at once, not after the backoff');
  fx = m.done(start.op, OK, t + 106);
  const open = audits(fx, 'door.open')[0];
  assert.equal(open?.reopened, true);
  assert.equal(open?.supersedes, oldId);
  assert.ok(fx.some((e) => e.kind === 'journal' && e.rec.op === 'del' && e.rec.id === oldId), 'the superseded lease leaves the journal');
  assert.equal(m.size, 1);
  assert.equal(m.leases(t + 106)[0]?.state, 'open');
  assert.equal(m.nextDeadline(), t + 100 + 10_000, 'no retry of the old stop is scheduled any more');
});

test('6 issue 15: when the retried stop succeeds the old lease closes normally and the new one opens', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  m.done(run1(m.tick(T0 + 10_000)).op, FAIL, T0 + 10_000);
  const stop = run1(m.grant(req(), T0 + 10_500));
  let fx = m.done(stop.op, OK, T0 + 10_501);
  assert.equal(audits(fx, 'door.close')[0]?.attempts, 2);
  const start = run1(fx);
  fx = m.done(start.op, OK, T0 + 10_502);
  assert.equal(audits(fx, 'door.open')[0]?.supersedes, undefined);
  assert.equal(m.size, 1);
});

test('7 a grant while the stop runs waits for it (one command per rule at a time)', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  const stop = run1(m.tick(T0 + 10_000));
  assert.equal(runs(m.grant(req(), T0 + 10_001)).length, 0, 'start must not race the running stop');
  const fx = m.done(stop.op, FAIL, T0 + 10_002);
  const start = run1(fx);
  assert.equal(start.lane, 'auth');
  const open = audits(m.done(start.op, OK, T0 + 10_003), 'door.open')[0];
  assert.equal(open?.reopened, true, 'it re-opened the rule whose stop just failed');
  assert.equal(m.size, 1);
});

test('8 if the superseding start fails, the old stop is owed again', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req(), T0)).op, OK, T0);
  m.done(run1(m.tick(T0 + 10_000)).op, FAIL, T0 + 10_000);
  const start = run1(m.done(run1(m.grant(req(), T0 + 10_100)).op, FAIL, T0 + 10_101));
  m.done(start.op, FAIL, T0 + 10_102);
  assert.equal(m.size, 1);
  const v = m.leases(T0 + 10_102)[0];
  assert.equal(v?.state, 'retry');
  assert.ok((m.nextDeadline() ?? 0) > T0 + 10_102);
});

test('9 revoked while its start runs: closed as soon as it is open; revoked while waiting: never started', () => {
  const m = new DoorMachine();
  const start = run1(m.grant(req(), T0));
  assert.equal(runs(m.closeWhere(() => true, 'revoked', T0 + 1)).length, 0);
  let fx = m.done(start.op, OK, T0 + 2);
  const stop = run1(fx);
  assert.equal(stop.lane, 'close');
  fx = m.done(stop.op, OK, T0 + 3);
  assert.equal(audits(fx, 'door.close')[0]?.reason, 'revoked');
  // waiting behind a running stop, then revoked: cancelled, its start never runs
  m.done(run1(m.grant(req('10.0.0.9'), T0)).op, OK, T0);
  const s2 = run1(m.tick(T0 + 10_000));
  m.grant(req('10.0.0.9'), T0 + 10_001);
  fx = m.closeWhere(() => true, 'revoked', T0 + 10_002);
  assert.ok(fx.some((e) => e.kind === 'journal' && e.rec.op === 'del'));
  fx = m.done(s2.op, OK, T0 + 10_003);
  assert.equal(runs(fx).length, 0);
  assert.equal(m.size, 0);
});

test('10 restore: expired leases are closed now (reconcile), others re-armed; failed closes resume', () => {
  const m = new DoorMachine();
  const mk = (id: string, ip: string, expiresAt: number) => ({ id, doorIndex: 0, door: 'ssh', ip, family: 4 as const, principal: { kind: 'sequence' as const }, src: ip, openedAt: T0 - 5000, expiresAt, stopCommand: `fw -D ${ip}`, grantedTtl: 10 });
  const fx = m.restore([mk('a', '10.0.0.1', T0 - 1), mk('b', '10.0.0.2', T0 + 5000), { ...mk('c', '10.0.0.3', T0 + 5000), closing: { reason: 'revoked', attempts: 3, lastError: 'x' } }], T0);
  assert.deepEqual(runs(fx).map((r) => r.command).sort(), ['fw -D 10.0.0.1', 'fw -D 10.0.0.3']);
  assert.equal(audits(fx, 'door.rearm').length, 1);
  const c = m.leases(T0).find((v) => v.lease.id === 'c');
  assert.equal(c?.reason, 'revoked');
  assert.equal(m.nextDeadline(), T0 + 5000);
});

test('11 empty stop command: the lease closes without running anything (knockd system(""))', () => {
  const m = new DoorMachine();
  m.done(run1(m.grant(req('10.0.0.2', { door: door({ stopCommand: '' }) }), T0)).op, OK, T0);
  const fx = m.tick(T0 + 10_000);
  assert.equal(runs(fx).length, 0);
  assert.equal(audits(fx, 'door.close').length, 1);
  assert.equal(m.size, 0);
});

test('12 bounds: a full lease table and a refusing open budget refuse without journal or command', () => {
  const m = new DoorMachine({ maxLeases: 1 });
  m.grant(req('10.0.0.1'), T0);
  let fx = m.grant(req('10.0.0.2'), T0);
  assert.deepEqual(audits(fx).map((a) => [a.event, a.reason]), [['door.refuse', 'lease-table-full']]);
  assert.deepEqual(journal(fx), []);
  const m2 = new DoorMachine();
  fx = m2.grant(req('10.0.0.2', { lane: 'classic', admit: () => false }), T0);
  assert.deepEqual(audits(fx).map((a) => a.reason), ['open-rate']);
  assert.deepEqual(runs(fx), []);
  assert.deepEqual(journal(fx), []);
  // an extend never asks the budget
  m2.done(run1(m2.grant(req('10.0.0.3', { lane: 'classic' }), T0)).op, OK, T0);
  assert.equal(audits(m2.grant(req('10.0.0.3', { lane: 'classic', admit: () => false }), T0 + 1), 'door.extend').length, 1);
});

test('13 a door without a stop command runs its start every time and keeps no lease (knockd)', () => {
  const m = new DoorMachine();
  const d = door({ stopCommand: undefined });
  const a = run1(m.grant(req('10.0.0.2', { door: d }), T0));
  const b = run1(m.grant(req('10.0.0.2', { door: d }), T0));
  assert.notEqual(a.op, b.op);
  assert.equal(audits(m.done(a.op, OK, T0), 'door.open').length, 1);
  assert.equal(m.size, 0);
});

test('14 different addresses run in parallel; settled() waits for commands and due stops', () => {
  const m = new DoorMachine();
  const a = run1(m.grant(req('10.0.0.1'), T0));
  const b = run1(m.grant(req('10.0.0.2'), T0));
  assert.equal(m.running, 2);
  assert.equal(m.settled(T0), false);
  m.done(a.op, OK, T0);
  m.done(b.op, OK, T0);
  assert.equal(m.settled(T0), true);
  const fx = m.closeWhere(() => true, 'shutdown', T0 + 1);
  assert.equal(runs(fx).length, 2);
  assert.equal(m.settled(T0 + 1), false);
  for (const r of runs(fx)) m.done(r.op, FAIL, T0 + 2);
  assert.equal(m.settled(T0 + 2), true, 'failed stops wait for their retry: shutdown does not wait for them');
  assert.equal(m.size, 2, 'they stay owed (journal) for the next start');
});

test('15 IPv6 uses the _6 commands', () => {
  const m = new DoorMachine();
  const r = run1(m.grant(req('fd00::2', { door: door({ startCommand6: 'fw6 -I %IP%', stopCommand6: 'fw6 -D %IP%' }) }), T0));
  assert.equal(r.command, 'fw6 -I fd00::2');
});
