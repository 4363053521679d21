/**
 * The one place where state and key files are read, written and trusted (KeysDir, StateDir and
 * every file in them, client key files, one-time-sequence files).
 *
 * Trust (as OpenSSH's StrictModes): a directory or file is trusted when it is not a symbolic
 * link, is not writable by group/other, and is owned by root or by the effective user. In
 * `admin` mode (the `knockd keys`/`status` tools run by root) the owner of the directory being
 * managed is trusted too, so root can administer a KeysDir owned by the service user; files
 * root writes there are given the directory's owner. The daemon uses `strict` mode: running
 * as root it trusts only root's files, so a StateDir owned by another user can never make it
 * run that user's commands.
 *
 * Writes are atomic: a temporary file created with O_CREAT|O_EXCL|O_NOFOLLOW (never follows a
 * planted symlink, never reuses a planted file), written, fsync'd, then renamed (or linked, for
 * "create only") over the target, and the directory fsync'd. Readers see the old or the new
 * complete file, never a torn one. Reads open with O_NOFOLLOW and check the opened file
 * (fstat), so there is no window between the check and the use.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AppError, type ErrorCode } from '../core/errors.js';

export type TrustMode = 'strict' | 'admin';

export interface Trust {
  /** Error code for refusals (ERR_STATE, ERR_KEYS_DIR, ERR_KEY_FILE, ...). */
  readonly code: ErrorCode;
  /** Default 'strict'. */
  readonly mode?: TrustMode;
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW } = constants;

export const modeText = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

function euid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : 0;
}

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException | null)?.code ?? (e instanceof Error ? e.message : String(e));

/** uids whose files are trusted in `dir` (whose stat is `dirSt`). */
export function trustedUids(mode: TrustMode, dirSt?: Stats): Set<number> {
  const s = new Set([0, euid()]);
  if (mode === 'admin' && dirSt && euid() === 0) s.add(dirSt.uid);
  return s;
}

function describeOwner(uid: number, trusted: Set<number>): string {
  const names = [...trusted].map((u) => (u === 0 ? 'root' : `uid ${u}`));
  return `owned by uid ${uid}, not ${names.join(' or ')}`;
}

/**
 * Checks a directory: exists, not a symlink, a directory, owner trusted, not group/other
 * writable. Returns its stat. Throws AppError(trust.code) naming the path and what to do.
 */
