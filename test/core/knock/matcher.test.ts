/**
 * SequenceMatcher: numbered, table-driven scenarios with an explicit clock.
 * K-rows reproduce knockd 0.8 behaviour (knockd-behaviour.md §2.6) that we keep;
 * F-rows are knockd bugs that we fix (§2.10, §2.11) — each names the knockd result it replaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Door } from '../../../src/core/config/types.js';
import { SequenceMatcher } from '../../../src/core/knock/matcher.js';
import { isAppError } from '../../../src/core/errors.js';
import { LOCAL, door, flags, pkt, render, run } from './util.js';

interface Row {
  id: string;
  what: string;
  doors: Door[];
  local?: string[];
  max?: number;
  steps: string[];
  expect: string[];
  size?: number;          // size() after the steps
}

const A3 = () => door('A', '7000,8000,9000');
const X = '1.1.1.1', Y = '2.2.2.2';

const rows: Row[] = [
  // ---------------------------------------------------------------- knockd-compatible (§2.6)
  { id: 'K01', what: 'plain sequence opens; stages are 1-based',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 8000`, `2 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`], size: 0 },
  { id: 'K02', what: 'hit on a port used by no door is invisible (R02 a)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 1234`, `2 ${X} 8000`, `3 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K03', what: 'wrong protocol for a door port is invisible (R02 e)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 8000/udp`, `2 ${X} 8000`, `3 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K04', what: 'TCP packet with mismatched flags is ignored, never resets (R02 f, R03 h)',
    doors: [door('A', '7000,8000,9000', { tcpFlags: flags('syn,!ack') })],
    steps: [`0 ${X} 7000 S`, `1 ${X} 8000 A`, `1.5 ${X} 9000 SA`, `2 ${X} 8000 S`, `3 ${X} 9000 S`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K05', what: 'mismatched flags do not start an attempt either',
    doors: [door('A', '7000,8000', { tcpFlags: flags('syn,!ack') })],
    steps: [`0 ${X} 7000 A`, `1 ${X} 8000 S`], expect: [], size: 0 },
  { id: 'K06', what: 'out-of-order hit on a port of the same door invalidates; full restart works (R02 b, d)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 9000`, `2 ${X} 8000`, `3 ${X} 7000`, `4 ${X} 8000`, `5 ${X} 9000`],
    expect: [`stage A ${X} 1`, `invalid A ${X} 1`, `stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K07', what: 'SYN+ACK matches tcpflags = syn (R02 g)',
    doors: [door('A', '7000,8000', { tcpFlags: flags('syn') })],
    steps: [`0 ${X} 7000 SA`, `1 ${X} 8000 SA`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `open A ${X}`] },
  { id: 'K08', what: 'several doors share first ports: advanced in parallel, each opens (R03 i)',
    doors: [door('A', '7000,8000,9000'), door('B', '7000,8000,6000')],
    steps: [`0 ${X} 7000`, `1 ${X} 8000`, `2 ${X} 6000`, `3 ${X} 7000`, `4 ${X} 8000`, `5 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage B ${X} 1`, `stage A ${X} 2`, `stage B ${X} 2`,
      `invalid A ${X} 2`, `stage B ${X} 3`, `open B ${X}`,
      `stage A ${X} 1`, `stage B ${X} 1`, `stage A ${X} 2`, `stage B ${X} 2`, `stage A ${X} 3`, `open A ${X}`, `invalid B ${X} 2`] },
  { id: 'K09', what: 'doors with identical sequences both open on the same knock (R15)',
    doors: [door('A', '7000,8000'), door('B', '7000,8000')],
    steps: [`0 ${X} 7000`, `1 ${X} 8000`],
    expect: [`stage A ${X} 1`, `stage B ${X} 1`, `stage A ${X} 2`, `open A ${X}`, `stage B ${X} 2`, `open B ${X}`] },
  { id: 'K10', what: 'repeated port inside a sequence 9000,9000,9100 (R15)',
    doors: [door('A', '9000,9000,9100')], steps: [`0 ${X} 9000`, `1 ${X} 9000`, `2 ${X} 9100`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K11', what: 'target door and local door matched independently per destination (R11 q)',
    doors: [door('T', '7000,8000', { target: '192.0.2.9' }), door('L', '7000,8000')], local: [LOCAL],
    steps: [`0 ${X} 7000 >192.0.2.9`, `1 ${X} 7000`, `2 ${X} 8000 >192.0.2.9`, `3 ${X} 8000`],
    expect: [`stage T ${X} 1`, `stage L ${X} 1`, `stage T ${X} 2`, `open T ${X}`, `stage L ${X} 2`, `open L ${X}`] },
  { id: 'K12', what: 'destination neither local nor target: not considered (and not visible)',
    doors: [A3()], local: [LOCAL],
    steps: [`0 ${X} 7000`, `1 ${X} 9000 >10.0.0.2`, `1.5 ${X} 7000 >10.0.0.2`, `2 ${X} 8000`, `3 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K13', what: 'seq_timeout = 0: multi-hit sequence times out before hit 2 (R06 o)',
    doors: [door('A', '7000,8000', { seqTimeout: 0 })], steps: [`0 ${X} 7000`, `0 ${X} 8000`],
    expect: [`stage A ${X} 1`, `timeout A ${X} 1`], size: 0 },
  { id: 'K14', what: 'seq_timeout = 0: single-hit door still opens',
    doors: [door('A', '7000', { seqTimeout: 0 })], steps: [`0 ${X} 7000`, `5 ${X} 7000`],
    expect: [`stage A ${X} 1`, `open A ${X}`, `stage A ${X} 1`, `open A ${X}`], size: 0 },
  { id: 'K15', what: 'negative seq_timeout behaves as 0',
    doors: [door('A', '7000,8000', { seqTimeout: -3 })], steps: [`0 ${X} 7000`, `0.001 ${X} 8000`],
    expect: [`stage A ${X} 1`, `timeout A ${X} 1`] },
  { id: 'K16', what: 'seq_timeout measured from the FIRST hit, not between hits (§2.7)',
    doors: [door('A', '7000,8000,9000', { seqTimeout: 5 })], steps: [`0 ${X} 7000`, `2 ${X} 8000`, `4.999 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K17', what: 'last hit exactly seq_timeout after the first is too late; the later hit starts nothing',
    doors: [door('A', '7000,8000,9000', { seqTimeout: 5 })], steps: [`0 ${X} 7000`, `4 ${X} 8000`, `5 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `timeout A ${X} 2`], size: 0 },
  { id: 'K18', what: 'completed client may knock again immediately (R07, R15)',
    doors: [door('A', '7000,8000')], steps: [`0 ${X} 7000`, `0.1 ${X} 8000`, `0.2 ${X} 7000`, `0.3 ${X} 8000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `open A ${X}`, `stage A ${X} 1`, `stage A ${X} 2`, `open A ${X}`] },
  { id: 'K19', what: 'UDP hits match whatever the door tcpflags say (V22)',
    doors: [door('A', '7000/udp,8000/udp,9000', { tcpFlags: flags('syn,!ack') })],
    steps: [`0 ${X} 7000/udp`, `1 ${X} 8000/udp`, `2 ${X} 9000 S`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'K20', what: 'visible hit on a non-first port of another door invalidates (knockd: visible packet)',
    doors: [A3(), door('B', '5000,6000')], steps: [`0 ${X} 7000`, `1 ${X} 6000`, `2 ${X} 8000`],
    expect: [`stage A ${X} 1`, `invalid A ${X} 1`] },
  { id: 'K21', what: 'packet visible only through a flag-less door is still ignored by a flagged door',
    doors: [door('A', '7000,8000,9000', { tcpFlags: flags('syn,!ack') }), door('B', '5555,6000')],
    steps: [`0 ${X} 7000 S`, `1 ${X} 5555 A`, `2 ${X} 8000 S`, `3 ${X} 9000 S`],
    // 8000 S is visible (A's hit) and not B's next hit: B's attempt is invalidated as in knockd
    expect: [`stage A ${X} 1`, `stage B ${X} 1`, `stage A ${X} 2`, `invalid B ${X} 1`, `stage A ${X} 3`, `open A ${X}`], size: 0 },
  { id: 'K22', what: 'door with empty sequence (SPA-only) never matches',
    doors: [door('S', '', { spa: true }), door('A', '7000')], steps: [`0 ${X} 7000`],
    expect: [`stage A ${X} 1`, `open A ${X}`] },
  { id: 'K23', what: 'IPv4 and IPv6 addresses of one client are different knockers (§2.9)',
    doors: [door('A', '7000,8000')], local: [],
    steps: [`0 ${X} 7000`, `1 2001:db8::1 8000 >2001:db8::ff`, `2 2001:db8::1 7000 >2001:db8::ff`, `3 ${X} 8000`],
    expect: [`stage A ${X} 1`, `stage A 2001:db8::1 1`, `stage A ${X} 2`, `open A ${X}`], size: 1 },
  { id: 'K24', what: 'empty localAddrs: every destination counts as local',
    doors: [A3()], local: [], steps: [`0 ${X} 7000 >203.0.113.5`, `1 ${X} 8000 >198.51.100.1`, `2 ${X} 9000 >10.9.9.9`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },

  // ---------------------------------------------------------------- knockd bugs, fixed
  { id: 'F01', what: 'concurrent knockers interleaved both open (knockd: R05 k drops the younger)',
    doors: [A3()],
    steps: [`0 ${X} 7000`, `0.1 ${Y} 7000`, `0.2 ${X} 8000`, `0.3 ${Y} 8000`, `0.4 ${X} 9000`, `0.5 ${Y} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${Y} 1`, `stage A ${X} 2`, `stage A ${Y} 2`,
      `stage A ${X} 3`, `open A ${X}`, `stage A ${Y} 3`, `open A ${Y}`] },
  { id: 'F02', what: "A's failure does not touch B (knockd: head-of-list purge wipes B)",
    doors: [A3()],
    steps: [`0 ${X} 7000`, `0.1 ${Y} 7000`, `0.2 ${X} 9000`, `0.3 ${Y} 8000`, `0.4 ${X} 8000`, `0.5 ${Y} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${Y} 1`, `invalid A ${X} 1`, `stage A ${Y} 2`, `stage A ${Y} 3`, `open A ${Y}`] },
  { id: 'F03', what: "A's timeout does not touch B (both expired independently)",
    doors: [door('A', '7000,8000,9000', { seqTimeout: 10 })],
    steps: [`0 ${X} 7000`, `5 ${Y} 7000`, `10 expire`, `11 ${Y} 8000`, `14.9 ${Y} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${Y} 1`, `timeout A ${X} 1`, `stage A ${Y} 2`, `stage A ${Y} 3`, `open A ${Y}`] },
  { id: 'F04', what: 'retransmitted SYN of the stage just completed is ignored (knockd #92, R02 c)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 7000`, `3 ${X} 7000`, `3.1 ${X} 8000`, `4 ${X} 8000`, `5 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'F05', what: 'first port again later in the sequence restarts at stage 1 (knockd loses the knock)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 8000`, `2 ${X} 7000`, `3 ${X} 8000`, `4 ${X} 9000`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `invalid A ${X} 2`, `stage A ${X} 1`, `stage A ${X} 2`, `stage A ${X} 3`, `open A ${X}`] },
  { id: 'F06', what: "mid-sequence hit on another door's first port starts that door (knockd R03 j: lost)",
    doors: [A3(), door('B', '5000,6000')], steps: [`0 ${X} 7000`, `1 ${X} 5000`, `2 ${X} 6000`],
    expect: [`stage A ${X} 1`, `invalid A ${X} 1`, `stage B ${X} 1`, `stage B ${X} 2`, `open B ${X}`] },
  { id: 'F07', what: 'shared prefix, shorter door listed FIRST: both open (knockd R04 i2: longer lost)',
    doors: [door('S', '7000,8000'), door('L', '7000,8000,9000')],
    steps: [`0 ${X} 7000`, `1 ${X} 8000`, `2 ${X} 9000`],
    expect: [`stage S ${X} 1`, `stage L ${X} 1`, `stage S ${X} 2`, `open S ${X}`, `stage L ${X} 2`, `stage L ${X} 3`, `open L ${X}`] },
  { id: 'F08', what: 'shared prefix, longer door listed first: both open too',
    doors: [door('L', '7000,8000,9000'), door('S', '7000,8000')],
    steps: [`0 ${X} 7000`, `1 ${X} 8000`, `2 ${X} 9000`],
    expect: [`stage L ${X} 1`, `stage S ${X} 1`, `stage L ${X} 2`, `stage S ${X} 2`, `open S ${X}`, `stage L ${X} 3`, `open L ${X}`] },
  { id: 'F09', what: 'timeout reported by expire() with no later traffic (knockd: lazy, issue #71)',
    doors: [A3()], steps: [`0 ${X} 7000`, `1 ${X} 8000`, `24.999 expire`, `25 expire`, `3600 expire`],
    expect: [`stage A ${X} 1`, `stage A ${X} 2`, `timeout A ${X} 2`], size: 0 },
  { id: 'F10', what: 'IPv6 knockers interleaved with IPv4 ones, both open',
    doors: [A3()], local: [LOCAL, '2001:db8::ff'],
    steps: [`0 2001:db8::1 7000 >2001:db8::ff`, `0.1 ${X} 7000`, `0.2 2001:db8::1 8000 >2001:db8::ff`,
      `0.3 ${X} 8000`, `0.4 2001:db8::1 9000 >2001:db8::ff`, `0.5 ${X} 9000`],
    expect: ['stage A 2001:db8::1 1', `stage A ${X} 1`, 'stage A 2001:db8::1 2', `stage A ${X} 2`,
      'stage A 2001:db8::1 3', 'open A 2001:db8::1', `stage A ${X} 3`, `open A ${X}`] },
  { id: 'F11', what: 'expired attempt is purged by an unrelated later packet, which then starts fresh',
    doors: [door('A', '7000,8000', { seqTimeout: 2 })], steps: [`0 ${X} 7000`, `100 ${X} 7000`, `101 ${X} 8000`],
    expect: [`stage A ${X} 1`, `timeout A ${X} 1`, `stage A ${X} 1`, `stage A ${X} 2`, `open A ${X}`] },
];

for (const r of rows) {
  test(`${r.id} ${r.what}`, () => {
    const m = new SequenceMatcher(r.doors, { maxAttempts: r.max ?? 1000, localAddrs: r.local ?? [LOCAL] });
    assert.deepEqual(run(m, r.steps), r.expect);
    if (r.size !== undefined) assert.equal(m.size(), r.size);
  });
}

test('events carry door index, door object and family', () => {
  const doors = [door('A', '7000'), door('B', '7000,8000')];
  const m = new SequenceMatcher(doors, { maxAttempts: 10, localAddrs: [] });
  const ev = m.offer(pkt('2001:db8::7', '7000', { dst: '2001:db8::1' }), 0);
  assert.deepEqual(ev.map((e) => [e.kind, e.doorIndex, e.door === doors[e.doorIndex], 'family' in e ? e.family : 0]),
    [['stage', 0, true, 6], ['open', 0, true, 6], ['stage', 1, true, 6]]);
});

test('nextDeadline tracks the earliest first-hit + seq_timeout', () => {
  const m = new SequenceMatcher([door('A', '7000,8000', { seqTimeout: 10 }), door('B', '5000,6000', { seqTimeout: 3 })],
    { maxAttempts: 10, localAddrs: [] });
  assert.equal(m.nextDeadline(), undefined);
  m.offer(pkt('1.1.1.1', '7000'), 1000);
  assert.equal(m.nextDeadline(), 11000);
  m.offer(pkt('1.1.1.2', '5000'), 2000);
  assert.equal(m.nextDeadline(), 5000);
  m.offer(pkt('1.1.1.2', '6000'), 2500); // B completes: its deadline goes away
  assert.equal(m.nextDeadline(), 11000);
  assert.deepEqual(m.expire(10999).map(render), []);
  assert.deepEqual(m.expire(11000).map(render), ['timeout A 1.1.1.1 1']);
  assert.equal(m.nextDeadline(), undefined);
});

test('setDoor: rotation drops that door\'s attempts, keeps others, matches the new sequence only', () => {
  const m = new SequenceMatcher([door('O', '1001,1002'), door('P', '7000,8000')], { maxAttempts: 10, localAddrs: [] });
  assert.deepEqual(run(m, ['0 1.1.1.1 1001', '0 1.1.1.2 1001', '0 1.1.1.3 7000']),
    ['stage O 1.1.1.1 1', 'stage O 1.1.1.2 1', 'stage P 1.1.1.3 1']);
  m.setDoor(0, door('O', '2001,2002'));
  assert.equal(m.size(), 1);
  assert.deepEqual(run(m, ['1 1.1.1.1 1002', '2 1.1.1.1 1001', '3 1.1.1.1 2001', '4 1.1.1.1 2002', '5 1.1.1.3 8000']),
    ['stage O 1.1.1.1 1', 'stage O 1.1.1.1 2', 'open O 1.1.1.1', 'stage P 1.1.1.3 2', 'open P 1.1.1.3']);
  assert.equal(m.nextDeadline(), undefined);
  assert.throws(() => m.setDoor(2, door('Z', '1')), (e) => isAppError(e) && e.code === 'ERR_INTERNAL');
});

test('constructor refuses a MaxAttempts that is not a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => new SequenceMatcher([], { maxAttempts: bad, localAddrs: [] }),
      (e) => isAppError(e) && e.code === 'ERR_CONFIG_VALUE' && e.message.includes(String(bad)), String(bad));
  }
});
