/**
 * Run a door command the way knockd does: system(3), i.e. `/bin/sh -c "<command>"`.
 * The command text is operator config with only canonical addresses substituted
 * (core/actions/command.ts), so shell syntax (`||`, `&&`, `;`, redirections) works as in knockd.
 *
 * Differences from knockd, all in the direction of robustness:
 * - the shell runs in its own process group (knockd: setsid()), so a time limit kills the
 *   whole command, including children it started;
 * - stdout/stderr are captured and bounded (a tail of stderr is kept for the logs);
 * - a time limit applies (default 60 s), so a hung command cannot block a door forever.
 * Never throws.
 */
import { execa } from 'execa';

// One definition of a command's outcome, shared with the engine that decides on it.
export type { CommandResult } from '../core/engine/effects.js';
import type { CommandResult } from '../core/engine/effects.js';

export interface RunShellOptions {
  /** Kill the command's process group after this many ms (SIGTERM, SIGKILL 2 s later). 0 = no limit. */
  timeoutMs?: number;
  /** Extra environment variables (the daemon's environment is inherited, as with system(3)). */
  env?: Record<string, string>;
  /** Bytes of stderr kept (default 2048). */
  stderrTailBytes?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
const KILL_GRACE_MS = 2_000;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

export async function runShell(command: string, opts: RunShellOptions = {}): Promise<CommandResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const tailMax = opts.stderrTailBytes ?? 2048;
  let tail = Buffer.alloc(0);
  let timedOut = false;
  let termTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  try {
    const sub = execa('/bin/sh', ['-c', command], {
      reject: false,
      buffer: false,          // we drain the pipes ourselves and keep only a bounded tail
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      detached: true,         // own process group (knockd: setsid), killable as a whole
      cleanup: false,
      shell: false,
      windowsHide: true,
      ...(opts.env ? { env: opts.env } : {}),
    });
    sub.stdout?.on('data', () => { /* discarded, but drained so the command never blocks */ });
    sub.stderr?.on('data', (chunk: Buffer) => {
      tail = tail.length + chunk.length <= tailMax
        ? Buffer.concat([tail, chunk])
        : Buffer.concat([tail, chunk]).subarray(-tailMax);
    });
    if (timeoutMs > 0) {
      termTimer = setTimeout(() => {
        timedOut = true;
        killGroup(sub.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(sub.pid, 'SIGKILL'), KILL_GRACE_MS);
      }, timeoutMs);
    }
    const r = await sub;
    const exitCode = typeof r.exitCode === 'number' ? r.exitCode : undefined;
    const res: CommandResult = {
      exitCode,
      timedOut,
      failed: exitCode !== 0 || timedOut,
      durationMs: performance.now() - started,
    };
    if (r.signal) res.signal = r.signal;
    const t = tail.length ? tail.toString('utf8') : (exitCode === undefined && !r.signal ? r.shortMessage : '');
    if (t) res.stderrTail = t;
    return res;
  } catch (e) {
    return {
      exitCode: undefined,
      timedOut,
      failed: true,
      durationMs: performance.now() - started,
      stderrTail: e instanceof Error ? e.message.slice(0, tailMax) : String(e).slice(0, tailMax),
    };
  } finally {
    if (termTimer) clearTimeout(termTimer);
    // the SIGKILL follow-up stays armed only until the command has been reaped
    if (killTimer) clearTimeout(killTimer);
  }
}
