/**
 * The knock sequence state machine: knockd 0.8's contract (knockd-behaviour.md §2.5-2.7)
 * with its bugs fixed. Pure: time arrives as `now` (ms since epoch, capture time).
 *
 * Contract kept from knockd:
 *  - an attempt is keyed by (source address, door); several doors advance in parallel. The key
 *    is the packet's 4 or 16 source bytes (`srcBytes`, which must match `family`), so one
 *    source has one key. Events about the packet being offered carry its `src` text; timeouts
 *    and evictions carry the canonical text of the stored bytes (the same for decoded packets);
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
 *  - every operation is O(doors + log n) per packet, and the table costs a fixed number of
 *    bytes per attempt with no per-attempt object or string (attempt-table.ts: typed arrays,
 *    a seeded open-addressing index keyed by door and source bytes, an intrusive list of
 *    stage-1 attempts in eviction order; deadline-heap.ts: an indexed min-heap of deadlines).
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
import { AttemptTable, doorHash, mix32, sourceHash } from './attempt-table.js';
import { DeadlineHeap } from './deadline-heap.js';

export type KnockEvent =
  | { kind: 'stage'; doorIndex: number; door: Door; src: string; family: 4 | 6; stage: number }
  | { kind: 'open'; doorIndex: number; door: Door; src: string; family: 4 | 6 }
  | { kind: 'timeout'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'invalid'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'evicted'; doorIndex: number; door: Door; src: string; stage: number }
  | { kind: 'refused'; doorIndex: number; door: Door; src: string };

export interface MatcherOptions {
  maxAttempts: number;
  localAddrs: readonly string[];
  /**
   * Seed of the attempt index's hash (spoofed sources are chosen by the attacker). The daemon
   * should pass a random 32-bit value; without it the seed is derived from the doors' sequences
   * and commands, which an attacker does not know unless the configuration is public.
   */
  hashSeed?: number;
}

interface DoorInfo {
  readonly door: Door;
  readonly seq: readonly Hit[];
  readonly set: number;
  readonly clear: number;
  readonly timeoutMs: number;
}

/** Numeric (proto, port) key of the visibility map: no string per packet. */
const hitKey = (proto: string, port: number): number => (proto === 'udp' ? 65536 : 0) + port;

function hitEq(h: Hit | undefined, p: Packet): boolean {
  return h !== undefined && h.port === p.dstPort && h.proto === p.proto;
}

