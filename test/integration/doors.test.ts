/**
 * Integration tier: the whole daemon as a normal user (in-memory capture, fake firewall, fake
 * clock; real config, journal, audit log, keys, replay store on disk). Opening and closing
 * doors, failing stop commands, re-knocks after an external flush, restarts from the journal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rig, enrolAlice, type Rig } from '../helpers/daemon-rig.js';
import { readJournal } from '../../src/io/journal.js';

const C = '10.9.0.2';
const RULE = `ssh-${C}`;

async function withRig(fn: (r: Rig) => Promise<void>, setup?: (r: Rig) => void): Promise<void> {
  const r = rig();
  try {
    enrolAlice(r);
    setup?.(r);
    r.start();
    await r.time.advance(0);
    await fn(r);
  } finally { await r.cleanup(); }
}

test('SPA knock opens (auth lane), the door closes at expiry (close lane), audit says open then close', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(RULE), 1);
  assert.deepEqual(r.fw.lanes(/-I ssh/), ['auth']);
  assert.equal(r.records('door.open').length, 1);
  await r.time.advance(9_999);
  assert.equal(r.fw.count(RULE), 1);
  await r.time.advance(1);
  assert.equal(r.fw.count(RULE), 0);
  assert.deepEqual(r.fw.lanes(/-D ssh/), ['close']);
  const close = r.records('door.close');
  assert.equal(close.length, 1);
  assert.equal(close[0]?.reason, 'timeout');
  assert.equal(readJournal(r.state).size, 0, 'the lease left the journal after its stop succeeded');
}));

test('a failing stop is retried until it succeeds; door.close only then; the journal keeps the lease meanwhile', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(0);
  // the stop fails three times (e.g. xtables lock held), then works
  for (let i = 0; i < 3; i++) r.fw.overrides.push((c) => (c.includes('-D') ? { exitCode: 4, timedOut: false, failed: true, durationMs: 1, stderrTail: 'Another app is currently holding the xtables lock' } : undefined));
  await r.time.advance(10_000);
  assert.equal(r.records('door.close').length, 0);
  assert.equal(r.records('command.fail').length, 1);
  const j = readJournal(r.state);
  assert.equal(j.size, 1);
  assert.match(String([...j.values()][0]?.closing?.lastError), /xtables lock/);
  await r.time.advance(60_000);
  const fails = r.records('command.fail');
  assert.deepEqual(fails.map((f) => f.attempt), [1, 2, 3]);
  const close = r.records('door.close');
  assert.equal(close.length, 1);
  assert.equal(close[0]?.attempts, 4);
  assert.equal(r.fw.count(RULE), 0);
  assert.equal(readJournal(r.state).size, 0);
}));

test('issue 15 (a): rule flushed under an open door, knock again before expiry: the door is open at once', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(1000);
  r.fw.flush();                               // iptables -F from a config-management run
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(RULE), 1, 'the idempotent (check || insert) start ran again and re-inserted the rule');
  assert.equal(r.records('door.extend').length, 1);
  r.knock(C);
  await r.time.advance(0);
  assert.equal(r.fw.count(RULE), 1, 'and never stacks a second copy');
}));

test('a plain (non-idempotent) start command is not re-run on a re-knock: no duplicate rule (knockd.conf files keep working)', async () => {
  const plain = `[ssh]\n\tspa = yes\n\tstart_command = fw -I ssh-%IP%\n\tstop_command = fw -D ssh-%IP%\n\tcmd_timeout = 10\n`;
  const r = rig(plain);
  try {
    enrolAlice(r);
    r.start();
    r.knock(C);
    await r.time.advance(1000);
    r.knock(C);
    await r.time.advance(0);
    assert.equal(r.fw.count(RULE), 1);
    assert.equal(r.fw.ran.filter((x) => x.command.includes('-I')).length, 1);
    await r.time.advance(10_000);
    assert.equal(r.fw.count(RULE), 0, 'one stop closes it');
  } finally { await r.cleanup(); }
});

test('issue 15 (b): after the stop failed (rule already gone, plain -D), a new knock re-opens at once', async () => {
  const plain = `[ssh]\n\tspa = yes\n\tstart_command = fw -I ssh-%IP%\n\tstop_command = fw -D ssh-%IP%\n\tcmd_timeout = 10\n`;
  const r = rig(plain);
  try {
    enrolAlice(r);
    r.start();
    r.knock(C);
    await r.time.advance(1000);
    r.fw.flush();
    await r.time.advance(9000);                // expiry: fw -D fails (Bad rule)
    assert.equal(r.records('command.fail').length, 1);
    r.knock(C);
    await r.time.advance(0);
    assert.equal(r.fw.count(RULE), 1, 'port open again right after the knock');
    const open = r.records('door.open');
    assert.equal(open.length, 2);
    assert.equal(open[1]?.reopened, true);
    assert.equal(open[1]?.supersedes, open[0]?.lease);
    assert.ok(r.logs.some((l) => l.msg === 're-opened a door whose closing had failed'));
    assert.equal(readJournal(r.state).size, 1, 'one lease owes the one stop');
    await r.time.advance(10_000);
    assert.equal(r.fw.count(RULE), 0);
    assert.equal(readJournal(r.state).size, 0);
  } finally { await r.cleanup(); }
});

test('issue 15 (c): with the idempotent recipe, the stop after an external flush succeeds at once', () => withRig(async (r) => {
  r.knock(C);
  await r.time.advance(1000);
  r.fw.flush();
  await r.time.advance(9000);
  assert.equal(r.records('command.fail').length, 0);
  assert.equal(r.records('door.close').length, 1);
  assert.equal(readJournal(r.state).size, 0);
}));

test('restart: owed stops (expired, or failing) resume from the journal; live leases are re-armed', async () => {
  const r = rig();
  try {
    enrolAlice(r);
    r.start();
    r.knock(C);
    r.knock('10.9.0.3');
    await r.time.advance(0);
    r.fw.overrides.push((c) => (c.includes('-D ssh-10.9.0.2') ? { exitCode: 1, timedOut: false, failed: true, durationMs: 1, stderrTail: 'boom' } : undefined));
    r.knock('10.9.0.3');                        // extend .3
    await r.time.advance(10_000);                // .2 stop fails once (retry in 1 s)
    // crash: no shutdown, its timers die with it, the journal is all that is left; a new daemon starts 5 s later
    r.time.timers = [];
    r.time.now += 5000;
    const before = r.fw.ran.length;
    r.start();
    await r.time.advance(0);
    assert.equal(r.fw.count(RULE), 0, 'the owed stop ran at start-up');
    assert.ok(r.fw.ran.slice(before).some((x) => x.command.includes('-D ssh-10.9.0.2')));
    assert.equal(r.records('door.close').filter((c) => c.ip === C).length, 1);
  } finally { await r.cleanup(); }
});

test('shutdown with CloseOnExit closes every door; a stop that keeps failing stays in the journal', () => withRig(async (r) => {
  r.knock(C);
  r.knock('10.9.0.3');
  await r.time.advance(0);
  r.fw.overrides.push((c) => (c.includes('-D ssh-10.9.0.3') ? { exitCode: 1, timedOut: false, failed: true, durationMs: 1, stderrTail: 'nope' } : undefined));
  const code = await r.d.stop('SIGTERM');
  assert.equal(code, 0);
  assert.equal(r.fw.count(RULE), 0);
  const left = [...readJournal(r.state).values()];
  assert.deepEqual(left.map((e) => e.lease.ip), ['10.9.0.3']);
  assert.equal(left[0]?.closing?.reason, 'shutdown');
  assert.ok(r.records('daemon.stop').length === 1);
}));
