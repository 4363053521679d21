import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync, mkdirSync, symlinkSync, chmodSync, appendFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, readJournal } from '../../src/io/journal.js';
import { isAppError } from '../../src/core/errors.js';
import type { Lease } from '../../src/core/actions/leases.js';

const base = mkdtempSync(join(tmpdir(), 'kts-journal-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let k = 0;
const fresh = () => join(base, `s${++k}`, 'state');
const stateErr = (re: RegExp) => (e: unknown) => isAppError(e) && e.code === 'ERR_STATE' && re.test(e.message);

function lease(i: number, p: Partial<Lease> = {}): Lease {
  return {
    id: `id${i}`, doorIndex: i % 3, door: `door ${i}`, ip: `192.0.2.${i}`, family: 4,
    principal: i % 2 ? { kind: 'spa', key: 'alice', keyId: '0123456789abcdef' } : { kind: 'sequence' },
    src: `192.0.2.${i}`, openedAt: 1000 + i, expiresAt: 11_000 + i, stopCommand: `iptables -D INPUT -s 192.0.2.${i} -j ACCEPT`,
    grantedTtl: 10, ...p,
  };
}

test('open creates the state directory 0700 and an empty 0600 journal', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'leases.log')).mode & 0o777, 0o600);
  assert.deepEqual(j.entries(), []);
  j.close();
});

test('each change is one appended line; reopen restores leases with their closing state', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  for (let i = 1; i <= 20; i++) j.append({ op: 'put', lease: lease(i) });
  const size = statSync(j.file).size;
  j.append({ op: 'del', id: 'id1' });
  const line = `${JSON.stringify({ op: 'del', id: 'id1' })}\n`;
  assert.equal(statSync(j.file).size, size + line.length, 'one append, no rewrite');
  for (let i = 3; i <= 20; i += 2) j.append({ op: 'del', id: `id${i}` });
  j.append({ op: 'put', lease: lease(2, { expiresAt: 99_999 }) });
  j.append({ op: 'due', id: 'id4', reason: 'timeout', at: 5 });
  j.append({ op: 'fail', id: 'id4', attempts: 2, error: 'exit status 1: Bad rule', at: 6, retryAt: 7006 });
  j.close();
  const got = readJournal(dir);
  assert.equal(got.size, 10);
  assert.equal(got.get('id2')?.lease.expiresAt, 99_999);
  assert.deepEqual(got.get('id4')?.closing, { reason: 'timeout', since: 5, attempts: 2, lastError: 'exit status 1: Bad rule', retryAt: 7006 });
  assert.deepEqual(got.get('id6')?.lease, lease(6));
  // reopening compacts to the live records and keeps the closing state
  const j2 = Journal.open(dir);
  assert.deepEqual(readJournal(dir).get('id4')?.closing?.attempts, 2);
  assert.equal(j2.entries().length, 10);
  j2.close();
});

test('compaction keeps the file proportional to the live leases', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  for (let i = 0; i < 5000; i++) { j.append({ op: 'put', lease: lease(i) }); j.append({ op: 'del', id: `id${i}` }); }
  j.append({ op: 'put', lease: lease(1) });
  const lines = readFileSync(j.file, 'utf8').split('\n').filter(Boolean).length;
  assert.ok(lines <= 2050, `file holds ${lines} lines for 1 live lease`);
  assert.equal(readJournal(dir).size, 1);
  j.close();
});

test('a torn final line is ignored; any other malformed line refuses with file:line', () => {
  const dir = fresh();
  const j = Journal.open(dir);
  j.append({ op: 'put', lease: lease(1) });
  j.close();
  appendFileSync(join(dir, 'leases.log'), '{"op":"del","id":"id');
  assert.equal(readJournal(dir).size, 1);
  const bad: Array<[string, RegExp]> = [
    ['{"op":"put","lease":{"id":1}}\n', /lease field id is not a string/],
    ['nonsense\n', /not a JSON record/],
    ['{"op":"drop"}\n', /unknown record type/],
    [`${JSON.stringify({ op: 'put', lease: { ...lease(1), family: 5 } })}\n`, /family/],
    ['{"op":"due","id":"x","reason":"because","at":1}\n', /malformed due record/],
  ];
  for (const [text, re] of bad) {
    const d = fresh();
    mkdirSync(d, { recursive: true, mode: 0o700 });
    writeFileSync(join(d, 'leases.log'), text, { mode: 0o600 });
    assert.throws(() => Journal.open(d), stateErr(new RegExp(`${join(d, 'leases.log').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: .*${re.source}`)), text);
  }
});

test('a legacy doors.json is imported once and removed', () => {
  const dir = fresh();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'doors.json'), JSON.stringify({ format: 'knockd-ts/doors', version: 1, leases: [lease(1), lease(2)] }), { mode: 0o600 });
  const j = Journal.open(dir);
  assert.deepEqual(j.entries().map((e) => e.lease.id).sort(), ['id1', 'id2']);
  assert.equal(readdirSync(dir).includes('doors.json'), false);
  j.close();
  assert.equal(readJournal(dir).size, 2);
});

test('StateDir trust: group-writable directory, symlinked or loose journal refused (ERR_STATE naming the path)', () => {
  const dir = fresh();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o770);
  assert.throws(() => Journal.open(dir), stateErr(/writable by group\/other/));
  chmodSync(dir, 0o700);
  const elsewhere = join(base, `victim${k}`);
  writeFileSync(elsewhere, '', { mode: 0o600 });
  symlinkSync(elsewhere, join(dir, 'leases.log'));
  assert.throws(() => Journal.open(dir), stateErr(/symbolic link/));
  rmSync(join(dir, 'leases.log'));
  writeFileSync(join(dir, 'leases.log'), '', { mode: 0o666 });
  chmodSync(join(dir, 'leases.log'), 0o666);
  assert.throws(() => Journal.open(dir), stateErr(/too open/));
  const f = join(base, `plainfile${k}`);
  writeFileSync(f, 'x');
  assert.throws(() => Journal.open(f), stateErr(/plainfile/));
});

test('admin trust (root running `knockd status`) reads a journal the service user owns; strict trust refuses it', { skip: process.geteuid?.() === 0 ? undefined : 'needs root to chown the journal to another user' }, () => {
  const dir = fresh();
  const j = Journal.open(dir);
  j.append({ op: 'put', lease: lease(1) });
  j.close();
  chownSync(dir, 65534, 65534);
  chownSync(join(dir, 'leases.log'), 65534, 65534);
  assert.throws(() => readJournal(dir), stateErr(/owned by uid 65534, not root/));
  assert.deepEqual([...readJournal(dir, 'admin').keys()], ['id1']);
});
