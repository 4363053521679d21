/**
 * SequenceMatcher: the bounded attempt table (spoofed floods), a randomized comparison against a
 * naive reference model (O(n) lists, obviously correct), and fuzzing with garbage packets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Door } from '../../../src/core/config/types.js';
import type { Packet, Proto } from '../../../src/core/types.js';
import { SequenceMatcher } from '../../../src/core/knock/matcher.js';
import type { KnockEvent } from '../../../src/core/knock/matcher.js';
import { flagsMatch } from '../../../src/core/knock/flags.js';
import { door, flags, pkt, render, run } from './util.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const v4 = (n: number) => `${10 + ((n >>> 24) & 0x7f)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const heapLength = (m: SequenceMatcher): number => (m as unknown as { heap: unknown[] }).heap.length;

test('B01 flood of first-port hits from 1000 spoofed sources: size stays at the cap, oldest evicted first', () => {
  const m = new SequenceMatcher([door('A', '7000,8000,9000')], { maxAttempts: 100, localAddrs: [] });
  const kinds: Record<string, number> = {};
  const evicted: string[] = [];
  for (let i = 0; i < 1000; i++) {
    for (const e of m.offer(pkt(v4(i), '7000'), i)) {
      kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
      if (e.kind === 'evicted') evicted.push(e.src);
    }
    assert.ok(m.size() <= 100);
  }
  assert.deepEqual(kinds, { stage: 1000, evicted: 900 });
  assert.equal(m.size(), 100);
  assert.deepEqual(evicted.slice(0, 3), [v4(0), v4(1), v4(2)]);
  // the 100 newest survive and can still complete
  assert.deepEqual(run(m, [`1 ${v4(999)} 8000`, `1 ${v4(999)} 9000`]).slice(-1), [`open A ${v4(999)}`]);
});

test('B02 200,000 spoofed sources, MaxAttempts 65536: bounded, a stage-2 knocker survives and opens', (t) => {
  const max = 65536;
  const m = new SequenceMatcher([door('A', '7000,8000,9000'), door('B', '7000,5000')], { maxAttempts: max, localAddrs: [] });
  const legit = '192.0.2.77';
  assert.deepEqual(run(m, [`0 ${legit} 7000`, `0.5 ${legit} 8000`]),
    [`stage A ${legit} 1`, `stage B ${legit} 1`, `stage A ${legit} 2`, `invalid B ${legit} 1`]);
  let evicted = 0, biggest = 0, legitHit = false;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200_000; i++) {
    for (const e of m.offer(pkt(v4(i), '7000'), 1000 + (i >> 4))) {
      if (e.kind === 'evicted') { evicted++; if (e.src === legit) legitHit = true; }
    }
    if (m.size() > biggest) biggest = m.size();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.diagnostic(`200k spoofed first-port hits (2 doors): ${ms.toFixed(0)} ms, ${(200_000 / ms * 1000).toFixed(0)} pkt/s`);
  assert.ok(biggest <= max, `size peaked at ${biggest}`);
  assert.ok(heapLength(m) <= max, `deadline heap ${heapLength(m)}`);
  assert.equal(legitHit, false);
  assert.equal(evicted, 2 * 200_000 + 1 - max); // two doors per spoofed packet, one slot held by legit
  assert.deepEqual(run(m, [`13 ${legit} 9000`]), [`stage A ${legit} 3`, `open A ${legit}`]);
});

test('B03 table full of progressed attempts: a new attempt is refused, nobody is evicted', () => {
  const m = new SequenceMatcher([door('A', '7000,8000,9000')], { maxAttempts: 2, localAddrs: [] });
  assert.deepEqual(run(m, ['0 1.1.1.1 7000', '0 1.1.1.1 8000', '1 1.1.1.2 7000', '1 1.1.1.2 8000', '2 1.1.1.3 7000', '3 1.1.1.1 9000', '4 1.1.1.3 7000']),
    ['stage A 1.1.1.1 1', 'stage A 1.1.1.1 2', 'stage A 1.1.1.2 1', 'stage A 1.1.1.2 2', 'refused A 1.1.1.3',
      'stage A 1.1.1.1 3', 'open A 1.1.1.1', 'stage A 1.1.1.3 1']);
  assert.equal(m.size(), 2);
});

test('B04 eviction takes the oldest stage-1 attempt, skipping attempts that progressed', () => {
  const m = new SequenceMatcher([door('A', '7000,8000,9000')], { maxAttempts: 3, localAddrs: [] });
  assert.deepEqual(run(m, ['0 1.1.1.1 7000', '1 1.1.1.2 7000', '2 1.1.1.3 7000', '3 1.1.1.1 8000', '4 1.1.1.4 7000', '5 1.1.1.5 7000']),
    ['stage A 1.1.1.1 1', 'stage A 1.1.1.2 1', 'stage A 1.1.1.3 1', 'stage A 1.1.1.1 2',
      'evicted A 1.1.1.2 1', 'stage A 1.1.1.4 1', 'evicted A 1.1.1.3 1', 'stage A 1.1.1.5 1']);
});

test('B05 single-hit doors need no slot: they open even when the table is full of progressed attempts', () => {
  const m = new SequenceMatcher([door('A', '7000,8000,9000'), door('One', '6000')], { maxAttempts: 1, localAddrs: [] });
  assert.deepEqual(run(m, ['0 1.1.1.1 7000', '1 1.1.1.1 8000', '2 1.1.1.2 6000', '3 1.1.1.2 7000']),
    ['stage A 1.1.1.1 1', 'stage A 1.1.1.1 2', 'stage One 1.1.1.2 1', 'open One 1.1.1.2', 'refused A 1.1.1.2']);
  assert.equal(m.size(), 1);
});

// ------------------------------------------------------------------ naive reference model

interface RefAttempt { door: number; src: string; family: 4 | 6; stage: number; id: number; deadline: number }

/** The documented semantics written the obvious way: arrays and linear scans. */
class RefMatcher {
  private attempts: RefAttempt[] = [];
  private id = 0;
  private readonly doors: Door[];
  private readonly max: number;
  private readonly local: readonly string[];
  constructor(doors: Door[], max: number, local: readonly string[]) { this.doors = doors; this.max = max; this.local = local; }
  private rel(d: Door, dst: string): boolean {
    return d.target !== undefined ? d.target === dst : (this.local.length === 0 || this.local.includes(dst));
  }
  private eq(i: number, stage: number, p: Packet): boolean {
    const h = this.doors[i]?.sequence[stage];
    return h !== undefined && h.port === p.dstPort && h.proto === p.proto;
  }
  private visible(p: Packet): boolean {
    return this.doors.some((d) => this.rel(d, p.dst) && flagsMatch(d, p)
      && d.sequence.some((h) => h.port === p.dstPort && h.proto === p.proto));
  }
  private ev(kind: KnockEvent['kind'], a: { door: number; src: string; stage?: number }): string {
    const name = this.doors[a.door]?.name ?? '?';
    if (kind === 'open' || kind === 'refused') return `${kind} ${name} ${a.src}`;
    return `${kind} ${name} ${a.src} ${a.stage ?? 0}`;
  }
  private drop(a: RefAttempt): void { this.attempts = this.attempts.filter((x) => x !== a); }
  expire(now: number, out: string[] = []): string[] {
    const due = this.attempts.filter((a) => now >= a.deadline).sort((x, y) => x.deadline - y.deadline || x.id - y.id);
    for (const a of due) { this.drop(a); out.push(this.ev('timeout', a)); }
    return out;
  }
  private start(i: number, p: Packet, now: number, out: string[]): void {
    const d = this.doors[i]!;
    if (d.sequence.length === 1) { out.push(this.ev('stage', { door: i, src: p.src, stage: 1 }), this.ev('open', { door: i, src: p.src })); return; }
    if (this.attempts.length >= this.max) {
      const s1 = this.attempts.filter((a) => a.stage === 1).sort((x, y) => x.id - y.id)[0];
      if (!s1) { out.push(this.ev('refused', { door: i, src: p.src })); return; }
      this.drop(s1); out.push(this.ev('evicted', s1));
    }
    this.attempts.push({ door: i, src: p.src, family: p.family, stage: 1, id: this.id++, deadline: now + d.seqTimeout * 1000 });
    out.push(this.ev('stage', { door: i, src: p.src, stage: 1 }));
  }
  offer(p: Packet, now: number): string[] {
    const out = this.expire(now);
    this.doors.forEach((d, i) => {
      if (d.sequence.length === 0 || !this.rel(d, p.dst) || !flagsMatch(d, p)) return;
      const a = this.attempts.find((x) => x.door === i && x.src === p.src);
      if (!a) { if (this.eq(i, 0, p)) this.start(i, p, now, out); return; }
      if (this.eq(i, a.stage, p)) {
        a.stage++; out.push(this.ev('stage', a));
        if (a.stage >= d.sequence.length) { this.drop(a); out.push(this.ev('open', a)); }
      } else if (this.eq(i, a.stage - 1, p)) {
        // retransmission
      } else if (this.visible(p)) {
        this.drop(a); out.push(this.ev('invalid', a));
        if (this.eq(i, 0, p)) this.start(i, p, now, out);
      }
    });
    return out;
  }
  setDoor(i: number, d: Door): void { this.attempts = this.attempts.filter((a) => a.door !== i); this.doors[i] = d; }
  size(): number { return this.attempts.length; }
  nextDeadline(): number | undefined {
    return this.attempts.length === 0 ? undefined : Math.min(...this.attempts.map((a) => a.deadline));
  }
}