export function checkDir(dir: string, what: string, trust: Trust): Stats {
  let st: Stats;
  try { st = lstatSync(dir); } catch (e) {
    throw new AppError(trust.code, `${what} '${dir}' is missing or unreadable (${errCode(e)}); create it with 'install -d -m 0700 ${dir}'`, { cause: e });
  }
  if (st.isSymbolicLink()) throw new AppError(trust.code, `${what} '${dir}' is a symbolic link; use the real path`);
  if (!st.isDirectory()) throw new AppError(trust.code, `${what} '${dir}' is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new AppError(trust.code, `${what} '${dir}' is writable by group/other (mode ${modeText(st.mode)}); run 'chmod go-w ${dir}'`);
  const ok = trustedUids(trust.mode ?? 'strict');
  if (trust.mode === 'admin' && euid() === 0) ok.add(st.uid);
  if (!ok.has(st.uid)) throw new AppError(trust.code, `${what} '${dir}' is ${describeOwner(st.uid, ok)}`);
  return st;
}

/** Creates `dir` (mode 0700, parents as needed) when missing, then checks it. */
export function ensureDir(dir: string, what: string, trust: Trust): Stats {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new AppError(trust.code, `${what} '${dir}': cannot create (${errCode(e)})`, { cause: e });
  }
  return checkDir(dir, what, trust);
}

export interface FileCheck extends Trust {
  /** Refuse files larger than this. */
  readonly maxBytes: number;
  /** Holds a secret: refuse any group/other permission bit (as ssh does for private keys). */
  readonly secret?: boolean;
  /** The containing directory's stat (admin mode trusts its owner). */
  readonly dirSt?: Stats;
}

function checkOpened(path: string, st: Stats, o: FileCheck): void {
  if (!st.isFile()) throw new AppError(o.code, `'${path}' is not a regular file`);
  if ((st.mode & 0o022) !== 0) throw new AppError(o.code, `permissions ${modeText(st.mode)} for '${path}' are too open (writable by group/other); run 'chmod go-w ${path}'`);
  if (o.secret && (st.mode & 0o077) !== 0) throw new AppError(o.code, `permissions ${modeText(st.mode)} for '${path}' are too open (it holds a secret); run 'chmod 600 ${path}'`);
  const ok = trustedUids(o.mode ?? 'strict', o.dirSt);
  if (!ok.has(st.uid)) throw new AppError(o.code, `'${path}' is ${describeOwner(st.uid, ok)}`);
  if (st.size > o.maxBytes) throw new AppError(o.code, `'${path}' is larger than ${o.maxBytes} bytes`);
}

/**
 * Reads a trusted file: opened with O_NOFOLLOW (a symlink is refused), checked through the open
 * descriptor, size-capped. Returns undefined when it does not exist and `optional` is set.
 */
export function readFileSafe(path: string, o: FileCheck & { optional?: boolean; onStat?: (st: Stats) => void }): Buffer | undefined {
  let fd: number;
  try { fd = openSync(path, O_RDONLY | O_NOFOLLOW); } catch (e) {
    const c = errCode(e);
    if (c === 'ENOENT' && o.optional) return undefined;
    if (c === 'ELOOP') throw new AppError(o.code, `'${path}' is a symbolic link; refusing to follow it`, { cause: e });
    throw new AppError(o.code, `cannot read '${path}' (${c})`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    checkOpened(path, st, o);
    o.onStat?.(st);   // the caller's further checks on the very file read (e.g. secret permissions by content)
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError(o.code, `cannot read '${path}' (${errCode(e)})`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, O_RDONLY);
    fsyncSync(fd);
  } catch { /* a file system without directory fsync: the rename is still atomic */ } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface WriteOptions {
  readonly code: ErrorCode;
  /** File mode (default 0600). */
  readonly mode?: number;
  /** Refuse (code ERR_KEY_EXISTS-like `existsCode`) when the target exists, instead of replacing it. */
  readonly createOnly?: boolean;
  readonly existsCode?: ErrorCode;
  /** Give the new file this owner (root writing into a service user's directory). */
  readonly owner?: { uid: number; gid: number };
}

/** Temporary-file name next to `path`: a dotfile, so directory scanners skip it. */
export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to `path` atomically (see the module comment). */
export function writeFileAtomic(path: string, data: string | Uint8Array, o: WriteOptions): void {
  const tmp = tempName(path);
  let fd: number | undefined;
  let placed = false;
  try {
    fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, o.mode ?? 0o600);
    if (o.owner && euid() === 0) fchownSync(fd, o.owner.uid, o.owner.gid);
    fchmodSync(fd, o.mode ?? 0o600);   // umask does not apply; after chown (which may clear set-id bits)
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (o.createOnly) {
      try { linkSync(tmp, path); } catch (e) {
        if (errCode(e) === 'EEXIST') throw new AppError(o.existsCode ?? o.code, `'${path}' already exists; refusing to overwrite it`, { cause: e });
        throw e;
      }
      unlinkSync(tmp);
    } else {
      renameSync(tmp, path);
    }
    placed = true;
    fsyncDir(dirname(path));
  } catch (e) {
    if (fd !== undefined) { try { closeSync(fd); } catch { /* already failing */ } }
    if (!placed) { try { unlinkSync(tmp); } catch { /* never created */ } }
    if (e instanceof AppError) throw e;
    throw new AppError(o.code, `cannot write '${path}' (${errCode(e)})`, { cause: e });
  }
}

/**
 * Opens `path` for appending (created with `fileMode`, default 0600, if missing), never through
 * a symlink, and checks the opened file as readFileSafe does. Returns the descriptor.
 * (`fileMode`, not `mode`: FileCheck's `mode` is the trust mode.)
 */
export function openAppendSafe(path: string, o: FileCheck & { fileMode?: number }): number {
  let fd: number;
  try { fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, o.fileMode ?? 0o600); } catch (e) {
    const c = errCode(e);
    if (c === 'ELOOP') throw new AppError(o.code, `'${path}' is a symbolic link; refusing to follow it`, { cause: e });
    throw new AppError(o.code, `cannot open '${path}' for writing (${c})`, { cause: e });
  }
  try {
    checkOpened(path, fstatSync(fd), o);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** Removes our leftover temporary files for `file` in `dir` (a crash between write and rename). */
export function removeTemps(dir: string, file: string): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names) {
    if (n.startsWith(`.${file}.`) && n.endsWith('.tmp')) {
      try { unlinkSync(join(dir, n)); } catch { /* raced or not ours to remove */ }
    }
  }
}
