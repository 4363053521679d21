/**
 * KeysDir: one ini record per principal, DIR/NAME.key (PROTOCOL.md §6).
 *
 * Trust (io/safe-file.ts): the directory must be trusted (not a symlink, not group/other-
 * writable, owned by root or the current user; in `admin` mode, used by `knockd keys` run as
 * root, also by the directory's owner, as the systemd layout has it). Otherwise nothing loads
 * (ERR_KEYS_DIR). Each file is then judged on its own: a record that is a symlink, not a
 * regular file, writable by group/other, owned by someone untrusted, malformed, not named
 * NAME.key (README, alice.key~), or holding a secret (hmac secret, v2 mac1 key) readable by
 * group/other is refused and reported, and never blocks the other records. Two records with
 * the same key id are both refused (fail closed: a revoked copy always revokes). Dotfiles are
 * ignored (editors, our own temporary files).
 *
 * The revision is a hash of the directory's record set as lstat(2) shows it (name, device,
 * inode, size, mtime, ctime, mode, owner of every non-dot entry): the same for the CLI and the daemon,
 * changed by every write (records are replaced by rename, so a new inode). The daemon reports
 * the revision it applied in StateDir/keyring.ack (io/keyring-ack.ts).
 *
 * A load given the previous one (`prev`) reuses the parsed record of every file whose identity
 * (device, inode, size, mtime, ctime, mode, owner, as lstat shows it now) is the one it had when
 * it was read, as git's index does: a key change re-reads one file, not all of them (the soak's
 * 500 key changes on a 250-record directory otherwise parsed 60,000 records, and the garbage
 * grew the daemon's heap). ctime cannot be set from user space and changes with every write,
 * chmod, chown and rename; a file whose ctime was less than 2 s old when it was read is not
 * reused (a write in the same clock tick would keep its ctime), nor is one read under another
 * trust mode or directory owner.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { Keyring } from '../core/keys/keyring.js';
import { formatKeyRecord, NAME_RE, parseKeyRecord, type KeyRecord } from '../core/keys/record.js';
import { checkDir, fsyncDir, modeText, readFileSafe, writeFileAtomic, type TrustMode } from './safe-file.js';

const MAX_RECORD_BYTES = 64 * 1024;

export interface RefusedFile { readonly path: string; readonly error: string }
/** A record as read, and the identity its file had then (see the module comment). */
export interface ReadRecord { readonly identity: string; readonly rec: KeyRecord }
export interface KeyringLoad {
  readonly keyring: Keyring; readonly refused: readonly RefusedFile[]; readonly revision: string;
  /** By path: what the next load may reuse. */
  readonly files?: ReadonlyMap<string, ReadRecord>;
}
export interface StoreOptions { readonly mode?: TrustMode }
/** ctime younger than this when read: not reused (a rewrite in the same tick keeps the ctime). */
const SETTLED_MS = 2000;

export function checkKeysDir(dir: string, mode: TrustMode = 'strict'): Stats {
  return checkDir(dir, 'key directory', { code: 'ERR_KEYS_DIR', mode });
}

/** Read and check one record file (throws AppError ERR_KEY_FILE naming the path). */
export function readKeyRecordFile(path: string, expectName?: string, o: StoreOptions & { dirSt?: Stats } = {}): KeyRecord {
  let st: Stats | undefined;
  const buf = readFileSafe(path, {
    code: 'ERR_KEY_FILE', mode: o.mode ?? 'strict', maxBytes: MAX_RECORD_BYTES, onStat: (s) => { st = s; },
    ...(o.dirSt ? { dirSt: o.dirSt } : {}),
  }) as Buffer;
  const rec = parseKeyRecord(buf.toString('utf8'), path, expectName);
  if ((rec.type === 'hmac' || rec.mac1Key) && st && (st.mode & 0o077) !== 0) {
    throw new AppError('ERR_KEY_FILE', `permissions ${modeText(st.mode)} for '${path}' are too open (it holds a secret; run 'chmod 600 ${path}')`);
  }
  return rec;
}

export function recordPath(dir: string, name: string): string {
  if (!NAME_RE.test(name)) throw new AppError('ERR_USAGE', `key name '${name}' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`);
  return join(dir, `${name}.key`);
}

interface Scan {
  names: string[]; revision: string;
  /** name → identity, for files settled (ctime at least SETTLED_MS old) at the scan. */
  settled: Map<string, string>;
}

/**
 * The non-dot entries of `dir`, sorted, with the revision of that set and the settled files'
 * identities. Runs on every SIGHUP over every record, so it allocates little: number stats (a
 * bigint stat is ~2.7 KB of garbage), fields hashed as bytes. Each entry is hashed as its name,
 * a NUL (never in a file name) and 64 bytes, so no two directory states share an input.
 */
function scan(dir: string, now = Date.now(), identities = true): Scan {
  const names = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  const h = createHash('sha256').update('knockd-ts keyring revision v2\n');
  // Without `identities` (a SIGHUP's "did anything change?") nothing outlives one iteration and
  // the fields are hashed as bytes, not text, so a scan makes little garbage and a scavenge in
  // its middle promotes nothing to the old generation.
  const settled = new Map<string, string>();
  for (const n of names) {
    let s: Stats | undefined;
    try { s = lstatSync(`${dir}/${n}`, { throwIfNoEntry: false }); } catch { s = undefined; }   // vanished meanwhile: a later scan sees it
    h.update(n).update(NUL);
    if (!s) { h.update(MISSING); continue; }
    FIELDS[0] = s.dev; FIELDS[1] = s.ino; FIELDS[2] = s.size; FIELDS[3] = s.mtimeMs;
    FIELDS[4] = s.ctimeMs; FIELDS[5] = s.mode; FIELDS[6] = s.uid; FIELDS[7] = s.gid;
    h.update(FIELD_BYTES);
    if (identities && now - s.ctimeMs >= SETTLED_MS) settled.set(n, FIELDS.join(':'));
  }
  return { names, revision: h.digest('hex').slice(0, 32), settled };
}

