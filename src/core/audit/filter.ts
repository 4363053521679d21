/**
 * Filters of `knockd audit` (--since/--until/--key/--door/--ip) over sessions and rejects. Pure.
 */
import { parseCidr, parseIp, type Cidr } from '../ip.js';
import { AppError } from '../errors.js';
import { parseWhen, TIME_SYNTAX } from '../time-text.js';
import type { AuditReport, Reject, Session } from './report.js';

// Filters

export interface AuditFilter {
  /** Keep sessions that were open at some moment in [since, until); rejects with time in it. */
  readonly since?: number;
  readonly until?: number;
  /** Key name or key id (hex, case-insensitive). */
  readonly key?: string;
  readonly door?: string;
  /** Address or CIDR; matches the opened address or the packet source. */
  readonly ip?: Cidr;
}

function addrIn(c: Cidr, text: string | undefined): boolean {
  if (text === undefined) return false;
  const ip = parseIp(text);
  if (!ip) return false;
  if (ip.family !== c.family) return false;
  // compare the prefix bit by bit (parseCidr guarantees zero host bits)
  for (let i = 0; i < ip.bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, c.prefix - 8 * i));
    if (bits === 0) break;
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((ip.bytes[i] ?? 0) & mask) !== ((c.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

function keyMatches(want: string, key: string | undefined, keyId: string | undefined): boolean {
  if (key !== undefined && key === want) return true;
  if (keyId !== undefined && keyId !== '' && keyId.toLowerCase() === want.toLowerCase()) return true;
  return false;
}

export function sessionMatches(s: Session, f: AuditFilter, now: number): boolean {
  if (f.door !== undefined && s.door !== f.door) return false;
  if (f.key !== undefined) {
    if (s.principal?.kind !== 'spa' || !keyMatches(f.key, s.principal.key, s.principal.keyId)) return false;
  }
  if (f.ip !== undefined && !addrIn(f.ip, s.ip) && !addrIn(f.ip, s.src)) return false;
  // overlap of [start, end] with [since, until)
  const start = s.openedAt ?? s.closedAt;
  const end = s.closedAt ?? (s.status === 'open' || s.status === 'overdue' ? now : start);
  if (f.since !== undefined && (end === undefined || end < f.since)) return false;
  if (f.until !== undefined && (start === undefined || start >= f.until)) return false;
  return true;
}

export function rejectMatches(r: Reject, f: AuditFilter): boolean {
  if (f.door !== undefined && r.door !== f.door) return false;
  if (f.key !== undefined && !keyMatches(f.key, r.key, r.keyId)) return false;
  if (f.ip !== undefined && !addrIn(f.ip, r.src)) return false;
  if (f.since !== undefined && r.time < f.since) return false;
  if (f.until !== undefined && r.time >= f.until) return false;
  return true;
}

export function applyFilter(rep: AuditReport, f: AuditFilter, now: number): AuditReport {
  return {
    ...rep,
    sessions: rep.sessions.filter((s) => sessionMatches(s, f, now)),
    rejects: rep.rejects.filter((r) => rejectMatches(r, f)),
    keyChanges: f.door !== undefined || f.ip !== undefined ? [] : rep.keyChanges.filter((c) =>
      (f.key === undefined || keyMatches(f.key, c.key, c.keyId)) && (f.since === undefined || c.time >= f.since) && (f.until === undefined || c.time < f.until)),
  };
}

// ---------------------------------------------------------------------------------------
// Time arguments (--since / --until): the shared syntax of core/time-text.ts

/**
 * `2h`, `30m`, `7d`, `1w`, `45s` (that long before `now`), `now`, or an ISO 8601 date/time
 * (UTC without an offset). Throws AppError(ERR_USAGE) naming the option and the value.
 */
export function parseTimeArg(text: string, now: number, option: string): number {
  const t = parseWhen(text, now, 'past');
  if (t === undefined) throw new AppError('ERR_USAGE', `${option} ${JSON.stringify(text)}: expected ${TIME_SYNTAX}`);
  return t;
}

export function parseIpFilter(text: string): Cidr {
  const c = parseCidr(text.trim());
  if (!c) throw new AppError('ERR_USAGE', `--ip ${JSON.stringify(text)}: expected an IPv4/IPv6 address or CIDR (host bits zero), e.g. 192.0.2.7 or 2001:db8::/32`);
  return c;
}
