/**
 * KeysDir: one ini record per principal, DIR/NAME.key (PROTOCOL.md §6).
 *
 * Loading refuses a directory or file that is writable by group/other or owned by someone
 * other than root or the current user (ERR_KEYS_DIR / ERR_KEY_FILE naming the path), a
 * symlinked record, and an hmac record (which holds a secret) readable by group/other.
 * Dotfiles are ignored (editors, our own temporary files); anything else that is not
 * NAME.key is refused, so a mistyped file name cannot silently drop a key.
 */
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, watch, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { Keyring } from '../core/keys/keyring.js';
import { formatKeyRecord, NAME_RE, parseKeyRecord, type KeyRecord } from '../core/keys/record.js';

const MAX_RECORD_BYTES = 64 * 1024;

const modeText = (st: Stats): string => `0${(st.mode & 0o777).toString(8).padStart(3, '0')}`;

function ownerOk(st: Stats): boolean {
  const me = typeof process.getuid === 'function' ? process.getuid() : 0;
  return st.uid === 0 || st.uid === me;
}

export function checkKeysDir(dir: string): void {
  let st: Stats;
  try { st = statSync(dir); } catch (e) {
    throw new AppError('ERR_KEYS_DIR', `key directory '${dir}' is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'}); create it with 'install -d -m 0700 ${dir}'`, { cause: e });
  }
  if (!st.isDirectory()) throw new AppError('ERR_KEYS_DIR', `key directory '${dir}' is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new AppError('ERR_KEYS_DIR', `key directory '${dir}' is writable by group/other (mode ${modeText(st)}); run 'chmod go-w ${dir}'`);
  if (!ownerOk(st)) throw new AppError('ERR_KEYS_DIR', `key directory '${dir}' is owned by uid ${st.uid}, not root or the current user`);
}

function checkRecordFile(path: string, st: Stats): void {
  if (st.isSymbolicLink()) throw new AppError('ERR_KEY_FILE', `'${path}' is a symbolic link; key records must be regular files`);
  if (!st.isFile()) throw new AppError('ERR_KEY_FILE', `'${path}' is not a regular file`);
  if ((st.mode & 0o022) !== 0) throw new AppError('ERR_KEY_FILE', `permissions ${modeText(st)} for '${path}' are too open (writable by group/other)`);
  if (!ownerOk(st)) throw new AppError('ERR_KEY_FILE', `'${path}' is owned by uid ${st.uid}, not root or the current user`);
  if (st.size > MAX_RECORD_BYTES) throw new AppError('ERR_KEY_FILE', `'${path}' is larger than ${MAX_RECORD_BYTES} bytes`);
}

/** Read and check one record file. */
export function readKeyRecordFile(path: string, expectName?: string): KeyRecord {
  let st: Stats;
  try { st = lstatSync(path); } catch (e) {
    throw new AppError('ERR_KEY_FILE', `cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  checkRecordFile(path, st);
  const rec = parseKeyRecord(readFileSync(path, 'utf8'), path, expectName);
  if (rec.type === 'hmac' && (st.mode & 0o077) !== 0) {
    throw new AppError('ERR_KEY_FILE', `permissions ${modeText(st)} for '${path}' are too open (it holds a secret; run 'chmod 600 ${path}')`);
  }
  return rec;
}

export function recordPath(dir: string, name: string): string {
  if (!NAME_RE.test(name)) throw new AppError('ERR_USAGE', `key name '${name}' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`);
  return join(dir, `${name}.key`);
}

export function loadKeyring(dir: string): Keyring {
  checkKeysDir(dir);
  const records: KeyRecord[] = [];
  for (const ent of readdirSync(dir).sort()) {
    if (ent.startsWith('.')) continue;
    const path = join(dir, ent);
    const m = /^(.+)\.key$/.exec(ent);
    if (!m || m[1] === undefined || !NAME_RE.test(m[1])) {
      throw new AppError('ERR_KEY_FILE', `'${path}': unexpected file in the key directory (records are NAME.key, NAME = [A-Za-z0-9_.-])`);
    }
    records.push(readKeyRecordFile(path, m[1]));
  }
  try {
    return new Keyring(records);
  } catch (e) {
    throw new AppError('ERR_KEY_FILE', `${dir}: ${(e as Error).message}`, { cause: e });
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Write a record atomically (tmp + fsync + link/rename + dir fsync), mode 0600.
 * Without `overwrite`, an existing record is refused (ERR_KEY_EXISTS).
 */
export function writeKeyRecord(dir: string, rec: KeyRecord, opts: { overwrite?: boolean } = {}): string {
  checkKeysDir(dir);
  const path = recordPath(dir, rec.name);
  const tmp = join(dir, `.${rec.name}.key.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, formatKeyRecord(rec));
    fsyncSync(fd);
  } finally { closeSync(fd); }
  try {
    if (opts.overwrite) renameSync(tmp, path);
    else {
      try { linkSync(tmp, path); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('ERR_KEY_EXISTS', `key '${rec.name}' already exists ('${path}')`);
        throw e;
      }
      unlinkSync(tmp);
    }
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
  fsyncDir(dir);
  return path;
}

/** Names in `prev` that are gone from `next`, or revoked (at `now`) in `next` but not in `prev`. */
export function revokedNames(prev: Keyring, next: Keyring, now: number): string[] {
  const out: string[] = [];
  for (const r of prev.list()) {
    const n = next.byName(r.name);
    const wasRevoked = r.revoked !== undefined && r.revoked <= now;
    if (!n || n.id !== r.id) out.push(r.name);
    else if (!wasRevoked && n.revoked !== undefined && n.revoked <= now) out.push(r.name);
  }
  return out;
}

function dirSignature(dir: string): string {
  try {
    return readdirSync(dir).sort().map((e) => {
      try { const s = lstatSync(join(dir, e)); return `${e}:${s.mtimeMs}:${s.size}:${s.mode}:${s.ino}`; } catch { return e; }
    }).join('|');
  } catch { return ''; }
}

/**
 * Watch the key directory (fs.watch, plus a 2 s poll as a fallback) and call `onChange`
 * with a freshly loaded keyring after changes settle (100 ms debounce). `revoked` lists the
 * names that were removed, replaced or revoked, so the daemon can close their doors. A
 * reload that fails (bad file) keeps the previous keyring and reports through `onError`.
 * Returns a function that stops watching.
 */
export function watchKeyring(
  dir: string,
  onChange: (k: Keyring, revoked: string[]) => void,
  onError: (e: unknown) => void = () => {},
): () => void {
  let current: Keyring;
  try { current = loadKeyring(dir); } catch { current = new Keyring([]); }
  let sig = dirSignature(dir);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const reload = (): void => {
    timer = undefined;
    if (stopped) return;
    sig = dirSignature(dir);
    let next: Keyring;
    try { next = loadKeyring(dir); } catch (e) { onError(e); return; }
    const revoked = revokedNames(current, next, Date.now());
    current = next;
    onChange(next, revoked);
  };
  const schedule = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 100);
  };
  let w: ReturnType<typeof watch> | undefined;
  try {
    w = watch(dir, { persistent: false }, schedule);
    w.on('error', () => { /* the poll below still works */ });
  } catch { w = undefined; }
  const poll = setInterval(() => { if (dirSignature(dir) !== sig) schedule(); }, 2000);
  poll.unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    clearInterval(poll);
    w?.close();
  };
}
