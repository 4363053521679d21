/**
 * StateDir/keyring.ack: what the running daemon applied from KeysDir, so `knockd keys` can tell
 * whether a change (a revocation above all) is in force. Written by the daemon after every
 * keyring it installs (start, SIGHUP, file watch), read by the CLI:
 *
 *   {"format":"knockd-ts/keyring-ack","version":1,"pid":N,"revision":"<hex>","loadedAt":ms,
 *    "keys":n,"refused":[{"file":"...","error":"..."}]}
 *
 * `revision` is io/keystore.ts keyringRevision of the directory the daemon loaded. Written and
 * read through io/safe-file.ts (atomic, no symlinks, trusted owner only).
 */
import { join } from 'node:path';
import type { KeyringLoad } from './keystore.js';
import { checkDir, readFileSafe, writeFileAtomic, type TrustMode } from './safe-file.js';

export const ACK_FILE = 'keyring.ack';
export const ACK_FORMAT = 'knockd-ts/keyring-ack';

export interface KeyringAck {
  readonly format: typeof ACK_FORMAT;
  readonly version: 1;
  readonly pid: number;
  readonly revision: string;
  readonly loadedAt: number;
  readonly keys: number;
  readonly refused: readonly { readonly file: string; readonly error: string }[];
}

export function keyringAck(load: KeyringLoad, pid: number, now: number): KeyringAck {
  return {
    format: ACK_FORMAT, version: 1, pid, revision: load.revision, loadedAt: now, keys: load.keyring.size,
    refused: load.refused.map((r) => ({ file: r.path, error: r.error })),
  };
}

/** The daemon's side: record what it applied (call after the verifier has the keyring). */
export function writeKeyringAck(stateDir: string, ack: KeyringAck): void {
  writeFileAtomic(join(stateDir, ACK_FILE), JSON.stringify(ack) + '\n', { code: 'ERR_STATE', mode: 0o644 });
}

/** The CLI's side: the current acknowledgement, or undefined when there is none (or it is unreadable). */
export function readKeyringAck(stateDir: string, mode: TrustMode = 'admin'): KeyringAck | undefined {
  try {
    const dirSt = checkDir(stateDir, 'state directory', { code: 'ERR_STATE', mode });
    const buf = readFileSafe(join(stateDir, ACK_FILE), { code: 'ERR_STATE', mode, dirSt, maxBytes: 1 << 20, optional: true });
    if (!buf) return undefined;
    const o = JSON.parse(buf.toString('utf8')) as Partial<KeyringAck>;
    if (o.format !== ACK_FORMAT || o.version !== 1 || typeof o.pid !== 'number' || typeof o.revision !== 'string'
      || typeof o.loadedAt !== 'number' || typeof o.keys !== 'number' || !Array.isArray(o.refused)) return undefined;
    return o as KeyringAck;
  } catch {
    return undefined;
  }
}

export interface WaitOptions {
  readonly revision: string;
  readonly pid: number;
  readonly timeoutMs: number;
  readonly mode?: TrustMode;
  /** Is the daemon still alive? Default: kill(pid, 0). */
  readonly alive?: (pid: number) => boolean;
  readonly stepMs?: number;
}

export type WaitResult =
  | { readonly applied: true; readonly ack: KeyringAck }
  | { readonly applied: false; readonly why: 'timeout' | 'exited'; readonly ack?: KeyringAck };

const isAlive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};

/** Wait until daemon `pid` acknowledges `revision`, it exits, or `timeoutMs` passes. */
export async function waitForAck(stateDir: string, o: WaitOptions): Promise<WaitResult> {
  const end = Date.now() + o.timeoutMs;
  const alive = o.alive ?? isAlive;
  for (;;) {
    const ack = readKeyringAck(stateDir, o.mode);
    if (ack && ack.pid === o.pid && ack.revision === o.revision) return { applied: true, ack };
    if (!alive(o.pid)) return { applied: false, why: 'exited', ...(ack ? { ack } : {}) };
    if (Date.now() >= end) return { applied: false, why: 'timeout', ...(ack ? { ack } : {}) };
    await new Promise((r) => setTimeout(r, o.stepMs ?? 50));
  }
}
