/**
 * Classic knock events (core/knock/matcher.ts) → effects: knockd's log lines, audit records
 * for failed attempts, and for a completed sequence a grant through the door machine in the
 * `classic` lane, under the door's open-rate budget. Pure.
 */
import type { Door } from '../config/types.js';
import { parseIp } from '../ip.js';
import type { KnockEvent } from '../knock/matcher.js';
import type { Effect } from './effects.js';
import type { GrantRequest } from './slots.js';

export interface KnockContext {
  /** knockd's "who": the address, with its name when -l found one. */
  who(src: string): string;
  /** -l: look up names of new knockers. */
  readonly lookup: boolean;
  /** knockd's per-hit lines (Stage N, sequence timeout) are rate-limited: anyone can cause them. */
  progressLine(line: string): Effect[];
  /** The door's open-rate budget (taken only when a start command would run). */
  admit(doorIndex: number): boolean;
  /** A used one-time sequence: disable the door until the file gave the next one. */
  consumed(doorIndex: number, door: Door): Effect[];
  grant(req: GrantRequest): Effect[];
}

export function knockEffects(events: readonly KnockEvent[], c: KnockContext): Effect[] {
  const fx: Effect[] = [];
  for (const ev of events) {
    const who = c.who(ev.src);
    switch (ev.kind) {
      case 'stage':
        if (ev.stage === 1 && c.lookup) fx.push({ kind: 'lookup', src: ev.src });
        fx.push(...c.progressLine(`${who}: ${ev.door.name}: Stage ${ev.stage}`));
        break;
      case 'timeout':
        fx.push(...c.progressLine(`${who}: ${ev.door.name}: sequence timeout (stage ${ev.stage})`));
        fx.push({ kind: 'audit', event: { event: 'knock.reject', reason: 'sequence-timeout', src: ev.src, door: ev.door.name, principal: { kind: 'sequence' } } });
        break;
      case 'invalid':
        fx.push({ kind: 'log', level: 'debug', msg: 'wrong hit: attempt invalidated', fields: { src: ev.src, door: ev.door.name, stage: ev.stage } });
        fx.push({ kind: 'audit', event: { event: 'knock.reject', reason: 'sequence-invalid', src: ev.src, door: ev.door.name, principal: { kind: 'sequence' } } });
        break;
      case 'evicted':
      case 'refused':
        fx.push({ kind: 'log', level: 'debug', msg: 'attempt table full', fields: { src: ev.src, door: ev.door.name, kind: ev.kind } });
        break;
      case 'open': {
        fx.push({ kind: 'klog', line: `${who}: ${ev.door.name}: OPEN SESAME` });
        const ip = parseIp(ev.src);
        if (ip) {
          const i = ev.doorIndex;
          fx.push(...c.grant({
            doorIndex: i, door: ev.door, ip, src: ev.src, principal: { kind: 'sequence' },
            grantedTtl: ev.door.cmdTimeout, lane: 'classic', admit: () => c.admit(i),
          }));
        }
        if (ev.door.oneTimeSequences) fx.push(...c.consumed(ev.doorIndex, ev.door));
        break;
      }
    }
  }
  return fx;
}
