/**
 * Integration tier, nftables set doors: the whole daemon as a normal user with the fake
 * nftables port (test/helpers/fake-nft.ts) on the fake clock. Open, refresh without a gap,
 * expiry by the "kernel", revocation, shutdown, reconcile from listed elements, nft refusing a
 * change, a door with both commands and a set, reload, and the start-up error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { rig, enrolAlice, type Rig } from '../helpers/daemon-rig.js';
import { readJournal } from '../../src/io/journal.js';
import { isAppError } from '../../src/core/errors.js';

const C = '10.9.0.2';
const SSH4 = 'inet knockd ssh4';
const WEB4 = 'inet knockd web4';
const NFT_DOORS = `[ssh]
\tspa = yes
\tports = 22
\tcmd_timeout = 10
\tnft_set = inet knockd ssh4
\tnft_set_6 = inet knockd ssh6
[web]
\tsequence = 7000,8000:udp,9000
\tports = 80
\tcmd_timeout = 5
\tnft_set = inet knockd web4
\tnft_element = addr-port
\tstart_command = fw -C web-%IP% || fw -I web-%IP%
\tstop_command = ! fw -C web-%IP% || fw -D web-%IP%
`;

async function withRig(fn: (r: Rig) => Promise<void>, setup?: (r: Rig) => void, doors = NFT_DOORS, extra = ''): Promise<void> {
  const r = rig(doors, extra);
  try {
    enrolAlice(r);
    setup?.(r);
    r.start();
    await r.d.ready;
    await r.time.advance(0);
    await fn(r);
  } finally { await r.cleanup(); }
}

const comment = (r: Rig, set: string, key: string): string | undefined => r.nft.element(set, key)?.comment;

test('SPA knock on an nft door: the element is added with the granted timeout and its owner; no command, no journal; the kernel expires it, door.close (timeout)', () => withRig(async (r) => {
  assert.equal(r.nft.opened.length, 1, 'one channel for the daemon');
  assert.deepEqual(r.nft.opened[0]?.map((t) => `${t.set.set}/${t.family}`).sort(), ['ssh4/4', 'ssh6/6', 'web4/4']);
  r.knock(C);
  await r.time.advance(0);
  assert.deepEqual(r.nft.elements(SSH4), [C]);
  const open = r.records('door.open')[0];
  assert.equal(open?.set, SSH4);
  assert.equal(comment(r, SSH4, C), `knockd lease=${String(open?.lease)} key=alice`);
  assert.equal(r.nft.element(SSH4, C)?.timeoutMs, 10_000);
  assert.equal(r.fw.ran.length, 0, 'no process per knock on this path');
  assert.equal(readJournal(r.state).size, 0, 'a door with only a set is not journalled');
  const batches = r.nft.batches.length;
  await r.time.advance(10_000);
  assert.deepEqual(r.nft.elements(SSH4), []);
  assert.equal(r.nft.batches.length, batches, 'expiry needs no batch: the kernel removed the element');
  const close = r.records('door.close');
  assert.deepEqual(close.map((c) => [c.reason, c.lease, c.set]), [['timeout', open?.lease, SSH4]]);
}));

test('a re-knock refreshes the element in one transaction (never absent), under the same lease; it closes at the new expiry', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(4000);
  r.knock(C);
  await r.time.advance(0);
  const last = r.nft.batches.at(-1) ?? [];
  assert.deepEqual(last.map((l) => l.split(' {')[0]), ['add element inet knockd ssh4', 'delete element inet knockd ssh4', 'add element inet knockd ssh4'], 'one batch: add; delete; add');
  const ext = r.records('door.extend')[0];
  assert.equal(ext?.lease, r.records('door.open')[0]?.lease);
  assert.equal(ext?.expiresAt, r.time.now + 10_000);
  await r.time.advance(6000);                        // the first timeout has passed
  assert.deepEqual(r.nft.elements(SSH4), [C], 'still open: the refresh replaced the timeout');
  assert.equal(r.records('door.close').length, 0);
  await r.time.advance(4000);
  assert.deepEqual(r.nft.elements(SSH4), []);
  assert.equal(r.records('door.close')[0]?.reason, 'timeout');
}));

test('revocation deletes the key\'s element at once; door.close (revoked)', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(1000);
  rmSync(join(r.keys, 'alice.key'));
  r.d.reloadKeys();
  await r.time.advance(0);
  assert.deepEqual(r.nft.elements(SSH4), []);
  assert.match((r.nft.batches.at(-1) ?? []).join('; '), /^add element inet knockd ssh4 \{ 10\.9\.0\.2 timeout 1s \}; delete element inet knockd ssh4 \{ 10\.9\.0\.2 \}$/);
  assert.deepEqual(r.records('door.close').map((c) => c.reason), ['revoked']);
}));

test('shutdown with CloseOnExit deletes the elements and closes the channel; without it they stay for the kernel to expire', async () => {
  await withRig(async (r) => {
    r.knock(C);
    r.knock('10.9.0.3');
    await r.time.advance(0);
    assert.equal(await r.d.stop('SIGTERM'), 0);
    assert.deepEqual(r.nft.elements(SSH4), []);
    assert.deepEqual(r.records('door.close').map((c) => c.reason), ['shutdown', 'shutdown']);
    assert.equal(r.nft.closes, 1);
  });
  await withRig(async (r) => {
    r.knock(C);
    await r.time.advance(0);
    const batches = r.nft.batches.length;
    await r.d.stop('SIGTERM');
    assert.equal(r.nft.batches.length, batches, 'nothing deleted');
    assert.deepEqual(r.nft.elements(SSH4), [C]);
    await r.time.advance(10_000);
    assert.deepEqual(r.nft.elements(SSH4), [], 'the kernel closes it on time without the daemon');
  }, undefined, NFT_DOORS, '\tCloseOnExit = no');
});

test('reconcile at start: our elements become leases again (time left, owner), a revoked key\'s element is deleted, others are left alone', () => withRig(async (r) => {
  const rearm = r.records('door.rearm');
  assert.deepEqual(rearm.map((x) => [x.lease, x.ip, x.set]), [['L1', C, SSH4], ['L2', '10.9.0.4', SSH4]]);
  assert.deepEqual(rearm[0]?.principal, { kind: 'spa', key: 'alice', keyId: (rearm[0]?.principal as { keyId: string }).keyId });
  assert.match((rearm[0]?.principal as { keyId: string }).keyId, /^[0-9a-f]{16}$/);
  assert.deepEqual(r.records('door.close').map((c) => [c.lease, c.reason]), [['L2', 'revoked']], 'mallory has no key here');
  assert.deepEqual(r.nft.elements(SSH4).sort(), [C, '10.9.0.5'].sort(), 'the hand-made element is untouched');
  assert.ok(r.logs.some((l) => l.msg === 'nft set reconciled' && l.fields['set'] === SSH4 && l.fields['rearmed'] === 2));
  r.knock(C);                                           // a re-knock refreshes the restored lease under its id
  await r.time.advance(0);
  assert.equal(comment(r, SSH4, C), 'knockd lease=L1 key=alice');
  assert.equal(r.records('door.extend')[0]?.lease, 'L1');
  assert.equal(r.nft.element(SSH4, C)?.timeoutMs, 21_000, 'the longer of the two: 20 s left (+1 s, nft rounds down) vs 10 s granted');
  await r.time.advance(21_000);
  assert.deepEqual(r.records('door.close').map((c) => [c.lease, c.reason]), [['L2', 'revoked'], ['L1', 'timeout']]);
}, (r) => {
  r.nft.put(SSH4, C, 30_000, 20_000, 'knockd lease=L1 key=alice');
  r.nft.put(SSH4, '10.9.0.4', 30_000, 20_000, 'knockd lease=L2 key=mallory');
  r.nft.put(SSH4, '10.9.0.5', 60_000, 50_000, 'operator');
}));

test('nft refusing a change: command.fail (command nft, its error), no door.open; the next knock opens', () => withRig(async (r) => {
  r.nft.refuse = { count: 1, error: 'Error: Could not process rule: No such file or directory' };
  r.knock(C);
  await r.time.advance(0);
  const fail = r.records('command.fail');
  assert.deepEqual(fail.map((f) => [f.command, f.set, f.error]), [['nft', SSH4, 'Error: Could not process rule: No such file or directory']]);
  assert.equal(r.records('door.open').length, 0);
  assert.ok(r.logs.some((l) => l.level === 'warn' && l.msg === 'nft refused a change'));
  r.knock(C);
  await r.time.advance(0);
  assert.deepEqual(r.nft.elements(SSH4), [C]);
  assert.equal(r.records('door.open').length, 1);
}));

test('a door with commands and a set runs both: element per port and the rule; only the command lease is journalled; both close at expiry', () => withRig(async (r) => {
  r.classic(C);
  await r.time.advance(0);
  assert.deepEqual(r.nft.elements(WEB4), [`${C} . tcp . 80`]);
  assert.equal(r.fw.count(`web-${C}`), 1);
  assert.equal(readJournal(r.state).size, 1);
  const opens = r.records('door.open');
  assert.deepEqual(opens.map((o) => o.set ?? 'command').sort(), ['command', WEB4]);
  await r.time.advance(5000);
  assert.deepEqual(r.nft.elements(WEB4), []);
  assert.equal(r.fw.count(`web-${C}`), 0);
  assert.deepEqual(r.records('door.close').map((c) => c.set ?? 'command').sort(), ['command', WEB4]);
  assert.equal(readJournal(r.state).size, 0);
}));

test('an nft open never waits behind door commands', () => withRig(async (r) => {
  r.fw.hold();                                          // commands "still running"
  r.classic(C);
  r.knock('10.9.0.3');
  await r.time.advance(0);
  assert.deepEqual(r.nft.elements(SSH4), ['10.9.0.3']);
  assert.deepEqual(r.nft.elements(WEB4), [`${C} . tcp . 80`]);
  assert.equal(r.fw.count(`web-${C}`), 0, 'the command has not run yet');
  r.fw.release();
  await r.time.advance(0);
  assert.equal(r.fw.count(`web-${C}`), 1);
}));

test('reload: same sets keep the channel; new sets open a new one (checked first, then reconciled); a missing set keeps the old one', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(0);
  assert.equal(await r.d.reload(), true);
  assert.equal(r.nft.opened.length, 1, 'same sets: no new channel');
  r.nft.sets.set('inet knockd web6', new Map());
  r.nft.put('inet knockd web6', '2001:db8::7 . tcp . 80', 30_000, 25_000, 'knockd lease=W6');
  r.writeConfig(NFT_DOORS.replace('\tnft_element = addr-port', '\tnft_set_6 = inet knockd web6\n\tnft_element = addr-port'));
  assert.equal(await r.d.reload(), true);
  assert.equal(r.nft.opened.length, 2);
  assert.equal(r.nft.closes, 1, 'the old channel closed');
  assert.deepEqual(r.records('door.rearm').map((x) => [x.lease, x.set]), [['W6', 'inet knockd web6']], 'only the new set is reconciled');
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.records('door.extend').length, 1, 'the lease survived the reload');
  r.writeConfig(NFT_DOORS.replace('inet knockd web4', 'inet knockd nosuch'));
  assert.equal(await r.d.reload(), false);
  assert.ok(r.logs.some((l) => l.msg === 'reload failed; old configuration kept' && /nosuch.*ERR_NFT/.test(String(l.fields['err']))));
  r.knock('10.9.0.8');
  await r.time.advance(0);
  assert.ok(r.nft.elements(SSH4).includes('10.9.0.8'), 'the running channel still works');
}));

test('start: a missing set fails with ERR_NFT naming it; nothing is opened', async () => {
  const r = rig(NFT_DOORS.replace('inet knockd web4', 'inet knockd nosuch'));
  try {
    enrolAlice(r);
    r.start();
    await assert.rejects(r.d.ready, (e) => isAppError(e) && e.code === 'ERR_NFT' && /^nft set inet knockd nosuch: .*No such file or directory \(create the sets with: knockd firewall --print nft/.test(e.message));
    assert.throws(() => r.capture(), /capture was not opened/);
    assert.equal(await r.d.stop('SIGTERM'), 1);
  } finally { await r.cleanup(); }
});
