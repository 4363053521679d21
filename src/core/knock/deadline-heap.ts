/**
 * Indexed binary min-heap of attempt slots ordered by (deadline, id): the attempt that times out
 * first is at the top; equal deadlines leave in creation order, so timeout events come out in a
 * deterministic order. Slots are small integers (see attempt-table.ts); the heap stores them in
 * one Int32Array and keeps each slot's position in the table's `heapPos` so any slot can be
 * removed in O(log n). Pure, allocation-free except when the table grows.
 */
import type { AttemptTable } from './attempt-table.js';

export class DeadlineHeap {
  private readonly t: AttemptTable;
  private items: Int32Array;
  private n = 0;

  constructor(table: AttemptTable) {
    this.t = table;
    this.items = new Int32Array(table.capacity);
  }

  /** Number of slots in the heap. */
  get length(): number { return this.n; }

  get byteLength(): number { return this.items.byteLength; }

  /** The slot with the earliest deadline, or -1 when empty. */
  top(): number { return this.n === 0 ? -1 : (this.items[0] ?? -1); }

  /** Follow the table's capacity (called after the table grew). */
  grow(capacity: number): void {
    if (capacity <= this.items.length) return;
    const next = new Int32Array(capacity);
    next.set(this.items.subarray(0, this.n));
    this.items = next;
  }

  push(slot: number): void {
    this.place(this.n++, slot);
    this.siftUp(this.n - 1);
  }

  /** Remove `slot` (which must be in the heap). */
  remove(slot: number): void {
    const i = this.t.heapPos[slot] ?? -1;
    if (i < 0 || i >= this.n) return;
    this.t.heapPos[slot] = -1;
    const last = this.items[--this.n] ?? -1;
    if (i === this.n) return; // removed the last position
    this.place(i, last);
    this.siftUp(i);
    this.siftDown(this.t.heapPos[last] ?? i);
  }

  private less(a: number, b: number): boolean {
    const da = this.t.deadline[a] ?? 0, db = this.t.deadline[b] ?? 0;
    return da < db || (da === db && (this.t.id[a] ?? 0) < (this.t.id[b] ?? 0));
  }

  private place(i: number, slot: number): void {
    this.items[i] = slot;
    this.t.heapPos[slot] = i;
  }

  private siftUp(i: number): void {
    const slot = this.items[i] ?? -1;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const parent = this.items[pi] ?? -1;
      if (!this.less(slot, parent)) break;
      this.place(i, parent);
      i = pi;
    }
    this.place(i, slot);
  }

  private siftDown(i: number): void {
    const slot = this.items[i] ?? -1;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.n) break;
      let c = l;
      let child = this.items[l] ?? -1;
      if (l + 1 < this.n) {
        const rc = this.items[l + 1] ?? -1;
        if (this.less(rc, child)) { c = l + 1; child = rc; }
      }
      if (!this.less(child, slot)) break;
      this.place(i, child);
      i = c;
    }
    this.place(i, slot);
  }
}
