/**
 * Persistent replay state in StateDir (PROTOCOL.md §4):
 *
 *   replay.log     one line per accepted SPA request, "<hex64 replay id> <expiresAt ms>\n".
 *                  `add` appends (write(2)) before it returns, so a door is only opened after its
 *                  request is burned; a replay after a daemon crash or restart is rejected, and
 *                  after an OS crash the boot-time rule covers records the kernel had not written.
 *                  Rewritten atomically with only the live records when it grows past twice the
 *                  live set, so disk use is bounded like memory.
 *   replay.window  {"format":"knockd-ts/replay-window","version":1,"maxWindowMs":N,"floorMs":N}:
 *                  the largest SPAWindow ever in force and the "not before" floor
 *                  (core/spa/replay.ts applyWindow), written before a raised window is used.
 *
 * Both are trusted only as KeysDir is (io/safe-file.ts: the directory and files owned by root or
 * the daemon's user, not group/other-writable, never through a symlink; `strict` in the
 * daemon); temporary files are created O_EXCL|O_NOFOLLOW. Anything else refuses to start with
 * ERR_STATE naming the path.
 */
import { closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { applyWindow, DEFAULT_MAX_REPLAY, idTimestamp, ReplaySet, type ReplayAdd, type ReplayLog, type WindowState } from '../core/spa/replay.js';
import { ensureDir, openAppendSafe, readFileSafe, removeTemps, writeFileAtomic, type TrustMode } from './safe-file.js';

const LINE_RE = /^([0-9a-f]{64}) (\d{1,16})$/;
const COMPACT_MIN = 1024;
const LINE_BYTES = 82;
export const REPLAY_FILE = 'replay.log';
export const WINDOW_FILE = 'replay.window';
const WINDOW_FORMAT = 'knockd-ts/replay-window';

export interface ReplayStoreOptions {
  /** SPAWindow now in force, ms. */
  windowMs: number;
  now?: () => number;
  maxEntries?: number;
  /** Records one key id may hold (default maxEntries / 16). */
  perKeyMax?: number;
  /** Default 'strict' (the daemon). */
  trust?: TrustMode;
}

function readWindow(path: string, trust: { code: 'ERR_STATE'; mode: TrustMode }): WindowState | undefined {
  const buf = readFileSafe(path, { ...trust, maxBytes: 4096, optional: true });
  if (buf === undefined) return undefined;
  let d: unknown;
  try { d = JSON.parse(buf.toString('utf8')); } catch { d = undefined; }
  const o = d as Record<string, unknown> | undefined;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!o || o['format'] !== WINDOW_FORMAT || o['version'] !== 1 || !ok(o['maxWindowMs']) || !ok(o['floorMs'])) {
    throw new AppError('ERR_STATE', `'${path}' is not a ${WINDOW_FORMAT} version 1 document; remove it to start with a fresh floor (requests signed before the start are then refused)`);
  }
  return { maxWindowMs: o['maxWindowMs'], floorMs: o['floorMs'] };
}

export class ReplayStore implements ReplayLog {
  readonly file: string;
  readonly #dir: string;
  readonly #set: ReplaySet;
  readonly #mode: TrustMode;
  #window: WindowState;
  #fd = -1;
  #lines = 0;

  private constructor(dir: string, set: ReplaySet, lines: number, window: WindowState, mode: TrustMode) {
    this.#dir = dir;
    this.file = join(dir, REPLAY_FILE);
    this.#set = set;
    this.#lines = lines;
    this.#window = window;
    this.#mode = mode;
  }

