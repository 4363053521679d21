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

/**
 * `createDirFor`: when the log's directory is missing (a key enrolled before the daemon's first
 * start, e.g. before systemd's LogsDirectory= exists), create it (0750, parent must exist) and,
 * as root, give it this owner (the KeysDir's: the service user) so the daemon can write there.
 */
export function openAuditAppend(path: string, mode: TrustMode = 'admin', createDirFor?: { uid: number; gid: number }): AuditAppender {
  // The file itself is opened without following a symlink and checked through the descriptor;
  // the directory is only asked for its owner (admin trust), not held to KeysDir's rules: log
  // directories are often group-writable (Ubuntu's /var/log is root:syslog 0775).
  const dir = dirname(path);
  let dirSt: fs.Stats;
  try { dirSt = fs.statSync(dir); } catch (e) {
    if (!createDirFor || (e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AppError('ERR_STATE', `audit log directory '${dir}' is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
    }
    dirSt = createLogDir(dir, createDirFor);
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

function createLogDir(dir: string, owner: { uid: number; gid: number }): fs.Stats {
  try {
    fs.mkdirSync(dir, { mode: 0o750 });
    const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
    if (euid === 0 && owner.uid !== 0) fs.chownSync(dir, owner.uid, owner.gid);
    return fs.lstatSync(dir);
  } catch (e) {
    throw new AppError('ERR_STATE', `audit log directory '${dir}' is missing and cannot be created (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
}
