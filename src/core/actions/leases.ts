/**
 * A lease: one (door, address) opened by a start command whose stop command is owed.
 * It is journalled before the start runs and leaves the journal only when its stop
 * command succeeded (core/engine/doors.ts decides, io/journal.ts persists). Types only.
 */
import type { Principal } from '../audit/events.js';

export interface Lease {
  readonly id: string;
  readonly doorIndex: number;
  readonly door: string;          // section name
  readonly ip: string;            // canonical address opened
  readonly family: 4 | 6;
  readonly principal: Principal;
  readonly src: string;           // packet source that asked
  readonly openedAt: number;      // ms epoch
  readonly expiresAt: number;     // ms epoch
  readonly stopCommand: string;   // EXPANDED stop command ('' = run nothing)
  readonly grantedTtl: number;    // seconds
}

export const DEFAULT_MAX_LEASES = 65536;
