/**
 * Open door leases: which (door, address) pairs are open and until when.
 * Pure and bounded: time comes in as arguments, nothing is scheduled here.
 */
import type { Principal } from '../audit/events.js';

export interface Lease {
  readonly id: string;
  readonly doorIndex: number;
  readonly door: string;          // section name
  readonly ip: string;            // canonical address opened
  readonly family: 4 | 6;
  readonly principal: Principal;
  readonly src: string;           // packet source that asked
  readonly openedAt: number;      // ms epoch
  readonly expiresAt: number;     // ms epoch
  readonly stopCommand: string;   // EXPANDED stop command ('' = run nothing)
  readonly grantedTtl: number;    // seconds
}

export const DEFAULT_MAX_LEASES = 65536;

const keyOf = (door: string, ip: string): string => `${door}\u0000${ip}`;

export class LeaseTable {
  readonly #max: number;
  readonly #byId = new Map<string, Lease>();
  readonly #byKey = new Map<string, Lease[]>();

  constructor(max: number = DEFAULT_MAX_LEASES) {
    this.#max = max;
  }

  get size(): number { return this.#byId.size; }
  get max(): number { return this.#max; }

  /** The open lease for (door, ip); if doorIndex is given it must match too. */
  find(door: string, ip: string, doorIndex?: number): Lease | undefined {
    const list = this.#byKey.get(keyOf(door, ip));
    if (!list) return undefined;
    return doorIndex === undefined ? list[0] : list.find((l) => l.doorIndex === doorIndex);
  }

  get(id: string): Lease | undefined { return this.#byId.get(id); }

  /** false when the table is full, the id is taken, or (door, doorIndex, ip) already has a lease. */
  add(l: Lease): boolean {
    if (this.#byId.size >= this.#max || this.#byId.has(l.id)) return false;
    if (this.find(l.door, l.ip, l.doorIndex)) return false;
    this.#byId.set(l.id, l);
    const k = keyOf(l.door, l.ip);
    const list = this.#byKey.get(k);
    if (list) list.push(l); else this.#byKey.set(k, [l]);
    return true;
  }

  /** Replace expiresAt; returns the updated lease (undefined if unknown). */
  extend(id: string, expiresAt: number): Lease | undefined {
    const old = this.#byId.get(id);
    if (!old) return undefined;
    const l: Lease = { ...old, expiresAt };
    this.#byId.set(id, l);
    const list = this.#byKey.get(keyOf(l.door, l.ip));
    if (list) {
      const i = list.findIndex((x) => x.id === id);
      if (i >= 0) list[i] = l;
    }
    return l;
  }

  remove(id: string): Lease | undefined {
    const l = this.#byId.get(id);
    if (!l) return undefined;
    this.#byId.delete(id);
    const k = keyOf(l.door, l.ip);
    const list = this.#byKey.get(k);
    if (list) {
      const rest = list.filter((x) => x.id !== id);
      if (rest.length) this.#byKey.set(k, rest); else this.#byKey.delete(k);
    }
    return l;
  }

  /** Leases whose expiresAt <= now, earliest first (not removed). */
  due(now: number): Lease[] {
    const out: Lease[] = [];
    for (const l of this.#byId.values()) if (l.expiresAt <= now) out.push(l);
    return out.sort((a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The earliest expiresAt, undefined when empty. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const l of this.#byId.values()) if (min === undefined || l.expiresAt < min) min = l.expiresAt;
    return min;
  }

  all(): Lease[] { return [...this.#byId.values()]; }
}
