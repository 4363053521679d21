/**
 * Replay records (PROTOCOL.md §4). The id is key_id || timestamp || nonce (32 bytes) of an
 * accepted request; it is kept until `expiresAt` (at least timestamp + the largest SPAWindow
 * ever in force), after which the request is stale under every window the server will use.
 * Bounded twice: at most `maxEntries` records (full → 'full'), and at most `perKeyMax` for one
 * key id (→ 'key-full'), so one key holder cannot make the store refuse everybody else.
 * The verifier fails closed on either ('replay-full'). Pure: time is passed in.
 *
 * WindowState is the persisted freshness history (io/replay-store.ts keeps it in StateDir):
 * the largest window ever in force and a "not before" floor. Raising the window at time T from
 * a largest-ever M to W > M sets the floor to T - M: every request signed since then that was
 * accepted still has its record (kept until timestamp + M >= T), and from T on records are kept
 * until timestamp + W; anything older, whose record may be gone, is stale. A first start (no
 * history) sets the floor to the start time.
 */
export type ReplayAdd = 'added' | 'full' | 'key-full';

export interface ReplayLog {
  has(id: Uint8Array): boolean;
  /** Record an id. Persistent logs are durable on return of 'added'. */
  add(id: Uint8Array, expiresAt: number): ReplayAdd;
  /** Drop records whose expiresAt < now. Optional; the verifier calls it when `add` says full. */
  prune?(now: number): void;
}

export const DEFAULT_MAX_REPLAY = 100_000;
/** One key may hold at most this share of the store (1/16: 6,250 of the default 100,000). */
export const PER_KEY_SHARE = 16;

export interface WindowState { readonly maxWindowMs: number; readonly floorMs: number }

/** The window history after `windowMs` comes into force at `now` (a start or a reload). */
export function applyWindow(prev: WindowState | undefined, windowMs: number, now: number): WindowState {
  if (!prev) return { maxWindowMs: windowMs, floorMs: now };
  if (windowMs <= prev.maxWindowMs) return prev;
  return { maxWindowMs: windowMs, floorMs: Math.max(prev.floorMs, now - prev.maxWindowMs) };
}

const hex = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');

/** The request timestamp (ms) inside a hex replay id (bytes 8..16 of the id). */
export function idTimestamp(hexId: string): number {
  const v = Number.parseInt(hexId.slice(16, 24), 16) * 4294967296 + Number.parseInt(hexId.slice(24, 32), 16);
  return Number.isFinite(v) ? Math.min(v, Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER;
}

export class ReplaySet implements ReplayLog {
  readonly #map = new Map<string, number>();
  readonly #perKey = new Map<string, number>();
  readonly maxEntries: number;
  readonly perKeyMax: number;
  constructor(maxEntries = DEFAULT_MAX_REPLAY, perKeyMax = Math.max(1, Math.floor(maxEntries / PER_KEY_SHARE))) {
    this.maxEntries = maxEntries;
    this.perKeyMax = perKeyMax;
  }

  has(id: Uint8Array): boolean { return this.#map.has(hex(id)); }

  /** Would `add` accept this id now (without adding it)? */
  check(hexId: string): ReplayAdd {
    if (this.#map.has(hexId)) return 'added';
    if (this.#map.size >= this.maxEntries) return 'full';
    if ((this.#perKey.get(hexId.slice(0, 16)) ?? 0) >= this.perKeyMax) return 'key-full';
    return 'added';
  }

  add(id: Uint8Array, expiresAt: number): ReplayAdd {
    const k = hex(id);
    const c = this.check(k);
    if (c === 'added') this.restore(k, expiresAt);
    return c;
  }

  /** Restore a record (hex id) from persistent storage, ignoring the bounds. */
  restore(hexId: string, expiresAt: number): void {
    const prev = this.#map.get(hexId);
    if (prev === undefined) {
      const key = hexId.slice(0, 16);
      this.#perKey.set(key, (this.#perKey.get(key) ?? 0) + 1);
    }
    this.#map.set(hexId, Math.max(expiresAt, prev ?? -Infinity));
  }

  /** Keep every record at least until its request's timestamp + `windowMs` (a raised window). */
  extendTo(windowMs: number): void {
    for (const [k, exp] of this.#map) {
      const want = idTimestamp(k) + windowMs;
      if (want > exp) this.#map.set(k, want);
    }
  }

  prune(now: number): number {
    let n = 0;
    for (const [k, exp] of this.#map) {
      if (exp >= now) continue;
      this.#map.delete(k);
      const key = k.slice(0, 16), c = (this.#perKey.get(key) ?? 1) - 1;
      if (c > 0) this.#perKey.set(key, c); else this.#perKey.delete(key);
      n++;
    }
    return n;
  }

  get size(): number { return this.#map.size; }
  /** Records held for one key id (hex16). */
  countFor(keyId: string): number { return this.#perKey.get(keyId) ?? 0; }
  /** Live entries as [hex id, expiresAt] (for compaction). */
  entries(): IterableIterator<[string, number]> { return this.#map.entries(); }
}
