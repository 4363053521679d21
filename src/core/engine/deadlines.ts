/**
 * A min-heap of (time, key) deadlines with lazy invalidation: setting a key's deadline again
 * (or clearing it) makes its older entries stale; stale entries are dropped when they reach the
 * top. O(log n) per change, O(1) to peek. Pure; bounded by the number of changes between pops
 * (compacted when stale entries dominate).
 */
interface Entry { at: number; key: string; gen: number }

export class Deadlines {
  readonly #heap: Entry[] = [];
  readonly #gen = new Map<string, number>();   // live keys → generation of their current entry
  #seq = 0;

  /** Sets (replaces) the deadline of `key`; undefined removes it. */
  set(key: string, at: number | undefined): void {
    if (at === undefined) { this.#gen.delete(key); this.#maybeCompact(); return; }
    const gen = ++this.#seq;
    this.#gen.set(key, gen);
    this.#push({ at, key, gen });
    this.#maybeCompact();
  }

  /** The earliest live deadline. */
  peek(): number | undefined {
    this.#dropStale();
    return this.#heap[0]?.at;
  }

  /** Removes and returns the keys whose deadline is <= now, earliest first. */
  popDue(now: number): string[] {
    const out: string[] = [];
    for (;;) {
      this.#dropStale();
      const top = this.#heap[0];
      if (!top || top.at > now) return out;
      this.#pop();
      this.#gen.delete(top.key);
      out.push(top.key);
    }
  }

  get size(): number { return this.#gen.size; }

  #live(e: Entry): boolean { return this.#gen.get(e.key) === e.gen; }

  #dropStale(): void {
    while (this.#heap.length > 0 && !this.#live(this.#heap[0] as Entry)) this.#pop();
  }

  #maybeCompact(): void {
    if (this.#heap.length <= 64 || this.#heap.length <= 4 * this.#gen.size) return;
    const live = this.#heap.filter((e) => this.#live(e));
    this.#heap.length = 0;
    for (const e of live) this.#push(e);
  }

  #less(a: Entry, b: Entry): boolean { return a.at < b.at || (a.at === b.at && a.gen < b.gen); }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as Entry, h[p] as Entry)) break;
      [h[i], h[p]] = [h[p] as Entry, h[i] as Entry];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (h.length === 0 || last === undefined) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l] as Entry, h[m] as Entry)) m = l;
      if (r < h.length && this.#less(h[r] as Entry, h[m] as Entry)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
      i = m;
    }
  }
}