/** FNV-1a over the doors' sequences, names and commands (the default hash seed). */
function configSeed(doors: readonly Door[]): number {
  let h = 0x811c9dc5;
  const text = JSON.stringify(doors.map((d) => [d.name, d.sequence, d.startCommand, d.stopCommand, d.target]));
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

export class SequenceMatcher {
  private readonly doors: DoorInfo[] = [];
  private readonly localAll: boolean;
  private readonly local: ReadonlySet<string>;
  /** hitKey → indices of doors having that hit (for the visibility test). */
  private visibility = new Map<number, number[]>();
  private readonly table: AttemptTable;
  private readonly heap: DeadlineHeap;
  private readonly seed: number;
  private nextId = 0;

  constructor(doors: readonly Door[], opts: MatcherOptions) {
    if (!Number.isSafeInteger(opts.maxAttempts) || opts.maxAttempts < 1) {
      throw new AppError('ERR_CONFIG_VALUE', `MaxAttempts must be a positive integer, got ${String(opts.maxAttempts)}`);
    }
    this.table = new AttemptTable(opts.maxAttempts);
    this.heap = new DeadlineHeap(this.table);
    this.localAll = opts.localAddrs.length === 0;
    this.local = new Set(opts.localAddrs);
    for (const d of doors) this.doors.push(SequenceMatcher.info(d));
    this.seed = opts.hashSeed !== undefined && Number.isFinite(opts.hashSeed) ? mix32(opts.hashSeed >>> 0) : configSeed(doors);
    this.rebuildVisibility();
  }

  private static info(door: Door): DoorInfo {
    const { set, clear } = flagMasks(door);
    const t = door.seqTimeout * 1000;
    return { door, seq: door.sequence, set, clear, timeoutMs: Number.isNaN(t) ? 0 : t };
  }

  private rebuildVisibility(): void {
    const m = new Map<number, number[]>();
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
   * order. Never throws on any packet; malformed input (non-string addresses, source bytes that
   * are not 4 bytes for family 4 / 16 for family 6, non-finite now) yields no events.
   */
  offer(p: Packet, now: number): KnockEvent[] {
    const ev: KnockEvent[] = [];
    if (p === null || typeof p !== 'object' || typeof p.src !== 'string' || typeof p.dst !== 'string'
        || !Number.isFinite(now)) return ev;
    const family: 4 | 6 = p.family === 6 ? 6 : 4;
    const b = p.srcBytes;
    if (!(b instanceof Uint8Array) || b.length !== (family === 6 ? 16 : 4)) return ev;
    this.expireInto(now, ev);
    const w = (j: number): number => (((b[j] ?? 0) << 24) | ((b[j + 1] ?? 0) << 16) | ((b[j + 2] ?? 0) << 8) | (b[j + 3] ?? 0)) >>> 0;
    const w0 = w(0), w1 = family === 6 ? w(4) : 0, w2 = family === 6 ? w(8) : 0, w3 = family === 6 ? w(12) : 0;
    const sh = sourceHash(this.seed, family, w0, w1, w2, w3);
    const t = this.table;
    let vis: boolean | undefined;
    for (let i = 0; i < this.doors.length; i++) {
      const d = this.doors[i];
      if (d === undefined || d.seq.length === 0 || !this.relevant(d, p.dst)) continue;
      if (!flagsMatchMasks(d.set, d.clear, p)) continue;        // ignored for this door, never resets
      const h = doorHash(sh, i);
      const s = t.find(h, i, family, w0, w1, w2, w3);
      if (s < 0) {
        if (hitEq(d.seq[0], p)) this.start(i, d, h, family, w0, w1, w2, w3, p.src, now, ev);
        continue;
      }
      const stage = t.stage[s] ?? 0;
      if (hitEq(d.seq[stage], p)) {
        this.advance(s, i, d, p.src, family, ev);
      } else if (hitEq(d.seq[stage - 1], p)) {
        // retransmission of the hit just completed (knockd #92): ignore
      } else {
        if (vis === undefined) vis = this.visible(p);
        if (!vis) continue;
        ev.push({ kind: 'invalid', doorIndex: i, door: d.door, src: p.src, stage });
        this.remove(s);
        if (hitEq(d.seq[0], p)) this.start(i, d, h, family, w0, w1, w2, w3, p.src, now, ev);
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
    const s = this.heap.top();
    return s < 0 ? undefined : this.table.deadline[s];
  }

  /** Replace a door (one-time-sequence rotation). Its attempts in progress are dropped silently. */
  setDoor(index: number, door: Door): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.doors.length) {
      throw new AppError('ERR_INTERNAL', `setDoor: no door with index ${index}`);
    }
    for (const s of this.table.slotsOfDoor(index)) this.remove(s);
    this.doors[index] = SequenceMatcher.info(door);
    this.rebuildVisibility();
  }

  size(): number {
    return this.table.size;
  }

  // ---------------------------------------------------------------- internals

  private expireInto(now: number, ev: KnockEvent[]): void {
    const t = this.table;
    for (;;) {
      const s = this.heap.top();
      if (s < 0 || now < (t.deadline[s] ?? 0)) return;
      const di = t.door[s] ?? 0, d = this.doors[di];
      const src = t.srcText(s), stage = t.stage[s] ?? 0;
      this.remove(s);
      if (d !== undefined) ev.push({ kind: 'timeout', doorIndex: di, door: d.door, src, stage });
    }
  }

  private start(i: number, d: DoorInfo, h: number, family: 4 | 6, w0: number, w1: number, w2: number, w3: number,
    src: string, now: number, ev: KnockEvent[]): void {
    if (d.seq.length === 1) {
      ev.push({ kind: 'stage', doorIndex: i, door: d.door, src, family, stage: 1 });
      ev.push({ kind: 'open', doorIndex: i, door: d.door, src, family });
      return;
    }
    const t = this.table;
    if (t.size >= t.max) {
      const victim = t.head;
      if (victim < 0) {
        ev.push({ kind: 'refused', doorIndex: i, door: d.door, src });
        return;
      }
      const vi = t.door[victim] ?? 0, vd = this.doors[vi];
      const vsrc = t.srcText(victim), vstage = t.stage[victim] ?? 0;
      this.remove(victim);
      if (vd !== undefined) ev.push({ kind: 'evicted', doorIndex: vi, door: vd.door, src: vsrc, stage: vstage });
    } else if (t.size >= t.capacity && t.grow()) {
      this.heap.grow(t.capacity);
    }
    let deadline = now + d.timeoutMs;
    if (Number.isNaN(deadline)) deadline = now;
    const s = t.add(h, i, family, w0, w1, w2, w3, this.nextId++, deadline);
    this.heap.push(s);
    ev.push({ kind: 'stage', doorIndex: i, door: d.door, src, family, stage: 1 });
  }

  private advance(s: number, i: number, d: DoorInfo, src: string, family: 4 | 6, ev: KnockEvent[]): void {
    const stage = this.table.advance(s);
    ev.push({ kind: 'stage', doorIndex: i, door: d.door, src, family, stage });
    if (stage >= d.seq.length) {
      this.remove(s);
      ev.push({ kind: 'open', doorIndex: i, door: d.door, src, family });
    }
  }

  private remove(s: number): void {
    this.heap.remove(s);
    this.table.free(s);
  }
}
