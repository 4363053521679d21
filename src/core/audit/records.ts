/**
 * One line of the audit log (docs/ARCHITECTURE.md "Audit record schema") read back tolerantly:
 * a line that is not a JSON object with a numeric `time` and a string `event` is undefined,
 * unknown fields are ignored, every kept field is type-checked. Pure.
 */
import type { Principal } from './events.js';
import { keyChangeOf, type KeyChange } from './key-changes.js';

/** A line longer than this is counted as bad without being parsed (bounds memory per line). */
export const MAX_LINE = 64 * 1024;

export type AuditPrincipal = Principal;

/** The fields of one audit record the reader understands. Everything else is ignored. */
export interface AuditRecord {
  readonly time: number;
  readonly event: string;
  readonly door?: string;
  readonly src?: string;
  readonly principal?: AuditPrincipal;
  readonly ip?: string;
  readonly lease?: string;
  readonly ports?: string;
  readonly requestedTtl?: number;
  readonly grantedTtl?: number;
  readonly expiresAt?: number;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly openedAt?: number;
  readonly command?: string;
  readonly signal?: string;
  readonly timedOut?: boolean;
  readonly key?: string;
  readonly keyId?: string;
  /** knock.reject.suppressed: how many reject records the writer's rate cap left out. */
  readonly count?: number;
  /** door.open: the lease whose owed stop this one took over (its session ends here). */
  readonly supersedes?: string;
  /** key.* records (knockd keys): who changed which key. */
  readonly keyChange?: KeyChange;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function principalOf(v: unknown): AuditPrincipal | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Record<string, unknown>;
  if (p['kind'] === 'sequence') return { kind: 'sequence' };
  if (p['kind'] === 'spa') {
    const key = str(p['key']), keyId = str(p['keyId']);
    if (key === undefined && keyId === undefined) return undefined;
    return { kind: 'spa', key: key ?? '', keyId: keyId ?? '' };
  }
  return undefined;
}

/**
 * One line → a record, or undefined when the line is not a usable audit record.
 * Empty lines are not records but also not bad (see AuditReader.push).
 */
export function parseAuditLine(line: string): AuditRecord | undefined {
  if (line.length > MAX_LINE) return undefined;
  let v: unknown;
  try { v = JSON.parse(line); } catch { return undefined; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const time = num(o['time']);
  const event = str(o['event']);
  if (time === undefined || event === undefined) return undefined;
  // lease ids are opaque; accept a number too and keep them as text
  const leaseRaw = o['lease'];
  const lease = typeof leaseRaw === 'string' ? leaseRaw : typeof leaseRaw === 'number' ? String(leaseRaw) : undefined;
  const rec: Record<string, unknown> = { time, event };
  const put = (k: string, val: unknown) => { if (val !== undefined) rec[k] = val; };
  put('door', str(o['door']));
  put('src', str(o['src']));
  put('principal', principalOf(o['principal']));
  put('ip', str(o['ip']));
  put('lease', lease);
  put('ports', str(o['ports']));
  put('requestedTtl', num(o['requestedTtl']));
  put('grantedTtl', num(o['grantedTtl']));
  put('expiresAt', num(o['expiresAt']));
  put('exitCode', num(o['exitCode']));
  put('reason', str(o['reason']));
  put('openedAt', num(o['openedAt']));
  put('command', str(o['command']));
  put('signal', str(o['signal']));
  put('timedOut', typeof o['timedOut'] === 'boolean' ? o['timedOut'] : undefined);
  put('key', str(o['key']));
  put('keyId', str(o['keyId']));
  put('count', num(o['count']));
  put('supersedes', str(o['supersedes']));
  put('keyChange', keyChangeOf(o, time, event));
  return rec as unknown as AuditRecord;
}

/**
 * How a session ended (or did not):
 * - `open`    no close yet and `expiresAt` is in the future
 * - `overdue` no close recorded although `expiresAt` passed (daemon down? log cut?)
 * - `closed`  door.close seen (`closeReason` says why)
 * - `once`    door.open without a lease: a start command with no stop command (knockd semantics)
 * - `failed`  the start command failed; the door never opened
 */
