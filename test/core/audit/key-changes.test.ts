import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFilter, buildReport, renderReport } from '../../../src/core/audit/report.js';

const line = (o: object) => JSON.stringify(o);
const T = Date.UTC(2026, 0, 1);

test('knockd audit lists key changes with who made them; filters by key and time; control characters escaped', () => {
  const text = [
    line({ time: T, event: 'key.add', key: 'alice', keyId: 'aa00', by: { user: 'root', uid: 0, sudoUser: 'bob' }, fields: { doors: ['ssh'], from: [], nat: false, expires: null } }),
    line({ time: T + 1000, event: 'key.revoke', key: 'eve\u001b]52;c;eA==\u0007', keyId: 'ee00', by: { user: 'root', uid: 0 } }),
    line({ time: T + 2000, event: 'key.set', key: 'alice', keyId: 'aa00', by: { user: 'knockd', uid: 998 }, fields: { nat: true } }),
    line({ time: T + 3000, event: 'key.remove', keyId: 'ff00', by: { user: 'x', uid: 1 } }),   // no key name: not shown
  ].join('\n');
  const rep = buildReport(text, T + 10_000);
  assert.equal(rep.keyChanges.length, 3);
  const out = renderReport(rep);
  assert.match(out, /key changes: 3\nTIME +CHANGE +KEY +BY +FIELDS\n/);
  assert.match(out, /2026-01-01 00:00:00Z  key\.add +alice +root \(uid 0, sudo bob\) +doors=ssh from=\* nat=false expires=-/);
  assert.match(out, /key\.set +alice +knockd \(uid 998\) +nat=true/);
  assert.ok(!out.includes('\u001b'), 'no raw ESC reaches the terminal');
  assert.match(out, /eve\\x1b\]52;c;eA==\\x07/);
  const onlyAlice = applyFilter(rep, { key: 'alice', since: T + 500 }, T + 10_000);
  assert.deepEqual(onlyAlice.keyChanges.map((c) => c.event), ['key.set']);
  assert.deepEqual(applyFilter(rep, { door: 'ssh' }, T).keyChanges, [], 'door and address filters select door events only');
});
