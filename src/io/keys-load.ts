/**
 * The daemon's view of KeysDir: the keyring with what was refused and a revision (the
 * acknowledgement `knockd keys` waits for), and a watcher that reports changes (fs.watch plus a
 * 2 s poll as a fallback, debounced).
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { loadKeyring } from './keystore.js';
import type { LoadedKeys } from '../daemon/ports.js';

/** Hash of the record set (names and contents of every file that is not a dotfile). */
export function keyringRevision(dir: string): string {
  const h = createHash('sha256');
  for (const name of readdirSync(dir).filter((n) => !n.startsWith('.')).sort()) {
    h.update(name).update('\0');
    try { h.update(readFileSync(join(dir, name))); } catch { h.update('unreadable'); }
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Loads KeysDir. When the record set is unchanged since `prev` (same revision), `prev` itself is
 * returned: a SIGHUP or `keys` run that changed nothing rebuilds nothing (no key objects churned).
 */
export function loadKeys(dir: string, prev?: LoadedKeys): LoadedKeys {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const revision = keyringRevision(dir);
  if (prev && prev.revision === revision) return prev;
  const keyring = loadKeyring(dir);
  return { keyring, refused: [], revision };
}

function signature(dir: string): string {
  try {
    return readdirSync(dir).sort().map((e) => {
      try { const s = lstatSync(join(dir, e)); return `${e}:${s.mtimeMs}:${s.size}:${s.mode}:${s.ino}`; } catch { return e; }
    }).join('|');
  } catch { return ''; }
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
