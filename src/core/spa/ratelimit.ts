/**
 * Token buckets for the signature-verification budget (PROTOCOL.md §5). Pure: time is passed
 * in. Bounded: a keyed set holds at most `maxEntries` buckets and evicts the oldest.
 */
export interface BucketSpec { readonly burst: number; readonly perSecond: number }

export class TokenBucket {
  #tokens: number;
  #last: number | undefined;
  readonly spec: BucketSpec;
  constructor(spec: BucketSpec) { this.spec = spec; this.#tokens = spec.burst; }

  /** Take one token if available. A clock that goes backwards refills nothing. */
  take(now: number): boolean {
    if (this.#last === undefined) this.#last = now;
    else if (now > this.#last) {
      this.#tokens = Math.min(this.spec.burst, this.#tokens + ((now - this.#last) * this.spec.perSecond) / 1000);
      this.#last = now;
    }
    if (this.#tokens >= 1) { this.#tokens -= 1; return true; }
    return false;
  }
  /** Non-consuming check (used to avoid draining the per-key bucket when the global one is empty). */
  peek(now: number): boolean {
    if (this.#last === undefined || now <= this.#last) return this.#tokens >= 1;
    return Math.min(this.spec.burst, this.#tokens + ((now - this.#last) * this.spec.perSecond) / 1000) >= 1;
  }
}

export class KeyedBuckets {
  readonly #map = new Map<string, TokenBucket>();
  readonly spec: BucketSpec;
  readonly maxEntries: number;
  constructor(spec: BucketSpec, maxEntries = 65536) { this.spec = spec; this.maxEntries = maxEntries; }

  get(key: string): TokenBucket {
    let b = this.#map.get(key);
    if (!b) {
      if (this.#map.size >= this.maxEntries) {
        const oldest = this.#map.keys().next();
        if (!oldest.done) this.#map.delete(oldest.value);
      }
      b = new TokenBucket(this.spec);
      this.#map.set(key, b);
    }
    return b;
  }
  get size(): number { return this.#map.size; }
}
