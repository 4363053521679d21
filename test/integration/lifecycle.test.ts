/**
 * Integration tier: reloads (good and broken), key revocation (also while a start command
 * runs), log rotation, one-time sequences, the classic open budget under spoofed sequences,
 * and rejects that junk cannot hide: the whole daemon as a normal user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { rig, enrolAlice, packet, DOORS, type Rig } from '../helpers/daemon-rig.js';
import { keyringRevision } from '../../src/io/keystore.js';

const C = '10.9.0.2';

async function withRig(fn: (r: Rig) => Promise<void>, doors = DOORS, extra = ''): Promise<void> {
  const r = rig(doors, extra);
  try {
    enrolAlice(r);
    r.start();
    await r.time.advance(0);
    await fn(r);
  } finally { await r.cleanup(); }
}

test('reload: a valid new config applies (new filter, new door); a broken one changes nothing and says why', () => withRig(async (r) => {
  const filters = r.capture().filters.length;
  r.writeConfig(`${DOORS}[web]\n\tsequence = 1111,2222\n\tstart_command = fw -I web-%IP%\n\tstop_command = fw -D web-%IP%\n`);
  assert.equal(await r.d.reload(), true);
  assert.equal(r.capture().filters.length, filters + 1);
  assert.match(r.capture().filters.at(-1) ?? '', /1111/);
  r.capture().onPacket?.(packet(C, 'tcp', 1111), r.time.now);
  r.capture().onPacket?.(packet(C, 'tcp', 2222), r.time.now);
  await r.time.advance(0);
  assert.equal(r.fw.count(`web-${C}`), 1);
  // a reload with the same config does not touch the capture handle
  assert.equal(await r.d.reload(), true);
  assert.equal(r.capture().filters.length, filters + 1);
  // broken: syntax error → refused, running config kept
  writeFileSync(r.conf, '[options]\n\tnonsense\n');
  assert.equal(await r.d.reload(), false);
  assert.ok(r.logs.some((l) => l.level === 'error' && /reload failed/.test(l.msg) && /nonsense/.test(String(l.fields['err']))));
  assert.match(readFileSync(r.logFile, 'utf8'), /reload failed, keeping the running configuration/);
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 1, 'the running config still works');
}));

test('reload with a refused capture filter applies nothing', () => withRig(async (r) => {
  r.writeConfig(`${DOORS}[web]\n\tsequence = 1111\n\tstart_command = fw -I web-%IP%\n`);
  r.capture().refuse = 'syntax error in filter';
  assert.equal(await r.d.reload(), false);
  assert.equal(r.d.config().doors.length, 2);
}));

test('revocation: the key\'s open door closes at once, its next knock is refused and audited with the key', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 1);
  const f = join(r.keys, 'alice.key');
  writeFileSync(f, `${readFileSync(f, 'utf8')}revoked = 2020-01-01T00:00:00.000Z\n`);
  r.d.reloadKeys();
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 0);
  assert.equal(r.records('door.close')[0]?.reason, 'revoked');
  r.knock(C);
  await r.time.advance(0);
  const rej = r.records('knock.reject').at(-1);
  assert.deepEqual([rej?.reason, rej?.key], ['revoked', 'alice']);
  const ack = JSON.parse(readFileSync(join(r.state, 'keyring.ack'), 'utf8')) as { revision: string; keys: number };
  assert.equal(ack.keys, 1);
  assert.equal(ack.revision, keyringRevision(r.keys), 'the ack names the revision of the directory the daemon loaded');
}));

test('a key revoked while its start command runs is closed as soon as its lease exists', () => withRig(async (r) => {
  r.fw.hold();
  r.knock(C);
  await r.time.advance(0);
  rmSync(join(r.keys, 'alice.key'));
  r.d.reloadKeys();
  await r.time.advance(0);
  r.fw.release();
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 0, 'opened, then closed right away');
  assert.deepEqual(r.records().filter((x) => String(x.event).startsWith('door.')).map((x) => [x.event, x.reason]), [['door.open', undefined], ['door.close', 'revoked']]);
}));

test('log rotation: after mv + SIGHUP the audit log and LogFile are written to new files', () => withRig(async (r) => {
  renameSync(r.auditFile, `${r.auditFile}.1`);
  renameSync(r.logFile, `${r.logFile}.1`);
  await r.d.reload();
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.records('door.open').length, 1, 'the new audit.log has the open');
  assert.match(readFileSync(r.logFile, 'utf8'), /SPA knock accepted/);
  assert.doesNotMatch(readFileSync(`${r.auditFile}.1`, 'utf8'), /door\.open/);
}));

test('authenticated rejects are never hidden by junk; junk is counted, not logged per datagram', () => withRig(async (r) => {
  for (let i = 0; i < 500; i++) {
    const junk = new Uint8Array(160); junk[0] = 0x4b; junk[1] = 0x4e; junk[2] = 1; junk[3] = 1;
    r.capture().onPacket?.(packet(`10.9.1.${i % 250}`, 'udp', 62201, junk), r.time.now);
  }
  r.knock(C, { door: 'classic' });                      // authenticated, but not an SPA door: policy-door
  await r.time.advance(0);
  const rejects = r.records('knock.reject');
  assert.ok(rejects.filter((x) => x.key === undefined).length <= 60, 'unauthenticated rejects are capped');
  assert.deepEqual(rejects.filter((x) => x.key !== undefined).map((x) => x.reason), ['policy-door']);
  assert.equal(r.logs.filter((l) => l.level === 'info' && l.msg === 'SPA rejected').length, 1, 'one info line, for the authenticated one');
  await r.time.advance(60_000);
  const sum = r.logs.filter((l) => l.msg === 'unauthenticated knocks rejected');
  assert.equal(sum.length, 1);
  assert.equal(sum[0]?.fields['total'], 500);
  await r.d.stop('SIGTERM');
  assert.equal(r.records('knock.reject.suppressed')[0]?.count, 440, 'the overflow is summarised (written at the next record or at close)');
}));

test('spoofed complete classic sequences: the per-door budget refuses most, SPA still opens at once, stops are never refused', () => withRig(async (r) => {
  for (let i = 0; i < 300; i++) r.classic(`10.8.${i >> 8}.${i & 255}`);
  await r.time.advance(0);
  const classicStarts = r.fw.ran.filter((x) => x.command.startsWith('fw -I classic'));
  assert.ok(classicStarts.length <= 20, `the budget let ${classicStarts.length} opens through`);
  assert.ok(classicStarts.every((x) => x.lane === 'classic'));
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 1);
  await r.time.advance(10_000);
  assert.equal(r.fw.rules.size, 0, 'every door closed at expiry');
  assert.ok(r.fw.ran.filter((x) => x.command.includes('-D')).every((x) => x.lane === 'close'));
}));

test('one-time sequences through the daemon: each line opens once, then the door is disabled', async () => {
  const r = rig();
  try {
    const ots = join(r.dir, 'ots');
    writeFileSync(ots, '7000,8000\n7001,8001\n');
    chmodSync(ots, 0o600);
    r.writeConfig(`[ots]\n\tone_time_sequences = ${ots}\n\tstart_command = fw -I ots-%IP%\n`);
    r.start();
    const hit = (port: number) => r.capture().onPacket?.(packet(C, 'tcp', port), r.time.now);
    hit(7000); hit(8000);
    await r.time.advance(0);
    assert.equal(r.fw.count(`ots-${C}`), 1);
    hit(7000); hit(8000);                    // the used line again: nothing
    await r.time.advance(0);
    assert.equal(r.fw.count(`ots-${C}`), 1);
    assert.match(r.capture().filters.at(-1) ?? '', /7001/);
    hit(7001); hit(8001);
    await r.time.advance(0);
    assert.equal(r.fw.count(`ots-${C}`), 2);
    assert.match(readFileSync(r.logFile, 'utf8'), /no more sequences left/);
    assert.match(readFileSync(ots, 'latin1'), /^#7000,8000\n#7001,8001\n$/);
  } finally { await r.cleanup(); }
});

test('keys change on SIGHUP: a revoked key is applied by reload(); an unchanged directory rebuilds nothing', () => withRig(async (r) => {
  const first = r.d.engine.setup.keyring;
  assert.equal(await r.d.reload(), true);
  assert.equal(r.d.engine.setup.keyring, first, 'same revision: the same keyring object');
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(`ssh-${C}`), 1);
  const f = join(r.keys, 'alice.key');
  writeFileSync(f, `${readFileSync(f, 'utf8')}revoked = 2020-01-01T00:00:00.000Z\n`);
  assert.equal(await r.d.reload(), true);
  await r.time.advance(0);
  assert.notEqual(r.d.engine.setup.keyring, first);
  assert.equal(r.fw.count(`ssh-${C}`), 0, 'the revoked key\'s door closed');
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.records('knock.reject').at(-1)?.reason, 'revoked');
}));

test('knockd\'s per-hit log lines are rate-limited under a spoofed flood; the count of the rest is logged', () => withRig(async (r) => {
  for (let i = 0; i < 2000; i++) r.capture().onPacket?.(packet(`10.7.${i >> 8}.${i & 255}`, 'tcp', 7000), r.time.now);
  await r.time.advance(10_000);
  r.classic(C);
  await r.time.advance(0);
  const lines = readFileSync(r.logFile, 'utf8').split('\n');
  const stages = lines.filter((l) => /: Stage 1$/.test(l)).length;
  assert.ok(stages <= 200 + 10 * 50 + 1, `${stages} stage lines logged`);
  assert.ok(lines.some((l) => /stage and timeout lines not logged/.test(l)), 'the suppressed count is logged');
  assert.ok(lines.some((l) => new RegExp(`${C}: classic: OPEN SESAME`).test(l)), 'a real knock is still logged');
}));
