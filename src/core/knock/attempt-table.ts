/**
 * The sequence matcher's table of attempts in progress, as a struct of typed arrays indexed by
 * slot number: no object, string or Map entry per attempt, so a spoofed-source flood that fills
 * the table to MaxAttempts costs a fixed number of bytes per attempt (BYTES_PER_SLOT plus the
 * index, see byteLength) and creates no garbage.
 *
 * Per slot: the key (family 4/6, door index, the source address as four 32-bit words, IPv4 in
 * the first), its hash, the stage reached, the creation id and the deadline (for the deadline
 * heap, deadline-heap.ts), the heap position, and prev/next links of the intrusive list of
 * stage-1 attempts in creation order (eviction order; `next` also chains free slots).
 *
 * Lookup: an open-addressing index (linear probing, load <= 1/2, backward-shift deletion, no
 * tombstones) from the key's hash to its slot. The hash is seeded: the attacker chooses the
 * source addresses, and with a known hash function could make them all probe the same run of
 * the index.
 *
 * Memory grows with use: the arrays start small and double (up to the cap) when full, so an
 * idle daemon does not pay for the cap. Pure, never throws for any key.
 */
import { formatV4, formatV6 } from '../ip.js';

/** Bytes of typed-array storage per slot, excluding the index (4 or 8 bytes a slot, see byteLength). */
export const BYTES_PER_SLOT = 1 /* fam */ + 4 /* door */ + 4 /* stage */ + 16 /* key */ + 4 /* hash */
  + 8 /* id */ + 8 /* deadline */ + 4 /* heapPos */ + 8 /* prev, next */ + 4 /* heap (deadline-heap.ts) */;

const INITIAL_CAPACITY = 1024;

/** 32-bit finaliser (lowbias32): every input bit affects every output bit. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of a source address (family + words) under `seed`; combine with a door by doorHash(). */
export function sourceHash(seed: number, fam: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = mix32((seed ^ fam) >>> 0);
  h = mix32((h ^ w0) >>> 0);
  if (fam === 6) {
    h = mix32((h ^ w1) >>> 0);
    h = mix32((h ^ w2) >>> 0);
    h = mix32((h ^ w3) >>> 0);
  }
  return h;
}

