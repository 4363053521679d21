/**
 * The knock sequence state machine: knockd 0.8's contract (knockd-behaviour.md §2.5-2.7)
 * with its bugs fixed. Pure: time arrives as `now` (ms since epoch, capture time).
 *
 * Contract kept from knockd:
 *  - an attempt is keyed by (source address text, door); several doors advance in parallel;
 *  - `seq_timeout` is measured from the FIRST hit (not between hits);
 *  - a wrong *visible* hit invalidates the attempt; TCP packets whose flags do not match the
 *    door are ignored for that door (never invalidate);
 *  - a packet is considered for a door only if its destination equals the door's `target`, or
 *    (no target) one of the local addresses;
 *  - `seq_timeout <= 0`: multi-hit sequences always time out before hit 2, single-hit doors open.
 *
 * Fixed (documented deviations):
 *  - no head-of-list purge bug: concurrent knockers never lose each other's progress, and
 *    shared-prefix doors all open whatever their config order (§2.10, R03/R05);
 *  - a retransmission of the hit just completed (same port/proto as sequence[stage-1]) is
 *    ignored instead of invalidating (knockd issue #92, R02 c);
 *  - after an invalidation, if the same packet is the door's first hit a new attempt starts
 *    at stage 1 (knockd loses that knock, R02 c / R03 j);
 *  - timeouts are exact to the millisecond (`now - firstHit >= seqTimeout*1000`) instead of
 *    whole pcap seconds, and are reported by `expire(now)` without waiting for traffic (§2.7);
 *  - the attempt table is bounded by `maxAttempts`: a new attempt evicts the oldest attempt
 *    still at stage 1, or is refused when every attempt has progressed further (§2.10);
 *  - every operation is O(doors + log n) per packet: a Map for the attempts, an intrusive
 *    list of stage-1 attempts (eviction order), an indexed min-heap of deadlines.
 *
 * Visibility: knockd's BPF filter only delivers packets some door could use. offer() may be
 * given any packet, so only packets whose (proto, dstPort) is a hit of some door whose
 * destination matches and whose flags match that door count as "visible" and can invalidate.
 *
 * `localAddrs` empty = every destination counts as local (used when the interface's addresses
 * are unknown, e.g. `any`, and by tests).
 */
import type { Door, Hit } from '../config/types.js';
import type { Packet } from '../types.js';
import { AppError } from '../errors.js';
import { flagMasks, flagsMatchMasks } from './flags.js';

export type KnockEvent =
  | { kind: 'stage'; doorIndex: number; door: Door; src: string; family: 4 | 6; stage: number }
  | { kind: 'open'; doorIndex: number; door: Door; src: string; family: 4 | 6 }
  | { kind: 'timeout'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'invalid'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'evicted'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'refused'; doorIndex: number; door: Door; src: string };

export interface MatcherOptions { maxAttempts: number; localAddrs: readonly string[] }

interface DoorInfo {
  readonly door: Door;
  readonly seq: readonly Hit[];
  readonly set: number;
  readonly clear: number;
  readonly timeoutMs: number;
}

interface Attempt {
  readonly key: string;
  readonly doorIndex: number;
  readonly src: string;
  readonly family: 4 | 6;
  readonly id: number;        // creation order, heap tie-break (deterministic event order)
  readonly deadline: number;  // firstHit + seqTimeout*1000; dead when now >= deadline
  stage: number;              // hits matched so far (1-based)
  heapIdx: number;
  prev: Attempt | undefined;  // stage-1 list (only while stage === 1)
  next: Attempt | undefined;
  inList: boolean;
}

const hitKey = (proto: string, port: number): string => `${proto}:${port}`;

function hitEq(h: Hit | undefined, p: Packet): boolean {
  return h !== undefined && h.port === p.dstPort && h.proto === p.proto;
}

export class SequenceMatcher {
  private readonly doors: DoorInfo[] = [];
  private readonly maxAttempts: number;
  private readonly localAll: boolean;
  private readonly local: ReadonlySet<string>;
  /** "proto:port" → indices of doors having that hit (for the visibility test). */
  private visibility = new Map<string, number[]>();
  private readonly attempts = new Map<string, Attempt>();
  private readonly heap: Attempt[] = [];
  private head: Attempt | undefined;  // oldest stage-1 attempt
  private tail: Attempt | undefined;
  private nextId = 0;

