/**
 * Append-only audit writer for the admin tools (`knockd keys`): one JSON line per record,
 * `{"time":ms,...}`, appended with a single write(2) to the AuditLog the daemon writes, opened
 * through io/safe-file.ts (no symlink, trusted owner; `admin` trust lets root append to the
 * service user's log). A log root has to create is given the directory's owner, so the daemon
 * can keep writing it.
 *
 * Open first, change, then write: `openAuditAppend` fails before anything is changed when
 * the log cannot be used, so no change goes unaudited.
 */
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent } from '../core/audit/events.js';
import { AppError } from '../core/errors.js';
import { openAppendSafe, type TrustMode } from './safe-file.js';

export interface AuditAppender {
  append(rec: AuditEvent, now: number): void;
  close(): void;
}

export function openAuditAppend(path: string, mode: TrustMode = 'admin'): AuditAppender {
  // The file itself is opened without following a symlink and checked through the descriptor;
  // the directory is only asked for its owner (admin trust), not held to KeysDir's rules: log
  // directories are often group-writable (Ubuntu's /var/log is root:syslog 0775).
  let dirSt: fs.Stats;
  try { dirSt = fs.statSync(dirname(path)); } catch (e) {
    throw new AppError('ERR_STATE', `audit log directory '${dirname(path)}' is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  const fd = openAppendSafe(path, { code: 'ERR_STATE', mode, dirSt, maxBytes: Number.MAX_SAFE_INTEGER, fileMode: 0o640 });
  try {
    const st = fs.fstatSync(fd);
    const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
    if (st.size === 0 && euid === 0 && st.uid === 0 && dirSt.uid !== 0) fs.fchownSync(fd, dirSt.uid, dirSt.gid);
  } catch (e) {
    fs.closeSync(fd);
    throw new AppError('ERR_STATE', `audit log '${path}': ${(e as Error).message}`, { cause: e });
  }
  let open = true;
  return {
    append(rec: AuditEvent, now: number): void {
      if (!open) throw new AppError('ERR_INTERNAL', `audit log '${path}' is closed`);
      const line = JSON.stringify({ time: now, ...rec }) + '\n';
      try {
        fs.writeSync(fd, line);
        fs.fsyncSync(fd);
      } catch (e) {
        throw new AppError('ERR_STATE', `audit log '${path}': cannot write (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
      }
    },
    close(): void {
      if (open) { open = false; fs.closeSync(fd); }
    },
  };
}
