import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJournal, statusMain, STATUS_COLUMNS } from '../../src/cli/status.js';
import { isAppError } from '../../src/core/errors.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

const lease = (o: Record<string, unknown>) => ({
  id: 'L', doorIndex: 0, door: 'ssh', ip: '192.0.2.1', family: 4, principal: { kind: 'sequence' }, src: '192.0.2.1',
  openedAt: NOW - 10_000, expiresAt: NOW + 20_000, stopCommand: '/usr/sbin/iptables -D INPUT -s 192.0.2.1 -j ACCEPT', grantedTtl: 30, ...o,
});

const DOC = {
  format: 'knockd-ts/doors',
  version: 1,
  leases: [
    lease({ id: 'a', door: 'ssh', ip: '198.51.100.7', src: '198.51.100.7', principal: { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' }, expiresAt: NOW + 125_000 }),
    lease({ id: 'b', door: 'web', ip: '2001:db8::9', family: 6, src: '2001:db8::9', expiresAt: NOW + 5_000 }),
    lease({ id: 'c', door: 'ssh', ip: '192.0.2.50', src: '203.0.113.9', principal: { kind: 'spa', key: 'bob', keyId: 'b0b0b0b0b0b0b0b0' }, expiresAt: NOW - 3_000 }),
  ],
};

interface Run { code: number; out: string; err: string }
async function run(argv: string[], stateDir: string): Promise<Run> {
  let out = '', err = '';
  const code = await statusMain(argv, { stateDir, out: (x) => { out += x; }, err: (x) => { err += x; }, now: () => NOW });
  return { code, out, err };
}

function withState(doc: unknown, fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h7-status-'));
    try {
      if (doc !== undefined) writeFileSync(join(dir, 'doors.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('knockd status --json: open doors with principal and remaining time, soonest first', withState(DOC, async (dir) => {
  const r = await run(['--json'], dir);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { now: number; doors: { id: string; principal: { kind: string; key?: string }; remainingMs: number; ip: string }[] };
  assert.equal(doc.now, NOW);
  assert.deepEqual(doc.doors.map((d) => [d.id, d.principal.key ?? d.principal.kind, d.remainingMs]), [
    ['c', 'bob', -3_000],
    ['b', 'sequence', 5_000],
    ['a', 'alice', 125_000],
  ]);
  // the expanded stop command is not something status needs to show
  assert.equal(r.out.includes('iptables'), false);
}));

test('knockd status: table rows', withState(DOC, async (dir) => {
  const r = await run([], dir);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.deepEqual(lines[0]?.split(/\s+/), [...STATUS_COLUMNS]);
  const cells = lines.slice(1).map((l) => l.split(/\s{2,}/));
  assert.deepEqual(cells, [
    ['ssh', 'bob', '192.0.2.50', '203.0.113.9', '2024-05-01 11:59:50Z', '2024-05-01 11:59:57Z', 'overdue 3s'],
    ['web', '(sequence)', '2001:db8::9', '2001:db8::9', '2024-05-01 11:59:50Z', '2024-05-01 12:00:05Z', '5s'],
    ['ssh', 'alice', '198.51.100.7', '198.51.100.7', '2024-05-01 11:59:50Z', '2024-05-01 12:02:05Z', '2m05s'],
  ]);
}));

test('knockd status: no journal means no doors open', withState(undefined, async (dir) => {
  assert.equal(existsSync(join(dir, 'doors.json')), false);
  const r = await run([], dir);
  assert.equal(r.code, 0);
  assert.equal(r.out, 'no doors open\n');
  const j = await run(['--json'], dir);
  assert.deepEqual(JSON.parse(j.out), { now: NOW, doors: [] });
}));

test('knockd status: a malformed entry is skipped with a message, the rest still shown', withState(
  { ...DOC, leases: [...DOC.leases, { id: 'x', door: 5 }, 'junk'] },
  async (dir) => {
    const r = await run(['--json'], dir);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.out) as { doors: unknown[] }).doors.length, 3);
    assert.match(r.err, /lease #3: missing or malformed door, ip, src, openedAt, expiresAt, principal \(skipped\)/);
    assert.match(r.err, /lease #4: /);
  }));

test('parseJournal: documents that are not a journal are refused with the file name', () => {
  const bad: [string, RegExp][] = [
    ['{', /journal \/x\/doors.json: not valid JSON/],
    ['[]', /not a knockd-ts\/doors document/],
    ['{"format":"other","version":1,"leases":[]}', /not a knockd-ts\/doors document/],
    ['{"format":"knockd-ts/doors","version":2,"leases":[]}', /version 2 is not supported/],
    ['{"format":"knockd-ts/doors","version":1}', /not a knockd-ts\/doors document/],
  ];
  for (const [text, msg] of bad) {
    assert.throws(() => parseJournal(text, '/x/doors.json'), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && msg.test(e.message), text);
  }
  assert.deepEqual(parseJournal('{"format":"knockd-ts/doors","version":1,"leases":[]}', 'f'), { doors: [], skipped: [] });
});

test('knockd status: broken journal → exit 1; bad option → 64; --state-dir overrides', withState('{"format":', async (dir) => {
  const r = await run([], dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /not valid JSON/);
  assert.equal((await run(['--nope'], dir)).code, 64);
  const other = mkdtempSync(join(tmpdir(), 'h7-status-'));
  try {
    writeFileSync(join(other, 'doors.json'), JSON.stringify(DOC));
    const o = await run(['--json', '--state-dir', other], dir);
    assert.equal(o.code, 0, o.err);
    assert.equal((JSON.parse(o.out) as { doors: unknown[] }).doors.length, 3);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
}));

test('round trip: a journal written by io/journal.ts is what knockd status shows', async () => {
  const { Journal } = await import('../../src/io/journal.js');
  const dir = mkdtempSync(join(tmpdir(), 'h7-status-'));
  try {
    const j = Journal.open(dir);
    j.put(lease({ id: 'j1', door: 'ssh', principal: { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' }, expiresAt: NOW + 60_000 }) as never);
    j.put(lease({ id: 'j2', door: 'web', expiresAt: NOW + 10_000 }) as never);
    const r = await run(['--json'], dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const doc = JSON.parse(r.out) as { doors: { id: string; remainingMs: number }[] };
    assert.deepEqual(doc.doors.map((d) => [d.id, d.remainingMs]), [['j2', 10_000], ['j1', 60_000]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
