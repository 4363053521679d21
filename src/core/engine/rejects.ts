/**
 * What a rejected knock leaves behind (issue "audit that cannot be hidden"):
 *  - an authenticated reject (the key holder really sent it: revoked, expired, policy, wrong
 *    server, source mismatch, replay of their own request, ...) is always audited in full and
 *    logged at info level with the numbers the user can act on. Key holders are rate-limited by
 *    their key's buckets, so this cannot flood;
 *  - an unauthenticated reject (junk, forgeries, unknown keys, replays of sniffed packets) is
 *    audited under the audit log's cap and only COUNTED for the operational log: one summary
 *    line per interval, never one line per datagram. Pure.
 */
import type { Effect } from './effects.js';

export const REJECT_SUMMARY_INTERVAL_MS = 60_000;

export class RejectCounter {
  readonly #counts = new Map<string, number>();
  #since: number | undefined;

  /** Count one unauthenticated reject. */
  add(reason: string, now: number): void {
    this.#since ??= now;
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
  }

  /** When the next summary is due (undefined: nothing counted). */
  due(): number | undefined {
    return this.#since === undefined ? undefined : this.#since + REJECT_SUMMARY_INTERVAL_MS;
  }

  /** The summary line, if one is due at `now` (or `force`, at shutdown); resets the counters. */
  flush(now: number, force = false): Effect[] {
    const due = this.due();
    if (due === undefined || (!force && now < due)) return [];
    const byReason = Object.fromEntries([...this.#counts.entries()].sort((a, b) => b[1] - a[1]));
    const total = [...this.#counts.values()].reduce((a, b) => a + b, 0);
    this.#counts.clear();
    const since = this.#since as number;
    this.#since = undefined;
    return [{ kind: 'log', level: 'info', msg: 'unauthenticated knocks rejected', fields: { total, byReason, since, seconds: Math.round((now - since) / 1000) } }];
  }
}
