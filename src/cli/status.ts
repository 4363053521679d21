/**
 * `knockd status`: the doors open right now, from the grants journal StateDir/doors.json
 * (written by io/journal.ts before every start command, so it is also right after a crash).
 *
 *   knockd status [--json] [--state-dir DIR]
 *
 * Exit status: 0 (also with no open doors), 64 bad arguments, 1 the journal is unreadable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { AppError, exitCodeFor, isAppError } from '../core/errors.js';
import type { Principal } from '../core/audit/events.js';
import { clean, formatDuration, formatTime, principalLabel, renderTable } from '../core/audit/report.js';

export interface StatusIo {
  stateDir: string;
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

export const JOURNAL_FILE = 'doors.json';

/** The journal fields status shows (a subset of core/actions/leases.ts `Lease`). */
export interface OpenDoor {
  readonly id: string;
  readonly door: string;
  readonly ip: string;
  readonly src: string;
  readonly principal: Principal;
  readonly openedAt: number;
  readonly expiresAt: number;
  readonly grantedTtl?: number;
}

export interface ParsedJournal {
  readonly doors: OpenDoor[];
  /** Entries that could not be understood (skipped, one message each). */
  readonly skipped: string[];
}

function principalOf(v: unknown): Principal | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Record<string, unknown>;
  if (p['kind'] === 'sequence') return { kind: 'sequence' };
  if (p['kind'] === 'spa' && typeof p['key'] === 'string' && typeof p['keyId'] === 'string') {
    return { kind: 'spa', key: p['key'], keyId: p['keyId'] };
  }
  return undefined;
}

/**
 * The one place that knows the journal layout (io/journal.ts):
 * `{ "format": "knockd-ts/doors", "version": 1, "leases": [ Lease, ... ] }`.
 * A document that is not that throws ERR_STATE naming the file; a single malformed entry is
 * skipped and reported, so one bad entry does not hide the other open doors.
 */
export function parseJournal(text: string, file: string): ParsedJournal {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) {
    throw new AppError('ERR_STATE', `journal ${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const d = doc as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || Array.isArray(d) || d['format'] !== 'knockd-ts/doors' || !Array.isArray(d['leases'])) {
    throw new AppError('ERR_STATE', `journal ${file}: not a knockd-ts/doors document`);
  }
  if (d['version'] !== 1) {
    throw new AppError('ERR_STATE', `journal ${file}: version ${JSON.stringify(d['version'])} is not supported (expected 1)`);
  }
  const doors: OpenDoor[] = [];
  const skipped: string[] = [];
  (d['leases'] as unknown[]).forEach((l, i) => {
    const o = (typeof l === 'object' && l !== null ? l : {}) as Record<string, unknown>;
    const principal = principalOf(o['principal']);
    const okStr = (k: string) => typeof o[k] === 'string';
    const okNum = (k: string) => typeof o[k] === 'number' && Number.isFinite(o[k]);
    const missing = [
      ...['id', 'door', 'ip', 'src'].filter((k) => !okStr(k)),
      ...['openedAt', 'expiresAt'].filter((k) => !okNum(k)),
      ...(principal ? [] : ['principal']),
    ];
    if (missing.length > 0 || !principal) {
      skipped.push(`lease #${i}: missing or malformed ${missing.join(', ')}`);
      return;
    }
    doors.push({
      id: o['id'] as string, door: o['door'] as string, ip: o['ip'] as string, src: o['src'] as string, principal,
      openedAt: o['openedAt'] as number, expiresAt: o['expiresAt'] as number,
      ...(okNum('grantedTtl') ? { grantedTtl: o['grantedTtl'] as number } : {}),
    });
  });
  doors.sort((a, b) => a.expiresAt - b.expiresAt || a.door.localeCompare(b.door));
  return { doors, skipped };
}

export const STATUS_COLUMNS = ['DOOR', 'PRINCIPAL', 'ADDRESS', 'FROM', 'OPENED', 'EXPIRES', 'REMAINING'] as const;

export function renderStatus(doors: readonly OpenDoor[], now: number): string {
  if (doors.length === 0) return 'no doors open\n';
  const rows = doors.map((d) => [
    clean(d.door, 32),
    clean(principalLabel(d.principal), 32),
    clean(d.ip, 45),
    clean(d.src, 45),
    formatTime(d.openedAt),
    formatTime(d.expiresAt),
    d.expiresAt > now ? formatDuration(d.expiresAt - now) : `overdue ${formatDuration(now - d.expiresAt)}`,
  ]);
  return renderTable(STATUS_COLUMNS, rows);
}

export function statusJson(doors: readonly OpenDoor[], now: number): string {
  return JSON.stringify({
    now,
    doors: doors.map((d) => ({ ...d, remainingMs: d.expiresAt - now })),
  }, null, 2) + '\n';
}

export async function statusMain(argv: string[], o: StatusIo): Promise<number> {
  const cmd = new Command('knockd status')
    .description('doors open right now (from the grants journal in StateDir)')
    .option('--json', 'machine-readable output (times in ms since the epoch)')
    .option('--state-dir <dir>', `read the journal in this directory instead of ${o.stateDir}`)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: o.out, writeErr: o.err });
  try {
    cmd.parse(argv, { from: 'user' });
    const opts = cmd.opts<{ json?: boolean; stateDir?: string }>();
    const file = join(opts.stateDir ?? o.stateDir, JOURNAL_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new AppError('ERR_STATE', `journal ${file}: cannot read (${code ?? (e as Error).message})`, { cause: e });
    }
    const parsed: ParsedJournal = text === undefined ? { doors: [], skipped: [] } : parseJournal(text, file);
    for (const s of parsed.skipped) o.err(`knockd status: journal ${file}: ${s} (skipped)\n`);
    const now = o.now();
    o.out(opts.json ? statusJson(parsed.doors, now) : renderStatus(parsed.doors, now));
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : exitCodeFor('ERR_USAGE');
    if (isAppError(e)) {
      o.err(`knockd status: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