  constructor(doors: readonly Door[], opts: MatcherOptions) {
    if (!Number.isSafeInteger(opts.maxAttempts) || opts.maxAttempts < 1) {
      throw new AppError('ERR_CONFIG_VALUE', `MaxAttempts must be a positive integer, got ${String(opts.maxAttempts)}`);
    }
    this.maxAttempts = opts.maxAttempts;
    this.localAll = opts.localAddrs.length === 0;
    this.local = new Set(opts.localAddrs);
    for (const d of doors) this.doors.push(SequenceMatcher.info(d));
    this.rebuildVisibility();
  }

  private static info(door: Door): DoorInfo {
    const { set, clear } = flagMasks(door);
    const t = door.seqTimeout * 1000;
    return { door, seq: door.sequence, set, clear, timeoutMs: Number.isNaN(t) ? 0 : t };
  }

  private rebuildVisibility(): void {
    const m = new Map<string, number[]>();
    this.doors.forEach((d, i) => {
      for (const h of d.seq) {
        const k = hitKey(h.proto, h.port);
        const l = m.get(k);
        if (l === undefined) m.set(k, [i]);
        else if (l[l.length - 1] !== i) l.push(i);
      }
    });
    this.visibility = m;
  }

  private relevant(d: DoorInfo, dst: string): boolean {
    const t = d.door.target;
    if (t !== undefined) return dst === t;
    return this.localAll || this.local.has(dst);
  }

  /** Would knockd's BPF filter have delivered this packet? */
  private visible(p: Packet): boolean {
    const l = this.visibility.get(hitKey(p.proto, p.dstPort));
    if (l === undefined) return false;
    for (const i of l) {
      const d = this.doors[i];
      if (d !== undefined && this.relevant(d, p.dst) && flagsMatchMasks(d.set, d.clear, p)) return true;
    }
    return false;
  }

  /**
   * Process one captured packet. First reports every attempt whose deadline is <= now (exactly
   * what expire(now) would), then handles the packet for every door it is relevant to, in config
   * order. Never throws on any packet; malformed input (non-string addresses, non-finite now)
   * yields no events.
   */
  offer(p: Packet, now: number): KnockEvent[] {
    const ev: KnockEvent[] = [];
    if (p === null || typeof p !== 'object' || typeof p.src !== 'string' || typeof p.dst !== 'string'
        || !Number.isFinite(now)) return ev;
    this.expireInto(now, ev);
    const family: 4 | 6 = p.family === 6 ? 6 : 4;
    let vis: boolean | undefined;
    for (let i = 0; i < this.doors.length; i++) {
      const d = this.doors[i];
      if (d === undefined || d.seq.length === 0 || !this.relevant(d, p.dst)) continue;
      if (!flagsMatchMasks(d.set, d.clear, p)) continue;        // ignored for this door, never resets
      const key = `${i}|${p.src}`;
      const a = this.attempts.get(key);
      if (a === undefined) {
        if (hitEq(d.seq[0], p)) this.start(i, d, key, p.src, family, now, ev);
        continue;
      }
      if (hitEq(d.seq[a.stage], p)) {
        this.advance(a, d, ev);
      } else if (hitEq(d.seq[a.stage - 1], p)) {
        // retransmission of the hit just completed (knockd #92): ignore
      } else {
        if (vis === undefined) vis = this.visible(p);
        if (!vis) continue;
        ev.push({ kind: 'invalid', doorIndex: i, door: d.door, src: a.src, stage: a.stage });
        this.remove(a);
        if (hitEq(d.seq[0], p)) this.start(i, d, key, p.src, family, now, ev);
      }
    }
    return ev;
  }

  /** Report and drop every attempt whose deadline is <= now. */
  expire(now: number): KnockEvent[] {
    const ev: KnockEvent[] = [];
    if (Number.isFinite(now)) this.expireInto(now, ev);
    return ev;
  }

  nextDeadline(): number | undefined {
    return this.heap[0]?.deadline;
  }

