/**
 * Reading side of the audit log: `knockd audit`.
 *
 * Input is the JSON-lines audit log described in docs/ARCHITECTURE.md (one record per
 * decision, written by io/audit-log.ts). The log is evidence, so the reader is tolerant:
 * a line that is not a JSON object with a numeric `time` and a string `event` is counted
 * and skipped, never thrown on. Unknown events and unknown fields are ignored.
 *
 * Records are joined by lease id into sessions (door.open → door.extend* → door.close),
 * filtered, and rendered as a table with a fixed set of columns. Pure: time arrives as
 * `now`, nothing here reads files or clocks.
 */
import { parseCidr, parseIp, type Cidr } from '../ip.js';
import { AppError } from '../errors.js';
import type { Principal } from './events.js';
import { parseWhen, TIME_SYNTAX } from '../time-text.js';
import { printable } from '../text.js';
import { keyChangeOf, renderKeyChanges, type KeyChange } from './key-changes.js';

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
export type SessionStatus = 'open' | 'overdue' | 'closed' | 'once' | 'failed';

export interface Session {
  readonly lease?: string;
  readonly door: string;
  readonly principal?: AuditPrincipal;
  /** Source address of the knock packet(s). */
  readonly src?: string;
  /** Address the door was opened for (differs from src for SPA requests that name another address). */
  readonly ip?: string;
  /** undefined when the log holds no door.open for this lease and the close did not say. */
  readonly openedAt?: number;
  readonly expiresAt?: number;
  readonly closedAt?: number;
  readonly closeReason?: string;
  readonly closeExitCode?: number;
  readonly grantedTtl?: number;
  readonly requestedTtl?: number;
  readonly extensions: number;
  readonly rearms: number;
  readonly stopFailures: number;
  /** Exit code of the failed start command (status `failed`). */
  readonly exitCode?: number;
  readonly status: SessionStatus;
  /** Milliseconds the door was (or has so far been) open; undefined when unknown. */
  readonly durationMs?: number;
}

export interface Reject {
  readonly time: number;
  readonly door?: string;
  readonly src?: string;
  readonly reason: string;
  readonly key?: string;
  readonly keyId?: string;
}

interface MutableSession {
  lease?: string; door: string; principal?: AuditPrincipal; src?: string; ip?: string;
  openedAt?: number; expiresAt?: number; closedAt?: number; closeReason?: string; closeExitCode?: number;
  grantedTtl?: number; requestedTtl?: number; extensions: number; rearms: number; stopFailures: number;
  exitCode?: number; kind: 'lease' | 'once' | 'failed'; firstSeen: number;
}

export interface AuditReport {
  readonly sessions: readonly Session[];
  readonly rejects: readonly Reject[];
  /** Records read (usable lines). */
  readonly records: number;
  /** Lines that were not audit records (bad JSON, missing time/event, too long). */
  readonly badLines: number;
  /** 1-based numbers of the first few bad lines, for the operator. */
  readonly firstBadLines: readonly number[];
  /** Reject records not in the log because the writer capped them (knock.reject.suppressed), plus any this reader dropped. */
  readonly suppressedRejects: number;
  /** key.* records, in file order (bounded like rejects). */
  readonly keyChanges: readonly KeyChange[];
}

/** Bound on remembered reject records so a flood in the log cannot exhaust memory. */
export const MAX_REJECTS = 100_000;

/**
 * Incremental reader: push lines in file order, then `report(now)`.
 * Memory grows with the number of sessions (one per door opening), not with the log size.
 */
export class AuditReader {
  private readonly byLease = new Map<string, MutableSession>();
  private readonly others: MutableSession[] = [];
  private readonly rejectList: Reject[] = [];
  private readonly keyChangeList: KeyChange[] = [];
  private rejectsDropped = 0;
  private suppressed = 0;
  private lineNo = 0;
  private recordCount = 0;
  private bad = 0;
  private readonly badSample: number[] = [];

