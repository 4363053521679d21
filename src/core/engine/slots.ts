/**
 * The state one door slot (door index, door, address) holds in the door machine
 * (core/engine/doors.ts), and the read-only view `knockd status` shows. Types and one pure
 * function.
 */
import type { CloseReason, Principal } from '../audit/events.js';
import type { Door } from '../config/types.js';
import type { Ip } from '../ip.js';
import type { Lease } from '../actions/leases.js';
import type { Lane } from './effects.js';

/** The lease that is (about to be) open. */
export interface Live {
  lease: Lease;
  state: 'waiting' | 'opening' | 'open';
  /** Expanded start command (empty for leases re-armed from the journal). */
  readonly start: string;
  readonly lane: Lane;
  readonly ports: string;
  readonly grantedTtl: number;
  readonly requestedTtl?: number;
  /** Id of the lease whose failed close this open follows. */
  reopens?: string;
  /** The failed close this open takes over once its start succeeds. */
  supersedes?: Owed | undefined;
  /** Revoked or shut down while its start ran: close it as soon as it is open. */
  closeReason?: CloseReason;
}

/** A stop command owed: due, running, or waiting for its retry. */
export interface Owed {
  readonly lease: Lease;
  readonly reason: CloseReason;
  readonly since: number;
  attempts: number;
  lastError?: string;
  /** The next attempt may start at this time. */
  retryAt: number;
  /** Running command. */
  op?: number | undefined;
}

export interface Slot {
  readonly key: string;
  live?: Live | undefined;
  owed: Owed[];
  /** The command in flight for this slot (one at a time). */
  running?: number | undefined;
}

export type LeaseState = 'waiting' | 'opening' | 'open' | 'closing' | 'retry';

export interface LeaseView {
  readonly lease: Lease;
  readonly state: LeaseState;
  /** Still owed a stop after its expiry (plus a grace of 2 s). */
  readonly overdue: boolean;
  readonly reason?: CloseReason;
  readonly attempts?: number;
  readonly lastError?: string;
  readonly retryAt?: number;
}

export const OVERDUE_GRACE_MS = 2000;

export function leaseView(lease: Lease, state: LeaseState, now: number, owed?: Owed): LeaseView {
  return {
    lease, state, overdue: now > lease.expiresAt + OVERDUE_GRACE_MS && (state === 'closing' || state === 'retry'),
    ...(owed ? { reason: owed.reason, attempts: owed.attempts, retryAt: owed.retryAt } : {}),
    ...(owed?.lastError ? { lastError: owed.lastError } : {}),
  };
}

export interface GrantRequest {
  readonly doorIndex: number;
  readonly door: Door;
  /** Address to open (canonical). */
  readonly ip: Ip;
  /** Packet source that asked (canonical text). */
  readonly src: string;
  readonly principal: Principal;
  readonly requestedTtl?: number;
  readonly grantedTtl: number;
  /** Audit `ports` text; default the door's `ports` or sequence. */
  readonly ports?: string;
  readonly lane: 'auth' | 'classic';
  /** Asked only when a start command would run (a new open): false refuses it (open-rate budget). */
  readonly admit?: () => boolean;
}

export interface DoorMachineOptions {
  /** Bound on leases (live and closing); beyond it new opens are refused. Default 65,536. */
  readonly maxLeases?: number;
  /** Delays before stop retries; the last one repeats for as long as needed. */
  readonly retryDelaysMs?: readonly number[];
}