  /** Replace a door (one-time-sequence rotation). Its attempts in progress are dropped silently. */
  setDoor(index: number, door: Door): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.doors.length) {
      throw new AppError('ERR_INTERNAL', `setDoor: no door with index ${index}`);
    }
    const drop: Attempt[] = [];
    for (const a of this.attempts.values()) if (a.doorIndex === index) drop.push(a);
    for (const a of drop) this.remove(a);
    this.doors[index] = SequenceMatcher.info(door);
    this.rebuildVisibility();
  }

  size(): number {
    return this.attempts.size;
  }

  // ---------------------------------------------------------------- internals

  private expireInto(now: number, ev: KnockEvent[]): void {
    for (;;) {
      const a = this.heap[0];
      if (a === undefined || now < a.deadline) return;
      const d = this.doors[a.doorIndex];
      this.remove(a);
      if (d !== undefined) ev.push({ kind: 'timeout', doorIndex: a.doorIndex, door: d.door, src: a.src, stage: a.stage });
    }
  }

  private start(i: number, d: DoorInfo, key: string, src: string, family: 4 | 6, now: number, ev: KnockEvent[]): void {
    if (d.seq.length === 1) {
      ev.push({ kind: 'stage', doorIndex: i, door: d.door, src, family, stage: 1 });
      ev.push({ kind: 'open', doorIndex: i, door: d.door, src, family });
      return;
    }
    if (this.attempts.size >= this.maxAttempts) {
      const victim = this.head;
      if (victim === undefined) {
        ev.push({ kind: 'refused', doorIndex: i, door: d.door, src });
        return;
      }
      const vd = this.doors[victim.doorIndex];
      this.remove(victim);
      if (vd !== undefined) ev.push({ kind: 'evicted', doorIndex: victim.doorIndex, door: vd.door, src: victim.src, stage: victim.stage });
    }
    let deadline = now + d.timeoutMs;
    if (Number.isNaN(deadline)) deadline = now;
    const a: Attempt = {
      key, doorIndex: i, src, family, id: this.nextId++, deadline,
      stage: 1, heapIdx: -1, prev: undefined, next: undefined, inList: false,
    };
    this.attempts.set(key, a);
    this.heapPush(a);
    this.listAppend(a);
    ev.push({ kind: 'stage', doorIndex: i, door: d.door, src, family, stage: 1 });
  }

  private advance(a: Attempt, d: DoorInfo, ev: KnockEvent[]): void {
    if (a.inList) this.listRemove(a);
    a.stage += 1;
    ev.push({ kind: 'stage', doorIndex: a.doorIndex, door: d.door, src: a.src, family: a.family, stage: a.stage });
    if (a.stage >= d.seq.length) {
      this.remove(a);
      ev.push({ kind: 'open', doorIndex: a.doorIndex, door: d.door, src: a.src, family: a.family });
    }
  }

  private remove(a: Attempt): void {
    if (this.attempts.get(a.key) === a) this.attempts.delete(a.key);
    if (a.inList) this.listRemove(a);
    if (a.heapIdx >= 0) this.heapRemove(a.heapIdx);
  }

  // stage-1 list (oldest first)
  private listAppend(a: Attempt): void {
    a.prev = this.tail;
    a.next = undefined;
    if (this.tail !== undefined) this.tail.next = a; else this.head = a;
    this.tail = a;
    a.inList = true;
  }

  private listRemove(a: Attempt): void {
    if (a.prev !== undefined) a.prev.next = a.next; else this.head = a.next;
    if (a.next !== undefined) a.next.prev = a.prev; else this.tail = a.prev;
    a.prev = a.next = undefined;
    a.inList = false;
  }

  // indexed binary min-heap on (deadline, id)
  private less(x: Attempt, y: Attempt): boolean {
    return x.deadline < y.deadline || (x.deadline === y.deadline && x.id < y.id);
  }

  private heapSet(i: number, a: Attempt): void {
    this.heap[i] = a;
    a.heapIdx = i;
  }

  private heapPush(a: Attempt): void {
    this.heapSet(this.heap.length, a);
    this.siftUp(a.heapIdx);
  }

  private heapRemove(i: number): void {
    const h = this.heap;
    const gone = h[i];
    const last = h.pop();
    if (gone !== undefined) gone.heapIdx = -1;
    if (last === undefined || i >= h.length) return; // removed the last slot
    this.heapSet(i, last);
    this.siftUp(i);
    this.siftDown(last.heapIdx);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const a = h[i];
    if (a === undefined) return;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const parent = h[pi];
      if (parent === undefined || !this.less(a, parent)) break;
      this.heapSet(i, parent);
      i = pi;
    }
    this.heapSet(i, a);
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const a = h[i];
    if (a === undefined) return;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      const lc = h[l], rc = h[l + 1];
      if (lc === undefined) break;
      let child = lc;
      if (rc !== undefined && this.less(rc, lc)) { c = l + 1; child = rc; }
      if (!this.less(child, a)) break;
      this.heapSet(i, child);
      i = c;
    }
    this.heapSet(i, a);
  }
}