function randomDoor(r: () => number, name: string): Door {
  const n = 1 + Math.floor(r() * 4);
  const hits = Array.from({ length: n }, () => `${7000 + Math.floor(r() * 4)}${r() < 0.25 ? '/udp' : ''}`).join(',');
  const fl = [undefined, 'syn', 'syn,!ack', '!rst'][Math.floor(r() * 4)];
  return door(name, hits, {
    seqTimeout: [0, 1, 3, 10][Math.floor(r() * 4)]!,
    ...(fl ? { tcpFlags: flags(fl) } : {}),
    ...(r() < 0.2 ? { target: '10.0.0.9' } : {}),
  });
}

test('M01 randomized: matcher equals the naive reference model (events, size, nextDeadline)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const doors = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => randomDoor(r, `D${i}`));
    const max = 1 + Math.floor(r() * 5);
    const local = r() < 0.5 ? [] : ['10.0.0.1'];
    const m = new SequenceMatcher(doors, { maxAttempts: max, localAddrs: local });
    const ref = new RefMatcher([...doors], max, local);
    let now = 1_000_000;
    for (let step = 0; step < 400; step++) {
      now += Math.floor(r() * 1500) - (r() < 0.05 ? 2000 : 0);
      const x = r();
      let got: string[], want: string[];
      if (x < 0.08) {
        got = m.expire(now).map(render); want = ref.expire(now);
      } else if (x < 0.1) {
        const i = Math.floor(r() * doors.length), d = randomDoor(r, `D${i}`);
        m.setDoor(i, d); ref.setDoor(i, d); got = want = [];
      } else {
        const src = r() < 0.1 ? `2001:db8::${1 + Math.floor(r() * 3)}` : `192.0.2.${1 + Math.floor(r() * 6)}`;
        const dst = src.includes(':') ? '2001:db8::ff' : ['10.0.0.1', '10.0.0.9', '10.0.0.2'][Math.floor(r() * 3)]!;
        const hit = `${6999 + Math.floor(r() * 6)}${r() < 0.25 ? '/udp' : ''}`;
        const p = pkt(src, hit, { dst, flags: [0x02, 0x12, 0x10, 0x06, 0x02][Math.floor(r() * 5)]! });
        got = m.offer(p, now).map(render); want = ref.offer(p, now);
      }
      assert.deepEqual(got, want, `seed ${seed} step ${step}`);
      assert.equal(m.size(), ref.size(), `seed ${seed} step ${step} size`);
      assert.equal(m.nextDeadline(), ref.nextDeadline(), `seed ${seed} step ${step} deadline`);
      assert.ok(m.size() <= max);
    }
  }
});

