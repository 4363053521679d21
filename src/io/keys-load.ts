/**
 * The daemon's view of KeysDir (io/keystore.ts does the reading and trusting): the keyring with
 * what was refused and the directory's revision (what `knockd keys` waits for in
 * StateDir/keyring.ack), and a watcher that reports changes (fs.watch plus a 2 s poll as a
 * fallback, debounced).
 */
import { existsSync, mkdirSync, watch } from 'node:fs';
import { keyringRevision, loadKeyring } from './keystore.js';
import type { LoadedKeys } from '../daemon/ports.js';

/**
 * Loads KeysDir. When the record set is unchanged since `prev` (same revision), `prev` itself is
 * returned: a SIGHUP or a `keys` run that changed nothing rebuilds nothing (no key objects churned).
 * Otherwise only the files that changed since `prev` are read again (io/keystore.ts).
 */
export function loadKeys(dir: string, prev?: LoadedKeys): LoadedKeys {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return loadKeyring(dir, prev ? { prev, keepIfUnchanged: true } : {});
}

/** What the poll compares: the directory's revision ('' while it cannot be read). */
function signature(dir: string): string {
  try { return keyringRevision(dir); } catch { return ''; }
}

export function watchKeys(dir: string, onChange: () => void): () => void {
  let sig = signature(dir);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = (): void => {
    timer = undefined;
    if (stopped) return;
    sig = signature(dir);
    onChange();
  };
  const schedule = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, 100);
    timer.unref();
  };
  let w: ReturnType<typeof watch> | undefined;
  try {
    w = watch(dir, { persistent: false }, schedule);
    w.on('error', () => { /* the poll still works */ });
  } catch { w = undefined; }
  const poll = setInterval(() => { if (signature(dir) !== sig) schedule(); }, 2000);
  poll.unref();
  return () => { stopped = true; if (timer) clearTimeout(timer); clearInterval(poll); w?.close(); };
}