  static open(stateDir: string, opts: ReplayStoreOptions): ReplayStore {
    const now = (opts.now ?? Date.now)();
    const mode = opts.trust ?? 'strict';
    const trust = { code: 'ERR_STATE' as const, mode };
    const dirSt = ensureDir(stateDir, 'state directory', trust);
    removeTemps(stateDir, REPLAY_FILE);
    removeTemps(stateDir, WINDOW_FILE);
    const prev = readWindow(join(stateDir, WINDOW_FILE), trust);
    const maxEntries = opts.maxEntries ?? DEFAULT_MAX_REPLAY;
    const set = new ReplaySet(maxEntries, opts.perKeyMax);
    const file = join(stateDir, REPLAY_FILE);
    const text = readFileSafe(file, { ...trust, dirSt, optional: true, maxBytes: 3 * maxEntries * LINE_BYTES + (1 << 20) })?.toString('latin1');
    let lines = 0;
    if (text !== undefined) {
      const parts = text.split('\n');
      const last = parts.length - 1; // text after the final newline: '' or a torn append
      parts.forEach((l, i) => {
        if (l === '') return;
        const m = LINE_RE.exec(l);
        if (!m || m[1] === undefined || m[2] === undefined) {
          if (i === last) return; // torn final write: its add() never returned, no door was opened
          throw new AppError('ERR_STATE', `${file}:${i + 1}: malformed replay record`);
        }
        // kept at least as long as the persisted largest window says (it may have been raised
        // after this record was written)
        set.restore(m[1], Math.max(Number(m[2]), prev ? idTimestamp(m[1]) + prev.maxWindowMs : 0));
        lines++;
      });
    }
    set.prune(now);
    const store = new ReplayStore(stateDir, set, lines, prev ?? { maxWindowMs: 0, floorMs: 0 }, mode);
    store.#applyWindow(prev, opts.windowMs, now);
    store.#compact(); // start from a file holding only live records (also repairs a torn tail)
    return store;
  }

  /** Largest window ever in force and the floor (requests signed before it are stale). */
  get window(): WindowState { return this.#window; }
  get floorMs(): number { return this.#window.floorMs; }
  get maxWindowMs(): number { return this.#window.maxWindowMs; }

  /**
   * A (re)loaded configuration puts `windowMs` in force at `now` (SIGHUP). A raise past the
   * largest window ever used moves the floor and is persisted before it returns; records are
   * then kept until timestamp + the new window. Returns the state the verifier must use.
   */
  setWindow(windowMs: number, now: number): WindowState {
    this.#applyWindow(this.#window, windowMs, now);
    return this.#window;
  }

  #applyWindow(prev: WindowState | undefined, windowMs: number, now: number): void {
    const next = applyWindow(prev, windowMs, now);
    if (prev && next.maxWindowMs === prev.maxWindowMs && next.floorMs === prev.floorMs) return;
    const doc = { format: WINDOW_FORMAT, version: 1, maxWindowMs: next.maxWindowMs, floorMs: next.floorMs };
    writeFileAtomic(join(this.#dir, WINDOW_FILE), JSON.stringify(doc) + '\n', { code: 'ERR_STATE' });
    this.#window = next;
    this.#set.extendTo(next.maxWindowMs);
  }

  has(id: Uint8Array): boolean { return this.#set.has(id); }

  add(id: Uint8Array, expiresAt: number): ReplayAdd {
    if (id.length !== 32 || !Number.isSafeInteger(expiresAt) || expiresAt < 0) return 'full';
    if (this.#set.has(id)) return 'added';
    const hexId = Buffer.from(id).toString('hex');
    const c = this.#set.check(hexId);
    if (c !== 'added') return c;
    // write(2), no fsync: once in the page cache the record survives a crash of the daemon; it
    // may not survive an OS crash, and requests signed before the current boot are refused
    // (SpaContext.notBeforeMs), so a lost record cannot be replayed. The fsync it saves cost
    // 0.5–4.5 ms of every SPA knock's latency here.
    writeSync(this.#fd, `${hexId} ${expiresAt}\n`);
    this.#lines++;
    this.#set.restore(hexId, expiresAt);
    if (this.#lines > Math.max(COMPACT_MIN, 2 * this.#set.size)) this.#compact();
    return 'added';
  }

  prune(now: number): void {
    if (this.#set.prune(now) > 0 && this.#lines > Math.max(COMPACT_MIN, 2 * this.#set.size)) this.#compact();
  }

  get size(): number { return this.#set.size; }
  get fileRecords(): number { return this.#lines; }
  /** Records held for one key id (hex16). */
  countFor(keyId: string): number { return this.#set.countFor(keyId); }

  close(): void {
    if (this.#fd >= 0) { closeSync(this.#fd); this.#fd = -1; }
  }

  #compact(): void {
    const parts: string[] = [];
    for (const [k, exp] of this.#set.entries()) parts.push(`${k} ${exp}\n`);
    writeFileAtomic(this.file, parts.join(''), { code: 'ERR_STATE' });
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = openAppendSafe(this.file, { code: 'ERR_STATE', mode: this.#mode, maxBytes: Number.MAX_SAFE_INTEGER });
    this.#lines = this.#set.size;
  }
}
