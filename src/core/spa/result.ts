/**
 * What the SPA verifier returns (PROTOCOL.md §5). A grant, or a reject with its reason code and,
 * for authenticated rejects, the numbers a user or an administrator can act on. Types only.
 */
import type { Door } from '../config/types.js';
import type { Ip } from '../ip.js';
import type { RejectReason } from './wire.js';

export interface SpaGrant {
  key: { name: string; id: string };
  doorIndex: number;
  door: Door;
  /** The address to open: the signed allow_ip, or the packet source for a nat request. */
  ip: Ip;
  /** Packet source address (canonical text). */
  src: string;
  /** TTL the client asked for (0 = door default). */
  requestedTtl: number;
  grantedTtl: number;
  /** Request format (1 or 2) and whether it asked to open its source address. */
  version: 1 | 2;
  nat: boolean;
}

/**
 * Numbers that explain an authenticated reject. Which fields are set depends on the reason:
 *
 *   stale, future     clockDiffMs (request timestamp - server clock; negative = client behind),
 *                     windowMs, and notBeforeMs when the request predates the floor (restart,
 *                     window raise, last boot)
 *   revoked, expired  at (ms epoch the key was revoked / expired)
 *   wrong-server      server (the address the request was signed for)
 *   source-mismatch   signed (allow_ip) and seen (packet source)
 *   policy-source     address (to open) and from (the key's networks)
 *   policy-address    address and why (unspecified, loopback, link-local, multicast, broadcast)
 *   policy-nat        seen (packet source) and signed (allow_ip)
 *   policy-door       door (requested name, '' = default) and allowed (the key's doors)
 *   replay-full       scope: 'key' (this key's share is used up) or 'store' (the whole store)
 */
export interface RejectDetail {
  readonly clockDiffMs?: number;
  readonly windowMs?: number;
  readonly notBeforeMs?: number;
  readonly at?: number;
  readonly server?: string;
  readonly signed?: string;
  readonly seen?: string;
  readonly address?: string;
  readonly why?: string;
  readonly from?: readonly string[];
  readonly door?: string;
  readonly allowed?: readonly string[];
  readonly scope?: 'key' | 'store';
}

export interface SpaReject {
  readonly ok: false;
  readonly reason: RejectReason;
  /**
   * True only when the verifier established, within the key's budget, that the key holder made
   * this request now: after the signature (ed25519) or tag (hmac), never for a replayed or
   * rate-limited datagram. Only these carry the key name and `detail`; log them. Unauthenticated
   * rejects can be forged by anyone at any rate: count them, never log one line each.
   */
  readonly authenticated: boolean;
  readonly keyId?: string;
  readonly key?: string;
  readonly detail?: RejectDetail;
}

export type SpaResult = { ok: true; grant: SpaGrant } | SpaReject;
