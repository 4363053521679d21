import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseTable, type Lease } from '../../../src/core/actions/leases.js';

let n = 0;
function lease(p: Partial<Lease> = {}): Lease {
  n++;
  return {
    id: `L${n}`, doorIndex: 0, door: 'ssh', ip: `10.0.0.${n}`, family: 4, principal: { kind: 'sequence' },
    src: `10.0.0.${n}`, openedAt: 1000, expiresAt: 11_000, stopCommand: 'stop', grantedTtl: 10, ...p,
  };
}

test('add / find / remove', () => {
  const t = new LeaseTable();
  const a = lease({ ip: '192.0.2.1', door: 'ssh' });
  assert.equal(t.add(a), true);
  assert.equal(t.find('ssh', '192.0.2.1'), a);
  assert.equal(t.find('ssh', '192.0.2.2'), undefined);
  assert.equal(t.find('web', '192.0.2.1'), undefined);
  assert.equal(t.find('ssh', '192.0.2.1', 0), a);
  assert.equal(t.find('ssh', '192.0.2.1', 1), undefined);
  assert.equal(t.add({ ...a }), false, 'same id twice');
  assert.equal(t.add({ ...a, id: 'other' }), false, 'same (door, index, ip) twice');
  assert.equal(t.add({ ...a, id: 'idx1', doorIndex: 1 }), true, 'same name, other section index');
  assert.equal(t.find('ssh', '192.0.2.1', 1)?.id, 'idx1');
  assert.equal(t.remove(a.id), a);
  assert.equal(t.remove(a.id), undefined);
  assert.equal(t.find('ssh', '192.0.2.1', 0), undefined);
  assert.equal(t.find('ssh', '192.0.2.1')?.id, 'idx1');
  assert.equal(t.size, 1);
});

test('bounded: beyond max, add refuses', () => {
  const t = new LeaseTable(3);
  assert.equal(t.add(lease()), true);
  assert.equal(t.add(lease()), true);
  assert.equal(t.add(lease()), true);
  assert.equal(t.add(lease()), false);
  assert.equal(t.size, 3);
});

test('extend, due and nextDeadline with a fake clock', () => {
  let now = 0;
  const t = new LeaseTable();
  const a = lease({ expiresAt: 10_000 });
  const b = lease({ expiresAt: 5_000 });
  const c = lease({ expiresAt: 20_000 });
  [a, b, c].forEach((l) => assert.ok(t.add(l)));
  assert.equal(t.nextDeadline(), 5_000);
  assert.deepEqual(t.due(now), []);
  now = 5_000;
  assert.deepEqual(t.due(now).map((l) => l.id), [b.id], 'expiresAt <= now is due');
  const b2 = t.extend(b.id, 15_000);
  assert.equal(b2?.expiresAt, 15_000);
  assert.equal(t.find(b.door, b.ip)?.expiresAt, 15_000, 'index sees the extension');
  assert.equal(t.nextDeadline(), 10_000);
  now = 16_000;
  assert.deepEqual(t.due(now).map((l) => l.id), [a.id, b.id], 'earliest first');
  assert.equal(t.extend('nope', 1), undefined);
  t.remove(a.id); t.remove(b.id); t.remove(c.id);
  assert.equal(t.nextDeadline(), undefined);
  assert.deepEqual(t.all(), []);
});