test('Z01 fuzz: garbage packets and clocks never throw and never exceed the bound', () => {
  const r = rng(4242);
  const m = new SequenceMatcher([door('A', '7000,8000,9000', { tcpFlags: flags('syn') }), door('U', '7000/udp,1,65535')],
    { maxAttempts: 8, localAddrs: ['10.0.0.1'] });
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const weird: unknown[] = [undefined, null, NaN, -1, 1e100, '', 'x', {}, [], 7000, 65535, 0, 1];
  for (let i = 0; i < 20_000; i++) {
    const p = {
      family: pick([4, 6, 5, undefined]),
      src: r() < 0.9 ? `1.1.1.${Math.floor(r() * 300)}` : pick(weird),
      dst: r() < 0.8 ? '10.0.0.1' : pick(weird),
      srcBytes: new Uint8Array(4), dstBytes: new Uint8Array(4),
      proto: pick<unknown>(['tcp', 'udp', 'icmp', undefined]),
      srcPort: Math.floor(r() * 70000),
      dstPort: r() < 0.8 ? pick([7000, 8000, 9000, 1, 65535, 1234]) : pick(weird),
      tcpFlags: r() < 0.9 ? Math.floor(r() * 512) - 128 : pick(weird),
      payload: new Uint8Array(0),
    } as unknown as Packet;
    const now = r() < 0.95 ? i * 50 : pick(weird) as number;
    const evs = r() < 0.02 ? m.expire(now) : m.offer(r() < 0.001 ? (null as unknown as Packet) : p, now);
    assert.ok(Array.isArray(evs));
    assert.ok(m.size() <= 8);
  }
  const nd = m.nextDeadline();
  assert.ok(nd === undefined || Number.isFinite(nd));
});

test('Z02 a door retargeted by setDoor never leaves stale deadlines behind', () => {
  const m = new SequenceMatcher([door('A', '7000,8000')], { maxAttempts: 100, localAddrs: [] });
  for (let i = 0; i < 50; i++) m.offer(pkt(v4(i), '7000'), i);
  assert.equal(heapLength(m), 50);
  m.setDoor(0, door('A', '7001,8001'));
  assert.equal(m.size(), 0);
  assert.equal(heapLength(m), 0);
  assert.equal(m.nextDeadline(), undefined);
  assert.deepEqual(m.offer(pkt('1.1.1.1', '8000'), 60).map(render), []);
  const proto: Proto = 'tcp';
  assert.equal(proto, pkt('1.1.1.1', '8001').proto);
});
