import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog } from '../../src/io/audit-log.js';
import type { AuditEvent } from '../../src/core/audit/events.js';
import { isAppError } from '../../src/core/errors.js';

const base = mkdtempSync(join(tmpdir(), 'h5-audit-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let k = 0;
const read = (p: string) => readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const reject = (i: number): AuditEvent => ({ event: 'knock.reject', src: `198.51.100.${i % 250}`, reason: 'bad-mac' });

test('records are JSON lines with time and schema fields, non-reject ones fsynced', async () => {
  const p = join(base, `a${++k}.jsonl`);
  let now = 1_700_000_000_000;
  const synced: number[] = [];
  const log = createAuditLog(p, { now: () => now, fsync: (fd) => synced.push(fd) });
  const principal = { kind: 'spa', key: 'alice', keyId: '0123456789abcdef' } as const;
  log.record({ event: 'door.open', door: 'ssh', src: '192.0.2.1', principal, ip: '192.0.2.1', lease: 'L1', ports: '22:tcp', requestedTtl: 30, grantedTtl: 30, expiresAt: now + 30_000, exitCode: 0 });
  assert.equal(synced.length, 1, 'fsync before record() returns');
  assert.equal(read(p).length, 1, 'written synchronously');
  now += 1;
  log.record(reject(1));
  assert.equal(synced.length, 1, 'rejects are not fsynced');
  log.record({ event: 'door.close', door: 'ssh', src: '192.0.2.1', principal, ip: '192.0.2.1', lease: 'L1', exitCode: 0, reason: 'timeout', openedAt: 5 });
  assert.equal(synced.length, 2);
  await log.close();
  const recs = read(p);
  assert.deepEqual(recs[0], {
    time: 1_700_000_000_000, event: 'door.open', door: 'ssh', src: '192.0.2.1', principal: { kind: 'spa', key: 'alice', keyId: '0123456789abcdef' },
    ip: '192.0.2.1', lease: 'L1', ports: '22:tcp', requestedTtl: 30, grantedTtl: 30, expiresAt: 1_700_000_030_000, exitCode: 0,
  });
  assert.deepEqual(recs[1], { time: 1_700_000_000_001, event: 'knock.reject', src: '198.51.100.1', reason: 'bad-mac' });
  assert.equal(recs[2]?.event, 'door.close');
  assert.equal(recs[2]?.reason, 'timeout');
  assert.equal('level' in (recs[0] ?? {}) || 'msg' in (recs[0] ?? {}) || 'pid' in (recs[0] ?? {}), false, 'no pino noise');
});

test('real fsync path works', async () => {
  const p = join(base, `a${++k}.jsonl`);
  const log = createAuditLog(p);
  log.record({ event: 'daemon.start', pid: 1, config: '/etc/knockd.conf' });
  await log.close();
  assert.equal(read(p)[0]?.event, 'daemon.start');
});

test('knock.reject capped per minute with one summary record', async () => {
  const p = join(base, `a${++k}.jsonl`);
  let now = 60_000_000;
  const log = createAuditLog(p, { now: () => now, rejectCapPerMinute: 5, fsync: () => {} });
  for (let i = 0; i < 100; i++) { log.record(reject(i)); now += 100; }        // 10 s, one window
  log.record({ event: 'door.rearm', door: 'd', src: '192.0.2.1', principal: { kind: 'sequence' }, ip: '192.0.2.1', lease: 'L', expiresAt: 1 });
  now += 60_000;                                                               // next window
  for (let i = 0; i < 3; i++) log.record(reject(i));
  for (let i = 0; i < 7; i++) log.record(reject(i));                           // 10 in window 2 → 5 suppressed
  await log.close();                                                           // close flushes the summary
  const recs = read(p);
  const events = recs.map((r) => r.event);
  assert.equal(events.filter((e) => e === 'knock.reject').length, 10);
  const sums = recs.filter((r) => r.event === 'knock.reject.suppressed');
  assert.deepEqual(sums.map((r) => r.count), [95, 5]);
  assert.equal(sums[0]?.since, 60_000_000);
  assert.ok(events.indexOf('door.rearm') >= 0, 'non-reject records are never capped');
});

test('no path: no-op; unopenable path: ERR_STATE naming it', async () => {
  const log = createAuditLog(undefined);
  log.record(reject(1));
  await log.close();
  const bad = join(base, 'missing-dir', 'x.jsonl');
  assert.throws(() => createAuditLog(bad), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && e.message.includes(bad));
  assert.equal(existsSync(bad), false);
});