/** scan's per-file buffer: (dev, ino, size, mtime, ctime, mode, uid, gid), hashed as 64 bytes after the name. */
const FIELDS = new Float64Array(8);
const FIELD_BYTES = new Uint8Array(FIELDS.buffer);
const NUL = new Uint8Array(1);
/** In place of the fields of an entry that vanished between readdir and lstat: all-ones doubles (NaN), which no stat gives. */
const MISSING = new Uint8Array(64).fill(0xff);

/** The revision of `dir` now (see the module comment). */
export function keyringRevision(dir: string): string {
  return scan(dir).revision;
}

const message = (e: unknown): string => (e instanceof AppError ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e));

/**
 * Load every acceptable record; see the module comment for what is refused and what of `prev`
 * is reused; with `keepIfUnchanged`, `prev` itself when the revision is the same. Throws only
 * for the directory.
 */
export function loadKeyring(dir: string, o: StoreOptions & { prev?: KeyringLoad; now?: number; keepIfUnchanged?: boolean } = {}): KeyringLoad {
  const mode = o.mode ?? 'strict';
  const dirSt = checkKeysDir(dir, mode);
  const first = scan(dir, o.now, !o.keepIfUnchanged);
  if (o.keepIfUnchanged && o.prev?.revision === first.revision) return o.prev;
  const { names, revision, settled } = o.keepIfUnchanged ? scan(dir, o.now) : first;
  const trust = `${mode}:${dirSt.uid}:`;
  const refused: RefusedFile[] = [];
  const records: { rec: KeyRecord; path: string }[] = [];
  const files = new Map<string, ReadRecord>();
  for (const ent of names) {
    const path = join(dir, ent);
    const m = /^(.+)\.key$/.exec(ent);
    if (!m || m[1] === undefined || !NAME_RE.test(m[1])) {
      refused.push({ path, error: `unexpected file in the key directory (records are NAME.key, NAME = [A-Za-z0-9_.-]) [ERR_KEY_FILE]` });
      continue;
    }
    const id = settled.get(ent), identity = id === undefined ? undefined : trust + id;
    const old = identity === undefined ? undefined : o.prev?.files?.get(path);
    try {
      const rec = old && old.identity === identity ? old.rec : readKeyRecordFile(path, m[1], { mode, dirSt });
      records.push({ rec, path });
      if (identity !== undefined) files.set(path, { identity, rec });
    } catch (e) { refused.push({ path, error: message(e) }); }
  }
  const byId = new Map<string, { rec: KeyRecord; path: string }[]>();
  for (const r of records) byId.set(r.rec.id, [...(byId.get(r.rec.id) ?? []), r]);
  const kept: KeyRecord[] = [];
  for (const group of byId.values()) {
    if (group.length === 1 && group[0]) { kept.push(group[0].rec); continue; }
    const names = group.map((g) => `'${g.rec.name}'`).join(', ');
    for (const g of group) {
      refused.push({ path: g.path, error: `keys ${names} have the same key id ${g.rec.id} (the same key enrolled twice); all of them are refused until one is removed [ERR_KEY_FILE]` });
    }
  }
  refused.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { keyring: new Keyring(kept), refused, revision, files };
}

/**
 * Write a record atomically (io/safe-file.ts), mode 0600. Without `overwrite`, an existing
 * record is refused (ERR_KEY_EXISTS). Root writing into a directory owned by another user (the
 * systemd layout) gives the file that user's ownership, so the daemon keeps trusting it.
 */
export function writeKeyRecord(dir: string, rec: KeyRecord, opts: { overwrite?: boolean } & StoreOptions = {}): string {
  const st = checkKeysDir(dir, opts.mode ?? 'strict');
  const path = recordPath(dir, rec.name);
  const owner = st.uid !== 0 ? { owner: { uid: st.uid, gid: st.gid } } : {};
  try {
    writeFileAtomic(path, formatKeyRecord(rec), { code: 'ERR_KEY_FILE', mode: 0o600, createOnly: !opts.overwrite, existsCode: 'ERR_KEY_EXISTS', ...owner });
  } catch (e) {
    if (e instanceof AppError && e.code === 'ERR_KEY_EXISTS') throw new AppError('ERR_KEY_EXISTS', `key '${rec.name}' already exists ('${path}')`, { cause: e });
    throw e;
  }
  return path;
}

/** Delete a record (the key is no longer enrolled). */
export function removeKeyRecord(dir: string, name: string, o: StoreOptions = {}): string {
  checkKeysDir(dir, o.mode ?? 'strict');
  const path = recordPath(dir, name);
  try { unlinkSync(path); } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT') throw new AppError('ERR_KEY_UNKNOWN', `no key named '${name}' in '${dir}'`, { cause: e });
    throw new AppError('ERR_KEY_FILE', `cannot remove '${path}' (${c ?? 'error'})`, { cause: e });
  }
  fsyncDir(dir);
  return path;
}
