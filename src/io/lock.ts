/**
 * One daemon per StateDir. The lock is an abstract Unix socket named after the StateDir's
 * device and inode: binding it is atomic, and the kernel releases it the moment the holder
 * dies (no stale lock after a crash or SIGKILL, unlike a pid file). A second daemon fails at
 * once with the PID of the first, read from StateDir/knockd.pid, which only the lock holder
 * writes, and removes on exit only while it still holds its own PID.
 *
 * Abstract sockets are per network namespace: two daemons in different namespaces sharing
 * one StateDir are not detected (docs/ARCHITECTURE.md).
 */
import { createServer, type Server } from 'node:net';
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { writeFileAtomic } from './safe-file.js';

export interface Lock {
  readonly pidFile: string;
  release(): void;
}

export const PID_FILE = 'knockd.pid';

export function lockName(stateDir: string): string {
  const st = statSync(stateDir);
  return `\0knockd-ts/lock/${st.dev}:${st.ino}`;
}

/** The PID recorded by the lock holder of `stateDir`, if readable. */
export function recordedPid(stateDir: string): number | undefined {
  try {
    const n = Number(readFileSync(join(stateDir, PID_FILE), 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch { return undefined; }
}

export function acquireLock(stateDir: string, pid = process.pid): Promise<Lock> {
  const name = lockName(stateDir);
  return new Promise((resolve, reject) => {
    const server: Server = createServer((s) => s.destroy());
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') { reject(new AppError('ERR_STATE', `cannot lock state directory ${stateDir}: ${e.message}`, { cause: e })); return; }
      const other = recordedPid(stateDir);
      reject(new AppError('ERR_RUNNING', `another knockd (pid ${other ?? 'unknown'}) is already running with state directory ${stateDir}`));
    });
    server.listen({ path: name }, () => {
      server.unref();
      const pidFile = join(stateDir, PID_FILE);
      try { writeFileAtomic(pidFile, `${pid}\n`, { code: 'ERR_STATE', mode: 0o644 }); } catch (e) { server.close(); reject(e); return; }
      resolve({
        pidFile,
        release(): void {
          if (recordedPid(stateDir) === pid) { try { unlinkSync(pidFile); } catch { /* already gone */ } }
          server.close();
        },
      });
    });
  });
}
