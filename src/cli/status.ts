/**
 * `knockd status`: the doors open right now and every stop command still owed, from the grants
 * journal StateDir/leases.log (io/journal.ts: written before every start command, kept until
 * the stop succeeded, so it is also right after a crash and while the daemon is down), and the
 * elements of the doors' nftables sets, read from the kernel (`nft -j list set`, one per set:
 * they are the truth for nft doors, daemon running or not).
 *
 *   knockd status [--json] [--state-dir DIR] [--no-nft]
 *
 * Each lease has a state: `open`, `closing` (its stop is due or running), `stop failing`
 * (N attempts, the last error, when the next one runs) and `overdue` once it is still owed
 * more than 2 s after its expiry. Set elements are `open` with the time the kernel gives them;
 * their owner is the lease and key in their comment, `(not knockd)` for any other element.
 * Exit status: 0 (also with no doors), 64 bad arguments, 1 the journal is unreadable or
 * damaged, or a set could not be read (the rest is still shown; nft needs root).
 */
import { Command, CommanderError } from 'commander';
import { exitCodeFor, isAppError } from '../core/errors.js';
import type { Principal } from '../core/audit/events.js';
import { OVERDUE_GRACE_MS } from '../core/engine/slots.js';
import { clean, formatDuration, formatTime, principalLabel, renderTable } from '../core/audit/report.js';
import { readJournal, type JournalEntry } from '../io/journal.js';
import type { NftSetRef } from '../core/config/types.js';
import type { NftListedElement, NftListResult } from '../core/firewall/nft-list.js';
import { setText } from '../core/firewall/nft.js';

export interface StatusIo {
  stateDir: string;
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
  /** The config's nft doors and how to list a set (io/nft-list-once.ts); absent: the journal only. */
  nft?: { readonly sets: readonly { readonly door: string; readonly set: NftSetRef }[]; list(set: NftSetRef): Promise<NftListResult> };
}

export type DoorState = 'open' | 'closing' | 'stop failing';

export interface DoorStatus {
  readonly id: string;
  readonly door: string;
  readonly ip: string;
  /** Absent for set elements (the kernel does not know who asked). */
  readonly src?: string;
  /** Absent for set elements that are not ours. */
  readonly principal?: Principal;
  readonly openedAt?: number;
  readonly expiresAt: number;
  readonly grantedTtl?: number;
  /** Set elements: the set, and the element's comment when it is not ours. */
  readonly set?: string;
  readonly comment?: string;
  /** A set element without a timeout (added by hand): open until someone deletes it. */
  readonly permanent?: true;
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

/** An element of a door's set as a status row. */
export function nftElementStatus(door: string, set: NftSetRef, e: NftListedElement, now: number): DoorStatus {
  const left = e.expiresMs;
  const o = e.owner;
  return {
    id: o?.lease ?? '', door, ip: e.port !== undefined ? `${e.ip} ${e.proto ?? ''}/${e.port}` : e.ip,
    ...(o ? { principal: o.key !== undefined ? { kind: 'spa', key: o.key, keyId: '' } : { kind: 'sequence' } } : {}),
    ...(left !== undefined && e.timeoutMs !== undefined ? { openedAt: now - (e.timeoutMs - left), grantedTtl: e.timeoutMs / 1000 } : {}),
    expiresAt: left !== undefined ? now + left : Number.MAX_SAFE_INTEGER,
    state: 'open', overdue: false, set: setText(set),
    ...(!o && e.comment !== undefined ? { comment: e.comment } : {}),
    ...(left === undefined ? { permanent: true as const } : {}),
  };
}

export const STATUS_COLUMNS = ['DOOR', 'PRINCIPAL', 'ADDRESS', 'FROM', 'OPENED', 'EXPIRES', 'STATE'] as const;

function stateText(d: DoorStatus, now: number): string {
  if (d.set !== undefined) return `open, ${d.permanent ? 'no timeout' : `${formatDuration(d.expiresAt - now)} left`} (nft ${d.set})`;
  if (d.state === 'open') return `open, ${formatDuration(d.expiresAt - now)} left`;
  const late = d.overdue ? `overdue ${formatDuration(now - d.expiresAt)}, ` : '';
  if (d.state === 'closing') return `${late}closing`;
  const next = d.retryAt !== undefined ? (d.retryAt > now ? `, next try in ${formatDuration(d.retryAt - now)}` : ', next try now') : '';
  return `${late}stop failing (${d.attempts ?? 0} attempts: ${clean(d.lastError ?? '?', 80)})${next}`;
}

const owner = (d: DoorStatus): string => (d.principal ? principalLabel(d.principal) : `(not knockd${d.comment !== undefined ? `: ${d.comment}` : ''})`);

export function renderStatus(doors: readonly DoorStatus[], now: number): string {
  if (doors.length === 0) return 'no doors open\n';
  const rows = doors.map((d) => [
    clean(d.door, 32), clean(owner(d), 32), clean(d.ip, 52), clean(d.src ?? '-', 45),
    d.openedAt !== undefined ? formatTime(d.openedAt) : '-', d.permanent ? '-' : formatTime(d.expiresAt), stateText(d, now),
  ]);
  return renderTable(STATUS_COLUMNS, rows);
}

export function statusJson(doors: readonly DoorStatus[], now: number): string {
  return JSON.stringify({ now, doors: doors.map((d) => ({ ...d, ...(d.permanent ? {} : { remainingMs: d.expiresAt - now }) })) }, null, 2) + '\n';
}

export async function statusMain(argv: string[], o: StatusIo): Promise<number> {
  const cmd = new Command('knockd status')
    .description('doors open right now, and stop commands still owed (from the grants journal in StateDir)')
    .option('--json', 'machine-readable output (times in ms since the epoch)')
    .option('--state-dir <dir>', `read the journal in this directory instead of ${o.stateDir}`)
    .option('--no-nft', 'do not read the nftables sets of nft doors (that needs root)')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: o.out, writeErr: o.err });
  try {
    cmd.parse(argv, { from: 'user' });
    const opts = cmd.opts<{ json?: boolean; stateDir?: string; nft: boolean }>();
    const now = o.now();
    const doors = [...readJournal(opts.stateDir ?? o.stateDir, 'admin').values()].map((e) => doorStatus(e, now));
    let unread = 0;
    for (const { door, set } of opts.nft ? o.nft?.sets ?? [] : []) {
      const r = await o.nft?.list(set);
      if (r?.ok) doors.push(...r.elements.map((e) => nftElementStatus(door, set, e, now)));
      else { unread++; o.err(`knockd status: cannot read nft set ${setText(set)} (door ${door}): ${r?.error ?? '?'}\n`); }
    }
    doors.sort((a, b) => a.expiresAt - b.expiresAt || a.door.localeCompare(b.door));
    o.out(opts.json ? statusJson(doors, now) : renderStatus(doors, now));
    return unread > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : exitCodeFor('ERR_USAGE');
    if (isAppError(e)) {
      o.err(`knockd status: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
