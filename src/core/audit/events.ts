/**
 * Audit record types (docs/ARCHITECTURE.md, "Audit record schema"). One JSON line per
 * decision; `time` (ms since the epoch) is added by the writer (src/io/audit-log.ts).
 * Pure: types only.
 */

/** Who opened a door: a classic knock sequence, or an authenticated SPA key. */
export type Principal =
  | { readonly kind: 'sequence' }
  | { readonly kind: 'spa'; readonly key: string; readonly keyId: string };

export type CloseReason = 'timeout' | 'shutdown' | 'revoked' | 'reconcile';

/** Fields common to every door-related record. */
interface DoorBase {
  readonly door: string;       // section name
  readonly src: string;        // packet source address (canonical)
  readonly principal: Principal;
  /** nftables set doors: the set holding the element (`inet knockd ssh4`); absent for door commands. */
  readonly set?: string;
}

export interface DoorOpenEvent extends DoorBase {
  readonly event: 'door.open';
  readonly ip: string;                // address opened (canonical)
  readonly lease?: string;            // absent for doors without a stop command (no lease)
  readonly ports: string;             // door ports or sequence text
  readonly requestedTtl?: number;     // seconds, SPA only
  readonly grantedTtl: number;        // seconds
  readonly expiresAt?: number;        // ms epoch, only with a lease
  readonly exitCode: number;
  /** This open followed a failed close of the same door and address (issue: a granted knock always opens). */
  readonly reopened?: boolean;
  /** Lease whose owed stop command this lease took over (same stop command, so one stop closes both). */
  readonly supersedes?: string;
}

export interface DoorExtendEvent extends DoorBase {
  readonly event: 'door.extend';
  readonly ip: string;
  readonly lease: string;
  readonly requestedTtl?: number;
  readonly grantedTtl: number;
  readonly expiresAt: number;
}

export interface DoorCloseEvent extends DoorBase {
  readonly event: 'door.close';
  readonly ip: string;
  readonly lease: string;
  readonly exitCode?: number;         // of the successful stop command (0); absent when none ran
  readonly reason: CloseReason;
  readonly openedAt: number;          // ms epoch
  /** Stop attempts it took (each failed one has its own command.fail record). */
  readonly attempts?: number;
}

export interface CommandFailEvent extends DoorBase {
  readonly event: 'command.fail';
  readonly ip: string;
  readonly lease?: string;
  /** 'nft': a batch on the nft channel (open, refresh or close of a set element); `error` says why. */
  readonly command: 'start' | 'stop' | 'nft';
  readonly exitCode?: number;         // undefined when killed by a signal or not spawned
  readonly signal?: string;
  readonly timedOut: boolean;
  /** The outcome is unknown (the command runner died while it ran); a start is then kept as open. */
  readonly lost?: boolean;
  /** Stop commands: which attempt failed, why, and when the next one runs (they retry until they succeed). */
  readonly attempt?: number;
  readonly error?: string;
  readonly retryAt?: number;
}

/** A grant that opened nothing because a bound was reached. */
export interface DoorRefuseEvent extends DoorBase {
  readonly event: 'door.refuse';
  readonly ip: string;
  readonly reason: 'lease-table-full' | 'open-rate' | 'start-too-long' | 'stop-too-long';
}

export interface KnockRejectEvent {
  readonly event: 'knock.reject';
  readonly src: string;
  readonly door?: string;
  readonly reason: string;            // RejectReason code (core/spa/verify.ts)
  readonly keyId?: string;
  readonly key?: string;              // only when authenticated
  readonly principal?: Principal;
}

export interface DoorRearmEvent extends DoorBase {
  readonly event: 'door.rearm';
  readonly ip: string;
  readonly lease: string;
  readonly expiresAt: number;
}

export interface DaemonEvent {
  readonly event: 'daemon.start' | 'daemon.stop';
  readonly pid: number;
  readonly config: string;            // config file path
}

/** Written by the audit log itself when knock.reject records were rate-capped. */
export interface RejectSuppressedEvent {
  readonly event: 'knock.reject.suppressed';
  readonly count: number;
  readonly since: number;             // ms epoch, start of the capped window
}

/** Who ran an admin command: the invoking user (and the sudo user behind root, if any). */
export interface Actor {
  readonly user: string;
  readonly uid: number;
  readonly sudoUser?: string;
  readonly sudoUid?: number;
}

/** A key record's policy as recorded in key.* events (never key material). */
export interface KeyFields {
  readonly type?: 'ed25519' | 'hmac';
  readonly version?: string;            // request versions the record accepts: 'v1', 'v2', 'v1,v2'
  readonly doors?: readonly string[];   // [] = every SPA door
  readonly from?: readonly string[];    // [] = anywhere
  readonly expires?: number | null;     // ms epoch; null = never
  readonly maxTtl?: number | null;      // seconds; null = the door's cmd_timeout
  readonly nat?: boolean;
  readonly comment?: string | null;
}

/** Written by `knockd keys` for every change to KeysDir (src/io/audit-append.ts). */
export interface KeyChangeEvent {
  readonly event: 'key.add' | 'key.set' | 'key.revoke' | 'key.unrevoke' | 'key.remove';
  readonly key: string;               // name
  readonly keyId: string;
  readonly by: Actor;
  /** key.add: the new record's fields; key.set: the changed fields' new values. */
  readonly fields?: KeyFields;
  /** key.set: the changed fields' previous values. */
  readonly previous?: KeyFields;
}

export type AuditEvent =
  | KeyChangeEvent
  | DoorOpenEvent
  | DoorExtendEvent
  | DoorCloseEvent
  | CommandFailEvent
  | KnockRejectEvent
  | DoorRearmEvent
  | DoorRefuseEvent
  | DaemonEvent
  | RejectSuppressedEvent;

export type AuditEventName = AuditEvent['event'];