  /** Feed one line (without its newline). Never throws. */
  push(line: string): void {
    this.lineNo++;
    if (line.trim() === '') return;
    const r = parseAuditLine(line);
    if (!r) {
      this.bad++;
      if (this.badSample.length < 5) this.badSample.push(this.lineNo);
      return;
    }
    this.recordCount++;
    this.add(r);
  }

  /** Feed a whole text (e.g. a file's content). */
  pushText(text: string): void {
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      let line = text.slice(start, end);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.push(line);
      start = end + 1;
    }
  }

  private session(r: AuditRecord, lease: string): MutableSession {
    let s = this.byLease.get(lease);
    if (!s) {
      s = { lease, door: r.door ?? '', extensions: 0, rearms: 0, stopFailures: 0, kind: 'lease', firstSeen: r.time };
      this.byLease.set(lease, s);
    }
    // fill what is still unknown from any record of the lease
    if (!s.door && r.door) s.door = r.door;
    if (!s.principal && r.principal) s.principal = r.principal;
    if (s.src === undefined && r.src !== undefined) s.src = r.src;
    if (s.ip === undefined && r.ip !== undefined) s.ip = r.ip;
    return s;
  }

  private add(r: AuditRecord): void {
    switch (r.event) {
      case 'door.open': {
        if (r.lease === undefined) {
          this.others.push({
            door: r.door ?? '', principal: r.principal, src: r.src, ip: r.ip, openedAt: r.time,
            grantedTtl: r.grantedTtl, requestedTtl: r.requestedTtl, exitCode: r.exitCode,
            extensions: 0, rearms: 0, stopFailures: 0, kind: 'once', firstSeen: r.time,
          });
          return;
        }
        const s = this.session(r, r.lease);
        s.openedAt = r.time;
        if (r.principal) s.principal = r.principal;
        if (r.src !== undefined) s.src = r.src;
        if (r.ip !== undefined) s.ip = r.ip;
        if (r.expiresAt !== undefined) s.expiresAt = r.expiresAt;
        if (r.grantedTtl !== undefined) s.grantedTtl = r.grantedTtl;
        if (r.requestedTtl !== undefined) s.requestedTtl = r.requestedTtl;
        return;
      }
      case 'door.extend': {
        if (r.lease === undefined) return;
        const s = this.session(r, r.lease);
        s.extensions++;
        if (r.expiresAt !== undefined) s.expiresAt = r.expiresAt;
        if (r.grantedTtl !== undefined) s.grantedTtl = r.grantedTtl;
        return;
      }
      case 'door.rearm': {
        if (r.lease === undefined) return;
        const s = this.session(r, r.lease);
        s.rearms++;
        if (r.expiresAt !== undefined) s.expiresAt = r.expiresAt;
        return;
      }
      case 'door.close': {
        if (r.lease === undefined) return;
        const s = this.session(r, r.lease);
        s.closedAt = r.time;
        if (r.reason !== undefined) s.closeReason = r.reason;
        if (r.exitCode !== undefined) s.closeExitCode = r.exitCode;
        if (s.openedAt === undefined && r.openedAt !== undefined) s.openedAt = r.openedAt;
        return;
      }
      case 'command.fail': {
        if (r.command === 'stop' && r.lease !== undefined) {
          this.session(r, r.lease).stopFailures++;
          return;
        }
        if (r.command === 'start') {
          // a failed start never opened the door; if a lease record exists for it, drop it
          if (r.lease !== undefined) {
            const existing = this.byLease.get(r.lease);
            if (existing && existing.openedAt === undefined) this.byLease.delete(r.lease);
            if (existing && existing.openedAt !== undefined) return; // odd ordering: keep the open
          }
          this.others.push({
            lease: r.lease, door: r.door ?? '', principal: r.principal, src: r.src, ip: r.ip, openedAt: r.time,
            exitCode: r.exitCode, extensions: 0, rearms: 0, stopFailures: 0, kind: 'failed', firstSeen: r.time,
          });
        }
        return;
      }
      case 'knock.reject': {
        if (this.rejectList.length >= MAX_REJECTS) { this.rejectsDropped++; return; }
        this.rejectList.push({ time: r.time, door: r.door, src: r.src, reason: r.reason ?? 'unknown', key: r.key, keyId: r.keyId });
        return;
      }
      case 'knock.reject.suppressed':
        this.suppressed += Math.max(0, Math.floor(r.count ?? 0));
        return;
      default:
        if (r.keyChange && this.keyChangeList.length < MAX_REJECTS) this.keyChangeList.push(r.keyChange);
        return; // daemon.start/stop and future events: not part of the session view
    }
  }

  report(now: number): AuditReport {
    const all = [...this.byLease.values(), ...this.others];
    const sessions = all.map((m) => finish(m, now));
    sessions.sort((a, b) => (a.openedAt ?? a.closedAt ?? 0) - (b.openedAt ?? b.closedAt ?? 0));
    return {
      sessions,
      rejects: this.rejectList.slice(),
      records: this.recordCount,
      badLines: this.bad,
      firstBadLines: this.badSample.slice(),
      suppressedRejects: this.suppressed + this.rejectsDropped,
      keyChanges: this.keyChangeList.slice(),
    };
  }

}

