/**
 * `knockd status`: the doors open right now and every stop command still owed, from the grants
 * journal StateDir/leases.log (io/journal.ts: written before every start command, kept until
 * the stop succeeded, so it is also right after a crash and while the daemon is down).
 *
 *   knockd status [--json] [--state-dir DIR]
 *
 * Each lease has a state: `open`, `closing` (its stop is due or running), `stop failing`
 * (N attempts, the last error, when the next one runs) and `overdue` once it is still owed
 * more than 2 s after its expiry. Exit status: 0 (also with no doors), 64 bad arguments,
 * 1 the journal is unreadable or damaged.
 */
import { Command, CommanderError } from 'commander';
import { exitCodeFor, isAppError } from '../core/errors.js';
import type { Principal } from '../core/audit/events.js';
import { OVERDUE_GRACE_MS } from '../core/engine/slots.js';
import { clean, formatDuration, formatTime, principalLabel, renderTable } from '../core/audit/report.js';
import { readJournal, type JournalEntry } from '../io/journal.js';

export interface StatusIo {
  stateDir: string;
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

export type DoorState = 'open' | 'closing' | 'stop failing';

export interface DoorStatus {
  readonly id: string;
  readonly door: string;
  readonly ip: string;
  readonly src: string;
  readonly principal: Principal;
  readonly openedAt: number;
  readonly expiresAt: number;
  readonly grantedTtl: number;
  readonly state: DoorState;
  readonly overdue: boolean;
  readonly attempts?: number;
  readonly lastError?: string;
  readonly retryAt?: number;
}

export function doorStatus(e: JournalEntry, now: number): DoorStatus {
  const l = e.lease, c = e.closing;
  const state: DoorState = !c && l.expiresAt > now ? 'open' : c && c.attempts > 0 ? 'stop failing' : 'closing';
  return {
    id: l.id, door: l.door, ip: l.ip, src: l.src, principal: l.principal, openedAt: l.openedAt, expiresAt: l.expiresAt,
    grantedTtl: l.grantedTtl, state, overdue: now > l.expiresAt + OVERDUE_GRACE_MS,
    ...(c && c.attempts > 0 ? { attempts: c.attempts } : {}),
    ...(c?.lastError ? { lastError: c.lastError } : {}),
    ...(c?.retryAt !== undefined ? { retryAt: c.retryAt } : {}),
  };
}

export const STATUS_COLUMNS = ['DOOR', 'PRINCIPAL', 'ADDRESS', 'FROM', 'OPENED', 'EXPIRES', 'STATE'] as const;

function stateText(d: DoorStatus, now: number): string {
  if (d.state === 'open') return `open, ${formatDuration(d.expiresAt - now)} left`;
  const late = d.overdue ? `overdue ${formatDuration(now - d.expiresAt)}, ` : '';
  if (d.state === 'closing') return `${late}closing`;
  const next = d.retryAt !== undefined ? (d.retryAt > now ? `, next try in ${formatDuration(d.retryAt - now)}` : ', next try now') : '';
  return `${late}stop failing (${d.attempts ?? 0} attempts: ${clean(d.lastError ?? '?', 80)})${next}`;
}

export function renderStatus(doors: readonly DoorStatus[], now: number): string {
  if (doors.length === 0) return 'no doors open\n';
  const rows = doors.map((d) => [
    clean(d.door, 32), clean(principalLabel(d.principal), 32), clean(d.ip, 45), clean(d.src, 45),
    formatTime(d.openedAt), formatTime(d.expiresAt), stateText(d, now),
  ]);
  return renderTable(STATUS_COLUMNS, rows);
}

export function statusJson(doors: readonly DoorStatus[], now: number): string {
  return JSON.stringify({ now, doors: doors.map((d) => ({ ...d, remainingMs: d.expiresAt - now })) }, null, 2) + '\n';
}

export async function statusMain(argv: string[], o: StatusIo): Promise<number> {
  const cmd = new Command('knockd status')
    .description('doors open right now, and stop commands still owed (from the grants journal in StateDir)')
    .option('--json', 'machine-readable output (times in ms since the epoch)')
    .option('--state-dir <dir>', `read the journal in this directory instead of ${o.stateDir}`)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: o.out, writeErr: o.err });
  try {
    cmd.parse(argv, { from: 'user' });
    const opts = cmd.opts<{ json?: boolean; stateDir?: string }>();
    const now = o.now();
    const doors = [...readJournal(opts.stateDir ?? o.stateDir, 'admin').values()].map((e) => doorStatus(e, now))
      .sort((a, b) => a.expiresAt - b.expiresAt || a.door.localeCompare(b.door));
    o.out(opts.json ? statusJson(doors, now) : renderStatus(doors, now));
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
