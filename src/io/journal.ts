/**
 * Crash-safe journal of open door leases: StateDir/doors.json.
 *
 * Every change rewrites the whole file atomically: write a temporary file, fsync it, rename
 * it over doors.json, fsync the directory. The file on disk is therefore always either the
 * old or the new complete document, never a torn one. A grant is journalled BEFORE its start
 * command runs, so after a crash the daemon knows exactly which stop commands are owed
 * (the expanded stop command is stored, so a changed config cannot change what is closed).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { Lease } from '../core/actions/leases.js';
import type { Principal } from '../core/audit/events.js';

const FILE = 'doors.json';
const FORMAT = 'knockd-ts/doors';
const VERSION = 1;

interface JournalDoc { format: string; version: number; leases: Lease[] }

function errMsg(e: unknown): string { return e instanceof Error ? e.message : String(e); }

function isPrincipal(p: unknown): p is Principal {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  if (o.kind === 'sequence') return true;
  return o.kind === 'spa' && typeof o.key === 'string' && typeof o.keyId === 'string';
}

function isFiniteNum(v: unknown): v is number { return typeof v === 'number' && Number.isFinite(v); }

/** Validates one stored lease; returns a reason when it is not acceptable. */
function checkLease(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const o = v as Record<string, unknown>;
  for (const k of ['id', 'door', 'ip', 'src', 'stopCommand'] as const) {
    if (typeof o[k] !== 'string') return `field ${k} is not a string`;
  }
  for (const k of ['doorIndex', 'openedAt', 'expiresAt', 'grantedTtl'] as const) {
    if (!isFiniteNum(o[k])) return `field ${k} is not a number`;
  }
  if (o.family !== 4 && o.family !== 6) return 'field family is not 4 or 6';
  if (!isPrincipal(o.principal)) return 'field principal is malformed';
  return undefined;
}

export class Journal {
  readonly dir: string;
  readonly file: string;
  #leases = new Map<string, Lease>();
  #loaded = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.file = join(dir, FILE);
  }

  /** Opens (creating with mode 0700 if missing) the state directory. Throws ERR_STATE. */
  static open(stateDir: string): Journal {
    try {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new AppError('ERR_STATE', `state directory ${stateDir}: cannot create: ${errMsg(e)}`, { cause: e });
    }
    let st: fs.Stats;
    try { st = fs.statSync(stateDir); } catch (e) {
      throw new AppError('ERR_STATE', `state directory ${stateDir}: ${errMsg(e)}`, { cause: e });
    }
    if (!st.isDirectory()) throw new AppError('ERR_STATE', `state directory ${stateDir}: not a directory`);
    try { fs.accessSync(stateDir, fs.constants.W_OK | fs.constants.X_OK); } catch (e) {
      throw new AppError('ERR_STATE', `state directory ${stateDir}: not writable: ${errMsg(e)}`, { cause: e });
    }
    const j = new Journal(stateDir);
    // leftovers of a crash between write and rename: the real file is intact, drop them
    for (const name of fs.readdirSync(stateDir)) {
      if (name.startsWith(`${FILE}.tmp-`)) {
        try { fs.unlinkSync(join(stateDir, name)); } catch { /* ignore */ }
      }
    }
    return j;
  }

  /** Reads doors.json (missing = empty). Throws ERR_STATE naming the file if it is damaged. */
  load(): Lease[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#leases = new Map();
        this.#loaded = true;
        return [];
      }
      throw new AppError('ERR_STATE', `journal ${this.file}: cannot read: ${errMsg(e)}`, { cause: e });
    }
    let doc: unknown;
    try { doc = JSON.parse(text); } catch (e) {
      throw new AppError('ERR_STATE', `journal ${this.file}: not valid JSON (${errMsg(e)}); ` +
        'the doors it lists may still be open: check the firewall, then remove the file', { cause: e });
    }
    const d = doc as Partial<JournalDoc> | null;
    if (!d || typeof d !== 'object' || d.format !== FORMAT || d.version !== VERSION || !Array.isArray(d.leases)) {
      throw new AppError('ERR_STATE', `journal ${this.file}: not a ${FORMAT} version ${VERSION} document`);
    }
    const map = new Map<string, Lease>();
    d.leases.forEach((l, i) => {
      const why = checkLease(l);
      if (why) throw new AppError('ERR_STATE', `journal ${this.file}: lease #${i}: ${why}`);
      map.set(l.id, l);
    });
    this.#leases = map;
    this.#loaded = true;
    return [...map.values()];
  }

  /** Insert or replace a lease, durably. Throws ERR_STATE when the file cannot be written. */
  put(l: Lease): void {
    this.#ensureLoaded();
    const next = new Map(this.#leases);
    next.set(l.id, l);
    this.#write(next);
    this.#leases = next;
  }

  /** Remove a lease, durably (no-op write avoided when unknown). */
  remove(id: string): void {
    this.#ensureLoaded();
    if (!this.#leases.has(id)) return;
    const next = new Map(this.#leases);
    next.delete(id);
    this.#write(next);
    this.#leases = next;
  }

  /** What the journal currently holds (in memory, as last written). */
  entries(): Lease[] { return [...this.#leases.values()]; }

  #ensureLoaded(): void { if (!this.#loaded) this.load(); }

  #write(leases: Map<string, Lease>): void {
    const doc: JournalDoc = { format: FORMAT, version: VERSION, leases: [...leases.values()] };
    const data = JSON.stringify(doc, null, 1) + '\n';
    const tmp = `${this.file}.tmp-${process.pid}`;
    let fd: number | undefined;
    try {
      fd = fs.openSync(tmp, 'w', 0o600);
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(tmp, this.file);
      const dfd = fs.openSync(this.dir, 'r');
      try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
    } catch (e) {
      if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* ignore */ } }
      try { fs.unlinkSync(tmp); } catch { /* ignore */ }
      throw new AppError('ERR_STATE', `journal ${this.file}: cannot write: ${errMsg(e)}`, { cause: e });
    }
  }
}
