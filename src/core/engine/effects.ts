/**
 * What the pure core asks the daemon to do (Effect) and what the daemon tells the core
 * (the results that come back). The core never performs I/O; the daemon (src/daemon) carries
 * out effects in order through its ports and feeds results back as inputs. Types only.
 */
import type { AuditEvent, CloseReason } from '../audit/events.js';
import type { Lease } from '../actions/leases.js';
import type { Hit } from '../config/types.js';

/**
 * Command lanes, in strict priority order. Stop commands have their own lane that is never
 * refused and never waits behind opens; authenticated (SPA) opens come before classic opens,
 * which anyone can trigger with spoofed sequences.
 */
export type Lane = 'close' | 'auth' | 'classic';
export const LANES: readonly Lane[] = ['close', 'auth', 'classic'];

/** The outcome of one door command (io/exec.ts, io/runner.ts). */
export interface CommandResult {
  /** Exit status; undefined when killed by a signal or not started. */
  exitCode: number | undefined;
  signal?: string;
  timedOut: boolean;
  /** true unless the command ran and exited with status 0. */
  failed: boolean;
  durationMs: number;
  /** Last bytes of stderr (or the spawn error message), if any. */
  stderrTail?: string;
  /** The outcome is unknown (the runner went away while it ran); `failed` is true. */
  lost?: boolean;
}

/** One change to the grants journal (StateDir/leases.log), appended in this order. */
export type JournalRecord =
  | { readonly op: 'put'; readonly lease: Lease }
  | { readonly op: 'due'; readonly id: string; readonly reason: CloseReason; readonly at: number }
  | { readonly op: 'fail'; readonly id: string; readonly attempts: number; readonly error: string; readonly at: number; readonly retryAt: number }
  | { readonly op: 'del'; readonly id: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  /** Run a door command; its result comes back as `commandDone(op, result)`. */
  | { readonly kind: 'run'; readonly op: number; readonly lane: Lane; readonly door: string; readonly command: string }
  | { readonly kind: 'journal'; readonly rec: JournalRecord }
  | { readonly kind: 'audit'; readonly event: AuditEvent }
  /** Operational log (pino). */
  | { readonly kind: 'log'; readonly level: LogLevel; readonly msg: string; readonly fields?: Readonly<Record<string, unknown>> }
  /** knockd-format log line (LogFile, syslog, -v). */
  | { readonly kind: 'klog'; readonly line: string }
  /** Replace the capture filter. */
  | { readonly kind: 'filter'; readonly expr: string }
  /** Consume a used one-time sequence; the result comes back as `otsRotated`. */
  | { readonly kind: 'ots'; readonly doorIndex: number; readonly door: string; readonly path: string; readonly used: readonly Hit[] }
  /** -l: look the source's name up (reverse DNS), for later log lines. */
  | { readonly kind: 'lookup'; readonly src: string };

export const ok = (r: CommandResult): boolean => !r.failed && r.exitCode === 0;

/** One line describing why a command failed (for logs, audit and `knockd status`). */
export function failureText(r: CommandResult): string {
  const tail = (r.stderrTail ?? '').trim().split('\n').pop()?.slice(0, 200) ?? '';
  const what = r.lost ? 'outcome unknown (the command runner exited while it ran)'
    : r.timedOut ? 'timed out'
      : r.exitCode !== undefined ? `exit status ${r.exitCode}`
        : r.signal ? `killed by ${r.signal}` : 'could not be started';
  return tail ? `${what}: ${tail}` : what;
}
