import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statusMain, STATUS_COLUMNS } from '../../src/cli/status.js';
import { Journal } from '../../src/io/journal.js';
import type { Lease } from '../../src/core/actions/leases.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

const lease = (o: Partial<Lease>): Lease => ({
  id: 'L', doorIndex: 0, door: 'ssh', ip: '192.0.2.1', family: 4, principal: { kind: 'sequence' }, src: '192.0.2.1',
  openedAt: NOW - 10_000, expiresAt: NOW + 20_000, stopCommand: '/usr/sbin/iptables -D INPUT -s 192.0.2.1 -j ACCEPT', grantedTtl: 30, ...o,
});

interface Run { code: number; out: string; err: string }
async function run(argv: string[], stateDir: string): Promise<Run> {
  let out = '', err = '';
  const code = await statusMain(argv, { stateDir, out: (x) => { out += x; }, err: (x) => { err += x; }, now: () => NOW });
  return { code, out, err };
}

/** A journal written by io/journal.ts itself: open, closing, stop failing (overdue). */
function withJournal(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-status-'));
    try {
      const j = Journal.open(dir);
      j.append({ op: 'put', lease: lease({ id: 'a', ip: '198.51.100.7', src: '198.51.100.7', principal: { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' }, expiresAt: NOW + 125_000 }) });
      j.append({ op: 'put', lease: lease({ id: 'b', door: 'web', ip: '2001:db8::9', family: 6, src: '2001:db8::9', expiresAt: NOW - 1_000 }) });
      j.append({ op: 'due', id: 'b', reason: 'timeout', at: NOW - 1_000 });
      j.append({ op: 'put', lease: lease({ id: 'c', ip: '192.0.2.50', src: '203.0.113.9', principal: { kind: 'spa', key: 'bob', keyId: 'b0b0b0b0b0b0b0b0' }, expiresAt: NOW - 30_000 }) });
      j.append({ op: 'due', id: 'c', reason: 'timeout', at: NOW - 30_000 });
      j.append({ op: 'fail', id: 'c', attempts: 4, error: 'exit status 1: iptables: Bad rule (does a matching rule exist in that chain?).', at: NOW - 5_000, retryAt: NOW + 25_000 });
      j.append({ op: 'put', lease: lease({ id: 'gone', expiresAt: NOW - 60_000 }) });
      j.append({ op: 'del', id: 'gone' });
      j.close();
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('knockd status --json: state of every lease still in the journal, soonest expiry first', withJournal(async (dir) => {
  const r = await run(['--json'], dir);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { now: number; doors: { id: string; state: string; overdue: boolean; attempts?: number; lastError?: string; remainingMs: number }[] };
  assert.equal(doc.now, NOW);
  assert.deepEqual(doc.doors.map((d) => [d.id, d.state, d.overdue, d.attempts, d.remainingMs]), [
    ['c', 'stop failing', true, 4, -30_000],
    ['b', 'closing', false, undefined, -1_000],
    ['a', 'open', false, undefined, 125_000],
  ]);
  assert.match(doc.doors[0]?.lastError ?? '', /Bad rule/);
  assert.equal(r.out.includes('iptables -D'), false, 'the stored stop command is not shown');
}));

test('knockd status: table with a STATE column that names failing stops and overdue leases', withJournal(async (dir) => {
  const r = await run([], dir);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.deepEqual(lines[0]?.split(/\s+/), [...STATUS_COLUMNS]);
  const cells = lines.slice(1).map((l) => l.split(/\s{2,}/));
  assert.deepEqual(cells.map((c) => [c[0], c[1], c[6]]), [
    ['ssh', 'bob', 'overdue 30s, stop failing (4 attempts: exit status 1: iptables: Bad rule (does a matching rule exist in that chain?).), next try in 25s'],
    ['web', '(sequence)', 'closing'],
    ['ssh', 'alice', 'open, 2m05s left'],
  ]);
}));

test('knockd status: no journal means no doors open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-status-'));
  try {
    assert.deepEqual(await run([], dir), { code: 0, out: 'no doors open\n', err: '' });
    assert.deepEqual(JSON.parse((await run(['--json'], dir)).out), { now: NOW, doors: [] });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('knockd status: damaged journal → exit 1 naming file and line; bad option → 64; --state-dir overrides', withJournal(async (dir) => {
  const bad = mkdtempSync(join(tmpdir(), 'kts-status-'));
  try {
    chmodSync(bad, 0o700);
    writeFileSync(join(bad, 'leases.log'), 'garbage\n{"op":"del","id":"x"}\n', { mode: 0o600 });
    const r = await run([], bad);
    assert.equal(r.code, 1);
    assert.match(r.err, /leases\.log:1: not a JSON record; .*\[ERR_STATE\]/);
    assert.equal((await run(['--nope'], bad)).code, 64);
    const o = await run(['--json', '--state-dir', dir], bad);
    assert.equal(o.code, 0, o.err);
    assert.equal((JSON.parse(o.out) as { doors: unknown[] }).doors.length, 3);
  } finally { rmSync(bad, { recursive: true, force: true }); }
}));
