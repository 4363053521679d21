/**
 * Audit log: one JSON line per decision (docs/ARCHITECTURE.md, "Audit record schema"),
 * written by pino to a file that is written synchronously; every record that reports
 * something acted upon (door opened/extended/closed, command failed, …) is fsync'd before
 * record() returns, so nothing the daemon did to the firewall is missing after a crash.
 *
 * Only records anyone can cause without a key are capped (per minute; the overflow is
 * summarised by one "knock.reject.suppressed" record with a count) and not fsync'd:
 * unauthenticated rejects (no key name) and refusals of classic opens. Rejects of
 * authenticated requests (a revoked key, a policy violation) are always written: key holders
 * are rate-limited by their key's buckets, and such a record must not be hidden by junk.
 * reopen() reopens the file by name (log rotation, on SIGHUP).
 */
import * as fs from 'node:fs';
import { pino } from 'pino';
import { AppError } from '../core/errors.js';
import type { AuditEvent } from '../core/audit/events.js';

export interface AuditLog {
  record(e: AuditEvent): void;
  reopen(): void;
  close(): Promise<void>;
}

/** Records anyone can cause without a key: capped, not fsync'd. */
export function attackerDriven(e: AuditEvent): boolean {
  if (e.event === 'knock.reject') return e.key === undefined;
  if (e.event === 'door.refuse') return e.principal.kind === 'sequence';
  return false;
}

export interface AuditLogOptions {
  now?: () => number;
  /** knock.reject records per minute before suppression (default 60). */
  rejectCapPerMinute?: number;
  /** fsync implementation (tests count calls). */
  fsync?: (fd: number) => void;
  /** Reports write problems (default: process.stderr). */
  onError?: (msg: string) => void;
}

export const DEFAULT_REJECT_CAP_PER_MINUTE = 60;
const WINDOW_MS = 60_000;

const noop: AuditLog = { record() { /* no audit log configured */ }, reopen() { /* nothing */ }, async close() { /* nothing */ } };

export function createAuditLog(path: string | undefined, o: AuditLogOptions = {}): AuditLog {
  if (path === undefined) return noop;
  const now = o.now ?? Date.now;
  const cap = o.rejectCapPerMinute ?? DEFAULT_REJECT_CAP_PER_MINUTE;
  const fsync = o.fsync ?? fs.fsyncSync;
  const onError = o.onError ?? ((m: string) => { process.stderr.write(`knockd: ${m}\n`); });

  const open = (): number => {
    try { return fs.openSync(path, 'a', 0o640); } catch (e) {
      throw new AppError('ERR_STATE', `audit log ${path}: cannot open: ${(e as Error).message}`, { cause: e });
    }
  };
  let fd: number | undefined = open();
  let syncNext = false;
  let failedOnce = false;
  const dest = {
    write(s: string): void {
      if (fd === undefined) return;
      try {
        fs.writeSync(fd, s);
        if (syncNext) fsync(fd);
      } catch (e) {
        // the daemon keeps running (doors must still close); say so once per failure streak
        if (!failedOnce) onError(`audit log ${path}: ${(e as Error).message}`);
        failedOnce = true;
        return;
      }
      failedOnce = false;
    },
  };
  const logger = pino({
    base: null,
    messageKey: 'msg',
    // the level formatter drops "level", so the line starts "{" and the timestamp comes
    // first without pino's usual leading comma: {"time":…,"event":…}
    timestamp: () => `"time":${now()}`,
    formatters: { level: () => ({}) },
  }, dest);

  let windowStart = -Infinity;
  let rejectsInWindow = 0;
  let suppressed = 0;

  const write = (e: object, sync: boolean): void => {
    syncNext = sync;
    try { logger.info(e); } finally { syncNext = false; }
  };

  /** Closes the current minute window if it is over, writing the summary record. */
  const roll = (t: number, force = false): void => {
    if (!force && t - windowStart < WINDOW_MS) return;
    if (suppressed > 0) {
      write({ event: 'knock.reject.suppressed', count: suppressed, since: windowStart }, true);
    }
    suppressed = 0;
    rejectsInWindow = 0;
    windowStart = t;
  };

  return {
    record(e: AuditEvent): void {
      if (fd === undefined) return;
      const t = now();
      roll(t);
      if (attackerDriven(e)) {
        if (rejectsInWindow >= cap) { suppressed++; return; }
        rejectsInWindow++;
        write(e, false);
        return;
      }
      write(e, true);
    },
    reopen(): void {
      if (fd === undefined) return;
      let next: number;
      try { next = open(); } catch (e) { onError((e as Error).message); return; }   // keep writing where we were
      try { fsync(fd); fs.closeSync(fd); } catch { /* the old file is gone anyway */ }
      fd = next;
    },
    async close(): Promise<void> {
      if (fd === undefined) return;
      if (suppressed > 0) roll(now(), true);
      try { fsync(fd); } catch { /* ignore */ }
      try { fs.closeSync(fd); } catch { /* ignore */ }
      fd = undefined;
    },
  };
}