function finish(m: MutableSession, now: number): Session {
  let status: SessionStatus;
  if (m.kind === 'once') status = 'once';
  else if (m.kind === 'failed') status = 'failed';
  else if (m.closedAt !== undefined) status = 'closed';
  else if (m.expiresAt !== undefined && m.expiresAt <= now) status = 'overdue';
  else status = 'open';
  let durationMs: number | undefined;
  if (m.openedAt !== undefined) {
    if (status === 'closed' && m.closedAt !== undefined) durationMs = Math.max(0, m.closedAt - m.openedAt);
    else if (status === 'open' || status === 'overdue') durationMs = Math.max(0, now - m.openedAt);
  }
  const out: Record<string, unknown> = {
    door: m.door, extensions: m.extensions, rearms: m.rearms, stopFailures: m.stopFailures, status,
  };
  const put = (k: string, v: unknown) => { if (v !== undefined) out[k] = v; };
  put('lease', m.lease); put('principal', m.principal); put('src', m.src); put('ip', m.ip);
  put('openedAt', m.openedAt); put('expiresAt', m.expiresAt); put('closedAt', m.closedAt);
  put('closeReason', m.closeReason); put('closeExitCode', m.closeExitCode);
  put('grantedTtl', m.grantedTtl); put('requestedTtl', m.requestedTtl); put('exitCode', m.exitCode);
  put('durationMs', durationMs);
  return out as unknown as Session;
}

/** Convenience: whole text → report. */
export function buildReport(text: string, now: number): AuditReport {
  const r = new AuditReader();
  r.pushText(text);
  return r.report(now);
}

// ---------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------
// Rendering

/** The log is not trusted text: control characters become visible escapes, long values are cut (core/text.ts). */
export function clean(s: string, max = 64): string {
  return printable(s, max);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2024-05-01 12:00:03Z` */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  if (!Number.isFinite(d.getTime())) return '?';
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}Z`;
}