export function doorHash(srcHash: number, door: number): number {
  return mix32((srcHash ^ Math.imul(door + 1, 0x9e3779b1)) >>> 0);
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class AttemptTable {
  readonly max: number;
  capacity: number;
  size = 0;
  fam: Uint8Array;          // 0 = free slot, else 4 or 6
  door: Uint32Array;
  stage: Uint32Array;       // hits matched so far (1-based)
  key: Uint32Array;         // 4 words per slot
  hash: Uint32Array;
  id: Float64Array;         // creation order (heap tie-break)
  deadline: Float64Array;   // firstHit + seqTimeout*1000
  heapPos: Int32Array;
  prev: Int32Array;         // stage-1 list; -1 = none
  next: Int32Array;         // stage-1 list, or the free-slot chain
  /** Oldest and newest stage-1 attempt (-1 = none). */
  head = -1;
  tail = -1;
  private index: Int32Array;
  private mask: number;
  private hwm = 0;          // slots [0, hwm) have been handed out at least once
  private freeHead = -1;
  private readonly scratch = new Uint8Array(16);

  constructor(max: number) {
    this.max = max;
    this.capacity = Math.min(max, INITIAL_CAPACITY);
    this.fam = new Uint8Array(this.capacity);
    this.door = new Uint32Array(this.capacity);
    this.stage = new Uint32Array(this.capacity);
    this.key = new Uint32Array(this.capacity * 4);
    this.hash = new Uint32Array(this.capacity);
    this.id = new Float64Array(this.capacity);
    this.deadline = new Float64Array(this.capacity);
    this.heapPos = new Int32Array(this.capacity);
    this.prev = new Int32Array(this.capacity);
    this.next = new Int32Array(this.capacity);
    this.index = new Int32Array(pow2AtLeast(2 * this.capacity)).fill(-1);
    this.mask = this.index.length - 1;
  }

  /** Bytes held by the typed arrays of the table (the heap's array is counted by the heap). */
  get byteLength(): number {
    return this.fam.byteLength + this.door.byteLength + this.stage.byteLength + this.key.byteLength
      + this.hash.byteLength + this.id.byteLength + this.deadline.byteLength + this.heapPos.byteLength
      + this.prev.byteLength + this.next.byteLength + this.index.byteLength;
  }

  /** The slot holding (door, source), or -1. `h` = doorHash(sourceHash(...), door). */
  find(h: number, door: number, fam: number, w0: number, w1: number, w2: number, w3: number): number {
    const idx = this.index, k = this.key;
    h >>>= 0;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s = idx[i] ?? -1;
      if (s < 0) return -1;
      if (this.hash[s] === h && this.door[s] === door && this.fam[s] === fam
        && k[4 * s] === w0 && k[4 * s + 1] === w1 && k[4 * s + 2] === w2 && k[4 * s + 3] === w3) return s;
    }
  }

  /**
   * Store a new stage-1 attempt, indexed and appended to the stage-1 list. The caller makes room
   * first (size < capacity: grow() or free a victim) and pushes the slot onto the deadline heap.
   */
  add(h: number, door: number, fam: number, w0: number, w1: number, w2: number, w3: number, id: number, deadline: number): number {
    h >>>= 0;
    let s = this.freeHead;
    if (s >= 0) this.freeHead = this.next[s] ?? -1;
    else s = this.hwm++;
    this.fam[s] = fam; this.door[s] = door; this.stage[s] = 1; this.hash[s] = h;
    this.key[4 * s] = w0; this.key[4 * s + 1] = w1; this.key[4 * s + 2] = w2; this.key[4 * s + 3] = w3;
    this.id[s] = id; this.deadline[s] = deadline; this.heapPos[s] = -1;
    this.indexInsert(s);
    this.listAppend(s);
    this.size++;
    return s;
  }

  /** Unindex, unlist and free a slot (the caller removes it from the deadline heap). */
  free(s: number): void {
    if ((this.fam[s] ?? 0) === 0) return;
    this.indexDelete(s);
    if (this.stage[s] === 1) this.listRemove(s);
    this.fam[s] = 0;
    this.next[s] = this.freeHead;
    this.freeHead = s;
    this.size--;
  }

  /** Move an attempt past stage 1: it leaves the eviction list. */
  advance(s: number): number {
    if (this.stage[s] === 1) this.listRemove(s);
    const st = (this.stage[s] ?? 0) + 1;
    this.stage[s] = st;
    return st;
  }

  /** Used slots of one door (for setDoor). */
  slotsOfDoor(door: number): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.hwm; s++) if (this.fam[s] !== 0 && this.door[s] === door) out.push(s);
    return out;
  }

  /** Canonical text of a slot's source address (core/ip.ts formatters). */
  srcText(s: number): string {
    const b = this.scratch;
    const words = this.fam[s] === 6 ? 4 : 1;
    for (let j = 0; j < words; j++) {
      const w = this.key[4 * s + j] ?? 0;
      b[4 * j] = w >>> 24; b[4 * j + 1] = (w >>> 16) & 0xff; b[4 * j + 2] = (w >>> 8) & 0xff; b[4 * j + 3] = w & 0xff;
    }
    return words === 4 ? formatV6(b) : formatV4(b);
  }

  /** Double the capacity (up to max). false when already at max. Slot numbers do not change. */
  grow(): boolean {
    if (this.capacity >= this.max) return false;
    const cap = Math.min(this.max, this.capacity * 2);
    const g = <T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(cap * per);
      b.set(a as never);
      return b;
    };
    this.fam = g(this.fam, (n) => new Uint8Array(n));
    this.door = g(this.door, (n) => new Uint32Array(n));
    this.stage = g(this.stage, (n) => new Uint32Array(n));
    this.key = g(this.key, (n) => new Uint32Array(n), 4);
    this.hash = g(this.hash, (n) => new Uint32Array(n));
    this.id = g(this.id, (n) => new Float64Array(n));
    this.deadline = g(this.deadline, (n) => new Float64Array(n));
    this.heapPos = g(this.heapPos, (n) => new Int32Array(n));
    this.prev = g(this.prev, (n) => new Int32Array(n));
    this.next = g(this.next, (n) => new Int32Array(n));
    this.capacity = cap;
    this.index = new Int32Array(pow2AtLeast(2 * cap)).fill(-1);
    this.mask = this.index.length - 1;
    for (let s = 0; s < this.hwm; s++) if (this.fam[s] !== 0) this.indexInsert(s);
    return true;
  }

  // ---------------------------------------------------------------- index (linear probing)

  private indexInsert(s: number): void {
    let i = (this.hash[s] ?? 0) & this.mask;
    while ((this.index[i] ?? -1) >= 0) i = (i + 1) & this.mask;
    this.index[i] = s;
  }

  private indexDelete(s: number): void {
    const idx = this.index, mask = this.mask;
    let i = (this.hash[s] ?? 0) & mask;
    for (let n = 0; idx[i] !== s; n++) {
      if (n > mask) return; // not indexed (cannot happen for a used slot)
      i = (i + 1) & mask;
    }
    // backward-shift deletion: pull later members of the run into the hole when their home
    // position does not lie cyclically in (hole, their position]
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const t = idx[j] ?? -1;
      if (t < 0) break;
      const home = (this.hash[t] ?? 0) & mask;
      const stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!stays) { idx[i] = t; i = j; }
    }
    idx[i] = -1;
  }

  // ---------------------------------------------------------------- stage-1 list (oldest first)

  private listAppend(s: number): void {
    this.prev[s] = this.tail;
    this.next[s] = -1;
    if (this.tail >= 0) this.next[this.tail] = s; else this.head = s;
    this.tail = s;
  }

  private listRemove(s: number): void {
    const p = this.prev[s] ?? -1, n = this.next[s] ?? -1;
    if (p >= 0) this.next[p] = n; else this.head = n;
    if (n >= 0) this.prev[n] = p; else this.tail = p;
    this.prev[s] = -1;
    this.next[s] = -1;
  }
}
