/**
 * Waiting commands in strict priority lanes (core/engine/effects.ts Lane): `close` first, then
 * `auth` (SPA), then `classic`. The close lane is unbounded (it holds at most one stop per
 * lease, and leases are bounded) and never refused; the open lanes are bounded. Opens may use
 * all running places but `reserve`, which only stop commands may use, so a stop never waits
 * behind opens. Pure.
 */
import { LANES, type Lane } from './effects.js';

export interface LaneLimits {
  /** Commands running at once. */
  readonly maxRunning: number;
  /** Running places only the close lane may use. */
  readonly reserve: number;
  /** Waiting commands per open lane (auth, classic); beyond it they are refused. */
  readonly maxQueued: number;
}

export class LaneQueue<T> {
  readonly #q: Record<Lane, T[]> = { close: [], auth: [], classic: [] };
  readonly #limits: LaneLimits;

  constructor(limits: LaneLimits) { this.#limits = limits; }

  /** May a command of `lane` start now, with `running` commands running? */
  canStart(lane: Lane, running: number): boolean {
    const cap = lane === 'close' ? this.#limits.maxRunning : this.#limits.maxRunning - this.#limits.reserve;
    return running < cap;
  }

  /** Queue `item`; false when its lane is full (never for close). */
  push(lane: Lane, item: T): boolean {
    const q = this.#q[lane];
    if (lane !== 'close' && q.length >= this.#limits.maxQueued) return false;
    q.push(item);
    return true;
  }

  /** The next item that may start with `running` commands running, highest lane first. */
  next(running: number): T | undefined {
    for (const lane of LANES) {
      if (this.#q[lane].length > 0 && this.canStart(lane, running)) return this.#q[lane].shift();
    }
    return undefined;
  }

  /** Everything still waiting, highest lane first (shutdown). */
  drain(): T[] { return LANES.flatMap((l) => this.#q[l].splice(0)); }

  size(lane?: Lane): number { return lane ? this.#q[lane].length : LANES.reduce((n, l) => n + this.#q[l].length, 0); }
}
