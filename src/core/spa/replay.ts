/**
 * Replay records (PROTOCOL.md §4). The id is key_id || timestamp || nonce (32 bytes) of an
 * accepted request; it is kept until `expiresAt` (= timestamp + SPAWindow), after which the
 * request would be rejected as stale anyway. Bounded: when full, `add` returns false and
 * the verifier fails closed ('replay-full'). Pure: time is passed in.
 */
export interface ReplayLog {
  has(id: Uint8Array): boolean;
  /** Record an id; false = the log is full (nothing recorded). Persistent logs are durable on return. */
  add(id: Uint8Array, expiresAt: number): boolean;
  /** Drop records whose expiresAt < now. Optional; the verifier calls it when `add` says full. */
  prune?(now: number): void;
}

export const DEFAULT_MAX_REPLAY = 100_000;

const hex = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');

export class ReplaySet implements ReplayLog {
  readonly #map = new Map<string, number>();
  readonly maxEntries: number;
  constructor(maxEntries = DEFAULT_MAX_REPLAY) { this.maxEntries = maxEntries; }

  has(id: Uint8Array): boolean { return this.#map.has(hex(id)); }

  add(id: Uint8Array, expiresAt: number): boolean {
    const k = hex(id);
    if (!this.#map.has(k) && this.#map.size >= this.maxEntries) return false;
    this.#map.set(k, Math.max(expiresAt, this.#map.get(k) ?? -Infinity));
    return true;
  }

  /** Restore a record from persistent storage (hex id), ignoring the bound. */
  restore(hexId: string, expiresAt: number): void {
    this.#map.set(hexId, Math.max(expiresAt, this.#map.get(hexId) ?? -Infinity));
  }

  prune(now: number): number {
    let n = 0;
    for (const [k, exp] of this.#map) if (exp < now) { this.#map.delete(k); n++; }
    return n;
  }

  get size(): number { return this.#map.size; }
  /** Live entries as [hex id, expiresAt] (for compaction). */
  entries(): IterableIterator<[string, number]> { return this.#map.entries(); }
}
