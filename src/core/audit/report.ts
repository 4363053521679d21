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
import type { AuditPrincipal, AuditRecord } from './records.js';
import { parseAuditLine } from './records.js';
import type { KeyChange } from './key-changes.js';

export * from './records.js';
export * from './filter.js';
export * from './render.js';

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
        if (r.supersedes !== undefined) {
          // its stop failed and this lease re-opened the same rule and owes the one stop now
          const old = this.session(r, r.supersedes);
          if (old.closedAt === undefined) { old.closedAt = r.time; old.closeReason = 'superseded'; }
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
        // nft (set doors): a refused open is a failed start; on an open session it counts as a stop failure
        const cmd = r.command !== 'nft' ? r.command : r.lease !== undefined && this.byLease.get(r.lease)?.openedAt !== undefined ? 'stop' : 'start';
        if (cmd === 'stop' && r.lease !== undefined) {
          this.session(r, r.lease).stopFailures++;
          return;
        }
        if (cmd === 'start') {
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
