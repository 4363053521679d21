/**
 * The typed-array attempt table under the matcher: bytes per attempt at the cap (computed from
 * the arrays' sizes, nothing timed), the open-addressing index against a Map model (including
 * forced collisions, which exercise backward-shift deletion), growth, and seed independence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttemptTable, BYTES_PER_SLOT, doorHash, sourceHash } from '../../../src/core/knock/attempt-table.js';
import { DeadlineHeap } from '../../../src/core/knock/deadline-heap.js';
import { SequenceMatcher } from '../../../src/core/knock/matcher.js';
import { DEFAULT_MAX_ATTEMPTS } from '../../../src/core/config/types.js';
import { parseIp } from '../../../src/core/ip.js';
import { door, pkt, render, rng, run } from './util.js';

const v4 = (n: number) => `${10 + ((n >>> 24) & 0x7f)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
interface Internals { table: AttemptTable; heap: DeadlineHeap }
const inner = (m: SequenceMatcher): Internals => m as unknown as Internals;

test('T01 at the default cap (65,536) an attempt costs <= 150 bytes of table storage', () => {
  const max = DEFAULT_MAX_ATTEMPTS;
  assert.equal(max, 65_536);
  const m = new SequenceMatcher([door('A', '7000,8000,9000')], { maxAttempts: max, localAddrs: [] });
  const { table, heap } = inner(m);
  const idle = table.byteLength + heap.byteLength;
  for (let i = 0; i < max + 1000; i++) m.offer(pkt(v4(i), '7000'), 0);
  assert.equal(m.size(), max);
  assert.equal(table.capacity, max);
  const bytes = table.byteLength + heap.byteLength;
  const perAttempt = bytes / max;
  // every per-slot array plus the index (a power of two >= 2 x capacity, 4 bytes an entry)
  assert.equal(bytes, max * BYTES_PER_SLOT + 4 * 2 * max);
  assert.ok(perAttempt <= 150, `${perAttempt} bytes per attempt`);
  assert.ok(idle < 100_000, `idle table ${idle} bytes: storage grows with use, not allocated for the cap`);
});

test('T02 a cap that is not a power of two: capacity stops at the cap, bytes still bounded', () => {
  const max = 100_000;
  const m = new SequenceMatcher([door('A', '7000,8000')], { maxAttempts: max, localAddrs: [] });
  for (let i = 0; i < max + 10; i++) m.offer(pkt(v4(i), '7000'), 0);
  const { table, heap } = inner(m);
  assert.equal(m.size(), max);
  assert.equal(table.capacity, max);
  assert.ok((table.byteLength + heap.byteLength) / max <= 150);
});

test('T03 index: random add / find / free against a Map, all keys forced into few home buckets', () => {
  for (const collide of [false, true]) {
    const r = rng(collide ? 7 : 8);
    const t = new AttemptTable(5000);
    const model = new Map<string, number>();
    const key = (d: number, fam: number, w: number[]) => `${d}/${fam}/${w.join('.')}`;
    for (let step = 0; step < 40_000; step++) {
      const fam = r() < 0.3 ? 6 : 4;
      const w = [Math.floor(r() * 300), fam === 6 ? Math.floor(r() * 3) : 0, 0, fam === 6 ? 7 : 0];
      const d = Math.floor(r() * 3);
      let h = doorHash(sourceHash(99, fam, w[0]!, w[1]!, w[2]!, w[3]!), d);
      if (collide) h = (h & 0xfff00000) | (h & 3);  // only 4 distinct home buckets
      const k = key(d, fam, w);
      const s = t.find(h, d, fam, w[0]!, w[1]!, w[2]!, w[3]!);
      assert.equal(s, model.get(k) ?? -1, `step ${step} find ${k}`);
      if (s >= 0) {
        if (r() < 0.6) { t.free(s); model.delete(k); }
      } else if (t.size < t.max) {
        if (t.size >= t.capacity) t.grow();
        model.set(k, t.add(h, d, fam, w[0]!, w[1]!, w[2]!, w[3]!, step, step));
      }
      assert.equal(t.size, model.size);
    }
    for (const [k, s] of model) {
      const [d, fam, ws] = k.split('/');
      const w = ws!.split('.').map(Number);
      const bytes = new Uint8Array(fam === '6' ? 16 : 4);
      w.slice(0, bytes.length / 4).forEach((x, j) => bytes.set([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255], 4 * j));
      assert.deepEqual(parseIp(t.srcText(s))?.bytes, bytes);
      assert.equal(t.door[s], Number(d));
    }
  }
});

test('T04 srcText renders the canonical address of the stored bytes (v4, v6, v4-mapped)', () => {
  const m = new SequenceMatcher([door('A', '7000,8000', { seqTimeout: 1 })], { maxAttempts: 10, localAddrs: [] });
  const srcs = ['192.0.2.1', '2001:db8::1', '::ffff:192.0.2.1', '::', '255.255.255.255', 'fe80::1:2:3:4'];
  for (const s of srcs) m.offer(pkt(s, '7000', { dst: s.includes(':') ? '2001:db8::ff' : '10.0.0.1' }), 0);
  assert.deepEqual(m.expire(1000).map(render), srcs.map((s) => `timeout A ${s} 1`));
});

test('T05 events do not depend on the hash seed', () => {
  const steps: string[] = [];
  const r = rng(3);
  for (let i = 0; i < 3000; i++) steps.push(`${(i / 100).toFixed(2)} ${v4(Math.floor(r() * 200))} ${[7000, 8000, 9000, 1][Math.floor(r() * 4)]}`);
  const doors = [door('A', '7000,8000,9000', { seqTimeout: 5 }), door('B', '7000,9000', { seqTimeout: 2 })];
  const runs = [undefined, 0, 1, 0xdeadbeef].map((hashSeed) =>
    run(new SequenceMatcher(doors, { maxAttempts: 50, localAddrs: [], ...(hashSeed === undefined ? {} : { hashSeed }) }), steps));
  for (const x of runs.slice(1)) assert.deepEqual(x, runs[0]);
  assert.ok(runs[0]!.some((e) => e.startsWith('open')) && runs[0]!.some((e) => e.startsWith('evicted')));
});

test('T06 source bytes that do not match the family are ignored (no event, no attempt)', () => {
  const m = new SequenceMatcher([door('A', '7000')], { maxAttempts: 10, localAddrs: [] });
  const good = pkt('1.1.1.1', '7000');
  assert.equal(m.offer(good, 0).length, 2);
  assert.deepEqual(m.offer({ ...good, family: 6 }, 0), []);
  assert.deepEqual(m.offer({ ...good, srcBytes: new Uint8Array(16) }, 0), []);
  assert.deepEqual(m.offer({ ...good, srcBytes: [1, 1, 1, 1] as unknown as Uint8Array }, 0), []);
});

test('T07 growth keeps every attempt: 5000 sources at stage 2 all open after the table grew', () => {
  const m = new SequenceMatcher([door('A', '7000,8000,9000')], { maxAttempts: 10_000, localAddrs: [] });
  for (let i = 0; i < 5000; i++) { m.offer(pkt(v4(i), '7000'), 0); m.offer(pkt(v4(i), '8000'), 0); }
  assert.ok(inner(m).table.capacity >= 5000);
  let opened = 0;
  for (let i = 0; i < 5000; i++) opened += m.offer(pkt(v4(i), '9000'), 1).filter((e) => e.kind === 'open').length;
  assert.equal(opened, 5000);
  assert.equal(m.size(), 0);
  assert.equal(inner(m).heap.length, 0);
});
