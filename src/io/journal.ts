/**
 * Crash-safe journal of door leases: StateDir/leases.log, one JSON record per line
 * (core/engine/effects.ts JournalRecord: put, due, fail, del), appended with write(2).
 *
 * Each change costs one append, never a rewrite of the whole file. The file is compacted
 * (atomic replace through io/safe-file.ts) when it holds more than twice the live records.
 * A lease is journalled before its start command runs and leaves the journal only when its
 * stop command succeeded, so after a crash the daemon knows exactly which stop commands are
 * owed (the expanded stop command is stored: a changed config cannot change what is closed).
 *
 * Appends are not fsync'd on the event loop: once written they are in the page cache and
 * survive any crash of the daemon; an fdatasync runs in the background (coalesced). After an
 * OS crash the last appends may be lost, but so are the firewall rules they describe (netfilter
 * state does not survive a reboot), except rules an admin saved. A torn final line (crash
 * during an append) is ignored; any other malformed line refuses the start (ERR_STATE) with
 * the file and line. A `doors.json` of earlier versions is imported once.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { Lease } from '../core/actions/leases.js';
import type { CloseReason } from '../core/audit/events.js';
import type { JournalRecord } from '../core/engine/effects.js';
import { checkLease, parseRecord } from './journal-records.js';
import { ensureDir, openAppendSafe, readFileSafe, removeTemps, writeFileAtomic, type TrustMode } from './safe-file.js';

const FILE = 'leases.log';
const LEGACY = 'doors.json';
const MAX_BYTES = 512 * 1024 * 1024;
const COMPACT_MIN = 1024;

export interface JournalEntry {
  lease: Lease;
  closing?: { reason: CloseReason; since: number; attempts: number; lastError?: string; retryAt?: number };
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Applies one record to the in-memory view (also used when reading the file). */
function apply(map: Map<string, JournalEntry>, r: JournalRecord): void {
  switch (r.op) {
    case 'put': {
      const prev = map.get(r.lease.id);
      map.set(r.lease.id, prev?.closing ? { lease: r.lease, closing: prev.closing } : { lease: r.lease });
      break;
    }
    case 'due': {
      const e = map.get(r.id);
      if (e) e.closing = { reason: r.reason, since: r.at, attempts: e.closing?.attempts ?? 0, ...(e.closing?.lastError ? { lastError: e.closing.lastError } : {}) };
      break;
    }
    case 'fail': {
      const e = map.get(r.id);
      if (e) e.closing = { reason: e.closing?.reason ?? 'timeout', since: e.closing?.since ?? r.at, attempts: r.attempts, lastError: r.error, retryAt: r.retryAt };
      break;
    }
    case 'del': map.delete(r.id); break;
  }
}

function statOrUndefined(dir: string): fs.Stats | undefined {
  try { return fs.lstatSync(dir); } catch { return undefined; }
}

/** Reads leases.log (and a legacy doors.json) from `dir`. Missing = empty. */
export function readJournal(dir: string, trust: TrustMode = 'strict'): Map<string, JournalEntry> {
  const map = new Map<string, JournalEntry>();
  const file = join(dir, FILE);
  // admin trust (root running `knockd status`) also trusts the StateDir owner: the service user
  const dirSt = trust === 'admin' ? statOrUndefined(dir) : undefined;
  const check = { code: 'ERR_STATE', maxBytes: MAX_BYTES, optional: true, mode: trust, ...(dirSt ? { dirSt } : {}) } as const;
  const legacy = readFileSafe(join(dir, LEGACY), check);
  if (legacy) {
    let doc: { leases?: unknown };
    try { doc = JSON.parse(legacy.toString('utf8')) as { leases?: unknown }; } catch (e) {
      throw new AppError('ERR_STATE', `journal ${join(dir, LEGACY)}: not valid JSON (${errText(e)}); the doors it lists may still be open: check the firewall, then remove the file`, { cause: e });
    }
    const list = Array.isArray(doc.leases) ? doc.leases : [];
    list.forEach((l: unknown, i) => {
      const why = checkLease(l);
      if (why) throw new AppError('ERR_STATE', `journal ${join(dir, LEGACY)}: lease #${i}: ${why}`);
      apply(map, { op: 'put', lease: l as Lease });
    });
  }
  const buf = readFileSafe(file, check);
  if (!buf) return map;
  const lines = buf.toString('utf8').split('\n');
  const last = lines.length - 1;   // text after the final newline: '' or a torn append
  lines.forEach((line, i) => {
    if (line === '') return;
    const r = parseRecord(line);
    if (typeof r === 'string') {
      if (i === last) return;     // torn final append: the change it describes never completed
      throw new AppError('ERR_STATE', `${file}:${i + 1}: ${r}; the doors it lists may still be open: check the firewall, then fix or remove the line`);
    }
    apply(map, r);
  });
  return map;
}

