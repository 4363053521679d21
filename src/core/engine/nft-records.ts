/**
 * The audit records and log lines of nftables set doors (core/engine/nft-doors.ts), built in
 * one place. They carry the same fields as those of door commands (door-records.ts) plus `set`,
 * the set holding the element. Pure.
 */
import type { CloseReason, Principal } from '../audit/events.js';
import type { Door } from '../config/types.js';
import { setText, type NftTarget } from '../firewall/nft.js';
import type { NftListedElement } from '../firewall/nft-list.js';
import { parseIp, type Ip } from '../ip.js';
import type { Effect } from './effects.js';

/** One (set, address) opened through an nftables set. Never journalled: the kernel holds it. */
export interface NftLease {
  readonly id: string;
  readonly doorIndex: number;
  readonly door: string;
  readonly ip: Ip;
  readonly src: string;
  readonly principal: Principal;
  readonly target: NftTarget;
  /** `inet knockd ssh4` */
  readonly set: string;
  /** Audit `ports` text. */
  readonly ports: string;
  readonly openedAt: number;
  expiresAt: number;
  grantedTtl: number;
  requestedTtl?: number | undefined;
  state: 'opening' | 'open';
  /** The expiry the kernel was last given (what a refused refresh falls back to). */
  applied: number;
  /** The batch in flight for this lease (open or refresh): one at a time. */
  op?: number | undefined;
  /** A re-knock came while a batch was in flight: refresh once it is answered. */
  dirty: boolean;
  /** nft refused the open: there is nothing to close. */
  failed?: boolean;
}

const base = (l: NftLease) => ({ door: l.door, src: l.src, principal: l.principal, ip: l.ip.text, lease: l.id, set: l.set });
const ttls = (l: NftLease) => ({ ...(l.requestedTtl !== undefined ? { requestedTtl: l.requestedTtl } : {}), grantedTtl: l.grantedTtl });

export function nftOpenRecords(l: NftLease): Effect[] {
  return [
    { kind: 'audit', event: { event: 'door.open', ...base(l), ports: l.ports, ...ttls(l), expiresAt: l.expiresAt, exitCode: 0 } },
    { kind: 'log', level: 'info', msg: 'door opened', fields: { door: l.door, ip: l.ip.text, lease: l.id, set: l.set, expiresAt: l.expiresAt } },
    { kind: 'klog', line: `${l.door}: ${l.ip.text} added to nft set ${l.set} (timeout ${l.grantedTtl} s)` },
  ];
}

/** `by`: the knock that extended it (source, principal), which may differ from the opener's. */
export function nftExtendRecords(l: NftLease, by: { src: string; principal: NftLease['principal'] }): Effect[] {
  return [
    { kind: 'audit', event: { event: 'door.extend', ...base(l), src: by.src, principal: by.principal, ...ttls(l), expiresAt: l.expiresAt } },
    { kind: 'log', level: 'info', msg: l.state === 'open' ? 'door extended' : 'door extended before it opened', fields: { door: l.door, ip: l.ip.text, lease: l.id, set: l.set, expiresAt: l.expiresAt } },
  ];
}

/** The element is gone: deleted by us (`attempts` batches), or removed by the kernel at its timeout. */
export function nftCloseRecords(l: NftLease, reason: CloseReason, attempts?: number): Effect[] {
  return [
    { kind: 'audit', event: { event: 'door.close', ...base(l), reason, openedAt: l.openedAt, ...(attempts !== undefined ? { attempts } : {}) } },
    { kind: 'log', level: 'info', msg: 'door closed', fields: { door: l.door, ip: l.ip.text, lease: l.id, set: l.set, reason } },
    ...(reason === 'timeout' ? [{ kind: 'klog', line: `${l.src}: ${l.door}: nft element timeout` } as const] : []),
  ];
}

export function nftRearmRecords(l: NftLease): Effect[] {
  return [
    { kind: 'audit', event: { event: 'door.rearm', ...base(l), expiresAt: l.expiresAt } },
    { kind: 'log', level: 'info', msg: 'door re-armed from its nft set', fields: { door: l.door, ip: l.ip.text, lease: l.id, set: l.set, expiresAt: l.expiresAt } },
  ];
}

/** nft refused a batch (or went away while it ran: `lost`). */
export function nftFailRecords(l: NftLease, error: string, extra: { lost?: true; attempt?: number; retryAt?: number } = {}): Effect[] {
  const err = error.split('\n').filter((x) => x.trim() !== '').slice(0, 2).join(' | ').slice(0, 300);
  return [
    { kind: 'audit', event: { event: 'command.fail', ...base(l), command: 'nft', timedOut: false, error: err, ...extra } },
    { kind: 'log', level: 'warn', msg: extra.lost ? 'nft batch outcome unknown' : 'nft refused a change', fields: { ...base(l), error: err, ...extra } },
  ];
}

export const portsText = (d: Door): string => (d.ports ?? d.sequence).map((h) => `${h.port}:${h.proto}`).join(',');

/**
 * Leases for the elements of a door's set that are ours (comment with a lease id), one per
 * address (addr-port elements of one address are one lease), with the time they have left.
 * Elements without a timeout or of the other family are not ours to track.
 */
export function leasesFromElements(doorIndex: number, door: Door, target: NftTarget, elements: readonly NftListedElement[],
  keyId: (name: string) => string | undefined, now: number): NftLease[] {
  const byIp = new Map<string, NftListedElement>();
  for (const e of elements) {
    if (e.owner?.lease === undefined || e.expiresMs === undefined || e.family !== target.family) continue;
    const prev = byIp.get(e.ip);
    if (!prev || (prev.expiresMs ?? 0) < e.expiresMs) byIp.set(e.ip, e);
  }
  const out: NftLease[] = [];
  for (const e of byIp.values()) {
    const ip = parseIp(e.ip);
    if (!ip) continue;
    const left = e.expiresMs as number;
    const timeout = Math.max(e.timeoutMs ?? left, left);
    const name = e.owner?.key;
    const principal: Principal = name !== undefined ? { kind: 'spa', key: name, keyId: keyId(name) ?? '' } : { kind: 'sequence' };
    // nft prints whole seconds rounded down: the element may live up to 1 s longer than it says
    const expiresAt = now + left + 1000;
    out.push({
      id: e.owner?.lease as string, doorIndex, door: door.name, ip, src: ip.text, principal, target, set: setText(target.set),
      ports: portsText(door), openedAt: now - (timeout - left), expiresAt, grantedTtl: Math.round(timeout / 1000),
      state: 'open', applied: expiresAt, dirty: false,
    });
  }
  return out;
}