/** `45s`, `12m05s`, `3h02m`, `2d04h` */
export function formatDuration(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad2(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad2(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad2(h % 24)}h`;
}

export function principalLabel(p: AuditPrincipal | undefined): string {
  if (!p) return '?';
  if (p.kind === 'sequence') return '(sequence)';
  return p.key !== '' ? p.key : `key:${p.keyId}`;
}

/** Fixed column order of the sessions table. */
export const SESSION_COLUMNS = ['OPENED', 'DOOR', 'PRINCIPAL', 'FROM', 'ADDRESS', 'DURATION', 'CLOSED', 'RESULT'] as const;

function sessionResult(s: Session): string {
  const notes: string[] = [];
  switch (s.status) {
    case 'closed': notes.push(`closed:${s.closeReason ?? '?'}`); if (s.closeExitCode !== undefined && s.closeExitCode !== 0) notes.push(`stop-exit=${s.closeExitCode}`); break;
    case 'failed': notes.push(`start-failed${s.exitCode !== undefined ? `:exit=${s.exitCode}` : ''}`); break;
    case 'once': notes.push('no-stop-command'); break;
    case 'open': notes.push(s.expiresAt !== undefined ? `open (until ${formatTime(s.expiresAt).slice(11)})` : 'open'); break;
    case 'overdue': notes.push('OVERDUE: no close recorded'); break;
  }
  if (s.extensions > 0) notes.push(`extended x${s.extensions}`);
  if (s.rearms > 0) notes.push(`rearmed x${s.rearms}`);
  if (s.stopFailures > 0) notes.push(`stop-failed x${s.stopFailures}`);
  return notes.join(', ');
}

export function sessionRow(s: Session): string[] {
  return [
    s.openedAt !== undefined ? formatTime(s.openedAt) : '?',
    clean(s.door || '?', 32),
    clean(principalLabel(s.principal), 32),
    clean(s.src ?? '-', 45),
    clean(s.ip ?? '-', 45),
    s.durationMs !== undefined ? formatDuration(s.durationMs) + (s.status === 'open' || s.status === 'overdue' ? '+' : '') : '-',
    s.closedAt !== undefined ? formatTime(s.closedAt) : '-',
    clean(sessionResult(s), 80),
  ];
}

/** Align columns: every column as wide as its widest cell; two spaces between columns. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function renderReport(rep: AuditReport): string {
  let out = '';
  if (rep.sessions.length === 0) out += 'no door openings match\n';
  else out += renderTable(SESSION_COLUMNS, rep.sessions.map(sessionRow));
  if (rep.rejects.length > 0) {
    // group rejects: one line per (source, reason, door)
    const groups = new Map<string, { src: string; reason: string; door: string; key: string; n: number; first: number; last: number }>();
    for (const r of rep.rejects) {
      const k = JSON.stringify([r.src ?? '-', r.reason, r.door ?? '-', r.key ?? r.keyId ?? '-']);
      const g = groups.get(k);
      if (g) { g.n++; g.first = Math.min(g.first, r.time); g.last = Math.max(g.last, r.time); }
      else groups.set(k, { src: r.src ?? '-', reason: r.reason, door: r.door ?? '-', key: r.key ?? r.keyId ?? '-', n: 1, first: r.time, last: r.time });
    }
    const rows = [...groups.values()].sort((a, b) => a.first - b.first).map((g) => [
      formatTime(g.first), formatTime(g.last), clean(g.src, 45), clean(g.reason, 32), clean(g.door, 32), clean(g.key, 32), String(g.n),
    ]);
    out += `\nrejected knocks: ${rep.rejects.length}\n`;
    out += renderTable(['FIRST', 'LAST', 'FROM', 'REASON', 'DOOR', 'KEY', 'COUNT'], rows);
  }
  out += renderKeyChanges(rep.keyChanges, formatTime);
  if (rep.suppressedRejects > 0) {
    out += `\n${rep.suppressedRejects} further rejected knock(s) were rate-capped and not itemised\n`;
  }
  if (rep.badLines > 0) {
    out += `\nskipped ${rep.badLines} unreadable line(s) (first at line ${rep.firstBadLines.join(', ')})\n`;
  }
  return out;
}

/** Machine output: stable field names, times as ms since the epoch (as in the log). */
export function reportJson(rep: AuditReport): string {
  return JSON.stringify({
    sessions: rep.sessions,
    rejects: rep.rejects,
    records: rep.records,
    badLines: rep.badLines,
    suppressedRejects: rep.suppressedRejects,
    keyChanges: rep.keyChanges,
  }, null, 2) + '\n';
}