export class Journal {
  readonly dir: string;
  readonly file: string;
  #map: Map<string, JournalEntry>;
  #fd = -1;
  #lines = 0;
  #syncing = false;
  #dirty = false;

  private constructor(dir: string, map: Map<string, JournalEntry>) {
    this.dir = dir;
    this.file = join(dir, FILE);
    this.#map = map;
  }

  /** Opens (creating mode 0700) the state directory, loads and compacts the journal. Throws ERR_STATE. */
  static open(stateDir: string): Journal {
    ensureDir(stateDir, 'state directory', { code: 'ERR_STATE' });
    removeTemps(stateDir, FILE);
    const j = new Journal(stateDir, readJournal(stateDir));
    j.#compact();
    try { fs.unlinkSync(join(stateDir, LEGACY)); } catch { /* none, or already imported */ }
    return j;
  }

  /** What the journal holds (leases still owed a stop command, with their closing state). */
  entries(): JournalEntry[] { return [...this.#map.values()]; }

  /** Appends one record (O(1)); compacts when the file holds more than twice the live records. Throws ERR_STATE. */
  append(r: JournalRecord): void {
    const line = `${JSON.stringify(r)}\n`;
    try { fs.writeSync(this.#fd, line); } catch (e) {
      throw new AppError('ERR_STATE', `journal ${this.file}: cannot write: ${errText(e)}`, { cause: e });
    }
    apply(this.#map, r);
    this.#lines++;
    if (this.#lines > Math.max(COMPACT_MIN, 2 * this.#map.size)) this.#compact();
    else this.#syncSoon();
  }

  close(): void {
    if (this.#fd < 0) return;
    try { fs.fsyncSync(this.#fd); } catch { /* best effort */ }
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Background fdatasync, at most one at a time; changes made meanwhile get the next one. */
  #syncSoon(): void {
    this.#dirty = true;
    if (this.#syncing) return;
    this.#syncing = true;
    this.#dirty = false;
    const fd = this.#fd;
    fs.fdatasync(fd, () => {
      this.#syncing = false;
      if (this.#dirty && this.#fd === fd) this.#syncSoon();
    });
  }

  #compact(): void {
    let text = '';
    for (const e of this.#map.values()) {
      text += `${JSON.stringify({ op: 'put', lease: e.lease })}\n`;
      const c = e.closing;
      if (c) {
        text += `${JSON.stringify({ op: 'due', id: e.lease.id, reason: c.reason, at: c.since })}\n`;
        if (c.attempts > 0) text += `${JSON.stringify({ op: 'fail', id: e.lease.id, attempts: c.attempts, error: c.lastError ?? '', at: c.since, retryAt: c.retryAt ?? c.since })}\n`;
      }
    }
    writeFileAtomic(this.file, text, { code: 'ERR_STATE', mode: 0o600 });
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = openAppendSafe(this.file, { code: 'ERR_STATE', maxBytes: MAX_BYTES });
    this.#lines = this.#map.size;
  }
}
