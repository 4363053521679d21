import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../src/io/journal.js';
import { isAppError } from '../../src/core/errors.js';
import type { Lease } from '../../src/core/actions/leases.js';

const base = mkdtempSync(join(tmpdir(), 'h5-journal-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let k = 0;
const fresh = () => join(base, `s${++k}`, 'state');

function lease(i: number, p: Partial<Lease> = {}): Lease {
  return {
    id: `id${i}`, doorIndex: i % 3, door: `door ${i}`, ip: `192.0.2.${i}`, family: 4,
    principal: i % 2 ? { kind: 'spa', key: 'alice', keyId: '0123456789abcdef' } : { kind: 'sequence' },
    src: `192.0.2.${i}`, openedAt: 1000 + i, expiresAt: 11_000 + i, stopCommand: `iptables -D INPUT -s 192.0.2.${i} -j ACCEPT`,
    grantedTtl: 10, ...p,
  };
}

test('open creates the state directory with mode 0700', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(j.load(), []);
});

test('put/remove: file always parses, survives reopen, stores the expanded stop command', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  j.load();
  const file = join(dir, 'doors.json');
  for (let i = 1; i <= 20; i++) {
    j.put(lease(i));
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { leases: Lease[] };
    assert.equal(doc.leases.length, i);
  }
  for (let i = 1; i <= 20; i += 2) j.remove(`id${i}`);
  j.put(lease(2, { expiresAt: 99_999 }));   // replace
  j.remove('unknown');                       // no-op
  assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp-')).length, 0, 'no temp files left');
  const j2 = Journal.open(dir);
  const got = j2.load().sort((a, b) => a.doorIndex - b.doorIndex || a.id.localeCompare(b.id));
  assert.equal(got.length, 10);
  const two = got.find((l) => l.id === 'id2');
  assert.equal(two?.expiresAt, 99_999);
  assert.equal(two?.stopCommand, 'iptables -D INPUT -s 192.0.2.2 -j ACCEPT');
  assert.deepEqual(got.find((l) => l.id === 'id4'), lease(4));
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('stale temp file from a crash is ignored and cleaned', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  j.put(lease(1));
  writeFileSync(join(dir, 'doors.json.tmp-424242'), '{"torn":');  // crash between write and rename
  const j2 = Journal.open(dir);
  assert.deepEqual(j2.load().map((l) => l.id), ['id1']);
  assert.equal(readdirSync(dir).some((n) => n.includes('.tmp-')), false);
});

test('damaged journal: ERR_STATE naming the file', () => {
  const rows: Array<[string, RegExp]> = [
    ['{"format":"knockd-ts/doors","version":1,"leases":[', /not valid JSON/],
    ['[]', /not a knockd-ts\/doors/],
    ['{"format":"knockd-ts/doors","version":2,"leases":[]}', /version 1/],
    ['{"format":"knockd-ts/doors","version":1,"leases":[{"id":1}]}', /lease #0: field id/],
    [JSON.stringify({ format: 'knockd-ts/doors', version: 1, leases: [{ ...lease(1), family: 5 }] }), /family/],
    [JSON.stringify({ format: 'knockd-ts/doors', version: 1, leases: [{ ...lease(1), principal: { kind: 'spa' } }] }), /principal/],
  ];
  for (const [text, re] of rows) {
    const dir = fresh();
    const j = Journal.open(dir);
    writeFileSync(join(dir, 'doors.json'), text);
    assert.throws(() => j.load(), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && e.message.includes(join(dir, 'doors.json')) && re.test(e.message), text);
  }
});

test('state path that is a file, or unwritable: ERR_STATE naming it', (t) => {
  const f = join(base, 'plainfile');
  writeFileSync(f, 'x');
  assert.throws(() => Journal.open(f), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && e.message.includes(f));
  assert.throws(() => Journal.open(join(f, 'sub')), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && e.message.includes(join(f, 'sub')));
  if (process.getuid?.() === 0) { t.diagnostic('root ignores directory permissions; write-failure case skipped'); return; }
  const dir = fresh();
  const j = Journal.open(dir);
  chmodSync(dir, 0o500);
  try {
    assert.throws(() => j.put(lease(1)), (e: unknown) => isAppError(e) && e.code === 'ERR_STATE');
  } finally { chmodSync(dir, 0o700); }
});
